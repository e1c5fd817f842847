/*
 * NAME
 *	discard_params - parameters of the discard delivery agent
 * DESCRIPTION
 *	Postmesh-only parameters (Postfix's discard(8) runs under
 *	master.cf process limits instead). Listen URL defaults are the
 *	library's (pm_params.c).
 */
#ifndef DISCARD_PARAMS_H
#define DISCARD_PARAMS_H

#define VAR_DISCARD_METRICS "discard_metrics_listen" /* http://127.0.0.1:9133 */
#define VAR_DISCARD_SLOTS "discard_delivery_slots"
#define DEF_DISCARD_SLOTS 4

extern char *var_discard_metrics;
extern long var_discard_slots;

#endif
