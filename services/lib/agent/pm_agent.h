/*
 * NAME
 *	pm_agent - the pull loop shared by every delivery agent
 * SUMMARY
 *	#include "pm_agent.h"
 *	static const pm_agent agent = { .name = "smtp", ... };
 *	svc.run = ...; return (pm_agent_main(&agent, &svc, argc, argv));
 * DESCRIPTION
 *	A delivery agent (smtp, lmtp, error, discard, later local/virtual/
 *	pipe) only writes deliver(): how to deliver one job. pm_agent does
 *	the rest, as DESIGN.md says ("Delivery work is pulled"):
 *	- it dials every qmgr in qmgr_service (one pm_rpc client per URL,
 *	  because the outcome must go back to the qmgr that gave the job);
 *	- one fetcher thread per qmgr keeps one long-poll FetchRequest
 *	  outstanding asking for as many jobs as there are free slots
 *	  (transports = the agent's transport list, wait_ms =
 *	  agent_fetch_wait), and queues the jobs it gets;
 *	- `slots` worker threads (the agent's concurrency, e.g.
 *	  smtp_delivery_slots) take jobs and call deliver(); then, for each
 *	  recipient with a final status (sent/bounced), the worker writes it
 *	  to Redis itself with pm_qstore_rcpt_status() (compare-and-set:
 *	  a duplicate report changes nothing) and, for deferred ones,
 *	  records dsn/text; then it sends DoneRequest to the job's qmgr
 *	  (retried a few times; if that qmgr is gone the statuses are in
 *	  Redis anyway and the next qmgr to take the message over skips
 *	  what is done);
 *	- it logs each recipient in Postfix's format:
 *	  "QID: to=<rcpt>, orig_to=<queued>, relay=..., delay=2.1,
 *	   delays=0.01/0/0.5/1.6, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
 *	  (delays a = arrival..active_us, b = active_us..the start of
 *	  deliver() (qmgr, dispatch_us, and the agent's queue: Postfix's
 *	  "b" includes the hand-over to the agent), c = conn_ms, d =
 *	  xfer_ms; "conn_use=N, " before delay= when conn_use > 1);
 *	- metrics: postmesh_<name>_deliveries_total{status}, and the
 *	  postmesh_<name>_delivery_seconds histogram.
 *	On stop (SIGTERM) fetchers stop asking, workers finish the jobs
 *	they hold (bounded by agent_stop_grace), queued but unstarted jobs
 *	are reported back as deferred ("4.3.0 delivery agent stopping").
 * LIMITS
 *	slots >= 1; job and recipient counts from qmgr are checked against
 *	PM_AGENT_MAX_RCPT; every string from qmgr is checked for length and
 *	NULs before use (qmgr is another role: not trusted), by qmgr_clnt.
 */
#ifndef PM_AGENT_H
#define PM_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "pm_server.h"
#include "qmgr_clnt.h"

/*
 * The job and its outcome codes are the fetch/done contract with qmgr:
 * pm_job, pm_job_rcpt, PM_JOB_*, PM_AGENT_MAX_RCPT (qmgr_clnt.h).
 */

typedef struct pm_agent {
	const char *name;              /* "smtp": log and metric names */
	const char *const *transports; /* NULL-terminated transport names */
	const char *slots_param;       /* int parameter: worker threads */
	void *(*thread_init)(void);    /* per worker, may be NULL */
	void (*thread_fini)(void *);
	void (*deliver)(void *thread_ctx, pm_job *job);
	/*
	 * The success action of every job ("relayed", "delivered"), told
	 * to qmgr in each fetch (delivery.proto FetchRequest.dsn_action);
	 * NULL: qmgr decides by transport.
	 */
	const char *dsn_action;
} pm_agent;

/*
 * Use as the service's run() body: call pm_agent_run(&agent) from the
 * service's run callback. Returns when the service is stopping.
 */
int pm_agent_run(const pm_agent *a);

/*
 * Helpers for deliver(): set one recipient's or every remaining
 * recipient's outcome (dsn is "X.Y.Z"; text is made printable).
 */
void pm_job_set(pm_job_rcpt *r, int status, const char *dsn, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
void pm_job_set_all(pm_job *j, int status, const char *dsn, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/*
 * Hand recipient r to another transport instead of delivering it
 * (PM_JOB_REDIRECT, see pm_agent_job.c): 0, or PM_EINVAL (empty or
 * over-long transport, over-long nexthop; r is untouched).
 */
int pm_job_redirect(pm_job_rcpt *r, const char *transport, const char *nexthop);

/* The content of the job's message from the body store (caller frees). */
int pm_agent_body(const pm_job *j, char **data, size_t *len);
/*
 * As pm_agent_body(), and in the same Redis read the envelope fields
 * names[0..n-1] of the message (pm_qstore_body_get_env: client_addr,
 * helo, sasl_username ...): vals[i] malloc'ed, "" when absent.
 */
int pm_agent_body_env(const pm_job *j, const char *const *names, size_t n,
    char **vals, char **data, size_t *len);

#endif
