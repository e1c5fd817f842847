"""postqueue, mailq and postsuper: Postfix's queue commands on the Redis
queue.

The whole stack with a real redis-server; mail for relay.test goes to
[127.0.0.1]:PORT where nothing listens at first (connection refused:
deferred), with a backoff of minutes so that only the commands under
test make mail move. Later a real smtp-sink is started on PORT. Asserted:
- mailq on an empty queue: "Mail queue is empty";
- postqueue -p (and mailq, the same bytes): Postfix's heading, one
  block per message (queue id, size as queued, arrival time, sender;
  the deferral reason in parentheses; the recipients not done), the
  summary "-- N Kbytes in M Requests.";
- postqueue -j: one JSON object per message (queue_name deferred,
  queue_id, arrival_time, message_size, sender, recipients with
  address and delay_reason);
- postsuper -h: "QID: placed on hold", the id in the hold set, "QID!"
  in mailq, queue_name hold, and qmgr leaves it alone; -H: "released
  from hold", back to deferred;
- postsuper -r: the message is tried again at once (attempts grows
  although its backoff is minutes away);
- postsuper -d - (ids from stdin): "QID: removed", every key gone;
- postqueue -i QID: that message is delivered once the peer is back,
  the other one stays deferred; postqueue -f: the rest is delivered;
- postsuper -d ALL deferred removes the deferred mail only ("Deleted:
  3 messages"), a held message stays;
- postqueue -s site: only the mail for that destination is flushed
  (SiteFlushTest);
- Redis unreachable: exit 75.
"""

import json
import os
import re
import subprocess
import time
import unittest

from peers import PySink, SmtpSink
from pmtest import BIN, DeliveryTest, free_port

PORT = free_port()


