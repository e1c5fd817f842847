"""Failure handling on the receiving path.

- Redis down: the client gets 451 4.3.0 and, once Redis is back, the
  queue holds exactly what it held before (nothing half-written).
- cleanup down: 451 4.3.0 too.
- Clients that drip bytes are cut off within smtpd_timeout, per command
  and per DATA phase (smtpd_per_request_deadline = yes).
- A burst of hundreds of connections is served (listen backlog).
"""

import socket
import smtplib
import threading
import time
import unittest

from pmtest import RawSMTP, StackTest, queue_id_of

MSG = (b"From: <sender@client.test>\r\nSubject: failure\r\n"
       b"Message-ID: <f@client.test>\r\nDate: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
       b"\r\nbody\r\n")


def send_one(port):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        s.mail("sender@client.test")
        s.rcpt("alice@example.test")
        code, text = s.data(MSG)
        return code, text.decode()


class RedisDownTest(StackTest):

    def test_451_with_redis_stopped(self):
        code, text = send_one(self.stack.smtp_port)
        self.assertEqual(code, 250, text)
        before = self.stack.all_keys()
        stream_before = self.stack.incoming_qids()
        self.stack.redis.stop()
        try:
            code, text = send_one(self.stack.smtp_port)
            self.assertEqual(code, 451, text)
            self.assertTrue(text.startswith("4.3.0"), text)
        finally:
            self.stack.redis.start()
        self.assertEqual(self.stack.all_keys(), before)
        self.assertEqual(self.stack.incoming_qids(), stream_before)
        # and mail flows again once Redis is back
        deadline = time.time() + 20
        while True:
            code, text = send_one(self.stack.smtp_port)
            if code == 250 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(code, 250, text)


class CleanupDownTest(StackTest):

    def test_451_with_cleanup_stopped(self):
        self.stack.svcs["cleanup"].stop()
        try:
            code, text = send_one(self.stack.smtp_port)
            self.assertEqual(code, 451, text)
            self.assertTrue(text.startswith("4.3.0"), text)
        finally:
            self.stack.svcs["cleanup"].start()
            self.stack.wait_ready("cleanup")


class TimeoutTest(StackTest):
    PARAMS = {"smtpd_timeout": "3s", "smtpd_min_data_rate": "500"}

    def drip(self, c, data, max_seconds):
        """Send one byte every 0.5 s; return seconds until the server
        closes the connection (or None if it never does)."""
        start = time.time()
        for b in data:
            if time.time() - start > max_seconds:
                return None
            try:
                c.send(bytes([b]))
            except OSError:
                return time.time() - start
            time.sleep(0.5)
            c.sock.setblocking(False)
            try:
                chunk = c.sock.recv(4096)
                if chunk == b"":
                    return time.time() - start
                c.buf += chunk
                if b"421" in c.buf:
                    return time.time() - start
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                return time.time() - start
            finally:
                c.sock.setblocking(True)
        return None

    def test_drip_command(self):
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        t = self.drip(c, b"EHLO " + b"a" * 100 + b"\r\n", 12)
        self.assertIsNotNone(t, "slow command was never cut off")
        self.assertLess(t, 7)
        self.assertIn(b"421 4.4.2", c.buf)
        c.close()

    def test_drip_data(self):
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<sender@client.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        t = self.drip(c, b"x" * 100, 12)
        self.assertIsNotNone(t, "slow DATA was never cut off")
        self.assertLess(t, 7)
        c.close()


class BurstTest(StackTest):

    def test_burst_of_connections(self):
        n = 300
        socks = []
        try:
            for _ in range(n):
                socks.append(socket.create_connection(
                    ("127.0.0.1", self.stack.smtp_port), timeout=30))
            greeted = 0
            for s in socks:
                data = b""
                while b"\r\n" not in data:
                    chunk = s.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"220 "):
                    greeted += 1
            self.assertEqual(greeted, n)
        finally:
            for s in socks:
                s.close()
        # and the server still works
        self.assertEqual(send_one(self.stack.smtp_port)[0], 250)

    def test_parallel_clients(self):
        results = []

        def worker():
            for _ in range(10):
                results.append(send_one(self.stack.smtp_port)[0])

        threads = [threading.Thread(target=worker) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results.count(250), 200, results)


if __name__ == "__main__":
    unittest.main()
