#!/usr/bin/env bash
# Runs the integration tests (tests/integration/test_*.py, or the
# modules/classes/tests named as arguments, e.g. `run.sh test_receive`)
# against the binaries in $PM_BIN (make test uses the ASan build). Each
# test starts its own Redis and services on free ports and stops them
# by PID. A skipped test fails the run unless tests/optional.txt lists
# it with a reason (pmrun.py).
set -eu
cd "$(dirname "$0")"
export PM_BIN=${PM_BIN:-build/bin}
export PYTHONDONTWRITEBYTECODE=1
# Debian's interpreter: the python3-* test helpers (redis, aiosmtpd) are
# installed for it, and a python3 earlier on PATH (pyenv) lacks them.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" pmrun.py "$@"
