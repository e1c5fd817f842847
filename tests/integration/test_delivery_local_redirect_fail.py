"""A redirected mailbox copy and a failing target of the same alias
(docs/delivery.md, "Delegation"), with the whole stack: smtpd ->
cleanup -> qmgr -> local, then qmgr -> smtp in lmtp mode -> a real
Dovecot LMTP server (mailbox_transport_maps), and smtp to a Python sink
for the sender's notices and forwarded copies.

- `blist: \\blist, |fail 67` without an owner- alias: Postfix's local
  passes the mailbox copy on (deliver_pass) and bounces the command's
  failure to the sender. Here too: Dovecot gets the copy exactly once,
  the sender gets one failure notice with the command's text, local
  logs the failure as status=bounced and the lmtp delivery status=sent;
  the sender gets no success notice besides (NOTIFY=SUCCESS,FAILURE);
- the same with a null sender: the notice is a double bounce, which
  goes to postmaster as qmgr's own would, and the copy is delivered;
- `mlist: \\mlist, \\nosuchuser, |fail 67` with an owner- alias: the
  owner gets the command's failure, the sender the unknown user's,
  and the copy is delivered once;
- `rlist: \\rlist, rcopy@back.test, |once 75-then-0`: the command
  defers on the first attempt, so the recipient is deferred and the
  redirect is not made; the retry delivers the command, and the
  mailbox copy and the forwarded copy arrive exactly once each.
"""

import os
import time
import unittest

from peers import PySink
from test_delivery_local_delegate import DelegateBase, message


