/*
 * NAME
 *	test_qstore_defer - defer, requeue, hold and the queue's sizes
 * DESCRIPTION
 *	pm_qstore_defer() and pm_qstore_requeue_due() (the deferred set's
 *	score, attempts, ghosts, order and per-call max), pm_qstore_hold(),
 *	and pm_qstore_sizes() over all shards with the oldest arrival. Each
 *	test starts its own redis-server (qdeliv_helper.h).
 */
#include <criterion/criterion.h>

#include <unistd.h>

#include "pm_log.h"
#include "qdeliv_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_defer");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qdeliv, .init = setup, .fini = teardown, .timeout = 120);

/* Defer with a score, requeue when due, read back attempts. */
Test(qdeliv, defer_requeue)
{
	char qid[PM_QID_LEN + 1], ghost[PM_QID_LEN + 1];
	pm_qentry e[2];
	pm_qmsg *m = NULL;
	pm_qsizes sz;
	int64_t next;
	size_t moved = 99;
	pm_qstore *qs;
	int rc, sh;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qid);
	sh = 0;
	cr_assert_eq(claim(qs, "q", NULL, 0, 5, 0, e), 1);
	next = pm_now_us() + 400 * 1000;
	rc = pm_qstore_defer(qs, &e[0], 3, next);
	cr_assert_eq(rc, 0, "defer: got %d (%s)", rc, pm_strerror(rc));
	cr_expect_eq(rh_int(&srv, "XLEN pm:{%d}:incoming", sh), 0);
	cr_expect_eq(raw_pending(sh), 0);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:{%d}:deferred", sh), 1);
	{
		char *score =
		    rh_str(&srv, "ZSCORE pm:{%d}:deferred %s", sh, qid);

		cr_assert(score != NULL);
		cr_expect_eq(atoll(score), next / 1000,
		    "score: got %s, "
		    "want %lld",
		    score, (long long) (next / 1000));
		free(score);
	}
	rc = pm_qstore_read(qs, qid, &m);
	cr_assert_eq(rc, 0);
	cr_expect_eq(m->attempts, 3);
	cr_expect_eq(m->next_attempt_us, next);
	m = pm_qmsg_free(m);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect(sz.incoming == 0 && sz.active == 0 && sz.deferred == 1,
	    "sizes: got %lld/%lld/%lld", sz.incoming, sz.active, sz.deferred);

	/* A ghost: deferred without a message. */
	pm_qid_new(ghost);
	rh_ok(&srv, "ZADD pm:{0}:deferred 1 %s", ghost);
	/* a moment before the message is due (not the clock: the calls
	 * above may take 400 ms on a loaded machine) */
	rc = pm_qstore_requeue_due(qs, 0, next / 1000 - 1, 100, &moved);
	cr_expect_eq(rc, 0);
	cr_expect_eq(moved, 0, "early: moved %zu, want 0", moved);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:{0}:deferred"), 1,
	    "ghost not removed");
	usleep(500 * 1000);
	rc = pm_qstore_requeue_due(qs, 0, pm_now_us() / 1000, 0, &moved);
	cr_expect(rc == 0 && moved == 0, "max 0: got %d, moved %zu", rc, moved);
	rc = pm_qstore_requeue_due(qs, 0, pm_now_us() / 1000, 100, &moved);
	cr_expect_eq(rc, 0);
	cr_expect_eq(moved, 1, "due: moved %zu, want 1", moved);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:{0}:deferred"), 0);
	cr_expect_eq(rh_int(&srv, "XLEN pm:{0}:incoming"), 1);
	cr_assert_eq(claim(qs, "q2", NULL, 0, 5, 0, e + 1), 1);
	cr_expect_str_eq(e[1].qid, qid);
	cr_expect_str_neq(e[1].id, e[0].id, "same entry id after requeue");
	/* Defer of a message that is gone: entry removed, no ghost. */
	rh_ok(&srv, "DEL pm:{0}:m:%s", qid);
	rc = pm_qstore_defer(qs, &e[1], 4, next);
	cr_expect_eq(rc, PM_ENOENT, "gone: got %d, want ENOENT", rc);
	cr_expect_eq(rh_int(&srv, "XLEN pm:{0}:incoming"), 0);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:{0}:deferred"), 0);
	/* Bad arguments. */
	cr_expect_eq(pm_qstore_requeue_due(qs, 1, 0, 1, &moved), PM_EINVAL);
	cr_expect_eq(pm_qstore_requeue_due(qs, -1, 0, 1, &moved), PM_EINVAL);
	cr_expect_eq(pm_qstore_defer(qs, &e[1], -1, next), PM_EINVAL);
	cr_expect_eq(pm_qstore_defer(qs, &e[1], 1, -5), PM_EINVAL);
	pm_qstore_close(qs);
	leak_check();
}

