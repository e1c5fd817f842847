/*
 * NAME
 *	pm_agent - the pull loop shared by every delivery agent
 * DESCRIPTION
 *	See pm_agent.h. Threads:
 *	- one fetcher per qmgr address (pm_agent_peers.c: qmgr_service's
 *	  names are followed as they resolve), each with its own
 *	  pm_rpc client (the outcome of a job goes back to the qmgr that
 *	  gave it). A fetcher keeps one FetchRequest outstanding
 *	  (asynchronous, so a stop does not wait for the long poll) for
 *	  as many jobs as there are free slots, and with no free slot a
 *	  heartbeat (max_jobs 0), so that qmgr always sees this process
 *	  alive; each fetch names the agent ("<name>@<instance name>")
 *	  and this process's start time, and says how long the agent
 *	  waits for the reply (qmgr's qmgr_agents.c). The reply's jobs are
 *	  checked and queued by the nng callback. On an error it waits a
 *	  second and asks again (warning once per outage, then every
 *	  minute);
 *	- `slots` workers, each with its own pm_qstore (Redis connection)
 *	  and the agent's thread context, take jobs from the queue, call
 *	  deliver(), then pm__agent_finish() (Redis, logs, metrics) and
 *	  report the outcome to the job's qmgr (pm_qmgr_done_call, 3
 *	  tries);
 *	- the caller's thread (pm_agent_run) waits for the stop.
 *	Free slots are counted per process (slots - running - queued);
 *	with several qmgrs each fetcher asks for all free slots, so up to
 *	slots * number-of-qmgrs jobs may be held at once, the extra ones
 *	waiting in the queue for a worker.
 *
 *	Stop (SIGTERM): fetchers stop asking for jobs but send heartbeats
 *	until the workers are done (qmgr must not take their jobs for a
 *	dead agent's); workers finish the job they hold and go on with
 *	the jobs already queued, or brought by a fetch for jobs that was
 *	in flight at the stop, for the first half of agent_stop_grace (a
 *	job handed back is deferred with backoff, minutes, so a rolling
 *	restart would hold mail up); after they are done, or after
 *	agent_stop_grace, the jobs still queued (and any that a late
 *	fetch reply brings) are reported back as deferred "4.3.0
 *	delivery agent stopping". Workers still busy after the grace time
 *	are left to the process exit; qmgr sees the process gone and gives
 *	their jobs out again.
 * LIMITS
 *	agent_fetch_wait (long poll; the call's deadline is 5 s more),
 *	agent_queue_read_wait (a content read that fails because Redis is
 *	away or loading is tried again every 250 ms for that long, so a
 *	Redis restart delays the delivery by seconds instead of deferring
 *	it with backoff; the worker's slot stays taken meanwhile),
 *	agent_done_timeout (each DoneRequest try), agent_stop_grace; a
 *	fetch reply is at most AGENT_FETCH_RECVMAX bytes.
 * SECURITY
 *	Fetch replies are checked on the wire (NUL-free strings) and field
 *	by field by qmgr_clnt before any use; this file sees no protobuf.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pm_agent_peers.h"
#include "pm_agent_priv.h"
#include "pm_server_queue.h"
#include "pm_common_params.h"
#include "pm_log.h"

#define AGENT_DONE_TRIES 3
#define AGENT_RETRY_MS 1000
/* the first retry: a dropped connection is dialled again at once, and
 * qmgr takes an agent with no fetch for 3 s after a close for dead */
#define AGENT_RETRY_FIRST_MS 100
#define AGENT_WARN_EVERY_MS 60000

struct agent_fetcher;

/* One outstanding fetch of a fetcher (under ag.mu). */
typedef struct agent_call {
	struct agent_fetcher *f;
	int busy;
	int err;
	int jobs; /* busy, and asked for jobs (counted in job_fetches) */
} agent_call;

