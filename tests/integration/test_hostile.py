"""Hostile input against smtpd: seeded, deterministic byte streams.

Each session is generated from a fixed seed (random.Random(seed)): valid
SMTP commands mixed with mutations (random bytes, NUL, bare CR/LF,
0x80-0xff, over-long lines up to 100 KB, huge/negative/overflowing BDAT
and SIZE= numbers, deep <<<>>> nesting, thousands of parameters,
pipelined bursts, abrupt closes mid-command and mid-DATA, half-closes).
A stream is sent all at once, in random chunk sizes, or one step at a
time waiting for the replies; whatever comes back is read with a short
timeout, while sending (no pipelining deadlock).

Checked: every reply line is "ddd" + " " or "-" + text with a 2xx-5xx
code, multi-line replies keep one code, and every reply other than the
greeting, HELO/EHLO and 354 carries an enhanced status code of the same
class; the greeting arrives; a half-closed session is closed by the
server; smtpd keeps running and, after every batch of sessions, a clean
smtplib transaction still gets 250 and the message is in Redis. The
harness then fails the class on any ASan/UBSan report.

Reproduce one session:  /usr/bin/python3 test_hostile.py --dump SEED
(prints the plan: send mode, steps as Python bytes, and the ending).
"""

import os
import random
import re
import select
import smtplib
import socket
import struct
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

from pmtest import StackTest, queue_id_of

BASE_SEED = int(os.environ.get("PM_HOSTILE_SEED", "20260301"))
SESSIONS = int(os.environ.get("PM_HOSTILE_SESSIONS", "300"))
BATCH = 50
PARALLEL = 8
MYHOST = "mx.example.test"

RCPTS = (b"alice@example.test", b"bob@example.test", b"someone@relay.test",
         b"x@elsewhere.test", b"postmaster", b"Postmaster@EXAMPLE.TEST",
         b"\"quoted local\"@example.test",
         b"@a.test,@b.test:alice@example.test",
         b"alice@[127.0.0.1]", b"alice@[IPv6:::1]", b"", b"a\\b@example.test")
SENDERS = (b"sender@client.test", b"", b"<>", b"x@y", b"\xc3\xa9@client.test",
           b"a" * 300 + b"@client.test", b"@r.test:s@client.test")
HUGE = (b"99999999999999999999999999", b"18446744073709551615",
        b"18446744073709551616", b"9223372036854775807",
        b"9223372036854775808", b"-1", b"-0", b"+5", b"0x10", b"1e9",
        b"4294967296", b"2147483648", b"", b" ", b"00000000000000000000007",
        b"12abc", b"\x00", b"0")


def rand_bytes(rng, n, lo=0, hi=255):
    return bytes(rng.randint(lo, hi) for _ in range(n))


def long_line(rng):
    n = rng.choice((1000, 2047, 2048, 2049, 5000, 20000, 65536, 100000))
    fill = rng.choice((b"a", b"<", b"\xff", b" ", b"A=B "))
    return rng.choice((b"MAIL FROM:", b"RCPT TO:", b"EHLO ", b"", b"NOOP "))\
        + (fill * n)[:n] + b"\r\n"


def nesting(rng):
    d = rng.choice((10, 100, 1000, 5000))
    inner = rng.choice((b"alice@example.test", b"", b"a"))
    close = d if rng.random() < 0.6 else rng.randint(0, d * 2)
    return (rng.choice((b"MAIL FROM:", b"RCPT TO:")) + b"<" * d + inner
            + b">" * close + b"\r\n")


def many_params(rng):
    n = rng.choice((50, 500, 3000))
    kinds = (b"X%d=%d", b"SIZE=%d%d", b"BODY=8BITMIME%d%d", b"NOTIFY=%d,%d",
             b"P%d%d", b"=%d%d", b"ORCPT=rfc822;%d@%d")
    ps = b" ".join(rng.choice(kinds) % (i, i) for i in range(n))
    head = rng.choice((b"MAIL FROM:<s@client.test> ",
                       b"RCPT TO:<alice@example.test> "))
    return head + ps + b"\r\n"


