/*
 * NAME
 *	pm_budget - a process-wide budget of bytes held, with reservations
 * SUMMARY
 *	#include "pm_budget.h"
 *	static pm_budget content;
 *	pm_budget_init(&content, limit);
 *	size_t held = 0;
 *	if (pm_budget_hold(&content, &held, need, step) != 0) ... refuse
 *	pm_budget_drop(&content, &held);
 * DESCRIPTION
 *	Bounds the message content a process keeps in memory at once
 *	(smtpd_content_memory_limit, cleanup_content_memory_limit): each
 *	holder reserves bytes before it stores them and releases them when
 *	it lets go; a reservation that would take the total over the limit
 *	fails, and the holder refuses its message (451 4.3.1), as Postfix
 *	does when it runs short of queue space.
 *
 *	pm_budget_reserve() reserves n bytes or fails at once;
 *	pm_budget_reserve_wait() waits up to timeout_ms for others to
 *	release. A caller that already holds hold bytes of its n (cleanup:
 *	the request it received) has them counted while it waits, so what
 *	works and what waits together stay within the limit; it may wait
 *	only while the waiters' holds and its whole n fit in the limit, so
 *	the last one admitted can always go once the work in progress is
 *	done, and waiting never blocks the budget for good. Otherwise it
 *	fails at once. pm_budget_hold() keeps a holder's running total (*held) at
 *	least need, reserving in multiples of step, so that a growing
 *	buffer asks for more only every step bytes; pm_budget_drop()
 *	releases whatever a holder has, also a partial reservation of an
 *	aborted message. A limit of 0 means no limit (used is still
 *	counted).
 * LIMITS
 *	limit bytes reserved at once.
 * SECURITY
 *	Not applicable: process-internal. Thread-safe (one mutex).
 */
#ifndef PM_BUDGET_H
#define PM_BUDGET_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pm_budget {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t limit;     /* 0: unlimited */
	size_t used;      /* under mu: reserved by those who work */
	size_t waiting;   /* under mu: held by those who wait */
	size_t peak;      /* under mu: highest used */
	uint64_t refused; /* under mu: reservations that failed */
} pm_budget;

void pm_budget_init(pm_budget *b, size_t limit);
void pm_budget_destroy(pm_budget *b);
/* 0, or PM_EFULL (nothing reserved). */
int pm_budget_reserve(pm_budget *b, size_t n);
/*
 * As pm_budget_reserve(), waiting up to timeout_ms for room; hold (at
 * most n) is what the caller holds already, counted while it waits.
 */
int pm_budget_reserve_wait(pm_budget *b, size_t n, size_t hold, int timeout_ms);
void pm_budget_release(pm_budget *b, size_t n);
/*
 * Make *held at least need, reserving the difference rounded up to a
 * multiple of step (0: exactly), or only the difference when the whole
 * step does not fit. 0, or PM_EFULL with *held unchanged.
 */
int pm_budget_hold(pm_budget *b, size_t *held, size_t need, size_t step);
/* Release *held and set it to 0. */
void pm_budget_drop(pm_budget *b, size_t *held);
size_t pm_budget_used(pm_budget *b);
size_t pm_budget_peak(pm_budget *b);
uint64_t pm_budget_refused(pm_budget *b);

#endif
