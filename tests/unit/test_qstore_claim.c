/*
 * NAME
 *	test_qstore_claim - claiming new queue entries and finishing them
 * DESCRIPTION
 *	pm_qstore_claim_new() and pm_qstore_finish() (pm_qstore_deliv.c
 *	and its Redis Functions): claim, pending and finish with bodies in
 *	Redis and in files; the per-call max over many shards and the
 *	shard selection; malformed stream entries and bad arguments; a
 *	blocking claim that waits longer than the command timeout; a lost
 *	consumer group; Redis down and back; an fs body whose keys are
 *	gone; and consumers claiming at once (every message exactly once).
 *	Each test starts its own redis-server (qdeliv_helper.h); results
 *	are checked through a second, raw hiredis connection.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pm_log.h"
#include "qdeliv_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_claim");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qdeliv, .init = setup, .fini = teardown, .timeout = 120);

/* Claim, pending, finish; the fs body file goes with the message. */
static void
claim_finish(const char *store)
{
	enum { N = 6, SH = 4 };
	char qids[N][PM_QID_LEN + 1], path[160];
	pm_qentry e[N + 2];
	pm_qsizes sz;
	size_t n, i, j, seen = 0;
	pm_qstore *qs;
	struct stat st;
	int rc;

	rh_start(&srv);
	qs = open_qs(store, SH);
	for (i = 0; i < N; i++) {
		enqueue(qs, SH, 0, qids[i]);
	}
	n = claim(qs, "qmgr-1", NULL, 0, N + 2, 0, e);
	cr_assert_eq(n, N, "claimed: got %zu, want %d", n, N);
	for (i = 0; i < n; i++) {
		cr_expect_eq(e[i].shard, pm_qid_shard(e[i].qid, SH),
		    "%s: shard got %d, want %d", e[i].qid, e[i].shard,
		    pm_qid_shard(e[i].qid, SH));
		for (j = 0; j < N; j++) {
			if (strcmp(e[i].qid, qids[j]) == 0) {
				seen |= 1u << j;
			}
		}
	}
	cr_expect_eq(seen, (1u << N) - 1, "claimed ids: got mask %zx", seen);
	for (i = 0, j = 0; i < SH; i++) {
		j += (size_t) raw_pending((int) i);
	}
	cr_expect_eq(j, N, "pending: got %zu, want %d", j, N);
	cr_expect_eq(claim(qs, "qmgr-1", NULL, 0, 10, 0, e + N), 0,
	    "second claim got entries");
	cr_expect_eq(claim(qs, "qmgr-2", NULL, 0, 10, 0, e + N), 0,
	    "other consumer got entries");
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect_eq(sz.incoming, N, "incoming: got %lld", sz.incoming);
	cr_expect_eq(sz.active, N, "active: got %lld", sz.active);
	for (i = 0; i < n; i++) {
		rc = pm_qstore_finish(qs, &e[i]);
		cr_expect_eq(rc, 0, "finish: got %d (%s)", rc, pm_strerror(rc));
		expect_keys_gone(e[i].qid, SH);
		if (strncmp(store, "fs:", 3) == 0) {
			snprintf(path, sizeof(path), "%s/%c/%s", store + 3,
			    e[i].qid[10], e[i].qid);
			cr_expect(stat(path, &st) != 0, "%s still exists",
			    path);
		}
	}
	/* Finishing again is harmless. */
	cr_expect_eq(pm_qstore_finish(qs, &e[0]), 0);
	for (i = 0; i < SH; i++) {
		cr_expect_eq(rh_int(&srv, "XLEN pm:{%d}:incoming", (int) i), 0);
		cr_expect_eq(raw_pending((int) i), 0);
	}
	cr_expect_eq(rh_int(&srv, "DBSIZE"), SH + 1,
	    "keys left besides the "
	    "streams and pm:queue_shards");
	pm_qstore_close(qs);
	leak_check();
}

Test(qdeliv, claim_finish_redis)
{
	claim_finish("redis");
}

Test(qdeliv, claim_finish_fs)
{
	rh_start(&srv); /* makes qs_fs_store() */
	rh_kill(&srv, SIGTERM);
	claim_finish(qs_fs_store());
}

