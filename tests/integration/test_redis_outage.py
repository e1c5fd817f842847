"""Redis outage under load (issue 7, point 5): kill -9 Redis, restart it.

The whole stack (smtpd, cleanup, rewrite, qmgr, bounce, the smtp agent)
relays to smtp-sink. CLIENTS threads send COUNT messages with smtplib,
each with its own Message-ID, and note which ones got a 250. Once
deliveries flow Redis is killed with SIGKILL, stays down DOWN seconds
and is started again on the same directory (the append file, fsync
always: every 250 is in it).

Asserted, with default lease and job timeout (300 s, 1200 s: nothing
here may wait for them):
- every message that got a 250 reached the sink (unique Message-ID);
- duplicates at most the deliveries in flight at the kill (one
  recipient each, at most CONCURRENCY at once): statuses an agent
  could not write while Redis was down are written from qmgr's memory
  when Redis is back, never re-delivered;
- qmgr's active queue (in memory and the group's pending list) and
  the whole queue are empty at the end;
- the last message reached the sink within RECOVERY_BOUND seconds of
  Redis answering again (the measured time is printed);
- /readyz of qmgr and cleanup is not 200 while Redis is down, and 200
  again after; postmesh_redis_up is 0 then 1 and
  postmesh_redis_reconnects_total grew.

RedisLoadingTest: while Redis loads its data after a restart, /readyz
is 503 and postmesh_redis_loading is 1.
"""

import os
import re
import smtplib
import threading
import time
import unittest
import urllib.error
import urllib.request

import redis

from peers import SmtpSink
from pmtest import DeliveryTest, Stack

COUNT = int(os.environ.get("PM_OUTAGE_COUNT", "3000"))
CLIENTS = 8
CONCURRENCY = 10
DOWN = 4.0             # seconds Redis stays dead
RECOVERY_BOUND = 60.0  # last delivery at most this long after Redis is back
MSGID_RE = re.compile(rb"^Message-Id: (<[^>\r\n]*>)", re.M | re.I)


def readyz(port):
    url = "http://127.0.0.1:%d/readyz" % port
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


class RedisOutageTest(DeliveryTest):

    PARAMS = {
        "default_destination_concurrency_limit": str(CONCURRENCY),
        "redis_timeout": "2s",
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
        out = []
        for f in self.sink.settled(timeout=1.0):
            with open(f, "rb") as fh:
                m = MSGID_RE.search(fh.read(8192))
            out.append(m.group(1).decode() if m else None)
        return out

    def pending(self):
        r = self.stack.r()
        n = 0
        for sh in range(int(self.stack.params.get("queue_shards", "1"))):
            key = "pm:{%d}:incoming" % sh
            if r.exists(key):
                n += r.xpending(key, "qmgr")["pending"]
        return n

    def client(self, k, per, accepted, errors):
        """Send per messages; a Message-ID goes to accepted on a 250."""
        c = None
        i = 0
        while i < per:
            mid = "<outage-%d-%d@client.test>" % (k, i)
            msg = ("From: <src@client.test>\r\nTo: <rcpt@relay.test>\r\n"
                   "Subject: outage %d %d\r\nMessage-ID: %s\r\n\r\n"
                   "body %d %d\r\n" % (k, i, mid, k, i)).encode()
            try:
                if c is None:
                    c = smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                                     timeout=60)
                    c.ehlo("client.test")
                code, _ = c.mail("src@client.test")
                if code == 250:
                    code, _ = c.rcpt("rcpt@relay.test")
                if code == 250:
                    try:
                        code, _ = c.data(msg)
                    except smtplib.SMTPDataError as e:
                        code = e.smtp_code
                else:
                    c.rset()
                if code == 250:
                    accepted.append(mid)
                else:
                    # a new session: smtpd slows down a client after
                    # smtpd_soft_error_limit errors (as Postfix does)
                    errors.append(code)
                    c.close()
                    c = None
                    time.sleep(0.05)
            except (smtplib.SMTPException, OSError) as e:
                errors.append(str(e))
                try:
                    if c is not None:
                        c.close()
                except OSError:
                    pass
                c = None
                time.sleep(0.1)
            i += 1
        if c is not None:
            try:
                c.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def test_redis_killed_and_restarted_under_load(self):
        accepted, errors = [], []
        per = COUNT // CLIENTS
        threads = [threading.Thread(target=self.client,
                                    args=(k, per, accepted, errors))
                   for k in range(CLIENTS)]
        for t in threads:
            t.start()
        qm = self.stack.ports["qmgr_metrics"]
        cm = self.stack.ports["cleanup_metrics"]
        try:
            deadline = time.time() + 180
            while (self.sink.count() < COUNT // 4 and
                   time.time() < deadline):
                time.sleep(0.05)
            at_kill = self.sink.count()
            inflight = metric(self.stack.metrics("qmgr"),
                              "postmesh_qmgr_jobs_in_flight")
            reconnects0 = metric(self.stack.metrics("qmgr"),
                                 "postmesh_redis_reconnects_total")
            self.stack.redis.proc.kill()
            self.stack.redis.proc.wait()
            killed = time.time()
            # while Redis is down: not ready, and the metric says so
            # (once the services noticed: poll until shortly before
            # Redis comes back, not one look at a fixed moment)
            while True:
                down_ready = (readyz(qm), readyz(cm))
                down_up = metric(self.stack.metrics("qmgr"),
                                 "postmesh_redis_up")
                if ((200 not in down_ready and down_up == 0) or
                        time.time() > killed + DOWN - 0.3):
                    break
                time.sleep(0.1)
            time.sleep(max(0.0, DOWN - (time.time() - killed)))
            self.stack.redis.start()   # returns once PING answers PONG
            back = time.time()
        finally:
            for t in threads:
                t.join(900)
        n_ok = len(accepted)
        print("\nRedis killed at %d delivered, %.0f job(s) in flight; down "
              "%.1fs; %d of %d messages got a 250, %d refused or failed"
              % (at_kill, inflight or 0, back - killed, n_ok,
                 CLIENTS * per, len(errors)))
        self.assertGreater(at_kill, 0, "no delivery before the kill")
        self.assertLess(at_kill, n_ok, "all delivered before the kill")

        # the queue drains; note when the last accepted message arrived
        want = set(accepted)
        deadline = back + RECOVERY_BOUND + 30
        got, last_new, last_n = set(), time.time(), -1
        while time.time() < deadline:
            ids = self.ids()
            got = set(i for i in ids if i)
            if len(ids) != last_n:
                last_n, last_new = len(ids), time.time()
            if want <= got and not self.stack.queued_qids():
                break
            time.sleep(0.5)
        recovery = last_new - back
        missing = want - got
        time.sleep(3.0)   # late re-deliveries, if any, arrive now
        ids = self.ids()
        dups = len(ids) - len(set(ids))
        mem = metric(self.stack.metrics("qmgr"),
                     "postmesh_qmgr_active_messages")
        print("last delivery %.1fs after Redis was back; missing %d; "
              "duplicates %d (bound %d); pending %d; qmgr in memory %s"
              % (recovery, len(missing), dups, CONCURRENCY, self.pending(),
                 mem))
        self.assertEqual(len(missing), 0, "%d accepted messages never "
                         "reached the sink, e.g. %s\n%s"
                         % (len(missing), sorted(missing)[:3],
                            self.logs_tail()))
        self.assertNotIn(None, ids, "a sink file without Message-ID")
        self.assertLessEqual(dups, CONCURRENCY, "%d duplicates, want at "
                             "most %d" % (dups, CONCURRENCY))
        self.assertEqual(self.pending(), 0, "the group's pending list is "
                         "not empty")
        self.assertEqual(mem, 0, "qmgr still holds messages in memory")
        self.assertEqual(self.stack.queued_qids(), [], "queue not empty")
        self.assertLessEqual(recovery, RECOVERY_BOUND, "last delivery "
                             "%.1fs after Redis was back, want at most %.0fs"
                             % (recovery, RECOVERY_BOUND))

        # readiness and metrics followed Redis
        self.assertNotEqual(down_ready[0], 200, "qmgr ready, Redis down")
        self.assertNotEqual(down_ready[1], 200, "cleanup ready, Redis down")
        self.assertEqual((readyz(qm), readyz(cm)), (200, 200))
        self.assertEqual(down_up, 0, "postmesh_redis_up while Redis down")
        text = self.stack.metrics("qmgr")
        self.assertEqual(metric(text, "postmesh_redis_up"), 1)
        self.assertEqual(metric(text, "postmesh_redis_loading"), 0)
        self.assertGreater(metric(text, "postmesh_redis_reconnects_total"),
                           reconnects0 or 0)


