"""Submission: SASL AUTH in smtpd (smtpd_auth.c, services/lib/sasl).

Real clients (swaks --auth, raw sockets for hostile dialogues) against
smtpd with each password backend: the crypt table in a file and in
Redis, and a private Dovecot's auth service (smtpd_sasl_type =
dovecot) on a UNIX socket and on inet:host:port. The failed-AUTH rate
limit is checked across two smtpd processes sharing one Redis, the
sender login restrictions and permit_sasl_authenticated on relaying.

TLS: this branch has no STARTTLS yet, so the tests run with
smtpd_tls_auth_only = no. Once STARTTLS is in, set TLS = ["--tls"]
below (and smtpd_tls_* in PARAMS): every swaks call takes it.
"""

import base64
import ctypes
import os
import random
import re
import signal
import subprocess
import unittest

from peers import DOVECOT, _open_dir, wait_for
from pmtest import (BIN, SANITIZER_MARKS, RawSMTP, Stack, StackTest, free_port,
                    wait_port)

TLS = []  # ["--tls"] once smtpd speaks STARTTLS

_libcrypt = ctypes.CDLL("libcrypt.so.1")
_libcrypt.crypt_gensalt.restype = ctypes.c_char_p
_libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong,
                                    ctypes.c_char_p, ctypes.c_int]
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def crypt_hash(password, prefix):
    """A hash made by libcrypt, as mkpasswd -m sha-512 / yescrypt."""
    salt = _libcrypt.crypt_gensalt(prefix.encode(), 0, None, 0)
    return _libcrypt.crypt(password.encode(), salt).decode()


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


USERS = {  # user -> (password, hash prefix)
    "alice": ("alice-secret", "$6$"),
    "bob": ("bob-yescrypt", "$y$"),
}


def write_passwd(path):
    with open(path, "w") as f:
        f.write("# user:hash\n")
        for u, (pw, prefix) in USERS.items():
            f.write("%s:%s\n" % (u, crypt_hash(pw, prefix)))
        f.write("carol:{SHA512-CRYPT}%s::::\n" % crypt_hash("carol-pw", "$6$"))
        f.write("mallory:$1$md5$notsupported\n")


def swaks(port, user=None, password=None, mech="PLAIN", sender=None,
          to="alice@example.test", extra=()):
    args = ["swaks", "--server", "127.0.0.1", "--port", str(port),
            "--helo", "client.test", "--from", sender or "%s@example.test" % (user or "x"),
            "--to", to, "--timeout", "30"] + TLS
    if user is not None:
        args += ["--auth", mech, "--auth-user", user, "--auth-password", password]
    args += list(extra)
    out = subprocess.run(args, capture_output=True, text=True, timeout=90)
    return out.returncode, out.stdout + out.stderr


SUBMISSION_PARAMS = {
    "smtpd_sasl_auth_enable": "yes",
    "smtpd_tls_auth_only": "no",
    "smtpd_sasl_type": "crypt",
    # a remote domain only authenticated clients may relay to
    "smtpd_relay_restrictions": "permit_sasl_authenticated, reject_unauth_destination",
    "smtpd_sender_restrictions": "reject_sender_login_mismatch",
    "smtpd_sender_login_maps":
        "inline:{ {alice@example.test = alice}, {bob@example.test = bob, alice}, "
        "{@owned.test = carol} }",
    "smtpd_error_sleep_time": "0",
}


class SaslStack(StackTest):
    """A stack whose main.cf is completed once the tmp dir exists."""

    @classmethod
    def extra_params(cls, stack):
        return {}

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(cls.PARAMS, cls.SERVICES)
        cls.stack.params.update(cls.extra_params(cls.stack))
        cls.stack.write_config()
        try:
            cls.stack.start()
        except Exception:
            cls.stack.stop()
            for n, s in cls.stack.svcs.items():
                print("---- %s log ----\n%s" % (n, s.text()[-3000:]))
            cls.stack.cleanup_dir()
            raise

    def smtpd_log(self):
        return self.stack.log("smtpd")

    def wait_log(self, pattern, text_fn=None, timeout=10):
        text_fn = text_fn or self.smtpd_log
        self.assertTrue(wait_for(lambda: re.search(pattern, text_fn()),
                                 timeout=timeout, what=pattern),
                        "no log line %r in:\n%s" % (pattern, text_fn()[-3000:]))

    def ehlo(self, port=None):
        c = RawSMTP(port or self.stack.smtp_port)
        self.assertEqual(c.reply()[0], 220)
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250)
        return c, lines


