/*
 * NAME
 *	qmgr - internal interfaces of the queue manager
 * DESCRIPTION
 *	State shared by the qmgr files. One mutex (qmgr.mu) guards every
 *	in-memory structure: the scheduler (pm_sched), the active
 *	messages, the jobs in flight and the counters. Redis calls,
 *	rewrite and bounce calls are made without it.
 *
 *	A message (qmgr_msg) is in memory from intake until its pass is
 *	complete. It carries "holds": one for intake until all its jobs
 *	are queued, one per job (queued or in flight), one per status
 *	write in progress. Whoever drops the last hold completes the
 *	message (qmgr_msg_complete(): notices, finish or defer) outside
 *	the lock, with its own Redis connection.
 *
 *	Files: qmgr.c (main, parameters, metrics), qmgr_intake.c (claim,
 *	read, resolve, group), qmgr_fetch.c (agent fetch and done),
 *	qmgr_msg.c (message state, completion, logging), qmgr_sched.c
 *	(the scheduler thread: timeouts, transport waits, takeovers,
 *	deferred queue scans, queue sizes), qmgr_lease.c (the lease
 *	thread: refresh, lost leases), qmgr_retry.c (writes Redis did not
 *	take, retried from memory), qmgr_agents.c (which agents are
 *	alive), qmgr_agent_jobs.c (a dead agent's jobs go out again).

 */
#ifndef QMGR_H
#define QMGR_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "bounce_clnt.h"
#include "pm_metrics.h"
#include "pm_qstore.h"
#include "qmgr_agents.h"
#include "qmgr_dest.h"
#include "rewrite_clnt.h"

#define QMGR_DSN_MAX 16
#define QMGR_TEXT_MAX 500 /* reasons kept and logged */
#define QMGR_RELAY_MAX 300
#define QMGR_JOB_ID_MAX 48
#define QMGR_FETCH_MAX_JOBS 128       /* jobs per fetch reply */
#define QMGR_FETCH_BYTES (768 * 1024) /* reply budget (< PM_RPC_CONTROL_MAX) */
#define QMGR_JOB_BYTES (192 * 1024)   /* one job at most (estimate) */
#define QMGR_CLAIM_BATCH 64
#define QMGR_MAX_TRANSPORTS 64   /* transports with their own metrics */
#define QMGR_MAX_RCPT_LIMIT 1000 /* PM_AGENT_MAX_RCPT */

/* Recipient state in this pass. */
#define QR_TODO 0
#define QR_SENT 1
#define QR_BOUNCED 2
#define QR_DEFERRED 3
#define QR_FINAL(s) ((s) == QR_SENT || (s) == QR_BOUNCED)

typedef struct qmgr_rcpt {
	int state;
	int record; /* qmgr decided it: write dsn/text at completion */
	char dsn[QMGR_DSN_MAX];
	char *text;      /* last reason, or NULL */
	char *relay;     /* remote MTA of the last attempt, or NULL */
	int64_t last_us; /* last attempt */
	int success;     /* sent: PM_NOTICE_DELIVERED, _RELAYED, or 0 (none) */
	int unwritten; /* final, not in Redis yet: written before completion */
	unsigned redirects; /* handed to another transport in this pass */
} qmgr_rcpt;

typedef struct qmgr_msg {
	pm_qentry e;
	pm_qmsg *m;
	qmgr_rcpt *r;
	int64_t active_us;
	unsigned attempt; /* this pass: m->attempts + 1 */
	unsigned seq;     /* jobs made */
	size_t holds;
	size_t inflight;        /* jobs in flight */
	int stale;              /* taken over (a dead qmgr's, or ours) */
	int lost;               /* lease lost: no finish, defer or notice */
	struct qmgr_job *jobs;  /* its jobs, queued or in flight */
	struct qmgr_msg *cnext; /* completion list */
	int retry;              /* on the retry list (qmgr_retry.c) */
	struct qmgr_msg *rnext; /* retry list */
	char notified[8];       /* notices queued in this pass: f, d, r, w */
} qmgr_msg;