typedef struct agent_fetcher {
	int idx;         /* its slot in pm_agent_peers */
	const char *url; /* the peer's, while the fetcher runs */
	pm_rpc_client *cl;
	/* the outstanding fetches (under ag.mu): for jobs, heartbeat */
	agent_call jc;
	agent_call hc;
	int replied; /* a fetch was answered since the last error */
	int64_t retry_at;
	int64_t last_warn;
	int failing;
} agent_fetcher;

static struct {
	const pm_agent *a;
	int slots;
	agent_fetcher *f; /* AGENT_QMGR_MAX, by peer slot */
	pthread_t *w;
	int nw;
	pthread_mutex_t mu;
	pthread_cond_t cv_work; /* workers: a job is queued, or stop */
	pthread_cond_t
	    cv_space;           /* fetchers: a slot is free, fetch done, stop */
	pthread_cond_t cv_main; /* main: stop, a worker ended */
	agent_job *head, *tail;
	int queued;
	int running;
	int live;
	int stopping;
	int64_t take_until; /* stopping: queued jobs are run until then */
	int job_fetches;    /* fetches for jobs in flight */
	int fetch_quit;     /* fetchers end (after the workers) */
	long fetch_wait;
	long stop_grace;
	long done_timeout;
	long queue_read_wait;
	int nshards;
	char agent_id[300];
	char instance[200]; /* "<name>@<service_instance_name>" */
	uint64_t incarnation;
	agent_metrics m;
} ag = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv_work = PTHREAD_COND_INITIALIZER,
	.cv_space = PTHREAD_COND_INITIALIZER,
	.cv_main = PTHREAD_COND_INITIALIZER,
};

static __thread pm_qstore *agent_tls_qs;

int
pm_agent_body(const pm_job *j, char **data, size_t *len)
{
	return (pm_agent_body_env(j, NULL, 0, NULL, data, len));
}

int
pm_agent_body_env(const pm_job *j, const char *const *names, size_t n,
    char **vals, char **data, size_t *len)
{
	int64_t end;
	int rc;

	if (agent_tls_qs == NULL || j == NULL) {
		return (PM_EINVAL);
	}
	end = pm_mono_ms() + 1000LL * ag.queue_read_wait;
	while ((rc = pm_qstore_body_get_env(agent_tls_qs, j->queue_id, names, n,
	            vals, data, len)) == PM_EREDIS &&
	    pm_mono_ms() < end && !ag.stopping) {
		usleep(250 * 1000); /* Redis away: restarting, failing over */
	}
	return (rc);
}

/* Under ag.mu. */
static void
queue_push(agent_job *j)
{
	j->next = NULL;
	if (ag.tail != NULL) {
		ag.tail->next = j;
	} else {
		ag.head = j;
	}
	ag.tail = j;
	ag.queued++;
}

/* Under ag.mu. */
static agent_job *
queue_pop(void)
{
	agent_job *j = ag.head;

	if (j != NULL) {
		ag.head = j->next;
		if (ag.head == NULL) {
			ag.tail = NULL;
		}
		ag.queued--;
	}
	return (j);
}

static void
agent_on_stop(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&ag.mu);
	ag.stopping = 1;
	ag.take_until = pm_mono_ms() + ag.stop_grace * 1000 / 2;
	pthread_cond_broadcast(&ag.cv_work);
	pthread_cond_broadcast(&ag.cv_space);
	pthread_cond_broadcast(&ag.cv_main);
	pthread_mutex_unlock(&ag.mu);
}

/* Sleep ms unless the agent stops; under ag.mu. */
static void
wait_ms_locked(pthread_cond_t *cv, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void) pthread_cond_timedwait(cv, &ag.mu, &ts);
}

