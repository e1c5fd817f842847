#!/usr/bin/env bash
# make cluster-test: the mesh under faults (issue 7). Makes a network
# namespace of its own (every process of the test runs in it, so the
# fixed ports below cannot meet anything else on the machine, and its
# DNS is the test's dnsmasq: `ip netns exec` bind-mounts
# /etc/netns/<ns>/resolv.conf and hosts over /etc's), runs
# tests/cluster/cluster.py inside, and removes the namespace, every
# process left in it and /etc/netns/<ns> at the end, even on failure.
# Needs root (ip netns). PM_BIN selects the binaries (build/bin).
set -eu
cd "$(dirname "$0")"
if [ "$(id -u)" -ne 0 ]; then
	echo "cluster-test: needs root for ip netns" >&2
	exit 1
fi
NS=pmcluster$$
cleanup() {
	local pids
	pids=$(ip netns pids "$NS" 2>/dev/null || true)
	# shellcheck disable=SC2086  # one PID per word
	if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null || true; fi
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "/etc/netns/$NS"
}
trap cleanup EXIT
mkdir -p "/etc/netns/$NS"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n' \
	>"/etc/netns/$NS/resolv.conf"
printf '127.0.0.1 localhost\n' >"/etc/netns/$NS/hosts"
ip netns add "$NS"
ip -n "$NS" link set lo up
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
export PYTHONDONTWRITEBYTECODE=1
ip netns exec "$NS" "$PY" cluster.py "$@"