typedef struct qmgr_job {
	pm_sched_job sj; /* first: pm_sched hands it back */
	qmgr_msg *msg;
	char id[QMGR_JOB_ID_MAX];
	unsigned seq;
	char *transport;
	char *nexthop;
	size_t n;
	size_t *idx;  /* recipient indexes in the message */
	char **addr;  /* where to deliver (resolved) */
	size_t bytes; /* estimated packed size */
	int64_t dispatch_ms;
	int64_t dispatch_us;
	int inflight;
	int no_notice; /* redirected after the agent's own notice (no_success_notice) */
	qmgr_agent *agent;      /* in flight: the agent holding it, or NULL */
	char dsn_action[12];    /* its agent's FetchRequest.dsn_action */
	struct qmgr_job *inext; /* in-flight list, dispatch order */
	struct qmgr_job *iprev;
	struct qmgr_job *mnext; /* jobs of the message */
	struct qmgr_job *mprev;
} qmgr_job;

/* Per-transport settings and metrics (bounded; see qmgr.c). */
typedef struct qmgr_tpinfo {
	long con_limit;
	long rcpt_limit;
	pm_metric *dispatched;
} qmgr_tpinfo;

typedef struct qmgr_state {
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* fetch waiters: jobs may be dispatchable */
	pthread_cond_t room_cv; /* intake: active limits have room */
	pthread_cond_t idle_cv; /* stop: jobs in flight came back */
	pm_sched *sched;
	pm_smap *msgs;   /* qid -> qmgr_msg */
	pm_smap *jobs;   /* job id -> qmgr_job in flight */
	qmgr_job *ihead; /* in-flight list, oldest first */
	qmgr_job *itail;
	size_t nmsgs;
	size_t nrcpts;
	size_t claiming; /* messages being claimed by intake */
	size_t ninflight;
	int waiters; /* fetch handlers waiting */
	int max_waiters;
	int stopping;
	uint64_t job_seq;
	char job_prefix[20];
	char *consumer;
	pm_rewrite_clnt *rw;
	pm_bounce_clnt *bounce;
} qmgr_state;

extern qmgr_state qmgr;

typedef struct qmgr_metrics {
	pm_metric *q_incoming;
	pm_metric *q_active;
	pm_metric *q_deferred;
	pm_metric *q_hold;
	pm_metric *oldest_age;
	pm_metric *removed;
	pm_metric *rcpt_sent;
	pm_metric *rcpt_bounced;
	pm_metric *rcpt_deferred;
	pm_metric *mem_messages;
	pm_metric *mem_inflight;
	pm_metric *job_timeouts;
	pm_metric *notices_failed;
	pm_metric *leases_lost;
	pm_metric *consumers_removed;
	pm_metric *taken_back;
	pm_metric *redirects_accepted; /* qmgr_redirect.c */
	pm_metric *redirects_refused;
	pm_metric *retry_messages;
	pm_metric *retry_writes;

	pm_metric *jobs_returned;

	pm_metric *takeover_stale; /* entries idle past the lease */
	pm_metric *takeover_own;   /* own entries taken back at start */
} qmgr_metrics;

extern qmgr_metrics qmgr_m;

/* qmgr.c */
qmgr_tpinfo *qmgr_tpinfo_get(const char *transport);

/* qmgr_msg.c (under qmgr.mu unless said otherwise) */
qmgr_msg *qmgr_msg_new(const pm_qentry *e, pm_qmsg *m, int64_t now_us);
void qmgr_msg_free(qmgr_msg *msg);
void qmgr_rcpt_set(qmgr_msg *msg, size_t i, int state, const char *dsn,
    const char *text, const char *relay, int record);
/*
 * The success notice kind for a recipient sent through transport;
 * action is the agent's ("relayed", "delivered"; NULL or "": by
 * transport).
 */
int qmgr_success_kind(const char *transport, int dsn_passed,
    const char *action);
/*
 * A recipient status stored in Redis, read back: QR_SENT (and
 * *success: the kind for the action its agent stored with it, "i:x",
 * else for transport; 0 for PM_RCPT_NOTIFIED), QR_BOUNCED, or QR_TODO
 * (not final).
 */
