#!/usr/bin/env bash
# make bench-tls (part of make bench): STARTTLS on both sides (issue 9).
#
#   tls-source --STARTTLS--> MTA --STARTTLS (encrypt)--> tls-sink -E
#
# Part "e2e": build/bench/tls-source sends COUNT messages of SIZE bytes
# over CONC sessions (PER_SESSION messages per TLS session, 0 = all on
# one) into Postmesh (smtpd with smtpd_tls_security_level = may and
# smtpd_tls_chain_files; the smtp agent with smtp_tls_security_level =
# encrypt to relayhost; Redis appendfsync always) and, where Postfix is
# installed and we are root, into a private Postfix with the same TLS
# settings. Each MTA relays to its own build/bench/tls-sink, which
# refuses MAIL before STARTTLS (-E): every delivery was encrypted.
# Both sides: the same certificate (RSA 2048, signed by a test CA made
# here with the openssl command), protocols >=TLSv1.2 (TLSv1.3 is what
# OpenSSL 3 negotiates), default cipher grade. Runs are interleaved
# (Postmesh, Postfix, ...); medians and the ratio postmesh/postfix of
# the end-to-end rate (messages/s from the first connection until the
# sink has counted every message; smtp-sink's -c counters).
#
# Part "idle": one smtpd holding IDLE idle TLS sessions (STARTTLS done,
# EHLO again): tls-source --idle; smtpd's VmRSS (/proc) before, while
# holding them and after they closed. The same against Postfix's smtpd
# (IDLE_PF sessions: one process per session; the sum of their VmRSS
# and of their PSS, which counts shared pages once).
#
# Exit status 1 if a run lost a message, left the queue non-empty, a
# tls-source run failed a message or an idle session failed. If
# Postmesh's smtpd offers no STARTTLS the Postmesh side fails (PM=no
# skips it: to measure the Postfix side alone).
#
# Environment: PARTS [e2e idle] COUNT [5000] SIZE [5120] CONC [20]
#              PER_SESSION [10] RUNS [3] WARMUP [500] RESUME [0] (1 = tls-source -R)
#              IDLE [2000] IDLE_PF [200] DRAIN_TIMEOUT [60] PF_TLS_REUSE [yes]
#              TLS_PROTOCOLS [>=TLSv1.2]  PM [auto|no]  POSTFIX [auto|no]
#              PM_BIN [build/bin]  BENCH_BIN [build/bench]  KEEP_TMP []
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
PATH="$PATH:/usr/sbin:/sbin"
: "${PARTS:=e2e idle}" "${COUNT:=5000}" "${SIZE:=5120}" "${CONC:=20}" "${PER_SESSION:=10}"
: "${RUNS:=3}" "${WARMUP:=500}" "${RESUME:=0}" "${IDLE:=2000}" "${IDLE_PF:=200}"
: "${DRAIN_TIMEOUT:=60}" "${TLS_PROTOCOLS:=>=TLSv1.2}" "${PM:=auto}" "${POSTFIX:=auto}"
: "${PF_TLS_REUSE:=yes}"
: "${PM_BIN:=$TOP/build/bin}" "${BENCH_BIN:=$TOP/build/bench}"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
for t in tls-source tls-sink; do
	[ -x "$BENCH_BIN/$t" ] || { echo "bench-tls: $BENCH_BIN/$t missing (make bench-tools)" >&2; exit 1; }
done
if [ "$PM" != no ]; then
	for s in smtpd cleanup rewrite qmgr smtp bounce; do
		[ -x "$PM_BIN/$s" ] || { echo "bench-tls: $PM_BIN/$s missing (make bins)" >&2; exit 1; }
	done
fi
# every idle session is a socket on both ends; a Postfix smtpd per session
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
[ "$nofile" -gt 65536 ] && nofile=65536
ulimit -n "$nofile"
if [ "$nofile" -lt $((IDLE + 200)) ] && [[ " $PARTS " == *" idle "* ]]; then
	echo "bench-tls: open files limit $nofile is too low for IDLE=$IDLE" >&2
	exit 1
fi

