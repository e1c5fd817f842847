"""SIGHUP re-reads the smtp client's TLS parameters (smtp_tls_*).

A real SMTP server with STARTTLS (sink_server.py, aiosmtpd, with a
certificate for sink.test from the test CA, made with the openssl
command) receives for sink.test. The smtp agent starts with
smtp_tls_security_level = may and no CA:

1. a message goes over TLS, "Untrusted TLS connection established"
   (no CAfile: the chain cannot be checked);
2. main.cf gets smtp_tls_security_level = verify with smtp_tls_CAfile =
   another CA, smtp_tls_verify_cert_match = sink.test; SIGHUP to smtp:
   "reload: applied: ..." names them, and the next message is deferred
   "Server certificate not trusted" (the new level and CA apply,
   although the connection of step 1 may still be in the cache);
3. smtp_tls_CAfile = the right CA, SIGHUP: the deferred message and a
   new one are delivered, "Verified TLS connection established";
   then only smtp_tls_CAfile = the other CA again (the level stays):
   the next message is deferred, not sent over the cached verified
   connection, and delivered once the right CA is back;
4. a bad value (an unknown level) is refused at SIGHUP with an error
   and the running settings stay: the next message is still verified,
   and the level is logged "changed but not applied", never "applied";
5. main.cf fixed with another good level: the next SIGHUP logs it
   applied (the value in use was kept, not the refused one).
Under ASan the harness fails the class on any finding (the old
contexts are freed while connections made with them are cached).
"""

import os
import signal
import time
import unittest

import tlscerts
from peers import PySink
from pmtest import DeliveryTest


def message(mid):
    return (b"From: <sender@client.test>\r\n"
            b"To: <rcpt@sink.test>\r\n"
            b"Subject: tls reload\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 02 Dec 2026 18:00:00 +0000\r\n"
            b"\r\n"
            b"a line of the body\r\n")


