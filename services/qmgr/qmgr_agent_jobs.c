/*
 * NAME
 *	qmgr_agent_jobs - jobs of delivery agents that died
 * SUMMARY
 *	#include "qmgr.h"
 * DESCRIPTION
 *	qmgr's table of agents (qmgr_agents.c) and what their death does
 *	to the jobs they hold.
 *
 *	The fetch handler (qmgr_fetch.c) calls qmgr_agent_fetch_begin()
 *	and qmgr_agent_fetch_end() around each fetch and records the
 *	agent in every job it hands out; a heartbeat (a fetch for no job)
 *	waits in qmgr_agent_hb_wait(), on its own condition variable so
 *	that job events do not wake it. A fetch notes its connection
 *	(pm_rpc_request_pipe); pipe_gone(), called by pm_rpc on an nng
 *	thread when a connection closes, marks the agents that used it
 *	and remembers the connection, so that a fetch still waiting on it
 *	answers with no job even if its agent came back on a new one
 *	(qmgr_agent_fetch_over).
 *
 *	qmgr_agent_check() runs on the scheduler thread every second.
 *	For each agent found dead (no fetch of it for qmgr_agent_timeout,
 *	or a newer incarnation of its name appeared) every job it holds
 *	leaves the in-flight list at once; the message is read again
 *	from Redis, and recipients the agent recorded as sent or bounced
 *	keep that status (the agent writes it before it reports); a sent
 *	one's success notice says the action the agent announced in its
 *	fetch (qmgr_job_action(): FetchRequest.dsn_action, pipe's
 *	"relayed" unless flag X), else the transport's. The
 *	others go back to their destination's queue under a new job id
 *	and sequence, to be dispatched again at once, with no deferral
 *	and no backoff: the agent made no attempt qmgr knows of. Each
 *	returned job is logged ("QID: job ... returned: delivery agent
 *	... died") and counted in qmgr_jobs_returned_total. A late
 *	report for the old job id (the agent was not dead after all)
 *	finds no job: its final statuses are still written, and the
 *	recipients it delivered may be delivered twice; that is the
 *	price of a qmgr_agent_timeout shorter than a stall of the agent.
 *
 *	When the message cannot be read (Redis down), its recipients
 *	are deferred "4.4.2 delivery agent died", as a job timeout does
 *	(recipients possibly delivered are not given out blind). A
 *	message whose lease was lost, and any message while qmgr stops,
 *	is handled the same way (deferred in memory only; completion
 *	decides what is written).
 * LIMITS
 *	qmgr_agent_timeout (1s..1h, default 5s); the last CLOSED_RING
 *	(256) closed connections are remembered; the scan of the
 *	in-flight list is linear, once per dead agent.
 * SECURITY
 *	Agent names are checked by qmgr_agents.c before they are kept
 *	or logged.
 */
#include "qmgr.h"
#include "qmgr_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pm_log.h"
#include "pm_rpc.h"

/* Connections closed lately (nng pipe ids are not reused soon). */
#define CLOSED_RING 256

static qmgr_agents agents = { .max = QMGR_AGENTS_MAX };
static uint32_t closed[CLOSED_RING];
static size_t closed_next;
static pthread_cond_t hb_cv;
static pthread_once_t hb_once = PTHREAD_ONCE_INIT;

/* nng thread: a connection to qmgr closed. */
static void
pipe_gone(uint32_t pipe)
{
	pthread_mutex_lock(&qmgr.mu);
	closed[closed_next++ % CLOSED_RING] = pipe;
	if (qmgr_agents_pipe_gone(&agents, pipe, pm_mono_ms()) > 0) {
		/* their waiting fetches: answer now, with no job */
		pthread_cond_broadcast(&hb_cv);
		pthread_cond_broadcast(&qmgr.work_cv);
	}
	pthread_mutex_unlock(&qmgr.mu);
}

static void
hb_init(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hb_cv, &ca);
	pthread_condattr_destroy(&ca);
	pm_rpc_on_pipe_gone(pipe_gone);
}

qmgr_agent *
qmgr_agent_fetch_begin(const char *name, uint64_t inc, uint32_t pipe,
    int64_t now)
{
	qmgr_agent *a;
	int kicked = 0;

	pthread_once(&hb_once, hb_init);
	a = qmgr_agents_begin(&agents, name, inc, pipe, now, &kicked);
	if (kicked) {
		/* superseded incarnations: answer their fetches now */
		pthread_cond_broadcast(&hb_cv);
		pthread_cond_broadcast(&qmgr.work_cv);
	}
	return (a);
}

