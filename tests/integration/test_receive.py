"""Receiving path end to end: SMTP clients -> smtpd -> cleanup -> Redis.

Real redis-server (durable), real services, real clients (swaks, smtplib,
and a raw socket where the exact bytes matter). Every accepted message is
read back from Redis and compared byte for byte with what was sent.
"""

import smtplib
import subprocess
import time
import unittest

from pmtest import RawSMTP, StackTest, queue_id_of


def message(subject="test", body=b"Hello.\r\n", extra=b""):
    return (b"From: Sender <sender@client.test>\r\n"
            b"To: Alice <alice@example.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"Message-ID: <" + subject.encode().replace(b" ", b"-") +
            b"@client.test>\r\n" + extra + b"\r\n" + body)


class ReceiveTest(StackTest):
    PARAMS = {"smtpd_recipient_limit": "5", "message_size_limit": "200000"}

    def test_swaks_one_recipient(self):
        # swaks ends the data with CRLF itself before the final dot
        body = b"This is a test mail from swaks."
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(self.stack.smtp_port),
             "--from", "sender@client.test", "--to", "alice@example.test",
             "--helo", "client.test", "--data", message("swaks", body).decode()],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        lines = [l for l in out.stdout.splitlines() if "queued as" in l]
        self.assertTrue(lines, out.stdout)
        self.assertIn("250 2.0.0 Ok: queued as ", lines[-1])
        qid = lines[-1].split("queued as ")[1].strip()
        # swaks sends --data with CRLF line ends and no trailing line change
        env, rr, stored = self.assertQueued(qid, message("swaks", body + b"\r\n"),
                                            sender="sender@client.test",
                                            rcpts=["alice@example.test"])
        self.assertTrue(stored.startswith(b"Received: from client.test"), stored[:200])
        self.assertIn(b"with ESMTP id " + qid.encode(), stored)
        self.assertIn(b"for <alice@example.test>", stored)
        self.assertEqual(rr[0]["status"], "todo")

    def test_smtplib_many_recipients(self):
        msg = message("many")
        rcpts = ["alice@example.test", "bob@example.test",
                 "someone@relay.test", "other@relay.test"]
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            for r in rcpts:
                code, _ = s.rcpt(r)
                self.assertEqual(code, 250, r)
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
            qid = queue_id_of(text.decode())
        self.assertQueued(qid, msg, sender="sender@client.test", rcpts=rcpts)

    def test_pipelined_in_one_packet(self):
        c = RawSMTP(self.stack.smtp_port)
        self.assertEqual(c.reply()[0], 220)
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250)
        self.assertIn("250-PIPELINING", lines)
        c.send(b"MAIL FROM:<sender@client.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\n"
               b"RCPT TO:<bob@example.test>\r\n"
               b"DATA\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 354)
        msg = message("pipelined")
        c.send(msg + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        qid = queue_id_of(lines)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        self.assertQueued(qid, msg, rcpts=["alice@example.test", "bob@example.test"])

    def test_bdat(self):
        msg = message("bdat", b"Line one.\r\n.leading dot is not stuffed in BDAT\r\n")
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        code, lines = c.cmd("EHLO client.test")
        self.assertIn("250-CHUNKING", lines + [lines[-1].replace(" ", "-", 1)])
        self.assertEqual(c.cmd("MAIL FROM:<sender@client.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        half = len(msg) // 2
        c.send(b"BDAT %d\r\n" % half + msg[:half])
        self.assertEqual(c.reply()[0], 250)
        c.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        qid = queue_id_of(lines)
        c.cmd("QUIT")
        c.close()
        self.assertQueued(qid, msg)

    def test_8bitmime(self):
        body = "Grüße aus Köln, ça va? ✓\r\n".encode("utf-8")
        msg = message("eightbit", body, b"Content-Type: text/plain; charset=utf-8\r\n"
                      b"Content-Transfer-Encoding: 8bit\r\n")
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as s:
            s.ehlo("client.test")
            self.assertTrue(s.has_extn("8bitmime"))
            code, _ = s.mail("sender@client.test", ["BODY=8BITMIME"])
            self.assertEqual(code, 250)
            s.rcpt("alice@example.test")
            code, text = s.data(msg)
            self.assertEqual(code, 250)
            qid = queue_id_of(text.decode())
        env, _, _ = self.assertQueued(qid, msg)
        self.assertEqual(env["body_type"], "2")  # BODY_8BITMIME

    def test_size_limits(self):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as s:
            s.ehlo("client.test")
            self.assertEqual(s.esmtp_features.get("size"), "200000")
            code, text = s.mail("sender@client.test", ["SIZE=300000"])
            self.assertEqual(code, 552, text)
            self.assertTrue(text.startswith(b"5.3.4"), text)
            # no SIZE given, content over the limit: refused after DATA
            s.mail("sender@client.test")
            s.rcpt("alice@example.test")
            big = message("big", (b"y" * 998 + b"\r\n") * 250)
            self.assertGreater(len(big), 200000)
            code, text = s.data(big)
            self.assertEqual(code, 552, text)
            self.assertTrue(text.startswith(b"5.3.4"), text)
            # the session goes on
            self.assertEqual(s.noop()[0], 250)
        self.assertNotIn(b"big@client.test", b"".join(
            self.stack.queued(q)[2] for q in self.stack.incoming_qids()))

    def test_recipient_limit(self):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            for i in range(5):
                self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            code, text = s.rcpt("bob@example.test")
            self.assertEqual(code, 452)
            self.assertTrue(text.startswith(b"4.5.3"), text)

    def test_unknown_local_user(self):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            code, text = s.rcpt("nosuchuser@example.test")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.1.1"), text)
            self.assertIn(b"User unknown", text)
            # postmaster always exists
            self.assertEqual(s.rcpt("postmaster@example.test")[0], 250)

    def test_dot_stuffing(self):
        body = (b"..one leading dot on the wire line\r\n"
                b"...two\r\n"
                b". a dot and a space\r\n"
                b"end\r\n")
        # RFC 5321 4.5.2: a leading period on a line with more characters
        # is removed, whatever follows it
        stored_body = (b".one leading dot on the wire line\r\n"
                       b"..two\r\n"
                       b" a dot and a space\r\n"
                       b"end\r\n")
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        head = message("dots", b"")
        c.send(head + body + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        c.close()
        self.assertQueued(queue_id_of(lines), head + stored_body)

    def test_junk_and_overlong_commands(self):
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        c.cmd("EHLO client.test")
        code, lines = c.cmd("XYZZY")
        self.assertEqual(code, 502)
        self.assertTrue(lines[-1].startswith("502 5.5.2"), lines)
        code, lines = c.cmd("MAIL FROM:" + "a" * 5000)
        self.assertEqual(code, 500, lines)
        self.assertTrue(lines[-1].startswith("500 5.5.0"), lines)
        code, lines = c.cmd("MAIL FROM:<a\x00b@client.test>")
        self.assertIn(code, (500, 501), lines)
        code, lines = c.cmd("MAIL FROM:<unbalanced@client.test")
        self.assertEqual(code, 501, lines)
        self.assertTrue(lines[-1].startswith("501 5.1.7"), lines)
        code, lines = c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(code, 503, lines)
        # still usable after errors
        self.assertEqual(c.cmd("MAIL FROM:<sender@client.test>")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()

    def test_helo_required(self):
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        code, lines = c.cmd("MAIL FROM:<sender@client.test>")
        self.assertEqual(code, 503, lines)
        self.assertTrue(lines[-1].startswith("503 5.5.1"), lines)
        c.close()

    def test_unauth_pipelining_refused(self):
        # commands sent before the greeting
        c = RawSMTP(self.stack.smtp_port)
        c.send(b"EHLO early.test\r\n")
        code, lines = c.reply()
        if code == 220:
            code, lines = c.reply()
        self.assertEqual(code, 554, lines)
        self.assertTrue(c.closed())
        c.close()
        # content sent together with DATA, before the 354
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        c.cmd("EHLO client.test")
        c.send(b"MAIL FROM:<sender@client.test>\r\nRCPT TO:<alice@example.test>\r\n"
               b"DATA\r\nSubject: smuggled\r\n\r\nbody\r\n.\r\n")
        codes = []
        try:
            while True:
                codes.append(c.reply()[0])
        except (ConnectionError, OSError):
            pass
        self.assertIn(554, codes, codes)
        self.assertNotIn(354, codes[codes.index(554):] if 554 in codes else codes)
        c.close()

    def test_vrfy_help_noop_rset(self):
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        c.cmd("EHLO client.test")
        code, lines = c.cmd("VRFY alice@example.test")
        self.assertEqual(code, 252)
        self.assertTrue(lines[-1].startswith("252 2."), lines)
        code, lines = c.cmd("HELP")
        self.assertEqual(code, 214)
        self.assertTrue(lines[-1].startswith("214 2."), lines)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        code, lines = c.cmd("QUIT")
        self.assertTrue(lines[-1].startswith("221 2.0.0"), lines)
        c.close()

    def test_enhanced_codes_match(self):
        """Every reply carries an enhanced code whose class matches."""
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        replies = [c.cmd(x) for x in (
            "EHLO client.test", "NOOP", "MAIL FROM:<bad", "MAIL FROM:<s@client.test>",
            "MAIL FROM:<s@client.test>", "RCPT TO:<x@elsewhere.test>",
            "RCPT TO:<alice@example.test>", "RSET", "XYZZY", "VRFY bob",
            "DATA", "HELP", "QUIT")]
        for code, lines in replies[1:]:
            last = lines[-1]
            parts = last.split(" ")
            self.assertRegex(parts[1], r"^[245]\.\d{1,3}\.\d{1,3}$", last)
            self.assertEqual(parts[1][0], last[0], last)
        c.close()

    def test_metrics(self):
        text = self.stack.metrics("smtpd")
        self.assertIn("postmesh_smtpd_sessions_total", text)
        self.assertIn("postmesh_smtpd_messages_accepted_total", text)
        text = self.stack.metrics("cleanup")
        self.assertIn("postmesh_cleanup_enqueue_seconds_bucket", text)
        self.assertIn("postmesh_cleanup_queue_writes_total", text)


class RelayTest(StackTest):
    """A client outside mynetworks may not relay; inside it may."""
    PARAMS = {"mynetworks": "127.0.0.1/32"}

    def test_relay_refused_outside_mynetworks(self):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30,
                          source_address=("127.0.0.2", 0)) as s:
            s.ehlo("outside.test")
            s.mail("sender@outside.test")
            code, text = s.rcpt("victim@elsewhere.test")
            self.assertEqual(code, 554, text)
            self.assertTrue(text.startswith(b"5.7.1"), text)
            self.assertIn(b"Relay access denied", text)
            # relay_domains and local domains are still accepted
            self.assertEqual(s.rcpt("someone@relay.test")[0], 250)
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)

    def test_quoted_routing_refused_outside_mynetworks(self):
        """resolve_dequoted_address: "user@elsewhere"@relay-domain is a
        routed address, not relay.test mail (issue 6, 3c)."""
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30,
                          source_address=("127.0.0.2", 0)) as s:
            s.ehlo("outside.test")
            s.mail("sender@outside.test")
            for rcpt in ('"victim@external.test"@relay.test',
                         '"victim%external.test"@relay.test',
                         '"external.test!victim"@relay.test'):
                code, text = s.docmd("RCPT TO:<%s>" % rcpt)
                self.assertEqual(code, 554, "%s: %r" % (rcpt, text))
                self.assertTrue(text.startswith(b"5.7.1"), text)
                self.assertIn(b"Relay access denied", text)
            # a quoted local part without operators is still fine
            code, text = s.docmd('RCPT TO:<"john doe"@relay.test>')
            self.assertEqual(code, 250, text)

    def test_relay_allowed_inside_mynetworks(self):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30,
                          source_address=("127.0.0.1", 0)) as s:
            s.ehlo("inside.test")
            s.mail("sender@inside.test")
            self.assertEqual(s.rcpt("friend@elsewhere.test")[0], 250)


if __name__ == "__main__":
    unittest.main()
