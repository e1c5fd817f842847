/*
 * NAME
 *	qmgr_lease - the lease thread: keep the active queue's leases
 * SUMMARY
 *	#include "qmgr.h"
 * DESCRIPTION
 *	One thread with its own Redis connection that does nothing but
 *	refresh leases, so that no rewrite, bounce or slow Redis call of
 *	the scheduler or of a completion can starve it: every
 *	qmgr_lease_time/3 (at least every second) it collects the entries
 *	of the active messages (briefly under qmgr.mu) and refreshes them
 *	with pm_qstore_touch (function pm_lease_touch), in batches. An
 *	entry this consumer no longer holds (another consumer took it over,
 *	or the message's lease epoch says a later claim took it, e.g. a
 *	process under the same name) is lost: its message is dropped from
 *	memory without finish, defer or notice (qmgr_msg_lose), logged
 *	("QID: lease lost") and counted (postmesh_qmgr_leases_lost_total).
 *
 *	Leases are proven by the last refresh pass that worked: its start
 *	(monotonic) is kept, and while it is older than 2/3 of
 *	qmgr_lease_time (the process was stopped, or Redis did not answer)
 *	qmgr_lease_fresh() is false and no job is handed out
 *	(qmgr_fetch.c): a qmgr resumed after SIGSTOP first learns which
 *	messages it lost, then dispatches, so it does not send a message
 *	that another qmgr took over meanwhile.
 *
 *	qmgr_lease_refused() is the same drop for a write that Redis
 *	refused with PM_ELOST (fencing, pm_qstore_fence.c): the message
 *	is at its completion then, so only the log line and the metric.
 *
 *	Takeover of stale entries, taking back own entries at start, and
 *	removing gone consumers stay in the scheduler thread
 *	(qmgr_sched.c): a takeover reads and resolves the messages (rewrite
 *	calls), which must never delay a refresh.
 * LIMITS
 *	LEASE_BATCH entries per pm_qstore_touch call; at most
 *	qmgr_message_active_limit entries per pass.
 * SECURITY
 *	Entry ids come from the in-memory active queue; Redis replies are
 *	checked by pm_qstore_touch.
 */
#include "qmgr.h"
#include "pm_server_queue.h"
#include "qmgr_params.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pm_log.h"

#define LEASE_BATCH 256

static pthread_t lease_tid;
static int lease_started;
static atomic_int lease_quit;
static pthread_mutex_t lease_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lease_cv;
static _Atomic int64_t lease_ok_ms; /* start of the last good pass */

typedef struct lease_ctx {
	pm_qentry *e;
	size_t n;
	size_t max;
} lease_ctx;

static void
lease_collect(const char *key, void *value, void *arg)
{
	lease_ctx *t = arg;
	qmgr_msg *msg = value;

	(void) key;
	if (t->n < t->max) {
		t->e[t->n++] = msg->e;
	}
}

/* Drop the messages whose entries are lost[] (see qmgr_msg_lose). */
static void
lease_lose(pm_qstore *qs, const pm_qentry *e, const unsigned char *lost,
    size_t n)
{
	qmgr_msg *msg, *done = NULL;
	size_t i;

	pthread_mutex_lock(&qmgr.mu);
	for (i = 0; i < n; i++) {
		if (!lost[i]) {
			continue;
		}
		msg = pm_smap_get(qmgr.msgs, e[i].qid);
		if (msg == NULL || strcmp(msg->e.id, e[i].id) != 0 ||
		    msg->e.shard != e[i].shard || msg->e.epoch != e[i].epoch) {
			continue; /* completed or claimed again meanwhile */
		}
		if (msg->holds == 0) {
			/* completing on another thread: its fenced writes
			 * are refused (qmgr_lease_refused) */
			continue;
		}
		pm_msg_warn("%s: lease lost: entry %s is held by another "
		            "consumer now; %zu job(s) in flight",
		    e[i].qid, e[i].id, msg->inflight);
		pm_metric_inc(qmgr_m.leases_lost);
		qmgr_msg_lose(msg, &done);
	}
	pm_metric_set(qmgr_m.mem_messages, (int64_t) qmgr.nmsgs);
	pthread_mutex_unlock(&qmgr.mu);
	/* lost messages only: freed, no Redis or bounce call */
	qmgr_msg_complete_list(qs, done);
}

