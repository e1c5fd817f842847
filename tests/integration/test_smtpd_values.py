"""Envelope values cleanup would refuse are refused by smtpd at the command.

smtpd forwards the ENVID, every ORCPT and the HELO name to cleanup,
which checks them again (other roles are not trusted). Both call the
same function (pm_envcheck), so a value smtpd accepts is one cleanup
stores: a client never gets 250 for a command and then "451 4.3.0
Error: internal protocol error" at the end of data (and retries that
forever). Here every hostile value gets 501 5.5.4 at the command, the
session goes on, and values at the limits are accepted by both
(250 at the command and 250 "queued as" at the end of data).
"""

import unittest

from pmtest import RawSMTP, StackTest, queue_id_of

MSG = b"Subject: values\r\n\r\nbody\r\n.\r\n"


class SmtpdValuesTest(StackTest):

    def session(self):
        c = RawSMTP(self.stack.smtp_port)
        code, lines = c.reply()
        self.assertEqual(code, 220, lines)
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250, lines)
        return c

    def assert_501(self, c, cmd):
        code, lines = c.cmd(cmd)
        self.assertEqual(code, 501, "%r: got %s, want 501" % (cmd, lines))
        self.assertTrue(lines[-1].startswith("501 5.5.4 "),
                        "%r: got %r, want 501 5.5.4" % (cmd, lines))

    def finish(self, c):
        """A transaction after the refusals still queues (250)."""
        code, lines = c.cmd("DATA")
        self.assertEqual(code, 354, lines)
        c.send(MSG)
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        qid = queue_id_of(lines)
        self.assertIsNotNone(self.stack.queued(qid))
        c.cmd("QUIT")
        c.close()
        return qid

    def test_envid_refused_at_mail(self):
        bad = [
            "a+0D+0AX-Injected:+20yes",   # CR LF: a header in a DSN
            "a+0Db",                      # bare CR
            "a+0Ab",                      # bare LF
            "a+09b",                      # TAB
            "a+01b", "a+1Fb", "a+7Fb",    # C0 and DEL
            "a+C3+A9",                    # 8-bit
            "x" * 101,                    # over RFC 3461's 100
            "a+0", "a+", "a+ZZ", "a+00b",  # truncated, bad hex, NUL
        ]
        c = self.session()
        for v in bad:
            with self.subTest(envid=v):
                self.assert_501(c, "MAIL FROM:<s@client.test> ENVID=" + v)
            c.cmd("RSET")   # independent of the case before
        # At the limit, printable: accepted and stored.
        envid = "E" * 99 + "+2B"
        code, lines = c.cmd("MAIL FROM:<s@client.test> ENVID=" + envid)
        self.assertEqual(code, 250, lines)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        qid = self.finish(c)
        env = self.stack.queued(qid)[0]
        self.assertEqual(env["envid"], "E" * 99 + "+")

    def test_orcpt_refused_at_rcpt(self):
        bad = [
            "rfc822;a+0D+0AX-Injected:+20yes@example.test",
            "rfc822;a+0Db@example.test",
            "rfc822;a+0Ab@example.test",
            "rfc822;a+7Fb@example.test",
            "rfc822;a+00b@example.test",
            "rfc822;a+0",
            # "rfc822;" + 494 = 501 octets stored: over RFC 3461's 500.
            "rfc822;" + "o" * 494,
        ]
        c = self.session()
        self.assertEqual(c.cmd("MAIL FROM:<s@client.test>")[0], 250)
        for v in bad:
            with self.subTest(orcpt=v[:60]):
                self.assert_501(c, "RCPT TO:<alice@example.test> ORCPT=" + v)
        # At the limit: 500 octets stored, accepted by both.
        code, lines = c.cmd("RCPT TO:<alice@example.test> ORCPT=rfc822;"
                            + "o" * 493)
        self.assertEqual(code, 250, lines)
        qid = self.finish(c)
        rr = self.stack.queued(qid)[1]
        self.assertEqual(rr[0]["orcpt"], "rfc822;" + "o" * 493)

    def test_helo_refused(self):
        c = RawSMTP(self.stack.smtp_port)
        self.assertEqual(c.reply()[0], 220)
        for verb in ("EHLO", "HELO"):
            for name in ("bad\rname.test", "bad\x01name", "bad\x7fname",
                         "bad\x1bname", "h" * 256):
                with self.subTest(verb=verb, name=name[:20]):
                    self.assert_501(c, verb + " " + name)
        # A name cleanup accepts: the session goes on to 250 queued.
        code, lines = c.cmd("EHLO " + "h" * 255)
        self.assertEqual(code, 250, lines)
        self.assertEqual(c.cmd("MAIL FROM:<s@client.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.finish(c)

    def test_no_protocol_error_at_data(self):
        """The original report: ENVID with CR LF, 250 then 451 at end
        of data. Now 501 at MAIL, and cleanup never saw a bad request."""
        c = self.session()
        self.assert_501(c, "MAIL FROM:<s@client.test> "
                        "ENVID=a+0D+0AX-Injected:+20yes")
        c.cmd("QUIT")
        c.close()
        self.assertEqual(self.stack.log_lines("invalid cleanup request",
                                              "cleanup"), [])


if __name__ == "__main__":
    unittest.main()
