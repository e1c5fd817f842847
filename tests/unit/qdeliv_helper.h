/*
 * NAME
 *	qdeliv_helper - fixtures of the queue's delivery-side tests
 * SUMMARY
 *	#include "qdeliv_helper.h"
 * DESCRIPTION
 *	For test_qstore_claim.c, _stale.c, _defer.c and _rcpt.c (the
 *	delivery side, pm_qstore_deliv.c): everything of qstore_helper.h,
 *	plus enqueue() of a plain four-recipient message, claim() and
 *	stale() that assert success and the bound, expect_keys_gone(),
 *	and raw views of the consumer group (raw_pending(), raw_owner(),
 *	raw_xlen_all()).
 * LIMITS
 *	A command timeout of 1000 ms (QS_TIMEOUT_MS): claim_blocks shows
 *	that a blocking claim may wait longer than that.
 * SECURITY
 *	Test code only.
 */
#ifndef QDELIV_HELPER_H
#define QDELIV_HELPER_H

#define QS_TIMEOUT_MS 1000
#include "qstore_helper.h"

/* Pending entries of group qmgr on a shard (XPENDING summary). */
static inline long long
raw_pending(int shard)
{
	redisReply *r = rh_cmd(&srv, "XPENDING pm:{%d}:incoming qmgr", shard);
	long long v;

	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	        r->element[0]->type == REDIS_REPLY_INTEGER,
	    "XPENDING: got reply type %d", r->type);
	v = r->element[0]->integer;
	freeReplyObject(r);
	return (v);
}

/* The consumer holding an entry, malloc'ed; NULL if not pending. */
static inline char *
raw_owner(const pm_qentry *e)
{
	redisReply *r = rh_cmd(&srv, "XPENDING pm:{%d}:incoming qmgr %s %s 1",
	    e->shard, e->id, e->id);
	char *s = NULL;

	cr_assert(r->type == REDIS_REPLY_ARRAY);
	if (r->elements == 1) {
		s = pm_strdup(r->element[0]->element[1]->str);
	}
	freeReplyObject(r);
	return (s);
}

static inline long long
raw_xlen_all(int nshards)
{
	long long v = 0;
	int s;

	for (s = 0; s < nshards; s++) {
		v += rh_int(&srv, "XLEN pm:{%d}:incoming", s);
	}
	return (v);
}

/* Messages. */

/* Enqueue one message; its qid goes to qid. */
static inline void
enqueue(pm_qstore *qs, int nshards, int64_t arrival_us, char *qid)
{
	static pm_qrcpt rcpts[] = {
		{ "alice@example.com", "", 0, NULL, NULL, NULL, NULL },
		{ "bob@example.com", "rfc822;bob@example.com", 2, NULL, NULL,
		    NULL, NULL },
		{ "carol@example.net", "", 0, NULL, NULL, NULL, NULL },
		{ "dave@example.net", "", 0, NULL, NULL, NULL, NULL },
	};
	static const char body[] = "Subject: t\r\n\r\nhello\r\n";
	pm_qmsg m;
	int rc;

	memset(&m, 0, sizeof(m));
	pm_qid_new(m.qid);
	m.shard = pm_qid_shard(m.qid, nshards);
	m.sender = "sender@example.org";
	m.arrival_us = arrival_us ? arrival_us : pm_now_us();
	m.client_name = m.client_addr = m.client_port = "";
	m.helo_name = m.protocol = m.sasl_username = m.dsn_envid = "";
	m.nrcpt = sizeof(rcpts) / sizeof(rcpts[0]);
	m.rcpt = rcpts;
	rc = pm_qstore_enqueue(qs, &m, body, sizeof(body) - 1);
	cr_assert_eq(rc, 0, "enqueue: got %d (%s), want 0", rc,
	    pm_strerror(rc));
	memcpy(qid, m.qid, PM_QID_LEN + 1);
}

static inline size_t
claim(pm_qstore *qs, const char *consumer, const int *shards, int nsel,
    size_t max, int block_ms, pm_qentry *out)
{
	size_t n = 99999;
	int rc;

	rc = pm_qstore_claim_new(qs, consumer, shards, nsel, max, block_ms, out,
	    &n);
	cr_assert_eq(rc, 0, "claim_new: got %d (%s), want 0", rc,
	    pm_strerror(rc));
	cr_assert(n <= max, "claim_new: got %zu entries, want <= %zu", n, max);
	return (n);
}

static inline size_t
stale(pm_qstore *qs, const char *consumer, long long idle, size_t max,
    pm_qentry *out)
{
	size_t n = 99999;
	int rc;

	rc = pm_qstore_claim_stale(qs, consumer, NULL, 0, idle, max, out, &n);
	cr_assert_eq(rc, 0, "claim_stale: got %d (%s), want 0", rc,
	    pm_strerror(rc));
	cr_assert(n <= max);
	return (n);
}

static inline void
expect_keys_gone(const char *qid, int nshards)
{
	int s = pm_qid_shard(qid, nshards);
	char *score;

	cr_expect_eq(rh_int(&srv,
	                 "EXISTS pm:{%d}:m:%s pm:{%d}:r:%s "
	                 "pm:{%d}:b:%s",
	                 s, qid, s, qid, s, qid),
	    0, "%s: m, r or b left", qid);
	score = rh_str(&srv, "ZSCORE pm:{%d}:deferred %s", s, qid);
	cr_expect(score == NULL, "%s: still deferred", qid);
	free(score);
	cr_expect_eq(rh_int(&srv, "SISMEMBER pm:{%d}:hold %s", s, qid), 0);
}

/* Tests. */

#endif
