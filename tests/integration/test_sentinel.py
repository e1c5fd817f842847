"""Redis high availability with Redis Sentinel (issue 7, point 6).

SentinelFailoverTest: a Redis primary, two replicas (replicaof) and
three redis-sentinel processes (quorum 2, down-after-milliseconds 1000,
so a dead primary is noticed within about a second), each on a free
port in its own directory, started and stopped by PID. The services
know only the sentinels: redis_server points at a port where nothing
listens, so every Redis connection of every role (cleanup's workers
and durability check, qmgr, the smtp agent, bounce) must ask the
sentinels for the master. queue_durability = replica: cleanup answers
250 only after WAIT saw a replica acknowledge the message.

Under a continuous load from several SMTP clients, the primary is
killed with SIGKILL. The test asserts that the services follow the new
primary by themselves, that mail is accepted again within
FLOW_BOUND seconds of the kill, and that every message that got a 250
(before, during or after the failover) reaches the sink, counted by
unique Message-ID. Two replicas, not one: with queue_durability =
replica a primary without any replica refuses mail, so a one-replica
set would take mail again only once the old primary came back.

ReplicaWaitTest: queue_durability = replica with one replica that is
stopped (SIGSTOP: still connected, so only WAIT can notice): cleanup
does not answer 250 but 451 4.3.0 within about queue_replica_timeout
(not redis_timeout), and answers 250 again once the replica runs.
"""

import os
import signal
import smtplib
import subprocess
import threading
import time
import unittest
import uuid

import redis

from peers import SmtpSink
from pmtest import (DELIVERY_SERVICES, RECEIVE_SERVICES, RedisServer, Stack,
                    free_port, queue_id_of, wait_port)

MASTER = "pmtest"
DOWN_AFTER_MS = 1000
FLOW_BOUND = 30.0   # seconds from the kill until a 250 again
LOAD_CLIENTS = 6
LEASE = 10


