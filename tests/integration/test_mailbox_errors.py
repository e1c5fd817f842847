"""Mailbox errors in the local and virtual agents, as Postfix reports
them: one errno table (pm_mailbox_errno_dsn, Postfix's mbox_dsn()) over
the agent's default for a mailbox that cannot be opened or created
(local(8) "5.2.0": bounce; virtual(8) "4.2.0": defer) and over
mail_copy()'s "5.3.0" for a message that cannot be written; ENOSPC
defers 4.3.0 and EFBIG bounces 5.2.2 in both. Whole stack (smtpd,
cleanup, rewrite, qmgr, local or virtual; bounce and smtp back to a
PySink for the notices).

local (home_mailbox = Mailbox, users from local_recipient_maps):
- a Mailbox that is a directory bounces 5.2.0 "cannot update mailbox
  H/Mailbox for user dirbox. cannot open file: Is a directory", and
  the sender gets a DSN with Status 5.2.0;
- a home the user cannot write in (root's, 0755; the agent writes as
  the user) bounces 5.2.0 "... cannot open file: Permission denied";
- a home on a full tmpfs (mounted by the test) defers 4.3.0 "...
  error writing message: No space left on device" and the mailbox is
  truncated back to empty;
- RLIMIT_FSIZE on the agent (prlimit; the agent ignores SIGXFSZ):
  bounce 5.2.2 "... error writing message: File too large";
- a maildir /file alias target whose directory nobody (default_privs)
  may create bounces 5.2.0 "maildir delivery failed: create maildir
  directory ...: Permission denied" with Postfix's two warnings;
- a spool mailbox the agent itself cannot create (immutable spool
  directory: EPERM even for root) defers 4.2.0 (Postmesh; Postfix
  bounces 5.2.0).

virtual (virtual_uid_maps = virtual_gid_maps = static:1234):
- an mbox that is a directory defers 4.2.0 "delivery failed to
  mailbox P: cannot open file: Is a directory";
- a maildir in a root-owned directory defers 4.2.0 "maildir delivery
  failed: create maildir directory ...: Permission denied" with the
  warnings "maildir access problem for UID/GID=1234/1234";
- a maildir on a full tmpfs defers 4.3.0 "maildir delivery failed:
  error writing message: No space left on device", no file left in
  tmp/ or new/;
- RLIMIT_FSIZE: an mbox write bounces 5.2.2 "delivery failed to
  mailbox P: error writing message: File too large", file truncated
  back.
"""

import os
import resource
import subprocess
import time
import unittest

from peers import Dsn, PySink
from pmtest import DELIVERY_SERVICES, DeliveryTest

VUID = 1234
DIRBOX, ROHOME, FULL, BIG = 4301, 4302, 4303, 4304
FSIZE = 20000


def message(mid, body=b"hello\r\n"):
    return (b"From: <sender@back.test>\r\n"
            b"To: <someone@example.test>\r\n"
            b"Subject: mailbox errors\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\n" + body)


def big_body():
    return b"".join(b"line %05d of a message larger than the limit\r\n" % i
                    for i in range(1200))   # about 55 KB > FSIZE


def mount_full_tmpfs(path, uid):
    """A 256 KB tmpfs at path, owned by uid, then filled up."""
    os.makedirs(path)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755",
                        "tmpfs", path], capture_output=True)
    if r.returncode != 0:
        raise unittest.SkipTest("cannot mount a tmpfs: %s" % r.stderr)
    os.chown(path, uid, uid)
    return path


def fill(path):
    """Write a filler file into path until the file system is full."""
    with open(os.path.join(path, ".filler"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass


def umount(path):
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", path], capture_output=True)


class FsizeLimit:
    """RLIMIT_FSIZE on a running agent process, restored on exit."""

    def __init__(self, pid, limit):
        self.pid, self.limit = pid, limit

    def __enter__(self):
        self.old = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE,
                         (self.limit, self.old[1]))
        return self

    def __exit__(self, *exc):
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, self.old)


