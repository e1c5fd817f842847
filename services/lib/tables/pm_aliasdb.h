/*
 * NAME
 *	pm_aliasdb - what postalias and newaliases do: check, load, query
 * SUMMARY
 *	#include "pm_aliasdb.h"
 * DESCRIPTION
 *	pm_aliasdb_cli() is the whole of the postalias(1) and newaliases(1)
 *	commands of services/cli/ after their option parsing: main.cf is
 *	read (-c config_dir, else $MAIL_CONFIG, else /etc/postmesh), then
 *	for each alias database given as arguments (postalias) or in
 *	alias_database (newaliases):
 *	  texthash:/path  (or a bare file name, without ':')
 *	      the file is parsed (pm_alias) and every error is reported as
 *	      "postalias: warning: /path, line N: reason"; texthash: tables
 *	      read the file directly, so there is nothing to build.
 *	  redis:<prefix> [/source]
 *	      the source (the next argument when it is a bare file name, else
 *	      /etc/aliases) is parsed; with no error its names replace the
 *	      keys <prefix><name> on the queue Redis in one atomic step
 *	      (pm_qstore_table_replace: names gone from the file are
 *	      deleted); with any error Redis is not touched.
 *	With a query key (postalias -q key), the databases are searched in
 *	order (pm_table) and the first value found is printed.
 * LIMITS
 *	Those of pm_alias and pm_qstore_table; PM_ALIASDB_ARGS_MAX tables.
 * SECURITY
 *	Run by the operator. Messages go to stderr (pm_log's lines too, so
 *	stdout carries only query results); file contents reach them only
 *	through pm_printable().
 * DIAGNOSTICS
 *	Exit status: 0 success (query: found); 1 a syntax error, a bad
 *	argument, or (query) not found; 75 (EX_TEMPFAIL) Redis unreachable.
 */
#ifndef PM_ALIASDB_H
#define PM_ALIASDB_H

#include <stddef.h>

#define PM_ALIASDB_ARGS_MAX 64
#define PM_ALIASDB_DEFAULT_SOURCE "/etc/aliases"
#define PM_ALIASDB_EX_TEMPFAIL 75

/*
 * progname: "postalias" or "newaliases" (messages); config_dir: -c or
 * NULL; specs/n: the databases, or NULL to take alias_database; query:
 * -q key or NULL. Returns the exit status.
 */
int pm_aliasdb_cli(const char *progname, const char *config_dir,
    char *const *specs, size_t n, const char *query, int verbose);

#endif
