"""`make run` delivers (issue 3, acceptance).

The recipe of README.md ("Try delivery"), run as written but with every
port moved to a free one (POSTMESH_<name> overrides) and a temporary
run directory: scripts/run.sh (what `make run` calls) starts the
delivery services with the receive path; a message for a relay domain
reaches a local smtp-sink, and a message to a domain whose smtp-sink
rejects every recipient (smtp-sink -f RCPT) comes back to the sender as
a DSN, delivered to the first sink.
"""

import os
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

from peers import Dsn, SmtpSink
from pmtest import BIN, ROOT, free_port, queue_id_of

DELIVERY = ("qmgr", "smtp", "bounce", "error", "discard")


@unittest.skipUnless(all(os.path.exists(os.path.join(BIN, s))
                         for s in DELIVERY), "delivery services not built")
class MakeRunDeliveryTest(unittest.TestCase):

    def test_relay_and_dsn(self):
        tmp = tempfile.mkdtemp(prefix="pm-makerun-dlv-")
        good = SmtpSink(tmp, name="sink").start()
        bad = SmtpSink(tmp, name="reject", extra=["-f", "RCPT"]).start()
        rport, sport = free_port(), free_port()
        env = dict(os.environ)
        env.update({
            "POSTMESH_RUN_DIR": os.path.join(tmp, "run"),
            "PM_BIN": BIN,
            "POSTMESH_redis_server": "127.0.0.1:%d" % rport,
            "POSTMESH_smtpd_listen": "127.0.0.1:%d" % sport,
            "POSTMESH_RUN_SMTPD_LISTEN": "127.0.0.1:%d" % free_port(),
            "POSTMESH_RUN_SUBMISSION_LISTEN": "127.0.0.1:%d" % free_port(),
            "POSTMESH_RUN_SUBMISSION_METRICS":
                "http://127.0.0.1:%d" % free_port(),
            "POSTMESH_postscreen_metrics_listen":
                "http://127.0.0.1:%d" % free_port(),
            "POSTMESH_relay_domains": "relay.test, bad.test",
            "POSTMESH_transport_maps":
                "inline:{ relay.test=smtp:[127.0.0.1]:%d, "
                "back.test=smtp:[127.0.0.1]:%d, bad.test=smtp:[127.0.0.1]:%d }"
                % (good.port, good.port, bad.port),
            "POSTMESH_queue_run_delay": "1s",
            "POSTMESH_minimal_backoff_time": "1s",
        })
        for svc in ("cleanup", "rewrite", "qmgr", "bounce"):
            p = free_port()
            env["POSTMESH_%s_listen" % svc] = "tcp://127.0.0.1:%d" % p
            env["POSTMESH_%s_service" % svc] = "tcp://127.0.0.1:%d" % p
        # local and virtual run too (make run starts them when built)
        for svc in ("smtpd", "cleanup", "rewrite", "local",
                    "virtual") + DELIVERY:
            env["POSTMESH_%s_metrics_listen" % svc] = (
                "http://127.0.0.1:%d" % free_port())
        run = os.path.join(ROOT, "scripts", "run.sh")
        logdir = os.path.join(tmp, "run", "log")
        try:
            out = subprocess.run([run, "start"], env=env, capture_output=True,
                                 text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            for s in DELIVERY:
                self.assertIn("%s started" % s, out.stdout)
            with smtplib.SMTP("127.0.0.1", sport, timeout=30) as c:
                c.ehlo("client.test")
                c.mail("you@back.test")
                c.rcpt("user@relay.test")
                code, text = c.data(b"Subject: make run relay\r\n"
                                    b"Message-ID: <mr-1@client.test>\r\n"
                                    b"\r\nhello\r\n")
                self.assertEqual(code, 250, text)
                c.mail("you@back.test")
                c.rcpt("user@bad.test")
                code, text = c.data(b"Subject: make run bounce\r\n"
                                    b"Message-ID: <mr-2@client.test>\r\n"
                                    b"\r\nhello\r\n")
                self.assertEqual(code, 250, text)
                bounced_qid = queue_id_of(text.decode())
            deadline = time.time() + 60
            relayed, dsn = [], []
            while time.time() < deadline and not (relayed and dsn):
                msgs = good.messages()
                relayed = [m for m in msgs
                           if b"<mr-1@client.test>" in m.content]
                dsn = [m for m in msgs if m.sender == ""
                       and "you@back.test" in m.recipients]
                time.sleep(0.2)
            logs = ""
            for f in sorted(os.listdir(logdir)):
                with open(os.path.join(logdir, f), errors="replace") as fh:
                    logs += fh.read()
            self.assertEqual(len(relayed), 1, logs[-4000:])
            self.assertEqual(relayed[0].recipients, ["user@relay.test"])
            self.assertEqual(len(dsn), 1, logs[-4000:])
            d = Dsn(dsn[0].content)
            r = d.rcpt("user@bad.test")
            self.assertIsNotNone(r, dsn[0].content[:2000])
            self.assertEqual(r.get("action"), "failed")
            self.assertTrue(r.get("status", "").startswith("5."), r)
            self.assertIn("%s: sender non-delivery notification:"
                          % bounced_qid, logs)
        finally:
            stop = subprocess.run([run, "stop"], env=env, capture_output=True,
                                  text=True, timeout=120)
            good.stop()
            bad.stop()
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        for s in DELIVERY:
            self.assertIn("%s stopped" % s, stop.stdout)


if __name__ == "__main__":
    unittest.main()
