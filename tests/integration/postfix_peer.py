"""postfix_peer: a private Postfix as the peer of Postmesh's smtp client.

NAME
    postfix_peer - a throw-away Postfix instance and a recording TCP relay
SUMMARY
    pf = Postfix(workdir, port, listeners={"plain": ("127.0.0.1", {}),
                 "defer": ("127.0.0.2", {"smtpd_recipient_restrictions":
                 "defer"})}, relay_port=sink.port).start()
    proxy = RecordingProxy(("127.0.0.1", port)).start()
DESCRIPTION
    Postfix: the stock Debian Postfix (3.7) as root, with its own
    config_directory, queue_directory and data_directory under the
    test's directory, set up the way scripts/bench.sh sets up its
    private instance: no chroot, no local delivery, everything relayed
    to relay_port (an smtp-sink), logging through postlogd into
    <dir>/maillog. Each listener is one smtpd line in master.cf on
    host:port (one port for all, so that MX hosts on several loopback
    addresses share smtp_tcp_port) with its own "-o" overrides and its
    own syslog_name (log lines read "postfix/<listener>/smtpd[pid]").
    Every smtpd has smtpd_forbid_unauth_pipelining = yes (a client that
    pipelines where RFC 2920 does not allow it is disconnected and
    logged) and debug_peer_list = 127.0.0.0/8 (every command received
    and every reply sent is logged: "< unknown[127.0.0.1]: RCPT TO:...").
    start() runs "postfix check" once (it creates the queue), then the
    master daemon in the foreground (master -s); stop() sends SIGTERM to
    that PID (master passes it on to its children) and waits until no
    listener answers any more. start() after stop() starts the same
    instance again.

    RecordingProxy: a TCP relay (threads of the test process) between
    the smtp client and a server. For every connection it records the
    chunks in the order it forwarded them, each with a monotonic time;
    server data is recorded before it is passed on, so any client data
    recorded before a server reply was sent before the client could
    have seen that reply. commands_before_reply() tells whether the
    client pipelined; transactions() gives the time of every MAIL FROM
    and of the reply to its end of data (for concurrency).
LIMITS
    Needs root (Postfix's master) and Debian's postfix package; fails
    (never skips) otherwise. One port for all listeners.
SECURITY
    Test code: listens on loopback only.
"""

import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time

from peers import _open_dir, _stop_proc, wait_tcp

POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

MASTER_CF_TAIL = """\
pickup     unix  n - n 60    1 pickup
cleanup    unix  n - n -     0 cleanup
qmgr       unix  n - n 300   1 qmgr
rewrite    unix  - - n -     - trivial-rewrite
bounce     unix  - - n -     0 bounce
defer      unix  - - n -     0 bounce
trace      unix  - - n -     0 bounce
verify     unix  - - n -     1 verify
proxymap   unix  - - n -     - proxymap
smtp       unix  - - n -     - smtp
relay      unix  - - n -     - smtp
error      unix  - - n -     - error
retry      unix  - - n -     - error
discard    unix  - - n -     - discard
anvil      unix  - - n -     1 anvil
scache     unix  - - n -     1 scache
showq      unix  n - n -     - showq
postlog    unix-dgram n - n - 1 postlogd
"""


def _postconf_default(name):
    return subprocess.run([POSTCONF, "-dh", name], check=True,
                          stdout=subprocess.PIPE).stdout.decode().strip()


