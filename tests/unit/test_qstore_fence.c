/*
 * NAME
 *	test_qstore_fence - lease epochs fence qmgr's writes
 * DESCRIPTION
 *	pm_qstore_fence.c: every claim (new, stale takeover, own entries
 *	taken back) records a new lease epoch in the message hash and in
 *	the entry; finish, defer, hold and pm_qstore_rcpt_status_fenced()
 *	with a stale epoch, or as a consumer that no longer holds the
 *	entry, are refused with PM_ELOST and write nothing; with the
 *	current lease they work; a touch with a stale epoch reports the
 *	entry lost; a defer of a message another owner finished writes
 *	nothing (PM_ENOENT, as before fencing); unfenced writes (agents' compare-and-set, entries
 *	without an epoch) still work. Each test starts its own
 *	redis-server (qdeliv_helper.h).
 */
#include <criterion/criterion.h>

#include <unistd.h>

#include "pm_log.h"
#include "qdeliv_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_fence");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(fence, .init = setup, .fini = teardown, .timeout = 120);

/* lease_epoch and lease_owner of the message of e, as Redis has them. */
static long long
raw_epoch(const pm_qentry *e, char *owner, size_t size)
{
	int s = e->shard;
	char *o = rh_str(&srv, "HGET pm:{%d}:m:%s lease_owner", s, e->qid);
	char *v = rh_str(&srv, "HGET pm:{%d}:m:%s lease_epoch", s, e->qid);
	long long n = v ? atoll(v) : -1;

	snprintf(owner, size, "%s", o ? o : "");
	free(o);
	free(v);
	return (n);
}

/* The writes of one fenced caller, by name. */
enum { W_FINISH, W_DEFER, W_HOLD, W_STATUS };
static const char *const wname[] = { "finish", "defer", "hold", "status" };

static int
write_as(pm_qstore *qs, int w, const pm_qentry *e)
{
	int changed;

	switch (w) {
	case W_FINISH:
		return (pm_qstore_finish(qs, e));
	case W_DEFER:
		return (pm_qstore_defer(qs, e, 1, pm_now_us() + 60000000));
	case W_HOLD:
		return (pm_qstore_hold(qs, e));
	default:
		return (pm_qstore_rcpt_status_fenced(qs, e, 0, PM_RCPT_DEFERRED,
		    "4.0.0", "qmgr's reason", &changed));
	}
}

/*
 * A takes a message, B takes it over after the lease: every write of
 * A is refused and changes nothing; B's work. Table: each write kind.
 */
Test(fence, stale_owner_refused)
{
	char qid[PM_QID_LEN + 1], owner[PM_QSTORE_CONSUMER_MAX + 1], *o;
	pm_qentry a, b, forged;
	pm_qstore *qs;
	long long ep;
	int w, rc;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	for (w = W_FINISH; w <= W_STATUS; w++) {
		enqueue(qs, 1, 0, qid);
		cr_assert_eq(claim(qs, "qmgr-a", NULL, 0, 1, 0, &a), 1);
		cr_expect_str_eq(a.owner, "qmgr-a");
		ep = raw_epoch(&a, owner, sizeof(owner));
		cr_expect_eq(a.epoch, 1, "claim: epoch got %llu, want 1",
		    (unsigned long long) a.epoch);
		cr_expect_eq(ep, 1, "Redis epoch got %lld, want 1", ep);
		cr_expect_str_eq(owner, "qmgr-a");
		usleep(150 * 1000);
		cr_assert_eq(stale(qs, "qmgr-b", 100, 1, &b), 1);
		cr_expect_eq(b.epoch, 2, "takeover: epoch got %llu, want 2",
		    (unsigned long long) b.epoch);
		cr_expect_str_eq(b.owner, "qmgr-b");

		rc = write_as(qs, w, &a);
		cr_expect_eq(rc, PM_ELOST,
		    "%s by the old owner: got %d (%s), "
		    "want PM_ELOST",
		    wname[w], rc, pm_strerror(rc));
		/* nothing written: entry still B's, message not deferred */
		o = raw_owner(&b);
		cr_expect(o != NULL && strcmp(o, "qmgr-b") == 0,
		    "%s: entry owner got %s, want qmgr-b", wname[w],
		    o ? o : "(none)");
		free(o);
		cr_expect_eq(rh_int(&srv, "EXISTS pm:{0}:m:%s", qid), 1);
		cr_expect_eq(rh_int(&srv, "ZCARD pm:{0}:deferred"), 0);
		cr_expect_eq(rh_int(&srv, "SCARD pm:{0}:hold"), 0);
		o = rh_str(&srv, "HGET pm:{0}:r:%s 0:t", qid);
		cr_expect_str_eq(o, "", "%s: status text written", wname[w]);
		free(o);

		/* B's epoch as A's consumer, and A's name with B's epoch */
		forged = b;
		snprintf(forged.owner, sizeof(forged.owner), "qmgr-a");
		cr_expect_eq(write_as(qs, w, &forged), PM_ELOST,
		    "%s: another consumer with the current epoch", wname[w]);
		forged = b;
		forged.epoch = 1;
		cr_expect_eq(write_as(qs, w, &forged), PM_ELOST,
		    "%s: the holder with a stale epoch", wname[w]);

		rc = write_as(qs, w, &b);
		cr_expect_eq(rc, 0, "%s by the holder: got %d (%s), want 0",
		    wname[w], rc, pm_strerror(rc));
		if (w == W_STATUS) {
			cr_expect_eq(pm_qstore_finish(qs, &b), 0);
		}
		if (w == W_FINISH) {
			/* gone: nothing left to protect, nothing written */
			rc = write_as(qs, W_DEFER, &a);
			cr_expect_eq(rc, PM_ENOENT,
			    "defer of a message another "
			    "owner finished: got %d, want PM_ENOENT",
			    rc);
			cr_expect_eq(rh_int(&srv, "ZCARD pm:{0}:deferred"), 0);
		}
		if (w != W_FINISH && w != W_STATUS) {
			cr_expect_eq(pm_qstore_delete(qs, qid), 0);
		}
		expect_keys_gone(qid, 1);
		cr_expect_eq(raw_xlen_all(1), 0, "%s: entry left", wname[w]);
	}
	pm_qstore_close(qs);
}

