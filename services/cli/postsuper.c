/*
 * NAME
 *	postsuper - delete, hold, release and requeue queued mail, as
 *	Postfix's postsuper(1)
 * SUMMARY
 *	postsuper [-v] [-c config_dir] [-d queue_id] [-e queue_id]
 *	    [-f queue_id] [-h queue_id] [-H queue_id] [-r queue_id]
 *	    [queue ...]
 * DESCRIPTION
 *	  -d  delete the message (from any queue; active mail too: the
 *	      qmgr delivering it drops it, pm_qadmin.c)
 *	  -e  force expiry (Postfix 3.5): qmgr returns the message to
 *	      the sender at its next delivery attempt (qmgr_msg.c); a
 *	      held message stays held until released
 *	  -f  the same, and a held message is released too
 *	  -h  put it on hold (from incoming, active, deferred)
 *	  -H  release it from hold (to the deferred queue, due now)
 *	  -r  requeue it (from hold, incoming, active, deferred): due
 *	      again now (active mail may wait for the qmgr's lease
 *	      refresh, docs/operations.md)
 *	queue_id "ALL" is every message of the queues named after the
 *	options (default: those above), "-" reads queue ids from stdin,
 *	one per line. Options may be repeated and run in the order given.
 *	Each message is logged as Postfix does ("postsuper: QID:
 *	removed", "placed on hold", "released from hold", "requeued", "expired"),
 *	then one summary per operation ("Deleted: 3 messages").
 * LIMITS
 *	At most POSTSUPER_OPS_MAX options. ALL walks the queue a page at
 *	a time; one queue id is looked up in its shard's stream page by
 *	page (pm_qa_find).
 * SECURITY
 *	An operator command: it trusts its arguments and main.cf. Queue
 *	ids are checked (pm_qid_valid) before use.
 * DIAGNOSTICS
 *	Exit 0 on success, 1 on usage errors, 75 when Redis cannot be
 *	reached.
 */
#include "pm_log.h"
#include "pm_qadmin.h"
#include "pm_qcli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define POSTSUPER_OPS_MAX 64

typedef struct op {
	int kind; /* 'd', 'e', 'f', 'h', 'H', 'r' */
	const char *arg;
	unsigned long count;
	unsigned long released; /* -f: of them, released from hold */
} op;

/* The queues an operation takes messages from by default (Postfix). */
static unsigned
op_mask(int kind)
{
	switch (kind) {
	case 'h':
		return (PM_QA_INCOMING | PM_QA_ACTIVE | PM_QA_DEFERRED);
	case 'H':
		return (PM_QA_HOLD);
	default:
		return (PM_QA_ALL);
	}
}

/* One message: 0 done (logged), PM_ENOENT nothing done, PM_EREDIS. */
static int
apply(pm_qstore *qs, op *o, const pm_qa_item *it)
{
	const char *what;
	int rc, released = 0;

	switch (o->kind) {
	case 'e':
	case 'f':
		rc = pm_qa_expire(qs, it, o->kind == 'f', &released);
		what = "expired";
		break;
	case 'd':
		rc = pm_qa_delete(qs, it);
		what = "removed";
		break;
	case 'h':
		rc = pm_qa_hold(qs, it);
		what = "placed on hold";
		break;
	case 'H':
		rc = pm_qa_release(qs, it);
		what = "released from hold";
		break;
	default:
		rc = pm_qa_requeue(qs, it);
		what = "requeued";
		break;
	}
	if (rc == 0) {
		pm_msg_info("%s: %s", it->qid, what);
		o->count++;
		if (released) {
			pm_msg_info("%s: released from hold", it->qid);
			o->released++;
		}
	}
	return (rc == PM_EREDIS ? rc : 0);
}

static int
one_id(pm_qstore *qs, int nshards, op *o, const char *qid, unsigned mask)
{
	pm_qa_item it;
	int rc = pm_qa_find(qs, nshards, qid, &it);

	if (rc == PM_EINVAL) {
		pm_msg_warn("invalid mail queue id: %s", qid);
		return (0);
	}
	if (rc == PM_ENOENT) {
		return (0); /* not queued (any more): as Postfix, silent */
	}
	if (rc < 0) {
		return (rc);
	}
	if ((it.queue & mask) == 0) {
		return (0);
	}
	return (apply(qs, o, &it));
}

