"""qmgr instance names (issue 7, item 2; leases lost, item 3).

Every instance has a stable name (service_instance_name, default
$myhostname) that qmgr uses as its Redis consumer name.

- RestartSameNameTest: with default settings (qmgr_lease_time 30s),
  qmgr is killed with SIGKILL while 2,000 messages flow and started
  again under the same name. It takes its pending entries back at
  start, so every message reaches the sink well within 30 s of the
  restart (measured and asserted; without it the messages would wait for
  the lease), with no duplicate.
- GoneConsumerTest: qmgr runs as "qmgr-a", is killed mid-run, runs as
  "qmgr-b", is killed, and runs as "qmgr-c" (three instances, two of
  them gone). Once qmgr-c has taken over their entries (after the short
  lease here) the gone consumers are removed from the group: XINFO
  CONSUMERS shows only qmgr-c on every shard.
- LeaseLostTest: while qmgr holds a message (its job waits for a
  transport no agent serves) another consumer claims the message's
  entry. qmgr's next lease refresh finds it lost, logs it, counts it
  (postmesh_qmgr_leases_lost_total) and drops the message from memory
  without deferring or finishing it: the entry stays the other
  consumer's and the message stays out of the deferred queue.

PM_IDENTITY_DEADLINE (seconds, default 60) bounds the wait for the
queue to drain after the restart (the assertion is 30 s).
"""

import os
import re
import threading
import time
import unittest

from peers import smtp_source, wait_for
from test_delivery_faults import KillBase

COUNT = int(os.environ.get("PM_FAULT_COUNT", "2000"))
DEADLINE = float(os.environ.get("PM_IDENTITY_DEADLINE", "60"))
RECOVERY_MAX = 30.0


def consumers(stack):
    """Consumer names of group qmgr, per shard: {shard: [names]}."""
    r = stack.r()
    out = {}
    for sh in range(int(stack.params.get("queue_shards", "1"))):
        key = "pm:{%d}:incoming" % sh
        out[sh] = sorted(c["name"].decode() if isinstance(c["name"], bytes)
                         else c["name"]
                         for c in r.xinfo_consumers(key, "qmgr"))
    return out


