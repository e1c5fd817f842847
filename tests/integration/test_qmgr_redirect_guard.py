"""Only the local agent may redirect (issue 11, delivery.proto
RCPT_REDIRECT, services/qmgr/qmgr_redirect.c).

Postfix's local(8) alone hands mail to mailbox_transport or
fallback_transport. Here an agent reports RCPT_REDIRECT and qmgr
re-routes the recipient: qmgr follows that only from a job of the
transport "local". The test speaks to qmgr as an smtp agent would
(over nng's REQ/REP wire protocol with hand-packed protobuf, as
test_qmgr_fetch_deadline does; no real smtp agent runs): it takes the
job for r@relay.test and reports a redirect to "lmtp". qmgr logs a
warning and defers the recipient 4.3.5; it queues no lmtp job.
"""

import re
import struct
import time
import unittest

from pmtest import DELIVERY_SERVICES, DeliveryTest
from test_qmgr_fetch_deadline import (RawAgent, field_bytes, field_varint,
                                      fields)

MSG_QMGR_DONE = 32
MSG_QMGR_DONE_REPLY = 33
RCPT_REDIRECT = 4


class RedirectAgent(RawAgent):

    def call(self, mtype, req, want):
        self.rid += 1
        env = (field_varint(1, mtype) + field_varint(2, self.rid)
               + field_bytes(3, req))
        body = struct.pack(">I", self.rid) + env
        self.s.sendall(struct.pack(">Q", len(body)) + body)
        n = struct.unpack(">Q", self.recvn(8))[0]
        msg = self.recvn(n)
        assert struct.unpack(">I", msg[:4])[0] == self.rid
        f = dict(fields(msg[4:]))
        assert f.get(1) == want, f
        return f.get(3, b"")

    def redirect(self, job, transport, nexthop):
        """Report every recipient of job as RCPT_REDIRECT."""
        jf = fields(job)
        job_id = dict(jf)[1]
        qid = dict(jf)[2]
        results = b""
        for k, v in jf:
            if k != 6:
                continue
            index = dict(fields(v)).get(1, 0)
            res = (field_varint(1, index) + field_varint(2, RCPT_REDIRECT)
                   + field_bytes(7, transport) + field_bytes(8, nexthop))
            results += field_bytes(3, res)
        req = (field_bytes(1, job_id) + field_bytes(2, qid) + results
               + field_bytes(4, "none"))
        self.call(MSG_QMGR_DONE, req, MSG_QMGR_DONE_REPLY)
        return qid.decode()


class RedirectGuardTest(DeliveryTest):
    SERVICES = tuple(n for n in DELIVERY_SERVICES if n != "smtp")
    PARAMS = {
        "transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:9}",
        "qmgr_stop_grace": "0s",
    }

    def test_redirect_from_smtp_is_deferred(self):
        qid = self.submit("s@client.test", ["r@relay.test"],
                          "Subject: x\r\n\r\nx\r\n")
        agent = RedirectAgent(self.stack.ports["qmgr"])
        try:
            deadline = time.time() + 10
            while time.time() < deadline and not re.search(
                    r"(?m)^postmesh_qmgr_active_messages 1$",
                    self.stack.metrics("qmgr")):
                time.sleep(0.05)
            jobs = []
            deadline = time.time() + 10
            while not jobs and time.time() < deadline:
                jobs = agent.fetch(timeout_ms=10000, wait_ms=1000)
            self.assertEqual(len(jobs), 1, self.logs_tail())
            self.assertEqual(agent.redirect(jobs[0], "lmtp",
                                            "inet:127.0.0.1:24"), qid)
        finally:
            agent.close()
        warn = self.wait_log("%s: to=<r@relay.test>: redirect to lmtp "
                             "from transport smtp ignored" % qid, ("qmgr",))
        self.assertIn("warning:", warn[0])
        lines = self.wait_log("%s: to=<r@relay.test>" % qid, ("qmgr",))
        deferred = [ln for ln in lines if "status=deferred" in ln]
        self.assertEqual(len(deferred), 1, lines)
        self.assertIn("dsn=4.3.5", deferred[0])
        self.assertIn("redirect from transport smtp to lmtp refused: "
                      "only the local delivery agent redirects",
                      deferred[0])
        # no job for lmtp was queued: the recipient waits in the
        # deferred queue, not in qmgr's memory
        deadline = time.time() + 10
        while time.time() < deadline and not re.search(
                r"(?m)^postmesh_qmgr_active_messages 0$",
                self.stack.metrics("qmgr")):
            time.sleep(0.1)
        self.assertRegex(self.stack.metrics("qmgr"),
                         r"(?m)^postmesh_qmgr_active_messages 0$")


if __name__ == "__main__":
    unittest.main()
