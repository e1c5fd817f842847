"""owner- aliases and the failures of |command and /file targets in the
local agent (aliases(5), Postfix local(8)'s bounce_workaround), with
the whole stack: smtpd -> cleanup -> qmgr -> local, bounce, smtp to an
smtp-sink (a remote owner) and a PySink for the sender's DSNs.

- "olist" has "owner-olist alice": its |command exits 67 with output
  and its /file target is a symlink (refused for good): one failure
  notice reaches alice's maildir listing both, with the command's
  output, and the sender gets no notice about the message;
- "rlist" has an owner- alias that forwards to a remote address: the
  notice for its failing command reaches the smtp-sink;
- a Delivered-To loop for "olist" goes to its owner as well;
- "nolist" has the same targets and no owner- alias: the sender gets
  the notice, as before;
- NOTIFY=SUCCESS,FAILURE for "olist": the owner gets the failure
  notice and the sender no success notice ("delivered" would be a lie);
  NOTIFY=SUCCESS alone: neither hears (Postfix's bounce service follows
  the recipient's NOTIFY for the owner's notice too);
- the same recipient stays without a success notice when the message
  is read back from Redis in a later pass (as after a qmgr takeover):
  "tlist" defers once, and its success notice on the next pass does not
  name "olist", whose status in Redis is "sent" with "i:q" = 1 (no
  success notice).
"""

import os
import re
import time
import unittest

from peers import Dsn, PySink, SmtpSink
from pmtest import DeliveryTest, DELIVERY_SERVICES

ALICE = 4242


def message(mid, extra=b""):
    return (b"From: <sender@back.test>\r\n"
            b"To: <someone@example.test>\r\n" + extra +
            b"Subject: owner test\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\nhello\r\n")


