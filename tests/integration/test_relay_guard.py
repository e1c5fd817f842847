"""smtpd refuses to run as an open relay; mynetworks is loopback only.

As Postfix: when neither smtpd_relay_restrictions nor
smtpd_recipient_restrictions holds reject_unauth_destination,
defer_unauth_destination, reject, defer or defer_if_permit (before a
"permit" that would end the list), smtpd exits at start with a fatal
error naming both parameters; it is enough that one of them has one.

The default mynetworks is 127.0.0.1/32 [::1]/128: a client from
127.0.0.6 (where some sidecar proxies connect from) is outside it and
may not relay; 127.0.0.1 and ::1 may.
"""

import smtplib
import socket
import subprocess
import unittest

from pmtest import Stack, StackTest, wait_port

WANT = ("in parameter smtpd_relay_restrictions or "
        "smtpd_recipient_restrictions, specify at least one working "
        "instance of")


class RelayGuardStartTest(unittest.TestCase):

    def start_smtpd(self, params, exits):
        """Start smtpd alone (it fails before it needs a peer); return
        (exit status or None if it still runs, log text). exits: wait
        up to 10 s for it to exit, else until it listens."""
        stack = Stack(params, services=("smtpd",))
        try:
            svc = stack.svcs["smtpd"].start()
            if exits:
                try:
                    svc.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            else:
                try:
                    wait_port(stack.smtp_port, proc=svc.proc)
                except RuntimeError:
                    pass
            return svc.proc.poll(), svc.text()
        finally:
            stack.stop()
            stack.cleanup_dir()

    def test_open_relay_refused(self):
        cases = [
            {"smtpd_relay_restrictions": ""},
            {"smtpd_relay_restrictions": "permit_mynetworks"},
            {"smtpd_relay_restrictions":
                "permit_mynetworks, permit, reject_unauth_destination"},
            {"smtpd_relay_restrictions": "",
             "smtpd_recipient_restrictions": "permit_mynetworks, permit"},
            {"smtpd_relay_restrictions": "warn_if_reject reject"},
        ]
        for params in cases:
            with self.subTest(params=params):
                rc, text = self.start_smtpd(params, True)
                self.assertIsNotNone(rc, "smtpd kept running:\n" + text[-2000:])
                self.assertNotEqual(rc, 0, text[-2000:])
                self.assertIn(WANT, text)
                self.assertIn("fatal", text)

    def test_guard_in_either_list_is_enough(self):
        cases = [
            {"smtpd_relay_restrictions": "",
             "smtpd_recipient_restrictions":
                "permit_mynetworks, reject_unauth_destination"},
            {"smtpd_relay_restrictions": "permit_mynetworks, defer"},
            {"smtpd_relay_restrictions": "guard",
             "smtpd_restriction_classes": "guard",
             "guard": "permit_mynetworks, defer_unauth_destination"},
        ]
        for params in cases:
            with self.subTest(params=params):
                rc, text = self.start_smtpd(params, False)
                self.assertIsNone(rc, "smtpd exited %s:\n%s"
                                  % (rc, text[-2000:]))
                self.assertNotIn(WANT, text)


class DefaultMynetworksTest(StackTest):
    """No mynetworks in main.cf: the default applies. smtpd listens on
    127.0.0.1 (pmtest) and, restarted, on [::1]."""

    def relay(self, host, source):
        with smtplib.SMTP(host, self.stack.smtp_port, timeout=30,
                          source_address=(source, 0)) as s:
            s.ehlo("client.test")
            s.mail("sender@client.test")
            return s.rcpt("friend@elsewhere.test")

    def test_default_has_no_127_slash_8(self):
        self.assertNotIn("mynetworks", self.stack.params)
        code, text = self.relay("127.0.0.1", "127.0.0.6")
        self.assertEqual(code, 554, text)
        self.assertIn(b"Relay access denied", text)
        code, text = self.relay("127.0.0.1", "127.0.0.1")
        self.assertEqual(code, 250, text)

    def test_default_has_ipv6_loopback(self):
        with socket.socket(socket.AF_INET6) as t:
            t.bind(("::1", 0))
            port = t.getsockname()[1]
        svc = self.stack.svcs["smtpd"]
        listen = self.stack.params["smtpd_listen"]
        self.stack.params["smtpd_listen"] = "[::1]:%d" % port
        self.stack.write_config()
        svc.stop()
        try:
            svc.start()
            wait_port(port, host="::1", proc=svc.proc)
            with smtplib.SMTP("::1", port, timeout=30) as s:
                s.ehlo("client.test")
                s.mail("sender@client.test")
                code, text = s.rcpt("friend@elsewhere.test")
            self.assertEqual(code, 250, text)
        finally:
            svc.stop()
            self.stack.params["smtpd_listen"] = listen
            self.stack.write_config()
            svc.start()
            self.stack.wait_ready("smtpd")


if __name__ == "__main__":
    unittest.main()