class Postfix:
    """A private Postfix instance: smtpd listeners relaying to a sink."""

    def __init__(self, workdir, port, listeners, relay_port, params=None,
                 name="postfix"):
        self.dir = os.path.join(workdir, name)
        self.port = port
        self.listeners = dict(listeners)
        self.relay_port = relay_port
        self.params = dict(params or {})
        self.proc = None
        self.checked = False
        self.maillog = os.path.join(self.dir, "maillog")

    def _write_config(self):
        d = self.dir
        etc = os.path.join(d, "etc")
        for sub in ("etc", "queue"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        _open_dir(d, 0o755)
        data = os.path.join(d, "data")
        os.makedirs(data, exist_ok=True)
        shutil.chown(data, "postfix", "postfix")
        main = {
            "compatibility_level": "3.6",
            "config_directory": etc,
            "queue_directory": os.path.join(d, "queue"),
            "data_directory": data,
            "meta_directory": _postconf_default("meta_directory"),
            "daemon_directory": _postconf_default("daemon_directory"),
            "command_directory": _postconf_default("command_directory"),
            "shlib_directory": _postconf_default("shlib_directory"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "pf.peer.test",
            "mydomain": "peer.test",
            "mydestination": "",
            "local_recipient_maps": "",
            "local_transport": "error:local delivery disabled",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "[127.0.0.1]:%d" % self.relay_port,
            "smtpd_peername_lookup": "no",
            "smtpd_forbid_unauth_pipelining": "yes",
            "debug_peer_list": "127.0.0.0/8",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "maillog_file": self.maillog,
            "maillog_file_prefixes": d,
            "biff": "no",
        }
        main.update(self.params)
        with open(os.path.join(etc, "main.cf"), "w") as f:
            f.write("# private peer written by tests/integration/"
                    "postfix_peer.py\n")
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(etc, "master.cf"), "w") as f:
            for lname, (host, opts) in self.listeners.items():
                o = {"syslog_name": "postfix/" + lname}
                o.update(opts)
                args = " ".join("-o { %s = %s }" % kv for kv in o.items())
                f.write("%s:%d inet n - n - - smtpd %s\n"
                        % (host, self.port, args))
            f.write(MASTER_CF_TAIL)
        return etc

    def start(self):
        if os.geteuid() != 0:
            raise RuntimeError("a private Postfix needs root")
        etc = os.path.join(self.dir, "etc")
        if not self.checked:
            etc = self._write_config()
            p = subprocess.run([POSTFIX, "-c", etc, "check"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if p.returncode != 0:
                raise RuntimeError("postfix check: %s" % p.stdout.decode())
            self.checked = True
        master = os.path.join(_postconf_default("daemon_directory"),
                              "master")
        out = open(os.path.join(self.dir, "master.out"), "ab")
        self.proc = subprocess.Popen([master, "-c", etc, "-s"], stdout=out,
                                     stderr=subprocess.STDOUT)
        out.close()
        for host, _opts in self.listeners.values():
            wait_tcp(host, self.port, proc=self.proc, what="postfix master")
        return self

    def stop(self, timeout=10.0):
        """SIGTERM to the master (it passes it on to its children), then
        wait until no listener answers: an idle smtpd child holds the
        listening socket until it has exited too."""
        rc = _stop_proc(self.proc)
        self.proc = None
        deadline = time.time() + timeout
        for host, _opts in self.listeners.values():
            while time.time() < deadline:
                try:
                    with socket.create_connection((host, self.port),
                                                  timeout=0.5):
                        pass
                except OSError:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("postfix: %s:%d still answers after "
                                   "stop" % (host, self.port))
        return rc

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def lines(self, *patterns):
        """Log lines containing every pattern."""
        return [ln for ln in self.log().splitlines()
                if all(p in ln for p in patterns)]

    def wait_lines(self, *patterns, count=1, timeout=20.0):
        """Wait (postlogd writes asynchronously) for count lines."""
        deadline = time.time() + timeout
        got = self.lines(*patterns)
        while len(got) < count and time.time() < deadline:
            time.sleep(0.1)
            got = self.lines(*patterns)
        return got

    def session(self, listener, pid):
        """Log lines of one smtpd process of one listener."""
        tag = "postfix/%s/smtpd[%s]:" % (listener, pid)
        return [ln for ln in self.log().splitlines() if tag in ln]


class _Conn:
    def __init__(self, cid):
        self.id = cid
        self.events = []        # (monotonic time, "c" or "s", bytes)
        self.closed = False

    def stream(self, who):
        return b"".join(d for _t, w, d in self.events if w == who)


class RecordingProxy:
    """A TCP relay that records what passed, in the order it passed."""

    def __init__(self, upstream, host="127.0.0.1", port=None):
        from pmtest import free_port
        self.upstream = upstream
        self.host = host
        self.port = port or free_port(host)
        self.conns = []
        self.lock = threading.Lock()
        self.lsock = None
        self.threads = []
        self.stopping = False

    def start(self):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((self.host, self.port))
        self.lsock.listen(128)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                conn = _Conn(len(self.conns))
                self.conns.append(conn)
            t = threading.Thread(target=self._relay, args=(c, conn),
                                 daemon=True)
            t.start()
            with self.lock:
                self.threads.append(t)

    def _record(self, conn, who, data):
        with self.lock:
            conn.events.append((time.monotonic(), who, data))

    def _relay(self, c, conn):
        try:
            s = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            c.close()
            conn.closed = True
            return
        peer = {c: s, s: c}
        try:
            while not self.stopping:
                r, _, _ = select.select([c, s], [], [], 0.2)
                # server first: its data is recorded before the client's
                # data of the same round, never after it
                for sock in sorted(r, key=lambda x: x is c):
                    data = sock.recv(65536)
                    if not data:
                        return
                    self._record(conn, "c" if sock is c else "s", data)
                    peer[sock].sendall(data)
        except OSError:
            return
        finally:
            conn.closed = True
            c.close()
            s.close()

    def stop(self):
        self.stopping = True
        if self.lsock is not None:
            self.lsock.close()
        for t in list(self.threads):
            t.join(2)
        return 0

    def connections(self):
        with self.lock:
            return list(self.conns)

    @staticmethod
    def commands_before_reply(conn, command, nreply):
        """Did the client send command (e.g. b"RCPT TO:") before the
        nreply-th server reply (1 = the greeting) was passed on to it?
        None if the command never came. (Streams are searched as a
        whole: a command split over two reads counts when complete.)"""
        sent = b""
        seen = b""
        replies = 0
        for _t, who, data in conn.events:
            if who == "s":
                seen += data
                replies = sum(1 for ln in seen.split(b"\r\n")[:-1]
                              if len(ln) >= 3 and ln[3:4] != b"-")
            else:
                sent += data
                if command in sent:
                    return replies < nreply
        return None

    @staticmethod
    def transactions(conn):
        """[(start, end)]: the time the client sent each MAIL FROM and the
        time the server's "queued as" reply for it passed (end None while
        it has not)."""
        starts, ends = [], []
        sent = seen = b""
        for t, who, data in conn.events:
            if who == "c":
                sent += data
                starts += [t] * (sent.count(b"MAIL FROM:") - len(starts))
            else:
                seen += data
                ends += [t] * (seen.count(b"queued as") - len(ends))
        return [(st, ends[i] if i < len(ends) else None)
                for i, st in enumerate(starts)]
