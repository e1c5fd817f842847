"""postsuper -e and -f: forced expiry (Postfix 3.5).

The whole stack with a real redis-server. Mail for relay.test goes to
[127.0.0.1]:PORT where nothing listens (connection refused: deferred,
backoff of minutes); the senders' domain back.test goes to a real
aiosmtpd sink, where the non-delivery notices arrive and are parsed.
Asserted:
- postsuper -e on deferred mail: "QID: expired", "Force-expired: 1
  message", mailq marks it "#", postqueue -j has forced_expire true; nothing happens before the message's next attempt (still
  deferred, no notice); at that attempt (postqueue -i) it is not tried
  again but returned to the sender: "status=expired, returned to
  sender", one failed DSN whose reason is the delay reason (Connection
  refused) with a 5.x.y status, and the message is gone;
- postsuper -e on held mail (header_checks HOLD, never tried): it stays
  held, no notice; postsuper -f - (ids from stdin) releases it ("QID:
  released from hold") and it comes back as 5.7.0 "message is
  administratively expired";
- postsuper -H of mail held by header_checks: the envelope's hold flag
  is cleared, so qmgr tries it instead of holding it again;
- an unknown queue id is skipped silently, a bad one warned about.
"""

import json
import os
import subprocess
import time
import unittest

from peers import PySink, dsns_for
from pmtest import BIN, DeliveryTest, free_port

PORT = free_port()


def message(mid, subject="expire test"):
    return ("From: <sender@back.test>\r\nTo: <r@relay.test>\r\n"
            "Subject: %s\r\nMessage-ID: <%s@client.test>\r\n\r\nhello\r\n"
            % (subject, mid))


