#!/usr/bin/env bash
# check-shell.sh: shellcheck on every shipped shell script: *.sh under
# scripts/, tests/, docker/ and deploy/ (tracked or new, not ignored),
# plus docker/postmesh (the image's entrypoint, a bash script).
set -euo pipefail

cd "$(dirname "$0")/../.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
	'scripts/*.sh' 'tests/*.sh' 'docker/*.sh' 'deploy/*.sh' 'docker/postmesh' |
	while read -r f; do [ -f "$f" ] && echo "$f"; done)
if [ "${#files[@]}" -eq 0 ]; then
	echo "check-shell: no scripts"
	exit 1
fi
shellcheck -x "${files[@]}"
echo "check-shell: ${#files[@]} scripts ok"
