#!/usr/bin/env bash
# make bench-memory: peak memory of the receiving path under big messages.
#
# Starts a private redis-server (appendonly yes, appendfsync always, as
# queue_durability = fsync wants) and rewrite, cleanup and smtpd with
# their default content budgets (smtpd_content_memory_limit,
# cleanup_content_memory_limit) unless given; then SESSIONS clients
# (Python threads, raw sockets) each open a session, all wait at the 354
# of DATA, and all send one message of SIZE octets at once. A sampler
# reads VmRSS and VmHWM of smtpd, cleanup and redis-server from /proc
# every 0.1 s. Prints the replies by code (250, 451 4.3.1, other), the
# time, the peak RSS per process (VmHWM: the kernel's high-water mark,
# so nothing between two samples is missed) and how many of the 451s
# came from cleanup's budget rather than smtpd's.
#
# Environment: SESSIONS [200] SIZE [10000000] PM_BIN [build/bin]
#              SMTPD_LIMIT, CLEANUP_LIMIT (bytes; default: the built-in)
#              MSG_LIMIT [10240000] (message_size_limit)
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
: "${SESSIONS:=200}" "${SIZE:=10000000}" "${MSG_LIMIT:=10240000}"
: "${PM_BIN:=$TOP/build/bin}"

T=$(mktemp -d -t pm-bigmsg.XXXXXX)
PIDS=()
finish() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 1
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap finish EXIT

free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
	echo "bench-bigmsg: nothing on port $1" >&2; return 1
}

RP=$(free_port); SP=$(free_port); CP=$(free_port); WP=$(free_port)
mkdir -p "$T/etc" "$T/redis"
cat > "$T/etc/main.cf" <<CONF
myhostname = mta.bench.example
mydomain = bench.example
mynetworks = 127.0.0.0/8
redis_server = 127.0.0.1:$RP
smtpd_listen = 127.0.0.1:$SP
cleanup_listen = tcp://127.0.0.1:$CP
cleanup_service = tcp://127.0.0.1:$CP
rewrite_listen = tcp://127.0.0.1:$WP
rewrite_service = tcp://127.0.0.1:$WP
smtpd_metrics_listen =
cleanup_metrics_listen =
rewrite_metrics_listen =
message_size_limit = $MSG_LIMIT
CONF
[ -n "${SMTPD_LIMIT:-}" ] && echo "smtpd_content_memory_limit = $SMTPD_LIMIT" >> "$T/etc/main.cf"
[ -n "${CLEANUP_LIMIT:-}" ] && echo "cleanup_content_memory_limit = $CLEANUP_LIMIT" >> "$T/etc/main.cf"

redis-server --port "$RP" --bind 127.0.0.1 --dir "$T/redis" --appendonly yes \
	--appendfsync always --save "" --maxmemory-policy noeviction \
	--logfile "$T/redis.log" >/dev/null &
RPID=$!
PIDS+=("$RPID")
for _ in $(seq 100); do redis-cli -p "$RP" ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
for s in rewrite cleanup smtpd; do
	"$PM_BIN/$s" -c "$T/etc" > "$T/$s.log" 2>&1 &
	PIDS+=($!)
	eval "${s}_pid=$!"
done
wait_port "$SP"
sleep 1

# shellcheck disable=SC2154 # set by eval above
/usr/bin/python3 - "$SP" "$SESSIONS" "$SIZE" "$smtpd_pid" "$cleanup_pid" "$RPID" <<'PY'
import socket, sys, threading, time

port, sessions, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
procs = {"smtpd": sys.argv[4], "cleanup": sys.argv[5], "redis-server": sys.argv[6]}

head = (b"From: <bench@example.com>\r\nTo: <rcpt@example.net>\r\n"
        b"Subject: big\r\n\r\n")
line = b"x" * 76 + b"\r\n"
body = head + line * max(0, (size - len(head)) // len(line))
body += b"y" * (size - len(body) - 2) + b"\r\n" if size > len(body) + 2 else b""
body += b".\r\n"

def status(pid):
    out = {}
    with open("/proc/%s/status" % pid) as f:
        for ln in f:
            k, _, v = ln.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out

base = {n: status(p)["VmRSS"] for n, p in procs.items()}
peak = dict((n, 0) for n in procs)
stop = False

def sampler():
    while not stop:
        for n, p in procs.items():
            try:
                peak[n] = max(peak[n], status(p)["VmRSS"])
            except OSError:
                pass
        time.sleep(0.1)

class Session:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.f = self.s.makefile("rb")
    def reply(self):
        while True:
            ln = self.f.readline().decode("ascii", "replace").rstrip()
            if len(ln) < 4 or ln[3] != "-":
                return ln
    def cmd(self, c):
        self.s.sendall(c.encode() + b"\r\n")
        return self.reply()

results = []
lock = threading.Lock()
barrier = threading.Barrier(sessions + 1)

def client():
    r = "error"
    try:
        c = Session()
        c.reply()
        c.cmd("EHLO client.bench.example")
        c.cmd("MAIL FROM:<bench@example.com>")
        c.cmd("RCPT TO:<rcpt@example.net>")
        ok = c.cmd("DATA").startswith("354")
        barrier.wait()
        if ok:
            c.s.sendall(body)
            r = c.reply()
        c.cmd("QUIT")
        c.s.close()
    except Exception as e:  # counted, not fatal
        r = "error: %s" % e
        try:
            barrier.abort()
        except Exception:
            pass
    with lock:
        results.append(r)

th = [threading.Thread(target=client) for _ in range(sessions)]
for t in th:
    t.start()
smp = threading.Thread(target=sampler)
smp.start()
barrier.wait()
t0 = time.time()
for t in th:
    t.join()
t1 = time.time()
time.sleep(1)
stop = True
smp.join()

n250 = sum(1 for r in results if r.startswith("250"))
n451 = sum(1 for r in results if r.startswith("451 4.3.1"))
other = [r for r in results if not r.startswith(("250", "451 4.3.1"))]
print("sessions %d, message %d octets: %d x 250, %d x 451 4.3.1, %d other "
      "in %.1f s" % (sessions, len(body) - 3, n250, n451, len(other), t1 - t0))
for r in sorted(set(other))[:5]:
    print("  other reply: %s" % r)
print("| process | RSS before | peak RSS (sampled) | VmHWM |")
print("| --- | --- | --- | --- |")
for n, p in procs.items():
    hwm = status(p)["VmHWM"]
    print("| %s | %.0f MB | %.0f MB | %.0f MB |" % (
        n, base[n] / 1e6, peak[n] / 1e6, hwm / 1e6))
PY
echo "451 4.3.1 from cleanup (passed on by smtpd): $(grep -c 'insufficient content memory' "$T/cleanup.log" || true)"
