/*
 * NAME
 *	pm_server_queue - the queue store connection every Redis role shares
 * SUMMARY
 *	#include "pm_server_queue.h"
 * DESCRIPTION
 *	Roles that use the Redis queue (cleanup, qmgr, bounce, the delivery
 *	agents) open it the same way and report readiness the same way;
 *	this is the one copy of that.
 *
 *	pm_server_qstore_open() opens a queue store from the common
 *	parameters (redis_server, redis_timeout, queue_body_store,
 *	queue_shards); NULL (logged) on bad parameters. The first call
 *	reads redis_password_file (pm_secret) and gives pm_qstore the
 *	credentials every connection sends (AUTH); SIGHUP reads them
 *	again for later connections. The connection
 *	itself is made lazily and remade after errors by pm_qstore.
 *	pm_server_qstore_must() is the same, fatal on failure: for worker
 *	thread set-up, where there is no way to go on.
 *
 *	A service that sets .queue = 1 in its pm_service gets, from
 *	pm_server_main(), one more store kept for the process: opened
 *	after pre_init() (fatal if the parameters are bad), the Redis
 *	Functions loaded into it (a failure is a warning: pm_qstore loads
 *	them again when a call finds none), PINGed for /readyz (and every
 *	second for the postmesh_redis_* metrics, pm_server_redis.c), closed
 *	after fini(). pm_server_queue_lock() lends it to the service (qmgr
 *	hands its messages back through it at stop) until
 *	pm_server_queue_unlock().
 * LIMITS
 *	redis_timeout bounds each PING of a readiness probe.
 * SECURITY
 *	Redis is trusted as configured (see docs/architecture.md).
 */
#ifndef PM_SERVER_QUEUE_H
#define PM_SERVER_QUEUE_H

#include "pm_qstore.h"

pm_qstore *pm_server_qstore_open(void);
pm_qstore *pm_server_qstore_must(void);

pm_qstore *pm_server_queue_lock(void);
void pm_server_queue_unlock(void);

/* For pm_server.c. */
void pm__server_queue_start(void);
/* SIGHUP: redis_user and redis_password_file read again, if used. */
void pm__server_queue_reload(void);
/* 1 if Redis answers PONG (not down, not -LOADING); notes the result
 * in the postmesh_redis_* metrics (pm_server_redis.c). */
int pm__server_queue_ready(void);
void pm__server_queue_stop(void);
/* pm_server_redis.c: the metrics and the probe thread. */
void pm__server_redis_note(int rc);
void pm__server_redis_start(void);
void pm__server_redis_stop(void);

#endif
