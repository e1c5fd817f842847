"""SIGTERM with service_stop_delay: unready first, still serving, exit 0.

After SIGTERM a service that clients connect to (smtpd, and every role
with an nng listener) answers /readyz 503 at once, but /healthz 200,
and goes on serving for service_stop_delay, so that Kubernetes and the
clients' name lookups drop it before it closes (docs/operations.md,
"Stop and upgrade"). The tests send mail through smtpd and cleanup
during that time, see the stop end with exit status 0 after the delay,
and that a second SIGTERM ends the delay at once.
"""

import signal
import smtplib
import time
import urllib.error
import urllib.request

from pmtest import StackTest

DELAY = 3


def msg(mid):
    return ("From: <a@client.test>\r\nTo: <alice@example.test>\r\n"
            "Subject: stop-test\r\nMessage-ID: <%s@client.test>\r\n"
            "\r\nhello\r\n" % mid).encode()


class StopDelayTest(StackTest):

    PARAMS = {"service_stop_delay": "%ds" % DELAY}

    def status(self, name, path):
        url = "http://127.0.0.1:%d%s" % (self.stack.ports[name + "_metrics"],
                                         path)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def send(self, mid):
        with smtplib.SMTP("127.0.0.1", self.stack.ports["smtpd"],
                          timeout=10) as s:
            s.ehlo("client.test")
            s.sendmail("a@client.test", ["alice@example.test"], msg(mid))

    def term_and_check(self, name):
        """SIGTERM name; during the delay: /readyz 503, /healthz 200,
        mail goes through; then exit 0 after the delay. Restart it."""
        svc = self.stack.svcs[name]
        self.assertEqual(self.status(name, "/readyz"), 200)
        t0 = time.time()
        svc.proc.send_signal(signal.SIGTERM)
        deadline = t0 + 1.0
        while self.status(name, "/readyz") != 503 and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.status(name, "/readyz"), 503,
                         "%s: /readyz not 503 after SIGTERM" % name)
        self.assertEqual(self.status(name, "/healthz"), 200)
        self.send("%s-during-delay" % name)  # still serving
        self.assertIsNone(svc.proc.poll(), "%s exited during the delay"
                          % name)
        rc = svc.proc.wait(DELAY + 15)
        took = time.time() - t0
        self.assertEqual(rc, 0, "%s exit status" % name)
        self.assertGreaterEqual(took, DELAY - 0.2, "%s stopped before the "
                                "delay was over" % name)
        self.assertTrue(self.stack.log_lines(
            "not ready; stopping in %ds (service_stop_delay)" % DELAY, name))
        svc.start()
        self.stack.wait_ready(name)
        self.send("%s-after-restart" % name)

    def test_cleanup_serves_while_unready(self):
        self.term_and_check("cleanup")

    def test_smtpd_serves_while_unready(self):
        self.term_and_check("smtpd")

    def test_second_sigterm_ends_the_delay(self):
        svc = self.stack.svcs["rewrite"]
        taken = len(self.stack.log_lines("not ready; stopping in", "rewrite"))
        t0 = time.time()
        svc.proc.send_signal(signal.SIGTERM)
        # the second SIGTERM only once the first was taken: two pending
        # SIGTERMs merge into one, and the delay would run its course
        deadline = t0 + 10
        while len(self.stack.log_lines("not ready; stopping in",
                                       "rewrite")) == taken:
            self.assertLess(time.time(), deadline,
                            "rewrite did not log the first SIGTERM")
            time.sleep(0.02)
        svc.proc.send_signal(signal.SIGTERM)
        rc = svc.proc.wait(DELAY + 15)
        self.assertEqual(rc, 0)
        self.assertLess(time.time() - t0, DELAY - 0.5,
                        "second SIGTERM did not end the delay")
        self.assertTrue(self.stack.log_lines("stopping now", "rewrite"))
        svc.start()
        self.stack.wait_ready("rewrite")
        self.send("after-rewrite-restart")


if __name__ == "__main__":
    import unittest
    unittest.main()
