#!/usr/bin/env bash
# Runs every criterion unit test binary in a directory and fails if any
# test fails or crashes, if a binary ran no test at all (criterion
# exits 0 with zero tests), or if a test was skipped (cr_skip_test or
# .disabled: criterion leaves those out of "Tested:" and exits 0) and
# tests/optional.txt (or $PM_TEST_OPTIONAL) does not list it as
# "suite::name <reason>". Usage: tests/unit/run.sh build/test
set -u
dir=${1:?usage: run.sh DIR}
optional=${PM_TEST_OPTIONAL:-$(dirname "$0")/../optional.txt}
fail=0
total=0
# listed ID: the optional list names ID with a reason.
listed() {
	[ -f "$optional" ] && awk -v id="$1" \
		'!/^[ \t]*#/ && $1 == id && NF >= 2 { found = 1 } END { exit !found }' \
		"$optional"
}
for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" --jobs=2 --verbose 2>&1)
	rc=$?
	syn=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
	n=$(printf '%s\n' "$syn" | sed -n 's/.*Tested: \([0-9]*\).*/\1/p')
	bad_skips=""
	while IFS= read -r id; do
		[ -n "$id" ] || continue
		listed "$id" || bad_skips="$bad_skips $id"
	done <<SKIPS
$(printf '%s\n' "$out" | sed -n 's/^\[SKIP\] \([^:]*::[^:]*\):.*/\1/p')
SKIPS
	if [ $rc -ne 0 ] || [ -z "$n" ] || [ "$n" -eq 0 ]; then
		printf '%s\n' "$out" | grep -v '^\[\(RUN \|PASS\)\]'
		echo "FAIL: $t (exit $rc, ${n:-no} tests)"
		fail=1
	elif [ -n "$bad_skips" ]; then
		printf '%s\n' "$out" | grep '^\[SKIP\]'
		echo "FAIL: $t: skipped and not in $optional:$bad_skips"
		fail=1
	else
		echo "ok   $(basename "$t"): $n tests"
		total=$((total + n))
	fi
done
echo "unit tests in $dir: $total passed$( [ $fail -ne 0 ] && echo ', FAILURES above')"
exit $fail
