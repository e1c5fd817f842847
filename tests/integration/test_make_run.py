"""`make run` as an operator uses it: start, send the printed swaks
command, find the message in Redis, `make stop`.

scripts/run.sh is what `make run` / `make stop` call. Every port is
moved to a free one with POSTMESH_<name> environment overrides (which
is also how an operator points the stack elsewhere), and the run
directory is a temporary one.
"""

import os
import shlex
import shutil
import subprocess
import tempfile
import unittest

import redis

from pmtest import BIN, ROOT, free_port


class MakeRunTest(unittest.TestCase):

    def test_run_send_stop(self):
        tmp = tempfile.mkdtemp(prefix="pm-makerun-")
        rport, sport = free_port(), free_port()
        env = dict(os.environ)
        env.update({
            "POSTMESH_RUN_DIR": tmp,
            "PM_BIN": BIN,
            "POSTMESH_redis_server": "127.0.0.1:%d" % rport,
            "POSTMESH_smtpd_listen": "127.0.0.1:%d" % sport,
        })
        for svc in ("cleanup", "rewrite", "qmgr", "bounce"):
            p = free_port()
            env["POSTMESH_%s_listen" % svc] = "tcp://127.0.0.1:%d" % p
            env["POSTMESH_%s_service" % svc] = "tcp://127.0.0.1:%d" % p
        for svc in ("smtpd", "cleanup", "rewrite", "qmgr", "bounce", "smtp",
                    "error", "discard"):
            env["POSTMESH_%s_metrics_listen" % svc] = "http://127.0.0.1:%d" % free_port()
        run = os.path.join(ROOT, "scripts", "run.sh")
        try:
            out = subprocess.run([run, "start"], env=env, capture_output=True,
                                 text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            cmd = [l.strip() for l in out.stdout.splitlines()
                   if l.strip().startswith("swaks ")]
            self.assertEqual(len(cmd), 1, out.stdout)
            self.assertIn("--port %d" % sport, cmd[0])
            sw = subprocess.run(shlex.split(cmd[0]), capture_output=True,
                                text=True, timeout=60)
            self.assertEqual(sw.returncode, 0, sw.stdout + sw.stderr)
            line = [l for l in sw.stdout.splitlines() if "queued as" in l]
            self.assertTrue(line and "250 2.0.0 Ok: queued as " in line[-1], sw.stdout)
            qid = line[-1].split("queued as ")[1].strip()
            r = redis.Redis(host="127.0.0.1", port=rport)
            # queued, or already delivered/bounced if delivery services run
            logs = ""
            logdir = os.path.join(tmp, "log")
            for f in os.listdir(logdir):
                with open(os.path.join(logdir, f), errors="replace") as fh:
                    logs += fh.read()
            self.assertIn("%s: from=<" % qid, logs)
            self.assertTrue(r.exists("pm:{0}:m:%s" % qid) or "%s: removed" % qid in logs
                            or "%s: to=<" % qid in logs, logs[-3000:])
        finally:
            stop = subprocess.run([run, "stop"], env=env, capture_output=True,
                                  text=True, timeout=120)
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        self.assertIn("smtpd stopped", stop.stdout)
        with self.assertRaises(redis.exceptions.ConnectionError):
            redis.Redis(host="127.0.0.1", port=rport, socket_timeout=2).ping()


if __name__ == "__main__":
    unittest.main()
