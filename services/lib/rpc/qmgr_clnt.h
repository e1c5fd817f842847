/*
 * NAME
 *	qmgr_clnt - client stub of qmgr's fetch/done API (delivery agents)
 * SUMMARY
 *	#include "qmgr_clnt.h"
 * DESCRIPTION
 *	The contract between qmgr and a delivery agent, with no nng or
 *	protobuf in sight: a pm_job (what to deliver, and the outcome of
 *	each recipient), the PM_JOB_* outcome codes, and the calls:
 *	- pm_qmgr_fetch_call_async() asks one qmgr for work (a long poll,
 *	  FetchRequest); its callback hands the reply to
 *	  pm_qmgr_fetch_reply(), which checks it on the wire and keeps it;
 *	  pm_qmgr_fetched_job() copies job i out as a checked pm_job, or
 *	  says why it is refused; pm_qmgr_job_clear() frees the copy;
 *	- pm_qmgr_done_pack() packs a finished pm_job as a DoneRequest,
 *	  pm_qmgr_done_call() sends it to the qmgr that gave the job and
 *	  checks the answer (one try: retrying is the caller's choice).
 *	pm_agent (services/lib/agent) is the caller: it runs the fetch
 *	loop, the workers and the retries.
 * LIMITS
 *	1..PM_AGENT_MAX_RCPT recipients per job, with distinct indexes
 *	below PM_QMGR_RCPT_INDEX_MAX; strings within PM_QMGR_*_MAX and
 *	PM_ADDR_MAX (addresses); size at most PM_BODY_SIZE_MAX; shard
 *	within the queue's shards.
 * SECURITY
 *	qmgr is another role and not trusted: every string of a fetch
 *	reply is checked for NULs on the wire (protobuf-c cuts a string at
 *	a NUL silently), for length and for control characters (an address
 *	with CR/LF would inject SMTP commands); counts and enums are
 *	checked; the queue id must be valid before it is used in a key.
 */
#ifndef QMGR_CLNT_H
#define QMGR_CLNT_H

#include <stddef.h>
#include <stdint.h>

#include "pm_rpc.h"
#include "pm_util.h"

/* Recipients per job (qmgr's QMGR_MAX_RCPT_LIMIT may not exceed it). */
#define PM_AGENT_MAX_RCPT 1000

/* Bounds of what qmgr may send in a job (checked before use). */
#define PM_QMGR_JOB_ID_MAX 128
#define PM_QMGR_NEXTHOP_MAX 1024
#define PM_QMGR_ORCPT_MAX (2 * 320 + 40)
#define PM_QMGR_ENVID_MAX 100
#define PM_QMGR_KEY_MAX 256
#define PM_QMGR_TRANSPORT_MAX 64
#define PM_QMGR_RCPT_INDEX_MAX 100000

/*
 * Outcome codes for pm_job_rcpt.status (RcptStatus of delivery.proto;
 * qmgr_clnt.c checks that they are the wire values).
 */
#define PM_JOB_NONE 0
#define PM_JOB_SENT 1
#define PM_JOB_DEFERRED 2
#define PM_JOB_BOUNCED 3
/*
 * Not delivered by this agent: qmgr gives the recipient to another
 * transport (pm_job_redirect(), redirect_transport/_nexthop below).
 */
#define PM_JOB_REDIRECT 4

/*
 * The reason of a job an agent gives back undelivered because it is
 * stopping: qmgr retries such a message after a second instead of the
 * backoff (another agent takes it), so a rolling restart delays no mail.
 */
#define PM_JOB_STOPPING_TEXT "delivery agent stopping"

typedef struct pm_job_rcpt {
	unsigned index;
	const char *address; /* deliver to this */
	const char *orcpt;
	const char *queued_address;
	unsigned notify;
	/* filled by deliver(): */
	int status;      /* PM_JOB_*; NONE counts as DEFERRED */
	char dsn[16];    /* "2.0.0" */
	char text[512];  /* remote reply or reason, printable */
	char relay[300]; /* set when not the job's relay (a backup
	                             * MX took the others), printable */
	int notified;    /* sent, and the agent told someone of it
	                  * itself (local's owner- failure notice): no
	                  * success notice; recorded PM_RCPT_NOTIFIED */
	/* filled by pm_agent after deliver(), for the done report: */
	int recorded;   /* the final status is in Redis */
	int dsn_passed; /* sent, and the peer took NOTIFY: its
	                             * success notice, not qmgr's */
	/* PM_JOB_REDIRECT: where to (owned; freed by pm_qmgr_job_clear) */
	char *redirect_transport; /* at most PM_QMGR_TRANSPORT_MAX bytes */
	char *redirect_nexthop;   /* at most PM_QMGR_NEXTHOP_MAX bytes */
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
	int64_t active_us;     /* qmgr took the message in */
	int64_t dispatch_us;   /* qmgr handed out the job */
	int no_success_notice; /* redirected after the agent's own notice:
	                        * sent is recorded PM_RCPT_NOTIFIED */
	/* filled by deliver(): */
	char relay[300]; /* "mx.example.com[192.0.2.1]:25" or "none" */
	unsigned conn_ms;
	unsigned xfer_ms;
	int dest_failed; /* the destination itself failed (connect, greeting) */
	unsigned conn_use; /* nth use of the connection (logged when > 1) */
	int dsn_passed;    /* the peer took NOTIFY/ORCPT (DSN): success
	                             * notices are its job from now on */
	const char *dsn_action; /* sent recipients' success notice action,
	                         * "relayed" or "delivered" (static); NULL:
	                         * qmgr decides by transport */
} pm_job;

