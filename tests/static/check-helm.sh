#!/usr/bin/env bash
# check-helm.sh: the Helm chart (helm/postmesh) lints and renders with
# its default values, helm/values-ingress.yaml, helm/values-egress.yaml
# helm/values-submission.yaml (SMTP TLS and the submission role),
# helm/values-delivery.yaml (local and virtual on a mailbox claim) and
# helm/values-postscreen.yaml (postscreen in front of smtpd), and
# every rendered object passes tests/static/validate-k8s.js (the
# Kubernetes schemas and the project rules) and yamllint. The rendered
# output is kept in build/static/helm/ for a look.
# PM_HELM_EXTRA: more `helm` arguments for every run (e.g.
# "--set roles.smtpd.resources=null", to see a rule fail).
set -euo pipefail

cd "$(dirname "$0")/../.."
helm=$(tests/static/tools.sh)
out=build/static/helm
rm -rf "$out"
mkdir -p "$out"
read -r -a extra <<< "${PM_HELM_EXTRA:-}"

rc=0
for v in default ingress egress submission postscreen delivery; do
	args=()
	[ "$v" = default ] || args=(-f "helm/values-$v.yaml")
	args+=("${extra[@]}")
	if ! "$helm" lint --strict helm/postmesh "${args[@]}" > "$out/lint-$v.txt" 2>&1; then
		cat "$out/lint-$v.txt"
		echo "check-helm: helm lint --strict ($v values) failed"
		rc=1
		continue
	fi
	if ! "$helm" template pm helm/postmesh --namespace mail "${args[@]}" > "$out/$v.yaml"; then
		echo "check-helm: helm template ($v values) failed"
		rc=1
		continue
	fi
	echo "check-helm: $v values: lint --strict ok, $(grep -c '^kind:' "$out/$v.yaml") objects rendered"
	yamllint -c .yamllint -s "$out/$v.yaml" || { echo "check-helm: yamllint of the $v rendering failed"; rc=1; }
done
# every rendering that exists is validated, one report line each
mapfile -t rendered < <(find "$out" -name '*.yaml' | sort)
if [ "${#rendered[@]}" -gt 0 ]; then
	NODE_PATH=build/npm/node_modules node tests/static/validate-k8s.js "${rendered[@]}" || rc=1
fi
exit "$rc"
