/*
 * NAME
 *	error - Postmesh error and retry delivery agent
 * SUMMARY
 *	error [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Postfix's error(8) as a pm_agent: it serves the transports
 *	"error" and "retry". Every recipient of a job for "error" bounces,
 *	every recipient of a job for "retry" is deferred, with the job's
 *	nexthop as the reason, as Postfix does for "error:User unknown in
 *	virtual alias table" routes: the reason may start with an
 *	enhanced status code ("5.1.1 User unknown"), else the status is
 *	5.0.0 (4.0.0 for retry); the class always follows the transport.
 *	relay=none. pm_agent (pm_agent.h) does the rest: fetching work
 *	from qmgr, recording outcomes in Redis, logging, metrics.
 * LIMITS
 *	error_delivery_slots jobs at once (default 4); the reason is cut
 *	to fit pm_job_rcpt.text.
 * SECURITY
 *	The nexthop comes from qmgr (from rewrite and the operator's
 *	tables); pm_job_set makes it printable.
 */
#include <string.h>

#include "error_params.h"
#include "pm_agent.h"
#include "pm_dsn.h"
#include "pm_server.h"

char *var_error_metrics;
long var_error_slots;

static void
error_deliver(void *ctx, pm_job *job)
{
	int retry =
	    job->transport != NULL && strcmp(job->transport, "retry") == 0;
	const char *text;
	char dsn[16];

	(void) ctx;
	pm_dsn_split(job->nexthop, retry ? "4.0.0" : "5.0.0", dsn, &text);
	if (*text == 0) {
		text = retry ? "delivery temporarily suspended" :
		               "delivery failed";
	}
	strcpy(job->relay, "none");
	job->conn_ms = job->xfer_ms = 0;
	job->dest_failed = 0;
	pm_job_set_all(job, retry ? PM_JOB_DEFERRED : PM_JOB_BOUNCED, dsn, "%s",
	    text);
}

static const char *const error_transports[] = { "error", "retry", NULL };

static const pm_agent error_agent = {
	.name = "error",
	.transports = error_transports,
	.slots_param = VAR_ERROR_SLOTS,
	.deliver = error_deliver,
};

static int
error_run(void)
{
	return (pm_agent_run(&error_agent));
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_ERROR_METRICS, NULL, &var_error_metrics, 0, 1024 },
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_ERROR_SLOTS, DEF_ERROR_SLOTS, &var_error_slots, 1, 1024 },
		{ 0 },
	};
	static const pm_service svc = {
		.name = "error",
		.strs = strs,
		.ints = ints,
		.metrics_param = VAR_ERROR_METRICS,
		.run = error_run,
		.queue = 1,
	};

	return (pm_server_main(&svc, argc, argv));
}
