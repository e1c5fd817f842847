"""smtpd TLS: STARTTLS, implicit TLS (wrappermode), the Received: header
and logs, CVE-2011-0411, session reset, RSA and ECDSA chains, session
tickets shared by two smtpd processes through Redis, certificate reload
on SIGHUP, handshake failures and their metrics.

Certificates are made here with the openssl command (tlscerts.py): a
test CA, an RSA and an ECDSA server chain. Clients: swaks --tls/--tlsc,
openssl s_client, and Python's ssl module on a raw socket where the
exact bytes matter.
"""

import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import pmtest
from pmtest import RawSMTP, StackTest, free_port, queue_id_of, wait_port
import tlscerts

NAME = "mx.example.test"


def client_ctx(ca, check_hostname=True):
    """Verifies the chain; smtplib names the server by its address, so
    it checks the chain without the name."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = check_hostname
    return ctx


def s_client(port, *extra, starttls=True, stdin=b"QUIT\n", timeout=30):
    """openssl s_client; -crlf turns the LF of stdin into CRLF."""
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
            "-servername", NAME, "-crlf"]
    if starttls:
        args += ["-starttls", "smtp"]
    out = subprocess.run(args + list(extra), input=stdin,
                         capture_output=True, timeout=timeout)
    return out.stdout.decode("utf-8", "replace") + out.stderr.decode(
        "utf-8", "replace")


def metric(text, name, labels=""):
    for line in text.splitlines():
        if line.startswith("postmesh_" + name + labels + " ") or (
                not labels and line.startswith("postmesh_" + name + " ")):
            return float(line.split()[-1])
    return 0.0


def message(subject):
    return ("From: <sender@client.test>\r\nTo: <alice@example.test>\r\n"
            "Subject: %s\r\n\r\nHello over TLS.\r\n" % subject).encode()


class TlsStackTest(StackTest):
    """A stack whose smtpd has the test certificates (made first)."""

    LEVEL = "may"
    EXTRA = {}

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="pmtls-")
        cls.ca = tlscerts.make_ca(cls.certdir)
        cls.rsa = tlscerts.make_chain(cls.certdir, cls.ca, NAME, "rsa")
        cls.ecdsa = tlscerts.make_chain(cls.certdir, cls.ca, NAME, "ecdsa")
        cls.PARAMS = dict({
            "smtpd_tls_security_level": cls.LEVEL,
            "smtpd_tls_chain_files": "%s, %s" % (cls.rsa, cls.ecdsa),
            "smtpd_tls_loglevel": "1",
            "smtpd_tls_received_header": "yes",
        }, **cls.EXTRA)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certdir, ignore_errors=True)

    def wait_log(self, pattern, timeout=15, names=("smtpd",), count=1):
        deadline = time.time() + timeout
        while time.time() < deadline:
            lines = self.stack.log_lines(pattern, *names)
            if len(lines) >= count:
                return lines
            time.sleep(0.05)
        self.fail("no %r in the log:\n%s" % (pattern, self.stack.log(*names)[-3000:]))

    def wait_file(self, log, text, timeout=30):
        """Wait for text in the log file of an extra smtpd."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(log, errors="replace") as f:
                if text in f.read():
                    return
            time.sleep(0.1)
        with open(log, errors="replace") as f:
            self.fail("no %r in:\n%s" % (text, f.read()[-2000:]))

    def start_tls(self, c):
        """STARTTLS on a RawSMTP, wrap its socket (verified)."""
        code, lines = c.cmd("STARTTLS")
        self.assertEqual(code, 220, lines)
        self.assertEqual(lines, ["220 2.0.0 Ready to start TLS"])
        c.sock = client_ctx(self.ca[0]).wrap_socket(c.sock,
                                                   server_hostname=NAME)
        return c

    def extra_smtpd(self, *opts):
        """Another smtpd process on the same main.cf, with -o overrides;
        returns (proc, port, metrics_port, log path)."""
        port, mport = free_port(), free_port()
        log = os.path.join(self.stack.tmp, "smtpd-%d.log" % port)
        out = open(log, "ab")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        args = [os.path.join(pmtest.BIN, "smtpd"), "-c", self.stack.conf,
                "-o", "smtpd_listen=127.0.0.1:%d" % port,
                "-o", "smtpd_metrics_listen=http://127.0.0.1:%d" % mport]
        for o in opts:
            args += ["-o", o]
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                env=env)
        out.close()
        wait_port(port, proc=proc)
        self.addCleanup(self.stop_extra, proc, log)
        return proc, port, mport, log

    def stop_extra(self, proc, log):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with open(log, errors="replace") as f:
            text = f.read()
        for mark in pmtest.SANITIZER_MARKS:
            self.assertNotIn(mark, text, text[-3000:])


