"""smtpd check_policy_service: Postfix's policy delegation protocol.

A small policy server in this test (socketserver) reads the
"name=value" request lines up to the empty line, records them, and
answers "action=REJECT not you" for reject@bad.test,
"action=DEFER try later" for defer@bad.test, "action=DUNNO" otherwise;
it serves many requests per connection, as Postfix's policy servers do.
A second server accepts and never answers (hung); a third port has
nothing listening (down). smtpd_check_threads = 1, so that every
request comes from the same check thread and connection reuse is
deterministic. The recipient picks the server through a restriction
class (check_recipient_access).
"""

import re
import smtplib
import socket
import socketserver
import threading
import time
import unittest

from pmtest import StackTest, free_port


class PolicyHandler(socketserver.StreamRequestHandler):
    def handle(self):
        srv = self.server
        with srv.lock:
            srv.connections += 1
        while True:
            attrs = {}
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line == "":
                    break
                name, _, value = line.partition("=")
                attrs[name] = value
            with srv.lock:
                srv.requests.append(attrs)
            sender = attrs.get("sender", "")
            if sender == "reject@bad.test":
                action = "REJECT not you"
            elif sender == "defer@bad.test":
                action = "DEFER try later"
            else:
                action = "DUNNO"
            self.wfile.write(("action=%s\n\n" % action).encode())
            self.wfile.flush()


class HungHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.accepted.set()
        self.request.recv(65536)
        self.server.release.wait(60)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class PolicyTest(StackTest):
    policy = None
    hung = None

    @classmethod
    def setUpClass(cls):
        cls.policy = Server(("127.0.0.1", 0), PolicyHandler)
        cls.policy.lock = threading.Lock()
        cls.policy.requests = []
        cls.policy.connections = 0
        cls.hung = Server(("127.0.0.1", 0), HungHandler)
        cls.hung.accepted = threading.Event()
        cls.hung.release = threading.Event()
        for s in (cls.policy, cls.hung):
            threading.Thread(target=s.serve_forever, daemon=True).start()
        cls.down_port = free_port()
        cls.PARAMS = {
            "smtpd_check_threads": "1",
            "smtpd_policy_service_timeout": "2s",
            "smtpd_restriction_classes": "use_hung, use_down",
            "use_hung": "check_policy_service inet:127.0.0.1:%d"
                        % cls.hung.server_address[1],
            "use_down": "check_policy_service inet:127.0.0.1:%d"
                        % cls.down_port,
            "smtpd_recipient_restrictions":
                "check_recipient_access inline:{hung@example.test=use_hung, "
                "down@example.test=use_down}, "
                "check_policy_service inet:127.0.0.1:%d"
                % cls.policy.server_address[1],
        }
        try:
            super().setUpClass()
        except Exception:
            cls.stop_servers()
            raise

    @classmethod
    def stop_servers(cls):
        cls.hung.release.set()
        for s in (cls.policy, cls.hung):
            s.shutdown()
            s.server_close()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.stop_servers()

    def session(self):
        s = smtplib.SMTP("127.0.0.1", self.stack.smtp_port, timeout=30)
        s.ehlo("client.test")
        return s

    def test_reject_defer_dunno_and_attributes(self):
        conns = self.policy.connections
        with self.session() as s:
            s.mail("reject@bad.test")
            code, text = s.rcpt("alice@example.test")
            self.assertEqual(code, 554, text)
            self.assertEqual(text.decode(), "5.7.1 <alice@example.test>: "
                             "Recipient address rejected: not you")
            s.rset()
            s.mail("defer@bad.test")
            code, text = s.rcpt("alice@example.test")
            self.assertEqual(code, 450, text)
            self.assertIn(b"try later", text)
            s.rset()
            before = len(self.policy.requests)
            s.mail("good@client.test")
            code, text = s.rcpt("alice@example.test")
            self.assertEqual(code, 250, text)
            code, text = s.rcpt("bob@example.test")
            self.assertEqual(code, 250, text)
        reqs = self.policy.requests[before:]
        self.assertEqual(len(reqs), 2)
        a = reqs[0]
        self.assertEqual(a["request"], "smtpd_access_policy")
        self.assertEqual(a["protocol_state"], "RCPT")
        self.assertEqual(a["protocol_name"], "ESMTP")
        self.assertEqual(a["client_address"], "127.0.0.1")
        self.assertEqual(a["helo_name"], "client.test")
        self.assertEqual(a["sender"], "good@client.test")
        self.assertEqual(a["recipient"], "alice@example.test")
        self.assertEqual(a["recipient_count"], "0")
        self.assertTrue(a["client_port"].isdigit(), a)
        self.assertTrue(a["queue_id"], a)
        self.assertEqual(a["instance"], a["queue_id"])
        self.assertEqual(reqs[1]["recipient"], "bob@example.test")
        self.assertEqual(reqs[1]["recipient_count"], "1")
        # One check thread: all four requests on at most one new
        # connection (kept from an earlier test, or opened here).
        self.assertLessEqual(self.policy.connections - conns, 1)
        self.assertTrue(self.stack.log_lines(
            "NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 "
            "<alice@example.test>: Recipient address rejected: not you; "
            "from=<reject@bad.test> to=<alice@example.test> proto=ESMTP "
            "helo=<client.test>", "smtpd")
            or self.stack.log_lines(
            "NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 554 5.7.1 "
            "<alice@example.test>: Recipient address rejected: not you; "
            "from=<reject@bad.test>", "smtpd"),
            self.stack.log("smtpd")[-3000:])
        m = self.stack.metrics("smtpd")
        for outcome in ("reject", "defer", "dunno"):
            v = re.search(r'^postmesh_smtpd_policy_requests_total\{outcome='
                          r'"%s"\} (\d+)$' % outcome, m, re.M)
            self.assertTrue(v and int(v.group(1)) >= 1, m)

    def default_action(self, rcpt):
        t0 = time.monotonic()
        with self.session() as s:
            s.mail("good@client.test")
            code, text = s.rcpt(rcpt)
        return code, text, time.monotonic() - t0

    def test_hung_server_default_action(self):
        code, text, took = self.default_action("hung@example.test")
        self.assertEqual(code, 451, text)
        self.assertEqual(text.decode(), "4.3.5 <hung@example.test>: "
                         "Recipient address rejected: Server configuration "
                         "problem")
        self.assertTrue(self.hung.accepted.is_set())
        self.assertGreaterEqual(took, 1.8)
        self.assertLess(took, 15)
        self.assertTrue(self.stack.log_lines(
            "warning: problem talking to server 127.0.0.1:%d: Connection "
            "timed out" % self.hung.server_address[1], "smtpd"),
            self.stack.log("smtpd")[-3000:])

    def test_down_server_default_action(self):
        code, text, took = self.default_action("down@example.test")
        self.assertEqual(code, 451, text)
        self.assertIn(b"Server configuration problem", text)
        self.assertTrue(self.stack.log_lines(
            "warning: problem talking to server 127.0.0.1:%d: Connection "
            "refused" % self.down_port, "smtpd"),
            self.stack.log("smtpd")[-3000:])
        m = self.stack.metrics("smtpd")
        v = re.search(r'^postmesh_smtpd_policy_requests_total\{outcome='
                      r'"error"\} (\d+)$', m, re.M)
        self.assertTrue(v and int(v.group(1)) >= 1, m)

    def test_malformed_reply(self):
        # A server that answers garbage: the default action, a warning.
        bad = socket.socket()
        bad.bind(("127.0.0.1", 0))
        bad.listen(1)
        port = bad.getsockname()[1]

        def serve():
            c, _ = bad.accept()
            c.recv(65536)
            c.sendall(b"this is not an attribute\n\n")
            c.close()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.stack.params["use_down"] = (
            "check_policy_service inet:127.0.0.1:%d" % port)
        try:
            self.stack.write_config()
            self.stack.restart("smtpd")
            code, text, _ = self.default_action("down@example.test")
        finally:
            self.stack.params["use_down"] = (
                "check_policy_service inet:127.0.0.1:%d" % self.down_port)
            self.stack.write_config()
            bad.close()
        self.assertEqual(code, 451, text)
        self.assertTrue(self.stack.log_lines(
            "problem talking to server 127.0.0.1:%d: malformed reply "
            "attribute" % port, "smtpd"), self.stack.log("smtpd")[-3000:])


if __name__ == "__main__":
    unittest.main()
