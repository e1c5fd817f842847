"""The local agent hands recipients to other transports (issue 11, point
1: mailbox_transport delegation; Postfix local(8)'s mailbox.c and
unknown.c), with the whole stack: smtpd -> cleanup -> qmgr -> local,
then qmgr -> smtp in lmtp mode -> a real Dovecot LMTP server, and smtp
to an smtp-sink for luser_relay.

- mailbox_transport_maps (alice = lmtp:inet:127.0.0.1:P): alice's mail
  goes through the lmtp agent into Dovecot, logged by smtp with
  relay=127.0.0.1[127.0.0.1]:P, and nothing is written to a mailbox
  here; local counts the redirect (local_redirects_total);
- fallback_transport_maps for a user that does not exist (ghost);
- luser_relay = $user@relay.test: an unknown user+ext reaches the smtp
  sink as user@relay.test (extension not propagated, Postfix);
- a redirect loop (mailbox_transport_maps loopy = local:) is deferred
  "4.3.5 redirect from transport local to local refused: delivery
  loop", stays queued, and is tried once per queue run, not in a spin;
- mailbox_transport (the parameter, lmtp:unix:/socket) wins over
  fallback_transport for a user unknown to the system, as in Postfix;
- qmgr counts the redirects it accepted and refused
  (qmgr_redirects_total{result}); local counts only the redirects it
  reported, not one dropped because another target of the alias
  deferred;
- a list whose command target fails to an owner- alias and whose
  mailbox copy goes to lmtp: the owner gets the failure notice and the
  sender, with NOTIFY=SUCCESS,FAILURE, no success notice for the
  delivered copy (Postfix: bounce_workaround keeps the notified mark
  through deliver_pass); a plain redirect does get its "delivered".
"""

import os
import re
import time
import unittest

from peers import Dovecot, PySink, SmtpSink
from pmtest import DeliveryTest, DELIVERY_SERVICES


def message(mid, to="someone@example.test"):
    return (b"From: <sender@back.test>\r\n"
            b"To: <" + to.encode() + b">\r\n"
            b"Subject: delegate\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\n"
            b"delegated body\r\n")


def metric(text, name, labels):
    m = re.search(r"^postmesh_%s\{%s\} (\d+)" % (name, re.escape(labels)),
                  text, re.M)
    return int(m.group(1)) if m else 0


