/*
 * NAME
 *	test_breaker - the circuit breaker in front of a Redis cache
 * DESCRIPTION
 *	pm_breaker (services/lib/queue/pm_breaker.c): a free breaker gives
 *	the connection; a caller that finds it held longer than
 *	PM_BREAKER_LOCK_WAIT_MS is refused (PM_EAGAIN) instead of
 *	queueing; a failure opens the circuit: callers are refused at once
 *	for the retry delay, then one caller at a time goes through (the
 *	others are refused while it tries); its success closes the circuit
 *	and its failure opens it again.
 */
#include "pm_breaker.h"
#include "pm_util.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

/*
 * Each of three calls is refused (PM_EAGAIN); returns the fastest one's
 * time in ms. A refusal "at once" takes no time, one that waits for the
 * lock takes PM_BREAKER_LOCK_WAIT_MS; a single call that a loaded
 * machine descheduled could take 20 ms and more, three in a row do not.
 * A refusal changes no state, so three are as good as one.
 */
static int64_t
refused_ms(pm_breaker *b)
{
	int64_t t0, dt, best = INT64_MAX;
	int i;

	for (i = 0; i < 3; i++) {
		t0 = pm_mono_ms();
		cr_expect_eq(pm_breaker_enter(b), PM_EAGAIN);
		dt = pm_mono_ms() - t0;
		best = dt < best ? dt : best;
	}
	return (best);
}

Test(breaker, free_and_busy)
{
	pm_breaker *b = pm_breaker_new_ms(200);
	int64_t t0;

	cr_assert_eq(pm_breaker_enter(b), 0);
	t0 = pm_mono_ms();
	/* held (by this thread: timedlock on a normal mutex just waits) */
	cr_expect_eq(pm_breaker_enter(b), PM_EAGAIN);
	cr_expect_geq(pm_mono_ms() - t0, PM_BREAKER_LOCK_WAIT_MS - 5);
	cr_expect_lt(pm_mono_ms() - t0, PM_BREAKER_LOCK_WAIT_MS + 500);
	pm_breaker_leave(b, 0);
	cr_expect_eq(pm_breaker_open(b), 0);
	cr_expect_eq(pm_breaker_enter(b), 0);
	pm_breaker_leave(b, 0);
	pm_breaker_free(b);
}

Test(breaker, open_then_one_probe)
{
	pm_breaker *b = pm_breaker_new_ms(300);

	cr_assert_eq(pm_breaker_enter(b), 0);
	pm_breaker_leave(b, 1);
	cr_expect_eq(pm_breaker_open(b), 1);
	/* open: refused at once */
	cr_expect_lt(refused_ms(b), 20);
	usleep(350 * 1000);
	/* half open: one caller probes, the next is refused at once */
	cr_assert_eq(pm_breaker_enter(b), 0);
	cr_expect_lt(refused_ms(b), 20);
	/* the probe fails: open again */
	pm_breaker_leave(b, 1);
	cr_expect_eq(pm_breaker_enter(b), PM_EAGAIN);
	usleep(350 * 1000);
	cr_assert_eq(pm_breaker_enter(b), 0);
	pm_breaker_leave(b, 0);
	/* closed: every caller goes through */
	cr_expect_eq(pm_breaker_open(b), 0);
	cr_assert_eq(pm_breaker_enter(b), 0);
	pm_breaker_leave(b, 0);
	cr_assert_eq(pm_breaker_enter(b), 0);
	pm_breaker_leave(b, 0);
	pm_breaker_free(b);
}

static void *
holder(void *arg)
{
	pm_breaker *b = arg;

	if (pm_breaker_enter(b) == 0) {
		usleep(600 * 1000); /* a hung Redis call */
		pm_breaker_leave(b, 1);
	}
	return (NULL);
}

Test(breaker, no_queue_behind_a_hung_call)
{
	pm_breaker *b = pm_breaker_new_ms(1000);
	pthread_t t;
	int64_t t0;
	int i;

	pthread_create(&t, NULL, holder, b);
	usleep(50 * 1000);
	for (i = 0; i < 5; i++) {
		t0 = pm_mono_ms();
		cr_expect_eq(pm_breaker_enter(b), PM_EAGAIN);
		cr_expect_lt(pm_mono_ms() - t0, PM_BREAKER_LOCK_WAIT_MS + 100);
	}
	pthread_join(t, NULL);
	cr_expect_lt(refused_ms(b), 20);
	pm_breaker_free(b);
}
