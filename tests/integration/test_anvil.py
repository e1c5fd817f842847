"""Client limits shared by smtpd replicas through Redis (smtpd_anvil.c).

Two (or three) smtpd processes share one Redis, as replicas do:
- smtpd_client_connection_count_limit = 3: two connections open on A
  and one on B, the fourth on either is answered 421 and logged as
  Postfix does; after one closes, a new one is accepted; a client in
  smtpd_client_event_limit_exceptions (127.0.0.1, via $mynetworks) is
  never limited;
- kill -9 of an smtpd holding connections: they stop counting when
  their lease (smtpd_client_connection_lease_time = 3s) ends; the
  measured time is printed;
- smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit
  and smtpd_client_recipient_rate_limit spread over both processes;
- smtpd_client_new_tls_session_rate_limit: resumed sessions are not
  counted, the third new one (over both processes) gets 421;
- the metric postmesh_smtpd_anvil_limit_hits_total{limit=...};
- Redis stopped: connections are accepted (fail open) with one warning,
  and one line when Redis answers again.
"""
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import tlscerts
from pmtest import BIN, StackTest, RawSMTP, free_port, wait_port

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")
HOST = "mx.example.test"
LEASE = 3


def start_smtpd(stack, name, overrides=None):
    """Another smtpd replica: the same main.cf, its own port."""
    port, mport = free_port(), free_port()
    args = [os.path.join(BIN, "smtpd"), "-c", stack.conf,
            "-o", "smtpd_listen=127.0.0.1:%d" % port,
            "-o", "smtpd_metrics_listen=http://127.0.0.1:%d" % mport]
    for k, v in (overrides or {}).items():
        args += ["-o", "%s=%s" % (k, v)]
    log = os.path.join(stack.tmp, name + ".log")
    out = open(log, "ab")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    out.close()
    p.pm_log = log
    p.pm_port = port
    p.pm_metrics = "http://127.0.0.1:%d/metrics" % mport
    wait_port(port, proc=p)
    return p


