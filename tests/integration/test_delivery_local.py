"""The local delivery agent (issue 11, point 1) with the whole stack:
smtpd -> cleanup -> qmgr -> local, plus smtp to an smtp-sink for the
remote target of an alias and a PySink for the senders' DSNs.

- a message to a local user lands in its maildir exactly once: one
  file per message under new/ with unique names, owned by the user's
  uid, holding Return-Path: and Delivered-To: then the queued content
  byte for byte (LF line ends); the log says relay=local and
  "status=sent (delivered to maildir)";
- mbox delivery of two large messages at once never interleaves (the
  spool mailbox of a user without home, created owned by the user);
- an alias to a /file, a |command and a remote address reaches all
  three (file and command run as default_privs = nobody; the remote
  copy carries Delivered-To: <alias>);
- an alias loop (a -> b -> a) and a message that already carries
  Delivered-To: <rcpt> bounce with "5.4.6 mail forwarding loop for";
- an unknown user is refused at RCPT by smtpd, and bounced 5.1.1
  "unknown user" by local when an alias points at one;
- alias_maps from a redis: table, changed at run time;
- :include: files expand, and their /file targets run as the file's
  owner (allow_mail_to_files includes "include" here);
- recipient_delimiter: user+ext is delivered to user;
- SIGHUP: an alias changed in the file is followed by the next message;
- kill -9 of local in a burst: after the restart every message is in
  the maildir exactly once (the recovery time is printed).
"""

import os
import pwd
import re
import signal
import smtplib
import threading
import time
import unittest

from peers import Dsn, PySink, SmtpSink
from pmtest import DeliveryTest, DELIVERY_SERVICES

ALICE, BOB, DAVE, CAROL, ERIN, FRANK = 4242, 4243, 4244, 4245, 4246, 4247
NOBODY = pwd.getpwnam("nobody").pw_uid


