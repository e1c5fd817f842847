"""Crash tests for delivery (issue 3, item 5): kill -9 in mid-run.

smtp-source sends 2,000 messages (20 sessions, one recipient each, each
with its own Message-Id) into smtpd; they are relayed to smtp-sink,
which dumps every transaction into a file. While deliveries flow, qmgr
(one test class) or the smtp agent (another) is killed with SIGKILL
and started again. Then every message must arrive at the sink (none
lost, the queue empties) and the duplicates are counted.

The bound on duplicates: a duplicate can only come from a delivery that
was in flight at the kill, i.e. a message the sink accepted whose
"sent" status was not yet written to Redis by the agent (for qmgr, a
job it handed out whose outcome the restarted qmgr cannot know and
re-dispatches after the lease; the agent's compare-and-set status write
usually wins first). At most default_destination_concurrency_limit
deliveries run at once to the one destination (set to CONCURRENCY
here), each with the recipients of one message (smtp-source sends one
recipient per message; the destination recipient limit only groups
recipients of the same message), so duplicates <= CONCURRENCY x 1.
"""

import os
import re
import threading
import time
import unittest

from peers import SmtpSink, smtp_source
from pmtest import DeliveryTest

COUNT = int(os.environ.get("PM_FAULT_COUNT", "2000"))
CONCURRENCY = 10
RCPTS_PER_JOB = 1
MSGID_RE = re.compile(rb"^Message-Id: (<[^>\r\n]*>)", re.M | re.I)


class KillBase(DeliveryTest):
    """Subclasses set VICTIM to the service killed mid-run."""

    VICTIM = None
    PARAMS = {
        "default_destination_concurrency_limit": str(CONCURRENCY),
        # a restarted qmgr (a new consumer) takes over the dead one's
        # active messages after the lease; jobs handed to a dead agent
        # are given out again after the job timeout (defaults: minutes)
        "qmgr_lease_time": "5s",
        "qmgr_job_timeout": "15s",
    }

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        return {
            "transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                              % cls.sink.port,
        }

    def ids(self):
        """Message-Id of every transaction the sink received."""
        out = []
        for f in self.sink.settled(timeout=1.0):
            with open(f, "rb") as fh:
                m = MSGID_RE.search(fh.read(8192))
            out.append(m.group(1) if m else None)
        return out

    def run_kill(self):
        if self.VICTIM is None:
            self.skipTest("base class")
        result = {}

        def source():
            result["rc"], result["out"] = smtp_source(
                self.stack.smtp_port, COUNT, sessions=20,
                sender="src@client.test", rcpt="rcpt@relay.test")

        t = threading.Thread(target=source)
        t.start()
        try:
            # kill once deliveries flow (about 15% at the sink)
            deadline = time.time() + 180
            while (self.sink.count() < COUNT * 15 // 100 and
                   time.time() < deadline):
                time.sleep(0.05)
            at_kill = self.sink.count()
            self.assertGreater(at_kill, 0, "no delivery before the kill\n%s"
                               % self.logs_tail())
            rc = self.stack.svcs[self.VICTIM].stop(9)
            self.assertEqual(rc, -9)
            time.sleep(0.5)
            self.stack.svcs[self.VICTIM].start()
            self.stack.wait_ready(self.VICTIM)
        finally:
            t.join(600)
        self.assertEqual(result.get("rc"), 0, result.get("out"))

        deadline = time.time() + 600
        last, last_change = -1, time.time()
        while time.time() < deadline:
            ids = self.ids()
            uniq = len(set(i for i in ids if i))
            if uniq >= COUNT:
                break
            if len(ids) != last:
                last, last_change = len(ids), time.time()
            elif time.time() - last_change > 120:
                break            # no progress for 2 minutes
            time.sleep(0.5)
        time.sleep(1)            # late duplicates, if any, arrive now
        ids = self.ids()
        uniq = set(i for i in ids if i)
        dups = len(ids) - len(uniq)
        print("\n%s killed at %d/%d delivered; unique %d, duplicates %d "
              "(bound %d)" % (self.VICTIM, at_kill, COUNT, len(uniq), dups,
                              CONCURRENCY * RCPTS_PER_JOB))
        self.assertNotIn(None, ids, "a sink file without Message-Id")
        self.assertEqual(len(uniq), COUNT, "lost %d messages\n%s"
                         % (COUNT - len(uniq), self.logs_tail()))
        self.assertLessEqual(dups, CONCURRENCY * RCPTS_PER_JOB,
                             "more duplicates than deliveries in flight")
        # the queue empties
        deadline = time.time() + 60
        while self.stack.queued_qids() and time.time() < deadline:
            time.sleep(0.5)
        self.assertEqual(self.stack.queued_qids(), [], self.logs_tail())


class QmgrKillTest(KillBase):
    VICTIM = "qmgr"

    def test_kill_qmgr_mid_run(self):
        self.run_kill()


class SmtpKillTest(KillBase):
    VICTIM = "smtp"

    def test_kill_smtp_mid_run(self):
        self.run_kill()


if __name__ == "__main__":
    unittest.main()
