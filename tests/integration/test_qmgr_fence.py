"""Leases with fencing between two qmgrs (issue 7, item 3).

Two qmgr processes share the queue: "qmgr-a" (the stack's) and
"qmgr-b" (started here with its own listen and metrics ports); every
agent dials both (qmgr_service lists both).

- StoppedOwnerTest (qmgr_lease_time 3s): no smtp agent runs, so
  qmgr-a holds a message whose job waits for one. qmgr-a is stopped
  with SIGSTOP for longer than the lease; qmgr-b takes the message
  over (its takeover, lease epoch 2), the smtp agent starts and
  delivers it through qmgr-b. Then qmgr-a gets SIGCONT: its lease
  refresh, or its fenced defer once the transport wait ran out, finds
  the lease lost; it logs "QID: lease lost", counts it
  (postmesh_qmgr_leases_lost_total), or, when its defer runs first,
  finds the message gone ("gone from the queue"); either way it
  neither finishes nor defers
  the message: it reached the sink once, is not in the deferred queue,
  and qmgr-a never logged "QID: removed" (a defer that comes after
  qmgr-b removed the message writes nothing and says "gone from the
  queue").
- KilledOwnerTest (default lease, 30 s): under a flow of messages
  qmgr-a is killed with SIGKILL and not restarted; qmgr-b takes its
  messages over once they are idle for the lease. Every message reaches
  the sink, none twice, and the last one within lease + 15 s of the
  kill (measured and printed); qmgr-b's
  postmesh_qmgr_takeovers_total{from="lease_expired"} counts the
  takeover.
- StarvedSchedulerTest (qmgr_lease_time 3s, one qmgr): the scheduler
  thread is stuck for 10 s in a rewrite call (the rewrite service is
  stopped with SIGSTOP while the scheduler takes over a message and
  resolves it); the lease of another active message is refreshed all
  the same by the lease thread: a "thief" that tries XCLAIM with a
  minimum idle time of the lease never gets it.
"""

import os
import re
import signal
import threading
import time
import unittest
import urllib.request

from peers import smtp_source, wait_for
from pmtest import Service, free_port
from test_delivery_faults import KillBase

COUNT = int(os.environ.get("PM_FENCE_COUNT", "600"))
DEFAULT_LEASE = 30.0
SLACK = 15.0   # takeover scan (3 s), agent fetch wait, delivery


def metric(text, name, labels=None):
    pat = r"^%s%s (\d+)" % (re.escape(name),
                            re.escape("{%s}" % labels) if labels
                            else r"(?:\{[^}]*\})?")
    m = re.search(pat, text, re.M)
    return int(m.group(1)) if m else None


class TwoQmgrBase(KillBase):
    """The stack's qmgr is qmgr-a; qmgr_b() starts a second one."""

    @classmethod
    def start_peers(cls, workdir):
        params = super().start_peers(workdir)
        cls.b_port = free_port()
        cls.b_metrics = free_port()
        # every agent dials both qmgrs
        params["qmgr_service"] = "tcp://127.0.0.1:%d, tcp://127.0.0.1:%d" % (
            cls.stack.ports["qmgr"], cls.b_port)
        params["service_instance_name"] = "qmgr-a"
        return params

    @classmethod
    def setUpClass(cls):
        cls.qb = None
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        if cls.qb is not None:
            cls.qb.stop()
        super().tearDownClass()

    def start_b(self):
        svc = Service("qmgr", self.stack.conf, self.stack.tmp)
        svc.log = os.path.join(self.stack.tmp, "qmgr-b.log")
        svc.start(env={
            "POSTMESH_service_instance_name": "qmgr-b",
            "POSTMESH_qmgr_listen": "tcp://127.0.0.1:%d" % self.b_port,
            "POSTMESH_qmgr_metrics_listen":
                "http://127.0.0.1:%d" % self.b_metrics,
        })
        type(self).qb = svc
        url = "http://127.0.0.1:%d/readyz" % self.b_metrics

        def ready():
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        self.assertTrue(wait_for(ready, timeout=20), svc.text()[-2000:])
        return svc

    def held_by(self, consumer):
        r = self.stack.r()
        n = 0
        for sh in range(int(self.stack.params.get("queue_shards", "1"))):
            key = "pm:{%d}:incoming" % sh
            if r.exists(key):
                n += sum(1 for p in r.xpending_range(key, "qmgr", "-", "+",
                                                     100000)
                         if p["consumer"] == consumer)
        return n

    def b_metrics_text(self):
        url = "http://127.0.0.1:%d/metrics" % self.b_metrics
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()

    def logs_tail(self, n=3000):
        out = super().logs_tail(n)
        if self.qb is not None:
            out += "\n---- qmgr-b ----\n" + self.qb.text()[-n:]
        return out


