#!/usr/bin/env bash
# make certs: the secrets of the compose stack (deploy/compose), made
# into deploy/compose/certs/ (not in git; CERTS_DIR overrides):
#   ca.pem, ca.key       a test CA for internal mutual TLS (made once)
#   <role>.pem           certificate + key per role (scripts/internal-tls-certs.sh),
#                        names DNS:postmesh-internal and DNS:<role>
#   redis-password       password of the Redis ACL user postmesh (one line)
#   users.acl            Redis ACL file: user postmesh, and the default user
#                        ON with an admin password of its own (Redis 7.0
#                        drops MULTI/EXEC blocks of its AOF at a restart when
#                        the default user is off: docs/operations.md)
# Existing files are kept (run it again to add what is missing; delete
# the directory for new ones). The containers run as uid 10001: as root
# the files a container reads are given to 10001 and stay mode 0600 (the
# CA key stays root's); otherwise (rootless podman maps your uid to the
# container's root, not to 10001) they are made readable by all, which
# is for a test stack only.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${CERTS_DIR:-deploy/compose/certs}
ROLES="smtpd cleanup rewrite qmgr smtp bounce error discard"
mkdir -p "$dir"
umask 077

missing=""
for r in $ROLES; do
	[ -f "$dir/$r.pem" ] || missing="$missing $r"
done
# shellcheck disable=SC2086 # one argument per role
scripts/internal-tls-certs.sh "$dir" $missing

password() {
	# 32 characters from [A-Za-z0-9]: no quoting needed in the ACL file
	local p
	p=$(openssl rand -base64 48 | tr -dc 'A-Za-z0-9')
	printf '%s' "${p:0:32}"
}
if [ ! -f "$dir/redis-password" ]; then
	password >"$dir/redis-password"
	echo >>"$dir/redis-password"
fi
if [ ! -f "$dir/users.acl" ]; then
	pw=$(head -1 "$dir/redis-password")
	{
		echo "user default on >$(password) ~* &* +@all"
		echo "user postmesh on >$pw ~pm:* &* +@all"
	} >"$dir/users.acl"
fi

files="redis-password users.acl ca.pem"
for r in $ROLES; do files="$files $r.pem"; done
for f in $files; do
	if [ "$(id -u)" -eq 0 ]; then
		chown 10001:10001 "$dir/$f"
		chmod 0600 "$dir/$f"
	else
		chmod 0644 "$dir/$f"
	fi
done
chmod 0644 "$dir/ca.pem"
echo "certs: $dir: ca.pem, $ROLES (.pem), redis-password, users.acl"