T=$(mktemp -d -t pm-bench-tls.XXXXXX)
chmod 755 "$T"   # Postfix daemons must traverse it
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
	echo "bench-tls: nothing on port $1" >&2; return 1
}
declare -A SINK_PID
sink_start() { # sink_start PORT NAME: tls-sink, TLS required, counters (-c)
	"$BENCH_BIN/tls-sink" -K "$T/certs/sink.pem" -c -E -H sink.bench.example \
		"127.0.0.1:$1" 1024 > "$T/sink-$2.out" 2> "$T/sink-$2.err" &
	SINK_PID[$2]=$!
	PIDS+=($!)
	wait_port "$1"
}
sink_report() { # sink_report NAME: stop the sink, print its summary line
	kill "${SINK_PID[$1]}" 2>/dev/null || true
	wait "${SINK_PID[$1]}" 2>/dev/null || true
	printf 'sink %-8s %s\n' "$1" "$(grep -h 'tls-sink:' "$T/sink-$1.err" | tail -1)"
}

# --- certificates -----------------------------------------------------------
# A test CA; mta.pem (key + chain, for smtpd_tls_chain_files on both
# MTAs) and sink.pem, RSA 2048 as most public MX hosts use.
mkcert() { # mkcert NAME CN
	openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
	printf 'subjectAltName=DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$2" > "$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile "$1.ext" -out "$1.crt" 2>/dev/null
	cat "$1.key" "$1.crt" > "$1.pem"
}
mkdir -p "$T/certs"
(
	cd "$T/certs"
	umask 077
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
		-subj "/CN=bench test CA" -addext "basicConstraints=critical,CA:TRUE" 2>/dev/null
	mkcert mta mta.bench.example
	mkcert sink sink.bench.example
)

# --- Postmesh -------------------------------------------------------------
# One instance of every role over tcp:// (bench.sh's "plain" mode), the
# TLS parameters of issue 9 by their Postfix names.
PMP="" PM_REDIS="" PM_IDLE_PORT="" PM_IDLE_PID=""
pm_setup() {
	local d="$T/pm" rp kp s
	local -A lp
	mkdir -p "$d/etc" "$d/redis"
	rp=$(free_port); kp=$(free_port)
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
smtpd_tls_security_level = may
smtpd_tls_chain_files = $T/certs/mta.pem
smtpd_tls_protocols = $TLS_PROTOCOLS
smtpd_tls_mandatory_protocols = $TLS_PROTOCOLS
smtp_tls_security_level = encrypt
smtp_tls_protocols = $TLS_PROTOCOLS
smtp_tls_mandatory_protocols = $TLS_PROTOCOLS
smtpd_session_limit = $((IDLE + 100))
CONF
		for s in smtpd cleanup rewrite qmgr bounce smtp error discard; do
			echo "${s}_metrics_listen ="
		done
		for s in cleanup rewrite qmgr bounce; do
			lp[$s]=$(free_port)
			echo "${s}_service = tcp://127.0.0.1:${lp[$s]}"
		done
	} > "$d/etc/main.cf"
	sink_start "$kp" pm
	redis-server --port "$rp" --bind 127.0.0.1 --dir "$d/redis" --appendonly yes \
		--appendfsync always --save "" --maxmemory-policy noeviction \
		--logfile "$d/redis.log" >/dev/null &
	PIDS+=($!)
	for _ in $(seq 100); do redis-cli -p "$rp" ping >/dev/null 2>&1 && break; sleep 0.05; done
	PM_REDIS=$rp
	PMP=$(free_port)
	PM_IDLE_PORT=$(free_port)
	for s in rewrite cleanup bounce qmgr smtp error discard smtpd; do
		[ -x "$PM_BIN/$s" ] || continue
		local env=(POSTMESH_service_instance_name="$s-1")
		case $s in
		cleanup | rewrite | qmgr | bounce) env+=("POSTMESH_${s}_listen=tcp://127.0.0.1:${lp[$s]}") ;;
		smtpd) env+=("POSTMESH_smtpd_listen=127.0.0.1:$PMP") ;;
		esac
		env "${env[@]}" "$PM_BIN/$s" -c "$d/etc" > "$d/$s.log" 2>&1 &
		PIDS+=($!)
		sleep 0.2
	done
	# a second smtpd of its own for the idle part (its RSS is only that),
	# with an idle timeout longer than the time 2,000 handshakes take
	env POSTMESH_service_instance_name=smtpd-idle "POSTMESH_smtpd_listen=127.0.0.1:$PM_IDLE_PORT" \
		POSTMESH_smtpd_timeout=3600s \
		"$PM_BIN/smtpd" -c "$d/etc" > "$d/smtpd-idle.log" 2>&1 &
	PM_IDLE_PID=$!
	PIDS+=($!)
	wait_port "$PMP"
	wait_port "$PM_IDLE_PORT"
	sleep 0.5
}
# shellcheck disable=SC2317  # called by name (an argument of run)
pm_queued() {
	redis-cli -p "$PM_REDIS" --scan --pattern 'pm:{*}:m:*' 2>/dev/null | wc -l
}