class ErrorsBase(DeliveryTest):
    AGENT = None
    mounts = []

    @classmethod
    def setUpClass(cls):
        cls.mounts = []
        super().setUpClass()

    @classmethod
    def stop_peers(cls):
        # after the services stopped, before the directory is removed
        # (also when setUpClass fails)
        super().stop_peers()
        for m in cls.mounts:
            umount(m)
        cls.mounts = []

    def tail(self):
        return (self.logs_tail() + "\n---- %s ----\n" % self.AGENT +
                self.stack.svcs[self.AGENT].text()[-4000:])

    def outcome(self, rcpt, mid, body=b"hello\r\n"):
        qid = self.submit("sender@back.test", [rcpt], message(mid, body))
        lines = self.wait_log("%s: to=<%s>" % (qid, rcpt), (self.AGENT,))
        return qid, lines[0]

    def sender_notice(self, mid, timeout=30.0):
        deadline = time.time() + timeout
        got = []
        while not got and time.time() < deadline:
            got = [m for m in self.back.messages()
                   if ("<%s@client.test>" % mid).encode() in m.content]
            time.sleep(0.1)
        self.assertEqual(len(got), 1, self.tail())
        return Dsn(got[0].content)

    def agent_pid(self):
        return self.stack.svcs[self.AGENT].proc.pid


class LocalMailboxErrorsTest(ErrorsBase):
    AGENT = "local"
    SERVICES = DELIVERY_SERVICES + ("local",)

    @classmethod
    def start_peers(cls, workdir):
        os.chmod(workdir, 0o755)
        base = os.path.join(workdir, "mail")
        cls.home = os.path.join(base, "home")
        os.makedirs(cls.home)
        os.chmod(base, 0o755)
        os.chmod(cls.home, 0o755)
        for name, uid in (("dirbox", DIRBOX), ("big", BIG)):
            h = os.path.join(cls.home, name)
            os.mkdir(h, 0o700)
            os.chown(h, uid, uid)
        os.mkdir(os.path.join(cls.home, "dirbox", "Mailbox"), 0o700)
        os.chown(os.path.join(cls.home, "dirbox", "Mailbox"), DIRBOX, DIRBOX)
        os.mkdir(os.path.join(cls.home, "rohome"), 0o755)   # root's
        cls.full = mount_full_tmpfs(os.path.join(cls.home, "full"), FULL)
        cls.mounts.append(cls.full)
        cls.full_box = os.path.join(cls.full, "Mailbox")
        with open(cls.full_box, "wb"):
            pass
        os.chown(cls.full_box, FULL, FULL)
        os.chmod(cls.full_box, 0o600)
        fill(cls.full)
        cls.ro = os.path.join(base, "ro")
        os.mkdir(cls.ro, 0o755)                              # root's
        users = os.path.join(base, "users")
        with open(users, "w") as f:
            for name, uid in (("dirbox", DIRBOX), ("rohome", ROHOME),
                              ("full", FULL), ("big", BIG)):
                f.write("%s %d:%d:%s/%s\n" % (name, uid, uid, cls.home, name))
        aliases = os.path.join(base, "aliases")
        with open(aliases, "w") as f:
            f.write("mdro %s/Maildir/\n" % cls.ro)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "alias_maps": "texthash:%s" % aliases,
            "local_recipient_maps": "texthash:%s texthash:%s"
                                    % (users, aliases),
            "home_mailbox": "Mailbox",
            "allow_mail_to_files": "alias",
            "transport_maps": "inline:{ back.test=smtp:[127.0.0.1]:%d }"
                              % cls.back.port,
        }

    def test_mailbox_is_directory_bounces(self):
        box = os.path.join(self.home, "dirbox", "Mailbox")
        qid, line = self.outcome("dirbox@example.test", "l-dir")
        self.assertIn("status=bounced", line, self.tail())
        self.assertIn("dsn=5.2.0", line)
        self.assertIn("(cannot update mailbox %s for user dirbox. cannot "
                      "open file: Is a directory)" % box, line)
        blk = self.sender_notice("l-dir").rcpt("dirbox@example.test")
        self.assertIsNotNone(blk)
        self.assertEqual(blk.get("status"), "5.2.0")
        self.wait_gone(qid)

    def test_home_not_writable_bounces(self):
        box = os.path.join(self.home, "rohome", "Mailbox")
        _, line = self.outcome("rohome@example.test", "l-ro")
        self.assertIn("status=bounced", line, self.tail())
        self.assertIn("dsn=5.2.0", line)
        self.assertIn("(cannot update mailbox %s for user rohome. cannot "
                      "open file: Permission denied)" % box, line)
        self.assertFalse(os.path.exists(box))

    def test_disk_full_defers(self):
        _, line = self.outcome("full@example.test", "l-full", big_body())
        self.assertIn("status=deferred", line, self.tail())
        self.assertIn("dsn=4.3.0", line)
        self.assertIn("(cannot update mailbox %s for user full. error "
                      "writing message: No space left on device)"
                      % self.full_box, line)
        self.assertEqual(os.path.getsize(self.full_box), 0,
                         "not truncated back")

    def test_file_size_limit_bounces(self):
        box = os.path.join(self.home, "big", "Mailbox")
        with FsizeLimit(self.agent_pid(), FSIZE):
            _, line = self.outcome("big@example.test", "l-big", big_body())
        self.assertIn("status=bounced", line, self.tail())
        self.assertIn("dsn=5.2.2", line)
        self.assertIn("(cannot update mailbox %s for user big. error "
                      "writing message: File too large)" % box, line)
        self.assertEqual(os.path.getsize(box), 0, "not truncated back")

    def test_maildir_not_creatable_bounces(self):
        _, line = self.outcome("mdro@example.test", "l-md")
        self.assertIn("status=bounced", line, self.tail())
        self.assertIn("dsn=5.2.0", line)
        self.assertIn("maildir delivery failed: create maildir directory "
                      "%s/Maildir/tmp: Permission denied" % self.ro, line)
        warn = self.wait_log("maildir access problem for UID/GID=",
                             ("local",))
        self.assertIn("Permission denied", warn[0])
        self.wait_log("perhaps you need to create the maildirs in advance",
                      ("local",))


