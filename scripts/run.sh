#!/usr/bin/env bash
# make run / make stop: a local Postmesh stack for trying it out.
#
#   scripts/run.sh start   build output must exist (make run builds it);
#                          starts redis-server (appendonly yes, appendfsync
#                          always, data in run/redis) and the services in
#                          the background (rewrite cleanup, then bounce
#                          qmgr smtp error discard local virtual where
#                          built, then smtpd, then postscreen in front
#                          of it), logs in run/log/, then returns.
#                          postscreen listens on the SMTP port
#                          127.0.0.1:2525 and hands the clients that
#                          pass (localhost at once: permit_mynetworks) to
#                          the smtpd behind it on 127.0.0.1:2526 with a
#                          PROXY v2 header (smtpd_upstream_proxy_protocol
#                          = haproxy); docs/frontdoor.md.
#                          A second smtpd, "submission", listens on
#                          127.0.0.1:2587 (STARTTLS required, AUTH with
#                          the test user of run/etc/sasl_passwd), as
#                          Postfix's master.cf submission entry.
#   scripts/run.sh stop    stops what start started (PIDs in run/pid/).
#
# Local delivery (local and virtual, when built): on first start a demo
# user "demo" is put in run/etc/users (local_recipient_maps: uid:gid:home,
# home run/mail/demo, mail in run/mail/demo/Maildir/), postmaster and
# root are aliased to it in run/etc/aliases (alias_maps, texthash:,
# checked with newaliases at every start), and the virtual domain
# virtual.localhost has the mailbox demo@virtual.localhost in
# run/mail/vhosts/virtual.localhost/demo/ (maildir). The demo user's
# uid/gid: yours; as root the owner of the checkout, or nobody (65534)
# when root owns it (the local agent refuses uid 0 from a table);
# POSTMESH_RUN_MAIL_UID=uid:gid chooses. That user must be able to
# reach run/mail (every parent directory searchable): start warns if not.
#
# TLS: on first start a self-signed certificate for "localhost" is made
# in run/etc/tls/smtpd.pem (key, then certificate) and a test user
# "test" with a random password (run/etc/test-password) is put in
# run/etc/sasl_passwd as a SHA-512 crypt hash; smtpd on 2525 offers
# STARTTLS ("may").
#
# Configuration: run/etc/main.cf is written on first start (edit it
# freely afterwards). Any parameter can be overridden from the
# environment as POSTMESH_<name>, e.g.
#   POSTMESH_smtpd_listen=0.0.0.0:2525 POSTMESH_relay_domains=example.com make run
# The services read the same variables, so listen addresses, mynetworks,
# relay_domains, relayhost ... all follow. POSTMESH_redis_server also
# picks the port of the local redis-server. The SMTP port that clients
# use is postscreen's: POSTMESH_postscreen_listen, or else
# POSTMESH_smtpd_listen (kept for that meaning), default 127.0.0.1:2525;
# the smtpd behind it listens on POSTMESH_RUN_SMTPD_LISTEN (default
# 127.0.0.1:2526; only postscreen may connect there: it trusts the PROXY
# header), postscreen's metrics on POSTMESH_postscreen_metrics_listen.
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
RUN=${POSTMESH_RUN_DIR:-$TOP/run}
BIN=${PM_BIN:-$TOP/build/bin}
# Start order: a service's peers first, smtpd last. The delivery services
# (issue 3) are started when their binaries are built.
SERVICES="rewrite cleanup"
for s in bounce qmgr smtp error discard local virtual; do
	if [ -x "$BIN/$s" ]; then SERVICES="$SERVICES $s"; fi