class SmtpdTlsTest(TlsStackTest):

    def test_swaks_tls_received_header(self):
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port",
             str(self.stack.smtp_port), "--tls", "--from",
             "sender@client.test", "--to", "alice@example.test", "--helo",
             "client.test", "--data", message("swaks tls").decode()],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("250-STARTTLS", out.stdout)
        self.assertIn("221 2.0.0 Bye", out.stdout)
        qid = queue_id_of([l for l in out.stdout.splitlines()
                           if "queued as" in l])
        env, rr, body = self.assertQueued(qid, message("swaks tls") + b"\r\n",
                                          sender="sender@client.test",
                                          rcpts=["alice@example.test"])
        self.assertRegex(body.decode(),
                         r"Received: from client\.test \(unknown \[127\.0\.0\.1\]\)\r\n"
                         r"\t\(using TLSv1\.3 with cipher TLS_\w+ \(\d+/\d+ bits\)"
                         r" key-exchange \w+\)\r\n"
                         r"\t\(No client certificate requested\)\r\n"
                         r"\tby mx\.example\.test \(Postmesh\) with ESMTPS id " + qid)
        self.wait_log("Anonymous TLS connection established from "
                      "unknown[127.0.0.1]: TLSv1.3 with cipher")
        lines = self.wait_log(" starttls=1 ")
        self.assertIn("ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1", lines[-1])
        m = self.stack.metrics("smtpd")
        self.assertGreaterEqual(metric(m, "smtpd_tls_handshakes_total",
                                       '{outcome="success",protocol="TLSv1.3"}'), 1)

    def test_rsa_and_ecdsa_chains(self):
        out = s_client(self.stack.smtp_port, "-sigalgs", "rsa_pss_rsae_sha256",
                       "-CAfile", self.ca[0], "-verify_return_error")
        self.assertIn("O = Postmesh RSA, CN = mx.example.test", out)
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertIn("Server public key is 2048 bit", out)
        out = s_client(self.stack.smtp_port, "-sigalgs", "ecdsa_secp256r1_sha256",
                       "-CAfile", self.ca[0], "-verify_return_error")
        self.assertIn("O = Postmesh ECDSA, CN = mx.example.test", out)
        self.assertIn("Server public key is 256 bit", out)
        self.assertIn("Verify return code: 0 (ok)", out)

    def test_starttls_twice_and_reset(self):
        c = RawSMTP(self.stack.smtp_port)
        try:
            self.assertEqual(c.reply()[0], 220)
            code, lines = c.cmd("EHLO client.test")
            self.assertIn("250-STARTTLS", lines)
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
            self.start_tls(c)
            # RFC 3207: the server forgot EHLO and the transaction
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>"),
                             (503, ["503 5.5.1 Error: send HELO/EHLO first"]))
            code, lines = c.cmd("EHLO client.test")
            self.assertEqual(code, 250)
            self.assertNotIn("250-STARTTLS", lines)
            self.assertEqual(c.cmd("STARTTLS"),
                             (554, ["554 5.5.1 Error: TLS already active"]))
            self.assertEqual(c.cmd("STARTTLS now")[0], 501)
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()

    def test_injection_after_starttls_is_discarded(self):
        """CVE-2011-0411: "STARTTLS\\r\\nRSET\\r\\n" in one write: the RSET
        is plaintext injected before the handshake and is never run."""
        c = RawSMTP(self.stack.smtp_port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            c.send(b"STARTTLS\r\nRSET\r\n")
            self.assertEqual(c.reply(), (220, ["220 2.0.0 Ready to start TLS"]))
            self.assertEqual(c.buf, b"")
            c.sock = client_ctx(self.ca[0]).wrap_socket(c.sock,
                                                       server_hostname=NAME)
            # nothing may come before a command of ours
            c.sock.settimeout(1.0)
            with self.assertRaises((socket.timeout, TimeoutError)):
                data = c.sock.recv(1000)
                self.fail("server sent %r after the handshake" % data)
            c.sock.settimeout(20)
            code, lines = c.cmd("NOOP")
            self.assertEqual((code, lines), (250, ["250 2.0.0 Ok"]))
            self.assertEqual(c.cmd("QUIT")[0], 221)
        finally:
            c.close()
        self.wait_log("some plaintext octets after STARTTLS from "
                      "unknown[127.0.0.1] discarded")
        # RSET never ran: only the commands made under TLS are counted
        self.wait_log("disconnect from unknown[127.0.0.1] ehlo=1 starttls=1 "
                      "noop=1 quit=1 commands=4")

    def test_handshake_failure_tls11(self):
        before = metric(self.stack.metrics("smtpd"), "smtpd_tls_handshakes_total",
                        '{outcome="failure",protocol="TLSv1.1"}')
        out = s_client(self.stack.smtp_port, "-tls1_1", "-cipher",
                       "DEFAULT:@SECLEVEL=0")
        self.assertNotIn("Cipher is TLS", out)
        self.wait_log("SSL_accept error from unknown[127.0.0.1]: ")
        lines = self.stack.log_lines("SSL_accept error", "smtpd")
        self.assertTrue(any("protocol" in l for l in lines), lines)
        self.wait_log("lost connection after STARTTLS from unknown[127.0.0.1]")
        self.assertTrue(any(" starttls=0/1 " in l for l in
                            self.stack.log_lines("disconnect from", "smtpd")))
        after = metric(self.stack.metrics("smtpd"), "smtpd_tls_handshakes_total",
                       '{outcome="failure",protocol="TLSv1.1"}')
        self.assertEqual(after, before + 1)
        # the server lives on
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as s:
            s.starttls(context=client_ctx(self.ca[0], False))
            self.assertEqual(s.ehlo("client.test")[0], 250)

    def test_resumption_on_another_smtpd(self):
        """A ticket from this smtpd resumes on a second smtpd process:
        both read the ticket keys from Redis."""
        proc, port, mport, log = self.extra_smtpd()
        self.wait_file(log, "TLS session ticket keys loaded from Redis")
        sess = os.path.join(self.stack.tmp, "sess.pem")
        # -ign_eof: read until the 221, so the ticket (sent after the
        # handshake in TLSv1.3) is in the session file
        out = s_client(self.stack.smtp_port, "-sess_out", sess, "-ign_eof")
        self.assertIn("New, TLSv1.3", out)
        self.assertTrue(os.path.exists(sess), out)
        out = s_client(port, "-sess_in", sess, "-ign_eof")
        self.assertIn("Reused, TLSv1.3", out)
        with urllib_open(mport) as text:
            self.assertEqual(metric(text, "smtpd_tls_resumed_total"), 1)
        h = self.stack.r().hgetall("pm:tls:ticket")
        self.assertEqual(len(h[b"cur"]), 160)
        self.assertLessEqual(self.stack.r().ttl("pm:tls:ticket"), 2 * 3600 + 60)

    def test_level_none(self):
        proc, port, mport, log = self.extra_smtpd("smtpd_tls_security_level=none")
        c = RawSMTP(port)
        try:
            self.assertEqual(c.reply()[0], 220)
            code, lines = c.cmd("EHLO client.test")
            self.assertEqual(code, 250)
            self.assertNotIn("250-STARTTLS", lines)
            self.assertEqual(c.cmd("STARTTLS"), (502, [
                "502 5.5.1 Error: command not implemented"]))
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
        finally:
            c.close()

    def test_wrappermode(self):
        proc, port, mport, log = self.extra_smtpd("smtpd_tls_wrappermode=yes")
        out = s_client(port, "-CAfile", self.ca[0], "-ign_eof", starttls=False)
        self.assertIn("220 mx.example.test ESMTP", out)
        self.assertIn("221 2.0.0 Bye", out)
        self.assertIn("Verify return code: 0 (ok)", out)
        # close_notify after the 221, not a bare TCP close
        self.assertNotIn("unexpected eof", out)
        c = RawSMTP(port)
        try:
            c.sock = client_ctx(self.ca[0]).wrap_socket(c.sock,
                                                       server_hostname=NAME)
            self.assertEqual(c.reply()[0], 220)
            code, lines = c.cmd("EHLO client.test")
            self.assertIn("250-PIPELINING", lines)
            self.assertNotIn("250-STARTTLS", lines)
            self.assertEqual(c.cmd("STARTTLS")[0], 554)
        finally:
            c.close()
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(port), "--tlsc",
             "--from", "sender@client.test", "--to", "alice@example.test",
             "--helo", "client.test", "--data", message("wrapper").decode()],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        qid = queue_id_of([l for l in out.stdout.splitlines()
                           if "queued as" in l])
        env, rr, body = self.assertQueued(qid, message("wrapper") + b"\r\n")
        self.assertIn(b"with ESMTPS id " + qid.encode(), body)
        # plaintext on the wrapper port gets no greeting
        c = RawSMTP(port, timeout=5)
        try:
            c.send(b"EHLO client.test\r\n")
            self.assertTrue(c.closed(10))
            self.assertFalse(c.buf.startswith(b"220"), c.buf)
        finally:
            c.close()