/* ---- fetch ---- */

typedef struct pm_qmgr_fetch_req {
	const char *agent_id;          /* "smtp@host:pid", for logs */
	const char *const *transports; /* NULL-terminated */
	unsigned max_jobs;             /* free slots */
	unsigned wait_ms;              /* long-poll bound */
	const char *instance;          /* stable name, for liveness */
	uint64_t incarnation;          /* process start time, us */
	unsigned timeout_ms;           /* the caller waits this long */
	const char *dsn_action;        /* "relayed", "delivered", NULL */
} pm_qmgr_fetch_req;

/* Pack a FetchRequest into out (reset first). 0, or PM_ETOOBIG. */
int pm_qmgr_fetch_pack(const pm_qmgr_fetch_req *req, pm_buf *out);

/*
 * Send a FetchRequest with pm_rpc_call_async(): cb runs exactly once
 * on an nng thread (see pm_rpc.h) with the raw reply, to be given to
 * pm_qmgr_fetch_reply(). On error returns PM_E* and never calls cb.
 */
int pm_qmgr_fetch_call_async(pm_rpc_client *cl, const pm_qmgr_fetch_req *req,
    int timeout_ms, pm_rpc_cb cb, void *arg);

typedef struct pm_qmgr_fetched pm_qmgr_fetched;

/*
 * Check and keep a fetch reply (rtype and body as the callback got
 * them): 0 and *out (free with pm_qmgr_fetched_free), or PM_EPROTO
 * (wrong type, does not unpack) and *out untouched. Jobs whose bytes
 * hold a NUL in a string are kept, marked, and refused by
 * pm_qmgr_fetched_job().
 */
int pm_qmgr_fetch_reply(uint32_t rtype, const uint8_t *buf, size_t len,
    pm_qmgr_fetched **out);
size_t pm_qmgr_fetched_count(const pm_qmgr_fetched *f);
pm_qmgr_fetched *pm_qmgr_fetched_free(pm_qmgr_fetched *f);

/*
 * Copy job i into *j (owned copies: pm_qmgr_job_clear) after checking
 * every field; transports (NULL-terminated) are those this agent
 * serves, nshards the queue's shard count. Returns 0 with *invalid
 * NULL (deliver it) or a static reason (do not deliver: report it back
 * deferred, so qmgr is not left waiting; fields that failed are ""),
 * logged. Returns PM_EPROTO, logged, with *j untouched, when the job
 * cannot even be reported back (bad job id).
 */
int pm_qmgr_fetched_job(const pm_qmgr_fetched *f, size_t i,
    const char *const *transports, int nshards, pm_job *j,
    const char **invalid);
/* Free what pm_qmgr_fetched_job() copied; *j is zeroed. */
void pm_qmgr_job_clear(pm_job *j);

/* ---- done ---- */

/*
 * Pack the DoneRequest of a finished job into out (reset first): each
 * recipient's index, status (PM_JOB_SENT, _BOUNCED, _REDIRECT with its
 * redirect_transport set, anything else deferred), dsn, text,
 * recorded, dsn_passed, dsn_action (the job's, for sent recipients),
 * the redirect's transport and nexthop; the job's relay, times
 * and dest_failed. 0, or PM_ETOOBIG (over out's limit; out is empty).
 */
int pm_qmgr_done_pack(const pm_job *j, pm_buf *out);

/*
 * Check a done reply: 0 if it is a DoneReply, else PM_EPROTO.
 */
int pm_qmgr_done_reply(uint32_t rtype, const uint8_t *buf, size_t len);

/*
 * Send a packed DoneRequest and wait at most timeout_ms for the reply:
 * 0 (qmgr has it), or PM_E* from pm_rpc_call or pm_qmgr_done_reply.
 */
int pm_qmgr_done_call(pm_rpc_client *cl, const pm_buf *done, int timeout_ms);

#endif