class StoppedOwnerTest(TwoQmgrBase):
    """A qmgr stopped past its lease cannot finish or defer."""

    PARAMS = {
        "default_destination_concurrency_limit": "10",
        "qmgr_lease_time": "3s",
        # qmgr-a's job waits this long for an agent, then defers
        "qmgr_transport_wait": "8s",
    }

    def test_stopped_owner_fenced(self):
        st = self.stack
        qa = st.svcs["qmgr"]
        self.assertEqual(st.svcs["smtp"].stop(), 0)
        qid = self.submit("src@client.test", ["x@relay.test"],
                          b"Subject: fenced\r\nMessage-Id: <fence@t>\r\n"
                          b"\r\nbody\r\n")
        self.wait_log("%s: from=<src@client.test>" % qid, ("qmgr",))
        r = st.r()
        key = "pm:{%d}:incoming" % st.shard(qid)
        mkey = "pm:{%d}:m:%s" % (st.shard(qid), qid)
        pend = r.xpending_range(key, "qmgr", "-", "+", 10)
        self.assertEqual([p["consumer"] for p in pend], [b"qmgr-a"])
        self.assertEqual(r.hget(mkey, "lease_epoch"), b"1")

        os.kill(qa.proc.pid, signal.SIGSTOP)
        try:
            self.start_b()
            # qmgr-b takes it over after the lease (epoch 2) ...
            line = ("%s: lease expired: taken over by qmgr-b "
                    "(lease epoch 2)" % qid)
            wait_for(lambda: line in self.qb.text(), timeout=20)
            self.assertIn(line, self.qb.text())
            self.assertEqual([p["consumer"] for p in r.xpending_range(
                key, "qmgr", "-", "+", 10)], [b"qmgr-b"])
            # ... and delivers it with the agent that starts now
            st.svcs["smtp"].start()
            st.wait_ready("smtp")
            self.assertTrue(wait_for(lambda: self.sink.count() >= 1,
                                     timeout=30), self.logs_tail())
            wait_for(lambda: "%s: removed" % qid in self.qb.text(),
                     timeout=10)
            self.assertIn("%s: removed" % qid, self.qb.text())
            # qmgr-a was stopped all along, well past its transport wait
            time.sleep(8.0)
        finally:
            os.kill(qa.proc.pid, signal.SIGCONT)
        # either its lease refresh finds the lease lost, or its defer
        # (the transport wait ran out while it was stopped) comes first
        # and finds the message gone: both write nothing
        ends = ("%s: lease lost" % qid, "%s: gone from the queue" % qid)
        wait_for(lambda: any(e in st.log("qmgr") for e in ends), timeout=15)
        time.sleep(3.0)   # whatever qmgr-a does next, it does by now
        log_a = st.log("qmgr")
        self.assertTrue(any(e in log_a for e in ends), log_a[-3000:])
        self.assertNotIn("%s: removed" % qid, log_a)
        self.assertNotIn("cannot move the message to the deferred", log_a)
        self.assertNotIn(qid, st.deferred_qids())
        self.assertEqual(st.queued_qids(), [])
        self.assertEqual(len(self.ids()), 1, "delivered twice")
        if ends[0] in log_a:
            self.assertGreaterEqual(metric(st.metrics("qmgr"),
                                           "postmesh_qmgr_leases_lost_total"),
                                    1)
        self.assertEqual(metric(self.b_metrics_text(),
                                "postmesh_qmgr_takeovers_total",
                                'from="lease_expired"'), 1)
        how = [ln.split("]: ", 1)[1] for ln in log_a.splitlines()
               if "%s: lease lost" % qid in ln or
               "%s: gone from the queue" % qid in ln]
        print("\nqmgr-a after SIGCONT:\n  " + "\n  ".join(how))


