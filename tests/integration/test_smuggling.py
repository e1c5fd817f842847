"""SMTP smuggling: only <CR><LF>.<CR><LF> ends DATA.

For every known variant of a fake end-of-data (bare LF, bare CR, mixed,
with NUL) the client hides a second transaction after it. The server
must answer exactly once (after the real end), queue exactly one
message, store the hidden text as content, and never store a stray CR
or LF (smtpd_forbid_bare_newline = normalize).
"""

import re
import unittest

from pmtest import RawSMTP, StackTest, queue_id_of

VARIANTS = [
    b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r",
    b"\n.\r", b"\r.\n", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n", b"\n..\n",
    b"\r\n .\r\n",
]

HIDDEN = (b"MAIL FROM:<smuggled@evil.test>\r\n"
          b"RCPT TO:<bob@example.test>\r\n"
          b"DATA\r\n"
          b"Subject: smuggled\r\n\r\nsmuggled body\r\n")


def has_stray_newline(data):
    return re.search(rb"\r(?!\n)|(?<!\r)\n", data) is not None


class SmugglingTest(StackTest):

    def test_every_variant(self):
        for v in VARIANTS:
            with self.subTest(variant=v):
                c = RawSMTP(self.stack.smtp_port)
                c.reply()
                c.cmd("EHLO client.test")
                self.assertEqual(c.cmd("MAIL FROM:<sender@client.test>")[0], 250)
                self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
                self.assertEqual(c.cmd("DATA")[0], 354)
                c.send(b"Subject: variant " + repr(v).encode() + b"\r\n\r\n"
                       b"part one" + v + HIDDEN + b".\r\n")
                code, lines = c.reply()
                self.assertEqual(code, 250, lines)
                qid = queue_id_of(lines)
                # the next reply belongs to QUIT: nothing was smuggled
                code, lines = c.cmd("QUIT")
                self.assertEqual(code, 221, lines)
                c.close()
                env, rr, body = self.stack.queued(qid)
                self.assertIn(b"smuggled@evil.test", body)
                self.assertFalse(has_stray_newline(body), body)
                self.assertEqual([x["address"] for x in rr], ["alice@example.test"])
        senders = [self.stack.queued(q)[0]["sender"]
                   for q in self.stack.incoming_qids()]
        self.assertNotIn("smuggled@evil.test", senders)

    def test_bare_lf_content_normalized(self):
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: lf\nX-Bare: cr\rhere\r\n\r\nline1\nline2\r\n.\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        c.close()
        _, _, body = self.stack.queued(queue_id_of(lines))
        self.assertIn(b"Subject: lf\r\nX-Bare: cr", body)
        self.assertIn(b"line1\r\nline2\r\n", body)
        self.assertFalse(has_stray_newline(body), body)

    def test_bdat_with_fake_end(self):
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        chunk = b"Subject: bdat\r\n\r\nx\r\n.\r\n" + HIDDEN
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        _, _, body = self.stack.queued(queue_id_of(lines))
        self.assertTrue(body.endswith(chunk), body)


if __name__ == "__main__":
    unittest.main()
