"""The virtual delivery agent (issue 11, item 2): Postfix virtual(8).

Full stack (smtpd, cleanup, rewrite, qmgr, virtual; bounce and smtp for
the notices) with two virtual mailbox domains (one.test, two.test), a
texthash virtual_mailbox_maps (alice@one.test -> one.test/alice/, a
maildir; bob@two.test -> two.test/bob, an mbox file) and
virtual_uid_maps = virtual_gid_maps = static:1234. The domain
directories are created by the test (as root) owned by 1234:1234; the
agent runs as root and writes as 1234 (setfsuid per thread).

- a message to both users lands once in each mailbox: the file holds
  "Return-Path: <sender>" and "Delivered-To: <rcpt>", the headers the
  stack adds, then what was sent byte for byte (with LF line ends);
  files and the directories the agent made are owned by 1234:1234;
  the agent logs relay=virtual and "delivered to maildir" / "delivered
  to mailbox";
- an unknown user of a virtual domain is refused at RCPT: 550 5.1.1
  "User unknown in virtual mailbox table" (rewrite's known-recipient
  check, smtpd_reject_unlisted_recipient);
- a message over virtual_mailbox_limit bounces: the sender gets a DSN
  with Status 5.2.2;
- a message already carrying "Delivered-To: <rcpt>" is delivered (as
  Postfix virtual(8), which has no loop test); an unknown user with it
  still bounces 5.1.1;
- SIGHUP: virtual_mailbox_maps changed in its file is used by the next
  message;
- kill -9 of the virtual agent during a burst of 50 messages (to both
  users) and a restart: every message is in each mailbox exactly once
  (Message-ID count); the recovery time is printed.
"""

import os
import re
import signal
import smtplib
import threading
import time
import unittest

from peers import PySink, dsns_for
from pmtest import DELIVERY_SERVICES, DeliveryTest

UID = 1234
GID = 1234
LIMIT = 200000
BURST = 50


def message(mid, subject="virtual test", body=b"the body\r\nFrom here\r\n"):
    return (b"From: <sender@back.test>\r\n"
            b"To: <alice@one.test>, <bob@two.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\n" + body)