/* COUNT is per stream: a claim over many shards never exceeds max. */
Test(qdeliv, claim_max_and_shards)
{
	enum { N = 23, SH = 4 };
	static const struct {
		size_t max;
	} cases[] = { { 1 }, { 3 }, { 5 }, { 7 }, { 100 } };
	char qids[N][PM_QID_LEN + 1];
	pm_qentry e[N], one[N];
	size_t n, total, c, i, j, k, in1 = 0;
	int sel[] = { 1 };
	pm_qstore *qs;

	rh_start(&srv);
	qs = open_qs("redis", SH);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		rh_ok(&srv, "FLUSHALL");
		cr_assert_eq(pm_qstore_load_functions(qs), 0);
		for (i = 0; i < N; i++) {
			enqueue(qs, SH, 0, qids[i]);
		}
		total = 0;
		for (k = 0; k < 100 && total < N; k++) {
			n = claim(qs, "q", NULL, 0, cases[c].max, 0, one);
			cr_assert(n > 0,
			    "max %zu: claim returned nothing "
			    "with %zu left",
			    cases[c].max, N - total);
			memcpy(e + total, one, n * sizeof(*one));
			total += n;
		}
		cr_expect_eq(total, N, "max %zu: got %zu, want %d",
		    cases[c].max, total, N);
		for (i = 0; i < total; i++) {
			for (j = i + 1; j < total; j++) {
				cr_expect(strcmp(e[i].qid, e[j].qid) != 0,
				    "%s claimed twice", e[i].qid);
			}
		}
	}
	/* Only the selected shard. */
	rh_ok(&srv, "FLUSHALL");
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	for (i = 0; i < N; i++) {
		enqueue(qs, SH, 0, qids[i]);
		in1 += (pm_qid_shard(qids[i], SH) == 1);
	}
	n = claim(qs, "q", sel, 1, N, 0, e);
	cr_expect_eq(n, in1, "shard 1: got %zu, want %zu", n, in1);
	for (i = 0; i < n; i++) {
		cr_expect_eq(e[i].shard, 1);
		cr_expect_eq(pm_qid_shard(e[i].qid, SH), 1);
	}
	pm_qstore_close(qs);
	leak_check();
}

/* Entries without a valid queue id are acknowledged and removed. */
Test(qdeliv, malformed_entries)
{
	static const char *const bad[] = {
		"XADD pm:{0}:incoming * foo bar",
		"XADD pm:{0}:incoming * qid ../../etc/passwd",
		"XADD pm:{0}:incoming * qid %b",
		"XADD pm:{0}:incoming * qid %s",
		"XADD pm:{0}:incoming * qid 0123456789abcdefghijklmnop",
	};
	char qid[PM_QID_LEN + 1], nul[PM_QID_LEN];
	pm_qentry e[8];
	pm_qstore *qs;
	size_t i, n;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	pm_qid_new(qid);
	memcpy(nul, qid, PM_QID_LEN);
	nul[5] = 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strstr(bad[i], "%b") != NULL) {
			rh_ok(&srv, bad[i], nul, (size_t) PM_QID_LEN);
		} else if (strstr(bad[i], "%s") != NULL) {
			rh_ok(&srv, bad[i], "");
		} else {
			rh_ok(&srv, bad[i]);
		}
	}
	enqueue(qs, 1, 0, qid);
	n = claim(qs, "q", NULL, 0, 8, 0, e);
	cr_assert_eq(n, 1, "claimed: got %zu, want 1", n);
	cr_expect_str_eq(e[0].qid, qid);
	cr_expect_eq(rh_int(&srv, "XLEN pm:{0}:incoming"), 1, "malformed kept");
	cr_expect_eq(raw_pending(0), 1);
	/* Wrong stream type and bad arguments. */
	rh_ok(&srv, "SET pm:{0}:incoming junk");
	cr_expect_eq(pm_qstore_claim_new(qs, "q", NULL, 0, 8, 0, e, &n),
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_claim_stale(qs, "q", NULL, 0, 0, 8, e, &n),
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_finish(qs, &e[0]), PM_EREDIS);
	cr_expect_eq(pm_qstore_requeue_due(qs, 0, 0, 1, &n), PM_EREDIS);
	cr_expect_eq(pm_qstore_ping(qs), 0);
	{
		int dup[] = { 0, 0 }, out[] = { 1 }, neg[] = { -1 };
		char longname[200];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = 0;
		cr_expect_eq(pm_qstore_claim_new(qs, "q", dup, 2, 8, 0, e, &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "q", out, 1, 8, 0, e, &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "q", neg, 1, 8, 0, e, &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "q", out, 0, 8, 0, e, &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, longname, NULL, 0, 8, 0, e,
		                 &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "a\nb", NULL, 0, 8, 0, e,
		                 &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, NULL, NULL, 0, 8, 0, e,
		                 &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "q", NULL, 0, 8, -1, e,
		                 &n),
		    PM_EINVAL);
	}
	pm_qstore_close(qs);
	leak_check();
}

