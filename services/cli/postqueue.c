/*
 * NAME
 *	postqueue - list and flush the mail queue, as Postfix's postqueue(1)
 * SUMMARY
 *	postqueue [-v] [-c config_dir] -p | -j | -f | -i queue_id | -s site
 * DESCRIPTION
 *	  -p  the mailq listing (pm_showq: queue id with "*" for active
 *	      and "!" for held mail, size, arrival time, sender, the
 *	      recipients not done yet with the deferral reasons)
 *	  -j  the same as JSON, one message per line
 *	  -f  flush: every deferred message goes back to the incoming
 *	      queue now, and every qmgr is asked to try the destinations
 *	      it marked dead again (pm_qa_flush_request, pm_qa_flush)
 *	  -i  the same for one deferred message (pm_qa_flush_one)
 *	  -s  the same for every deferred message with a recipient not
 *	      done yet at site (pm_qa_flush_site; Postfix's fast flush,
 *	      ETRN's command line form); dead destinations are not revived
 *	      (as -i)
 *	The queue is read a page at a time (pm_qadmin.c). Redis is found
 *	through main.cf as the services find it (pm_qcli.c).
 * LIMITS
 *	See pm_qadmin.h and pm_showq.c.
 * SECURITY
 *	An operator command: it trusts its arguments and main.cf.
 * DIAGNOSTICS
 *	Exit 0 on success, 1 on usage errors, 64 (EX_USAGE) for a bad
 *	site with -s, 69 (EX_UNAVAILABLE) for an unknown queue id with -i,
 *	75 when Redis cannot be reached.
 */
#include "pm_log.h"
#include "pm_qadmin.h"
#include "pm_qcli.h"
#include "pm_showq.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void
usage(void)
{
	fprintf(stderr,
	    "usage: postqueue [-v] [-c config_dir] -p | -j | -f | "
	    "-i queue_id | -s site\n");
}

static int
flush_one(pm_qstore *qs, int nshards, const char *qid)
{
	pm_qa_item it;
	int rc = pm_qa_find(qs, nshards, qid, &it);

	if (rc == PM_EREDIS) {
		return (rc);
	}
	if (rc < 0) {
		pm_msg_warn("%s: no such message in the queue", qid);
		return (rc);
	}
	if (it.queue != PM_QA_DEFERRED) {
		return (0); /* queued, active or held: nothing to flush */
	}
	rc = pm_qa_flush_one(qs, &it);
	return (rc == PM_ENOENT ? 0 : rc);
}

int
main(int argc, char **argv)
{
	const char *config_dir = NULL, *qid = NULL, *site = NULL;
	int ch, mode = 0, nshards, rc;
	size_t moved;
	pm_qstore *qs;
	FILE *out;

	while ((ch = getopt(argc, argv, "c:fi:jps:v")) != -1) {
		switch (ch) {
		case 'c':
			config_dir = optarg;
			break;
		case 'i':
		case 's':
			if (ch == 'i') {
				qid = optarg;
			} else {
				site = optarg;
			}
			/* FALLTHROUGH */
		case 'f':
		case 'j':
		case 'p':
			if (mode != 0) {
				usage();
				return (1);
			}
			mode = ch;
			break;
		case 'v':
			pm_msg_verbose++;
			break;
		default:
			usage();
			return (1);
		}
	}
	if (mode == 0 || optind != argc) {
		usage();
		return (1);
	}
	if (site != NULL && !pm_qa_site_valid(site)) {
		fprintf(stderr, "postqueue: fatal: Invalid request: \"%s\"\n",
		    site);
		return (64);
	}
	if ((qs = pm_qcli_open("postqueue", config_dir, &out, &nshards)) ==
	    NULL) {
		return (1);
	}
	switch (mode) {
	case 'p':
	case 'j':
		rc = pm_showq(qs, nshards, out, mode == 'j');
		break;
	case 'f':
		/* qmgr tries its dead destinations again and flushes too */
		if ((rc = pm_qa_flush_request(qs)) == 0) {
			rc = pm_qa_flush(qs, nshards, &moved);
		}
		break;
	case 's':
		rc = pm_qa_flush_site(qs, nshards, site, &moved);
		if (pm_msg_verbose) {
			pm_msg_info("%s: %zu deferred message(s) queued", site,
			    moved);
		}
		break;
	default:
		rc = flush_one(qs, nshards, qid);
		break;
	}
	pm_qstore_close(qs);
	fclose(out);
	if (rc == PM_EREDIS) {
		pm_msg_error("cannot reach the queue (Redis)");
		return (PM_QCLI_EX_TEMPFAIL);
	}
	return (rc == 0 ? 0 : rc == PM_ENOENT || rc == PM_EINVAL ? 69 : 1);
}
