"""`make run` as an operator uses it: start, send the printed swaks
command, find the message in Redis, `make stop`; the printed local and
virtual test mails land in the demo user's maildirs under the run
directory (local: directly and through the postmaster alias; virtual:
demo@virtual.localhost).

scripts/run.sh is what `make run` / `make stop` call. Every port is
moved to a free one with POSTMESH_<name> environment overrides (which
is also how an operator points the stack elsewhere), and the run
directory is a temporary one. The SMTP port is postscreen's
(POSTMESH_smtpd_listen names it); the smtpd behind it
(POSTMESH_RUN_SMTPD_LISTEN) takes only connections with a PROXY header.
"""

import ctypes
import os
import shlex
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import redis

from pmtest import BIN, ROOT, free_port


PR_SET_CHILD_SUBREAPER = 36


def proc_state(pid):
    """The state letter in /proc/PID/stat (R, S, Z ...), None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def run_env(tmp):
    """Environment for scripts/run.sh: a private run directory and every
    port moved to a free one; returns (env, redis port, smtp port)."""
    rport, sport = free_port(), free_port()
    env = dict(os.environ)
    env.update({
        "POSTMESH_RUN_DIR": tmp,
        "PM_BIN": BIN,
        "POSTMESH_redis_server": "127.0.0.1:%d" % rport,
        "POSTMESH_smtpd_listen": "127.0.0.1:%d" % sport,
        "POSTMESH_RUN_SMTPD_LISTEN": "127.0.0.1:%d" % free_port(),
        "POSTMESH_RUN_SUBMISSION_LISTEN": "127.0.0.1:%d" % free_port(),
        "POSTMESH_RUN_SUBMISSION_METRICS": "http://127.0.0.1:%d" % free_port(),
    })
    for svc in ("cleanup", "rewrite", "qmgr", "bounce"):
        p = free_port()
        env["POSTMESH_%s_listen" % svc] = "tcp://127.0.0.1:%d" % p
        env["POSTMESH_%s_service" % svc] = "tcp://127.0.0.1:%d" % p
    for svc in ("smtpd", "cleanup", "rewrite", "qmgr", "bounce", "smtp",
                "error", "discard", "postscreen", "local", "virtual"):
        env["POSTMESH_%s_metrics_listen" % svc] = "http://127.0.0.1:%d" % free_port()
    return env, rport, sport


def swaks_cmd(out):
    """The swaks command lines that `make run` printed: the local test
    mail, the virtual one, the submission one."""
    return [l.strip() for l in out.splitlines()
            if l.strip().startswith("swaks ")]


def make_tmp(prefix):
    """A run directory the demo user (nobody when root owns the
    checkout) can reach: the agents write its mail as that user."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tmp, 0o755)
    return tmp


def maildir_new(path):
    """The files in the maildir PATH's new/ (none if it is missing)."""
    new = os.path.join(path, "new")
    if not os.path.isdir(new):
        return []
    return sorted(os.path.join(new, n) for n in os.listdir(new))


def wait_maildir(path, marker, timeout=60.0):
    """The files of maildir PATH holding MARKER, once at least one is
    there (then a second more, to see a duplicate) or TIMEOUT passed."""
    deadline = time.time() + timeout
    while True:
        got = []
        for f in maildir_new(path):
            with open(f, "rb") as fh:
                if marker in fh.read():
                    got.append(f)
        if got or time.time() > deadline:
            break
        time.sleep(0.2)
    if got:
        time.sleep(1)
        got = [f for f in maildir_new(path) if marker in open(f, "rb").read()]
    return got


