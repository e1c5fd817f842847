"""Retries and delivery status notifications (issue 3, items 1, 3, 5).

Remote peers are aiosmtpd servers (sink_server.py) with scripted
replies; the sender's domain back.test is delivered to another one, so
every DSN Postmesh sends arrives there and is parsed with Python's
email package:

- 550 for one of two recipients: the other is delivered, the sender
  gets a multipart/report DSN (message/delivery-status with
  Reporting-MTA, Arrival-Date, Final-Recipient, Action: failed,
  Status 5.x.x, Remote-MTA, Diagnostic-Code; the original returned),
  sent with the null sender; bounce logs "sender non-delivery
  notification".
- NOTIFY=NEVER is honoured, RET=HDRS returns only the headers,
  NOTIFY=SUCCESS to a peer without DSN gives a "relayed" notice.
- A bounce that bounces goes to 2bounce_notice_recipient, and stops
  there (no loop).
- 451 then 250: deferred, retried after the short test backoff,
  delivered; the agent logs status=deferred, then status=sent.
- The error transport bounces with its text.
- maximal_queue_lifetime exceeded: a delay warning (delay_warning_time)
  then a bounce.
"""

import re
import smtplib
import time
import unittest

from peers import PySink, dsns_for
from pmtest import DeliveryTest, queue_id_of

STATUS_RE = re.compile(r"^\d\.\d{1,3}\.\d{1,3}$")


def message(mid, subject="dsn test", body=b"the body of the message\r\n"):
    return (b"From: <sender@back.test>\r\n"
            b"To: <rcpt@relay.test>\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\n" + body)


class DsnBase(DeliveryTest):
    """Helpers: find the DSN for a recipient at the back sink."""

    back = None

    def wait_dsn(self, address, action="failed", timeout=30.0):
        """(Message, Dsn) of the one DSN with a block for address and
        the given Action; fails if none arrives or if two do."""
        deadline = time.time() + timeout
        found = []
        while time.time() < deadline:
            found = [(m, d) for m, d in dsns_for(self.back.messages(), address)
                     if d.rcpt(address).get("action") == action]
            if found:
                break
            time.sleep(0.1)
        self.assertTrue(found, "no %s DSN for %s at the sender's sink\n%s"
                        % (action, address, self.logs_tail()))
        self.assertEqual(len(found), 1, "more than one %s DSN for %s"
                         % (action, address))
        return found[0]

    def assert_report(self, m, d, sender):
        self.assertEqual(m.sender, "", "a DSN is sent with the null sender")
        self.assertEqual(m.recipients, [sender])
        self.assertEqual(d.content_type, "multipart/report")
        self.assertEqual(d.report_type, "delivery-status")
        self.assertIsNotNone(d.status_part, "no message/delivery-status part")
        self.assertIsNotNone(d.human, "no human-readable text/plain part")
        self.assertEqual(d.per_message.get("reporting-mta"),
                         "dns; mx.example.test", d.per_message)
        self.assertTrue(d.per_message.get("arrival-date"), d.per_message)
        self.assertIn(sender, str(m.parsed().get("To")))


