"""Address verification (issue 10, item 4): reject_unverified_recipient.

The whole stack (smtpd, cleanup, rewrite, qmgr, smtp, bounce, error,
discard, Redis) with relay.test routed by transport_maps to an aiosmtpd
sink (peers.PySink) that answers 550 5.1.1 to RCPT TO:<nosuch@relay.test>
and 250 to any other recipient, and records each RCPT and DATA:

- the first RCPT to a good address is answered 450 "unverified address"
  or, when the probe finishes within the poll window
  (address_verify_poll_count x address_verify_poll_delay), accepted;
  after the probe the address is accepted;
- the bad address is refused after its probe with 450 "undeliverable
  address: ... 550 5.1.1 ..." (the sink's reply);
- probes stop after RCPT: the sink never gets DATA and holds no
  message; the smtp agent logs Postfix's "status=deliverable (250 ...)"
  and "status=undeliverable (host ... said: 550 ...)"; no bounce notice
  is made for a probe, and probes leave the queue;
- the verify cache is in Redis (pm:cache:verify:<address>) with the
  positive and negative expire times as key TTL;
- a second smtpd replica sharing Redis answers from the cache: no new
  probe (the sink saw one RCPT per address), and its
  postmesh_smtpd_verify_cache_total counts the hits; with
  reject_unverified_sender there, the bad address as MAIL FROM is
  refused with "4.1.7 <a>: Sender address rejected: undeliverable
  address: ..." and the good one accepted, from the cache;
- qmgr counts postmesh_qmgr_verify_probes_total by result.
"""

import os
import re
import smtplib
import socket
import threading
import time

from peers import PySink
from pmtest import DeliveryTest, Service, free_port, wait_port

GOOD = "good@relay.test"
BAD = "nosuch@relay.test"


def metric(text, name, labels):
    m = re.search(r"^%s%s (\d+)" % (re.escape(name),
                                     re.escape("{%s}" % labels)), text, re.M)
    return int(m.group(1)) if m else 0


