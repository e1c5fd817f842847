"""Crash tests for delivery (issue 3, item 5): kill -9 in mid-run.

smtp-source sends 2,000 messages (20 sessions, one recipient each, each
with its own Message-Id) into smtpd; they are relayed to smtp-sink,
which dumps every transaction into a file. While deliveries flow, qmgr
(one test class) or the smtp agent (another) is killed with SIGKILL
and started again. Then every message must arrive at the sink (none
lost, the queue empties) and the duplicates are counted.

Work must be in flight at the kill, or the test shows nothing: at
that moment the sink has some but not all messages and qmgr's active
queue (the pending entries of the qmgr consumer group in Redis) is not
empty. Duplicates are counted only once the queue has drained (no
message left in Redis) and a grace period has passed, so that a late
re-delivery counts too.

The bound on duplicates. Killing qmgr must give none: qmgr hands jobs
to the agents and records nothing itself that an agent's delivery
depends on; the agent writes each recipient's final status with a
compare-and-set, and a restarted qmgr that takes over the dead one's
messages (after qmgr_lease_time) skips recipients already final and
re-dispatches only the others. Killing the smtp agent may duplicate
what it had delivered but not yet recorded: at most
default_destination_concurrency_limit deliveries run at once to the
one destination (CONCURRENCY here), each with one recipient
(smtp-source sends one per message), so duplicates <= CONCURRENCY x 1.
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
GRACE = 5.0   # seconds after the queue drained: late re-deliveries
MSGID_RE = re.compile(rb"^Message-Id: (<[^>\r\n]*>)", re.M | re.I)


class KillBase(DeliveryTest):
    """Subclasses set VICTIM to the service killed mid-run."""

    VICTIM = None
    MAX_DUPLICATES = None
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

    def active(self):
        """Messages in qmgr's active queue: pending entries of the qmgr
        consumer group, over all shards."""
        r = self.stack.r()
        n = 0
        for sh in range(int(self.stack.params.get("queue_shards", "1"))):
            key = "pm:{%d}:incoming" % sh
            if r.exists(key):
                n += r.xpending(key, "qmgr")["pending"]
        return n

    def run_kill(self):
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
            active_at_kill = self.active()
            at_kill = self.sink.count()
            rc = self.stack.svcs[self.VICTIM].stop(9)
            self.assertEqual(rc, -9)
            time.sleep(0.5)
            self.stack.svcs[self.VICTIM].start()
            self.stack.wait_ready(self.VICTIM)
        finally:
            t.join(600)
        self.assertEqual(result.get("rc"), 0, result.get("out"))
        # work was in flight: some delivered, not all, some active
        self.assertGreater(at_kill, 0, "no delivery before the kill\n%s"
                           % self.logs_tail())
        self.assertLess(at_kill, COUNT, "all delivered before the kill")
        self.assertGreater(active_at_kill, 0, "qmgr's active queue was "
                           "empty at the kill")

        # the queue drains: every message delivered and removed
        deadline = time.time() + 600
        last, last_change = None, time.time()
        while time.time() < deadline:
            state = (len(self.ids()), len(self.stack.queued_qids()))
            if state[1] == 0 and len(set(self.ids())) >= COUNT:
                break
            if state != last:
                last, last_change = state, time.time()
            elif time.time() - last_change > 120:
                break            # no progress for 2 minutes
            time.sleep(0.5)
        self.assertEqual(self.stack.queued_qids(), [], "queue did not "
                         "drain\n%s" % self.logs_tail())
        time.sleep(GRACE)        # late re-deliveries, if any, arrive now
        ids = self.ids()
        uniq = set(i for i in ids if i)
        dups = len(ids) - len(uniq)
        print("\n%s killed at %d/%d delivered, %d active; unique %d, "
              "duplicates %d (bound %d)" % (self.VICTIM, at_kill, COUNT,
                                            active_at_kill, len(uniq), dups,
                                            self.MAX_DUPLICATES))
        self.assertNotIn(None, ids, "a sink file without Message-Id")
        self.assertEqual(len(uniq), COUNT, "lost %d messages\n%s"
                         % (COUNT - len(uniq), self.logs_tail()))
        self.assertLessEqual(dups, self.MAX_DUPLICATES,
                             "%d duplicates, want at most %d\n%s"
                             % (dups, self.MAX_DUPLICATES, self.logs_tail()))


class QmgrKillTest(KillBase):
    VICTIM = "qmgr"
    MAX_DUPLICATES = 0

    def test_kill_qmgr_mid_run(self):
        self.run_kill()


class SmtpKillTest(KillBase):
    VICTIM = "smtp"
    MAX_DUPLICATES = CONCURRENCY * RCPTS_PER_JOB

    def test_kill_smtp_mid_run(self):
        self.run_kill()


if __name__ == "__main__":
    unittest.main()
