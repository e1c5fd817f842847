/*
 * NAME
 *	pm_qstore_lease - leased members of a sorted set (connection counts)
 * DESCRIPTION
 *	A count of things alive across processes (smtpd connections per
 *	client, pm_anvil.h) that survives the death of a process: each
 *	thing is a member of a sorted set scored by the time its lease
 *	ends (Redis TIME, so every replica uses one clock); the count is
 *	the number of members whose lease has not ended. The owner renews
 *	the leases of its live members; a member of a killed process is
 *	no longer counted once its lease ends.
 *
 *	pm_qstore_lease_take(): one script: drop the ended members of
 *	zkey, count one in the rate counter rkey (INCR, EXPIRE rate_ttl_s
 *	on creation; every attempt counts, refused or not, as Postfix's
 *	anvil counts connection attempts), and unless limit or more
 *	members are left or the rate is over rate_limit, add member with
 *	a lease of lease_s. A limit of 0
 *	is off (rate_limit 0: rkey untouched; limit 0: zkey untouched).
 *	out[0] is the verdict (0 taken, 1 over limit, 2 over rate_limit),
 *	out[1] the live count including this member (taken or refused),
 *	out[2] the rate count including this attempt.
 *
 *	pm_qstore_lease_renew(): one script for a batch: ZREM the first
 *	ndrop (key, member) pairs, then give the rest a new lease (ZADD,
 *	so a member lost in a Redis restart comes back) and the keys a
 *	time to live a little longer than the lease.
 * LIMITS
 *	One round trip each, bounded by redis_timeout; a batch of at most
 *	PM_QS_LEASE_BATCH pairs (callers split longer lists).
 * SECURITY
 *	Keys and members are passed as arguments, never inside the
 *	script text. Reply types are checked.
 */
#include "pm_qstore_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
pm_qstore_lease_take(pm_qstore *qs, const char *zkey, const char *member,
    long lease_s, long long limit, const char *rkey, long rate_ttl_s,
    long long rate_limit, long long out[3])
{
	static const char script[] =
	    "local t = redis.call('TIME') "
	    "local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
	    "local lim = tonumber(ARGV[3]) "
	    "local rlim = tonumber(ARGV[4]) "
	    "local n = 0 "
	    "local r = 0 "
	    "if lim > 0 then "
	    " redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
	    " n = redis.call('ZCARD', KEYS[1]) "
	    "end "
	    "if rlim > 0 then "
	    " r = redis.call('INCR', KEYS[2]) "
	    " if r == 1 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end "
	    "end "
	    "if lim > 0 and n >= lim then return {1, n + 1, r} end "
	    "if rlim > 0 and r > rlim then return {2, n + 1, r} end "
	    "if lim > 0 then "
	    " redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) "
	    " redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]) + 1) "
	    "end "
	    "return {0, n + 1, r}";
	char lease[32], lim[32], rlim[32], rttl[32];
	const char *argv[10] = { "EVAL", script, "2", zkey, rkey, member, lease,
		lim, rlim, rttl };
	redisReply *r = NULL;
	size_t i;
	int rc;

	snprintf(lease, sizeof(lease), "%ld", lease_s);
	snprintf(lim, sizeof(lim), "%lld", limit);
	snprintf(rlim, sizeof(rlim), "%lld", rate_limit);
	snprintf(rttl, sizeof(rttl), "%ld", rate_ttl_s);
	if ((rc = pm__qs_call(qs, 10, argv, NULL, 0, &r)) != 0) {
		return (rc);
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
		rc = PM_EREDIS;
		goto out;
	}
	for (i = 0; i < 3; i++) {
		if (r->element[i]->type != REDIS_REPLY_INTEGER) {
			rc = PM_EREDIS;
			goto out;
		}
	}
	for (i = 0; i < 3; i++) {
		out[i] = r->element[i]->integer;
	}
out:
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_lease_renew(pm_qstore *qs, size_t n, const char *const *keys,
    const char *const *members, size_t ndrop, long lease_s)
{
	static const char script[] =
	    "local t = redis.call('TIME') "
	    "local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "
	    "local lease = tonumber(ARGV[1]) "
	    "local d = tonumber(ARGV[2]) "
	    "for i = 1, #KEYS do "
	    " if i <= d then redis.call('ZREM', KEYS[i], ARGV[i + 2]) "
	    " else "
	    "  redis.call('ZADD', KEYS[i], now + lease, ARGV[i + 2]) "
	    "  redis.call('EXPIRE', KEYS[i], lease + 1) "
	    " end "
	    "end "
	    "return #KEYS";
	const char **argv;
	char nk[32], lease[32], nd[32];
	redisReply *r = NULL;
	size_t i;
	int rc;

	if (n == 0) {
		return (0);
	}
	if (n > PM_QS_LEASE_BATCH || ndrop > n) {
		return (PM_EINVAL);
	}
	argv = pm_calloc(5 + 2 * n, sizeof(*argv));
	snprintf(nk, sizeof(nk), "%zu", n);
	snprintf(lease, sizeof(lease), "%ld", lease_s);
	snprintf(nd, sizeof(nd), "%zu", ndrop);
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = nk;
	for (i = 0; i < n; i++) {
		argv[3 + i] = keys[i];
	}
	argv[3 + n] = lease;
	argv[4 + n] = nd;
	for (i = 0; i < n; i++) {
		argv[5 + n + i] = members[i];
	}
	rc = pm__qs_call(qs, (int) (5 + 2 * n), argv, NULL, 0, &r);
	free(argv);
	if (rc != 0) {
		return (rc);
	}
	if (r->type != REDIS_REPLY_INTEGER) {
		rc = PM_EREDIS;
	}
	freeReplyObject(r);
	return (rc);
}
