/*
 * NAME
 *	test_qadmin - the operator's view of the queue (pm_qadmin)
 * DESCRIPTION
 *	Against a real redis-server (qdeliv_helper.h), three shards:
 *	- a walk pages through 260 messages in incoming, active,
 *	  deferred and hold, every message exactly once in its queue,
 *	  no page over PM_QA_PAGE; pm_qa_read pipelines them back;
 *	- pm_qa_find says where each one is, PM_ENOENT for others;
 *	- deleting during a walk removes everything (the walk survives
 *	  its own removals); requeueing during a walk ends (the walk does
 *	  not meet the entries it added);
 *	- hold of an active message fences the qmgr that held it: its
 *	  finish is refused (PM_ELOST); release puts it into deferred.
 */
#include <criterion/criterion.h>

#include "pm_log.h"
#include "pm_qadmin.h"
#include "qdeliv_helper.h"

#define NSH 3
#define NMSG 260

static void
setup(void)
{
	pm_log_init("postmesh/test_qadmin");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qadmin, .init = setup, .fini = teardown, .timeout = 120);

static char qids[NMSG][PM_QID_LEN + 1];
static pm_qentry ents[64];

/* 260 messages: 20 active, 20 deferred, 10 held, 210 incoming. */
static pm_qstore *
fill(void)
{
	pm_qstore *qs;
	size_t n = 0, got;
	int i;

	rh_start(&srv);
	qs = open_qs("redis", NSH);
	for (i = 0; i < NMSG; i++) {
		enqueue(qs, NSH, 0, qids[i]);
	}
	while (n < 50) {
		got = claim(qs, "q", NULL, 0, 50 - n, 0, ents + n);
		cr_assert(got > 0);
		n += got;
	}
	for (i = 0; i < 20; i++) {
		cr_assert_eq(pm_qstore_defer(qs, &ents[i], 1,
		                 pm_now_us() + 600 * 1000000LL),
		    0);
	}
	for (i = 20; i < 30; i++) {
		cr_assert_eq(pm_qstore_hold(qs, &ents[i]), 0);
	}
	return (qs);
}

static unsigned
queue_of(const char *qid)
{
	int i;

	for (i = 0; i < 20; i++) {
		if (strcmp(ents[i].qid, qid) == 0) {
			return (PM_QA_DEFERRED);
		}
	}
	for (; i < 30; i++) {
		if (strcmp(ents[i].qid, qid) == 0) {
			return (PM_QA_HOLD);
		}
	}
	for (; i < 50; i++) {
		if (strcmp(ents[i].qid, qid) == 0) {
			return (PM_QA_ACTIVE);
		}
	}
	return (PM_QA_INCOMING);
}

static int
index_of(const char *qid)
{
	int i;

	for (i = 0; i < NMSG; i++) {
		if (strcmp(qids[i], qid) == 0) {
			return (i);
		}
	}
	return (-1);
}

