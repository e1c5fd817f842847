/*
 * NAME
 *	bounce - Postmesh delivery status notification service
 * SUMMARY
 *	bounce [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Postfix's bounce(8) (bounce, defer and trace) as a service. qmgr
 *	asks it, with MSG_BOUNCE_NOTIFY (bounce.proto) on bounce_listen,
 *	to tell the sender of a queued message that some recipients
 *	failed, are delayed, or were delivered or relayed. The service
 *	reads the original from the queue, builds an RFC 3464 notice
 *	(pm_dsn) and submits it through cleanup with the null sender; it
 *	answers 250 only after cleanup has queued the notice (or when no
 *	notice is needed), else 4xx and qmgr asks again later.
 *	bounce_notify.c has the details; docs/dsn.md the notice format.
 *
 *	This file is the wiring: parameters, per-worker Redis connections
 *	(bounce_workers threads, each with its own pm_qstore), one cleanup
 *	client shared by all, readiness (/readyz: Redis answers PING) and
 *	metrics.
 * LIMITS
 *	bounce_workers requests at once; PM_RPC_CONTROL_MAX bytes per
 *	request; bounce_size_limit bytes of the original in a notice; a
 *	notice is at most message_size_limit bytes; each cleanup call
 *	waits at most bounce_cleanup_timeout.
 * SECURITY
 *	Requests come from another role and are checked before use; the
 *	content returned in a notice is untrusted (pm_dsn.h, SECURITY).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "bounce_params.h"
#include "pm_common_params.h"
#include "pm_dsn.h"
#include "pm_log.h"
#include "pm_server.h"
#include "pm_server_queue.h"

char *var_bounce_listen;
char *var_bounce_metrics;
char *var_double_bounce;
char *var_2bounce_rcpt;
long var_bounce_workers;
long var_bounce_limit;
long var_bounce_cleanup_tmout;

pm_cleanup_clnt *bounce_cleanup;
char *bounce_dbl_addr;
char *bounce_2bounce_addr;
bounce_metrics bounce_m;


static void
bounce_metrics_init(void)
{
	static const char *nname = "bounce_notices_total";
	static const char *nhelp = "Notices queued through cleanup, by kind";
	static const char *sname = "bounce_skipped_total";
	static const char *shelp = "Notice requests answered without a "
	                           "notice, by reason";
	static const char *ename = "bounce_errors_total";
	static const char *ehelp = "Notice requests that failed (answered "
	                           "4xx or refused), by reason";

	bounce_m.notice[0] =
	    pm_metric_counter(nname, nhelp, "kind=\"double_bounce\"");
	bounce_m.notice[PM_NOTICE_FAILED] =
	    pm_metric_counter(nname, nhelp, "kind=\"failed\"");
	bounce_m.notice[PM_NOTICE_DELAYED] =
	    pm_metric_counter(nname, nhelp, "kind=\"delayed\"");
	bounce_m.notice[PM_NOTICE_DELIVERED] =
	    pm_metric_counter(nname, nhelp, "kind=\"delivered\"");
	bounce_m.notice[PM_NOTICE_RELAYED] =
	    pm_metric_counter(nname, nhelp, "kind=\"relayed\"");
	bounce_m.skip_notify =
	    pm_metric_counter(sname, shelp, "reason=\"notify\"");
	bounce_m.skip_dbl =
	    pm_metric_counter(sname, shelp, "reason=\"double_bounce\"");
	bounce_m.skip_null =
	    pm_metric_counter(sname, shelp, "reason=\"null_sender\"");
	bounce_m.err_request =
	    pm_metric_counter(ename, ehelp, "reason=\"request\"");
	bounce_m.err_queue =
	    pm_metric_counter(ename, ehelp, "reason=\"queue\"");
	bounce_m.err_build =
	    pm_metric_counter(ename, ehelp, "reason=\"build\"");
	bounce_m.err_cleanup =
	    pm_metric_counter(ename, ehelp, "reason=\"cleanup\"");
}

static int
bounce_pre_init(void)
{
	bounce_metrics_init();
	bounce_dbl_addr = pm_dsn_qualify(var_double_bounce, var_myorigin);
	bounce_2bounce_addr = pm_dsn_qualify(var_2bounce_rcpt, var_myorigin);
	bounce_cleanup = pm_cleanup_clnt_new(var_cleanup_service,
	    (size_t) var_message_size_limit,
	    (int) (var_bounce_cleanup_tmout * 1000));
	if (bounce_cleanup == NULL) {
		pm_msg_error("cannot use %s = %s", VAR_CLEANUP_SERVICE,
		    var_cleanup_service);
		return (-1);
	}
	return (0);
}

static void *
bounce_thread_init(void)
{
	bounce_worker *w = pm_calloc(1, sizeof(*w));

	w->qs = pm_server_qstore_must();
	return (w);
}

static void
bounce_thread_fini(void *ctx)
{
	bounce_worker *w = ctx;

	if (w != NULL) {
		pm_qstore_close(w->qs);
		free(w);
	}
}

static void
bounce_fini(void)
{
	pm_cleanup_clnt_free(bounce_cleanup);
	bounce_cleanup = NULL;
	free(bounce_dbl_addr);
	free(bounce_2bounce_addr);
	bounce_dbl_addr = bounce_2bounce_addr = NULL;
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_BOUNCE_LISTEN, NULL, &var_bounce_listen, 1, 1024 },
		{ VAR_BOUNCE_METRICS, NULL, &var_bounce_metrics, 0, 1024 },
		{ VAR_DOUBLE_BOUNCE, NULL, &var_double_bounce, 1, 320 },
		{ VAR_2BOUNCE_RCPT, NULL, &var_2bounce_rcpt, 1, 320 },
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_BOUNCE_WORKERS, DEF_BOUNCE_WORKERS, &var_bounce_workers,
		    1, 1024 },
		{ VAR_BOUNCE_LIMIT, DEF_BOUNCE_LIMIT, &var_bounce_limit, 1,
		    1024L * 1024 * 1024 },
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		PM_CFG_DELAY_WARN_TIME,
		PM_CFG_MAX_QUEUE_TIME,
		{ VAR_BOUNCE_CLEANUP_TMOUT, DEF_BOUNCE_CLEANUP_TMOUT,
		    &var_bounce_cleanup_tmout, 's', 1, 3600 },
		{ 0 },
	};
	static const pm_service svc = {
		.name = "bounce",
		.strs = strs,
		.ints = ints,
		.times = times,
		.listen_param = VAR_BOUNCE_LISTEN,
		.workers_param = VAR_BOUNCE_WORKERS,
		.metrics_param = VAR_BOUNCE_METRICS,
		.handler = bounce_handler,
		.thread_init = bounce_thread_init,
		.thread_fini = bounce_thread_fini,
		.pre_init = bounce_pre_init,
		.fini = bounce_fini,
		.queue = 1,
	};

	return (pm_server_main(&svc, argc, argv));
}
