/*
 * NAME
 *	qmgr_intake - take messages into the active queue
 * SUMMARY
 *	#include "qmgr.h"
 * DESCRIPTION
 *	qmgr_intake_threads threads, each with its own Redis connection,
 *	once the scheduler thread has taken back this consumer's own
 *	pending entries (qmgr_intake_release()), claim new incoming entries (pm_qstore_claim_new, blocking up to
 *	one second) while the active queue has room: fewer than
 *	qmgr_message_active_limit messages and fewer than
 *	qmgr_message_recipient_limit recipients in memory.
 *
 *	qmgr_intake_entries() (also used for entries taken over from a
 *	dead qmgr) reads each message, and:
 *	- a message on hold (SUBMIT_HOLD) goes to the hold queue; an entry
 *	  whose message is gone is dropped; a corrupt one is held;
 *	- logs "QID: from=<sender>, size=N, nrcpt=M (queue active)";
 *	- a message force-expired by postsuper -e/-f (envelope field
 *	  "expire") gets no jobs: the end of the pass bounces it;
 *	- skips recipients already sent or bounced (an earlier pass or a
 *	  dead qmgr's agents wrote them), resolves the others with the
 *	  rewrite service (rule "local", cached by rewrite_clnt) into
 *	  (transport, nexthop, recipient): a temporary resolver failure
 *	  defers the recipient "4.3.0 address resolver failure"; a bad
 *	  address bounces it (5.1.3), as does a relocated_maps match
 *	  (5.1.6 "user has moved to ...");
 *	- groups the rest into jobs per destination, at most
 *	  <transport>_destination_recipient_limit recipients each (fewer
 *	  when addresses are long, so a job fits in a fetch reply), and
 *	  queues them in the scheduler. A job for a dead destination is
 *	  deferred at once.
 * LIMITS
 *	QMGR_CLAIM_BATCH entries per claim; the active limits above.
 * SECURITY
 *	Messages come from Redis and were checked by pm_qstore_read();
 *	resolver answers are checked by pm_sched (names) before use.
 */
#include "qmgr.h"
#include "pm_msgflags.h"
#include "pm_server_queue.h"
#include "qmgr_params.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.pb-c.h"
#include "pm_log.h"
#include "rewrite_clnt.h"
#include "pm_server.h"

static pthread_t *intake_tids;
static long intake_n;
static atomic_int intake_quit;
static atomic_int intake_go; /* the start-up reclaim is done */

static int
intake_stopping(void)
{
	return (atomic_load(&intake_quit) || pm_server_stopping());
}

/* Recipients per job: the transport's limit, and a byte budget. */
typedef struct group_ctx {
	size_t rcpt_bytes; /* largest recipient estimate of the message */
} group_ctx;

static long
group_limit(void *arg, const char *transport)
{
	group_ctx *g = arg;
	long lim = qmgr_tpinfo_get(transport)->rcpt_limit;
	long by_size = (long) (QMGR_JOB_BYTES / (g->rcpt_bytes + 1));

	if (by_size < 1) {
		by_size = 1;
	}
	return (lim < by_size ? lim : by_size);
}

/* Resolution of one recipient, before grouping. */
typedef struct intake_rcpt {
	pm_resolved res;
	int have; /* res is filled and routable */
} intake_rcpt;

/*
 * Resolve recipient i. *down is set when the rewrite service did not
 * answer: the caller then defers the rest of the message without
 * asking again (each call could wait the whole timeout).
 */
