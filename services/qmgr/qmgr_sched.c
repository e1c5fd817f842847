/*
 * NAME
 *	qmgr_sched - the scheduler thread: timeouts, leases, queue scans
 * SUMMARY
 *	#include "qmgr.h"
 * DESCRIPTION
 *	One thread with its own Redis connection. At start it takes back
 *	the entries its consumer name still holds (a process with the
 *	same name that died: pm_qstore_claim_own), at once, before intake
 *	claims new ones (retried every second while Redis is down). Then
 *	it wakes every second and:
 *	- times out jobs whose agent did not report within
 *	  qmgr_job_timeout: the message is read again, recipients an agent
 *	  marked sent or bounced in Redis keep that status, the others are
 *	  deferred "4.4.2 delivery agent timeout";
 *	- hands back jobs of transports no agent serves
 *	  (qmgr_transport_wait): "4.3.0 mail transport unavailable";
 *	- every qmgr_lease_time/10 (1 to 10 s) takes over entries idle
 *	  longer than qmgr_lease_time (a dead qmgr's:
 *	  pm_qstore_claim_stale), while the active queue has room
 *	  (qmgr_takeovers_total{from="lease_expired"}); every
 *	  qmgr_lease_time/3 removes consumers with no pending entry idle
 *	  longer than qmgr_lease_time (gone instances:
 *	  pm_qstore_reap_consumers). Lease refresh has its own thread
 *	  (qmgr_lease.c): nothing here can delay it;
 *	- at start and every queue_run_delay moves due deferred messages
 *	  back to incoming (pm_qstore_requeue_due, every shard);
 *	- every few seconds publishes the queue sizes (pm_qstore_sizes).
 *
 *	Stopping: qmgr_sched_on_stop() (from the signal thread, while the
 *	RPC server still answers) stops dispatching and waits up to
 *	qmgr_stop_grace for jobs in flight; qmgr_sched_hand_back() (after
 *	every thread stopped) defers each message without a job in flight
 *	for an immediate retry and frees the in-memory state.
 * LIMITS
 *	QMGR_CLAIM_BATCH entries per takeover claim, ten claims per pass;
 *	1000 deferred messages per shard per requeue call, 100 calls per
 *	scan.
 */
#include "qmgr.h"
#include "pm_server_queue.h"
#include "qmgr_params.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pm_common_params.h"
#include "pm_log.h"

#define SIZES_INTERVAL_MS 5000
#define REQUEUE_MAX 1000

static pthread_t sched_tid;
static int sched_started;
static atomic_int sched_quit;
static pthread_mutex_t quit_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t quit_cv;

static void
sched_timeouts(pm_qstore *qs)
{
	qmgr_job *j, *list = NULL, *next;
	qmgr_msg *done = NULL;
	pm_qmsg *fresh;
	int64_t now;

	pthread_mutex_lock(&qmgr.mu);
	now = pm_mono_ms();
	while ((j = qmgr.ihead) != NULL &&
	    now - j->dispatch_ms >= 1000LL * var_qmgr_job_timeout) {
		qmgr.ihead = j->inext;
		if (qmgr.ihead != NULL) {
			qmgr.ihead->iprev = NULL;
		} else {
			qmgr.itail = NULL;
		}
		pm_smap_del(qmgr.jobs, j->id);
		j->inflight = 0;
		j->msg->inflight--;
		qmgr.ninflight--;
		pm_sched_done(qmgr.sched, &j->sj, PM_SCHED_NEUTRAL, NULL, NULL,
		    now, qmgr_drop_dead, &done);
		j->inext = list;
		list = j;
	}
	if (qmgr.ninflight == 0) {
		pthread_cond_broadcast(&qmgr.idle_cv);
	}
	pthread_cond_broadcast(&qmgr.work_cv);
	pthread_mutex_unlock(&qmgr.mu);

	for (j = list; j != NULL; j = next) {
		next = j->inext;
		fresh = NULL;
		/* the job holds its message: j->msg stays valid */
		if (pm_qstore_read(qs, j->msg->e.qid, &fresh) != 0) {
			fresh = NULL;
		}
		pthread_mutex_lock(&qmgr.mu);
		pm_msg_warn("%s: job %s (%s:%s): no report from the delivery "
		            "agent within %lds",
		    j->msg->e.qid, j->id, j->transport, j->nexthop,
		    var_qmgr_job_timeout);
		pm_metric_inc(qmgr_m.job_timeouts);
		if (fresh != NULL) {
			qmgr_job_keep_final(j, fresh);
		}
		qmgr_job_abandon(j, "4.4.2", "", "delivery agent timeout",
		    &done);
		pthread_mutex_unlock(&qmgr.mu);
		pm_qmsg_free(fresh);
	}
	qmgr_msg_complete_list(qs, done);
}

