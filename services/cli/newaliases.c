/*
 * NAME
 *	newaliases - check or load every alias database of alias_database
 * SUMMARY
 *	newaliases [-v] [-c config_dir]
 * DESCRIPTION
 *	As Postfix's newaliases (sendmail -bi): postalias(1) of each table
 *	in alias_database (default: $alias_maps). texthash: files are
 *	checked; a redis:<prefix> table is loaded from the bare /path that
 *	follows it in the list, else from /etc/aliases, e.g.
 *	  alias_database = redis:pm:alias: /etc/aliases
 *	The work is pm_aliasdb_cli() (services/lib/tables/pm_aliasdb.c).
 * LIMITS
 *	See pm_aliasdb.h.
 * SECURITY
 *	An operator command: it trusts main.cf.
 * DIAGNOSTICS
 *	Exit 0 on success, 1 on errors, 75 when Redis cannot be reached.
 */
#include "pm_aliasdb.h"

#include <stdio.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	const char *config_dir = NULL;
	int ch, verbose = 0;

	while ((ch = getopt(argc, argv, "c:v")) != -1) {
		switch (ch) {
		case 'c':
			config_dir = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			fprintf(stderr,
			    "usage: newaliases [-v] [-c config_dir]\n");
			return (1);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "usage: newaliases [-v] [-c config_dir]\n");
		return (1);
	}
	return (pm_aliasdb_cli("newaliases", config_dir, NULL, 0, NULL,
	    verbose));
}
