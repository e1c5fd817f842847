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
#   smtp-tls.key, smtp-tls.crt
#                        the SMTP server certificate of smtpd and submission
#                        (RSA 2048, signed by ca.pem, for DNS:localhost,
#                        DNS:mail.example.test, DNS:mx.postmesh.test,
#                        IP:127.0.0.1; smtpd_tls_chain_files: key, then crt)
#   sasl-passwd          submission's crypt(3) table (smtpd_sasl_type crypt):
#                        the test user "test" with a SHA-512 hash
#                        (openssl passwd -6) of the password in
#   submission-password  (random, one line; docs/deploy.md "TLS and submission")
# Existing files are kept (run it again to add what is missing; delete
# the directory for new ones). The containers run as uid 10001: as root
# the files a container reads are given to 10001 and stay mode 0600 (the
# CA key stays root's); otherwise (rootless podman maps your uid to the
# container's root, not to 10001) they are made readable by all, which
# is for a test stack only.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${CERTS_DIR:-deploy/compose/certs}
ROLES="smtpd cleanup rewrite qmgr smtp bounce error discard virtual"
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
# The SMTP server certificate, from the same test CA (clients verify it
# with --tls-ca-path deploy/compose/certs/ca.pem).
if [ ! -f "$dir/smtp-tls.crt" ]; then
	ext=$(mktemp)
	cat >"$ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,DNS:mail.example.test,DNS:mx.postmesh.test,IP:127.0.0.1
EXT
	openssl req -newkey rsa:2048 -nodes -subj "/CN=mail.example.test" \
		-keyout "$dir/smtp-tls.key" -out "$dir/smtp-tls.csr" 2>/dev/null
	openssl x509 -req -in "$dir/smtp-tls.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
		-CAcreateserial -days 365 -extfile "$ext" -out "$dir/smtp-tls.crt" 2>/dev/null
	rm -f "$dir/smtp-tls.csr" "$ext"
fi
# The submission test user: user "test", a random password, its hash.
if [ ! -f "$dir/submission-password" ]; then
	password >"$dir/submission-password"
	echo >>"$dir/submission-password"
	rm -f "$dir/sasl-passwd"
fi
if [ ! -f "$dir/sasl-passwd" ]; then
	echo "test:$(openssl passwd -6 -stdin <"$dir/submission-password")" >"$dir/sasl-passwd"
fi
if [ ! -f "$dir/users.acl" ]; then
	pw=$(head -1 "$dir/redis-password")
	{
		echo "user default on >$(password) ~* &* +@all"
		echo "user postmesh on >$pw ~pm:* &* +@all"
	} >"$dir/users.acl"
fi

files="redis-password users.acl ca.pem smtp-tls.key smtp-tls.crt sasl-passwd submission-password"
for r in $ROLES; do files="$files $r.pem"; done
for f in $files; do
	if [ "$(id -u)" -eq 0 ]; then
		chown 10001:10001 "$dir/$f"
		chmod 0600 "$dir/$f"
	else
		chmod 0644 "$dir/$f"
	fi
done
chmod 0644 "$dir/ca.pem" "$dir/smtp-tls.crt"
echo "certs: $dir: ca.pem, $ROLES (.pem), redis-password, users.acl, smtp-tls.{key,crt}, sasl-passwd (user test, password in submission-password)"
