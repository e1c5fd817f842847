"""Redis with an ACL user and a password from a file (issue 7, point 7).

redis-server runs with an ACL file: the default user with a password
no service has, a user postmesh with a password and access to pm:* only. Every service that
talks to Redis is configured with redis_user and redis_password_file
(the password alone on the first line of a mode 0600 file, as a
Kubernetes Secret holds it):

- the whole stack (cleanup, smtpd, rewrite, qmgr, smtp, bounce, error,
  discard) accepts a message and delivers it to an smtp-sink; the
  password is in no log and on no command line; roles without Redis
  (smtpd, rewrite) never read the file;
- a client without the password gets NOAUTH for every command, a wrong
  password or the default user gets WRONGPASS;
- with a wrong password in the file cleanup is not ready (/readyz 503),
  logs "refused our credentials (user postmesh): WRONGPASS ..." without
  the password, warns that the file is readable by others, and smtpd
  answers 451; once the file holds the right password, SIGHUP makes
  the next connections use it and mail is accepted.
"""

import os
import signal
import smtplib
import subprocess
import time
import unittest
import urllib.error
import urllib.request

import redis

from peers import SmtpSink
from pmtest import DeliveryTest, Stack, wait_port

PASS = "Te5t-Redis-Pa55"
WRONG = "Wr0ng-Redis-Pa55"
# The default user stays on, with a password nobody is given: Redis 7.0
# replays its append file as the default user and, with that user off,
# drops every MULTI/EXEC block in it (the queue functions' writes) on a
# restart (docs/operations.md, "Redis credentials").
ADMIN = "Adm1n-0nly-Pa55-n0t-f0r-p0stmesh"
ACL = ("user default on >%s ~* &* +@all\n"
       "user postmesh on >%s ~pm:* &* +@all\n" % (ADMIN, PASS))


def acl_redis(stack):
    """Point the stack's redis-server at an ACL file (never a password on
    its command line either) and its test client at the ACL user."""
    acl = os.path.join(stack.tmp, "users.acl")
    with open(acl, "w") as f:
        f.write(ACL)
    stack.redis.extra = ["--aclfile", acl]
    stack.redis.username = "postmesh"
    stack.redis.password = PASS


def password_file(stack, text, mode=0o600):
    path = os.path.join(stack.tmp, "redis-password")
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, mode)
    return path


MSG = (b"From: <sender@client.test>\r\nTo: <rcpt@relay.test>\r\n"
       b"Subject: redis auth\r\nMessage-ID: <redis-auth-1@client.test>\r\n"
       b"\r\nhello through an authenticated queue\r\n")


class RedisAclDeliveryTest(DeliveryTest):
    """Every role with Redis logs in as postmesh; mail flows."""

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        acl_redis(cls.stack)
        return {
            "transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                              % cls.sink.port,
            "redis_user": "postmesh",
            "redis_password_file": password_file(cls.stack, PASS),
        }

    def test_delivered_through_acl(self):
        before = self.sink.count()
        qid = self.submit("sender@client.test", ["rcpt@relay.test"], MSG)
        msgs = self.wait_count(self.sink, before + 1)
        self.assertTrue(any(b"<redis-auth-1@client.test>" in m.content
                            for m in msgs))
        self.wait_gone(qid)
        self.wait_log("%s: removed" % qid, ("qmgr",))

    def test_password_nowhere_to_be_seen(self):
        for name in ("cleanup", "qmgr", "smtp", "bounce", "error",
                     "discard"):
            self.assertTrue(self.stack.log_lines(
                "user postmesh, password from %s"
                % self.stack.params["redis_password_file"], name),
                "%s did not log its Redis user:\n%s"
                % (name, self.stack.log(name)[-2000:]))
        # smtpd uses Redis too (the client limits shared by replicas:
        # smtpd_client_connection_count_limit is on by default), so only
        # rewrite never reads the password.
        self.assertEqual(self.stack.log_lines("password from", "rewrite"),
                         [], "rewrite read the Redis password")
        self.assertNotIn(PASS, self.stack.log())
        for name, svc in self.stack.svcs.items():
            with open("/proc/%d/cmdline" % svc.proc.pid, "rb") as f:
                self.assertNotIn(PASS.encode(), f.read(), name)

    def test_no_password_no_access(self):
        anon = redis.Redis(host="127.0.0.1", port=self.stack.redis.port,
                           socket_timeout=10)
        commands = (("PING",), ("GET", "pm:queue_shards"), ("KEYS", "*"),
                    ("XLEN", "pm:{0}:incoming"), ("CONFIG", "GET", "*"),
                    ("FUNCTION", "LIST"), ("SET", "x", "y"),
                    ("FCALL", "pm_delete", "0"))
        for cmd in commands:
            # redis-py turns "-NOAUTH Authentication required." into this
            with self.assertRaises(redis.exceptions.AuthenticationError,
                                   msg=" ".join(cmd)) as cm:
                anon.execute_command(*cmd)
            self.assertIn("Authentication required", str(cm.exception),
                          " ".join(cmd))
        # as the wire says it
        out = subprocess.run(["redis-cli", "-p", str(self.stack.redis.port),
                              "GET", "pm:queue_shards"],
                             capture_output=True, text=True, timeout=30)
        self.assertIn("NOAUTH Authentication required", out.stdout + out.stderr)
        for user, pw in (("postmesh", WRONG), (None, PASS), ("default", PASS),
                         ("nobody", PASS)):
            c = redis.Redis(host="127.0.0.1", port=self.stack.redis.port,
                            username=user, password=pw, socket_timeout=10)
            with self.assertRaises(redis.exceptions.RedisError,
                                   msg="%s/%s" % (user, pw)) as cm:
                c.ping()
            self.assertIn("invalid username-password pair",
                          str(cm.exception))
        # and the ACL user with its password can (the stack's own client)
        self.assertEqual(self.stack.r().get("pm:queue_shards"), b"1")

    def test_zz_queue_survives_a_restart_under_acl(self):
        """Redis killed and restarted on its append file keeps a queued
        message whole. With the default user off, Redis 7.0 dropped the
        MULTI/EXEC blocks of the append file at the restart ("-NOPERM
        ACLs rules changed ..." in its log) and the message was gone."""
        self.stack.svcs["smtp"].stop()
        try:
            msg = MSG.replace(b"redis-auth-1@", b"redis-auth-restart@")
            qid = self.submit("sender@client.test", ["rcpt@relay.test"], msg)
            self.assertIsNotNone(self.stack.queued(qid), "not queued")
            self.stack.redis.proc.kill()
            self.stack.redis.proc.wait()
            self.stack.redis.start()
            r = self.stack.r()
            with open(os.path.join(self.stack.redis.dir,
                                   "redis.log")) as f:
                log = f.read()
            self.assertFalse("NOPERM" in log, "Redis refused parts of its "
                             "append file: %s" % log[log.find("NOPERM"):][:300])
            self.assertIsNotNone(self.stack.queued(qid),
                                 "the queued message is gone after the "
                                 "restart")
            self.assertGreater(r.xlen("pm:{0}:incoming"), 0)
        finally:
            self.stack.svcs["smtp"].start()
        before = self.sink.count()
        msgs = self.wait_count(self.sink, before + 1, timeout=60)
        self.assertTrue(any(b"<redis-auth-restart@client.test>" in m.content
                            for m in msgs))


