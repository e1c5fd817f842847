/*
 * NAME
 *	pm_qstore_str - string keys with a time to live (pm_qstore_str.h)
 * DESCRIPTION
 *	GET and SET EX on the queue store's connection.
 * LIMITS
 *	PM_QS_STR_MAX bytes per value.
 * SECURITY
 *	Reply types are checked; an error reply gives PM_EREDIS.
 */
#include "pm_qstore_str.h"
#include "pm_qstore_priv.h"

#include <stdio.h>
#include <string.h>

int
pm_qstore_get_str(pm_qstore *qs, const char *key, char **value)
{
	const char *argv[2] = { "GET", key };
	redisReply *r = NULL;
	int rc;

	if ((rc = pm__qs_call(qs, 2, argv, NULL, 0, &r)) != 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_NIL) {
		rc = PM_ENOENT;
	} else if (r->type != REDIS_REPLY_STRING) {
		rc = PM_EREDIS;
	} else if (r->len > PM_QS_STR_MAX) {
		rc = PM_ETOOBIG;
	} else {
		*value = pm_strndup(r->str, r->len);
	}
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_set_ex(pm_qstore *qs, const char *key, const char *value, long ttl_s)
{
	char ttl[32];
	const char *argv[5] = { "SET", key, value, "EX", ttl };
	redisReply *r = NULL;
	int rc;

	if (strlen(value) > PM_QS_STR_MAX || ttl_s < 1) {
		return (PM_EINVAL);
	}
	snprintf(ttl, sizeof(ttl), "%ld", ttl_s);
	if ((rc = pm__qs_call(qs, 5, argv, NULL, 0, &r)) != 0) {
		return (rc);
	}
	if (r->type != REDIS_REPLY_STATUS) {
		rc = PM_EREDIS;
	}
	freeReplyObject(r);
	return (rc);
}
