"""Failures of alias targets in the local agent that go back to the
sender, with the whole stack: smtpd -> cleanup -> qmgr -> local,
bounce, smtp to a PySink for the sender's DSNs.

- a /file target whose directory does not exist bounces 5.2.0, as
  Postfix's local(8) does (mbox_open with "5.2.0", mbox_dsn(): only
  EAGAIN, ESTALE and ENOSPC defer); no directory is created for it;
- an owner- alias whose address the bounce service can never take
  (owner-<name>@$myorigin longer than a notice address may be, 512
  bytes: the bounce client's PM_EINVAL, services/local/local_owner.c)
  gives the failure back to the sender as an ordinary bounce, with a
  warning. smtpd takes no local part that long: "elist" forwards to it
  (the message is resubmitted through cleanup, sender unchanged).
"""

import os
import re
import time
import unittest

from peers import Dsn, PySink
from pmtest import DeliveryTest, DELIVERY_SERVICES

# myorigin at its limit (255) and a list name of 251 characters:
# owner-<name>@<myorigin> is 513 bytes, one more than a notice address
# may have (PM_BOUNCE_ADDR_WIRE_MAX)
LONG_ORIGIN = ".".join(["o%d" % i + "x" * 61 for i in range(4)])
ELIST = "e" * 251


def message(mid):
    return (b"From: <sender@back.test>\r\n"
            b"To: <someone@example.test>\r\n"
            b"Subject: local fail test\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\nhello\r\n")


class LocalFailTest(DeliveryTest):

    SERVICES = DELIVERY_SERVICES + ("local",)

    @classmethod
    def start_peers(cls, workdir):
        os.chmod(workdir, 0o755)
        base = os.path.join(workdir, "mail")
        os.makedirs(base)
        os.chmod(base, 0o755)
        fail = os.path.join(base, "fail.py")
        with open(fail, "w") as f:
            f.write("import sys\n"
                    "sys.stdin.buffer.read()\n"
                    "print('list member %s is gone' % sys.argv[1])\n"
                    "sys.exit(67)\n")
        os.chmod(fail, 0o644)
        cls.missing = "/nonexistent-pm-%d/sub/x.mbox" % os.getpid()
        aliases = os.path.join(base, "aliases")
        with open(aliases, "w") as f:
            f.write("flist %s\n" % cls.missing)
            f.write("elist %s@example.test\n" % ELIST)
            f.write("%s |/usr/bin/python3 %s elist\n" % (ELIST, fail))
            f.write("owner-%s postmaster\n" % ELIST)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "myorigin": LONG_ORIGIN,
            "alias_maps": "texthash:%s" % aliases,
            "local_recipient_maps": "texthash:%s" % aliases,
            "allow_mail_to_files": "alias",
            "allow_mail_to_commands": "alias",
            "transport_maps": "inline:{ back.test=smtp:[127.0.0.1]:%d }"
                              % cls.back.port,
        }

    def logs_tail(self, n=3000):
        return (super().logs_tail(n) + "\n---- local ----\n" +
                self.stack.svcs["local"].text()[-n:])

    def sender_notice(self, mid, timeout=30.0):
        deadline = time.time() + timeout
        got = []
        while not got and time.time() < deadline:
            got = [m for m in self.back.messages()
                   if ("<%s@client.test>" % mid).encode() in m.content]
            time.sleep(0.1)
        self.assertEqual(len(got), 1, self.logs_tail())
        self.assertEqual(got[0].recipients, ["sender@back.test"])
        return Dsn(got[0].content)

    def test_file_open_failure_bounces(self):
        qid = self.submit("sender@back.test", ["flist@example.test"],
                          message("fail-1"))
        lines = self.wait_log("%s: to=<flist@example.test>" % qid,
                              ("local",))
        self.assertIn("status=bounced", lines[0], self.logs_tail())
        self.assertIn("dsn=5.2.0", lines[0])
        self.assertIn(self.missing, lines[0])
        self.assertIn("No such file or directory", lines[0])
        self.wait_gone(qid)
        blk = self.sender_notice("fail-1").rcpt("flist@example.test")
        self.assertIsNotNone(blk)
        self.assertEqual(blk.get("status"), "5.2.0")
        self.assertFalse(os.path.exists(os.path.dirname(self.missing)),
                         "a directory was created for a /file target")

    def test_owner_notice_refused_bounces_to_sender(self):
        rcpt = ELIST + "@example.test"
        self.assertEqual(len(LONG_ORIGIN), 255)
        first = self.submit("sender@back.test", ["elist@example.test"],
                            message("fail-2"))
        fwd = self.wait_log("%s: to=<elist@example.test>" % first,
                            ("local",))
        m = re.search(r"forwarded as (\w+)", fwd[0])
        self.assertIsNotNone(m, fwd)
        qid = m.group(1)
        warn = self.wait_log("%s: to=<%s>: the notice to owner-%s@%s is "
                             "refused" % (qid, rcpt, ELIST, LONG_ORIGIN),
                             ("local",))
        self.assertIn("bouncing to the sender", warn[0])
        lines = self.wait_log("%s: to=<%s>, relay=local" % (qid, rcpt),
                              ("local",))
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("status=bounced", lines[0])
        self.assertIn("dsn=5.1.1", lines[0])
        self.assertNotIn("failure notice to", lines[0])
        self.wait_gone(qid)
        blk = self.sender_notice("fail-2").rcpt(rcpt)
        self.assertIsNotNone(blk)
        self.assertEqual(blk.get("status"), "5.1.1")
        self.assertIn("list member elist is gone",
                      blk.get("diagnostic-code", ""))


if __name__ == "__main__":
    unittest.main()
