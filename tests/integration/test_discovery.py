"""Discovery: service names that resolve to several instances (issue 7,
point 1; the dialers and reconnects metrics of point 8).

Real DNS: dnsmasq answers for mesh.test on 127.88.x.53:53 from an
addn-hosts file the test rewrites (SIGHUP makes dnsmasq read it again).
The services that resolve names run in their own mount namespace
(`unshare -m`, root) where a private resolv.conf naming that dnsmasq is
bind-mounted over /etc/resolv.conf: their getaddrinfo() goes through
glibc's stub resolver to dnsmasq, as a pod's does to the cluster DNS.
Nothing on the host changes; the namespaces end with the processes.

Instances: cleanup-a/b/c on 127.0.0.2/3/4 and qmgr-a/b/c on
127.0.0.2/3/4, each group on one port. An smtpd names
cleanup_service = tcp://cleanup.mesh.test:P, an smtp agent names
qmgr_service = tcp://qmgr.mesh.test:Q (service_resolve_interval 1s).

- both instances behind a name get work: the messages submitted reach
  both cleanups, both qmgrs hand jobs to the agent (a qmgr whose
  messages no agent fetched would keep them: all must reach the sink);
  the dialers gauges say 2;
- an address removed from DNS: its dialer is closed within a few
  intervals (gauge 1, "address gone" in the log; the time is printed),
  and the next messages all go to the other instance;
- an address added: dialed and used;
- DNS down: "cannot resolve" logged once, the dialers stay, mail flows;
  "resolves again" when it is back;
- tls+tcp:// to a name: the dialer's URL holds the address, but the
  server certificate is still checked against internal_tls_server_name:
  with the name the certificate carries the message gets 250, with
  another name 451 and the TLS cleanup never sees it.
"""

import os
import random
import re
import signal
import smtplib
import socket
import subprocess
import time
import unittest
import urllib.request

from peers import DNSMASQ, SmtpSink, dns_query, wait_for
from pmtest import BIN, ROOT, DeliveryTest, Service, free_port

INTERVAL = 1  # service_resolve_interval in this test, seconds
MSGID_RE = re.compile(rb"^Message-I[Dd]: *(<[^>]*>)", re.M)


class MeshDns:
    """dnsmasq on its own 127/8 address, port 53, for mesh.test."""

    def __init__(self, workdir):
        self.addr = "127.88.%d.53" % random.randint(1, 250)
        self.hosts = os.path.join(workdir, "mesh.hosts")
        self.resolv = os.path.join(workdir, "resolv.conf")
        self.log = os.path.join(workdir, "dnsmasq-mesh.log")
        self.pidfile = os.path.join(workdir, "dnsmasq-mesh.pid")
        self.proc = None
        with open(self.resolv, "w") as f:
            f.write("nameserver %s\noptions timeout:1 attempts:1\n"
                    % self.addr)
        self.names = {}

    def start(self):
        self.write()
        self.proc = subprocess.Popen(
            [DNSMASQ, "--no-daemon", "--port=53",
             "--listen-address=" + self.addr, "--bind-interfaces",
             "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
             "--local=/mesh.test/", "--local-ttl=0",
             "--addn-hosts=" + self.hosts, "--log-facility=" + self.log,
             "--pid-file=" + self.pidfile],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.answers("ready.mesh.test") == 1, 10,
                 what="dnsmasq on %s" % self.addr)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def answers(self, name):
        r = dns_query(53, name, 1, host=self.addr, timeout=0.3)
        return None if r is None or r[0] != 0 else r[1]

    def write(self):
        # in place: the same file, read again on SIGHUP
        with open(self.hosts, "w") as f:
            f.write("127.0.0.9 ready.mesh.test\n")
            for name, addrs in self.names.items():
                for a in addrs:
                    f.write("%s %s\n" % (a, name))

    def set(self, name, addrs):
        """name resolves to addrs from now on (checked by a query)."""
        self.names[name] = list(addrs)
        self.write()
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: self.answers(name) == len(addrs), 10,
                     what="dnsmasq serving %d addresses" % len(addrs))


class ResolvingService(Service):
    """A service whose /etc/resolv.conf is the mesh DNS's (unshare -m:
    a private mount namespace; unshare and sh exec, so the PID is the
    service's)."""

    def __init__(self, name, confdir, logdir, resolv):
        super().__init__(name, confdir, logdir)
        self.resolv = resolv

    def start(self, env=None):
        exe = os.path.join(BIN, self.name)
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c",
             'mount --bind "$0" /etc/resolv.conf && exec "$@"',
             self.resolv, exe, "-c", self.confdir],
            stdout=out, stderr=subprocess.STDOUT, env=e)
        out.close()
        return self