# --- Postfix (optional) ---------------------------------------------------
# bench.sh's private instance plus the same TLS settings, tlsmgr, and a
# second smtpd listener for the idle part with room for IDLE_PF processes
# (and smtpd_timeout long enough: starting 2,000 of them takes minutes).
PFP="" PF_IDLE_PORT=""
pf_setup() {
	local fkp
	PFP=$(free_port); fkp=$(free_port); PF_IDLE_PORT=$(free_port)
	sink_start "$fkp" pf
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
relayhost = [127.0.0.1]:$fkp
smtp_connection_cache_destinations = [127.0.0.1]:$fkp
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
maillog_file = $T/pf/maillog
maillog_file_prefixes = $T/pf
biff = no
smtpd_tls_security_level = may
smtpd_tls_chain_files = $T/certs/mta.pem
smtpd_tls_protocols = $TLS_PROTOCOLS
smtpd_tls_mandatory_protocols = $TLS_PROTOCOLS
smtp_tls_security_level = encrypt
smtp_tls_protocols = $TLS_PROTOCOLS
smtp_tls_mandatory_protocols = $TLS_PROTOCOLS
smtp_tls_connection_reuse = $PF_TLS_REUSE
smtp_tls_session_cache_database = btree:\${data_directory}/smtp_scache
smtpd_tls_session_cache_database = btree:\${data_directory}/smtpd_scache
CONF
	cat > "$T/pf/etc/master.cf" <<CONF
127.0.0.1:$PFP inet n - n - - smtpd
127.0.0.1:$PF_IDLE_PORT inet n - n - $((IDLE_PF + 100)) smtpd -o smtpd_timeout=3600s
pickup     unix  n - n 60    1 pickup
cleanup    unix  n - n -     0 cleanup
qmgr       unix  n - n 300   1 qmgr
tlsmgr     unix  - - n 1000? 1 tlsmgr
tlsproxy   unix  - - n -     0 tlsproxy
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
		wait_port "$PFP" || PFP=""
	else
		PFP=""
	fi
	[ -n "$PFP" ] || echo "bench-tls: private Postfix did not start; Postmesh only" >&2
}
# shellcheck disable=SC2317  # called by name
pf_queued() {
	postqueue -c "$T/pf/etc" -j 2>/dev/null | wc -l
}
pf_master() { awk '{ print $1 }' "$T/pf/queue/pid/master.pid" 2>/dev/null; }

[ "$PM" != no ] && pm_setup
if [ "$POSTFIX" != no ] && command -v postfix >/dev/null && [ "$(id -u)" -eq 0 ]; then
	pf_setup
fi
[ -n "$PMP" ] || [ -n "$PFP" ] || { echo "bench-tls: nothing to measure" >&2; exit 1; }
SRC_OPTS=()
[ "$RESUME" = 1 ] && SRC_OPTS+=(-R)
FAIL=0

# A Postmesh smtpd without STARTTLS (before issue 9's smtpd TLS) fails
# here, loudly, instead of measuring plaintext.
if [ -n "$PMP" ] && ! "$BENCH_BIN/tls-source" -s 1 -m 1 -v "127.0.0.1:$PMP" > "$T/probe.out" 2>&1; then
	echo "bench-tls: Postmesh smtpd on port $PMP: $(grep -m1 'failed:' "$T/probe.out" || tail -1 "$T/probe.out")" >&2
	echo "bench-tls: Postmesh side skipped (smtpd_tls_security_level = may needs issue 9's smtpd TLS)" >&2
	PMP="" PM_IDLE_PORT=""
	FAIL=1
	[ -n "$PFP" ] || exit 1
fi

