#!/usr/bin/env bash
# make bench: the receive benchmark.
#
# smtp-source sends COUNT messages of SIZE bytes over CONC sessions into
# Postmesh's smtpd (cleanup writing to a private redis-server with
# appendonly yes, appendfsync always: durable before the 250), and, where
# Postfix is installed, the same load into a private throw-away Postfix
# instance (fsync on, as Postfix always does) relaying to smtp-sink.
# Runs are interleaved (Postmesh, Postfix, Postmesh, ...) on the same
# machine in the same script; it prints the accept rate (messages per
# second until smtp-source has every 250) per run, the medians and the
# ratio. Only the accept rate is compared: delivery (qmgr, smtp) comes
# with issue 3.
#
# Environment: COUNT [20000] SIZE [5120] CONC [20] RUNS [3] WARMUP [1000]
#              PM_BIN [build/bin]  POSTFIX [auto|no]
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
PATH="$PATH:/usr/sbin:/sbin"
: "${COUNT:=20000}" "${SIZE:=5120}" "${CONC:=20}" "${RUNS:=3}" "${WARMUP:=1000}"
: "${PM_BIN:=$TOP/build/bin}" "${POSTFIX:=auto}"
command -v smtp-source >/dev/null || { echo "bench: smtp-source missing (apt-get install postfix)" >&2; exit 1; }

T=$(mktemp -d -t pm-bench.XXXXXX)
chmod 755 "$T"   # Postfix daemons run as user postfix
PIDS=()
PF_MASTER=""
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "$PF_MASTER" ] && postfix -c "$T/pf/etc" stop >/dev/null 2>&1 || true
	sleep 1
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	[ -n "${KEEP_TMP:-}" ] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
	echo "bench: nothing on port $1" >&2; return 1
}

# --- Postmesh -----------------------------------------------------------
RP=$(free_port); SP=$(free_port); CP=$(free_port); WP=$(free_port)
mkdir -p "$T/pm/etc" "$T/pm/redis"
cat > "$T/pm/etc/main.cf" <<CONF
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
CONF
redis-server --port "$RP" --bind 127.0.0.1 --dir "$T/pm/redis" --appendonly yes \
	--appendfsync always --save "" --logfile "$T/pm/redis.log" >/dev/null &
PIDS+=($!)
for _ in $(seq 100); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.05; done
for s in rewrite cleanup smtpd; do
	"$PM_BIN/$s" -c "$T/pm/etc" > "$T/pm/$s.log" 2>&1 &
	PIDS+=($!)
done
wait_port "$SP"
sleep 0.5

# --- Postfix (optional) ---------------------------------------------------
PFP="" KP=""
if [ "$POSTFIX" != no ] && command -v postfix >/dev/null && [ "$(id -u)" -eq 0 ]; then
	PFP=$(free_port); KP=$(free_port)
	smtp-sink -c -u postfix "127.0.0.1:$KP" 1000 >/dev/null 2>&1 &
	PIDS+=($!)
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
relayhost = [127.0.0.1]:$KP
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
postlog    unix-dgram n - n - 1 postlogd
CONF
	if postfix -c "$T/pf/etc" check >/dev/null 2>&1; then
		postfix -c "$T/pf/etc" start >/dev/null 2>&1 && PF_MASTER=1
		wait_port "$PFP" || PF_MASTER=""
	fi
	[ -n "$PF_MASTER" ] || { echo "bench: private Postfix did not start; Postmesh only" >&2; PFP=""; }
fi

# --- runs -----------------------------------------------------------------
run() { # run PORT COUNT -> prints messages/s
	local port=$1 n=$2 t0 t1 rc
	t0=$EPOCHREALTIME
	smtp-source -c -s "$CONC" -m "$n" -l "$SIZE" -f bench@example.com \
		-t rcpt@example.net "127.0.0.1:$port" > "$T/src.out" 2>&1
	rc=$?
	t1=$EPOCHREALTIME
	[ $rc -eq 0 ] || { echo "bench: smtp-source failed: $(tail -3 "$T/src.out")" >&2; return 1; }
	/usr/bin/python3 -c "print('%.0f' % ($n / ($t1 - $t0)))"
}
queued() { redis-cli -p "$RP" xlen 'pm:{0}:incoming'; }
# Postfix delivers what it accepted to the sink in the background; let it
# finish before the next run so neither MTA runs against the other's work.
pf_drain() {
	for _ in $(seq 600); do
		postqueue -c "$T/pf/etc" -p 2>/dev/null | grep -q "Mail queue is empty" && return 0
		sleep 0.5
	done
	echo "bench: Postfix queue did not drain" >&2
}

echo "receive benchmark: $COUNT messages x $SIZE bytes, $CONC sessions, $RUNS runs (interleaved)"
if [ "$WARMUP" -gt 0 ]; then
	run "$SP" "$WARMUP" >/dev/null
	[ -n "$PFP" ] && { run "$PFP" "$WARMUP" >/dev/null; pf_drain; }
fi
pm=() pf=()
for i in $(seq "$RUNS"); do
	before=$(queued)
	r=$(run "$SP" "$COUNT")
	got=$(( $(queued) - before ))
	echo "run $i  postmesh: $r msg/s accepted (queued in Redis: $got of $COUNT)"
	[ "$got" -eq "$COUNT" ] || { echo "bench: LOST messages: $got of $COUNT queued" >&2; exit 1; }
	pm+=("$r")
	if [ -n "$PFP" ]; then
		r=$(run "$PFP" "$COUNT")
		echo "run $i  postfix:  $r msg/s accepted"
		pf+=("$r")
		pf_drain
	fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
m1=$(median "${pm[@]}")
echo "median postmesh accept: $m1 msg/s"
if [ -n "$PFP" ]; then
	m2=$(median "${pf[@]}")
	echo "median postfix  accept: $m2 msg/s"
	/usr/bin/python3 -c "print('ratio postmesh/postfix: %.2f' % ($m1 / $m2))"
fi
