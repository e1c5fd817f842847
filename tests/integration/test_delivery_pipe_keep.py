"""A pipe recipient recorded as sent but never reported keeps the pipe's
success action (issue 11; delivery.proto FetchRequest.dsn_action,
qmgr_job_keep_final in services/qmgr/qmgr_agent_jobs.c).

Postfix's pipe says "relayed" in a success notice unless flag X. An
agent writes a recipient's final status to Redis, then reports it to
qmgr with RcptResult.dsn_action; when the report never comes (qmgr's
job timeout, the agent gone), qmgr reads "sent" back from Redis, which
does not say how. The agent's fetch said it (dsn_action), and qmgr
keeps that with the job.

The test speaks to qmgr as a pipe agent without flag X would (nng
REQ/REP over TCP, hand-packed protobuf, as test_qmgr_fetch_deadline):
it fetches the job for transport "myfilter" announcing "relayed",
records the recipient sent with the same Redis function an agent uses
(pm_rcpt_status), and never reports. After qmgr_job_timeout the
NOTIFY=SUCCESS notice to the sender says "Action: relayed" (before:
"delivered", the transport's default).
"""

import struct
import time
import unittest

from peers import PySink, dsns_for
from pmtest import DELIVERY_SERVICES, DeliveryTest
from test_qmgr_fetch_deadline import (MSG_QMGR_FETCH, MSG_QMGR_FETCH_REPLY,
                                      RawAgent, field_bytes, field_varint,
                                      fields)


class PipeLikeAgent(RawAgent):

    def fetch_as(self, transport, action, wait_ms=1000):
        req = (field_bytes(1, "raw@test") + field_bytes(2, transport)
               + field_varint(3, 1) + field_varint(4, wait_ms)
               + field_bytes(5, "pipe@raw-agent")
               + field_varint(6, int(time.time() * 1e6))
               + field_varint(7, 10000) + field_bytes(8, action))
        self.rid += 1
        env = (field_varint(1, MSG_QMGR_FETCH) + field_varint(2, self.rid)
               + field_bytes(3, req))
        body = struct.pack(">I", self.rid) + env
        self.s.sendall(struct.pack(">Q", len(body)) + body)
        n = struct.unpack(">Q", self.recvn(8))[0]
        msg = self.recvn(n)
        assert struct.unpack(">I", msg[:4])[0] == self.rid
        f = dict(fields(msg[4:]))
        assert f.get(1) == MSG_QMGR_FETCH_REPLY, f
        return [v for k, v in fields(f.get(3, b"")) if k == 1]


class PipeKeepActionTest(DeliveryTest):
    SERVICES = DELIVERY_SERVICES

    @classmethod
    def start_peers(cls, workdir):
        cls.back = PySink(workdir, name="back").start()
        cls.peers.append(cls.back)
        return {
            "relay_domains": "pipe.test",
            "transport_maps":
                "inline:{ pipe.test=myfilter:, "
                "back.test=smtp:[127.0.0.1]:%d }" % cls.back.port,
            "qmgr_job_timeout": "3s",
        }

    def test_recorded_not_reported_keeps_relayed(self):
        rcpt = "keep@pipe.test"
        qid = self.submit("sender@back.test", [rcpt],
                          "From: <sender@back.test>\r\n"
                          "Message-ID: <keep-1@client.test>\r\n"
                          "Subject: keep\r\n\r\nx\r\n",
                          rcpt_opts=["NOTIFY=SUCCESS"])
        agent = PipeLikeAgent(self.stack.ports["qmgr"])
        try:
            jobs = []
            deadline = time.time() + 15
            while not jobs and time.time() < deadline:
                jobs = agent.fetch_as("myfilter", "relayed")
            self.assertEqual(len(jobs), 1, self.logs_tail())
            jf = fields(jobs[0])
            self.assertEqual(dict(jf)[2].decode(), qid)
            index = [dict(fields(v)).get(1, 0) for k, v in jf if k == 6][0]
            # what the agent writes before its report (pm_qstore_deliv.c)
            key = "pm:{%d}:r:%s" % (self.stack.shard(qid), qid)
            self.stack.r().execute_command(
                "FCALL", "pm_rcpt_status", 1, key, index, "sent", "2.0.0",
                "delivered via myfilter service")
            # no report: qmgr's job timeout reads the status back
            self.wait_log("%s: job" % qid, ("qmgr",), timeout=20)
            self.wait_gone(qid)
        finally:
            agent.close()
        deadline = time.time() + 20
        while not dsns_for(self.back.messages(), rcpt) and \
                time.time() < deadline:
            time.sleep(0.1)
        got = dsns_for(self.back.messages(), rcpt)
        self.assertEqual(len(got), 1, self.logs_tail())
        r = got[0][1].rcpt(rcpt)
        self.assertEqual(r.get("action"), "relayed", got[0][0].content)
        self.assertEqual(r.get("status"), "2.0.0")


if __name__ == "__main__":
    unittest.main()
