"""A fetch's deadline (issue 7, item 4).

A FetchRequest says how long the agent waits for the reply
(timeout_ms, a budget relative to its sending: delivery.proto). qmgr
never answers with jobs a fetch whose budget is spent, and answers it
at once; the jobs stay queued for a fetch that is still awaited.

The test speaks to qmgr as an agent would, over nng's REQ/REP wire
protocol on TCP (SP header, 8-byte length, request id) with
hand-packed protobuf, while no real smtp agent runs: one message for
the smtp transport waits in qmgr's queue.

- timeout_ms 500 (less than qmgr's margin of 1 s: spent on arrival):
  the reply comes at once and holds no job;
- timeout_ms 10000: the same job is handed out.
"""

import re
import socket
import struct
import time
import unittest

from pmtest import DELIVERY_SERVICES, DeliveryTest

MSG_QMGR_FETCH = 30
MSG_QMGR_FETCH_REPLY = 31


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def fields(buf):
    """Decode one protobuf message: [(field, value)] (bytes or int)."""
    out, i = [], 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, v))
    return out


def read_varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return v, i


class RawAgent:
    """One nng REQ socket over TCP, by hand."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.s.sendall(b"\x00SP\x00" + struct.pack(">H", 0x30) + b"\0\0")
        hdr = self.recvn(8)
        assert hdr[:4] == b"\x00SP\x00", hdr
        self.rid = 0x80000001

    def recvn(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("qmgr closed the connection")
            b += c
        return b

    def fetch(self, timeout_ms, wait_ms=3000, max_jobs=4):
        req = (field_bytes(1, "raw@test") + field_bytes(2, "smtp")
               + field_varint(3, max_jobs) + field_varint(4, wait_ms)
               + field_bytes(5, "smtp@raw-agent")
               + field_varint(6, int(time.time() * 1e6))
               + field_varint(7, timeout_ms))
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
        jobs = [v for k, v in fields(f.get(3, b"")) if k == 1]
        return jobs

    def close(self):
        self.s.close()


class FetchDeadlineTest(DeliveryTest):
    SERVICES = tuple(n for n in DELIVERY_SERVICES if n != "smtp")
    PARAMS = {
        "transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:9}",
        "qmgr_stop_grace": "0s",
    }

    def test_spent_budget_gets_no_job(self):
        qid = self.submit("s@client.test", ["r@relay.test"],
                          "Subject: x\r\n\r\nx\r\n")
        agent = RawAgent(self.stack.ports["qmgr"])
        try:
            # the message is in qmgr's memory, its job queued
            deadline = time.time() + 10
            while time.time() < deadline and not re.search(
                    r"(?m)^postmesh_qmgr_active_messages 1$",
                    self.stack.metrics("qmgr")):
                time.sleep(0.05)
            time.sleep(0.3)
            t0 = time.time()
            jobs = agent.fetch(timeout_ms=500)
            took = time.time() - t0
            self.assertEqual(jobs, [], "a spent fetch got %d job(s)"
                             % len(jobs))
            self.assertLess(took, 0.5, "a spent fetch is answered at once")
            got = agent.fetch(timeout_ms=10000, wait_ms=1000)
            self.assertEqual(len(got), 1, "the job stayed queued for a "
                             "fetch still awaited")
            self.assertIn(qid.encode(), got[0])
        finally:
            agent.close()


if __name__ == "__main__":
    unittest.main()
