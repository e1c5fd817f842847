#!/usr/bin/env bash
# make bench: the end-to-end benchmark.
#
#   smtp-source --SMTP--> MTA --SMTP--> smtp-sink
#
# smtp-source sends COUNT messages of SIZE bytes over CONC sessions into
# Postmesh (smtpd, cleanup, a private redis-server with appendonly yes
# and appendfsync always, i.e. durable before the 250; qmgr; the smtp
# agent relaying everything to its own smtp-sink), and, where Postfix is
# installed and we are root, the same load into a private throw-away
# Postfix instance (fsync on, as Postfix always does) relaying to a
# second smtp-sink: equal durability on both sides. Runs are interleaved
# (Postmesh, Postfix, Postmesh, ...) in one script on one machine.
#
# Postmesh runs in several configurations side by side (MODES): one
# instance of each role over plain tcp:// (plain) or over tls+tcp://
# with mutual TLS (tls), and two instances of each role, every client
# naming both (plain2, tls2; the load is split over both smtpds).
#
# Per run: the accept rate (messages/s until smtp-source has every 250)
# and the end-to-end rate (messages/s from the first send until the sink
# has received every message), the messages lost (sink count short of
# COUNT; negative = duplicates) and whether the queue emptied. Then the
# medians and the ratio postmesh/postfix. Exit status 1 if any run lost
# a message or left the queue non-empty.
#
# Environment: COUNT [10000] MODES [plain tls plain2 tls2] SIZE [5120] CONC [20] RUNS [3] WARMUP [1000]
#              DRAIN_TIMEOUT [60] (s without progress at the sink)
#              PM_BIN [build/bin]  POSTFIX [auto|no]  KEEP_TMP []
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
PATH="$PATH:/usr/sbin:/sbin"
: "${COUNT:=10000}" "${MODES:=plain tls plain2 tls2}" "${SIZE:=5120}" "${CONC:=20}" "${RUNS:=3}" "${WARMUP:=1000}"
: "${DRAIN_TIMEOUT:=60}" "${PM_BIN:=$TOP/build/bin}" "${POSTFIX:=auto}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
for t in smtp-source smtp-sink; do
	command -v $t >/dev/null || { echo "bench: $t missing (apt-get install postfix)" >&2; exit 1; }
done
for s in smtpd cleanup rewrite qmgr smtp bounce; do
	[ -x "$PM_BIN/$s" ] || { echo "bench: $PM_BIN/$s missing (make bins)" >&2; exit 1; }
done

T=$(mktemp -d -t pm-bench.XXXXXX)
chmod 755 "$T"   # Postfix daemons and smtp-sink (nobody) must traverse it
PIDS=()
PF_FG=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	local p left
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "$PF_FG" ]; then
		postfix -c "$T/pf/etc" stop >/dev/null 2>&1 || true
		wait "$PF_FG" 2>/dev/null || true
	fi
	# services finish in-flight work on SIGTERM (smtpd: a grace period)
	for _ in $(seq 150); do
		left=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
		[ "$left" -eq 0 ] && break
		sleep 0.1
	done
	for p in "${PIDS[@]}"; do
		{ kill -9 "$p" && wait "$p"; } 2>/dev/null || true
	done
	if [ -n "${KEEP_TMP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
	echo "bench: nothing on port $1" >&2; return 1
}
sink_start() { # sink_start PORT NAME: smtp-sink with running counters (-c)
	local u=()
	[ "$(id -u)" -eq 0 ] && u=(-u nobody)
	smtp-sink "${u[@]}" -c "127.0.0.1:$1" 1024 > "$T/sink-$2.out" 2> "$T/sink-$2.err" &
	PIDS+=($!)
	wait_port "$1"
}

# One measured run, in Python for precise timing without a fork per poll:
# starts smtp-source, polls the sink's counter file every 10 ms, prints
# "accept_mps e2e_mps received lost source_rc".
cat > "$T/e2e.py" <<'PYEOF'
import subprocess, sys, time
port, count, size, conc, sinkfile, drain = sys.argv[1:7]
count, drain = int(count), float(drain)

def sunk():
    with open(sinkfile, "rb") as f:
        f.seek(0, 2)
        n = f.tell()
        f.seek(max(0, n - 512))
        data = f.read()
    recs = data.split(b"\r")
    for r in reversed(recs[:-1]):
        if b"mesg=" in r:
            return int(r.rsplit(b"mesg=", 1)[1].split()[0])
    return 0