void
qmgr_agent_fetch_end(qmgr_agent *a, int64_t now)
{
	qmgr_agents_end(&agents, a, now);
}

int
qmgr_agent_fetch_over(const qmgr_agent *a, uint32_t pipe)
{
	size_t i;

	if (qmgr_agent_kicked(a)) {
		return (1);
	}
	/* its own connection, even if the agent came back on another */
	for (i = 0; pipe != 0 && i < CLOSED_RING; i++) {
		if (closed[i] == pipe) {
			return (1);
		}
	}
	return (0);
}

void
qmgr_agent_hb_wait(qmgr_agent *a, uint32_t pipe, int64_t until)
{
	struct timespec ts;
	int64_t now, ms;

	pthread_once(&hb_once, hb_init);
	while (!qmgr.stopping && !qmgr_agent_fetch_over(a, pipe) &&
	    (now = pm_mono_ms()) < until) {
		/* slices of a second: a stop wakes work_cv only */
		ms = until - now < 1000 ? until - now : 1000;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&hb_cv, &qmgr.mu, &ts);
	}
}

/* Take the agent's jobs off the in-flight list (under mu). */
static qmgr_job *
take_jobs(qmgr_agent *a, int64_t now, qmgr_msg **done, size_t *n)
{
	qmgr_job *j, *next, *list = NULL;

	for (j = qmgr.ihead; j != NULL; j = next) {
		next = j->inext;
		if (j->agent != a) {
			continue;
		}
		if (j->iprev != NULL) {
			j->iprev->inext = j->inext;
		} else {
			qmgr.ihead = j->inext;
		}
		if (j->inext != NULL) {
			j->inext->iprev = j->iprev;
		} else {
			qmgr.itail = j->iprev;
		}
		pm_smap_del(qmgr.jobs, j->id);
		j->inflight = 0;
		j->agent = NULL;
		j->msg->inflight--;
		qmgr.ninflight--;
		pm_sched_done(qmgr.sched, &j->sj, PM_SCHED_NEUTRAL, NULL, NULL,
		    now, qmgr_drop_dead, done);
		j->inext = list;
		list = j;
		(*n)++;
	}
	return (list);
}

void
qmgr_job_action(qmgr_job *j, const char *action)
{
	j->dsn_action[0] = 0;
	if (action != NULL &&
	    (strcmp(action, "relayed") == 0 ||
	        strcmp(action, "delivered") == 0)) {
		snprintf(j->dsn_action, sizeof(j->dsn_action), "%s", action);
	}
}

/* Keep what the agent recorded in Redis (under mu). */
void
qmgr_job_keep_final(qmgr_job *j, const pm_qmsg *fresh)
{
	size_t k, i;
	int state, success;

	for (k = 0; k < j->n; k++) {
		i = j->idx[k];
		if (i >= fresh->nrcpt) {
			continue;
		}
		state = qmgr_stored_state(fresh->rcpt[i].status,
		    fresh->rcpt[i].action, j->transport, &success);
		if (state == QR_SENT && success != 0 && j->dsn_action[0]) {
			/* "sent" says no more: the agent's fetch said how */
			success =
			    qmgr_success_kind(j->transport, 0, j->dsn_action);
		}
		if (state == QR_SENT && !QR_FINAL(j->msg->r[i].state)) {
			j->msg->r[i].success = success;
		}
		if (QR_FINAL(state)) {
			qmgr_rcpt_set(j->msg, i, state, fresh->rcpt[i].dsn,
			    fresh->rcpt[i].text, NULL, 0);
		}
	}
}

/* Drop final recipients from the job; the number left. */
static size_t
keep_todo(qmgr_job *j)
{
	size_t k, m = 0;

	for (k = 0; k < j->n; k++) {
		if (QR_FINAL(j->msg->r[j->idx[k]].state)) {
			free(j->addr[k]);
			continue;
		}
		j->idx[m] = j->idx[k];
		j->addr[m++] = j->addr[k];
	}
	j->n = m;
	return (m);
}

