"""Address verification probes to the final delivery agents (issue 11):
reject_unverified_recipient in front of local, virtual and pipe.

The whole stack (smtpd with reject_unverified_recipient, cleanup,
rewrite, qmgr, smtp, bounce, error, local, virtual, pipe, Redis) and a
PySink for relay.test. A probe (PM_MSG_PROBE) must behave as Postfix's
agents in verify mode (DEL_REQ_TRACE_ONLY): aliases and :include:
expand, nothing is written, run or resubmitted, and each final target
says what it would do:

- local, a user with a maildir and one with a spool mbox: the first
  RCPT is 450 "unverified address" or accepted within the poll, then
  accepted; no maildir file and no spool mailbox exist after the probe;
  local logs "status=deliverable (delivers to maildir)" / "(delivers
  to mailbox)"; the verify cache in Redis says deliverable; a real
  message afterwards lands exactly once;
- local, an alias to a /file, a |command (tee into a file) and a remote
  address: no file is written, the command does not run, the remote
  sink sees nothing; the log lists "delivers to file: ...", "delivers
  to command: ..." and "forwards to remote@relay.test" (Postfix does not
  forward a probe); a real message afterwards reaches all three once;
- local, an :include:d |command that allow_mail_to_commands refuses
  is undeliverable for the probe ("mail to command is restricted"), as
  is a |command that fails for good (not an absolute path), whose
  failure would go to the alias's owner- for mail: the owner gets no
  notice for a probe;
- local, an alias to a local address is followed as Postfix recurses:
  one to an existing user is deliverable ("delivers to maildir", nothing
  written), one to an unknown user is refused after its probe with
  "450 4.1.1 ... undeliverable address: unknown user";
- virtual: a maildir user and an mbox user are deliverable without the
  mailbox being created ("delivers to maildir" / "delivers to
  mailbox"); an unknown user is refused;
- local, mailbox_transport(_maps) / fallback_transport(_maps) to a
  real Dovecot LMTP: an alias followed to a user whose mailbox goes to
  lmtp (or to an unknown user with fallback_transport) is deliverable
  "delivers to lmtp:..." (it was deferred 4.3.5 "cannot pass the
  mailbox of ...", so reject_unverified_recipient said 450); the probe
  for that user itself is passed to lmtp, still a probe, and is
  deliverable there; Dovecot receives nothing in either case;
- local writes no exactly-once marker (pm:{s}:ld:<qid>:<i>, local_once.c)
  for a probe;
- pipe: the command (tee into a file) is not run for the probe,
  "status=deliverable (delivers to command: /usr/bin/tee)"; a real
  message afterwards runs it once.
Before this change these probes were delivered like mail (mailboxes
written, commands run, alias addresses resubmitted, owner- notified):
every test here fails on the old agents (checked against main's build;
only the :include:-restriction half of one would pass there).
"""

import os
import re
import shutil
import smtplib
import tempfile
import time

from peers import Dovecot, PySink
from pmtest import DELIVERY_SERVICES, DeliveryTest

ALICE, CAROL, DAVE, BOSS = 4252, 4253, 4254, 4255
VUID = 1234