/* A blocking claim waits longer than the command timeout. */
struct late {
	pm_qstore *qs;
	char qid[PM_QID_LEN + 1];
};

static void *
late_enqueue(void *arg)
{
	struct late *l = arg;

	usleep(1300 * 1000);
	enqueue(l->qs, 2, 0, l->qid);
	return (NULL);
}

Test(qdeliv, claim_blocks)
{
	struct late l;
	pthread_t t;
	pm_qentry e[2];
	pm_qstore *qs;
	int64_t t0, ms;
	size_t n;

	rh_start(&srv);
	qs = open_qs("redis", 2); /* command timeout 1000 ms */
	l.qs = open_qs("redis", 2);
	t0 = pm_mono_ms();
	n = claim(qs, "q", NULL, 0, 2, 300, e);
	ms = pm_mono_ms() - t0;
	cr_expect_eq(n, 0);
	cr_expect(ms >= 250 && ms < 1500, "empty block: %lld ms",
	    (long long) ms);
	cr_assert_eq(pthread_create(&t, NULL, late_enqueue, &l), 0);
	t0 = pm_mono_ms();
	n = claim(qs, "q", NULL, 0, 2, 5000, e);
	ms = pm_mono_ms() - t0;
	pthread_join(t, NULL);
	cr_assert_eq(n, 1, "blocking claim: got %zu, want 1 (after %lld ms)", n,
	    (long long) ms);
	cr_expect_str_eq(e[0].qid, l.qid);
	cr_expect(ms >= 1000 && ms < 4000, "woke after %lld ms",
	    (long long) ms);
	cr_expect_eq(pm_qstore_ping(qs), 0, "connection dropped");
	pm_qstore_close(qs);
	pm_qstore_close(l.qs);
	leak_check();
}

/* Redis down: errors; back: the same handle works again. */
Test(qdeliv, redis_down_and_back)
{
	char qid[PM_QID_LEN + 1];
	pm_qentry e[2];
	pm_qsizes sz;
	pm_qstore *qs;
	size_t n = 0, moved;
	int changed;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qid);
	rh_kill(&srv, SIGTERM); /* appendfsync always: nothing is lost */
	cr_expect_eq(pm_qstore_claim_new(qs, "q", NULL, 0, 2, 0, e, &n),
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_claim_stale(qs, "q", NULL, 0, 0, 2, e, &n),
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_sizes(qs, &sz), PM_EREDIS);
	cr_expect_eq(pm_qstore_rcpt_status(qs, qid, 0, "sent", "", "",
	                 &changed),
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_requeue_due(qs, 0, 0, 1, &moved), PM_EREDIS);
	rh_start(&srv);
	n = claim(qs, "q", NULL, 0, 2, 0, e);
	cr_expect_eq(n, 1, "after restart: got %zu, want 1", n);
	cr_expect_eq(pm_qstore_rcpt_status(qs, qid, 0, "sent", "", "",
	                 &changed),
	    0);
	cr_expect_eq(pm_qstore_finish(qs, &e[0]), 0);
	expect_keys_gone(qid, 1);
	pm_qstore_close(qs);
	leak_check();
}

