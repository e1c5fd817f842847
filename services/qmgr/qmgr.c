/*
 * NAME
 *	qmgr - Postmesh queue manager
 * SUMMARY
 *	qmgr [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Postfix's qmgr(8) as a service on the Redis queue (DESIGN.md,
 *	docs/scheduling.md). It takes messages from the incoming streams
 *	of the queue shards (consumer group "qmgr", one consumer per
 *	instance: qmgr_consumer_name, by default service_instance_name,
 *	stable across restarts: a restarted qmgr takes back what its
 *	previous process held at once), resolves their recipients through
 *	the rewrite service, groups them into delivery jobs per
 *	destination, and hands the jobs to delivery agents that ask for
 *	them (MSG_QMGR_FETCH, a long poll) on qmgr_listen; agents report
 *	with MSG_QMGR_DONE. It schedules per destination (concurrency
 *	windows with slow start, dead destinations, round-robin), retries
 *	with backoff through the deferred queue, bounces what outlives
 *	maximal_queue_lifetime and asks the bounce service for
 *	non-delivery, delay and success notices.
 *
 *	This file is the wiring: parameters, metrics, per-transport
 *	settings, start and stop. Threads: qmgr_workers RPC workers (each
 *	with its own Redis connection), qmgr_intake_threads intake
 *	threads, one scheduler thread and one lease thread.
 *
 *	Stop (SIGTERM): no new messages and no new jobs; jobs in flight
 *	get qmgr_stop_grace to come back; then every message without a
 *	job in flight goes to the deferred queue due at once, so the next
 *	qmgr takes it up without waiting for the lease. Messages with a
 *	job still out stay with this consumer: taken back at once when
 *	an instance of the same name starts, else taken over after
 *	qmgr_lease_time.
 * LIMITS
 *	qmgr_message_active_limit messages and qmgr_message_recipient_limit
 *	recipients in memory; default_destination_recipient_limit
 *	recipients per job (at most 1000); QMGR_FETCH_MAX_JOBS jobs and
 *	QMGR_FETCH_BYTES bytes per fetch reply; qmgr_fetch_wait_limit per
 *	long poll; qmgr_job_timeout per job.
 *
 *	Two running qmgrs must never share a consumer name: each would
 *	take the other's messages as its own (duplicates). The name is
 *	logged at start.
 * SECURITY
 *	Requests come from agents, data from Redis and the rewrite
 *	service: all are checked before use (qmgr_fetch.c, pm_qstore).
 */
#include "qmgr.h"
#include "qmgr_params.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_server.h"
#include "pm_server_queue.h"

char *var_qmgr_listen;
char *var_qmgr_metrics;
long var_qmgr_workers;
char *var_qmgr_consumer;
long var_qmgr_intake_threads;
long var_qmgr_active_limit;
long var_qmgr_rcpt_limit;
long var_qmgr_redirect_limit;
long var_bounce_notice_rcpt_limit;
long var_dest_rcpt_limit;
long var_dest_con_limit;
long var_init_dest_con;
long var_dest_fail_cohort;
long var_min_backoff;
long var_max_backoff;
long var_queue_run_delay;
long var_dsn_queue_time;
long var_qmgr_lease;
long var_qmgr_tp_wait;
long var_qmgr_fetch_wait;
long var_qmgr_job_timeout;
long var_qmgr_agent_timeout;
long var_qmgr_ipc_timeout;
long var_qmgr_stop_grace;

qmgr_state qmgr;
qmgr_metrics qmgr_m;

static pthread_mutex_t tp_mu = PTHREAD_MUTEX_INITIALIZER;
static pm_smap *tp_map;
static size_t tp_count;
static qmgr_tpinfo tp_other;

/* <transport><suffix> if set, else the default; clamped. */
static long
tp_param(const char *transport, const char *suffix, long defval, long max)
{
	char *name = pm_asprintf("%s%s", transport, suffix);
	char *v = pm_cfg_get(name);
	long n = defval;

	if (v != NULL && pm_cfg_parse_long(v, &n) != 0) {
		pm_msg_warn("bad numerical configuration: %s = %s; using %ld",
		    name, v, defval);
		n = defval;
	}
	free(v);
	free(name);
	return (n < 1 ? 1 : n > max ? max : n);
}