static void
sched_expire(pm_qstore *qs)
{
	qmgr_msg *done = NULL;

	pthread_mutex_lock(&qmgr.mu);
	pm_sched_expire(qmgr.sched, pm_mono_ms(), qmgr_drop_plain, &done);
	pthread_mutex_unlock(&qmgr.mu);
	qmgr_msg_complete_list(qs, done);
}

static void
sched_takeover(pm_qstore *qs)
{
	pm_qentry batch[QMGR_CLAIM_BATCH];
	size_t room, n, i;
	int round, rc;

	for (round = 0; round < 10 && !atomic_load(&sched_quit); round++) {
		pthread_mutex_lock(&qmgr.mu);
		room = qmgr.nmsgs + qmgr.claiming <
		        (size_t) var_qmgr_active_limit ?
		    (size_t) var_qmgr_active_limit - qmgr.nmsgs -
		        qmgr.claiming :
		    0;
		if (qmgr.stopping) {
			room = 0;
		}
		pthread_mutex_unlock(&qmgr.mu);
		if (room == 0) {
			return;
		}
		n = 0;
		rc = pm_qstore_claim_stale(qs, qmgr.consumer, NULL, 0,
		    1000LL * var_qmgr_lease,
		    room < QMGR_CLAIM_BATCH ? room : QMGR_CLAIM_BATCH, batch,
		    &n);
		if (rc != 0 || n == 0) {
			return;
		}
		for (i = 0; i < n; i++) {
			pm_msg_info("%s: lease expired: taken over by %s "
			            "(lease epoch %llu)",
			    batch[i].qid, qmgr.consumer,
			    (unsigned long long) batch[i].epoch);
		}
		pm_metric_add(qmgr_m.takeover_stale, (uint64_t) n);
		qmgr_intake_entries(qs, batch, n, 1);
		if (n < QMGR_CLAIM_BATCH) {
			return;
		}
	}
}

/* Consumers of gone instances, their entries all taken over. */
static void
sched_reap(pm_qstore *qs)
{
	size_t removed = 0;

	(void) pm_qstore_reap_consumers(qs, qmgr.consumer,
	    1000LL * var_qmgr_lease, &removed);
	pm_metric_add(qmgr_m.consumers_removed, (uint64_t) removed);
}

/*
 * At start: the entries this consumer name holds (its previous process
 * died) come back at once. 0 when done, else retry later.
 */
static int
sched_reclaim(pm_qstore *qs)
{
	pm_qentry *batch;
	size_t max = (size_t) var_qmgr_active_limit, n = 0;
	int more = 0, rc;

	batch = pm_calloc(max, sizeof(*batch));
	rc = pm_qstore_claim_own(qs, qmgr.consumer, NULL, 0, max, batch, &n,
	    &more);
	if (rc == 0) {
		if (n > 0) {
			pm_msg_info("consumer %s: %zu message(s) still held "
			            "from before the restart: taken back%s",
			    qmgr.consumer, n,
			    more ? "; more are left to the lease takeover" :
			           "");
			pm_metric_add(qmgr_m.taken_back, (uint64_t) n);
			pm_metric_add(qmgr_m.takeover_own, (uint64_t) n);
		}
		qmgr_intake_entries(qs, batch, n, 1);
	}
	free(batch);
	if (rc == 0 && n > 0) {
		qmgr_lease_touch(qs); /* a full lease from now on */
	}
	return (rc);
}

