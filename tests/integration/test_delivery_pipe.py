"""The pipe delivery agent (issue 11, item 3): Postfix's pipe(8).

The whole stack plus one pipe instance serving the transport
"myfilter" (transport_maps: pipe.test=myfilter:nh.pipe.test), whose
command is a Python script written by the test: it records its argv,
stdin, environment and uid/gid into a JSON file per run and behaves by
recipient local part:
- "tempfail": exits 75 (EX_TEMPFAIL) on its first run, 0 after;
- "nouser": prints a line and exits 67 (EX_NOUSER);
- "slow": sleeps past pipe_time_limit (2s);
- anything else: exits 0 and prints "queued as X".
Asserted: the argv expansions exactly (a recipient full of shell
metacharacters arrives as one literal argument), the client macros
(${client_address} ... ${sasl_sender}) of a message sent with SMTP
AUTH and of one without, flags F R D O . on stdin, pipe_user (uid/gid
65534), the environment (export_environment only), deferral then
delivery, a bounce with the command's output in the DSN (peers.Dsn),
the time limit, pipe_size_limit, the log lines, and the NOTIFY=SUCCESS
notice: "relayed" without flag X; PipeFinalTest: "delivered" with X.
"""

import glob
import json
import os
import shutil
import smtplib
import tempfile
import time
import unittest

from peers import PySink, dsns_for
from pmtest import DeliveryTest, queue_id_of
from test_submission import write_passwd

SCRIPT = r'''#!/usr/bin/python3
import json, os, sys, time
d = os.path.dirname(os.path.abspath(sys.argv[0]))
data = sys.stdin.buffer.read()
rcpt = sys.argv[-1]
local = rcpt.rsplit("@", 1)[0]
n = len([f for f in os.listdir(d) if f.endswith(".json")])
rec = {"argv": sys.argv, "stdin": data.decode("latin-1"),
       "env": dict(os.environ), "uid": os.getuid(), "gid": os.getgid(),
       "groups": os.getgroups(), "cwd": os.getcwd()}
with open(os.path.join(d, "run-%d-%d.json" % (n, os.getpid())), "w") as f:
    json.dump(rec, f)
if local == "tempfail":
    flag = os.path.join(d, "tempfail.seen")
    if not os.path.exists(flag):
        open(flag, "w").close()
        print("try again later, please")
        sys.exit(75)
if local == "nouser":
    print("no such user: %s" % local, flush=True)
    sys.stderr.write("second line\n")
    sys.exit(67)
if local == "slow":
    time.sleep(60)
print("queued as X1")
sys.exit(0)
'''


