/*
 * NAME
 *	pm_qstore_info - Redis memory use and limit, for qmgr's gauges
 * DESCRIPTION
 *	pm_qstore_memory() sends INFO memory and gives used_memory and
 *	maxmemory (0: no limit) in bytes. qmgr exports them
 *	(qmgr_gauges.c), so an alert can fire before Redis, full,
 *	answers -OOM and cleanup tempfails every message.
 * LIMITS
 *	One command, bounded by the store's redis_timeout; the reply
 *	(about 1 KB) is read up to its first PM_QS_INFO_MAX bytes.
 * SECURITY
 *	The reply is checked for type; only two decimal fields are read,
 *	each checked for range. An error reply (a user without the INFO
 *	command: -NOPERM) gives PM_EREDIS, a reply without the two
 *	fields PM_EPROTO; neither is logged here (the caller logs once).
 */
#include "pm_qstore_priv.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define PM_QS_INFO_MAX 65536

/* "\r\nname:digits\r\n" in text: the value, -1 if absent or bad. */
static long long
info_field(const char *text, size_t len, const char *name)
{
	size_t nl = strlen(name), i;
	long long v = 0;

	for (i = 0; i + nl + 1 < len; i++) {
		if ((i != 0 && text[i - 1] != '\n') ||
		    strncmp(text + i, name, nl) != 0 || text[i + nl] != ':') {
			continue;
		}
		i += nl + 1;
		if (i >= len || text[i] < '0' || text[i] > '9') {
			return (-1);
		}
		for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
			if (v > (LLONG_MAX - 9) / 10) {
				return (-1);
			}
			v = v * 10 + (text[i] - '0');
		}
		return ((i == len || text[i] == '\r' || text[i] == '\n') ? v :
		                                                           -1);
	}
	return (-1);
}

int
pm_qstore_memory(pm_qstore *qs, long long *used, long long *maxmemory)
{
	const char *argv[] = { "INFO", "memory" };
	redisReply *r = NULL;
	long long u, m;
	size_t len;
	int rc;

	if (used == NULL || maxmemory == NULL) {
		return (PM_EINVAL);
	}
	if (pm__qs_conn(qs) == NULL) {
		return (PM_EREDIS);
	}
	if (pm__qs_appendv(qs, 2, argv) < 0 || pm__qs_read(qs, &r, 1) < 0) {
		return (PM_EREDIS);
	}
	if (r->type == REDIS_REPLY_ERROR) {
		rc = PM_EREDIS; /* e.g. -NOPERM: the caller says so, once */
		goto out;
	}
	if (r->type != REDIS_REPLY_STRING) { /* hiredis 0.14: RESP2 only */
		rc = pm__qs_bad_reply(qs, "INFO memory", "not a string", r);
		goto out;
	}
	len = r->len > PM_QS_INFO_MAX ? PM_QS_INFO_MAX : r->len;
	u = info_field(r->str, len, "used_memory");
	m = info_field(r->str, len, "maxmemory");
	if (u < 0 || m < 0) {
		rc = PM_EPROTO; /* not a Redis we know: the caller says so */
		goto out;
	}
	*used = u;
	*maxmemory = m;
	rc = 0;
out:
	freeReplyObject(r);
	return (rc);
}