/* Report a job to its qmgr: the done report, a few tries. */
static void
agent_report(agent_job *aj, pm_buf *done)
{
	pm_rpc_client *cl = pm__agent_peer_client(aj->qmgr);
	int tries, rc = PM_EINVAL;

	if (cl == NULL) {
		pm_msg_warn("%s: job %s not reported: the agent is stopping",
		    *aj->job.queue_id ? aj->job.queue_id : "NOQUEUE",
		    aj->job.job_id);
		return;
	}
	for (tries = 0; tries < AGENT_DONE_TRIES; tries++) {
		rc =
		    pm_qmgr_done_call(cl, done, (int) (ag.done_timeout * 1000));
		if (rc == 0 || rc == PM_EINVAL || rc == PM_ETOOBIG) {
			break;
		}
		if (tries + 1 < AGENT_DONE_TRIES) {
			usleep(200000);
		}
	}
	if (rc != 0) {
		pm_msg_warn("%s: cannot report job %s to qmgr %s: %s (the "
		            "recipient statuses are in the queue)",
		    *aj->job.queue_id ? aj->job.queue_id : "NOQUEUE",
		    aj->job.job_id, pm__agent_peer_url(aj->qmgr),
		    pm_strerror(rc));
	}
}

/* Finish without delivery: deferred, e.g. the agent is stopping. */
static void
agent_hand_back(agent_job *aj, pm_qstore *qs, const char *dsn, const char *why)
{
	pm_buf done;

	pm_job_set_all(&aj->job, PM_JOB_DEFERRED, dsn, "%s", why);
	pm_buf_init(&done, 0);
	pm__agent_finish(ag.a, &ag.m, qs, aj, &done);
	agent_report(aj, &done);
	pm_buf_free(&done);
	pm__agent_job_free(aj);
}

/*
 * Under ag.mu: wait for a job; 0 when the worker is to end. Stopping:
 * the jobs queued, and those a fetch in flight brings, while the first
 * half of the grace lasts.
 */
static int
agent_worker_wait(void)
{
	int64_t now;

	for (;;) {
		now = pm_mono_ms();
		if (ag.stopping &&
		    (now >= ag.take_until ||
		        (ag.head == NULL && ag.job_fetches == 0))) {
			return (0);
		}
		if (ag.head != NULL) {
			return (1);
		}
		if (ag.stopping) {
			wait_ms_locked(&ag.cv_work,
			    (long) (ag.take_until - now));
		} else {
			pthread_cond_wait(&ag.cv_work, &ag.mu);
		}
	}
}

static void *
agent_worker(void *arg)
{
	void *ctx = NULL;
	pm_qstore *qs;
	agent_job *aj;
	pm_buf done;

	(void) arg;
	qs = pm_server_qstore_must();
	agent_tls_qs = qs;
	if (ag.a->thread_init != NULL) {
		ctx = ag.a->thread_init();
	}
	pm_buf_init(&done, 0);
	for (;;) {
		pthread_mutex_lock(&ag.mu);
		if (!agent_worker_wait()) {
			pthread_mutex_unlock(&ag.mu);
			break;
		}
		aj = queue_pop();
		ag.running++;
		pthread_mutex_unlock(&ag.mu);

		aj->start_us = pm_now_us();
		if (aj->invalid == NULL) {
			ag.a->deliver(ctx, &aj->job);
		}
		pm__agent_finish(ag.a, &ag.m, qs, aj, &done);
		agent_report(aj, &done);
		pm__agent_job_free(aj);

		pthread_mutex_lock(&ag.mu);
		ag.running--;
		pthread_cond_broadcast(&ag.cv_space);
		pthread_mutex_unlock(&ag.mu);
	}
	pm_buf_free(&done);
	if (ag.a->thread_fini != NULL) {
		ag.a->thread_fini(ctx);
	}
	agent_tls_qs = NULL;
	pm_qstore_close(qs);
	pthread_mutex_lock(&ag.mu);
	ag.live--;
	pthread_cond_broadcast(&ag.cv_main);
	pthread_mutex_unlock(&ag.mu);
	return (NULL);
}

