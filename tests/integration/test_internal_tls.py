"""Internal mutual TLS between services (issue 7, point 7).

Certificates come from the openssl command (scripts/internal-tls-certs.sh):
the mesh CA with one certificate for the stack, and a foreign CA with
one for an intruder. rewrite and cleanup listen on tls+tcp:// and every
client (smtpd, cleanup's rewrite client) dials tls+tcp:// with the mesh
certificate: a message through smtpd gets 250 and is in Redis. A second
smtpd whose certificate comes from the foreign CA, and a third without
any certificate that dials the TLS port with plain tcp://, get no 250
and cleanup receives nothing from them. A tls+tcp:// URL without
certificates, or a certificate file that is not there, stops a service
at start with a message naming the parameter. Rotation: an smtpd given
a good certificate in place of its foreign one (same file) and SIGHUP
delivers without a restart; cleanup given a CA bundle with the foreign
CA added and SIGHUP accepts the foreign smtpd.
"""

import os
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time

from pmtest import ROOT, Service, StackTest, free_port, wait_port

CERTS = os.path.join(ROOT, "scripts", "internal-tls-certs.sh")


def make_certs():
    d = tempfile.mkdtemp(prefix="pmtls-")
    subprocess.run([CERTS, d, "mesh", "spare"], check=True)
    subprocess.run([CERTS, os.path.join(d, "foreign"), "intruder"],
                   check=True)
    return d


CERT_DIR = make_certs()


def msg(tag):
    return ("From: <s@client.test>\r\nTo: <alice@example.test>\r\n"
            "Subject: %s\r\nMessage-ID: <%s@client.test>\r\n\r\nbody\r\n"
            % (tag, tag)).encode()