/* Requeue order (earliest first), the per-call max and the cap. */
Test(qdeliv, requeue_order_and_max)
{
	enum { N = 25 };
	char qids[N][PM_QID_LEN + 1];
	pm_qentry e[N], back[N];
	pm_qstore *qs;
	size_t n, i, moved, total = 0;
	int64_t base = pm_now_us() - 3600LL * 1000000;
	int rounds;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	for (i = 0; i < N; i++) {
		enqueue(qs, 1, 0, qids[i]);
	}
	cr_assert_eq(claim(qs, "q", NULL, 0, N, 0, e), N);
	/* Entry i is due at base + (N - i) ms: the last one first. */
	for (i = 0; i < N; i++) {
		cr_assert_eq(pm_qstore_defer(qs, &e[i], 1,
		                 base + (int64_t) (N - i) * 1000),
		    0);
	}
	cr_expect_eq(pm_qstore_requeue_due(qs, 0, base / 1000 + 3, 100, &moved),
	    0);
	cr_expect_eq(moved, 3, "due by base+3ms: moved %zu, want 3", moved);
	n = claim(qs, "q", NULL, 0, N, 0, back);
	cr_assert_eq(n, 3);
	for (i = 0; i < n; i++) {
		cr_expect_str_eq(back[i].qid, e[N - 1 - i].qid,
		    "requeue order: %zu got %s, want %s", i, back[i].qid,
		    e[N - 1 - i].qid);
	}
	total = 3;
	for (rounds = 0; rounds < 10 && total < N; rounds++) {
		cr_assert_eq(pm_qstore_requeue_due(qs, 0, pm_now_us() / 1000,
		                 10, &moved),
		    0);
		cr_expect(moved <= 10, "moved %zu > max 10", moved);
		total += moved;
	}
	cr_expect_eq(total, N, "requeued: got %zu, want %d", total, N);
	cr_expect_eq(rounds, 3, "rounds: got %d, want 3", rounds);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:{0}:deferred"), 0);
	cr_expect_eq(rh_int(&srv, "XLEN pm:{0}:incoming"), N);
	/* A huge max is capped, not an error. */
	cr_expect_eq(pm_qstore_requeue_due(qs, 0, pm_now_us() / 1000,
	                 (size_t) -1, &moved),
	    0);
	cr_expect_eq(moved, 0);
	pm_qstore_close(qs);
	leak_check();
}

