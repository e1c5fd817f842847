"""queue_durability is checked against the real Redis (issue 6, i).

"250 queued" promises that the message survives a crash. With the
default queue_durability = fsync that holds only when Redis runs with
appendonly yes and appendfsync always. Here a real redis-server runs
with appendfsync everysec (what many Redis installations have): cleanup
must refuse mail with a temporary error, say why in its log, and
report not ready on /readyz; after CONFIG SET appendfsync always it
accepts mail again within the re-check interval. queue_durability =
replica without a connected replica is refused in the same way.
"""

import smtplib
import time
import unittest
import urllib.error
import urllib.request

from pmtest import Stack, wait_port

MSG = (b"From: <a@client.test>\r\nTo: <alice@example.test>\r\n"
       b"Subject: durability\r\nMessage-ID: <dur@client.test>\r\n\r\nhi\r\n")


class DurabilityBase(unittest.TestCase):
    """A receive stack whose Redis is not durable as configured: the
    stack is started by hand, since cleanup is (rightly) never ready."""

    PARAMS = {}
    REDIS_EXTRA = ()

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(cls.PARAMS)
        cls.stack.redis.extra = list(cls.REDIS_EXTRA)
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
        """(code, text) of the reply to the end of DATA."""
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

    def assertRefused(self):
        self.assertNotEqual(self.readyz(), 200, "cleanup ready although "
                            "Redis is not durable")
        code, text = self.send()
        self.assertEqual(code, 451, "got %d %s, want 451" % (code, text))
        self.assertIn("4.3.0", text)
        self.assertIn("not durable", text)
        self.assertEqual(self.stack.queued_qids(), [])


class FsyncEverysecTest(DurabilityBase):

    INTERVAL = 2
    PARAMS = {"queue_durability_check_interval": "%ds" % INTERVAL}
    REDIS_EXTRA = ("--appendfsync", "everysec")

    def test_refused_until_redis_is_durable(self):
        self.assertRefused()
        self.wait_log("queue_durability = fsync but Redis has appendfsync "
                      "everysec: refusing mail")
        self.stack.r().config_set("appendfsync", "always")
        fixed = time.time()
        while True:
            code, text = self.send()
            if code == 250 or time.time() > fixed + self.INTERVAL + 3:
                break
            time.sleep(0.2)
        self.assertEqual(code, 250, "got %d %s %.1fs after CONFIG SET, want "
                         "250 within the re-check interval (%ds)"
                         % (code, text, time.time() - fixed, self.INTERVAL))
        self.assertEqual(self.readyz(), 200)
        self.wait_log("durable again: accepting mail")
        # and someone turns it off again at run time
        self.stack.r().config_set("appendfsync", "no")
        deadline = time.time() + self.INTERVAL + 3
        while self.readyz() == 200 and time.time() < deadline:
            time.sleep(0.2)
        self.wait_log("Redis has appendfsync no: refusing mail")
        code, text = self.send()
        self.assertEqual(code, 451, "got %d %s" % (code, text))


class ReplicaMissingTest(DurabilityBase):

    PARAMS = {"queue_durability": "replica",
              "queue_durability_check_interval": "1s"}

    def test_refused_without_a_replica(self):
        self.assertRefused()
        self.wait_log("queue_durability = replica but Redis has 0 connected "
                      "replicas, want at least 1: refusing mail")


if __name__ == "__main__":
    unittest.main()