/* nng callback: check and queue the jobs; never blocks for long. */
static void
fetch_cb(void *arg, int err, uint32_t rtype, const uint8_t *reply, size_t len)
{
	agent_call *c = arg;
	agent_fetcher *f = c->f;
	pm_qmgr_fetched *fr = NULL;
	size_t i, n;
	agent_job *aj, *next, *list = NULL, **tailp = &list;

	if (err == 0) {
		err = pm_qmgr_fetch_reply(rtype, reply, len, &fr);
	}
	/* checked and copied outside the lock, queued under it */
	n = pm_qmgr_fetched_count(fr);
	for (i = 0; i < n; i++) {
		aj = pm__agent_job_new(fr, i, ag.a, f->idx, ag.nshards);
		if (aj != NULL) {
			aj->next = NULL;
			*tailp = aj;
			tailp = &aj->next;
		}
	}
	pthread_mutex_lock(&ag.mu);
	for (aj = list; aj != NULL; aj = next) {
		next = aj->next;
		queue_push(aj);
		/*
		 * Wake one worker per job: a broadcast would wake every idle
		 * worker (50 by default) for each job, and all but one would
		 * go back to sleep: measured as most of the agent's CPU.
		 */
		pthread_cond_signal(&ag.cv_work);
	}
	c->err = err;
	c->busy = 0;
	if (c->jobs) {
		c->jobs = 0;
		ag.job_fetches--;
		if (ag.stopping) { /* workers waiting for it may end */
			pthread_cond_broadcast(&ag.cv_work);
		}
	}
	f->replied |= err == 0;
	pthread_cond_broadcast(&ag.cv_space);
	pthread_mutex_unlock(&ag.mu);
	pm_qmgr_fetched_free(fr);
}

static void
fetch_error(agent_fetcher *f, int err)
{
	int64_t now = pm_mono_ms();

	if (!f->failing || now - f->last_warn >= AGENT_WARN_EVERY_MS) {
		pm_msg_warn("cannot fetch work from qmgr %s: %s; will retry",
		    f->url, pm_strerror(err));
		f->last_warn = now;
	}
	f->failing = 1;
	f->replied = 0;
}

/* Send one fetch for up to max jobs (0: a heartbeat); under ag.mu. */
static void
fetch_send(agent_fetcher *f, agent_call *c, pm_qmgr_fetch_req *req,
    unsigned max)
{
	int rc;

	c->busy = 1;
	c->err = 0;
	if (max > 0) {
		c->jobs = 1;
		ag.job_fetches++;
	}
	pthread_mutex_unlock(&ag.mu);
	req->max_jobs = max;
	rc = pm_qmgr_fetch_call_async(f->cl, req, (int) req->timeout_ms,
	    fetch_cb, c);
	pthread_mutex_lock(&ag.mu);
	if (rc != 0) {
		c->busy = 0;
		c->err = rc;
		if (c->jobs) {
			c->jobs = 0;
			ag.job_fetches--;
			pthread_cond_broadcast(&ag.cv_work);
		}
	}
}

/*
 * One fetch is always outstanding at the qmgr, so that it sees this
 * agent alive (qmgr_agents.c): for jobs while slots are free, else a
 * heartbeat (max_jobs 0) that qmgr holds until its wait ends; when a
 * slot frees during a heartbeat, a fetch for jobs goes out beside it.
 * Heartbeats go on while the agent stops, until its workers are done.
 */
