"""postscreen in front of smtpd: pregreet, DNSBL, access list, cache, hand-off.

Real redis-server, real smtpd (smtpd_upstream_proxy_protocol = haproxy)
behind postscreen, dnsmasq listing 127.0.0.2 in bl.test. Clients bind
loopback addresses other than 127.0.0.1 (mynetworks) as their source.
A second postscreen sharing the Redis shows the cache across replicas;
a third one, whose only smtpd refuses connections, shows the 421.
"""

import os
import shutil
import socket
import time
import unittest

from peers import Dns
from pmtest import RawSMTP, Service, Stack, free_port, queue_id_of


def raw(port, source, timeout=20):
    return RawSMTP(port, source=source, timeout=timeout)


class PostscreenTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_dns = os.path.join("/tmp", "pmtest-psc-dns-%d" % os.getpid())
        os.makedirs(cls.tmp_dns, exist_ok=True)
        cls.dns = Dns(cls.tmp_dns, a=[("2.0.0.127.bl.test", "127.0.0.2"),
                                      ("10.0.0.127.bl.test", "127.0.0.3"),
                                      ("10.0.0.127.wl.test", "127.0.0.2")]).start()
        cls.psc_port = free_port()
        cls.psc2_port = free_port()
        cls.psc3_port = free_port()
        cls.closed_port = free_port()
        cls.psc4_port = free_port()
        cidr_dir = os.path.join(cls.tmp_dns, "access.cidr")
        with open(cidr_dir, "w") as f:
            f.write("127.0.0.5/32 reject\n127.0.0.6/32 permit\n"
                    "127.0.0.7/32 dunno\n")
        params = {
            "smtpd_upstream_proxy_protocol": "haproxy",
            "dns_server": cls.dns.server_param,
            "postscreen_listen": "127.0.0.1:%d" % cls.psc_port,
            "postscreen_greet_wait": "1s",
            "postscreen_greet_action": "enforce",
            "postscreen_dnsbl_sites": "bl.test=127.0.0.[2..3]*2, wl.test*-3",
            "postscreen_dnsbl_action": "enforce",
            "postscreen_dnsbl_reply_map": "inline:{ { bl.test = Example DNSBL } }",
            "postscreen_dnsbl_timeout": "3s",
            "postscreen_access_list":
                "permit_mynetworks, cidr:" + cidr_dir,
            "postscreen_denylist_action": "drop",
            "postscreen_command_time_limit": "10s",
        }
        cls.stack = Stack(params, ("rewrite", "cleanup", "smtpd", "postscreen"))
        cls.stack.params["postscreen_smtpd_service"] = (
            "127.0.0.1:%d" % cls.stack.ports["smtpd"])
        cls.stack.write_config()
        cls.extra = []
        try:
            cls.stack.start()
            # Replica 2: same Redis; its first smtpd refuses (skipped).
            cls.psc2 = cls.replica("psc2", {
                "postscreen_listen": "127.0.0.1:%d" % cls.psc2_port,
                "postscreen_smtpd_service": "127.0.0.1:%d, 127.0.0.1:%d" % (
                    cls.closed_port, cls.stack.ports["smtpd"]),
            })
            # Replica 3: no smtpd at all; pregreet dropped.
            cls.psc3 = cls.replica("psc3", {
                "postscreen_listen": "127.0.0.1:%d" % cls.psc3_port,
                "postscreen_smtpd_service": "127.0.0.1:%d" % cls.closed_port,
                "postscreen_greet_action": "drop",
                "postscreen_dnsbl_sites": "",
            })
            # Replica 4: Redis unreachable (fail open); one connection
            # per client address.
            cls.psc4 = cls.replica("psc4", {
                "postscreen_listen": "127.0.0.1:%d" % cls.psc4_port,
                "postscreen_smtpd_service": "127.0.0.1:%d" % (
                    cls.stack.ports["smtpd"]),
                "redis_server": "127.0.0.1:%d" % cls.closed_port,
                "redis_timeout": "2s",
                "postscreen_dnsbl_sites": "",
                "postscreen_client_connection_count_limit": "1",
            })
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def replica(cls, name, over):
        d = os.path.join(cls.stack.tmp, name)
        os.makedirs(os.path.join(d, "etc"))
        mport = free_port()
        p = dict(cls.stack.params)
        p.update(over)
        p["postscreen_metrics_listen"] = "http://127.0.0.1:%d" % mport
        with open(os.path.join(d, "etc", "main.cf"), "w") as f:
            for k, v in p.items():
                f.write("%s = %s\n" % (k, v))
        svc = Service("postscreen", os.path.join(d, "etc"), d).start()
        cls.extra.append(svc)
        from pmtest import wait_port
        wait_port(int(over["postscreen_listen"].split(":")[1]), proc=svc.proc)
        return svc

    @classmethod
    def tearDownClass(cls):
        findings = []
        for svc in cls.extra:
            svc.stop()
            from pmtest import SANITIZER_MARKS
            for mark in SANITIZER_MARKS:
                if mark in svc.text():
                    findings.append(svc.text())
        findings += cls.stack.stop()
        if findings or os.environ.get("PM_SHOW_LOGS"):
            for svc in [*cls.stack.svcs.values(), *cls.extra]:
                print("---- %s log ----\n%s" % (svc.log, svc.text()[-4000:]))
        cls.dns.stop()
        shutil.rmtree(cls.tmp_dns, ignore_errors=True)
        cls.stack.cleanup_dir()
        if findings:
            raise AssertionError("sanitizer findings:\n" + "\n".join(findings))

    def assertMetric(self, text, timeout=10):
        """postscreen's /metrics comes to hold text. postscreen logs a
        verdict before it counts it: one scrape right after the log line
        could come first."""
        deadline = time.time() + timeout
        m = self.stack.metrics("postscreen")
        while text not in m and time.time() < deadline:
            time.sleep(0.05)
            m = self.stack.metrics("postscreen")
        self.assertIn(text, m)

    def wait_log(self, svc_text, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for ln in svc_text().splitlines():
                if pattern in ln:
                    return ln
            time.sleep(0.05)
        self.fail("no log line with %r in:\n%s" % (pattern, svc_text()[-3000:]))

    def psc_log(self):
        return self.stack.log("postscreen")

    def test_pregreet_enforced(self):
        c = raw(self.psc_port, "127.0.0.4")
        line = c._line()
        self.assertTrue(line.startswith("220-"), line)
        c.send("EHLO early.test\r\n")       # before the greeting ends
        code, lines = c.reply()             # postscreen's "220 " line
        self.assertEqual(code, 220, lines)
        self.assertEqual(c.cmd("EHLO early.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<bot@early.test>")[0], 250)
        code, lines = c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual((code, lines[0]), (550, "550 5.5.1 Protocol error"))
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(c.closed())
        c.close()
        ln = self.wait_log(self.psc_log, "PREGREET 17 after ")
        self.assertIn("from [127.0.0.4]:", ln)
        self.assertIn(": EHLO early.test", ln)
        ln = self.wait_log(self.psc_log,
                           "NOQUEUE: reject: RCPT from [127.0.0.4]:")
        self.assertIn("550 5.5.1 Protocol error; from=<bot@early.test>, "
                      "to=<alice@example.test>, proto=ESMTP, "
                      "helo=<early.test>", ln)
        self.assertNotIn("[127.0.0.4]", self.stack.log("smtpd"))

    def test_dnsbl_listed_refused(self):
        c = raw(self.psc_port, "127.0.0.2")
        self.assertTrue(c._line().startswith("220-"))
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("HELO bot.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<x@bot.test>")[0], 250)
        code, lines = c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(code, 550)
        self.assertEqual(lines[0], "550 5.7.1 Service unavailable; client "
                         "[127.0.0.2] blocked using Example DNSBL")
        c.cmd("QUIT")
        c.close()
        self.wait_log(self.psc_log, "DNSBL rank 2 for [127.0.0.2]:")
        self.assertMetric('postscreen_dnsbl_hits_total{site="bl.test"}')

    def test_dnsbl_allowlist_weight(self):
        # 127.0.0.10: bl.test*2 + wl.test*-3 = -1 < threshold 1: passes.
        c = raw(self.psc_port, "127.0.0.10")
        self.assertTrue(c._line().startswith("220-"))
        code, lines = c.reply()             # smtpd's "220 "
        self.assertEqual(code, 220, lines)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        self.wait_log(self.psc_log, "PASS NEW [127.0.0.10]:")
        self.assertFalse(self.stack.log_lines("DNSBL rank", "postscreen") and
                         any("[127.0.0.10]" in l for l in self.stack.log_lines(
                             "DNSBL rank", "postscreen")))

    def send_mail(self, c, subject):
        self.assertEqual(c.cmd("EHLO clean.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<me@clean.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        code, lines = c.cmd("Subject: %s\r\n\r\nhello\r\n." % subject)
        self.assertEqual(code, 250, lines)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        return queue_id_of(lines)

    def test_clean_client_reaches_smtpd_then_pass_old_on_replica(self):
        c = raw(self.psc_port, "127.0.0.3")
        first = c._line()
        self.assertTrue(first.startswith("220-"), first)
        code, lines = c.reply()             # completed by smtpd
        self.assertEqual(code, 220, lines)
        qid = self.send_mail(c, "through postscreen")
        c.close()
        self.wait_log(self.psc_log, "PASS NEW [127.0.0.3]:")
        # smtpd saw the real client address, from the PROXY v2 header
        ln = self.wait_log(lambda: self.stack.log("smtpd"), qid + ": client=")
        self.assertIn("[127.0.0.3]", ln)
        r = self.stack.redis.client()
        entry = r.get("pm:cache:psc:127.0.0.3")
        self.assertIsNotNone(entry)
        self.assertTrue(entry.decode().startswith("greet="), entry)
        self.assertGreater(r.ttl("pm:cache:psc:127.0.0.3"), 3600)

        # Replica 2 shares the cache: no greet wait, smtpd answers at once.
        t0 = time.time()
        c = raw(self.psc2_port, "127.0.0.3")
        code, lines = c.reply()
        self.assertEqual(code, 220, lines)
        self.assertFalse(lines[0].startswith("220-"), lines)
        self.assertLess(time.time() - t0, 0.9)
        self.send_mail(c, "pass old")
        c.close()
        self.wait_log(self.psc2.text, "PASS OLD [127.0.0.3]:")
        # its first smtpd refused: skipped for the next one
        self.wait_log(self.psc2.text, "connect to smtpd 127.0.0.1:%d"
                      % self.closed_port)

    def test_access_list(self):
        c = raw(self.psc_port, "127.0.0.5")  # reject, action drop
        code, lines = c.reply()
        self.assertEqual((code, lines[0]), (521, "521 5.7.1 Service unavailable"))
        self.assertTrue(c.closed())
        c.close()
        self.wait_log(self.psc_log, "DENYLISTED [127.0.0.5]:")
        t0 = time.time()
        c = raw(self.psc_port, "127.0.0.6")  # permit: smtpd at once
        code, lines = c.reply()
        self.assertEqual(code, 220)
        self.assertFalse(lines[0].startswith("220-"), lines)
        self.assertLess(time.time() - t0, 0.9)
        c.cmd("QUIT")
        c.close()
        self.wait_log(self.psc_log, "ALLOWLISTED [127.0.0.6]:")
        self.assertMetric('verdict="allowlisted"} 1')

    def test_handoff_failure_421(self):
        c = raw(self.psc3_port, "127.0.0.7")
        self.assertTrue(c._line().startswith("220-"))
        code, lines = c.reply()
        self.assertEqual((code, lines[0]),
                         (421, "421 4.3.2 Service currently unavailable"))
        self.assertTrue(c.closed())
        c.close()
        self.wait_log(self.psc3.text, "no smtpd of postscreen_smtpd_service "
                      "took [127.0.0.7]")

    def test_pregreet_drop(self):
        c = raw(self.psc3_port, "127.0.0.8")
        self.assertTrue(c._line().startswith("220-"))
        c.send("HELO fast.test\r\n")
        code, lines = c.reply()
        self.assertEqual((code, lines[0]), (521, "521 5.5.1 Protocol error"))
        self.assertTrue(c.closed())
        c.close()
        self.wait_log(self.psc3.text, "PREGREET 16 after ")

    def test_enforce_dialogue_limits(self):
        # An over-long line in the enforce dialogue: 421 and close.
        # (127.0.0.2 may have passed the pregreet test already: cached,
        # no "220-" line then.)
        c = raw(self.psc_port, "127.0.0.2")
        self.assertEqual(c.reply()[0], 220)
        c.send("HELO " + "x" * 5000 + "\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 421, lines)
        self.assertTrue(c.closed())
        c.close()

    def test_redis_down_fails_open_and_client_limit(self):
        for i in range(2):
            c = raw(self.psc4_port, "127.0.0.11")
            self.assertTrue(c._line().startswith("220-"))
            # a second connection from the same address: over the limit
            c2 = raw(self.psc4_port, "127.0.0.11")
            code, lines = c2.reply()
            self.assertEqual((code, lines[0]), (421, "421 4.7.0 Error: too "
                             "many connections"))
            c2.close()
            code, lines = c.reply()         # tested, then smtpd's 220
            self.assertEqual(code, 220, lines)
            c.cmd("QUIT")
            c.close()
        # never cached: both connections were tested (PASS NEW twice)
        deadline = time.time() + 10
        while time.time() < deadline and self.psc4.text().count(
                "PASS NEW [127.0.0.11]") < 2:
            time.sleep(0.05)
        self.assertEqual(self.psc4.text().count("PASS NEW [127.0.0.11]"), 2)
        self.assertEqual(self.psc4.text().count(
            "postscreen cache: Redis unavailable"), 1, self.psc4.text())
        self.wait_log(self.psc4.text, "NOQUEUE: reject: CONNECT from "
                      "[127.0.0.11]:")


if __name__ == "__main__":
    unittest.main()