def mail_cmd(rng):
    params = []
    for _ in range(rng.choice((0, 0, 1, 2, 4))):
        params.append(rng.choice((
            b"SIZE=" + rng.choice(HUGE), b"SIZE=100", b"BODY=8BITMIME",
            b"BODY=7BIT", b"BODY=BINARYMIME",
            b"BODY=" + rand_bytes(rng, 3, 33, 126),
            b"SMTPUTF8", b"RET=HDRS", b"RET=FULL", b"RET=BOGUS",
            b"ENVID=" + rand_bytes(rng, 10, 33, 126), b"AUTH=<>",
            b"SIZE", b"=", b"SIZE==1")))
    who = rng.choice(SENDERS)
    if not who.startswith(b"<"):
        who = b"<" + who + b">"
    sep = rng.choice((b"MAIL FROM:", b"MAIL FROM: ", b"mail from:",
                      b"MAIL  FROM:", b"MAIL FROM"))
    return sep + who + b"".join(b" " + p for p in params) + b"\r\n"


def rcpt_cmd(rng):
    params = []
    for _ in range(rng.choice((0, 0, 1, 2))):
        params.append(rng.choice((
            b"NOTIFY=SUCCESS,FAILURE", b"NOTIFY=NEVER", b"NOTIFY=NEVER,DELAY",
            b"NOTIFY=", b"ORCPT=rfc822;alice@example.test",
            b"ORCPT=rfc822;" + rand_bytes(rng, 20, 33, 126),
            b"ORCPT=bogus", b"ORCPT=rfc822;a+2Bb+", b"ORCPT=rfc822;+ZZ")))
    return (rng.choice((b"RCPT TO:<", b"rcpt to:<", b"RCPT TO: <"))
            + rng.choice(RCPTS) + b">" + b"".join(b" " + p for p in params)
            + b"\r\n")


def body(rng):
    parts = [b"Subject: hostile\r\n\r\n"]
    for _ in range(rng.randint(0, 12)):
        parts.append(rng.choice((
            b"plain line\r\n",
            b".\r\n" if rng.random() < 0.05 else b"..dot\r\n",
            b".\n", b"\r\n.\n", b"bare\nlf\r\n", b"bare\rcr\r\n",
            b"nul\x00byte\r\n", rand_bytes(rng, 40, 128, 255) + b"\r\n",
            rand_bytes(rng, rng.randint(1, 200)),
            b"x" * rng.choice((998, 999, 5000, 70000)) + b"\r\n",
            b".\r", b"\r.\r\n")))
    return b"".join(parts)


def data_steps(rng):
    end = rng.choice((b".\r\n",) * 6 + (b"\r\n.\r\n", b".\n", b"", b"."))
    return [b"DATA\r\n", body(rng) + end]


def bdat_steps(rng):
    steps = []
    for i in range(rng.randint(1, 3)):
        chunk = rand_bytes(rng, rng.randint(0, 300)) if rng.random() < 0.5 \
            else body(rng)
        r = rng.random()
        if r < 0.75:
            size = str(len(chunk)).encode()
        elif r < 0.82:
            size = str(len(chunk) + rng.randint(-20, 20)).encode()
        else:
            size = rng.choice(HUGE)
        last = b" LAST" if rng.random() < 0.4 else rng.choice(
            (b"", b"", b" last", b" LAST junk", b" LASTX", b"  LAST"))
        steps.append(b"BDAT " + size + last + b"\r\n" + chunk)
    return steps


def misc_cmd(rng):
    return rng.choice((
        b"RSET\r\n", b"NOOP\r\n", b"NOOP with args\r\n", b"VRFY alice\r\n",
        b"VRFY\r\n", b"EXPN staff\r\n", b"HELP\r\n", b"HELP MAIL\r\n",
        b"STARTTLS\r\n", b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", b"AUTH\r\n",
        b"ETRN example.test\r\n", b"ETRN\r\n", b"XCLIENT ADDR=1.2.3.4\r\n",
        b"TURN\r\n", b"DATA\r\n", b"BDAT\r\n", b"BDAT 0 LAST\r\n",
        b"HELO\r\n", b"EHLO\r\n", b"\r\n", b" \r\n", b"\t\r\n",
        b"GET / HTTP/1.0\r\n\r\n", b"QUIT extra\r\n",
        b"MAIL FROM:<>\r\n", b"RCPT TO:<>\r\n"))


def garbage(rng):
    r = rng.random()
    if r < 0.25:
        return rand_bytes(rng, rng.randint(1, 300))
    if r < 0.45:
        return rand_bytes(rng, rng.randint(1, 80), 128, 255) + b"\r\n"
    if r < 0.6:
        return rng.choice((b"\r", b"\n", b"\r\r\n", b"\n\r", b"\x00\r\n",
                           b"NOOP\n", b"NOOP\r", b"NO\x00OP\r\n",
                           b"RSET\rNOOP\n\r\n"))
    if r < 0.85:
        return long_line(rng)
    return b"\x00" * rng.randint(1, 5000) + rng.choice((b"", b"\r\n"))