class DelegateBase(DeliveryTest):

    SERVICES = DELIVERY_SERVICES + ("local",)
    USERS = ()

    @classmethod
    def start_dovecot(cls, workdir):
        os.chmod(workdir, 0o755)
        cls.dovecot = Dovecot(workdir, cls.USERS).start()
        cls.peers.append(cls.dovecot)
        cls.spool = os.path.join(workdir, "spool")
        os.makedirs(cls.spool, exist_ok=True)
        os.chmod(cls.spool, 0o777)

    def wait_mailbox(self, user, marker, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [m for m in self.dovecot.delivered(user) if marker in m]
            if got:
                return got
            time.sleep(0.1)
        self.fail("no message with %r in %s's Maildir\n%s\n---- dovecot "
                  "----\n%s" % (marker, user, self.logs_tail(),
                                self.dovecot.text()[-2000:]))

    def logs_tail(self, n=3000):
        return (super().logs_tail(n) + "\n---- local ----\n" +
                self.stack.svcs["local"].text()[-n:])

    def redirects(self, cls_label):
        return metric(self.stack.metrics("local"), "local_redirects_total",
                      'class="%s"' % cls_label)

    def qmgr_redirects(self, result):
        return metric(self.stack.metrics("qmgr"), "qmgr_redirects_total",
                      'result="%s"' % result)


class DelegateMapsTest(DelegateBase):

    USERS = ("alice@example.test", "ghost@example.test")

    @classmethod
    def start_peers(cls, workdir):
        cls.start_dovecot(workdir)
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        lmtp = "lmtp:inet:127.0.0.1:%d" % cls.dovecot.port
        return {
            # smtpd takes any local user; local finds none in passwd
            "local_recipient_maps": "",
            "home_mailbox": "",
            "mail_spool_directory": cls.spool,
            "recipient_delimiter": "+",
            "mailbox_transport_maps":
                "inline:{ alice=%s, loopy=local: }" % lmtp,
            "fallback_transport_maps": "inline:{ ghost=%s }" % lmtp,
            "luser_relay": "$user@relay.test",
            "transport_maps":
                "inline:{ relay.test=smtp:[127.0.0.1]:%d }" % cls.sink.port,
        }

    def test_mailbox_transport_maps_to_lmtp(self):
        before = self.redirects("mailbox")
        qid = self.submit("sender@back.test", ["alice@example.test"],
                          message("mbt-1"))
        got = self.wait_mailbox("alice@example.test", b"<mbt-1@client.test>")
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].endswith(b"delegated body\n"), got[0][-200:])
        # the lmtp agent logs the delivery, as Postfix's lmtp does
        lines = self.wait_log("%s: to=<alice@example.test>" % qid, ("smtp",))
        self.assertTrue(any("relay=127.0.0.1[127.0.0.1]:%d"
                            % self.dovecot.port in ln and
                            "status=sent (250" in ln for ln in lines), lines)
        self.wait_gone(qid)
        # local logs no delivery of its own and wrote no mailbox
        self.assertEqual(self.stack.log_lines(
            "%s: to=<alice@example.test>" % qid, "local"), [])
        self.assertEqual(os.listdir(self.spool), [])
        self.assertEqual(self.redirects("mailbox"), before + 1)
        self.assertGreaterEqual(self.qmgr_redirects("accepted"), 1)

    def test_fallback_transport_maps_for_unknown_user(self):
        before = self.redirects("fallback")
        qid = self.submit("sender@back.test", ["ghost@example.test"],
                          message("fbt-1"))
        got = self.wait_mailbox("ghost@example.test", b"<fbt-1@client.test>")
        self.assertEqual(len(got), 1)
        lines = self.wait_log("%s: to=<ghost@example.test>" % qid, ("smtp",))
        self.assertTrue(any("status=sent" in ln for ln in lines), lines)
        self.wait_gone(qid)
        self.assertEqual(self.redirects("fallback"), before + 1)

    def test_luser_relay_to_remote(self):
        n = self.sink.count()
        qid = self.submit("sender@back.test", ["stranger+tag@example.test"],
                          message("lur-1"))
        lines = self.wait_log("%s: to=<stranger+tag@example.test>" % qid,
                              ("local",))
        self.assertTrue(any("relay=local" in ln and "status=sent (forwarded "
                            "as" in ln for ln in lines), lines)
        msgs = self.wait_count(self.sink, n + 1)
        got = [m for m in msgs if b"<lur-1@client.test>" in m.content]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].recipients, ["stranger@relay.test"])
        self.assertEqual(got[0].sender, "sender@back.test")
        self.assertEqual(got[0].header("Delivered-To"),
                         "stranger+tag@example.test")
        self.wait_gone(qid)

    def test_redirect_loop_defers(self):
        refused = self.qmgr_redirects("refused")
        qid = self.submit("sender@back.test", ["loopy@example.test"],
                          message("loop-1"))
        want = ("redirect from transport local to local refused: delivery "
                "loop")
        lines = self.wait_log("%s: to=<loopy@example.test>" % qid,
                              ("qmgr",))
        self.assertTrue(any("status=deferred" in ln and want in ln and
                            "dsn=4.3.5" in ln for ln in lines), lines)
        # queue runs every second here (backoff 1-2 s): a few passes, each
        # with one redirect, never a spin
        time.sleep(5)
        passes = len([ln for ln in self.stack.log_lines(
            "%s: to=<loopy@example.test>" % qid, "qmgr") if want in ln])
        self.assertGreaterEqual(passes, 1)
        self.assertLessEqual(passes, 6, "redirected %d times in 5 s" % passes)
        env = self.stack.queued(qid)
        self.assertIsNotNone(env, "the looping message left the queue")
        self.assertEqual(env[1][0]["status"] in (None, "", "deferred"), True,
                         env[1])
        self.assertEqual(self.stack.log_lines(
            "%s: to=<loopy@example.test>" % qid, "smtp"), [])
        self.assertGreaterEqual(self.qmgr_redirects("refused"),
                                refused + passes)


class DelegateParamTest(DelegateBase):

    USERS = ("bob@example.test",)

    @classmethod
    def start_peers(cls, workdir):
        cls.start_dovecot(workdir)
        sock = os.path.join(cls.dovecot.dir, "run", "lmtp")
        return {
            "local_recipient_maps": "",
            "mail_spool_directory": cls.spool,
            "mailbox_transport": "lmtp:unix:%s" % sock,
            # never used: mailbox_transport comes first, user or not
            "fallback_transport": "error:fallback_was_used",
        }

    def test_mailbox_transport_unix_socket(self):
        qid = self.submit("sender@back.test", ["bob@example.test"],
                          message("mbt-2"))
        got = self.wait_mailbox("bob@example.test", b"<mbt-2@client.test>")
        self.assertEqual(len(got), 1)
        self.wait_gone(qid)
        self.assertEqual([ln for ln in self.stack.log_lines(
            "fallback_was_used") if "to=<" in ln], [])
        self.assertEqual(os.listdir(self.spool), [])
        self.assertEqual(self.redirects("mailbox"), 1)
        self.assertEqual(self.redirects("fallback"), 0)


