/*
 * NAME
 *	qmgr_params - parameters of the queue manager
 * DESCRIPTION
 *	Postfix names and defaults where Postfix has the parameter
 *	(qmgr(8), postconf(5)); Postmesh additions are marked. Every
 *	time parameter accepts a unit suffix (tests use seconds). The
 *	string defaults of the endpoints are the library's (pm_params.c).
 *
 *	Per-transport overrides are read when a transport is first seen:
 *	<transport>_destination_concurrency_limit and
 *	<transport>_destination_recipient_limit (default: the
 *	default_destination_* values).
 */
#ifndef QMGR_PARAMS_H
#define QMGR_PARAMS_H

#include "pm_mail_params.h"

/* Postmesh: endpoints and threads. */
#define VAR_QMGR_LISTEN "qmgr_listen"          /* tcp://127.0.0.1:10030 */
#define VAR_QMGR_METRICS "qmgr_metrics_listen" /* http://127.0.0.1:9130 */
#define VAR_QMGR_WORKERS "qmgr_workers"
#define DEF_QMGR_WORKERS 32
/* default $service_instance_name; "" means the same */
#define VAR_QMGR_CONSUMER "qmgr_consumer_name"
#define VAR_QMGR_INTAKE_THREADS "qmgr_intake_threads"
#define DEF_QMGR_INTAKE_THREADS 2
/* recipients per bounce notice (more: several notices); at most
 * PM_BOUNCE_NOTICE_MAX, so one request fits a control call */
#define VAR_BOUNCE_NOTICE_RCPT_LIMIT "bounce_notice_recipient_limit"
#define DEF_BOUNCE_NOTICE_RCPT_LIMIT 400

/* Postfix: active queue limits. */
#define VAR_QMGR_ACT_LIMIT "qmgr_message_active_limit"
#define DEF_QMGR_ACT_LIMIT 20000
#define VAR_QMGR_RCPT_LIMIT "qmgr_message_recipient_limit"
#define DEF_QMGR_RCPT_LIMIT 20000

/* Postfix: destinations. */
#define VAR_DEST_RCPT_LIMIT "default_destination_recipient_limit"
#define DEF_DEST_RCPT_LIMIT 50
#define VAR_DEST_CON_LIMIT "default_destination_concurrency_limit"
#define DEF_DEST_CON_LIMIT 20
#define VAR_INIT_DEST_CON "initial_destination_concurrency"
#define DEF_INIT_DEST_CON 5
#define VAR_DEST_FAIL_COHORT \
	"default_destination_concurrency_failed_cohort_limit"
#define DEF_DEST_FAIL_COHORT 1
#define QMGR_DEST_RCPT_SUFFIX "_destination_recipient_limit"
#define QMGR_DEST_CON_SUFFIX "_destination_concurrency_limit"

/* Postfix: retries and lifetimes (seconds). */
#define VAR_MIN_BACKOFF "minimal_backoff_time"
#define DEF_MIN_BACKOFF "300s"
#define VAR_MAX_BACKOFF "maximal_backoff_time"
#define DEF_MAX_BACKOFF "4000s"
#define VAR_QUEUE_RUN_DELAY "queue_run_delay"
#define DEF_QUEUE_RUN_DELAY "300s"
#define VAR_DSN_QUEUE_TIME "bounce_queue_lifetime"
#define DEF_DSN_QUEUE_TIME "5d"

/*
 * Postmesh: how often one recipient may be handed to another transport
 * by an agent in one pass (local's mailbox_transport: once), so that a
 * redirect loop defers instead of spinning (qmgr_redirect.c).
 */
#define VAR_QMGR_REDIRECT_LIMIT "qmgr_redirect_limit"
#define DEF_QMGR_REDIRECT_LIMIT 2

/* Postmesh: leases, waits and timeouts (seconds). */
/* a dead qmgr's active messages wait this long for a takeover */
#define VAR_QMGR_LEASE "qmgr_lease_time"
#define DEF_QMGR_LEASE "30s"
#define VAR_QMGR_TP_WAIT "qmgr_transport_wait"
#define DEF_QMGR_TP_WAIT "30s"
#define VAR_QMGR_FETCH_WAIT "qmgr_fetch_wait_limit"
#define DEF_QMGR_FETCH_WAIT "5s"
#define VAR_QMGR_JOB_TIMEOUT "qmgr_job_timeout"
#define DEF_QMGR_JOB_TIMEOUT "1200s"
/* an agent with no fetch here this long is dead: its jobs go out again */
#define VAR_QMGR_AGENT_TIMEOUT "qmgr_agent_timeout"
#define DEF_QMGR_AGENT_TIMEOUT "5s"
#define VAR_QMGR_IPC_TIMEOUT "qmgr_ipc_timeout"
#define DEF_QMGR_IPC_TIMEOUT "60s"
#define VAR_QMGR_STOP_GRACE "qmgr_stop_grace"
#define DEF_QMGR_STOP_GRACE "10s"

extern char *var_qmgr_listen;
extern char *var_qmgr_metrics;
extern long var_qmgr_workers;
extern char *var_qmgr_consumer;
extern long var_qmgr_intake_threads;
extern long var_bounce_notice_rcpt_limit;
extern long var_qmgr_active_limit;
extern long var_qmgr_rcpt_limit;
extern long var_qmgr_redirect_limit;
extern long var_dest_rcpt_limit;
extern long var_dest_con_limit;
extern long var_init_dest_con;
extern long var_dest_fail_cohort;
extern long var_min_backoff;
extern long var_max_backoff;
extern long var_queue_run_delay;
extern long var_dsn_queue_time;
extern long var_qmgr_lease;
extern long var_qmgr_tp_wait;
extern long var_qmgr_fetch_wait;
extern long var_qmgr_job_timeout;
extern long var_qmgr_agent_timeout;
extern long var_qmgr_ipc_timeout;
extern long var_qmgr_stop_grace;

#endif