Test(qadmin, walk_find_read)
{
	pm_qstore *qs = fill();
	pm_qa_walk *w = pm_qa_walk_new(qs, NSH, PM_QA_ALL);
	const pm_qa_item *it;
	pm_qmsg *m[PM_QA_READ_BATCH];
	unsigned char seen[NMSG] = { 0 };
	size_t n, i, k, pages = 0, per[16] = { 0 };
	pm_qa_item f;
	int x;

	while (pm_qa_walk_next(w, &it, &n) == 0 && n > 0) {
		pages++;
		cr_assert(n <= PM_QA_PAGE, "page of %zu", n);
		for (i = 0; i < n; i++) {
			x = index_of(it[i].qid);
			cr_assert(x >= 0, "unknown %s", it[i].qid);
			cr_expect_eq(seen[x], 0, "%s twice", it[i].qid);
			seen[x] = 1;
			cr_expect_eq(it[i].queue, queue_of(it[i].qid),
			    "%s: queue %s", it[i].qid,
			    pm_qa_queue_name(it[i].queue));
			cr_expect_eq(it[i].shard, pm_qid_shard(it[i].qid, NSH));
			per[it[i].queue]++;
		}
		for (i = 0; i < n; i += k) {
			k = n - i < PM_QA_READ_BATCH ? n - i : PM_QA_READ_BATCH;
			cr_assert_eq(pm_qa_read(qs, it + i, k, m), 0);
			while (k-- > 0) {
				cr_assert(m[k] != NULL);
				cr_expect_str_eq(m[k]->qid, it[i + k].qid);
				cr_expect_eq(m[k]->nrcpt, 4);
				pm_qmsg_free(m[k]);
			}
			k = n - i < PM_QA_READ_BATCH ? n - i : PM_QA_READ_BATCH;
		}
	}
	pm_qa_walk_free(w);
	cr_expect(pages >= 3, "pages %zu", pages);
	cr_expect_eq(per[PM_QA_INCOMING], 210);
	cr_expect_eq(per[PM_QA_ACTIVE], 20);
	cr_expect_eq(per[PM_QA_DEFERRED], 20);
	cr_expect_eq(per[PM_QA_HOLD], 10);

	cr_assert_eq(pm_qa_find(qs, NSH, ents[0].qid, &f), 0);
	cr_expect_eq(f.queue, PM_QA_DEFERRED);
	cr_assert_eq(pm_qa_find(qs, NSH, ents[25].qid, &f), 0);
	cr_expect_eq(f.queue, PM_QA_HOLD);
	cr_assert_eq(pm_qa_find(qs, NSH, ents[40].qid, &f), 0);
	cr_expect_eq(f.queue, PM_QA_ACTIVE);
	cr_expect_str_eq(f.entry, ents[40].id);
	for (x = 0; queue_of(qids[x]) != PM_QA_INCOMING; x++) {
	}
	cr_assert_eq(pm_qa_find(qs, NSH, qids[x], &f), 0);
	cr_expect_eq(f.queue, PM_QA_INCOMING);
	cr_expect_eq(pm_qa_find(qs, NSH, "1M1NbQF9JWFV5B1DJDT", &f), PM_ENOENT);
	cr_expect_eq(pm_qa_find(qs, NSH, "../x", &f), PM_EINVAL);
	pm_qstore_close(qs);
}

/* Apply op to every message of a walk; the count of 0 returns. */
static size_t
apply_all(pm_qstore *qs, int (*op)(pm_qstore *, const pm_qa_item *))
{
	pm_qa_walk *w = pm_qa_walk_new(qs, NSH, PM_QA_ALL);
	const pm_qa_item *it;
	size_t n, i, done = 0, rounds = 0;

	while (pm_qa_walk_next(w, &it, &n) == 0 && n > 0) {
		cr_assert(++rounds < 100, "the walk does not end");
		for (i = 0; i < n; i++) {
			done += op(qs, &it[i]) == 0;
		}
	}
	pm_qa_walk_free(w);
	return (done);
}

Test(qadmin, delete_all)
{
	pm_qstore *qs = fill();
	int s;

	cr_expect_eq(apply_all(qs, pm_qa_delete), NMSG);
	cr_expect_eq(rh_int(&srv, "DBSIZE"), 1 + NSH,
	    "left: queue_shards "
	    "and the streams");
	for (s = 0; s < NSH; s++) {
		cr_expect_eq(rh_int(&srv, "XLEN pm:{%d}:incoming", s), 0);
	}
	pm_qstore_close(qs);
}

Test(qadmin, requeue_all_ends)
{
	pm_qstore *qs = fill();
	int s;

	cr_expect_eq(apply_all(qs, pm_qa_requeue), NMSG);
	for (s = 0; s < NSH; s++) {
		cr_expect_eq(rh_int(&srv, "ZCARD pm:{%d}:deferred", s), 0);
		cr_expect_eq(rh_int(&srv, "SCARD pm:{%d}:hold", s), 0);
		cr_expect_eq(raw_pending(s), 0);
	}
	cr_expect_eq(raw_xlen_all(NSH), NMSG);
	pm_qstore_close(qs);
}