class VirtualBase(DeliveryTest):
    SERVICES = DELIVERY_SERVICES + ("virtual",)

    @classmethod
    def start_peers(cls, workdir):
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        os.chmod(workdir, 0o711)     # the mailbox owner must get through
        cls.base = os.path.join(workdir, "vmail")
        os.mkdir(cls.base, 0o755)
        for d in ("one.test", "two.test"):
            p = os.path.join(cls.base, d)
            os.mkdir(p, 0o700)
            os.chown(p, UID, GID)
        maps = os.path.join(workdir, "vmailbox")
        with open(maps, "w") as f:
            f.write("alice@one.test one.test/alice/\n"
                    "bob@two.test two.test/bob\n"
                    "big@one.test one.test/big/\n"
                    "low@one.test one.test/low/\n"
                    "dots@one.test one.test/../../escape/\n"
                    "mover@one.test one.test/mover1/\n")
        cls.maps = maps
        return {
            "virtual_mailbox_domains": "one.test, two.test",
            "virtual_mailbox_maps": "texthash:" + maps,
            "virtual_mailbox_base": cls.base,
            "virtual_uid_maps": "static:%d" % UID,
            "virtual_gid_maps": "static:%d" % GID,
            "virtual_mailbox_limit": str(LIMIT),
            "transport_maps":
                "inline:{ back.test=smtp:[127.0.0.1]:%d }" % cls.back.port,
        }

    def tail(self):
        return (self.logs_tail() + "\n---- virtual ----\n" +
                self.stack.svcs["virtual"].text()[-3000:])

    # mailbox readers

    def maildir_files(self, user="alice"):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.base, "one.test", user, sub)
            if os.path.isdir(d):
                out += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return out

    def maildir_with(self, mid):
        found = []
        for p in self.maildir_files():
            with open(p, "rb") as f:
                data = f.read()
            if b"<" + mid.encode() + b"@client.test>" in data:
                found.append((p, data))
        return found

    def mbox(self):
        p = os.path.join(self.base, "two.test", "bob")
        try:
            with open(p, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def mbox_messages(self):
        """Split bob's mbox at From_ lines (after a blank line)."""
        data = self.mbox()
        parts = re.split(rb"(?:^|\n\n)(?=From [^\n]* \d{4}\n)", data)
        return [p for p in parts if p.startswith(b"From ")]

    def wait_for(self, cond, what, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.1)
        self.fail("timed out waiting for %s\n%s" % (what, self.tail()))

    def check_content(self, data, rcpt, sent):
        want_head = (b"Return-Path: <sender@back.test>\n"
                     b"Delivered-To: " + rcpt.encode() + b"\n")
        self.assertTrue(data.startswith(want_head), data[:200])
        want_tail = sent.replace(b"\r\n", b"\n")
        self.assertTrue(data.endswith(want_tail),
                        "content differs:\n%r\nwant ...%r"
                        % (data[-300:], want_tail))
        added = data[len(want_head):len(data) - len(want_tail)]
        for line in added.split(b"\n")[:-1]:
            self.assertTrue(line[:1] in (b" ", b"\t") or
                            re.match(rb"^[A-Za-z-]+: ", line),
                            "not a header line: %r" % line)
        self.assertNotIn(b"\r", data)



class VirtualTest(VirtualBase):

    def test_both_users(self):
        sent = message("both-1")
        qid = self.submit("sender@back.test",
                          ["alice@one.test", "bob@two.test"], sent)
        self.wait_for(lambda: self.maildir_with("both-1") and
                      b"both-1@client.test" in self.mbox(), "both mailboxes")
        self.wait_gone(qid)
        # maildir: exactly one file, in new/, owned by the user
        files = self.maildir_with("both-1")
        self.assertEqual(len(files), 1, files)
        path, data = files[0]
        self.assertEqual(os.path.basename(os.path.dirname(path)), "new")
        self.check_content(data, "alice@one.test", sent)
        md = os.path.join(self.base, "one.test", "alice")
        for p in (path, md, md + "/new", md + "/tmp", md + "/cur"):
            st = os.stat(p)
            self.assertEqual((st.st_uid, st.st_gid), (UID, GID), p)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(os.listdir(md + "/tmp"), [".postmesh-ledger"])
        # mbox: one message, From_ line, >From quoting, blank line after
        msgs = [m for m in self.mbox_messages() if b"both-1@client" in m]
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        first, rest = m.split(b"\n", 1)
        self.assertTrue(re.match(rb"^From sender@back\.test \w{3} \w{3} "
                                 rb"[ \d]\d \d\d:\d\d:\d\d \d{4}$", first),
                        first)
        quoted = sent.replace(b"\r\nFrom here", b"\r\n>From here")
        self.check_content(rest.rstrip(b"\n") + b"\n", "bob@two.test",
                           quoted)
        self.assertTrue(self.mbox().endswith(b"\n\n"))
        st = os.stat(os.path.join(self.base, "two.test", "bob"))
        self.assertEqual((st.st_uid, st.st_gid), (UID, GID))
        # Postfix's log lines
        log = self.stack.log_lines("%s: to=<" % qid, "virtual")
        self.assertTrue(any("to=<alice@one.test>" in ln and
                            "relay=virtual" in ln and "dsn=2.0.0" in ln and
                            "status=sent (delivered to maildir)" in ln
                            for ln in log), log)
        self.assertTrue(any("to=<bob@two.test>" in ln and
                            "relay=virtual" in ln and
                            "status=sent (delivered to mailbox)" in ln
                            for ln in log), log)

    def test_unknown_user_refused_at_rcpt(self):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                          timeout=30) as c:
            c.ehlo("client.test")
            self.assertEqual(c.mail("sender@back.test")[0], 250)
            code, text = c.rcpt("nobody@one.test")
            self.assertEqual(code, 550, text)
            self.assertTrue(text.startswith(b"5.1.1 "), text)
            self.assertIn(b"User unknown in virtual mailbox table", text)
            code, text = c.rcpt("nobody@two.test")
            self.assertEqual(code, 550, text)
            self.assertEqual(c.rcpt("bob@two.test")[0], 250)

    def test_mailbox_limit_bounces(self):
        body = (b"x" * 76 + b"\r\n") * (LIMIT // 77 + 10)
        qid = self.submit("sender@back.test", ["big@one.test"],
                          message("big-1", body=body))
        deadline = time.time() + 30
        found = []
        while not found and time.time() < deadline:
            found = dsns_for(self.back.messages(), "big@one.test")
            time.sleep(0.1)
        self.assertEqual(len(found), 1, "DSNs for big@one.test: %d\n%s"
                         % (len(found), self.tail()))
        m, d = found[0]
        r = d.rcpt("big@one.test")
        self.assertEqual(r.get("action"), "failed", r)
        self.assertEqual(r.get("status"), "5.2.2", r)
        self.assertIn("mailbox full", r.get("diagnostic-code", ""))
        self.wait_gone(qid)
        for sub in ("new", "tmp", "cur"):
            p = os.path.join(self.base, "one.test", "big", sub)
            names = os.listdir(p) if os.path.isdir(p) else []
            self.assertEqual([n for n in names if not n.startswith(".")],
                             [], p)

    def test_delivered_to_is_delivered(self):
        # as Postfix virtual(8), which has no Delivered-To: loop test
        # (only local(8) has): a message that already carries
        # Delivered-To: <rcpt> is delivered all the same
        sent = message("loop-1").replace(
            b"Subject:", b"Delivered-To: bob@two.test\r\nSubject:", 1)
        qid = self.submit("sender@back.test",
                          ["alice@one.test", "bob@two.test"], sent)
        self.wait_gone(qid)
        self.assertEqual(len(self.maildir_with("loop-1")), 1)
        self.assertIn(b"<loop-1@client.test>", self.mbox())
        log = self.stack.log_lines("%s: to=<bob@two.test>" % qid, "virtual")
        self.assertTrue(any("status=sent" in ln for ln in log), log)
        time.sleep(1)
        self.assertEqual([m for m, d in
                          dsns_for(self.back.messages(), "bob@two.test")
                          if b"<loop-1@client.test>" in m.content], [])

    def test_reload_maps_on_sighup(self):
        # virtual_mailbox_maps changes; SIGHUP makes the agent open it
        # again and the next message goes to the new mailbox
        def files(name):
            d = os.path.join(self.base, "one.test", name, "new")
            return os.listdir(d) if os.path.isdir(d) else []

        qid = self.submit("sender@back.test", ["mover@one.test"],
                          message("mv-1"))
        self.wait_gone(qid)
        self.assertEqual(len(files("mover1")), 1, self.tail())
        with open(self.maps) as f:
            text = f.read()
        with open(self.maps + ".new", "w") as f:
            f.write(text.replace("one.test/mover1/", "one.test/mover2/"))
        os.rename(self.maps + ".new", self.maps)
        svc = self.stack.svcs["virtual"]
        before = len(self.stack.log_lines("reload: tables reopened",
                                          "virtual"))
        svc.proc.send_signal(signal.SIGHUP)
        self.wait_for(lambda: len(self.stack.log_lines(
            "reload: tables reopened", "virtual")) > before, "the reload")
        qid = self.submit("sender@back.test", ["mover@one.test"],
                          message("mv-2"))
        self.wait_gone(qid)
        self.assertEqual(len(files("mover2")), 1, self.tail())
        self.assertEqual(len(files("mover1")), 1)

    def test_zz_kill_during_burst(self):
        ids = ["burst-%d" % i for i in range(BURST)]
        err = []

        def send():
            try:
                with smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                                  timeout=60) as c:
                    for mid in ids:
                        c.sendmail("sender@back.test",
                                   ["alice@one.test", "bob@two.test"],
                                   message(mid))
            except Exception as e:   # reported below
                err.append(e)

        def counts():
            a = sum(1 for p in self.maildir_files()
                    if b"burst-" in open(p, "rb").read())
            b = self.mbox().count(b"Message-ID: <burst-")
            return a, b

        t = threading.Thread(target=send)
        t.start()
        deadline = time.time() + 60
        while counts()[0] < 5 and time.time() < deadline:
            time.sleep(0.01)
        at_kill = counts()
        rc = self.stack.svcs["virtual"].stop(9)
        killed = time.time()
        self.assertEqual(rc, -9)
        self.stack.svcs["virtual"].start()
        self.stack.wait_ready("virtual")
        t.join(120)
        self.assertEqual(err, [])
        self.assertLess(min(at_kill), BURST, "all delivered before the kill")
        self.wait_for(lambda: min(counts()) >= BURST, "the burst", 120)
        recovered = time.time() - killed
        self.wait_for(lambda: self.stack.queued_qids() == [], "empty queue")
        time.sleep(2)      # a late duplicate would arrive now
        alice = {}
        for p in self.maildir_files():
            data = open(p, "rb").read()
            for mid in re.findall(rb"Message-ID: <(burst-\d+)@", data):
                alice[mid] = alice.get(mid, 0) + 1
        bob = {}
        for mid in re.findall(rb"Message-ID: <(burst-\d+)@", self.mbox()):
            bob[mid] = bob.get(mid, 0) + 1
        again = self.stack.log_lines("from an earlier attempt", "virtual")
        print("\nvirtual killed at %d/%d (maildir) %d/%d (mbox) delivered; "
              "all %d in both mailboxes %.2fs after the kill; %d writes "
              "found done by the ledger" % (at_kill[0], BURST, at_kill[1],
                                            BURST, BURST, recovered,
                                            len(again)))
        self.assertEqual(len(alice), BURST)
        self.assertEqual(len(bob), BURST)
        self.assertEqual([k for k, v in alice.items() if v != 1], [])
        self.assertEqual([k for k, v in bob.items() if v != 1], [])
        # the mbox still parses: every message whole
        msgs = [m for m in self.mbox_messages() if b"burst-" in m]
        self.assertEqual(len(msgs), BURST)
        for m in msgs:
            self.assertTrue(m.rstrip(b"\n").endswith(
                b"\n\nthe body\n>From here"), m[-100:])