class VerifyBase(DeliveryTest):
    PARAMS = {
        "smtpd_recipient_restrictions":
            "reject_unauth_destination, reject_unverified_recipient",
        "address_verify_poll_count": "3",
        "address_verify_poll_delay": "1s",
    }

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = PySink(workdir, reject=[BAD]).start()
        cls.peers.append(cls.sink)
        return {"transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                                  % cls.sink.port}

    def rcpt(self, addr, port=None, sender="sender@client.test"):
        with smtplib.SMTP("127.0.0.1", port or self.stack.smtp_port,
                          timeout=30) as c:
            c.ehlo("client.test")
            code, text = c.mail(sender)
            self.assertEqual(code, 250, text)
            code, text = c.rcpt(addr)
            c.rset()
            return code, text.decode()

    def wait_rcpt(self, addr, want, timeout=30.0):
        deadline = time.time() + timeout
        while True:
            code, text = self.rcpt(addr)
            if code == want or time.time() > deadline:
                return code, text
            time.sleep(0.5)

    def sink_rcpts(self, addr):
        return [e for e in self.sink.events()
                if e.startswith("RCPT <%s>" % addr)]

    def start_replica(self):
        port, mport = free_port(), free_port()
        logdir = self.stack.path("replica")
        os.makedirs(logdir, exist_ok=True)
        svc = Service("smtpd", self.stack.conf, logdir).start(env={
            "POSTMESH_smtpd_listen": "127.0.0.1:%d" % port,
            "POSTMESH_smtpd_metrics_listen": "http://127.0.0.1:%d" % mport,
            "POSTMESH_smtpd_sender_restrictions": "reject_unverified_sender",
        })
        wait_port(port, proc=svc.proc, timeout=20)
        return svc, port, mport


class VerifyTest(VerifyBase):
    def test_verify(self):
        # 1. good address: 450 "unverified" now, or accepted in the poll
        code, text = self.rcpt(GOOD)
        self.assertIn(code, (250, 450), text)
        if code == 450:
            self.assertRegex(text, r"^4\.1\.1 <%s>: Recipient address "
                             r"rejected: unverified address: " % GOOD)
        code, text = self.wait_rcpt(GOOD, 250)
        self.assertEqual(code, 250, text + "\n" + self.logs_tail())
        lines = self.wait_log("to=<%s>" % GOOD, ("smtp",))
        self.assertRegex(lines[0], r"[0-9A-Za-z]+: to=<%s>, relay=127\.0\.0"
                         r"\.1\[127\.0\.0\.1\]:%d, delay=[0-9.]+, "
                         r"delays=[0-9./]+, dsn=2\.1\.5, "
                         r"status=deliverable \(250 2\.1\.5 Ok\)"
                         % (re.escape(GOOD), self.sink.port))

        # 2. bad address: refused after its probe, with the sink's reply
        code, text = self.wait_rcpt(BAD, 450)
        deadline = time.time() + 30
        while "undeliverable address" not in text and time.time() < deadline:
            time.sleep(0.5)
            code, text = self.rcpt(BAD)
        self.assertEqual(code, 450, text)
        self.assertRegex(text, r"^4\.1\.1 <%s>: Recipient address rejected: "
                         r"undeliverable address: host 127\.0\.0\.1"
                         r"\[127\.0\.0\.1\] said: 550 5\.1\.1 " % BAD)
        lines = self.wait_log("to=<%s>" % BAD, ("smtp",))
        self.assertIn("status=undeliverable (host 127.0.0.1[127.0.0.1] "
                      "said: 550 5.1.1", lines[0])

        # 3. the cache in Redis, with the expire times as TTL
        r = self.stack.r()
        good = {k.decode(): v.decode() for k, v in
                r.hgetall("pm:cache:verify:" + GOOD).items()}
        self.assertEqual(good.get("status"), "deliverable", good)
        self.assertEqual(good.get("reason"), "250 2.1.5 Ok", good)
        self.assertGreater(r.ttl("pm:cache:verify:" + GOOD), 30 * 86400)
        bad = {k.decode(): v.decode() for k, v in
               r.hgetall("pm:cache:verify:" + BAD).items()}
        self.assertEqual(bad.get("status"), "undeliverable", bad)
        ttl = r.ttl("pm:cache:verify:" + BAD)
        self.assertTrue(2 * 86400 < ttl <= 3 * 86400, ttl)

        # 4. probes never reach DATA, produce no notice, leave the queue
        self.assertEqual(self.sink.count(), 0, self.sink.events())
        self.assertEqual([e for e in self.sink.events()
                          if e.startswith("DATA")], [])
        deadline = time.time() + 20
        while self.stack.queued_qids() and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.stack.queued_qids(), [], self.logs_tail())
        probes = [ln.split(": ")[1] for ln in
                  self.stack.log_lines("verify: probe for", "smtpd")]
        self.assertEqual(len(probes), 2, probes)
        for qid in probes:
            self.assertEqual(self.stack.log_lines(qid, "bounce"), [])
            self.assertEqual([ln for ln in self.stack.log_lines(qid, "qmgr")
                              if "notice" in ln or "expired" in ln], [])
        q = self.stack.metrics("qmgr")
        self.assertEqual(metric(q, "postmesh_qmgr_verify_probes_total",
                                'result="deliverable"'), 1, q)
        self.assertEqual(metric(q, "postmesh_qmgr_verify_probes_total",
                                'result="undeliverable"'), 1, q)

        # 5. a second smtpd replica answers from the cache: no new probe
        svc, port, mport = self.start_replica()
        try:
            # the null sender is not verified
            code, text = self.rcpt(GOOD, port, sender="")
            self.assertEqual(code, 250, text)
            code, text = self.rcpt(BAD, port, sender="")
            self.assertEqual(code, 450, text)
            self.assertIn("undeliverable address", text)
            # reject_unverified_sender (this replica only), from the cache
            code, text = self.rcpt(GOOD, port, sender=BAD)
            self.assertEqual(code, 450, text)
            self.assertRegex(text, r"^4\.1\.7 <%s>: Sender address "
                             r"rejected: undeliverable address: host " % BAD)
            code, text = self.rcpt(GOOD, port, sender=GOOD)
            self.assertEqual(code, 250, text)
            time.sleep(1)
            m = urllib_get("http://127.0.0.1:%d/metrics" % mport)
            self.assertEqual(metric(m, "postmesh_smtpd_verify_cache_total",
                                    'result="hit_deliverable"'), 3, m)
            self.assertEqual(metric(m, "postmesh_smtpd_verify_cache_total",
                                    'result="hit_undeliverable"'), 2, m)
            self.assertEqual(metric(m, "postmesh_smtpd_verify_cache_total",
                                    'result="miss"'), 0, m)
        finally:
            svc.stop()
        self.assertEqual(len(self.sink_rcpts(GOOD)), 1, self.sink.events())
        self.assertEqual(len(self.sink_rcpts(BAD)), 1, self.sink.events())
        m = self.stack.metrics("smtpd")
        self.assertGreaterEqual(metric(m, "postmesh_smtpd_verify_cache_total",
                                       'result="miss"'), 2, m)