class LocalSpoolSelfErrorsTest(ErrorsBase):
    """The spool mailbox is made with the agent's own identity: a
    permission error there is the deployment's, so it defers 4.2.0
    (Postmesh) instead of bouncing 5.2.0. An immutable spool directory
    (chattr +i) refuses even root with EPERM."""
    AGENT = "local"
    SERVICES = DELIVERY_SERVICES + ("local",)

    @classmethod
    def start_peers(cls, workdir):
        os.chmod(workdir, 0o755)
        base = os.path.join(workdir, "mail")
        cls.spool = os.path.join(base, "spool")
        os.makedirs(cls.spool)
        os.chmod(cls.spool, 0o1777)
        users = os.path.join(base, "users")
        with open(users, "w") as f:
            f.write("spooly %d:%d:%s/nohome\n" % (DIRBOX, DIRBOX, base))
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "local_recipient_maps": "texthash:%s" % users,
            "alias_maps": "",
            "home_mailbox": "",
            "mail_spool_directory": cls.spool,
            "transport_maps": "inline:{ back.test=smtp:[127.0.0.1]:%d }"
                              % cls.back.port,
        }

    def test_spool_not_writable_by_agent_defers(self):
        if subprocess.run(["chattr", "+i", self.spool],
                          capture_output=True).returncode != 0:
            self.skipTest("chattr +i not available here")
        try:
            _, line = self.outcome("spooly@example.test", "l-spool")
        finally:
            subprocess.run(["chattr", "-i", self.spool])
        box = os.path.join(self.spool, "spooly")
        self.assertIn("status=deferred", line, self.tail())
        self.assertIn("dsn=4.2.0", line)
        self.assertIn("(cannot update mailbox %s for user spooly. cannot "
                      "open file: Operation not permitted)" % box, line)


