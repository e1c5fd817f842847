/*
 * NAME
 *	pm_anvil - client rate counters shared by every replica (Redis)
 * SUMMARY
 *	#include "pm_anvil.h"
 * DESCRIPTION
 *	Postfix's anvil(8) counts per client in one process; Postmesh runs
 *	several smtpd replicas, so the counters live in Redis and a limit
 *	holds across them. Each counter is a fixed window of
 *	anvil_rate_time_unit seconds: key "pm:anvil:<what>:<client>:<n>"
 *	where n is the window number (time / unit), INCR'd, with a time to
 *	live of two windows set when it is created.
 *
 *	pm_anvil_open() takes a queue store connection (it keeps it).
 *	pm_anvil_count() reads the current window's count,
 *	pm_anvil_incr() adds one and gives the new count.
 *
 *	pm_anvil_take() checks a limit and counts in one atomic step, so
 *	N parallel callers cannot each see "below the limit" and all go
 *	on: it counts one attempt in the current window, and when that
 *	makes more than limit, slot->held = 0 and slot->count is the count
 *	that stood in the way (the attempt stays counted: Postfix counts
 *	every attempt "regardless of whether Postfix accepts" it). An attempt that
 *	turns out not to count (a good password) is given back with
 *	pm_anvil_release(), on the window it was taken in. Attempts in
 *	flight therefore count until they end.
 *
 *	Connections (concurrency): pm_anvil_connect() counts a client's
 *	live connections across every replica in the sorted set
 *	"pm:anvil:live:<client>", one member per connection (the caller's
 *	unique "<instance>:<session>" string) scored by the end of its
 *	lease (Redis TIME + lease_s). In one script it drops ended
 *	leases, counts the attempt in the connection rate (the window key
 *	of what "connect"; every attempt, refused or not, as Postfix),
 *	refuses when count_limit (0: off) connections are live or the
 *	rate is over rate_limit (0: off), else adds the member. The owner
 *	renews the leases of its live connections with pm_anvil_renew()
 *	(one round trip per PM_QS_LEASE_BATCH) and drops a closed one
 *	there too; a killed owner's connections stop counting when their
 *	leases end. *verdict: PM_ANVIL_OK, PM_ANVIL_COUNT or PM_ANVIL_RATE;
 *	*count and *rate include this connection (as Postfix logs them).
 *
 *	All return 0,
 *	or PM_EREDIS when Redis is unreachable: callers fail open (allow),
 *	and pm_anvil logs one warning per outage, and one line when Redis
 *	answers again (once per process, whichever pm_anvil saw it).
 *	Thread-safe: the one connection is behind a pm_breaker, so after
 *	a failure callers fail open at once for redis_cache_retry_delay,
 *	and a caller does not queue behind a slow call (pm_breaker.h).
 * LIMITS
 *	Each call is one Redis round trip within redis_timeout
 *	(pm_anvil_renew: one per PM_QS_LEASE_BATCH pairs); "what" and
 *	client are cut at 64 and 128 bytes in the key.
 * SECURITY
 *	The client string (an IP address) goes into a key name only.
 */
#ifndef PM_ANVIL_H
#define PM_ANVIL_H

#include "pm_qstore.h"

typedef struct pm_anvil pm_anvil;

/* One attempt taken by pm_anvil_take(). */
typedef struct pm_anvil_slot {
	int held;        /* counted; pm_anvil_release() gives it back */
	long long count; /* after taking, or the count over the limit */
	char key[256];
} pm_anvil_slot;

/* unit_s: the window (anvil_rate_time_unit), >= 1. qs becomes owned. */
pm_anvil *pm_anvil_open(pm_qstore *qs, long unit_s);
pm_anvil *pm_anvil_close(pm_anvil *an);

int pm_anvil_count(pm_anvil *an, const char *what, const char *client,
    long long *count);
int pm_anvil_incr(pm_anvil *an, const char *what, const char *client,
    long long *count);
int pm_anvil_take(pm_anvil *an, const char *what, const char *client,
    long long limit, pm_anvil_slot *slot);
int pm_anvil_release(pm_anvil *an, pm_anvil_slot *slot);

enum { PM_ANVIL_OK = 0, PM_ANVIL_COUNT = 1, PM_ANVIL_RATE = 2 };

int pm_anvil_connect(pm_anvil *an, const char *client, const char *member,
    long lease_s, long long count_limit, long long rate_limit, int *verdict,
    long long *count, long long *rate);
/* ZREM the first ndrop (client, member) pairs, renew the others. */
int pm_anvil_renew(pm_anvil *an, size_t n, const char *const *clients,
    const char *const *members, size_t ndrop, long lease_s);
/* The sorted set of client's live connections (for tests and logs). */
void pm_anvil_live_key(const char *client, char *buf, size_t size);

/* The key of the window holding time now_s (for tests and logs). */
void pm_anvil_key(const pm_anvil *an, const char *what, const char *client,
    long long now_s, char *buf, size_t size);

#endif
