/*
 * NAME
 *	pm_qstore_attr - extra envelope fields of a queued message
 * DESCRIPTION
 *	See pm_qstore_attr.h. The write is a short EVAL (the script text
 *	travels with every call, so it does not depend on the script
 *	cache, which a Redis restart empties); it touches one key.
 * LIMITS
 *	PM_QSTORE_ATTR_MAX bytes per name and value.
 */
#include "pm_qstore_attr.h"
#include "pm_qstore_priv.h"

#include <stdio.h>
#include <string.h>

static const char attr_set_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end "
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1";

static int
attr_check(const char *qid, const char *field)
{
	return (pm_qid_valid(qid) && field != NULL && *field != 0 &&
	    strlen(field) <= PM_QSTORE_ATTR_MAX);
}

int
pm_qstore_attr_set(pm_qstore *qs, const char *qid, const char *field,
    const char *value)
{
	const char *argv[6];
	char key[QS_KEY_MAX];
	redisReply *r = NULL;
	int rc;

	if (!attr_check(qid, field) || value == NULL ||
	    strlen(value) > PM_QSTORE_ATTR_MAX) {
		return (PM_EINVAL);
	}
	pm__qs_key(key, pm_qid_shard(qid, qs->nshards), "m", qid);
	argv[0] = "EVAL";
	argv[1] = attr_set_lua;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = field;
	argv[5] = value;
	if (pm__qs_conn(qs) == NULL || pm__qs_appendv(qs, 6, argv) < 0 ||
	    pm__qs_read(qs, &r, 1) < 0) {
		return (PM_EREDIS);
	}
	if (r->type == REDIS_REPLY_INTEGER) {
		rc = r->integer < 0 ? PM_ENOENT : 0;
	} else {
		pm__qs_warn_reply(qid, "set envelope field", r);
		rc = PM_EREDIS;
	}
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_attr_get(pm_qstore *qs, const char *qid, const char *field, char *buf,
    size_t size)
{
	const char *argv[4];
	char key[QS_KEY_MAX];
	redisReply *r = NULL;
	int rc = 0;

	if (!attr_check(qid, field) || size == 0) {
		return (PM_EINVAL);
	}
	pm__qs_key(key, pm_qid_shard(qid, qs->nshards), "m", qid);
	argv[0] = "HMGET";
	argv[1] = key;
	argv[2] = "sender";
	argv[3] = field;
	if (pm__qs_conn(qs) == NULL || pm__qs_appendv(qs, 4, argv) < 0 ||
	    pm__qs_read(qs, &r, 1) < 0) {
		return (PM_EREDIS);
	}
	buf[0] = 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
		pm__qs_warn_reply(qid, "get envelope field", r);
		rc = PM_EREDIS;
	} else if (r->element[0]->type != REDIS_REPLY_STRING) {
		rc = PM_ENOENT; /* no sender field: no message */
	} else if (r->element[1]->type == REDIS_REPLY_STRING) {
		if (r->element[1]->len > PM_QSTORE_ATTR_MAX ||
		    memchr(r->element[1]->str, 0, r->element[1]->len)) {
			rc = PM_EINVAL;
		} else {
			(void) snprintf(buf, size, "%s", r->element[1]->str);
		}
	}
	freeReplyObject(r);
	return (rc);
}
