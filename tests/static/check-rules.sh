#!/usr/bin/env bash
# check-rules.sh: every rule of validate-k8s.js can fail. Renders the
# chart (default and ingress values), checks that the unbroken rendering
# passes, then breaks it one way per case (a sed edit of the rendered
# YAML, or a helm value) and wants validate-k8s.js to fail with the
# expected message; and values.schema.json refuses bad values. A rule
# that stops catching its case fails this check. Last, the front door
# settings render as docs/deploy.md says (smtpService.proxyProtocol,
# roles.postscreen: which pods get smtpd_upstream_proxy_protocol, what
# the SMTP Service selects, who may reach smtpd).
set -euo pipefail

cd "$(dirname "$0")/../.."
helm=$(tests/static/tools.sh)
out=build/static/rules
rm -rf "$out"
mkdir -p "$out"
"$helm" template pm helm/postmesh -n mail > "$out/default.yaml"
"$helm" template pm helm/postmesh -n mail -f helm/values-ingress.yaml > "$out/ingress.yaml"
export NODE_PATH=build/npm/node_modules
validate() { node tests/static/validate-k8s.js "$@"; }

validate "$out/default.yaml" "$out/ingress.yaml" > "$out/base.txt" ||
	{ cat "$out/base.txt"; echo "check-rules: the unbroken renderings fail"; exit 1; }

# name | base rendering | sed program (or "helm:ARGS") | wanted message
# shellcheck disable=SC2016  # sed programs, not shell expansions
cases=(
	'schema|default|0,/containerPort: 9100/s//containerPort: "x"/|schema: data/spec/template/spec/containers/0/ports/0/containerPort must be integer'
	'unknown kind|default|$a ---\napiVersion: example.com/v1\nkind: Foo\nmetadata: {name: foo}|unknown apiVersion/kind example.com/v1/Foo'
	'CRD shape|ingress|s/^  name: pm-postmesh$/  name: Bad_Name/|metadata.name: got "Bad_Name", want a DNS-1123 name'
	'limits|default|0,/limits:/s//limitz:/|resources.limits.cpu: got none'
	'requests|default|0,/requests:/s//requestz:/|resources.requests.memory: got none'
	'liveness probe|default|0,/livenessProbe:/s//startupProbe:/|livenessProbe: got none'
	'readiness probe|default|0,/readinessProbe:/s//startupProbe:/|readinessProbe: got none'
	'runAsNonRoot|default|s/runAsNonRoot: true/runAsNonRoot: false/g|runAsNonRoot: got false, want true'
	'readOnlyRootFilesystem|default|0,/readOnlyRootFilesystem: true/s//readOnlyRootFilesystem: false/|readOnlyRootFilesystem: got false, want true'
	'allowPrivilegeEscalation|default|0,/allowPrivilegeEscalation: false/s//allowPrivilegeEscalation: true/|allowPrivilegeEscalation: got true, want false'
	'drop ALL|default|0,/drop: \[ALL\]/s//drop: [NET_RAW]/|capabilities.drop: got ["NET_RAW"], want ALL'
	'selector|default|s/^      app.kubernetes.io\/component: cleanup$/      app.kubernetes.io\/component: other/|want one matching the template labels'
	'targetPort|default|0,/targetPort: nng/s//targetPort: nope/|targetPort "nope": got no containerPort'
	'Service selects nothing|default|s/^    postmesh.io\/mesh: "true"$/    postmesh.io\/mesh: "no"/|got no pod template, want at least one'
	'StatefulSet serviceName|default|s/serviceName: pm-postmesh-qmgr/serviceName: nope/|serviceName: got "nope"'
	'NetworkPolicy|default|helm:--set networkPolicy.enabled=false|NetworkPolicy: got none selecting its pods'
	'HPA target|ingress|s/^    name: pm-postmesh-smtpd$/    name: nope/|scaleTargetRef: got Deployment/nope'
)
rc=0
for c in "${cases[@]}"; do
	IFS='|' read -r name base edit want <<< "$c"
	f="$out/broken.yaml"
	if [[ $edit == helm:* ]]; then
		read -r -a args <<< "${edit#helm:}"
		vals=()
		[ "$base" = default ] || vals=(-f "helm/values-$base.yaml")
		"$helm" template pm helm/postmesh -n mail "${vals[@]}" "${args[@]}" > "$f"
	else
		sed -e "$edit" "$out/$base.yaml" > "$f"
	fi
	if cmp -s "$f" "$out/$base.yaml"; then
		echo "check-rules: $name: the edit changed nothing (stale case)"
		rc=1
		continue
	fi
	if validate "$f" > "$out/got.txt"; then
		echo "check-rules: $name: validate-k8s.js passed, want a failure"
		rc=1
	elif ! grep -qF -- "$want" "$out/got.txt"; then
		echo "check-rules: $name: got:"
		cat "$out/got.txt"
		echo "check-rules: $name: want a line with: $want"
		rc=1
	else
		echo "check-rules: $name: caught ($(grep -cF -- "$want" "$out/got.txt") line(s))"
	fi