def mutate(rng, step):
    if not step:
        return step
    i = rng.randrange(len(step) + 1)
    k = rng.randrange(6)
    if k == 0:
        return step[:i] + bytes([rng.randrange(256)]) + step[i + 1:]
    if k == 1:
        return step[:i] + b"\x00" + step[i:]
    if k == 2:
        return step[:i] + rng.choice((b"\r", b"\n", b"\r\n")) + step[i:]
    if k == 3:
        return (step[:i] + rand_bytes(rng, rng.randint(1, 8), 128, 255)
                + step[i:])
    if k == 4:
        return step[:i]
    return step + step


def transaction(rng):
    """A mostly valid transaction (so DATA/BDAT content is reached)
    whose steps the caller may mutate."""
    steps = [b"MAIL FROM:<sender@client.test>\r\n" if rng.random() < 0.7
             else mail_cmd(rng)]
    for _ in range(rng.randint(1, 3)):
        steps.append(b"RCPT TO:<%s>\r\n" % rng.choice(RCPTS[:4])
                     if rng.random() < 0.7 else rcpt_cmd(rng))
    steps += data_steps(rng) if rng.random() < 0.6 else bdat_steps(rng)
    return steps


def greeting_cmd(rng):
    verb = rng.choice((b"EHLO ", b"EHLO ", b"HELO ", b"ehlo ", b"EHLO  "))
    name = rng.choice((b"client.test", b"[127.0.0.1]", b"", b"x" * 300,
                       rand_bytes(rng, 12, 33, 255), b"a b c", b"[::1]"))
    return verb + name + b"\r\n"


def make_plan(seed):
    """The whole session for one seed: a dict of mode, steps, ending."""
    rng = random.Random(seed)
    plan = {
        "seed": seed,
        "wait_greeting": rng.random() < 0.9,
        "mode": rng.choice(("all", "chunks", "chunks", "step", "step",
                            "step")),
        "linger0": rng.random() < 0.2,
    }
    steps = []
    if rng.random() < 0.9:
        steps.append(b"EHLO client.test\r\n" if rng.random() < 0.7
                     else greeting_cmd(rng))
    for _ in range(rng.randint(1, 8)):
        r = rng.random()
        if r < 0.45:
            new = transaction(rng)
        elif r < 0.52:
            new = [mail_cmd(rng)]
        elif r < 0.58:
            new = [rcpt_cmd(rng) for _ in range(rng.randint(1, 4))]
        elif r < 0.62:
            new = data_steps(rng)
        elif r < 0.66:
            new = bdat_steps(rng)
        elif r < 0.72:
            new = [misc_cmd(rng)]
        elif r < 0.82:
            new = [garbage(rng)]
        elif r < 0.87:
            new = [nesting(rng)]
        elif r < 0.91:
            new = [many_params(rng)]
        elif r < 0.94:
            new = [greeting_cmd(rng)]
        else:   # a valid pipelined burst
            new = [b"".join((b"MAIL FROM:<sender@client.test>\r\n",
                             b"RCPT TO:<alice@example.test>\r\n") +
                            tuple(rng.choice((b"NOOP\r\n", b"RSET\r\n"))
                                  for _ in range(rng.randint(0, 20))))]
        if rng.random() < 0.2:
            j = rng.randrange(len(new))
            new[j] = mutate(rng, new[j])
        steps.extend(new)
    ending = rng.choice(("quit", "close", "half", "cut", "cut", "rst"))
    if ending == "quit":
        steps.append(b"QUIT\r\n")
    elif ending == "cut":
        last = steps[-1]
        steps[-1] = last[:rng.randrange(len(last) + 1)] if last else last
    plan["ending"] = ending
    plan["steps"] = steps
    plan["chunk_seed"] = rng.randrange(1 << 30)
    return plan


# Sending and receiving.