def urllib_get(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


ALIAS = "alias@relay.test"
ALIAS_BAD = "badalias@relay.test"


class VerifyAliasTest(VerifyBase):
    """cleanup rewrites the probe's recipient (virtual_alias_maps): the
    outcome is recorded under the address smtpd looks up (the probe's
    ORCPT), and under the rewritten one, as Postfix's verify_append()."""
    PARAMS = dict(VerifyBase.PARAMS,
                  virtual_alias_maps="inline:{ %s=%s, %s=%s }"
                  % (ALIAS, GOOD, ALIAS_BAD, BAD))

    def test_alias(self):
        code, text = self.wait_rcpt(ALIAS, 250)
        self.assertEqual(code, 250, text + "\n" + self.logs_tail())
        deadline = time.time() + 30
        code, text = self.rcpt(ALIAS_BAD)
        while "undeliverable address" not in text and time.time() < deadline:
            time.sleep(0.5)
            code, text = self.rcpt(ALIAS_BAD)
        self.assertEqual(code, 450, text)
        self.assertIn("undeliverable address: host 127.0.0.1", text)
        r = self.stack.r()
        for addr, want in ((ALIAS, "deliverable"), (GOOD, "deliverable"),
                           (ALIAS_BAD, "undeliverable"),
                           (BAD, "undeliverable")):
            st = r.hget("pm:cache:verify:" + addr, "status")
            self.assertEqual(st, want.encode(), addr)
        # one probe per alias (the sink saw the rewritten address once)
        self.assertEqual(len(self.sink_rcpts(GOOD)), 1, self.sink.events())
        self.assertEqual(len(self.sink_rcpts(BAD)), 1, self.sink.events())


class VerifyPollLimitTest(VerifyBase):
    """Polling for a verify result blocks a shared check thread: with
    smtpd_check_threads = 2 (address_verify_poll_limit 0: a quarter of
    that, at least 1), three RCPTs to addresses whose probes never end
    (slow.test: a server that accepts TCP and never greets) hold one
    check thread for the poll (3 x 3 s); the other two are answered 450
    "Address verification in progress" at once, and another client's
    banner, MAIL and RCPT are answered at once."""
    PARAMS = dict(VerifyBase.PARAMS,
                  smtpd_check_threads="2",
                  address_verify_poll_delay="3s",
                  relay_domains="relay.test slow.test",
                  smtpd_sender_restrictions="reject_non_fqdn_sender")

    @classmethod
    def start_peers(cls, workdir):
        params = super().start_peers(workdir)
        cls.black = socket.socket()
        cls.black.bind(("127.0.0.1", 0))
        cls.black.listen(64)    # never accepted: no greeting
        params["transport_maps"] = params["transport_maps"].replace(
            "}", ", slow.test=smtp:[127.0.0.1]:%d}"
            % cls.black.getsockname()[1])
        return params

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.black.close()

    def test_poll_limit(self):
        now = str(int(time.time()))
        self.stack.r().hset("pm:cache:verify:postmaster@relay.test",
                            mapping={"status": "deliverable", "updated": now,
                                     "probed": now, "reason": "250 2.1.5"})
        results = [None] * 3

        def one(i):
            t0 = time.monotonic()
            code, text = self.rcpt("u%d@slow.test" % i)
            results[i] = (round(time.monotonic() - t0, 1), code, text)

        th = [threading.Thread(target=one, args=(i,)) for i in range(3)]
        for t in th:
            t.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        with smtplib.SMTP("127.0.0.1", self.stack.smtp_port,
                          timeout=30) as c:
            c.ehlo("other.test")
            self.assertEqual(c.mail("x@client.test")[0], 250)
            self.assertEqual(c.rcpt("postmaster@relay.test")[0], 250)
        other = time.monotonic() - t0
        for t in th:
            t.join()
        print("unverified RCPTs (s, code):", [r[:2] for r in results],
              "other client: %.1f s" % other)
        self.assertLess(other, 3.0, results)
        self.assertTrue(all(r[1] == 450 for r in results), results)
        fast = [r for r in results if r[0] < 3.0]
        self.assertGreaterEqual(len(fast), 2, results)
        for r in fast:
            self.assertIn("unverified address: Address verification in "
                          "progress", r[2])
