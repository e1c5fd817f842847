"""smtpd TLS: a client that closes at once (review 9, finding 1).

A TLS client that sends QUIT and closes without waiting for the 221
(Postfix's smtp client does so), one that closes in the middle of the
handshake, one that closes right after STARTTLS, and one that stops
reading until the closing timer gives up: smtpd must free the session
without touching it again from the socket bufferevent under the TLS
filter (a use-after-free that ASan reports; run this under the ASan
build). smtpd must stay up and answer after each loop.
"""

import os
import socket
import ssl
import struct
import threading
import time
import unittest

from pmtest import RawSMTP
from test_smtpd_tls import NAME, TlsStackTest, client_ctx


def raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    return s, f


def reply(f):
    while True:
        line = f.readline()
        if not line or line[3:4] != b"-":
            return line


def abort(sock):
    """Close with a reset: nothing waits for the server."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class TlsCloseTest(TlsStackTest):
    EXTRA = {"smtpd_timeout": "3s", "smtpd_junk_command_limit": "1000000",
             "smtpd_forbid_unauth_pipelining": "no",
             "smtpd_error_sleep_time": "0"}
    LOOPS = 60

    def alive(self):
        c = RawSMTP(self.stack.smtp_port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()

    def starttls(self, ctx):
        s, f = raw(self.stack.smtp_port)
        self.assertTrue(reply(f).startswith(b"220"))
        s.sendall(b"EHLO client.test\r\n")
        self.assertTrue(reply(f).startswith(b"250"))
        s.sendall(b"STARTTLS\r\n")
        self.assertTrue(reply(f).startswith(b"220"))
        return s, f

    def test_quit_then_close_at_once(self):
        ctx = client_ctx(self.ca[0])
        for i in range(self.LOOPS):
            s, f = self.starttls(ctx)
            t = ctx.wrap_socket(s, server_hostname=NAME)
            t.sendall(b"EHLO client.test\r\n")
            tf = t.makefile("rb")
            self.assertTrue(reply(tf).startswith(b"250"))
            t.sendall(b"QUIT\r\n")
            if i % 2:
                t.shutdown(socket.SHUT_WR)
            abort(t) if i % 3 == 0 else t.close()
        self.wait_log(" quit=1 ", count=self.LOOPS)
        self.alive()

    def test_close_mid_handshake_and_after_starttls(self):
        ctx = client_ctx(self.ca[0])
        hello = None
        for i in range(self.LOOPS):
            s, f = self.starttls(ctx)
            if i % 2 == 0:
                abort(s)  # right after the 220
                continue
            # a ClientHello, then gone before the server's flight is read
            if hello is None:
                inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
                obj = ctx.wrap_bio(inb, outb, server_hostname=NAME)
                try:
                    obj.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                hello = outb.read()
            s.sendall(hello)
            abort(s) if i % 3 else s.close()
        self.alive()

    def test_client_not_reading_until_timeout(self):
        """The closing timer frees a session whose output still waits
        under the TLS filter (the client does not read); the client then
        reads, and the socket bufferevent writes the rest."""
        ctx = client_ctx(self.ca[0])
        conns = []
        for _ in range(3):
            s, f = self.starttls(ctx)
            t = ctx.wrap_socket(s, server_hostname=NAME)
            t.sendall(b"EHLO client.test\r\n")
            self.assertTrue(reply(t.makefile("rb")).startswith(b"250"))
            # replies that are not read fill every buffer on the way;
            # smtpd stops reading, so the sender blocks: a thread
            th = threading.Thread(target=self.flood, args=(t,), daemon=True)
            th.start()
            conns.append((t, th))
        # smtpd_timeout (3s) ends each session, the closing timer gives up
        self.wait_log(r"timeout after HELP from", count=3, timeout=30)
        self.wait_log(" help=", count=3, timeout=30)
        # now read: the socket bufferevent drains what was left
        for t, _ in conns:
            r = socket.socket(fileno=os.dup(t.fileno()))
            r.settimeout(5)
            try:
                while r.recv(1 << 16):
                    pass
            except OSError:
                pass
            r.close()
        time.sleep(1)
        for t, _ in conns:
            abort(t)
        self.alive()

    @staticmethod
    def flood(t):
        try:
            for _ in range(400):
                t.sendall(b"HELP\r\n" * 100)
        except OSError:
            pass

if __name__ == "__main__":
    unittest.main()
