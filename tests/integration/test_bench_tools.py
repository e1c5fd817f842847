"""The TLS benchmark tools (build/bench/tls-source, tls-sink) work.

scripts/bench-tls.sh (make bench) measures Postmesh and Postfix with
them; a tool that silently stopped encrypting, counted wrong or hung
would make the figures meaningless, and make bench runs rarely. Here,
with a test CA and certificates made by the openssl command: messages
over STARTTLS are counted by both tools (tls-sink with smtp-sink's -c
counters); session reuse and resumption; certificate name checks; a
sink with -E refuses plaintext MAIL; the sink discards commands
pipelined after STARTTLS; --idle holds sessions until signalled; an
over-long command line gets 500 and a disconnect.

The tools are looked for next to $PM_BIN (build/asan/bench under
`make test` when built with SAN=1), else in build/bench (`make all`).
"""

import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from pmtest import free_port, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))


def tool(name):
    pm_bin = os.environ.get("PM_BIN", "build/bin")
    if not os.path.isabs(pm_bin):
        pm_bin = os.path.join(TOP, pm_bin)
    for d in (os.path.join(pm_bin, "..", "bench"),
              os.path.join(TOP, "build", "bench")):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    raise AssertionError("%s not built (make bench-tools)" % name)


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_certs(d):
    """ca.pem and sink.pem (key + certificate for sink.test)."""
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
       "-keyout", d + "/ca.key", "-out", d + "/ca.pem", "-days", "2",
       "-subj", "/CN=bench tools test CA")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
       d + "/sink.key", "-out", d + "/sink.csr", "-subj", "/CN=sink.test")
    with open(d + "/ext", "w") as f:
        f.write("subjectAltName=DNS:sink.test\n")
    sh("openssl", "x509", "-req", "-in", d + "/sink.csr", "-CA",
       d + "/ca.pem", "-CAkey", d + "/ca.key", "-CAcreateserial",
       "-days", "2", "-extfile", d + "/ext", "-out", d + "/sink.crt")
    with open(d + "/sink.pem", "w") as out:
        for part in ("sink.key", "sink.crt"):
            with open(d + "/" + part) as f:
                out.write(f.read())


class BenchToolsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        make_certs(cls.dir)
        cls.source = tool("tls-source")
        cls.sink_bin = tool("tls-sink")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.sinks = []

    def tearDown(self):
        for p in self.sinks:
            if p.poll() is None:
                p.kill()
                p.wait()

    def start_sink(self, *opts):
        """A tls-sink on a free port; returns (port, counter file)."""
        port = free_port()
        counts = os.path.join(self.dir, "sink-%d.out" % port)
        with open(counts, "wb") as out:
            p = subprocess.Popen(
                [self.sink_bin, "-K", self.dir + "/sink.pem", "-c",
                 "-H", "sink.test"] + list(opts) + ["127.0.0.1:%d" % port],
                stdout=out, stderr=subprocess.PIPE)
        self.sinks.append(p)
        wait_port(port, proc=p)
        return port, counts, p

    def stop_sink(self, p):
        """SIGTERM; the summary line the sink writes to stderr."""
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        return err.decode()

    def run_source(self, port, *opts, timeout=60):
        r = subprocess.run(
            [self.source, "-w", "20", "-v"] + list(opts) +
            ["127.0.0.1:%d" % port],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return r.returncode, r.stdout.decode(), r.stderr.decode()

    @staticmethod
    def last_count(path):
        """mesg= of the last complete smtp-sink -c record."""
        with open(path, "rb") as f:
            recs = f.read().split(b"\r")[:-1]
        return int(recs[-1].rsplit(b"mesg=", 1)[1]) if recs else 0

    def test_messages_over_starttls_counted(self):
        port, counts, sink = self.start_sink("-E")
        rc, out, err = self.run_source(
            port, "-s", "5", "-m", "60", "-l", "3000", "-N", "0", "-r", "2",
            "-C", self.dir + "/ca.pem", "-V", "sink.test")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("60 messages: 60 ok, 0 failed; 5 sessions, "
                      "5 TLS handshakes", out)
        self.assertIn("TLSv1.3 with cipher", out)
        self.assertEqual(self.last_count(counts), 60)
        summary = self.stop_sink(sink)
        self.assertIn("5 TLS handshakes (0 resumed, 0 failed), 60 messages, "
                      "0 MAIL refused without TLS", summary)

    def test_resumption(self):
        port, counts, sink = self.start_sink()
        rc, out, err = self.run_source(port, "-s", "1", "-m", "5", "-N", "1",
                                       "-R")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("5 sessions, 5 TLS handshakes (4 resumed)", out)
        self.assertIn("(4 resumed, 0 failed)", self.stop_sink(sink))

    def test_plaintext_refused_by_E_and_accepted_without(self):
        port, counts, sink = self.start_sink("-E")
        rc, out, err = self.run_source(port, "-P", "-s", "2", "-m", "3")
        self.assertEqual(rc, 1, out)
        self.assertIn("3 messages: 0 ok, 3 failed", out)
        self.assertIn("MAIL not 250", err)
        self.assertIn("3 MAIL refused without TLS", self.stop_sink(sink))
        port, counts, sink = self.start_sink()
        rc, out, err = self.run_source(port, "-P", "-s", "2", "-m", "3")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("no TLS", out)
        self.assertEqual(self.last_count(counts), 3)

    def test_wrong_name_fails_verification(self):
        port, counts, sink = self.start_sink()
        rc, out, err = self.run_source(port, "-s", "1", "-m", "2", "-C",
                                       self.dir + "/ca.pem", "-V", "other.test")
        self.assertEqual(rc, 1, out)
        self.assertIn("0 ok, 2 failed", out)
        self.assertIn("certificate verify failed", err)

    def test_sink_discards_commands_pipelined_with_starttls(self):
        port, counts, sink = self.start_sink()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220 "))
        s.sendall(b"EHLO x\r\nSTARTTLS\r\nHELO injected\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        self.assertTrue(f.readline().startswith(b"220 2.0.0"))
        ctx = ssl.create_default_context(cafile=self.dir + "/ca.pem")
        t = ctx.wrap_socket(s, server_hostname="sink.test")
        t.sendall(b"NOOP\r\n")
        tf = t.makefile("rb")
        # only the NOOP's reply: the HELO sent before TLS was dropped
        self.assertEqual(tf.readline(), b"250 2.0.0 Ok\r\n")
        t.sendall(b"QUIT\r\n")
        self.assertTrue(tf.readline().startswith(b"221 "))
        t.close()

    def test_overlong_command_line(self):
        port, counts, sink = self.start_sink()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"NOOP " + b"x" * 5000 + b"\r\n")
        self.assertTrue(f.readline().startswith(b"500 "))
        try:
            rest = f.readline()
        except ConnectionResetError:  # closed with input unread
            rest = b""
        self.assertEqual(rest, b"")
        s.close()

    def test_long_content_lines(self):
        """Message lines longer than the buffer are read in pieces; a
        "." inside such a line does not end the message."""
        port, counts, sink = self.start_sink()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
                  b"DATA\r\n")
        for _ in range(4):
            f.readline()
        s.sendall(b"x" * 20000 + b"\r\n" + b"y" * 4095 + b".\r\n"
                  + b"." + b"z" * 9000 + b"\r\n.\r\n")
        self.assertTrue(f.readline().startswith(b"250 2.0.0 Ok: queued"))
        s.sendall(b"QUIT\r\n")
        self.assertTrue(f.readline().startswith(b"221 "))
        s.close()
        self.assertIn("1 messages", self.stop_sink(sink))

    def test_idle_sessions_held_until_signal(self):
        port, counts, sink = self.start_sink()
        p = subprocess.Popen([self.source, "--idle", "30", "-s", "10",
                              "127.0.0.1:%d" % port],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            self.assertEqual(line, "tls-source: idle: 30 established, "
                             "0 failed\n")
            time.sleep(0.3)
            self.assertIsNone(p.poll())
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("30 established, 0 failed, 0 dropped while idle; "
                      "30 TLS handshakes", out.decode())
        self.assertIn("30 TLS handshakes", self.stop_sink(sink))


if __name__ == "__main__":
    unittest.main()