# --- part e2e ---------------------------------------------------------------
# One measured run, in Python for precise timing: starts tls-source,
# polls the sink's counter file every 10 ms, prints
# "accept_mps e2e_mps received lost source_rc".
cat > "$T/e2e.py" <<'PYEOF'
import subprocess, sys, time
src, port, count, size, conc, persess, sinkfile, drain = sys.argv[1:9]
extra = sys.argv[9:]
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
out = open(sinkfile + ".src", "ab")
t0 = time.monotonic()
proc = subprocess.Popen([src, "-s", conc, "-m", str(count), "-l", size,
                         "-N", persess, "-f", "bench@example.com",
                         "-t", "rcpt@example.net", "-M", "loadgen.example",
                         "-v"] + extra + ["127.0.0.1:" + port],
                        stdout=out, stderr=subprocess.STDOUT)
t1 = t2 = None
last, last_t = -1, t0
while True:
    now = time.monotonic()
    if t1 is None and proc.poll() is not None:
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
rc = abs(proc.wait())
if t1 is None:
    t1 = time.monotonic()
time.sleep(0.5)                      # late duplicates
n = sunk() - base
e2e = count / (t2 - t0) if t2 else 0.0
print("%.0f %.0f %d %d %d" % (count / (t1 - t0), e2e, n, count - n, rc))
PYEOF