static int
all(pm_qstore *qs, int nshards, op *o, unsigned mask)
{
	pm_qa_walk *w = pm_qa_walk_new(qs, nshards, mask);
	const pm_qa_item *items;
	size_t n, i;
	int rc;

	while ((rc = pm_qa_walk_next(w, &items, &n)) == 0 && n > 0) {
		for (i = 0; i < n && rc == 0; i++) {
			rc = apply(qs, o, &items[i]);
		}
		if (rc < 0) {
			break;
		}
	}
	pm_qa_walk_free(w);
	return (rc);
}

static int
run(pm_qstore *qs, int nshards, op *o, unsigned queues)
{
	char qid[64];
	unsigned mask = op_mask(o->kind) & queues;
	int rc = 0;

	if (strcmp(o->arg, "ALL") == 0) {
		return (all(qs, nshards, o, mask));
	}
	if (strcmp(o->arg, "-") != 0) {
		return (one_id(qs, nshards, o, o->arg, mask));
	}
	while (rc == 0 && pm_qcli_read_id(stdin, qid, sizeof(qid))) {
		rc = one_id(qs, nshards, o, qid, mask);
	}
	return (rc);
}

static void
summary(const op *o)
{
	const char *what = o->kind == 'd'    ? "Deleted" :
	    o->kind == 'e' || o->kind == 'f' ? "Force-expired" :
	    o->kind == 'h'                   ? "Placed on hold" :
	    o->kind == 'H'                   ? "Released from hold" :
	                                       "Requeued";

	if (o->count > 0) {
		pm_msg_info("%s: %lu message%s", what, o->count,
		    o->count == 1 ? "" : "s");
	}
	if (o->released > 0) {
		pm_msg_info("Released from hold: %lu message%s", o->released,
		    o->released == 1 ? "" : "s");
	}
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: postsuper [-v] [-c config_dir] [-d queue_id] "
	    "[-e queue_id] [-f queue_id] [-h queue_id] [-H queue_id] "
	    "[-r queue_id] [queue ...]\n");
}

int
main(int argc, char **argv)
{
	const char *config_dir = NULL;
	op ops[POSTSUPER_OPS_MAX];
	size_t nops = 0, i, stdin_ops = 0;
	unsigned queues = 0, b;
	int ch, nshards, rc = 0;
	pm_qstore *qs;
	FILE *out;

	while ((ch = getopt(argc, argv, "c:d:e:f:h:H:r:v")) != -1) {
		switch (ch) {
		case 'c':
			config_dir = optarg;
			break;
		case 'd':
		case 'e':
		case 'f':
		case 'h':
		case 'H':
		case 'r':
			if (nops == POSTSUPER_OPS_MAX) {
				fprintf(stderr,
				    "postsuper: too many options\n");
				return (1);
			}
			stdin_ops += strcmp(optarg, "-") == 0;
			ops[nops].kind = ch;
			ops[nops].arg = optarg;
			ops[nops].released = 0;
			ops[nops++].count = 0;
			break;
		case 'v':
			pm_msg_verbose++;
			break;
		default:
			usage();
			return (1);
		}
	}
	if (stdin_ops > 1) {
		fprintf(stderr,
		    "postsuper: fatal: "
		    "use \"-\" for one option only\n");
		return (1);
	}
	for (; optind < argc; optind++) {
		if ((b = pm_qa_queue_bit(argv[optind])) == 0) {
			fprintf(stderr, "postsuper: fatal: unknown queue: %s\n",
			    argv[optind]);
			return (1);
		}
		queues |= b;
	}
	if (nops == 0) {
		usage();
		return (1);
	}
	if (queues == 0) {
		queues = PM_QA_ALL;
	}
	if ((qs = pm_qcli_open("postsuper", config_dir, &out, &nshards)) ==
	    NULL) {
		return (1);
	}
	for (i = 0; i < nops && rc == 0; i++) {
		rc = run(qs, nshards, &ops[i], queues);
	}
	for (i = 0; i < nops; i++) {
		summary(&ops[i]);
	}
	pm_qstore_close(qs);
	fclose(out);
	if (rc == PM_EREDIS) {
		pm_msg_error("cannot reach the queue (Redis)");
		return (PM_QCLI_EX_TEMPFAIL);
	}
	return (rc == 0 ? 0 : 1);
}
