#!/usr/bin/env bash
# make run / make stop: a local Postmesh stack for trying it out.
#
#   scripts/run.sh start   build output must exist (make run builds it);
#                          starts redis-server (appendonly yes, appendfsync
#                          always, data in run/redis) and the services in
#                          the background (rewrite cleanup, then bounce
#                          qmgr smtp error discard where built, smtpd
#                          last), logs in run/log/, then returns.
#   scripts/run.sh stop    stops what start started (PIDs in run/pid/).
#
# Configuration: run/etc/main.cf is written on first start (edit it
# freely afterwards). Any parameter can be overridden from the
# environment as POSTMESH_<name>, e.g.
#   POSTMESH_smtpd_listen=0.0.0.0:2525 POSTMESH_relay_domains=example.com make run
# The services read the same variables, so listen addresses, mynetworks,
# relay_domains, relayhost ... all follow. POSTMESH_redis_server also
# picks the port of the local redis-server.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
RUN=${POSTMESH_RUN_DIR:-$TOP/run}
BIN=${PM_BIN:-$TOP/build/bin}
# Start order: a service's peers first, smtpd last. The delivery services
# (issue 3) are started when their binaries are built.
SERVICES="rewrite cleanup"
for s in bounce qmgr smtp error discard; do
	if [ -x "$BIN/$s" ]; then SERVICES="$SERVICES $s"; fi
done
SERVICES="$SERVICES smtpd"
# Stop order: smtpd first (no new mail), rewrite last; every service
# that may run, built or not (a pid file may be left from a start).
STOP_ORDER="smtpd discard error smtp qmgr bounce cleanup rewrite"

redis_addr=${POSTMESH_redis_server:-127.0.0.1:6379}
redis_host=${redis_addr%:*}
redis_port=${redis_addr##*:}
smtpd_listen=${POSTMESH_smtpd_listen:-127.0.0.1:2525}
smtp_host=${smtpd_listen%:*}
smtp_port=${smtpd_listen##*:}
[ "$smtp_host" = "0.0.0.0" ] && smtp_host=127.0.0.1

# alive PIDFILE: the process in PIDFILE runs. kill -0 alone is not
# enough: it succeeds on a zombie (a crashed service that nothing has
# reaped yet, e.g. under a PID 1 that does not reap), and such a
# service must count as dead so that `make run` starts it again. A PID
# left from an earlier run may also belong to another program by now:
# its command line must name the service (run/pid/<name>.pid).
alive() {
	local pid state name
	[ -f "$1" ] || return 1
	pid=$(cat "$1")
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	kill -0 "$pid" 2>/dev/null || return 1
	state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] || return 1
	name=$(basename "$1" .pid)
	tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"
}

# Wait until Redis answers PONG: while it replays its append-only file
# it answers "-LOADING ..." (and redis-cli still exits 0), and cleanup
# would refuse mail meanwhile. Up to $POSTMESH_RUN_REDIS_WAIT seconds
# (default 300: a large append file takes a while).
redis_wait_loaded() {
	local i reply="" max=$((${POSTMESH_RUN_REDIS_WAIT:-300} * 10))
	for ((i = 0; i < max; i++)); do
		reply=$(redis-cli -h "$redis_host" -p "$redis_port" ping 2>&1) || true
		[ "$reply" = PONG ] && return 0
		if [ $((i % 50)) -eq 49 ]; then
			echo "waiting for redis-server: ${reply:-no answer}"
		fi
		sleep 0.1
	done
	echo "error: redis-server on $redis_addr does not answer PONG:" \
	     "${reply:-no answer}; see $RUN/log/redis.log" >&2
	exit 1
}

start() {
	mkdir -p "$RUN/etc" "$RUN/log" "$RUN/pid" "$RUN/redis"
	if [ ! -f "$RUN/etc/main.cf" ]; then
		cat > "$RUN/etc/main.cf" <<CONF
# main.cf for \`make run\` (Postfix syntax). Parameters not set here
# take their defaults; see docs/configuration.md. Environment variables
# POSTMESH_<name> override this file.
redis_server = $redis_addr
smtpd_listen = 127.0.0.1:2525
mynetworks = 127.0.0.1/32 [::1]/128
CONF
	fi
	if alive "$RUN/pid/redis.pid"; then
		echo "redis-server already running (pid $(cat "$RUN/pid/redis.pid"))"
	else
		if redis-cli -h "$redis_host" -p "$redis_port" ping >/dev/null 2>&1; then
			echo "error: something already listens on $redis_addr;" \
			     "stop it or set POSTMESH_redis_server=127.0.0.1:<port>" >&2
			exit 1
		fi
		redis-server --bind "$redis_host" --port "$redis_port" \
			--dir "$RUN/redis" --appendonly yes --appendfsync always \
			--save "" --maxmemory-policy noeviction \
			--daemonize yes --pidfile "$RUN/pid/redis.pid" \
			--logfile "$RUN/log/redis.log"
		echo "redis-server on $redis_addr (data in $RUN/redis)"
	fi
	redis_wait_loaded
	for s in $SERVICES; do
		if alive "$RUN/pid/$s.pid"; then
			echo "$s already running (pid $(cat "$RUN/pid/$s.pid"))"
			continue
		fi
		nohup "$BIN/$s" -c "$RUN/etc" >>"$RUN/log/$s.log" 2>&1 &
		echo $! > "$RUN/pid/$s.pid"
		echo "$s started (pid $!, log $RUN/log/$s.log)"
	done
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/$smtp_host/$smtp_port") 2>/dev/null && break
		sleep 0.1
	done
	for s in $SERVICES; do
		alive "$RUN/pid/$s.pid" || {
			echo "error: $s exited; see $RUN/log/$s.log:" >&2
			tail -5 "$RUN/log/$s.log" >&2
			exit 1
		}
	done
	cat <<TXT

Postmesh is running: SMTP on $smtp_host:$smtp_port. Send a test mail:

  swaks --server $smtp_host --port $smtp_port --from you@example.com --to postmaster@localhost

Then look at the queue in Redis:
  redis-cli -p $redis_port keys 'pm:*'
Logs: $RUN/log/   Stop: make stop
TXT
	case " $SERVICES " in
	*" qmgr "*) cat <<TXT
Delivery runs too ($SERVICES). To relay a domain to a local smtp-sink
and get DSNs back, see README.md ("Try delivery").
TXT
	;;
	esac
}

stop() {
	for s in $STOP_ORDER; do
		if alive "$RUN/pid/$s.pid"; then
			kill "$(cat "$RUN/pid/$s.pid")"
			for _ in $(seq 100); do
				alive "$RUN/pid/$s.pid" || break
				sleep 0.1
			done
			alive "$RUN/pid/$s.pid" && kill -9 "$(cat "$RUN/pid/$s.pid")"
			echo "$s stopped"
		fi
		rm -f "$RUN/pid/$s.pid"
	done
	if alive "$RUN/pid/redis.pid"; then
		kill "$(cat "$RUN/pid/redis.pid")"
		for _ in $(seq 100); do
			alive "$RUN/pid/redis.pid" || break
			sleep 0.1
		done
		echo "redis-server stopped"
	fi
	rm -f "$RUN/pid/redis.pid"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