done
SERVICES="$SERVICES smtpd postscreen"
# Stop order: postscreen and smtpd first (no new mail), rewrite last;
# every service that may run, built or not (a pid file may be left from
# a start).
STOP_ORDER="postscreen smtpd submission virtual local discard error smtp qmgr bounce cleanup rewrite"
# The submission smtpd: POSTMESH_smtpd_listen must not reach it (the
# environment beats -o), so it has its own two variables.
sub_listen=${POSTMESH_RUN_SUBMISSION_LISTEN:-127.0.0.1:2587}
sub_metrics=${POSTMESH_RUN_SUBMISSION_METRICS:-http://127.0.0.1:9127}
sub_host=${sub_listen%:*}
sub_port=${sub_listen##*:}
[ "$sub_host" = "0.0.0.0" ] && sub_host=127.0.0.1

redis_addr=${POSTMESH_redis_server:-127.0.0.1:6379}
redis_host=${redis_addr%:*}
redis_port=${redis_addr##*:}
# The public SMTP port is postscreen's; the smtpd behind it has its own
# variable (the environment beats -o, so POSTMESH_smtpd_listen, which
# names the public port here, must not reach that smtpd).
smtpd_listen=${POSTMESH_postscreen_listen:-${POSTMESH_smtpd_listen:-127.0.0.1:2525}}
smtp_host=${smtpd_listen%:*}
smtp_port=${smtpd_listen##*:}
[ "$smtp_host" = "0.0.0.0" ] && smtp_host=127.0.0.1
back_listen=${POSTMESH_RUN_SMTPD_LISTEN:-127.0.0.1:2526}
back_host=${back_listen%:*}
back_port=${back_listen##*:}
[ "$back_host" = "0.0.0.0" ] && back_host=127.0.0.1

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

# listening PORT: a TCP socket listens on PORT. For the smtpd behind
# postscreen a test connection would be logged as a PROXY header error.
listening() {
	[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
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

# The certificate and the test user, once (kept across restarts).
tls_setup() {
	local tls=$RUN/etc/tls pw
	if [ ! -f "$tls/smtpd.pem" ]; then
		mkdir -p "$tls"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -days 825 -subj /CN=localhost \
			-addext subjectAltName=DNS:localhost \
			-keyout "$tls/smtpd.key" -out "$tls/smtpd.crt" 2>/dev/null
		(umask 077 && cat "$tls/smtpd.key" "$tls/smtpd.crt" > "$tls/smtpd.pem")
		rm -f "$tls/smtpd.key"
		echo "made a self-signed certificate for localhost: $tls/smtpd.crt"
	fi
	if [ ! -f "$RUN/etc/sasl_passwd" ]; then
		pw=$(openssl rand -hex 8)
		(umask 077 && echo "$pw" > "$RUN/etc/test-password")
		(umask 077 && echo "test:$(openssl passwd -6 "$pw")" > "$RUN/etc/sasl_passwd")
	fi
}

# has_svc NAME: NAME is one of the services start runs.
has_svc() {
	case " $SERVICES " in *" $1 "*) return 0 ;; esac
	return 1
}

# mail_owner: "uid gid" for the demo user's mailboxes (made once).
mail_owner() {
	local spec=${POSTMESH_RUN_MAIL_UID:-}
	if [ -n "$spec" ]; then
		case "$spec" in *:*) echo "${spec%%:*} ${spec#*:}" ;; *) echo "$spec $spec" ;; esac
	elif [ "$(id -u)" -ne 0 ]; then
		echo "$(id -u) $(id -g)"
	elif [ "$(stat -c %u "$TOP")" -ne 0 ]; then
		stat -c '%u %g' "$TOP"
	else
		echo "65534 65534"
	fi
}

# Local delivery, once (kept across restarts): the demo user, the
# aliases, the virtual mailbox table, the mailbox directories and the
# main.cf block that names them (appended to an older run/etc/main.cf
# that lacks it). At every start: newaliases checks the aliases.
mail_setup() {
	has_svc local || has_svc virtual || return 0
	local mail=$RUN/mail uid gid
	if [ ! -f "$RUN/etc/users" ]; then
		read -r uid gid < <(mail_owner)
		cat > "$RUN/etc/users" <<USERS
# local_recipient_maps of \`make run\`: user uid:gid:home (docs/delivery.md)
demo $uid:$gid:$mail/demo
USERS
	fi
	if [ ! -f "$RUN/etc/aliases" ]; then
		cat > "$RUN/etc/aliases" <<ALIASES
# alias_maps of \`make run\` (aliases(5), read as texthash:); after an
# edit: newaliases -c $RUN/etc (checks it), then make stop; make run.
postmaster: demo
root:       demo
ALIASES
	fi
	if [ ! -f "$RUN/etc/vmailbox" ]; then
		cat > "$RUN/etc/vmailbox" <<VMAILBOX
# virtual_mailbox_maps of \`make run\`: address, then the mailbox under
# virtual_mailbox_base (a trailing / is a maildir)
demo@virtual.localhost  virtual.localhost/demo/
VMAILBOX
	fi
	IFS=: read -r uid gid _ < <(awk '$1 == "demo" { print $2 ":" }' "$RUN/etc/users")
	if ! grep -q '^# Local delivery (scripts/run.sh)' "$RUN/etc/main.cf"; then
		cat >> "$RUN/etc/main.cf" <<CONF

# Local delivery (scripts/run.sh): local for mydestination (localhost,
# \$myhostname), virtual for virtual.localhost; docs/delivery.md.
alias_maps = texthash:$RUN/etc/aliases
local_recipient_maps = texthash:$RUN/etc/users, \$alias_maps
home_mailbox = Maildir/
recipient_delimiter = +
virtual_mailbox_domains = virtual.localhost
virtual_mailbox_base = $mail/vhosts
virtual_mailbox_maps = texthash:$RUN/etc/vmailbox
virtual_uid_maps = static:${uid:-65534}
virtual_gid_maps = static:${gid:-65534}
CONF
	fi
	mkdir -p "$mail"
	chmod 755 "$mail"
	if [ -n "${uid:-}" ]; then
		local d
		for d in "$mail/demo" "$mail/vhosts"; do
			[ -d "$d" ] && continue
			mkdir -m 700 "$d"
			[ "$(id -u)" -eq 0 ] && chown "$uid:$gid" "$d"
		done
		# the agents write as the user: it must reach its home
		if [ "$(id -u)" -eq 0 ] && ! setpriv --reuid "$uid" --regid "$gid" \
			--clear-groups test -w "$mail/demo" 2>/dev/null; then
			echo "warning: uid $uid cannot write $mail/demo (a parent" \
			     "directory is not searchable): local delivery to demo" \
			     "will be deferred; chmod o+x the parents or set" \
			     "POSTMESH_RUN_DIR elsewhere" >&2
		fi
	fi
	# a bad line in the aliases stops local; say so here, with its line
	if has_svc local && [ -x "$BIN/newaliases" ] &&
		[ -z "${POSTMESH_alias_maps+set}${POSTMESH_alias_database+set}" ]; then
		if ! "$BIN/newaliases" -c "$RUN/etc"; then
			echo "error: newaliases: fix $RUN/etc/aliases" >&2
			exit 1
		fi
	fi
}

# start_submission: smtpd -o ..., as Postfix's master.cf entry
#   submission inet n - n - - smtpd -o syslog_name=postfix/submission
#     -o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes ...
start_submission() {
	if alive "$RUN/pid/submission.pid"; then
		echo "submission already running (pid $(cat "$RUN/pid/submission.pid"))"
		return
	fi
	nohup env -u POSTMESH_smtpd_listen -u POSTMESH_smtpd_metrics_listen \
		-u POSTMESH_smtpd_upstream_proxy_protocol \
		"$BIN/smtpd" -c "$RUN/etc" \
		-o syslog_name=postmesh/submission \
		-o smtpd_upstream_proxy_protocol= \
		-o "smtpd_listen=$sub_listen" \
		-o "smtpd_metrics_listen=$sub_metrics" \
		-o smtpd_tls_security_level=encrypt \
		-o "smtpd_tls_chain_files=$RUN/etc/tls/smtpd.pem" \
		-o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=yes \
		-o smtpd_sasl_type=crypt \
		-o "smtpd_sasl_password_maps=$RUN/etc/sasl_passwd" \
		-o "smtpd_relay_restrictions=permit_sasl_authenticated, reject" \
		>>"$RUN/log/submission.log" 2>&1 &
	echo $! > "$RUN/pid/submission.pid"
	echo "submission started (pid $!, log $RUN/log/submission.log)"
}

start() {
	mkdir -p "$RUN/etc" "$RUN/log" "$RUN/pid" "$RUN/redis"
	tls_setup
	if [ ! -f "$RUN/etc/main.cf" ]; then
		cat > "$RUN/etc/main.cf" <<CONF
# main.cf for \`make run\` (Postfix syntax). Parameters not set here
# take their defaults; see docs/configuration.md. Environment variables
# POSTMESH_<name> override this file.
redis_server = $redis_addr
# postscreen on the SMTP port, smtpd behind it (scripts/run.sh sets
# the two listen addresses and postscreen_smtpd_service; its
# POSTMESH_RUN_SMTPD_LISTEN and POSTMESH_smtpd_listen say how).
postscreen_listen = 127.0.0.1:2525
smtpd_listen = 127.0.0.1:2526
smtpd_upstream_proxy_protocol = haproxy
# localhost passes postscreen at once (ALLOWLISTED), other clients wait
# postscreen_greet_wait (6s) for the pregreet test.
postscreen_access_list = permit_mynetworks
mynetworks = 127.0.0.1/32 [::1]/128
# STARTTLS offered (docs/tls.md); the certificate is self-signed.
smtpd_tls_security_level = may
smtpd_tls_chain_files = $RUN/etc/tls/smtpd.pem
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
	mail_setup
	for s in $SERVICES; do
		if alive "$RUN/pid/$s.pid"; then
			echo "$s already running (pid $(cat "$RUN/pid/$s.pid"))"
			continue
		fi
		case $s in
		smtpd)
			# behind postscreen: the PROXY header gives the client
			nohup env -u POSTMESH_smtpd_listen "$BIN/smtpd" -c "$RUN/etc" \
				-o "smtpd_listen=$back_listen" \
				-o smtpd_upstream_proxy_protocol=haproxy \
				>>"$RUN/log/$s.log" 2>&1 &
			;;
		postscreen)
			nohup "$BIN/postscreen" -c "$RUN/etc" \
				-o "postscreen_listen=$smtpd_listen" \
				-o "postscreen_smtpd_service=$back_host:$back_port" \
				>>"$RUN/log/$s.log" 2>&1 &
			;;
		*)
			nohup "$BIN/$s" -c "$RUN/etc" >>"$RUN/log/$s.log" 2>&1 &
			;;
		esac
		echo $! > "$RUN/pid/$s.pid"
		echo "$s started (pid $!, log $RUN/log/$s.log)"
	done
	start_submission
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/$smtp_host/$smtp_port") 2>/dev/null &&
			listening "$back_port" &&
			(exec 3<>"/dev/tcp/$sub_host/$sub_port") 2>/dev/null && break
		sleep 0.1
	done
	for s in $SERVICES submission; do
		alive "$RUN/pid/$s.pid" || {
			echo "error: $s exited; see $RUN/log/$s.log:" >&2
			tail -5 "$RUN/log/$s.log" >&2
			exit 1
		}
	done
	cat <<TXT

Postmesh is running: SMTP on $smtp_host:$smtp_port (postscreen, which hands
clients to the smtpd on $back_host:$back_port; localhost passes at once,
see $RUN/log/postscreen.log). Send a test mail:

TXT
	if has_svc local; then
		cat <<TXT
  swaks --server $smtp_host --port $smtp_port --from you@example.com --to demo@localhost

It lands in the local user demo's maildir, $RUN/mail/demo/Maildir/new/
(one file per message; postmaster and root are aliases of demo:
$RUN/etc/aliases; users: $RUN/etc/users; log: $RUN/log/local.log).
TXT
	else
		cat <<TXT
  swaks --server $smtp_host --port $smtp_port --from you@example.com --to postmaster@localhost
TXT
	fi
	if has_svc virtual; then
		cat <<TXT
The virtual domain virtual.localhost ($RUN/etc/vmailbox) has one mailbox:

  swaks --server $smtp_host --port $smtp_port --from you@example.com --to demo@virtual.localhost

lands in $RUN/mail/vhosts/virtual.localhost/demo/new/.
TXT
	fi
	cat <<TXT

Submission (STARTTLS and AUTH required) on $sub_host:$sub_port, user "test",
password in $RUN/etc/test-password:

  swaks --server $sub_host --port $sub_port --tls --auth PLAIN --auth-user test --auth-password $(cat "$RUN/etc/test-password") --from test@example.com --to someone@example.net

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

# stop_group NAME...: SIGTERM to every NAME at once, then wait for each
# (10 s, then SIGKILL). The delivery agents take a few seconds each to
# give their jobs back to qmgr: stopped together, not one by one.
stop_group() {
	local s killed=" "
	for s in "$@"; do
		if alive "$RUN/pid/$s.pid"; then
			kill "$(cat "$RUN/pid/$s.pid")"
			killed="$killed$s "
		fi
	done
	for s in "$@"; do
		case "$killed" in
		*" $s "*)
			for _ in $(seq 100); do
				alive "$RUN/pid/$s.pid" || break
				sleep 0.1
			done
			alive "$RUN/pid/$s.pid" && kill -9 "$(cat "$RUN/pid/$s.pid")"
			echo "$s stopped"
			;;
		esac
		rm -f "$RUN/pid/$s.pid"
	done
}

stop() {
	local s group="" agents=" virtual local discard error smtp "
	# in STOP_ORDER; the agents next to each other go as one group
	for s in $STOP_ORDER; do
		case "$agents" in
		*" $s "*) group="$group $s" ;;
		*)
			# shellcheck disable=SC2086 # a list of names
			[ -n "$group" ] && stop_group $group
			group=""
			stop_group "$s"
			;;
		esac
	done
	# shellcheck disable=SC2086
	[ -n "$group" ] && stop_group $group
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