static void
intake_resolve(pm_qstore *qs, qmgr_msg *msg, size_t i, intake_rcpt *ir,
    int *down)
{
	pm_qrcpt *q = &msg->m->rcpt[i];
	const char *dsn = NULL;
	char *why = NULL;
	int rc = PM_ECLOSED, changed;

	memset(&ir->res, 0, sizeof(ir->res));
	if (!*down) {
		rc = pm_rewrite_resolve(qmgr.rw, q->address, "local", 0,
		    &ir->res);
		*down = rc != 0 && rc != PM_EINVAL;
	}
	if (rc != 0 || (ir->res.flags & PM_RESOLVE_ERROR) ||
	    (!(ir->res.flags & (PM_RESOLVE_FAIL | PM_RESOLVE_RELOCATED)) &&
	        (ir->res.transport == NULL || ir->res.transport[0] == 0 ||
	            ir->res.recipient == NULL || ir->res.recipient[0] == 0))) {
		qmgr_rcpt_set(msg, i, QR_DEFERRED, "4.3.0",
		    "address resolver failure", NULL, 1);
		qmgr_log_rcpt(msg, i, q->address, NULL, 0, "4.3.0", "deferred",
		    "address resolver failure");
		if (rc == 0) {
			pm_resolved_free(&ir->res);
		}
		return;
	}
	if (ir->res.flags & PM_RESOLVE_FAIL) {
		dsn = "5.1.3";
		why = pm_asprintf("bad address syntax%s%s",
		    ir->res.text && *ir->res.text ? ": " : "",
		    ir->res.text ? ir->res.text : "");
	} else if (ir->res.flags & PM_RESOLVE_RELOCATED) {
		dsn = "5.1.6";
		why = pm_asprintf("user has moved to %s",
		    ir->res.text ? ir->res.text : "");
	}
	if (dsn != NULL) {
		qmgr_rcpt_set(msg, i, QR_BOUNCED, dsn, why, NULL, 0);
		qmgr_log_rcpt(msg, i, q->address, NULL, 0, dsn, "bounced",
		    msg->r[i].text);
		/* fenced: a lost lease shows at the refresh or completion */
		(void) pm_qstore_rcpt_status_fenced(qs, &msg->e, i,
		    PM_RCPT_BOUNCED, dsn, msg->r[i].text, &changed);
		free(why);
		pm_resolved_free(&ir->res);
		return;
	}
	ir->have = 1;
}

/* Build the jobs of a message (not shared yet: no lock needed). */
static size_t
intake_jobs(qmgr_msg *msg, intake_rcpt *ir, qmgr_job ***jobsp)
{
	pm_qmsg *m = msg->m;
	const char **tp = pm_calloc(m->nrcpt, sizeof(*tp));
	const char **nh = pm_calloc(m->nrcpt, sizeof(*nh));
	size_t *job_of = pm_calloc(m->nrcpt, sizeof(*job_of));
	size_t i, n, k, b, env;
	qmgr_job **jobs, *j;
	group_ctx g = { 0 };

	for (i = 0; i < m->nrcpt; i++) {
		if (!ir[i].have) {
			continue;
		}
		tp[i] = ir[i].res.transport;
		nh[i] = ir[i].res.nexthop ? ir[i].res.nexthop : "";
		b = strlen(ir[i].res.recipient) + strlen(m->rcpt[i].address) +
		    strlen(m->rcpt[i].orcpt) + 32;
		if (b > g.rcpt_bytes) {
			g.rcpt_bytes = b;
		}
	}
	n = pm_sched_group(tp, nh, m->nrcpt, group_limit, &g, job_of);
	jobs = pm_calloc(n ? n : 1, sizeof(*jobs));
	env =
	    strlen(m->sender) + strlen(m->dsn_envid ? m->dsn_envid : "") + 256;
	for (k = 0; k < n; k++) {
		jobs[k] = pm_calloc(1, sizeof(*jobs[k]));
		jobs[k]->bytes = env;
	}
	for (i = 0; i < m->nrcpt; i++) {
		if (job_of[i] == SIZE_MAX) {
			continue;
		}
		j = jobs[job_of[i]];
		if (j->transport == NULL) {
			j->transport = pm_strdup(tp[i]);
			j->nexthop = pm_strdup(nh[i]);
			j->bytes += strlen(j->transport) + strlen(j->nexthop);
		}
		j->idx = pm_realloc(j->idx, (j->n + 1) * sizeof(*j->idx));
		j->addr = pm_realloc(j->addr, (j->n + 1) * sizeof(*j->addr));
		j->idx[j->n] = i;
		j->addr[j->n] = pm_strdup(ir[i].res.recipient);
		j->bytes += strlen(ir[i].res.recipient) +
		    strlen(m->rcpt[i].address) + strlen(m->rcpt[i].orcpt) + 32;
		j->n++;
	}
	for (k = 0; k < n; k++) {
		qmgr_job_link(msg, jobs[k]);
	}
	free(tp);
	free(nh);
	free(job_of);
	*jobsp = jobs;
	return (n);
}

