/*
 * NAME
 *	test_qmgr_sched - unit tests of pm_sched (qmgr's scheduling logic)
 * DESCRIPTION
 *	Table-driven: retry backoff, grouping of recipients into jobs by
 *	destination with the recipient limit, slow start, dead destination
 *	(backlog handed back, new jobs refused, retry with window 1),
 *	round-robin fairness between destinations and transports, the
 *	transport wait, hostile names, and the string map.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmgr_dest.h"

Test(sched, backoff)
{
	static const struct {
		int64_t min, max;
		int attempts;
		int64_t want;
	} t[] = {
		{ 300, 4000, 0, 300 }, { 300, 4000, 1, 300 },
		{ 300, 4000, 2, 600 }, { 300, 4000, 3, 1200 },
		{ 300, 4000, 4, 2400 }, { 300, 4000, 5, 4000 },
		{ 300, 4000, 100, 4000 }, { 300, 4000, INT_MAX, 4000 },
		{ 1, 10, 4, 8 }, { 1, 10, -5, 1 }, { 0, 0, 3, 0 },
		{ 5, 3, 2, 5 },                   /* max below min: min wins */
		{ 1, INT64_MAX, 200, INT64_MAX }, /* no overflow */
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t got =
		    pm_sched_backoff(t[i].min, t[i].max, t[i].attempts);

		cr_expect(got == t[i].want, "case %zu: got %lld, want %lld", i,
		    (long long) got, (long long) t[i].want);
	}
}

static long
limit_fn(void *arg, const char *transport)
{
	(void) arg;
	if (strcmp(transport, "local") == 0) {
		return (1);
	}
	if (strcmp(transport, "zero") == 0) {
		return (0);
	}
	return (2);
}

Test(sched, group)
{
	static const struct {
		const char *tp[8];
		const char *nh[8];
		size_t n;
		size_t want_jobs;
		size_t want[8]; /* job of each recipient; 99 = skipped */
	} t[] = {
		/* same destination, limit 2: jobs of 2, 2, 1 */
		{ { "smtp", "smtp", "smtp", "smtp", "smtp" },
		    { "a", "a", "a", "a", "a" }, 5, 3, { 0, 0, 1, 1, 2 } },
		/* interleaved destinations keep their own jobs */
		{ { "smtp", "smtp", "smtp", "smtp" }, { "a", "b", "a", "b" }, 4,
		    2, { 0, 1, 0, 1 } },
		/* same nexthop, other transport: other job */
		{ { "smtp", "relay", "smtp" }, { "a", "a", "a" }, 3, 2,
		    { 0, 1, 0 } },
		/* limit 1 (local), limit 0 counts as 1 */
		{ { "local", "local", "zero", "zero" }, { "h", "h", "x", "x" },
		    4, 4, { 0, 1, 2, 3 } },
		/* skipped recipients (already done) get no job */
		{ { NULL, "smtp", NULL, "smtp" }, { NULL, "a", "a", "a" }, 4, 1,
		    { 99, 0, 99, 0 } },
		/* nothing to do */
		{ { NULL, NULL }, { NULL, NULL }, 2, 0, { 99, 99 } },
		/* a nexthop that looks like our key separator is no key */
		{ { "smtp", "smtp" }, { "a\001b", "a" }, 2, 2, { 0, 1 } },
		/* NULL nexthop is the empty nexthop */
		{ { "smtp", "smtp" }, { NULL, "" }, 2, 1, { 0, 0 } },
	};
	size_t i, k, job_of[8], n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = pm_sched_group(t[i].tp, t[i].nh, t[i].n, limit_fn, NULL,
		    job_of);
		cr_expect(n == t[i].want_jobs,
		    "case %zu: got %zu jobs, want "
		    "%zu",
		    i, n, t[i].want_jobs);
		for (k = 0; k < t[i].n; k++) {
			size_t want =
			    t[i].want[k] == 99 ? SIZE_MAX : t[i].want[k];

			cr_expect(job_of[k] == want,
			    "case %zu rcpt %zu: got "
			    "job %zu, want %zu",
			    i, k, job_of[k], want);
		}
	}
}