def message(mid, to):
    return (b"From: <sender@relay.test>\r\n"
            b"To: <" + to.encode() + b">\r\n"
            b"Subject: after the probe\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"\r\nhello\r\n")


class VerifyFinalTest(DeliveryTest):

    SERVICES = DELIVERY_SERVICES + ("local", "virtual", "pipe")
    PARAMS = {
        "smtpd_recipient_restrictions":
            "reject_unauth_destination, reject_unverified_recipient",
        "address_verify_poll_count": "3",
        "address_verify_poll_delay": "1s",
        "relay_domains": "relay.test, pipe.test",
        "myorigin": "example.test",
        "home_mailbox": "Maildir/",
        "pipe_transport": "myfilter",
        "pipe_user": "nobody",
    }

    @classmethod
    def setUpClass(cls):
        # a directory nobody (pipe_user, default_privs) can write
        cls.rundir = tempfile.mkdtemp(prefix="pmvfinal-")
        os.chmod(cls.rundir, 0o777)
        cls.pipe_out = os.path.join(cls.rundir, "pipe.out")
        cls.PARAMS = dict(VerifyFinalTest.PARAMS)
        cls.PARAMS["pipe_argv"] = "/usr/bin/tee -a %s" % cls.pipe_out
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.rundir, ignore_errors=True)

    @classmethod
    def start_peers(cls, workdir):
        os.chmod(workdir, 0o755)
        cls.sink = PySink(workdir, name="relay").start()
        cls.peers.append(cls.sink)
        cls.dovecot = Dovecot(workdir, ("boss@example.test",
                                        "nosuchfb@example.test")).start()
        cls.peers.append(cls.dovecot)
        lmtp = "lmtp:inet:127.0.0.1:%d" % cls.dovecot.port
        base = os.path.join(workdir, "mail")
        cls.home = os.path.join(base, "home")
        cls.spool = os.path.join(base, "spool")
        for d in (base, cls.home, cls.spool):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        for name, uid in (("alice", ALICE), ("carol", CAROL)):
            h = os.path.join(cls.home, name)
            os.makedirs(h, exist_ok=True)
            os.chown(h, uid, uid)
            os.chmod(h, 0o700)
        users = os.path.join(base, "users")
        with open(users, "w") as f:
            f.write("alice %d:%d:%s/alice\n" % (ALICE, ALICE, cls.home))
            f.write("carol %d:%d:%s/carol\n" % (CAROL, CAROL, cls.home))
            f.write("dave %d:%d:\n" % (DAVE, DAVE))
            f.write("boss %d:%d:\n" % (BOSS, BOSS))
        cls.team_file = os.path.join(cls.rundir, "team.mbox")
        cls.team_cmd = os.path.join(cls.rundir, "team.cmd")
        # a command in an :include: file: not allowed by the default
        # allow_mail_to_commands (alias, forward)
        cmdinc = os.path.join(cls.rundir, "cmd.inc")
        with open(cmdinc, "w") as f:
            f.write("|/usr/bin/touch %s/ran\n" % cls.rundir)
        os.chmod(cmdinc, 0o644)
        aliases = os.path.join(base, "aliases")
        with open(aliases, "w") as f:
            f.write("team %s, |/usr/bin/tee -a %s, remote@relay.test\n"
                    % (cls.team_file, cls.team_cmd))
            f.write("chain carol\n")
            f.write("ghost nosuchuser\n")
            f.write("restricted :include:%s\n" % cmdinc)
            f.write("owner-restricted owner@relay.test\n")
            f.write("relcmd |usr/bin/true\n")
            f.write("owner-relcmd owner@relay.test\n")
            f.write("bossalias boss\n")
            f.write("fbalias nosuchfb\n")
        # virtual
        cls.vbase = os.path.join(workdir, "vmail")
        os.mkdir(cls.vbase, 0o755)
        p = os.path.join(cls.vbase, "one.test")
        os.mkdir(p, 0o700)
        os.chown(p, VUID, VUID)
        vmaps = os.path.join(workdir, "vmailbox")
        with open(vmaps, "w") as f:
            f.write("vu@one.test one.test/vu/\nvb@one.test one.test/vb\n")
        return {
            "alias_maps": "texthash:%s" % aliases,
            "local_recipient_maps":
                "texthash:%s texthash:%s" % (users, aliases),
            "mail_spool_directory": cls.spool,
            "mailbox_transport_maps": "inline:{ boss=%s }" % lmtp,
            "fallback_transport_maps": "inline:{ nosuchfb=%s }" % lmtp,
            "virtual_mailbox_domains": "one.test",
            "virtual_mailbox_maps": "texthash:" + vmaps,
            "virtual_mailbox_base": cls.vbase,
            "virtual_uid_maps": "static:%d" % VUID,
            "virtual_gid_maps": "static:%d" % VUID,
            "transport_maps":
                "inline:{ relay.test=smtp:[127.0.0.1]:%d, "
                "pipe.test=myfilter:nh.pipe.test }" % cls.sink.port,
        }

    # ---- helpers ----

    def rcpt(self, addr):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                          timeout=30) as c:
            c.ehlo("client.test")
            code, text = c.mail("sender@relay.test")
            self.assertEqual(code, 250, text)
            code, text = c.rcpt(addr)
            c.rset()
            return code, text.decode()

    def verify(self, addr, want, timeout=30.0):
        """RCPT until the verify answer is want (250 or 450 with
        "undeliverable"); the last (code, text)."""
        deadline = time.time() + timeout
        while True:
            code, text = self.rcpt(addr)
            if code == want and (want == 250 or "undeliverable" in text):
                return code, text
            if time.time() > deadline:
                self.fail("RCPT %s: %d %s, want %d\n%s\n---- local ----\n%s"
                          % (addr, code, text, want, self.logs_tail(),
                             self.stack.svcs["local"].text()[-3000:]))
            time.sleep(0.5)

    def cache(self, addr):
        r = self.stack.r()
        return {k.decode(): v.decode() for k, v in
                r.hgetall("pm:cache:verify:" + addr).items()}

    def probe_line(self, addr, agent):
        lines = self.wait_log("to=<%s>" % addr, (agent,))
        return lines[0]

    def files(self, d):
        if not os.path.isdir(d):
            return []
        return sorted(os.listdir(d))

    def maildir(self, user):
        return os.path.join(self.home, user, "Maildir")

    def wait_true(self, cond, what, timeout=30.0):
        deadline = time.time() + timeout
        while not cond():
            if time.time() > deadline:
                self.fail("%s\n%s" % (what, self.logs_tail()))
            time.sleep(0.2)

    def send(self, to, mid):
        return self.submit("sender@relay.test", [to], message(mid, to))

    def count_in(self, path, mid):
        try:
            with open(path, "rb") as f:
                return f.read().count(b"<" + mid.encode() + b"@client.test>")
        except FileNotFoundError:
            return 0

    # ---- local ----

    def test_local_mailbox_probe_writes_nothing(self):
        self.verify("alice@example.test", 250)
        line = self.probe_line("alice@example.test", "local")
        self.assertRegex(line, r"to=<alice@example\.test>, relay=local, "
                         r"delay=[0-9.]+, delays=[0-9./]+, dsn=2\.0\.0, "
                         r"status=deliverable \(delivers to maildir\)")
        self.assertEqual(self.cache("alice@example.test").get("status"),
                         "deliverable")
        # the probe left no trace in the mailbox
        self.assertFalse(os.path.exists(self.maildir("alice")),
                         self.files(self.maildir("alice")))
        # a real message afterwards: exactly one file
        self.send("alice@example.test", "after-alice")
        new = os.path.join(self.maildir("alice"), "new")
        self.wait_true(lambda: len(self.files(new)) >= 1,
                       "no maildir file for alice")
        time.sleep(1)
        self.assertEqual(len(self.files(new)), 1, self.files(new))
        self.assertEqual(self.count_in(os.path.join(
            new, self.files(new)[0]), "after-alice"), 1)

    def test_local_spool_probe_creates_no_mailbox(self):
        self.verify("dave@example.test", 250)
        line = self.probe_line("dave@example.test", "local")
        self.assertIn("status=deliverable (delivers to mailbox)", line)
        self.assertEqual(self.files(self.spool), [])
        self.send("dave@example.test", "after-dave")
        box = os.path.join(self.spool, "dave")
        self.wait_true(lambda: self.count_in(box, "after-dave") >= 1,
                       "no spool delivery for dave")
        time.sleep(1)
        self.assertEqual(self.count_in(box, "after-dave"), 1)

    def test_local_alias_targets_not_run(self):
        self.verify("team@example.test", 250)
        line = self.probe_line("team@example.test", "local")
        self.assertIn("status=deliverable (delivers to file: %s; delivers "
                      "to command: /usr/bin/tee -a %s; forwards to "
                      "remote@relay.test)" % (self.team_file, self.team_cmd),
                      line)
        time.sleep(1)
        self.assertFalse(os.path.exists(self.team_file))
        self.assertFalse(os.path.exists(self.team_cmd))
        self.assertEqual([e for e in self.sink.events()
                          if "remote@relay.test" in e], [])
        self.assertEqual(self.sink.count(), 0)
        # no forwarded probe was queued either: local logged no
        # "forwarded as" and the remote address is not in the cache
        self.assertEqual(self.stack.log_lines("forwarded as", "local"), [])
        self.assertEqual(self.cache("remote@relay.test"), {})
        # a real message afterwards reaches each target once
        self.send("team@example.test", "after-team")
        self.wait_true(lambda: self.count_in(self.team_file,
                                             "after-team") >= 1 and
                       self.count_in(self.team_cmd, "after-team") >= 1 and
                       self.sink.count() >= 1, "team targets not reached")
        time.sleep(1)
        self.assertEqual(self.count_in(self.team_file, "after-team"), 1)
        self.assertEqual(self.count_in(self.team_cmd, "after-team"), 1)
        got = [m for m in self.sink.messages()
               if b"after-team" in m.content]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].rcpt_tos, ["remote@relay.test"])

    def test_local_alias_followed(self):
        # chain -> carol: followed in the probe, nothing written
        self.verify("chain@example.test", 250)
        line = self.probe_line("chain@example.test", "local")
        self.assertIn("status=deliverable (delivers to maildir)", line)
        self.assertFalse(os.path.exists(self.maildir("carol")))
        # ghost -> nosuchuser: the broken alias is undeliverable
        code, text = self.verify("ghost@example.test", 450)
        self.assertRegex(text, r"^4\.1\.1 <ghost@example\.test>: Recipient "
                         r"address rejected: undeliverable address: "
                         r".*unknown user: \"nosuchuser\"")
        line = self.probe_line("ghost@example.test", "local")
        self.assertIn("dsn=5.1.1, status=undeliverable (unknown user: "
                      "\"nosuchuser\")", line)
        self.assertEqual(self.cache("ghost@example.test").get("status"),
                         "undeliverable")
        # no notice went anywhere for the probe
        self.assertEqual(self.sink.count(), 0)
        # an unlisted local user is refused at once (or after a probe)
        code, text = self.rcpt("nosuch@example.test")
        self.assertIn(code, (450, 550), text)

    def test_local_restricted_target_undeliverable(self):
        # a target refused for mail is refused for the probe too, and
        # the failure is the probe's: no notice to the owner- alias
        code, text = self.verify("restricted@example.test", 450)
        self.assertIn("mail to command is restricted", text)
        line = self.probe_line("restricted@example.test", "local")
        self.assertIn("dsn=5.7.1, status=undeliverable (mail to command "
                      "is restricted)", line)
        time.sleep(2)
        self.assertEqual([m for m in self.sink.messages()
                          if "owner@relay.test" in m.rcpt_tos], [])
        self.assertFalse(os.path.exists(os.path.join(self.rundir, "ran")))
        # a |command that fails for good has its failure go to the
        # owner- alias for mail (local_owner.c); for a probe it is the
        # probe's outcome, and the owner hears nothing
        code, text = self.verify("relcmd@example.test", 450)
        self.assertIn("command must start with an absolute path", text)
        line = self.probe_line("relcmd@example.test", "local")
        self.assertIn("dsn=5.3.5, status=undeliverable (command must start "
                      "with an absolute path: usr/bin/true)", line)
        time.sleep(2)
        self.assertEqual([m for m in self.sink.messages()
                          if "owner@relay.test" in m.rcpt_tos], [])

    def qid_of(self, line):
        m = re.search(r"([0-9A-Za-z]+): to=<", line)
        self.assertIsNotNone(m, line)
        return m.group(1)

    def once_keys(self, qid):
        return list(self.stack.r().scan_iter(match="pm:*:ld:%s:*" % qid))

    def test_local_alias_to_delegated_mailbox(self):
        # bossalias -> boss, whose mailbox goes to lmtp: the probe says
        # where it would go, as Postfix's verify mode, instead of the
        # mail-only "name the address in the alias" deferral
        self.verify("bossalias@example.test", 250)
        line = self.probe_line("bossalias@example.test", "local")
        self.assertIn("dsn=2.0.0, status=deliverable (delivers to "
                      "lmtp:inet:127.0.0.1:%d)" % self.dovecot.port, line)
        self.assertEqual(self.cache("bossalias@example.test").get("status"),
                         "deliverable")
        # fbalias -> nosuchfb, unknown, fallback_transport_maps: the same
        self.verify("fbalias@example.test", 250)
        line = self.probe_line("fbalias@example.test", "local")
        self.assertIn("status=deliverable (delivers to lmtp:", line)
        time.sleep(1)
        self.assertEqual(self.dovecot.delivered("boss@example.test"), [])
        self.assertEqual(self.dovecot.delivered("nosuchfb@example.test"), [])
        self.assertEqual(self.stack.log_lines("bossalias@example.test",
                                              "smtp"), [])

    def test_local_delegated_mailbox_probe_passed_on(self):
        # the probe for boss itself: local passes it to lmtp, still a
        # probe; the lmtp agent stops after RCPT (no DATA)
        self.verify("boss@example.test", 250)
        line = self.probe_line("boss@example.test", "smtp")
        self.assertIn("relay=127.0.0.1[127.0.0.1]:%d" % self.dovecot.port,
                      line)
        self.assertIn("status=deliverable", line)
        self.assertEqual(self.cache("boss@example.test").get("status"),
                         "deliverable")
        time.sleep(1)
        self.assertEqual(self.dovecot.delivered("boss@example.test"), [])
        self.assertEqual(self.stack.log_lines("to=<boss@example.test>",
                                              "local"), [])

    def test_local_probe_writes_no_once_marker(self):
        # local_once.c counts each mail attempt in Redis for ~6 days; a
        # probe writes nothing, so it must not create that key either
        self.verify("carol@example.test", 250)
        qid = self.qid_of(self.probe_line("carol@example.test", "local"))
        self.assertEqual(self.once_keys(qid), [])
        # the marker does exist for real mail (the check can fail)
        mid = self.send("carol@example.test", "after-carol")
        self.wait_log("%s: to=<carol@example.test>" % mid, ("local",))
        self.assertNotEqual(self.once_keys(mid), [])

    # ---- virtual ----

    def test_virtual_probe_writes_nothing(self):
        self.verify("vu@one.test", 250)
        self.verify("vb@one.test", 250)
        self.assertIn("relay=virtual",
                      self.probe_line("vu@one.test", "virtual"))
        self.assertIn("status=deliverable (delivers to maildir)",
                      self.probe_line("vu@one.test", "virtual"))
        self.assertIn("status=deliverable (delivers to mailbox)",
                      self.probe_line("vb@one.test", "virtual"))
        one = os.path.join(self.vbase, "one.test")
        self.assertEqual(self.files(one), [])
        code, text = self.rcpt("nobody-here@one.test")
        self.assertIn(code, (450, 550), text)
        self.send("vu@one.test", "after-vu")
        new = os.path.join(one, "vu", "new")
        self.wait_true(lambda: len(self.files(new)) >= 1,
                       "no maildir file for vu")
        time.sleep(1)
        self.assertEqual(len(self.files(new)), 1, self.files(new))
        self.assertFalse(os.path.exists(os.path.join(one, "vb")))

    # ---- pipe ----

    def test_pipe_probe_runs_nothing(self):
        self.verify("p@pipe.test", 250)
        line = self.probe_line("p@pipe.test", "pipe")
        self.assertRegex(line, r"to=<p@pipe\.test>, relay=myfilter, .*"
                         r"status=deliverable \(delivers to command: "
                         r"/usr/bin/tee\)")
        self.assertEqual(self.cache("p@pipe.test").get("status"),
                         "deliverable")
        time.sleep(1)
        self.assertFalse(os.path.exists(self.pipe_out))
        self.send("p@pipe.test", "after-pipe")
        self.wait_true(lambda: self.count_in(self.pipe_out,
                                             "after-pipe") >= 1,
                       "the pipe command did not run")
        time.sleep(1)
        self.assertEqual(self.count_in(self.pipe_out, "after-pipe"), 1)