def urllib_open(mport):
    import contextlib
    import urllib.request

    @contextlib.contextmanager
    def cm():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport,
                                    timeout=5) as r:
            yield r.read().decode()
    return cm()


class SmtpdTlsEncryptTest(TlsStackTest):
    LEVEL = "encrypt"
    EXTRA = {"smtpd_starttls_timeout": "1s", "smtpd_tls_loglevel": "2"}

    def test_handshake_timeout(self):
        c = RawSMTP(self.stack.smtp_port)
        try:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            t0 = time.time()
            self.assertTrue(c.closed(10))  # no ClientHello: closed
            self.assertLess(time.time() - t0, 8)
        finally:
            c.close()
        self.wait_log("SSL_accept error from unknown[127.0.0.1]: timeout "
                      "(smtpd_starttls_timeout 1s)")

    def test_mail_before_starttls_refused(self):
        c = RawSMTP(self.stack.smtp_port)
        try:
            self.assertEqual(c.reply()[0], 220)
            code, lines = c.cmd("EHLO client.test")
            self.assertIn("250-STARTTLS", lines)
            for cmd in ("MAIL FROM:<a@client.test>", "RCPT TO:<alice@example.test>",
                        "DATA", "VRFY alice"):
                self.assertEqual(c.cmd(cmd), (530, [
                    "530 5.7.0 Must issue a STARTTLS command first"]), cmd)
            self.assertEqual(c.cmd("NOOP")[0], 250)
            self.assertEqual(c.cmd("RSET")[0], 250)
            self.start_tls(c)
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<a@client.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(message("encrypt") + b".\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
            self.assertQueued(queue_id_of(lines), message("encrypt"))
        finally:
            c.close()
        # smtpd_tls_loglevel 2: the handshake states
        self.wait_log("unknown[127.0.0.1]: SSL_accept:SSLv3/TLS write server hello")


class SmtpdTlsTicketRedisTest(TlsStackTest):
    """Ticket keys when Redis goes away and comes back."""

    def test_redis_outage(self):
        sess = os.path.join(self.stack.tmp, "sess.pem")
        out = s_client(self.stack.smtp_port, "-sess_out", sess, "-ign_eof")
        self.assertIn("New, TLSv1.3", out)
        self.stack.redis.stop()
        # the keys already loaded go on working
        out = s_client(self.stack.smtp_port, "-sess_in", sess, "-ign_eof")
        self.assertIn("Reused, TLSv1.3", out)
        # a fresh smtpd without keys: full handshakes, never a failure
        proc, port, mport, log = self.extra_smtpd()
        out = s_client(port, "-sess_in", sess, "-ign_eof")
        self.assertIn("New, TLSv1.3", out)
        self.assertIn("221 2.0.0 Bye", out)

        self.wait_file(log, "no session tickets until it answers")
        # Redis back (same data): the fresh smtpd loads the shared keys
        self.stack.redis.start()
        self.wait_file(log, "TLS session ticket keys loaded from Redis")
        out = s_client(port, "-sess_in", sess, "-ign_eof")
        self.assertIn("Reused, TLSv1.3", out)


class SmtpdTlsRotationTest(TlsStackTest):
    EXTRA = {"smtpd_tls_session_cache_timeout": "2s"}

    def test_keys_rotate_in_redis(self):
        r = self.stack.r()
        deadline = time.time() + 10
        while not r.hget("pm:tls:ticket", "cur") and time.time() < deadline:
            time.sleep(0.05)
        cur0 = r.hget("pm:tls:ticket", "cur")
        self.assertEqual(len(cur0), 160)
        while time.time() < deadline:
            h = r.hgetall("pm:tls:ticket")
            if h[b"cur"] != cur0:
                break
            time.sleep(0.1)
        # one rotation: the old current key is the previous one
        self.assertNotEqual(h[b"cur"], cur0)
        self.assertEqual(h[b"prev"], cur0)
        self.assertLessEqual(r.ttl("pm:tls:ticket"), 2 * 2 + 60)
        self.wait_log("TLS session ticket keys rotated from Redis")
        # TLS keeps working across rotations
        out = s_client(self.stack.smtp_port, "-ign_eof")
        self.assertIn("221 2.0.0 Bye", out)


class SmtpdTlsClientCertTest(TlsStackTest):
    """smtpd_tls_ask_ccert: asked, never required; verdict logged."""

    @classmethod
    def setUpClass(cls):
        cls.EXTRA = {"smtpd_tls_ask_ccert": "yes"}
        super().setUpClass()
        cls.client = tlscerts.make_chain(cls.certdir, cls.ca, "client.test",
                                         "ecdsa", tag="client")
        other = tlscerts.make_ca(os.path.join(cls.certdir, "other"),
                                 cn="Other CA")
        cls.stranger = tlscerts.make_chain(os.path.join(cls.certdir, "other"),
                                           other, "stranger.test", "rsa")
        # the CA arrives by SIGHUP: the trust anchors reload too
        with open(cls.stack.conf + "/main.cf", "a") as f:
            f.write("smtpd_tls_CAfile = %s\n" % cls.ca[0])
        cls.stack.svcs["smtpd"].proc.send_signal(signal.SIGHUP)

    def send(self, certfile, subject):
        ctx = client_ctx(self.ca[0], False)
        if certfile:
            ctx.load_cert_chain(certfile)
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as s:
            s.starttls(context=ctx)
            s.ehlo("client.test")
            s.mail("sender@client.test")
            s.rcpt("alice@example.test")
            code, text = s.data(message(subject))
            self.assertEqual(code, 250, text)
        env, rr, body = self.assertQueued(queue_id_of(text.decode()),
                                          message(subject))
        return body.decode()

    def test_client_certificates(self):
        self.wait_log("reload: smtpd TLS certificates and keys read again")
        body = self.send(self.client, "trusted")
        self.assertIn('\t(Client CN "client.test", Issuer "Postmesh Test CA" '
                      '(verified OK))\r\n', body)
        self.wait_log("Trusted TLS connection established from unknown[127.0.0.1]: TLSv1.3")
        body = self.send(self.stranger, "untrusted")
        self.assertIn('\t(Client CN "stranger.test", Issuer "Other CA" '
                      '(not verified))\r\n', body)
        self.wait_log("Untrusted TLS connection established from")
        body = self.send(None, "anonymous")
        self.assertIn("\t(Client did not present a certificate)\r\n", body)
        self.wait_log("Anonymous TLS connection established from")


class SmtpdTlsReloadTest(TlsStackTest):

    def subject(self):
        return s_client(self.stack.smtp_port, "-sigalgs", "rsa_pss_rsae_sha256")

    def test_sighup_new_certificate_keeps_sessions(self):
        s = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        try:
            s.ehlo("client.test")
            s.starttls(context=client_ctx(self.ca[0], False))
            s.ehlo("client.test")
            self.assertIn("O = Postmesh RSA, CN", self.subject())
            # a new RSA certificate, same file
            tlscerts.make_chain(self.certdir, self.ca, NAME, "rsa",
                                org="Postmesh Renewed")
            self.stack.svcs["smtpd"].proc.send_signal(signal.SIGHUP)
            self.wait_log("reload: smtpd TLS certificates and keys read again")
            self.assertIn("O = Postmesh Renewed, CN = mx.example.test",
                          self.subject())
            # the session made before the reload goes on
            s.mail("sender@client.test")
            s.rcpt("alice@example.test")
            code, text = s.data(message("after reload"))
            self.assertEqual(code, 250, text)
            self.assertQueued(queue_id_of(text.decode()), message("after reload"))
            # a bad file: the running certificates stay
            with open(self.rsa, "w") as f:
                f.write("not a PEM file\n")
            self.stack.svcs["smtpd"].proc.send_signal(signal.SIGHUP)
            self.wait_log("keeping the certificates and keys in use")
            self.assertIn("O = Postmesh Renewed, CN = mx.example.test",
                          self.subject())
            s.quit()
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main()
