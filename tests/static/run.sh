#!/usr/bin/env bash
# run.sh: the static checks (`make static`, part of `make test`). Runs
# every tests/static/check-*.sh from the repository root, reports each
# with its time, and fails if any failed (all run either way).
set -euo pipefail

cd "$(dirname "$0")/../.."
failed=()
n=0
for check in tests/static/check-*.sh; do
	[ -e "$check" ] || continue
	n=$((n + 1))
	name=${check##*/}
	start=$(date +%s)
	if nice bash "$check"; then
		echo "static: $name ok ($(($(date +%s) - start)) s)"
	else
		echo "static: $name FAILED ($(($(date +%s) - start)) s)"
		failed+=("$name")
	fi
done
if [ "$n" -eq 0 ]; then
	echo "static: no tests/static/check-*.sh found"
	exit 1
fi
if [ "${#failed[@]}" -gt 0 ]; then
	echo "static: ${#failed[@]} of $n failed: ${failed[*]}"
	exit 1
fi
echo "static: all $n checks passed"
