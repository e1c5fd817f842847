/*
 * NAME
 *	cleanup - internal interfaces of the cleanup service
 * DESCRIPTION
 *	Shared by cleanup.c (start-up, tables, readiness, reload) and
 *	cleanup_submit.c (the MSG_CLEANUP_SUBMIT handler).
 *
 *	The tables and the derived pm_cleanup_cfg live in a cleanup_maps
 *	object with a reference count: a request takes a reference for
 *	its whole duration (cleanup_maps_get/put), a reload builds a new
 *	object and swaps it in, so requests in flight finish with the old
 *	tables and no lock is held while a request runs.
 */
#ifndef CLEANUP_H
#define CLEANUP_H

#include <stddef.h>
#include <stdint.h>

#include "pm_budget.h"
#include "pm_snap.h"
#include "cleanup_proc.h"
#include "pm_metrics.h"
#include "pm_qstore.h"
#include "pm_util.h"

typedef struct cleanup_maps {
	pm_cleanup_cfg cfg; /* points at the tables below */
	pm_tables *header_checks;
	pm_tables *body_checks;
	pm_tables *canonical_maps;
	pm_tables *send_canon_maps;
	pm_tables *rcpt_canon_maps;
	pm_tables *virt_alias_maps;
	char **drop_headers;
	char **local_domains;
} cleanup_maps;

/* The current maps (ref->obj), held until cleanup_maps_put (pm_snap). */
pm_snap_ref *cleanup_maps_get(void);
void cleanup_maps_put(pm_snap_ref *ref);

/* One per RPC worker thread. */
typedef struct cleanup_worker {
	pm_qstore *qs;
} cleanup_worker;

/* The RPC handler (pm_rpc_handler). */
int cleanup_handler(void *ctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf);

/* Metrics (registered by cleanup.c before the first request). */
typedef struct cleanup_metrics {
	pm_metric *queued;
	pm_metric *rejected;
	pm_metric *discarded;
	pm_metric *held;
	pm_metric *error;
	pm_metric *queue_writes;
	pm_metric *enqueue_seconds;
	pm_metric *message_bytes;
	pm_metric *content_bytes;
} cleanup_metrics;

extern cleanup_metrics cleanup_m;

/*
 * Redis durability as queue_durability says (cleanup_durable.c):
 * start (first check, then a thread re-checks every
 * queue_durability_check_interval), stop, check now (for /readyz:
 * 0 if durable), and whether submissions are accepted.
 */
int cleanup_durable_start(void);
void cleanup_durable_stop(void);
int cleanup_durable_check(void);
int cleanup_durable_ok(void);

/*
 * Content memory (cleanup_content_memory_limit). A request is charged
 * CLEANUP_CONTENT_COPIES times its size while it is worked on: the
 * request as received, the copy unpacked from it and the processed
 * content that goes to the queue (the Redis write sends it one chunk
 * at a time). A request waits up to CLEANUP_CONTENT_WAIT_MS for room,
 * well within smtpd_cleanup_timeout, then gets 451 4.3.1; while it
 * waits, the copy it holds counts (pm_budget_reserve_wait), so work
 * and waiters together stay within the limit.
 */
#define CLEANUP_CONTENT_COPIES 3
#define CLEANUP_CONTENT_WAIT_MS 10000
extern pm_budget cleanup_content_budget;

#endif