/* A big message: 10000 recipients, 3 domains, limit 2: no loss. */
Test(sched, group_large)
{
	enum { N = 10000 };
	const char **tp = calloc(N, sizeof(*tp)), **nh = calloc(N, sizeof(*nh));
	size_t *job_of = calloc(N, sizeof(*job_of)), *count, n, i, ones;
	static const char *doms[] = { "a", "b", "c" };

	for (i = 0; i < N; i++) {
		tp[i] = "smtp";
		nh[i] = doms[i % 3];
	}
	n = pm_sched_group(tp, nh, N, limit_fn, NULL, job_of);
	/* a: 3334 rcpts = 1667 jobs; b, c: 3333 = 1667 jobs each */
	cr_assert(n == 5001, "got %zu jobs, want 5001", n);
	count = calloc(n, sizeof(*count));
	for (i = 0; i < N; i++) {
		cr_assert(job_of[i] < n, "rcpt %zu: job %zu out of range", i,
		    job_of[i]);
		count[job_of[i]]++;
	}
	for (i = 0, ones = 0; i < n; i++) {
		cr_expect(count[i] == 1 || count[i] == 2,
		    "job %zu: got %zu "
		    "rcpts, want 1 or 2",
		    i, count[i]);
		ones += count[i] == 1;
	}
	cr_expect(ones == 2, "got %zu jobs of one, want 2", ones);
	free(count);
	free(tp);
	free(nh);
	free(job_of);
}

static long
conc_fn(void *arg, const char *transport)
{
	(void) arg;
	return (strcmp(transport, "slow") == 0 ? 2 : 8);
}

static pm_sched *
mk(long cohort)
{
	pm_sched_cfg cfg = {
		.initial_concurrency = 5,
		.cohort_limit = cohort,
		.dead_ms = 10000,
		.transport_wait_ms = 30000,
		.max_dests = 100,
		.concurrency_limit = conc_fn,
	};

	return (pm_sched_new(&cfg));
}

typedef struct drops {
	size_t n;
	char dsn[16];
	char text[128];
	pm_sched_job *last;
} drops;

static void
drop_fn(void *arg, pm_sched_job *j, const char *dsn, const char *text)
{
	drops *d = arg;

	d->n++;
	d->last = j;
	snprintf(d->dsn, sizeof(d->dsn), "%s", dsn);
	snprintf(d->text, sizeof(d->text), "%s", text);
}

static void
enq(pm_sched *s, pm_sched_job *j, const char *tp, const char *nh, int64_t now)
{
	int rc = pm_sched_enqueue(s, j, tp, nh, now, NULL, 0, NULL, 0);

	cr_assert(rc == 0, "enqueue %s/%s: got %d, want 0", tp, nh, rc);
}

/* Dispatch until nothing more may go; returns how many went. */
static size_t
drain(pm_sched *s, const char *tp, pm_sched_job **out, size_t max)
{
	const char *tps[] = { tp };
	size_t n = 0;
	pm_sched_job *j;

	while (n < max && (j = pm_sched_next(s, tps, 1, 0)) != NULL) {
		out[n++] = j;
	}
	return (n);
}