static void *
agent_fetcher_main(void *arg)
{
	agent_fetcher *f = arg;
	pm_qmgr_fetch_req req = { 0 };
	int free_slots, err;
	int64_t now;

	req.agent_id = ag.agent_id;
	req.transports = ag.a->transports;
	req.wait_ms = (unsigned) (ag.fetch_wait * 1000);
	req.instance = ag.instance;
	req.incarnation = ag.incarnation;
	req.timeout_ms = (unsigned) (ag.fetch_wait * 1000 + 5000);
	req.dsn_action = ag.a->dsn_action;
	f->jc.f = f->hc.f = f;
	pthread_mutex_lock(&ag.mu);
	while (!ag.fetch_quit && !pm__agent_peer_gone(f->idx)) {
		if ((err = f->jc.err != 0 ? f->jc.err : f->hc.err) != 0) {
			f->jc.err = f->hc.err = 0;
			f->retry_at = pm_mono_ms() +
			    (f->failing ? AGENT_RETRY_MS :
			                  AGENT_RETRY_FIRST_MS);
			fetch_error(f, err);
			continue;
		}
		if ((now = pm_mono_ms()) < f->retry_at) {
			wait_ms_locked(&ag.cv_space,
			    (long) (f->retry_at - now));
			continue;
		}
		if (f->failing && f->replied) {
			pm_msg_info("fetching work from qmgr %s again", f->url);
			f->failing = 0;
		}
		free_slots =
		    ag.stopping ? 0 : ag.slots - ag.running - ag.queued;
		if (free_slots > 0 && !f->jc.busy) {
			fetch_send(f, &f->jc, &req, (unsigned) free_slots);
		} else if (!f->jc.busy && !f->hc.busy) {
			fetch_send(f, &f->hc, &req, 0);
		} else {
			pthread_cond_wait(&ag.cv_space, &ag.mu);
		}
	}
	pthread_mutex_unlock(&ag.mu);
	return (NULL);
}

static void
agent_params(void)
{
	static const pm_cfg_time times[] = {
		{ VAR_AGENT_FETCH_WAIT, DEF_AGENT_FETCH_WAIT, &ag.fetch_wait,
		    's', 1, 300 },
		{ VAR_AGENT_STOP_GRACE, DEF_AGENT_STOP_GRACE, &ag.stop_grace,
		    's', 0, 3600 },
		{ VAR_AGENT_DONE_TIMEOUT, DEF_AGENT_DONE_TIMEOUT,
		    &ag.done_timeout, 's', 1, 3600 },
		{ VAR_AGENT_QUEUE_READ_WAIT, DEF_AGENT_QUEUE_READ_WAIT,
		    &ag.queue_read_wait, 's', 0, 300 },
		{ 0 },
	};
	char *v;
	long slots;

	pm_cfg_bind_time(times);
	v = pm_cfg_get(ag.a->slots_param);
	if (v == NULL || pm_cfg_parse_long(v, &slots) != 0 || slots < 1 ||
	    slots > 10000) {
		pm_msg_fatal("bad %s = %s", ag.a->slots_param, v ? v : "");
	}
	free(v);
	ag.slots = (int) slots;
	ag.nshards = var_queue_shards > 0 ? (int) var_queue_shards : 1;
	snprintf(ag.agent_id, sizeof(ag.agent_id), "%s@%s:%ld", ag.a->name,
	    var_myhostname ? var_myhostname : "localhost", (long) getpid());
	/* qmgr's view of this process: stable name, start time */
	snprintf(ag.instance, sizeof(ag.instance), "%s@%s", ag.a->name,
	    var_instance_name ? var_instance_name : "localhost");
	ag.incarnation = (uint64_t) pm_now_us();
}

/* A fetcher thread of slot arg (pm_agent_peers starts and joins it). */
static void *
agent_fetcher_thread(void *arg)
{
	int slot = (int) (intptr_t) arg;
	agent_fetcher *f = &ag.f[slot];

	pthread_mutex_lock(&ag.mu);
	memset(f, 0, sizeof(*f));
	f->idx = slot;
	f->url = pm__agent_peer_url(slot);
	f->cl = pm__agent_peer_client(slot);
	pthread_mutex_unlock(&ag.mu);
	agent_fetcher_main(f);
	pm__agent_peer_exited(slot);
	return (NULL);
}

static void
agent_wake(void)
{
	pthread_mutex_lock(&ag.mu);
	pthread_cond_broadcast(&ag.cv_space);
	pthread_mutex_unlock(&ag.mu);
}