class RedisWrongPasswordTest(unittest.TestCase):
    """A wrong password: not ready, 451, a clear log line; SIGHUP after
    the file is fixed brings mail back."""

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack()
        acl_redis(cls.stack)
        # group and world readable: warned about, not refused
        pw = password_file(cls.stack, WRONG, 0o644)
        cls.stack.params.update({"redis_user": "postmesh",
                                 "redis_password_file": pw})
        cls.stack.write_config()
        try:
            cls.stack.redis.start()
            for n in cls.stack.names:
                cls.stack.svcs[n].start()
            cls.stack.wait_ready("rewrite")
            wait_port(cls.stack.ports["cleanup_metrics"],
                      proc=cls.stack.svcs["cleanup"].proc)
            wait_port(cls.stack.smtp_port, proc=cls.stack.svcs["smtpd"].proc)
        except Exception:
            cls.stack.stop()
            print(cls.stack.log()[-4000:])
            cls.stack.cleanup_dir()
            raise

    @classmethod
    def tearDownClass(cls):
        findings = cls.stack.stop()
        cls.stack.cleanup_dir()
        if findings:
            raise AssertionError("sanitizer findings:\n" + "\n".join(findings))

    def readyz(self):
        url = ("http://127.0.0.1:%d/readyz"
               % self.stack.ports["cleanup_metrics"])
        try:
            with urllib.request.urlopen(url, timeout=15) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def send(self):
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=60) as c:
            c.ehlo("client.test")
            code, text = c.mail("a@client.test")
            self.assertEqual(code, 250, text)
            code, text = c.rcpt("alice@example.test")
            self.assertEqual(code, 250, text)
            try:
                code, text = c.data(MSG)
            except smtplib.SMTPDataError as e:
                code, text = e.smtp_code, e.smtp_error
            return code, text.decode()

    def wait_log(self, pattern, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            lines = self.stack.log_lines(pattern, "cleanup")
            if lines:
                return lines
            time.sleep(0.1)
        self.fail("no cleanup log line with %r:\n%s"
                  % (pattern, self.stack.log("cleanup")[-3000:]))

    def test_refused_then_fixed_with_sighup(self):
        self.assertEqual(self.readyz(), 503)
        code, text = self.send()
        self.assertEqual(code, 451, "got %d %s, want 451" % (code, text))
        self.assertIn("4.3.0", text)
        lines = self.wait_log("refused our credentials (user postmesh): "
                              "WRONGPASS invalid username-password pair")
        self.assertIn("Redis at %s" % self.stack.redis.addr, lines[0])
        self.wait_log("redis_password_file = %s can be read by others or by "
                      "a group this process is not in"
                      % self.stack.params["redis_password_file"])
        log = self.stack.log()
        self.assertNotIn(WRONG, log)
        self.assertNotIn(PASS, log)
        self.assertEqual(self.stack.queued_qids(), [])

        # the operator fixes the Secret and reloads
        password_file(self.stack, PASS)
        self.stack.svcs["cleanup"].proc.send_signal(signal.SIGHUP)
        self.wait_log("reload: Redis at %s: user postmesh, password from"
                      % self.stack.redis.addr)
        deadline = time.time() + 10
        while self.readyz() != 200 and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.readyz(), 200, self.stack.log("cleanup")[-2000:])
        code, text = self.send()
        self.assertEqual(code, 250, "got %d %s after the reload" % (code, text))
        self.assertEqual(len(self.stack.queued_qids()), 1)
        self.assertNotIn(PASS, self.stack.log())


if __name__ == "__main__":
    unittest.main()
