#!/usr/bin/env bash
# check-yaml.sh: yamllint (the repository's .yamllint) on every YAML file
# shipped and tracked by git. Helm templates are not YAML (the .yamllint
# ignores them); check-helm.sh lints their rendered output.
set -euo pipefail

cd "$(dirname "$0")/../.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.yml' '*.yaml' '.yamllint' |
	while read -r f; do [ -f "$f" ] && echo "$f"; done)
if [ "${#files[@]}" -eq 0 ]; then
	echo "check-yaml: no YAML files"
	exit 1
fi
yamllint -c .yamllint -s "${files[@]}"
echo "check-yaml: ${#files[@]} files ok"
