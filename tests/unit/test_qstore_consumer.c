/*
 * NAME
 *	test_qstore_consumer - a consumer's own entries, gone consumers
 * DESCRIPTION
 *	pm_qstore_claim_own(): a consumer gets back exactly the entries it
 *	holds (on every shard, none of another consumer's), bounded by
 *	max, with entries deleted from the stream acknowledged and
 *	skipped. pm_qstore_reap_consumers(): a consumer with no pending
 *	entry idle long enough is removed from the group; one that holds
 *	an entry, one idle for less, and the caller itself stay. Each
 *	test starts its own redis-server (qdeliv_helper.h).
 */
#include <criterion/criterion.h>

#include <unistd.h>

#include "pm_log.h"
#include "qdeliv_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_consumer");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qdeliv, .init = setup, .fini = teardown, .timeout = 120);

/* Is qid among e[0..n)? */
static int
has_qid(const pm_qentry *e, size_t n, const char *qid)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(e[i].qid, qid) == 0) {
			return (1);
		}
	}
	return (0);
}

/* The consumers of group qmgr on a shard, "a,b," (malloc'ed). */
static char *
raw_consumers(int shard)
{
	redisReply *r =
	    rh_cmd(&srv, "XINFO CONSUMERS pm:{%d}:incoming qmgr", shard);
	char buf[512] = "";
	size_t i, k;

	cr_assert(r->type == REDIS_REPLY_ARRAY, "XINFO: type %d", r->type);
	for (i = 0; i < r->elements; i++) {
		for (k = 0; k + 1 < r->element[i]->elements; k += 2) {
			if (strcmp(r->element[i]->element[k]->str, "name") ==
			    0) {
				strncat(buf, r->element[i]->element[k + 1]->str,
				    sizeof(buf) - strlen(buf) - 2);
				strcat(buf, ",");
			}
		}
	}
	freeReplyObject(r);
	return (pm_strdup(buf));
}

/* A restarted consumer gets back what it held, and only that. */
Test(qdeliv, claim_own)
{
	char qids[6][PM_QID_LEN + 1];
	pm_qentry a[6], b[6], own[8];
	size_t na, nb, n, i;
	pm_qstore *qs;
	int more = 9, rc;

	rh_start(&srv);
	qs = open_qs("redis", 2);
	for (i = 0; i < 6; i++) {
		enqueue(qs, 2, 0, qids[i]);
	}
	na = claim(qs, "a", NULL, 0, 4, 0, a);
	nb = claim(qs, "b", NULL, 0, 4, 0, b);
	cr_assert_eq(na + nb, 6, "claimed %zu + %zu, want 6", na, nb);

	/* "a" restarts: its own entries, none of "b"'s */
	n = 99;
	rc = pm_qstore_claim_own(qs, "a", NULL, 0, 8, own, &n, &more);
	cr_assert_eq(rc, 0, "claim_own: got %d (%s)", rc, pm_strerror(rc));
	cr_expect_eq(n, na, "claim_own a: got %zu, want %zu", n, na);
	cr_expect_eq(more, 0);
	for (i = 0; i < na; i++) {
		cr_expect(has_qid(own, n, a[i].qid), "%s not taken back",
		    a[i].qid);
	}
	for (i = 0; i < nb; i++) {
		cr_expect(!has_qid(own, n, b[i].qid), "%s is b's", b[i].qid);
	}
	for (i = 0; i < n; i++) {
		char *o = raw_owner(&own[i]);

		cr_expect_str_eq(o, "a");
		free(o);
	}
	/* max bounds it */
	rc = pm_qstore_claim_own(qs, "b", NULL, 0, 1, own, &n, &more);
	cr_expect_eq(rc, 0);
	cr_expect_eq(n, 1, "max 1: got %zu", n);
	cr_expect_eq(more, 1, "max reached: more got %d, want 1", more);
	/* a consumer that holds nothing gets nothing */
	rc = pm_qstore_claim_own(qs, "nobody", NULL, 0, 8, own, &n, &more);
	cr_expect_eq(rc, 0);
	cr_expect_eq(n, 0, "nobody: got %zu, want 0", n);
	/* an entry deleted from the stream is acknowledged and skipped */
	rh_ok(&srv, "XDEL pm:{%d}:incoming %s", a[0].shard, a[0].id);
	rc = pm_qstore_claim_own(qs, "a", NULL, 0, 8, own, &n, &more);
	cr_expect_eq(rc, 0);
	cr_expect_eq(n, na - 1, "after XDEL: got %zu, want %zu", n, na - 1);
	cr_expect(!has_qid(own, n, a[0].qid));
	cr_expect_eq(raw_pending(0) + raw_pending(1), (long long) (na + nb - 1),
	    "deleted entry still pending");
	/* bad arguments */
	cr_expect_eq(pm_qstore_claim_own(qs, "a b", NULL, 0, 8, own, &n, &more),
	    PM_EINVAL);
	cr_expect_eq(pm_qstore_claim_own(qs, "a", (int[]){ 2 }, 1, 8, own, &n,
	                 &more),
	    PM_EINVAL);
	pm_qstore_close(qs);
	leak_check();
}