int qmgr_stored_state(const char *status, const char *action,
    const char *transport, int *success);
/* The status to store for a final state (and success kind). */
const char *qmgr_store_status(int state, int success);
/*
 * The DSN action to store with it ("i:x"): "relayed" or "delivered" for
 * a sent recipient with a success notice kind, else NULL; so that a
 * qmgr reading the recipient back says what this one would have.
 */
const char *qmgr_store_action(int state, int success);
/* Drop one hold; the message goes on *done when it was the last. */
void qmgr_msg_release(qmgr_msg *msg, qmgr_msg **done);
/* Complete every message of the list (no lock held). */
void qmgr_msg_complete_list(pm_qstore *qs, qmgr_msg *list);
/* Log one recipient line in Postfix's format (no lock needed). */
void qmgr_log_rcpt(const qmgr_msg *msg, size_t i, const char *to,
    const char *relay, int64_t dispatch_us, const char *dsn, const char *status,
    const char *text);
/*
 * Its lease was lost (another consumer holds the entry now): the
 * message leaves qmgr.msgs, its queued jobs are dropped, and when its
 * jobs in flight are back it is freed with no finish, defer, notice or
 * status write of qmgr's own. Under qmgr.mu.
 */
void qmgr_msg_lose(qmgr_msg *msg, qmgr_msg **done);
/* Link a new job to its message; unlink and free one. */
void qmgr_job_link(qmgr_msg *msg, qmgr_job *j);
void qmgr_job_free(qmgr_job *j);

/*
 * A job leaves without (more of) an attempt: its recipients that are
 * not final are deferred with prefix+text, logged, the job is freed
 * and its hold dropped. Under qmgr.mu.
 */
/*
 * Take the final statuses agents recorded in Redis (under mu); a sent
 * recipient's success notice follows j->dsn_action when its agent said
 * one (pipe without flag X: "relayed"), else the transport.
 */
void qmgr_job_keep_final(qmgr_job *j, const pm_qmsg *fresh);
/* Keep the fetching agent's success action (may be NULL) with j. */
void qmgr_job_action(qmgr_job *j, const char *action);
void qmgr_job_abandon(qmgr_job *j, const char *dsn, const char *prefix,
    const char *text, qmgr_msg **done);

/*
 * Queue a linked job (qmgr_job_link) of a message in the scheduler:
 * it takes a hold of the message, a job id and sequence; a destination
 * that is dead, or one too many, defers it at once (qmgr_job_abandon).
 * Under qmgr.mu.
 */
void qmgr_job_queue(qmgr_job *j, qmgr_msg **done);

/* pm_sched drop callbacks; arg is a qmgr_msg ** completion list. */
void qmgr_drop_dead(void *arg, pm_sched_job *sj, const char *dsn,
    const char *text);
void qmgr_drop_plain(void *arg, pm_sched_job *sj, const char *dsn,
    const char *text);

/* qmgr_retry.c */
#define QMGR_RETRY 1 /* a completion write failed: keep the message */
/* 1 if rc from pm_qstore says "Redis did not answer, try again". */
int qmgr_retry_rc(int rc);
/* Keep a message whose completion failed on the retry list (qmgr.mu). */
void qmgr_retry_add(qmgr_msg *msg);
/* Keep a claimed entry that could not be read (takes qmgr.mu). */
void qmgr_retry_entry_add(const pm_qentry *e);
/* Scheduler thread, every second: try the lists again (no lock held). */
void qmgr_retry_run(pm_qstore *qs);
/* Scheduler thread, every second: a postqueue -f request (qmgr_flush.c). */
void qmgr_flush_check(pm_qstore *qs);
/* At stop: forget the lists (the messages stay in qmgr.msgs). */
void qmgr_retry_forget(void);

/* qmgr_intake.c */
int qmgr_intake_start(void);
void qmgr_intake_stop(void);
/* Process claimed entries (intake and stale takeover). */
void qmgr_intake_entries(pm_qstore *qs, const pm_qentry *e, size_t n,
    int stale);
/* Intake waits for this: set once the start-up reclaim is done. */
void qmgr_intake_release(void);

