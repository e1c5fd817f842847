/*
 * NAME
 *	pm_breaker - fail fast while a Redis cache does not answer
 * SUMMARY
 *	#include "pm_breaker.h"
 * DESCRIPTION
 *	A circuit breaker and the lock around one Redis connection, for
 *	the caches that fail open (anvil counters, the verify cache, the
 *	postscreen cache): a hung Redis must not make every caller wait
 *	redis_timeout in turn behind one mutex.
 *
 *	pm_breaker_enter() gives the caller the connection (0) or says
 *	PM_EAGAIN at once, without touching Redis: the caller then fails
 *	open as for an outage (and logs nothing more: the failure that
 *	opened the circuit was logged). It refuses while the circuit is
 *	open (for redis_cache_retry_delay after a failed call); when that
 *	time has passed, one caller at a time goes through to try Redis
 *	again (the others are refused until it is done); and it refuses
 *	a caller that would wait more than PM_BREAKER_LOCK_WAIT_MS for
 *	the lock (the holder's call is slow: callers do not queue up
 *	behind it). pm_breaker_leave() releases the connection, with
 *	failed != 0 when the call failed as an outage (connection error,
 *	timeout): that opens the circuit; a success closes it.
 *
 *	pm_breaker_new() reads redis_cache_retry_delay (pm_cfg);
 *	pm_breaker_new_ms() takes it in milliseconds (tests).
 *	Thread-safe.
 * LIMITS
 *	A caller waits at most PM_BREAKER_LOCK_WAIT_MS for the lock, plus
 *	its own Redis call (redis_timeout).
 * SECURITY
 *	No input.
 */
#ifndef PM_BREAKER_H
#define PM_BREAKER_H

#define PM_BREAKER_LOCK_WAIT_MS 100

typedef struct pm_breaker pm_breaker;

pm_breaker *pm_breaker_new(void);
pm_breaker *pm_breaker_new_ms(long retry_ms);
pm_breaker *pm_breaker_free(pm_breaker *b);

int pm_breaker_enter(pm_breaker *b);
void pm_breaker_leave(pm_breaker *b, int failed);

/* 1 while the circuit is open (a failure within the retry delay). */
int pm_breaker_open(pm_breaker *b);

#endif