/*
 * Already active? A takeover may return an entry this qmgr holds in
 * memory (its refresh came too late): the claim gave it a new lease
 * epoch, which the message takes, unless its pass is completing (then
 * the completion's writes are refused and the entry is taken up
 * again).
 */
static int
intake_known(const pm_qentry *e)
{
	qmgr_msg *msg;
	int known;

	pthread_mutex_lock(&qmgr.mu);
	msg = pm_smap_get(qmgr.msgs, e->qid);
	known = msg != NULL;
	if (known && msg->holds > 0 && msg->e.shard == e->shard &&
	    strcmp(msg->e.id, e->id) == 0) {
		msg->e.epoch = e->epoch;
		memcpy(msg->e.owner, e->owner, sizeof(msg->e.owner));
	}
	pthread_mutex_unlock(&qmgr.mu);
	return (known);
}

/* The message is not ours to deliver now: hold, drop or skip it. */
static int
intake_read(pm_qstore *qs, const pm_qentry *e, pm_qmsg **mp)
{
	int rc = pm_qstore_read(qs, e->qid, mp);

	if (rc == PM_ENOENT) {
		pm_msg_warn("%s: no such message: dropping its queue entry",
		    e->qid);
		(void) pm_qstore_finish(qs, e);
	} else if (rc == PM_EIO || rc == PM_EINVAL) {
		pm_msg_warn("%s: corrupt queue entry: moved to the hold "
		            "queue",
		    e->qid);
		(void) pm_qstore_hold(qs, e);
	} else if (rc != 0) {
		/* claimed, so ours: read again from the retry list */
		pm_msg_warn("%s: cannot read the message: %s; will retry",
		    e->qid, pm_strerror(rc));
		if (qmgr_retry_rc(rc)) {
			qmgr_retry_entry_add(e);
		}
	} else if ((*mp)->flags & PM_MSG_HOLD) {
		if ((rc = pm_qstore_hold(qs, e)) != 0) {
			pm_msg_warn("%s: cannot move to the hold queue: %s",
			    e->qid, pm_strerror(rc));
		}
		*mp = pm_qmsg_free(*mp);
		rc = PM_EAGAIN;
	}
	return (rc);
}

static void
intake_one(pm_qstore *qs, const pm_qentry *e, int stale)
{
	qmgr_msg *msg, *done = NULL;
	qmgr_job **jobs = NULL;
	intake_rcpt *ir;
	pm_qmsg *m = NULL;
	size_t i, n;
	int down = 0;

	if (intake_known(e) || intake_read(qs, e, &m) != 0) {
		return;
	}
	msg = qmgr_msg_new(e, m, pm_now_us());
	msg->stale = stale;
	if (stale) {
		/* the dead qmgr's pass counts: idempotency keys stay unique */
		msg->attempt++;
	}
	pm_msg_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)", e->qid,
	    m->sender, m->size, m->nrcpt);
	ir = pm_calloc(m->nrcpt ? m->nrcpt : 1, sizeof(*ir));
	for (i = 0; i < m->nrcpt; i++) {
		/* force-expired (postsuper -e/-f): no jobs, the end of the
		 * pass returns it to the sender (qmgr_msg.c) */
		if (!QR_FINAL(msg->r[i].state) && !m->expire) {
			intake_resolve(qs, msg, i, &ir[i], &down);
		}
	}
	n = intake_jobs(msg, ir, &jobs);
	for (i = 0; i < m->nrcpt; i++) {
		if (ir[i].have) {
			pm_resolved_free(&ir[i].res);
		}
	}
	free(ir);

	pthread_mutex_lock(&qmgr.mu);
	if (pm_smap_get(qmgr.msgs, e->qid) != NULL) {
		/* taken in by another thread meanwhile */
		pthread_mutex_unlock(&qmgr.mu);
		for (i = 0; i < n; i++) {
			qmgr_job_free(jobs[i]);
		}
		free(jobs);
		qmgr_msg_free(msg);
		return;
	}
	pm_smap_put(qmgr.msgs, e->qid, msg);
	qmgr.nmsgs++;
	qmgr.nrcpts += m->nrcpt;
	for (i = 0; i < n; i++) {
		qmgr_job_queue(jobs[i], &done);
	}
	free(jobs);
	qmgr_msg_release(msg, &done);
	pm_metric_set(qmgr_m.mem_messages, (int64_t) qmgr.nmsgs);
	pthread_cond_broadcast(&qmgr.work_cv);
	pthread_mutex_unlock(&qmgr.mu);
	qmgr_msg_complete_list(qs, done);
}

