#!/usr/bin/env bash
# Writes build/gen/pm_param_table.h: one C initializer
#   { "name", "default" },
# per row of the parameter table of docs/configuration.md, the table that
# scripts/gen-config-doc.sh generates from every service's `-d` output
# (test_docs keeps the two equal). postconf(1) knows every parameter and
# its default from it without running the services. A computed default
# (myhostname, mydomain) becomes NULL: the library computes it.
#   scripts/gen-param-table.sh docs/configuration.md > pm_param_table.h
set -eu
awk '
/^\| `[A-Za-z0-9_]+` \| `/ {
	line = substr($0, 4)
	name = line; sub(/`.*/, "", name)
	rest = substr(line, length(name) + 6)
	i = match(rest, /` \| [^`]*\|$/)
	if (i == 0) { print "bad row: " $0 > "/dev/stderr"; exit 1 }
	def = substr(rest, 1, i - 1)
	if (def ~ /^\(computed: /) { printf "{ \"%s\", NULL },\n", name; next }
	gsub(/\\\|/, "|", def)
	gsub(/\\/, "\\\\\\\\", def)
	gsub(/"/, "\\\"", def)
	printf "{ \"%s\", \"%s\" },\n", name, def
}' "$1"
