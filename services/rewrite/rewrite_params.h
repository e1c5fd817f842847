/*
 * NAME
 *	rewrite_params - parameters of the rewrite service
 * DESCRIPTION
 *	The service's own parameters. The address rewriting and resolving
 *	parameters it also reads (mydestination, relay_domains,
 *	transport_maps, ...) are declared in rewrite_resolve.h and
 *	pm_common_params.h. String defaults of the listen URLs are the
 *	library's (pm_params.c); NULL in the tables means "lib default".
 */
#ifndef REWRITE_PARAMS_H
#define REWRITE_PARAMS_H

#define VAR_REWRITE_LISTEN "rewrite_listen" /* tcp://127.0.0.1:10010 */
#define VAR_REWRITE_WORKERS "rewrite_workers"
#define DEF_REWRITE_WORKERS 8
#define VAR_REWRITE_METRICS "rewrite_metrics_listen" /* http://127.0.0.1:9110 */

extern char *var_rewrite_listen;
extern long var_rewrite_workers;
extern char *var_rewrite_metrics;

#endif
