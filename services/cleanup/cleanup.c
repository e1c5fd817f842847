/*
 * NAME
 *	cleanup - Postmesh canonicalize and enqueue service
 * SUMMARY
 *	cleanup [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Postfix's cleanup(8) as a service. It answers MSG_CLEANUP_SUBMIT
 *	(cleanup.proto) on cleanup_listen: one request carries a whole
 *	message; cleanup validates it, rewrites the envelope addresses
 *	(rewrite service, canonical maps, virtual aliases), processes the
 *	content (header/body checks, drop_headers, missing headers, hop
 *	count) and writes the message durably to the Redis queue with
 *	pm_qstore_enqueue() before it answers. docs/cleanup.md has the
 *	details and the parameters.
 *
 *	This file is the wiring: parameters, tables, per-worker Redis
 *	connections (cleanup_workers threads, each with its own pm_qstore,
 *	so that many enqueues are in flight and Redis groups their
 *	fsyncs), readiness (/readyz: Redis answers and is as durable as
 *	queue_durability says, cleanup_durable.c), metrics and SIGHUP
 *	(tables reopened; requests in flight keep the old ones).
 * LIMITS
 *	cleanup_content_memory_limit bytes of content charged at once
 *	(see cleanup.h); cleanup_workers requests at once (nng holds at
 *	most one more received request per connected client until a
 *	worker takes it); a request is at most
 *	message_size_limit + PM_CLEANUP_ENV_ALLOWANCE +
 *	cleanup_recipient_limit * PM_CLEANUP_RCPT_ALLOWANCE bytes
 *	(NNG_OPT_RECVMAXSZ).
 * SECURITY
 *	Requests come from other roles and are checked before use
 *	(cleanup_submit.c).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cleanup_clnt.h"
#include "cleanup_params.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_server.h"
#include "pm_server_queue.h"
#include "rewrite_clnt.h"

char *var_header_checks;
char *var_body_checks;
char *var_drop_headers;
char *var_canonical_maps;
char *var_send_canon_maps;
char *var_rcpt_canon_maps;
char *var_canon_classes;
long var_cleanup_workers;
long var_cleanup_content_mem;
long var_cleanup_rcpt_limit;
long var_cleanup_total_rcpt;
long var_hopcount_limit;
long var_body_check_len;
long var_virt_recur_limit;
long var_virt_expan_limit;
long var_queue_min_replicas;
long var_queue_replica_tmout;
long var_cleanup_rwr_tmout;
int var_always_add_hdrs;
int var_enable_orcp;

cleanup_metrics cleanup_m;
pm_budget cleanup_content_budget;

static pm_rewrite_clnt *cleanup_rewrite;

/* The canon callback: the rewrite service, rule "local". */
static int
cleanup_canon(void *arg, const char *addr, char **out)
{
	pm_rewrite_clnt *rw = arg;
	int err;

	err = pm_rewrite_canon(rw, addr, "local", out);
	if (err == PM_EINVAL) {
		/* Postfix never refuses an address here: keep it as is. */
		*out = pm_strdup(addr);
		return (0);
	}
	return (err);
}

static pm_tables *
maps_open(const char *name, const char *spec, int *failed)
{
	const char *err = NULL;
	pm_tables *ts = pm_tables_open(spec ? spec : "", &err);

	if (ts == NULL) {
		pm_msg_error("%s = %s: %s", name, spec, err ? err : "error");
		*failed = 1;
	}
	return (ts);
}

static void
maps_free(cleanup_maps *m)
{
	if (m == NULL) {
		return;
	}
	pm_tables_close(m->header_checks);
	pm_tables_close(m->body_checks);
	pm_tables_close(m->canonical_maps);
	pm_tables_close(m->send_canon_maps);
	pm_tables_close(m->rcpt_canon_maps);
	pm_tables_close(m->virt_alias_maps);
	pm_cfg_list_free(m->drop_headers);
	pm_cfg_list_free(m->local_domains);
	free(m);
}

/* myorigin and the plain names of mydestination (not tables). */
static char **
maps_local_domains(void)
{
	char **dest = pm_cfg_list(var_mydest ? var_mydest : "", NULL);
	char **out;
	size_t n = 0, i;

	for (i = 0; dest && dest[i]; i++) {
		/* count */
	}
	out = pm_calloc(i + 2, sizeof(char *));
	out[n++] = pm_strdup(var_myorigin ? var_myorigin : "");
	for (i = 0; dest && dest[i]; i++) {
		if (strchr(dest[i], ':') == NULL) {
			out[n++] = pm_strdup(dest[i]);
		}
	}
	pm_cfg_list_free(dest);
	return (out);
}

static void
maps_free_obj(void *m)
{
	maps_free(m);
}

