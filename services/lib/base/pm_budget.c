/*
 * NAME
 *	pm_budget - a process-wide budget of bytes held, with reservations
 * DESCRIPTION
 *	See pm_budget.h. One mutex and one condition variable; a release
 *	wakes every waiter (few wait: cleanup's workers at most), each
 *	checks again whether its reservation fits. used counts what works,
 *	waiting the holds of those who wait; used + waiting never exceeds
 *	the limit.
 * LIMITS
 *	limit bytes; a reservation larger than the limit always fails.
 * SECURITY
 *	Not applicable: process-internal. Releasing more than is reserved
 *	is a bug (PM_ASSERT).
 */
#include "pm_budget.h"
#include "pm_util.h"

#include <errno.h>
#include <time.h>

void
pm_budget_init(pm_budget *b, size_t limit)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	b->limit = limit;
	b->used = 0;
	b->waiting = 0;
	b->peak = 0;
	b->refused = 0;
}

void
pm_budget_destroy(pm_budget *b)
{
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
}

/* Under mu: does n more fit, next to what works and what waits? */
static int
budget_fits(const pm_budget *b, size_t n)
{
	size_t held = b->used + b->waiting;

	if (b->limit == 0) {
		return (n <= SIZE_MAX - held);
	}
	return (n <= b->limit && held <= b->limit - n);
}

/* Under mu: take n (it fits). */
static void
budget_take(pm_budget *b, size_t n)
{
	b->used += n;
	if (b->used > b->peak) {
		b->peak = b->used;
	}
}

/*
 * Under mu: may a caller that holds hold bytes wait for n? Its hold
 * must fit now, and the waiters' holds plus its whole n must fit in
 * the limit, so that the last waiter admitted can always go once
 * nothing else works: waiting never blocks the budget for good.
 */
static int
budget_may_wait(const pm_budget *b, size_t n, size_t hold)
{
	return (b->limit > 0 && n <= b->limit && budget_fits(b, hold) &&
	    b->waiting <= b->limit - n);
}

int
pm_budget_reserve(pm_budget *b, size_t n)
{
	return (pm_budget_reserve_wait(b, n, 0, 0));
}

int
pm_budget_reserve_wait(pm_budget *b, size_t n, size_t hold, int timeout_ms)
{
	struct timespec until;
	int rc = 0, ok;

	if (hold > n) {
		hold = n;
	}
	pthread_mutex_lock(&b->mu);
	if (!budget_fits(b, n) && timeout_ms > 0 &&
	    budget_may_wait(b, n, hold)) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += timeout_ms / 1000;
		until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		b->waiting += hold;
		while (rc != ETIMEDOUT) {
			rc = pthread_cond_timedwait(&b->cv, &b->mu, &until);
			/* our own hold is part of n */
			b->waiting -= hold;
			ok = budget_fits(b, n);
			b->waiting += hold;
			if (ok) {
				break;
			}
		}
		b->waiting -= hold;
		/* Less is waiting now: others may fit. */
		pthread_cond_broadcast(&b->cv);
	}
	if (budget_fits(b, n)) {
		budget_take(b, n);
		rc = 0;
	} else {
		b->refused++;
		rc = PM_EFULL;
	}
	pthread_mutex_unlock(&b->mu);
	return (rc);
}

void
pm_budget_release(pm_budget *b, size_t n)
{
	if (n == 0) {
		return;
	}
	pthread_mutex_lock(&b->mu);
	PM_ASSERT(n <= b->used);
	b->used -= n;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

int
pm_budget_hold(pm_budget *b, size_t *held, size_t need, size_t step)
{
	size_t add, round;
	int rc = 0;

	if (need <= *held) {
		return (0);
	}
	add = need - *held;
	round = add;
	if (step > 1 && add % step != 0 && add <= SIZE_MAX - step) {
		round = add + (step - add % step);
	}
	pthread_mutex_lock(&b->mu);
	/* A whole step if it fits, else just what is needed. */
	if (budget_fits(b, round)) {
		add = round;
	}
	if (budget_fits(b, add)) {
		budget_take(b, add);
		*held += add;
	} else {
		b->refused++;
		rc = PM_EFULL;
	}
	pthread_mutex_unlock(&b->mu);
	return (rc);
}

void
pm_budget_drop(pm_budget *b, size_t *held)
{
	pm_budget_release(b, *held);
	*held = 0;
}

size_t
pm_budget_used(pm_budget *b)
{
	size_t n;

	pthread_mutex_lock(&b->mu);
	n = b->used;
	pthread_mutex_unlock(&b->mu);
	return (n);
}

size_t
pm_budget_peak(pm_budget *b)
{
	size_t n;

	pthread_mutex_lock(&b->mu);
	n = b->peak;
	pthread_mutex_unlock(&b->mu);
	return (n);
}

uint64_t
pm_budget_refused(pm_budget *b)
{
	uint64_t n;

	pthread_mutex_lock(&b->mu);
	n = b->refused;
	pthread_mutex_unlock(&b->mu);
	return (n);
}
