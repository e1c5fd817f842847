/*
 * NAME
 *	test_budget - unit tests of pm_budget (content memory budget)
 * DESCRIPTION
 *	Table-driven steps on one budget: reserve and release, a
 *	reservation over the limit (all or nothing), holders that grow in
 *	steps, and the release of a partial reservation when a message is
 *	given up; the used total must come back to 0 (no leaked
 *	reservation). A waiting reservation succeeds when another thread
 *	releases and times out when none does; what a waiter holds counts
 *	while it waits, and a waiter that could block the budget for good
 *	is refused at once.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "pm_budget.h"
#include "pm_util.h"

enum { OP_RESERVE, OP_RELEASE, OP_HOLD, OP_DROP };

Test(budget, steps)
{
	static const struct {
		int op;
		int holder;  /* OP_HOLD/OP_DROP: which of 3 holders */
		size_t n;    /* bytes (OP_HOLD: need) */
		size_t step; /* OP_HOLD */
		int rc;
		size_t used; /* want after the step */
		size_t held; /* want for the holder after the step */
	} st[] = {
		{ OP_RESERVE, 0, 400, 0, 0, 400, 0 },
		{ OP_RESERVE, 0, 600, 0, 0, 1000, 0 },
		{ OP_RESERVE, 0, 1, 0, PM_EFULL, 1000, 0 }, /* full */
		{ OP_RELEASE, 0, 1000, 0, 0, 0, 0 },
		{ OP_RESERVE, 0, 1001, 0, PM_EFULL, 0, 0 },     /* over limit */
		{ OP_RESERVE, 0, SIZE_MAX, 0, PM_EFULL, 0, 0 }, /* overflow */
		/* holders grow in steps of 256 */
		{ OP_HOLD, 0, 1, 256, 0, 256, 256 },
		{ OP_HOLD, 0, 256, 256, 0, 256, 256 }, /* has it */
		{ OP_HOLD, 0, 257, 256, 0, 512, 512 },
		/* a whole step does not fit, what is needed does */
		{ OP_HOLD, 1, 300, 256, 0, 812, 300 },
		{ OP_HOLD, 1, 513, 256, PM_EFULL, 812, 300 }, /* unchanged */
		{ OP_HOLD, 2, 200, 0, PM_EFULL, 812, 0 },
		/* holder 1 gives up: its partial reservation comes back */
		{ OP_DROP, 1, 0, 0, 0, 512, 0 },
		{ OP_HOLD, 2, 10, 0, 0, 522, 10 },
		{ OP_HOLD, 2, 600, 0, PM_EFULL, 522, 10 },
		{ OP_HOLD, 2, SIZE_MAX, 256, PM_EFULL, 522, 10 },
		{ OP_DROP, 0, 0, 0, 0, 10, 0 },
		{ OP_DROP, 2, 0, 0, 0, 0, 0 },
		{ OP_DROP, 2, 0, 0, 0, 0, 0 },            /* twice */
		{ OP_HOLD, 0, 1000, 256, 0, 1000, 1000 }, /* not 1024 */
		{ OP_DROP, 0, 0, 0, 0, 0, 0 },
	};
	pm_budget b;
	size_t held[3] = { 0, 0, 0 };
	size_t i;
	int rc = 0;

	pm_budget_init(&b, 1000);
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		switch (st[i].op) {
		case OP_RESERVE:
			rc = pm_budget_reserve(&b, st[i].n);
			break;
		case OP_RELEASE:
			pm_budget_release(&b, st[i].n);
			rc = 0;
			break;
		case OP_HOLD:
			rc = pm_budget_hold(&b, &held[st[i].holder], st[i].n,
			    st[i].step);
			break;
		default:
			pm_budget_drop(&b, &held[st[i].holder]);
			rc = 0;
			break;
		}
		cr_expect_eq(rc, st[i].rc, "step %zu: rc got %d, want %d", i,
		    rc, st[i].rc);
		cr_expect_eq(pm_budget_used(&b), st[i].used,
		    "step %zu: used got %zu, want %zu", i, pm_budget_used(&b),
		    st[i].used);
		if (st[i].op == OP_HOLD || st[i].op == OP_DROP) {
			cr_expect_eq(held[st[i].holder], st[i].held,
			    "step %zu: held got %zu, want %zu", i,
			    held[st[i].holder], st[i].held);
		}
	}
	cr_expect_eq(pm_budget_peak(&b), 1000, "peak got %zu, want 1000",
	    pm_budget_peak(&b));
	cr_expect_eq(pm_budget_refused(&b), 7, "refused got %llu, want 7",
	    (unsigned long long) pm_budget_refused(&b));
	pm_budget_destroy(&b);
}

