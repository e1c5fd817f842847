"""Internal mutual TLS on qmgr's fetch/done port (issue 7, acceptance).

The whole delivery stack runs with every service address on tls+tcp://
and the mesh certificate. The stack's own smtp agent is stopped; two
intruding agents dial qmgr instead: one with a certificate from a
foreign CA, one without any certificate dialing the TLS port with plain
tcp://. A message is queued: neither intruder gets the job (so neither
can report an outcome for it): after 8 seconds the sink has nothing and
the message is still queued, and each intruder logs that it cannot
fetch work. Then the real agent starts and the message is delivered.
"""

import os
import shutil
import time

from peers import SmtpSink
from pmtest import DeliveryTest, Service, free_port
from test_internal_tls import make_certs, msg

# certificates of this module's own (test_internal_tls removes its own)
CERT_DIR = make_certs()

RPC = ("cleanup", "rewrite", "qmgr", "bounce")


class QmgrTlsTest(DeliveryTest):

    PARAMS = {
        "internal_tls_ca_file": os.path.join(CERT_DIR, "ca.pem"),
        "internal_tls_cert_file": os.path.join(CERT_DIR, "mesh.pem"),
        "internal_tls_server_name": "postmesh-internal",
    }

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        params = {"transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                  % cls.sink.port}
        for n in RPC:
            url = "tls+tcp://127.0.0.1:%d" % free_port()
            params[n + "_listen"] = url
            params[n + "_service"] = url
        cls.PARAMS = dict(cls.PARAMS, **params)
        return params

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(CERT_DIR, ignore_errors=True)

    def agent(self, name, changes):
        """An smtp agent with the stack's main.cf and changes (None
        removes a parameter), in its own directory."""
        params = dict(self.stack.params)
        params["smtp_metrics_listen"] = "http://127.0.0.1:%d" % free_port()
        for k, v in changes.items():
            if v is None:
                params.pop(k, None)
            else:
                params[k] = v
        conf = self.stack.path(name)
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            for k, v in params.items():
                f.write("%s = %s\n" % (k, v))
        svc = Service("smtp", conf, conf)
        svc.start()
        return svc

    def test_intruders_get_no_job(self):
        self.stack.svcs["smtp"].stop()
        foreign = self.agent("foreign", {
            "internal_tls_cert_file":
            os.path.join(CERT_DIR, "foreign", "intruder.pem")})
        plain = self.agent("plain", {
            "qmgr_service": self.stack.params["qmgr_service"].replace(
                "tls+tcp://", "tcp://"),
            "internal_tls_ca_file": None, "internal_tls_cert_file": None,
            "internal_tls_server_name": None})
        try:
            qid = self.submit("s@client.test", ["rcpt@relay.test"],
                              msg("tls-qmgr"))
            time.sleep(8)
            self.assertEqual(self.sink.count(), 0, "an intruder delivered")
            self.assertIsNotNone(self.stack.queued(qid),
                                 "the message left the queue")
            for svc in (foreign, plain):
                self.assertIsNone(svc.proc.poll(), "an intruder exited")
                self.assertIn("cannot fetch work from qmgr", svc.text())
                self.assertNotIn("status=sent", svc.text())
        finally:
            foreign.stop()
            plain.stop()
        # the mesh's own agent gets it
        self.stack.svcs["smtp"].start()
        self.wait_count(self.sink, 1, timeout=30)
        self.wait_gone(qid)