class PostqueueTest(DeliveryTest):
    PARAMS = {
        "minimal_backoff_time": "300s",
        "maximal_backoff_time": "600s",
        # qmgr would mark the refusing peer dead for minimal_backoff_time;
        # postqueue -i does not revive it (-f does: FlushDeadTest).
        "default_destination_concurrency_failed_cohort_limit": "0",
    }

    @classmethod
    def start_peers(cls, workdir):
        # slow.test: a peer that takes 4 s to answer the end of DATA, so
        # that a message stays active (being delivered) for a while.
        cls.slow = PySink(workdir, name="slow", data_delay=4.0).start()
        cls.peers.append(cls.slow)
        return {"transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d, "
                "slow.test=smtp:[127.0.0.1]:%d}" % (PORT, cls.slow.port)}

    def cmd(self, name, *args, stdin=None, rc=0):
        p = subprocess.run([os.path.join(BIN, name), "-c", self.stack.conf]
                           + list(args), input=stdin, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, rc, "%s %s: rc %d\n%s\n%s" % (
            name, args, p.returncode, p.stdout, p.stderr))
        return p.stdout, p.stderr

    def msg(self, subject):
        return ("From: a@example.test\r\nTo: r@relay.test\r\nSubject: %s"
                "\r\n\r\nhello\r\n" % subject)

    def deferred(self, sender, rcpts, subject):
        qid = self.submit(sender, rcpts, self.msg(subject))
        deadline = time.time() + 30
        while qid not in self.stack.deferred_qids() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn(qid, self.stack.deferred_qids(), self.logs_tail())
        return qid

    def env(self, qid):
        got = self.stack.queued(qid)
        self.assertIsNotNone(got, qid)
        return got[0]

    def block(self, out, qid):
        """The lines of qid's block in a mailq listing."""
        blocks = out.split("\n\n")
        for b in blocks:
            first = b.splitlines()[0] if b else ""
            if b.startswith("-Queue ID-"):
                first = b.splitlines()[1]
            if first.split()[:1] and first.split()[0].rstrip("*!") == qid:
                lines = b.splitlines()
                return lines[1:] if lines[0].startswith("-Queue") else lines
        self.fail("%s not in listing:\n%s" % (qid, out))

    def test_1_empty(self):
        out, _ = self.cmd("mailq")
        self.assertEqual(out, "Mail queue is empty\n")
        out, _ = self.cmd("postqueue", "-j")
        self.assertEqual(out, "")

    def test_2_list_hold_requeue_delete_flush(self):
        st = self.stack
        q1 = self.deferred("s1@example.test",
                           ["r1@relay.test", "r2@relay.test"], "one")
        q2 = self.deferred("", ["r3@relay.test"], "two")
        q3 = self.deferred("s3@example.test", ["r4@relay.test"], "three")

        # The listing, as Postfix's showq.
        out, _ = self.cmd("postqueue", "-p")
        mq, _ = self.cmd("mailq")
        self.assertEqual(out, mq)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^-Queue ID- +--Size-- "
                         r"----Arrival Time---- -Sender/Recipient-------$")
        total = 0
        for qid, sender, rcpts in ((q1, "s1@example.test",
                                    ["r1@relay.test", "r2@relay.test"]),
                                   (q2, "MAILER-DAEMON", ["r3@relay.test"]),
                                   (q3, "s3@example.test", ["r4@relay.test"])):
            size = int(self.env(qid)["size"])
            total += size
            b = self.block(out, qid)
            when = time.strftime("%a %b %e ", time.localtime(
                int(self.env(qid)["arrival"]) // 1000000))
            self.assertRegex(b[0], r"^%s +%d %s\d\d:\d\d:\d\d  %s$"
                             % (qid, size, re.escape(when), re.escape(sender)))
            self.assertRegex(b[1], r"^ +\(.*Connection refused.*\)$")
            self.assertEqual([x.strip() for x in b[2:]], rcpts)
            self.assertTrue(all(x.startswith(" " * 40) for x in b[2:]), b)
        self.assertEqual(lines[-1], "-- %d Kbytes in 3 Requests."
                         % (total // 1024))

        # JSON lines.
        out, _ = self.cmd("postqueue", "-j")
        objs = {o["queue_id"]: o for o in map(json.loads, out.splitlines())}
        self.assertEqual(set(objs), {q1, q2, q3})
        o = objs[q1]
        self.assertEqual(o["queue_name"], "deferred")
        self.assertEqual(o["sender"], "s1@example.test")
        self.assertEqual(o["message_size"], int(self.env(q1)["size"]))
        self.assertLess(abs(o["arrival_time"] - time.time()), 120)
        self.assertEqual([r["address"] for r in o["recipients"]],
                         ["r1@relay.test", "r2@relay.test"])
        self.assertIn("Connection refused",
                      o["recipients"][0]["delay_reason"])
        self.assertEqual(objs[q2]["sender"], "")

        # Hold and release.
        _, err = self.cmd("postsuper", "-h", q1)
        self.assertRegex(err, r"postsuper\[\d+\]: %s: placed on hold" % q1)
        self.assertIn("Placed on hold: 1 message\n", err)
        self.assertIn(q1, st.hold_qids())
        self.assertNotIn(q1, st.deferred_qids())
        out, _ = self.cmd("mailq")
        self.assertTrue(self.block(out, q1)[0].startswith(q1 + "!"))
        out, _ = self.cmd("postqueue", "-j")
        self.assertIn('"queue_name": "hold", "queue_id": "%s"' % q1, out)
        # Held again: nothing to do; qmgr leaves it alone.
        _, err = self.cmd("postsuper", "-h", q1)
        self.assertNotIn("placed on hold", err)
        attempts = self.env(q1)["attempts"]
        self.cmd("postsuper", "-r", q2)  # work for qmgr meanwhile
        time.sleep(2)
        self.assertIn(q1, st.hold_qids())
        self.assertEqual(self.env(q1)["attempts"], attempts)
        _, err = self.cmd("postsuper", "-H", q1)
        self.assertRegex(err, r": %s: released from hold" % q1)
        self.assertIn("Released from hold: 1 message\n", err)
        self.assertNotIn(q1, st.hold_qids())
        # Released to the deferred queue, due now: tried again at once.
        deadline = time.time() + 20
        while (self.env(q1)["attempts"] == attempts
               and time.time() < deadline):
            time.sleep(0.1)
        self.assertGreater(int(self.env(q1)["attempts"]), int(attempts))

        # Requeue: tried again now (the backoff is minutes).
        before = int(self.env(q3)["attempts"])
        _, err = self.cmd("postsuper", "-r", q3)
        self.assertRegex(err, r": %s: requeued" % q3)
        deadline = time.time() + 20
        while (int(self.env(q3)["attempts"]) <= before
               and time.time() < deadline):
            time.sleep(0.1)
        self.assertGreater(int(self.env(q3)["attempts"]), before,
                           self.logs_tail())

        # Delete, ids from stdin (as mailq prints them).
        _, err = self.cmd("postsuper", "-d", "-", stdin=q2 + "*\n")
        self.assertRegex(err, r"postsuper\[\d+\]: %s: removed" % q2)
        self.assertIn("Deleted: 1 message\n", err)
        self.assertIsNone(st.queued(q2))
        self.assertEqual([k for k in st.all_keys() if q2 in k], [])
        out, _ = self.cmd("mailq")
        self.assertNotIn(q2, out)

        # The peer comes back: -i delivers one message, -f the rest.
        for q in (q1, q3):
            deadline = time.time() + 20
            while q not in st.deferred_qids() and time.time() < deadline:
                time.sleep(0.1)
            self.assertIn(q, st.deferred_qids(), self.logs_tail())
        sink = SmtpSink(st.tmp, port=PORT, name="back").start()
        self.peers.append(sink)
        self.cmd("postqueue", "-i", q3)
        self.wait_gone(q3, timeout=20)
        self.assertEqual(sink.count(), 1)
        self.assertIn(q1, st.deferred_qids())
        self.cmd("postqueue", "-f")
        self.wait_gone(q1, timeout=20)
        self.assertEqual(sink.count(), 2)
        # qmgr's own flush of this request (within a second) must be
        # over before the next test defers mail, or it requeues that.
        self.wait_log("flush request:", ("qmgr",))
        out, _ = self.cmd("mailq")
        self.assertEqual(out, "Mail queue is empty\n")
        sink.stop()
        self.peers.remove(sink)

    def test_3_delete_all_deferred(self):
        st = self.stack
        qs = [self.deferred("s@example.test", ["r%d@relay.test" % i],
                            "all %d" % i) for i in range(4)]
        self.cmd("postsuper", "-h", qs[0])
        _, err = self.cmd("postsuper", "-d", "ALL", "deferred")
        self.assertIn("Deleted: 3 messages\n", err)
        for q in qs[1:]:
            self.assertIsNone(st.queued(q))
        self.assertIn(qs[0], st.hold_qids())
        out, _ = self.cmd("mailq")
        self.assertIn("-- 0 Kbytes in 1 Request.", out)
        _, err = self.cmd("postsuper", "-d", "ALL")
        self.assertIn("%s: removed" % qs[0], err)
        self.assertEqual(st.queued_qids(), [])
        self.assertEqual(st.hold_qids(), [])

    def test_3b_utf8(self):
        """An SMTPUTF8 sender is listed as UTF-8, in mailq and -j."""
        import smtplib
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30) as c:
            c.ehlo("client.test")
            c.command_encoding = "utf-8"
            code, text = c.mail("j\u00f6rg@example.test", ["SMTPUTF8"])
            self.assertEqual(code, 250, text)
            code, text = c.rcpt("u@relay.test")
            self.assertEqual(code, 250, text)
            code, text = c.data(self.msg("utf8"))
            self.assertEqual(code, 250, text)
        deadline = time.time() + 30
        while not self.stack.deferred_qids() and time.time() < deadline:
            time.sleep(0.1)
        out, _ = self.cmd("mailq")
        self.assertIn("  j\u00f6rg@example.test\n", out)
        out, _ = self.cmd("postqueue", "-j")
        self.assertEqual(json.loads(out.splitlines()[0])["sender"],
                         "j\u00f6rg@example.test")
        self.cmd("postsuper", "-d", "ALL")

    def test_4_active(self):
        """Deleting and holding mail an agent is delivering right now:
        the delivery finishes, the deleted message never comes back,
        the held one stays held (its qmgr lost it) and, released, is
        not delivered a second time."""
        st = self.stack
        qa = self.submit("s@example.test", ["a@slow.test"], self.msg("A"))
        qb = self.submit("s@example.test", ["b@slow.test"], self.msg("B"))
        deadline = time.time() + 20
        while time.time() < deadline:
            out, _ = self.cmd("mailq")
            if qa + "*" in out and qb + "*" in out:
                break
            time.sleep(0.1)
        self.assertIn(qa + "*", out)
        self.assertIn(qb + "*", out)
        out, _ = self.cmd("postqueue", "-j")
        self.assertIn('"queue_name": "active", "queue_id": "%s"' % qa, out)
        # both transactions are under way at the sink (its end of DATA
        # takes 4 s): the agent is delivering them right now
        deadline = time.time() + 20
        while time.time() < deadline and not all(
                "RCPT <%s> 250" % a in self.slow.events()
                for a in ("a@slow.test", "b@slow.test")):
            time.sleep(0.05)
        self.assertIn("RCPT <b@slow.test> 250", self.slow.events())
        self.assertIn("RCPT <a@slow.test> 250", self.slow.events())
        _, err = self.cmd("postsuper", "-d", qa, "-h", qb)
        self.assertIn("%s: removed" % qa, err)
        self.assertIn("%s: placed on hold" % qb, err)
        deadline = time.time() + 20
        while self.slow.count() < 2 and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.slow.count(), 2, self.logs_tail())
        # qmgr takes the agents' outcome (a queue run, later on a busy
        # machine): qa's keys go, qb's recipient is marked sent
        deadline = time.time() + 20
        while time.time() < deadline and (
                st.queued(qa) is not None or st.queued(qb) is None or
                [r["status"] for r in st.queued(qb)[1]] != ["sent"]):
            time.sleep(0.1)
        self.assertIsNone(st.queued(qa), self.logs_tail())
        time.sleep(2)  # a deleted one that came back, a released hold
        self.assertNotIn(qa, st.incoming_qids() + st.deferred_qids()
                         + st.hold_qids())
        self.assertIn(qb, st.hold_qids())
        self.assertEqual([r["status"] for r in st.queued(qb)[1]], ["sent"])
        self.assertNotIn(qb, st.incoming_qids() + st.deferred_qids())
        self.cmd("postsuper", "-H", qb)
        self.wait_gone(qb, timeout=20)
        time.sleep(1)
        self.assertEqual(self.slow.count(), 2)
        for svc in ("qmgr", "smtp"):
            self.assertIsNone(st.svcs[svc].proc.poll(), svc)

    def test_5_redis_down(self):
        conf = os.path.join(self.stack.tmp, "down")
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write("redis_server = 127.0.0.1:%d\nredis_timeout = 1s\n"
                    % free_port())
        for args in (["mailq"], ["postqueue", "-p"],
                     ["postsuper", "-d", "ALL"]):
            p = subprocess.run([os.path.join(BIN, args[0]), "-c", conf]
                               + args[1:], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 75, (args, p.stdout, p.stderr))


PORT2 = free_port()


class FlushDeadTest(DeliveryTest):
    """postqueue -f with the default failed cohort limit: qmgr marked
    the refusing peer dead; the flush makes it try the peer again at
    once (Postfix's flush of dead destinations) and the messages are
    delivered, although their backoff is minutes away."""

    PARAMS = {
        "minimal_backoff_time": "300s",
        "maximal_backoff_time": "600s",
        "transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}" % PORT2,
    }

    def test_flush_dead(self):
        st = self.stack
        msg = "Subject: x\r\n\r\nhi\r\n"
        # Failures of 1/5 + 1/4 + 1/3 + 1/2 of the window make the
        # destination dead (failed cohort limit 1); later ones are
        # deferred without a connection.
        qids = [self.submit("s@example.test", ["r%d@relay.test" % i], msg)
                for i in range(6)]
        self.wait_log("delivery temporarily suspended", ("qmgr",))
        deadline = time.time() + 30
        while (len(st.deferred_qids()) < 6 and time.time() < deadline):
            time.sleep(0.1)
        self.assertEqual(sorted(st.deferred_qids()), sorted(qids))
        sink = SmtpSink(st.tmp, port=PORT2, name="back2").start()
        self.peers.append(sink)
        p = subprocess.run([os.path.join(BIN, "postqueue"), "-c", st.conf,
                            "-f"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_count(sink, 6, timeout=20)
        for q in qids:
            self.wait_gone(q)
        self.wait_log("flush request: 1 dead destination(s) tried again",
                      ("qmgr",))
        # The counter has no TTL; one that is gone (deleted here, as an
        # expiry would) reads 0, smaller than qmgr's last: a reset, not
        # a request. The next postqueue -f is one again.
        r = st.r()
        self.assertEqual(r.ttl("pm:flush"), -1)
        r.delete("pm:flush")
        time.sleep(2.5)
        self.assertEqual(
            len(st.log_lines("flush request:", "qmgr")), 1,
            "a deleted counter made qmgr flush\n" + self.logs_tail())
        p = subprocess.run([os.path.join(BIN, "postqueue"), "-c", st.conf,
                            "-f"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_log("flush request:", ("qmgr",), count=2)

PORT3 = free_port()


class SiteFlushTest(DeliveryTest):
    """postqueue -s site (Postfix's fast flush): only the deferred mail
    with a recipient not done yet at that domain (case-insensitive) is
    tried again now; the rest waits for its backoff (minutes). A site
    with "@" is refused: exit 64, "Invalid request"."""

    PARAMS = {
        "minimal_backoff_time": "300s",
        "maximal_backoff_time": "600s",
        "default_destination_concurrency_failed_cohort_limit": "0",
        "transport_maps": "inline:{a.test=smtp:[127.0.0.1]:%d, "
                          "b.test=smtp:[127.0.0.1]:%d}" % (PORT3, PORT3),
    }

    def postqueue(self, *args):
        return subprocess.run([os.path.join(BIN, "postqueue"), "-c",
                               self.stack.conf] + list(args),
                              capture_output=True, text=True, timeout=30)

    def test_site(self):
        st = self.stack
        msg = "Subject: site\r\n\r\nhi\r\n"
        qa = self.submit("s@example.test", ["r@a.test"], msg)
        qb = self.submit("s@example.test", ["r@b.test"], msg)
        qab = self.submit("s@example.test", ["x@b.test", "y@A.Test"], msg)
        deadline = time.time() + 30
        while (len(st.deferred_qids()) < 3 and time.time() < deadline):
            time.sleep(0.1)
        self.assertEqual(sorted(st.deferred_qids()), sorted([qa, qb, qab]),
                         self.logs_tail())
        p = self.postqueue("-s", "user@a.test")
        self.assertEqual(p.returncode, 64, p.stderr)
        self.assertIn('Invalid request: "user@a.test"', p.stderr)
        sink = SmtpSink(st.tmp, port=PORT3, name="site").start()
        self.peers.append(sink)
        p = self.postqueue("-s", "a.test")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_gone(qa, timeout=20)
        self.wait_gone(qab, timeout=20)
        self.assertEqual(sink.count(), 2)
        time.sleep(2)
        self.assertIn(qb, st.deferred_qids())
        self.assertEqual(sink.count(), 2)
        # the site of a recipient already done does not count
        p = self.postqueue("-s", "a.test")
        self.assertEqual(p.returncode, 0, p.stderr)
        time.sleep(1)
        self.assertIn(qb, st.deferred_qids())
        p = self.postqueue("-s", "B.TEST")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.wait_gone(qb, timeout=20)
        self.assertEqual(sink.count(), 3)


if __name__ == "__main__":
    unittest.main()
