"""The smtp client's STARTTLS against a real Postfix smtpd (issue 9, 3-5).

A test CA and server certificates are made by the openssl command at
the start. One private Postfix 3.7 (postfix_peer.Postfix, with tlsmgr
added for session tickets) listens on one port of several loopback
addresses, each listener with its own TLS settings, and relays what
it accepts to an smtp-sink; dnsmasq serves the MX records. Postmesh's
smtp client runs with smtp_tls_security_level = may, the test CA as
smtp_tls_CAfile, and smtp_tls_policy_maps choosing a level per
destination:

- verify: the certificate of mx.good.test (signed by the test CA)
  verifies; Postmesh logs "Verified TLS connection established to
  mx.good.test[127.0.0.1]:P: TLSv1.3 with cipher ..." and the
  per-delivery TLS line; Postfix logs the TLS connection.
- verify, wrong name: the server's certificate (same CA) is for
  another name; the message is deferred ("Server certificate not
  verified"), the reason is logged ("server certificate verification
  failed ... hostname mismatch"), and no MAIL FROM reaches Postfix.
- secure with match=.good.test: verified against a parent domain.
- may with a server certificate from the test CA: "Trusted TLS
  connection established" (no name required).
- may, no STARTTLS offered: delivered in plaintext, logged as such.
- STARTTLS refused (a second Postfix, without tlsmgr and its key:
  454): plaintext under may, deferred under encrypt (a policy keyed by
  the "[host]:port" nexthop of transport_maps).
- encrypt, no STARTTLS offered: deferred "TLS is required, but was not
  offered by host ...", nothing delivered.
- a server that answers 220 to STARTTLS and then stalls: the handshake
  ends after smtp_starttls_timeout, deferred.
- may, handshake failure (policy protocols=TLSv1.3 against a server
  limited to <=TLSv1.2): a new connection in plaintext delivers it
  (Postfix sees two sessions, only the second with MAIL).
- connection cache: two messages over one TLS connection: one
  handshake (metric and Postfix's "starttls=1 mail=2").
- resumption: two nexthops on the same server and policy: the second
  connection resumes the first one's TLS session
  (postmesh_smtp_tls_sessions_resumed_total).
- resumption checks the name (verify, no SNI): after a verified
  delivery to atk.test (MX mx.good.test, the certificate's name), a
  job for bank.test (transport_maps [mx.bank.test]:P, the same address
  and port, the same policy attributes) must not resume that session
  and is deferred "Server certificate not verified" (hostname
  mismatch), never delivered; atk2.test (MX mx.good.test too) still
  resumes it.
"""

import os
import re
import socket
import subprocess
import threading
import time
import unittest

from peers import Dns, SmtpSink
from pmtest import DeliveryTest, free_port
from postfix_peer import Postfix

SENDER = "sender@notices.test"


def message(mid):
    return (b"From: <" + SENDER.encode() + b">\r\n"
            b"To: <rcpt@peer.test>\r\n"
            b"Subject: tls peer\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 02 Dec 2026 04:00:00 +0000\r\n"
            b"\r\n"
            b"a line of the body\r\n")


def openssl(cwd, *args):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_ca(d):
    """A test CA and two server chains (key, then cert) signed by it."""
    os.makedirs(d, exist_ok=True)
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
            "2", "-subj", "/CN=Postmesh Test CA", "-keyout", "ca.key",
            "-out", "ca.crt", "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign")
    for name, dns in (("good", "mx.good.test"),
                      ("wrong", "wrong.name.test")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:%s\n"
                    "extendedKeyUsage=serverAuth\n" % dns)
        openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-subj",
                "/CN=" + dns, "-keyout", name + ".key", "-out",
                name + ".csr")
        openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
                "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                "-extfile", name + ".ext", "-out", name + ".crt")
        with open(os.path.join(d, name + ".pem"), "w") as out:
            for part in (name + ".key", name + ".crt"):
                with open(os.path.join(d, part)) as f:
                    out.write(f.read())
    return d


