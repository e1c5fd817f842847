/*
 * NAME
 *	error_params - parameters of the error delivery agent
 * DESCRIPTION
 *	Postmesh-only parameters (Postfix's error(8) runs under master.cf
 *	process limits instead). Listen URL defaults are the library's
 *	(pm_params.c).
 */
#ifndef ERROR_PARAMS_H
#define ERROR_PARAMS_H

#define VAR_ERROR_METRICS "error_metrics_listen" /* http://127.0.0.1:9132 */
#define VAR_ERROR_SLOTS "error_delivery_slots"
#define DEF_ERROR_SLOTS 4

extern char *var_error_metrics;
extern long var_error_slots;

#endif