class VirtualMailboxErrorsTest(ErrorsBase):
    AGENT = "virtual"
    SERVICES = DELIVERY_SERVICES + ("virtual",)

    @classmethod
    def start_peers(cls, workdir):
        os.chmod(workdir, 0o711)
        cls.base = os.path.join(workdir, "vmail")
        os.mkdir(cls.base, 0o755)
        dom = os.path.join(cls.base, "v.test")
        os.mkdir(dom, 0o700)
        os.chown(dom, VUID, VUID)
        os.mkdir(os.path.join(dom, "dirbox"), 0o700)
        os.chown(os.path.join(dom, "dirbox"), VUID, VUID)
        os.mkdir(os.path.join(cls.base, "root"), 0o755)      # root's
        cls.full = mount_full_tmpfs(os.path.join(cls.base, "full"), VUID)
        cls.mounts.append(cls.full)
        for sub in ("", "tmp", "new", "cur"):
            p = os.path.join(cls.full, "Maildir", sub)
            os.makedirs(p, exist_ok=True)
            os.chown(p, VUID, VUID)
            os.chmod(p, 0o700)
        fill(cls.full)
        maps = os.path.join(workdir, "vmailbox")
        with open(maps, "w") as f:
            f.write("dir@v.test v.test/dirbox\n"
                    "ro@v.test root/Maildir/\n"
                    "full@v.test full/Maildir/\n"
                    "big@v.test v.test/bigbox\n")
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "virtual_mailbox_domains": "v.test",
            "virtual_mailbox_maps": "texthash:" + maps,
            "virtual_mailbox_base": cls.base,
            "virtual_uid_maps": "static:%d" % VUID,
            "virtual_gid_maps": "static:%d" % VUID,
            "transport_maps":
                "inline:{ back.test=smtp:[127.0.0.1]:%d }" % cls.back.port,
        }

    def test_mbox_is_directory_defers(self):
        box = os.path.join(self.base, "v.test", "dirbox")
        _, line = self.outcome("dir@v.test", "v-dir")
        self.assertIn("status=deferred", line, self.tail())
        self.assertIn("dsn=4.2.0", line)
        self.assertIn("(delivery failed to mailbox %s: cannot open file: "
                      "Is a directory)" % box, line)

    def test_maildir_not_creatable_defers(self):
        md = os.path.join(self.base, "root", "Maildir")
        _, line = self.outcome("ro@v.test", "v-ro")
        self.assertIn("status=deferred", line, self.tail())
        self.assertIn("dsn=4.2.0", line)
        self.assertIn("(maildir delivery failed: create maildir directory "
                      "%s/tmp: Permission denied)" % md, line)
        self.wait_log("maildir access problem for UID/GID=%d/%d"
                      % (VUID, VUID), ("virtual",))
        self.wait_log("perhaps you need to create the maildirs in advance",
                      ("virtual",))
        self.assertFalse(os.path.exists(md))

    def test_disk_full_defers(self):
        _, line = self.outcome("full@v.test", "v-full", big_body())
        self.assertIn("status=deferred", line, self.tail())
        self.assertIn("dsn=4.3.0", line)
        self.assertIn("(maildir delivery failed: error writing message: "
                      "No space left on device)", line)
        for sub in ("tmp", "new"):
            left = [n for n in os.listdir(os.path.join(self.full, "Maildir",
                                                       sub))
                    if not n.startswith(".")]
            self.assertEqual(left, [], sub)

    def test_file_size_limit_bounces(self):
        box = os.path.join(self.base, "v.test", "bigbox")
        with FsizeLimit(self.agent_pid(), FSIZE):
            qid, line = self.outcome("big@v.test", "v-big", big_body())
        self.assertIn("status=bounced", line, self.tail())
        self.assertIn("dsn=5.2.2", line)
        self.assertIn("(delivery failed to mailbox %s: error writing "
                      "message: File too large)" % box, line)
        self.assertEqual(os.path.getsize(box), 0, "not truncated back")
        blk = self.sender_notice("v-big").rcpt("big@v.test")
        self.assertIsNotNone(blk)
        self.assertEqual(blk.get("status"), "5.2.2")
        self.wait_gone(qid)


if __name__ == "__main__":
    unittest.main()
