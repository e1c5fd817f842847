#!/usr/bin/env bash
# Static check of the monitoring files (run by tests/static/run.sh, also
# standalone): deploy/prometheus/rules.yml passes `promtool check rules`
# and its unit tests (`promtool test rules rules_test.yml`), both YAML files
# pass yamllint, and deploy/grafana/postmesh.json is a dashboard whose every
# panel target has an expression and uses the ${DS_PROMETHEUS} data source.
# Whether the dashboard's queries name real metrics is checked against a
# live Prometheus by tests/integration/test_dashboard.py.
set -euo pipefail

cd "$(dirname "$0")/../.."
prom=deploy/prometheus
dash=deploy/grafana/postmesh.json

for tool in promtool yamllint python3; do
	command -v "$tool" >/dev/null || {
		echo "check-prometheus: $tool not found (scripts/deps.sh installs it)" >&2
		exit 1
	}
done

promtool check rules "$prom/rules.yml"
# promtool resolves rule_files relative to the test file
promtool test rules "$prom/rules_test.yml"

if [ -f .yamllint ]; then
	yamllint -s "$prom/rules.yml" "$prom/rules_test.yml"
else
	yamllint -s -d '{extends: default, rules: {line-length: {max: 120}}}' \
		"$prom/rules.yml" "$prom/rules_test.yml"
fi

python3 - "$dash" <<'PY'
"""The dashboard's shape: JSON, a ${DS_PROMETHEUS} input, job and
instance variables, every panel target with an expr on that source."""
import json
import sys

path = sys.argv[1]
with open(path) as f:
    d = json.load(f)
bad = []
if not any(i.get("name") == "DS_PROMETHEUS" for i in d.get("__inputs", [])):
    bad.append("no DS_PROMETHEUS in __inputs")
names = [v.get("name") for v in d.get("templating", {}).get("list", [])]
for want in ("job", "instance"):
    if want not in names:
        bad.append("no template variable %r" % want)
panels = []
for p in d.get("panels", []):
    panels.append(p)
    panels.extend(p.get("panels", []))  # collapsed rows
n = 0
for p in panels:
    if p.get("type") == "row":
        continue
    targets = p.get("targets") or []
    if not targets:
        bad.append("panel %r has no targets" % p.get("title"))
    for t in targets:
        n += 1
        if not t.get("expr", "").strip():
            bad.append("panel %r: a target without expr" % p.get("title"))
        ds = t.get("datasource") or p.get("datasource") or {}
        if ds.get("uid") != "${DS_PROMETHEUS}":
            bad.append("panel %r: data source %r" % (p.get("title"), ds))
for b in bad:
    print("check-prometheus: %s: %s" % (path, b), file=sys.stderr)
if bad:
    sys.exit(1)
print("check-prometheus: %s: %d panels, %d queries" % (path, len(panels), n))
PY
# The chart's PrometheusRule carries the same rules (Helm reads files only
# from inside the chart, so it holds a copy): the copy must not drift.
copy=helm/postmesh/files/prometheus-rules.yml
if ! cmp -s deploy/prometheus/rules.yml "$copy"; then
	echo "check-prometheus: $copy differs from deploy/prometheus/rules.yml;" \
		"copy it over" >&2
	exit 1
fi
echo "check-prometheus: ok"
