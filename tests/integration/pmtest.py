"""pmtest: the integration test harness for Postmesh.

Starts real processes for a test: a redis-server with durable settings
(appendonly yes, appendfsync always) in a temporary directory, and the
Postmesh services (rewrite, cleanup, smtpd, ...) from $PM_BIN (default
build/bin) with a main.cf written for the test, every listener on a free
loopback port. Processes are stopped by PID. After a stack stops, the
service logs are scanned for sanitizer reports (ASan/UBSan), which fail
the test: `make test` runs the integration tests against the ASan build.

Nothing here mocks a peer: Redis is redis-server, clients are swaks and
smtplib (tests), and helpers read the queue straight from Redis.

Waiting: CI runs these against the ASan build on a busy 2-core machine,
so a state that comes about "soon" (a log line, a metric, a Redis key,
readiness, a reload) is polled for with a generous deadline (10-30 s,
wait_log, wait_for, Stack.wait_ready, Stack.reload), never looked at
once after a fixed sleep. A fixed wait is right only for "never
happens"/"stays so" checks. A service logs before it counts: poll a
metric after its log line too.
"""

import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.abspath(os.path.join(ROOT, os.environ.get("PM_BIN", "build/bin")))

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:",
                   "ERROR: LeakSanitizer", "panic: ")


_handed_out = set()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host="127.0.0.1", udp_too=False):
    """A TCP port (and UDP too if asked) that was free a moment ago on
    host. Ports come from below the kernel's ephemeral range, so the
    outgoing connections of the services under test (and of anything
    else on the machine) cannot take a port between the moment it is
    chosen and the moment a service listens on it; and a port is never
    handed out twice in one test process."""
    lo, _hi = _ephemeral_range()
    top = min(lo, 65536)
    base = 10000 if top > 12000 else 1024
    for _ in range(500):
        port = random.randrange(base, top)
        if port in _handed_out:
            continue
        try:
            with socket.socket() as s:
                s.bind((host, port))
            if udp_too:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                    u.bind((host, port))
        except OSError:
            continue
        _handed_out.add(port)
        return port
    # fall back to the kernel's choice
    with socket.socket() as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    _handed_out.add(port)
    return port


def wait_port(port, host="127.0.0.1", timeout=15.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open within %.0fs" % (port, timeout))


class RedisServer:
    """A private redis-server on a free port; durable like production."""

    def __init__(self, workdir, port=None, extra=()):
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.extra = list(extra)
        self.proc = None
        # the test's own client logs in with these (an ACL user)
        self.username = None
        self.password = None

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--appendonly", "yes",
                "--appendfsync", "always", "--save", "",
                "--maxmemory-policy", "noeviction",
                "--logfile", os.path.join(self.dir, "redis.log")] + self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port,
                           username=self.username, password=self.password,
                           socket_timeout=10)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port


