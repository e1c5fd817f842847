#!/usr/bin/env bash
# Runs every criterion unit test binary in a directory and fails if any
# test fails or crashes, or if a binary ran no test at all (criterion
# exits 0 with zero tests). Usage: tests/unit/run.sh build/test
set -u
dir=${1:?usage: run.sh DIR}
fail=0
total=0
for t in "$dir"/test_*; do
	[ -x "$t" ] || continue
	out=$("$t" --jobs=2 2>&1)
	rc=$?
	syn=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
	n=$(printf '%s\n' "$syn" | sed -n 's/.*Tested: \([0-9]*\).*/\1/p')
	if [ $rc -ne 0 ] || [ -z "$n" ] || [ "$n" -eq 0 ]; then
		printf '%s\n' "$out"
		echo "FAIL: $t (exit $rc, ${n:-no} tests)"
		fail=1
	else
		echo "ok   $(basename "$t"): $n tests"
		total=$((total + n))
	fi
done
echo "unit tests in $dir: $total passed$( [ $fail -ne 0 ] && echo ', FAILURES above')"
exit $fail
