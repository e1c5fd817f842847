"""mesh: the processes of the cluster test (tests/cluster/cluster.py).

Runs inside the network namespace made by run.sh, so addresses and
ports are fixed: every instance has its own loopback address (all of
127/8 is local on the namespace's lo). What it starts, each a real
program from Debian or from $PM_BIN, stopped by PID:

- dnsmasq on 127.0.0.1:53 answering the mesh's names from a hosts file
  (cleanup.pm.test names both cleanups, and so on), the namespace's
  only resolver;
- Redis: a primary and a replica, both durable (appendonly, appendfsync
  always) with an ACL file (the default user off, user postmesh with a
  password), and three Sentinels (quorum 2) watching them;
- the mesh CA and one certificate per role (scripts/internal-tls-certs.sh),
  plus a foreign CA's certificate for an intruder;
- Postmesh: 2 smtpd, 2 cleanup, 2 rewrite, 2 qmgr, 3 smtp, 2 bounce, one
  main.cf for all, each instance's own addresses and name in its
  environment (POSTMESH_<name>), internal traffic on tls+tcp://;
- smtp-sink, dumping every transaction into a file.
"""

import os
import signal
import subprocess
import time
import urllib.request

import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.abspath(os.path.join(ROOT, os.environ.get("PM_BIN",
                                                        "build/bin")))
CERTS = os.path.join(ROOT, "scripts", "internal-tls-certs.sh")

PASS = "Cluster-Te5t-Pa55"
MASTER = "pmq"
DOMAIN = "pm.test"
SINK = ("127.0.3.1", 25)

# role -> (instances, nng port or None); instance i of a role has the
# address 127.0.1.<base + i>
ROLES = {
    "rewrite": (2, 10010, 20),
    "cleanup": (2, 10025, 10),
    "bounce": (2, 10040, 40),
    "qmgr": (2, 10030, 30),
    "smtp": (3, None, 50),
    "smtpd": (2, None, 0),
}
START_ORDER = ("rewrite", "cleanup", "bounce", "qmgr", "smtp", "smtpd")
METRICS_PORT = 9100
SMTP_PORT = 2525
REDIS = ("127.0.2.1", "127.0.2.2")
SENTINELS = ("127.0.2.11", "127.0.2.12", "127.0.2.13")
SENTINEL_PORT = 26379


def wait_for(pred, timeout, what, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return
        except (OSError, redis.exceptions.RedisError):
            pass
        time.sleep(interval)
    raise RuntimeError("timed out waiting for " + what)


class Proc:
    """One process, logging into a file, stopped by PID."""

    def __init__(self, name, args, log, env=None):
        self.name, self.args, self.log, self.env = name, args, log, env
        self.proc = None

    def start(self):
        e = dict(os.environ)
        e.update(self.env or {})
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out,
                                         stderr=subprocess.STDOUT, env=e)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc, self.proc = self.proc.returncode, None
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


class Instance(Proc):
    """One Postmesh service instance."""

    def __init__(self, role, idx, conf, logdir, env):
        self.role, self.idx = role, idx
        self.addr = "127.0.1.%d" % (ROLES[role][2] + idx)
        name = "%s-%d" % (role, idx)
        super().__init__(name, [os.path.join(BIN, role), "-c", conf],
                         os.path.join(logdir, name + ".log"), env)

    def metrics_url(self, path):
        return "http://%s:%d%s" % (self.addr, METRICS_PORT, path)

    def ready(self):
        if self.role == "smtpd":
            import socket
            with socket.create_connection((self.addr, SMTP_PORT), 0.5):
                return True
        with urllib.request.urlopen(self.metrics_url("/readyz"),
                                    timeout=1) as r:
            return r.status == 200

    def wait_ready(self, timeout=60):
        def ok():
            if not self.alive():
                raise RuntimeError("%s exited:\n%s" % (self.name,
                                                       self.text()[-3000:]))
            return self.ready()
        wait_for(ok, timeout, self.name + " ready")

    def metric(self, name):
        """Sum of a metric's samples (0 when absent)."""
        with urllib.request.urlopen(self.metrics_url("/metrics"),
                                    timeout=5) as r:
            text = r.read().decode()
        total = 0.0
        for ln in text.splitlines():
            if ln.startswith(name) and ln[len(name):len(name) + 1] in " {":
                total += float(ln.rsplit(" ", 1)[1])
        return total


