#!/usr/bin/env bash
# make compose-up / make compose-down: the compose stack of
# deploy/compose/ on podman, through docker-compose.
#
#   scripts/compose.sh up     start `podman system service` on a socket of
#                             its own (run/compose/podman.sock, PID in
#                             run/compose/podman.pid), DOCKER_HOST at it,
#                             docker-compose up -d --scale <role>=2 ...,
#                             wait until every container is healthy, print
#                             how to send a test mail
#   scripts/compose.sh down   docker-compose down -v, stop the service
#   scripts/compose.sh env    print the DOCKER_HOST/COMPOSE_* exports, for
#                             eval "$(scripts/compose.sh env)" before
#                             docker-compose commands of your own
#   scripts/compose.sh health run every container's healthcheck once and
#                             exit 0 if all are healthy
#
# Needs the images (make image) and the certificates (make certs).
# Podman runs healthchecks from systemd timers; without systemd nothing
# runs them, so `up` (and `health`) run them with `podman healthcheck
# run`, which records the result docker-compose and `podman ps` show.
# Environment: PM_SCALE (replicas of each stateless role, default 2),
# PM_UP_TIMEOUT (seconds to wait for healthy, default 120),
# PM_COMPOSE_POSTSCREEN=1 (postscreen in front of smtpd on 127.0.0.1:2525:
# deploy/compose/postscreen.yml added to COMPOSE_FILE),
# CONTAINERS_CONF (default tests/container/containers.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$TOP/tests/container/containers.conf}
STATE=$TOP/run/compose
SOCK=$STATE/podman.sock
PIDF=$STATE/podman.pid
export DOCKER_HOST=unix://$SOCK
export COMPOSE_FILE=$TOP/deploy/compose/docker-compose.yml
if [ -n "${PM_COMPOSE_POSTSCREEN:-}" ]; then
	COMPOSE_FILE=$COMPOSE_FILE:$TOP/deploy/compose/postscreen.yml
fi
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-postmesh}
# docker-compose 1.29's default of 60 s is too short on 2 busy cores
export COMPOSE_HTTP_TIMEOUT=${COMPOSE_HTTP_TIMEOUT:-300}
SCALE=${PM_SCALE:-2}
STATELESS="smtpd cleanup rewrite bounce smtp error discard virtual"

service_alive() {
	[ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null
}

start_service() {
	mkdir -p "$STATE"
	if service_alive && [ -S "$SOCK" ]; then
		return 0
	fi
	rm -f "$SOCK"
	podman system service --time=0 "unix://$SOCK" >>"$STATE/podman.log" 2>&1 &
	echo $! >"$PIDF"
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		sleep 0.1
	done
	echo "error: podman system service did not open $SOCK; see $STATE/podman.log" >&2
	exit 1
}

stop_service() {
	if service_alive; then
		kill "$(cat "$PIDF")"
		for _ in $(seq 50); do
			service_alive || break
			sleep 0.1
		done
	fi
	rm -f "$PIDF" "$SOCK"
}

# The project's containers, one ID a line.
containers() {
	podman ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
}

# health: every container of the project runs and is healthy, and
# every Postmesh role answers GET /readyz (its Redis and peers are
# reachable) on its address on podman's bridge (this host; nothing
# leaves the machine): 0, else 1 with what is not on stdout. A
# container's healthcheck is run here (see above) only while podman
# does not show it healthy: one podman exec each costs about a second
# on a busy machine. Role replicas are counted (PM_SCALE, 1 per qmgr).
health() {
	local ids name state hstatus service ip bad=0 roles=0
	ids=$(podman ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
	[ -n "$ids" ] || { echo "no containers"; return 1; }
	# shellcheck disable=SC2086 # one argument per ID
	while read -r name state hstatus service ip; do
		if [ "$state" != running ]; then
			echo "$name($state)"
			bad=1
			continue
		fi
		if [ "$hstatus" != healthy ] && [ "$hstatus" != "-" ] &&
			! podman healthcheck run "$name" >/dev/null 2>&1; then
			echo "$name(unhealthy)"
			bad=1
			continue
		fi
		case " $STATELESS qmgr-1 qmgr-2 " in
		*" $service "*)
			roles=$((roles + 1))
			[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 \
				"http://$ip:9100/readyz")" = 200 ] || {
				echo "$name(not ready)"
				bad=1
			}
			;;
		esac
	done < <(podman inspect --format '{{.Name}} {{.State.Status}} {{if .Config.Healthcheck}}{{or .State.Health.Status "none"}}{{else}}-{{end}} {{index .Config.Labels "com.docker.compose.service"}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' $ids)
	local want=$(($(echo "$STATELESS" | wc -w) * SCALE + 2))
	if [ "$roles" -ne "$want" ]; then
		echo "role-containers($roles, want $want)"
		bad=1
	fi
	return $bad
}

