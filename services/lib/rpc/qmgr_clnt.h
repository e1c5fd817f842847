/*
 * NAME
 *	qmgr_clnt - client stub of qmgr's fetch/done API (delivery agents)
 * SUMMARY
 *	#include "qmgr_clnt.h"
 * DESCRIPTION
 *	The contract between qmgr and a delivery agent, with no nng or
 *	protobuf in sight: a pm_job (what to deliver, and the outcome of
 *	each recipient) and the PM_JOB_* outcome codes. pm_agent
 *	(services/lib/agent) is the caller.
 * LIMITS
 *	1..PM_AGENT_MAX_RCPT recipients per job.
 * SECURITY
 *	Types only.
 */
#ifndef QMGR_CLNT_H
#define QMGR_CLNT_H

#include <stddef.h>
#include <stdint.h>

/* Recipients per job (qmgr's QMGR_MAX_RCPT_LIMIT may not exceed it). */
#define PM_AGENT_MAX_RCPT 1000

/*
 * Outcome codes for pm_job_rcpt.status (RcptStatus of delivery.proto;
 * qmgr_clnt.c checks that they are the wire values).
 */
#define PM_JOB_NONE 0
#define PM_JOB_SENT 1
#define PM_JOB_DEFERRED 2
#define PM_JOB_BOUNCED 3

typedef struct pm_job_rcpt {
	unsigned index;
	const char *address;        /* deliver to this */
	const char *orcpt;
	const char *queued_address;
	unsigned notify;
	/* filled by deliver(): */
	int status;                 /* PM_JOB_*; NONE counts as DEFERRED */
	char dsn[16];               /* "2.0.0" */
	char text[512];             /* remote reply or reason, printable */
} pm_job_rcpt;

typedef struct pm_job {
	const char *job_id;
	const char *queue_id;
	const char *transport;
	const char *nexthop;
	const char *sender;
	size_t nrcpt;
	pm_job_rcpt *rcpt;
	unsigned attempt;
	const char *idempotency_key;
	int body_type;
	int dsn_ret;
	const char *dsn_envid;
	unsigned flags;
	uint64_t size;
	int64_t arrival_us;
	int shard;
	int64_t active_us;          /* qmgr took the message in */
	int64_t dispatch_us;        /* qmgr handed out the job */
	/* filled by deliver(): */
	char relay[300];            /* "mx.example.com[192.0.2.1]:25" or "none" */
	unsigned conn_ms;
	unsigned xfer_ms;
	int dest_failed;            /* the destination itself failed (connect, greeting) */
	unsigned conn_use;          /* nth use of the connection (logged when > 1) */
	int dsn_passed;             /* the peer took NOTIFY/ORCPT (DSN): success
	                             * notices are its job from now on */
} pm_job;

#endif