class Sentinel:
    """One redis-sentinel on a free port with its own config file."""

    def __init__(self, workdir, name, master_port, quorum=2):
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                    "sentinel monitor %s 127.0.0.1 %d %d\n"
                    "sentinel down-after-milliseconds %s %d\n"
                    "sentinel failover-timeout %s 10000\n"
                    "sentinel parallel-syncs %s 1\n"
                    % (self.port, self.dir,
                       os.path.join(self.dir, "sentinel.log"),
                       MASTER, master_port, quorum, MASTER, DOWN_AFTER_MS,
                       MASTER, MASTER))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["redis-sentinel", self.conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def master(self):
        """(host, port) of the master this sentinel names."""
        host, port = self.client().sentinel_get_master_addr_by_name(MASTER)
        return (host.decode() if isinstance(host, bytes) else host,
                int(port))

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except (redis.exceptions.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError("timed out after %.0fs waiting for %s"
                         % (timeout, what))


def link_up(replica):
    info = replica.client().info("replication")
    return info.get("master_link_status") == "up"


class Load:
    """SMTP clients sending unique messages until stopped. Records, per
    attempt, (start, end, code, Message-ID)."""

    def __init__(self, port, clients):
        self.port = port
        self.clients = clients
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.attempts = []
        self.threads = []

    def one(self):
        mid = "<%s@load.test>" % uuid.uuid4().hex
        msg = ("From: <load@client.test>\r\nTo: <rcpt@relay.test>\r\n"
               "Subject: failover\r\nMessage-ID: %s\r\n\r\nload\r\n"
               % mid).encode()
        t0 = time.time()
        code = 0
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as c:
                c.ehlo("client.test")
                c.mail("load@client.test")
                c.rcpt("rcpt@relay.test")
                code, _text = c.data(msg)
        except smtplib.SMTPResponseException as e:
            code = e.smtp_code
        except (OSError, smtplib.SMTPException):
            code = -1
        with self.lock:
            self.attempts.append((t0, time.time(), code, mid))
        return code

    def run(self):
        while not self.stop_ev.is_set():
            if self.one() != 250:
                time.sleep(0.05)

    def start(self):
        for _ in range(self.clients):
            t = threading.Thread(target=self.run, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(90)

    def accepted(self):
        with self.lock:
            return [a for a in self.attempts if a[2] == 250]


class SentinelFailoverTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sink = None
        cls.replicas = []
        cls.sentinels = []
        nowhere = free_port()   # nothing listens here
        cls.stack = Stack({"redis_server": "127.0.0.1:%d" % nowhere},
                          DELIVERY_SERVICES)
        tmp = cls.stack.tmp
        try:
            cls.sink = SmtpSink(tmp, name="sink").start()
            primary = cls.stack.redis
            primary.start()
            for i in (1, 2):
                r = RedisServer(os.path.join(tmp, "replica%d" % i), extra=[
                    "--replicaof", "127.0.0.1", str(primary.port)])
                cls.replicas.append(r.start())
            for r in cls.replicas:
                wait_for(lambda r=r: link_up(r), 20, "replication link up")
            for i in (1, 2, 3):
                cls.sentinels.append(Sentinel(tmp, "sentinel%d" % i,
                                              primary.port).start())
            for s in cls.sentinels:
                wait_for(lambda s=s: (
                    s.client().sentinel_master(MASTER)["num-slaves"] == 2 and
                    s.client().sentinel_master(MASTER)[
                        "num-other-sentinels"] == 2),
                    30, "sentinel %s to see 2 replicas and 2 sentinels"
                    % s.addr)
            cls.stack.params.update({
                "redis_sentinel_servers": ", ".join(
                    s.addr for s in cls.sentinels),
                "redis_sentinel_master": MASTER,
                "redis_sentinel_timeout": "1s",
                "redis_timeout": "5s",
                "queue_durability": "replica",
                "queue_min_replicas": "1",
                "queue_replica_timeout": "1s",
                "queue_durability_check_interval": "1s",
                "transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                                  % cls.sink.port,
                # a status qmgr could not write while Redis failed over
                # is taken up again after the lease (issue 7, point 5)
                "qmgr_lease_time": "%ds" % LEASE,
            })
            cls.stack.write_config()
            for n in cls.stack.names:
                cls.stack.svcs[n].start()
            for n in cls.stack.names:
                cls.stack.wait_ready(n, timeout=30)
        except Exception:
            cls.stop_all()
            raise

    @classmethod
    def stop_all(cls):
        findings = cls.stack.stop()
        if findings or os.environ.get("PM_SHOW_LOGS"):
            for n, s in cls.stack.svcs.items():
                print("---- %s log (tail) ----\n%s" % (n, s.text()[-4000:]))
        for s in cls.sentinels:
            s.stop()
        for r in cls.replicas:
            r.stop()
        if cls.sink is not None:
            cls.sink.stop()
        cls.stack.cleanup_dir()
        return findings

    @classmethod
    def tearDownClass(cls):
        findings = cls.stop_all()
        if findings:
            raise AssertionError("sanitizer findings:\n" + "\n".join(findings))

    def logs(self, n=3000):
        return "\n".join("---- %s ----\n%s" % (k, s.text()[-n:])
                         for k, s in self.stack.svcs.items())

    def delivered(self):
        """[(Message-ID, time the sink wrote it)] of every delivery."""
        out = []
        for m in self.sink.messages():
            mid = m.header("Message-ID")
            if mid:
                out.append((mid.strip(), os.path.getmtime(m.path)))
        return out

    def delivered_ids(self):
        return [d[0] for d in self.delivered()]

    def test_failover_under_load(self):
        primary = self.stack.redis
        old = ("127.0.0.1", primary.port)
        self.assertEqual(self.sentinels[0].master(), old)
        load = Load(self.stack.smtp_port, LOAD_CLIENTS).start()
        try:
            wait_for(lambda: len(load.accepted()) >= 20, 60,
                     "20 messages accepted before the kill")
            # the services really went through the sentinels
            self.assertTrue(self.stack.log_lines(
                "Redis master %s from the sentinels" % MASTER, "cleanup"),
                self.logs())
            killed = time.time()
            primary.proc.send_signal(signal.SIGKILL)
            primary.proc.wait()
            primary.proc = None
            wait_for(lambda: self.sentinels[1].master() != old, 60,
                     "the sentinels to elect a new primary")
            elected = time.time()
            wait_for(lambda: any(a[0] > elected + 0.5
                                 for a in load.accepted()),
                     90, "a 250 after the failover")
            time.sleep(3)   # some more load on the new primary
        finally:
            load.stop()
        first_ok = min(a[1] for a in load.accepted() if a[0] > killed)
        new = self.sentinels[1].master()
        accepted = [a[3] for a in load.accepted()]
        refused = [a for a in load.attempts if a[2] != 250]
        # every accepted message reaches the sink, exactly by Message-ID
        deadline = time.time() + 120
        while time.time() < deadline:
            got = set(self.delivered_ids())
            if set(accepted) <= got:
                break
            time.sleep(0.5)
        deliveries = self.delivered()
        delivered = [d[0] for d in deliveries]
        missing = set(accepted) - set(delivered)
        dups = len(delivered) - len(set(delivered))
        first_at = {}
        for mid, t in deliveries:
            first_at[mid] = min(t, first_at.get(mid, t))
        ends = {a[3]: a[1] for a in load.accepted()}
        delays = [first_at[m] - ends[m] for m in ends if m in first_at]
        longest = max(delays) if delays else 0.0
        print("\nsentinel failover: %d accepted (%d before the kill), %d "
              "refused or failed attempts, %d delivered, %d duplicates; "
              "new primary %s:%s elected %.1fs after the kill; first 250 "
              "%.1fs after the kill; longest delay from 250 to the sink "
              "%.1fs (qmgr_lease_time %ds)"
              % (len(accepted), sum(1 for a in load.accepted()
                                    if a[1] < killed),
                 len(refused), len(delivered), dups, new[0], new[1],
                 elected - killed, first_ok - killed, longest, LEASE))
        self.assertNotEqual(new, old)
        self.assertEqual(missing, set(), "%d accepted messages never "
                         "delivered\n%s" % (len(missing), self.logs()))
        self.assertLess(longest, 60.0, "a message took %.1fs to the sink"
                        % longest)
        self.assertLess(first_ok - killed, FLOW_BOUND,
                        "mail flowed again %.1fs after the kill, want < %.0fs"
                        % (first_ok - killed, FLOW_BOUND))
        # cleanup's lookups: its first connections and the reconnections
        m = [ln for ln in self.stack.metrics("cleanup").splitlines()
             if ln.startswith("postmesh_redis_sentinel_lookups_total"
                              "{result=\"master\"}")]
        self.assertTrue(m and int(m[0].split()[-1]) >= 2, m)
        # the roles that keep a connection followed the failover
        for role in ("cleanup", "qmgr", "smtp"):
            self.assertTrue(
                self.stack.log_lines("connected to Redis %s:%s"
                                     % (new[0], new[1]), role),
                "%s never connected to the new primary\n%s"
                % (role, self.logs()))


class ForcedFailoverTest(unittest.TestCase):
    """SENTINEL FAILOVER with the old primary alive, one replica (the
    topology of make cluster-test): the old primary stays a master
    until Sentinel turns it into a replica of the new one and kills its
    clients (CLIENT KILL TYPE normal), about 10 s after the switch;
    with queue_durability = replica and no other replica, cleanup can
    answer 250 again only once it has resynced. Every Redis connection
    of every service was open to it and is closed then.

    1. Without load: after the failover has settled (the old primary a
       replica in sync), SEQUENTIAL messages one after the other all get
       250. A pooled connection the server closed while idle must be
       made again before it is used, not fail one submission each
       (cleanup_workers of them: the cluster test's 48 s).
    2. Under load, failing back: the first 250 comes within
       ACCEPT_AFTER_SYNC seconds of the old primary's resync, and the
       whole recovery within FORCED_BOUND of the failover."""

    SEQUENTIAL = 40        # more than cleanup_workers (32)
    ACCEPT_AFTER_SYNC = 3.0
    FORCED_BOUND = 30.0    # Sentinel's ~10 s, a resync, and margin

    @classmethod
    def setUpClass(cls):
        cls.sink = None
        cls.replica = None
        cls.sentinels = []
        cls.stack = Stack({"redis_server": "127.0.0.1:%d" % free_port()},
                          DELIVERY_SERVICES)
        tmp = cls.stack.tmp
        try:
            cls.sink = SmtpSink(tmp, name="sink").start()
            primary = cls.stack.redis
            primary.start()
            cls.replica = RedisServer(os.path.join(tmp, "replica"), extra=[
                "--replicaof", "127.0.0.1", str(primary.port)]).start()
            wait_for(lambda: link_up(cls.replica), 20, "replication link")
            cls.redis = {primary.port: primary, cls.replica.port: cls.replica}
            for i in (1, 2, 3):
                cls.sentinels.append(Sentinel(tmp, "sentinel%d" % i,
                                              primary.port).start())
            for s in cls.sentinels:
                wait_for(lambda s=s: (
                    s.client().sentinel_master(MASTER)["num-slaves"] == 1 and
                    s.client().sentinel_master(MASTER)[
                        "num-other-sentinels"] == 2),
                    30, "sentinel %s to see the replica and 2 sentinels"
                    % s.addr)
            cls.stack.params.update({
                "redis_sentinel_servers": ", ".join(
                    s.addr for s in cls.sentinels),
                "redis_sentinel_master": MASTER,
                "queue_durability": "replica",
                "queue_durability_check_interval": "1s",
                "transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                                  % cls.sink.port,
            })
            cls.stack.write_config()
            for n in cls.stack.names:
                cls.stack.svcs[n].start()
            for n in cls.stack.names:
                cls.stack.wait_ready(n, timeout=30)
        except Exception:
            cls.stop_all()
            raise

    @classmethod
    def stop_all(cls):
        findings = cls.stack.stop()
        if findings or os.environ.get("PM_SHOW_LOGS"):
            for n, s in cls.stack.svcs.items():
                print("---- %s log (tail) ----\n%s" % (n, s.text()[-4000:]))
        for s in cls.sentinels:
            s.stop()
        if cls.replica is not None:
            cls.replica.stop()
        if cls.sink is not None:
            cls.sink.stop()
        cls.stack.cleanup_dir()
        return findings

    @classmethod
    def tearDownClass(cls):
        findings = cls.stop_all()
        if findings:
            raise AssertionError("sanitizer findings:\n" + "\n".join(findings))

    def logs(self, n=3000):
        return "\n".join("---- %s ----\n%s" % (k, s.text()[-n:])
                         for k, s in self.stack.svcs.items())

    def failover(self):
        """SENTINEL FAILOVER; returns (time it was asked, seconds until
        the sentinels named the new primary, seconds until the old one
        was its replica in sync)."""
        old = self.sentinels[0].master()
        t0 = time.time()
        self.sentinels[0].client().execute_command("SENTINEL", "FAILOVER",
                                                   MASTER)
        wait_for(lambda: all(s.master() != old for s in self.sentinels),
                 60, "the sentinels to name the new primary")
        switched = time.time() - t0
        wait_for(lambda: link_up(self.redis[old[1]]), 90,
                 "the old primary to resync as a replica")
        return t0, switched, time.time() - t0

    def test_forced_failover(self):
        probe = Load(self.stack.smtp_port, 1)
        # 1. without load
        t0, switched, synced = self.failover()
        # cleanup takes mail again once its durability check (every
        # second while it fails) has seen the replica
        self.stack.wait_ready("cleanup", timeout=10)
        codes = [probe.one() for _ in range(self.SEQUENTIAL)]
        print("\nforced failover without load: switched after %.1fs, old "
              "primary in sync after %.1fs; %d messages one by one after "
              "it: %d refused"
              % (switched, synced, len(codes),
                 sum(1 for c in codes if c != 250)))
        self.assertEqual(codes, [250] * len(codes),
                         "refused after the failover settled (a closed "
                         "connection used?)\n%s" % self.logs())
        # 2. under load, back to the first primary
        load = Load(self.stack.smtp_port, LOAD_CLIENTS).start()
        try:
            wait_for(lambda: len(load.accepted()) >= 20, 60,
                     "20 messages accepted before the failover")
            t0, switched, synced = self.failover()
            wait_for(lambda: any(a[1] > t0 + switched
                                 for a in load.accepted()),
                     90, "a 250 after the failover")
            time.sleep(2)
        finally:
            load.stop()
        first = min(a[1] for a in load.accepted() if a[1] > t0 + switched)
        accepted = [a[3] for a in load.accepted()] + [
            a[3] for a in probe.accepted()]
        deadline = time.time() + 60
        while time.time() < deadline:
            got = set(m.header("Message-ID").strip()
                      for m in self.sink.messages() if m.header("Message-ID"))
            if set(accepted) <= got:
                break
            time.sleep(0.5)
        print("forced failover under load: switched after %.1fs, old "
              "primary in sync after %.1fs, first 250 %.1fs after the "
              "failover; %d accepted in all, %d not delivered"
              % (switched, synced, first - t0, len(accepted),
                 len(set(accepted) - got)))
        self.assertEqual(set(accepted) - got, set(),
                         "accepted messages never delivered")
        self.assertLess(first - t0 - synced, self.ACCEPT_AFTER_SYNC,
                        "first 250 %.1fs after the old primary resynced"
                        % (first - t0 - synced))
        self.assertLess(first - t0, self.FORCED_BOUND,
                        "first 250 %.1fs after the failover"
                        % (first - t0))


class ReplicaWaitTest(unittest.TestCase):
    """WAIT before the 250: a stopped replica means no 250."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack({"queue_durability": "replica",
                           "queue_min_replicas": "1",
                           "queue_replica_timeout": "1s",
                           "redis_timeout": "10s",
                           "queue_durability_check_interval": "1s"},
                          RECEIVE_SERVICES)
        cls.replica = None
        try:
            cls.stack.redis.start()
            cls.replica = RedisServer(
                os.path.join(cls.stack.tmp, "replica"),
                extra=["--replicaof", "127.0.0.1",
                       str(cls.stack.redis.port)]).start()
            wait_for(lambda: link_up(cls.replica), 20, "replication link")
            for n in cls.stack.names:
                cls.stack.svcs[n].start()
            for n in cls.stack.names:
                cls.stack.wait_ready(n)
        except Exception:
            cls.stop_all()
            raise

    @classmethod
    def stop_all(cls):
        if cls.replica is not None and cls.replica.proc is not None:
            cls.replica.proc.send_signal(signal.SIGCONT)
        findings = cls.stack.stop()
        if cls.replica is not None:
            cls.replica.stop()
        cls.stack.cleanup_dir()
        return findings

    @classmethod
    def tearDownClass(cls):
        findings = cls.stop_all()
        if findings:
            raise AssertionError("sanitizer findings:\n" + "\n".join(findings))

    def send(self, tag):
        msg = ("From: <a@client.test>\r\nTo: <alice@example.test>\r\n"
               "Subject: wait\r\nMessage-ID: <%s@client.test>\r\n\r\nhi\r\n"
               % tag).encode()
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=60) as c:
            c.ehlo("client.test")
            c.mail("a@client.test")
            c.rcpt("alice@example.test")
            try:
                code, text = c.data(msg)
            except smtplib.SMTPDataError as e:
                code, text = e.smtp_code, e.smtp_error
            return code, text.decode()

    def test_no_250_without_a_replica_ack(self):
        code, text = self.send("before")
        self.assertEqual(code, 250, text)
        qid = queue_id_of(text)
        # the replica has it: WAIT waited for it
        self.assertTrue(self.replica.client().exists("pm:{0}:m:%s" % qid))
        self.replica.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.time()
            code, text = self.send("stopped")
            took = time.time() - t0
            self.assertEqual(code, 451, "got %d %s with the replica stopped,"
                             " want 451" % (code, text))
            self.assertIn("4.3.0", text)
            # queue_replica_timeout (1s), not redis_timeout (10s)
            self.assertLess(took, 5.0, "the 451 took %.1fs" % took)
            lines = self.stack.log_lines("replicas acknowledged", "cleanup")
            self.assertTrue(any("only 0 of 1" in ln for ln in lines),
                            self.stack.log("cleanup")[-3000:])
        finally:
            self.replica.proc.send_signal(signal.SIGCONT)
        deadline = time.time() + 15
        while True:
            code, text = self.send("after")
            if code == 250 or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(code, 250, "got %d %s after SIGCONT" % (code, text))


if __name__ == "__main__":
    unittest.main()