void
qmgr_intake_entries(pm_qstore *qs, const pm_qentry *e, size_t n, int stale)
{
	size_t i;

	for (i = 0; i < n; i++) {
		intake_one(qs, &e[i], stale);
	}
}

/* Room in the active queue: how many messages may be claimed. */
static size_t
intake_room(void)
{
	struct timespec ts;
	size_t room = 0;

	pthread_mutex_lock(&qmgr.mu);
	while (!intake_stopping()) {
		if (qmgr.nmsgs + qmgr.claiming <
		        (size_t) var_qmgr_active_limit &&
		    qmgr.nrcpts < (size_t) var_qmgr_rcpt_limit) {
			room = (size_t) var_qmgr_active_limit - qmgr.nmsgs -
			    qmgr.claiming;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&qmgr.room_cv, &qmgr.mu, &ts);
	}
	if (room > QMGR_CLAIM_BATCH) {
		room = QMGR_CLAIM_BATCH;
	}
	qmgr.claiming += room; /* other intake threads leave it alone */
	pthread_mutex_unlock(&qmgr.mu);
	return (room);
}

static void
intake_unreserve(size_t room)
{
	pthread_mutex_lock(&qmgr.mu);
	qmgr.claiming -= room;
	pthread_cond_broadcast(&qmgr.room_cv);
	pthread_mutex_unlock(&qmgr.mu);
}

static void *
intake_main(void *arg)
{
	pm_qstore *qs = pm_server_qstore_must();
	pm_qentry batch[QMGR_CLAIM_BATCH];
	size_t room, n;
	int rc;

	(void) arg;
	while (!atomic_load(&intake_go) && !intake_stopping()) {
		struct timespec ts = { 0, 50 * 1000000L };

		nanosleep(&ts, NULL); /* this qmgr's own entries come first */
	}
	while (!intake_stopping()) {
		if ((room = intake_room()) == 0) {
			continue;
		}
		n = 0;
		rc = pm_qstore_claim_new(qs, qmgr.consumer, NULL, 0, room, 1000,
		    batch, &n);
		if (rc != 0) {
			/* Redis down: pm_qstore logged it; do not spin */
			struct timespec ts = { 1, 0 };

			intake_unreserve(room);
			nanosleep(&ts, NULL);
			continue;
		}
		qmgr_intake_entries(qs, batch, n, 0);
		intake_unreserve(room);
	}
	pm_qstore_close(qs);
	return (NULL);
}

void
qmgr_intake_release(void)
{
	atomic_store(&intake_go, 1);
}

int
qmgr_intake_start(void)
{
	long i;

	intake_n = var_qmgr_intake_threads;
	intake_tids = pm_calloc((size_t) intake_n, sizeof(*intake_tids));
	for (i = 0; i < intake_n; i++) {
		if (pthread_create(&intake_tids[i], NULL, intake_main, NULL) !=
		    0) {
			intake_n = i;
			return (PM_EIO);
		}
	}
	return (0);
}

void
qmgr_intake_stop(void)
{
	long i;

	atomic_store(&intake_quit, 1);
	pthread_mutex_lock(&qmgr.mu);
	pthread_cond_broadcast(&qmgr.room_cv);
	pthread_mutex_unlock(&qmgr.mu);
	for (i = 0; i < intake_n; i++) {
		pthread_join(intake_tids[i], NULL);
	}
	free(intake_tids);
	intake_tids = NULL;
	intake_n = 0;
}
