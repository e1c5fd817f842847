#!/usr/bin/env bash
# check-rules.sh: every rule of validate-k8s.js can fail. Renders the
# chart (default and ingress values), checks that the unbroken rendering
# passes, then breaks it one way per case (a sed edit of the rendered
# YAML, or a helm value) and wants validate-k8s.js to fail with the
# expected message; and values.schema.json refuses bad values. A rule
# that stops catching its case fails this check.
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
for bad in smtpService.proxyProtocol=true roles.smtpd.resources.limits=null \
	redis.mode=cluster internalTLS.mode=existingSecret roles.submission.enabled=true \
	smtpTLS.mode=certManager smtpTLS.mode=existingSecret submission.sasl.path=/run/auth; do
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
fails=("$sub,submission.sasl.type=crypt|needs submission.sasl.existingSecret")
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
# the same values with a crypt table from a Secret render
if ! "$helm" template pm helm/postmesh --set "$sub,submission.sasl.type=crypt,submission.sasl.existingSecret=u" > "$out/tpl.txt" 2>&1; then
	cat "$out/tpl.txt"
	echo "check-rules: postmesh.validate: a valid submission setup refused"
	rc=1
fi
exit "$rc"