Test(qadmin, hold_active_fences)
{
	pm_qstore *qs = fill();
	pm_qa_item f;

	cr_assert_eq(pm_qa_find(qs, NSH, ents[45].qid, &f), 0);
	cr_assert_eq(f.queue, PM_QA_ACTIVE);
	cr_assert_eq(pm_qa_hold(qs, &f), 0);
	cr_expect_eq(pm_qa_hold(qs, &f), PM_ENOENT, "held already");
	cr_expect_eq(pm_qstore_finish(qs, &ents[45]), PM_ELOST);
	cr_expect_eq(rh_int(&srv, "SISMEMBER pm:{%d}:hold %s", f.shard, f.qid),
	    1);
	cr_expect_eq(raw_owner(&ents[45]), NULL);
	cr_assert_eq(pm_qa_find(qs, NSH, ents[45].qid, &f), 0);
	cr_assert_eq(f.queue, PM_QA_HOLD);
	cr_assert_eq(pm_qa_release(qs, &f), 0);
	cr_expect_eq(pm_qa_release(qs, &f), PM_ENOENT, "not held");
	cr_assert_eq(pm_qa_find(qs, NSH, ents[45].qid, &f), 0);
	cr_expect_eq(f.queue, PM_QA_DEFERRED);
	cr_assert_eq(pm_qa_flush_one(qs, &f), 0);
	cr_assert_eq(pm_qa_find(qs, NSH, ents[45].qid, &f), 0);
	cr_expect_eq(f.queue, PM_QA_INCOMING);
	pm_qstore_close(qs);
}

/*
 * A stale view: pm_qa_find saw the message in one place, a qmgr moved
 * it before the change. Afterwards it is in exactly one place: one
 * stream entry, or deferred, or hold; never none, never two.
 */

/* Stream entries of the message's shard that name qid. */
static int
stream_entries(int shard, const char *qid)
{
	redisReply *r = rh_cmd(&srv, "XRANGE pm:{%d}:incoming - +", shard);
	const redisReply *f;
	size_t i, j;
	int n = 0;

	cr_assert(r->type == REDIS_REPLY_ARRAY);
	for (i = 0; i < r->elements; i++) {
		f = r->element[i]->element[1];
		for (j = 0; j + 1 < f->elements; j += 2) {
			n += strcmp(f->element[j]->str, "qid") == 0 &&
			    strcmp(f->element[j + 1]->str, qid) == 0;
		}
	}
	freeReplyObject(r);
	return (n);
}

static void
expect_only(const pm_qa_item *f, int stream, int deferred, int hold)
{
	cr_expect_eq(stream_entries(f->shard, f->qid), stream,
	    "%s: stream entries", f->qid);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:{%d}:deferred", f->shard), deferred,
	    "%s: deferred", f->qid);
	cr_expect_eq(rh_int(&srv, "SCARD pm:{%d}:hold", f->shard), hold,
	    "%s: hold", f->qid);
}

/* One message, claimed: *f is what pm_qa_find saw before the claim. */
static pm_qstore *
one_claimed(pm_qa_item *f, pm_qentry *e)
{
	pm_qstore *qs;

	rh_start(&srv);
	qs = open_qs("redis", NSH);
	enqueue(qs, NSH, 0, qids[0]);
	cr_assert_eq(pm_qa_find(qs, NSH, qids[0], f), 0);
	cr_assert_eq(f->queue, PM_QA_INCOMING);
	cr_assert_eq(claim(qs, "q", NULL, 0, 1, 0, e), 1);
	cr_assert_str_eq(e->qid, qids[0]);
	return (qs);
}

Test(qadmin, requeue_seen_incoming_now_deferred)
{
	pm_qa_item f;
	pm_qentry e;
	pm_qstore *qs = one_claimed(&f, &e);

	cr_assert_eq(pm_qstore_defer(qs, &e, 1, pm_now_us() + 600000000LL), 0);
	cr_expect_eq(pm_qa_requeue(qs, &f), 0);
	expect_only(&f, 1, 0, 0);
	pm_qstore_close(qs);
}

Test(qadmin, requeue_seen_incoming_now_held)
{
	pm_qa_item f;
	pm_qentry e;
	pm_qstore *qs = one_claimed(&f, &e);

	cr_assert_eq(pm_qstore_hold(qs, &e), 0);
	cr_expect_eq(pm_qa_requeue(qs, &f), 0);
	expect_only(&f, 1, 0, 0);
	pm_qstore_close(qs);
}

