"""A pipe success read back from Redis by a new qmgr keeps its action
(Postfix's pipe: "relayed" unless flag X; the agent stores it as "i:x"
with the recipient's sent state, docs/queue.md).

The whole stack plus a real pipe instance (transport "myfilter", no
flag X) whose command waits for a release file. The test stops qmgr
(SIGSTOP) while the command runs, releases the command: the pipe agent
records the recipient sent in Redis (with "i:x" = relayed) and its
report to qmgr goes nowhere. qmgr is then killed (kill -9) and started
again: it takes its queue entry back, reads the recipient as sent, and
the NOTIFY=SUCCESS notice to the sender must say "Action: relayed"
(before: "delivered", the default for a message read back).
"""

import os
import shutil
import signal
import tempfile
import time
import unittest

from peers import PySink, dsns_for
from pmtest import DeliveryTest

SCRIPT = r'''#!/usr/bin/python3
import os, sys, time
d = os.path.dirname(os.path.abspath(sys.argv[0]))
sys.stdin.buffer.read()
open(os.path.join(d, "started"), "w").close()
deadline = time.time() + 60
while not os.path.exists(os.path.join(d, "release")):
    if time.time() > deadline:
        sys.exit(75)
    time.sleep(0.05)
print("queued as R1")
'''


class PipeReadBackTest(DeliveryTest):

    SERVICES = DeliveryTest.SERVICES + ("pipe",)
    PARAMS = {
        "relay_domains": "pipe.test",
        "pipe_transport": "myfilter",
        "pipe_argv": "%(script)s ${recipient}",
        "pipe_user": "nobody",
        "myfilter_destination_recipient_limit": "1",
    }

    @classmethod
    def setUpClass(cls):
        cls.rundir = tempfile.mkdtemp(prefix="pmpiperb-")
        os.chmod(cls.rundir, 0o777)
        cls.script = os.path.join(cls.rundir, "wait.py")
        with open(cls.script, "w") as f:
            f.write(SCRIPT)
        os.chmod(cls.script, 0o755)
        cls.PARAMS = dict(PipeReadBackTest.PARAMS)
        cls.PARAMS["pipe_argv"] = cls.PARAMS["pipe_argv"] % {
            "script": cls.script}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.rundir, ignore_errors=True)

    @classmethod
    def start_peers(cls, workdir):
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "transport_maps":
                "inline:{ pipe.test=myfilter, "
                "back.test=smtp:[127.0.0.1]:%d }" % cls.back.port,
        }

    def wait_for(self, what, cond, timeout=30.0):
        deadline = time.time() + timeout
        while not cond() and time.time() < deadline:
            time.sleep(0.05)
        self.assertTrue(cond(), "%s\n%s" % (what, self.logs_tail()))

    def test_relayed_survives_qmgr_kill(self):
        rcpt = "rb@pipe.test"
        qid = self.submit("sender@back.test", [rcpt],
                          b"From: <sender@back.test>\r\n"
                          b"Subject: read back\r\n\r\nx\r\n",
                          rcpt_opts=["NOTIFY=SUCCESS"])
        self.wait_for("command started", lambda: os.path.exists(
            os.path.join(self.rundir, "started")))
        qmgr = self.stack.svcs["qmgr"].proc
        os.kill(qmgr.pid, signal.SIGSTOP)
        try:
            open(os.path.join(self.rundir, "release"), "w").close()
            key = "pm:{%d}:r:%s" % (self.stack.shard(qid), qid)
            r = self.stack.r()
            self.wait_for("recipient recorded sent",
                          lambda: r.hget(key, "0:s") in (b"sent", "sent"))
            x = r.hget(key, "0:x")
            self.assertIn(x, (b"relayed", "relayed"))
        finally:
            # kill -9 works on a stopped process; then a new qmgr
            self.stack.restart("qmgr", signal.SIGKILL)
        self.wait_gone(qid)
        self.wait_for("success notice", lambda: dsns_for(
            self.back.messages(), rcpt))
        got = dsns_for(self.back.messages(), rcpt)
        self.assertEqual(len(got), 1, self.logs_tail())
        r = got[0][1].rcpt(rcpt)
        self.assertEqual(r.get("action"), "relayed", got[0][0].content)
        self.assertEqual(r.get("status"), "2.0.0")


if __name__ == "__main__":
    unittest.main()