class ExpireTest(DeliveryTest):
    PARAMS = {
        "minimal_backoff_time": "300s",
        "maximal_backoff_time": "600s",
        "default_destination_concurrency_failed_cohort_limit": "0",
    }

    @classmethod
    def start_peers(cls, workdir):
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        checks = os.path.join(workdir, "header_checks")
        with open(checks, "w") as f:
            f.write("/^Subject: hold me/ HOLD\n")
        return {
            "header_checks": "regexp:" + checks,
            "transport_maps": "inline:{ relay.test=smtp:[127.0.0.1]:%d, "
                              "back.test=smtp:[127.0.0.1]:%d }"
                              % (PORT, cls.back.port),
        }

    def cmd(self, name, *args, stdin=None, rc=0):
        p = subprocess.run([os.path.join(BIN, name), "-c", self.stack.conf]
                           + list(args), input=stdin, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, rc, "%s %s: rc %d\n%s\n%s" % (
            name, args, p.returncode, p.stdout, p.stderr))
        return p.stdout, p.stderr

    def dsns(self, address):
        return [(m, d) for m, d in dsns_for(self.back.messages(), address)
                if d.rcpt(address).get("action") == "failed"]

    def wait_dsn(self, address, timeout=30.0):
        deadline = time.time() + timeout
        while not self.dsns(address) and time.time() < deadline:
            time.sleep(0.1)
        found = self.dsns(address)
        self.assertEqual(len(found), 1, "failed DSNs for %s: %d\n%s" % (
            address, len(found), self.logs_tail()))
        return found[0]

    def expired_logged(self, qid):
        return [ln for ln in self.stack.log_lines(qid + ": ", "qmgr")
                if "status=expired, returned to sender" in ln]

    def test_deferred(self):
        st = self.stack
        qid = self.submit("sender@back.test", ["d1@relay.test"],
                          message("exp-1"))
        deadline = time.time() + 30
        while qid not in st.deferred_qids() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn(qid, st.deferred_qids(), self.logs_tail())
        attempts = st.queued(qid)[0]["attempts"]

        _, err = self.cmd("postsuper", "-e", qid)
        self.assertRegex(err, r"postsuper\[\d+\]: %s: expired\n" % qid)
        self.assertIn("Force-expired: 1 message\n", err)
        self.assertEqual(st.queued(qid)[0]["expire"], "1")
        # mailq marks it "#", postqueue -j says forced_expire: true
        out, _ = self.cmd("mailq")
        self.assertIn("\n%s# " % qid, "\n" + out)
        out, _ = self.cmd("postqueue", "-j")
        self.assertEqual(json.loads(out.splitlines()[0])["forced_expire"],
                         True)
        # Postfix: returned when qmgr next tries it, not before.
        time.sleep(2)
        self.assertIn(qid, st.deferred_qids())
        self.assertEqual(self.dsns("d1@relay.test"), [])
        self.assertEqual(self.expired_logged(qid), [])

        self.cmd("postqueue", "-i", qid)
        m, d = self.wait_dsn("d1@relay.test")
        self.assertEqual(m.sender, "")
        self.assertEqual(m.recipients, ["sender@back.test"])
        r = d.rcpt("d1@relay.test")
        self.assertTrue(r.get("status", "").startswith("5."), r)
        self.assertIn("Connection refused", r.get("diagnostic-code", ""), r)
        self.wait_gone(qid)
        self.assertTrue(self.expired_logged(qid), self.logs_tail())
        # Not tried again: the attempt was the expiry, no connection.
        tried = [ln for ln in st.log_lines(qid + ": to=<d1@relay.test>",
                                           "smtp")]
        self.assertEqual(len(tried), int(attempts), tried)

    def test_hold_then_release(self):
        st = self.stack
        qid = self.submit("sender@back.test", ["h1@relay.test"],
                          message("exp-2", subject="hold me"))
        deadline = time.time() + 30
        while qid not in st.hold_qids() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn(qid, st.hold_qids(), self.logs_tail())

        _, err = self.cmd("postsuper", "-e", qid)
        self.assertIn("%s: expired" % qid, err)
        self.assertNotIn("released", err)
        time.sleep(2)
        self.assertIn(qid, st.hold_qids())
        self.assertEqual(self.dsns("h1@relay.test"), [])

        _, err = self.cmd("postsuper", "-f", "-", stdin=qid + "!\n")
        self.assertIn("%s: expired" % qid, err)
        self.assertRegex(err, r"postsuper\[\d+\]: %s: released from hold"
                         % qid)
        self.assertIn("Force-expired: 1 message\n", err)
        self.assertIn("Released from hold: 1 message\n", err)
        m, d = self.wait_dsn("h1@relay.test")
        r = d.rcpt("h1@relay.test")
        self.assertEqual(r.get("status"), "5.7.0", r)
        self.assertIn("message is administratively expired",
                      r.get("diagnostic-code", ""), r)
        self.wait_gone(qid)
        self.assertTrue(self.expired_logged(qid), self.logs_tail())
        self.assertEqual(st.log_lines(qid + ": to=<h1@relay.test>", "smtp"),
                         [])

    def test_release_header_hold(self):
        """postsuper -H of mail held by header_checks: cleanup set the
        hold flag in its envelope; released, it is tried (not put back
        on hold by qmgr)."""
        st = self.stack
        qid = self.submit("sender@back.test", ["h2@relay.test"],
                          message("rel-1", subject="hold me"))
        deadline = time.time() + 30
        while qid not in st.hold_qids() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn(qid, st.hold_qids(), self.logs_tail())
        self.cmd("postsuper", "-H", qid)
        self.assertEqual(int(st.queued(qid)[0]["flags"]) & 4, 0)
        self.wait_log("%s: to=<h2@relay.test>" % qid, ("smtp",))
        deadline = time.time() + 30
        while qid not in st.deferred_qids() and time.time() < deadline:
            time.sleep(0.1)
        self.assertIn(qid, st.deferred_qids(), self.logs_tail())
        self.assertNotIn(qid, st.hold_qids())
        self.cmd("postsuper", "-d", qid)

    def test_unknown_ids(self):
        _, err = self.cmd("postsuper", "-e", "ABCDEFGHJKLMNP", "-f", "x/y")
        self.assertNotIn("expired", err)
        self.assertIn("invalid mail queue id: x/y", err)


if __name__ == "__main__":
    unittest.main()