class Peer:
    """A non-blocking client socket that reads while it writes."""

    def __init__(self, port, linger0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if linger0:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        self.sock.setblocking(False)
        self.rx = bytearray()
        self.eof = False
        self.dead = False        # our writes fail: the server closed

    def _recv(self):
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            self.eof = True
            return 0
        if not chunk:
            self.eof = True
            return 0
        self.rx += chunk
        return len(chunk)

    def send(self, data, stall=10.0):
        """Send data, reading meanwhile. False if nothing moved for
        stall seconds (the server neither reads nor closes)."""
        view = memoryview(data)
        last = time.time()
        while len(view) and not self.dead:
            r, w, _ = select.select([self.sock] if not self.eof else [],
                                    [self.sock], [], 0.5)
            if r and self._recv():
                last = time.time()
            if w:
                try:
                    n = self.sock.send(view[:65536])
                    view = view[n:]
                    last = time.time()
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self.dead = True
            if time.time() - last > stall:
                return False
        return True

    def drain(self, idle, cap, until=None):
        """Read until idle seconds pass without data, the server closes,
        cap seconds pass, or until (a bytes) is in what came back."""
        start = time.time()
        last = start
        while not self.eof:
            now = time.time()
            if now - last >= idle or now - start >= cap:
                break
            if until is not None and until in self.rx:
                break
            r, _, _ = select.select([self.sock], [], [],
                                    min(idle - (now - last), 0.2))
            if r and self._recv():
                last = time.time()

    def half_close(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


LINE_RE = re.compile(r"^([2-5]\d\d)([ -])(.*)$", re.S)
DSN_RE = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")


def check_replies(rx, eof):
    """Problems (strings) in what the server sent."""
    problems = []
    data = bytes(rx)
    lines = data.split(b"\r\n")
    tail = lines.pop()
    if tail and eof:
        problems.append("partial reply line before close: %r" % tail[:200])
    replies, cur = [], []
    for raw in lines:
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            problems.append("non-ASCII reply line %r" % raw[:200])
            continue
        m = LINE_RE.match(line)
        if not m or "\r" in line or "\n" in line or "\x00" in line:
            problems.append("malformed reply line %r" % line[:200])
            continue
        if cur and cur[-1][0] != m.group(1):
            problems.append("code changes inside a reply: %r then %r"
                            % (cur[-1][2][:80], line[:80]))
        cur.append((m.group(1), m.group(2), line))
        if m.group(2) == " ":
            replies.append(cur)
            cur = []
    if cur and eof:
        problems.append("multi-line reply cut off: %r" % cur[-1][2][:200])
    for n, rep in enumerate(replies):
        code = rep[0][0]
        first = rep[0][2][4:]
        if n == 0 and code == "220":
            continue            # greeting
        if code == "354":
            continue
        if code == "250" and first.split(" ")[0] == MYHOST:
            continue            # HELO / EHLO
        for c, _sep, line in rep:
            parts = line[4:].split(" ", 1)
            dm = DSN_RE.match(parts[0])
            if not dm or dm.group(1) != code[0]:
                problems.append("no matching enhanced code: %r" % line[:200])
                break
    return problems


def run_session(port, seed):
    """Run one session; return a list of problems (empty: fine)."""
    plan = make_plan(seed)
    crng = random.Random(plan["chunk_seed"])
    problems = []
    peer = Peer(port, plan["linger0"])
    try:
        if plan["wait_greeting"]:
            peer.drain(10.0, 10.0, until=b"\r\n")
            if b"\r\n" not in peer.rx:
                return ["no greeting within 10s (eof=%s)" % peer.eof]
        if plan["mode"] == "step":
            units = [[s] for s in plan["steps"]]
        else:
            blob = b"".join(plan["steps"])
            if plan["mode"] == "all":
                units = [[blob]]
            else:
                cuts, i = [], 0
                while i < len(blob):
                    n = crng.choice((1, 2, 7, 64, 512, 4096, 30000))
                    cuts.append(blob[i:i + n])
                    i += n
                units = [cuts]
        for unit in units:
            for piece in unit:
                if not peer.send(piece):
                    problems.append("server stopped reading for 10s "
                                    "without closing")
                    return problems
                if peer.dead or peer.eof:
                    break
            if plan["mode"] == "step":
                peer.drain(0.05, 2.0)
            if peer.dead or peer.eof:
                break
        ending = plan["ending"]
        if ending == "half":
            peer.half_close()
            peer.drain(8.0, 8.0)
            if not peer.eof:
                problems.append("server did not close a half-closed "
                                "session within 8s")
        elif ending == "quit":
            peer.drain(3.0, 5.0)
        elif ending in ("cut", "rst"):
            pass                # abrupt close, nothing more read
        else:
            peer.drain(0.15, 2.0)
    finally:
        peer.close()
    problems += check_replies(peer.rx, peer.eof)
    return problems


def describe(seed):
    plan = make_plan(seed)
    out = ["seed %d: wait_greeting=%s mode=%s ending=%s linger0=%s "
           "chunk_seed=%d" % (seed, plan["wait_greeting"], plan["mode"],
                              plan["ending"], plan["linger0"],
                              plan["chunk_seed"])]
    for s in plan["steps"]:
        r = repr(s)
        out.append("  " + (r if len(r) < 300 else r[:200] + "...(%d bytes)"
                           % len(s)))
    return "\n".join(out)


class HostileBase(StackTest):
    """Runs SESSIONS seeded sessions, PARALLEL at a time, from SEED0."""
    PARAMS = {
        "smtpd_error_sleep_time": "0s",
        "message_size_limit": "200000",
        "smtpd_recipient_limit": "20",
        "smtpd_timeout": "20s",
    }
    SEED0 = BASE_SEED

    def clean_transaction(self, n):
        msg = (b"From: <sender@client.test>\r\nTo: <alice@example.test>\r\n"
               b"Subject: after hostile batch %d\r\n\r\nStill alive.\r\n" % n)
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as s:
            self.assertEqual(s.ehlo("client.test")[0], 250)
            self.assertEqual(s.mail("sender@client.test")[0], 250)
            self.assertEqual(s.rcpt("alice@example.test")[0], 250)
            code, text = s.data(msg)
            self.assertEqual(code, 250, text)
            qid = queue_id_of(text.decode())
        self.assertQueued(qid, msg, sender="sender@client.test",
                          rcpts=["alice@example.test"])

    def run_hostile(self):
        port = self.stack.smtp_port
        smtpd = self.stack.svcs["smtpd"]
        failures = []
        started = time.time()
        seeds = [self.SEED0 + i for i in range(SESSIONS)]
        with ThreadPoolExecutor(PARALLEL) as pool:
            for b in range(0, len(seeds), BATCH):
                batch = seeds[b:b + BATCH]
                for seed, probs in zip(batch, pool.map(
                        lambda sd: run_session(port, sd), batch)):
                    if probs:
                        failures.append((seed, probs))
                self.assertIsNone(
                    smtpd.proc.poll(),
                    "smtpd exited after seeds %d..%d:\n%s"
                    % (batch[0], batch[-1], smtpd.text()[-3000:]))
                self.clean_transaction(b // BATCH)
        elapsed = time.time() - started
        if failures:
            msg = []
            for seed, probs in failures[:10]:
                msg.append("seed %d:\n    %s\n%s" % (
                    seed, "\n    ".join(probs[:5]), describe(seed)))
            self.fail("%d of %d sessions failed (in %.1fs); reproduce with "
                      "`/usr/bin/python3 test_hostile.py --dump SEED`:\n%s"
                      % (len(failures), len(seeds), elapsed, "\n".join(msg)))


class HostileTest(HostileBase):
    """Default limits: pipelining violations and error limits end many
    sessions early, as they would in production."""

    def test_hostile_sessions(self):
        self.run_hostile()

    def test_checker_can_fail(self):
        """check_replies() finds what it is meant to find."""
        ok = (b"220 mx.example.test ESMTP\r\n250-mx.example.test\r\n"
              b"250 PIPELINING\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
              b"250 2.0.0 Ok\r\n")
        self.assertEqual(check_replies(ok, True), [])
        bad = (b"220 mx.example.test\r\n250 Ok\r\n",   # no DSN
               b"220 mx.example.test\r\n550 4.1.1 x\r\n",  # class
               b"220 mx.example.test\r\n25 2.0.0 x\r\n",
               b"220 mx.example.test\r\n250x2.0.0 x\r\n",
               b"220 mx.example.test\r\n650 6.0.0 x\r\n",
               b"220 mx.example.test\r\n250-2.0.0 a\r\n251 2.0.0 b\r\n",
               b"220 mx.example.test\r\n250 2.0.0 a\x00b\r\n",
               b"220 mx.example.test\r\n250 2.0.0 \xff\r\n",
               b"220 mx.example.test\r\n250 2.0.0 cut",
               b"220 mx.example.test\r\n250-2.0.0 more\r\n")
        for b in bad:
            self.assertTrue(check_replies(b, True), "got no problem for %r"
                            % b)


class HostileRelaxedTest(HostileBase):
    """Pipelining enforcement off and error limits high, so hostile
    streams reach deeper states (DATA, BDAT, long transactions)."""
    PARAMS = dict(HostileBase.PARAMS, **{
        "smtpd_forbid_unauth_pipelining": "no",
        "smtpd_hard_error_limit": "1000",
        "smtpd_soft_error_limit": "1000",
        "smtpd_junk_command_limit": "1000",
    })
    SEED0 = BASE_SEED + 100000

    def test_hostile_sessions(self):
        self.run_hostile()


def _dump(argv):
    for a in argv:
        print(describe(int(a)))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--dump":
        _dump(sys.argv[2:])
    else:
        unittest.main()