class KilledOwnerTest(TwoQmgrBase):
    """Default lease: a killed qmgr's mail is delivered by the other
    within the lease plus a few seconds."""

    PARAMS = {"default_destination_concurrency_limit": "10"}

    def test_killed_owner_taken_over(self):
        st = self.stack
        self.start_b()
        result = {}

        def source():
            result["rc"], result["out"] = smtp_source(
                st.smtp_port, COUNT, sessions=10, sender="src@client.test",
                rcpt="rcpt@relay.test")

        t = threading.Thread(target=source)
        t.start()
        try:
            deadline = time.time() + 120
            while (self.sink.count() < COUNT // 5 and
                   time.time() < deadline):
                time.sleep(0.05)
            # Kill qmgr-a while it holds mail: with two qmgrs sharing
            # the load a snapshot can find it empty-handed for a moment
            # (once in CI), which would make the kill prove nothing.
            held = self.held_by(b"qmgr-a")
            while held == 0 and time.time() < deadline and t.is_alive():
                time.sleep(0.02)
                held = self.held_by(b"qmgr-a")
            t_kill = time.time()
            self.assertEqual(st.svcs["qmgr"].stop(9), -9)
        finally:
            t.join(600)
        self.assertEqual(result.get("rc"), 0, result.get("out"))
        self.assertGreater(held, 0, "qmgr-a held nothing at the kill")
        ok = wait_for(lambda: (not st.queued_qids() and
                               len(set(self.ids())) >= COUNT),
                      timeout=DEFAULT_LEASE + 60, interval=0.5)
        self.assertTrue(ok, "not drained\n%s" % self.logs_tail())
        last = max(os.path.getmtime(f) for f in self.sink.files())
        took = last - t_kill
        time.sleep(3.0)
        ids = self.ids()
        self.assertEqual(len(set(ids)), COUNT)
        self.assertEqual(len(ids), COUNT, "%d duplicates"
                         % (len(ids) - COUNT))
        taken = metric(self.b_metrics_text(),
                       "postmesh_qmgr_takeovers_total",
                       'from="lease_expired"')
        print("\nqmgr-a killed holding %d messages; qmgr-b took over %s; "
              "last message %.1fs after the kill (lease %.0fs)"
              % (held, taken, took, DEFAULT_LEASE))
        self.assertGreaterEqual(taken or 0, 1)
        self.assertLess(took, DEFAULT_LEASE + SLACK)


class StarvedSchedulerTest(KillBase):
    """The lease thread refreshes while the scheduler is stuck."""

    PARAMS = {
        "qmgr_lease_time": "3s",
        "qmgr_transport_wait": "60s",
        "rewrite_cache_ttl": "0",   # every resolve asks the service
    }

    @classmethod
    def start_peers(cls, workdir):
        params = super().start_peers(workdir)
        params["transport_maps"] = "inline:{hold.test=nowhere:}"
        return params

    def test_refresh_not_starved(self):
        st = self.stack
        r = st.r()
        q1 = self.submit("src@client.test", ["x@hold.test"],
                         b"Subject: one\r\n\r\nbody\r\n")
        q2 = self.submit("src@client.test", ["y@hold.test"],
                         b"Subject: two\r\n\r\nbody\r\n")
        for q in (q1, q2):
            self.wait_log("%s: from=<src@client.test>" % q, ("qmgr",))
        ent = {}
        for q in (q1, q2):
            key = "pm:{%d}:incoming" % st.shard(q)
            ids = r.xrange(key)
            ent[q] = (key, [i for i, f in ids if f[b"qid"] == q.encode()][0])
        rw = st.svcs["rewrite"].proc.pid
        os.kill(rw, signal.SIGSTOP)
        stolen = []
        try:
            # q2's entry goes to a consumer that never refreshes it: the
            # scheduler takes it over after the lease and resolves it
            # again, which waits for the stopped rewrite service
            key2, e2 = ent[q2]
            r.xclaim(key2, "qmgr", "ghost", 0, [e2], justid=True)
            self.wait_log("%s: lease expired: taken over" % q2, ("qmgr",),
                          timeout=15)
            key1, e1 = ent[q1]
            t_end = time.time() + 8.0
            while time.time() < t_end and not stolen:
                stolen = r.xclaim(key1, "qmgr", "thief", 3000, [e1],
                                  justid=True)
                time.sleep(0.25)
        finally:
            os.kill(rw, signal.SIGCONT)
        self.assertEqual(stolen, [], "the lease of %s expired while the "
                         "scheduler was busy\n%s" % (q1, self.logs_tail()))
        self.assertNotIn("%s: lease lost" % q1, st.log("qmgr"))
        owner = r.xpending_range(ent[q1][0], "qmgr", e1, e1, 1)
        self.assertEqual([p["consumer"] for p in owner],
                         [b"mx.example.test"])


if __name__ == "__main__":
    unittest.main()