/* fs store: finishing a message whose keys are gone removes the file. */
Test(qdeliv, finish_fs_orphan)
{
	char qid[PM_QID_LEN + 1], path[160], store[96];
	struct stat st;
	pm_qentry e;
	pm_qstore *qs;
	int sh;

	rh_start(&srv);
	strcpy(store, qs_fs_store());
	qs = open_qs(store, 2);
	enqueue(qs, 2, 0, qid);
	sh = pm_qid_shard(qid, 2);
	snprintf(path, sizeof(path), "%s/%c/%s", store + 3, qid[10], qid);
	cr_assert(stat(path, &st) == 0, "%s: no body file", path);
	cr_assert_eq(claim(qs, "q", NULL, 0, 1, 0, &e), 1);
	rh_ok(&srv, "DEL pm:{%d}:m:%s pm:{%d}:r:%s", sh, qid, sh, qid);
	cr_expect_eq(pm_qstore_finish(qs, &e), 0);
	cr_expect(stat(path, &st) != 0, "%s: orphan body file left", path);
	cr_expect_eq(raw_pending(sh), 0);
	cr_expect_eq(rh_int(&srv, "XLEN pm:{%d}:incoming", sh), 0);
	pm_qstore_close(qs);
	leak_check();
}

/* The group was lost (Redis restarted empty, flushed): recreated. */
Test(qdeliv, nogroup_recovery)
{
	char qid[PM_QID_LEN + 1];
	pm_qentry e[2];
	pm_qstore *qs;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qid);
	rh_ok(&srv, "XGROUP DESTROY pm:{0}:incoming qmgr");
	rh_ok(&srv, "FUNCTION FLUSH");
	cr_expect_eq(claim(qs, "q", NULL, 0, 2, 0, e), 1,
	    "claim after the group was lost");
	cr_expect_str_eq(e[0].qid, qid);
	cr_expect_eq(pm_qstore_finish(qs, &e[0]), 0,
	    "finish after FUNCTION FLUSH");
	expect_keys_gone(qid, 1);
	pm_qstore_close(qs);
	leak_check();
}

/* Consumers claiming at once: every message exactly once. */
enum { CC_THREADS = 4, CC_MSGS = 400, CC_SHARDS = 4 };

struct cc {
	int id;
	size_t n;
	pm_qentry e[CC_MSGS];
};

static void *
cc_run(void *arg)
{
	struct cc *c = arg;
	pm_qstore *qs = pm_qstore_open(srv.addr, 2000, "redis", CC_SHARDS);
	char name[16];
	size_t n;
	int idle = 0, i;

	snprintf(name, sizeof(name), "qmgr-%d", c->id);
	while (qs != NULL && idle < 3) {
		if (pm_qstore_claim_new(qs, name, NULL, 0, 7, 50, c->e + c->n,
		        &n) < 0 ||
		    c->n + 7 > CC_MSGS) {
			break;
		}
		idle = n == 0 ? idle + 1 : 0;
		/* Finish half of them at once, like a busy qmgr. */
		for (i = 0; i < (int) n; i += 2) {
			(void) pm_qstore_finish(qs, &c->e[c->n + (size_t) i]);
		}
		c->n += n;
	}
	pm_qstore_close(qs);
	return (NULL);
}

Test(qdeliv, concurrent_consumers)
{
	static struct cc cc[CC_THREADS];
	static char qids[CC_MSGS][PM_QID_LEN + 1];
	pthread_t t[CC_THREADS];
	pm_qstore *qs;
	size_t i, j, k, total = 0, found;

	rh_start(&srv);
	qs = open_qs("redis", CC_SHARDS);
	for (i = 0; i < CC_THREADS; i++) {
		cc[i].id = (int) i;
		cr_assert_eq(pthread_create(&t[i], NULL, cc_run, &cc[i]), 0);
	}
	for (i = 0; i < CC_MSGS; i++) {
		enqueue(qs, CC_SHARDS, 0, qids[i]);
	}
	for (i = 0; i < CC_THREADS; i++) {
		pthread_join(t[i], NULL);
		total += cc[i].n;
	}
	cr_expect_eq(total, CC_MSGS, "claimed: got %zu, want %d", total,
	    CC_MSGS);
	for (k = 0; k < CC_MSGS; k++) {
		found = 0;
		for (i = 0; i < CC_THREADS; i++) {
			for (j = 0; j < cc[i].n; j++) {
				found += strcmp(cc[i].e[j].qid, qids[k]) == 0;
			}
		}
		cr_expect_eq(found, 1, "%s claimed %zu times", qids[k], found);
	}
	pm_qstore_close(qs);
	leak_check();
}