class SmtpTlsReloadTest(DeliveryTest):

    PARAMS = {"smtp_connection_cache_time_limit": "30s"}

    @classmethod
    def start_peers(cls, workdir):
        d = os.path.join(workdir, "certs")
        cls.ca = tlscerts.make_ca(d)[0]
        chain = tlscerts.make_chain(d, (cls.ca, os.path.join(d, "ca.key")),
                                    "sink.test")
        cls.other_ca = tlscerts.make_ca(os.path.join(workdir, "certs2"),
                                        cn="Other Test CA")[0]
        cls.sink = PySink(workdir, name="tlssink", tls_chain=chain).start()
        cls.peers.append(cls.sink)
        cls.relay = "127.0.0.1[127.0.0.1]:%d" % cls.sink.port
        return {
            "transport_maps":
                "inline:{ sink.test=smtp:[127.0.0.1]:%d }" % cls.sink.port,
            "smtp_tls_security_level": "may",
        }

    def reload(self, **params):
        self.stack.params.update(params)
        self.stack.write_config()
        pat = "reload: smtp and lmtp client TLS settings read again"
        before = len(self.stack.log_lines(pat, "smtp"))
        self.stack.svcs["smtp"].proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 20
        while (len(self.stack.log_lines(pat, "smtp")) <= before and
               time.time() < deadline):
            time.sleep(0.1)
        self.assertGreater(len(self.stack.log_lines(pat, "smtp")), before,
                           self.logs_tail())

    def sink_has(self, mid, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [m for m in self.sink.messages()
                   if (b"<%s@client.test>" % mid.encode()) in m.content]
            if got:
                return got
            time.sleep(0.1)
        self.fail("%s not at the sink\n%s" % (mid, self.logs_tail()))

    def test_sighup_applies_new_tls_policy(self):
        # 1. may, no CA: TLS, untrusted
        qid = self.submit("sender@client.test", ["rcpt@sink.test"],
                          message("r-1"))
        got = self.sink_has("r-1")
        self.assertTrue(got[0].meta["tls"])
        self.wait_log("Untrusted TLS connection established to %s: TLSv1"
                      % self.relay, ("smtp",))
        self.wait_log("%s: relay=%s, tls=Untrusted" % (qid, self.relay),
                      ("smtp",))

        # 2. verify against the wrong CA: the new policy defers
        self.reload(smtp_tls_security_level="verify",
                    smtp_tls_CAfile=self.other_ca,
                    smtp_tls_verify_cert_match="sink.test")
        applied = self.wait_log("reload: applied:", ("smtp",))
        self.assertTrue(any("smtp_tls_security_level" in ln and
                            "smtp_tls_CAfile" in ln for ln in applied),
                        applied)
        qid2 = self.submit("sender@client.test", ["rcpt@sink.test"],
                           message("r-2"))
        lines = self.wait_log("%s: to=<rcpt@sink.test>" % qid2, ("smtp",))
        self.assertTrue(any("status=deferred" in ln and
                            "Server certificate not trusted" in ln
                            for ln in lines), lines)
        self.assertEqual([m for m in self.sink.messages()
                          if b"<r-2@client.test>" in m.content], [])

        # 3. the right CA: verified; the deferred message goes too
        self.reload(smtp_tls_CAfile=self.ca)
        qid3 = self.submit("sender@client.test", ["rcpt@sink.test"],
                           message("r-3"))
        for mid in ("r-2", "r-3"):
            self.assertTrue(self.sink_has(mid)[0].meta["tls"])
        self.wait_log("%s: relay=%s, tls=Verified TLSv1" % (qid3, self.relay),
                      ("smtp",))
        self.wait_gone(qid2)

        # 3b. only the CA changes (the level stays verify): the new
        # generation alone must keep the verified connection of step 3
        # in the cache from being reused, so the next message is
        # deferred; the right CA again delivers it
        self.reload(smtp_tls_CAfile=self.other_ca)
        qid3b = self.submit("sender@client.test", ["rcpt@sink.test"],
                            message("r-3b"))
        lines = self.wait_log("%s: to=<rcpt@sink.test>" % qid3b, ("smtp",))
        self.assertTrue(any("status=deferred" in ln and
                            "Server certificate not trusted" in ln
                            for ln in lines), lines)
        self.assertEqual([m for m in self.sink.messages()
                          if b"<r-3b@client.test>" in m.content], [])
        self.reload(smtp_tls_CAfile=self.ca)
        self.assertTrue(self.sink_has("r-3b")[0].meta["tls"])
        self.wait_gone(qid3b)

        # 4. a bad level is refused; the verified policy stays, and the
        # level is not logged as applied
        bad = len(self.stack.log_lines("reload: ", "smtp"))
        napplied = len(self.stack.log_lines("reload: applied:", "smtp"))
        self.stack.params["smtp_tls_security_level"] = "bogus"
        self.stack.write_config()
        self.stack.svcs["smtp"].proc.send_signal(signal.SIGHUP)
        self.wait_log("reload: unknown or unsupported smtp_tls_security_level"
                      " value: bogus; keeping", ("smtp",))
        self.wait_log("reload: smtp_tls_security_level changed but not "
                      "applied", ("smtp",))
        self.assertGreater(len(self.stack.log_lines("reload: ", "smtp")), bad)
        qid4 = self.submit("sender@client.test", ["rcpt@sink.test"],
                           message("r-4"))
        self.sink_has("r-4")
        self.wait_log("%s: relay=%s, tls=Verified TLSv1" % (qid4, self.relay),
                      ("smtp",))
        applied = self.stack.log_lines("reload: applied:", "smtp")[napplied:]
        self.assertFalse(any("smtp_tls_security_level" in ln
                             for ln in applied), applied)

        # 5. main.cf fixed (another good level): the next SIGHUP applies
        # it (the snapshot kept "verify", not "bogus")
        self.reload(smtp_tls_security_level="encrypt")
        applied = self.wait_log("reload: applied:", ("smtp",),
                                count=napplied + 1)[napplied:]
        self.assertTrue(any("smtp_tls_security_level" in ln
                            for ln in applied), applied)
        qid5 = self.submit("sender@client.test", ["rcpt@sink.test"],
                           message("r-5"))
        self.assertTrue(self.sink_has("r-5")[0].meta["tls"])
        self.wait_log("%s: relay=%s, tls=" % (qid5, self.relay), ("smtp",))


if __name__ == "__main__":
    unittest.main()
