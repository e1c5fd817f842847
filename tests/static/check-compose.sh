#!/usr/bin/env bash
# Static check (make static): deploy/compose/docker-compose.yml is a
# valid compose file for docker-compose 1.29 (`docker-compose config`,
# with placeholder secrets so a fresh clone without `make certs` passes),
# and keeps the properties docs/deploy.md promises: every Postmesh role
# is there, read-only, uid 10001, no capabilities, internal TLS on, and
# SMTP published on 127.0.0.1 only. deploy/compose/postscreen.yml (the
# override that puts postscreen in front of smtpd) merges into a valid
# file too, with postscreen hardened the same way, published on
# 127.0.0.1:2525 and pointed at smtpd, and smtpd reading the PROXY header.
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
ps_out=$(docker-compose --project-directory "$tmp" -f "$tmp/docker-compose.yml" \
	-f "$tmp/postscreen.yml" config)
python3 - "$ps_out" <<'PY' || fail=1
import sys, yaml
svc = yaml.safe_load(sys.argv[1])["services"]
bad = []
ps, smtpd, sub = svc.get("postscreen", {}), svc["smtpd"], svc["submission"]
if ps.get("command") != ["postscreen"]:
    bad.append("postscreen: command %r" % ps.get("command"))
for k, want in (("user", "10001:10001"), ("read_only", True), ("cap_drop", ["ALL"])):
    if ps.get(k) != want:
        bad.append("postscreen: %s %r, want %r" % (k, ps.get(k), want))
# docker-compose 1.29 prints "127.0.0.1:2525:2525/tcp"
ports = [str(p).split("/")[0] if not isinstance(p, dict) else
         "%s:%s:%s" % (p.get("host_ip"), p.get("published"), p.get("target"))
         for p in ps.get("ports", [])]
if ports != ["127.0.0.1:2525:2525"]:
    bad.append("postscreen: ports %r, want 127.0.0.1:2525:2525" % ports)
env = ps.get("environment", {})
if env.get("POSTMESH_postscreen_smtpd_service") != "smtpd:2525":
    bad.append("postscreen: postscreen_smtpd_service %r" % env)
if smtpd.get("environment", {}).get("POSTMESH_smtpd_upstream_proxy_protocol") != "haproxy":
    bad.append("smtpd: no smtpd_upstream_proxy_protocol = haproxy with postscreen")
if "POSTMESH_smtpd_upstream_proxy_protocol" in (sub.get("environment") or {}):
    bad.append("submission: must not read a PROXY header")
for b in bad:
    print("check-compose: postscreen.yml: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
python3 - "$out" <<'PY' || fail=1
import sys, yaml
c = yaml.safe_load(sys.argv[1])
svc = c["services"]
bad = []
roles = ["smtpd", "cleanup", "rewrite", "bounce", "smtp", "error", "discard",
         "virtual"]
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
# the mailboxes of virtual.test are on a named volume
if not any(str(v).split(":")[:2] == ["mail-data", "/var/mail/vhosts"] or
           (isinstance(v, dict) and v.get("target") == "/var/mail/vhosts"
            and v.get("type") == "volume")
           for v in svc.get("virtual", {}).get("volumes", [])):
    bad.append("virtual: no volume at /var/mail/vhosts")
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
[ "$fail" -eq 0 ] && echo "check-compose: deploy/compose/docker-compose.yml and postscreen.yml ok"
exit "$fail"