class RedisLoadingTest(unittest.TestCase):
    """While Redis replays its data after a restart (-LOADING), a queue
    role is not ready and says so in postmesh_redis_loading; once
    loaded it is ready again. key-load-delay (a Redis 7 setting) makes
    the load last long enough to be seen."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack()
        cls.stack.redis.extra = ["--enable-debug-command", "yes"]
        try:
            cls.stack.start()
        except Exception:
            cls.stack.stop()
            cls.stack.cleanup_dir()
            raise

    @classmethod
    def tearDownClass(cls):
        findings = cls.stack.stop()
        cls.stack.cleanup_dir()
        if findings:
            raise AssertionError("sanitizer findings:\n" + "\n".join(findings))

    def test_not_ready_while_loading(self):
        port = self.stack.ports["cleanup_metrics"]
        r = self.stack.r()
        r.execute_command("DEBUG", "POPULATE", "100000", "pmtest:filler")
        r.execute_command("BGREWRITEAOF")
        deadline = time.time() + 30
        while (r.info("persistence")["aof_rewrite_in_progress"] and
               time.time() < deadline):
            time.sleep(0.1)
        self.assertEqual(readyz(port), 200)
        self.stack.redis.stop()
        # slow loading, and Redis answering (-LOADING) all along
        self.stack.redis.extra = ["--key-load-delay", "30",
                                  "--loading-process-events-interval-bytes",
                                  "1024"]

        def start():
            try:
                self.stack.redis.start()
            except RuntimeError:
                pass   # still loading after 15 s: PONG is waited for below

        t = threading.Thread(target=start)
        t.start()
        seen = []
        try:
            deadline = time.time() + 60
            while t.is_alive() and time.time() < deadline:
                text = self.stack.metrics("cleanup")
                seen.append((readyz(port),
                             metric(text, "postmesh_redis_loading"),
                             metric(text, "postmesh_redis_up")))
                time.sleep(0.2)
        finally:
            t.join(120)
        self.assertTrue((503, 1, 0) in seen, "never not-ready and loading "
                        "while Redis loaded: %s" % seen[:10])
        deadline = time.time() + 60
        while time.time() < deadline:   # Redis answers PONG now
            try:
                if self.stack.r().ping():
                    break
            except redis.exceptions.RedisError:
                time.sleep(0.2)
        deadline = time.time() + 20   # the next health check, on a busy box
        while readyz(port) != 200 and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(readyz(port), 200, "not ready after the load")
        time.sleep(1.5)
        text = self.stack.metrics("cleanup")
        self.assertEqual(metric(text, "postmesh_redis_loading"), 0)
        self.assertEqual(metric(text, "postmesh_redis_up"), 1)


if __name__ == "__main__":
    unittest.main()
