"""Content memory budget (issue 6 j): smtpd and cleanup hold at most
smtpd_content_memory_limit / cleanup_content_memory_limit bytes of
message content at once; a message over the budget gets "451 4.3.1
Insufficient system storage" (never a crash, a hang or an unbounded
RSS), and the budget comes back when messages finish (no leaked
reservation).

Real redis-server, smtpd, cleanup and rewrite; raw SMTP sockets, so that
several sessions can be inside DATA at the same time.
"""

import re
import time
import unittest
import urllib.request

from pmtest import RawSMTP, StackTest, queue_id_of

NOSTORE = "451 4.3.1 Insufficient system storage"
GAUGE = re.compile(r"^postmesh_smtpd_content_memory_bytes (\d+)", re.M)


def content(size, tag):
    """A message of about size octets, CRLF lines of 78 octets."""
    head = (b"From: <sender@client.test>\r\nTo: <alice@example.test>\r\n"
            b"Subject: " + tag.encode() + b"\r\n\r\n")
    line = b"x" * 76 + b"\r\n"
    n = max(0, (size - len(head)) // len(line))
    return head + line * n


def open_data(port):
    """A session at the 354 of DATA."""
    c = RawSMTP(port, timeout=60)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    code, lines = c.cmd("DATA")
    assert code == 354, lines
    return c


def open_mail(c):
    assert c.cmd("MAIL FROM:<sender@client.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250


class SmtpdBudgetTest(StackTest):
    PARAMS = {"message_size_limit": "1000000",
              "smtpd_content_memory_limit": "2000000"}

    def budget_used(self):
        m = GAUGE.search(self.stack.metrics("smtpd"))
        return int(m.group(1)) if m else None

    def wait_used(self, cond, timeout=10.0):
        """Wait until cond(gauge) holds (or timeout); the gauge value."""
        deadline = time.time() + timeout
        while True:
            used = self.budget_used()
            if (used is not None and cond(used)) or time.time() > deadline:
                return used
            time.sleep(0.05)

    def assertAlive(self):
        self.assertIsNone(self.stack.svcs["smtpd"].proc.poll(), "smtpd died")
        self.assertIsNone(self.stack.svcs["cleanup"].proc.poll(),
                          "cleanup died")

    def test_concurrent_sessions_over_budget(self):
        """Six sessions with 900 KB each inside DATA at once, 2 MB of
        budget: at most two fit; the others get 451 4.3.1; every
        accepted message is queued whole; the budget is all released
        and a new message is accepted afterwards."""
        msgs = [content(900000, "big-%d" % i) for i in range(6)]
        sess = [open_data(self.stack.smtp_port) for _ in msgs]
        for c, m in zip(sess, msgs):
            c.send(m[:800000])
        # all six are inside DATA with 800 KB each before any ends
        # (an ASan smtpd on a busy machine reads 4.8 MB slower than 3 s)
        used = self.wait_used(lambda u: u >= 1500000, timeout=30)
        self.assertGreaterEqual(used or 0, 1500000, "the sessions' content "
                                "is not in the budget: %r" % used)
        time.sleep(0.5)
        for c, m in zip(sess, msgs):
            c.send(m[800000:] + b".\r\n")
        replies = []
        for c in sess:
            code, lines = c.reply()
            replies.append((code, lines[-1]))
            self.assertEqual(c.cmd("QUIT")[0], 221)
            c.close()
        ok = [i for i, r in enumerate(replies) if r[0] == 250]
        refused = [r for r in replies if r[0] != 250]
        for r in refused:
            self.assertEqual(r[1], NOSTORE, replies)
        self.assertTrue(refused, "no session refused: got %r, want some %r"
                        % (replies, NOSTORE))
        self.assertTrue(1 <= len(ok) <= 2, "accepted %d of 6, want 1 or 2: "
                        "%r" % (len(ok), replies))
        for i in ok:
            self.assertQueued(queue_id_of(replies[i][1]), msgs[i])
        self.assertEqual(self.wait_used(lambda u: u == 0), 0,
                         "content budget not released")
        self.assertGreaterEqual(
            len(self.stack.log_lines("451 4.3.1 Insufficient system storage",
                                     "smtpd")), len(refused))
        # the budget is free again: a new big message goes through
        c = open_data(self.stack.smtp_port)
        m = content(900000, "after")
        c.send(m + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        self.assertQueued(queue_id_of(lines[-1]), m)
        c.close()
        self.assertEqual(self.wait_used(lambda u: u == 0), 0)
        self.assertAlive()

    def test_full_budget_refuses_data_and_bdat(self):
        """Two sessions hold 1.7 MB inside DATA: a third session's DATA
        and BDAT are refused with 451 4.3.1 and the session goes on;
        once the two are done, the third session's BDAT is accepted."""
        holders = [open_data(self.stack.smtp_port) for _ in range(2)]
        hm = [content(900000, "holder-%d" % i) for i in range(2)]
        for c, m in zip(holders, hm):
            c.send(m[:800000])
        used = self.wait_used(lambda u: u >= 1600000)
        self.assertIsNotNone(used, "no content memory gauge in smtpd metrics")
        self.assertGreaterEqual(used, 1600000)

        c = open_data(self.stack.smtp_port)
        c.send(content(900000, "third") + b".\r\n")
        self.assertEqual(c.reply()[1][-1], NOSTORE)
        open_mail(c)
        chunk = content(400000, "bdat")
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        self.assertEqual(c.reply()[1][-1], NOSTORE)
        # chunked: the first chunk fits, the second does not
        open_mail(c)
        c.send(b"BDAT 100000\r\n" + chunk[:100000])
        self.assertEqual(c.reply()[0], 250)
        c.send(b"BDAT %d LAST\r\n" % (len(chunk) - 100000) + chunk[100000:])
        self.assertEqual(c.reply()[1][-1], NOSTORE)
        # a chunk after the refusal finds no transaction
        c.send(b"BDAT 10 LAST\r\n0123456789")
        self.assertEqual(c.reply()[0], 503)

        for h, m in zip(holders, hm):
            h.send(m[800000:] + b".\r\n")
            code, lines = h.reply()
            self.assertEqual(code, 250, lines)
            self.assertQueued(queue_id_of(lines[-1]), m)
            h.close()
        self.assertEqual(self.wait_used(lambda u: u == 0), 0)
        open_mail(c)
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        self.assertQueued(queue_id_of(lines[-1]), chunk)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        self.assertEqual(self.wait_used(lambda u: u == 0), 0)
        self.assertAlive()

    def test_abort_inside_data_releases(self):
        """A client that disconnects in the middle of DATA gives its
        partial reservation back."""
        c = open_data(self.stack.smtp_port)
        c.send(content(900000, "abort")[:700000])
        used = self.wait_used(lambda u: u >= 700000)
        self.assertIsNotNone(used, "no content memory gauge in smtpd metrics")
        self.assertGreaterEqual(used, 700000)
        c.close()
        self.assertEqual(self.wait_used(lambda u: u == 0), 0)
        self.assertAlive()


class CleanupBudgetTest(StackTest):
    """cleanup counts three bytes per content byte (the request, the
    processed copy, the Redis write); over its budget it answers 451
    4.3.1 and smtpd passes that on."""
    PARAMS = {"message_size_limit": "1000000",
              "cleanup_content_memory_limit": "2000000"}

    def send(self, m):
        c = open_data(self.stack.smtp_port)
        c.send(m + b".\r\n")
        code, lines = c.reply()
        c.close()
        return code, lines

    def test_cleanup_refusal_passed_on(self):
        big = content(900000, "cleanup-big")
        code, lines = self.send(big)
        self.assertEqual(lines[-1], NOSTORE, "got %r, want %r"
                         % (lines, NOSTORE))
        self.assertTrue(self.stack.log_lines("insufficient content memory",
                                             "cleanup"),
                        self.stack.log("cleanup")[-2000:])
        small = content(500000, "cleanup-small")
        code, lines = self.send(small)
        self.assertEqual(code, 250, lines)
        self.assertQueued(queue_id_of(lines[-1]), small)
        # the budget was given back after each request
        url = "http://127.0.0.1:%d/metrics" % self.stack.ports["cleanup_metrics"]
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        m = re.search(r"^postmesh_cleanup_content_memory_bytes (\d+)", text,
                      re.M)
        self.assertIsNotNone(m, text[:2000])
        self.assertEqual(int(m.group(1)), 0)


if __name__ == "__main__":
    unittest.main()
