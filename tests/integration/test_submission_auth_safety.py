"""AUTH safety (review 9): pipelined SASL responses are read as the
dialogue and never logged, STARTTLS forgets a login (RFC 3207 4.2),
mandatory TLS implies smtpd_tls_auth_only, and AUTH with SASL off gets
Postfix's "503 5.5.1 Error: authentication not enabled".

Clients: raw sockets (the exact bytes and packets matter) and Python's
ssl module after STARTTLS; passwords in the crypt table; certificates
from the openssl command (tlscerts.py).
"""

import os
import shutil
import ssl
import tempfile
import unittest

import tlscerts
from pmtest import RawSMTP, StackTest
from test_submission import (DovecotAuth, SaslStack, b64, crypt_hash,
                             write_passwd)

NAME = "submission.example.test"

BASE = {
    "smtpd_sasl_auth_enable": "yes",
    "smtpd_sasl_type": "crypt",
    "smtpd_tls_auth_only": "no",
    "smtpd_relay_restrictions": "permit_sasl_authenticated, reject_unauth_destination",
    "smtpd_error_sleep_time": "0",
    "smtpd_forbid_unauth_pipelining": "yes",
}


class AuthTlsStack(SaslStack):
    LEVEL = "may"

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="pmauth-")
        cls.ca = tlscerts.make_ca(cls.certdir)
        chain = tlscerts.make_chain(cls.certdir, cls.ca, NAME, "ecdsa")
        cls.PARAMS = dict(BASE, smtpd_tls_chain_files=chain,
                          smtpd_tls_security_level=cls.LEVEL)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certdir, ignore_errors=True)

    @classmethod
    def extra_params(cls, stack):
        path = os.path.join(stack.tmp, "sasl_passwd")
        write_passwd(path)
        return {"smtpd_sasl_password_maps": path}

    def starttls(self, c):
        code, lines = c.cmd("STARTTLS")
        self.assertEqual(code, 220, lines)
        ctx = ssl.create_default_context(cafile=self.ca[0])
        c.sock = ctx.wrap_socket(c.sock, server_hostname=NAME)
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250, lines)
        return lines


class PipelinedAuthTest(AuthTlsStack):

    def test_pipelined_login_dialogue(self):
        """AUTH LOGIN, user and password in one packet: 334, 334, 235."""
        before = len(self.smtpd_log())
        c, _ = self.ehlo()
        try:
            c.send("AUTH LOGIN\r\n%s\r\n%s\r\n" % (b64("alice"),
                                                  b64("alice-secret")))
            self.assertEqual(c.reply(), (334, ["334 VXNlcm5hbWU6"]))
            self.assertEqual(c.reply(), (334, ["334 UGFzc3dvcmQ6"]))
            self.assertEqual(c.reply()[0], 235)
            self.assertEqual(c.cmd("NOOP")[0], 250)
        finally:
            c.close()
        c, _ = self.ehlo()
        try:
            c.send("AUTH PLAIN\r\n%s\r\n" % b64("\0alice\0alice-secret"))
            self.assertEqual(c.reply()[0], 334)
            self.assertEqual(c.reply()[0], 235)
        finally:
            c.close()
        self.wait_log(r"auth=1 commands=2")
        log = self.smtpd_log()[before:]
        self.assertNotIn("improper command pipelining", log)
        self.assertNotIn(b64("alice-secret"), log)
        self.assertNotIn(b64("\0alice\0alice-secret"), log)

    def test_pipelined_after_failed_response_not_logged(self):
        """A bad user line ends AUTH (501); the password that followed
        is improper pipelining, logged without the input."""
        c, _ = self.ehlo()
        try:
            c.send("AUTH LOGIN\r\n%%%%\r\n%s\r\n" % b64("pw-in-the-log?"))
            self.assertEqual(c.reply()[0], 334)
            self.assertEqual(c.reply()[0], 501)
            self.assertEqual(c.reply()[0], 554)
        finally:
            c.close()
        self.wait_log(r"improper command pipelining after AUTH from "
                      r"unknown\[127\.0\.0\.1\]\n")
        self.assertNotIn(b64("pw-in-the-log?"), self.smtpd_log())

    def test_starttls_forgets_login(self):
        c, lines = self.ehlo()
        try:
            self.assertIn("250-AUTH PLAIN LOGIN", lines)
            self.assertEqual(c.cmd("AUTH PLAIN " + b64("\0alice\0alice-secret"))[0],
                             235)
            self.starttls(c)
            # no longer authenticated: no relaying, AUTH allowed again
            self.assertEqual(c.cmd("MAIL FROM:<alice@example.test>")[0], 250)
            code, lines = c.cmd("RCPT TO:<friend@remote.test>")
            self.assertEqual(code, 554, lines)
            self.assertEqual(c.cmd("RSET")[0], 250)
            code, lines = c.cmd("AUTH PLAIN " + b64("\0alice\0alice-secret"))
            self.assertEqual(code, 235, lines)
        finally:
            c.close()


class EncryptImpliesAuthOnlyTest(AuthTlsStack):
    LEVEL = "encrypt"

    def test_no_auth_before_tls(self):
        c, lines = self.ehlo()
        try:
            self.assertIn("250-STARTTLS", lines)
            self.assertFalse([l for l in lines if "AUTH" in l], lines)
            lines = self.starttls(c)
            self.assertIn("250-AUTH PLAIN LOGIN", lines)
            code, lines = c.cmd("AUTH PLAIN " + b64("\0alice\0alice-secret"))
            self.assertEqual(code, 235, lines)
        finally:
            c.close()


class AuthDisabledTest(StackTest):
    PARAMS = {"smtpd_error_sleep_time": "0"}

    def test_auth_not_enabled_503(self):
        c = RawSMTP(self.stack.smtp_port)
        try:
            self.assertEqual(c.reply()[0], 220)
            code, lines = c.cmd("EHLO client.test")
            self.assertFalse([l for l in lines if "AUTH" in l], lines)
            code, lines = c.cmd("AUTH PLAIN " + b64("\0alice\0x"))
            self.assertEqual((code, lines),
                             (503, ["503 5.5.1 Error: authentication not enabled"]))
        finally:
            c.close()


class DovecotUserNameTest(SaslStack):
    """Dovecot authenticates another name than the client gave
    (auth_username_format = %Ln): its user= is the login."""
    PARAMS = dict(BASE, smtpd_sasl_type="dovecot", smtpd_sasl_timeout="5s")

    @classmethod
    def extra_params(cls, stack):
        cls.dovecot = DovecotAuth(stack.tmp, {
            "alice": "{SHA512-CRYPT}" + crypt_hash("alice-dove", "$6$"),
        }, extra="auth_username_format = %Ln\n").start()
        return {"smtpd_sasl_path": cls.dovecot.socket}

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.dovecot.stop()

    def test_dovecot_user_is_the_login(self):
        c, _ = self.ehlo()
        try:
            code, lines = c.cmd("AUTH PLAIN " + b64("\0ALICE@Example.TEST\0alice-dove"))
            self.assertEqual(code, 235, lines)
            self.assertEqual(c.cmd("MAIL FROM:<alice@example.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<friend@remote.test>")[0], 250)
        finally:
            c.close()
        self.wait_log(r"client=unknown\[127\.0\.0\.1\], sasl_method=PLAIN, "
                      r"sasl_username=alice\n")


if __name__ == "__main__":
    unittest.main()
