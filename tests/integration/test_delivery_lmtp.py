"""LMTP delivery into Dovecot (issue 3, items 2 and 5).

A real Dovecot LMTP server (dovecot-lmtpd) delivers into Maildirs under
the test's directory; Postmesh's smtp binary in lmtp mode talks to it
over TCP (transport_maps lmtp.test=lmtp:[127.0.0.1]:P) and over its
unix socket (lmtpu.test=lmtp:unix:/path). Checked: the mailbox file
appears with the original content, one message for two recipients
reaches both mailboxes (one DATA reply per recipient), and an unknown
user is bounced (per-recipient 5xx) back to the sender's sink with a
DSN while the known one is delivered. Runs as root or not (peers.py
starts Dovecot rootless when not root).
"""

import os
import time
import unittest

from peers import Dovecot, PySink, dsns_for
from pmtest import DeliveryTest

BODY = (b"LMTP body line one\r\n"
        b".a dotted line\r\n"
        b"last line\r\n")


def message(mid):
    return (b"From: <sender@back.test>\r\n"
            b"To: <alice@lmtp.test>\r\n"
            b"Subject: lmtp\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\n" + BODY)


class LmtpTest(DeliveryTest):

    @classmethod
    def start_peers(cls, workdir):
        cls.dovecot = Dovecot(workdir, ["alice@lmtp.test", "carol@lmtp.test",
                                        "dave@lmtpu.test"]).start()
        cls.peers.append(cls.dovecot)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        sock = os.path.join(cls.dovecot.dir, "run", "lmtp")
        return {
            "transport_maps":
                "inline:{ lmtp.test=lmtp:[127.0.0.1]:%d, "
                "lmtpu.test=lmtp:unix:%s, back.test=smtp:[127.0.0.1]:%d }"
                % (cls.dovecot.port, sock, cls.back.port),
        }

    def wait_mailbox(self, user, marker, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [m for m in self.dovecot.delivered(user) if marker in m]
            if got:
                return got
            time.sleep(0.1)
        self.fail("no message with %r in %s's Maildir\n%s\n---- dovecot "
                  "----\n%s" % (marker, user, self.logs_tail(),
                                self.dovecot.text()[-2000:]))

    def test_lmtp_tcp_into_maildir(self):
        qid = self.submit("sender@back.test", ["alice@lmtp.test"],
                          message("lmtp-1"))
        got = self.wait_mailbox("alice@lmtp.test", b"<lmtp-1@client.test>")
        self.assertEqual(len(got), 1)
        # Dovecot stores with LF line ends
        self.assertTrue(got[0].endswith(BODY.replace(b"\r\n", b"\n")),
                        got[0][-300:])
        lines = self.wait_log("%s: to=<alice@lmtp.test>" % qid, ("smtp",))
        self.assertTrue(any("status=sent (250" in ln and
                            "relay=127.0.0.1[127.0.0.1]:%d" % self.dovecot.port
                            in ln for ln in lines), lines)
        self.wait_gone(qid)

    def test_lmtp_two_recipients_and_unknown_user(self):
        qid = self.submit("sender@back.test",
                          ["alice@lmtp.test", "carol@lmtp.test",
                           "nosuch@lmtp.test"], message("lmtp-2"))
        for user in ("alice@lmtp.test", "carol@lmtp.test"):
            got = self.wait_mailbox(user, b"<lmtp-2@client.test>")
            self.assertEqual(len(got), 1, user)
        deadline = time.time() + 30
        dsn = []
        while not dsn and time.time() < deadline:
            dsn = dsns_for(self.back.messages(), "nosuch@lmtp.test")
            time.sleep(0.1)
        self.assertEqual(len(dsn), 1, self.logs_tail())
        m, d = dsn[0]
        r = d.rcpt("nosuch@lmtp.test")
        self.assertEqual(r.get("action"), "failed", r)
        self.assertTrue(r.get("status", "").startswith("5."), r)
        self.assertTrue(r.get("diagnostic-code", "").lower()
                        .startswith(("lmtp;", "smtp;")), r)
        self.assertIsNone(d.rcpt("alice@lmtp.test"))
        self.assertIsNone(d.rcpt("carol@lmtp.test"))
        self.wait_gone(qid)

    def test_lmtp_unix_socket(self):
        qid = self.submit("sender@back.test", ["dave@lmtpu.test"],
                          message("lmtp-3"))
        got = self.wait_mailbox("dave@lmtpu.test", b"<lmtp-3@client.test>")
        self.assertEqual(len(got), 1)
        self.wait_gone(qid)


if __name__ == "__main__":
    unittest.main()
