"""Delivery over SMTP to real peers (issue 3, item 5).

The whole stack (smtpd, cleanup, rewrite, qmgr, smtp, bounce, error,
discard, Redis) relays to peers on loopback:

- Postfix's smtp-sink behind transport_maps (relay.test) and behind
  relayhost (any other domain): the sink receives the original content
  byte for byte behind the headers Postmesh prepends, with the envelope
  sender and recipients, lines starting with "." intact; two recipients
  of one domain travel in one transaction; the agent logs Postfix's
  "to=<...>, relay=..., delay=..., delays=a/b/c/d, dsn=2.0.0,
  status=sent (250 ...)" and qmgr logs "removed"; the queue is empty
  afterwards.
- dnsmasq serving two MX hosts, the preferred one down: the mail goes
  to the other; a domain without MX is delivered to its A record.
  The smtp agent connects to port smtp_tcp_port (default 25) of MX and
  A hosts: the test sets it to the sink's port.
- aiosmtpd without 8BITMIME: an 8-bit body arrives as 7-bit that
  decodes to the original text; with 8BITMIME it arrives unchanged.
"""

import re
import time
import unittest

from peers import Dns, PySink, SmtpSink
from pmtest import DeliveryTest

MSG = (b"From: Sender <sender@client.test>\r\n"
       b"To: <rcpt@relay.test>\r\n"
       b"Subject: relay test\r\n"
       b"Message-ID: <relay-1@client.test>\r\n"
       b"Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
       b"\r\n"
       b"first line\r\n"
       b".a line that starts with a dot\r\n"
       b"..two dots\r\n"
       b" .\r\n"
       b"last line\r\n")


def sent_line_re(qid, rcpt, relay):
    return re.compile(
        r"%s: to=<%s>, (orig_to=<[^>]*>, )?relay=%s, (conn_use=\d+, )?"
        r"delay=[0-9.]+, "
        r"delays=[0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+, dsn=2\.\d+\.\d+, "
        r"status=sent \(250[ -]" % (re.escape(qid), re.escape(rcpt),
                                     re.escape(relay)))


