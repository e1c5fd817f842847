/*
 * NAME
 *	test_qstore_seen - an id enqueued with keep_id_ms is queued once
 * DESCRIPTION
 *	pm_qmsg.keep_id_ms (issue 6, 3g): a bounce notice's queue id is
 *	derived from its original, so a notice asked for again has the
 *	id it had. The queue store must then refuse it (PM_EEXIST) while
 *	the first one is queued and, for keep_id_ms, after it was
 *	delivered and removed (pm:{S}:seen:Q), with the Redis and the fs
 *	body store; without keep_id_ms an id may be queued again once the
 *	message is gone (as before). Checked through a raw connection.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm_log.h"
#include "pm_qid.h"
#include "pm_qstore.h"
#include "redis_helper.h"

static rh_server srv;

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_seen");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qseen, .init = setup, .fini = teardown, .timeout = 60);

static long long
raw_int(const char *fmt, const char *a, int shard, const char *qid)
{
	redisReply *r = rh_cmd(&srv, fmt, shard, a, qid);
	long long v;

	cr_assert_eq(r->type, REDIS_REPLY_INTEGER, "%s: reply type %d", fmt,
	    r->type);
	v = r->integer;
	freeReplyObject(r);
	return (v);
}

static int
enqueue(pm_qstore *qs, const char *qid, int64_t keep_ms)
{
	pm_qrcpt rc = { "r@example.test", "", 0, NULL, NULL, NULL, NULL };
	pm_qmsg m;

	memset(&m, 0, sizeof(m));
	snprintf(m.qid, sizeof(m.qid), "%s", qid);
	m.shard = pm_qid_shard(qid, 2);
	m.sender = "";
	m.arrival_us = pm_now_us();
	m.nrcpt = 1;
	m.rcpt = &rc;
	m.keep_id_ms = keep_ms;
	return (pm_qstore_enqueue(qs, &m, "Subject: n\r\n\r\nnotice\r\n", 23));
}

static void
seen_round(const char *store)
{
	char orig[PM_QID_LEN + 1], nqid[PM_QID_LEN + 1], plain[PM_QID_LEN + 1];
	pm_qstore *qs;
	int sh, rc;

	qs = pm_qstore_open(srv.addr, 2000, store, 2);
	cr_assert(qs != NULL);
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	pm_qid_new(orig);
	cr_assert_eq(pm_qid_derive(nqid, orig, 1, 0), 0);
	sh = pm_qid_shard(nqid, 2);

	/* first request: queued, marked */
	cr_expect_eq(enqueue(qs, nqid, 60000), 0);
	cr_expect_eq(raw_int("EXISTS pm:{%d}:%s:%s", "seen", sh, nqid), 1);
	rc = (int) raw_int("PTTL pm:{%d}:%s:%s", "seen", sh, nqid);
	cr_expect(rc > 50000 && rc <= 60000, "seen TTL %d, want ~60000", rc);
	/* asked again while queued */
	rc = enqueue(qs, nqid, 60000);
	cr_expect_eq(rc, PM_EEXIST, "while queued: got %d, want EEXIST", rc);
	/* the notice is delivered and removed; asked again */
	cr_expect_eq(pm_qstore_delete(qs, nqid), 0);
	cr_expect_eq(raw_int("EXISTS pm:{%d}:%s:%s", "m", sh, nqid), 0);
	rc = enqueue(qs, nqid, 60000);
	cr_expect_eq(rc, PM_EEXIST,
	    "after removal: got %d, want EEXIST "
	    "(queued a second notice)",
	    rc);
	cr_expect_eq(raw_int("EXISTS pm:{%d}:%s:%s", "m", sh, nqid), 0,
	    "a second notice is queued");
	cr_expect_eq(raw_int("EXISTS pm:{%d}:%s:%s", "b", sh, nqid), 0);
	if (strncmp(store, "fs:", 3) == 0) {
		char path[256];

		snprintf(path, sizeof(path), "%s/%c/%s", store + 3, nqid[10],
		    nqid);
		cr_expect(access(path, F_OK) != 0, "refused body left at %s",
		    path);
	}

	/* without keep_id_ms: no mark, the id may come again when gone */
	pm_qid_new(plain);
	sh = pm_qid_shard(plain, 2);
	cr_expect_eq(enqueue(qs, plain, 0), 0);
	cr_expect_eq(raw_int("EXISTS pm:{%d}:%s:%s", "seen", sh, plain), 0);
	cr_expect_eq(enqueue(qs, plain, 0), PM_EEXIST);
	cr_expect_eq(pm_qstore_delete(qs, plain), 0);
	cr_expect_eq(enqueue(qs, plain, 0), 0);
	pm_qstore_close(qs);
}

Test(qseen, queued_once_within_keep_time)
{
	char store[128];

	rh_start(&srv);
	seen_round("redis");
	snprintf(store, sizeof(store), "fs:%s/bodies", srv.dir);
	seen_round(store);
}