class DelegateOwnerTest(DelegateBase):

    USERS = ("mlist@example.test", "alice@example.test",
             "dlist@example.test")

    @classmethod
    def start_peers(cls, workdir):
        cls.start_dovecot(workdir)
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        base = os.path.join(workdir, "owner")
        os.makedirs(base)
        os.chmod(base, 0o755)
        fail = os.path.join(base, "fail.py")
        with open(fail, "w") as f:
            f.write("import sys\n"
                    "sys.stdin.buffer.read()\n"
                    "print('member %s is gone' % sys.argv[1])\n"
                    "sys.exit(int(sys.argv[2]))\n")
        os.chmod(fail, 0o644)
        aliases = os.path.join(base, "aliases")
        with open(aliases, "w") as f:
            f.write("mlist \\mlist, |/usr/bin/python3 %s mlist 67\n" % fail)
            f.write("owner-mlist list-admin@relay.test\n")
            # the other target defers: the mailbox redirect is dropped
            f.write("dlist \\dlist, |/usr/bin/python3 %s dlist 75\n" % fail)
        lmtp = "lmtp:inet:127.0.0.1:%d" % cls.dovecot.port
        return {
            "myorigin": "example.test",
            "local_recipient_maps": "",
            "alias_maps": "texthash:%s" % aliases,
            "home_mailbox": "",
            "mail_spool_directory": cls.spool,
            "mailbox_transport_maps":
                "inline:{ mlist=%s, alice=%s, dlist=%s }" % (lmtp, lmtp, lmtp),
            "transport_maps":
                "inline:{ relay.test=smtp:[127.0.0.1]:%d, "
                "back.test=smtp:[127.0.0.1]:%d }"
                % (cls.sink.port, cls.back.port),
        }

    def sender_notices(self, mid, timeout):
        deadline = time.time() + timeout
        while True:
            got = [m for m in self.back.messages()
                   if ("<%s@client.test>" % mid).encode() in m.content]
            if got or time.time() > deadline:
                return got
            time.sleep(0.1)

    def test_owner_notified_then_redirected_gets_no_success_notice(self):
        # control: a plain redirect with NOTIFY=SUCCESS is "delivered"
        qid = self.submit("sender@back.test", ["alice@example.test"],
                          message("ctl-1"), rcpt_opts=["NOTIFY=SUCCESS"])
        self.wait_mailbox("alice@example.test", b"<ctl-1@client.test>")
        self.wait_gone(qid)
        got = self.sender_notices("ctl-1", 30)
        self.assertEqual(len(got), 1, self.logs_tail())

        n = self.sink.count()
        qid = self.submit("sender@back.test", ["mlist@example.test"],
                          message("own-r1"),
                          rcpt_opts=["NOTIFY=SUCCESS,FAILURE"])
        got = self.wait_mailbox("mlist@example.test", b"<own-r1@client.test>")
        self.assertEqual(len(got), 1)
        lines = self.wait_log("%s: to=<mlist@example.test>" % qid,
                              ("smtp",))
        self.assertTrue(any("status=sent (250" in ln for ln in lines), lines)
        self.wait_gone(qid)
        # the owner got the command's failure
        msgs = self.wait_count(self.sink, n + 1)
        owner = [m for m in msgs if b"<own-r1@client.test>" in m.content]
        self.assertEqual(len(owner), 1, self.logs_tail())
        self.assertEqual(owner[0].recipients, ["list-admin@relay.test"])
        self.assertIn(b"member mlist is gone", owner[0].content)
        # the sender: neither a failure nor a success notice (the
        # control's notice came within the same wait)
        got = self.sender_notices("own-r1", 5)
        self.assertEqual(got, [], [m.content[:600] for m in got])

    def test_dropped_redirect_not_counted(self):
        before = self.redirects("mailbox")
        accepted = self.qmgr_redirects("accepted")
        qid = self.submit("sender@back.test", ["dlist@example.test"],
                          message("drop-1"))
        lines = self.wait_log("%s: to=<dlist@example.test>" % qid,
                              ("local",))
        self.assertTrue(any("status=deferred" in ln for ln in lines), lines)
        self.assertEqual(self.redirects("mailbox"), before)
        self.assertEqual(self.qmgr_redirects("accepted"), accepted)
        self.assertEqual(self.dovecot.delivered("dlist@example.test"), [])


if __name__ == "__main__":
    unittest.main()