static void
sched_requeue(pm_qstore *qs)
{
	size_t moved, total = 0;
	int shard, k, rc;

	for (shard = 0; shard < (int) var_queue_shards; shard++) {
		for (k = 0; k < 100; k++) {
			moved = 0;
			rc = pm_qstore_requeue_due(qs, shard,
			    pm_now_us() / 1000, REQUEUE_MAX, &moved);
			total += moved;
			if (rc != 0 || moved < REQUEUE_MAX) {
				if (rc != 0) {
					pm_msg_warn("deferred queue scan of "
					            "shard %d: %s",
					    shard, pm_strerror(rc));
				}
				break;
			}
		}
	}
	if (total > 0 && pm_msg_verbose) {
		pm_msg_debug("deferred queue scan: %zu message(s) due", total);
	}
}

/* 0 when Redis answered (then its memory is read too: qmgr_gauges.c) */
static int
sched_sizes(pm_qstore *qs)
{
	pm_qsizes sz;
	int64_t age;

	if (pm_qstore_sizes(qs, &sz) != 0) {
		return (PM_EREDIS);
	}
	pm_metric_set(qmgr_m.q_incoming, sz.incoming);
	pm_metric_set(qmgr_m.q_active, sz.active);
	pm_metric_set(qmgr_m.q_deferred, sz.deferred);
	pm_metric_set(qmgr_m.q_hold, sz.hold);
	age = sz.oldest_us > 0 ? (pm_now_us() - sz.oldest_us) / 1000000 : 0;
	pm_metric_set(qmgr_m.oldest_age, age > 0 ? age : 0);
	return (0);
}

static void *
sched_main(void *arg)
{
	pm_qstore *qs = pm_server_qstore_must();
	int64_t reap_every = 1000LL * (var_qmgr_lease / 3), now;
	int64_t take_every = 1000LL * (var_qmgr_lease / 10);
	int64_t next_take, next_reap, next_requeue = 0, next_sizes = 0;
	struct timespec ts;

	(void) arg;
	if (reap_every < 1000) {
		reap_every = 1000;
	}
	/* a dead qmgr's mail waits the lease plus at most this */
	take_every = take_every < 1000 ? 1000 :
	    take_every > 10000         ? 10000 :
	                                 take_every;
	while (!atomic_load(&sched_quit) && sched_reclaim(qs) != 0) {
		pthread_mutex_lock(&quit_mu);
		if (!atomic_load(&sched_quit)) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&quit_cv, &quit_mu, &ts);
		}
		pthread_mutex_unlock(&quit_mu);
	}
	qmgr_intake_release();
	next_take = next_reap = pm_mono_ms() + take_every;
	while (!atomic_load(&sched_quit)) {
		sched_timeouts(qs);
		qmgr_agent_check(qs); /* dead agents' jobs: qmgr_agent_jobs.c */
		sched_expire(qs);
		qmgr_retry_run(qs);
		qmgr_flush_check(qs); /* postqueue -f: qmgr_flush.c */
		now = pm_mono_ms();
		if (now >= next_take) {
			sched_takeover(qs);
			next_take = now + take_every;
		}
		if (now >= next_reap) {
			sched_reap(qs);
			next_reap = now + reap_every;
		}
		if (now >= next_requeue) {
			sched_requeue(qs);
			next_requeue = now + 1000LL * var_queue_run_delay;
		}
		if (now >= next_sizes) {
			if (sched_sizes(qs) == 0) {
				qmgr_gauges_redis(qs); /* qmgr_gauges.c */
			}
			next_sizes = now + SIZES_INTERVAL_MS;
		}
		pthread_mutex_lock(&quit_mu);
		if (!atomic_load(&sched_quit)) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&quit_cv, &quit_mu, &ts);
		}
		pthread_mutex_unlock(&quit_mu);
	}
	pm_qstore_close(qs);
	return (NULL);
}