class MakeRunTest(unittest.TestCase):

    def test_run_send_stop(self):
        tmp = make_tmp("pm-makerun-")
        env, rport, sport = run_env(tmp)
        run = os.path.join(ROOT, "scripts", "run.sh")
        try:
            out = subprocess.run([run, "start"], env=env, capture_output=True,
                                 text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            cmd = swaks_cmd(out.stdout)
            self.assertEqual(len(cmd), 3, out.stdout)
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
            # the printed submission command: STARTTLS, AUTH as "test"
            self.assertIn("--tls --auth PLAIN --auth-user test", cmd[2])
            sw = subprocess.run(shlex.split(cmd[2]), capture_output=True,
                                text=True, timeout=60)
            self.assertEqual(sw.returncode, 0, sw.stdout + sw.stderr)
            self.assertIn("235 2.7.0 Authentication successful", sw.stdout)
            self.assertIn("250 2.0.0 Ok: queued as ", sw.stdout)
            with open(os.path.join(logdir, "submission.log")) as fh:
                sub = fh.read()
            self.assertRegex(sub, r"postmesh/submission/smtpd\[\d+\]: \S+: "
                                  r"client=\S+, sasl_method=PLAIN, sasl_username=test")
            self.check_postscreen(env, sport, logdir)
        finally:
            stop = subprocess.run([run, "stop"], env=env, capture_output=True,
                                  text=True, timeout=120)
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        self.assertIn("smtpd stopped", stop.stdout)
        self.assertIn("submission stopped", stop.stdout)
        with self.assertRaises(redis.exceptions.ConnectionError):
            redis.Redis(host="127.0.0.1", port=rport, socket_timeout=2).ping()

    def test_local_and_virtual_delivery(self):
        """The printed test mails land where `make run` says: demo@localhost
        (and postmaster@localhost, an alias of demo) in
        run/mail/demo/Maildir/new/, demo@virtual.localhost in
        run/mail/vhosts/virtual.localhost/demo/new/, each exactly once,
        with Delivered-To: and Return-Path:; an unknown local user is
        refused at RCPT (local_recipient_maps is the demo table)."""
        tmp = make_tmp("pm-makerun-local-")
        env, rport, sport = run_env(tmp)
        run = os.path.join(ROOT, "scripts", "run.sh")
        demo = os.path.join(tmp, "mail", "demo", "Maildir")
        vdemo = os.path.join(tmp, "mail", "vhosts", "virtual.localhost", "demo")
        try:
            out = subprocess.run([run, "start"], env=env, capture_output=True,
                                 text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            for s in ("local", "virtual"):
                self.assertIn("%s started" % s, out.stdout)
            self.assertIn(os.path.join(demo, "new"), out.stdout)
            self.assertIn(os.path.join(vdemo, "new"), out.stdout)
            cmd = swaks_cmd(out.stdout)
            self.assertIn("--to demo@localhost", cmd[0])
            self.assertIn("--to demo@virtual.localhost", cmd[1])
            marks = {}
            for c, name in ((cmd[0], "local"), (cmd[1], "virtual")):
                marks[name] = ("<makerun-%s-%d@client.test>"
                               % (name, os.getpid())).encode()
                sw = subprocess.run(shlex.split(c) + ["--header",
                                    "Message-Id: " + marks[name].decode()],
                                    capture_output=True, text=True, timeout=60)
                self.assertIn("250 2.0.0 Ok: queued as ", sw.stdout,
                              sw.stdout + sw.stderr)
            with smtplib.SMTP("127.0.0.1", sport, timeout=30) as c:
                c.ehlo("client.test")
                c.mail("you@example.com")
                code, _ = c.rcpt("nosuchuser@localhost")
                self.assertEqual(code, 550)
                c.rset()
                c.mail("you@example.com")
                c.rcpt("postmaster@localhost")
                marks["alias"] = ("<makerun-alias-%d@client.test>"
                                  % os.getpid()).encode()
                code, text = c.data(b"Message-ID: " + marks["alias"] +
                                    b"\r\nSubject: to postmaster\r\n\r\nhi\r\n")
                self.assertEqual(code, 250, text)
            logdir = os.path.join(tmp, "log")
            for name, box, rcpt in (("local", demo, b"demo@localhost"),
                                    ("virtual", vdemo, b"demo@virtual.localhost"),
                                    ("alias", demo, b"demo@")):
                got = wait_maildir(box, marks[name])
                if len(got) != 1:
                    logs = ""
                    for f in sorted(os.listdir(logdir)):
                        with open(os.path.join(logdir, f), errors="replace") as fh:
                            logs += fh.read()[-2000:]
                    self.fail("%s: %d files in %s\n%s" % (name, len(got), box, logs))
                with open(got[0], "rb") as fh:
                    head = fh.read(2000)
                self.assertTrue(head.startswith(b"Return-Path: <you@example.com>\n"),
                                head)
                self.assertIn(b"\nDelivered-To: " + rcpt, head)
            with open(os.path.join(logdir, "local.log")) as fh:
                self.assertRegex(fh.read(), r"to=<demo@[^>]+>.*relay=local.*"
                                 r"status=sent \(delivered to maildir\)")
            with open(os.path.join(logdir, "virtual.log")) as fh:
                self.assertRegex(fh.read(), r"to=<demo@virtual\.localhost>.*"
                                 r"relay=virtual.*status=sent \(delivered to maildir\)")
        finally:
            stop = subprocess.run([run, "stop"], env=env, capture_output=True,
                                  text=True, timeout=120)
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        for s in ("local", "virtual"):
            self.assertIn("%s stopped" % s, stop.stdout)

    def check_postscreen(self, env, sport, logdir):
        """The SMTP port is postscreen: a session (its client port known)
        is logged there (CONNECT, ALLOWLISTED: localhost is in
        mynetworks, no greet wait) and goes on to the smtpd behind it
        through the byte relay, STARTTLS included; that smtpd answers
        nothing to a client without a PROXY header."""
        with smtplib.SMTP("127.0.0.1", sport, timeout=30) as c:
            cport = c.sock.getsockname()[1]
            c.ehlo("client.test")
            self.assertTrue(c.has_extn("starttls"), c.esmtp_features)
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            code, _ = c.starttls(context=ctx)
            self.assertEqual(code, 220)
            c.ehlo("client.test")
            c.mail("you@example.com")
            c.rcpt("postmaster@localhost")
            code, text = c.data(b"Subject: make run through postscreen\r\n"
                                b"\r\nhello\r\n")
            self.assertEqual(code, 250, text)
        with open(os.path.join(logdir, "postscreen.log")) as fh:
            psc = fh.read()
        self.assertIn("CONNECT from [127.0.0.1]:%d to [127.0.0.1]:%d"
                      % (cport, sport), psc)
        self.assertIn("ALLOWLISTED [127.0.0.1]:%d" % cport, psc)
        with open(os.path.join(logdir, "smtpd.log")) as fh:
            smtpd = fh.read()
        self.assertRegex(smtpd, r"connect from \S+\[127\.0\.0\.1\]")
        self.assertRegex(smtpd, r"TLS connection established from "
                                r"\S+\[127\.0\.0\.1\]")
        self.assertNotIn("warning:", smtpd)
        # the smtpd behind postscreen wants a PROXY header first
        bhost, bport = env["POSTMESH_RUN_SMTPD_LISTEN"].rsplit(":", 1)
        with socket.create_connection((bhost, int(bport)), timeout=30) as s:
            s.sendall(b"EHLO direct.test\r\n")
            try:
                got = s.recv(512)
            except ConnectionResetError:
                got = b""
            self.assertEqual(got, b"")
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(os.path.join(logdir, "smtpd.log")) as fh:
                if "warning: haproxy read:" in fh.read():
                    break
            time.sleep(0.1)
        with open(os.path.join(logdir, "smtpd.log")) as fh:
            self.assertIn("warning: haproxy read:", fh.read())

    def test_run_restarts_a_crashed_service(self):
        """kill -9 one service; `make run` again starts it again, even
        when nothing has reaped the dead process (a zombie: kill -0
        still succeeds on it). This process makes itself the child
        subreaper, so the services that run.sh leaves behind become its
        children and a killed one stays a zombie until reaped below, as
        with a PID 1 that does not reap."""
        libc = ctypes.CDLL(None, use_errno=True)
        self.assertEqual(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0)
        tmp = make_tmp("pm-makerun-crash-")
        env, rport, sport = run_env(tmp)
        run = os.path.join(ROOT, "scripts", "run.sh")
        pidfile = os.path.join(tmp, "pid", "cleanup.pid")
        try:
            out = subprocess.run([run, "start"], env=env, capture_output=True,
                                 text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            with open(pidfile) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGKILL)
            deadline = time.time() + 10
            while proc_state(pid) != "Z" and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(proc_state(pid), "Z", "killed cleanup is not "
                             "a zombie: the test shows nothing")
            out = subprocess.run([run, "start"], env=env, capture_output=True,
                                 text=True, timeout=120)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("cleanup started", out.stdout)
            self.assertIn("smtpd already running", out.stdout)
            with open(pidfile) as f:
                newpid = int(f.read())
            self.assertNotEqual(newpid, pid)
            self.assertIn(proc_state(newpid), ("R", "S", "D"))
            cmd = swaks_cmd(out.stdout)
            self.assertEqual(len(cmd), 3, out.stdout)
            sw = subprocess.run(shlex.split(cmd[0]), capture_output=True,
                                text=True, timeout=60)
            self.assertIn("250 2.0.0 Ok: queued as ", sw.stdout,
                          sw.stdout + sw.stderr)
        finally:
            stop = subprocess.run([run, "stop"], env=env, capture_output=True,
                                  text=True, timeout=120)
            libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
            reap_orphans()
            shutil.rmtree(tmp, ignore_errors=True)
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        self.assertIn("cleanup stopped", stop.stdout)


def reap_orphans():
    """Reap the adopted children (services run.sh started) that exited,
    waiting a little for the stopped ones."""
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.1)


if __name__ == "__main__":
    unittest.main()
