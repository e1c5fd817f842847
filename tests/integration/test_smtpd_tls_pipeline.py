"""smtpd TLS: large pipelined input written in one go after STARTTLS.

A client that writes many commands (or a large message) at once fills
smtpd's input up to its read high watermark. When smtpd takes a line
and its input drops below the watermark, libevent 2.1's OpenSSL filter
reads the next TLS record at once, inside that call, and used to run
smtpd's read callback there: the session was re-entered in the middle
of a command line and the outer line was clobbered (NOOP became
"NOOP\\0", answered "500 5.5.2 Error: bad syntax", then "too many
errors"). Every command must get its 250 and a large message must be
queued byte for byte, exactly as over plain SMTP.
"""

import random
import shutil
import ssl
import tempfile
import time
import unittest

import tlscerts
from pmtest import RawSMTP, StackTest, queue_id_of

NAME = "mx.example.test"
NOOPS = 20000


def body_lines(n, seed):
    """n lines of varied length and content, none starting with a dot."""
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 .,;:-_=+/"
    out = []
    for i in range(n):
        length = rnd.randrange(0, 990)
        out.append("L%06d " % i + "".join(
            rnd.choice(alphabet) for _ in range(length)))
    return ("\r\n".join(out) + "\r\n").encode()


class SmtpdTlsPipelineTest(StackTest):

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="pmtls-")
        cls.ca = tlscerts.make_ca(cls.certdir)
        chain = tlscerts.make_chain(cls.certdir, cls.ca, NAME, "rsa")
        cls.PARAMS = {
            "smtpd_tls_security_level": "may",
            "smtpd_tls_chain_files": chain,
            "smtpd_junk_command_limit": "100000",
            "smtpd_forbid_unauth_pipelining": "no",
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certdir, ignore_errors=True)

    def tls_client(self):
        c = RawSMTP(self.stack.smtp_port, timeout=60)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        ctx = ssl.create_default_context(cafile=self.ca[0])
        c.sock = ctx.wrap_socket(c.sock, server_hostname=NAME)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        return c

    def test_pipelined_noops_in_one_write(self):
        c = self.tls_client()
        try:
            c.send(b"NOOP\r\n" * NOOPS)
            codes = {}
            for _ in range(NOOPS):
                code, lines = c.reply()
                codes[code] = codes.get(code, 0) + 1
                if code != 250:
                    self.fail("reply %r after %r" % (lines, codes))
            self.assertEqual(codes, {250: NOOPS})
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        # The disconnect line follows the 221: wait for it.
        deadline = time.time() + 15
        while time.time() < deadline:
            lines = self.stack.log_lines("disconnect from", "smtpd")
            if any("noop=%d " % NOOPS in x for x in lines):
                break
            time.sleep(0.05)
        self.assertTrue(any("noop=%d " % NOOPS in x for x in lines), lines)

    def test_large_message_in_one_write(self):
        content = (b"From: <sender@client.test>\r\nTo: <alice@example.test>\r\n"
                   b"Subject: big over TLS\r\n\r\n" + body_lines(1500, 9))
        self.assertGreater(len(content), 500000)
        c = self.tls_client()
        try:
            self.assertEqual(c.cmd("MAIL FROM:<sender@client.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(content + b".\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
            qid = queue_id_of(lines)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        self.assertQueued(qid, content)


if __name__ == "__main__":
    unittest.main()
