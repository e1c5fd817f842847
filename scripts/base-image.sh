#!/usr/bin/env bash
# Makes the base image debian:bookworm-slim when podman does not have it
# (make image calls it first; builds run with --pull=never because no
# image registry is reachable from the machines Postmesh is tested on).
#
#   scripts/base-image.sh
#
# debootstrap --variant=minbase bookworm into a temporary directory from
# the Debian mirror this machine's apt uses (first URIs: line of
# /etc/apt/sources.list.d/debian.sources, else the first "deb" line of
# /etc/apt/sources.list; MIRROR=... overrides), then tar | podman import
# and tag it. About 1 minute (53 s debootstrap, 5 s import, measured).
# The apt sources inside the image are the same mirror plus its
# -updates and -security suites, so that `RUN apt-get install` in a
# build gets the packages the host gets.
# Needs root (debootstrap). Environment: CONTAINERS_CONF (default
# tests/container/containers.conf), MIRROR, SECURITY_MIRROR.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/tests/container/containers.conf}
TAG=debian:bookworm-slim

if podman image exists "$TAG"; then
	echo "base-image: $TAG present"
	exit 0
fi

mirror=${MIRROR:-}
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
	mirror=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' \
		/etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
	mirror=$(awk '$1 == "deb" && $0 !~ /security/ {
		for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
		/etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}
security=${SECURITY_MIRROR:-${mirror%/debian}/debian-security}

root=$(mktemp -d /var/tmp/pm-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
echo "base-image: debootstrap bookworm from $mirror (about a minute)"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
	tail -20 "$root.log" >&2
	rm -f "$root.log"
	exit 1
}
rm -f "$root.log"
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
# Like the official slim image: no apt caches, no docs, no man pages; and
# PATH in the image config (podman play kube gives a container none
# otherwise, and a command without a slash is then not found).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
	"$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" --numeric-owner -c . |
	podman import --change 'CMD ["/bin/bash"]' \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		- "$TAG" >/dev/null
echo "base-image: $TAG made in $(($(date +%s) - start)) s"