int
qmgr_sched_start(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&quit_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&sched_tid, NULL, sched_main, NULL) != 0) {
		return (PM_EIO);
	}
	sched_started = 1;
	return (0);
}

void
qmgr_sched_stop(void)
{
	if (!sched_started) {
		return;
	}
	pthread_mutex_lock(&quit_mu);
	atomic_store(&sched_quit, 1);
	pthread_cond_broadcast(&quit_cv);
	pthread_mutex_unlock(&quit_mu);
	pthread_join(sched_tid, NULL);
	sched_started = 0;
}

void
qmgr_sched_on_stop(void *arg)
{
	struct timespec ts;
	int64_t deadline;

	(void) arg;
	pthread_mutex_lock(&qmgr.mu);
	qmgr.stopping = 1;
	pthread_cond_broadcast(&qmgr.work_cv);
	pthread_cond_broadcast(&qmgr.room_cv);
	if (qmgr.ninflight > 0) {
		pm_msg_info("stopping: waiting up to %lds for %zu job(s) in "
		            "flight",
		    var_qmgr_stop_grace, qmgr.ninflight);
	}
	deadline = pm_mono_ms() + 1000LL * var_qmgr_stop_grace;
	while (qmgr.ninflight > 0 && pm_mono_ms() < deadline) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&qmgr.idle_cv, &qmgr.mu, &ts);
	}
	pthread_mutex_unlock(&qmgr.mu);
}

typedef struct back_ctx {
	qmgr_msg **v;
	size_t n;
	size_t max;
} back_ctx;

static void
back_collect(const char *key, void *value, void *arg)
{
	back_ctx *b = arg;

	(void) key;
	if (b->n < b->max) {
		b->v[b->n++] = value;
	}
}

void
qmgr_sched_hand_back(pm_qstore *qs)
{
	back_ctx b = { 0 };
	qmgr_msg *msg;
	qmgr_job *j;
	size_t i, nback = 0, nleft = 0;
	int64_t now = pm_now_us();
	int *keep;

	qmgr_retry_forget();
	pthread_mutex_lock(&qmgr.mu);
	b.max = pm_smap_count(qmgr.msgs);
	b.v = pm_calloc(b.max ? b.max : 1, sizeof(*b.v));
	keep = pm_calloc(b.max ? b.max : 1, sizeof(*keep));
	pm_smap_walk(qmgr.msgs, back_collect, &b);
	for (i = 0; i < b.n; i++) {
		msg = b.v[i];
		/* on the retry list: what it must write is in memory only */
		keep[i] = msg->inflight > 0 || msg->retry;
		while ((j = msg->jobs) != NULL) {
			if (j->inflight) {
				pm_smap_del(qmgr.jobs, j->id);
			} else {
				pm_sched_remove(qmgr.sched, &j->sj);
			}
			qmgr_job_free(j);
		}
		pm_smap_del(qmgr.msgs, msg->e.qid);
	}
	qmgr.ihead = qmgr.itail = NULL;
	qmgr.ninflight = 0;
	qmgr.nmsgs = qmgr.nrcpts = 0;
	pthread_mutex_unlock(&qmgr.mu);

	for (i = 0; i < b.n; i++) {
		msg = b.v[i];
		if (keep[i]) {
			nleft++;
		} else if (qs != NULL &&
		    pm_qstore_defer(qs, &msg->e, (int) msg->attempt, now) ==
		        0) {
			nback++;
		}
		qmgr_msg_free(msg);
	}
	if (b.n > 0) {
		pm_msg_info(
		    "stopping: %zu active message(s) handed back to "
		    "the queue, %zu left to be taken over after the lease",
		    nback, nleft);
	}
	free(keep);
	free(b.v);
}
