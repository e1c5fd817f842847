#!/usr/bin/env bash
# make container-test: the image and the compose stack, for real, on
# podman (needs root, docker-compose, swaks, smtp-source).
#
#   tests/container/run.sh
#
# 1. make image, make certs, compose stack up (scripts/compose.sh: two
#    replicas of every stateless role, qmgr-1 and qmgr-2, internal TLS,
#    Redis with AOF and an ACL user, Prometheus, smtp-sink);
# 2. every role container: its PID 1 runs as uid 10001, `postmesh
#    healthcheck` passes (GET /healthz 200) and fails when pointed at a
#    port where nothing listens, the root filesystem refuses writes;
#    Prometheus scrapes every replica;
# 3. one message with swaks, then 1,000 with smtp-source (500 through
#    each smtpd replica): every one found at the sink, none twice;
#    virtual delivery: swaks to alice@ and bob@virtual.test, each
#    message found exactly once as a file in that user's maildir in the
#    mail-data volume (podman exec into a virtual replica), an unknown
#    user refused at RCPT (550 5.1.1);
#    TLS and submission: swaks --tls to smtpd (certificate verified
#    against the compose CA) and swaks --tls --auth PLAIN as the test
#    user to the submission service reach the sink with "with ESMTPS"
#    and the cipher in Received:; submission refuses relaying without
#    AUTH (5xx at RCPT), MAIL before STARTTLS (530) and a wrong
#    password (535);
# 4. under load (tests/container/load.py: unique Message-IDs, from the
#    host through both published smtpd ports) one replica of each role
#    is killed in turn (SIGKILL) and started again by compose; then every
#    message that got a 250 must reach the sink. Duplicates are allowed
#    only within the in-flight bound (a killed smtp agent's deliveries in
#    flight, at most smtp_delivery_slots = 50) and are reported;
# 5. step 2 again on the restarted containers;
# 6. after the compose stack is down: the Helm chart's rendered
#    workloads under `podman play kube` pass mail to a sink pod
#    (tests/container/playkube.py).
# The stack is always torn down (trap). Timings are printed at the end.
# Traffic stays on loopback and podman's bridge.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$(pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$TOP/tests/container/containers.conf}
ROLES="smtpd cleanup rewrite bounce smtp error discard virtual"
DUP_BOUND=50
tmp=$(mktemp -d /tmp/pm-container-test.XXXXXX)
# where save_logs keeps the containers' logs of a failed run
LOGDIR=${PM_CONTAINER_LOGS:-$TOP/run/container-logs.$(date -u +%Y%m%dT%H%M%S)}
t_start=$SECONDS
timings=""
load_pid=""

cleanup() {
	local rc=$?
	if [ -n "$load_pid" ]; then kill "$load_pid" 2>/dev/null || true; fi
	if [ "$rc" -ne 0 ] && [ -n "${DOCKER_HOST:-}" ]; then
		echo "--- failed; last log lines of each service:" >&2
		docker-compose logs --tail=15 --no-color >&2 2>/dev/null || true
		save_logs
	fi
	scripts/compose.sh down >/dev/null 2>&1 || true
	rm -rf "$tmp"
	if [ "$rc" -ne 0 ]; then
		printf '%s' "$timings"
		printf '%-28s %4d s (failed)\n' total $((SECONDS - t_start))
	fi
	exit "$rc"
}
trap cleanup EXIT

