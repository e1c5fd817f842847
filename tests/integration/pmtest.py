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
"""

import os
import shutil
import signal
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


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Stack:
    """Redis + rewrite + cleanup + smtpd on free ports, for one test class.

    params: main.cf overrides (name -> value) on top of the test defaults.
    """

    SERVICES = ("rewrite", "cleanup", "smtpd")

    def __init__(self, params=None, services=None):
        self.tmp = tempfile.mkdtemp(prefix="pmtest-")
        self.redis = RedisServer(self.tmp)
        self.ports = {
            "smtpd": free_port(),
            "cleanup": free_port(),
            "rewrite": free_port(),
            "smtpd_metrics": free_port(),
            "cleanup_metrics": free_port(),
            "rewrite_metrics": free_port(),
        }
        self.smtp_port = self.ports["smtpd"]
        self.params = {
            "myhostname": "mx.example.test",
            "mydomain": "example.test",
            "mydestination": "$myhostname, localhost.$mydomain, localhost, example.test",
            "local_recipient_maps": "inline:{alice=alice, bob=bob, postmaster=root}",
            "relay_domains": "relay.test",
            "mynetworks": "127.0.0.0/8",
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
        if params:
            self.params.update(params)
        self.conf = os.path.join(self.tmp, "etc")
        os.makedirs(self.conf)
        self.write_config()
        self.names = services or self.SERVICES
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
        svc = self.svcs[name]
        if name == "smtpd":
            wait_port(self.ports["smtpd"], proc=svc.proc, timeout=timeout)
            return
        url = "http://127.0.0.1:%d/readyz" % self.ports[name + "_metrics"]
        deadline = time.time() + timeout
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
                          "status": rr.get("%d:s" % i)})
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