def submit(port, tag):
    """(code, text) of the first reply that is not 250, or of DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.ehlo("client.test")
        for code, text in (s.mail("s@client.test"),
                           s.rcpt("alice@example.test")):
            if code != 250:
                return code, text.decode()
        code, text = s.data(msg(tag))
        return code, text.decode()


class InternalTlsTest(StackTest):

    PARAMS = {
        "internal_tls_ca_file": os.path.join(CERT_DIR, "ca.pem"),
        "internal_tls_cert_file": os.path.join(CERT_DIR, "mesh.pem"),
        "internal_tls_server_name": "postmesh-internal",
        # smtpd answers RCPT without asking rewrite (mynetworks), so a
        # refused smtpd fails exactly where it talks to cleanup
        "smtpd_reject_unlisted_recipient": "no",
        "smtpd_cleanup_timeout": "5s",
    }

    @classmethod
    def setUpClass(cls):
        # every service address of the stack on tls+tcp://
        port = {n: free_port() for n in ("cleanup", "rewrite")}
        for n in ("cleanup", "rewrite"):
            url = "tls+tcp://127.0.0.1:%d" % port[n]
            cls.PARAMS = dict(cls.PARAMS, **{n + "_listen": url,
                                             n + "_service": url})
        super().setUpClass()
        cls.extra = []

    @classmethod
    def tearDownClass(cls):
        for s in cls.extra:
            s.stop()
        super().tearDownClass()
        shutil.rmtree(CERT_DIR, ignore_errors=True)

    def smtpd(self, name, changes, role="smtpd"):
        """Another smtpd on its own port, its own main.cf: the stack's
        with changes (value None removes the parameter)."""
        params = dict(self.stack.params)
        port = free_port()
        params.update({"smtpd_listen": "127.0.0.1:%d" % port,
                       "smtpd_metrics_listen":
                       "http://127.0.0.1:%d" % free_port(),
                       "rewrite_metrics_listen":
                       "http://127.0.0.1:%d" % free_port()})
        for k, v in changes.items():
            if v is None:
                params.pop(k, None)
            else:
                params[k] = v
        conf = self.stack.path(name)
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            for k, v in params.items():
                f.write("%s = %s\n" % (k, v))
        svc = Service(role, conf, conf)
        self.extra.append(svc)
        return svc, port

    def start_smtpd(self, name, changes):
        svc, port = self.smtpd(name, changes)
        svc.start()
        wait_port(port, proc=svc.proc)
        return svc, port

    def in_cleanup(self, tag):
        return "<%s@client.test>" % tag in self.stack.log("cleanup")

    def assertRefused(self, port, tag):
        code, text = submit(port, tag)
        self.assertEqual(code, 451, "got %d %s, want 451" % (code, text))
        self.assertFalse(self.in_cleanup(tag),
                         "cleanup received the message of %s" % tag)

    def test_1_mesh_certificate_delivers(self):
        code, text = submit(self.stack.smtp_port, "good")
        self.assertEqual(code, 250, text)
        qid = text.split()[-1]
        self.assertIsNotNone(self.stack.queued(qid), "not in Redis")
        self.assertTrue(self.in_cleanup("good"))
        log = self.stack.log("cleanup")
        self.assertIn("cleanup_listen = tls+tcp://", log)
        self.assertIn("peers must show a certificate", log)

    def test_2_foreign_certificate_refused(self):
        _, port = self.start_smtpd("foreign", {
            "internal_tls_cert_file":
            os.path.join(CERT_DIR, "foreign", "intruder.pem")})
        self.assertRefused(port, "foreign")

    def test_3_no_certificate_refused(self):
        plain = {n: self.stack.params[n].replace("tls+tcp://", "tcp://")
                 for n in ("cleanup_service", "rewrite_service")}
        _, port = self.start_smtpd("plain", dict(plain, **{
            "internal_tls_ca_file": None,
            "internal_tls_cert_file": None,
            "internal_tls_server_name": None}))
        self.assertRefused(port, "plain")

    def test_4_fatal_without_certificates(self):
        cases = (
            ({"internal_tls_ca_file": None, "internal_tls_cert_file": None},
             "internal TLS is not configured (set internal_tls_ca_file"),
            ({"internal_tls_cert_file": "/nonexistent/x.pem"},
             "internal_tls_cert_file: cannot open /nonexistent/x.pem"),
            ({"internal_tls_ca_file": None},
             "internal_tls_ca_file is empty"),
        )
        for i, (changes, want) in enumerate(cases):
            svc, _ = self.smtpd("fatal%d" % i, changes)
            svc.start()
            try:
                rc = svc.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.fail("case %d: smtpd did not stop" % i)
            self.assertNotEqual(rc, 0, "case %d: exit 0" % i)
            self.assertIn(want, svc.text(), "case %d" % i)

    def test_5_rotation_on_sighup(self):
        # an smtpd whose certificate file holds a foreign certificate
        cert = self.stack.path("rotating.pem")
        shutil.copy(os.path.join(CERT_DIR, "foreign", "intruder.pem"), cert)
        svc, port = self.start_smtpd("rotating",
                                     {"internal_tls_cert_file": cert})
        self.assertRefused(port, "before-rotation")
        # the operator replaces the file and sends SIGHUP
        shutil.copy(os.path.join(CERT_DIR, "spare.pem"), cert)
        svc.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 30
        while time.time() < deadline:
            if "internal TLS certificates read again" in svc.text():
                break
            time.sleep(0.1)
        self.assertIn("internal TLS certificates read again", svc.text())
        code, text = submit(port, "after-rotation")
        self.assertEqual(code, 250, text)
        self.assertTrue(self.in_cleanup("after-rotation"))

    def test_6_cleanup_trusts_a_new_ca_on_sighup(self):
        # CA rollover: cleanup's CA file gets the foreign CA added
        _, port = self.start_smtpd("intruder2", {
            "internal_tls_cert_file":
            os.path.join(CERT_DIR, "foreign", "intruder.pem")})
        self.assertRefused(port, "before-rollover")
        bundle = self.stack.path("bundle.pem")
        with open(bundle, "w") as out:
            for p in ("ca.pem", "foreign/ca.pem"):
                with open(os.path.join(CERT_DIR, p)) as f:
                    out.write(f.read())
        self.stack.params["internal_tls_ca_file"] = bundle
        self.stack.write_config()
        self.stack.svcs["cleanup"].proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 30
        while (time.time() < deadline and "reload: applied: "
               "internal_tls_ca_file" not in self.stack.log("cleanup")):
            time.sleep(0.1)
        self.assertIn("reload: applied: internal_tls_ca_file",
                      self.stack.log("cleanup"))
        # the listener may hand its old configuration to one more accept
        for _ in range(3):
            code, text = submit(port, "after-rollover")
            if code == 250:
                break
        self.assertEqual(code, 250, text)

    def test_7_plain_listener_says_so(self):
        # what `make run` does: plain tcp:// on loopback, said in the log
        svc, _ = self.smtpd("plainrw", {
            "rewrite_listen": "tcp://127.0.0.1:%d" % free_port(),
            "internal_tls_ca_file": None, "internal_tls_cert_file": None},
            role="rewrite")
        svc.start()
        deadline = time.time() + 20
        while time.time() < deadline and "plain TCP" not in svc.text():
            time.sleep(0.1)
        self.assertIn("rewrite_listen = tcp://127.0.0.1:", svc.text())
        self.assertIn("plain TCP, peers are not authenticated", svc.text())