/* A transport name as a metric label: [A-Za-z0-9_.-] only. */
static char *
tp_label(const char *transport)
{
	char *s = pm_strndup(transport, 64), *p;

	for (p = s; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		        (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		        *p == '-')) {
			*p = '_';
		}
	}
	return (s);
}

qmgr_tpinfo *
qmgr_tpinfo_get(const char *transport)
{
	qmgr_tpinfo *t;
	char *label, *lab;

	pthread_mutex_lock(&tp_mu);
	if ((t = pm_smap_get(tp_map, transport)) == NULL) {
		if (tp_count >= QMGR_MAX_TRANSPORTS) {
			pthread_mutex_unlock(&tp_mu);
			return (&tp_other);
		}
		t = pm_calloc(1, sizeof(*t));
		t->con_limit = tp_param(transport, QMGR_DEST_CON_SUFFIX,
		    var_dest_con_limit, 100000);
		t->rcpt_limit = tp_param(transport, QMGR_DEST_RCPT_SUFFIX,
		    var_dest_rcpt_limit, QMGR_MAX_RCPT_LIMIT);
		label = tp_label(transport);
		lab = pm_asprintf("transport=\"%s\"", label);
		t->dispatched = pm_metric_counter("qmgr_jobs_dispatched_total",
		    "Delivery jobs handed to agents, by transport", lab);
		free(lab);
		free(label);
		pm_smap_put(tp_map, transport, t);
		tp_count++;
	}
	pthread_mutex_unlock(&tp_mu);
	return (t);
}

static long
sched_con_limit(void *arg, const char *transport)
{
	(void) arg;
	return (qmgr_tpinfo_get(transport)->con_limit);
}

static void
qmgr_metrics_init(void)
{
	static const char *qn = "qmgr_queue_messages";
	static const char *qh = "Messages in the queue, by queue (all shards)";
	static const char *rn = "qmgr_recipients_total";
	static const char *rh = "Recipient outcomes seen by qmgr, by status";

	qmgr_m.q_incoming = pm_metric_gauge(qn, qh, "queue=\"incoming\"");
	qmgr_m.q_active = pm_metric_gauge(qn, qh, "queue=\"active\"");
	qmgr_m.q_deferred = pm_metric_gauge(qn, qh, "queue=\"deferred\"");
	qmgr_m.q_hold = pm_metric_gauge(qn, qh, "queue=\"hold\"");
	qmgr_m.oldest_age = pm_metric_gauge("qmgr_oldest_message_age_seconds",
	    "Age of the oldest queued message, in seconds", NULL);
	qmgr_m.removed = pm_metric_counter("qmgr_messages_removed_total",
	    "Messages removed from the queue after their last recipient", NULL);
	qmgr_m.rcpt_sent = pm_metric_counter(rn, rh, "status=\"sent\"");
	qmgr_m.rcpt_bounced = pm_metric_counter(rn, rh, "status=\"bounced\"");
	qmgr_m.rcpt_deferred = pm_metric_counter(rn, rh, "status=\"deferred\"");
	qmgr_m.mem_messages = pm_metric_gauge("qmgr_active_messages",
	    "Messages in this qmgr's memory (its active queue)", NULL);
	qmgr_m.mem_inflight = pm_metric_gauge("qmgr_jobs_in_flight",
	    "Delivery jobs handed out and not yet reported", NULL);
	qmgr_m.job_timeouts = pm_metric_counter("qmgr_job_timeouts_total",
	    "Jobs whose agent did not report within qmgr_job_timeout", NULL);
	qmgr_m.notices_failed = pm_metric_counter("qmgr_notice_failures_total",
	    "Notices the bounce service could not queue", NULL);
	qmgr_m.leases_lost = pm_metric_counter("qmgr_leases_lost_total",
	    "Active messages dropped because another consumer holds their "
	    "entry now",
	    NULL);
	qmgr_m.consumers_removed = pm_metric_counter(
	    "qmgr_consumers_removed_total",
	    "Consumers of gone instances removed from the group (per shard)",
	    NULL);
	qmgr_m.jobs_returned = pm_metric_counter("qmgr_jobs_returned_total",
	    "Jobs given out again because their delivery agent died", NULL);
	qmgr_m.taken_back = pm_metric_counter("qmgr_messages_taken_back_total",
	    "Messages this consumer name held before a restart, taken back "
	    "at start",
	    NULL);
	qmgr_m.redirects_accepted = pm_metric_counter("qmgr_redirects_total",
	    "Recipients an agent handed to another transport (local's "
	    "mailbox_transport, fallback_transport): queued for it, or "
	    "refused (deferred)",
	    "result=\"accepted\"");
	qmgr_m.redirects_refused = pm_metric_counter("qmgr_redirects_total",
	    "Recipients an agent handed to another transport (local's "
	    "mailbox_transport, fallback_transport): queued for it, or "
	    "refused (deferred)",
	    "result=\"refused\"");
	qmgr_m.retry_messages = pm_metric_gauge("qmgr_retry_messages",
	    "Messages and entries kept in memory until Redis takes their "
	    "writes (qmgr_retry.c)",
	    NULL);
	qmgr_m.retry_writes =
	    pm_metric_counter("qmgr_status_writes_retried_total",
	        "Final recipient statuses written from memory after Redis "
	        "failed to take them",
	        NULL);

	qmgr_m.takeover_stale = pm_metric_counter("qmgr_takeovers_total",
	    "Entries this qmgr claimed from another holder: idle past the "
	    "lease, or its own name's from before a restart",
	    "from=\"lease_expired\"");
	qmgr_m.takeover_own = pm_metric_counter("qmgr_takeovers_total",
	    "Entries this qmgr claimed from another holder: idle past the "
	    "lease, or its own name's from before a restart",
	    "from=\"restart\"");
}