up() {
	[ -f deploy/compose/certs/ca.pem ] || {
		echo "error: no certificates: run make certs" >&2
		exit 1
	}
	start_service
	local args=() s
	for s in $STATELESS; do args+=(--scale "$s=$SCALE"); done
	docker-compose up -d "${args[@]}"
	wait_healthy "${PM_UP_TIMEOUT:-120}"
	local ports what="one port per smtpd replica"
	ports=$(for i in $(seq "$SCALE"); do docker-compose port --index="$i" smtpd 2525; done | tr '\n' ' ')
	if [ -n "${PM_COMPOSE_POSTSCREEN:-}" ]; then
		ports=127.0.0.1:2525
		what="postscreen, in front of smtpd; smtpd's own ports want a PROXY header"
	fi
	cat <<TXT

The Postmesh compose stack runs ($(containers | wc -l) containers, all healthy).
SMTP ($what): $ports
Send a test mail (it is relayed to the sink container):

  swaks --server ${ports%% *} --from you@example.com --to someone@sink.test

STARTTLS (certificate for localhost from the test CA): add
  --tls --tls-verify --tls-ca-path deploy/compose/certs/ca.pem --tls-sni localhost
Submission on 127.0.0.1:2587 (STARTTLS required, AUTH as the test user):

  swaks --server 127.0.0.1:2587 --tls --tls-ca-path deploy/compose/certs/ca.pem \\
    --auth PLAIN --auth-user test --auth-password "\$(cat deploy/compose/certs/submission-password)" \\
    --from test@example.com --to someone@sink.test

The sink keeps one file per message:
  eval "\$(scripts/compose.sh env)"; docker-compose exec -T sink find /sink -type f
Mail for alice@virtual.test and bob@virtual.test is delivered (virtual
agent) to maildirs in the volume mail-data:

  swaks --server ${ports%% *} --from you@example.com --to alice@virtual.test
  docker-compose exec -T virtual find /var/mail/vhosts/virtual.test -type f
Prometheus: http://127.0.0.1:9090   Stop: make compose-down
TXT
}

wait_healthy() {
	local deadline=$((SECONDS + $1)) bad
	while :; do
		if bad=$(health | tr '\n' ' '); [ -z "$bad" ]; then
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "error: not healthy after $1 s: $bad" >&2
			docker-compose ps >&2 || true
			exit 1
		fi
		sleep 2
	done
}

# down: compose down through the API service (started if it is not
# running, e.g. after a crash), then remove whatever of the project is
# left with podman itself, then stop the service.
down() {
	local ids
	start_service
	docker-compose down -v --remove-orphans -t 5 || true
	ids=$(podman ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086 # one argument per ID
		podman rm -f -t 0 $ids >/dev/null || true
	fi
	ids=$(podman volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
	if [ -n "$ids" ]; then
		# shellcheck disable=SC2086 # one argument per name
		podman volume rm -f $ids >/dev/null || true
	fi
	podman network rm -f "${COMPOSE_PROJECT_NAME}_default" >/dev/null 2>&1 || true
	stop_service
}

case "${1:-}" in
up) up ;;
down) down ;;
env)
	echo "export DOCKER_HOST=$DOCKER_HOST COMPOSE_FILE=$COMPOSE_FILE" \
		"COMPOSE_PROJECT_NAME=$COMPOSE_PROJECT_NAME CONTAINERS_CONF=$CONTAINERS_CONF" \
		"COMPOSE_HTTP_TIMEOUT=$COMPOSE_HTTP_TIMEOUT"
	;;
health)
	start_service
	health
	;;
wait-healthy) wait_healthy "${2:-120}" ;;
*)
	echo "usage: $0 up|down|env|health|wait-healthy [SECONDS]" >&2
	exit 2
	;;
esac
