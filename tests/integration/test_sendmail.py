"""sendmail(1): local submission straight to cleanup (no maildrop).

The whole stack (rewrite, cleanup, qmgr, smtp, bounce, ...) and Redis
run for real; relay.test is routed to Postfix's smtp-sink. Each test
runs build/bin/sendmail with the stack's main.cf (-C) and a message on
standard input, then checks what the sink received. Asserted:
- recipients from the command line; the default sender is the login
  name qualified with $myorigin; the content starts with "Received: by
  $myhostname (Postmesh, from userid N) id QID" and cleanup logs
  "QID: uid=N from=<login>"; missing Message-Id:/Date:/From: are added,
  From: with the -F full name; LF line ends arrive as CRLF; a leading
  mbox "From " line is dropped;
- -f sets the envelope sender; -N/-R/-V reach the envelope (NOTIFY,
  RET, ENVID at the sink);
- -t takes To/Cc/Bcc recipients (display names, groups) and the Bcc:
  header is not delivered;
- a lone "." ends the message unless -i (or -oi): with -i the dot and
  what follows are delivered;
- a message over message_size_limit exits 69 with "message file too
  big" and nothing is delivered;
- cleanup unreachable: exit 75 (EX_TEMPFAIL) with a message saying the
  mail was not accepted;
- -t skips a header address longer than 320 bytes with "sendmail:
  warning: ..." and delivers to the others; a quoted control character
  in an address is dropped;
- no recipients: exit 64; -t with none in the header: exit 69 (as
  Postfix);
- -bp runs postqueue -p, also with -C <dir>/main.cf.
"""

import os
import pwd
import re
import subprocess
import time

from peers import SmtpSink
from pmtest import BIN, SANITIZER_MARKS, DeliveryTest, free_port

SIZE_LIMIT = 200000


def login():
    return pwd.getpwuid(os.getuid()).pw_name


