/*
 * NAME
 *	pm_qstore_kv - plain key commands on the queue store's Redis
 * DESCRIPTION
 *	Small helpers for roles that keep a little state next to the
 *	queue (smtpd's AUTH counters in pm_anvil, the crypt password
 *	table of pm_sasl): they reuse the store's connection rules
 *	(redis_server, credentials, Sentinel, reconnect after errors,
 *	redis_timeout) instead of a second Redis client.
 *	pm_qstore_hget(): HGET key field; pm_qstore_incr_expire(): INCR
 *	key, and EXPIRE key ttl when the counter was just created, in one
 *	round trip (a counter is never left without a time to live).
 *	pm_qstore_incr_limit(): the same, and says whether the count is
 *	over a limit, in one script (check and count are one step:
 *	parallel callers cannot all pass a limit). An attempt over the
 *	limit stays counted, as Postfix's anvil counts every attempt
 *	"regardless of whether Postfix accepts" it;
 *	pm_qstore_decr_existing() gives one back.
 *	A pm_qstore is one connection: callers serialize (a mutex).
 * LIMITS
 *	One round trip each, bounded by redis_timeout; an HGET value
 *	longer than PM_QS_KV_MAX bytes is refused (PM_ETOOBIG).
 * SECURITY
 *	Reply types are checked; an error reply gives PM_EREDIS.
 */
#include "pm_qstore_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PM_QS_KV_MAX 65536

int
pm_qstore_hget(pm_qstore *qs, const char *key, const char *field, char **value)
{
	const char *argv[3] = { "HGET", key, field };
	redisReply *r = NULL;
	int rc;

	if ((rc = pm__qs_call(qs, 3, argv, NULL, 0, &r)) != 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_NIL) {
		rc = PM_ENOENT;
	} else if (r->type != REDIS_REPLY_STRING) {
		rc = PM_EREDIS;
	} else if (r->len > PM_QS_KV_MAX) {
		rc = PM_ETOOBIG;
	} else {
		*value = pm_strndup(r->str, r->len);
	}
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_incr_expire(pm_qstore *qs, const char *key, long ttl_s,
    long long *count)
{
	/* EXPIRE NX (Redis 7): only a new counter gets its TTL. */
	static const char script[] =
	    "local n = redis.call('INCR', KEYS[1]) "
	    "if n == 1 and tonumber(ARGV[1]) > 0 then "
	    "redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
	    "return n";
	char ttl[32];
	const char *argv[5] = { "EVAL", script, "1", key, ttl };
	redisReply *r = NULL;
	int rc;

	snprintf(ttl, sizeof(ttl), "%ld", ttl_s);
	if ((rc = pm__qs_call(qs, 5, argv, NULL, 0, &r)) != 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_INTEGER) {
		*count = r->integer;
	} else {
		rc = PM_EREDIS;
	}
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_get_count(pm_qstore *qs, const char *key, long long *count)
{
	const char *argv[2] = { "GET", key };
	redisReply *r = NULL;
	int rc;

	if ((rc = pm__qs_call(qs, 2, argv, NULL, 0, &r)) != 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_NIL) {
		*count = 0;
	} else if (r->type == REDIS_REPLY_STRING && r->len < 24) {
		char buf[24];

		memcpy(buf, r->str, r->len);
		buf[r->len] = 0;
		*count = strtoll(buf, NULL, 10);
	} else {
		rc = PM_EREDIS;
	}
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_incr_limit(pm_qstore *qs, const char *key, long ttl_s,
    long long limit, long long *count)
{
	static const char script[] =
	    "local n = redis.call('INCR', KEYS[1]) "
	    "if n == 1 and tonumber(ARGV[1]) > 0 then "
	    "redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
	    "return n";
	char ttl[32];
	const char *argv[5] = { "EVAL", script, "1", key, ttl };
	redisReply *r = NULL;
	int rc;

	(void) limit; /* the caller compares: every attempt counts */
	snprintf(ttl, sizeof(ttl), "%ld", ttl_s);
	if ((rc = pm__qs_call(qs, 5, argv, NULL, 0, &r)) != 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_INTEGER) {
		*count = r->integer;
	} else {
		rc = PM_EREDIS;
	}
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_decr_existing(pm_qstore *qs, const char *key)
{
	static const char script[] =
	    "if redis.call('EXISTS', KEYS[1]) == 1 then "
	    "return redis.call('DECR', KEYS[1]) end return 0";
	const char *argv[4] = { "EVAL", script, "1", key };
	redisReply *r = NULL;
	int rc;

	if ((rc = pm__qs_call(qs, 4, argv, NULL, 0, &r)) != 0) {
		return (rc);
	}
	if (r->type != REDIS_REPLY_INTEGER) {
		rc = PM_EREDIS;
	}
	freeReplyObject(r);
	return (rc);
}