/* The maps in use; a reload swaps in new ones (pm_snap). */
static pm_snap maps_cur = PM_SNAP_INIT(maps_free_obj);

static cleanup_maps *
maps_new(void)
{
	cleanup_maps *m = pm_calloc(1, sizeof(*m));
	pm_cleanup_cfg *c = &m->cfg;
	int failed = 0;

	m->header_checks =
	    maps_open(VAR_HEADER_CHECKS, var_header_checks, &failed);
	m->body_checks = maps_open(VAR_BODY_CHECKS, var_body_checks, &failed);
	m->canonical_maps =
	    maps_open(VAR_CANONICAL_MAPS, var_canonical_maps, &failed);
	m->send_canon_maps =
	    maps_open(VAR_SEND_CANON_MAPS, var_send_canon_maps, &failed);
	m->rcpt_canon_maps =
	    maps_open(VAR_RCPT_CANON_MAPS, var_rcpt_canon_maps, &failed);
	m->virt_alias_maps =
	    maps_open(VAR_VIRT_ALIAS_MAPS, var_virt_alias_maps, &failed);
	if (failed) {
		maps_free(m);
		return (NULL);
	}
	m->drop_headers =
	    pm_cfg_list(var_drop_headers ? var_drop_headers : "", NULL);
	m->local_domains = maps_local_domains();

	c->header_size_limit = (size_t) var_header_limit;
	c->hopcount_limit = var_hopcount_limit;
	c->drop_headers = m->drop_headers;
	c->always_add_missing_headers = var_always_add_hdrs;
	c->myhostname = var_myhostname;
	c->header_checks = m->header_checks;
	c->body_checks = m->body_checks;
	c->body_checks_size_limit = (size_t) var_body_check_len;
	c->line_length_limit = (size_t) var_line_limit;
	c->canonical_maps = m->canonical_maps;
	c->sender_canonical_maps = m->send_canon_maps;
	c->recipient_canonical_maps = m->rcpt_canon_maps;
	c->canonical_classes = pm_canon_classes(var_canon_classes);
	c->virtual_alias_maps = m->virt_alias_maps;
	c->virtual_alias_recursion_limit = var_virt_recur_limit;
	c->virtual_alias_expansion_limit = var_virt_expan_limit;
	c->total_recipient_limit = var_cleanup_total_rcpt;
	c->enable_original_recipient = var_enable_orcp;
	c->local_domains = m->local_domains;
	c->canon = cleanup_canon;
	c->canon_arg = cleanup_rewrite;
	return (m);
}

pm_snap_ref *
cleanup_maps_get(void)
{
	return (pm_snap_get(&maps_cur));
}

void
cleanup_maps_put(pm_snap_ref *ref)
{
	pm_snap_put(&maps_cur, ref);
}

static void
cleanup_metrics_init(void)
{
	static const char *msgs = "cleanup_messages_total";
	static const char *help = "Messages processed by cleanup, by result";

	cleanup_m.queued = pm_metric_counter(msgs, help, "result=\"queued\"");
	cleanup_m.rejected =
	    pm_metric_counter(msgs, help, "result=\"rejected\"");
	cleanup_m.discarded =
	    pm_metric_counter(msgs, help, "result=\"discarded\"");
	cleanup_m.held = pm_metric_counter(msgs, help, "result=\"held\"");
	cleanup_m.error = pm_metric_counter(msgs, help, "result=\"error\"");
	cleanup_m.queue_writes = pm_metric_counter("cleanup_queue_writes_total",
	    "Queue writes (pm_qstore_enqueue calls) attempted", NULL);
	cleanup_m.enqueue_seconds =
	    pm_metric_histogram("cleanup_enqueue_seconds",
	        "Time of one durable queue write, in seconds", NULL,
	        pm_latency_buckets, pm_latency_nbuckets);
	cleanup_m.message_bytes = pm_metric_counter("cleanup_message_bytes",
	    "Bytes of message content queued", NULL);
	cleanup_m.content_bytes =
	    pm_metric_gauge("cleanup_content_memory_bytes",
	        "Content bytes charged to cleanup_content_memory_limit now",
	        NULL);
}

static size_t cleanup_recvmax(void);
static int cleanup_wait_ms(void);