class VirtualAgentChecksTest(VirtualBase):
    """What the agent itself refuses, with smtpd letting everything in
    (smtpd_reject_unlisted_recipient = no): an unknown user bounces
    5.1.1, a uid below virtual_minimum_uid and a mailbox path that
    leaves virtual_mailbox_base defer 4.3.5."""

    PARAMS = {
        "smtpd_reject_unlisted_recipient": "no",
        "virtual_uid_maps": "inline:{ low@one.test=50 }, static:%d" % UID,
    }

    def test_agent_checks(self):
        self.submit("sender@back.test", ["nobody@one.test"],
                    message("checks-0"))
        qid = self.submit("sender@back.test",
                          ["low@one.test", "dots@one.test"],
                          message("checks-1"))
        deadline = time.time() + 30
        found = []
        while not found and time.time() < deadline:
            found = dsns_for(self.back.messages(), "nobody@one.test")
            time.sleep(0.1)
        self.assertEqual(len(found), 1, self.tail())
        r = found[0][1].rcpt("nobody@one.test")
        self.assertEqual(r.get("status"), "5.1.1", r)
        self.assertIn("User unknown in virtual mailbox table",
                      r.get("diagnostic-code", ""))
        for rcpt in ("low@one.test", "dots@one.test"):
            lines = self.wait_log("%s: to=<%s>" % (qid, rcpt), ("virtual",))
            self.assertTrue(any("dsn=4.3.5" in ln and "status=deferred "
                                "(mail system configuration error)" in ln
                                for ln in lines), lines)
        self.assertFalse(os.path.exists(os.path.join(self.base, "..",
                                                     "escape")))
        self.assertFalse(os.path.exists(os.path.join(self.base, "one.test",
                                                     "low")))
        self.assertIn("bad virtual_uid_maps result",
                      self.stack.log("virtual"))

    def test_unknown_with_delivered_to(self):
        # no loop test in virtual: an unknown user that already carries
        # Delivered-To: still bounces 5.1.1, not 5.4.6
        sent = message("checks-2").replace(
            b"Subject:", b"Delivered-To: ghost@one.test\r\nSubject:", 1)
        self.submit("sender@back.test", ["ghost@one.test"], sent)
        deadline = time.time() + 30
        found = []
        while not found and time.time() < deadline:
            found = dsns_for(self.back.messages(), "ghost@one.test")
            time.sleep(0.1)
        self.assertEqual(len(found), 1, self.tail())
        r = found[0][1].rcpt("ghost@one.test")
        self.assertEqual(r.get("status"), "5.1.1", r)
        self.assertIn("User unknown in virtual mailbox table",
                      r.get("diagnostic-code", ""))


if __name__ == "__main__":
    unittest.main()