/* Seen deferred; the qmgr's requeue_due moved it back to the stream. */
static pm_qstore *
seen_deferred_now_due(pm_qa_item *f)
{
	pm_qentry e;
	size_t moved = 0;
	pm_qstore *qs = one_claimed(f, &e);

	cr_assert_eq(pm_qstore_defer(qs, &e, 1, pm_now_us() + 600000000LL), 0);
	cr_assert_eq(pm_qa_find(qs, NSH, qids[0], f), 0);
	cr_assert_eq(f->queue, PM_QA_DEFERRED);
	cr_assert_eq(pm_qstore_requeue_due(qs, f->shard, INT64_C(1) << 50, 10,
	                 &moved),
	    0);
	cr_assert_eq(moved, 1);
	return (qs);
}

Test(qadmin, requeue_seen_deferred_now_incoming)
{
	pm_qa_item f;
	pm_qstore *qs = seen_deferred_now_due(&f);

	cr_expect_eq(pm_qa_requeue(qs, &f), 0);
	expect_only(&f, 1, 0, 0);
	pm_qstore_close(qs);
}

Test(qadmin, hold_seen_deferred_now_incoming)
{
	pm_qa_item f;
	pm_qstore *qs = seen_deferred_now_due(&f);

	cr_expect_eq(pm_qa_hold(qs, &f), 0);
	expect_only(&f, 0, 0, 1);
	pm_qstore_close(qs);
}

Test(qadmin, requeue_seen_active_now_gone)
{
	pm_qa_item f;
	pm_qentry e;
	pm_qstore *qs = one_claimed(&f, &e);

	cr_assert_eq(pm_qa_find(qs, NSH, qids[0], &f), 0);
	cr_assert_eq(f.queue, PM_QA_ACTIVE);
	cr_assert_eq(pm_qstore_finish(qs, &e), 0);
	cr_expect_eq(pm_qa_requeue(qs, &f), PM_ENOENT);
	cr_expect_eq(pm_qa_hold(qs, &f), PM_ENOENT);
	expect_only(&f, 0, 0, 0);
	pm_qstore_close(qs);
}

/*
 * pm_qa_flush goes on past a page in which an id had no message (the
 * page moved fewer than it took): 1 orphan and 1000 messages (bare m
 * keys are enough for requeue_due), all due.
 */
Test(qadmin, flush_past_orphan)
{
	pm_qstore *qs;
	size_t moved = 0;

	rh_start(&srv);
	qs = open_qs("redis", NSH);
	cr_assert_eq(rh_int(&srv, "EVAL %s 0",
	                 "redis.call('ZADD','pm:{0}:deferred',0,'orphan') "
	                 "for i=1,1000 do "
	                 "redis.call('HSET','pm:{0}:m:x'..i,'a','1') "
	                 "redis.call('ZADD','pm:{0}:deferred',i,'x'..i) end "
	                 "return 1"),
	    1);
	cr_assert_eq(pm_qa_flush(qs, NSH, &moved), 0);
	cr_expect_eq(moved, 1000);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:{0}:deferred"), 0);
	cr_expect_eq(rh_int(&srv, "XLEN pm:{0}:incoming"), 1000);
	pm_qstore_close(qs);
}

/* The flush request counter has no TTL (an expired one reads as 0). */
Test(qadmin, flush_counter_stays)
{
	pm_qstore *qs;
	long long c = -1;

	rh_start(&srv);
	qs = open_qs("redis", NSH);
	cr_assert_eq(pm_qa_flush_request(qs), 0);
	cr_assert_eq(pm_qa_flush_request(qs), 0);
	cr_assert_eq(pm_qa_flush_count(qs, &c), 0);
	cr_expect_eq(c, 2);
	cr_expect_eq(rh_int(&srv, "TTL %s", PM_QA_FLUSH_KEY), -1);
	pm_qstore_close(qs);
}

/* postsuper -e/-f: the flag wherever the message is; -f releases held
 * mail, and mail leaving hold loses the SUBMIT_HOLD flag (4). */
