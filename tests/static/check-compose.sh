#!/usr/bin/env bash
# Static check (make static): deploy/compose/docker-compose.yml is a
# valid compose file for docker-compose 1.29 (`docker-compose config`,
# with placeholder secrets so a fresh clone without `make certs` passes),
# and keeps the properties docs/deploy.md promises: every Postmesh role
# is there, read-only, uid 10001, no capabilities, internal TLS on, and
# SMTP published on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp deploy/compose/*.yml deploy/compose/*.cf deploy/compose/*.conf "$tmp/"
mkdir "$tmp/certs"
out=$(docker-compose --project-directory "$tmp" -f "$tmp/docker-compose.yml" config)
fail=0
err() {
	echo "check-compose: $*" >&2
	fail=1
}
python3 - "$out" <<'PY' || fail=1
import sys, yaml
c = yaml.safe_load(sys.argv[1])
svc = c["services"]
bad = []
roles = ["smtpd", "cleanup", "rewrite", "bounce", "smtp", "error", "discard"]
for r in roles + ["qmgr-1", "qmgr-2"]:
    s = svc.get(r)
    if s is None:
        bad.append("service %s missing" % r)
        continue
    if s.get("user") != "10001:10001":
        bad.append("%s: user %r, want 10001:10001" % (r, s.get("user")))
    if s.get("read_only") is not True:
        bad.append("%s: read_only is not true" % r)
    if s.get("cap_drop") != ["ALL"]:
        bad.append("%s: cap_drop %r, want [ALL]" % (r, s.get("cap_drop")))
    if r in roles and s.get("scale", 1) < 2:
        bad.append("%s: scale %r, want >= 2" % (r, s.get("scale")))
for name, s in svc.items():
    for p in s.get("ports", []):
        ip = p.get("host_ip") if isinstance(p, dict) else str(p).split(":")[0]
        if ip != "127.0.0.1":
            bad.append("%s: port %r not bound to 127.0.0.1" % (name, p))
if svc.get("qmgr-1", {}).get("environment", {}).get(
        "POSTMESH_service_instance_name") != "qmgr-1":
    bad.append("qmgr-1: no stable instance name")
for b in bad:
    print("check-compose: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
grep -q '^internal_tls_ca_file *= *[^ ]' deploy/compose/main.cf ||
	err "main.cf: internal_tls_ca_file not set"
for s in rewrite cleanup bounce qmgr; do
	grep -q "^${s}_service *= *tls+tcp://" deploy/compose/main.cf ||
		err "main.cf: ${s}_service is not tls+tcp://"
done
grep -q '^appendfsync always' deploy/compose/redis.conf || err "redis.conf: appendfsync is not always"
[ "$fail" -eq 0 ] && echo "check-compose: deploy/compose/docker-compose.yml ok"
exit "$fail"
