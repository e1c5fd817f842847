/*
 * NAME
 *	pm_qstore_health - is Redis up, loading, and how often it came back
 * DESCRIPTION
 *	pm_qstore_probe() tells "Redis answers" from "Redis is loading its
 *	data" (every command but a few gets -LOADING while it replays its
 *	append file after a restart) from "Redis is away"; the server's
 *	readiness and the postmesh_redis_* metrics use it
 *	(pm_server_redis.c). pm_qstore_reconnects() counts connections
 *	made again after an outage (pm__qs_conn), over every store of the
 *	process.
 * LIMITS
 *	One PING, bounded by the store's redis_timeout.
 * SECURITY
 *	The reply is checked for type; nothing from it is kept.
 */
#include "pm_qstore_priv.h"

#include <stdatomic.h>
#include <string.h>

static atomic_ullong qs_reconnects;

void
pm__qs_reconnected(void)
{
	atomic_fetch_add(&qs_reconnects, 1);
}

unsigned long long
pm_qstore_reconnects(void)
{
	return (atomic_load(&qs_reconnects));
}

int
pm_qstore_probe(pm_qstore *qs)
{
	const char *argv[] = { "PING" };
	redisReply *r;
	int rc;

	if (pm__qs_conn(qs) == NULL) {
		/* the connect's first command got -LOADING (conn_err says) */
		return (strstr(qs->conn_err, ": LOADING") != NULL ? PM_EAGAIN :
		                                                    PM_EREDIS);
	}
	if (pm__qs_appendv(qs, 1, argv) < 0 || pm__qs_read(qs, &r, 1) < 0) {
		return (PM_EREDIS);
	}
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) {
		rc = 0;
	} else if (pm__qs_is_err(r, "LOADING")) {
		rc = PM_EAGAIN;
	} else {
		rc = PM_EREDIS;
	}
	freeReplyObject(r);
	return (rc);
}