class SendmailTest(DeliveryTest):
    PARAMS = {
        "myorigin": "origin.test",
        "message_size_limit": str(SIZE_LIMIT),
    }

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        return {"transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                                  % cls.sink.port}

    def sendmail(self, args, data, conf=None, timeout=60):
        p = subprocess.run(
            [os.path.join(BIN, "sendmail"), "-C", conf or self.stack.conf]
            + list(args), input=data, capture_output=True, timeout=timeout)
        err = p.stderr.decode("utf-8", "replace")
        for mark in SANITIZER_MARKS:   # sendmail itself, under ASan
            self.assertNotIn(mark, err)
        return p.returncode, p.stdout, err

    def deliver(self, args, data, tag):
        """Run sendmail (must exit 0); the sink's message holding tag."""
        rc, out, err = self.sendmail(args, data)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"")
        deadline = time.time() + 30
        while time.time() < deadline:
            mine = [m for m in self.sink.messages() if tag in m.content]
            if mine:
                self.assertEqual(len(mine), 1, mine)
                return mine[0]
            time.sleep(0.1)
        self.fail("no message with %r at the sink\n%s" % (tag,
                                                          self.logs_tail()))

    def test_command_line_defaults(self):
        msg = (b"From Someone Wed Dec  2 12:00:00 2026\n"
               b"Subject: sm-default\n"
               b"\n"
               b"line one\n"
               b"line two\r\n")
        m = self.deliver(["-F", "Jane Q. User", "one@relay.test",
                          "two@relay.test"], msg, b"sm-default")
        self.assertEqual(m.sender, "%s@origin.test" % login())
        self.assertEqual(sorted(m.recipients),
                         ["one@relay.test", "two@relay.test"])
        uid = os.getuid()
        first = m.content.split(b"\r\n\r\n", 1)[0]
        got = re.search(rb"Received: by mx\.example\.test \(Postmesh, from "
                        rb"userid (\d+)\)\r\n\tid (\w+); ", first)
        self.assertIsNotNone(got, first)
        self.assertEqual(int(got.group(1)), uid)
        qid = got.group(2).decode()
        self.wait_log("%s: uid=%d from=<%s>" % (qid, uid, login()),
                      ("cleanup",))
        self.assertIn(b'From: "Jane Q. User" <%s@origin.test>\r\n'
                      % login().encode(), first)
        self.assertRegex(first, rb"(^|\r\n)Message-Id: <\d+\.%s@"
                         % qid.encode())
        self.assertRegex(first, rb"(^|\r\n)Date: ")
        self.assertNotIn(b"From Someone", m.content)
        self.assertTrue(m.content.endswith(
            b"\r\n\r\nline one\r\nline two\r\n"), m.content)

    def test_sender_and_dsn_options(self):
        m = self.deliver(["-f", "boss@client.test", "-N", "success,failure",
                          "-R", "hdrs", "-V", "env-42", "dsn@relay.test"],
                         b"Subject: sm-dsn\n\nbody\n", b"sm-dsn")
        self.assertEqual(m.sender, "boss@client.test")
        self.assertIn("RET=HDRS", m.mail_from)
        self.assertIn("ENVID=env-42", m.mail_from)
        self.assertIn("NOTIFY=SUCCESS,FAILURE", m.rcpt_tos[0].upper())
        # the added From: has the sender (and the GECOS name, as Postfix)
        self.assertRegex(m.content, rb"(^|\r\n)From: .*<boss@client\.test>"
                                    rb"\r\n")

    def test_extract_recipients_bcc_removed(self):
        msg = (b"From: me@client.test\n"
               b"To: \"Ann, A.\" <ann@relay.test>, friends: bob@relay.test,"
               b" (comment) cy@relay.test;\n"
               b"Cc: dee@relay.test\n"
               b"Bcc: hidden@relay.test\n"
               b"Subject: sm-extract\n\nhello\n")
        m = self.deliver(["-t"], msg, b"sm-extract")
        self.assertEqual(sorted(m.recipients),
                         ["ann@relay.test", "bob@relay.test", "cy@relay.test",
                          "dee@relay.test", "hidden@relay.test"])
        self.assertNotIn(b"Bcc:", m.content)
        self.assertNotIn(b"hidden@relay.test", m.content)

    def test_extract_skips_bad_addresses(self):
        long = b"x" * 400 + b"@relay.test"
        msg = (b"To: \"a\\\tb\"@relay.test, good@relay.test, " + long
               + b"\nSubject: sm-skip\n\nhello\n")
        rc, out, err = self.sendmail(["-t"], msg)
        self.assertEqual(rc, 0, err)
        self.assertIn("sendmail: warning: skipped 1 recipient address(es)"
                      " longer than 320 bytes", err)
        deadline = time.time() + 30
        while time.time() < deadline:
            mine = [m for m in self.sink.messages() if b"sm-skip" in m.content]
            if mine:
                break
            time.sleep(0.1)
        self.assertEqual(len(mine), 1, self.logs_tail())
        # the quoted TAB is dropped (as an unquoted one): "ab"@relay.test
        self.assertEqual(sorted(r.replace('"', "") for r in mine[0].recipients),
                         ["ab@relay.test", "good@relay.test"])
        # nothing left: Postfix's status for no recipient
        rc, _, err = self.sendmail(
            ["-t"], b"To: " + long + b"\nSubject: x\n\nbody\n")
        self.assertEqual(rc, 69, err)
        self.assertIn("sendmail: warning: skipped 1", err)
        self.assertIn("No recipient addresses found in message header", err)

    def test_dot_ends_input_without_i(self):
        m = self.deliver(["dot@relay.test"],
                         b"Subject: sm-dot\n\nbefore\n..two\n.\nafter\n",
                         b"sm-dot")
        self.assertTrue(m.content.endswith(b"\r\nbefore\r\n..two\r\n"),
                        m.content)
        self.assertNotIn(b"after", m.content)

    def test_dot_is_data_with_i(self):
        for opt, tag in (("-i", b"sm-dot-i"), ("-oi", b"sm-dot-oi")):
            m = self.deliver([opt, "dot@relay.test"],
                             b"Subject: " + tag + b"\n\nbefore\n.\nafter\n",
                             tag)
            self.assertTrue(m.content.endswith(
                b"\r\nbefore\r\n.\r\nafter\r\n"), m.content)

    def test_size_limit(self):
        before = self.sink.count()
        body = (b"x" * 99 + b"\n") * (SIZE_LIMIT // 100 + 10)
        rc, _, err = self.sendmail(["big@relay.test"],
                                   b"Subject: sm-big\n\n" + body)
        self.assertEqual(rc, 69, err)
        self.assertIn("sendmail: fatal: %s(%d): message file too big"
                      % (login(), os.getuid()), err)
        time.sleep(1)
        self.assertEqual(self.sink.count(), before)

    def test_cleanup_down_tempfail(self):
        conf = os.path.join(self.stack.tmp, "down")
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(self.stack.conf, "main.cf")) as f:
            text = f.read()
        text = re.sub(r"(?m)^cleanup_service = .*$",
                      "cleanup_service = tcp://127.0.0.1:%d" % free_port(),
                      text)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(text + "\nsendmail_cleanup_timeout = 2s\n")
        start = time.time()
        rc, _, err = self.sendmail(["down@relay.test"],
                                   b"Subject: sm-down\n\nbody\n", conf=conf)
        self.assertEqual(rc, 75, err)
        self.assertIn("not accepted", err)
        self.assertLess(time.time() - start, 30)

    def test_no_recipients(self):
        rc, _, err = self.sendmail([], b"Subject: x\n\nbody\n")
        self.assertEqual(rc, 64, err)
        self.assertIn("Recipient addresses must be specified", err)
        rc, _, err = self.sendmail(["-t"], b"Subject: x\n\nbody\n")
        self.assertEqual(rc, 69, err)  # Postfix: EX_UNAVAILABLE
        self.assertIn("No recipient addresses found in message header", err)

    def test_other_modes(self):
        # -bi runs newaliases (next to sendmail) with the same config
        conf = os.path.join(self.stack.tmp, "aliases-conf")
        os.makedirs(conf, exist_ok=True)
        aliases = os.path.join(conf, "aliases")
        with open(aliases, "w") as f:
            f.write("root: admin@example.com\nbad line\n")
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write("alias_database = texthash:%s\n" % aliases)
        rc, _, err = self.sendmail(["-bi"], b"", conf=conf)
        self.assertEqual(rc, 1, err)
        self.assertIn("newaliases: warning: %s, line 2" % aliases, err)
        # -bp is postqueue -p: without a postqueue command, unsupported
        rc, _, err = self.sendmail(["-bp"], b"")
        if not os.path.exists(os.path.join(BIN, "postqueue")):
            self.assertEqual(rc, 69, err)
            self.assertIn("no postqueue command", err)
        else:
            self.assertNotIn("sendmail: fatal", err)
            # -C <dir>/main.cf: postqueue gets the directory
            rc, out, err = self.sendmail(
                ["-bp"], b"", conf=os.path.join(self.stack.conf, "main.cf"))
            self.assertEqual(rc, 0, err)
            self.assertRegex(out, rb"^(Mail queue is empty|-Queue ID-)", err)
        # -q with an interval is ignored; -bs is not supported
        self.assertEqual(self.sendmail(["-q30m"], b"")[0], 0)
        rc, _, err = self.sendmail(["-bs"], b"")
        self.assertEqual(rc, 64, err)
        self.assertIn("unsupported: -bs", err)