class LocalOwnerTest(DeliveryTest):

    SERVICES = DELIVERY_SERVICES + ("local",)

    @classmethod
    def start_peers(cls, workdir):
        os.chmod(workdir, 0o755)
        base = os.path.join(workdir, "mail")
        cls.home = os.path.join(base, "home")
        out = os.path.join(base, "out")
        for d in (base, cls.home, out):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        os.chmod(out, 0o777)
        h = os.path.join(cls.home, "alice")
        os.makedirs(h)
        os.chown(h, ALICE, ALICE)
        os.chmod(h, 0o700)
        users = os.path.join(base, "users")
        with open(users, "w") as f:
            f.write("alice %d:%d:%s/alice\n" % (ALICE, ALICE, cls.home))
        fail = os.path.join(base, "fail.py")
        with open(fail, "w") as f:
            f.write("import sys\n"
                    "sys.stdin.buffer.read()\n"
                    "print('list member %s is gone' % sys.argv[1])\n"
                    "sys.exit(67)\n")
        os.chmod(fail, 0o644)
        # a /file target that is a symlink: never written (5.2.0)
        cls.link = os.path.join(out, "link.mbox")
        os.symlink("/etc/passwd", cls.link)
        aliases = os.path.join(base, "aliases")
        with open(aliases, "w") as f:
            for name in ("olist", "nolist"):
                f.write("%s |/usr/bin/python3 %s %s, %s\n"
                        % (name, fail, name, cls.link))
            f.write("owner-olist alice\n")
            f.write("rlist |/usr/bin/python3 %s rlist\n" % fail)
            f.write("owner-rlist list-admin@relay.test\n")
            # defers (75) the first time, delivers the next
            once = os.path.join(base, "once.py")
            with open(once, "w") as g:
                g.write("import os, sys\n"
                        "sys.stdin.buffer.read()\n"
                        "f = %r\n"
                        "if not os.path.exists(f):\n"
                        "    open(f, 'w').close()\n"
                        "    sys.exit(75)\n" % os.path.join(out, "once"))
            os.chmod(once, 0o644)
            f.write("tlist |/usr/bin/python3 %s\n" % once)
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "myorigin": "example.test",
            "alias_maps": "texthash:%s" % aliases,
            "local_recipient_maps": "texthash:%s texthash:%s"
                                    % (users, aliases),
            "home_mailbox": "Maildir/",
            "allow_mail_to_files": "alias",
            "transport_maps":
                "inline:{ relay.test=smtp:[127.0.0.1]:%d, "
                "back.test=smtp:[127.0.0.1]:%d }"
                % (cls.sink.port, cls.back.port),
        }

    def logs_tail(self, n=3000):
        return (super().logs_tail(n) + "\n---- local ----\n" +
                self.stack.svcs["local"].text()[-n:])

    def alice_notices(self, mid, timeout=30.0):
        """DSNs in alice's maildir that return message mid."""
        new = os.path.join(self.home, "alice", "Maildir", "new")
        deadline = time.time() + timeout
        while True:
            got = []
            for n in sorted(os.listdir(new)) if os.path.isdir(new) else []:
                with open(os.path.join(new, n), "rb") as f:
                    data = f.read()
                if ("<%s@client.test>" % mid).encode() in data:
                    got.append(Dsn(data))
            if got or time.time() > deadline:
                return got
            time.sleep(0.1)

    def back_notices(self, mid):
        return [m for m in self.back.messages()
                if ("<%s@client.test>" % mid).encode() in m.content]

    def test_owner_gets_command_and_file_failures(self):
        qid = self.submit("sender@back.test", ["olist@example.test"],
                          message("own-1"))
        lines = self.wait_log("%s: to=<olist@example.test>" % qid,
                              ("local",), count=3)
        bounced = [ln for ln in lines if "status=bounced" in ln]
        self.assertEqual(len(bounced), 2, lines)
        self.assertTrue(any("dsn=5.1.1" in ln and
                            "list member olist is gone" in ln
                            for ln in bounced), bounced)
        self.assertTrue(any("dsn=5.2.0" in ln and self.link in ln
                            for ln in bounced), bounced)
        final = [ln for ln in lines if "status=sent" in ln]
        self.assertEqual(len(final), 1, lines)
        self.assertRegex(final[0], r"failure notice to "
                         r"owner-olist@example\.test: \w+")
        self.wait_gone(qid)
        notices = self.alice_notices("own-1")
        self.assertEqual(len(notices), 1, self.logs_tail())
        d = notices[0]
        self.assertEqual(d.report_type, "delivery-status")
        codes = sorted(b.get("status") for b in d.per_rcpt)
        self.assertEqual(codes, ["5.1.1", "5.2.0"], d.per_rcpt)
        for b in d.per_rcpt:
            self.assertEqual(b.get("final-recipient"),
                             "rfc822; olist@example.test")
        diag = " ".join(b.get("diagnostic-code", "") for b in d.per_rcpt)
        self.assertIn("list member olist is gone", diag)
        self.assertIn(b"<own-1@client.test>", d.returned_bytes())
        self.assertEqual(d.msg["To"], "owner-olist@example.test")
        # the sender hears nothing: no notice about own-1 at back.test
        time.sleep(2)
        self.assertEqual(self.back_notices("own-1"), [], self.logs_tail())
        self.assertEqual(len(self.stack.log_lines(
            "%s: sender non-delivery notification" % qid, "bounce")), 1)

    def test_remote_owner(self):
        qid = self.submit("sender@back.test", ["rlist@example.test"],
                          message("own-2"))
        self.wait_gone(qid)
        deadline = time.time() + 30
        got = []
        while not got and time.time() < deadline:
            got = [m for m in self.sink.messages()
                   if b"<own-2@client.test>" in m.content]
            time.sleep(0.1)
        self.assertEqual(len(got), 1, self.logs_tail())
        self.assertEqual(got[0].recipients, ["list-admin@relay.test"])
        self.assertEqual(got[0].sender, "")
        d = Dsn(got[0].content)
        self.assertIn("list member rlist is gone",
                      d.per_rcpt[0].get("diagnostic-code", ""))
        time.sleep(1)
        self.assertEqual(self.back_notices("own-2"), [])

    def test_loop_goes_to_owner(self):
        qid = self.submit("sender@back.test", ["olist@example.test"],
                          message("own-3",
                                  b"Delivered-To: olist@example.test\r\n"))
        self.wait_gone(qid)
        notices = self.alice_notices("own-3")
        self.assertEqual(len(notices), 1, self.logs_tail())
        blk = notices[0].per_rcpt[0]
        self.assertEqual(blk.get("status"), "5.4.6")
        self.assertIn("mail forwarding loop for olist@example.test",
                      blk.get("diagnostic-code", ""))
        time.sleep(1)
        self.assertEqual(self.back_notices("own-3"), [])

    def test_no_owner_sender_gets_it(self):
        qid = self.submit("sender@back.test", ["nolist@example.test"],
                          message("own-4"))
        lines = self.wait_log("%s: to=<nolist@example.test>" % qid,
                              ("local",))
        self.assertIn("status=bounced", lines[-1])
        self.wait_gone(qid)
        deadline = time.time() + 30
        got = []
        while not got and time.time() < deadline:
            got = self.back_notices("own-4")
            time.sleep(0.1)
        self.assertEqual(len(got), 1, self.logs_tail())
        d = Dsn(got[0].content)
        self.assertEqual(got[0].recipients, ["sender@back.test"])
        blk = d.rcpt("nolist@example.test")
        self.assertIsNotNone(blk, d.per_rcpt)
        self.assertTrue(re.search(r"list member nolist is gone|link\.mbox",
                                  blk.get("diagnostic-code", "")), blk)
        self.assertEqual(self.alice_notices("own-4", timeout=0), [])

    def sender_notices(self, mid, timeout):
        deadline = time.time() + timeout
        while True:
            got = self.back_notices(mid)
            if got or time.time() > deadline:
                return got
            time.sleep(0.1)

    def test_notify_success_failure_owner_only(self):
        qid = self.submit("sender@back.test", ["olist@example.test"],
                          message("own-5"),
                          rcpt_opts=["NOTIFY=SUCCESS,FAILURE"])
        self.wait_gone(qid)
        notices = self.alice_notices("own-5")
        self.assertEqual(len(notices), 1, self.logs_tail())
        # no "delivered" notice to the sender for mail that failed
        got = self.sender_notices("own-5", 3)
        self.assertEqual(got, [], [(b.get("action"), b.get("status"))
                                   for m in got
                                   for b in Dsn(m.content).per_rcpt])

    def test_notify_success_only_nobody(self):
        qid = self.submit("sender@back.test", ["olist@example.test"],
                          message("own-6"), rcpt_opts=["NOTIFY=SUCCESS"])
        lines = self.wait_log("%s: to=<olist@example.test>" % qid,
                              ("local",), count=3)
        self.assertTrue(any("failure notice to owner-olist@example.test: "
                            "not requested" in ln for ln in lines), lines)
        self.wait_gone(qid)
        got = self.sender_notices("own-6", 3)
        self.assertEqual(got, [], [(b.get("action"), b.get("status"))
                                   for m in got
                                   for b in Dsn(m.content).per_rcpt])
        self.assertEqual(self.alice_notices("own-6", timeout=0), [])

    def test_notified_kept_in_redis(self):
        qid = self.submit("sender@back.test",
                          ["olist@example.test", "tlist@example.test"],
                          message("own-7"), rcpt_opts=["NOTIFY=SUCCESS"])
        # first pass: olist final, tlist deferred; the next pass reads
        # olist's status back from Redis
        self.wait_log("%s: to=<tlist@example.test>" % qid, ("local",))
        self.wait_log("%s: to=<olist@example.test>" % qid, ("local",),
                      count=3)
        q = self.stack.queued(qid)
        if q is not None:
            # sent plus "i:q" = 1: an older version reads plain sent
            st = {r["address"]: (r["status"], r["quiet"]) for r in q[1]}
            self.assertEqual(st.get("olist@example.test"), ("sent", "1"),
                             st)
        self.wait_gone(qid)
        got = self.sender_notices("own-7", 30)
        self.assertEqual(len(got), 1, self.logs_tail())
        d = Dsn(got[0].content)
        self.assertIsNotNone(d.rcpt("tlist@example.test"), d.per_rcpt)
        self.assertIsNone(d.rcpt("olist@example.test"), d.per_rcpt)


if __name__ == "__main__":
    unittest.main()
