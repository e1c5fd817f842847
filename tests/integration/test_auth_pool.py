"""AUTH on its own bounded pool, and the atomic failed-AUTH rate limit.

A scripted Dovecot auth server (a UNIX socket, the handshake of
Dovecot's auth-client protocol 1.2) stands in for slow backends: user
"hang" is never answered (a Dovecot stuck until smtpd_sasl_timeout),
"slow" is refused after 0.5 s (Dovecot's auth_failure_delay, shorter),
"good" is accepted at once.

- AUTHs that hang hold the AUTH threads (smtpd_sasl_threads) and the
  AUTH queue (smtpd_sasl_queue_limit), not the check threads: another
  client's MAIL and RCPT are answered at once, with smtpd_check_threads
  as small as smtpd_sasl_threads; one AUTH beyond the queue is answered
  "454 4.7.0 Temporary authentication failure" at once and counted as
  outcome="tempfail".
- smtpd_client_auth_rate_limit = 3 with six parallel wrong passwords
  from one address: exactly three reach the backend (535), three are
  refused (450) and counted too (6 in Redis); a good password does not
  use up an attempt.
"""

import base64
import os
import socket
import threading
import time
import urllib.request

from pmtest import RawSMTP, free_port
from test_submission import SUBMISSION_PARAMS, SaslStack, b64, start_smtpd, stop_proc

HANDSHAKE = (b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
             b"SPID\t1\nCUID\t1\nCOOKIE\t0123\nDONE\n")


class ScriptedDovecot:
    """Dovecot's auth-client side, scripted per user name."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.conns = []
        self.lock = threading.Lock()
        self.requests = 0
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        try:
            c.sendall(HANDSHAKE)
            while True:
                while b"\n" not in buf:
                    d = c.recv(4096)
                    if not d:
                        return
                    buf += d
                line, buf = buf.split(b"\n", 1)
                f = line.decode().split("\t")
                if f[0] != "AUTH":
                    continue
                with self.lock:
                    self.requests += 1
                resp = [x[5:] for x in f if x.startswith("resp=")][0]
                user = base64.b64decode(resp).split(b"\0")[1].decode()
                if user == "hang":
                    continue
                if user == "slow":
                    time.sleep(0.5)
                    c.sendall(b"FAIL\t%s\tuser=slow\treason=bad password\n"
                              % f[1].encode())
                else:
                    c.sendall(b"OK\t%s\tuser=%s\n" % (f[1].encode(), user.encode()))
        except OSError:
            return

    def stop(self):
        self.stopping = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()


class AuthPoolTest(SaslStack):
    PARAMS = dict(SUBMISSION_PARAMS, smtpd_sasl_type="dovecot",
                  smtpd_sasl_timeout="10s",
                  smtpd_client_auth_rate_limit="3",
                  anvil_rate_time_unit="3600s",
                  # 127.0.0.1 ($mynetworks) is limited too
                  smtpd_client_event_limit_exceptions="")

    @classmethod
    def extra_params(cls, stack):
        cls.dove = ScriptedDovecot(os.path.join(stack.tmp, "auth-client"))
        return {"smtpd_sasl_path": cls.dove.path}

    @classmethod
    def tearDownClass(cls):
        cls.dove.stop()
        super().tearDownClass()

    def auth_session(self, port, user, password="pw"):
        """A session that sent AUTH PLAIN (reply not read yet)."""
        c = RawSMTP(port)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        c.send("AUTH PLAIN %s\r\n" % b64("\0%s\0%s" % (user, password)))
        return c

    def test_auth_pool_does_not_stall_checks(self):
        port, mport = free_port(), free_port()
        p = start_smtpd(self.stack, port, {
            "smtpd_check_threads": "2", "smtpd_sasl_threads": "2",
            "smtpd_sasl_queue_limit": "2", "smtpd_client_auth_rate_limit": "0",
            "smtpd_metrics_listen": "http://127.0.0.1:%d" % mport})
        hung = []
        try:
            # 2 running + 2 queued
            for _ in range(4):
                hung.append(self.auth_session(port, "hang"))
            self.assertTrue(_wait(lambda: self.dove.requests >= 2, 5),
                            "the AUTH threads never reached the backend")
            # a normal client's checks are answered at once
            t0 = time.monotonic()
            c = RawSMTP(port, timeout=5)
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO other.test")[0], 250)
            code, lines = c.cmd("MAIL FROM:<x@example.test>")
            self.assertEqual(code, 250, lines)
            code, lines = c.cmd("RCPT TO:<alice@example.test>")
            self.assertEqual(code, 250, lines)
            self.assertLess(time.monotonic() - t0, 2.0)
            c.cmd("QUIT")
            c.close()
            # one AUTH beyond the queue: 454 at once
            t0 = time.monotonic()
            x = self.auth_session(port, "good")
            x.sock.settimeout(5)
            code, lines = x.reply()
            self.assertEqual(code, 454, lines)
            self.assertIn("454 4.7.0 Temporary authentication failure",
                          lines[-1])
            self.assertLess(time.monotonic() - t0, 2.0)
            x.close()
            self.assertEqual(self.dove.requests, 2)
            url = "http://127.0.0.1:%d/metrics" % mport
            with urllib.request.urlopen(url, timeout=5) as r:
                m = r.read().decode()
            self.assertRegex(m, r'postmesh_smtpd_auth_total\{outcome="tempfail"\} 1\b')
        finally:
            for h in hung:
                h.close()
            log = open(p.pm_log, errors="replace").read()
            stop_proc(p)
        self.assertIn("AUTH queue full", log)

    def test_parallel_failures_rate_limited_exactly(self):
        port = self.stack.smtp_port
        self.stack.r().delete(*(self.stack.r().keys("pm:anvil:*") or ["x"]))
        # a good password does not use up an attempt
        c = self.auth_session(port, "good")
        self.assertEqual(c.reply()[0], 235)
        c.close()
        conns = [self.auth_session(port, "slow", "wrong") for _ in range(6)]
        codes = sorted(c.reply()[0] for c in conns)
        for c in conns:
            c.close()
        self.assertEqual(codes, [450] * 3 + [535] * 3)
        keys = self.stack.r().keys("pm:anvil:auth:127.0.0.1:*")
        self.assertEqual(len(keys), 1, keys)
        # the refused attempts count too (as Postfix's anvil)
        self.assertEqual(int(self.stack.r().get(keys[0])), 6)


def _wait(fn, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.05)
    return False