Test(budget, unlimited)
{
	pm_budget b;
	size_t held = 0;

	pm_budget_init(&b, 0);
	cr_expect_eq(pm_budget_reserve(&b, 1UL << 40), 0);
	cr_expect_eq(pm_budget_hold(&b, &held, 5, 4), 0);
	cr_expect_eq(held, 8, "held got %zu, want 8", held);
	cr_expect_eq(pm_budget_reserve(&b, SIZE_MAX), PM_EFULL);
	pm_budget_drop(&b, &held);
	pm_budget_release(&b, 1UL << 40);
	cr_expect_eq(pm_budget_used(&b), 0);
	pm_budget_destroy(&b);
}

static void *
release_later(void *arg)
{
	usleep(100000);
	pm_budget_release(arg, 600);
	return (NULL);
}

Test(budget, wait)
{
	pm_budget b;
	pthread_t t;

	pm_budget_init(&b, 1000);
	cr_assert_eq(pm_budget_reserve(&b, 600), 0);
	/* nobody releases: times out */
	cr_expect_eq(pm_budget_reserve_wait(&b, 500, 0, 50), PM_EFULL);
	/* over the limit: fails at once, never waits */
	cr_expect_eq(pm_budget_reserve_wait(&b, 1001, 0, 60000), PM_EFULL);
	pthread_create(&t, NULL, release_later, &b);
	cr_expect_eq(pm_budget_reserve_wait(&b, 500, 0, 10000), 0);
	pthread_join(t, NULL);
	cr_expect_eq(pm_budget_used(&b), 500);
	pm_budget_release(&b, 500);
	pm_budget_destroy(&b);
}

struct waiter {
	pm_budget *b;
	size_t n, hold;
	int rc;
};

static void *
wait_run(void *arg)
{
	struct waiter *w = arg;

	w->rc = pm_budget_reserve_wait(w->b, w->n, w->hold, 10000);
	return (NULL);
}

static size_t
waiting(pm_budget *b)
{
	size_t n;

	pthread_mutex_lock(&b->mu);
	n = b->waiting;
	pthread_mutex_unlock(&b->mu);
	return (n);
}

/*
 * What a waiter holds counts while it waits: nobody else gets it, and
 * nobody may wait whose whole reservation would not fit next to the
 * holds of those waiting (so waiting never blocks the budget for good).
 */
Test(budget, wait_with_hold)
{
	struct waiter w = { NULL, 500, 200, -99 };
	pm_budget b;
	pthread_t t;
	int i;

	pm_budget_init(&b, 1000);
	w.b = &b;
	cr_assert_eq(pm_budget_reserve(&b, 600), 0);
	pthread_create(&t, NULL, wait_run, &w);
	for (i = 0; i < 20000 && waiting(&b) != 200; i++) {
		usleep(1000);
	}
	cr_assert_eq(waiting(&b), 200, "waiting got %zu, want 200",
	    waiting(&b));
	/* 600 working + 200 held by the waiter: 250 more does not fit */
	cr_expect_eq(pm_budget_reserve(&b, 250), PM_EFULL);
	cr_expect_eq(pm_budget_reserve(&b, 200), 0);
	pm_budget_release(&b, 200);
	/* may not wait: 200 waiting + 900 > 1000 (fails at once) */
	cr_expect_eq(pm_budget_reserve_wait(&b, 900, 100, 60000), PM_EFULL);
	/* may not wait: its own hold does not fit now */
	cr_expect_eq(pm_budget_reserve_wait(&b, 300, 300, 60000), PM_EFULL);
	cr_expect_eq(w.rc, -99, "the waiter went early");
	pm_budget_release(&b, 600);
	pthread_join(t, NULL);
	cr_expect_eq(w.rc, 0, "waiter got %d, want 0", w.rc);
	cr_expect_eq(pm_budget_used(&b), 500);
	cr_expect_eq(waiting(&b), 0);
	pm_budget_release(&b, 500);
	pm_budget_destroy(&b);
}
