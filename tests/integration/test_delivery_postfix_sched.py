"""qmgr's slow start and dead destinations against a real Postfix (issue 6, 4).

The whole Postmesh stack delivers to a private Postfix 3.7 instance
(postfix_peer.Postfix) that relays to an smtp-sink; what
docs/scheduling.md says is checked end to end, through qmgr and the
smtp agent:

- Slow start: initial_destination_concurrency = 2,
  default_destination_concurrency_limit = 4, a Postfix listener that
  takes a second per transaction (smtpd_data_restrictions = sleep 1),
  ten messages at once. A recording relay in front of Postfix sees at
  most 2 transactions at once until the first one is done, then more
  (the window grows with each success), never more than 4.
- Dead destination: Postfix stopped (connection refused). From a fresh
  start with a window of 2, two failures in a row (1/2 + 1/1 of a
  pseudo-cohort) make the destination dead; later messages are deferred
  by qmgr ("delivery temporarily suspended: connect to ...: Connection
  refused") without an attempt by the agent. Postfix is started again:
  after minimal_backoff_time the destination is tried again and every
  message arrives.
"""

import threading
import time
import unittest

from peers import SmtpSink
from pmtest import DeliveryTest, free_port
from postfix_peer import Postfix, RecordingProxy

LISTENERS = {
    "slow": ("127.0.0.1", {"smtpd_data_restrictions": "sleep 1"}),
    "revived": ("127.0.0.9", {}),
}
SENDER = "sender@notices.test"


def message(mid):
    return (b"From: <" + SENDER.encode() + b">\r\n"
            b"To: <rcpt@peer.test>\r\n"
            b"Subject: postfix peer scheduling\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\n"
            b"a line of the body\r\n")


def overlap(intervals, t):
    """Transactions in progress at time t."""
    return sum(1 for s, e in intervals if s <= t < e)


class PostfixSchedTest(DeliveryTest):
    """Slow start and dead-site detection, through qmgr and smtp."""

    PARAMS = {
        "initial_destination_concurrency": "2",
        "default_destination_concurrency_limit": "4",
        # the dead period (minimal_backoff_time) must outlast the test's
        # dead phase on a loaded machine
        "minimal_backoff_time": "8s",
        "maximal_backoff_time": "8s",
        "queue_run_delay": "1s",
    }

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        cls.port = free_port()
        cls.pf = Postfix(workdir, cls.port, LISTENERS, cls.sink.port)
        cls.peers.append(cls.pf)
        cls.pf.start()
        cls.proxy = RecordingProxy(("127.0.0.1", cls.port)).start()
        cls.peers.append(cls.proxy)
        routes = {
            "slow.test": "[127.0.0.1]:%d" % cls.proxy.port,
            "dead.test": "[127.0.0.9]:%d" % cls.port,
            "notices.test": "[127.0.0.1]:%d" % cls.sink.port,
        }
        return {
            "transport_maps": "inline:{%s}" % ", ".join(
                "%s=smtp:%s" % kv for kv in routes.items()),
        }

    def at_sink(self, mids, timeout=60.0):
        tags = [("<%s@client.test>" % m).encode() for m in mids]
        deadline = time.time() + timeout
        while True:
            got = [m for m in self.sink.messages()
                   if m.sender != "" and any(t in m.content for t in tags)]
            if len(got) >= len(mids) or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(len(got), len(mids), "%d of %d at the sink\n%s"
                         % (len(got), len(mids), self.logs_tail()))
        return got

    def test_slow_start(self):
        n = 10
        qids, errors = [], []

        def one(i):
            try:
                qids.append(self.submit(SENDER, ["r%d@slow.test" % i],
                                        message("slow-%d" % i)))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=one, args=(i,))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.at_sink(["slow-%d" % i for i in range(n)])
        tx = [x for c in self.proxy.connections()
              for x in RecordingProxy.transactions(c)]
        self.assertEqual(len(tx), n, tx)
        self.assertTrue(all(e is not None for _s, e in tx), tx)
        first_end = min(e for _s, e in tx)
        early = max(overlap(tx, s) for s, _e in tx if s < first_end)
        peak = max(overlap(tx, s) for s, _e in tx)
        self.assertLessEqual(early, 2, "before the first delivery was "
                             "done: %d at once, initial window 2" % early)
        self.assertLessEqual(peak, 4, "limit 4, got %d at once" % peak)
        self.assertGreaterEqual(peak, 3, "the window never grew: %r" % tx)
        for q in qids:
            self.wait_gone(q)

    def test_dead_destination(self):
        refused = ("connect to 127.0.0.9[127.0.0.9]:%d: Connection refused"
                   % self.port)
        self.pf.stop()
        try:
            first = []
            for i in range(2):
                qid = self.submit(SENDER, ["d%d@dead.test" % i],
                                  message("dead-%d" % i))
                line = self.wait_log("%s: to=<d%d@dead.test>" % (qid, i),
                                     ("smtp",))[-1]
                self.assertIn("status=deferred (%s)" % refused, line)
                first.append(qid)
            later = []
            for i in range(2, 5):
                qid = self.submit(SENDER, ["d%d@dead.test" % i],
                                  message("dead-%d" % i))
                line = self.wait_log("%s: to=<d%d@dead.test>" % (qid, i),
                                     ("qmgr",))[-1]
                self.assertIn("status=deferred (delivery temporarily "
                              "suspended: %s)" % refused, line)
                self.assertEqual(self.stack.log_lines(qid, "smtp"), [],
                                 "the agent tried a dead destination")
                later.append(qid)
            # two attempts in all, both before the destination died
            self.assertEqual(len(self.stack.log_lines(refused, "smtp")), 2,
                             self.stack.log_lines(refused, "smtp"))
        finally:
            self.pf.start()
        self.at_sink(["dead-%d" % i for i in range(5)])
        for i, qid in enumerate(first + later):
            self.assertTrue([ln for ln in self.stack.log_lines(
                "%s: to=<d%d@dead.test>" % (qid, i), "smtp")
                if "status=sent" in ln], self.logs_tail())
            self.wait_gone(qid)
        # delivered by the Postfix that was started again
        self.assertEqual(len(self.pf.lines("postfix/revived/", "RCPT TO:<d")),
                         5)


if __name__ == "__main__":
    unittest.main()
