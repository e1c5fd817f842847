"""smtpd TLS: a client whose EHLO travels in the same TCP segment as its
TLS Finished message (TLSv1.3 allows it, and a fast client does it).

libevent hands smtpd the decrypted EHLO before it reports the finished
handshake; smtpd must still reset its pre-TLS state first and answer
the EHLO after that, so that the following MAIL is accepted rather
than refused with 503 ("send HELO/EHLO first"). The client is Python's
ssl with memory BIOs, so the test decides exactly what goes into each
write on the socket.
"""

import shutil
import socket
import ssl
import tempfile
import unittest

import tlscerts
from pmtest import StackTest

NAME = "mx.example.test"


def read_reply(sock_read):
    """Lines up to the last line of one reply: (code, lines)."""
    lines = []
    while True:
        line = sock_read()
        lines.append(line)
        if len(line) < 4 or line[3:4] != "-":
            return int(line[:3]), lines


class TlsFinishedWithEhloTest(StackTest):

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="pmtlsrace-")
        cls.ca = tlscerts.make_ca(cls.certdir)
        chain = tlscerts.make_chain(cls.certdir, cls.ca, NAME, "ecdsa")
        cls.PARAMS = {"smtpd_tls_security_level": "may",
                      "smtpd_tls_chain_files": chain}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certdir, ignore_errors=True)

    def one_session(self):
        sock = socket.create_connection(("127.0.0.1", self.stack.smtp_port),
                                        timeout=20)
        plain = sock.makefile("rb")

        def plain_line():
            return plain.readline().decode().rstrip("\r\n")

        try:
            self.assertEqual(read_reply(plain_line)[0], 220)
            sock.sendall(b"EHLO client.test\r\n")
            self.assertEqual(read_reply(plain_line)[0], 250)
            sock.sendall(b"STARTTLS\r\n")
            self.assertEqual(read_reply(plain_line)[0], 220)
            ctx = ssl.create_default_context(cafile=self.ca[0])
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = ctx.wrap_bio(inc, out, server_hostname=NAME)
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if out.pending:
                        sock.sendall(out.read())
                    data = sock.recv(65536)
                    self.assertTrue(data, "server closed in the handshake")
                    inc.write(data)
            # Finished and EHLO in one write on the socket
            tls.write(b"EHLO client.test\r\n")
            sock.sendall(out.read())
            buf = b""

            def tls_line():
                nonlocal buf
                while b"\n" not in buf:
                    try:
                        buf += tls.read(65536)
                    except ssl.SSLWantReadError:
                        data = sock.recv(65536)
                        self.assertTrue(data, "server closed after TLS")
                        inc.write(data)
                line, buf = buf.split(b"\n", 1)
                return line.decode().rstrip("\r")

            code, lines = read_reply(tls_line)
            self.assertEqual(code, 250, lines)
            tls.write(b"MAIL FROM:<sender@client.test>\r\n")
            sock.sendall(out.read())
            code, lines = read_reply(tls_line)
            self.assertEqual(code, 250, lines)
            tls.write(b"QUIT\r\n")
            sock.sendall(out.read())
            self.assertEqual(read_reply(tls_line)[0], 221)
        finally:
            plain.close()
            sock.close()

    def test_ehlo_with_finished_then_mail(self):
        for _ in range(20):
            self.one_session()
        log = self.stack.log("smtpd")
        self.assertEqual(log.count("Anonymous TLS connection established"),
                         20, log[-3000:])


if __name__ == "__main__":
    unittest.main()