run() { # run LABEL PORT SINKNAME QUEUED_FN N NAME -> prints a line, sets R_E2E
	local label=$1 port=$2 sink=$3 qfn=$4 n=$5 res acc e2e got lost rc q
	res=$("$PY" "$T/e2e.py" "$BENCH_BIN/tls-source" "$port" "$n" "$SIZE" "$CONC" \
		"$PER_SESSION" "$T/sink-$sink.out" "$DRAIN_TIMEOUT" "${SRC_OPTS[@]}")
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
		echo "bench-tls: $label $6: lost=$lost queue=$q tls-source rc=$rc ($(tail -2 "$T/sink-$sink.out.src" | tr '\n' ' '))" >&2
		FAIL=1
	fi
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

if [[ " $PARTS " == *" e2e "* ]]; then
	SIDES=()
	[ -n "$PMP" ] && SIDES+=(postmesh)
	[ -n "$PFP" ] && SIDES+=(postfix)
	declare -A SPORT=([postmesh]=$PMP [postfix]=$PFP) SSINK=([postmesh]=pm [postfix]=pf) \
		SQ=([postmesh]=pm_queued [postfix]=pf_queued) RES
	echo "STARTTLS end to end: $COUNT messages x $SIZE bytes, $CONC sessions, $PER_SESSION messages per TLS session, resumption $([ "$RESUME" = 1 ] && echo on || echo off), $RUNS runs (interleaved)"
	echo "both sides: smtpd_tls_security_level = may, smtp_tls_security_level = encrypt, protocols $TLS_PROTOCOLS, one RSA 2048 certificate${PFP:+; postfix $(postconf -dh mail_version)}"
	if [ "$WARMUP" -gt 0 ]; then
		for s in "${SIDES[@]}"; do
			run warmup "${SPORT[$s]}" "${SSINK[$s]}" "${SQ[$s]}" "$WARMUP" "$s"
		done
	fi
	for i in $(seq "$RUNS"); do
		for s in "${SIDES[@]}"; do
			run "run $i" "${SPORT[$s]}" "${SSINK[$s]}" "${SQ[$s]}" "$COUNT" "$s"
			RES[$s]="${RES[$s]:-} $R_E2E"
		done
	done
	declare -A MED
	for s in "${SIDES[@]}"; do
		# shellcheck disable=SC2086
		MED[$s]=$(median ${RES[$s]})
		printf 'median %-8s end-to-end: %s msg/s   client side: %s\n' "$s" "${MED[$s]}" \
			"$(grep -h -o '[^;]* with cipher [^;]*' "$T/sink-${SSINK[$s]}.out.src" | tail -1)"
	done
	if [ -n "$PMP" ] && [ -n "$PFP" ]; then
		"$PY" -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('ratio postmesh/postfix (STARTTLS): %.2f' % (a / b if b else 0))" \
			"${MED[postmesh]}" "${MED[postfix]}"
	fi
fi

# --- part idle ---------------------------------------------------------------
kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# pf_smtpd_mem: "N rss_kib pss_kib" over the master's smtpd children
# (one awk over every file: a fork per process would take minutes)
pf_smtpd_mem() {
	cat /proc/[0-9]*/stat 2>/dev/null |
		awk -v m="$(pf_master)" '$2 == "(smtpd)" && $4 == m { print "/proc/" $1 "/status"; print "/proc/" $1 "/smaps_rollup" }' |
		xargs -r cat 2>/dev/null |
		awk '/^VmRSS:/ { n++; r += $2 } /^Pss:/ { p += $2 } END { print n + 0, r + 0, p + 0 }'
}
# idle_hold PORT N OUT: tls-source --idle N in the background; waits
# until it reports; sets IDLE_SRC (its pid). 1 if it failed or timed out.
idle_hold() {
	"$BENCH_BIN/tls-source" --idle "$2" -s 50 -w 300 -v "127.0.0.1:$1" > "$3" 2>&1 &
	IDLE_SRC=$!
	PIDS+=($!)
	for _ in $(seq 3000); do
		grep -q 'established' "$3" && break
		kill -0 "$IDLE_SRC" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "idle: $2 established, 0 failed" "$3"
}
idle_release() { # idle_release OUT: SIGTERM, wait, 1 if any session failed or was dropped
	kill -TERM "$IDLE_SRC" 2>/dev/null || true
	wait "$IDLE_SRC" 2>/dev/null || true
	grep -q ' 0 failed, 0 dropped' "$1"
}

if [[ " $PARTS " == *" idle "* ]]; then
	echo "idle TLS sessions:${PM_IDLE_PORT:+ $IDLE held by one Postmesh smtpd;}${PFP:+ $IDLE_PF by the Postfix smtpd (one process each)}"
	if [ -n "$PM_IDLE_PORT" ]; then
		before=$(kib "$PM_IDLE_PID")
		t0=$(date +%s.%N)
		ok=1
		idle_hold "$PM_IDLE_PORT" "$IDLE" "$T/idle-pm.out" || ok=0
		t1=$(date +%s.%N)
		sleep 1
		during=$(kib "$PM_IDLE_PID")
		idle_release "$T/idle-pm.out" || ok=0
		sleep 2
		after=$(kib "$PM_IDLE_PID")
		printf 'postmesh smtpd: VmRSS %s MiB before, %s MiB holding %s TLS sessions (%s KiB per session), %s MiB after; established in %s s\n' \
			"$(mib "$before")" "$(mib "$during")" "$IDLE" $(((during - before) / IDLE)) "$(mib "$after")" \
			"$(secs "$t0" "$t1")"
		[ "$ok" = 1 ] || { echo "bench-tls: postmesh idle: $(tail -2 "$T/idle-pm.out" | tr '\n' ' ')" >&2; FAIL=1; }
	fi
	if [ -n "$PFP" ]; then
		read -r n0 rss0 pss0 <<< "$(pf_smtpd_mem)"
		t0=$(date +%s.%N)
		ok=1
		idle_hold "$PF_IDLE_PORT" "$IDLE_PF" "$T/idle-pf.out" || ok=0
		t1=$(date +%s.%N)
		sleep 1
		read -r n1 rss1 pss1 <<< "$(pf_smtpd_mem)"
		idle_release "$T/idle-pf.out" || ok=0
		printf 'postfix smtpd: %s processes, VmRSS sum %s MiB, PSS sum %s MiB before; %s processes, VmRSS sum %s MiB (%s KiB per session), PSS sum %s MiB (%s KiB per session) holding %s TLS sessions; established in %s s\n' \
			"$n0" "$(mib "$rss0")" "$(mib "$pss0")" "$n1" "$(mib "$rss1")" $(((rss1 - rss0) / IDLE_PF)) \
			"$(mib "$pss1")" $(((pss1 - pss0) / IDLE_PF)) "$IDLE_PF" "$(secs "$t0" "$t1")"
		[ "$ok" = 1 ] || { echo "bench-tls: postfix idle: $(tail -2 "$T/idle-pf.out" | tr '\n' ' ')" >&2; FAIL=1; }
	fi
fi

if [[ " $PARTS " == *" e2e "* ]]; then
	[ -n "$PMP" ] && sink_report pm
	[ -n "$PFP" ] && sink_report pf
fi
exit "$FAIL"
