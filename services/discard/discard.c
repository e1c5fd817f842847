/*
 * NAME
 *	discard - Postmesh discard delivery agent
 * SUMMARY
 *	discard [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Postfix's discard(8) as a pm_agent: it serves the transport
 *	"discard". Every recipient of a job is reported as delivered
 *	(status=sent) without delivering anything, dsn 2.0.0 and the text
 *	"discarded", or the job's nexthop when it has one (it may start
 *	with an enhanced status code, whose class is made 2). relay=none.
 *	pm_agent (pm_agent.h) does the rest: fetching work from qmgr,
 *	recording outcomes in Redis, logging, metrics.
 * LIMITS
 *	discard_delivery_slots jobs at once (default 4); the text is cut to
 *	fit pm_job_rcpt.text.
 * SECURITY
 *	The nexthop comes from qmgr (from rewrite and the operator's
 *	tables); pm_job_set makes it printable. No content is read.
 */
#include <string.h>

#include "discard_params.h"
#include "pm_agent.h"
#include "pm_dsn.h"
#include "pm_server.h"

char *var_discard_metrics;
long var_discard_slots;

static void
discard_deliver(void *ctx, pm_job *job)
{
	const char *text;
	char dsn[16];

	(void) ctx;
	pm_dsn_split(job->nexthop, "2.0.0", dsn, &text);
	strcpy(job->relay, "none");
	job->conn_ms = job->xfer_ms = 0;
	job->dest_failed = 0;
	pm_job_set_all(job, PM_JOB_SENT, dsn, "%s", *text ? text : "discarded");
}

static const char *const discard_transports[] = { "discard", NULL };

static const pm_agent discard_agent = {
	.name = "discard",
	.transports = discard_transports,
	.slots_param = VAR_DISCARD_SLOTS,
	.deliver = discard_deliver,
};

static int
discard_run(void)
{
	return (pm_agent_run(&discard_agent));
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_DISCARD_METRICS, NULL, &var_discard_metrics, 0, 1024 },
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_DISCARD_SLOTS, DEF_DISCARD_SLOTS, &var_discard_slots, 1,
		    1024 },
		{ 0 },
	};
	static const pm_service svc = {
		.name = "discard",
		.strs = strs,
		.ints = ints,
		.metrics_param = VAR_DISCARD_METRICS,
		.run = discard_run,
		.queue = 1,
	};

	return (pm_server_main(&svc, argc, argv));
}
