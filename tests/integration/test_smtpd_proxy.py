"""smtpd behind a proxy: smtpd_upstream_proxy_protocol = haproxy.

A real smtpd (and cleanup, rewrite, Redis) with the PROXY protocol on.
Python clients send a v1 header or a v2 header (built here with
struct, as HAProxy or postscreen would) and then SMTP. The client
address in the header is what smtpd uses everywhere: the log
("connect from unknown[<addr>]"), mynetworks (relay permitted for an
address in mynetworks, refused for one outside, though every
connection comes from 127.0.0.1), the Received: header and the
client_addr/client_port stored with the message in Redis. A LOCAL
command keeps the socket address. A garbage header, a client that is
too slow, and swaks without a header are closed without a 220.
Implicit TLS (smtpd_tls_wrappermode) begins after the header.
"""

import shutil
import socket
import ssl
import struct
import subprocess
import tempfile
import time

from pmtest import RawSMTP, StackTest, queue_id_of
import tlscerts

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
NAME = "mx.example.test"


def v2_header(src, sport, dst, dport, command=1, tlvs=b""):
    """PROXY v2, TCP over IPv4 or IPv6 (by the address), command 1 =
    PROXY, 0 = LOCAL; tlvs appended to the address block."""
    if ":" in src:
        fam = 0x21
        addrs = (socket.inet_pton(socket.AF_INET6, src) +
                 socket.inet_pton(socket.AF_INET6, dst))
    else:
        fam = 0x11
        addrs = socket.inet_aton(src) + socket.inet_aton(dst)
    block = addrs + struct.pack("!HH", sport, dport) + tlvs
    return V2_SIG + struct.pack("!BBH", 0x20 | command, fam, len(block)) + block


def v1_header(src, sport, dst, dport):
    proto = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport, dport)).encode()


def message(subject):
    return (b"From: <sender@client.test>\r\nTo: <x@example.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n\r\nHello.\r\n")