class Mesh:
    def __init__(self, tmp):
        self.tmp = tmp
        self.logdir = os.path.join(tmp, "log")
        os.makedirs(self.logdir)
        self.procs = []
        self.redis = {}
        self.sentinels = []
        self.inst = {}

    # ---- DNS ----

    def start_dns(self):
        hosts = os.path.join(self.tmp, "pm.hosts")
        with open(hosts, "w") as f:
            for role, (n, _port, base) in ROLES.items():
                for i in range(1, n + 1):
                    f.write("127.0.1.%d %s.%s\n" % (base + i, role, DOMAIN))
            for i, a in enumerate(REDIS):
                f.write("%s redis-%d.%s\n" % (a, i + 1, DOMAIN))
            for i, a in enumerate(SENTINELS):
                f.write("%s sentinel.%s\n" % (a, DOMAIN))
        p = Proc("dnsmasq", ["dnsmasq", "-k", "--conf-file=/dev/null",
                             "--no-resolv", "--no-hosts", "--user=root",
                             "--addn-hosts=" + hosts, "--local-ttl=1",
                             "--listen-address=127.0.0.1",
                             "--bind-interfaces", "--port=53",
                             "--pid-file=" + os.path.join(self.tmp,
                                                          "dnsmasq.pid")],
                 os.path.join(self.logdir, "dnsmasq.log")).start()
        self.procs.append(p)
        import socket
        wait_for(lambda: len(socket.getaddrinfo("cleanup." + DOMAIN, 1,
                                                socket.AF_INET,
                                                socket.SOCK_STREAM)) == 2,
                 15, "dnsmasq")

    # ---- certificates ----

    def make_certs(self):
        self.certs = os.path.join(self.tmp, "certs")
        subprocess.run([CERTS, self.certs] + list(ROLES), check=True)
        subprocess.run([CERTS, os.path.join(self.certs, "foreign"),
                        "intruder"], check=True)

    # ---- Redis, replica, Sentinel ----

    def redis_conf(self, i, addr):
        d = os.path.join(self.tmp, "redis-%d" % i)
        os.makedirs(d, exist_ok=True)
        acl = os.path.join(d, "users.acl")
        with open(acl, "w") as f:
            # not "user default off": Redis 7.0 then drops the MULTI/EXEC
            # blocks of its append file at a restart (docs/operations.md)
            f.write("user default on >%s-admin ~* &* +@all\n"
                    "user postmesh on >%s ~* &* +@all\n" % (PASS, PASS))
        conf = os.path.join(d, "redis.conf")
        lines = ["bind %s" % addr, "port 6379", "dir %s" % d,
                 "appendonly yes", "appendfsync always", 'save ""',
                 "maxmemory-policy noeviction", "aclfile %s" % acl,
                 "masteruser postmesh", "masterauth %s" % PASS,
                 "logfile %s" % os.path.join(d, "redis.log"),
                 # the namespace's lo gives every outgoing connection the
                 # source 127.0.0.1: say which address is ours
                 "replica-announce-ip %s" % addr]
        if i > 0:
            lines.append("replicaof %s 6379" % REDIS[0])
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return conf

    def redis_client(self, addr, port=6379, **kw):
        return redis.Redis(host=addr, port=port, username="postmesh",
                           password=PASS, socket_timeout=5, **kw)

    def start_redis(self, addr):
        i = REDIS.index(addr)
        conf = self.redis_conf(i, addr) if addr not in self.redis else \
            os.path.join(self.tmp, "redis-%d" % i, "redis.conf")
        p = Proc("redis-%d" % (i + 1), ["redis-server", conf],
                 os.path.join(self.logdir, "redis-%d.out" % (i + 1)))
        self.redis[addr] = p.start()

        def loaded():
            return self.redis_client(addr).ping()
        wait_for(loaded, 120, "redis %s" % addr)

    def start_sentinels(self):
        for i, addr in enumerate(SENTINELS):
            d = os.path.join(self.tmp, "sentinel-%d" % (i + 1))
            os.makedirs(d)
            conf = os.path.join(d, "sentinel.conf")
            with open(conf, "w") as f:
                f.write("\n".join([
                    "bind %s" % addr, "port %d" % SENTINEL_PORT,
                    "sentinel announce-ip %s" % addr,
                    "dir %s" % d,
                    "sentinel monitor %s %s 6379 2" % (MASTER, REDIS[0]),
                    "sentinel down-after-milliseconds %s 5000" % MASTER,
                    "sentinel failover-timeout %s 20000" % MASTER,
                    "sentinel auth-user %s postmesh" % MASTER,
                    "sentinel auth-pass %s %s" % (MASTER, PASS),
                    "logfile %s" % os.path.join(d, "sentinel.log"),
                ]) + "\n")
            p = Proc("sentinel-%d" % (i + 1), ["redis-sentinel", conf],
                     os.path.join(self.logdir, "sentinel-%d.out" % (i + 1)))
            self.sentinels.append(p.start())
        for addr in SENTINELS:
            wait_for(lambda a=addr: self.sentinel(a).sentinel_master(
                MASTER)["num-other-sentinels"] == 2, 60, "sentinels")

    def sentinel(self, addr=SENTINELS[0]):
        return redis.Redis(host=addr, port=SENTINEL_PORT, socket_timeout=5,
                           decode_responses=True)

    def primary(self):
        """The primary's address as the sentinels report it."""
        for a in SENTINELS:
            try:
                host, _port = self.sentinel(a).sentinel_get_master_addr_by_name(
                    MASTER)
                return host
            except (redis.exceptions.RedisError, TypeError):
                continue
        raise RuntimeError("no sentinel answers")

    def r(self):
        return self.redis_client(self.primary(), decode_responses=True)

    # ---- Postmesh ----

    def write_main_cf(self, extra):
        self.conf = os.path.join(self.tmp, "etc")
        os.makedirs(self.conf)
        pw = os.path.join(self.tmp, "redis-password")
        with open(pw, "w") as f:
            f.write(PASS + "\n")
        os.chmod(pw, 0o600)
        params = {
            "myhostname": "mx.pm.test",
            "mydomain": "pm.test",
            "mydestination": "$myhostname, localhost",
            "relay_domains": "relay.test",
            "transport_maps": "inline:{relay.test=smtp:[%s]:%d}" % SINK,
            "redis_user": "postmesh",
            "redis_password_file": pw,
            "queue_durability": "replica",
            "internal_tls_ca_file": os.path.join(self.certs, "ca.pem"),
            "internal_tls_server_name": "postmesh-internal",
        }
        for role, (_n, port, _b) in ROLES.items():
            if port:
                params[role + "_service"] = "tls+tcp://%s.%s:%d" % (
                    role, DOMAIN, port)
        params.update(extra)
        self.params = params
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write("# main.cf of tests/cluster (every instance)\n")
            for k, v in params.items():
                f.write("%s = %s\n" % (k, v))

    def instance_env(self, role, addr, idx):
        env = {
            "POSTMESH_service_instance_name": "%s-%d" % (role, idx),
            "POSTMESH_internal_tls_cert_file": os.path.join(
                self.certs, role + ".pem"),
            "POSTMESH_%s_metrics_listen" % role: "http://%s:%d" % (
                addr, METRICS_PORT),
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
        }
        port = ROLES[role][1]
        if port:
            env["POSTMESH_%s_listen" % role] = "tls+tcp://%s:%d" % (addr,
                                                                    port)
        if role == "smtpd":
            env["POSTMESH_smtpd_listen"] = "%s:%d" % (addr, SMTP_PORT)
        return env

    def start_postmesh(self):
        for role in START_ORDER:
            n = ROLES[role][0]
            for i in range(1, n + 1):
                addr = "127.0.1.%d" % (ROLES[role][2] + i)
                inst = Instance(role, i, self.conf, self.logdir,
                                self.instance_env(role, addr, i))
                self.inst[inst.name] = inst.start()
        for inst in self.inst.values():
            inst.wait_ready()

    def smtpd_addrs(self):
        return [i.addr for i in self.inst.values() if i.role == "smtpd"]

    def stop(self):
        for inst in reversed(list(self.inst.values())):
            inst.kill(signal.SIGTERM)
        for p in self.sentinels + list(self.redis.values()) + self.procs:
            p.kill(signal.SIGTERM)

    def logs(self):
        return {n: i.text() for n, i in self.inst.items()}
