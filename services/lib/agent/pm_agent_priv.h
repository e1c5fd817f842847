/*
 * NAME
 *	pm_agent_priv - internals shared by pm_agent.c and pm_agent_job.c
 * DESCRIPTION
 *	pm_agent.c runs the threads (fetchers, workers, stop);
 *	pm_agent_job.c wraps a checked pm_job from qmgr_clnt into an
 *	agent_job, and finishes a job: statuses to Redis, Postfix log
 *	lines, metrics, the done report (packed by qmgr_clnt).
 */
#ifndef PM_AGENT_PRIV_H
#define PM_AGENT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "pm_agent.h"
#include "pm_metrics.h"
#include "pm_qstore.h"

/* Parameters (pm_params.c has the same defaults). */
#define VAR_AGENT_FETCH_WAIT "agent_fetch_wait"
#define DEF_AGENT_FETCH_WAIT "5s"
#define VAR_AGENT_STOP_GRACE "agent_stop_grace"
#define DEF_AGENT_STOP_GRACE "30s"
#define VAR_AGENT_DONE_TIMEOUT "agent_done_timeout"
#define DEF_AGENT_DONE_TIMEOUT "10s"
/* how long a delivery waits for Redis to give the content back */
#define VAR_AGENT_QUEUE_READ_WAIT "agent_queue_read_wait"
#define DEF_AGENT_QUEUE_READ_WAIT "20s"
#define VAR_QMGR_SERVICE "qmgr_service"
#define DEF_QMGR_SERVICE "tcp://127.0.0.1:10030"

/* The largest fetch reply taken (its checks: qmgr_clnt.c). */
#define AGENT_FETCH_RECVMAX (32 * 1024 * 1024)

typedef struct agent_job {
	pm_job job; /* what deliver() sees */
	struct agent_job *next;
	int qmgr;            /* index of the qmgr that gave it */
	const char *invalid; /* why the job was refused, or NULL */
	int64_t start_us;    /* deliver() started */
} agent_job;

typedef struct agent_metrics {
	pm_metric *sent;
	pm_metric *deferred;
	pm_metric *bounced;
	pm_metric *duplicate;
	pm_metric *seconds;
} agent_metrics;

/*
 * Job i of a fetch reply, checked (pm_qmgr_fetched_job). Returns NULL
 * (logged) only if the job cannot even be reported back; else a job,
 * with ->invalid set if refused.
 */
agent_job *pm__agent_job_new(const pm_qmgr_fetched *f, size_t i,
    const pm_agent *a, int qmgr, int nshards);
void pm__agent_job_free(agent_job *j);

void pm__agent_metrics_init(agent_metrics *m, const char *name);
/*
 * After deliver() (or instead of it, when the job is invalid or the
 * agent stops): statuses to Redis (qs may be NULL: not recorded), log
 * lines, metrics; then pack the done report into out.
 */
void pm__agent_finish(const pm_agent *a, agent_metrics *m, pm_qstore *qs,
    agent_job *j, pm_buf *out);

#endif