Test(sched, slow_start)
{
	pm_sched *s = mk(1);
	pm_sched_job jobs[40], *out[40];
	size_t i, n;

	for (i = 0; i < 40; i++) {
		enq(s, &jobs[i], "smtp", "example.com", 0);
	}
	/* initial window 5 */
	n = drain(s, "smtp", out, 40);
	cr_assert(n == 5, "first round: got %zu in flight, want 5", n);
	cr_expect(pm_sched_window(s, "smtp", "example.com") == 5,
	    "got window %ld, want 5",
	    pm_sched_window(s, "smtp", "example.com"));
	/* one success: window 6, and two may go (5-1 in flight, +2) */
	pm_sched_done(s, out[0], PM_SCHED_OK, NULL, NULL, 1, drop_fn, NULL);
	n = drain(s, "smtp", out + 5, 35);
	cr_expect(n == 2, "after a success: got %zu more, want 2", n);
	/* the limit of the transport (8) caps the window */
	for (i = 1; i < 7; i++) {
		pm_sched_done(s, out[i], PM_SCHED_OK, NULL, NULL, 2, drop_fn,
		    NULL);
	}
	cr_expect(pm_sched_window(s, "smtp", "example.com") == 8,
	    "got window %ld, want 8 (limit)",
	    pm_sched_window(s, "smtp", "example.com"));
	/* one failure shrinks it by one, not to zero (cohort 1/8) */
	n = drain(s, "smtp", out, 40);
	cr_expect(n == 8, "refill: got %zu, want 8", n);
	pm_sched_done(s, out[0], PM_SCHED_FAIL, "4.4.1", "refused", 4, drop_fn,
	    NULL);
	cr_expect(pm_sched_window(s, "smtp", "example.com") == 7,
	    "after a failure: got window %ld, want 7",
	    pm_sched_window(s, "smtp", "example.com"));
	/* per-transport limit: "slow" never exceeds 2 */
	for (i = 0; i < 5; i++) {
		enq(s, &jobs[i], "slow", "x", 5);
	}
	n = drain(s, "slow", out, 40);
	cr_expect(n == 2, "slow transport: got %zu in flight, want 2", n);
	pm_sched_free(s);
}

