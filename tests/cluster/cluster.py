"""cluster: Postmesh's mesh under faults (make cluster-test, issue 7).

Starts the mesh of mesh.py (2 smtpd, 2 cleanup, 2 rewrite, 2 qmgr,
3 smtp, 2 bounce; internal mutual TLS; Redis ACL; a Redis primary with
a replica and three Sentinels; a sink), puts it under continuous load
from several SMTP clients (Python smtplib, one Message-ID per message,
each client on both smtpd instances in turn), and meanwhile, in turn:
a rolling restart (SIGTERM, as Kubernetes stops a pod, of every
instance of every role, one at a time, each started again once it
exited: see rolling()), kill -9 of one instance of every role and its
restart, kill -9 of the Redis primary and its restart, and a Sentinel
failover. Load goes on
until every fault is done and at least PM_CLUSTER_MESSAGES (10,000)
messages got their 250. Then it waits for the queue to drain and
prints and asserts:

- every message that got a 250 reached the sink (unique Message-ID);
- duplicates: counted, no more than the deliveries in flight at the
  faults that may duplicate (an agent's, Redis's), and none that the
  rolling restart or a qmgr kill alone would explain;
- the rolling restart: each instance answered /readyz 503 (and
  /healthz 200, still running) during its service_stop_delay, exited
  by itself with status 0 within its grace, no client got a 4xx/5xx
  other than smtpd's 421 after a transaction, and no connection
  dropped without that 421;
- the queue empty at the end (no message keys, nothing pending, nothing
  deferred), and no consumer in the qmgr group but the two qmgrs;
- the longest delay of any message (250 to the sink), below 60 s;
- the Sentinel failover (one replica, queue_durability = replica): the
  first 250 after it within ACCEPT_AFTER_RESYNC (5 s) of the old
  primary's resync as the new one's replica (Sentinel's timing up to
  then, and its +tilt if any, is printed);
- security: a Redis client without the password gets nothing; an smtp
  agent whose certificate comes from another CA gets no job.

Default settings throughout, except the Sentinels' own down-after time
(5 s), the sink and service_stop_delay (2 s; 0 by default). Output: one line per fault with its recovery time,
then the summary.
"""

import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import redis

import mesh
from mesh import Instance, Mesh, wait_for

sys.path.insert(0, os.path.join(mesh.ROOT, "tests", "integration"))
from peers import SmtpSink  # noqa: E402

TARGET = int(os.environ.get("PM_CLUSTER_MESSAGES", "10000"))
CLIENTS = int(os.environ.get("PM_CLUSTER_CLIENTS", "8"))
MAX_DELAY = 60.0
MSGID_RE = re.compile(rb"^Message-ID: <([^>\r\n]*)>", re.M | re.I)
# "1234:X 02 Dec 2026 12:16:57.731 # +switch-master pmq ..."
SENTINEL_LOG_RE = re.compile(r"^\d+:X (\d+ \w+ \d+ [\d:]+)\.(\d+) . "
                             r"([-+][\w-]+)(.*)$")
SENTINEL_EVENTS = ("+tilt", "-tilt", "+promoted-slave", "+switch-master",
                   "+convert-to-slave", "+failover-end")
SETTLE = 4.0  # seconds of load between faults
STOP_DELAY = 2  # service_stop_delay of the mesh (s)
STOP_WAIT = 45  # SIGTERM to exit at most: the delay plus the longest
#                 grace (agent_stop_grace 30 s) and some; then SIGKILL
ACCEPT_AFTER_RESYNC = 5.0  # the first 250 after the failover's resync (s)
RECONNECT = 2.5  # after a restart: clients reconnect (RPC_RECONN_MAX 2 s)
ROLLING_ORDER = ("smtpd", "cleanup", "rewrite", "bounce", "qmgr", "smtp")


