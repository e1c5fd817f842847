/*
 * NAME
 *	bounce_params - parameters of the bounce service
 * DESCRIPTION
 *	Postfix names and defaults where Postfix has the parameter; the
 *	Postmesh-only ones are marked. bounce.c binds them. String
 *	parameters that the library knows (pm_params.c) take its default
 *	(NULL in the tables). delay_warning_time and
 *	maximal_queue_lifetime belong to qmgr; bounce reads them only for
 *	the wording of delay notices ("could not be delivered for 4
 *	hours", "retried until it is 5 days old").
 */
#ifndef BOUNCE_PARAMS_H
#define BOUNCE_PARAMS_H

#include "pm_mail_params.h"

/* Strings. */
#define VAR_BOUNCE_LISTEN "bounce_listen"           /* Postmesh */
#define VAR_BOUNCE_METRICS "bounce_metrics_listen"  /* Postmesh */
#define VAR_DOUBLE_BOUNCE "double_bounce_sender"    /* double-bounce */
#define VAR_2BOUNCE_RCPT "2bounce_notice_recipient" /* postmaster */

/* Integers. */
#define VAR_BOUNCE_WORKERS "bounce_workers" /* Postmesh */
#define DEF_BOUNCE_WORKERS 8
#define VAR_BOUNCE_LIMIT "bounce_size_limit"
#define DEF_BOUNCE_LIMIT 50000

/* Times. */
#define VAR_BOUNCE_CLEANUP_TMOUT "bounce_cleanup_timeout" /* Postmesh */
#define DEF_BOUNCE_CLEANUP_TMOUT "60s"

extern char *var_bounce_listen;
extern char *var_bounce_metrics;
extern char *var_double_bounce;
extern char *var_2bounce_rcpt;
extern long var_bounce_workers;
extern long var_bounce_limit;
extern long var_bounce_cleanup_tmout;

#endif
