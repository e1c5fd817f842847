"""The smtp client against a real Postfix smtpd (issue 6, section 4).

One private Postfix 3.7 instance (postfix_peer.Postfix: its own
config, queue and data directories, as scripts/bench.sh sets one up)
listens on one port of several loopback addresses, each listener with
its own behaviour, and relays what it accepts to an smtp-sink. Every
smtpd logs the commands it receives (debug_peer_list) and disconnects
a client that pipelines where it may not (smtpd_forbid_unauth_pipelining).
dnsmasq serves the MX records. Postmesh's whole stack delivers to them:

- PIPELINING offered: MAIL, RCPT and DATA leave before the reply to
  MAIL (seen by a recording relay between the two); not offered
  (smtpd_discard_ehlo_keywords = pipelining, reject_unauth_pipelining):
  one command per reply, and Postfix accepts the message.
- SIZE: Postfix announces message_size_limit; a larger message is never
  sent (no MAIL FROM reaches Postfix) and bounces with 5.3.4 "message
  size N exceeds size limit M of server H[A]"; a smaller one goes with
  SIZE=.
- DSN: RET, ENVID, NOTIFY and ORCPT reach Postfix as given (its log of
  the commands) and Postfix passes them on (the sink's X-Mail-Args and
  X-Rcpt-Args).
- Connection reuse: the second message to a destination goes over the
  first one's connection (Postmesh logs conn_use=2; one Postfix session
  logs mail=2).
- Next MX (Postfix's smtp_rcpt_fail/smtp_bulk_fail): a 4xx to RCPT sends
  that recipient to the backup MX, a 5xx to RCPT bounces without it; a
  4xx to MAIL sends the message to the backup; so does a 5xx greeting
  (smtp_skip_5xx_greeting = yes).
"""

import re
import time
import unittest

from peers import Dns, SmtpSink, dsns_for
from pmtest import DeliveryTest, free_port
from postfix_peer import Postfix, RecordingProxy

LISTENERS = {
    "plain": ("127.0.0.1", {}),
    "rcpt4xx": ("127.0.0.2", {
        "smtpd_recipient_restrictions": "check_recipient_access "
        "inline:{soft@mxa.test=DEFER, hard@mxa.test=REJECT}"}),
    "backup": ("127.0.0.3", {}),
    "nopipe": ("127.0.0.4", {
        "smtpd_discard_ehlo_keywords": "pipelining",
        "smtpd_data_restrictions": "reject_unauth_pipelining"}),
    "small": ("127.0.0.5", {"message_size_limit": "2000"}),
    "reuse": ("127.0.0.6", {}),
    "greet5xx": ("127.0.0.7", {"smtpd_client_restrictions": "reject",
                               "smtpd_delay_reject": "no"}),
    "mail4xx": ("127.0.0.8", {"smtpd_sender_restrictions": "defer",
                              "smtpd_delay_reject": "no"}),
}

SENDER = "sender@notices.test"


def message(mid, body=b"a line of the body\r\n"):
    return (b"From: <" + SENDER.encode() + b">\r\n"
            b"To: <rcpt@peer.test>\r\n"
            b"Subject: postfix peer\r\n"
            b"Message-ID: <" + mid.encode() + b"@client.test>\r\n"
            b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
            b"\r\n" + body)


