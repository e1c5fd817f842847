"""SIGHUP reads main.cf again, as `postfix reload` (issue 6, l).

Each test edits the stack's main.cf and sends SIGHUP to the running
service, then checks the new behaviour from outside: smtpd's banner,
a sender restriction and the recipient limit; cleanup's header_checks
parameter (a new table, not only new contents of the old one). A
parameter used only at start is logged as needing a restart, and a bad
value keeps the running configuration (and the process).
"""

import smtplib

from pmtest import RawSMTP, StackTest

MSG = (b"From: <a@client.test>\r\nTo: <alice@example.test>\r\n"
       b"Subject: reload-test\r\nMessage-ID: <reload@client.test>\r\n"
       b"\r\nhello\r\n")


class ReloadBase(StackTest):

    def reload(self, name, changes):
        """Write changes into main.cf, SIGHUP name, wait until its
        reload is done (its outcome line, not a fixed moment after the
        "reload -- version" line that comes before the work)."""
        self.stack.params.update(changes)
        self.stack.write_config()
        self.stack.reload(name)

    def banner(self):
        c = RawSMTP(self.stack.smtp_port)
        try:
            code, lines = c.reply()
            c.cmd("QUIT")
        finally:
            c.close()
        self.assertEqual(code, 220, lines)
        return lines[0]


class SmtpdReloadTest(ReloadBase):

    PARAMS = {"smtpd_banner": "$myhostname ESMTP before-reload"}

    def test_sighup_applies_main_cf(self):
        self.assertIn("before-reload", self.banner())
        self.reload("smtpd", {
            "smtpd_banner": "$myhostname ESMTP after-reload",
            "smtpd_sender_restrictions":
                "check_sender_access inline:{ {blocked@client.test=REJECT "
                "blocked after reload} }",
            "smtpd_recipient_limit": "2",
            "smtpd_check_threads": "3",
        })
        self.assertIn("mx.example.test ESMTP after-reload", self.banner())
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("blocked@client.test")
            # smtpd_delay_reject = yes: the sender is refused at RCPT
            code, text = c.rcpt("alice@example.test")
            self.assertEqual(code, 554, text)
            self.assertIn(b"blocked after reload", text)
            c.rset()
            code, text = c.mail("ok@client.test")
            self.assertEqual(code, 250, text)
            self.assertEqual(c.rcpt("alice@example.test")[0], 250)
            self.assertEqual(c.rcpt("bob@example.test")[0], 250)
            code, text = c.rcpt("postmaster@example.test")
            self.assertEqual(code, 452, text)
        log = self.stack.log("smtpd")
        self.assertIn("reload: applied: ", log)
        applied = [ln for ln in log.splitlines() if "reload: applied: " in ln]
        for p in ("smtpd_banner", "smtpd_sender_restrictions",
                  "smtpd_recipient_limit"):
            self.assertIn(p, applied[-1])
        self.assertIn("reload: smtpd_check_threads changed; restart smtpd "
                      "to apply it", log)



class SmtpdBadReloadTest(ReloadBase):

    def test_bad_value_keeps_running_configuration(self):
        self.reload("smtpd", {"smtpd_recipient_limit": "lots",
                              "smtpd_banner": "$myhostname ESMTP bad-reload"})
        self.assertIn("keeping the running configuration",
                      self.stack.log("smtpd"))
        self.assertIsNone(self.stack.svcs["smtpd"].proc.poll())
        self.assertNotIn("bad-reload", self.banner())
        # fixed: the next reload applies it
        self.reload("smtpd", {"smtpd_recipient_limit": "1000",
                              "smtpd_banner": "$myhostname ESMTP fixed"})
        self.assertIn("ESMTP fixed", self.banner())
        # a restriction smtpd cannot build: the old ones stay, and the
        # log does not claim the new value was applied
        self.reload("smtpd", {"smtpd_sender_restrictions": "no_such_thing"})
        self.assertIn("reload: smtpd_sender_restrictions changed but not "
                      "applied", self.stack.log("smtpd"))
        self.assertIsNone(self.stack.svcs["smtpd"].proc.poll())


class CleanupReloadTest(ReloadBase):

    def test_sighup_applies_header_checks_parameter(self):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("a@client.test")
            c.rcpt("alice@example.test")
            code, text = c.data(MSG)
            self.assertEqual(code, 250, text)
        path = self.stack.path("header_checks")
        with open(path, "w") as f:
            f.write("/^Subject: reload-test/ REJECT refused after reload\n")
        self.reload("cleanup", {"header_checks": "regexp:" + path})
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as c:
            c.ehlo("client.test")
            c.mail("a@client.test")
            c.rcpt("alice@example.test")
            try:
                code, text = c.data(MSG)
            except smtplib.SMTPDataError as e:
                code, text = e.smtp_code, e.smtp_error
        self.assertEqual(code, 550, text)
        self.assertIn(b"refused after reload", text)
        self.assertIn("header_checks", [
            ln for ln in self.stack.log("cleanup").splitlines()
            if "reload: applied: " in ln][-1])