class ProxyTest(StackTest):
    PARAMS = {
        "smtpd_upstream_proxy_protocol": "haproxy",
        "smtpd_upstream_proxy_timeout": "2s",
        # 127.0.0.1 (the socket peer of every test connection) is not in it
        "mynetworks": "192.0.2.0/24, [2001:db8:1::]/64",
    }

    def wait_log(self, pattern, timeout=15, count=1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            lines = self.stack.log_lines(pattern, "smtpd")
            if len(lines) >= count:
                return lines
            time.sleep(0.05)
        self.fail("no %r in the smtpd log:\n%s" %
                  (pattern, self.stack.log("smtpd")[-3000:]))

    def proxied(self, header):
        c = RawSMTP(self.stack.smtp_port)
        c.send(header)
        return c

    def send_mail(self, c, rcpt, subject):
        """EHLO, MAIL, RCPT: the RCPT reply code; if 250, DATA too and
        the queue id."""
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<sender@client.test>")[0], 250)
        code, lines = c.cmd("RCPT TO:<%s>" % rcpt)
        if code != 250:
            return code, lines
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(message(subject) + b".\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 250, lines)
        return code, queue_id_of(lines)

    def assert_closed_silently(self, c, within):
        t0 = time.time()
        self.assertTrue(c.closed(timeout=within + 5), "still open")
        self.assertEqual(c.buf, b"", "smtpd replied: %r" % c.buf)
        return time.time() - t0

    def test_v1_header_then_smtp(self):
        c = self.proxied(v1_header("198.51.100.7", 40001, "127.0.0.1", 25))
        try:
            self.assertEqual(c.reply()[0], 220)
            # relay from outside mynetworks: refused
            code, lines = self.send_mail(c, "someone@elsewhere.test", "v1")
            self.assertEqual(code, 554, lines)
            self.assertIn("Relay access denied", lines[-1])
            self.assertEqual(c.cmd("RSET")[0], 250)
            code, qid = self.send_mail(c, "alice@example.test", "v1")
            self.assertEqual(code, 250)
            c.cmd("QUIT")
        finally:
            c.close()
        self.wait_log("connect from unknown[198.51.100.7]")
        self.wait_log("reject: RCPT from unknown[198.51.100.7]")
        self.wait_log("%s: client=unknown[198.51.100.7]" % qid)
        env, _, body = self.stack.queued(qid)
        self.assertEqual(env["client_addr"], "198.51.100.7")
        self.assertEqual(env["client_port"], "40001")
        self.assertIn(b"Received: from client.test (unknown [198.51.100.7])",
                      body)
        self.wait_log("disconnect from unknown[198.51.100.7] ehlo=2 mail=2 "
                      "rcpt=1/2 data=1 rset=1 quit=1 commands=8/9")
        for ln in self.stack.log_lines(qid, "smtpd"):
            self.assertNotIn("127.0.0.1", ln)

    def test_v2_mynetworks_uses_real_address(self):
        # inside mynetworks (the socket peer 127.0.0.1 is not): relay ok
        c = self.proxied(v2_header("192.0.2.9", 50002, "127.0.0.1", 25))
        try:
            self.assertEqual(c.reply()[0], 220)
            code, qid = self.send_mail(c, "someone@elsewhere.test", "v2in")
            self.assertEqual(code, 250)
            c.cmd("QUIT")
        finally:
            c.close()
        env, rcpts, body = self.stack.queued(qid)
        self.assertEqual(env["client_addr"], "192.0.2.9")
        self.assertEqual(env["client_port"], "50002")
        self.assertEqual([r["address"] for r in rcpts], ["someone@elsewhere.test"])
        self.assertIn(b"(unknown [192.0.2.9])", body)
        self.wait_log("connect from unknown[192.0.2.9]")
        # outside mynetworks: the same relay is refused
        c = self.proxied(v2_header("203.0.113.5", 50003, "127.0.0.1", 25))
        try:
            self.assertEqual(c.reply()[0], 220)
            code, lines = self.send_mail(c, "someone@elsewhere.test", "v2out")
            self.assertEqual(code, 554, lines)
            c.cmd("QUIT")
        finally:
            c.close()
        self.wait_log("connect from unknown[203.0.113.5]")
        self.wait_log("NOQUEUE: reject: RCPT from unknown[203.0.113.5]: 554 5.7.1")

    def test_v2_ipv6_with_tlv_and_pipelined(self):
        # header, TLV (authority "mx"), and EHLO in one segment
        hdr = v2_header("2001:db8:1::5", 1234, "2001:db8::25", 25,
                        tlvs=b"\x02\x00\x02mx")
        c = RawSMTP(self.stack.smtp_port)
        try:
            c.send(hdr)
            self.assertEqual(c.reply()[0], 220)
            code, qid = self.send_mail(c, "someone@elsewhere.test", "v6")
            self.assertEqual(code, 250)  # 2001:db8:1::/64 is in mynetworks
            c.cmd("QUIT")
        finally:
            c.close()
        env, _, body = self.stack.queued(qid)
        self.assertEqual(env["client_addr"], "2001:db8:1::5")
        self.assertIn(b"(unknown [IPv6:2001:db8:1::5])", body)
        self.wait_log("connect from unknown[2001:db8:1::5]")

    def test_v2_split_byte_by_byte(self):
        c = RawSMTP(self.stack.smtp_port)
        try:
            for b in v2_header("192.0.2.77", 7, "127.0.0.1", 25):
                c.send(bytes([b]))
                time.sleep(0.002)
            self.assertEqual(c.reply()[0], 220)
            c.cmd("QUIT")
        finally:
            c.close()
        self.wait_log("connect from unknown[192.0.2.77]")

    def test_local_command_keeps_socket_address(self):
        c = self.proxied(v2_header("192.0.2.1", 1, "127.0.0.1", 25, command=0))
        try:
            self.assertEqual(c.reply()[0], 220)
            # the socket peer 127.0.0.1 is not in mynetworks here
            code, lines = self.send_mail(c, "someone@elsewhere.test", "local")
            self.assertEqual(code, 554, lines)
            c.cmd("QUIT")
        finally:
            c.close()
        self.wait_log("connect from unknown[127.0.0.1]")
        self.assertFalse(self.stack.log_lines("unknown[192.0.2.1]", "smtpd"))

    def test_garbage_header_closed_without_reply(self):
        c = self.proxied(b"EHLO spammer.test\r\n")
        try:
            took = self.assert_closed_silently(c, 0)
            self.assertLess(took, 1.5)  # at once, not at the timeout
        finally:
            c.close()
        self.wait_log("warning: haproxy read: not a PROXY protocol header: "
                      "EHLO spammer.test")
        self.wait_log("lost connection after CONNECT from unknown[unknown]")
        # a v1 header with a bad address
        c = self.proxied(b"PROXY TCP4 999.1.1.1 127.0.0.1 1 25\r\n")
        try:
            self.assert_closed_silently(c, 0)
        finally:
            c.close()
        self.wait_log("haproxy read: v1 header has a bad address")
        # v2 announcing more than the limit
        c = self.proxied(V2_SIG + b"\x21\x11\xff\xff")
        try:
            self.assert_closed_silently(c, 0)
        finally:
            c.close()
        self.wait_log("haproxy read: v2 header too long")

    def test_over_long_v1_closed(self):
        c = self.proxied(b"PROXY UNKNOWN " + b"A" * 200)
        try:
            self.assert_closed_silently(c, 0)
        finally:
            c.close()
        self.wait_log("haproxy read: v1 header too long")

    def test_slow_client_closed_after_timeout(self):
        c = self.proxied(b"PROXY TCP4 192.0.2.")
        try:
            took = self.assert_closed_silently(c, 2)
            self.assertGreater(took, 1.5)
            self.assertLess(took, 5)
        finally:
            c.close()
        self.wait_log("warning: haproxy read: time limit exceeded: "
                      "PROXY TCP4 192.0.2.")

    def test_eof_before_header(self):
        c = self.proxied(b"PROXY TCP4")
        c.sock.shutdown(socket.SHUT_WR)
        try:
            self.assert_closed_silently(c, 0)
        finally:
            c.close()
        self.wait_log("warning: haproxy read: lost connection")

    def test_swaks_without_header_closed(self):
        t0 = time.time()
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(self.stack.smtp_port),
             "--from", "sender@client.test", "--to", "alice@example.test",
             "--helo", "client.test", "--timeout", "20"],
            capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertNotIn("220 ", out.stdout)
        self.assertLess(time.time() - t0, 10)
        self.wait_log("warning: haproxy read: time limit exceeded")


class ProxyWrapperTest(StackTest):
    """Implicit TLS behind a proxy: the header comes before the
    handshake, in clear."""

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="pmproxy-")
        cls.ca = tlscerts.make_ca(cls.certdir)
        chain = tlscerts.make_chain(cls.certdir, cls.ca, NAME, "rsa")
        cls.PARAMS = {
            "smtpd_upstream_proxy_protocol": "haproxy",
            "smtpd_tls_wrappermode": "yes",
            "smtpd_tls_chain_files": chain,
        }
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certdir, ignore_errors=True)

    def test_header_then_tls(self):
        ctx = ssl.create_default_context(cafile=self.ca[0])
        for hdr, addr in ((v1_header("198.51.100.44", 9, "127.0.0.1", 465),
                           "198.51.100.44"),
                          (v2_header("192.0.2.45", 9, "127.0.0.1", 465),
                           "192.0.2.45")):
            c = RawSMTP(self.stack.smtp_port)
            try:
                c.send(hdr)
                c.sock = ctx.wrap_socket(c.sock, server_hostname=NAME)
                self.assertEqual(c.reply()[0], 220)
                self.assertEqual(c.cmd("EHLO client.test")[0], 250)
                self.assertEqual(c.cmd("QUIT")[0], 221)
            finally:
                c.close()
            deadline = time.time() + 10
            while time.time() < deadline and not self.stack.log_lines(
                    "connect from unknown[%s]" % addr, "smtpd"):
                time.sleep(0.05)
            self.assertTrue(self.stack.log_lines(
                "connect from unknown[%s]" % addr, "smtpd"),
                self.stack.log("smtpd")[-2000:])