Test(sched, dead_destination)
{
	pm_sched *s = mk(1);
	pm_sched_job jobs[20], extra, *out[20];
	const char *tps[] = { "smtp" };
	char dsn[16], text[64];
	drops dr = { 0 };
	size_t i, n;
	int rc;

	for (i = 0; i < 20; i++) {
		enq(s, &jobs[i], "smtp", "down.example", 0);
	}
	n = drain(s, "smtp", out, 20);
	cr_assert(n == 5, "got %zu, want 5", n);
	/* failures: 1/5 + 1/4 + 1/3 + 1/2 >= 1: dead at the 4th */
	for (i = 0; i < 3; i++) {
		pm_sched_done(s, out[i], PM_SCHED_FAIL, "4.4.1",
		    "connect refused", 10, drop_fn, &dr);
		cr_expect(dr.n == 0, "failure %zu: got %zu dropped, want 0", i,
		    dr.n);
	}
	pm_sched_done(s, out[3], PM_SCHED_FAIL, "4.4.1", "connect refused", 10,
	    drop_fn, &dr);
	cr_expect(dr.n == 15, "dead: got %zu dropped, want 15 (backlog)", dr.n);
	cr_expect(strcmp(dr.dsn, "4.4.1") == 0 &&
	        strcmp(dr.text, "connect refused") == 0,
	    "got reason %s %s, want 4.4.1 "
	    "connect refused",
	    dr.dsn, dr.text);
	cr_expect(pm_sched_window(s, "smtp", "down.example") == 0,
	    "got window %ld, want 0 (dead)",
	    pm_sched_window(s, "smtp", "down.example"));
	cr_expect(pm_sched_nqueued(s) == 0, "got %zu queued, want 0",
	    pm_sched_nqueued(s));
	/* new jobs are refused with the reason until dead_ms passes */
	rc = pm_sched_enqueue(s, &extra, "smtp", "down.example", 5000, dsn,
	    sizeof(dsn), text, sizeof(text));
	cr_expect(rc == PM_EAGAIN, "while dead: got %d, want PM_EAGAIN", rc);
	cr_expect(strcmp(text, "connect refused") == 0, "got text %s", text);
	/* the last job in flight comes back after death: still dead */
	pm_sched_done(s, out[4], PM_SCHED_FAIL, "4.4.1", "timeout", 20, drop_fn,
	    &dr);
	cr_expect(pm_sched_window(s, "smtp", "down.example") == 0,
	    "got window %ld, want still dead",
	    pm_sched_window(s, "smtp", "down.example"));
	/* postqueue -f: alive at once (window 1), without waiting dead_ms */
	cr_expect(pm_sched_flush_dead(s) == 1, "flush: want 1 revived");
	cr_expect(pm_sched_window(s, "smtp", "down.example") == 1,
	    "after flush: got window %ld, want 1",
	    pm_sched_window(s, "smtp", "down.example"));
	cr_expect(pm_sched_flush_dead(s) == 0, "flush again: none dead");
	/* dead again, as before the flush (the test goes on from there) */
	enq(s, &jobs[0], "smtp", "down.example", 30);
	cr_assert(pm_sched_next(s, tps, 1, 30) == &jobs[0], "want job 0");
	pm_sched_done(s, &jobs[0], PM_SCHED_FAIL, "4.4.1", "timeout", 30,
	    drop_fn, &dr);
	cr_expect(pm_sched_window(s, "smtp", "down.example") == 0,
	    "want dead again");
	/* after dead_ms: retried with window 1 */
	rc = pm_sched_enqueue(s, &extra, "smtp", "down.example", 10030, dsn,
	    sizeof(dsn), text, sizeof(text));
	cr_assert(rc == 0, "after dead time: got %d, want 0", rc);
	cr_expect(pm_sched_window(s, "smtp", "down.example") == 1,
	    "got window %ld, want 1",
	    pm_sched_window(s, "smtp", "down.example"));
	enq(s, &jobs[0], "smtp", "down.example", 10010);
	cr_assert(pm_sched_next(s, tps, 1, 10010) == &extra, "want extra");
	cr_expect(pm_sched_next(s, tps, 1, 10010) == NULL,
	    "window 1: a second job went");
	/* it fails again: dead again at once (1/1 >= 1) */
	dr.n = 0;
	pm_sched_done(s, &extra, PM_SCHED_FAIL, "4.4.1", "again", 10020,
	    drop_fn, &dr);
	cr_expect(dr.n == 1 && dr.last == &jobs[0],
	    "got %zu dropped, "
	    "want jobs[0]",
	    dr.n);
	/* cohort limit 0: never dead */
	pm_sched_free(s);
	s = mk(0);
	for (i = 0; i < 20; i++) {
		enq(s, &jobs[i], "smtp", "d", 0);
	}
	for (i = 0; i < 30; i++) {
		n = drain(s, "smtp", out, 20);
		if (n == 0) {
			break;
		}
		while (n > 0) {
			pm_sched_done(s, out[--n], PM_SCHED_FAIL, "4.4.1", "x",
			    1, drop_fn, &dr);
		}
	}
	cr_expect(pm_sched_window(s, "smtp", "d") == 1,
	    "got window %ld, "
	    "want 1 (kept for its failures)",
	    pm_sched_window(s, "smtp", "d"));
	/* forgotten once idle for dead_ms */
	pm_sched_expire(s, 1 + 9999, drop_fn, &dr);
	cr_expect(pm_sched_window(s, "smtp", "d") == 1,
	    "at 9.999s: got "
	    "window %ld, want 1",
	    pm_sched_window(s, "smtp", "d"));
	pm_sched_expire(s, 1 + 10000, drop_fn, &dr);
	cr_expect(pm_sched_window(s, "smtp", "d") == -1,
	    "at 10s: got "
	    "window %ld, want -1 (forgotten)",
	    pm_sched_window(s, "smtp", "d"));
	pm_sched_free(s);
}