base = sunk()
out = open(sinkfile + ".src", "wb")
t0 = time.monotonic()
# one smtp-source per smtpd port, the messages and sessions split evenly
ports = port.split(",")
procs = []
for k, pt in enumerate(ports):
    share = count // len(ports) + (k < count % len(ports))
    sess = max(1, int(conc) // len(ports))
    procs.append(subprocess.Popen(
        ["smtp-source", "-s", str(sess), "-m", str(share), "-l", size,
         "-f", "bench@example.com", "-t", "rcpt@example.net",
         "-M", "loadgen.example", "127.0.0.1:" + pt],
        stdout=out, stderr=subprocess.STDOUT))
t1 = t2 = None
last, last_t = -1, t0
while True:
    now = time.monotonic()
    if t1 is None and all(q.poll() is not None for q in procs):
        t1 = now
    n = sunk() - base
    if n >= count:
        t2 = now
        break
    if n != last:
        last, last_t = n, now
    elif t1 is not None and now - last_t > drain:
        break
    time.sleep(0.01)
rc = max(abs(q.wait()) for q in procs)
if t1 is None:
    t1 = time.monotonic()
time.sleep(0.5)                      # late duplicates
n = sunk() - base
e2e = count / (t2 - t0) if t2 else 0.0
print("%.0f %.0f %d %d %d" % (count / (t1 - t0), e2e, n, count - n, rc))
PYEOF

# --- Postmesh -----------------------------------------------------------
# pm_setup LABEL TLS N: a Postmesh stack of its own (Redis, sink, main.cf)
# with N instances of every role (smtpd, cleanup, rewrite, qmgr, smtp,
# bounce; error and discard once), internal traffic on tls+tcp:// with
# mutual TLS when TLS=1, else tcp://. Clients name every instance
# (<service>_service lists both); each instance has its own ports and
# service_instance_name. Sets PM_PORTS[LABEL] (smtpd ports, comma
# separated) and PM_REDIS[LABEL].
declare -A PM_PORTS PM_REDIS
CERTS=""
pm_setup() {
	local label=$1 tls=$2 n=$3 d="$T/$1" rp kp scheme=tcp i s url
	local -A lp
	mkdir -p "$d/etc" "$d/redis"
	rp=$(free_port); kp=$(free_port)
	if [ "$tls" = 1 ] && [ -z "$CERTS" ]; then
		CERTS="$T/certs"
		scripts/internal-tls-certs.sh "$CERTS" mesh >/dev/null
	fi
	[ "$tls" = 1 ] && scheme="tls+tcp"
	{
		cat <<CONF
myhostname = mta.bench.example
mydomain = bench.example
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$kp
redis_server = 127.0.0.1:$rp
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
CONF
		if [ "$tls" = 1 ]; then
			echo "internal_tls_ca_file = $CERTS/ca.pem"
			echo "internal_tls_cert_file = $CERTS/mesh.pem"
			echo "internal_tls_server_name = postmesh-internal"
		fi
		for s in smtpd cleanup rewrite qmgr bounce smtp error discard; do
			echo "${s}_metrics_listen ="
		done
		for s in cleanup rewrite qmgr bounce; do
			url=""
			for i in $(seq "$n"); do
				lp[$s$i]=$(free_port)
				url="$url${url:+, }$scheme://127.0.0.1:${lp[$s$i]}"
			done
			echo "${s}_service = $url"
		done
	} > "$d/etc/main.cf"
	sink_start "$kp" "$label"
	redis-server --port "$rp" --bind 127.0.0.1 --dir "$d/redis" --appendonly yes \
		--appendfsync always --save "" --maxmemory-policy noeviction \
		--logfile "$d/redis.log" >/dev/null &
	PIDS+=($!)
	for _ in $(seq 100); do redis-cli -p "$rp" ping >/dev/null 2>&1 && break; sleep 0.05; done
	PM_REDIS[$label]=$rp
	PM_PORTS[$label]=""
	for s in rewrite cleanup bounce qmgr smtp error discard smtpd; do
		[ -x "$PM_BIN/$s" ] || continue
		for i in $(seq "$n"); do
			case $s in error | discard) [ "$i" -gt 1 ] && continue ;; esac
			local env=(POSTMESH_service_instance_name="$s-$i")
			case $s in
			cleanup | rewrite | qmgr | bounce)
				env+=("POSTMESH_${s}_listen=$scheme://127.0.0.1:${lp[$s$i]}") ;;
			smtpd)
				lp[smtpd$i]=$(free_port)
				env+=("POSTMESH_smtpd_listen=127.0.0.1:${lp[smtpd$i]}")
				PM_PORTS[$label]="${PM_PORTS[$label]}${PM_PORTS[$label]:+,}${lp[smtpd$i]}" ;;
			esac
			env "${env[@]}" "$PM_BIN/$s" -c "$d/etc" > "$d/$s-$i.log" 2>&1 &
			PIDS+=($!)
		done
		sleep 0.2
	done
	for i in $(seq "$n"); do wait_port "${lp[smtpd$i]}"; done
	sleep 0.5
}
# every envelope in Redis is a message still queued
# shellcheck disable=SC2317  # called by name (an argument of run)
pm_queued() {
	redis-cli -p "${PM_REDIS[$QLABEL]}" --scan --pattern 'pm:{*}:m:*' 2>/dev/null | wc -l
}

# --- Postfix (optional) ---------------------------------------------------
PFP="" FKP=""
if [ "$POSTFIX" != no ] && command -v postfix >/dev/null && [ "$(id -u)" -eq 0 ]; then
	PFP=$(free_port); FKP=$(free_port)
	sink_start "$FKP" pf
	mkdir -p "$T/pf/etc" "$T/pf/queue" "$T/pf/data"
	chown postfix:postfix "$T/pf/data"
	cat > "$T/pf/etc/main.cf" <<CONF
