#!/usr/bin/env bash
# Writes the parameter table of docs/configuration.md from the code:
# every service prints the parameters it knows with their defaults
# (`<service> -d`, as `postconf -d`), and this script merges them.
#   scripts/gen-config-doc.sh [BIN_DIR] > table.md
# tests/integration/test_docs.py checks that docs/configuration.md
# holds exactly this table, so the reference cannot drift from the code.
set -eu
BIN=${1:-build/bin}
SERVICES="smtpd cleanup rewrite bounce error discard qmgr smtp postscreen local virtual pipe"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for s in $SERVICES; do
	# no main.cf and no overrides: built-in defaults only
	env -i PATH="$PATH" MAIL_CONFIG="$T/none" "$BIN/$s" -d 2>/dev/null \
		| grep -v ' postmesh/' | sed "s/^/$s	/" >> "$T/all"
done
echo "| parameter | default | known to |"
echo "| --- | --- | --- |"
awk -F'\t' -v all="${SERVICES// /, }" '
	{ split($2, kv, " = "); name = kv[1]; def = substr($2, length(name) + 4)
	  if (!(name in d)) { d[name] = def; order[n++] = name }
	  if (name in who) who[name] = who[name] ", " $1; else who[name] = $1 }
	END { for (i = 0; i < n; i++) {
		w = who[order[i]]; if (w == all) w = "all"
		print order[i] "\037" d[order[i]] "\037" w } }
' "$T/all" | LC_ALL=C sort | while IFS=$'\037' read -r name def who; do
	case $name in
	myhostname) def="(computed: the system's fully qualified host name)" ;;
	mydomain) def="(computed: \$myhostname minus its first label, or localdomain)" ;;
	esac
	def=${def//|/\\|}
	# shellcheck disable=SC2016  # the backquotes are Markdown
	printf '| `%s` | `%s` | %s |\n' "$name" "$def" "$who"
done