static void
agent_clients(void)
{
	char *v = pm_cfg_get(VAR_QMGR_SERVICE);

	ag.f = pm_calloc(AGENT_QMGR_MAX, sizeof(*ag.f));
	pm__agent_peers_start(VAR_QMGR_SERVICE,
	    v != NULL ? v : DEF_QMGR_SERVICE, AGENT_FETCH_RECVMAX,
	    agent_fetcher_thread, agent_wake);
	free(v);
}

/* Wait until no worker is left, at most grace seconds; 1 if none is. */
static int
agent_wait_workers(long grace)
{
	int64_t end = pm_mono_ms() + grace * 1000;
	int64_t now;
	int none;

	pthread_mutex_lock(&ag.mu);
	while (ag.live > 0 && (now = pm_mono_ms()) < end) {
		wait_ms_locked(&ag.cv_main, (long) (end - now));
	}
	none = ag.live == 0;
	if (!none) {
		pm_msg_warn("%d deliveries still running after %s; not "
		            "waiting for them",
		    ag.running, VAR_AGENT_STOP_GRACE);
	}
	pthread_mutex_unlock(&ag.mu);
	return (none);
}

static void
agent_hand_back_queue(pm_qstore *qs)
{
	agent_job *aj;

	for (;;) {
		pthread_mutex_lock(&ag.mu);
		aj = queue_pop();
		pthread_mutex_unlock(&ag.mu);
		if (aj == NULL) {
			break;
		}
		agent_hand_back(aj, qs, "4.3.0", PM_JOB_STOPPING_TEXT);
	}
}

int
pm_agent_run(const pm_agent *a)
{
	pm_qstore *qs;
	int i, all_done;

	PM_ASSERT(a != NULL && a->deliver != NULL && a->transports != NULL);
	ag.a = a;
	agent_params();
	pm__agent_metrics_init(&ag.m, a->name);
	pm_server_on_stop(agent_on_stop, NULL);

	ag.w = pm_calloc((size_t) ag.slots, sizeof(*ag.w));
	for (i = 0; i < ag.slots; i++) {
		pthread_mutex_lock(&ag.mu);
		ag.live++;
		pthread_mutex_unlock(&ag.mu);
		if (pthread_create(&ag.w[i], NULL, agent_worker, NULL) != 0) {
			pm_msg_fatal("cannot create delivery thread %d", i);
		}
		ag.nw++;
	}
	agent_clients(); /* starts a fetcher per qmgr address */
	pm_msg_info("%s: %d delivery slots, fetching from %d qmgr(s)", a->name,
	    ag.slots, pm__agent_peer_count());

	pthread_mutex_lock(&ag.mu);
	while (!ag.stopping) {
		pthread_cond_wait(&ag.cv_main, &ag.mu);
	}
	pthread_mutex_unlock(&ag.mu);

	/* heartbeats go on meanwhile: qmgr sees the jobs are not lost */
	all_done = agent_wait_workers(ag.stop_grace);
	pthread_mutex_lock(&ag.mu);
	ag.fetch_quit = 1;
	pthread_cond_broadcast(&ag.cv_space);
	pthread_mutex_unlock(&ag.mu);
	pm__agent_peers_stop(); /* joins the fetchers */
	qs = pm_server_qstore_open();
	agent_hand_back_queue(qs);
	if (!all_done) {
		/* busy workers still use the clients: leave them to exit() */
		pm_qstore_close(qs);
		return (0);
	}
	for (i = 0; i < ag.nw; i++) {
		pthread_join(ag.w[i], NULL);
	}
	free(ag.w);
	pm__agent_peers_free(); /* fails a fetch still in flight */
	/* jobs a late fetch reply brought after the hand-back */
	agent_hand_back_queue(NULL);
	free(ag.f);
	pm_qstore_close(qs);
	return (0);
}