/* qmgr_gauges.c: Redis memory gauges (scheduler thread) */
void qmgr_gauges_redis(pm_qstore *qs);

/* qmgr_sched.c */
int qmgr_sched_start(void);
void qmgr_sched_stop(void);
/* Graceful stop: wait for jobs in flight, then hand messages back. */
void qmgr_sched_on_stop(void *arg);
void qmgr_sched_hand_back(pm_qstore *qs);

/* qmgr_agent_jobs.c: agents' liveness (qmgr_agents.c), under qmgr.mu */
qmgr_agent *qmgr_agent_fetch_begin(const char *name, uint64_t inc,
    uint32_t pipe, int64_t now);
void qmgr_agent_fetch_end(qmgr_agent *a, int64_t now);
/*
 * 1 if a fetch of a that came on connection pipe must answer now, with
 * no job: a newer incarnation appeared, or the connection closed.
 */
int qmgr_agent_fetch_over(const qmgr_agent *a, uint32_t pipe);
/* A heartbeat (fetch for no job) waits until, or a stop, or the above. */
void qmgr_agent_hb_wait(qmgr_agent *a, uint32_t pipe, int64_t until);
/* Scheduler thread, every second: give out dead agents' jobs again. */
void qmgr_agent_check(pm_qstore *qs);

/* qmgr_lease.c */
int qmgr_lease_start(void);
void qmgr_lease_stop(void);
/* Refresh the leases of the active queue now; drop lost messages.
 * 0, or the error of the refresh that failed. */
int qmgr_lease_touch(pm_qstore *qs);
/* The last lease refresh is recent enough to hand out jobs. */
int qmgr_lease_fresh(void);
/* A fenced write of msg was refused (PM_ELOST): log and count it. */
void qmgr_lease_refused(const qmgr_msg *msg, const char *what);

/* qmgr_fetch.c */
int qmgr_handler(void *thread_ctx, uint32_t type, const uint8_t *req,
    size_t reqlen, uint32_t *rtype, pm_buf *rbuf);

/* qmgr_redirect.c, qmgr_redirect_rule.c: an agent hands a recipient to
 * another transport */
/*
 * The transport of the local agent, the only one whose jobs may
 * redirect (as only Postfix's local(8) calls deliver_pass());
 * qmgr_redirect_from_ok() is 1 for it.
 */
#define QMGR_REDIRECT_FROM "local"
int qmgr_redirect_from_ok(const char *from);
/*
 * NULL if a recipient that agent transport from handed on redirects
 * times already (this one included) may go to transport to; else why
 * not (a static text). No lock needed.
 */
const char *qmgr_redirect_refused(const char *from, const char *to,
    unsigned redirects, long limit);
/* 1 if s is printable ASCII without space, 0..max bytes (1.. unless
 * may_be_empty). */
int qmgr_redirect_name_ok(const char *s, size_t max, int may_be_empty);
typedef struct qmgr_redirects {
	qmgr_job *head; /* jobs made by one done report, not queued yet */
} qmgr_redirects;
/*
 * Under qmgr.mu, from a done report of job j: recipient j->idx[pos]
 * goes to (transport, nexthop) in a new job of rd (same destination:
 * same job, up to its recipient limit), or, when refused, is deferred
 * and logged. no_notice (the report's dsn_passed): the agent sent a
 * notice itself, the new job asks for no success notice
 * (no_success_notice). qmgr_redirect_queue() queues rd's jobs at once
 * (before the report's own job releases the message).
 */
void qmgr_redirect(qmgr_job *j, size_t pos, const char *transport,
    const char *nexthop, int no_notice, qmgr_redirects *rd);
void qmgr_redirect_queue(qmgr_redirects *rd, qmgr_msg **done);

/* qmgr_verify.c: address verification probes (PM_MSG_PROBE) */
void qmgr_verify_init(void);
int qmgr_verify_probe(const qmgr_msg *msg);
long qmgr_verify_lifetime(void);
/* The outcome of each probe recipient to the verify cache. */
void qmgr_verify_record(const qmgr_msg *msg);

#endif