class Load:
    """CLIENTS threads sending until stop(); records Message-ID -> time
    of the 250 for every accepted message."""

    def __init__(self, addrs):
        self.addrs = addrs
        self.accepted = {}
        self.refused = 0
        self.errors = 0
        self.last_ok = 0.0  # time of the latest 250
        self.events = []  # (time, kind, detail): 421 refused connect drop
        self.mu = threading.Lock()
        self.quit = threading.Event()
        self.threads = [threading.Thread(target=self.client, args=(i,))
                        for i in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.quit.set()
        for t in self.threads:
            t.join(120)

    def count(self):
        with self.mu:
            return len(self.accepted)

    def note(self, kind, detail):
        with self.mu:
            self.events.append((time.time(), kind, detail))

    def client(self, n):
        seq = 0
        while not self.quit.is_set():
            addr = self.addrs[(n + seq) % len(self.addrs)]
            seq += 1  # the next connection goes to the other smtpd
            try:
                s = smtplib.SMTP(addr, mesh.SMTP_PORT, timeout=30)
            except (OSError, smtplib.SMTPException) as e:
                self.errors += 1
                self.note("connect", "%s: %r" % (addr, e))
                time.sleep(0.2)
                continue
            try:
                with s:
                    if s.ehlo("load%d.client.test" % n)[0] == 421:
                        self.note("421", addr)
                        continue
                    for _ in range(20):
                        if self.quit.is_set():
                            break
                        seq += 1
                        mid = "c%d.%d.%d@load.test" % (n, seq, os.getpid())
                        body = ("From: <s@client.test>\r\n"
                                "To: <r@relay.test>\r\n"
                                "Subject: load %s\r\n"
                                "Message-ID: <%s>\r\n\r\n" % (mid, mid) +
                                "x" * 1000 + "\r\n").encode()
                        try:
                            s.sendmail("s@client.test", ["r@relay.test"],
                                       body)
                            with self.mu:
                                self.accepted[mid] = self.last_ok = \
                                    time.time()
                        except smtplib.SMTPResponseException as e:
                            if e.smtp_code == 421:  # smtpd stopping
                                self.note("421", addr)
                                break
                            self.refused += 1
                            self.note("refused", "%s: %d %r" % (
                                addr, e.smtp_code, e.smtp_error))
                            s.rset()
            except smtplib.SMTPResponseException as e:
                # the 421 that a stopping smtpd sends after a
                # transaction, read as the answer to QUIT by "with"
                self.errors += 1
                self.note("421" if e.smtp_code == 421 else "drop",
                          "%s: %r" % (addr, e))
                time.sleep(0.2)
            except (OSError, smtplib.SMTPException) as e:
                self.errors += 1
                self.note("drop", "%s: %r" % (addr, e))
                time.sleep(0.2)


class Cluster:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="pmcluster-")
        self.m = Mesh(self.tmp)
        self.faults = []
        self.failed = []
        self.intruder = None
        self.sink = None

    def check(self, ok, what):
        print("%s %s" % ("ok  " if ok else "FAIL", what), flush=True)
        if not ok:
            self.failed.append(what)

    # ---- set-up ----

    def start(self):
        m = self.m
        m.make_certs()
        m.start_dns()
        for a in mesh.REDIS:
            m.start_redis(a)
        wait_for(lambda: m.redis_client(mesh.REDIS[1]).info(
            "replication")["master_link_status"] == "up", 60, "replica")
        m.start_sentinels()
        self.sink = SmtpSink(self.tmp, host=mesh.SINK[0], port=mesh.SINK[1],
                             name="sink").start()
        m.write_main_cf({
            "service_stop_delay": "%ds" % STOP_DELAY,
            "redis_sentinel_servers": ", ".join(
                "%s:%d" % (a, mesh.SENTINEL_PORT) for a in mesh.SENTINELS),
            "redis_sentinel_master": mesh.MASTER,
        })
        m.start_postmesh()
        self.intruder = Instance("smtp", 9, m.conf, m.logdir, dict(
            m.instance_env("smtp", "127.0.1.99", 9),
            POSTMESH_internal_tls_cert_file=os.path.join(
                m.certs, "foreign", "intruder.pem"),
            POSTMESH_internal_tls_ca_file=os.path.join(
                m.certs, "foreign", "ca.pem"))).start()

    # ---- sink ----

    def delivered(self):
        """Message-ID -> list of delivery times (file mtimes)."""
        out = {}
        for f in self.sink.files():
            try:
                with open(f, "rb") as fh:
                    mo = MSGID_RE.search(fh.read(4096))
                t = os.path.getmtime(f)
            except OSError:
                continue
            out.setdefault(mo.group(1).decode() if mo else None,
                           []).append(t)
        return out

    def inflight(self):
        total = 0
        for i in self.m.inst.values():
            if i.role == "qmgr" and i.alive():
                try:
                    total += i.metric("postmesh_qmgr_jobs_in_flight")
                except OSError:
                    pass
        return int(total)

    # ---- faults ----

    def wait_flow(self, t0, base):
        """Seconds from t0 until the sink has 50 more messages than
        base (mail flows again)."""
        wait_for(lambda: self.sink.count() >= base + 50, 120,
                 "mail flowing after the fault")
        return time.time() - t0

    def kill_role(self, role):
        inst = self.m.inst["%s-1" % role]
        n0, fl = self.sink.count(), self.inflight()
        t0 = time.time()
        rc = inst.kill(signal.SIGKILL)
        time.sleep(1.0)
        inst.start()
        inst.wait_ready()
        ready = time.time() - t0
        flow = self.wait_flow(t0, n0)
        self.faults.append((role, fl, ready, flow, t0))
        print("fault: kill -9 %s (rc %s), %d jobs in flight; ready again "
              "after %.1fs, mail flowing %.1fs after the kill"
              % (inst.name, rc, fl, ready, flow), flush=True)

    def kill_redis(self):
        addr = self.m.primary()
        n0, fl = self.sink.count(), self.inflight()
        t0 = time.time()
        self.m.redis[addr].kill(signal.SIGKILL)
        time.sleep(2.0)
        self.m.start_redis(addr)
        ready = time.time() - t0
        flow = self.wait_flow(t0, n0)
        self.faults.append(("redis", fl, ready, flow, t0))
        print("fault: kill -9 redis primary %s, %d jobs in flight; loaded "
              "again after %.1fs, mail flowing %.1fs after the kill"
              % (addr, fl, ready, flow), flush=True)

    def failover(self, load):
        old = self.m.primary()
        n0, fl = self.sink.count(), self.inflight()
        t0 = time.time()
        self.m.sentinel().execute_command("SENTINEL", "FAILOVER",
                                          mesh.MASTER)
        wait_for(lambda: self.m.primary() != old, 60, "failover")
        switched = time.time() - t0
        # SENTINEL FAILOVER is forced: the old primary takes writes until
        # it is turned into a replica, and those are lost. Delivery
        # statuses are not WAITed for (only cleanup's queue writes are,
        # queue_durability = replica), so a delivery made in this window
        # may be made again: each one counts as in flight.
        switch_window = self.sink.count() - n0
        fl += switch_window
        # Mail flows again once cleanup can answer 250: the new primary
        # needs a replica to acknowledge (queue_durability = replica).
        # The sink alone cannot tell: deliveries of mail accepted before
        # the fault, and those made again, arrive meanwhile.
        resynced = accepting = None
        deadline = t0 + 180
        while time.time() < deadline and (resynced is None or
                                          accepting is None):
            now = time.time()
            if resynced is None and self.replica_up(old):
                resynced = now - t0
            if accepting is None and load.last_ok > t0 + switched:
                accepting = load.last_ok - t0
            time.sleep(0.1)
        n1 = self.sink.count()
        wait_for(lambda: self.sink.count() >= n1 + 50, 120,
                 "mail flowing after the failover")
        flow = time.time() - t0
        self.faults.append(("failover", fl, switched, flow, t0))
        print("fault: Sentinel failover %s -> %s, %d jobs in flight or "
              "delivered while it switched (%d); switched after %.1fs, "
              "old primary a replica in sync after %s, 250 again after "
              "%s, mail flowing %.1fs after it"
              % (old, self.m.primary(), fl, switch_window, switched,
                 "%.1fs" % resynced if resynced is not None else "never",
                 "%.1fs" % accepting if accepting is not None else "never",
                 flow), flush=True)
        for dt, who, what in self.sentinel_events(t0, time.time()):
            print("  %+6.1fs sentinel-%d %s" % (dt, who, what), flush=True)
        # Sentinel's part (the old primary a replica in sync) is Redis's
        # timing; the 250 after it is ours: no pooled connection that
        # Sentinel's CLIENT KILL closed may fail a submission.
        self.check(resynced is not None and accepting is not None and
                   accepting - resynced < ACCEPT_AFTER_RESYNC,
                   "failover: 250 again %s after the old primary resynced "
                   "(< %.0fs)" % ("%.1fs" % (accepting - resynced)
                                  if None not in (resynced, accepting)
                                  else "never", ACCEPT_AFTER_RESYNC))

    def replica_up(self, addr):
        try:
            info = self.m.redis_client(addr).info("replication")
        except (OSError, redis.exceptions.RedisError):
            return False
        return (info.get("role") == "slave" and
                info.get("master_link_status") == "up")

    def sentinel_events(self, t0, t1):
        """(seconds after t0, sentinel, event) of the Sentinel log lines
        between t0 and t1 that move a failover on or hold it up: +tilt
        (the sentinel saw its own timer late by more than 2 s and acts
        on nothing for 30 s) and -tilt among them."""
        out = []
        for i in range(len(mesh.SENTINELS)):
            path = os.path.join(self.tmp, "sentinel-%d" % (i + 1),
                                "sentinel.log")
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()
            except OSError:
                continue
            for ln in lines:
                mo = SENTINEL_LOG_RE.match(ln)
                if mo is None or mo.group(3) not in SENTINEL_EVENTS:
                    continue
                t = time.mktime(time.strptime(mo.group(1),
                                              "%d %b %Y %H:%M:%S"))
                t += float("0." + mo.group(2))
                if t0 - 1 <= t <= t1:
                    out.append((t - t0, i + 1, mo.group(3) + mo.group(4)))
        return sorted(out)

    # ---- rolling restart (SIGTERM) ----

    def http_status(self, inst, path):
        try:
            with urllib.request.urlopen(inst.metrics_url(path),
                                        timeout=1) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def graceful_restart(self, inst):
        """SIGTERM inst as Kubernetes does; watch /readyz during its stop
        delay, wait for its own exit, start it again. Returns (seconds
        to exit, seconds to ready again)."""
        t0 = time.time()
        inst.proc.send_signal(signal.SIGTERM)
        ready = None
        while time.time() - t0 < STOP_DELAY - 0.5:
            ready = self.http_status(inst, "/readyz")
            if ready != 200:
                break
            time.sleep(0.05)
        if mesh.ROLES[inst.role][1] or inst.role == "smtpd":
            # a listener: unready, but alive and serving for the delay
            health = self.http_status(inst, "/healthz")
            alive = inst.alive()
            if inst.role == "smtpd":  # still taking connections
                try:
                    socket.create_connection((inst.addr, mesh.SMTP_PORT),
                                             1).close()
                except OSError:
                    alive = False
            self.check(ready == 503 and health == 200 and alive,
                       "%s: /readyz %s, /healthz %s, serving %s during the "
                       "stop delay" % (inst.name, ready, health, alive))
        else:
            # an agent: no delay; unready (or gone) at once
            self.check(ready in (503, None), "%s: /readyz %s after SIGTERM"
                       % (inst.name, ready))
        killed = False
        try:
            rc = inst.proc.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            inst.proc.kill()
            rc, killed = inst.proc.wait(), True
        took = time.time() - t0
        inst.proc = None
        self.check(rc == 0 and not killed, "%s exited by itself with 0 "
                   "after SIGTERM (status %s, SIGKILL %s, %.1fs)"
                   % (inst.name, rc, killed, took))
        inst.start()
        inst.wait_ready()
        return took, time.time() - t0

    def rolling(self, load):
        """Every instance of every role in turn, as a Kubernetes rolling
        update with maxUnavailable 1: SIGTERM, exit, start, ready."""
        t0 = time.time()
        a0, n0 = load.count(), self.sink.count()
        stops = {}
        for role in ROLLING_ORDER:
            for i in range(1, mesh.ROLES[role][0] + 1):
                inst = self.m.inst["%s-%d" % (role, i)]
                took, ready = self.graceful_restart(inst)
                stops.setdefault(role, []).append(took)
                print("rolling: %s exited %.1fs after SIGTERM, ready again "
                      "after %.1fs" % (inst.name, took, ready), flush=True)
                time.sleep(RECONNECT)
        t1 = time.time()
        self.faults.append(("rolling", 0, t1 - t0, t1 - t0, t0))
        with load.mu:
            ev = [e for e in load.events if t0 <= e[0] <= t1 + 1]
        kinds = {k: [d for _t, kk, d in ev if kk == k]
                 for k in ("421", "refused", "connect", "drop")}
        self.rolling_stats = (t1 - t0, load.count() - a0,
                              self.sink.count() - n0, stops, kinds)
        print("rolling restart: %.0fs, %d messages accepted, %d delivered "
              "meanwhile; stop times: %s; 421 after a transaction: %d, "
              "connections refused by a stopped smtpd: %d, other "
              "refusals: %d, dropped connections: %d"
              % (t1 - t0, load.count() - a0, self.sink.count() - n0,
                 ", ".join("%s %s" % (r, "/".join("%.1fs" % x for x in v))
                           for r, v in stops.items()),
                 len(kinds["421"]), len(kinds["connect"]),
                 len(kinds["refused"]), len(kinds["drop"])), flush=True)
        self.check(not kinds["refused"], "rolling restart: no 4xx/5xx "
                   "but smtpd's 421 (%s)" % kinds["refused"][:5])
        self.check(not kinds["drop"], "rolling restart: no connection "
                   "dropped without 421 (%s)" % kinds["drop"][:5])

    # ---- the run ----

    def run(self):
        self.start()
        load = Load(self.m.smtpd_addrs()).start()
        t_start = time.time()
        try:
            wait_for(lambda: self.sink.count() >= 200, 120, "first mail")
            self.rolling(load)
            for role in ("smtpd", "cleanup", "rewrite", "qmgr", "smtp",
                         "bounce"):
                time.sleep(SETTLE)
                self.kill_role(role)
            time.sleep(SETTLE)
            self.kill_redis()
            time.sleep(SETTLE)
            self.failover(load)
            wait_for(lambda: load.count() >= TARGET, 1800,
                     "%d accepted messages" % TARGET, interval=1)
        finally:
            load.stop()
        t_load = time.time() - t_start
        print("load: %d accepted in %.0fs (%.0f/s), %d refused, %d "
              "connection errors" % (load.count(), t_load,
                                     load.count() / t_load, load.refused,
                                     load.errors), flush=True)
        self.verify(load)

    def drained(self):
        r = self.m.r()
        if any(True for _ in r.scan_iter("pm:{*}:m:*", count=1000)):
            return False
        for key in r.scan_iter("pm:{*}:incoming"):
            if r.xpending(key, "qmgr")["pending"] > 0:
                return False
        for key in r.scan_iter("pm:{*}:deferred"):
            if r.zcard(key) > 0:
                return False
        return True

    def verify(self, load):
        accepted = dict(load.accepted)
        t0 = time.time()
        try:
            wait_for(lambda: self.drained() and
                     set(accepted) <= set(self.delivered()), 300,
                     "the queue to drain", interval=1)
        except RuntimeError as e:
            print(e)
        print("drained %.1fs after the load ended" % (time.time() - t0))
        time.sleep(5)  # late re-deliveries arrive now
        got = self.delivered()
        lost = [mid for mid in accepted if mid not in got]
        dups = sum(len(v) - 1 for v in got.values())
        # each extra delivery counts against the last fault before it
        per_fault = [0] * len(self.faults)
        for mid, times in got.items():
            for t in sorted(times)[1:]:
                k = max((i for i, f in enumerate(self.faults) if f[4] <= t),
                        default=None)
                if k is not None:
                    per_fault[k] += 1
        # a duplicate comes after its cause: the duplicates seen up to
        # each fault may not exceed what the faults so far allow (the
        # deliveries in flight at an agent's or Redis's fault; none for
        # the other roles, qmgr included, but cleanup: see below)
        bound, seen = 0, 0
        for (kind, fl, _r, _f, _t), d in zip(self.faults, per_fault):
            # none for the rolling restart: graceful stops lose nothing
            # and do nothing twice
            bound += fl if kind in ("smtp", "redis", "failover") else 0
            # a killed cleanup may have queued a message without replying;
            # smtpd resends the request to another cleanup, which answers
            # "already queued" unless the first copy was delivered and
            # removed meanwhile: then it is queued twice. At most one
            # submission per client is in flight.
            bound += CLIENTS if kind == "cleanup" else 0
            seen += d
            print("after %s: %d duplicate(s), %d allowed so far"
                  % (kind, d, bound))
            self.check(seen <= bound, "duplicates up to the %s fault: %d "
                       "<= %d" % (kind, seen, bound))
        delays = [min(got[mid]) - t for mid, t in accepted.items()
                  if mid in got]
        worst = max(delays) if delays else 0.0
        print("summary: %d accepted, %d delivered (unique), %d lost, "
              "%d duplicates (bound %d), longest delay %.1fs"
              % (len(accepted), len([k for k in got if k]), len(lost),
                 dups, bound, worst), flush=True)
        self.check(len(accepted) >= TARGET, "at least %d messages got 250"
                   % TARGET)
        self.check(not lost, "every accepted message delivered (lost: %s)"
                   % lost[:5])
        self.check(None not in got, "every sink file has a Message-ID")
        self.check(dups <= bound, "duplicates %d <= in flight at the "
                   "agent and Redis faults %d" % (dups, bound))
        self.check(self.drained(), "queue empty")
        r = self.m.r()
        names = set()
        for key in r.scan_iter("pm:{*}:incoming"):
            names |= {c["name"] for c in r.xinfo_consumers(key, "qmgr")}
        self.check(names <= {"qmgr-1", "qmgr-2"},
                   "no dead consumers (consumers: %s)" % sorted(names))
        self.check(worst < MAX_DELAY, "longest delay %.1fs < %.0fs"
                   % (worst, MAX_DELAY))
        try:
            redis.Redis(host=self.m.primary(), port=6379,
                        socket_timeout=5).get("pm:queue_shards")
            anon = "answered"
        except redis.exceptions.AuthenticationError as e:
            anon = "refused: %s" % e
        except redis.exceptions.ResponseError as e:
            anon = "refused: %s" % e
        self.check(anon.startswith("refused"), "Redis without the "
                   "password: %s" % anon)
        self.check("status=sent" not in self.intruder.text(),
                   "an agent with a foreign certificate got no job")

    def stop(self):
        if self.intruder is not None:
            self.intruder.kill(signal.SIGTERM)
        # all at once into their stop delay; m.stop()'s SIGTERM, the
        # second, ends it
        for inst in self.m.inst.values():
            if inst.alive():
                inst.proc.send_signal(signal.SIGTERM)
        self.m.stop()
        if self.sink is not None:
            self.sink.stop()


def main():
    c = Cluster()
    try:
        c.run()
    except Exception as e:  # report, then fail
        c.failed.append("run: %r" % e)
        print("FAIL run: %r" % e, flush=True)
    finally:
        c.stop()
    for name, text in c.m.logs().items():
        for mark in ("ERROR: AddressSanitizer", "runtime error:", "panic: "):
            if mark in text:
                c.failed.append("%s: %s" % (name, mark))
    if c.failed:
        print("cluster-test FAILED (%d): logs kept in %s"
              % (len(c.failed), c.tmp))
        for f in c.failed:
            print("  " + f)
        return 1
    print("cluster-test passed")
    if not os.environ.get("PM_KEEP_TMP"):
        shutil.rmtree(c.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
