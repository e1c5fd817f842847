"""Bounce notices: queued once, split, and given up for good (issue 6,
3d and 3g).

Recipients at err.test bounce through the error transport; the sender's
domain back.test is delivered to an aiosmtpd sink where the notices are
parsed.

- A retried notice request never queues a second notice: cleanup is
  stopped (SIGSTOP) while qmgr asks bounce for the notice, so qmgr's
  requests time out and are asked again, and the requests pile up at
  cleanup; when it runs again exactly one notice arrives (its queue id
  is derived from the original's, and cleanup answers the repeats
  "already queued").
- bounce_notice_recipient_limit = 3 and 7 bounced recipients: three
  notices (3 + 3 + 1), each recipient in exactly one, the message
  removed.
- A notice the bounce service can never build (over its
  message_size_limit) is given up with a warning saying it is lost, and
  the message is removed instead of being retried forever.
"""

import os
import signal
import time
import unittest

from peers import PySink, dsns_for
from pmtest import DeliveryTest


def message(mid, body=b"the body of the message\r\n"):
    return (b"From: <sender@back.test>\r\n"
            b"To: <someone@err.test>\r\n"
            b"Subject: notice test\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\n" + body)


class NoticeBase(DeliveryTest):

    @classmethod
    def start_peers(cls, workdir):
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "transport_maps":
                "inline:{ back.test=smtp:[127.0.0.1]:%d, "
                "{ err.test = error:mailbox unavailable here } }"
                % cls.back.port,
        }

    def notices_for(self, address):
        return [(m, d) for m, d in dsns_for(self.back.messages(), address)
                if d.rcpt(address).get("action") == "failed"]

    def wait_notices(self, addresses, timeout=40.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(self.notices_for(a) for a in addresses):
                return
            time.sleep(0.1)
        self.fail("no notice for %s\n%s" % (
            [a for a in addresses if not self.notices_for(a)],
            self.logs_tail()))


class RetriedNoticeTest(NoticeBase):
    PARAMS = {
        # qmgr gives up waiting for bounce soon, and asks again soon
        "qmgr_ipc_timeout": "2s",
        "bounce_cleanup_timeout": "3s",
    }

    def test_retried_request_queues_one_notice(self):
        qid = self.submit("sender@back.test", ["dup@err.test"],
                          message("retry-1"))
        cleanup = self.stack.svcs["cleanup"].proc
        os.kill(cleanup.pid, signal.SIGSTOP)
        try:
            # qmgr asked, timed out, and asked again
            self.wait_log("%s: bounce service: " % qid, ("qmgr",),
                          timeout=30, count=2)
        finally:
            os.kill(cleanup.pid, signal.SIGCONT)
        self.wait_notices(["dup@err.test"])
        self.wait_gone(qid)
        time.sleep(3)   # late duplicates would arrive by now
        got = self.notices_for("dup@err.test")
        self.assertEqual(len(got), 1, "%d notices for one bounce\n%s"
                         % (len(got), self.logs_tail()))
        # the repeats were answered without queueing anything
        self.assertTrue(self.stack.log_lines("already queued; answering "
                                             "success", "cleanup"),
                        self.logs_tail())
        self.assertIn("X-Postmesh-Queue-ID: %s" % qid,
                      got[0][0].content.decode("latin-1"))


class SplitNoticeTest(NoticeBase):
    PARAMS = {"bounce_notice_recipient_limit": "3"}

    def test_seven_recipients_three_notices(self):
        rcpts = ["n%d@err.test" % i for i in range(7)]
        qid = self.submit("sender@back.test", rcpts, message("split-1"))
        self.wait_notices(rcpts)
        self.wait_gone(qid)
        time.sleep(2)
        notices = {}
        for a in rcpts:
            got = self.notices_for(a)
            self.assertEqual(len(got), 1, "%s is in %d notices"
                             % (a, len(got)))
            notices.setdefault(got[0][0].path, []).append(a)
        sizes = sorted(len(v) for v in notices.values())
        self.assertEqual(sizes, [1, 3, 3], "recipients per notice: %s"
                         % notices)
        lines = self.stack.log_lines(
            "%s: sender non-delivery notification: " % qid, "bounce")
        self.assertEqual(len(lines), 3, lines)
        # not retried: removed after one pass
        self.assertFalse(self.stack.log_lines(
            "%s: cannot queue a non-delivery notice" % qid, "qmgr"),
            self.logs_tail())


class LostNoticeTest(NoticeBase):
    """bounce with a message_size_limit no notice fits in."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        svc = cls.stack.svcs["bounce"]
        svc.stop()
        svc.start(env={"POSTMESH_message_size_limit": "1500"})
        cls.stack.wait_ready("bounce")

    def test_notice_that_cannot_be_built_is_given_up(self):
        qid = self.submit("sender@back.test", ["big@err.test"],
                          message("lost-1"))
        lines = self.wait_log("%s: non-delivery notice failed: " % qid,
                              ("qmgr",), timeout=30)
        self.assertIn("1 of 1 notices lost", lines[0])
        self.assertIn("552 5.3.4", lines[0])
        self.assertIn("warning: ", lines[0])
        self.wait_gone(qid, timeout=15)
        self.assertTrue(self.stack.log_lines("%s: removed" % qid, "qmgr"))
        self.assertEqual(self.notices_for("big@err.test"), [])


if __name__ == "__main__":
    unittest.main()