class CryptFileTest(SaslStack):
    PARAMS = SUBMISSION_PARAMS

    @classmethod
    def extra_params(cls, stack):
        path = os.path.join(stack.tmp, "sasl_passwd")
        write_passwd(path)
        return {"smtpd_sasl_password_maps": path}

    def test_ehlo_advertises_auth(self):
        c, lines = self.ehlo()
        self.assertIn("250-AUTH PLAIN LOGIN", lines)
        c.close()

    def test_plain_good_password_queues_with_username(self):
        rc, out = swaks(self.stack.smtp_port, "alice", "alice-secret")
        self.assertEqual(rc, 0, out)
        self.assertIn("235 2.7.0 Authentication successful", out)
        qid = re.search(r"queued as (\S+)", out).group(1)
        env, _, _ = self.stack.queued(qid)
        self.assertEqual(env.get("sasl_username"), "alice", env)
        self.wait_log(r"%s: client=unknown\[127\.0\.0\.1\], sasl_method=PLAIN, "
                      r"sasl_username=alice" % qid)

    def test_login_yescrypt(self):
        rc, out = swaks(self.stack.smtp_port, "bob", "bob-yescrypt", mech="LOGIN")
        self.assertEqual(rc, 0, out)
        self.assertIn("334 VXNlcm5hbWU6", out)
        self.assertIn("334 UGFzc3dvcmQ6", out)
        self.assertIn("235 2.7.0", out)

    def test_dovecot_scheme_prefix_and_extra_fields(self):
        rc, out = swaks(self.stack.smtp_port, "carol", "carol-pw",
                        sender="carol@owned.test")
        self.assertEqual(rc, 0, out)

    def test_bad_password_535_and_logged(self):
        rc, out = swaks(self.stack.smtp_port, "alice", "wrong", mech="LOGIN")
        self.assertNotEqual(rc, 0)
        self.assertIn("535 5.7.8 Error: authentication failed: "
                      "authentication failure", out)
        self.wait_log(r"warning: unknown\[127\.0\.0\.1\]: SASL LOGIN authentication "
                      r"failed: authentication failure, sasl_username=alice")
        self.assertNotIn("wrong", self.smtpd_log())

    def test_unknown_user_and_unsupported_hash_fail(self):
        for user in ("nobody", "mallory"):
            rc, out = swaks(self.stack.smtp_port, user, "x")
            self.assertIn("535 5.7.8", out, user)

    def test_dialogues_and_hostile_input(self):
        good = b64("\0alice\0alice-secret")
        cases = [
            # (commands, want code of the last reply)
            (["AUTH"], 501),
            (["AUTH CRAM-MD5"], 504),
            (["AUTH PLAIN not*base64"], 501),
            (["AUTH PLAIN " + b64("alice-secret")], 535),      # one field
            (["AUTH PLAIN " + b64("\0\0pw")], 535),           # empty user
            (["AUTH PLAIN " + b64("\0al\x01ice\0pw")], 535),   # control
            (["AUTH PLAIN " + b64("\0alice\0pw\0x")], 535),    # NUL in pw
            (["AUTH PLAIN " + b64("bob\0alice\0alice-secret")], 535),  # authzid
            (["AUTH PLAIN " + "QUFB" * 1000], 500),            # line too long
            (["AUTH PLAIN " + "QUFB" * 500], 535),             # no NUL fields
            (["AUTH LOGIN", "QUFB" * 600], 500),    # ends the dialogue
            (["AUTH PLAIN", "*"], 501),
            (["AUTH LOGIN", "*"], 501),
            (["AUTH LOGIN", b64("alice"), "*"], 501),
            (["AUTH LOGIN", "%%%"], 501),
            (["AUTH PLAIN", good], 235),
            (["AUTH PLAIN =", ], 535),
            (["AUTH LOGIN " + b64("alice"), b64("alice-secret")], 235),
            (["AUTH PLAIN " + good, "AUTH PLAIN " + good], 503),
            (["MAIL FROM:<alice@example.test>", "AUTH PLAIN " + good], 503),
        ]
        for cmds, want in cases:
            c, _ = self.ehlo()
            code = None
            for cmd in cmds:
                code, lines = c.cmd(cmd)
            self.assertEqual(code, want, "%r: %r" % (cmds, lines))
            self.assertEqual(c.cmd("NOOP")[0], 250, cmds)
            c.close()
        # an AUTH with 334 challenges counts once on the disconnect line
        c, _ = self.ehlo()
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd(b64("alice"))[0], 334)
        self.assertEqual(c.cmd(b64("alice-secret"))[0], 235)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        self.wait_log(r"disconnect from unknown\[127\.0\.0\.1\] ehlo=1 auth=1 "
                      r"quit=1 commands=3")

    def test_random_dialogues(self):
        """Random AUTH commands and responses (bytes, base64 of random
        bytes, NUL, 8-bit, near the line limit): every reply is one AUTH
        may give, and the session goes on."""
        rng = random.Random(9)
        allowed = {235, 334, 500, 501, 504, 535}

        def rand_line():
            r = rng.random()
            if r < 0.3:
                return base64.b64encode(bytes(rng.randrange(256) for _ in
                                              range(rng.randint(0, 80))))
            if r < 0.5:
                return bytes(rng.choice(b"\0\x01\x7f\xff =*+/AZaz09")
                             for _ in range(rng.randint(0, 40)))
            if r < 0.6:
                return b"A" * rng.choice((2040, 2044, 2048, 2049, 3000))
            if r < 0.8:
                return base64.b64encode(b"\0".join(
                    bytes(rng.randrange(1, 256) for _ in range(rng.randint(0, 9)))
                    for _ in range(rng.randint(1, 4))))
            return rng.choice((b"*", b"=", b"", b" ", b"alice", b"====",
                               b"AUTH PLAIN", b"QUIT x"))

        for _ in range(60):
            c, _ = self.ehlo()
            code = None
            first = rng.choice((b"AUTH PLAIN", b"AUTH LOGIN", b"AUTH login",
                                b"AUTH PLAIN " + rand_line(),
                                b"AUTH LOGIN " + rand_line()))
            c.send(first + b"\r\n")
            code, lines = c.reply()
            for _ in range(rng.randint(0, 4)):
                if code != 334:
                    break
                c.send(rand_line() + b"\r\n")
                code, lines = c.reply()
                self.assertIn(code, allowed, lines)
            self.assertIn(code, allowed, lines)
            if code == 334:
                self.assertEqual(c.cmd("*")[0], 501)
            self.assertEqual(c.cmd("NOOP")[0], 250)
            c.close()

    def test_auth_before_ehlo(self):
        c = RawSMTP(self.stack.smtp_port)
        c.reply()
        self.assertEqual(c.cmd("HELO client.test")[0], 250)
        code, lines = c.cmd("AUTH PLAIN " + b64("\0alice\0alice-secret"))
        self.assertEqual(code, 503, lines)
        c.close()

    def test_relay_only_when_authenticated(self):
        rc, out = swaks(self.stack.smtp_port, sender="", to="someone@remote.test")
        self.assertIn("554 5.7.1 <someone@remote.test>: Relay access denied", out)
        rc, out = swaks(self.stack.smtp_port, "alice", "alice-secret",
                        to="someone@remote.test")
        self.assertEqual(rc, 0, out)
        self.assertIn("queued as", out)

    def test_sender_login_mismatch(self):
        # bob@ is owned by bob and alice; alice@ by alice only
        rc, out = swaks(self.stack.smtp_port, "bob", "bob-yescrypt",
                        sender="alice@example.test")
        self.assertIn("553 5.7.1 <alice@example.test>: Sender address rejected: "
                      "not owned by user bob", out)
        rc, out = swaks(self.stack.smtp_port, "alice", "alice-secret",
                        sender="bob@example.test")
        self.assertEqual(rc, 0, out)
        # an authenticated sender address nobody owns
        rc, out = swaks(self.stack.smtp_port, "alice", "alice-secret",
                        sender="other@client.test")
        self.assertIn("Sender address rejected: not owned by user alice", out)
        # unauthenticated, an owned address
        rc, out = swaks(self.stack.smtp_port, sender="carol@owned.test")
        self.assertIn("553 5.7.1 <carol@owned.test>: Sender address rejected: "
                      "not logged in", out)
        # unauthenticated, an address nobody owns: fine
        rc, out = swaks(self.stack.smtp_port, sender="x@client.test")
        self.assertEqual(rc, 0, out)

    def test_mail_auth_parameter(self):
        c, _ = self.ehlo()
        self.assertEqual(c.cmd("AUTH PLAIN " + b64("\0alice\0alice-secret"))[0], 235)
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test> AUTH=<>")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test> AUTH=a+2Bb")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test> AUTH=a+2Xb")[0], 501)
        c.close()

    def sighup(self):
        """SIGHUP smtpd; return once the reload is done (its outcome
        line; the table is reopened after "reload -- version")."""
        self.stack.reload("smtpd")

    def test_y_reload_rereads_table(self):
        path = self.stack.params["smtpd_sasl_password_maps"]
        rc, out = swaks(self.stack.smtp_port, "erin", "erin-pw",
                        extra=["--quit-after", "AUTH"])
        self.assertIn("535 5.7.8", out)
        with open(path, "a") as f:
            f.write("erin:%s\n" % crypt_hash("erin-pw", "$y$"))
        self.sighup()
        rc, out = swaks(self.stack.smtp_port, "erin", "erin-pw",
                        extra=["--quit-after", "AUTH"])
        self.assertIn("235 2.7.0", out)
        # a table that does not open: the previous one stays
        self.stack.params["smtpd_sasl_password_maps"] = path + ".missing"
        self.stack.write_config()
        try:
            self.sighup()
            self.wait_log(r"error: smtpd_sasl_type = crypt: .*\.missing.*; "
                          r"keeping the previous SASL backend")
            rc, out = swaks(self.stack.smtp_port, "erin", "erin-pw",
                            extra=["--quit-after", "AUTH"])
            self.assertIn("235 2.7.0", out)
        finally:
            self.stack.params["smtpd_sasl_password_maps"] = path
            self.stack.write_config()
            self.sighup()

    def test_zz_metrics(self):
        m = self.stack.metrics("smtpd")
        for outcome in ("success", "failure", "protocol"):
            got = re.search(r'postmesh_smtpd_auth_total\{outcome="%s"\} (\d+)'
                            % outcome, m)
            self.assertTrue(got and int(got.group(1)) > 0, (outcome, m[-3000:]))