/* Consumers of gone instances go once their entries were taken over. */
Test(qdeliv, reap_consumers)
{
	char qids[3][PM_QID_LEN + 1], *names;
	pm_qentry e[3], x[3];
	size_t i, removed = 99;
	pm_qstore *qs;
	int rc;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	for (i = 0; i < 3; i++) {
		enqueue(qs, 1, 0, qids[i]);
	}
	cr_assert_eq(claim(qs, "gone", NULL, 0, 2, 0, e), 2);
	cr_assert_eq(claim(qs, "busy", NULL, 0, 1, 0, e + 2), 1);
	usleep(1100 * 1000);
	/* "live" takes over everything idle: both of "gone"'s ...
	 * (1 s min idle: "busy"'s touched entry stays not idle however
	 * slowly a loaded machine gets from the touch to the takeover) */
	cr_assert_eq(pm_qstore_touch(qs, "busy", e + 2, 1, NULL), 0);
	cr_assert_eq(stale(qs, "live", 1000, 3, x), 2);
	names = raw_consumers(0);
	cr_expect_str_eq(names, "busy,gone,live,");
	free(names);
	/* ... not long enough idle yet: nothing removed */
	rc = pm_qstore_reap_consumers(qs, "live", 60000, &removed);
	cr_expect_eq(rc, 0);
	cr_expect_eq(removed, 0, "min idle 60s: removed %zu", removed);
	usleep(300 * 1000);
	/* "gone" holds nothing: removed; "busy" holds one; "live" is self */
	rc = pm_qstore_reap_consumers(qs, "live", 200, &removed);
	cr_expect_eq(rc, 0, "reap: got %d", rc);
	cr_expect_eq(removed, 1, "removed %zu, want 1", removed);
	names = raw_consumers(0);
	cr_expect_str_eq(names, "busy,live,");
	free(names);
	cr_expect_eq(raw_pending(0), 3, "pending entries lost");
	/* once "busy"'s entry is taken over it goes too, self never
	 * (XAUTOCLAIM returns live's own idle entries as well) */
	cr_assert_eq(stale(qs, "live", 200, 3, x), 3);
	usleep(300 * 1000);
	rc = pm_qstore_reap_consumers(qs, "live", 200, &removed);
	cr_expect_eq(rc, 0);
	cr_expect_eq(removed, 1, "removed %zu, want 1", removed);
	for (i = 0; i < 3; i++) {
		pm_qentry *p = &e[i];
		char *o = raw_owner(p);

		cr_expect_str_eq(o, "live");
		free(o);
	}
	rc = pm_qstore_reap_consumers(qs, "busy", 200, &removed);
	cr_expect_eq(removed, 0, "live holds 3: removed %zu", removed);
	names = raw_consumers(0);
	cr_expect_str_eq(names, "live,");
	free(names);
	cr_expect_eq(pm_qstore_reap_consumers(qs, "", 0, &removed), PM_EINVAL);
	cr_expect_eq(pm_qstore_reap_consumers(qs, "x", -1, &removed),
	    PM_EINVAL);
	pm_qstore_close(qs);
	leak_check();
}