class RelayTest(DeliveryTest):
    """transport_maps and relayhost to smtp-sink."""

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        cls.hostsink = SmtpSink(workdir, name="relayhost").start()
        cls.peers.append(cls.hostsink)
        return {
            "transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                              % cls.sink.port,
            "relayhost": "[127.0.0.1]:%d" % cls.hostsink.port,
        }

    def assert_content(self, got, sent):
        """got is sent behind whole header lines Postmesh prepended."""
        self.assertTrue(got.endswith(sent),
                        "delivered content does not end with what was sent:"
                        "\ngot  %r\nwant ...%r" % (got[-400:], sent[-400:]))
        prefix = got[:len(got) - len(sent)]
        for line in prefix.split(b"\r\n")[:-1]:
            self.assertTrue(line[:1] in (b"\t", b" ") or b":" in line,
                            "added text is not a header: %r" % line)

    def test_relay_content_and_log(self):
        before = self.sink.count()
        qid = self.submit("sender@client.test", ["rcpt@relay.test"], MSG)
        msgs = self.wait_count(self.sink, before + 1)
        mine = [m for m in msgs if b"<relay-1@client.test>" in m.content]
        self.assertEqual(len(mine), 1, msgs)
        m = mine[0]
        self.assertEqual(m.sender, "sender@client.test")
        self.assertEqual(m.recipients, ["rcpt@relay.test"])
        self.assert_content(m.content, MSG)
        relay = "127.0.0.1[127.0.0.1]:%d" % self.sink.port
        lines = self.wait_log("%s: to=<rcpt@relay.test>" % qid, ("smtp",))
        self.assertTrue(any(sent_line_re(qid, "rcpt@relay.test", relay)
                            .search(ln) for ln in lines), lines)
        self.wait_log("%s: removed" % qid, ("qmgr",))
        self.assertTrue(self.stack.log_lines(
            "%s: from=<sender@client.test>, size=" % qid, "qmgr"))
        self.wait_gone(qid)

    def test_two_recipients_one_transaction(self):
        before = self.sink.count()
        msg = MSG.replace(b"relay-1@", b"relay-2@")
        qid = self.submit("sender@client.test",
                          ["one@relay.test", "two@relay.test"], msg)
        self.wait_log("%s: removed" % qid, ("qmgr",))
        mine = [m for m in self.sink.messages()
                if b"<relay-2@client.test>" in m.content]
        self.assertEqual(len(mine), 1, "one transaction for both: %r" % mine)
        self.assertEqual(sorted(mine[0].recipients),
                         ["one@relay.test", "two@relay.test"])
        self.assertEqual(self.sink.count(), before + 1)
        sent = [ln for ln in self.stack.log_lines(qid + ": to=<", "smtp")
                if "status=sent" in ln]
        self.assertEqual(len(sent), 2, sent)

    def test_relayhost(self):
        msg = MSG.replace(b"relay-1@", b"relayhost-1@")
        qid = self.submit("sender@client.test", ["someone@elsewhere.test"],
                          msg)
        msgs = self.wait_count(self.hostsink, 1)
        mine = [m for m in msgs if b"<relayhost-1@client.test>" in m.content]
        self.assertEqual(len(mine), 1, msgs)
        self.assertEqual(mine[0].recipients, ["someone@elsewhere.test"])
        self.assert_content(mine[0].content, msg)
        relay = "127.0.0.1[127.0.0.1]:%d" % self.hostsink.port
        lines = self.wait_log("%s: to=<someone@elsewhere.test>" % qid,
                              ("smtp",))
        self.assertTrue(any(sent_line_re(qid, "someone@elsewhere.test", relay)
                            .search(ln) for ln in lines), lines)
        self.wait_gone(qid)

    def test_many_messages_all_arrive(self):
        before = self.sink.count()
        qids = []
        for i in range(30):
            msg = MSG.replace(b"relay-1@", b"many-%d@" % i)
            qids.append(self.submit("sender@client.test",
                                    ["rcpt@relay.test"], msg))
        self.wait_count(self.sink, before + 30, timeout=60)
        ids = [m.header("Message-ID") for m in self.sink.messages()]
        for i in range(30):
            self.assertEqual(ids.count("<many-%d@client.test>" % i), 1)
        for q in qids:
            self.wait_gone(q)

    def test_metrics(self):
        """qmgr exports the queue gauges; the agent counts deliveries."""
        qid = self.submit("sender@client.test", ["metrics@relay.test"],
                          MSG.replace(b"relay-1@", b"metrics-1@"))
        self.wait_gone(qid)
        text = self.stack.metrics("qmgr")
        for queue in ("incoming", "active", "deferred", "hold"):
            m = re.search(r'^postmesh_qmgr_queue\w*\{[^}]*queue="%s"[^}]*\} '
                          r'([0-9.e+-]+)$' % queue, text, re.M)
            self.assertIsNotNone(m, "no %s queue gauge in qmgr metrics:\n%s"
                                 % (queue, text[:3000]))
            self.assertGreaterEqual(float(m.group(1)), 0)
        m = re.search(r'^postmesh_qmgr_oldest\w*_seconds(\{[^}]*\})? '
                      r'([0-9.e+-]+)$', text, re.M)
        self.assertIsNotNone(m, "no oldest-message age gauge:\n%s"
                             % text[:3000])
        agent = self.stack.metrics("smtp")
        m = re.search(r'^postmesh_smtp_deliveries_total\{[^}]*status="sent"'
                      r'[^}]*\} (\d+)', agent, re.M)
        self.assertIsNotNone(m, agent[:3000])
        self.assertGreaterEqual(int(m.group(1)), 1)
        self.assertIn("postmesh_smtp_delivery_seconds", agent)