static int
cleanup_pre_init(void)
{
	cleanup_maps *m;
	char *url;

	/*
	 * fsync: Redis itself must run with appendonly yes and appendfsync
	 * always (the default of `make run` and the tests); replica: also
	 * WAIT for queue_min_replicas; none: whatever Redis does (tests,
	 * benchmarks that say so). cleanup_durable.c checks that Redis
	 * really does so. Anything else is a typo that must not pass
	 * silently.
	 */
	if (strcmp(var_queue_durability, "fsync") != 0 &&
	    strcmp(var_queue_durability, "replica") != 0 &&
	    strcmp(var_queue_durability, "none") != 0) {
		pm_msg_fatal("bad %s value: %s (want fsync, replica or none)",
		    VAR_QUEUE_DURABILITY, var_queue_durability);
	}
	if (strcmp(var_queue_durability, "replica") == 0 &&
	    var_queue_replica_tmout >= var_redis_timeout) {
		pm_msg_warn("%s = %lds is not below %s = %lds: waiting %d ms "
		            "for replicas",
		    VAR_QUEUE_REPLICA_TMOUT, var_queue_replica_tmout,
		    VAR_REDIS_TIMEOUT, var_redis_timeout, cleanup_wait_ms());
	}
	if ((size_t) var_cleanup_content_mem / CLEANUP_CONTENT_COPIES <
	    cleanup_recvmax()) {
		pm_msg_warn(
		    "%s (%ld) is below %d times the largest request "
		    "(%s %ld plus the envelope): such messages can never be "
		    "queued",
		    VAR_CLEANUP_CONTENT_MEM, var_cleanup_content_mem,
		    CLEANUP_CONTENT_COPIES, VAR_MSG_SIZE_LIMIT,
		    var_message_size_limit);
	}
	pm_budget_init(&cleanup_content_budget,
	    (size_t) var_cleanup_content_mem);
	url = pm_cfg_get(VAR_REWRITE_SERVICE);
	cleanup_metrics_init();
	cleanup_rewrite = pm_rewrite_clnt_new(url ? url : "",
	    (int) (var_cleanup_rwr_tmout * 1000));
	free(url);
	if (cleanup_rewrite == NULL) {
		pm_msg_error("cannot use %s = %s", VAR_REWRITE_SERVICE,
		    var_rewrite_service);
		return (-1);
	}
	if ((m = maps_new()) == NULL) {
		return (-1);
	}
	pm_snap_set(&maps_cur, m);
	/* Before the first request: no 250 unless Redis is durable. */
	return (cleanup_durable_start());
}

/*
 * WAIT's timeout (queue_durability = replica). WAIT blocks on the same
 * connection as the enqueue, whose reads give up after redis_timeout:
 * a WAIT as long as that would lose its own reply (and the connection),
 * so it is kept below, with a warning at start.
 */
static int
cleanup_wait_ms(void)
{
	if (var_queue_replica_tmout < var_redis_timeout) {
		return ((int) (var_queue_replica_tmout * 1000));
	}
	return ((int) (var_redis_timeout * 1000 / 2));
}

static void *
cleanup_thread_init(void)
{
	cleanup_worker *w = pm_calloc(1, sizeof(*w));

	w->qs = pm_server_qstore_must();
	if (strcmp(var_queue_durability, "replica") == 0) {
		pm_qstore_set_wait_replicas(w->qs, (int) var_queue_min_replicas,
		    cleanup_wait_ms());
	}
	return (w);
}

static void
cleanup_thread_fini(void *ctx)
{
	cleanup_worker *w = ctx;

	if (w != NULL) {
		pm_qstore_close(w->qs);
		free(w);
	}
}

static size_t
cleanup_recvmax(void)
{
	return ((size_t) var_message_size_limit + PM_CLEANUP_ENV_ALLOWANCE +
	    (size_t) var_cleanup_rcpt_limit * PM_CLEANUP_RCPT_ALLOWANCE);
}

/* Ready: Redis answers (not -LOADING) and is durable as configured. */
static int
cleanup_ready(void)
{
	return (cleanup_durable_check() == 0);
}

static void
cleanup_reload(void)
{
	cleanup_maps *m = maps_new();

	if (m == NULL) {
		pm_msg_warn("reload failed; keeping the old tables");
		pm_server_reload_failed();
		return;
	}
	pm_snap_set(&maps_cur, m);
	pm_msg_info("reload: tables reopened");
}