/* 8 hex digits that differ between runs (job ids never repeat). */
static void
qmgr_job_prefix(char *buf, size_t size)
{
	unsigned v = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t) sizeof(v)) {
		v = (unsigned) time(NULL) ^ ((unsigned) getpid() << 16) ^
		    (unsigned) pm_mono_ms();
	}
	if (fd >= 0) {
		close(fd);
	}
	snprintf(buf, size, "%08x", v);
}

static int
qmgr_consumer_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 128) {
		return (0);
	}
	for (; *s; s++) {
		if ((unsigned char) *s <= 0x20 || *s == 0x7f) {
			return (0);
		}
	}
	return (1);
}

static int
qmgr_pre_init(void)
{
	pthread_condattr_t ca;
	pm_sched_cfg cfg;

	qmgr_metrics_init();
	tp_map = pm_smap_new();
	tp_other.con_limit = var_dest_con_limit;
	tp_other.rcpt_limit = var_dest_rcpt_limit > QMGR_MAX_RCPT_LIMIT ?
	    QMGR_MAX_RCPT_LIMIT :
	    var_dest_rcpt_limit;
	tp_other.dispatched = pm_metric_counter("qmgr_jobs_dispatched_total",
	    "Delivery jobs handed to agents, by transport",
	    "transport=\"other\"");

	pthread_mutex_init(&qmgr.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&qmgr.work_cv, &ca);
	pthread_cond_init(&qmgr.room_cv, &ca);
	pthread_cond_init(&qmgr.idle_cv, &ca);
	pthread_condattr_destroy(&ca);

	memset(&cfg, 0, sizeof(cfg));
	cfg.initial_concurrency = var_init_dest_con;
	cfg.cohort_limit = var_dest_fail_cohort;
	cfg.dead_ms = 1000LL * var_min_backoff;
	cfg.transport_wait_ms = 1000LL * var_qmgr_tp_wait;
	/* every destination has a job, or is dead (a bounded extra) */
	cfg.max_dests = 2 * (size_t) var_qmgr_rcpt_limit + 1000;
	cfg.concurrency_limit = sched_con_limit;
	qmgr.sched = pm_sched_new(&cfg);
	qmgr.msgs = pm_smap_new();
	qmgr.jobs = pm_smap_new();
	qmgr.max_waiters = (int) (var_qmgr_workers * 3 / 4);
	if (qmgr.max_waiters < 1) {
		qmgr.max_waiters = 1;
	}
	qmgr_job_prefix(qmgr.job_prefix, sizeof(qmgr.job_prefix));

	/* stable across restarts: the same name takes its entries back */
	qmgr.consumer =
	    pm_strdup(var_qmgr_consumer[0] != 0 ? var_qmgr_consumer :
	                                          var_instance_name);
	if (!qmgr_consumer_ok(qmgr.consumer)) {
		pm_msg_fatal("bad %s: \"%s\"", VAR_QMGR_CONSUMER,
		    qmgr.consumer);
	}
	/* the resolver answers fast or not at all: do not wait a minute */
	qmgr.rw = pm_rewrite_clnt_new(var_rewrite_service,
	    (int) ((var_qmgr_ipc_timeout < 10 ? var_qmgr_ipc_timeout : 10) *
	        1000));
	if (qmgr.rw == NULL) {
		pm_msg_fatal("cannot use %s = %s", VAR_REWRITE_SERVICE,
		    var_rewrite_service);
	}
	qmgr_verify_init();
	qmgr.bounce = pm_bounce_clnt_new(var_bounce_service,
	    (int) (var_qmgr_ipc_timeout * 1000));
	if (qmgr.bounce == NULL) {
		pm_msg_fatal("cannot use %s = %s", VAR_BOUNCE_SERVICE,
		    var_bounce_service);
	}
	return (0);
}