class MxTest(DeliveryTest):
    """dnsmasq with two MX hosts; the preferred one (127.0.0.2) is down."""

    @classmethod
    def start_peers(cls, workdir):
        # The sink listens on 127.0.0.3 only; nothing on 127.0.0.2 at
        # that port, so the preferred MX refuses the connection.
        cls.sink = SmtpSink(workdir, host="127.0.0.3", name="mx2").start()
        cls.peers.append(cls.sink)
        cls.dns = Dns(workdir,
                      mx=[("mx.test", "mx1.mx.test", 10),
                          ("mx.test", "mx2.mx.test", 20)],
                      a=[("mx1.mx.test", "127.0.0.2"),
                         ("mx2.mx.test", "127.0.0.3"),
                         ("aonly.test", "127.0.0.3")]).start()
        cls.peers.append(cls.dns)
        return {
            "dns_server": cls.dns.server_param,
            "smtp_tcp_port": str(cls.sink.port),
        }

    def test_preferred_mx_down(self):
        msg = MSG.replace(b"relay-1@", b"mx-1@")
        before = self.sink.count()
        qid = self.submit("sender@client.test", ["user@mx.test"], msg)
        msgs = self.wait_count(self.sink, before + 1, timeout=60)
        mine = [m for m in msgs if b"<mx-1@client.test>" in m.content]
        self.assertEqual(len(mine), 1, msgs)
        self.assertEqual(mine[0].recipients, ["user@mx.test"])
        lines = self.wait_log("%s: to=<user@mx.test>" % qid, ("smtp",))
        relay = "mx2.mx.test[127.0.0.3]:%d" % self.sink.port
        self.assertTrue(any(sent_line_re(qid, "user@mx.test", relay)
                            .search(ln) for ln in lines), lines)
        self.assertTrue(any("query[MX] mx.test " in q
                            for q in self.dns.queries()),
                        "no MX query for mx.test reached dnsmasq")
        self.wait_gone(qid)

    def test_no_mx_uses_a_record(self):
        msg = MSG.replace(b"relay-1@", b"aonly-1@")
        qid = self.submit("sender@client.test", ["user@aonly.test"], msg)
        deadline = time.time() + 60
        mine = []
        while not mine and time.time() < deadline:
            mine = [m for m in self.sink.messages()
                    if b"<aonly-1@client.test>" in m.content]
            time.sleep(0.1)
        self.assertEqual(len(mine), 1, self.logs_tail())
        relay = "aonly.test[127.0.0.3]:%d" % self.sink.port
        lines = self.wait_log("%s: to=<user@aonly.test>" % qid, ("smtp",))
        self.assertTrue(any(sent_line_re(qid, "user@aonly.test", relay)
                            .search(ln) for ln in lines), lines)


TEXT = "Grüße aus Zürich: 8-bit body, ÄÖÜ äöü ß € — end\r\n"
MSG8 = ("From: <sender@client.test>\r\n"
        "To: <rcpt@relay.test>\r\n"
        "Subject: eight bit\r\n"
        "Message-ID: <%s@client.test>\r\n"
        "Date: Wed, 25 Nov 2026 16:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n" + TEXT + TEXT).encode("utf-8")


class EightBitTest(DeliveryTest):
    """8BITMIME: a peer without it gets quoted-printable (7 bit)."""

    @classmethod
    def start_peers(cls, workdir):
        cls.seven = PySink(workdir, name="seven", no_8bitmime=True).start()
        cls.peers.append(cls.seven)
        cls.eight = PySink(workdir, name="eight").start()
        cls.peers.append(cls.eight)
        return {
            "transport_maps": "inline:{seven.test=smtp:[127.0.0.1]:%d, "
                              "eight.test=smtp:[127.0.0.1]:%d}"
                              % (cls.seven.port, cls.eight.port),
        }

    def test_peer_without_8bitmime_gets_7bit(self):
        msg = MSG8.replace(b"%s@", b"seven-1@")
        qid = self.submit("sender@client.test", ["rcpt@seven.test"], msg,
                          mail_opts=["BODY=8BITMIME"])
        msgs = self.wait_count(self.seven, 1)
        m = msgs[0]
        self.assertFalse(m.meta["eightbit"],
                         "8-bit bytes sent to a peer without 8BITMIME:\n%r"
                         % m.content)
        self.assertFalse(any("BODY=8BITMIME" in o.upper()
                             for o in m.meta["mail_options"]),
                         m.meta["mail_options"])
        parsed = m.parsed()
        self.assertEqual(parsed.get_content_type(), "text/plain")
        cte = (parsed.get("Content-Transfer-Encoding") or "").lower()
        self.assertIn(cte, ("quoted-printable", "base64"), cte)
        self.assertEqual(parsed.get_content().replace("\r\n", "\n"),
                         (TEXT + TEXT).replace("\r\n", "\n"))
        for line in m.content.split(b"\r\n"):
            self.assertLessEqual(len(line), 998)
        self.wait_gone(qid)

    def test_peer_with_8bitmime_gets_original(self):
        msg = MSG8.replace(b"%s@", b"eight-1@")
        qid = self.submit("sender@client.test", ["rcpt@eight.test"], msg,
                          mail_opts=["BODY=8BITMIME"])
        msgs = self.wait_count(self.eight, 1)
        m = msgs[0]
        self.assertTrue(m.content.endswith(msg), m.content[-300:])
        self.assertTrue(any("BODY=8BITMIME" in o.upper()
                            for o in m.meta["mail_options"]),
                        m.meta["mail_options"])
        self.wait_gone(qid)


if __name__ == "__main__":
    unittest.main()
