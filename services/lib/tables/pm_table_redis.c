/*
 * NAME
 *	pm_table_redis - redis: lookup tables on the queue store's Redis
 * SUMMARY
 *	#include "pm_table_priv.h"
 * DESCRIPTION
 *	"redis:<prefix>" looks a key up as GET <prefix><key folded to lower
 *	case> on the Redis of the queue (redis_server, with its credentials
 *	and Sentinel: pm_server_qstore_open()), so every replica of a role
 *	sees the same table. postalias loads such a table from an aliases
 *	file in one atomic step (pm_qstore_table_replace()); any other
 *	writer may SET the keys itself.
 *	Redis down, timed out, or a bad reply: the lookup fails with
 *	PM_EREDIS (a temporary error: callers defer or answer 4xx), never
 *	PM_ENOENT. Opening does not need Redis to be up.
 *	One connection per table, used under a mutex (lookups are one GET
 *	each, bounded by redis_timeout).
 * LIMITS
 *	Values up to PM_TABLE_LINE_MAX bytes (a longer one fails the
 *	lookup with PM_ETOOBIG and a warning); keys longer than that are
 *	never found.
 * SECURITY
 *	The prefix comes from the configuration and must not be empty (a
 *	table must not reach the queue's own keys by accident). Values are
 *	checked for NUL bytes; their meaning is the caller's to check.
 */
#include "pm_log.h"
#include "pm_qstore_table.h"
#include "pm_server_queue.h"
#include "pm_table_priv.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct redis_tab {
	pthread_mutex_t mu;
	pm_qstore *qs;
	char *prefix;
} redis_tab;

static void
redis_close(void *impl)
{
	redis_tab *t = impl;

	if (t != NULL) {
		pm_qstore_close(t->qs);
		pthread_mutex_destroy(&t->mu);
		free(t->prefix);
		free(t);
	}
}

static int
redis_open(const char *name, void **impl, const char **err)
{
	redis_tab *t;

	if (*name == 0) {
		*err = "redis: needs a key prefix (redis:pm:alias: e.g.)";
		return (PM_EINVAL);
	}
	if (strlen(name) > PM_TABLE_LINE_MAX) {
		*err = "redis: key prefix too long";
		return (PM_EINVAL);
	}
	t = pm_calloc(1, sizeof(*t));
	pthread_mutex_init(&t->mu, NULL);
	t->prefix = pm_strdup(name);
	if ((t->qs = pm_server_qstore_open()) == NULL) {
		redis_close(t);
		*err = "redis: cannot use redis_server";
		return (PM_EINVAL);
	}
	*impl = t;
	return (0);
}

static int
redis_get(void *impl, const char *key, char **value)
{
	redis_tab *t = impl;
	char *k, *low;
	int rc;

	if (strlen(key) > PM_TABLE_LINE_MAX) {
		return (PM_ENOENT);
	}
	low = pm_lowercase(pm_strdup(key));
	k = pm_asprintf("%s%s", t->prefix, low);
	free(low);
	pthread_mutex_lock(&t->mu);
	rc = pm_qstore_get(t->qs, k, PM_TABLE_LINE_MAX, value);
	pthread_mutex_unlock(&t->mu);
	if (rc == PM_ETOOBIG || rc == PM_EPROTO) {
		char *p = pm_printable_dup(k, strlen(k), 256);

		pm_msg_warn("redis:%s: key %s: %s", t->prefix, p,
		    rc == PM_ETOOBIG ? "value too long" : "bad value");
		free(p);
	} else if (rc != 0 && rc != PM_ENOENT) {
		rc = PM_EREDIS;
	}
	free(k);
	return (rc);
}

const pm__table_ops pm__table_redis_ops = {
	.type = "redis",
	.open = redis_open,
	.get = redis_get,
	.close = redis_close,
};