/* Queue the job again under a new id (under mu). */
static void
requeue(qmgr_job *j, qmgr_msg **done)
{
	char dsn[QMGR_DSN_MAX], text[QMGR_TEXT_MAX];
	int rc;

	j->seq = ++j->msg->seq;
	snprintf(j->id, sizeof(j->id), "%s-%llu", qmgr.job_prefix,
	    (unsigned long long) ++qmgr.job_seq);
	rc = pm_sched_enqueue(qmgr.sched, &j->sj, j->transport, j->nexthop,
	    pm_mono_ms(), dsn, sizeof(dsn), text, sizeof(text));
	if (rc == PM_EAGAIN) {
		qmgr_job_abandon(j, dsn,
		    "delivery temporarily suspended: ", text, done);
	} else if (rc != 0) {
		qmgr_job_abandon(j, "4.3.0", "",
		    rc == PM_ETOOBIG ? "too many destinations in the active "
		                       "queue" :
		                       "bad transport or nexthop",
		    done);
	}
}

static void
return_jobs(pm_qstore *qs, const char *agent, qmgr_job *list)
{
	qmgr_job *j, *next;
	qmgr_msg *done = NULL;
	pm_qmsg *fresh;
	size_t left;

	for (j = list; j != NULL; j = next) {
		next = j->inext;
		fresh = NULL;
		/* the job holds its message: j->msg stays valid */
		if (pm_qstore_read(qs, j->msg->e.qid, &fresh) != 0) {
			fresh = NULL;
		}
		pthread_mutex_lock(&qmgr.mu);
		pm_metric_inc(qmgr_m.jobs_returned);
		if (fresh == NULL || j->msg->lost || qmgr.stopping) {
			pm_msg_warn(
			    "%s: job %s (%s:%s) returned: delivery agent "
			    "%s died; %s",
			    j->msg->e.qid, j->id, j->transport, j->nexthop,
			    agent,
			    fresh == NULL ? "cannot read the message" :
			                    "not given out again");
			qmgr_job_abandon(j, "4.4.2", "", "delivery agent died",
			    &done);
		} else {
			qmgr_job_keep_final(j, fresh);
			left = keep_todo(j);
			pm_msg_info("%s: job %s (%s:%s) returned: delivery "
			            "agent %s died; %zu recipient(s) to "
			            "deliver again",
			    j->msg->e.qid, j->id, j->transport, j->nexthop,
			    agent, left);
			if (left == 0) {
				qmgr_msg *msg = j->msg;

				qmgr_job_free(j);
				qmgr_msg_release(msg, &done);
			} else {
				requeue(j, &done);
			}
		}
		pthread_cond_broadcast(&qmgr.work_cv);
		pthread_mutex_unlock(&qmgr.mu);
		pm_qmsg_free(fresh);
	}
	qmgr_msg_complete_list(qs, done);
}

void
qmgr_agent_check(pm_qstore *qs)
{
	qmgr_agent *a;
	qmgr_job *list;
	qmgr_msg *done = NULL;
	size_t n;
	int64_t now;
	char name[QMGR_AGENT_NAME_MAX + 1];

	for (;;) {
		pthread_mutex_lock(&qmgr.mu);
		now = pm_mono_ms();
		a = qmgr_agents_dead(&agents, now,
		    1000LL * var_qmgr_agent_timeout);
		if (a == NULL) {
			pthread_mutex_unlock(&qmgr.mu);
			break;
		}
		n = 0;
		list = take_jobs(a, now, &done, &n);
		if (qmgr.ninflight == 0) {
			pthread_cond_broadcast(&qmgr.idle_cv);
		}
		pm_metric_set(qmgr_m.mem_inflight, (int64_t) qmgr.ninflight);
		pthread_mutex_unlock(&qmgr.mu);

		snprintf(name, sizeof(name), "%s", a->name);
		if (n > 0 || pm_msg_verbose) {
			pm_msg_info("delivery agent %s (incarnation %llu) is "
			            "gone (%s): %zu job(s) in flight returned",
			    name, (unsigned long long) a->inc,
			    a->superseded       ? "restarted" :
			        a->gone_ms != 0 ? "connection closed" :
			                          "no fetch",
			    n);
		}
		qmgr_agent_free(a);
		qmgr_msg_complete_list(qs, done);
		done = NULL;
		return_jobs(qs, name, list);
	}
}
