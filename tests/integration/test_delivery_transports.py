"""The discard transport and the hold queue (issue 3, items 1 and 4).

- discard: transport_maps gone.test=discard:silently; the message leaves
  the queue, nothing is delivered anywhere, no DSN is sent, and the
  discard agent logs "relay=none, ..., dsn=2.0.0, status=sent
  (silently)" as Postfix does.
- hold: a message put on hold by header_checks (HOLD) stays in the hold
  queue and is never delivered, while mail sent after it is.
"""

import os
import re
import time
import unittest

from peers import PySink, SmtpSink
from pmtest import DeliveryTest


def message(mid, subject="transport test"):
    return (b"From: <sender@back.test>\r\n"
            b"To: <rcpt@relay.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\nbody\r\n")


class DiscardHoldTest(DeliveryTest):

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        checks = os.path.join(workdir, "header_checks")
        with open(checks, "w") as f:
            f.write("/^Subject: hold me/ HOLD\n")
        return {
            "header_checks": "regexp:" + checks,
            "transport_maps":
                "inline:{ relay.test=smtp:[127.0.0.1]:%d, "
                "back.test=smtp:[127.0.0.1]:%d, gone.test=discard:silently }"
                % (cls.sink.port, cls.back.port),
        }

    def test_discard(self):
        qid = self.submit("sender@back.test", ["x@gone.test"],
                          message("discard-1"))
        lines = self.wait_log("%s: to=<x@gone.test>" % qid, ("discard",))
        self.assertTrue(any("relay=none" in ln and "dsn=2.0.0" in ln and
                            "status=sent (silently)" in ln for ln in lines),
                        lines)
        self.wait_gone(qid)
        # a message sent afterwards arrives, the discarded one never did
        q2 = self.submit("sender@back.test", ["y@relay.test"],
                         message("discard-after"))
        self.wait_gone(q2)
        contents = [m.content for m in self.sink.messages()]
        self.assertTrue(any(b"<discard-after@client.test>" in c
                            for c in contents))
        self.assertFalse(any(b"<discard-1@client.test>" in c
                             for c in contents))
        self.assertEqual([m for m in self.back.messages()
                          if b"discard-1" in m.content], [],
                         "a DSN was sent for a discarded message")

    def test_hold_not_delivered(self):
        held = self.submit("sender@back.test", ["held@relay.test"],
                           message("hold-1", subject="hold me"))
        after = self.submit("sender@back.test", ["after@relay.test"],
                            message("hold-after"))
        self.wait_gone(after)
        deadline = time.time() + 3     # a few queue runs (queue_run_delay 1s)
        while time.time() < deadline:
            self.assertFalse(any(b"<hold-1@client.test>" in m.content
                                 for m in self.sink.messages()),
                             "a held message was delivered")
            time.sleep(0.2)
        self.assertIn(held, self.stack.hold_qids(), self.logs_tail())
        self.assertIsNotNone(self.stack.queued(held))
        self.assertNotIn(held, self.stack.incoming_qids())
        self.assertNotIn(held, self.stack.deferred_qids())
        self.assertFalse(self.stack.log_lines("%s: to=<" % held))
        # the hold queue gauge counts it
        pat = re.compile(r'^postmesh_qmgr_queue\w*\{[^}]*queue="hold"[^}]*\} '
                         r'([0-9.e+-]+)$', re.M)
        deadline = time.time() + 10
        while True:
            m = pat.search(self.stack.metrics("qmgr"))
            if (m and float(m.group(1)) >= 1) or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertIsNotNone(m, "no hold queue gauge")
        self.assertEqual(float(m.group(1)), len(self.stack.hold_qids()))


if __name__ == "__main__":
    unittest.main()
