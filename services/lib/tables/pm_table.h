/*
 * NAME
 *	pm_table - Postfix-style lookup tables
 * SUMMARY
 *	#include "pm_table.h"
 * DESCRIPTION
 *	pm_table_open("type:name") opens a table as Postfix's dict_open:
 *	  inline:{ key1=value1, { key2 = value with spaces } }
 *	  static:value          (every lookup returns value; value may be {..})
 *	  texthash:/path        ("key value" lines, '#' comments, continuation
 *	                        lines start with white space; keys case-folded)
 *	  regexp:/path          (/pattern/flags result; flags i (default on:
 *	                        case-insensitive as Postfix), x, m; "!/pat/"
 *	                        negation; if/endif blocks; $1..$9 substitution
 *	                        in the result; POSIX extended regex)
 *	  pcre:/path            (the same with PCRE2, Postfix pcre_table(5)
 *	                        flags i s m x A E U; default i and s)
 *	  cidr:/path            ("1.2.3.0/24 result", IPv4 and IPv6,
 *	                        "!" negation, if/endif)
 *	Lookups: pm_table_get() returns a new string or NULL. Keys of
 *	inline/static/texthash are compared case-insensitively (folded to
 *	lower case), as Postfix does for most tables.
 *	A table list ("type:a, type:b" as in smtpd_*_restrictions or
 *	*_maps parameters) is pm_tables_open(); pm_tables_get() returns the
 *	first match.
 *	The address lookup order of Postfix's access(5)/virtual(5) tables
 *	(user@domain, then domain, then parent domains when asked, then
 *	user@) is in pm_table_lookup_addr().
 * LIMITS
 *	Files up to 64 MiB, lines up to 64 KiB, regexp results with at most
 *	9 substitutions, at most 100000 entries per in-memory table. A
 *	pcre: match gives up after the match limit (pcre_match_limit) and
 *	the lookup fails with PM_EAGAIN.
 * SECURITY
 *	Table files are operator input; a bad line is warned about (file
 *	name and line number) and skipped. Lookup keys come from clients:
 *	bounded and NUL-free is the caller's job (pm_addr does it).
 */
#ifndef PM_TABLE_H
#define PM_TABLE_H

#include <stddef.h>

typedef struct pm_table pm_table;

/* Open one table. Returns NULL with *err set (static text) on failure. */
pm_table *pm_table_open(const char *spec, const char **err);
pm_table *pm_table_close(pm_table *t);
const char *pm_table_name(const pm_table *t); /* "type:name" */

/*
 * Look up key. Returns 0 and a new string in *value, PM_ENOENT if not
 * found, or another PM_E* on a lookup error (e.g. table unreadable).
 */
int pm_table_get(pm_table *t, const char *key, char **value);

/* Several tables, searched in order. */
typedef struct pm_tables pm_tables;
/* spec: list separated by white space or commas. "" gives an empty list. */
pm_tables *pm_tables_open(const char *spec, const char **err);
pm_tables *pm_tables_close(pm_tables *ts);
int pm_tables_get(pm_tables *ts, const char *key, char **value);
size_t pm_tables_count(const pm_tables *ts);
/*
 * As pm_tables_get(), but skips pattern tables (regexp:, pcre:, cidr:,
 * unix:), which Postfix consults with the full key only: for partial
 * keys ("user", "@domain") in canonical(5)/virtual(5) lookups.
 */
int pm_tables_get_fixed(pm_tables *ts, const char *key, char **value);

/*
 * access(5)-style address lookup: for "user@sub.dom.ain" tries
 * "user@sub.dom.ain", then "sub.dom.ain" (and, if parent_domains,
 * ".dom.ain"/"dom.ain" per Postfix parent_domain_matches_subdomains),
 * then "user@". For the null address tries "" then <> as configured by
 * the caller (smtpd_null_access_lookup_key). Returns as pm_tables_get.
 */
int pm_table_lookup_addr(pm_tables *ts, const char *address, int parent_domains,
    char **value);

/*
 * Match limit of pcre: tables opened (or reloaded) from now on: the
 * number of PCRE2 backtracking steps one pattern may take on one key.
 * The default is PCRE2's built-in one, which Postfix runs with.
 */
#define PM_TABLE_PCRE_MATCH_LIMIT 10000000
void pm_table_set_pcre_match_limit(unsigned long limit);

/* Reopen every table from disk (SIGHUP). */
int pm_tables_reload(pm_tables *ts);

/*
 * Network lists as in mynetworks: items separated by white space or
 * commas, each an IPv4/IPv6 address, a CIDR block ("10.0.0.0/8",
 * "[::1]/128", "[2001:db8::]/32"), "!" before an item negates it, or a
 * "type:name" table looked up with the client address (a match on any
 * value but "DUNNO"/"REJECT" is a match). First match wins.
 * pm_netlist_match() returns 1 on match, 0 otherwise.
 */
typedef struct pm_netlist pm_netlist;
pm_netlist *pm_netlist_parse(const char *spec, const char **err);
pm_netlist *pm_netlist_free(pm_netlist *nl);
int pm_netlist_match(const pm_netlist *nl, const char *addr);

#endif