class RedirectFailTest(DelegateBase):

    USERS = ("blist@example.test", "rlist@example.test",
             "nlist@example.test", "mlist@example.test",
             "postmaster@example.test")

    @classmethod
    def start_peers(cls, workdir):
        cls.start_dovecot(workdir)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        base = os.path.join(workdir, "rdfail")
        os.makedirs(base)
        os.chmod(base, 0o777)
        cls.base = base
        fail = os.path.join(base, "fail.py")
        with open(fail, "w") as f:
            f.write("import sys\n"
                    "sys.stdin.buffer.read()\n"
                    "print('member %s is gone' % sys.argv[1])\n"
                    "sys.exit(int(sys.argv[2]))\n")
        once = os.path.join(base, "once.py")
        with open(once, "w") as f:
            # defers the first time, then appends the message to a file
            f.write("import os, sys\n"
                    "data = sys.stdin.buffer.read()\n"
                    "flag = os.path.join(%r, 'tried-' + sys.argv[1])\n"
                    "if not os.path.exists(flag):\n"
                    "    open(flag, 'w').close()\n"
                    "    print('try again later')\n"
                    "    sys.exit(75)\n"
                    "with open(os.path.join(%r, 'got-' + sys.argv[1]),"
                    " 'ab') as f:\n"
                    "    f.write(data + b'\\n--end--\\n')\n" % (base, base))
        for p in (fail, once):
            os.chmod(p, 0o644)
        aliases = os.path.join(base, "aliases")
        with open(aliases, "w") as f:
            f.write("blist \\blist, |/usr/bin/python3 %s blist 67\n" % fail)
            f.write("nlist \\nlist, |/usr/bin/python3 %s nlist 67\n" % fail)
            # the owner takes the command's failure, not \\nosuchuser's
            f.write("mlist \\mlist, \\nosuchuser, "
                    "|/usr/bin/python3 %s mlist 67\n" % fail)
            f.write("owner-mlist admin@back.test\n")
            f.write("rlist \\rlist, rcopy@back.test, "
                    "|/usr/bin/python3 %s rlist\n" % once)
        lmtp = "lmtp:inet:127.0.0.1:%d" % cls.dovecot.port
        return {
            "myorigin": "example.test",
            "local_recipient_maps": "",
            "alias_maps": "texthash:%s" % aliases,
            "home_mailbox": "",
            "mail_spool_directory": cls.spool,
            "mailbox_transport_maps":
                "inline:{ blist=%s, rlist=%s, nlist=%s, mlist=%s, "
                "postmaster=%s }" % (lmtp, lmtp, lmtp, lmtp, lmtp),
            "transport_maps":
                "inline:{ back.test=smtp:[127.0.0.1]:%d }" % cls.back.port,
        }

    def sender_notices(self, mid, timeout, to="sender@back.test"):
        deadline = time.time() + timeout
        while True:
            got = [m for m in self.back.messages()
                   if ("<%s@client.test>" % mid).encode() in m.content and
                   to in m.recipients]
            if got or time.time() > deadline:
                return got
            time.sleep(0.1)

    def test_bounced_target_keeps_redirected_copy(self):
        before = self.redirects("mailbox")
        qid = self.submit("sender@back.test", ["blist@example.test"],
                          message("bf-1", "blist@example.test"),
                          rcpt_opts=["NOTIFY=SUCCESS,FAILURE"])
        # the sender hears of the command's failure, with its text
        got = self.sender_notices("bf-1", 30)
        self.assertEqual(len(got), 1, self.logs_tail())
        self.assertIn(b"member blist is gone", got[0].content)
        self.assertIn(b"blist@example.test", got[0].content)
        self.assertIn(b"Action: failed", got[0].content)
        self.assertEqual(got[0].sender, "")
        # and the mailbox copy is delivered, once
        self.wait_mailbox("blist@example.test", b"<bf-1@client.test>")
        self.wait_gone(qid)
        lines = self.wait_log("%s: to=<blist@example.test>" % qid,
                              ("local",))
        self.assertTrue(any("relay=local" in ln and "status=bounced" in ln
                            and "dsn=5." in ln for ln in lines), lines)
        lines = self.wait_log("%s: to=<blist@example.test>" % qid,
                              ("smtp",))
        self.assertTrue(any("status=sent (250" in ln for ln in lines), lines)
        time.sleep(2)
        mb = [m for m in self.dovecot.delivered("blist@example.test")
              if b"<bf-1@client.test>" in m]
        self.assertEqual(len(mb), 1)
        # one failure notice, no success notice besides
        got = self.sender_notices("bf-1", 0)
        self.assertEqual(len(got), 1, [m.content[:600] for m in got])
        self.assertEqual(self.redirects("mailbox"), before + 1)

    def test_null_sender_failure_goes_to_postmaster(self):
        qid = self.submit("", ["nlist@example.test"],
                          message("nf-1", "nlist@example.test"))
        self.wait_mailbox("nlist@example.test", b"<nf-1@client.test>")
        self.wait_gone(qid)
        lines = self.wait_log("%s: to=<nlist@example.test>" % qid,
                              ("local",))
        self.assertTrue(any("status=bounced" in ln for ln in lines), lines)
        # the double bounce: postmaster (redirected to Dovecot too)
        self.wait_mailbox("postmaster@example.test", b"member nlist is gone")
        mb = [m for m in self.dovecot.delivered("nlist@example.test")
              if b"<nf-1@client.test>" in m]
        self.assertEqual(len(mb), 1)

    def test_owner_and_sender_split_the_failures(self):
        qid = self.submit("sender@back.test", ["mlist@example.test"],
                          message("mf-1", "mlist@example.test"))
        self.wait_mailbox("mlist@example.test", b"<mf-1@client.test>")
        self.wait_gone(qid)
        got = self.sender_notices("mf-1", 30)
        self.assertEqual(len(got), 1, self.logs_tail())
        self.assertIn(b'unknown user: "nosuchuser"', got[0].content)
        self.assertNotIn(b"member mlist is gone", got[0].content)
        owner = self.sender_notices("mf-1", 30, to="admin@back.test")
        self.assertEqual(len(owner), 1, self.logs_tail())
        self.assertIn(b"member mlist is gone", owner[0].content)
        mb = [m for m in self.dovecot.delivered("mlist@example.test")
              if b"<mf-1@client.test>" in m]
        self.assertEqual(len(mb), 1)

    def test_deferred_target_then_redirect_once(self):
        before = self.redirects("mailbox")
        n = self.back.count()
        qid = self.submit("sender@back.test", ["rlist@example.test"],
                          message("rd-1", "rlist@example.test"))
        lines = self.wait_log("%s: to=<rlist@example.test>" % qid,
                              ("local",))
        self.assertTrue(any("status=deferred" in ln and "dsn=4." in ln
                            for ln in lines), lines)
        # the retry (backoff 1-2 s here) runs the command again
        got = os.path.join(self.base, "got-rlist")
        deadline = time.time() + 30
        while not os.path.exists(got) and time.time() < deadline:
            time.sleep(0.1)
        self.assertTrue(os.path.exists(got), self.logs_tail())
        self.wait_mailbox("rlist@example.test", b"<rd-1@client.test>")
        self.wait_gone(qid)
        self.wait_count(self.back, n + 1)
        time.sleep(2)
        mb = [m for m in self.dovecot.delivered("rlist@example.test")
              if b"<rd-1@client.test>" in m]
        self.assertEqual(len(mb), 1)
        fwd = [m for m in self.back.messages()
               if b"<rd-1@client.test>" in m.content and
               m.recipients == ["rcopy@back.test"]]
        self.assertEqual(len(fwd), 1, self.logs_tail())
        with open(got, "rb") as f:
            self.assertEqual(f.read().count(b"--end--"), 1)
        self.assertEqual(self.redirects("mailbox"), before + 1)
        # no notice to the sender at all
        self.assertEqual(self.sender_notices("rd-1", 0), [])


if __name__ == "__main__":
    unittest.main()