class BounceTest(DsnBase):

    @classmethod
    def start_peers(cls, workdir):
        cls.remote = PySink(workdir, name="remote",
                            reject=["nobody@relay.test", "never@relay.test",
                                    "nobody2@relay.test", "hdrs@relay.test",
                                    "nobody3@relay.test"]).start()
        cls.peers.append(cls.remote)
        cls.back = PySink(workdir, name="back",
                          reject=["bad-sender@back.test"]).start()
        cls.peers.append(cls.back)
        cls.later = PySink(workdir, name="later", defer_first=1).start()
        cls.peers.append(cls.later)
        return {
            "transport_maps":
                "inline:{ relay.test=smtp:[127.0.0.1]:%d, "
                "back.test=smtp:[127.0.0.1]:%d, "
                "defer.test=smtp:[127.0.0.1]:%d, "
                "{ err.test = error:mailbox unavailable here } }"
                % (cls.remote.port, cls.back.port, cls.later.port),
            "2bounce_notice_recipient": "postmaster@back.test",
        }

    def test_550_bounce_dsn(self):
        msg = message("bounce-1")
        qid = self.submit("sender@back.test",
                          ["ok1@relay.test", "nobody@relay.test"], msg)
        m, d = self.wait_dsn("nobody@relay.test")
        self.assert_report(m, d, "sender@back.test")
        r = d.rcpt("nobody@relay.test")
        self.assertEqual(r.get("action"), "failed")
        self.assertTrue(STATUS_RE.match(r.get("status", "")), r)
        self.assertTrue(r["status"].startswith("5."), r)
        self.assertEqual(r["status"], "5.1.1", r)
        self.assertTrue(r.get("diagnostic-code", "").startswith("smtp;"), r)
        self.assertIn("550", r.get("diagnostic-code", ""))
        self.assertIn("User unknown", r.get("diagnostic-code", ""))
        self.assertIn("127.0.0.1", r.get("remote-mta", ""), r)
        self.assertIsNone(d.rcpt("ok1@relay.test"),
                          "the delivered recipient is not in the DSN")
        self.assertIn(b"<bounce-1@client.test>", d.returned_bytes())
        # the other recipient was delivered
        got = [x for x in self.remote.messages()
               if b"<bounce-1@client.test>" in x.content]
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].recipients, ["ok1@relay.test"])
        # logs: bounced by the agent, notice by bounce, then removed
        lines = self.wait_log("%s: to=<nobody@relay.test>" % qid, ("smtp",))
        self.assertTrue(any("dsn=5.1.1, status=bounced (" in ln
                            for ln in lines), lines)
        self.wait_log("%s: sender non-delivery notification: " % qid,
                      ("bounce",))
        self.wait_gone(qid)

    def test_notify_never_and_ret_hdrs(self):
        msg = message("never-1", body=b"SECRET BODY LINE\r\n")
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                          timeout=30) as c:
            c.ehlo("client.test")
            self.assertEqual(c.mail("sender@back.test", ["RET=HDRS"])[0], 250)
            self.assertEqual(c.rcpt("never@relay.test",
                                    ["NOTIFY=NEVER"])[0], 250)
            self.assertEqual(c.rcpt("nobody2@relay.test",
                                    ["NOTIFY=FAILURE"])[0], 250)
            code, text = c.data(msg)
            self.assertEqual(code, 250, text)
            qid = queue_id_of(text.decode())
        m, d = self.wait_dsn("nobody2@relay.test")
        self.assert_report(m, d, "sender@back.test")
        self.assertIsNone(d.rcpt("never@relay.test"),
                          "NOTIFY=NEVER recipient reported")
        self.assertIsNotNone(d.returned)
        self.assertEqual(d.returned.get_content_type(),
                         "text/rfc822-headers")
        ret = d.returned_bytes()
        self.assertIn(b"<never-1@client.test>", ret)
        self.assertNotIn(b"SECRET BODY LINE", ret)
        self.wait_gone(qid)
        self.assertEqual(dsns_for(self.back.messages(), "never@relay.test"),
                         [])

    def test_success_notice_relayed(self):
        msg = message("success-1")
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                          timeout=30) as c:
            c.ehlo("client.test")
            self.assertEqual(c.mail("sender@back.test")[0], 250)
            self.assertEqual(c.rcpt("ok-success@relay.test",
                                    ["NOTIFY=SUCCESS"])[0], 250)
            code, text = c.data(msg)
            self.assertEqual(code, 250, text)
        # the peer does not announce DSN: the notice says "relayed"
        m, d = self.wait_dsn("ok-success@relay.test", action="relayed")
        self.assert_report(m, d, "sender@back.test")
        self.assertTrue(d.rcpt("ok-success@relay.test")["status"]
                        .startswith("2."))
        got = [x for x in self.remote.messages()
               if b"<success-1@client.test>" in x.content]
        self.assertEqual(len(got), 1)

    def test_bounce_of_bounce_goes_to_postmaster_once(self):
        before = len([m for m in self.back.messages()
                      if "postmaster@back.test" in m.recipients])
        qid = self.submit("bad-sender@back.test", ["nobody3@relay.test"],
                          message("double-1"))
        deadline = time.time() + 40
        pm = []
        while time.time() < deadline:
            pm = [m for m in self.back.messages()
                  if "postmaster@back.test" in m.recipients]
            if len(pm) > before:
                break
            time.sleep(0.2)
        self.assertGreater(len(pm), before,
                           "no double bounce for postmaster\n%s"
                           % self.logs_tail())
        new = pm[before:]
        self.assertTrue(new[0].sender == "" or
                        new[0].sender.startswith("double-bounce@"),
                        new[0].sender)
        self.wait_gone(qid)
        # no loop: nothing else arrives, the queue drains
        time.sleep(4)
        after = [m for m in self.back.messages()
                 if "postmaster@back.test" in m.recipients]
        self.assertEqual(len(after), before + 1, "postmaster got %d notices"
                         % (len(after) - before))
        rejected = [e for e in self.back.events()
                    if e == "RCPT <bad-sender@back.test> 550"]
        self.assertEqual(len(rejected), 1, "the bounce was retried: %r"
                         % rejected)
        self.assertEqual(self.stack.deferred_qids(), [])

    def test_451_then_250(self):
        msg = message("later-1")
        qid = self.submit("sender@back.test", ["someone@defer.test"], msg)
        msgs = self.wait_count(self.later, 1, timeout=30)
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"<later-1@client.test>", msgs[0].content)
        ev = self.later.events()
        self.assertEqual([e for e in ev if e.startswith("DATA")],
                         ["DATA 451", "DATA 250 1"], ev)
        lines = self.wait_log("%s: to=<someone@defer.test>" % qid, ("smtp",),
                              count=2)
        self.assertIn("status=deferred (", lines[0])
        self.assertIn("451 4.3.0 try again later", lines[0])
        self.assertIn("dsn=4.3.0", lines[0])
        self.assertIn("status=sent (250", lines[-1])
        self.assertEqual(len([ln for ln in lines if "status=sent" in ln]), 1)
        self.wait_gone(qid)
        self.assertEqual(dsns_for(self.back.messages(),
                                  "someone@defer.test"), [],
                         "no DSN for a recipient delivered in the end")

    def test_error_transport(self):
        qid = self.submit("sender@back.test", ["x@err.test"],
                          message("error-1"))
        m, d = self.wait_dsn("x@err.test")
        self.assert_report(m, d, "sender@back.test")
        r = d.rcpt("x@err.test")
        self.assertTrue(r.get("status", "").startswith("5."), r)
        self.assertIn("mailbox unavailable here", r.get("diagnostic-code", ""))
        lines = self.wait_log("%s: to=<x@err.test>" % qid, ("error",))
        self.assertTrue(any("relay=none" in ln and
                            "status=bounced (mailbox unavailable here)" in ln
                            for ln in lines), lines)
        self.wait_gone(qid)


