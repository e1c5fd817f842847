/*
 * NAME
 *	postalias - check aliases files, load them into redis: tables, query
 * SUMMARY
 *	postalias [-v] [-c config_dir] [-q key] table [source] ...
 * DESCRIPTION
 *	As Postfix's postalias(1), for the table types Postmesh has:
 *	  postalias /etc/aliases                  check the syntax (the
 *	  postalias texthash:/etc/aliases         same); texthash: tables
 *	                                          read the file directly
 *	  postalias redis:pm:alias: /etc/aliases  load the file into Redis
 *	                                          (keys pm:alias:<name>),
 *	                                          atomically; names removed
 *	                                          from the file disappear
 *	  postalias -q root redis:pm:alias:       print root's value
 *	Errors are reported as "postalias: warning: /etc/aliases, line 7:
 *	need name:value pair"; a file with errors is never loaded.
 *	The work is pm_aliasdb_cli() (services/lib/tables/pm_aliasdb.c).
 * LIMITS
 *	See pm_aliasdb.h.
 * SECURITY
 *	An operator command: it trusts its arguments and main.cf.
 * DIAGNOSTICS
 *	Exit 0 on success, 1 on errors (or -q: not found), 75 when Redis
 *	cannot be reached.
 */
#include "pm_aliasdb.h"

#include <stdio.h>
#include <unistd.h>

static void
usage(void)
{
	fprintf(stderr,
	    "usage: postalias [-v] [-c config_dir] [-q key] "
	    "type:name [source] ...\n");
}

int
main(int argc, char **argv)
{
	const char *config_dir = NULL, *key = NULL;
	int ch, verbose = 0;

	while ((ch = getopt(argc, argv, "c:q:v")) != -1) {
		switch (ch) {
		case 'c':
			config_dir = optarg;
			break;
		case 'q':
			key = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
			return (1);
		}
	}
	if (optind >= argc) {
		usage();
		return (1);
	}
	return (pm_aliasdb_cli("postalias", config_dir, argv + optind,
	    (size_t) (argc - optind), key, verbose));
}