def message(mid, subject="pipe test", body=b"body\r\n"):
    return (b"From: <sender@back.test>\r\n"
            b"To: <rcpt@pipe.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"\r\n" + body)


class PipeTest(DeliveryTest):

    SERVICES = DeliveryTest.SERVICES + ("pipe",)
    PARAMS = {
        "relay_domains": "relay.test, pipe.test",
        "pipe_transport": "myfilter",
        "pipe_argv": "%(script)s -q ${queue_id} -f ${sender} "
                     "-n ${nexthop} -s ${size} -u ${user} -x ${extension} "
                     "-m ${mailbox} -d ${domain} -o ${original_recipient} "
                     "-C ${client_address} -N ${client_hostname} "
                     "-P ${client_port} -p ${client_protocol} "
                     "-H ${client_helo} -M ${sasl_method} "
                     "-U ${sasl_username} -S $(sasl_sender) "
                     "-- ${recipient}",
        "pipe_flags": "FRDO.",
        "pipe_user": "nobody",
        "pipe_time_limit": "2s",
        "pipe_size_limit": "4000",
        "recipient_delimiter": "+",
        "export_environment": "TZ LANG=C PM_PIPE_TEST=yes",
        "myfilter_destination_recipient_limit": "1",
        # SMTP AUTH for the client macros (test_submission's users)
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_tls_auth_only": "no",
        "smtpd_sasl_type": "crypt",
    }

    @classmethod
    def setUpClass(cls):
        # a directory "nobody" can write, outside the stack's 0700 one
        cls.rundir = tempfile.mkdtemp(prefix="pmpipe-")
        os.chmod(cls.rundir, 0o777)
        cls.script = os.path.join(cls.rundir, "record.py")
        with open(cls.script, "w") as f:
            f.write(SCRIPT)
        os.chmod(cls.script, 0o755)
        cls.PARAMS = dict(PipeTest.PARAMS)
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
        passwd = os.path.join(workdir, "sasl_passwd")
        write_passwd(passwd)
        return {
            "transport_maps":
                "inline:{ pipe.test=myfilter:nh.pipe.test, "
                "back.test=smtp:[127.0.0.1]:%d }" % cls.back.port,
            "smtpd_sasl_password_maps": passwd,
        }

    def submit_auth(self, sender, rcpt, msg, mail_opts=()):
        """As submit(), after AUTH PLAIN as alice."""
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                          timeout=30) as c:
            c.ehlo("auth.client.test")
            c.user, c.password = "alice", "alice-secret"
            code, text = c.auth("PLAIN", c.auth_plain)
            self.assertEqual(code, 235, text)
            code, text = c.mail(sender, list(mail_opts))
            self.assertEqual(code, 250, text)
            code, text = c.rcpt(rcpt)
            self.assertEqual(code, 250, text)
            code, text = c.data(msg)
            self.assertEqual(code, 250, text)
            return queue_id_of(text.decode())

    @staticmethod
    def opt(rec, flag):
        return rec["argv"][rec["argv"].index(flag) + 1]

    def client_macros(self, rec):
        return {f: self.opt(rec, f)
                for f in ("-C", "-N", "-P", "-p", "-H", "-M", "-U", "-S")}

    def runs(self, rcpt):
        out = []
        for p in glob.glob(os.path.join(self.rundir, "run-*.json")):
            with open(p) as f:
                try:
                    rec = json.load(f)
                except ValueError:
                    continue            # being written
            if rec["argv"][-1] == rcpt:
                out.append(rec)
        return out

    def wait_runs(self, rcpt, n=1, timeout=30.0):
        deadline = time.time() + timeout
        while len(self.runs(rcpt)) < n and time.time() < deadline:
            time.sleep(0.1)
        got = self.runs(rcpt)
        self.assertGreaterEqual(len(got), n, "runs for %s: %d\n%s"
                                % (rcpt, len(got), self.logs_tail()))
        return got

    def pipe_log(self, qid, rcpt):
        return self.stack.log_lines("%s: to=<%s>" % (qid, rcpt), "pipe")

    def test_argv_stdin_env_user(self):
        rcpt = "a|b&c$x{y}*`id`+ext@pipe.test"
        body = (b"line one\r\n.leading dot\r\nFrom the body\r\n"
                b"..two dots\r\nend\r\n")
        msg = message("argv-1", body=body)
        qid = self.submit("sender@back.test", [rcpt], msg)
        lines = self.wait_log("%s: to=<%s>" % (qid, rcpt), ("pipe",))
        self.assertTrue(any("relay=myfilter" in ln and "dsn=2.0.0" in ln and
                            "status=sent (delivered via myfilter service "
                            "(queued as X1))" in ln for ln in lines), lines)
        self.wait_gone(qid)
        (rec,) = self.runs(rcpt)
        size = rec["argv"][rec["argv"].index("-s") + 1]
        self.assertEqual(rec["argv"], [
            self.script, "-q", qid, "-f", "sender@back.test",
            "-n", "nh.pipe.test", "-s", size,
            "-u", "a|b&c$x{y}*`id`", "-x", "ext",
            "-m", "a|b&c$x{y}*`id`+ext", "-d", "pipe.test",
            "-o", rcpt] + rec["argv"][19:35] + ["--", rcpt])
        self.assertEqual(rec["argv"][19:35:2], [
            "-C", "-N", "-P", "-p", "-H", "-M", "-U", "-S"])
        self.assertGreaterEqual(int(size), len(msg))
        # user= applied: nobody, no supplementary groups of root
        self.assertEqual((rec["uid"], rec["gid"]), (65534, 65534))
        self.assertEqual(rec["groups"], [65534])
        self.assertEqual(rec["cwd"], "/")
        # export_environment only (TZ is not set in the agent's env)
        env = {k: v for k, v in rec["env"].items() if k != "LC_CTYPE"}
        self.assertEqual(env, {"LANG": "C", "PM_PIPE_TEST": "yes"})
        # F, R, O, D lines first, then the message with LF line ends
        # and leading dots doubled (flag .)
        lines = rec["stdin"].split("\n")
        self.assertRegex(lines[0], r"^From sender@back\.test  "
                         r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$")
        self.assertEqual(lines[1], "Return-Path: <sender@back.test>")
        self.assertEqual(lines[2], "X-Original-To: " + rcpt)
        self.assertEqual(lines[3], "Delivered-To: " + rcpt)
        self.assertNotIn("\r", rec["stdin"])
        self.assertTrue(rec["stdin"].endswith(
            "\nline one\n..leading dot\nFrom the body\n...two dots\n"
            "end\n"), rec["stdin"])
        self.assertIn("\nSubject: pipe test\n", rec["stdin"])

    def test_client_macros_with_auth(self):
        rcpt = "authed@pipe.test"
        qid = self.submit_auth("alice@example.test", rcpt,
                               message("auth-1"),
                               mail_opts=["AUTH=alice+2Bsub@example.test"])
        (rec,) = self.wait_runs(rcpt)
        self.wait_gone(qid)
        got = self.client_macros(rec)
        self.assertEqual(got["-C"], "127.0.0.1")
        self.assertRegex(got["-P"], r"^\d+$")
        self.assertNotEqual(got["-P"], str(self.stack.smtp_port))
        self.assertTrue(got["-p"].startswith("ESMTP"), got)
        self.assertEqual(got["-H"], "auth.client.test")
        self.assertEqual(got["-M"], "PLAIN")
        self.assertEqual(got["-U"], "alice")
        # AUTH= is xtext: +2B is "+"
        self.assertEqual(got["-S"], "alice+sub@example.test")
        self.assertNotEqual(got["-N"], "")

    def test_client_macros_without_auth(self):
        rcpt = "plain@pipe.test"
        qid = self.submit("sender@back.test", [rcpt], message("noauth-1"))
        (rec,) = self.wait_runs(rcpt)
        self.wait_gone(qid)
        got = self.client_macros(rec)
        self.assertEqual(got["-C"], "127.0.0.1")
        self.assertEqual(got["-H"], "client.test")
        self.assertEqual(got["-p"], "ESMTP")
        self.assertRegex(got["-P"], r"^\d+$")
        # not authenticated: empty arguments, as Postfix
        self.assertEqual((got["-M"], got["-U"], got["-S"]), ("", "", ""))

    def test_success_notice_relayed(self):
        # Postfix's pipe without flag X: the success DSN says "relayed"
        rcpt = "notify@pipe.test"
        qid = self.submit("sender@back.test", [rcpt], message("notify-1"),
                          rcpt_opts=["NOTIFY=SUCCESS"])
        self.wait_gone(qid)
        got = wait_dsn(self, self.back, rcpt)
        r = got[0][1].rcpt(rcpt)
        self.assertEqual(r.get("action"), "relayed", got[0][0].content)
        self.assertEqual(r.get("status"), "2.0.0")

    def test_quoted_metachar_recipient(self):
        # a quoted local part with ; ( ) and white space: one argument
        rcpt = '"a;b$(x) c"@pipe.test'
        qid = self.submit("sender@back.test", [rcpt], message("quoted-1"))
        self.wait_gone(qid)
        recs = []
        for p in glob.glob(os.path.join(self.rundir, "run-*.json")):
            with open(p) as f:
                rec = json.load(f)
            if rec["argv"][2] == qid:
                recs.append(rec)
        self.assertEqual(len(recs), 1, self.logs_tail())
        # Postfix's internal (unquoted) form: flag q is not set
        self.assertEqual(recs[0]["argv"][-1], 'a;b$(x) c@pipe.test')
        self.assertEqual(recs[0]["argv"][recs[0]["argv"].index("-m") + 1],
                         "a;b$(x) c")
        self.assertEqual(recs[0]["argv"][-2], "--")

    def test_tempfail_then_delivered(self):
        rcpt = "tempfail@pipe.test"
        qid = self.submit("sender@back.test", [rcpt], message("temp-1"))
        lines = self.wait_log("%s: to=<%s>" % (qid, rcpt), ("pipe",))
        self.assertTrue(any("dsn=4.3.0" in ln and "status=deferred "
                            "(temporary failure. Command output: try "
                            "again later, please)" in ln for ln in lines),
                        lines)
        # the retry (minimal_backoff_time 1s) runs it again: exit 0
        self.wait_log("%s: to=<%s>" % (qid, rcpt), ("pipe",), count=2)
        self.wait_gone(qid)
        lines = self.pipe_log(qid, rcpt)
        self.assertTrue(any("status=sent (delivered via myfilter" in ln
                            for ln in lines), lines)
        self.assertEqual(len(self.runs(rcpt)), 2)
        # no bounce was sent
        self.assertEqual(dsns_for(self.back.messages(), rcpt), [])

    def test_nouser_bounces_with_output(self):
        rcpt = "nouser@pipe.test"
        qid = self.submit("sender@back.test", [rcpt], message("nouser-1"))
        lines = self.wait_log("%s: to=<%s>" % (qid, rcpt), ("pipe",))
        self.assertTrue(any("dsn=5.1.1" in ln and "status=bounced (user "
                            "unknown. Command output: no such user: nouser "
                            "second line)" in ln for ln in lines), lines)
        self.wait_gone(qid)
        deadline = time.time() + 20
        while not dsns_for(self.back.messages(), rcpt) and \
                time.time() < deadline:
            time.sleep(0.1)
        got = dsns_for(self.back.messages(), rcpt)
        self.assertEqual(len(got), 1, self.logs_tail())
        r = got[0][1].rcpt(rcpt)
        self.assertEqual(r.get("action"), "failed")
        self.assertEqual(r.get("status"), "5.1.1")
        self.assertIn("no such user: nouser second line",
                      r.get("diagnostic-code", ""))

    def test_time_limit_defers(self):
        rcpt = "slow@pipe.test"
        t0 = time.time()
        qid = self.submit("sender@back.test", [rcpt], message("slow-1"))
        lines = self.wait_log("%s: to=<%s>" % (qid, rcpt), ("pipe",))
        self.assertLess(time.time() - t0, 15)
        self.assertTrue(any("dsn=4.3.0" in ln and "status=deferred "
                            "(Command time limit exceeded: \"%s\")"
                            % self.script in ln for ln in lines), lines)
        self.assertIn(qid, self.stack.deferred_qids() +
                      self.stack.queued_qids())

    def test_size_limit_bounces(self):
        rcpt = "big@pipe.test"
        body = b"x" * 70 + b"\r\n"
        qid = self.submit("sender@back.test", [rcpt],
                          message("big-1", body=body * 80))
        lines = self.wait_log("%s: to=<%s>" % (qid, rcpt), ("pipe",))
        self.assertTrue(any("dsn=5.2.3" in ln and
                            "status=bounced (message too large)" in ln
                            for ln in lines), lines)
        self.wait_gone(qid)
        self.assertEqual(self.runs(rcpt), [], "the command ran")

    def test_delivered_to_loop(self):
        rcpt = "loop@pipe.test"
        msg = b"Delivered-To: loop@pipe.test\r\n" + message("loop-1")
        qid = self.submit("sender@back.test", [rcpt], msg)
        lines = self.wait_log("%s: to=<%s>" % (qid, rcpt), ("pipe",))
        self.assertTrue(any("dsn=5.4.6" in ln and "mail forwarding loop"
                            in ln for ln in lines), lines)
        self.assertEqual(self.runs(rcpt), [], "the command ran")


def wait_dsn(test, sink, rcpt, timeout=20):
    deadline = time.time() + timeout
    while not dsns_for(sink.messages(), rcpt) and time.time() < deadline:
        time.sleep(0.1)
    got = dsns_for(sink.messages(), rcpt)
    test.assertEqual(len(got), 1, test.logs_tail())
    return got


class PipeFinalTest(DeliveryTest):
    """Flag X (final delivery): the success DSN says "delivered"."""

    SERVICES = DeliveryTest.SERVICES + ("pipe",)
    PARAMS = {
        "relay_domains": "pipe.test",
        "pipe_transport": "final",
        "pipe_argv": "/bin/true ${recipient}",
        "pipe_flags": "X",
        "pipe_user": "nobody",
    }

    @classmethod
    def start_peers(cls, workdir):
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "transport_maps":
                "inline:{ pipe.test=final, "
                "back.test=smtp:[127.0.0.1]:%d }" % cls.back.port,
        }

    def test_success_notice_delivered(self):
        rcpt = "notify@pipe.test"
        qid = self.submit("sender@back.test", [rcpt], message("final-1"),
                          rcpt_opts=["NOTIFY=SUCCESS"])
        lines = self.wait_log("%s: to=<%s>" % (qid, rcpt), ("pipe",))
        self.assertTrue(any("relay=final" in ln and "status=sent" in ln
                            for ln in lines), lines)
        self.wait_gone(qid)
        got = wait_dsn(self, self.back, rcpt)
        r = got[0][1].rcpt(rcpt)
        self.assertEqual(r.get("action"), "delivered", got[0][0].content)
        self.assertEqual(r.get("status"), "2.0.0")


if __name__ == "__main__":
    unittest.main()
