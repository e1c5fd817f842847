/*
 * NAME
 *	test_qstore_stale - taking over a dead consumer's entries
 * DESCRIPTION
 *	pm_qstore_claim_stale() and pm_qstore_touch(): entries idle longer
 *	than the lease move to the new consumer, a touch keeps a lease, a
 *	late touch by the old owner does not steal an entry back, max bounds
 *	the takeover, and malformed or deleted entries are skipped and
 *	cleaned up. Each test starts its own redis-server (qdeliv_helper.h).
 */
#include <criterion/criterion.h>

#include <unistd.h>

#include "pm_log.h"
#include "qdeliv_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_stale");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qdeliv, .init = setup, .fini = teardown, .timeout = 120);

/*
 * A dead consumer's entries are taken over; touch keeps a lease. Min
 * idle 1 s, looked at 1.1 s later: a touched or fresh entry is not idle
 * however slowly a loaded machine gets to the next call.
 */
Test(qdeliv, stale_and_touch)
{
	char qids[3][PM_QID_LEN + 1], *owner;
	pm_qentry dead[3], live[3], keep[2];
	unsigned char lost[2];
	size_t n, i;
	pm_qstore *qs, *qs2;
	int rc, kept = -1, taken = -1;

	rh_start(&srv);
	qs = open_qs("redis", 2);
	qs2 = open_qs("redis", 2);
	for (i = 0; i < 3; i++) {
		enqueue(qs, 2, 0, qids[i]);
	}
	cr_assert_eq(claim(qs, "dead", NULL, 0, 3, 0, dead), 3);
	cr_expect_eq(stale(qs2, "live", 1000, 3, live), 0,
	    "fresh entries taken over");
	usleep(1100 * 1000);
	/* "dead" is alive for entry 0 and 2 after all. */
	keep[0] = dead[0];
	keep[1] = dead[2];
	rc = pm_qstore_touch(qs, "dead", keep, 2, NULL);
	cr_expect_eq(rc, 0, "touch: got %d", rc);
	n = stale(qs2, "live", 1000, 3, live);
	cr_assert_eq(n, 1, "taken over: got %zu, want 1", n);
	cr_expect_str_eq(live[0].qid, dead[1].qid);
	cr_expect_str_eq(live[0].id, dead[1].id);
	cr_expect_eq(live[0].shard, dead[1].shard);
	owner = raw_owner(&dead[1]);
	cr_expect_str_eq(owner, "live");
	free(owner);
	/*
	 * A late touch by the old owner does not steal it back, and says
	 * which entry it lost (qmgr then drops that message).
	 */
	keep[0] = dead[0];
	keep[1] = dead[1];
	memset(lost, 7, sizeof(lost));
	rc = pm_qstore_touch(qs, "dead", keep, 2, lost);
	cr_expect_eq(rc, 0);
	cr_expect_eq(lost[0], 0, "entry still held: lost[0] got %d, want 0",
	    lost[0]);
	cr_expect_eq(lost[1], 1, "entry taken over: lost[1] got %d, want 1",
	    lost[1]);
	owner = raw_owner(&dead[1]);
	cr_expect_str_eq(owner, "live", "touch stole the entry back");
	free(owner);
	/* max bounds the takeover ("live" keeps its own lease). */
	usleep(1100 * 1000);
	cr_expect_eq(pm_qstore_touch(qs2, "live", live, 1, NULL), 0);
	n = stale(qs2, "live", 1000, 1, live + 1);
	cr_expect_eq(n, 1, "max 1: got %zu", n);
	for (i = 0; i < 3; i++) {
		if (strcmp(dead[i].qid, live[1].qid) == 0) {
			taken = (int) i;
		}
	}
	cr_expect(taken == 0 || taken == 2, "took %d", taken);
	kept = taken == 0 ? 2 : 0;
	owner = raw_owner(&dead[kept]);
	cr_expect_str_eq(owner, "dead");
	free(owner);
	/* Bad arguments. */
	cr_expect_eq(pm_qstore_touch(qs, "de ad", dead, 1, NULL), PM_EINVAL);
	cr_expect_eq(pm_qstore_touch(qs, "", dead, 1, NULL), PM_EINVAL);
	live[2] = dead[0];
	strcpy(live[2].id, "1-2-3");
	cr_expect_eq(pm_qstore_touch(qs, "dead", &live[2], 1, NULL), PM_EINVAL);
	live[2].shard = 2;
	strcpy(live[2].id, "1-2");
	cr_expect_eq(pm_qstore_touch(qs, "dead", &live[2], 1, NULL), PM_EINVAL);
	cr_expect_eq(pm_qstore_claim_stale(qs, "live", NULL, 0, -1, 1, live,
	                 &n),
	    PM_EINVAL);
	pm_qstore_close(qs);
	pm_qstore_close(qs2);
	leak_check();
}

/* Takeover skips malformed and deleted entries and cleans them up. */
Test(qdeliv, stale_malformed_and_deleted)
{
	char qids[2][PM_QID_LEN + 1];
	pm_qentry e[4], x[4];
	redisReply *r;
	pm_qstore *qs;
	size_t n;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qids[0]);
	enqueue(qs, 1, 0, qids[1]);
	rh_ok(&srv, "XADD pm:{0}:incoming * qid not-a-queue-id");
	/* "dead" reads all three by hand, so the bad one is pending too. */
	r = rh_cmd(&srv,
	    "XREADGROUP GROUP qmgr dead COUNT 10 STREAMS "
	    "pm:{0}:incoming >");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
	freeReplyObject(r);
	cr_assert_eq(raw_pending(0), 3);
	/* The first message's entry disappears from the stream. */
	cr_assert_eq(stale(qs, "probe", 0, 1, x), 1);
	cr_assert_eq(pm_qstore_touch(qs, "probe", x, 1, NULL), 0);
	rh_ok(&srv, "XDEL pm:{0}:incoming %s", x[0].id);
	usleep(150 * 1000);
	n = stale(qs, "live", 100, 4, e);
	cr_expect_eq(n, 1, "taken over: got %zu, want 1", n);
	cr_expect_str_eq(e[0].qid,
	    strcmp(x[0].qid, qids[0]) == 0 ? qids[1] : qids[0]);
	cr_expect_eq(raw_pending(0), 1, "pending: got %lld, want 1",
	    raw_pending(0));
	cr_expect_eq(rh_int(&srv, "XLEN pm:{0}:incoming"), 1,
	    "malformed entry left in the stream");
	/* Nothing stale: n is 0 and *n is set. */
	n = stale(qs, "live", 60000, 4, e);
	cr_expect_eq(n, 0);
	cr_expect_eq(pm_qstore_touch(qs, "live", e, 0, NULL), 0);
	pm_qstore_close(qs);
	leak_check();
}