class NoAuthTest(SaslStack):
    """AUTH off (the default), and on but TLS-only without TLS."""

    def test_not_advertised_and_unknown(self):
        c, lines = self.ehlo()
        self.assertFalse([l for l in lines if "AUTH" in l], lines)
        # Postfix: 503 5.5.1 Error: authentication not enabled
        self.assertEqual(c.cmd("AUTH PLAIN " + b64("\0a\0b"))[0], 503)
        c.close()

    def test_tls_auth_only(self):
        port = free_port()
        p = start_smtpd(self.stack, port, {
            "smtpd_sasl_auth_enable": "yes", "smtpd_tls_auth_only": "yes",
            "smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "/nonexistent"})
        try:
            c, lines = self.ehlo(port)
            self.assertFalse([l for l in lines if "AUTH" in l], lines)
            code, lines = c.cmd("AUTH PLAIN " + b64("\0a\0b"))
            self.assertEqual(code, 538, lines)
            self.assertIn("538 5.7.11 Encryption required for requested "
                          "authentication mechanism", lines[-1])
            c.close()
        finally:
            stop_proc(p)


def start_smtpd(stack, port, overrides, log=None):
    """A second smtpd of the stack, as a master.cf submission entry:
    the same main.cf with -o overrides."""
    args = [os.path.join(BIN, "smtpd"), "-c", stack.conf,
            "-o", "smtpd_listen=127.0.0.1:%d" % port,
            "-o", "smtpd_metrics_listen=http://127.0.0.1:%d" % free_port()]
    for k, v in overrides.items():
        args += ["-o", "%s=%s" % (k, v)]
    log = log or os.path.join(stack.tmp, "smtpd-%d.log" % port)
    out = open(log, "ab")
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    out.close()
    p.pm_log = log
    wait_port(port, proc=p)
    return p


def stop_proc(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    log = getattr(p, "pm_log", None)
    if log:
        text = open(log, errors="replace").read()
        for mark in SANITIZER_MARKS:
            if mark in text:
                raise AssertionError("sanitizer finding in %s:\n%s"
                                     % (log, text[text.index(mark) - 200:][:3000]))


class CryptRedisRateLimitTest(SaslStack):
    """The crypt table in Redis, and the failed-AUTH limit shared by two
    smtpd processes through Redis."""

    PARAMS = dict(SUBMISSION_PARAMS,
                  smtpd_sasl_password_maps="redis:pm:sasl:passwd",
                  smtpd_client_auth_rate_limit="3",
                  anvil_rate_time_unit="3600s",
                  # 127.0.0.1 ($mynetworks) is limited too
                  smtpd_client_event_limit_exceptions="")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.stack.r()
        for u, (pw, prefix) in USERS.items():
            r.hset("pm:sasl:passwd", u, crypt_hash(pw, prefix))
        cls.port2 = free_port()
        cls.log2 = os.path.join(cls.stack.tmp, "smtpd2.log")
        cls.smtpd2 = start_smtpd(cls.stack, cls.port2, {}, cls.log2)

    @classmethod
    def tearDownClass(cls):
        stop_proc(cls.smtpd2)
        super().tearDownClass()

    def log2_text(self):
        with open(self.log2, errors="replace") as f:
            return f.read()

    def test_redis_table_and_shared_limit(self):
        # a user added now works at once, on both processes
        self.stack.r().hset("pm:sasl:passwd", "dave", crypt_hash("dave-pw", "$y$"))
        for port in (self.stack.smtp_port, self.port2):
            rc, out = swaks(port, "dave", "dave-pw", extra=["--quit-after", "AUTH"])
            self.assertIn("235 2.7.0", out)
        # three failures: two on the first smtpd, one on the second
        for port in (self.stack.smtp_port, self.stack.smtp_port, self.port2):
            rc, out = swaks(port, "alice", "bad")
            self.assertIn("535 5.7.8", out)
        keys = self.stack.r().keys("pm:anvil:auth:127.0.0.1:*")
        self.assertEqual(len(keys), 1, keys)
        self.assertEqual(int(self.stack.r().get(keys[0])), 3)
        self.assertGreater(self.stack.r().ttl(keys[0]), 3600)
        # the fourth attempt is refused by either, good password or not
        for port in (self.port2, self.stack.smtp_port):
            rc, out = swaks(port, "alice", "alice-secret")
            self.assertIn("450 4.7.1 Error: too many AUTH commands from 127.0.0.1",
                          out)
        self.assertIn("Authentication command rate limit exceeded: 3 from "
                      "unknown[127.0.0.1]", self.log2_text())
        m = self.stack.metrics("smtpd")
        self.assertRegex(m, r'postmesh_smtpd_auth_total\{outcome="ratelimit"\} 1')
        # another window: the limit is lifted
        self.stack.r().delete(keys[0])
        rc, out = swaks(self.port2, "alice", "alice-secret")
        self.assertEqual(rc, 0, out)


class RedisOutageTest(SaslStack):
    """Redis down: the Redis table tempfails (454), the rate limit
    fails open with one warning."""

    PARAMS = dict(SUBMISSION_PARAMS,
                  smtpd_sasl_password_maps="redis:pm:sasl:passwd",
                  smtpd_client_auth_rate_limit="2",
                  redis_timeout="2s",
                  # 127.0.0.1 ($mynetworks) is limited too
                  smtpd_client_event_limit_exceptions="")

    def test_outage(self):
        path = os.path.join(self.stack.tmp, "sasl_passwd")
        write_passwd(path)
        port2 = free_port()
        log2 = os.path.join(self.stack.tmp, "smtpd2.log")
        p = start_smtpd(self.stack, port2, {"smtpd_sasl_password_maps": path}, log2)
        try:
            self.stack.redis.stop()
            rc, out = swaks(self.stack.smtp_port, "alice", "alice-secret")
            self.assertIn("454 4.7.0 Temporary authentication failure", out)
            self.wait_log(r"SASL PLAIN authentication failed: .*Redis lookup failed")
            for _ in range(3):
                rc, out = swaks(port2, "alice", "alice-secret", extra=["--quit-after", "AUTH"])
                self.assertIn("235 2.7.0", out)
            text = open(log2, errors="replace").read()
            self.assertEqual(text.count("anvil: Redis"), 1, text)
            self.assertIn("client rate limits are not enforced", text)
        finally:
            stop_proc(p)
            self.stack.redis.start()


class DovecotAuth:
    """A private Dovecot running only its auth service: a UNIX socket
    (auth-client protocol, what Postfix's smtpd_sasl_type = dovecot
    talks to) and an inet listener."""

    def __init__(self, workdir, users, extra=""):
        self.extra = extra  # more dovecot.conf lines
        self.dir = os.path.join(workdir, "dovecot-auth")
        self.socket = os.path.join(self.dir, "auth-client")
        self.port = free_port()
        self.users = users
        self.proc = None
        self.log = os.path.join(self.dir, "dovecot.log")

    def start(self):
        for sub in ("run", "state"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        _open_dir(self.dir, 0o755)  # the auth process reads users
        with open(os.path.join(self.dir, "users"), "w") as f:
            for u, pw in self.users.items():
                f.write("%s:%s\n" % (u, pw))
        conf = os.path.join(self.dir, "dovecot.conf")
        rootless = ""
        if os.geteuid() != 0:
            import grp
            import pwd
            user = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            rootless = ("default_internal_user = {u}\ndefault_internal_group = {g}\n"
                        "default_login_user = {u}\n").format(u=user, g=group)
        with open(conf, "w") as f:
            f.write("""# written by tests/integration/test_submission.py
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = none
ssl = no
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home=/nonexistent
}}
service auth {{
  unix_listener {sock} {{
    mode = 0666
  }}
  inet_listener auth-client {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
{rootless}{extra}""".format(d=self.dir, sock=self.socket, port=self.port,
                     rootless=rootless, extra=self.extra))
        out = open(os.path.join(self.dir, "dovecot.out"), "ab")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", conf],
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        wait_port(self.port, proc=self.proc)
        if not wait_for(lambda: os.path.exists(self.socket), what="socket"):
            raise RuntimeError("dovecot auth: no socket: " + self.text())
        return self

    def children(self):
        """PIDs of the master's processes (auth, anvil, log ...)."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                out.append(int(d))
        return out

    def stop(self):
        """Stop the master and then its children: an auth process
        otherwise goes on serving the connections it has."""
        if self.proc is not None:
            kids = self.children()
            stop_proc(self.proc)
            for pid in kids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc = None

    def text(self):
        try:
            return open(self.log, errors="replace").read()
        except FileNotFoundError:
            return ""


class DovecotTest(SaslStack):
    PARAMS = dict(SUBMISSION_PARAMS, smtpd_sasl_type="dovecot",
                  smtpd_sasl_timeout="5s")

    @classmethod
    def extra_params(cls, stack):
        cls.dovecot = DovecotAuth(stack.tmp, {
            "alice": "{PLAIN}alice-dove",
            "bob": "{SHA512-CRYPT}" + crypt_hash("bob-dove", "$6$"),
        }).start()
        return {"smtpd_sasl_path": cls.dovecot.socket}

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.dovecot.stop()

    def test_1_plain_login_good_and_bad(self):
        rc, out = swaks(self.stack.smtp_port, "alice", "alice-dove")
        self.assertEqual(rc, 0, out)
        rc, out = swaks(self.stack.smtp_port, "bob", "bob-dove", mech="LOGIN")
        self.assertEqual(rc, 0, out)
        rc, out = swaks(self.stack.smtp_port, "bob", "nope", mech="LOGIN")
        self.assertIn("535 5.7.8 Error: authentication failed", out)
        self.wait_log(r"SASL LOGIN authentication failed: .*sasl_username=bob")
        self.assertTrue(wait_for(lambda: "passwd-file(bob,127.0.0.1" in
                                 self.dovecot.text(), what="dovecot log"),
                        self.dovecot.text()[-2000:])

    def test_2_inet(self):
        port = free_port()
        p = start_smtpd(self.stack, port, {
            "smtpd_sasl_path": "inet:127.0.0.1:%d" % self.dovecot.port})
        try:
            rc, out = swaks(port, "alice", "alice-dove")
            self.assertEqual(rc, 0, out)
            rc, out = swaks(port, "alice", "bad")
            self.assertIn("535 5.7.8", out)
        finally:
            stop_proc(p)

    def test_3_dovecot_down_then_back(self):
        self.dovecot.stop()
        rc, out = swaks(self.stack.smtp_port, "alice", "alice-dove")
        self.assertIn("454 4.7.0 Temporary authentication failure", out)
        # refused, or (an auth process still exiting) timed out
        self.wait_log(r"SASL PLAIN authentication failed: .*auth-client.*"
                      r"(failed|timed out)")
        self.dovecot.start()
        rc, out = swaks(self.stack.smtp_port, "alice", "alice-dove")
        self.assertEqual(rc, 0, out)
        m = self.stack.metrics("smtpd")
        self.assertRegex(m, r'postmesh_smtpd_auth_total\{outcome="tempfail"\} 1')


if __name__ == "__main__":
    unittest.main()