static int
qmgr_post_init(void)
{
	pm_msg_info("consumer %s (no other running qmgr may use this name), "
	            "active limits %ld messages %ld recipients",
	    qmgr.consumer, var_qmgr_active_limit, var_qmgr_rcpt_limit);
	pm_server_on_stop(qmgr_sched_on_stop, NULL);
	if (qmgr_lease_start() != 0 || qmgr_sched_start() != 0 ||
	    qmgr_intake_start() != 0) {
		pm_msg_fatal("cannot start the qmgr threads");
	}
	return (0);
}

static void *
qmgr_thread_init(void)
{
	return (pm_server_qstore_must());
}

static void
qmgr_thread_fini(void *ctx)
{
	pm_qstore_close(ctx);
}

static void
tp_free(const char *key, void *value, void *arg)
{
	(void) key;
	(void) arg;
	free(value);
}

static void
qmgr_fini(void)
{
	qmgr_intake_stop();
	qmgr_sched_stop();
	qmgr_lease_stop();
	qmgr_sched_hand_back(pm_server_queue_lock());
	pm_server_queue_unlock();
	pm_sched_free(qmgr.sched);
	qmgr.sched = NULL;
	pm_smap_free(qmgr.msgs);
	pm_smap_free(qmgr.jobs);
	pm_rewrite_clnt_free(qmgr.rw);
	pm_bounce_clnt_free(qmgr.bounce);
	free(qmgr.consumer);
	pm_smap_walk(tp_map, tp_free, NULL);
	pm_smap_free(tp_map);
	tp_map = NULL;
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_QMGR_LISTEN, NULL, &var_qmgr_listen, 1, 1024 },
		{ VAR_QMGR_METRICS, NULL, &var_qmgr_metrics, 0, 1024 },
		{ VAR_QMGR_CONSUMER, NULL, &var_qmgr_consumer, 0, 128 },
		PM_CFG_BOUNCE_SERVICE,
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_QMGR_WORKERS, DEF_QMGR_WORKERS, &var_qmgr_workers, 2,
		    1024 },
		{ VAR_QMGR_INTAKE_THREADS, DEF_QMGR_INTAKE_THREADS,
		    &var_qmgr_intake_threads, 1, 64 },
		{ VAR_QMGR_ACT_LIMIT, DEF_QMGR_ACT_LIMIT,
		    &var_qmgr_active_limit, 1, 10000000 },
		{ VAR_QMGR_RCPT_LIMIT, DEF_QMGR_RCPT_LIMIT,
		    &var_qmgr_rcpt_limit, 1, 10000000 },
		{ VAR_BOUNCE_NOTICE_RCPT_LIMIT, DEF_BOUNCE_NOTICE_RCPT_LIMIT,
		    &var_bounce_notice_rcpt_limit, 1, PM_BOUNCE_NOTICE_MAX },
		{ VAR_DEST_RCPT_LIMIT, DEF_DEST_RCPT_LIMIT,
		    &var_dest_rcpt_limit, 1, QMGR_MAX_RCPT_LIMIT },
		{ VAR_DEST_CON_LIMIT, DEF_DEST_CON_LIMIT, &var_dest_con_limit,
		    1, 100000 },
		{ VAR_INIT_DEST_CON, DEF_INIT_DEST_CON, &var_init_dest_con, 1,
		    100000 },
		{ VAR_DEST_FAIL_COHORT, DEF_DEST_FAIL_COHORT,
		    &var_dest_fail_cohort, 0, 1000 },
		{ VAR_QMGR_REDIRECT_LIMIT, DEF_QMGR_REDIRECT_LIMIT,
		    &var_qmgr_redirect_limit, 1, 10 },
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		{ VAR_MIN_BACKOFF, DEF_MIN_BACKOFF, &var_min_backoff, 's', 1,
		    0 },
		{ VAR_MAX_BACKOFF, DEF_MAX_BACKOFF, &var_max_backoff, 's', 1,
		    0 },
		{ VAR_QUEUE_RUN_DELAY, DEF_QUEUE_RUN_DELAY,
		    &var_queue_run_delay, 's', 1, 0 },
		PM_CFG_MAX_QUEUE_TIME,
		{ VAR_DSN_QUEUE_TIME, DEF_DSN_QUEUE_TIME, &var_dsn_queue_time,
		    'd', 0, 8640000 },
		PM_CFG_DELAY_WARN_TIME,
		{ VAR_QMGR_LEASE, DEF_QMGR_LEASE, &var_qmgr_lease, 's', 3,
		    3600 },
		{ VAR_QMGR_TP_WAIT, DEF_QMGR_TP_WAIT, &var_qmgr_tp_wait, 's', 1,
		    0 },
		{ VAR_QMGR_FETCH_WAIT, DEF_QMGR_FETCH_WAIT,
		    &var_qmgr_fetch_wait, 's', 1, 60 },
		{ VAR_QMGR_JOB_TIMEOUT, DEF_QMGR_JOB_TIMEOUT,
		    &var_qmgr_job_timeout, 's', 1, 0 },
		{ VAR_QMGR_AGENT_TIMEOUT, DEF_QMGR_AGENT_TIMEOUT,
		    &var_qmgr_agent_timeout, 's', 1, 3600 },
		{ VAR_QMGR_IPC_TIMEOUT, DEF_QMGR_IPC_TIMEOUT,
		    &var_qmgr_ipc_timeout, 's', 1, 3600 },
		{ VAR_QMGR_STOP_GRACE, DEF_QMGR_STOP_GRACE,
		    &var_qmgr_stop_grace, 's', 0, 3600 },
		{ 0 },
	};
	static const pm_service svc = {
		.name = "qmgr",
		.strs = strs,
		.ints = ints,
		.times = times,
		.listen_param = VAR_QMGR_LISTEN,
		.workers_param = VAR_QMGR_WORKERS,
		.metrics_param = VAR_QMGR_METRICS,
		.handler = qmgr_handler,
		.thread_init = qmgr_thread_init,
		.thread_fini = qmgr_thread_fini,
		.pre_init = qmgr_pre_init,
		.post_init = qmgr_post_init,
		.fini = qmgr_fini,
		.queue = 1,
	};

	return (pm_server_main(&svc, argc, argv));
}