done
# values.schema.json refuses values the chart cannot honour
for bad in smtpService.proxyProtocol=true,roles.postscreen.enabled=true roles.smtpd.resources.limits=null \
	redis.mode=cluster internalTLS.mode=existingSecret roles.submission.enabled=true \
	smtpTLS.mode=certManager smtpTLS.mode=existingSecret submission.sasl.path=/run/auth \
	'mailbox.persistence.accessModes={ReadOnlyMany}' mailbox.mountPath=/var/mail/; do
	if "$helm" lint --strict helm/postmesh --set "$bad" > "$out/lint.txt" 2>&1; then
		echo "check-rules: values.schema.json: --set $bad linted ok, want a refusal"
		rc=1
	else
		echo "check-rules: values.schema.json: --set $bad refused"
	fi
done
# the chart's own checks (postmesh.validate: a template `fail`, which
# helm lint reports only as INFO) stop helm template / install
sub=roles.submission.enabled=true,smtpTLS.mode=existingSecret,smtpTLS.existingSecret=mx
fails=("$sub,submission.sasl.type=crypt|needs submission.sasl.existingSecret"
	"roles.postscreen.enabled=true,roles.smtpd.enabled=false|roles.postscreen needs roles.smtpd"
	"roles.local.enabled=true|config.mydestination is empty"
	"roles.virtual.enabled=true|config.virtual_mailbox_domains is empty"
	"roles.local.enabled=true,config.mydestination=localhost,roles.local.replicas=2,mailbox.persistence.accessModes={ReadWriteOnce}|it needs ReadWriteMany")
for bad in "${fails[@]}"; do
	IFS='|' read -r set want <<< "$bad"
	if "$helm" template pm helm/postmesh --set "$set" > "$out/tpl.txt" 2>&1; then
		echo "check-rules: postmesh.validate: --set $set rendered, want a refusal"
		rc=1
	elif ! grep -qF -- "$want" "$out/tpl.txt"; then
		echo "check-rules: postmesh.validate: --set $set: got $(cat "$out/tpl.txt"), want: $want"
		rc=1
	else
		echo "check-rules: postmesh.validate: --set $set refused"
	fi
done
# one local pod on a ReadWriteOnce claim renders, updated with Recreate
if ! "$helm" template pm helm/postmesh --set roles.local.enabled=true,config.mydestination=localhost,mailbox.persistence.accessModes='{ReadWriteOnce}' > "$out/tpl.txt" 2>&1 ||
	! grep -q 'type: Recreate' "$out/tpl.txt"; then
	head -5 "$out/tpl.txt"
	echo "check-rules: one local pod on a ReadWriteOnce claim: not rendered with strategy Recreate"
	rc=1
fi
# the same values with a crypt table from a Secret render
if ! "$helm" template pm helm/postmesh --set "$sub,submission.sasl.type=crypt,submission.sasl.existingSecret=u" > "$out/tpl.txt" 2>&1; then
	cat "$out/tpl.txt"
	echo "check-rules: postmesh.validate: a valid submission setup refused"
	rc=1
fi