def shared_port(hosts):
    """A port free on every one of hosts."""
    for _ in range(100):
        port = free_port()
        ok = True
        for h in hosts:
            with socket.socket() as s:
                try:
                    s.bind((h, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no port free on %s" % (hosts,))


def metric(text, name, labels):
    m = re.search(r"^%s\{%s\} (-?\d+)" % (re.escape(name), re.escape(labels)),
                  text, re.M)
    return int(m.group(1)) if m else None


ADDRS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
TLS_ADDR = "127.0.0.5"
CERTS = os.path.join(ROOT, "scripts", "internal-tls-certs.sh")


class DiscoveryTest(DeliveryTest):

    # the stack's own qmgr and smtp are not run: the qmgrs and the agent
    # are the instances below
    SERVICES = ("rewrite", "cleanup", "bounce", "smtpd")
    PARAMS = {
        "service_resolve_interval": "%ds" % INTERVAL,
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "2s",
        "queue_run_delay": "1s",
    }

    @classmethod
    def start_peers(cls, workdir):
        cls.sink = SmtpSink(workdir, name="sink").start()
        cls.peers.append(cls.sink)
        cls.dns = MeshDns(workdir)
        cls.dns.set("cleanup.mesh.test", ADDRS[:2])
        cls.dns.set("qmgr.mesh.test", ADDRS[:2])
        cls.dns.set("tls.mesh.test", [TLS_ADDR])
        cls.certs = os.path.join(workdir, "certs")
        subprocess.run([CERTS, cls.certs, "mesh"], check=True)
        cls.dns.start()
        cls.peers.append(cls.dns)
        cls.cport = shared_port(ADDRS)
        cls.qport = shared_port(ADDRS)
        return {"transport_maps": "inline:{relay.test=smtp:[127.0.0.1]:%d}"
                % cls.sink.port}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.inst = {}
        try:
            for i, tag in enumerate("ab"):
                cls.start_cleanup(tag, ADDRS[i])
                cls.start_qmgr(tag, ADDRS[i])
            cls.start_inst("smtp-dns", "smtp", {
                "qmgr_service": "tcp://qmgr.mesh.test:%d" % cls.qport,
            }, resolving=True)
            cls.smtpd_port = free_port()
            cls.start_inst("smtpd-dns", "smtpd", {
                "smtpd_listen": "127.0.0.1:%d" % cls.smtpd_port,
                "cleanup_service": "tcp://cleanup.mesh.test:%d" % cls.cport,
            }, resolving=True)
        except Exception:
            for name, (svc, _) in cls.inst.items():
                print("---- %s ----\n%s" % (name, svc.text()[-3000:]))
            cls.stop_instances()
            super().tearDownClass()
            raise

    @classmethod
    def stop_instances(cls):
        # the agent before the qmgrs, the smtpd before the cleanups
        for name in ("smtpd-dns", "smtp-dns"):
            if name in cls.inst:
                cls.inst[name][0].stop()
        for svc, _ in cls.inst.values():
            svc.stop()

    @classmethod
    def tearDownClass(cls):
        findings = []
        for name, (svc, _) in cls.inst.items():
            svc.stop()
            if "AddressSanitizer" in svc.text() or \
                    "runtime error:" in svc.text():
                findings.append(name)
        if findings or os.environ.get("PM_SHOW_LOGS"):
            for name, (svc, _) in cls.inst.items():
                print("---- %s ----\n%s" % (name, svc.text()[-4000:]))
        super().tearDownClass()
        if findings:
            raise AssertionError("sanitizer findings in %s" % findings)

    @classmethod
    def start_inst(cls, name, role, changes, resolving=False):
        params = dict(cls.stack.params)
        mport = free_port()
        params[role + "_metrics_listen"] = "http://127.0.0.1:%d" % mport
        params.update(changes)
        conf = cls.stack.path(name)
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            for k, v in params.items():
                f.write("%s = %s\n" % (k, v))
        if resolving:
            svc = ResolvingService(role, conf, conf, cls.dns.resolv)
        else:
            svc = Service(role, conf, conf)
        svc.start()
        cls.inst[name] = (svc, mport)
        url = "http://127.0.0.1:%d/readyz" % mport
        deadline = time.time() + 30
        while time.time() < deadline:
            if svc.proc.poll() is not None:
                raise RuntimeError("%s exited: %s" % (name, svc.text()))
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return svc
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("%s not ready: %s" % (name, svc.text()))

    @classmethod
    def start_cleanup(cls, tag, addr):
        return cls.start_inst("cleanup-" + tag, "cleanup", {
            "cleanup_listen": "tcp://%s:%d" % (addr, cls.cport)})

    @classmethod
    def start_qmgr(cls, tag, addr):
        return cls.start_inst("qmgr-" + tag, "qmgr", {
            "qmgr_listen": "tcp://%s:%d" % (addr, cls.qport),
            "service_instance_name": "qmgr-" + tag})

    # helpers

    def text(self, name):
        return self.inst[name][0].text()

    def metric(self, name, metric_name, labels):
        url = "http://127.0.0.1:%d/metrics" % self.inst[name][1]
        with urllib.request.urlopen(url, timeout=5) as r:
            return metric(r.read().decode(), metric_name, labels)

    def dialers(self, name, role, service):
        return self.metric(name, "postmesh_%s_service_dialers" % role,
                           'service="%s"' % service)

    def wait_dialers(self, name, role, service, want):
        """Wait for the gauge; return the seconds it took."""
        t0 = time.time()
        wait_for(lambda: self.dialers(name, role, service) == want,
                 timeout=10 * INTERVAL + 10,
                 what="%s dialers of %s = %d (got %s)\n%s" % (
                     name, service, want,
                     self.dialers(name, role, service), self.text(name)))
        return time.time() - t0

    def submit(self, tags):
        for tag in tags:
            body = ("From: <s@client.test>\r\nTo: <r@relay.test>\r\n"
                    "Subject: %s\r\nMessage-ID: <%s@client.test>\r\n\r\n"
                    "body\r\n" % (tag, tag))
            with smtplib.SMTP("127.0.0.1", self.smtpd_port, timeout=60) as s:
                s.sendmail("s@client.test", ["r@relay.test"], body)

    def delivered(self):
        out = set()
        for f in self.sink.settled(timeout=1.0):
            with open(f, "rb") as fh:
                m = MSGID_RE.search(fh.read(8192))
            if m:
                out.add(m.group(1).decode())
        return out

    def wait_delivered(self, tags):
        want = set("<%s@client.test>" % t for t in tags)
        wait_for(lambda: want <= self.delivered(), timeout=60,
                 what="%d messages at the sink (missing %s)\n%s" % (
                     len(want), sorted(want - self.delivered())[:5],
                     self.logs()))

    def logs(self):
        return "\n".join("---- %s ----\n%s" % (n, s.text()[-2500:])
                         for n, (s, _) in self.inst.items())

    def got(self, name, tags):
        """How many of tags the cleanup logged (message-id=)."""
        t = self.text(name)
        return sum(1 for x in tags if "message-id=<%s@client.test>" % x in t)

    def claims(self, name):
        return self.text(name).count("(queue active)")

    # tests, in order

    def test_1_both_instances_used(self):
        tags = ["both-%d" % i for i in range(20)]
        self.submit(tags)
        self.wait_delivered(tags)
        a, b = self.got("cleanup-a", tags), self.got("cleanup-b", tags)
        self.assertEqual(a + b, 20)
        self.assertGreater(a, 0, "cleanup-a got nothing")
        self.assertGreater(b, 0, "cleanup-b got nothing")
        self.assertGreater(self.claims("qmgr-a"), 0, "qmgr-a took nothing")
        self.assertGreater(self.claims("qmgr-b"), 0, "qmgr-b took nothing")
        self.assertEqual(self.dialers("smtpd-dns", "smtpd", "cleanup"), 2)
        self.assertEqual(self.dialers("smtp-dns", "smtp", "qmgr"), 2)

    def test_2_cleanup_address_removed(self):
        self.dns.set("cleanup.mesh.test", [ADDRS[1]])
        took = self.wait_dialers("smtpd-dns", "smtpd", "cleanup", 1)
        print("\ncleanup address removed from DNS: dialer closed after "
              "%.1fs (interval %ds)" % (took, INTERVAL))
        self.assertIn("cleanup_service: tcp://%s:%d: address gone"
                      % (ADDRS[0], self.cport), self.text("smtpd-dns"))
        tags = ["after-rm-%d" % i for i in range(10)]
        self.submit(tags)
        self.wait_delivered(tags)
        self.assertEqual(self.got("cleanup-a", tags), 0,
                         "the removed cleanup still got mail")
        self.assertEqual(self.got("cleanup-b", tags), 10)

    def test_3_cleanup_address_added(self):
        self.start_cleanup("c", ADDRS[2])
        self.dns.set("cleanup.mesh.test", ADDRS[1:])
        took = self.wait_dialers("smtpd-dns", "smtpd", "cleanup", 2)
        print("\ncleanup address added to DNS: dialing after %.1fs" % took)
        self.assertIn("cleanup_service: tcp://%s:%d: address added"
                      % (ADDRS[2], self.cport), self.text("smtpd-dns"))
        tags = ["after-add-%d" % i for i in range(20)]
        self.submit(tags)
        self.wait_delivered(tags)
        self.assertGreater(self.got("cleanup-c", tags), 0,
                           "the added cleanup got nothing")

    def test_4_qmgr_address_removed(self):
        self.dns.set("qmgr.mesh.test", [ADDRS[0]])
        took = self.wait_dialers("smtp-dns", "smtp", "qmgr", 1)
        print("\nqmgr address removed from DNS: fetcher and dialer gone "
              "after %.1fs" % took)
        log = self.text("smtp-dns")
        self.assertIn("qmgr_service: tcp://%s:%d: address gone"
                      % (ADDRS[1], self.qport), log)
        self.assertIn("no longer fetching from tcp://%s:%d"
                      % (ADDRS[1], self.qport), log)
        # the pod behind it goes away; mail goes through qmgr-a
        self.inst["qmgr-b"][0].stop()
        tags = ["qrm-%d" % i for i in range(10)]
        self.submit(tags)
        self.wait_delivered(tags)

    def test_5_qmgr_address_added(self):
        self.start_qmgr("c", ADDRS[2])
        before = self.claims("qmgr-c")
        self.dns.set("qmgr.mesh.test", [ADDRS[0], ADDRS[2]])
        took = self.wait_dialers("smtp-dns", "smtp", "qmgr", 2)
        print("\nqmgr address added to DNS: fetching after %.1fs" % took)
        tags = ["qadd-%d" % i for i in range(20)]
        self.submit(tags)
        self.wait_delivered(tags)
        self.assertGreater(self.claims("qmgr-c"), before,
                           "qmgr-c took no message (or they are stuck)")

    def test_6_dns_outage_keeps_dialers(self):
        self.dns.stop()
        try:
            wait_for(lambda: "cannot resolve cleanup.mesh.test" in
                     self.text("smtpd-dns"), timeout=10 * INTERVAL + 10,
                     what="the resolution failure logged")
            time.sleep(4 * INTERVAL)  # several failed lookups
            self.assertEqual(self.text("smtpd-dns").count(
                "cannot resolve cleanup.mesh.test"), 1, "logged more than "
                "once per outage")
            self.assertEqual(self.dialers("smtpd-dns", "smtpd", "cleanup"),
                             2)
            self.assertEqual(self.dialers("smtp-dns", "smtp", "qmgr"), 2)
            tags = ["dnsdown-%d" % i for i in range(10)]
            self.submit(tags)
            self.wait_delivered(tags)
        finally:
            self.dns.start()
        wait_for(lambda: "cleanup.mesh.test resolves again" in
                 self.text("smtpd-dns"), timeout=10 * INTERVAL + 10,
                 what="resolves again")
        self.assertEqual(self.dialers("smtpd-dns", "smtpd", "cleanup"), 2)

    def test_7_tls_name_checked_not_address(self):
        tport = shared_port([TLS_ADDR])
        tls = {"internal_tls_ca_file": os.path.join(self.certs, "ca.pem"),
               "internal_tls_cert_file": os.path.join(self.certs,
                                                      "mesh.pem")}
        self.start_inst("cleanup-tls", "cleanup", dict(tls, **{
            "cleanup_listen": "tls+tcp://%s:%d" % (TLS_ADDR, tport)}))
        codes = {}
        for name in ("postmesh-internal", "not-the-name"):
            port = free_port()
            self.start_inst("smtpd-" + name, "smtpd", dict(tls, **{
                "smtpd_listen": "127.0.0.1:%d" % port,
                "smtpd_cleanup_timeout": "5s",
                "internal_tls_server_name": name,
                "cleanup_service": "tls+tcp://tls.mesh.test:%d" % tport,
            }), resolving=True)
            body = ("From: <s@client.test>\r\nTo: <r@relay.test>\r\n"
                    "Message-ID: <tls-%s@client.test>\r\n\r\nbody\r\n"
                    % name)
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
                c.ehlo("client.test")
                c.mail("s@client.test")
                c.rcpt("r@relay.test")
                codes[name] = c.data(body)[0]
            self.assertIn("cleanup_service: tls+tcp://%s:%d: address added"
                          % (TLS_ADDR, tport),
                          self.text("smtpd-" + name))
        self.assertEqual(codes["postmesh-internal"], 250, codes)
        self.assertEqual(codes["not-the-name"], 451, codes)
        log = self.text("cleanup-tls")
        self.assertIn("message-id=<tls-postmesh-internal@client.test>", log)
        self.assertNotIn("message-id=<tls-not-the-name@client.test>", log)


if __name__ == "__main__":
    unittest.main()
