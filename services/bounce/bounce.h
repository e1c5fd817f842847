/*
 * NAME
 *	bounce - internal interfaces of the bounce service
 * DESCRIPTION
 *	Shared by bounce.c (start-up, parameters, readiness, metrics) and
 *	bounce_notify.c (the MSG_BOUNCE_NOTIFY handler).
 */
#ifndef BOUNCE_H
#define BOUNCE_H

#include <stddef.h>
#include <stdint.h>

#include "cleanup_clnt.h"
#include "pm_metrics.h"
#include "pm_qstore.h"
#include "pm_util.h"

/* One per RPC worker thread: its own Redis connection. */
typedef struct bounce_worker {
	pm_qstore *qs;
} bounce_worker;

/* Set by bounce.c before the first request; read-only after. */
extern pm_cleanup_clnt *bounce_cleanup; /* thread-safe */
extern char *bounce_dbl_addr;           /* double_bounce_sender@myorigin */
extern char *bounce_2bounce_addr;       /* 2bounce_notice_recipient@... */

/* The RPC handler (pm_rpc_handler). */
int bounce_handler(void *ctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf);

typedef struct bounce_metrics {
	pm_metric *notice[5];   /* by PM_NOTICE_* kind; [0]: double bounce */
	pm_metric *skip_notify; /* no recipient asked for this kind */
	pm_metric *skip_dbl;    /* failed double bounce discarded */
	pm_metric *skip_null;   /* delay/success notice for the null sender */
	pm_metric *err_request;
	pm_metric *err_queue;
	pm_metric *err_build;
	pm_metric *err_cleanup;
} bounce_metrics;

extern bounce_metrics bounce_m;

#endif