# The front door (docs/deploy.md "postscreen and the PROXY protocol"):
# name | helm arguments | what the rendering must show (frontdoor.py)
"$helm" template pm helm/postmesh -n mail > "$out/fd-default.yaml"
"$helm" template pm helm/postmesh -n mail --set "smtpService.proxyProtocol=true,$sub,submission.sasl.type=crypt,submission.sasl.existingSecret=u" > "$out/fd-proxy.yaml"
"$helm" template pm helm/postmesh -n mail -f helm/values-postscreen.yaml > "$out/fd-postscreen.yaml"
python3 - "$out" <<'PY' || rc=1
import sys, yaml
out = sys.argv[1]
bad = []


def load(name):
    objs = [o for o in yaml.safe_load_all(open("%s/fd-%s.yaml" % (out, name))) if o]
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


def env(objs, role):
    d = objs.get(("Deployment", "pm-postmesh-" + role))
    if d is None:
        return None
    c = d["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in c.get("env", [])}


PP = "POSTMESH_smtpd_upstream_proxy_protocol"
d = load("default")
if PP in env(d, "smtpd"):
    bad.append("default: smtpd reads a PROXY header")
if ("Deployment", "pm-postmesh-postscreen") in d:
    bad.append("default: a postscreen Deployment (roles.postscreen is off)")
p = load("proxy")
if env(p, "smtpd").get(PP) != "haproxy":
    bad.append("proxyProtocol=true: smtpd has no %s=haproxy" % PP)
if env(p, "submission") is None or PP in env(p, "submission"):
    bad.append("proxyProtocol=true: submission missing or reads a PROXY header")
s = load("postscreen")
if env(s, "smtpd").get(PP) != "haproxy":
    bad.append("postscreen: smtpd has no %s=haproxy" % PP)
pe = env(s, "postscreen") or {}
if pe.get("POSTMESH_postscreen_smtpd_service") != \
        "pm-postmesh-smtpd-backend.mail.svc.cluster.local:2525":
    bad.append("postscreen: postscreen_smtpd_service %r" % pe.get("POSTMESH_postscreen_smtpd_service"))
if pe.get("POSTMESH_postscreen_listen") != "0.0.0.0:2525":
    bad.append("postscreen: postscreen_listen %r" % pe.get("POSTMESH_postscreen_listen"))
sel = s[("Service", "pm-postmesh-smtpd")]["spec"]["selector"]
if sel.get("app.kubernetes.io/component") != "postscreen":
    bad.append("postscreen: the SMTP Service selects %r, want postscreen" % sel)
b = s.get(("Service", "pm-postmesh-smtpd-backend"))
if b is None or b["spec"]["selector"].get("app.kubernetes.io/component") != "smtpd" \
        or b["spec"].get("type") != "ClusterIP":
    bad.append("postscreen: no ClusterIP Service pm-postmesh-smtpd-backend on smtpd")
np = s[("NetworkPolicy", "pm-postmesh-smtpd")]["spec"]["ingress"]
smtp_in = [r for r in np if {"port": "smtp", "protocol": "TCP"} in r.get("ports", [])]
want = [{"podSelector": {"matchLabels": {
    "app.kubernetes.io/name": "postmesh", "app.kubernetes.io/instance": "pm",
    "app.kubernetes.io/component": "postscreen"}}}]
if len(smtp_in) != 1 or smtp_in[0].get("from") != want:
    bad.append("postscreen: smtpd's SMTP port is open to %r, want postscreen pods only" % smtp_in)
if ("Certificate", "pm-postmesh-postscreen") in s or \
        any(v.get("name") == "tls" for v in
            s[("Deployment", "pm-postmesh-postscreen")]["spec"]["template"]["spec"]["volumes"]):
    bad.append("postscreen: internal TLS mounted (postscreen has no nng port)")
for x in ("PodDisruptionBudget", "HorizontalPodAutoscaler", "NetworkPolicy"):
    if (x, "pm-postmesh-postscreen") not in s:
        bad.append("postscreen: no %s" % x)
for m in bad:
    print("check-rules: front door: " + m)
if not bad:
    print("check-rules: front door: proxyProtocol and postscreen render as documented")
sys.exit(1 if bad else 0)
PY
exit "$rc"