class PostfixPeerTest(DeliveryTest):
    """Postmesh's smtp client delivering to Postfix smtpd listeners."""

    PARAMS = {"smtp_connection_cache_time_limit": "3s"}

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        cls.port = free_port()
        cls.pf = Postfix(workdir, cls.port, LISTENERS, cls.sink.port)
        cls.peers.append(cls.pf)
        cls.pf.start()
        cls.pipe = RecordingProxy(("127.0.0.1", cls.port)).start()
        cls.peers.append(cls.pipe)
        cls.nopipe = RecordingProxy(("127.0.0.4", cls.port)).start()
        cls.peers.append(cls.nopipe)
        mx = []
        a = []
        for dom, primary in (("mxa.test", "127.0.0.2"),
                             ("mxm.test", "127.0.0.8"),
                             ("mxg.test", "127.0.0.7")):
            mx += [(dom, "mx1." + dom, 10), (dom, "mx2." + dom, 20)]
            a += [("mx1." + dom, primary), ("mx2." + dom, "127.0.0.3")]
        cls.dns = Dns(workdir, mx=mx, a=a).start()
        cls.peers.append(cls.dns)
        routes = {
            "pipe.test": "[127.0.0.1]:%d" % cls.pipe.port,
            "nopipe.test": "[127.0.0.1]:%d" % cls.nopipe.port,
            "dsn.test": "[127.0.0.1]:%d" % cls.port,
            "small.test": "[127.0.0.5]:%d" % cls.port,
            "reuse.test": "[127.0.0.6]:%d" % cls.port,
            "notices.test": "[127.0.0.1]:%d" % cls.sink.port,
        }
        return {
            "transport_maps": "inline:{%s}" % ", ".join(
                "%s=smtp:%s" % kv for kv in routes.items()),
            "dns_server": cls.dns.server_param,
            "smtp_tcp_port": str(cls.port),
        }

    # helpers

    def at_sink(self, mid, n=1, timeout=30.0):
        """The sink's messages with Message-ID <mid@client.test> (not
        the notices that return it: those have the null sender)."""
        tag = ("<%s@client.test>" % mid).encode()
        deadline = time.time() + timeout
        while True:
            got = [m for m in self.sink.messages()
                   if tag in m.content and m.sender != ""]
            if len(got) >= n or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(got), n, "%s: %d at the sink, want %d\n%s"
                         % (mid, len(got), n, self.logs_tail()))
        return got

    def notices_for(self, rcpt, timeout=30.0):
        """(Message, Dsn) of the notices at the sink about rcpt."""
        deadline = time.time() + timeout
        found = dsns_for(self.sink.messages(), rcpt)
        while not found and time.time() < deadline:
            time.sleep(0.1)
            found = dsns_for(self.sink.messages(), rcpt)
        return found

    def agent_line(self, qid, rcpt, status=None, timeout=30.0):
        """The smtp agent's last log line for rcpt of qid (with
        status=<status> if given)."""
        want = "%s: to=<%s>, " % (qid, rcpt)
        if status is not None:
            want = (want, "status=%s " % status)
        else:
            want = (want,)
        deadline = time.time() + timeout
        while True:
            lines = [ln for ln in self.stack.log_lines(want[0], "smtp")
                     if all(w in ln for w in want)]
            if lines or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertTrue(lines, "no smtp log line with %r\n%s"
                        % (want, self.logs_tail()))
        return lines[-1]

    def relay(self, host, addr):
        return "relay=%s[%s]:%d," % (host, addr, self.port)

    def assertNoPipeliningViolation(self):
        bad = self.pf.lines("improper command pipelining")
        self.assertEqual(bad, [], "Postfix saw unauthorized pipelining")

    # PIPELINING

    def test_pipelining_offered(self):
        qid = self.submit(SENDER, ["a@pipe.test", "b@pipe.test"],
                          message("pipe-1"))
        got = self.at_sink("pipe-1")[0]
        self.assertEqual(sorted(got.recipients), ["a@pipe.test",
                                                  "b@pipe.test"])
        self.wait_gone(qid)
        conns = [c for c in self.pipe.connections()
                 if b"MAIL FROM:<%s>" % SENDER.encode() in c.stream("c")]
        self.assertEqual(len(conns), 1, conns)
        c = conns[0]
        # replies: 1 greeting, 2 EHLO, 3 MAIL: RCPT and DATA were sent
        # before the client could have seen the reply to MAIL
        self.assertIs(RecordingProxy.commands_before_reply(
            c, b"RCPT TO:<b@pipe.test>", 3), True, c.events)
        self.assertIs(RecordingProxy.commands_before_reply(
            c, b"DATA\r\n", 3), True, c.events)
        # EHLO alone: it must not be pipelined (RFC 2920)
        self.assertIs(RecordingProxy.commands_before_reply(
            c, b"MAIL FROM:", 2), False, c.events)
        self.assertNoPipeliningViolation()

    def test_pipelining_not_offered(self):
        qid = self.submit(SENDER, ["a@nopipe.test", "b@nopipe.test"],
                          message("nopipe-1"))
        got = self.at_sink("nopipe-1")[0]
        self.assertEqual(sorted(got.recipients), ["a@nopipe.test",
                                                  "b@nopipe.test"])
        self.wait_gone(qid)
        conns = [c for c in self.nopipe.connections()
                 if b"MAIL FROM:" in c.stream("c")]
        self.assertEqual(len(conns), 1, conns)
        c = conns[0]
        self.assertNotIn(b"PIPELINING", c.stream("s"))
        # one command per reply: greeting, EHLO, MAIL, RCPT, RCPT, DATA
        for cmd, n in ((b"MAIL FROM:", 2), (b"RCPT TO:<a@", 3),
                       (b"RCPT TO:<b@", 4), (b"DATA\r\n", 5)):
            self.assertIs(RecordingProxy.commands_before_reply(c, cmd, n),
                          False, "%r sent before reply %d: %r"
                          % (cmd, n, c.events))
        self.assertNoPipeliningViolation()
        self.assertEqual(self.pf.lines("postfix/nopipe/", "improper use"),
                         [])

    # SIZE

    def test_size_refusal(self):
        qid = self.submit(SENDER, ["big@small.test"],
                          message("small-1", b"x" * 70 + b"\r\n") * 40)
        line = self.agent_line(qid, "big@small.test", "bounced")
        self.assertRegex(line, r"dsn=5\.3\.4, status=bounced \(message size "
                         r"\d+ exceeds size limit 2000 of server "
                         r"127\.0\.0\.5\[127\.0\.0\.5\]\)")
        self.assertIn("relay=127.0.0.5[127.0.0.5]:%d," % self.port, line)
        # the notice reaches the sender
        found = self.notices_for("big@small.test")
        self.assertEqual(len(found), 1, self.logs_tail())
        self.assertEqual(found[0][1].rcpt("big@small.test")["status"],
                         "5.3.4")
        # Postfix announced SIZE 2000 and never saw a MAIL FROM
        self.assertTrue(self.pf.lines("postfix/small/", "250-SIZE 2000"))
        self.assertEqual(self.pf.lines("postfix/small/", "MAIL FROM"), [])
        # a message under the limit goes, with SIZE=
        qid2 = self.submit(SENDER, ["ok@small.test"], message("small-2"))
        self.at_sink("small-2")
        mail = self.pf.wait_lines("postfix/small/", "< unknown[127.0.0.1]: "
                                  "MAIL FROM:<%s> SIZE=" % SENDER)
        self.assertEqual(len(mail), 1, mail)
        self.wait_gone(qid2)

    # DSN

    def test_dsn_parameters_passed_on(self):
        qid = self.submit(SENDER, ["rcpt@dsn.test"], message("dsn-1"),
                          mail_opts=["RET=HDRS", "ENVID=env+2Bid-42"],
                          rcpt_opts=["NOTIFY=SUCCESS,DELAY",
                                     "ORCPT=rfc822;orig+2Bx@dsn.test"])
        got = self.at_sink("dsn-1")[0]
        self.wait_gone(qid)
        # what Postfix smtpd received from Postmesh
        mail = self.pf.wait_lines("postfix/plain/", ": MAIL FROM:<%s>"
                                  % SENDER, " RET=HDRS", " ENVID=env+2Bid-42")
        self.assertEqual(len(mail), 1, self.pf.lines("MAIL FROM:<%s>"
                                                     % SENDER))
        rcpt = self.pf.lines("postfix/plain/", "RCPT TO:<rcpt@dsn.test>")
        self.assertEqual(len(rcpt), 1, rcpt)
        self.assertIn(" NOTIFY=SUCCESS,DELAY", rcpt[0])
        self.assertIn(" ORCPT=rfc822;orig+2Bx@dsn.test", rcpt[0])
        # and what Postfix made of them: it passed them on to the sink
        self.assertIn("RET=HDRS", got.mail_from)
        self.assertIn("ENVID=env+2Bid-42", got.mail_from)
        self.assertEqual(len(got.rcpt_tos), 1)
        self.assertIn("NOTIFY=SUCCESS,DELAY", got.rcpt_tos[0])
        self.assertIn("ORCPT=rfc822;orig+2Bx@dsn.test", got.rcpt_tos[0])
        # Postfix offered DSN and took NOTIFY=SUCCESS: no "relayed"
        # notice from Postmesh
        self.assertEqual(self.stack.log_lines(qid + ": sender delivery "
                                              "status notification"), [])

    # connection reuse

    def test_connection_reuse(self):
        qid1 = self.submit(SENDER, ["one@reuse.test"], message("reuse-1"))
        self.agent_line(qid1, "one@reuse.test", "sent")
        qid2 = self.submit(SENDER, ["two@reuse.test"], message("reuse-2"))
        line = self.agent_line(qid2, "two@reuse.test", "sent")
        self.assertIn(" conn_use=2,", line)
        self.assertIn("relay=127.0.0.6[127.0.0.6]:%d," % self.port, line)
        self.at_sink("reuse-2")
        # one Postfix session with two transactions, closed when the
        # cached connection expires (smtp_connection_cache_time_limit)
        # (Postfix's start-up probe is a session without commands)
        disc = self.pf.wait_lines("postfix/reuse/", "disconnect from",
                                  " mail=", timeout=20)
        self.assertEqual(len(disc), 1, self.pf.lines("postfix/reuse/",
                                                     "connect"))
        self.assertRegex(disc[0], r" mail=2 rcpt=2 data=2 .*quit=1 ")
        self.assertEqual(len(self.pf.lines("postfix/reuse/",
                                           "disconnect from")), 2)

    # next MX

    def test_next_mx_after_4xx_rcpt(self):
        """450 to RCPT: the recipient goes to the backup MX; 554 to
        RCPT bounces there and then; the accepted one is delivered."""
        qid = self.submit(SENDER, ["ok@mxa.test", "soft@mxa.test",
                                   "hard@mxa.test"], message("mxa-1"))
        soft = self.agent_line(qid, "soft@mxa.test")
        self.assertIn("status=sent", soft)
        self.assertIn(self.relay("mx2.mxa.test", "127.0.0.3"), soft)
        ok = self.agent_line(qid, "ok@mxa.test", "sent")
        self.assertIn(self.relay("mx1.mxa.test", "127.0.0.2"), ok)
        hard = self.agent_line(qid, "hard@mxa.test", "bounced")
        self.assertIn(self.relay("mx1.mxa.test", "127.0.0.2"), hard)
        self.assertIn("dsn=5.7.1", hard)
        # Postfix's log of the skip, then the delivery
        self.assertTrue(self.stack.log_lines(
            "%s: host mx1.mxa.test[127.0.0.2] said: 450 4.7.1 "
            "<soft@mxa.test>" % qid, "smtp"), self.logs_tail())
        got = self.at_sink("mxa-1", n=2)
        self.assertEqual(sorted(r for m in got for r in m.recipients),
                         ["ok@mxa.test", "soft@mxa.test"])
        self.assertEqual(self.pf.lines("postfix/backup/",
                                       "RCPT TO:<hard@mxa.test>"), [])
        self.assertEqual(self.pf.lines("postfix/backup/",
                                       "RCPT TO:<ok@mxa.test>"), [])
        self.wait_gone(qid)
        notices = self.notices_for("hard@mxa.test")
        self.assertEqual(len(notices), 1, self.logs_tail())
        self.assertEqual(notices[0][1].rcpt("hard@mxa.test")["status"],
                         "5.7.1")
        self.assertIsNone(notices[0][1].rcpt("soft@mxa.test"))
        # again, while the first sessions are cached: same outcome
        qid2 = self.submit(SENDER, ["soft@mxa.test"], message("mxa-2"))
        soft = self.agent_line(qid2, "soft@mxa.test")
        self.assertIn("status=sent", soft)
        self.assertIn(self.relay("mx2.mxa.test", "127.0.0.3"), soft)
        self.at_sink("mxa-2")
        self.wait_gone(qid2)

    def test_next_mx_after_4xx_mail(self):
        qid = self.submit(SENDER, ["a@mxm.test", "b@mxm.test"],
                          message("mxm-1"))
        for r in ("a@mxm.test", "b@mxm.test"):
            line = self.agent_line(qid, r)
            self.assertIn("status=sent", line)
            self.assertIn(self.relay("mx2.mxm.test", "127.0.0.3"), line)
        got = self.at_sink("mxm-1")[0]
        self.assertEqual(sorted(got.recipients), ["a@mxm.test",
                                                  "b@mxm.test"])
        self.assertTrue(self.stack.log_lines(
            "%s: host mx1.mxm.test[127.0.0.8] said: 450 4." % qid, "smtp"))
        self.assertTrue(self.stack.log_lines("(in reply to MAIL FROM "
                                             "command)", "smtp"))
        self.wait_gone(qid)

    def test_next_mx_after_5xx_greeting(self):
        qid = self.submit(SENDER, ["a@mxg.test"], message("mxg-1"))
        line = self.agent_line(qid, "a@mxg.test")
        self.assertIn("status=sent", line)
        self.assertIn(self.relay("mx2.mxg.test", "127.0.0.3"), line)
        self.at_sink("mxg-1")
        self.assertTrue(self.pf.lines("postfix/greet5xx/", "> unknown[",
                                      ": 554 5.7.1"))
        self.wait_gone(qid)


if __name__ == "__main__":
    unittest.main()
