"""LMTP over STARTTLS into Dovecot (lmtp_tls_*, as Postfix's lmtp(8)).

Two real Dovecot LMTP servers with ssl = yes: the first with a
certificate for lmtp.test from the test CA (made with the openssl
command), listening on 127.0.0.1, .2 and .3; the second with a
certificate for lmtp.test from another CA. Postmesh's smtp agent in
lmtp mode runs with the lmtp_tls_* parameters: the level comes from
lmtp_tls_security_level (default empty = none) and per destination
from lmtp_tls_policy_maps, lmtp_tls_CAfile is the test CA,
lmtp_tls_verify_cert_match the certificate's name. Checked:

- none (the default level): delivered in plaintext; no TLS line for it
  in Postmesh's log, and Dovecot's Received header says LMTP, not LMTPS;
- encrypt: delivered over TLS: "Trusted TLS connection established to
  127.0.0.2[127.0.0.2]:P: TLSv1.3 ...", the per-delivery "tls=" line,
  Dovecot's Received header says LMTPS (LMTP over TLS);
- verify with the right CA: "Verified TLS connection established";
- verify against the server with the other CA's certificate: deferred
  "Server certificate not trusted" (Postfix's text), the reason is
  logged, nothing reaches the mailbox;
- the smtp_tls_* parameters do not apply to LMTP: smtp_tls_security_level
  = encrypt is set and the none destination still goes in plaintext.
"""

import os
import time
import unittest

import tlscerts
from peers import Dovecot
from pmtest import DeliveryTest

USERS = ["alice@none.test", "bob@enc.test", "carol@ver.test",
         "dave@bad.test"]


def message(mid, rcpt):
    return (b"From: <sender@client.test>\r\n"
            b"To: <" + rcpt.encode() + b">\r\n"
            b"Subject: lmtp tls\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 02 Dec 2026 18:00:00 +0000\r\n"
            b"\r\n"
            b"a line of the body\r\n")


class LmtpTlsTest(DeliveryTest):

    @classmethod
    def start_peers(cls, workdir):
        d = os.path.join(workdir, "certs")
        ca = tlscerts.make_ca(d)
        chain = tlscerts.make_chain(d, ca, "lmtp.test")
        d2 = os.path.join(workdir, "certs2")
        other = tlscerts.make_ca(d2, cn="Other Test CA")
        chain2 = tlscerts.make_chain(d2, other, "lmtp.test")
        cls.dovecot = Dovecot(workdir, USERS, tls_chain=chain,
                              addresses=("127.0.0.1", "127.0.0.2",
                                         "127.0.0.3")).start()
        cls.peers.append(cls.dovecot)
        cls.other = Dovecot(workdir, USERS, name="dovecot2",
                            tls_chain=chain2).start()
        cls.peers.append(cls.other)
        p, p2 = cls.dovecot.port, cls.other.port
        cls.nexthop = {
            "none": "127.0.0.1[127.0.0.1]:%d" % p,
            "enc": "127.0.0.2[127.0.0.2]:%d" % p,
            "ver": "127.0.0.3[127.0.0.3]:%d" % p,
            "bad": "127.0.0.1[127.0.0.1]:%d" % p2,
        }
        return {
            "transport_maps":
                "inline:{ none.test=lmtp:[127.0.0.1]:%d, "
                "enc.test=lmtp:[127.0.0.2]:%d, "
                "ver.test=lmtp:[127.0.0.3]:%d, "
                "bad.test=lmtp:inet:[127.0.0.1]:%d }" % (p, p, p, p2),
            "lmtp_tls_policy_maps":
                "inline:{ [127.0.0.2]:%d=encrypt, [127.0.0.3]:%d=verify, "
                "[127.0.0.1]:%d=verify }" % (p, p, p2),
            "lmtp_tls_CAfile": ca[0],
            "lmtp_tls_verify_cert_match": "lmtp.test",
            # SMTP's level must not reach LMTP deliveries
            "smtp_tls_security_level": "encrypt",
        }

    def mailbox(self, user, marker, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [m for m in self.dovecot.delivered(user) if marker in m]
            if got:
                return got
            time.sleep(0.1)
        self.fail("no message with %r in %s's Maildir\n%s\n---- dovecot "
                  "----\n%s" % (marker, user, self.logs_tail(),
                                self.dovecot.text()[-2000:]))

    @staticmethod
    def received(msg):
        """Dovecot's Received header (the first one), unfolded."""
        head = msg.split(b"\n\n", 1)[0].decode("ascii", "replace")
        lines = []
        for ln in head.split("\n"):
            if ln[:1] in (" ", "\t") and lines:
                lines[-1] += " " + ln.strip()
            else:
                lines.append(ln)
        return [ln for ln in lines if ln.lower().startswith("received:")][0]

    def test_none_is_plaintext(self):
        qid = self.submit("sender@client.test", ["alice@none.test"],
                          message("none-1", "alice@none.test"))
        got = self.mailbox("alice@none.test", b"<none-1@client.test>")
        rcv = self.received(got[0])
        self.assertIn("with LMTP id", rcv)
        lines = self.wait_log("%s: to=<alice@none.test>" % qid, ("smtp",))
        self.assertTrue(any("relay=%s" % self.nexthop["none"] in ln and
                            "status=sent" in ln for ln in lines), lines)
        self.assertEqual(self.stack.log_lines(
            "TLS connection established to %s" % self.nexthop["none"],
            "smtp"), [])
        self.assertEqual(self.stack.log_lines("%s: relay=" % qid, "smtp"),
                         [])

    def test_encrypt_delivers_over_tls(self):
        qid = self.submit("sender@client.test", ["bob@enc.test"],
                          message("enc-1", "bob@enc.test"))
        got = self.mailbox("bob@enc.test", b"<enc-1@client.test>")
        self.assertIn("with LMTPS id", self.received(got[0]))
        self.wait_log("Trusted TLS connection established to %s: TLSv1"
                      % self.nexthop["enc"], ("smtp",))
        lines = self.wait_log("%s: relay=%s, tls=Trusted TLSv1"
                              % (qid, self.nexthop["enc"]), ("smtp",))
        self.assertTrue(lines)
        self.wait_log("%s: to=<bob@enc.test>" % qid, ("smtp",))

    def test_verify_with_the_ca_delivers(self):
        qid = self.submit("sender@client.test", ["carol@ver.test"],
                          message("ver-1", "carol@ver.test"))
        got = self.mailbox("carol@ver.test", b"<ver-1@client.test>")
        self.assertIn("with LMTPS id", self.received(got[0]))
        self.wait_log("Verified TLS connection established to %s: TLSv1"
                      % self.nexthop["ver"], ("smtp",))
        self.wait_log("%s: relay=%s, tls=Verified TLSv1"
                      % (qid, self.nexthop["ver"]), ("smtp",))

    def test_verify_with_another_ca_defers(self):
        qid = self.submit("sender@client.test", ["dave@bad.test"],
                          message("bad-1", "dave@bad.test"))
        lines = self.wait_log("%s: to=<dave@bad.test>" % qid, ("smtp",))
        self.assertTrue(any("status=deferred" in ln and
                            "Server certificate not trusted" in ln
                            for ln in lines), lines)
        self.wait_log("server certificate verification failed for %s: num="
                      % self.nexthop["bad"], ("smtp",))
        time.sleep(0.5)
        self.assertEqual(self.other.delivered("dave@bad.test"), [])
        self.assertIsNotNone(self.stack.queued(qid))


if __name__ == "__main__":
    unittest.main()
