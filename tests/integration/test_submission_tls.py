"""Submission as an operator runs it: STARTTLS required, AUTH only
after TLS (smtpd_tls_security_level = encrypt, smtpd_tls_auth_only =
yes), relaying only for authenticated clients.

Clients are swaks --tls --auth and a raw socket for the plaintext
half; the password backends are the crypt table (a file) and a private
Dovecot's auth service. Certificates come from the openssl command
(tlscerts.py).
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import tlscerts
from pmtest import RawSMTP, queue_id_of
from test_submission import (DovecotAuth, SaslStack, crypt_hash,
                             write_passwd)

NAME = "submission.example.test"

PARAMS = {
    "smtpd_tls_security_level": "encrypt",
    "smtpd_tls_auth_only": "yes",
    "smtpd_tls_received_header": "yes",
    "smtpd_sasl_auth_enable": "yes",
    "smtpd_relay_restrictions": "permit_sasl_authenticated, reject",
    "smtpd_sender_restrictions": "reject_sender_login_mismatch",
    "smtpd_sender_login_maps": "inline:{ {alice@example.test = alice} }",
    "smtpd_error_sleep_time": "0",
}


def swaks(port, *args):
    out = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(port), "--tls",
         "--helo", "client.test", "--timeout", "30"] + list(args),
        capture_output=True, text=True, timeout=90)
    return out.returncode, out.stdout + out.stderr


class SubmissionTls(SaslStack):
    SASL = {}

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="pmsub-")
        ca = tlscerts.make_ca(cls.certdir)
        cls.chain = tlscerts.make_chain(cls.certdir, ca, NAME, "ecdsa")
        cls.PARAMS = dict(PARAMS, smtpd_tls_chain_files=cls.chain,
                          **cls.SASL)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certdir, ignore_errors=True)


class CryptTlsTest(SubmissionTls):
    SASL = {"smtpd_sasl_type": "crypt"}

    @classmethod
    def extra_params(cls, stack):
        path = os.path.join(stack.tmp, "sasl_passwd")
        write_passwd(path)
        return {"smtpd_sasl_password_maps": path}

    def test_plaintext_offers_no_auth_and_refuses_it(self):
        c, lines = self.ehlo()
        try:
            self.assertIn("250-STARTTLS", lines)
            self.assertFalse([l for l in lines if "AUTH" in l], lines)
            code, lines = c.cmd("AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA==")
            self.assertEqual(code, 530, lines)
            self.assertIn("5.7.0 Must issue a STARTTLS command first",
                          lines[-1])
            code, lines = c.cmd("MAIL FROM:<alice@example.test>")
            self.assertEqual(code, 530, lines)
        finally:
            c.close()
        self.assertNotIn("alice-secret", self.smtpd_log())

    def test_tls_auth_plain_queues_as_esmtpsa(self):
        rc, out = swaks(self.stack.smtp_port, "--auth", "PLAIN",
                        "--auth-user", "alice", "--auth-password",
                        "alice-secret", "--from", "alice@example.test",
                        "--to", "friend@remote.test")
        self.assertEqual(rc, 0, out)
        self.assertIn("250-AUTH PLAIN LOGIN", out)
        self.assertIn("235 2.7.0 Authentication successful", out)
        qid = queue_id_of([l for l in out.splitlines() if "queued as" in l])
        env, _, body = self.stack.queued(qid)
        self.assertEqual(env.get("sasl_username"), "alice", env)
        self.assertRegex(body.decode("utf-8", "replace"),
                         r"\(using TLSv1\.3 with cipher [^\r]*\)\r\n"
                         r"(\t\([^\r]*\)\r\n)?"
                         r"\tby \S+ \(Postmesh\) with ESMTPSA id " + qid)
        self.wait_log(r"Anonymous TLS connection established from "
                      r"unknown\[127\.0\.0\.1\]: TLSv1\.3")
        self.wait_log(r"%s: client=unknown\[127\.0\.0\.1\], sasl_method=PLAIN, "
                      r"sasl_username=alice" % qid)

    def test_tls_auth_login_bad_password_535(self):
        rc, out = swaks(self.stack.smtp_port, "--auth", "LOGIN",
                        "--auth-user", "bob", "--auth-password", "wrong",
                        "--from", "bob@example.test", "--to",
                        "friend@remote.test")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("535 5.7.8 Error: authentication failed", out)
        self.wait_log(r"warning: unknown\[127\.0\.0\.1\]: SASL LOGIN "
                      r"authentication failed: .*sasl_username=bob")
        m = self.stack.metrics("smtpd")
        self.assertRegex(m, r'postmesh_smtpd_auth_total\{outcome="failure"\} [1-9]')

    def test_tls_without_auth_cannot_relay(self):
        rc, out = swaks(self.stack.smtp_port, "--from",
                        "stranger@example.test", "--to", "friend@remote.test")
        self.assertNotEqual(rc, 0, out)
        # Postfix's text for a plain "reject" in smtpd_relay_restrictions
        self.assertRegex(out, r"<~\* +554 5\.7\.1 <friend@remote\.test>: "
                              r"Recipient address rejected: Access denied")

    def test_sender_not_owned_refused(self):
        rc, out = swaks(self.stack.smtp_port, "--auth", "PLAIN",
                        "--auth-user", "bob", "--auth-password",
                        "bob-yescrypt", "--from", "alice@example.test",
                        "--to", "friend@remote.test")
        self.assertNotEqual(rc, 0, out)
        self.assertIn("553 5.7.1 <alice@example.test>: Sender address "
                      "rejected: not owned by user bob", out)


class DovecotTlsTest(SubmissionTls):
    SASL = {"smtpd_sasl_type": "dovecot", "smtpd_sasl_timeout": "5s"}

    @classmethod
    def extra_params(cls, stack):
        cls.dovecot = DovecotAuth(stack.tmp, {
            "alice": "{SHA512-CRYPT}" + crypt_hash("alice-dove", "$6$"),
        }).start()
        return {"smtpd_sasl_path": cls.dovecot.socket}

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.dovecot.stop()

    def test_dovecot_over_tls(self):
        rc, out = swaks(self.stack.smtp_port, "--auth", "PLAIN",
                        "--auth-user", "alice", "--auth-password",
                        "alice-dove", "--from", "alice@example.test",
                        "--to", "friend@remote.test")
        self.assertEqual(rc, 0, out)
        self.assertIn("235 2.7.0", out)
        self.assertTrue(re.search(r"queued as \S+", out), out)
        rc, out = swaks(self.stack.smtp_port, "--auth", "LOGIN",
                        "--auth-user", "alice", "--auth-password", "nope",
                        "--from", "alice@example.test", "--to",
                        "friend@remote.test")
        self.assertIn("535 5.7.8", out)
        self.assertIn("passwd-file(alice,127.0.0.1", self.dovecot.text())


if __name__ == "__main__":
    unittest.main()