Test(qadmin, expire_flag_and_release)
{
	pm_qstore *qs = fill();
	pm_qa_item f;
	pm_qmsg *m = NULL;
	int rel = -1;

	cr_assert_eq(pm_qa_find(qs, NSH, ents[25].qid, &f), 0);
	cr_assert_eq(f.queue, PM_QA_HOLD);
	cr_assert_eq(pm_qstore_read(qs, f.qid, &m), 0);
	cr_expect_eq(m->expire, 0, "not expired when queued");
	m = pm_qmsg_free(m);
	cr_assert_eq(rh_int(&srv, "HSET pm:{%d}:m:%s flags 4", f.shard, f.qid),
	    0);
	cr_assert_eq(pm_qa_expire(qs, &f, 0, &rel), 0);
	cr_expect_eq(rel, 0);
	cr_assert_eq(pm_qa_find(qs, NSH, ents[25].qid, &f), 0);
	cr_expect_eq(f.queue, PM_QA_HOLD, "-e leaves held mail held");
	cr_assert_eq(pm_qa_expire(qs, &f, 1, &rel), 0);
	cr_expect_eq(rel, 1);
	cr_assert_eq(pm_qa_find(qs, NSH, ents[25].qid, &f), 0);
	cr_expect_eq(f.queue, PM_QA_DEFERRED, "-f releases it");
	cr_assert_eq(pm_qstore_read(qs, f.qid, &m), 0);
	cr_expect_eq(m->expire, 1);
	cr_expect_eq(m->flags & 4u, 0u, "the hold flag is cleared");
	m = pm_qmsg_free(m);
	/* an active message keeps its entry; a deleted one is gone */
	cr_assert_eq(pm_qa_find(qs, NSH, ents[40].qid, &f), 0);
	cr_assert_eq(pm_qa_expire(qs, &f, 1, &rel), 0);
	cr_expect_eq(rel, 0);
	cr_assert_eq(pm_qa_find(qs, NSH, ents[40].qid, &f), 0);
	cr_expect_eq(f.queue, PM_QA_ACTIVE);
	cr_assert_eq(pm_qa_delete(qs, &f), 0);
	cr_expect_eq(pm_qa_expire(qs, &f, 0, &rel), PM_ENOENT);
	pm_qstore_close(qs);
}

/* postsuper -f before qmgr holds header_checks HOLD mail: cleanup set
 * the SUBMIT_HOLD flag (4) but the message is still in incoming; -f
 * clears the flag there too, or qmgr's intake would hold the expired
 * message instead of returning it. -e leaves the flag alone. */
Test(qadmin, expire_release_clears_flag_in_incoming)
{
	pm_qstore *qs = fill();
	pm_qa_item f;
	pm_qmsg *m = NULL;
	const char *qid = NULL;
	int rel = -1, i;

	for (i = 0; i < NMSG && qid == NULL; i++) {
		if (queue_of(qids[i]) == PM_QA_INCOMING) {
			qid = qids[i];
		}
	}
	cr_assert_not_null(qid);
	cr_assert_eq(pm_qa_find(qs, NSH, qid, &f), 0);
	cr_assert_eq(f.queue, PM_QA_INCOMING);
	cr_assert_eq(rh_int(&srv, "HSET pm:{%d}:m:%s flags 4", f.shard, f.qid),
	    0);
	cr_assert_eq(pm_qa_expire(qs, &f, 0, &rel), 0);
	cr_assert_eq(pm_qstore_read(qs, qid, &m), 0);
	cr_expect_eq(m->flags & 4u, 4u, "-e keeps the hold flag");
	m = pm_qmsg_free(m);
	cr_assert_eq(pm_qa_expire(qs, &f, 1, &rel), 0);
	cr_expect_eq(rel, 0, "not released: it was not held");
	cr_assert_eq(pm_qa_find(qs, NSH, qid, &f), 0);
	cr_expect_eq(f.queue, PM_QA_INCOMING, "stays in incoming");
	cr_assert_eq(pm_qstore_read(qs, qid, &m), 0);
	cr_expect_eq(m->expire, 1);
	cr_expect_eq(m->flags & 4u, 0u, "the hold flag is cleared");
	m = pm_qmsg_free(m);
	pm_qstore_close(qs);
}