class Service:
    """One Postmesh service process, logging into a file."""

    def __init__(self, name, confdir, logdir):
        self.name = name
        self.confdir = confdir
        self.log = os.path.join(logdir, name + ".log")
        self.proc = None

    def start(self, env=None):
        exe = os.path.join(BIN, self.name)
        if not os.path.exists(exe):
            raise unittest.SkipTest("%s is not built" % exe)
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        if env:
            e.update(env)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([exe, "-c", self.confdir], stdout=out,
                                     stderr=subprocess.STDOUT, env=e)
        out.close()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def text(self):
        try:
            with open(self.log, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


# The receiving path (the default) and the whole stack with delivery.
RECEIVE_SERVICES = ("rewrite", "cleanup", "smtpd")
DELIVERY_SERVICES = ("rewrite", "cleanup", "bounce", "qmgr", "smtp", "error",
                     "discard", "smtpd")
# Start order: a service's peers first (smtpd last: mail arrives only once
# everything behind it runs). Stopped in reverse.
START_ORDER = ("rewrite", "cleanup", "bounce", "qmgr", "smtp", "error",
               "discard", "smtpd")
# Services with an nng listener (<name>_listen / <name>_service).
RPC_SERVICES = ("cleanup", "rewrite", "qmgr", "bounce")
# Short delivery times for tests (Postfix defaults are minutes).
DELIVERY_TEST_PARAMS = {
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "queue_run_delay": "1s",
}


class Stack:
    """Redis + the services on free ports, for one test class.

    params: main.cf overrides (name -> value) on top of the test defaults.
    services: names to run (default RECEIVE_SERVICES; DELIVERY_SERVICES
    for the whole stack). Listen, service and metrics parameters are
    written only for the services that run, so a receive-only stack's
    main.cf has no parameter an older binary would not know.
    """

    SERVICES = RECEIVE_SERVICES

    def __init__(self, params=None, services=None):
        self.tmp = tempfile.mkdtemp(prefix="pmtest-")
        self.redis = RedisServer(self.tmp)
        names = tuple(services or self.SERVICES)
        self.ports = {
            "smtpd": free_port(),
            "cleanup": free_port(),
            "rewrite": free_port(),
            "smtpd_metrics": free_port(),
            "cleanup_metrics": free_port(),
            "rewrite_metrics": free_port(),
        }
        for n in names:
            if n not in self.ports and n in RPC_SERVICES:
                self.ports[n] = free_port()
            if n + "_metrics" not in self.ports:
                self.ports[n + "_metrics"] = free_port()
        self.smtp_port = self.ports["smtpd"]
        self.params = {
            "myhostname": "mx.example.test",
            "mydomain": "example.test",
            "mydestination": "$myhostname, localhost.$mydomain, localhost, example.test",
            "local_recipient_maps": "inline:{alice=alice, bob=bob, postmaster=root}",
            "relay_domains": "relay.test",
            "redis_server": self.redis.addr,
            "smtpd_listen": "127.0.0.1:%d" % self.ports["smtpd"],
            "cleanup_listen": "tcp://127.0.0.1:%d" % self.ports["cleanup"],
            "cleanup_service": "tcp://127.0.0.1:%d" % self.ports["cleanup"],
            "rewrite_listen": "tcp://127.0.0.1:%d" % self.ports["rewrite"],
            "rewrite_service": "tcp://127.0.0.1:%d" % self.ports["rewrite"],
            "smtpd_metrics_listen": "http://127.0.0.1:%d" % self.ports["smtpd_metrics"],
            "cleanup_metrics_listen": "http://127.0.0.1:%d" % self.ports["cleanup_metrics"],
            "rewrite_metrics_listen": "http://127.0.0.1:%d" % self.ports["rewrite_metrics"],
        }
        for n in names:
            if n in RPC_SERVICES and n not in ("cleanup", "rewrite"):
                url = "tcp://127.0.0.1:%d" % self.ports[n]
                self.params[n + "_listen"] = url
                self.params[n + "_service"] = url
            if n not in ("cleanup", "rewrite", "smtpd"):
                self.params[n + "_metrics_listen"] = (
                    "http://127.0.0.1:%d" % self.ports[n + "_metrics"])
        if "qmgr" in names:
            self.params.update(DELIVERY_TEST_PARAMS)
        if params:
            self.params.update(params)
        self.conf = os.path.join(self.tmp, "etc")
        os.makedirs(self.conf)
        self.write_config()
        self.names = tuple(sorted(
            names, key=lambda n: (START_ORDER.index(n)
                                  if n in START_ORDER else len(START_ORDER))))
        self.svcs = {n: Service(n, self.conf, self.tmp) for n in self.names}

    def write_config(self):
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("# main.cf written by tests/integration/pmtest.py\n")
            for k, v in self.params.items():
                f.write("%s = %s\n" % (k, v))

    def path(self, name):
        return os.path.join(self.tmp, name)

    def start(self):
        self.redis.start()
        for n in self.names:
            self.svcs[n].start()
        for n in self.names:
            self.wait_ready(n)
        return self

    def wait_ready(self, name, timeout=20.0):
        """Wait until name answers /readyz 200 (smtpd: and its SMTP
        port is open). /readyz turns 200 only after post_init(), a
        moment after the listeners open, so an open port alone is not
        "ready" (a test that probes /readyz next would race)."""
        svc = self.svcs[name]
        deadline = time.time() + timeout
        if name == "smtpd":
            wait_port(self.ports["smtpd"], proc=svc.proc, timeout=timeout)
        url = "http://127.0.0.1:%d/readyz" % self.ports[name + "_metrics"]
        while time.time() < deadline:
            if svc.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (name, svc.text()[-2000:]))
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s not ready: %s" % (name, svc.text()[-2000:]))

    def restart(self, name, sig=signal.SIGKILL):
        """Stop one service with sig (default kill -9), start it again
        and wait until it is ready. Returns the old exit status."""
        rc = self.svcs[name].stop(sig)
        self.svcs[name].start()
        self.wait_ready(name)
        return rc

    # The lines that end a reload (pm_server_reload.c): every reload
    # logs one of them after its work, the "reload -- version" line
    # comes before the work.
    RELOAD_DONE = ("reload: applied: ", "reload: no parameter changed",
                   "keeping the running configuration",
                   "changed but not applied", "to apply it")

    def reload(self, name, timeout=15.0):
        """SIGHUP name and wait until that reload is done (one of
        RELOAD_DONE logged after its "reload -- version" line); returns
        the log lines of that reload."""
        before = len(self.log_lines("reload -- version", name))
        self.svcs[name].proc.send_signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while True:
            lines = self.log(name).splitlines()
            starts = [i for i, ln in enumerate(lines)
                      if "reload -- version" in ln]
            if len(starts) > before:
                mine = lines[starts[before]:]
                if any(m in ln for ln in mine for m in self.RELOAD_DONE):
                    return mine
            if time.time() > deadline:
                raise AssertionError("%s: no finished reload within %.0fs:"
                                     "\n%s" % (name, timeout,
                                               "\n".join(lines[-30:])))
            time.sleep(0.05)

    def log(self, *names):
        """Log text of the named services (all when none given)."""
        return "".join(self.svcs[n].text() for n in (names or self.names)
                       if n in self.svcs)

    def log_lines(self, pattern, *names):
        """Log lines (of the named services) containing pattern."""
        return [ln for ln in self.log(*names).splitlines() if pattern in ln]

    def metrics(self, name):
        url = "http://127.0.0.1:%d/metrics" % self.ports[name + "_metrics"]
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()

    def stop(self):
        """Stop everything; return sanitizer findings (list of strings)."""
        findings = []
        for n in reversed(list(self.names)):
            svc = self.svcs[n]
            svc.stop()
            text = svc.text()
            for mark in SANITIZER_MARKS:
                if mark in text:
                    i = text.index(mark)
                    findings.append("%s: %s" % (n, text[max(0, i - 200):i + 1500]))
                    break
        self.redis.stop()
        return findings

    def cleanup_dir(self):
        if os.environ.get("PM_KEEP_TMP"):
            print("kept", self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # Queue helpers: read what cleanup stored, straight from Redis.

    def r(self):
        return self.redis.client()

    def shard(self, qid):
        n = int(self.params.get("queue_shards", "1"))
        if n <= 1:
            return 0
        h = 2166136261
        for c in qid.encode():
            h ^= c
            h = (h * 16777619) & 0xFFFFFFFF
        return h % n

    def queued(self, qid):
        """(envelope dict, recipients list, body bytes) or None."""
        s = self.shard(qid)
        r = self.r()
        m = r.hgetall("pm:{%d}:m:%s" % (s, qid))
        if not m:
            return None
        env = {k.decode(): v.decode() for k, v in m.items()}
        rr = {k.decode(): v.decode() for k, v in
              r.hgetall("pm:{%d}:r:%s" % (s, qid)).items()}
        rcpts = []
        for i in range(int(rr.get("n", "0"))):
            rcpts.append({"address": rr.get("%d:a" % i),
                          "orcpt": rr.get("%d:o" % i),
                          "notify": rr.get("%d:n" % i),
                          "status": rr.get("%d:s" % i),
                          "quiet": rr.get("%d:q" % i)})
        body = b"".join(r.lrange("pm:{%d}:b:%s" % (s, qid), 0, -1))
        return env, rcpts, body

    def incoming_qids(self):
        r = self.r()
        out = []
        n = int(self.params.get("queue_shards", "1"))
        for s in range(n):
            key = "pm:{%d}:incoming" % s
            if r.exists(key):
                for _id, fields in r.xrange(key):
                    out.append(fields[b"qid"].decode())
        return out

    def all_keys(self):
        return sorted(k.decode() for k in self.r().keys("pm:*"))

    def queued_qids(self):
        """Queue ids with an envelope in Redis (any queue: incoming,
        active, deferred, hold)."""
        out = []
        for k in self.r().scan_iter("pm:{*}:m:*", count=1000):
            out.append(k.decode().rsplit(":", 1)[1])
        return sorted(out)

    def deferred_qids(self):
        r = self.r()
        out = []
        for s in range(int(self.params.get("queue_shards", "1"))):
            out += [q.decode() for q in
                    r.zrange("pm:{%d}:deferred" % s, 0, -1)]
        return out

    def hold_qids(self):
        r = self.r()
        out = []
        for s in range(int(self.params.get("queue_shards", "1"))):
            out += [q.decode() for q in r.smembers("pm:{%d}:hold" % s)]
        return out


class StackTest(unittest.TestCase):
    """Base class: one stack per test class (params in PARAMS)."""

    PARAMS = {}
    SERVICES = None
    stack = None

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(cls.PARAMS, cls.SERVICES)
        try:
            cls.stack.start()
        except Exception:
            findings = cls.stack.stop()
            for n, s in cls.stack.svcs.items():
                print("---- %s log ----\n%s" % (n, s.text()[-3000:]))
            cls.stack.cleanup_dir()
            raise

    @classmethod
    def tearDownClass(cls):
        findings = cls.stack.stop()
        failed = bool(findings)
        if failed or os.environ.get("PM_SHOW_LOGS"):
            for n, s in cls.stack.svcs.items():
                print("---- %s log (tail) ----\n%s" % (n, s.text()[-4000:]))
        cls.stack.cleanup_dir()
        if failed:
            raise AssertionError("sanitizer findings:\n" + "\n".join(findings))

    def assertQueued(self, qid, sent_content, sender=None, rcpts=None):
        """The message qid is in Redis and its body is what was sent,
        byte for byte, after the headers smtpd/cleanup prepend."""
        got = self.stack.queued(qid)
        self.assertIsNotNone(got, "message %s not in Redis" % qid)
        env, rr, body = got
        self.assertTrue(body.endswith(sent_content),
                        "queued body does not end with what was sent:\n"
                        "got  %r\nwant ...%r" % (body[-300:], sent_content[-300:]))
        prefix = body[:len(body) - len(sent_content)]
        # Only whole header lines are added in front of the content.
        if prefix:
            self.assertTrue(prefix.endswith(b"\r\n"), "prefix %r" % prefix)
            for line in prefix.split(b"\r\n")[:-1]:
                self.assertTrue(line[:1] in (b"\t", b" ") or b":" in line,
                                "added text is not a header: %r" % line)
        self.assertEqual(int(env["size"]), len(body))
        if sender is not None:
            self.assertEqual(env["sender"], sender)
        if rcpts is not None:
            self.assertEqual([x["address"] for x in rr], rcpts)
        self.assertIn(qid, self.stack.incoming_qids())
        return env, rr, body


class DeliveryTest(StackTest):
    """Base class for the delivery tests: the whole stack (receive and
    delivery services) plus real peers started by start_peers().

    start_peers(cls, workdir) runs before the services start (the
    stack's directory exists by then) and returns main.cf parameters
    that point the stack at the peers (transport_maps, dns_server ...);
    peers it appends to cls.peers are stopped after the stack.
    """

    SERVICES = DELIVERY_SERVICES
    peers = ()

    @classmethod
    def start_peers(cls, workdir):
        return {}

    @classmethod
    def setUpClass(cls):
        cls.peers = []
        cls.stack = Stack(cls.PARAMS, cls.SERVICES)
        try:
            extra = cls.start_peers(cls.stack.tmp) or {}
            params = dict(extra)
            params.update(cls.PARAMS)   # the class's PARAMS win
            cls.stack.params.update(params)
            cls.stack.write_config()
            cls.stack.start()
        except unittest.SkipTest:
            cls.stack.stop()
            cls.stop_peers()
            cls.stack.cleanup_dir()
            raise
        except Exception:
            cls.stack.stop()
            for n, s in cls.stack.svcs.items():
                print("---- %s log ----\n%s" % (n, s.text()[-3000:]))
            cls.stop_peers()
            cls.stack.cleanup_dir()
            raise

    @classmethod
    def stop_peers(cls):
        for p in reversed(cls.peers):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                print("stopping %r: %s" % (p, e))
        cls.peers = []

    @classmethod
    def tearDownClass(cls):
        findings = cls.stack.stop()
        failed = bool(findings)
        if failed or os.environ.get("PM_SHOW_LOGS"):
            for n, s in cls.stack.svcs.items():
                print("---- %s log (tail) ----\n%s" % (n, s.text()[-4000:]))
        cls.stop_peers()
        cls.stack.cleanup_dir()
        if failed:
            raise AssertionError("sanitizer findings:\n" + "\n".join(findings))

    def logs_tail(self, n=3000):
        """The end of every delivery service's log, for failure messages."""
        out = []
        for name in ("qmgr", "smtp", "bounce", "error", "discard", "cleanup"):
            if name in self.stack.svcs:
                out.append("---- %s ----\n%s" % (
                    name, self.stack.svcs[name].text()[-n:]))
        return "\n".join(out)

    def wait_count(self, sink, n, timeout=30.0):
        """Wait until sink holds at least n messages; assert it."""
        deadline = time.time() + timeout
        while sink.count() < n and time.time() < deadline:
            time.sleep(0.1)
        got = sink.count()
        self.assertGreaterEqual(got, n, "sink has %d messages, want %d\n%s"
                                % (got, n, self.logs_tail()))
        return sink.messages()

    def wait_log(self, pattern, names=(), timeout=30.0, count=1):
        """Wait until at least count log lines contain pattern."""
        deadline = time.time() + timeout
        while True:
            lines = self.stack.log_lines(pattern, *names)
            if len(lines) >= count or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertGreaterEqual(
            len(lines), count, "log lines with %r: got %d, want %d\n%s"
            % (pattern, len(lines), count, self.logs_tail()))
        return lines

    def wait_gone(self, qid, timeout=30.0):
        """Wait until the message qid has left the queue (all keys)."""
        deadline = time.time() + timeout
        while self.stack.queued(qid) is not None and time.time() < deadline:
            time.sleep(0.1)
        self.assertIsNone(self.stack.queued(qid),
                          "%s still queued\n%s" % (qid, self.logs_tail()))

    def submit(self, sender, rcpts, msg, mail_opts=(), rcpt_opts=()):
        """Send one message into smtpd; return its queue id."""
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as c:
            c.ehlo("client.test")
            code, text = c.mail(sender, list(mail_opts))
            self.assertEqual(code, 250, text)
            for r in rcpts:
                code, text = c.rcpt(r, list(rcpt_opts))
                self.assertEqual(code, 250, text)
            code, text = c.data(msg)
            self.assertEqual(code, 250, text)
            return queue_id_of(text.decode())


class RawSMTP:
    """A byte-level SMTP client for tests that must send exactly what a
    hostile or pipelining client sends (smtplib normalizes too much)."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=20):
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """(code, [lines]) of one complete reply."""
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def closed(self, timeout=10):
        """True if the server closes the connection (after any data)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def queue_id_of(reply_lines):
    """The queue id from '250 2.0.0 Ok: queued as QID'."""
    last = reply_lines[-1] if isinstance(reply_lines, list) else reply_lines
    marker = "queued as "
    if marker not in last:
        raise AssertionError("no queue id in %r" % last)
    return last.split(marker, 1)[1].split()[0]