/* Failures one message after another (never concurrent) add up. */
Test(sched, sequential_failures)
{
	pm_sched *s = mk(1);
	pm_sched_job j, *out[1];
	drops dr = { 0 };
	size_t i, n;
	int rc;

	for (i = 0; i < 4; i++) {
		enq(s, &j, "smtp", "flaky", (int64_t) i * 100);
		n = drain(s, "smtp", out, 1);
		cr_assert(n == 1, "round %zu: got %zu, want 1", i, n);
		pm_sched_done(s, out[0], PM_SCHED_FAIL, "4.4.1", "refused",
		    (int64_t) i * 100 + 1, drop_fn, &dr);
	}
	cr_expect(pm_sched_window(s, "smtp", "flaky") == 0,
	    "got window "
	    "%ld, want 0 (dead after 4 failures)",
	    pm_sched_window(s, "smtp", "flaky"));
	rc = pm_sched_enqueue(s, &j, "smtp", "flaky", 500, NULL, 0, NULL, 0);
	cr_expect(rc == PM_EAGAIN, "got %d, want PM_EAGAIN", rc);
	/* a success in between resets the count: never dead */
	pm_sched_free(s);
	s = mk(1);
	for (i = 0; i < 12; i++) {
		enq(s, &j, "smtp", "mixed", (int64_t) i);
		n = drain(s, "smtp", out, 1);
		cr_assert(n == 1, "round %zu: got %zu, want 1", i, n);
		pm_sched_done(s, out[0],
		    i % 3 == 2 ? PM_SCHED_OK : PM_SCHED_FAIL, "4.4.1", "x",
		    (int64_t) i, drop_fn, &dr);
	}
	cr_expect(pm_sched_window(s, "smtp", "mixed") != 0,
	    "got dead, want "
	    "alive (successes reset the failure count)");
	pm_sched_free(s);
}

Test(sched, round_robin)
{
	pm_sched *s = mk(1);
	pm_sched_job *big = calloc(1000, sizeof(*big)), small[3], other[2];
	pm_sched_job *j;
	const char *tps[] = { "smtp", "relay" };
	size_t i, nsmall = 0, nother = 0;

	for (i = 0; i < 1000; i++) {
		enq(s, &big[i], "smtp", "huge.example", 0);
	}
	for (i = 0; i < 3; i++) {
		enq(s, &small[i], "smtp", "small.example", 1);
	}
	for (i = 0; i < 2; i++) {
		enq(s, &other[i], "relay", "r.example", 2);
	}
	/* 10 picks: the big backlog gets no more than its share */
	for (i = 0; i < 10; i++) {
		j = pm_sched_next(s, tps, 2, 3);
		cr_assert(j != NULL, "pick %zu: got none", i);
		if (j >= small && j < small + 3) {
			nsmall++;
		} else if (j >= other && j < other + 2) {
			nother++;
		}
		/* complete at once, so only fairness limits the big one */
		pm_sched_done(s, j, PM_SCHED_OK, NULL, NULL, 3, drop_fn, NULL);
	}
	cr_expect(nsmall == 3, "got %zu small jobs, want 3", nsmall);
	cr_expect(nother == 2, "got %zu relay jobs, want 2", nother);
	/* FIFO within a destination */
	j = pm_sched_next(s, tps, 1, 4);
	cr_assert(j != NULL && j >= big && j < big + 1000, "want a big job");
	cr_expect(j == &big[5], "got big[%td], want big[5] (FIFO)", j - big);
	/* unknown and hostile transport names select nothing */
	{
		const char *bad[] = { "nope", "", "smtp\001x", NULL };

		cr_expect(pm_sched_next(s, bad, 4, 5) == NULL,
		    "hostile names selected a job");
	}
	free(big);
	pm_sched_free(s);
}

