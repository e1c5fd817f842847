"""smtpd DNS lists: reject_rbl_client, reject_rhsbl_sender, permit_dnswl_client.

A dnsmasq (peers.Dns) serves the lists:
  bl.test   lists 127.0.0.2 (A 127.0.0.2, TXT reason text)
  fl.test   lists 127.0.0.4 with A 127.0.0.2 and 127.0.0.5 with
            A 127.0.0.5; smtpd asks for fl.test=127.0.0.[3..9], so
            only 127.0.0.5 is refused (the filter excludes 127.0.0.2)
  rhs.test  lists the sender domain spammer.test (TXT reason text)
  wl.test   lists 127.0.0.6 (allow list, checked before bl.test-like
            lists would refuse it)
  down.example  outside dnsmasq's zone: every lookup fails
            temporarily (REFUSED), which Postfix treats as "not
            listed" with a warning.
Clients connect from different loopback source addresses; none is in
mynetworks (127.0.0.1/32), so they may send to local recipients only.
"""

import os
import re
import smtplib
import tempfile
import unittest

from peers import Dns
from pmtest import StackTest

BL_TXT = "Listed by bl.test; see http://bl.test/127.0.0.2"
RHS_TXT = "spam source"


class RblTest(StackTest):
    dns = None
    dnsdir = None

    @classmethod
    def setUpClass(cls):
        cls.dnsdir = tempfile.mkdtemp(prefix="pmdns-")
        cls.dns = Dns(cls.dnsdir, a=[
            ("2.0.0.127.bl.test", "127.0.0.2"),
            ("4.0.0.127.fl.test", "127.0.0.2"),
            ("5.0.0.127.fl.test", "127.0.0.5"),
            ("7.0.0.127.fl.test", "127.0.0.7"),
            ("spammer.test.rhs.test", "127.0.0.2"),
            ("6.0.0.127.wl.test", "127.0.0.2"),
        ], txt=[
            ("2.0.0.127.bl.test", BL_TXT),
            ("spammer.test.rhs.test", RHS_TXT),
        ]).start()
        replies = os.path.join(cls.dnsdir, "rbl_replies")
        with open(replies, "w") as f:
            f.write("fl.test $rbl_code 5.7.9 Go away: $rbl_what in "
                    "$rbl_domain${rbl_reason?; $rbl_reason}"
                    "${rbl_reason:, no reason}\n")
        cls.PARAMS = {
            "dns_server": cls.dns.server_param,
            "smtpd_dns_timeout": "3s",
            "smtpd_recipient_restrictions":
                "permit_dnswl_client wl.test, "
                "reject_rbl_client down.example, "
                "reject_rbl_client bl.test, "
                "reject_rbl_client fl.test=127.0.0.[3..9], "
                "reject_rhsbl_sender rhs.test",
            # A per-list template (the default for the others).
            "rbl_reply_maps": "texthash:" + replies,
        }
        try:
            super().setUpClass()
        except Exception:
            cls.dns.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.dns.stop()

    def rcpt(self, source, sender="someone@client.test",
             rcpt="alice@example.test"):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30,
                          source_address=(source, 0)) as s:
            s.ehlo("client.test")
            code, text = s.mail(sender)
            self.assertEqual(code, 250, text)
            return s.rcpt(rcpt)

    def test_listed_client_refused(self):
        code, text = self.rcpt("127.0.0.2")
        self.assertEqual(code, 554, text)
        want = ("5.7.1 Service unavailable; Client host [127.0.0.2] "
                "blocked using bl.test; " + BL_TXT)
        self.assertEqual(text.decode(), want)
        line = ("NOQUEUE: reject: RCPT from unknown[127.0.0.2]: 554 " + want
                + "; from=<someone@client.test> to=<alice@example.test> "
                "proto=ESMTP helo=<client.test>")
        self.assertTrue(self.stack.log_lines(line, "smtpd"),
                        self.stack.log("smtpd")[-3000:])
        m = self.stack.metrics("smtpd")
        hits = re.search(
            r'^postmesh_smtpd_rbl_hits_total\{domain="bl.test"\} (\d+)$', m,
            re.M)
        self.assertTrue(hits and int(hits.group(1)) >= 1, m)

    def test_clean_client_accepted(self):
        code, text = self.rcpt("127.0.0.3")
        self.assertEqual(code, 250, text)

    def test_rhsbl_sender_refused(self):
        code, text = self.rcpt("127.0.0.3", sender="bad@spammer.test")
        self.assertEqual(code, 554, text)
        self.assertEqual(text.decode(),
                         "5.7.1 Service unavailable; Sender address "
                         "[spammer.test] blocked using rhs.test; " + RHS_TXT)
        code, text = self.rcpt("127.0.0.3", sender="good@clean.test")
        self.assertEqual(code, 250, text)

    def test_filter_excludes_reply(self):
        # Listed in fl.test with 127.0.0.2: outside the filter.
        code, text = self.rcpt("127.0.0.4")
        self.assertEqual(code, 250, text)
        # Listed with 127.0.0.5: inside; the rbl_reply_maps template.
        code, text = self.rcpt("127.0.0.5")
        self.assertEqual(code, 554, text)
        self.assertEqual(text.decode(),
                         "5.7.9 Go away: 127.0.0.5 in fl.test, no reason")

    def test_allow_list(self):
        # 127.0.0.6 is allow-listed: permitted before any block list, but
        # never for relaying (permit_dnswl_client cannot open a relay).
        code, text = self.rcpt("127.0.0.6", sender="bad@spammer.test")
        self.assertEqual(code, 250, text)
        code, text = self.rcpt("127.0.0.6", rcpt="friend@elsewhere.test")
        self.assertEqual(code, 554, text)
        self.assertIn(b"Relay access denied", text)

    def test_tempfail_is_no_match(self):
        code, text = self.rcpt("127.0.0.3")
        self.assertEqual(code, 250, text)
        lines = self.stack.log_lines(
            "down.example: RBL lookup error: temporary DNS failure for "
            "3.0.0.127.down.example", "smtpd")
        self.assertTrue(lines and "warning" in lines[0],
                        self.stack.log("smtpd")[-3000:])


if __name__ == "__main__":
    unittest.main()