/*
 * The same name claims its entries again (a restarted process): the
 * old process's epoch is refused, its touch reports the entry lost,
 * and the new one's writes work. Unfenced writes (agents) still work.
 */
Test(fence, same_name_restart)
{
	char qid[PM_QID_LEN + 1];
	pm_qentry old, cur, plain;
	pm_qrcpt_final f;
	unsigned char lost = 9;
	pm_qstore *qs;
	size_t n = 0;
	int more = 0, rc;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qid);
	cr_assert_eq(claim(qs, "qmgr-0", NULL, 0, 1, 0, &old), 1);
	rc = pm_qstore_claim_own(qs, "qmgr-0", NULL, 0, 10, &cur, &n, &more);
	cr_assert_eq(rc, 0);
	cr_assert_eq(n, 1, "claim_own: got %zu entries, want 1", n);
	cr_expect_eq(cur.epoch, 2, "claim_own: epoch got %llu, want 2",
	    (unsigned long long) cur.epoch);

	cr_expect_eq(pm_qstore_touch(qs, "qmgr-0", &old, 1, &lost), 0);
	cr_expect_eq(lost, 1,
	    "touch with the old epoch: lost got %d, "
	    "want 1",
	    lost);
	cr_expect_eq(pm_qstore_touch(qs, "qmgr-0", &cur, 1, &lost), 0);
	cr_expect_eq(lost, 0, "touch with the current epoch: lost got %d",
	    lost);
	cr_expect_eq(pm_qstore_defer(qs, &old, 1, pm_now_us()), PM_ELOST);
	cr_expect_eq(pm_qstore_finish(qs, &old), PM_ELOST);

	/* an agent's compare-and-set is a fact: never fenced */
	rc =
	    pm_qstore_rcpt_cas(qs, qid, 1, PM_RCPT_SENT, "2.0.0", "250 ok", &f);
	cr_expect_eq(rc, 0);
	cr_expect_eq(f.changed, 1);
	/* an entry without an epoch (made by hand) is not fenced */
	plain = cur;
	plain.epoch = 0;
	plain.owner[0] = 0;
	cr_expect_eq(pm_qstore_rcpt_status_fenced(qs, &plain, 2,
	                 PM_RCPT_BOUNCED, "5.0.0", "x", NULL),
	    0);
	cr_expect_eq(pm_qstore_finish(qs, &cur), 0);
	expect_keys_gone(qid, 1);
	pm_qstore_close(qs);
}

/*
 * A message hash of the wrong type (corrupt) gets no lease: the claim
 * still returns its entry, with epoch 0, so that the reader can move
 * it to the hold queue instead of failing the whole claim forever.
 */
Test(fence, corrupt_message_no_lease)
{
	char qid[PM_QID_LEN + 1];
	pm_qentry e[2];
	pm_qstore *qs;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qid);
	rh_ok(&srv, "DEL pm:{0}:m:%s", qid);
	rh_ok(&srv, "SET pm:{0}:m:%s junk", qid);
	cr_assert_eq(claim(qs, "qmgr-a", NULL, 0, 2, 0, e), 1,
	    "claim with a corrupt message: entry not returned");
	cr_expect_eq(e[0].epoch, 0, "epoch got %llu, want 0",
	    (unsigned long long) e[0].epoch);
	cr_expect_str_eq(e[0].qid, qid);
	pm_qstore_close(qs);
}