Test(sched, transport_wait_and_limits)
{
	pm_sched *s = mk(1);
	pm_sched_job a[3], b, c, h;
	drops dr = { 0 };
	char *longname = malloc(PM_SCHED_NAME_MAX + 2);
	int rc;
	size_t n;

	enq(s, &a[0], "local", "host", 0);
	enq(s, &a[1], "local", "host", 20000);
	enq(s, &b, "smtp", "x", 0);
	pm_sched_asked(s, "smtp", 25000);
	/* nothing is 30 s old yet */
	n = pm_sched_expire(s, 29999, drop_fn, &dr);
	cr_expect(n == 0, "at 29.9s: got %zu expired, want 0", n);
	/* local: never asked, a[0] is 30 s old; a[1] stays; smtp asked */
	n = pm_sched_expire(s, 30000, drop_fn, &dr);
	cr_expect(n == 1 && dr.last == &a[0], "at 30s: got %zu, want a[0]", n);
	cr_expect(strcmp(dr.dsn, "4.3.0") == 0 &&
	        strcmp(dr.text, "mail transport unavailable") == 0,
	    "got %s %s", dr.dsn, dr.text);
	n = pm_sched_expire(s, 50000, drop_fn, &dr);
	cr_expect(n == 1 && dr.last == &a[1], "at 50s: got %zu, want a[1]", n);
	n = pm_sched_expire(s, 54000, drop_fn, &dr);
	cr_expect(n == 0, "smtp asked at 25s: got %zu at 54s, want 0", n);
	n = pm_sched_expire(s, 56000, drop_fn, &dr);
	cr_expect(n == 1 && dr.last == &b, "smtp at 56s: got %zu", n);
	cr_expect(pm_sched_ndests(s) == 0, "got %zu dests, want 0",
	    pm_sched_ndests(s));
	/* hostile names */
	memset(longname, 'x', PM_SCHED_NAME_MAX + 1);
	longname[PM_SCHED_NAME_MAX + 1] = 0;
	rc = pm_sched_enqueue(s, &c, longname, "x", 0, NULL, 0, NULL, 0);
	cr_expect(rc == PM_EINVAL, "long transport: got %d", rc);
	rc = pm_sched_enqueue(s, &c, "smtp", longname, 0, NULL, 0, NULL, 0);
	cr_expect(rc == PM_EINVAL, "long nexthop: got %d", rc);
	rc = pm_sched_enqueue(s, &c, "smtp", "a\r\nb", 0, NULL, 0, NULL, 0);
	cr_expect(rc == PM_EINVAL, "CRLF nexthop: got %d", rc);
	rc = pm_sched_enqueue(s, &c, "", "x", 0, NULL, 0, NULL, 0);
	cr_expect(rc == PM_EINVAL, "empty transport: got %d", rc);
	/* max_dests: 100 */
	{
		pm_sched_job *many = calloc(101, sizeof(*many));
		char nh[32];
		int i;

		for (i = 0; i < 100; i++) {
			snprintf(nh, sizeof(nh), "d%d", i);
			enq(s, &many[i], "smtp", nh, 0);
		}
		rc = pm_sched_enqueue(s, &many[100], "smtp", "d100", 0, NULL, 0,
		    NULL, 0);
		cr_expect(rc == PM_ETOOBIG, "101st dest: got %d", rc);
		/* one more job for a known destination is fine */
		rc = pm_sched_enqueue(s, &h, "smtp", "d7", 0, NULL, 0, NULL, 0);
		cr_expect(rc == 0, "known dest: got %d", rc);
		pm_sched_remove(s, &h);
		for (i = 0; i < 100; i++) {
			pm_sched_remove(s, &many[i]);
		}
		cr_expect(pm_sched_ndests(s) == 0 && pm_sched_nqueued(s) == 0,
		    "after removal: got %zu dests %zu queued",
		    pm_sched_ndests(s), pm_sched_nqueued(s));
		free(many);
	}
	free(longname);
	pm_sched_free(s);
}

Test(sched, smap)
{
	pm_smap *m = pm_smap_new();
	char key[32];
	int i, bad = 0;

	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cr_assert(pm_smap_put(m, key, (void *) (intptr_t) (i + 1)) ==
		        NULL,
		    "put %s: replaced something", key);
	}
	cr_expect(pm_smap_count(m) == 5000, "got %zu, want 5000",
	    pm_smap_count(m));
	for (i = 0; i < 5000; i += 2) {
		snprintf(key, sizeof(key), "k%d", i);
		pm_smap_del(m, key);
	}
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		void *v = pm_smap_get(m, key);

		if ((i % 2 == 0 && v != NULL) ||
		    (i % 2 == 1 && v != (void *) (intptr_t) (i + 1))) {
			bad++;
		}
	}
	cr_expect(bad == 0, "got %d wrong lookups, want 0", bad);
	cr_expect(pm_smap_get(m, "") == NULL, "empty key found");
	cr_expect(pm_smap_put(m, "k1", (void *) 7) == (void *) 2,
	    "replace: wrong old value");
	cr_expect(pm_smap_count(m) == 2500, "got %zu, want 2500",
	    pm_smap_count(m));
	pm_smap_free(m);
}