static void
cleanup_fini(void)
{
	pm_snap_set(&maps_cur, NULL);
	cleanup_durable_stop();
	pm_rewrite_clnt_free(cleanup_rewrite);
	cleanup_rewrite = NULL;
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_HEADER_CHECKS, NULL, &var_header_checks, 0, 0 },
		{ VAR_BODY_CHECKS, NULL, &var_body_checks, 0, 0 },
		{ VAR_DROP_HEADERS, NULL, &var_drop_headers, 0, 0 },
		{ VAR_CANONICAL_MAPS, NULL, &var_canonical_maps, 0, 0 },
		{ VAR_SEND_CANON_MAPS, NULL, &var_send_canon_maps, 0, 0 },
		{ VAR_RCPT_CANON_MAPS, NULL, &var_rcpt_canon_maps, 0, 0 },
		{ VAR_CANON_CLASSES, NULL, &var_canon_classes, 0, 0 },
		PM_CFG_VIRT_ALIAS_MAPS,
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_CLEANUP_WORKERS, DEF_CLEANUP_WORKERS,
		    &var_cleanup_workers, 1, 1024 },
		{ VAR_CLEANUP_RCPT_LIMIT, DEF_CLEANUP_RCPT_LIMIT,
		    &var_cleanup_rcpt_limit, 1, 1000000 },
		{ VAR_CLEANUP_TOTAL_RCPT, DEF_CLEANUP_TOTAL_RCPT,
		    &var_cleanup_total_rcpt, 1, 10000000 },
		PM_CFG_HEADER_LIMIT,
		{ VAR_HOPCOUNT_LIMIT, DEF_HOPCOUNT_LIMIT, &var_hopcount_limit,
		    1, 0 },
		{ VAR_BODY_CHECK_LEN, DEF_BODY_CHECK_LEN, &var_body_check_len,
		    0, 0 },
		PM_CFG_LINE_LIMIT,
		{ VAR_VIRT_RECUR_LIMIT, DEF_VIRT_RECUR_LIMIT,
		    &var_virt_recur_limit, 1, 0 },
		{ VAR_VIRT_EXPAN_LIMIT, DEF_VIRT_EXPAN_LIMIT,
		    &var_virt_expan_limit, 1, 0 },
		{ VAR_QUEUE_MIN_REPLICAS, DEF_QUEUE_MIN_REPLICAS,
		    &var_queue_min_replicas, 1, 64 },
		{ VAR_CLEANUP_CONTENT_MEM, DEF_CLEANUP_CONTENT_MEM,
		    &var_cleanup_content_mem, 1024 * 1024, 0 },
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		{ VAR_CLEANUP_RWR_TMOUT, DEF_CLEANUP_RWR_TMOUT,
		    &var_cleanup_rwr_tmout, 's', 1, 3600 },
		{ VAR_QUEUE_DUR_CHECK, DEF_QUEUE_DUR_CHECK,
		    &var_queue_dur_check, 's', 1, 3600 },
		{ VAR_QUEUE_REPLICA_TMOUT, DEF_QUEUE_REPLICA_TMOUT,
		    &var_queue_replica_tmout, 's', 1, 3600 },
		{ 0 },
	};
	static const pm_cfg_bool bools[] = {
		{ VAR_ALWAYS_ADD_HDRS, DEF_ALWAYS_ADD_HDRS,
		    &var_always_add_hdrs },
		{ VAR_ENABLE_ORCP, DEF_ENABLE_ORCP, &var_enable_orcp },
		{ 0 },
	};
	/*
	 * Bound again on SIGHUP, then cleanup_reload() builds new tables
	 * and limits from them (maps_new). Not here (restart): workers,
	 * cleanup_recipient_limit and message_size_limit (the RPC receive
	 * limit is set from them at start), Redis and queue parameters,
	 * queue_durability (each worker's WAIT is set at start),
	 * myhostname (also the log's host name).
	 */
	static const char *const reload_params[] = {
		VAR_HEADER_CHECKS,
		VAR_BODY_CHECKS,
		VAR_DROP_HEADERS,
		VAR_CANONICAL_MAPS,
		VAR_SEND_CANON_MAPS,
		VAR_RCPT_CANON_MAPS,
		VAR_CANON_CLASSES,
		VAR_VIRT_ALIAS_MAPS,
		VAR_CLEANUP_TOTAL_RCPT,
		VAR_HEADER_LIMIT,
		VAR_HOPCOUNT_LIMIT,
		VAR_BODY_CHECK_LEN,
		VAR_LINE_LIMIT,
		VAR_VIRT_RECUR_LIMIT,
		VAR_VIRT_EXPAN_LIMIT,
		VAR_ALWAYS_ADD_HDRS,
		VAR_ENABLE_ORCP,
		VAR_QUEUE_DUR_CHECK,
		VAR_MYORIGIN,
		VAR_MYDEST,
		NULL,
	};
	static const pm_service svc = {
		.name = "cleanup",
		.strs = strs,
		.ints = ints,
		.times = times,
		.bools = bools,
		.listen_param = VAR_CLEANUP_LISTEN,
		.workers_param = VAR_CLEANUP_WORKERS,
		.metrics_param = VAR_CLEANUP_METRICS,
		.recvmax_fn = cleanup_recvmax,
		.handler = cleanup_handler,
		.thread_init = cleanup_thread_init,
		.thread_fini = cleanup_thread_fini,
		.pre_init = cleanup_pre_init,
		.fini = cleanup_fini,
		.reload = cleanup_reload,
		.queue = 1,
		.reload_params = reload_params,
		.ready = cleanup_ready,
	};

	return (pm_server_main(&svc, argc, argv));
}