compatibility_level = 3.6
config_directory = $T/pf/etc
queue_directory = $T/pf/queue
data_directory = $T/pf/data
meta_directory = $(postconf -dh meta_directory)
daemon_directory = $(postconf -dh daemon_directory)
command_directory = $(postconf -dh command_directory)
shlib_directory = $(postconf -dh shlib_directory)
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.bench.example
mydomain = bench.example
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$FKP
smtp_connection_cache_destinations = [127.0.0.1]:$FKP
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
maillog_file = $T/pf/maillog
maillog_file_prefixes = $T/pf
biff = no
CONF
	cat > "$T/pf/etc/master.cf" <<CONF
127.0.0.1:$PFP inet n - n - - smtpd
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
CONF
	if postfix -c "$T/pf/etc" check >/dev/null 2>&1; then
		postfix -c "$T/pf/etc" start-fg > "$T/pf/start-fg.log" 2>&1 &
		PF_FG=$!
		wait_port "$PFP" || { PFP=""; }
	else
		PFP=""
	fi
	[ -n "$PFP" ] || echo "bench: private Postfix did not start; Postmesh only" >&2
fi
# shellcheck disable=SC2317  # called by name
pf_queued() {
	postqueue -c "$T/pf/etc" -j 2>/dev/null | wc -l
}

# --- runs -----------------------------------------------------------------
# Postmesh configurations (MODES): plain = one instance of each role over
# tcp://, tls = the same over tls+tcp:// with mutual TLS, plain2 / tls2 =
# two instances of each role (smtp-source split over both smtpds).
for mode in $MODES; do
	case $mode in
	plain) pm_setup plain 0 1 ;;
	tls) pm_setup tls 1 1 ;;
	plain2) pm_setup plain2 0 2 ;;
	tls2) pm_setup tls2 1 2 ;;
	*) echo "bench: unknown mode $mode (plain tls plain2 tls2)" >&2; exit 2 ;;
	esac
done
FAIL=0
run() { # run LABEL SMTPD_PORTS SINKNAME QUEUED_FN N NAME -> prints a line, sets R_E2E
	local label=$1 port=$2 sink=$3 qfn=$4 n=$5 res acc e2e got lost rc q
	QLABEL=$sink
	res=$("$PY" "$T/e2e.py" "$port" "$n" "$SIZE" "$CONC" "$T/sink-$sink.out" "$DRAIN_TIMEOUT")
	read -r acc e2e got lost rc <<< "$res"
	q=-1
	for _ in $(seq 100); do
		q=$($qfn)
		[ "$q" -eq 0 ] && break
		sleep 0.1
	done
	R_E2E=$e2e
	if [ "$label" != warmup ]; then
		printf '%-6s %-9s accept %6s msg/s  end-to-end %6s msg/s  at sink %6s of %s  lost %s  queue left %s\n' \
			"$label" "$6" "$acc" "$e2e" "$got" "$n" "$lost" "$q"
	fi
	if [ "$lost" -ne 0 ] || [ "$q" -ne 0 ] || [ "$rc" -ne 0 ]; then
		echo "bench: $label $6: lost=$lost queue=$q smtp-source rc=$rc ($(tail -2 "$T/sink-$sink.out.src" | tr '\n' ' '))" >&2
		FAIL=1
	fi
}

echo "end-to-end benchmark: $COUNT messages x $SIZE bytes, $CONC sessions, $RUNS runs (interleaved)"
echo "postmesh ($MODES): redis appendfsync always${PFP:+; postfix $(postconf -dh mail_version): fsync on, stock daemons}"
if [ "$WARMUP" -gt 0 ]; then
	for mode in $MODES; do
		run warmup "${PM_PORTS[$mode]}" "$mode" pm_queued "$WARMUP" "$mode"
	done
	[ -n "$PFP" ] && run warmup "$PFP" pf pf_queued "$WARMUP" postfix
fi
declare -A RES
for i in $(seq "$RUNS"); do
	for mode in $MODES; do
		run "run $i" "${PM_PORTS[$mode]}" "$mode" pm_queued "$COUNT" "$mode"
		RES[$mode]="${RES[$mode]:-} $R_E2E"
	done
	if [ -n "$PFP" ]; then
		run "run $i" "$PFP" pf pf_queued "$COUNT" postfix
		RES[postfix]="${RES[postfix]:-} $R_E2E"
	fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A MED
for k in $MODES ${PFP:+postfix}; do
	# shellcheck disable=SC2086
	MED[$k]=$(median ${RES[$k]})
	printf 'median %-8s end-to-end: %s msg/s\n' "$k" "${MED[$k]}"
done
if [ -n "$PFP" ]; then
	for k in $MODES; do
		"$PY" -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('ratio %s/postfix: %.2f' % (sys.argv[3], a / b if b else 0))" "${MED[$k]}" "${MED[postfix]}" "$k"
	done
fi
exit "$FAIL"
