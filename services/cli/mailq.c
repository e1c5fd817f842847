/*
 * NAME
 *	mailq - list the mail queue (Sendmail compatibility)
 * SUMMARY
 *	mailq [-v] [-c config_dir]
 * DESCRIPTION
 *	The same as "postqueue -p" (pm_showq), as Postfix's mailq(1).
 * SECURITY
 *	An operator command: it trusts its arguments and main.cf.
 * DIAGNOSTICS
 *	Exit 0 on success, 75 when Redis cannot be reached.
 */
#include "pm_log.h"
#include "pm_qcli.h"
#include "pm_showq.h"

#include <stdio.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	const char *config_dir = NULL;
	int ch, nshards, rc;
	pm_qstore *qs;
	FILE *out;

	while ((ch = getopt(argc, argv, "c:v")) != -1) {
		switch (ch) {
		case 'c':
			config_dir = optarg;
			break;
		case 'v':
			pm_msg_verbose++;
			break;
		default:
			fprintf(stderr, "usage: mailq [-v] [-c config_dir]\n");
			return (1);
		}
	}
	if ((qs = pm_qcli_open("mailq", config_dir, &out, &nshards)) == NULL) {
		return (1);
	}
	rc = pm_showq(qs, nshards, out, 0);
	pm_qstore_close(qs);
	fclose(out);
	if (rc == PM_EREDIS) {
		pm_msg_error("cannot reach the queue (Redis)");
		return (PM_QCLI_EX_TEMPFAIL);
	}
	return (rc == 0 ? 0 : 1);
}