int
qmgr_lease_touch(pm_qstore *qs)
{
	lease_ctx t = { 0 };
	unsigned char *lost;
	size_t i, n;
	int64_t t0 = pm_mono_ms();
	int rc = 0, was_fresh = qmgr_lease_fresh();

	pthread_mutex_lock(&qmgr.mu);
	t.max = qmgr.nmsgs;
	t.e = pm_calloc(t.max ? t.max : 1, sizeof(*t.e));
	pm_smap_walk(qmgr.msgs, lease_collect, &t);
	pthread_mutex_unlock(&qmgr.mu);
	lost = pm_calloc(LEASE_BATCH, 1);
	for (i = 0; i < t.n; i += n) {
		n = t.n - i < LEASE_BATCH ? t.n - i : LEASE_BATCH;
		rc = pm_qstore_touch(qs, qmgr.consumer, t.e + i, n, lost);
		lease_lose(qs, t.e + i, lost, n);
		if (rc != 0) {
			pm_msg_warn("cannot refresh the lease of %zu active "
			            "messages: %s",
			    t.n, pm_strerror(rc));
			break;
		}
	}
	free(lost);
	free(t.e);
	if (rc == 0) {
		atomic_store(&lease_ok_ms, t0);
		if (!was_fresh) {
			pthread_mutex_lock(&qmgr.mu);
			pthread_cond_broadcast(
			    &qmgr.work_cv); /* dispatch again */
			pthread_mutex_unlock(&qmgr.mu);
		}
	}
	return (rc);
}

int
qmgr_lease_fresh(void)
{
	return (pm_mono_ms() - atomic_load(&lease_ok_ms) <
	    2000LL * var_qmgr_lease / 3);
}

void
qmgr_lease_refused(const qmgr_msg *msg, const char *what)
{
	pm_msg_warn("%s: lease lost: %s refused, another consumer holds the "
	            "message now (lease epoch %llu of %s); dropped from the "
	            "active queue",
	    msg->e.qid, what, (unsigned long long) msg->e.epoch,
	    msg->e.owner[0] ? msg->e.owner : qmgr.consumer);
	pm_metric_inc(qmgr_m.leases_lost);
}

static void *
lease_main(void *arg)
{
	pm_qstore *qs = pm_server_qstore_must();
	int64_t every = 1000LL * (var_qmgr_lease / 3), next;
	struct timespec ts;

	(void) arg;
	if (every < 1000) {
		every = 1000;
	}
	next = pm_mono_ms() + every;
	while (!atomic_load(&lease_quit)) {
		pthread_mutex_lock(&lease_mu);
		while (!atomic_load(&lease_quit) && pm_mono_ms() < next) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1; /* wakes up early: next is checked */
			pthread_cond_timedwait(&lease_cv, &lease_mu, &ts);
		}
		pthread_mutex_unlock(&lease_mu);
		if (atomic_load(&lease_quit)) {
			break;
		}
		if (qmgr_lease_touch(qs) != 0) {
			/* failed (Redis away): again in a second, not later */
			next = pm_mono_ms() + 1000;
			continue;
		}
		next += every;
		if (next < pm_mono_ms()) {
			next = pm_mono_ms() + every; /* a slow pass */
		}
	}
	pm_qstore_close(qs);
	return (NULL);
}

int
qmgr_lease_start(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&lease_cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&lease_ok_ms, pm_mono_ms()); /* nothing held yet */
	if (pthread_create(&lease_tid, NULL, lease_main, NULL) != 0) {
		return (PM_EIO);
	}
	lease_started = 1;
	return (0);
}

void
qmgr_lease_stop(void)
{
	if (!lease_started) {
		return;
	}
	pthread_mutex_lock(&lease_mu);
	atomic_store(&lease_quit, 1);
	pthread_cond_broadcast(&lease_cv);
	pthread_mutex_unlock(&lease_mu);
	pthread_join(lease_tid, NULL);
	lease_started = 0;
}