class StallServer:
    """A hostile SMTP server: offers STARTTLS, answers 220 to it, then
    never speaks TLS. Records, per connection, when STARTTLS came and
    when the client closed."""

    def __init__(self, host="127.0.0.8"):
        self.host = host
        self.port = free_port(host)
        self.sock = None
        self.conns = []   # [starttls time, close time]
        self.lock = threading.Lock()

    def start(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        rec = [None, None]
        with self.lock:
            self.conns.append(rec)
        f = c.makefile("rb")
        try:
            c.sendall(b"220 stall.test ESMTP\r\n")
            for line in f:
                cmd = line.strip().upper()
                if cmd.startswith(b"EHLO"):
                    c.sendall(b"250-stall.test\r\n250 STARTTLS\r\n")
                elif cmd == b"STARTTLS":
                    c.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    rec[0] = time.monotonic()
                    while c.recv(4096):
                        pass    # the ClientHello, never answered
                    break
                else:
                    c.sendall(b"221 bye\r\n")
                    break
        except OSError:
            pass
        finally:
            rec[1] = time.monotonic()
            f.close()
            c.close()

    def stop(self):
        if self.sock is not None:
            self.sock.close()
        return 0


class TlsPostfix(Postfix):
    """The private Postfix with tlsmgr (TLS session ticket keys)."""

    def _write_config(self):
        etc = super()._write_config()
        with open(os.path.join(etc, "master.cf"), "a") as f:
            f.write("tlsmgr     unix  - - n 1000? 1 tlsmgr\n")
        return etc


def tls_listener(chain, **extra):
    o = {"smtpd_tls_security_level": "may",
         "smtpd_tls_chain_files": chain,
         "smtpd_tls_loglevel": "1"}
    o.update(extra)
    return o


class SmtpTlsTest(DeliveryTest):
    """Postmesh's smtp client with STARTTLS against Postfix listeners."""

    PARAMS = {"smtp_connection_cache_time_limit": "5s",
              "smtp_starttls_timeout": "2s"}

    @classmethod
    def start_peers(cls, workdir):
        ca = make_ca(os.path.join(workdir, "ca"))
        good = os.path.join(ca, "good.pem")
        wrong = os.path.join(ca, "wrong.pem")
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        cls.port = free_port()
        listeners = {
            "good": ("127.0.0.1", tls_listener(good)),
            "wrong": ("127.0.0.2", tls_listener(wrong)),
            "notls": ("127.0.0.3", {"smtpd_tls_security_level": "none"}),
            "old": ("127.0.0.4", tls_listener(
                good, smtpd_tls_protocols="<=TLSv1.2",
                smtpd_tls_mandatory_protocols="<=TLSv1.2")),
            "reuse": ("127.0.0.5", tls_listener(good)),
            "res": ("127.0.0.6", tls_listener(good)),
        }
        cls.pf = TlsPostfix(workdir, cls.port, listeners, cls.sink.port)
        cls.peers.append(cls.pf)
        cls.pf.start()
        # a second Postfix without tlsmgr whose key is missing: it offers
        # STARTTLS and answers "454 4.7.0 TLS not available due to local
        # problem"; reached through transport_maps ([host]:port nexthops)
        cls.port2 = free_port("127.0.0.7")
        cls.pf2 = Postfix(workdir, cls.port2, {"refuse": ("127.0.0.7",
                          tls_listener(os.path.join(ca, "missing.pem")))},
                          cls.sink.port, name="postfix2")
        cls.peers.append(cls.pf2)
        cls.pf2.start()
        cls.stall = StallServer().start()
        cls.peers.append(cls.stall)
        mx = [("good.test", "mx.good.test", 10),
              ("sec.test", "mx.good.test", 10),
              ("may.test", "mx.good.test", 10),
              ("wrong.test", "mx.wrong.test", 10),
              ("notls.test", "mx.notls.test", 10),
              ("enc.test", "mx.notls.test", 10),
              ("old.test", "mx.old.test", 10),
              ("reuse.test", "mx.reuse.test", 10),
              ("res1.test", "mx.res.test", 10),
              ("res2.test", "mx.res.test", 10),
              ("atk.test", "mx.good.test", 10),
              ("atk2.test", "mx.good.test", 10)]
        a = [("mx.good.test", "127.0.0.1"), ("mx.wrong.test", "127.0.0.2"),
             ("mx.notls.test", "127.0.0.3"), ("mx.old.test", "127.0.0.4"),
             ("mx.reuse.test", "127.0.0.5"), ("mx.res.test", "127.0.0.6"),
             ("mx.refuse.test", "127.0.0.7"),
             ("mx2.refuse.test", "127.0.0.7"),
             ("mx.bank.test", "127.0.0.1")]
        cls.dns = Dns(workdir, mx=mx, a=a).start()
        cls.peers.append(cls.dns)
        policy = [
            "good.test=verify",
            "wrong.test=verify",
            "enc.test=encrypt",
            # by nexthop: refenc.test's transport is [mx2.refuse.test]:P
            "[mx2.refuse.test]:%d=encrypt" % cls.port2,
            "[127.0.0.8]:%d=encrypt" % cls.stall.port,
            "{ sec.test = secure match=.good.test }",
            "{ old.test = may protocols=TLSv1.3 }",
            "{ reuse.test = verify match=mx.good.test }",
            "{ res1.test = verify match=mx.good.test }",
            "{ res2.test = verify match=mx.good.test }",
            # no SNI: only the names to match tell these apart
            "{ atk.test = verify servername= }",
            "{ atk2.test = verify servername= }",
            "{ [mx.bank.test]:%d = verify servername= }" % cls.port,
            "notices.test=none",
        ]
        return {
            "transport_maps": "inline:{notices.test=smtp:[127.0.0.1]:%d, "
                              "refuse.test=smtp:[mx.refuse.test]:%d, "
                              "refenc.test=smtp:[mx2.refuse.test]:%d, "
                              "stall.test=smtp:[127.0.0.8]:%d, "
                              "bank.test=smtp:[mx.bank.test]:%d}"
                              % (cls.sink.port, cls.port2, cls.port2,
                                 cls.stall.port, cls.port),
            "dns_server": cls.dns.server_param,
            "smtp_tcp_port": str(cls.port),
            "smtp_tls_security_level": "may",
            "smtp_tls_CAfile": os.path.join(ca, "ca.crt"),
            "smtp_tls_servername": "hostname",
            "smtp_tls_policy_maps": "inline:{ %s }" % ", ".join(policy),
        }

    # helpers

    def at_sink(self, mid, n=1, timeout=30.0):
        tag = ("<%s@client.test>" % mid).encode()
        deadline = time.time() + timeout
        while True:
            got = [m for m in self.sink.messages()
                   if tag in m.content and m.sender != ""]
            if len(got) >= n or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(got), n, "%s: %d at the sink, want %d\n%s"
                         % (mid, len(got), n, self.logs_tail()))
        return got

    def agent_line(self, qid, rcpt, status, timeout=30.0):
        want = ("%s: to=<%s>, " % (qid, rcpt), "status=%s " % status)
        deadline = time.time() + timeout
        while True:
            lines = [ln for ln in self.stack.log_lines(want[0], "smtp")
                     if want[1] in ln]
            if lines or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertTrue(lines, "no smtp log line with %r\n%s"
                        % (want, self.logs_tail()))
        return lines[-1]

    def relay(self, host, addr):
        return "%s[%s]:%d" % (host, addr, self.port)

    def metric(self, name, **labels):
        """The value of one series of the smtp agent's /metrics."""
        text = self.stack.metrics("smtp")
        for ln in text.splitlines():
            if not ln.startswith("postmesh_" + name):
                continue
            m = re.match(r"([a-z_]+)(\{[^}]*\})? (\S+)$", ln)
            if m is None or m.group(1) != "postmesh_" + name:
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(m.group(3))
        return 0.0

    # verify

    def test_verify_delivers_over_verified_tls(self):
        before = self.metric("smtp_tls_handshakes_total",
                             outcome="success", protocol="TLSv1.3",
                             level="verify")
        qid = self.submit(SENDER, ["a@good.test"], message("verify-1"))
        self.agent_line(qid, "a@good.test", "sent")
        self.at_sink("verify-1")
        relay = self.relay("mx.good.test", "127.0.0.1")
        est = self.wait_log("Verified TLS connection established to %s: "
                            "TLSv1.3 with cipher " % relay, ["smtp"])
        self.assertRegex(est[0], r"\(\d+/\d+ bits\)")
        # the TLS of this delivery, on a line of its own
        self.wait_log("%s: relay=%s, tls=Verified TLSv1.3 with cipher "
                      % (qid, relay), ["smtp"])
        # Postfix saw STARTTLS from Postmesh and logged the session
        got = self.pf.wait_lines("postfix/good/smtpd",
                                 "TLS connection established from")
        self.assertTrue(got, self.pf.log()[-3000:])
        self.assertTrue(self.pf.lines("postfix/good/smtpd", "STARTTLS"))
        after = self.metric("smtp_tls_handshakes_total", outcome="success",
                            protocol="TLSv1.3", level="verify")
        self.assertGreaterEqual(after, before + 1)

    def test_verify_wrong_name_defers(self):
        before = self.metric("smtp_tls_handshakes_total",
                             outcome="failure", protocol="TLSv1.3",
                             level="verify")
        qid = self.submit(SENDER, ["a@wrong.test"], message("wrong-1"))
        line = self.agent_line(qid, "a@wrong.test", "deferred")
        self.assertIn("dsn=4.7.5", line)
        self.assertIn("Server certificate not verified", line)
        relay = self.relay("mx.wrong.test", "127.0.0.2")
        why = self.wait_log("server certificate verification failed for "
                            "%s: num=62:hostname mismatch" % relay,
                            ["smtp"])
        self.assertTrue(why)
        self.assertEqual(self.stack.log_lines(
            "TLS connection established to %s" % relay, "smtp"), [])
        # not delivered, not even tried in plaintext: the TLS session
        # saw no MAIL FROM (Postfix logs every command it receives)
        self.pf.wait_lines("postfix/wrong/smtpd", "disconnect from")
        self.assertEqual(self.pf.lines("postfix/wrong/smtpd", "MAIL FROM"),
                         [])
        self.assertIn(qid, self.stack.deferred_qids())
        self.assertEqual(
            [m for m in self.sink.messages()
             if b"<wrong-1@client.test>" in m.content], [])
        after = self.metric("smtp_tls_handshakes_total", outcome="failure",
                            protocol="TLSv1.3", level="verify")
        self.assertGreaterEqual(after, before + 1)

    def test_secure_matches_parent_domain(self):
        qid = self.submit(SENDER, ["a@sec.test"], message("secure-1"))
        self.agent_line(qid, "a@sec.test", "sent")
        self.at_sink("secure-1")
        self.wait_log("%s: relay=%s, tls=Verified TLSv1.3"
                      % (qid, self.relay("mx.good.test", "127.0.0.1")),
                      ["smtp"])

    # may: encrypted, the certificate is judged but not required

    def test_may_logs_trusted(self):
        qid = self.submit(SENDER, ["a@may.test"], message("may-1"))
        self.agent_line(qid, "a@may.test", "sent")
        self.at_sink("may-1")
        relay = self.relay("mx.good.test", "127.0.0.1")
        # the chain verifies (test CA); no name is required under may
        self.wait_log("Trusted TLS connection established to %s: TLSv1.3 "
                      % relay, ["smtp"])
        self.wait_log("%s: relay=%s, tls=Trusted TLSv1.3" % (qid, relay),
                      ["smtp"])

    # may and encrypt without STARTTLS

    def test_may_without_starttls_is_plaintext(self):
        qid = self.submit(SENDER, ["a@notls.test"], message("notls-1"))
        self.agent_line(qid, "a@notls.test", "sent")
        self.at_sink("notls-1")
        self.wait_log("%s: relay=%s, tls=none (STARTTLS not offered)"
                      % (qid, self.relay("mx.notls.test", "127.0.0.3")),
                      ["smtp"])
        self.assertEqual(self.pf.lines("postfix/notls/smtpd", "STARTTLS"),
                         [])

    def test_encrypt_without_starttls_defers(self):
        qid = self.submit(SENDER, ["a@enc.test"], message("enc-1"))
        line = self.agent_line(qid, "a@enc.test", "deferred")
        self.assertIn("TLS is required, but was not offered by host "
                      "mx.notls.test[127.0.0.3]", line)
        self.assertIn("dsn=4.7.4", line)
        self.assertIn(qid, self.stack.deferred_qids())
        time.sleep(0.5)
        self.assertEqual(
            [m for m in self.sink.messages()
             if b"<enc-1@client.test>" in m.content], [])

    # STARTTLS refused (454)

    def test_may_starttls_refused_is_plaintext(self):
        qid = self.submit(SENDER, ["a@refuse.test"], message("refuse-1"))
        self.agent_line(qid, "a@refuse.test", "sent")
        self.at_sink("refuse-1")
        relay = "mx.refuse.test[127.0.0.7]:%d" % self.port2
        self.wait_log("host %s refused to start TLS: 454 4.7.0 TLS not "
                      "available due to local problem" % relay, ["smtp"])
        self.wait_log("%s: relay=%s, tls=none (STARTTLS refused)"
                      % (qid, relay), ["smtp"])

    def test_encrypt_starttls_refused_defers(self):
        qid = self.submit(SENDER, ["a@refenc.test"], message("refenc-1"))
        line = self.agent_line(qid, "a@refenc.test", "deferred")
        self.assertIn("dsn=4.7.5", line)
        self.assertIn("TLS is required, but host mx2.refuse.test[127.0.0.7] "
                      "refused to start TLS: 454 4.7.0 TLS not available",
                      line)
        self.assertIn(qid, self.stack.deferred_qids())
        self.assertEqual(self.pf2.lines("postfix/refuse/smtpd",
                                       "RCPT TO:<a@refenc.test>"), [])

    # a server that never speaks TLS after 220: smtp_starttls_timeout

    def test_stalled_handshake_times_out(self):
        qid = self.submit(SENDER, ["a@stall.test"], message("stall-1"))
        line = self.agent_line(qid, "a@stall.test", "deferred")
        self.assertIn("dsn=4.7.5", line)
        self.assertIn("Cannot start TLS: handshake failure", line)
        self.wait_log("TLS handshake with 127.0.0.8[127.0.0.8]:%d failed: "
                      "timed out" % self.stall.port, ["smtp"])
        with self.stall.lock:
            first = list(self.stall.conns[0])
        self.assertIsNotNone(first[0])
        waited = first[1] - first[0]
        # smtp_starttls_timeout = 2s, then the client closes
        self.assertGreaterEqual(waited, 1.5, first)
        self.assertLess(waited, 10, first)

    # may: a failed handshake falls back to plaintext

    def test_may_handshake_failure_falls_back(self):
        before = self.metric("smtp_tls_handshakes_total",
                             outcome="fallback", protocol="none",
                             level="may")
        qid = self.submit(SENDER, ["a@old.test"], message("old-1"))
        self.agent_line(qid, "a@old.test", "sent")
        self.at_sink("old-1")
        relay = self.relay("mx.old.test", "127.0.0.4")
        self.wait_log("TLS handshake with %s failed: " % relay, ["smtp"])
        self.wait_log("%s: Cannot start TLS: handshake failure; trying "
                      "again without TLS" % relay, ["smtp"])
        self.wait_log("%s: relay=%s, tls=none (TLS handshake failed)"
                      % (qid, relay), ["smtp"])
        after = self.metric("smtp_tls_handshakes_total", outcome="fallback",
                            protocol="none", level="may")
        self.assertGreaterEqual(after, before + 1)
        # Postfix: a session with STARTTLS and no mail, then one with
        # mail and no STARTTLS
        disc = self.pf.wait_lines("postfix/old/smtpd", "disconnect from",
                                  "mail=1")
        self.assertTrue(disc)
        self.assertNotIn("starttls=", disc[-1])
        self.assertTrue(self.pf.lines("postfix/old/smtpd", "STARTTLS"))

    # the connection cache keeps the TLS session

    def test_cached_connection_keeps_tls(self):
        before = self.metric("smtp_tls_handshakes_total",
                             outcome="success", protocol="TLSv1.3",
                             level="verify")
        qid1 = self.submit(SENDER, ["one@reuse.test"], message("reuse-1"))
        self.agent_line(qid1, "one@reuse.test", "sent")
        qid2 = self.submit(SENDER, ["two@reuse.test"], message("reuse-2"))
        line = self.agent_line(qid2, "two@reuse.test", "sent")
        self.assertIn(" conn_use=2,", line)
        self.at_sink("reuse-2")
        relay = self.relay("mx.reuse.test", "127.0.0.5")
        self.wait_log("%s: relay=%s, tls=Verified TLSv1.3" % (qid2, relay),
                      ["smtp"])
        self.assertIn("cached connection", self.stack.log_lines(
            "%s: relay=%s, tls=" % (qid2, relay), "smtp")[0])
        after = self.metric("smtp_tls_handshakes_total", outcome="success",
                            protocol="TLSv1.3", level="verify")
        self.assertEqual(after, before + 1)
        self.assertEqual(len(self.stack.log_lines(
            "TLS connection established to %s" % relay, "smtp")), 1)
        # one Postfix session: one handshake, two transactions
        disc = self.pf.wait_lines("postfix/reuse/smtpd", "disconnect from",
                                  " mail=", timeout=20)
        self.assertEqual(len(disc), 1, disc)
        self.assertRegex(disc[0], r" starttls=1 mail=2 rcpt=2 data=2 ")
        self.assertEqual(len(self.pf.lines(
            "postfix/reuse/smtpd", "TLS connection established from")), 1)

    # a new connection resumes the TLS session

    def test_new_connection_resumes_session(self):
        before = self.metric("smtp_tls_sessions_resumed_total")
        qid1 = self.submit(SENDER, ["a@res1.test"], message("res-1"))
        self.agent_line(qid1, "a@res1.test", "sent")
        # another nexthop: not the cached connection, the same server
        qid2 = self.submit(SENDER, ["a@res2.test"], message("res-2"))
        self.agent_line(qid2, "a@res2.test", "sent")
        self.at_sink("res-2")
        relay = self.relay("mx.res.test", "127.0.0.6")
        est = self.stack.log_lines("Verified TLS connection established "
                                   "to %s" % relay, "smtp")
        self.assertEqual(len(est), 2, est)
        after = self.metric("smtp_tls_sessions_resumed_total")
        self.assertEqual(after, before + 1, self.logs_tail())


    # a resumed session is checked against the job's names (REVIEW9 #2)

    def test_resumption_checks_names(self):
        before = self.metric("smtp_tls_sessions_resumed_total")
        # A: the certificate is for mx.good.test, the MX of atk.test
        qid1 = self.submit(SENDER, ["a@atk.test"], message("atk-1"))
        self.agent_line(qid1, "a@atk.test", "sent")
        self.at_sink("atk-1")
        good = self.relay("mx.good.test", "127.0.0.1")
        self.wait_log("%s: relay=%s, tls=Verified TLSv1.3" % (qid1, good),
                      ["smtp"])
        # B: another nexthop, the same server (address, port, no SNI,
        # same policy attributes), a name the certificate does not have
        qid2 = self.submit(SENDER, ["a@bank.test"], message("bank-1"))
        line = self.agent_line(qid2, "a@bank.test", "deferred")
        self.assertIn("dsn=4.7.5", line)
        self.assertIn("Server certificate not verified", line)
        bank = self.relay("mx.bank.test", "127.0.0.1")
        self.wait_log("server certificate verification failed for %s: "
                      "num=62:hostname mismatch" % bank, ["smtp"])
        self.assertEqual(self.stack.log_lines(
            "TLS connection established to %s" % bank, "smtp"), [])
        self.assertIn(qid2, self.stack.deferred_qids())
        self.assertEqual(self.pf.lines("postfix/good/smtpd",
                                       "RCPT TO:<a@bank.test>"), [])
        self.assertEqual(
            [m for m in self.sink.messages()
             if b"<bank-1@client.test>" in m.content], [])
        self.assertEqual(self.metric("smtp_tls_sessions_resumed_total"),
                         before, self.logs_tail())
        # C: another nexthop whose names the certificate has: resumes
        qid3 = self.submit(SENDER, ["a@atk2.test"], message("atk-2"))
        self.agent_line(qid3, "a@atk2.test", "sent")
        self.at_sink("atk-2")
        self.wait_log("%s: relay=%s, tls=Verified TLSv1.3" % (qid3, good),
                      ["smtp"])
        self.assertEqual(self.metric("smtp_tls_sessions_resumed_total"),
                         before + 1, self.logs_tail())


if __name__ == "__main__":
    unittest.main()