def metric(text, name):
    m = re.search(r"^%s(?:\{[^}]*\})? (\d+)" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


class IdentityBase(KillBase):
    PARAMS = {"default_destination_concurrency_limit": "10"}

    def flow(self, at_least):
        """Start smtp-source in a thread; return (thread, result) once
        the sink has at_least messages."""
        result = {}

        def source():
            result["rc"], result["out"] = smtp_source(
                self.stack.smtp_port, COUNT, sessions=20,
                sender="src@client.test", rcpt="rcpt@relay.test")

        t = threading.Thread(target=source)
        t.start()
        deadline = time.time() + 180
        while self.sink.count() < at_least and time.time() < deadline:
            time.sleep(0.05)
        return t, result

    def drain(self, timeout):
        """Wait until every message reached the sink and the queue is
        empty; return the seconds it took."""
        t0 = time.time()
        deadline = t0 + timeout
        while time.time() < deadline:
            if (not self.stack.queued_qids() and
                    len(set(self.ids())) >= COUNT):
                break
            time.sleep(0.2)
        return time.time() - t0

    def check_delivered(self, want_sent):
        ids = self.ids()
        uniq = set(i for i in ids if i)
        dups = len(ids) - len(uniq)
        self.assertNotIn(None, ids, "a sink file without Message-Id")
        self.assertEqual(len(uniq), want_sent, "lost %d messages\n%s"
                         % (want_sent - len(uniq), self.logs_tail()))
        self.assertEqual(dups, 0, "%d duplicates\n%s"
                         % (dups, self.logs_tail()))
        return dups


class RestartSameNameTest(IdentityBase):
    """Default lease (30 s): a restart under the same name recovers
    at once."""

    def test_restart_same_name(self):
        t, result = self.flow(COUNT * 15 // 100)
        try:
            active_at_kill = self.active()
            at_kill = self.sink.count()
            rc = self.stack.svcs["qmgr"].stop(9)
            self.assertEqual(rc, -9)
            time.sleep(0.5)
            t_restart = time.time()
            self.stack.svcs["qmgr"].start()
            self.stack.wait_ready("qmgr")
        finally:
            t.join(600)
        self.assertEqual(result.get("rc"), 0, result.get("out"))
        self.assertGreater(active_at_kill, 0, "qmgr's active queue was "
                           "empty at the kill")
        self.assertLess(at_kill, COUNT, "all delivered before the kill")
        self.drain(DEADLINE - (time.time() - t_restart))
        took = time.time() - t_restart
        self.assertEqual(self.stack.queued_qids(), [], "queue did not "
                         "drain within %.0fs of the restart\n%s"
                         % (DEADLINE, self.logs_tail()))
        # when the last message arrived: the sink's newest file
        last = max(os.path.getmtime(f) for f in self.sink.files())
        recovery = last - t_restart
        time.sleep(3.0)          # late re-deliveries, if any
        self.check_delivered(COUNT)
        print("\nqmgr killed at %d/%d delivered, %d active; last message "
              "%.1fs after the restart (drained in %.1fs)"
              % (at_kill, COUNT, active_at_kill, recovery, took))
        self.assertLess(recovery, RECOVERY_MAX, "the last message arrived "
                        "%.1fs after the restart" % recovery)
        log = self.stack.log("qmgr")
        self.assertIn("consumer mx.example.test ", log)
        self.assertRegex(log, r"consumer mx\.example\.test: \d+ message\(s\) "
                         r"still held from before the restart: taken back")


class GoneConsumerTest(IdentityBase):
    """Instances that are gone leave no consumer behind."""

    PARAMS = {
        "default_destination_concurrency_limit": "10",
        "qmgr_lease_time": "3s",
        "queue_shards": "2",
    }

    def run_as(self, name):
        self.stack.svcs["qmgr"].start(
            env={"POSTMESH_service_instance_name": name})
        self.stack.wait_ready("qmgr")

    def test_gone_consumers_removed(self):
        self.stack.svcs["qmgr"].stop()
        self.run_as("qmgr-a")
        t, result = self.flow(COUNT * 10 // 100)
        try:
            self.assertGreater(self.active(), 0, "nothing active at kill")
            self.assertEqual(self.stack.svcs["qmgr"].stop(9), -9)
            self.run_as("qmgr-b")
            # qmgr-b takes new mail at once and qmgr-a's after the lease
            base = self.sink.count()
            wait_for(lambda: self.sink.count() >= base + COUNT // 10,
                     timeout=60)
            self.assertEqual(self.stack.svcs["qmgr"].stop(9), -9)
            self.run_as("qmgr-c")
        finally:
            t.join(600)
        self.assertEqual(result.get("rc"), 0, result.get("out"))
        self.drain(120)
        self.assertEqual(self.stack.queued_qids(), [], "queue did not "
                         "drain\n%s" % self.logs_tail())
        only_c = {0: ["qmgr-c"], 1: ["qmgr-c"]}
        got = wait_for(lambda: consumers(self.stack) == only_c, timeout=20)
        self.assertTrue(got, "consumers: got %r, want %r\n%s"
                        % (consumers(self.stack), only_c, self.logs_tail()))
        log = self.stack.log("qmgr")
        for gone in ("qmgr-a", "qmgr-b"):
            self.assertRegex(log, r"consumer %s removed from group qmgr"
                             % gone)
        removed = metric(self.stack.metrics("qmgr"),
                         "postmesh_qmgr_consumers_removed_total")
        self.assertGreaterEqual(removed or 0, 1)
        time.sleep(3.0)
        self.check_delivered(COUNT)


class LeaseLostTest(IdentityBase):
    """A message whose entry another consumer took is dropped, not
    deferred or finished."""

    PARAMS = {
        "qmgr_lease_time": "3s",
        # jobs for "nowhere" wait for an agent this long, then defer
        "qmgr_transport_wait": "20s",
    }

    @classmethod
    def start_peers(cls, workdir):
        params = super().start_peers(workdir)
        params["transport_maps"] = (
            "inline:{relay.test=smtp:[127.0.0.1]:%d, hold.test=nowhere:}"
            % cls.sink.port)
        return params

    def test_lease_lost(self):
        qid = self.submit("src@client.test", ["x@hold.test"],
                          b"Subject: held\r\n\r\nbody\r\n")
        self.wait_log("%s: from=<src@client.test>" % qid, ("qmgr",))
        r = self.stack.r()
        key = "pm:{%d}:incoming" % self.stack.shard(qid)
        pend = r.xpending_range(key, "qmgr", "-", "+", 10)
        self.assertEqual(len(pend), 1, pend)
        entry, owner = pend[0]["message_id"], pend[0]["consumer"]
        # another consumer takes the entry while qmgr holds the message
        r.xclaim(key, "qmgr", "thief", 0, [entry], justid=True)
        self.wait_log("%s: lease lost" % qid, ("qmgr",), timeout=10)
        self.wait_log("%s: dropped from the active queue" % qid,
                      ("qmgr",), timeout=5)
        # not deferred, not finished: the entry is still the thief's
        pend = r.xpending_range(key, "qmgr", "-", "+", 10)
        self.assertEqual([(p["message_id"], p["consumer"]) for p in pend],
                         [(entry, b"thief")])
        self.assertIn(qid, self.stack.queued_qids())
        self.assertNotIn(qid, self.stack.deferred_qids())
        # qmgr logs before it counts and sets the gauge: wait for both
        def counted():
            text = self.stack.metrics("qmgr")
            lost = metric(text, "postmesh_qmgr_leases_lost_total") or 0
            return (lost >= 1 and
                    metric(text, "postmesh_qmgr_active_messages") == 0)
        wait_for(counted, timeout=10)
        self.assertEqual(metric(self.stack.metrics("qmgr"),
                                "postmesh_qmgr_leases_lost_total"), 1)
        self.assertEqual(metric(self.stack.metrics("qmgr"),
                                "postmesh_qmgr_active_messages"), 0)
        # the thief never refreshes it: qmgr takes it over again
        self.wait_log("%s: lease expired: taken over by %s"
                      % (qid, owner.decode()), ("qmgr",), timeout=15)
        self.assertEqual(
            [p["consumer"] for p in
             r.xpending_range(key, "qmgr", "-", "+", 10)], [owner])
        # the default consumer name is the instance name, $myhostname
        self.assertEqual(owner, b"mx.example.test")


if __name__ == "__main__":
    unittest.main()