# save_logs: every container's whole log (podman logs, all restarts) to
# $LOGDIR/NAME.log, kept after the stack is down, so that a failure is
# diagnosable afterwards (and in CI output through trace_missing).
save_logs() {
	local name
	[ -n "$LOGDIR" ] && [ ! -d "$LOGDIR" ] || return 0
	mkdir -p "$LOGDIR"
	for name in $(podman ps -a --format '{{.Names}}' \
		--filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"); do
		podman logs "$name" >"$LOGDIR/$name.log" 2>&1 || true
	done
	echo "--- container logs kept in $LOGDIR" >&2
}

# trace_missing WANTFILE: for the first few Message-IDs of WANTFILE not at
# the sink, every log line of their queue IDs (from cleanup's
# "QID: message-id=<...>"), in every container, in time order.
trace_missing() {
	local mid qid
	save_logs
	sort -u "$1" | comm -23 - "$tmp/at-sink" | sed -n 1,10p | while read -r mid; do
		echo "--- $mid:" >&2
		grep -h -F "message-id=$mid" "$LOGDIR"/*.log >&2 || true
		grep -h -F "message-id=$mid" "$LOGDIR"/*.log |
			sed -n 's/.* \([0-9A-Za-z]*\): message-id=.*/\1/p' | sort -u |
			while read -r qid; do
				# "Mon DD HH:MM:SS host role[pid]: ...": time order
				grep -h -F "$qid" "$LOGDIR"/*.log | sort -s -k3,3 >&2 || true
			done
	done
	echo "--- bounce and defer lines of the load (sink.test):" >&2
	grep -h -E 'status=(bounced|deferred)|non-delivery|delay notification' \
		"$LOGDIR"/*.log | sed -n 1,40p >&2 || true
}

# timed NAME CMD...: run CMD, remember how long it took
timed() {
	local name=$1 t=$SECONDS
	shift
	echo "=== $name"
	"$@"
	timings="$timings$(printf '%-28s %4d s' "$name" $((SECONDS - t)))"$'\n'
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The sink's messages, one line each: the Message-ID (or the recipient
# with --rcpt) of every file in the sink volume.
# podman exec, not docker-compose exec: no HTTP attach through the API
# service, which timed out on a busy machine.
sink_ids() {
	podman exec "$SINK" sh -c \
		"find /sink -type f -exec grep -hi -m1 '^message-id:' {} +" |
		tr -d '\r' | awk '{ print $2 }'
}
sink_rcpts() {
	podman exec "$SINK" sh -c \
		"find /sink -type f -exec grep -h -m1 '^X-Rcpt-Args:' {} +" |
		tr -d '\r' | awk '{ print $2 }'
}

# wait_sink SECONDS WANTFILE: until every line of WANTFILE is among the
# sink's Message-IDs; prints the missing count while waiting.
wait_sink() {
	local deadline=$((SECONDS + $1)) missing
	while :; do
		sink_ids | sort -u >"$tmp/at-sink"
		missing=$(sort -u "$2" | comm -23 - "$tmp/at-sink" | wc -l)
		[ "$missing" -eq 0 ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "missing at the sink after $1 s: $missing, e.g." >&2
			sort -u "$2" | comm -23 - "$tmp/at-sink" | sed -n 1,5p >&2
			return 1
		fi
		sleep 3
	done
}

# check_roles: every role container runs as 10001, answers /healthz,
# has a read-only root, asks only the engine's DNS (dns_server: the
# first nameserver of its resolv.conf, docs/deploy.md); the healthcheck
# itself fails without a server.
# One podman exec per container (each costs about a second when busy).
check_roles() {
	local svc id out n=0
	for svc in $ROLES qmgr-1 qmgr-2; do
		for id in $(docker-compose ps -q "$svc"); do
			# shellcheck disable=SC2016 # expanded in the container
			out=$(podman exec "$id" bash -c '
				echo "uid=$(awk "/^Uid:/ { print \$2 }" /proc/1/status)"
				/usr/bin/postmesh healthcheck && echo healthz=200
				POSTMESH_HEALTH_PORT=9 /usr/bin/postmesh healthcheck 2>/dev/null ||
					echo healthcheck-without-server=fails
				touch /etc/postmesh/written 2>/dev/null || echo root=read-only
				ns=$(awk "\$1 == \"nameserver\" { print \$2; exit }" /etc/resolv.conf)
				tr "\0" "\n" </proc/1/environ | grep -qx "POSTMESH_dns_server=$ns" &&
					echo dns=engine-only' | tr '\n' ' ')
			[ "$out" = "uid=10001 healthz=200 healthcheck-without-server=fails root=read-only dns=engine-only " ] ||
				fail "$svc ($id): got '$out', want uid=10001 healthz=200 healthcheck-without-server=fails root=read-only dns=engine-only"
			n=$((n + 1))
		done
	done
	[ "$n" -eq 18 ] || fail "$n role containers, want 18 (2 of each of 9 roles)"
	echo "roles: $n containers: uid 10001, /healthz 200, read-only root"
}

check_prometheus() {
	local up deadline=$((SECONDS + 60))
	while :; do
		up=$(curl -s 'http://127.0.0.1:9090/api/v1/targets?state=active' |
			python3 -c 'import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
print(sum(1 for x in t if x["labels"]["job"].startswith("postmesh-") and x["health"] == "up"))')
		[ "$up" -eq 19 ] && break
		[ "$SECONDS" -ge "$deadline" ] && fail "Prometheus: $up role targets up, want 19"
		sleep 2
	done
	echo "prometheus: 19 role replicas scraped (18 and submission)"
	# the alert rules (deploy/prometheus/rules.yml) are loaded and
	# evaluate without error against the stack's metrics
	deadline=$((SECONDS + 30))
	while :; do
		up=$(curl -s http://127.0.0.1:9090/api/v1/rules | python3 -c 'import json, sys
g = json.load(sys.stdin)["data"]["groups"]
r = [x for grp in g for x in grp["rules"]]
print("%d %d" % (len(r), sum(1 for x in r if x.get("health") == "ok")))')
		[ "${up% *}" -gt 0 ] && [ "${up% *}" = "${up#* }" ] && break
		[ "$SECONDS" -ge "$deadline" ] && fail "Prometheus rules: $up (rules, healthy)"
		sleep 2
	done
	echo "prometheus: ${up% *} alert rules loaded, all evaluating"
}

send_swaks() {
	local mid="<swaks.$$.$RANDOM@postmesh.test>"
	swaks --silent 2 --server "$P1" --from swaks@example.com --to swaks@sink.test \
		--header "Message-Id: $mid" >/dev/null || fail "swaks: not accepted"
	echo "$mid" >"$tmp/swaks"
	wait_sink 60 "$tmp/swaks" || fail "swaks message not at the sink"
	echo "swaks: 1 message at the sink"
}

# maildir_count USER MID: how many files in USER@virtual.test's maildir
# (new/, in the mail-data volume, seen from a virtual replica) hold
# Message-ID MID.
maildir_count() {
	podman exec "$VIRT" sh -c "grep -rlF -- '$2' /var/mail/vhosts/virtual.test/$1/new 2>/dev/null | wc -l"
}

send_virtual() {
	local u mid out n deadline
	for u in alice bob; do
		mid="<virtual-$u.$$.$RANDOM@postmesh.test>"
		swaks --silent 2 --server "$P1" --from swaks@example.com --to "$u@virtual.test" \
			--header "Message-Id: $mid" >/dev/null || fail "swaks to $u@virtual.test: not accepted"
		deadline=$((SECONDS + 60))
		while n=$(maildir_count "$u" "$mid") && [ "$n" -eq 0 ]; do
			[ "$SECONDS" -ge "$deadline" ] && fail "$u@virtual.test: no file in its maildir after 60 s"
			sleep 2
		done
		sleep 2 # a duplicate, if any
		n=$(maildir_count "$u" "$mid")
		[ "$n" -eq 1 ] || fail "$u@virtual.test: $n files with $mid in its maildir, want 1"
		# written as 10001 (virtual_uid_maps), Delivered-To: prepended
		out=$(podman exec "$VIRT" sh -c "f=\$(grep -rlF -- '$mid' /var/mail/vhosts/virtual.test/$u/new); stat -c %u \"\$f\"; grep -c '^Delivered-To: $u@virtual.test' \"\$f\"" | tr '\n' ' ')
		[ "$out" = "10001 1 " ] || fail "$u@virtual.test: owner and Delivered-To: '$out', want '10001 1 '"
	done
	out=$(swaks --server "$P1" --from swaks@example.com --to carol@virtual.test --quit-after RCPT 2>&1 || true)
	grep -qE '^<\*\* +550 5\.1\.1 ' <<<"$out" ||
		fail "carol@virtual.test (unknown) not refused with 550 5.1.1: $(tail -3 <<<"$out")"
	echo "virtual: alice@ and bob@virtual.test each once in their maildirs (mail-data volume, uid 10001); carol@ refused 550 5.1.1"
}

# sink_message MID: the message with Message-ID MID at the sink.
sink_message() {
	local f
	f=$(podman exec "$SINK" grep -rlF -- "$1" /sink | sed -n 1p)
	[ -n "$f" ] && podman exec "$SINK" cat "$f"
}

# swaks_tls ARGS...: swaks with STARTTLS, the certificate verified
# against the compose CA for the name localhost; the transcript on
# stdout, never a failure (the callers check the replies).
swaks_tls() {
	swaks --tls --tls-verify --tls-ca-path deploy/compose/certs/ca.pem \
		--tls-sni localhost "$@" 2>&1 || true
}

# want_tls_at_sink WHAT MID: the message arrived over TLS ("with
# ESMTPS" and the cipher in smtpd's Received: header).
want_tls_at_sink() {
	local msg
	msg=$(sink_message "$2")
	if ! grep -q 'with ESMTPS' <<<"$msg" || ! grep -q 'using TLSv1\.[23] with cipher' <<<"$msg"; then
		fail "$1: the message at the sink has no TLS Received: header: $(grep -A3 '^Received:' <<<"$msg" | head -4)"
	fi
}

send_tls_submission() {
	local out pw m1 m2
	pw=$(head -1 deploy/compose/certs/submission-password)
	m1="<tls.$$.$RANDOM@postmesh.test>"
	m2="<submission.$$.$RANDOM@postmesh.test>"
	# port 25 (smtpd_tls_security_level may): STARTTLS, no AUTH
	out=$(swaks_tls --server "$P1" --from swaks@example.com --to tls@sink.test --header "Message-Id: $m1")
	grep -q '^=== TLS started with cipher' <<<"$out" || fail "swaks --tls to smtpd: no TLS: $(tail -5 <<<"$out")"
	grep -qE '^<~ +250 ' <<<"$(grep -A1 '^ ~> \.$' <<<"$out")" ||
		fail "swaks --tls to smtpd: not accepted: $(tail -5 <<<"$out")"
	# submission: STARTTLS, AUTH PLAIN as the test user, relayed to the sink
	out=$(swaks_tls --server 127.0.0.1:2587 --auth PLAIN --auth-user test --auth-password "$pw" \
		--from test@example.com --to submitted@sink.test --header "Message-Id: $m2")
	grep -q '^<~ *235 ' <<<"$out" || fail "submission: AUTH PLAIN as test not accepted: $(grep '^<~\*' <<<"$out" | tail -3)"
	grep -qE '^<~ +250 ' <<<"$(grep -A1 '^ ~> \.$' <<<"$out")" ||
		fail "submission: message not accepted: $(tail -5 <<<"$out")"
	printf '%s\n%s\n' "$m1" "$m2" >"$tmp/tls"
	wait_sink 60 "$tmp/tls" || fail "the TLS / submission messages are not at the sink"
	want_tls_at_sink "swaks --tls to smtpd" "$m1"
	want_tls_at_sink "submission" "$m2"
	# submission refuses: relaying without AUTH (under TLS), MAIL before
	# STARTTLS, a wrong password
	out=$(swaks_tls --server 127.0.0.1:2587 --from x@example.com --to norelay@sink.test --quit-after RCPT)
	grep -qE '^<~\* +5[0-9][0-9] ' <<<"$out" ||
		fail "submission: relaying without AUTH not refused: $(tail -4 <<<"$out")"
	out=$(swaks --server 127.0.0.1:2587 --from x@example.com --to plain@sink.test --quit-after MAIL 2>&1 || true)
	grep -qE '^<\*\* +530 ' <<<"$out" || fail "submission: MAIL without STARTTLS not refused with 530: $(tail -4 <<<"$out")"
	out=$(swaks_tls --server 127.0.0.1:2587 --auth PLAIN --auth-user test --auth-password "wrong-$pw" --quit-after AUTH)
	grep -qE '^<~\* +535 ' <<<"$out" || fail "submission: a wrong password not refused with 535: $(tail -4 <<<"$out")"
	echo "tls: swaks --tls to smtpd and --tls --auth PLAIN to submission at the sink (ESMTPS, cipher in Received:);" \
		"submission refused relaying without AUTH, MAIL before STARTTLS, a wrong password"
}

send_smtp_source() {
	local rc1=0 rc2=0 got total
	smtp-source -s 10 -m 500 -N -f src@example.com -t a@sink.test "$P1" &
	local p=$!
	smtp-source -s 10 -m 500 -N -f src@example.com -t b@sink.test "$P2" || rc2=$?
	wait "$p" || rc1=$?
	if [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ]; then
		fail "smtp-source exited $rc1/$rc2"
	fi
	local deadline=$((SECONDS + 120))
	while :; do
		sink_rcpts | grep -E '^<[0-9]+[ab]@sink\.test>$' >"$tmp/src" || true
		got=$(sort -u "$tmp/src" | wc -l)
		total=$(wc -l <"$tmp/src")
		[ "$got" -ge 1000 ] && break
		[ "$SECONDS" -ge "$deadline" ] && fail "smtp-source: $got of 1000 at the sink"
		sleep 3
	done
	sleep 3 # late duplicates, if any
	total=$(sink_rcpts | grep -cE '^<[0-9]+[ab]@sink\.test>$')
	if [ "$got" -ne 1000 ] || [ "$total" -ne 1000 ]; then
		fail "smtp-source: $got distinct and $total messages at the sink, want 1000 and 1000"
	fi
	echo "smtp-source: 1000 messages at the sink, none twice"
}

# ready ID: the container runs and its role answers GET /readyz on its
# address on podman's bridge (this host).
ready() {
	local state ip
	read -r state ip < <(podman inspect --format \
		'{{.State.Status}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1" 2>/dev/null) || return 1
	[ "$state" = running ] && [ -n "$ip" ] &&
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://$ip:9100/readyz")" = 200 ]
}

# kill_one SERVICE: SIGKILL replica 1 of SERVICE, let compose start it
# again, wait until it is ready (only that one container: a whole-stack
# health pass costs a podman exec per container on a busy machine).
kill_one() {
	local svc=$1 id t=$SECONDS deadline
	# sed, not head: head exits early, and pipefail turns the SIGPIPE of
	# docker-compose into a failure of the test (seen: exit 141)
	id=$(docker-compose ps -q "$svc" | sed -n 1p)
	if [ "$svc" = qmgr-1 ]; then
		docker-compose kill qmgr-1 >/dev/null 2>&1
	else
		# docker-compose 1.29 kills all replicas of a service or none;
		# one replica is killed through the container engine
		podman kill --signal KILL "$id" >/dev/null
	fi
	sleep 2
	docker-compose start "$svc" >/dev/null 2>&1 || true
	deadline=$((SECONDS + 120))
	until ready "$id"; do
		[ "$SECONDS" -ge "$deadline" ] && fail "$svc ($id) not ready 120 s after its restart"
		sleep 1
	done
	echo "killed one $svc; ready again after $((SECONDS - t)) s"
}

load_and_kill() {
	local stop=$tmp/stop svc dups extra accepted
	python3 tests/container/load.py "$tmp/accepted" "$stop" "$P1" "$P2" >"$tmp/load.out" &
	load_pid=$!
	sleep 5
	for svc in smtpd cleanup rewrite qmgr-1 bounce smtp error discard; do
		kill_one "$svc"
		sleep 2
	done
	touch "$stop"
	wait "$load_pid"
	load_pid=""
	cat "$tmp/load.out"
	accepted=$(wc -l <"$tmp/accepted")
	[ "$accepted" -gt 100 ] || fail "only $accepted messages accepted under load"
	if ! wait_sink 180 "$tmp/accepted"; then
		trace_missing "$tmp/accepted"
		fail "accepted messages lost"
	fi
	sleep 3 # late duplicates, if any
	sink_ids | grep '@postmesh.test>$' | grep '^<load-' >"$tmp/load-at-sink" || true
	dups=$(sort "$tmp/load-at-sink" | uniq -d | wc -l)
	extra=$(sort -u "$tmp/load-at-sink" | comm -13 <(sort -u "$tmp/accepted") - | wc -l)
	echo "load: $accepted accepted (250), all $accepted at the sink;" \
		"$dups delivered twice (bound $DUP_BOUND), $extra at the sink without a 250 (refused or cut off after queueing)"
	[ "$dups" -le "$DUP_BOUND" ] || fail "$dups duplicates, more than $DUP_BOUND"
}

timed "make image" nice make --no-print-directory image
timed "make certs" make --no-print-directory certs
scripts/compose.sh down >/dev/null 2>&1 || true
timed "compose up" scripts/compose.sh up
eval "$(scripts/compose.sh env)"
P1=$(docker-compose port --index=1 smtpd 2525)
P2=$(docker-compose port --index=2 smtpd 2525)
SINK=$(docker-compose ps -q sink)
VIRT=$(docker-compose ps -q virtual | sed -n 1p)
timed "roles (uid, healthz)" check_roles
timed "prometheus targets" check_prometheus
timed "swaks" send_swaks
timed "virtual delivery" send_virtual
timed "TLS and submission" send_tls_submission
timed "smtp-source 1000" send_smtp_source
timed "kill each role under load" load_and_kill
timed "roles after the kills" check_roles

timed "compose down" scripts/compose.sh down

# ---- podman play kube (the Helm chart's rendered Deployments) ----------
# tests/container/playkube.py: the chart rendered with
# tests/container/values-playkube.yaml, run as pods (what podman cannot
# run is adapted, see its header), 50 messages through smtpd to a sink
# pod, every Postmesh container ready and running as uid 10001.
playkube() {
	local helm
	helm=$(tests/static/tools.sh)
	python3 tests/container/playkube.py "$helm" --messages 50
}
timed "helm chart: podman play kube" playkube
echo
echo "container-test: passed"
printf '%s' "$timings"
printf '%-28s %4d s\n' total $((SECONDS - t_start))
