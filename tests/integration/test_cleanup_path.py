"""cleanup through the whole stack: what a message looks like in Redis
after smtpd and cleanup have processed it.

DSN parameters carried to the queue, SMTPUTF8, missing headers added for
local submissions, drop_headers, header_checks/body_checks actions,
canonical and virtual alias maps, hopcount_limit. Real redis-server,
real services, smtplib and raw sockets as clients.
"""

import os
import smtplib
import unittest

from pmtest import RawSMTP, Stack, StackTest, queue_id_of


def submit(port, sender, rcpts, msg, mail_opts=(), rcpt_opts=()):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        code, text = s.mail(sender, list(mail_opts))
        if code != 250:
            return code, text.decode()
        for r in rcpts:
            code, text = s.rcpt(r, list(rcpt_opts))
            if code != 250:
                return code, text.decode()
        code, text = s.data(msg)
        return code, text.decode()


HEADER_CHECKS = """\
/^Subject: reject me/  REJECT spam is not welcome here
/^Subject: hold me/    HOLD
/^Subject: discard me/ DISCARD
/^X-Secret:/           IGNORE
/^Subject: tag me/     PREPEND X-Tagged: yes
"""

BODY_CHECKS = """\
/forbidden phrase/     REJECT body rejected
"""


class CleanupPathTest(StackTest):

    PARAMS = {
        "virtual_alias_maps": "inline:{ { team@example.test = alice@example.test, bob@example.test }, "
                              "loop@example.test=loop@example.test }",
        "sender_canonical_maps": "inline:{ old@client.test=new@client.test }",
        "hopcount_limit": "5",
    }

    def test_dsn_parameters_carried(self):
        msg = (b"From: <s@client.test>\r\nSubject: dsn\r\nMessage-ID: <dsn@client.test>\r\n"
               b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n\r\nbody\r\n")
        code, text = submit(self.stack.smtp_port, "s@client.test",
                            ["alice@example.test"], msg,
                            ["RET=HDRS", "ENVID=env+2Bid"],
                            ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;a+2Bb@example.test"])
        self.assertEqual(code, 250, text)
        env, rr, body = self.assertQueued(queue_id_of(text), msg)
        self.assertEqual(env["ret"], "2")          # RET_HDRS
        self.assertEqual(env["envid"], "env+id")   # xtext decoded
        self.assertEqual(int(rr[0]["notify"]), 2 | 4)  # SUCCESS|FAILURE
        self.assertIn("a+b@example.test", rr[0]["orcpt"])

    def test_smtputf8(self):
        msg = "From: <jörg@client.test>\r\nSubject: ü\r\nMessage-ID: <u@client.test>\r\n" \
              "Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n\r\nGrüße\r\n".encode()
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        code, lines = c.cmd("EHLO client.test")
        self.assertIn("250-SMTPUTF8", lines)
        self.assertEqual(c.cmd("MAIL FROM:<jörg@client.test> SMTPUTF8 BODY=8BITMIME")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(msg + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        c.close()
        env, _, _ = self.assertQueued(queue_id_of(lines), msg)
        self.assertEqual(env["sender"], "jörg@client.test")

    def test_missing_headers_added_for_local_client(self):
        msg = b"Subject: bare\r\n\r\nno From, Date or Message-ID\r\n"
        code, text = submit(self.stack.smtp_port, "s@client.test",
                            ["alice@example.test"], msg)
        self.assertEqual(code, 250, text)
        qid = queue_id_of(text)
        _, _, body = self.stack.queued(qid)
        head = body.split(b"\r\n\r\n", 1)[0].lower()
        self.assertIn(b"\r\nfrom: ", b"\r\n" + head)
        self.assertIn(b"\r\ndate: ", b"\r\n" + head)
        self.assertIn(b"\r\nmessage-id: <", b"\r\n" + head)
        self.assertIn(qid.lower().encode(), head)
        self.assertTrue(body.endswith(msg))

    def test_drop_headers(self):
        msg = (b"From: <s@client.test>\r\nBcc: <secret@example.test>\r\n"
               b"Return-Path: <forged@evil.test>\r\nSubject: drop\r\n"
               b"Message-ID: <drop@client.test>\r\nDate: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
               b"\r\nbody\r\n")
        code, text = submit(self.stack.smtp_port, "s@client.test",
                            ["alice@example.test"], msg)
        self.assertEqual(code, 250, text)
        _, _, body = self.stack.queued(queue_id_of(text))
        self.assertNotIn(b"secret@example.test", body)
        self.assertNotIn(b"forged@evil.test", body)
        self.assertIn(b"Subject: drop\r\n", body)

    def test_virtual_alias_and_canonical(self):
        msg = (b"From: <old@client.test>\r\nSubject: alias\r\nMessage-ID: <al@client.test>\r\n"
               b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n\r\nbody\r\n")
        code, text = submit(self.stack.smtp_port, "old@client.test",
                            ["team@example.test"], msg)
        self.assertEqual(code, 250, text)
        env, rr, _ = self.assertQueued(queue_id_of(text), msg)
        self.assertEqual(env["sender"], "new@client.test")
        self.assertEqual(sorted(x["address"] for x in rr),
                         ["alice@example.test", "bob@example.test"])
        for x in rr:
            self.assertIn("team@example.test", x["orcpt"])

    def test_hopcount_limit(self):
        hops = b"".join(b"Received: from hop%d.test by x.test; Wed, 25 Nov 2026 16:00:00 +0000\r\n" % i
                        for i in range(6))
        msg = hops + b"Subject: loop\r\n\r\nbody\r\n"
        code, text = submit(self.stack.smtp_port, "s@client.test",
                            ["alice@example.test"], msg)
        self.assertEqual(code, 554, text)
        self.assertTrue(text.startswith("5.4."), text)


class ChecksTest(StackTest):
    """header_checks and body_checks from regexp files."""

    @classmethod
    def setUpClass(cls):
        cls.stack = None
        st = Stack({})
        hc = st.path("header_checks")
        bc = st.path("body_checks")
        with open(hc, "w") as f:
            f.write(HEADER_CHECKS)
        with open(bc, "w") as f:
            f.write(BODY_CHECKS)
        st.params["header_checks"] = "regexp:" + hc
        st.params["body_checks"] = "regexp:" + bc
        st.write_config()
        cls.stack = st
        try:
            st.start()
        except Exception:
            st.stop()
            for n, s in st.svcs.items():
                print("---- %s log ----\n%s" % (n, s.text()[-3000:]))
            st.cleanup_dir()
            raise

    def msg(self, subject, extra=b"", body=b"body\r\n"):
        return (b"From: <s@client.test>\r\nSubject: " + subject + b"\r\n" + extra +
                b"Message-ID: <" + subject.replace(b" ", b"-") + b"@client.test>\r\n"
                b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n\r\n" + body)

    def send(self, m):
        return submit(self.stack.smtp_port, "s@client.test", ["alice@example.test"], m)

    def test_reject(self):
        code, text = self.send(self.msg(b"reject me"))
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith("5.7.1"), text)
        self.assertIn("spam is not welcome here", text)

    def test_body_reject(self):
        code, text = self.send(self.msg(b"body", body=b"a forbidden phrase here\r\n"))
        self.assertEqual(code, 550, text)
        self.assertIn("body rejected", text)

    def test_discard(self):
        before = len(self.stack.incoming_qids())
        code, text = self.send(self.msg(b"discard me"))
        self.assertEqual(code, 250, text)
        self.assertEqual(len(self.stack.incoming_qids()), before)
        self.assertIsNone(self.stack.queued(queue_id_of(text)))

    def test_hold(self):
        code, text = self.send(self.msg(b"hold me"))
        self.assertEqual(code, 250, text)
        env, _, _ = self.stack.queued(queue_id_of(text))
        self.assertTrue(int(env["flags"]) & 4, env)  # SUBMIT_HOLD

    def test_ignore_and_prepend(self):
        code, text = self.send(self.msg(b"tag me", extra=b"X-Secret: 42\r\n"))
        self.assertEqual(code, 250, text)
        _, _, body = self.stack.queued(queue_id_of(text))
        self.assertNotIn(b"X-Secret", body)
        self.assertIn(b"X-Tagged: yes\r\nSubject: tag me\r\n", body)


if __name__ == "__main__":
    unittest.main()