class LifetimeTest(DsnBase):
    """A destination that always answers 451: a delay warning after
    delay_warning_time, a bounce after maximal_queue_lifetime."""

    PARAMS = {
        "maximal_queue_lifetime": "4s",
        "bounce_queue_lifetime": "4s",
        "delay_warning_time": "1s",
    }

    @classmethod
    def start_peers(cls, workdir):
        cls.stuck = PySink(workdir, name="stuck", defer_first=10 ** 6).start()
        cls.peers.append(cls.stuck)
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "transport_maps":
                "inline:{ stuck.test=smtp:[127.0.0.1]:%d, "
                "back.test=smtp:[127.0.0.1]:%d }"
                % (cls.stuck.port, cls.back.port),
        }

    def test_delay_warning_then_expiry_bounce(self):
        t0 = time.time()
        qid = self.submit("sender@back.test", ["x@stuck.test"],
                          message("expire-1"))
        m, d = self.wait_dsn("x@stuck.test", action="delayed", timeout=30)
        self.assert_report(m, d, "sender@back.test")
        r = d.rcpt("x@stuck.test")
        self.assertTrue(r.get("status", "").startswith("4."), r)
        self.assertIn("451", r.get("diagnostic-code", ""), r)
        self.assertIn(b"<expire-1@client.test>", d.returned_bytes()
                      or m.content)
        m, d = self.wait_dsn("x@stuck.test", action="failed", timeout=40)
        self.assertGreaterEqual(time.time() - t0, 4 - 0.5,
                                "bounced before maximal_queue_lifetime")
        self.assert_report(m, d, "sender@back.test")
        r = d.rcpt("x@stuck.test")
        self.assertTrue(STATUS_RE.match(r.get("status", "")), r)
        self.assertIn("451", r.get("diagnostic-code", ""), r)
        self.wait_gone(qid)
        attempts = [e for e in self.stuck.events() if e == "DATA 451"]
        self.assertGreaterEqual(len(attempts), 2,
                                "retried with the short backoff")
        self.assertTrue(self.stack.log_lines(qid + ": ", "bounce"),
                        self.logs_tail())
        # Postfix: "QID: from=<...>, status=expired, returned to sender"
        self.assertTrue([ln for ln in self.stack.log_lines(qid + ": ")
                         if "status=expired, returned to sender" in ln],
                        self.logs_tail())


if __name__ == "__main__":
    unittest.main()