/* Hold: out of the stream, into the hold set; delete clears it. */
Test(qdeliv, hold)
{
	char qid[PM_QID_LEN + 1];
	pm_qentry e;
	pm_qsizes sz;
	pm_qstore *qs;
	int rc;

	rh_start(&srv);
	qs = open_qs("redis", 3);
	enqueue(qs, 3, 0, qid);
	cr_assert_eq(claim(qs, "q", NULL, 0, 1, 0, &e), 1);
	rc = pm_qstore_hold(qs, &e);
	cr_assert_eq(rc, 0, "hold: got %d", rc);
	cr_expect_eq(rh_int(&srv, "SISMEMBER pm:{%d}:hold %s", e.shard, qid),
	    1);
	cr_expect_eq(rh_int(&srv, "XLEN pm:{%d}:incoming", e.shard), 0);
	cr_expect_eq(raw_pending(e.shard), 0);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect(sz.hold == 1 && sz.incoming == 0 && sz.active == 0,
	    "sizes: hold %lld incoming %lld active %lld", sz.hold, sz.incoming,
	    sz.active);
	rc = pm_qstore_delete(qs, qid);
	cr_expect_eq(rc, 0);
	cr_expect_eq(rh_int(&srv, "SCARD pm:{%d}:hold", e.shard), 0);
	rc = pm_qstore_hold(qs, &e);
	cr_expect_eq(rc, PM_ENOENT, "hold of a deleted message: got %d", rc);
	cr_expect_eq(rh_int(&srv, "SCARD pm:{%d}:hold", e.shard), 0);
	pm_qstore_close(qs);
	leak_check();
}

/* Sizes over all shards and the oldest arrival. */
Test(qdeliv, sizes)
{
	enum { SH = 3 };
	static const int64_t arrival[] = { 3000000000000000LL,
		1000000000000000LL, 2000000000000000LL, 4000000000000000LL,
		2500000000000000LL };
	char qids[5][PM_QID_LEN + 1];
	pm_qentry e[5], x;
	pm_qsizes sz;
	pm_qstore *qs;
	size_t n, i;
	int rc;

	rh_start(&srv);
	qs = open_qs("redis", SH);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect(sz.incoming == 0 && sz.active == 0 && sz.deferred == 0 &&
	        sz.hold == 0 && sz.oldest_us == 0,
	    "empty queue not empty");
	for (i = 0; i < 5; i++) {
		enqueue(qs, SH, arrival[i], qids[i]);
	}
	n = claim(qs, "q", NULL, 0, 5, 0, e);
	cr_assert_eq(n, 5);
	/* 1 (oldest) deferred, 3 held, 0 and 2 active, 4 back to new. */
	for (i = 0; i < n; i++) {
		if (strcmp(e[i].qid, qids[1]) == 0) {
			cr_assert_eq(pm_qstore_defer(qs, &e[i], 1,
			                 pm_now_us() + 3600LL * 1000000),
			    0);
		} else if (strcmp(e[i].qid, qids[3]) == 0) {
			cr_assert_eq(pm_qstore_hold(qs, &e[i]), 0);
		} else if (strcmp(e[i].qid, qids[4]) == 0) {
			x = e[i];
			cr_assert_eq(pm_qstore_finish(qs, &x), 0);
		}
	}
	enqueue(qs, SH, arrival[4], qids[4]);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0, "sizes: got %d", rc);
	cr_expect_eq(sz.incoming, 3, "incoming: got %lld, want 3", sz.incoming);
	cr_expect_eq(sz.active, 2, "active: got %lld, want 2", sz.active);
	cr_expect_eq(sz.deferred, 1);
	cr_expect_eq(sz.hold, 1);
	cr_expect_eq(sz.oldest_us, arrival[1], "oldest: got %lld, want %lld",
	    (long long) sz.oldest_us, (long long) arrival[1]);
	cr_expect_eq(raw_xlen_all(SH), 3);
	/* Without the deferred one, the oldest is an incoming entry. */
	cr_assert_eq(pm_qstore_delete(qs, qids[1]), 0);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect_eq(sz.deferred, 0);
	cr_expect(sz.oldest_us == arrival[0] || sz.oldest_us == arrival[2] ||
	        sz.oldest_us == arrival[4],
	    "oldest: got %lld", (long long) sz.oldest_us);
	/* A key of the wrong type is an error, not a crash. */
	rh_ok(&srv, "SET pm:{1}:hold junk");
	rc = pm_qstore_sizes(qs, &sz);
	cr_expect_eq(rc, PM_EREDIS, "wrong type: got %d, want EREDIS", rc);
	cr_expect_eq(pm_qstore_ping(qs), 0);
	pm_qstore_close(qs);
	leak_check();
}
