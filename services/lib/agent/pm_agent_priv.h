/*
 * NAME
 *	pm_agent_priv - internals shared by pm_agent.c and pm_agent_job.c
 * DESCRIPTION
 *	pm_agent.c runs the threads (fetchers, workers, stop);
 *	pm_agent_job.c turns a DeliveryJob from qmgr into a checked
 *	pm_job, and finishes a job: statuses to Redis, Postfix log lines,
 *	metrics, the DoneRequest.
 */
#ifndef PM_AGENT_PRIV_H
#define PM_AGENT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "delivery.pb-c.h"
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
#define VAR_QMGR_SERVICE "qmgr_service"
#define DEF_QMGR_SERVICE "tcp://127.0.0.1:10030"

/* Bounds of what qmgr may send (checked before use). */
#define AGENT_JOB_ID_MAX 128
#define AGENT_NEXTHOP_MAX 1024
#define AGENT_ORCPT_MAX (2 * 320 + 40)
#define AGENT_ENVID_MAX 100
#define AGENT_KEY_MAX 256
#define AGENT_TRANSPORT_MAX 64
#define AGENT_RCPT_INDEX_MAX 100000
#define AGENT_FETCH_RECVMAX (32 * 1024 * 1024)

typedef struct agent_job {
	pm_job job;             /* what deliver() sees */
	struct agent_job *next;
	int qmgr;               /* index of the qmgr that gave it */
	const char *invalid;    /* why the job was refused, or NULL */
	int64_t start_us;       /* deliver() started */
} agent_job;

typedef struct agent_metrics {
	pm_metric *sent;
	pm_metric *deferred;
	pm_metric *bounced;
	pm_metric *duplicate;
	pm_metric *seconds;
} agent_metrics;

/* 1 if every string field of the packed message (recursively) is NUL-free. */
int pm__agent_wire_ok(const ProtobufCMessageDescriptor *d,
    const uint8_t *buf, size_t len, int depth);
/*
 * For each job (field 1) of a packed FetchReply, in order: ok[i] = 1 if
 * its strings are NUL-free. Returns the number of jobs seen (<= max).
 */
size_t pm__agent_wire_jobs(const uint8_t *buf, size_t len, unsigned char *ok,
    size_t max);
/*
 * Copy and check one job. wire_ok: the job's bytes passed
 * pm__agent_wire_ok. Returns NULL (and logs) only if the job cannot
 * even be reported back; else a job, with ->invalid set if refused.
 */
agent_job *pm__agent_job_new(const Pm__DeliveryJob *d, int wire_ok,
    const pm_agent *a, int qmgr, int nshards);
void pm__agent_job_free(agent_job *j);

void pm__agent_metrics_init(agent_metrics *m, const char *name);
/*
 * After deliver() (or instead of it, when the job is invalid or the
 * agent stops): statuses to Redis (qs may be NULL: not recorded), log
 * lines, metrics; then pack the DoneRequest into out.
 */
void pm__agent_finish(const pm_agent *a, agent_metrics *m, pm_qstore *qs,
    agent_job *j, pm_buf *out);

#endif