def message(mid, subject="local test", extra=b"", body=b"hello\r\n"):
    return (b"From: <sender@back.test>\r\n"
            b"To: <someone@example.test>\r\n" + extra +
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\n" + body)


def lf(data):
    return data.replace(b"\r\n", b"\n")


class LocalTest(DeliveryTest):

    SERVICES = DELIVERY_SERVICES + ("local",)

    @classmethod
    def start_peers(cls, workdir):
        # the services run as root; users and nobody must reach their files
        os.chmod(workdir, 0o755)
        cls.base = os.path.join(workdir, "mail")
        cls.home = os.path.join(cls.base, "home")
        cls.spool = os.path.join(cls.base, "spool")
        cls.out = os.path.join(cls.base, "out")
        for d, mode in ((cls.base, 0o755), (cls.home, 0o755),
                        (cls.spool, 0o755), (cls.out, 0o777)):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, mode)
        for name, uid in (("alice", ALICE), ("bob", BOB), ("carol", CAROL),
                          ("erin", ERIN), ("frank", FRANK)):
            h = os.path.join(cls.home, name)
            os.makedirs(h, exist_ok=True)
            os.chown(h, uid, uid)
            os.chmod(h, 0o700)
        # .forward files: erin's own, one for erin+x, and frank's, which
        # is group-writable and must be ignored
        cls.erin_x = os.path.join(cls.out, "erin-x")
        for name, uid, fname, text, mode in (
                ("erin", ERIN, ".forward",
                 "remote-erin@relay.test, \\erin\n", 0o600),
                ("erin", ERIN, ".forward+x",
                 "|/usr/bin/tee -a %s\n" % cls.erin_x, 0o600),
                ("frank", FRANK, ".forward",
                 "remote-frank@relay.test\n", 0o664)):
            p = os.path.join(cls.home, name, fname)
            with open(p, "w") as f:
                f.write(text)
            os.chown(p, uid, uid)
            os.chmod(p, mode)
        users = os.path.join(cls.base, "users")
        with open(users, "w") as f:
            f.write("alice %d:%d:%s/alice\n" % (ALICE, ALICE, cls.home))
            f.write("bob %d:%d:%s/bob\n" % (BOB, BOB, cls.home))
            f.write("carol %d:%d:%s/carol\n" % (CAROL, CAROL, cls.home))
            f.write("dave %d:%d:\n" % (DAVE, DAVE))
            f.write("erin %d:%d:%s/erin\n" % (ERIN, ERIN, cls.home))
            f.write("frank %d:%d:%s/frank\n" % (FRANK, FRANK, cls.home))
        inc = os.path.join(cls.base, "inc.list")
        with open(inc, "w") as f:
            f.write("# an include file\nbob, %s/inc.mbox\n" % cls.out)
        os.chown(inc, BOB, BOB)
        os.chmod(inc, 0o644)
        selfinc = os.path.join(cls.base, "self.inc")
        with open(selfinc, "w") as f:
            f.write(":include:%s\n" % selfinc)
        cmdinc = os.path.join(cls.base, "cmd.inc")
        with open(cmdinc, "w") as f:
            f.write("|/usr/bin/true\n")
        cls.flaky = os.path.join(cls.base, "flaky.py")
        with open(cls.flaky, "w") as f:
            f.write("import os, sys\n"
                    "if not os.path.exists(sys.argv[1]):\n"
                    "    open(sys.argv[1], 'w').close()\n"
                    "    print('try again later')\n"
                    "    sys.exit(75)\n")
        os.chmod(cls.flaky, 0o644)
        cls.team_file = os.path.join(cls.out, "team.mbox")
        cls.team_cmd = os.path.join(cls.out, "team.cmd")
        aliases = os.path.join(cls.base, "aliases")
        with open(aliases, "w") as f:
            f.write("team %s, |/usr/bin/tee -a %s, remote@relay.test\n"
                    % (cls.team_file, cls.team_cmd))
            f.write("loopa loopb\nloopb loopa\n")
            f.write("ghost nosuchuser\n")
            f.write("inc :include:%s\n" % inc)
            f.write("postmaster alice\n")
            f.write("list remote-list@relay.test\nowner-list alice\n")
            f.write("deep :include:%s\n" % selfinc)
            f.write("cmdinc :include:%s\n" % cmdinc)
            f.write("wide " + ", ".join("w%d@relay.test" % i
                                        for i in range(6)) + "\n")
            f.write("half \\alice, |/usr/bin/python3 %s %s/flag\n"
                    % (cls.flaky, cls.out))
            f.write("mover |/usr/bin/tee -a %s/mover1\n" % cls.out)
        cls.aliases = aliases
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "myorigin": "example.test",
            "alias_maps": "texthash:%s redis:pm:alias:" % aliases,
            "local_recipient_maps":
                "texthash:%s texthash:%s redis:pm:alias:" % (users, aliases),
            "home_mailbox": "Maildir/",
            "mail_spool_directory": cls.spool,
            "recipient_delimiter": "+",
            "allow_mail_to_files": "alias, forward, include",
            "local_alias_expansion_limit": "5",
            "forward_path": "$home/.forward${recipient_delimiter}"
                            "${extension}, $home/.forward",
            "transport_maps":
                "inline:{ relay.test=smtp:[127.0.0.1]:%d, "
                "back.test=smtp:[127.0.0.1]:%d }"
                % (cls.sink.port, cls.back.port),
        }

    # ---- helpers ----

    def maildir_files(self, user):
        new = os.path.join(self.home, user, "Maildir", "new")
        if not os.path.isdir(new):
            return []
        return sorted(os.path.join(new, n) for n in os.listdir(new))

    def with_mid(self, files, mid):
        out = []
        for p in files:
            with open(p, "rb") as f:
                if (b"<" + mid.encode() + b"@client.test>") in f.read():
                    out.append(p)
        return out

    def wait_files(self, user, mid, n=1, timeout=30.0):
        deadline = time.time() + timeout
        while True:
            got = self.with_mid(self.maildir_files(user), mid)
            if len(got) >= n or time.time() > deadline:
                return got
            time.sleep(0.1)

    def wait_dsn(self, pattern, timeout=30.0):
        """(Message, Dsn, block) of a DSN at the back sink whose
        Diagnostic-Code matches pattern."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for m in self.back.messages():
                if "multipart/report" not in (m.header("Content-Type") or ""):
                    continue
                d = Dsn(m.content)
                for blk in d.per_rcpt:
                    if re.search(pattern, blk.get("diagnostic-code", "")):
                        return m, d, blk
            time.sleep(0.2)
        self.fail("no DSN matching %r\n%s" % (pattern, self.logs_tail()))

    def logs_tail(self, n=3000):
        return (super().logs_tail(n) + "\n---- local ----\n" +
                self.stack.svcs["local"].text()[-n:])

    # ---- tests ----

    def test_maildir_exactly_once(self):
        msg = message("md-1", body=b"line one\r\nFrom the start\r\n.dot\r\n")
        qid = self.submit("sender@back.test", ["alice@example.test"], msg)
        lines = self.wait_log("%s: to=<alice@example.test>" % qid, ("local",))
        self.assertTrue(any("relay=local" in ln and "dsn=2.0.0" in ln and
                            "status=sent (delivered to maildir)" in ln
                            for ln in lines), lines)
        self.wait_gone(qid)
        files = self.wait_files("alice", "md-1")
        self.assertEqual(len(files), 1, files)
        st = os.stat(files[0])
        self.assertEqual((st.st_uid, st.st_gid), (ALICE, ALICE))
        with open(files[0], "rb") as f:
            got = f.read()
        head = (b"Return-Path: <sender@back.test>\n"
                b"Delivered-To: alice@example.test\n")
        self.assertTrue(got.startswith(head), got[:200])
        # what cleanup queued, byte for byte (LF line ends in a maildir)
        self.assertTrue(got.endswith(lf(msg)), got)
        added = got[len(head):len(got) - len(lf(msg))]
        for ln in added.split(b"\n"):
            self.assertTrue(ln == b"" or re.match(rb"^(\S+:|[ \t])", ln),
                            "not a header line: %r" % ln)
        # the same message again: a second file, another name
        qid2 = self.submit("sender@back.test", ["alice@example.test"], msg)
        self.wait_gone(qid2)
        files = self.wait_files("alice", "md-1", n=2)
        self.assertEqual(len(files), 2, files)
        self.assertEqual(len(set(os.path.basename(p) for p in files)), 2)
        tmp = os.path.join(self.home, "alice", "Maildir", "tmp")
        self.assertEqual(os.listdir(tmp), [])

    def test_extension(self):
        qid = self.submit("sender@back.test", ["alice+news@example.test"],
                          message("ext-1"))
        self.wait_gone(qid)
        files = self.wait_files("alice", "ext-1")
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            self.assertIn(b"Delivered-To: alice+news@example.test\n",
                          f.read())

    def test_mbox_concurrent_no_interleave(self):
        size = 1024 * 1024
        bodies = {}
        for tag in (b"A", b"B"):
            line = tag * 70 + b"\r\n"
            bodies[tag] = line * (size // len(line))

        def send(tag):
            self.submit("sender@back.test", ["dave@example.test"],
                        message("mbox-" + tag.decode(), body=bodies[tag]))

        ts = [threading.Thread(target=send, args=(t,)) for t in bodies]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        path = os.path.join(self.spool, "dave")
        lines = self.wait_log("to=<dave@example.test>", ("local",), count=2)
        self.assertEqual(len(lines), 2, lines)
        for ln in lines:
            self.assertIn("status=sent (delivered to mailbox)", ln)
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid), (DAVE, DAVE))
        with open(path, "rb") as f:
            data = f.read()
        msgs = re.split(rb"(?m)^From ", data)
        msgs = [m for m in msgs if m]
        self.assertEqual(len(msgs), 2, [m[:100] for m in msgs])
        for m in msgs:
            tag = b"A" if b"<mbox-A@" in m else b"B"
            other = b"B" if tag == b"A" else b"A"
            body = m.split(b"\n\n", 1)[1]
            self.assertNotIn(other * 70, body)
            self.assertEqual(body.count(tag * 70 + b"\n"),
                             size // 72, "a body was cut or mixed")
            self.assertTrue(m.endswith(b"\n\n"))
        self.assertTrue(self.stack.log_lines(
            "status=sent (delivered to mailbox)", "local"))

    def test_alias_three_targets(self):
        qid = self.submit("sender@back.test", ["team@example.test"],
                          message("team-1"))
        lines = self.wait_log("%s: to=<team@example.test>" % qid, ("local",))
        ln = lines[-1]
        self.assertIn("status=sent", ln)
        self.assertIn("delivered to file: %s" % self.team_file, ln)
        self.assertIn("delivered to command: /usr/bin/tee -a %s"
                      % self.team_cmd, ln)
        m = re.search(r"forwarded as (\w+)", ln)
        self.assertIsNotNone(m, ln)
        # the remote copy
        msgs = self.wait_count(self.sink, 1)
        remote = [x for x in msgs if b"<team-1@client.test>" in x.content]
        self.assertEqual(len(remote), 1)
        self.assertEqual(remote[0].recipients, ["remote@relay.test"])
        self.assertEqual(remote[0].sender, "sender@back.test")
        self.assertEqual(remote[0].header("Delivered-To"),
                         "team@example.test")
        # the file, as nobody
        with open(self.team_file, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"From sender@back.test "), data[:80])
        self.assertIn(b"<team-1@client.test>", data)
        self.assertEqual(os.stat(self.team_file).st_uid, NOBODY)
        # the command, as nobody, with the message on stdin
        with open(self.team_cmd, "rb") as f:
            data = f.read()
        self.assertIn(b"Delivered-To: team@example.test\n", data)
        self.assertIn(b"<team-1@client.test>", data)
        self.assertEqual(os.stat(self.team_cmd).st_uid, NOBODY)

    def test_alias_loop_bounced(self):
        qid = self.submit("sender@back.test", ["loopa@example.test"],
                          message("loop-1"))
        self.wait_gone(qid)
        m, d, blk = self.wait_dsn(r"mail forwarding loop for loop")
        self.assertEqual(blk.get("status"), "5.4.6")
        self.assertEqual(blk.get("action"), "failed")
        self.assertIn(b"<loop-1@client.test>", d.returned_bytes())
        self.assertTrue(self.stack.log_lines(
            "status=bounced (mail forwarding loop for loop", "local"))

    def test_delivered_to_loop_bounced(self):
        msg = message("loop-2", extra=b"Delivered-To: bob@example.test\r\n")
        qid = self.submit("sender@back.test", ["bob@example.test"], msg)
        self.wait_gone(qid)
        m, d, blk = self.wait_dsn(
            r"mail forwarding loop for bob@example\.test")
        self.assertEqual(blk.get("status"), "5.4.6")
        self.assertEqual(self.wait_files("bob", "loop-2", timeout=1), [])

    def test_unknown_user(self):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port) as c:
            c.ehlo("client.test")
            c.mail("sender@back.test")
            code, text = c.rcpt("nosuch@example.test")
            self.assertEqual(code, 550, text)
            self.assertIn(b"5.1.1", text)
        qid = self.submit("sender@back.test", ["ghost@example.test"],
                          message("ghost-1"))
        self.wait_gone(qid)
        m, d, blk = self.wait_dsn(r'unknown user: "nosuchuser"')
        self.assertEqual(blk.get("status"), "5.1.1")

    def test_include(self):
        qid = self.submit("sender@back.test", ["inc@example.test"],
                          message("inc-1"))
        self.wait_gone(qid)
        files = self.wait_files("bob", "inc-1")
        self.assertEqual(len(files), 1, self.logs_tail())
        path = os.path.join(self.out, "inc.mbox")
        self.assertTrue(os.path.exists(path), self.logs_tail())
        # the include file's owner writes its /file targets
        self.assertEqual(os.stat(path).st_uid, BOB)
        with open(path, "rb") as f:
            self.assertIn(b"<inc-1@client.test>", f.read())

    def sink_copies(self, mid):
        deadline = time.time() + 30
        while time.time() < deadline:
            got = [x for x in self.sink.messages()
                   if ("<%s@client.test>" % mid).encode() in x.content]
            if got:
                return got
            time.sleep(0.1)
        self.fail("%s never reached the sink\n%s" % (mid, self.logs_tail()))

    def test_owner_alias_is_sender(self):
        qid = self.submit("sender@back.test", ["list@example.test"],
                          message("list-1"))
        self.wait_gone(qid)
        got = self.sink_copies("list-1")
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].sender, "owner-list@example.test")
        self.assertEqual(got[0].recipients, ["remote-list@relay.test"])

    def test_dotforward(self):
        qid = self.submit("sender@back.test", ["erin@example.test"],
                          message("fwd-1"))
        lines = self.wait_log("%s: to=<erin@example.test>" % qid, ("local",))
        self.assertIn("delivered to maildir", lines[-1])
        self.assertIn("forwarded as", lines[-1])
        self.assertEqual(len(self.wait_files("erin", "fwd-1")), 1)
        got = self.sink_copies("fwd-1")
        self.assertEqual(got[0].recipients, ["remote-erin@relay.test"])
        self.assertEqual(got[0].header("Delivered-To"), "erin@example.test")
        # erin+x: .forward+x, a command run as erin
        qid = self.submit("sender@back.test", ["erin+x@example.test"],
                          message("fwd-2"))
        self.wait_gone(qid)
        with open(self.erin_x, "rb") as f:
            self.assertIn(b"<fwd-2@client.test>", f.read())
        self.assertEqual(os.stat(self.erin_x).st_uid, ERIN)
        self.assertEqual(self.with_mid(self.maildir_files("erin"), "fwd-2"),
                         [])
        # frank's .forward is group-writable: ignored, mailbox instead
        qid = self.submit("sender@back.test", ["frank@example.test"],
                          message("fwd-3"))
        self.wait_gone(qid)
        self.assertEqual(len(self.wait_files("frank", "fwd-3")), 1)
        self.assertTrue(self.stack.log_lines("ignoring %s/frank/.forward"
                                             % self.home, "local"))

    def test_redis_alias_live(self):
        # an alias written into Redis while everything runs: every
        # replica (smtpd's RCPT check through rewrite, local) sees it
        self.stack.r().set("pm:alias:rlist",
                           "remote-r@relay.test, \\alice")
        qid = self.submit("sender@back.test", ["rlist@example.test"],
                          message("redis-1"))
        lines = self.wait_log("%s: to=<rlist@example.test>" % qid,
                              ("local",))
        self.assertIn("delivered to maildir", lines[-1])
        self.assertEqual(len(self.wait_files("alice", "redis-1")), 1)
        got = self.sink_copies("redis-1")
        self.assertEqual(got[0].recipients, ["remote-r@relay.test"])
        self.assertEqual(got[0].header("Delivered-To"), "rlist@example.test")

    def test_limits_and_restrictions(self):
        for rcpt, pattern, status in (
                ("deep", r"alias database loop for .*self\.inc", "5.4.6"),
                ("cmdinc", r"mail to command is restricted", "5.7.1"),
                ("wide", r"alias expansion limit exceeded for wide",
                 "5.3.5")):
            qid = self.submit("sender@back.test", [rcpt + "@example.test"],
                              message("lim-" + rcpt))
            self.wait_gone(qid)
            m, d, blk = self.wait_dsn(pattern)
            self.assertEqual(blk.get("status"), status, blk)
            self.assertIn(("<lim-%s@client.test>" % rcpt).encode(),
                          d.returned_bytes())

    def test_retry_after_partial_delivery_no_duplicate(self):
        # \alice gets its copy, the command defers (75): the recipient
        # is deferred and tried again; the maildir copy is not repeated
        qid = self.submit("sender@back.test", ["half@example.test"],
                          message("half-1"))
        self.wait_log("%s: to=<half@example.test>" % qid, ("local",))
        lines = self.wait_log("%s: to=<half@example.test>" % qid, ("local",),
                              count=2, timeout=60)
        self.assertIn("status=deferred", lines[0])
        self.assertIn("try again later", lines[0])
        self.assertIn("status=sent", lines[1])
        self.wait_gone(qid)
        self.assertTrue(self.stack.log_lines(
            "%s: half@example.test: already in maildir" % qid, "local"))
        self.assertEqual(len(self.wait_files("alice", "half-1")), 1)

    def test_reload_aliases_on_sighup(self):
        # the alias file changes; SIGHUP makes local open alias_maps
        # again and the next message follows the new value
        one, two = (os.path.join(self.out, n) for n in ("mover1", "mover2"))
        qid = self.submit("sender@back.test", ["mover@example.test"],
                          message("mv-1"))
        self.wait_gone(qid)
        with open(one, "rb") as f:
            self.assertIn(b"<mv-1@client.test>", f.read())
        with open(self.aliases) as f:
            text = f.read()
        with open(self.aliases + ".new", "w") as f:
            f.write(text.replace("/mover1\n", "/mover2\n"))
        os.rename(self.aliases + ".new", self.aliases)
        before = len(self.stack.log_lines("reload: tables reopened",
                                          "local"))
        self.stack.svcs["local"].proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while (len(self.stack.log_lines("reload: tables reopened", "local"))
               == before and time.time() < deadline):
            time.sleep(0.1)
        self.assertGreater(len(self.stack.log_lines(
            "reload: tables reopened", "local")), before, self.logs_tail())
        qid = self.submit("sender@back.test", ["mover@example.test"],
                          message("mv-2"))
        self.wait_gone(qid)
        with open(two, "rb") as f:
            self.assertIn(b"<mv-2@client.test>", f.read())
        with open(one, "rb") as f:
            self.assertNotIn(b"<mv-2@client.test>", f.read())

    def test_zz_kill9_burst(self):
        n = 60
        mids = ["burst-%d" % i for i in range(n)]
        done = []

        def send(part):
            with smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                              timeout=30) as c:
                c.ehlo("client.test")
                for mid in part:
                    c.sendmail("sender@back.test", ["carol@example.test"],
                               message(mid))
                    done.append(mid)

        ts = [threading.Thread(target=send, args=(mids[i::4],))
              for i in range(4)]
        for t in ts:
            t.start()
        # kill local once some are delivered, while the burst goes on
        deadline = time.time() + 30
        while (len(self.stack.log_lines("to=<carol@example.test>", "local"))
               < 5 and time.time() < deadline):
            time.sleep(0.01)
        before = len(self.maildir_files("carol"))
        self.stack.svcs["local"].stop(signal.SIGKILL)
        t0 = time.time()
        self.stack.svcs["local"].start()
        self.stack.wait_ready("local")
        for t in ts:
            t.join()
        deadline = time.time() + 60
        while time.time() < deadline:
            if len(self.maildir_files("carol")) >= n:
                break
            time.sleep(0.05)
        recovery = time.time() - t0
        time.sleep(1.5)     # a duplicate would arrive now
        files = self.maildir_files("carol")
        count = {}
        for p in files:
            with open(p, "rb") as f:
                m = re.search(rb"<(burst-\d+)@client.test>", f.read())
            count[m.group(1).decode()] = count.get(m.group(1).decode(), 0) + 1
        print("\nkill -9 of local after %d of %d deliveries: all %d "
              "delivered %.2f s after the restart" % (before, n, n, recovery))
        self.assertEqual(sorted(count), sorted(mids), self.logs_tail())
        self.assertEqual([k for k, v in count.items() if v != 1], [],
                         "duplicates: %r" % {k: v for k, v in count.items()
                                             if v != 1})


class LocalCommandTest(DeliveryTest):
    """mailbox_command: run as the user, arguments expanded per
    recipient ($user, $extension), the message on stdin; exit 67
    (EX_NOUSER) bounces with the command's output."""

    SERVICES = DELIVERY_SERVICES + ("local",)

    @classmethod
    def start_peers(cls, workdir):
        os.chmod(workdir, 0o755)
        cls.out = os.path.join(workdir, "out")
        os.makedirs(cls.out)
        os.chmod(cls.out, 0o777)
        users = os.path.join(workdir, "users")
        with open(users, "w") as f:
            f.write("alice %d:%d:\n" % (ALICE, ALICE))
            f.write("gone %d:%d:\n" % (BOB, BOB))
        script = os.path.join(workdir, "deliver.py")
        with open(script, "w") as f:
            f.write("import sys\n"
                    "if sys.argv[1] == 'gone':\n"
                    "    print('no such mailbox here')\n"
                    "    sys.exit(67)\n"
                    "open(sys.argv[2], 'ab').write(sys.stdin.buffer.read())\n")
        os.chmod(script, 0o644)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "myorigin": "example.test",
            "local_recipient_maps": "texthash:" + users,
            "recipient_delimiter": "+",
            "mailbox_command": "/usr/bin/python3 %s $user %s/$user$extension"
                               % (script, cls.out),
            "transport_maps": "inline:{ back.test=smtp:[127.0.0.1]:%d }"
                              % cls.back.port,
        }

    def test_mailbox_command(self):
        qid = self.submit("sender@back.test", ["alice+tag@example.test"],
                          message("cmd-1"))
        lines = self.wait_log("%s: to=<alice+tag@example.test>" % qid,
                              ("local",))
        self.assertIn("status=sent (delivered to command: /usr/bin/python3",
                      lines[-1])
        path = os.path.join(self.out, "alicetag")
        with open(path, "rb") as f:
            data = f.read()
        self.assertIn(b"Delivered-To: alice+tag@example.test\n", data)
        self.assertIn(b"<cmd-1@client.test>", data)
        self.assertEqual(os.stat(path).st_uid, ALICE)

    def test_mailbox_command_nouser(self):
        qid = self.submit("sender@back.test", ["gone@example.test"],
                          message("cmd-2"))
        lines = self.wait_log("%s: to=<gone@example.test>" % qid, ("local",))
        self.assertIn("dsn=5.1.1", lines[-1])
        self.assertIn("status=bounced", lines[-1])
        self.assertIn("no such mailbox here", lines[-1])


if __name__ == "__main__":
    unittest.main()
