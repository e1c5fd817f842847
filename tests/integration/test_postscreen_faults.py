"""postscreen under faults: reload under load, hung Redis, slow clients,
half-close, shared reply text, cache of passed tests, per-client count.

Real redis-server, smtpd behind postscreen (PROXY v2), dnsmasq listing
127.0.0.2 and 127.0.0.12 in bl.test; a fake Redis that accepts and
never answers. Replicas of postscreen with their own settings share
the stack's Redis and smtpd (see replica()).
"""

import os
import shutil
import signal
import socket
import struct
import threading
import time
import unittest

from peers import Dns
from pmtest import (RawSMTP, SANITIZER_MARKS, Service, Stack, free_port,
                    wait_port)


def raw(port, source, timeout=20):
    return RawSMTP(port, source=source, timeout=timeout)


class HungRedis:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(100)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(s)

    def close(self):
        self.sock.close()
        for s in self.held:
            s.close()


class PostscreenFaultsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_dns = os.path.join("/tmp", "pmtest-pscf-dns-%d" % os.getpid())
        os.makedirs(cls.tmp_dns, exist_ok=True)
        cls.dns = Dns(cls.tmp_dns, a=[("2.0.0.127.bl.test", "127.0.0.2"),
                                      ("12.0.0.127.bl.test", "127.0.0.2")]).start()
        cls.hung = HungRedis()
        cls.acl = os.path.join(cls.tmp_dns, "access.cidr")
        with open(cls.acl, "w") as f:
            for i in range(3000):
                f.write("10.%d.%d.0/24 dunno\n" % (i // 256, i % 256))
            f.write("127.0.0.6/32 permit\n")
        cls.psc_port = free_port()
        params = {
            "smtpd_upstream_proxy_protocol": "haproxy",
            "dns_server": cls.dns.server_param,
            "postscreen_listen": "127.0.0.1:%d" % cls.psc_port,
            "postscreen_greet_wait": "1s",
            "postscreen_greet_action": "enforce",
            "postscreen_dnsbl_sites": "bl.test",
            "postscreen_dnsbl_action": "enforce",
            "postscreen_dnsbl_timeout": "3s",
            "postscreen_access_list": "cidr:" + cls.acl,
            "postscreen_command_time_limit": "2s",
        }
        cls.stack = Stack(params, ("rewrite", "cleanup", "smtpd", "postscreen"))
        cls.stack.params["postscreen_smtpd_service"] = (
            "127.0.0.1:%d" % cls.stack.ports["smtpd"])
        cls.stack.write_config()
        cls.extra = []
        try:
            cls.stack.start()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def replica(cls, name, over):
        d = os.path.join(cls.stack.tmp, name)
        os.makedirs(os.path.join(d, "etc"))
        port = free_port()
        p = dict(cls.stack.params)
        p.update(over)
        p["postscreen_listen"] = "127.0.0.1:%d" % port
        p["postscreen_metrics_listen"] = "http://127.0.0.1:%d" % free_port()
        with open(os.path.join(d, "etc", "main.cf"), "w") as f:
            for k, v in p.items():
                f.write("%s = %s\n" % (k, v))
        svc = Service("postscreen", os.path.join(d, "etc"), d).start()
        cls.extra.append(svc)
        wait_port(port, proc=svc.proc)
        return svc, port

    @classmethod
    def tearDownClass(cls):
        findings = []
        for svc in cls.extra:
            svc.stop()
            for mark in SANITIZER_MARKS:
                if mark in svc.text():
                    findings.append(svc.text())
        findings += cls.stack.stop()
        if findings or os.environ.get("PM_SHOW_LOGS"):
            for svc in [*cls.stack.svcs.values(), *cls.extra]:
                print("---- %s log ----\n%s" % (svc.log, svc.text()[-4000:]))
        cls.dns.stop()
        cls.hung.close()
        shutil.rmtree(cls.tmp_dns, ignore_errors=True)
        cls.stack.cleanup_dir()
        if findings:
            raise AssertionError("sanitizer findings:\n" + "\n".join(findings))

    def wait_log(self, text, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for ln in text().splitlines():
                if pattern in ln:
                    return ln
            time.sleep(0.05)
        self.fail("no log line with %r in:\n%s" % (pattern, text()[-3000:]))

    def psc_log(self):
        return self.stack.log("postscreen")

    # 1. SIGHUP rebuilds the access list and DNSBL lists on the signal
    # thread; they are swapped in on the loop, never freed under it.
    def test_reload_under_load(self):
        svc, port = self.replica("reload", {
            "postscreen_greet_wait": "0s",
            "postscreen_client_connection_count_limit": "0",
            "postscreen_dnsbl_sites": "bl.test, other.test*2",
            "postscreen_dnsbl_action": "ignore",
            "postscreen_smtpd_service": "127.0.0.1:1",
        })
        stop = time.time() + 6
        count = [0]

        def client(k):
            i = 0
            while time.time() < stop:
                i += 1
                try:
                    s = socket.create_connection(
                        ("127.0.0.1", port), timeout=5,
                        source_address=("127.0.%d.%d" % (k, 2 + i % 200), 0))
                    s.recv(100)
                    s.close()
                    count[0] += 1
                except OSError:
                    pass
        threads = [threading.Thread(target=client, args=(k,))
                   for k in range(1, 7)]
        for t in threads:
            t.start()
        hups = 0
        while time.time() < stop and svc.proc.poll() is None:
            os.kill(svc.proc.pid, signal.SIGHUP)
            hups += 1
            time.sleep(0.02)
        for t in threads:
            t.join()
        self.assertIsNone(svc.proc.poll(), svc.text()[-3000:])
        self.assertGreater(count[0], 50)
        self.assertGreater(hups, 50)
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark, svc.text())
        # still serving, with the reloaded lists
        c = raw(port, "127.0.0.2")
        code, lines = c.reply()
        self.assertEqual((code, lines[0]),
                         (421, "421 4.3.2 Service currently unavailable"))
        c.close()

    # 2. Each refused client's reply names its own address.
    def test_dnsbl_reply_per_client(self):
        a = raw(self.psc_port, "127.0.0.2")
        self.assertEqual(a.reply()[0], 220)
        b = raw(self.psc_port, "127.0.0.12")
        self.assertEqual(b.reply()[0], 220)
        self.assertEqual(a.cmd("HELO a.test")[0], 250)
        self.assertEqual(a.cmd("MAIL FROM:<a@a.test>")[0], 250)
        code, lines = a.cmd("RCPT TO:<x@example.test>")
        self.assertEqual((code, lines[0]), (550, "550 5.7.1 Service "
                         "unavailable; client [127.0.0.2] blocked using bl.test"))
        self.assertEqual(b.cmd("RCPT TO:<x@example.test>")[1][0],
                         "550 5.7.1 Service unavailable; client "
                         "[127.0.0.12] blocked using bl.test")
        a.close()
        b.close()

    # 3. A hung Redis holds no client longer than postscreen_cache_timeout,
    # and after a failure the cache is skipped for a while.
    def test_hung_redis(self):
        svc, port = self.replica("hung", {
            "redis_server": "127.0.0.1:%d" % self.hung.port,
            "redis_timeout": "3s",
            "postscreen_cache_timeout": "1s",
            "postscreen_cache_retry_delay": "30s",
            "postscreen_greet_action": "ignore",
            "postscreen_dnsbl_sites": "",
        })
        res = {}

        def one(i):
            t0 = time.time()
            try:
                c = raw(port, "127.0.0.%d" % (20 + i), timeout=30)
                line = c._line()
                res[i] = (time.time() - t0, line)
                c.close()
            except Exception as e:
                res[i] = (time.time() - t0, repr(e))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, (took, line) in res.items():
            self.assertTrue(line.startswith("220-"), res)
            self.assertLess(took, 2.0, res)
        # Redis failed (redis_timeout): circuit open, answered at once.
        self.wait_log(svc.text, "postscreen cache: Redis unavailable",
                      timeout=10)
        t0 = time.time()
        c = raw(port, "127.0.0.30")
        self.assertTrue(c._line().startswith("220-"))
        self.assertLess(time.time() - t0, 0.5)
        c.close()
        self.assertEqual(svc.text().count(
            "postscreen cache: Redis unavailable"), 1, svc.text())

    # 4. postscreen_command_time_limit is not restarted by every byte.
    def test_command_time_limit_trickle(self):
        c = raw(self.psc_port, "127.0.0.4", timeout=10)
        self.assertTrue(c._line().startswith("220-"))
        c.send("X")                              # pregreet: enforce
        self.assertEqual(c.reply()[0], 220)
        t0 = time.time()
        c.sock.settimeout(0.3)
        data = b""
        while time.time() - t0 < 8:
            try:
                c.sock.sendall(b"a")
            except OSError:
                break
            try:
                d = c.sock.recv(1000)
                data += d
                if not d:
                    break
            except socket.timeout:
                pass
        took = time.time() - t0
        c.close()
        self.assertIn(b"421 4.4.2 ", data)
        self.assertLess(took, 4.5, data)
        self.wait_log(self.psc_log, "COMMAND TIME LIMIT from [127.0.0.4]:")

    # 5. A client's QUIT and half-close still gets smtpd's 221.
    def test_half_close_gets_reply(self):
        c = raw(self.psc_port, "127.0.0.6")          # permit: to smtpd
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO half.test")[0], 250)  # PIPELINING
        c.send("RSET\r\nQUIT\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        c.sock.settimeout(10)
        data = b""
        while True:
            d = c.sock.recv(65536)
            if not d:
                break
            data += d
        c.close()
        self.assertIn(b"250 ", data)
        self.assertIn(b"221 ", data)

    # 6 and 7. Passed tests are cached one by one; a handed-off
    # connection no longer counts for the per-client limit.
    def test_passed_tests_cached_and_handoff_count(self):
        svc, port = self.replica("ignore", {
            "postscreen_greet_action": "ignore",
            "postscreen_dnsbl_action": "ignore",
            "postscreen_client_connection_count_limit": "1",
        })
        r = self.stack.redis.client()
        r.delete("pm:cache:psc:127.0.0.2")
        c = raw(port, "127.0.0.2")                # listed, action ignore
        self.assertTrue(c._line().startswith("220-"))
        self.assertEqual(c.reply()[0], 220)       # smtpd
        # 7: handed off: a second connection from it is not refused
        c2 = raw(port, "127.0.0.2")
        code, lines = c2.reply()
        self.assertEqual(code, 220, lines)
        # 6: the pregreet pass was cached (not the DNSBL failure)
        self.assertFalse(lines[0].startswith("220-"), lines)
        entry = r.get("pm:cache:psc:127.0.0.2").decode()
        g, d = [int(x.split("=")[1]) for x in entry.split(";")]
        self.assertGreater(g, time.time() + 3600)
        self.assertEqual(d, 0)
        c2.cmd("QUIT")
        c2.close()
        c.cmd("QUIT")
        c.close()
        self.assertNotIn("NOQUEUE: reject: CONNECT from [127.0.0.2]",
                         svc.text())

    # 8. One DISCONNECT per connection, also when the last write fails.
    def test_disconnect_logged_once(self):
        svc, port = self.replica("drop", {
            "postscreen_greet_wait": "0s",
            "postscreen_dnsbl_action": "drop",
        })
        ports = []
        for _ in range(3):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            ports.append(s.getsockname()[1])
            # reset at once: the 521 write fails
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            s.close()
        for p in ports:
            self.wait_log(svc.text, "DISCONNECT [127.0.0.2]:%d" % p)
        time.sleep(0.5)
        for p in ports:
            self.assertEqual(svc.text().count(
                "DISCONNECT [127.0.0.2]:%d\n" % p), 1, svc.text()[-3000:])


if __name__ == "__main__":
    unittest.main()
