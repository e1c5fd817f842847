/*
 * NAME
 *	rewrite - Postmesh address rewriting and resolving service
 * SUMMARY
 *	rewrite [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Postfix's trivial-rewrite(8) as a service. It answers two requests
 *	(rewrite.proto, over nng REQ/REP on rewrite_listen):
 *	MSG_REWRITE_REWRITE gives the canonical form of an address
 *	(cleanup), MSG_REWRITE_RESOLVE gives its address class and
 *	(transport, nexthop, recipient), and with check_known whether the
 *	recipient exists (smtpd, qmgr). The logic is pm_resolve (lib);
 *	this program is the wiring. docs/rewrite.md describes the classes
 *	and parameters.
 *
 *	SIGHUP reopens every lookup table (and takes parameter values the
 *	server re-read); requests in flight finish with the old tables.
 * LIMITS
 *	rewrite_workers requests at once; PM_RPC_CONTROL_MAX bytes per
 *	request; addresses up to PM_RESOLVE_ADDR_MAX bytes.
 * SECURITY
 *	Requests come from other roles and carry client addresses: they
 *	are checked (type, body, rule, address syntax) before use.
 */
#include "rewrite_resolve.h"
#include "pm_server.h"
#include "rewrite.h"
#include "rewrite_params.h"

#include <stddef.h>

char *var_rewrite_listen;
long var_rewrite_workers;
char *var_rewrite_metrics;

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_REWRITE_LISTEN, NULL, &var_rewrite_listen, 1, 1024 },
		{ VAR_REWRITE_METRICS, NULL, &var_rewrite_metrics, 0, 1024 },
		PM_RESOLVE_CFG_STRS,
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_REWRITE_WORKERS, DEF_REWRITE_WORKERS,
		    &var_rewrite_workers, 1, 1024 },
		{ 0 },
	};
	static const pm_cfg_bool bools[] = {
		PM_RESOLVE_CFG_BOOLS,
		{ 0 },
	};
	static const pm_service svc = {
		.name = "rewrite",
		.strs = strs,
		.ints = ints,
		.bools = bools,
		.listen_param = VAR_REWRITE_LISTEN,
		.workers_param = VAR_REWRITE_WORKERS,
		.metrics_param = VAR_REWRITE_METRICS,
		.handler = rewrite_handler,
		.pre_init = rewrite_pre_init,
		.fini = rewrite_fini,
		.reload = rewrite_reload,
		.ready = rewrite_ready,
	};

	return (pm_server_main(&svc, argc, argv));
}