def stop_smtpd(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    text = open(p.pm_log, errors="replace").read()
    for mark in SANITIZER_MARKS:
        if mark in text and sig != signal.SIGKILL:
            raise AssertionError("sanitizer finding in %s:\n%s"
                                 % (p.pm_log, text[text.index(mark) - 200:][:3000]))
    return text


def connect(port, source):
    c = RawSMTP(port, source=source)
    code, lines = c.reply()
    return c, code, lines


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class AnvilStack(StackTest):
    def setUp(self):
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()

    def open(self, port, source):
        c, code, lines = connect(port, source)
        self.conns.append(c)
        return c, code, lines

    def live(self, addr):
        return self.stack.r().zcard("pm:anvil:live:" + addr)

    def smtpd_log(self):
        return self.stack.svcs["smtpd"].text()


class ConnectionCountTest(AnvilStack):
    PARAMS = {"smtpd_client_connection_count_limit": "3",
              "smtpd_client_connection_lease_time": "%ds" % LEASE}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = start_smtpd(cls.stack, "smtpd-b")

    @classmethod
    def tearDownClass(cls):
        stop_smtpd(cls.b)
        super().tearDownClass()

    def test_count_over_two_replicas(self):
        a, b = self.stack.smtp_port, self.b.pm_port
        for port in (a, a, b):
            c, code, lines = self.open(port, "127.0.0.2")
            self.assertEqual(code, 220, lines)
        self.assertEqual(self.live("127.0.0.2"), 3)
        want = "421 4.7.0 %s Error: too many connections from 127.0.0.2" % HOST
        for port in (a, b):
            c, code, lines = self.open(port, "127.0.0.2")
            self.assertEqual(lines, [want])
            self.assertTrue(c.closed(), "421 ends the session")
        self.assertIn("warning: Connection concurrency limit exceeded: 4 from "
                      "unknown[127.0.0.2] for service smtp", self.smtpd_log())
        self.assertIn("Connection concurrency limit exceeded: 4 from "
                      "unknown[127.0.0.2]", open(self.b.pm_log).read())
        # one closes: its lease is dropped at once, a new one fits
        first = self.conns[0]
        self.assertEqual(first.cmd("QUIT")[0], 221)
        wait_for(lambda: self.live("127.0.0.2") == 2, 5, "the drop")
        c, code, lines = self.open(b, "127.0.0.2")
        self.assertEqual(code, 220, lines)
        m = self.stack.metrics("smtpd")
        self.assertIn('postmesh_smtpd_anvil_limit_hits_total'
                      '{limit="connection_count"} 1', m)
        # all closed: nothing left counted
        for c in self.conns:
            c.close()
        wait_for(lambda: self.live("127.0.0.2") == 0, 5, "all drops")

    def test_exceptions_not_limited(self):
        # 127.0.0.1 is in $mynetworks, the default exceptions
        for i in range(6):
            c, code, lines = self.open(self.stack.smtp_port if i % 2 else
                                       self.b.pm_port, "127.0.0.1")
            self.assertEqual(code, 220, lines)
        self.assertEqual(self.live("127.0.0.1"), 0)

    def test_kill9_lease_expires(self):
        c3 = start_smtpd(self.stack, "smtpd-c")
        try:
            for _ in range(3):
                c, code, lines = self.open(c3.pm_port, "127.0.0.3")
                self.assertEqual(code, 220, lines)
            c, code, lines = self.open(self.stack.smtp_port, "127.0.0.3")
            self.assertEqual(code, 421, lines)
            # the leases are renewed while C lives (beyond one lease)
            time.sleep(LEASE + 1)
            self.assertEqual(self.live("127.0.0.3"), 3)
            c3.send_signal(signal.SIGKILL)
            c3.wait()
            t0 = time.time()
            while True:
                c, code, lines = self.open(self.stack.smtp_port, "127.0.0.3")
                if code == 220:
                    break
                self.assertEqual(code, 421, lines)
                self.assertLess(time.time() - t0, LEASE + 2,
                                "the dead smtpd's connections still count")
                time.sleep(0.2)
            took = time.time() - t0
            print("\nkill -9: the dead smtpd's 3 connections counted for "
                  "%.2f s after its death (lease %d s, renewed every %.1f s)"
                  % (took, LEASE, LEASE / 3.0))
            self.assertGreater(took, LEASE * 2 / 3.0 - 1.0)
        finally:
            stop_smtpd(c3, signal.SIGKILL)


class RatesTest(AnvilStack):
    PARAMS = {"smtpd_client_connection_rate_limit": "3",
              "smtpd_client_message_rate_limit": "2",
              "smtpd_client_recipient_rate_limit": "3",
              "anvil_rate_time_unit": "3600s"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b = start_smtpd(cls.stack, "smtpd-b")

    @classmethod
    def tearDownClass(cls):
        stop_smtpd(cls.b)
        super().tearDownClass()

    def test_connection_rate(self):
        a, b = self.stack.smtp_port, self.b.pm_port
        for port in (a, b, a):
            c, code, lines = self.open(port, "127.0.0.2")
            self.assertEqual(code, 220, lines)
            c.cmd("QUIT")
        c, code, lines = self.open(b, "127.0.0.2")
        self.assertEqual(lines, ["421 4.7.0 %s Error: too many connections "
                                 "from 127.0.0.2" % HOST])
        self.assertIn("warning: Connection rate limit exceeded: 4 from "
                      "unknown[127.0.0.2] for service smtp",
                      open(self.b.pm_log).read())
        # the refused attempt counts too, as Postfix's anvil counts it
        r = self.stack.r()
        keys = r.keys("pm:anvil:connect:127.0.0.2:*")
        self.assertEqual([r.get(k) for k in keys], [b"4"], keys)
        with urllib.request.urlopen(self.b.pm_metrics, timeout=5) as r:
            m = r.read().decode()
        self.assertIn('postmesh_smtpd_anvil_limit_hits_total'
                      '{limit="connection_rate"} 1', m)

    def test_message_rate(self):
        a, b = self.stack.smtp_port, self.b.pm_port
        ca, code, _ = self.open(a, "127.0.0.3")
        cb, code, _ = self.open(b, "127.0.0.3")
        for c in (ca, cb):
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(ca.cmd("MAIL FROM:<s@client.test>")[0], 250)
        ca.cmd("RSET")
        self.assertEqual(cb.cmd("MAIL FROM:<s@client.test>")[0], 250)
        cb.cmd("RSET")
        code, lines = ca.cmd("MAIL FROM:<s@client.test>")
        self.assertEqual(lines, ["450 4.7.0 Error: too many messages from "
                                 "127.0.0.3"])
        self.assertIn("warning: Message delivery request rate limit exceeded: "
                      "3 from unknown[127.0.0.3] for service smtp",
                      self.smtpd_log())
        # the exception: 127.0.0.1 sends as much as it likes
        c, code, _ = self.open(a, "127.0.0.1")
        c.cmd("EHLO client.test")
        for _ in range(4):
            self.assertEqual(c.cmd("MAIL FROM:<s@client.test>")[0], 250)
            c.cmd("RSET")
        m = self.stack.metrics("smtpd")
        self.assertIn('postmesh_smtpd_anvil_limit_hits_total'
                      '{limit="message_rate"} 1', m)

    def test_recipient_rate(self):
        a, b = self.stack.smtp_port, self.b.pm_port
        ca, code, _ = self.open(a, "127.0.0.4")
        cb, code, _ = self.open(b, "127.0.0.4")
        for c in (ca, cb):
            c.cmd("EHLO client.test")
            self.assertEqual(c.cmd("MAIL FROM:<s@client.test>")[0], 250)
        self.assertEqual(ca.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(cb.cmd("RCPT TO:<bob@example.test>")[0], 250)
        self.assertEqual(ca.cmd("RCPT TO:<bob@example.test>")[0], 250)
        code, lines = cb.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(lines, ["450 4.7.0 Error: too many recipients from "
                                 "127.0.0.4"])
        self.assertIn("warning: Recipient address rate limit exceeded: 4 from "
                      "unknown[127.0.0.4] for service smtp",
                      open(self.b.pm_log).read())


class NewTlsSessionRateTest(AnvilStack):
    """smtpd_client_new_tls_session_rate_limit = 2 over two replicas:
    resumed sessions are not counted, the third new one gets 421."""

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="pmtls-")
        cls.ca = tlscerts.make_ca(cls.certdir)
        chain = tlscerts.make_chain(cls.certdir, cls.ca, HOST, "ecdsa")
        cls.PARAMS = {"smtpd_tls_security_level": "may",
                      "smtpd_tls_chain_files": chain,
                      "smtpd_client_new_tls_session_rate_limit": "2",
                      "anvil_rate_time_unit": "3600s"}
        super().setUpClass()
        cls.b = start_smtpd(cls.stack, "smtpd-b")

    @classmethod
    def tearDownClass(cls):
        stop_smtpd(cls.b)
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certdir, ignore_errors=True)

    def starttls(self, port, session=None):
        c, code, lines = self.open(port, "127.0.0.2")
        self.assertEqual(code, 220, lines)
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        ctx = self.ctx
        c.sock = ctx.wrap_socket(c.sock, server_hostname=HOST,
                                 session=session)
        return c

    def test_new_tls_sessions(self):
        self.ctx = ssl.create_default_context(cafile=self.ca[0])
        a, b = self.stack.smtp_port, self.b.pm_port
        c = self.starttls(a)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        sess = c.sock.session
        self.assertFalse(c.sock.session_reused)
        c.cmd("QUIT")
        # resumptions (the session ticket works on either replica's
        # keys only if they share them: try A, which issued it)
        for _ in range(3):
            c = self.starttls(a, session=sess)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertTrue(c.sock.session_reused)
            c.cmd("QUIT")
        c = self.starttls(b)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        c.cmd("QUIT")
        c = self.starttls(a)
        code, lines = c.reply()
        self.assertEqual(lines, ["421 4.7.0 %s Error: too many new TLS "
                                 "sessions from 127.0.0.2" % HOST])
        self.assertIn("warning: New TLS session rate limit exceeded: 3 from "
                      "unknown[127.0.0.2] for service smtp", self.smtpd_log())
        m = self.stack.metrics("smtpd")
        self.assertIn('postmesh_smtpd_anvil_limit_hits_total'
                      '{limit="new_tls_session_rate"} 1', m)


class RedisOutageTest(AnvilStack):
    PARAMS = {"smtpd_client_connection_count_limit": "1",
              "smtpd_client_connection_lease_time": "%ds" % LEASE,
              "redis_timeout": "2s"}

    def test_fail_open(self):
        c, code, lines = self.open(self.stack.smtp_port, "127.0.0.2")
        self.assertEqual(code, 220, lines)
        c, code, lines = self.open(self.stack.smtp_port, "127.0.0.2")
        self.assertEqual(code, 421, lines)
        self.stack.redis.stop()
        for _ in range(3):
            c, code, lines = self.open(self.stack.smtp_port, "127.0.0.2")
            self.assertEqual(code, 220, lines)
        time.sleep(LEASE / 3.0 + 0.5)  # a renewal fails too: still one line
        text = self.smtpd_log()
        self.assertEqual(text.count("anvil: Redis"), 1, text[-3000:])
        self.assertIn("warning: anvil: Redis %s unreachable: client rate "
                      "limits are not enforced until it answers"
                      % self.stack.redis.addr, text)
        self.stack.redis.start()
        # the renewals bring the live connections back: 4 counted
        wait_for(lambda: self.live("127.0.0.2") == 4, LEASE + 2,
                 "the renewal after the outage")
        self.assertEqual(self.smtpd_log().count(
            "anvil: Redis %s answers again" % self.stack.redis.addr), 1)
        c, code, lines = self.open(self.stack.smtp_port, "127.0.0.2")
        self.assertEqual(code, 421, lines)


class HungRedisTest(AnvilStack):
    """Redis hung (SIGSTOP: a partition that answers nothing): parallel
    connect checks do not queue behind one connection, each waiting
    redis_timeout in turn (pm_breaker): every banner comes within about
    redis_timeout, later ones at once while the circuit is open, and the
    outage is one warning."""
    PARAMS = {"smtpd_client_connection_count_limit": "10",
              "smtpd_client_connection_lease_time": "30s",
              "redis_timeout": "2s",
              "redis_cache_retry_delay": "5s",
              "smtpd_check_threads": "8"}
    N = 6

    def banners(self, base):
        waits = [None] * self.N

        def one(i):
            t0 = time.time()
            try:
                c, code, _ = self.open(self.stack.smtp_port,
                                       "127.0.0.%d" % (base + i))
                waits[i] = (round(time.time() - t0, 1), code)
            except Exception as e:  # noqa: BLE001 (reported below)
                waits[i] = (round(time.time() - t0, 1), repr(e))

        th = [threading.Thread(target=one, args=(i,)) for i in range(self.N)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        return waits

    def test_hung_redis(self):
        c, code, lines = self.open(self.stack.smtp_port, "127.0.0.2")
        self.assertEqual(code, 220, lines)
        self.stack.redis.proc.send_signal(signal.SIGSTOP)
        try:
            waits = self.banners(10)
            print("waits (s, code), first round:", waits)
            self.assertTrue(all(w[1] == 220 for w in waits), waits)
            self.assertLessEqual(max(w[0] for w in waits), 2 + 1.5, waits)
            # the circuit is open: no wait at all
            waits = self.banners(30)
            print("waits (s, code), circuit open:", waits)
            self.assertTrue(all(w[1] == 220 for w in waits), waits)
            self.assertLessEqual(max(w[0] for w in waits), 1.0, waits)
        finally:
            self.stack.redis.proc.send_signal(signal.SIGCONT)
        text = self.smtpd_log()
        self.assertEqual(text.count("anvil: Redis %s unreachable"
                                    % self.stack.redis.addr), 1,
                         text[-3000:])


if __name__ == "__main__":
    unittest.main()
