#!/usr/bin/env bash
# make bench-postscreen: one postscreen holding IDLE idle connections
# (issue 10: 2,000 with RSS under 200 MB).
#
# Part "tests": IDLE clients connect and stay silent during a long
# postscreen_greet_wait (the pregreet test; no access list, no DNSBL):
# every connection is a psc_conn, a bufferevent and a timer.
# Part "proxied": IDLE clients from mynetworks (allowlisted) are handed
# off at once to a small holder (a Python server that reads the PROXY
# header and sends a 220): each connection is then two sockets and two
# bufferevents in postscreen.
# For each part: postscreen's VmRSS (/proc) before, while holding all
# connections, and after they closed. Exit 1 if a connection failed or
# the RSS while holding is MAX_MB or more.
#
# Environment: IDLE [2000] MAX_MB [200] PM_BIN [build/bin] KEEP_TMP []
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
: "${IDLE:=2000}" "${MAX_MB:=200}" "${PM_BIN:=$TOP/build/bin}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
[ -x "$PM_BIN/postscreen" ] || { echo "bench-postscreen: $PM_BIN/postscreen missing (make bins)" >&2; exit 1; }
# each idle connection is one socket here, one or two in postscreen
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nofile" -gt 65536 ] && nofile=65536
ulimit -n "$nofile"
T=$(mktemp -d /tmp/bench-psc.XXXXXX)
cleanup() {
	[ -n "${KEEP_TMP:-}" ] && { echo "kept $T"; return; }
	rm -rf "$T"
}
trap cleanup EXIT
export IDLE MAX_MB PM_BIN T
exec "$PY" - <<'PYEOF'
import os, socket, subprocess, sys, time, threading, selectors

sys.path.insert(0, "tests/integration")
from pmtest import RedisServer, free_port, wait_port

IDLE, MAX_MB = int(os.environ["IDLE"]), int(os.environ["MAX_MB"])
T, BIN = os.environ["T"], os.environ["PM_BIN"]

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0

class Holder(threading.Thread):
    """Accepts proxied connections, reads the PROXY header, sends 220."""
    def __init__(self):
        super().__init__(daemon=True)
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4096)
        self.port = self.ls.getsockname()[1]
        self.conns = []
    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.ls, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                if key.fileobj is self.ls:
                    s, _ = self.ls.accept()
                    s.setblocking(False)
                    self.conns.append(s)
                    sel.register(s, selectors.EVENT_READ)
                    try:
                        s.send(b"220 holder ESMTP\r\n")
                    except OSError:
                        pass
                else:
                    try:
                        d = key.fileobj.recv(4096)
                    except OSError:
                        d = b""
                    if not d:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()

def run_part(name, redis, holder, params):
    conf = os.path.join(T, name)
    os.makedirs(conf, exist_ok=True)
    port, mport = free_port(), free_port()
    p = {
        "redis_server": redis.addr,
        "postscreen_listen": "127.0.0.1:%d" % port,
        "postscreen_metrics_listen": "http://127.0.0.1:%d" % mport,
        "postscreen_smtpd_service": "127.0.0.1:%d" % holder.port,
        "postscreen_client_connection_count_limit": "0",
        "postscreen_pre_queue_limit": str(IDLE + 100),
        "postscreen_connection_limit": str(IDLE + 100),
    }
    p.update(params)
    with open(os.path.join(conf, "main.cf"), "w") as f:
        for k, v in p.items():
            f.write("%s = %s\n" % (k, v))
    log = open(os.path.join(T, name + ".log"), "wb")
    proc = subprocess.Popen([os.path.join(BIN, "postscreen"), "-c", conf],
                            stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, proc=proc)
    time.sleep(0.3)
    before = rss_kb(proc.pid)
    socks, failed = [], 0
    t0 = time.time()
    for i in range(IDLE):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
        except OSError:
            failed += 1
    # every client got its first line (postscreen's 220- or the holder's 220)
    for s in socks:
        try:
            if not s.recv(512).startswith(b"220"):
                failed += 1
        except OSError:
            failed += 1
    held_s = time.time() - t0
    time.sleep(1)
    holding = rss_kb(proc.pid)
    for s in socks:
        s.close()
    time.sleep(2)
    after = rss_kb(proc.pid)
    proc.terminate()
    proc.wait(20)
    print("%-8s %5d connections held in %.1fs, failed %d; postscreen VmRSS: "
          "before %.1f MB, holding %.1f MB (%.1f KB/connection), after %.1f MB"
          % (name, len(socks), held_s, failed, before / 1024, holding / 1024,
             (holding - before) / max(1, len(socks)), after / 1024))
    return failed == 0 and holding < MAX_MB * 1024

redis = RedisServer(T)
redis.start()
holder = Holder()
holder.start()
ok = True
try:
    ok &= run_part("tests", redis, holder, {
        "postscreen_access_list": "", "postscreen_greet_wait": "600s"})
    ok &= run_part("proxied", redis, holder, {
        "postscreen_access_list": "permit_mynetworks"})
finally:
    redis.stop()
print("bench-postscreen: %s (limit %d MB)" % ("ok" if ok else "FAILED", MAX_MB))
sys.exit(0 if ok else 1)
PYEOF
