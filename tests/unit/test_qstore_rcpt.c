/*
 * NAME
 *	test_qstore_rcpt - compare-and-set of a recipient's status
 * DESCRIPTION
 *	pm_qstore_rcpt_status(): a final status (sent, bounced) is never
 *	changed again, deferred may change; hostile or wrong arguments
 *	change nothing; an over-long reply text is cut; an unknown message,
 *	a bad id and keys of the wrong type are errors that leave the
 *	connection usable. Starts its own redis-server (qdeliv_helper.h).
 */
#include <criterion/criterion.h>


#include "pm_log.h"
#include "qdeliv_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_rcpt");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qdeliv, .init = setup, .fini = teardown, .timeout = 120);

/* Compare-and-set of a recipient's status. */
Test(qdeliv, rcpt_status_cas)
{
	static const struct {
		size_t idx;
		const char *status, *dsn, *text;
		int rc, changed;
		const char *want_s, *want_d, *want_t;
	} steps[] = {
		{ 0, "sent", "2.0.0", "250 ok", 0, 1, "sent", "2.0.0",
		    "250 ok" },
		{ 0, "bounced", "5.1.1", "550 no", 0, 0, "sent", "2.0.0",
		    "250 ok" },
		{ 0, "deferred", "4.0.0", "451 x", 0, 0, "sent", "2.0.0",
		    "250 ok" },
		{ 0, "sent", "2.0.0", "250 again", 0, 0, "sent", "2.0.0",
		    "250 ok" },
		{ 1, "deferred", "4.4.1", "connect refused", 0, 1, "deferred",
		    "4.4.1", "connect refused" },
		{ 1, "deferred", "4.7.0", "451 later", 0, 1, "deferred",
		    "4.7.0", "451 later" },
		{ 1, "sent", "2.0.0", "250 queued", 0, 1, "sent", "2.0.0",
		    "250 queued" },
		{ 1, "sent", "2.0.0", "250 dup", 0, 0, "sent", "2.0.0",
		    "250 queued" },
		{ 2, "bounced", "5.1.1", "550 unknown\r\nuser", 0, 1, "bounced",
		    "5.1.1", "550 unknown\r\nuser" },
		{ 2, "sent", "2.0.0", "250", 0, 0, "bounced", "5.1.1",
		    "550 unknown\r\nuser" },
		/* Hostile or wrong arguments change nothing. */
		{ 3, "done", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 3, "", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 3, "SENT", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 3, "sent", "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", "x",
		    PM_EINVAL, -1, "todo", "", "" },
		{ 4, "sent", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 99999, "sent", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 100000, "sent", "", "", PM_EINVAL, -1, "todo", "", "" },
		{ (size_t) -1, "sent", "", "", PM_EINVAL, -1, "todo", "", "" },
	};
	char qid[PM_QID_LEN + 1], other[PM_QID_LEN + 1], *s, *big;
	size_t i;
	pm_qstore *qs;
	int rc, changed, sh;

	rh_start(&srv);
	qs = open_qs("redis", 2);
	enqueue(qs, 2, 0, qid);
	sh = pm_qid_shard(qid, 2);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		changed = -1;
		rc = pm_qstore_rcpt_status(qs, qid, steps[i].idx,
		    steps[i].status, steps[i].dsn, steps[i].text, &changed);
		cr_expect_eq(rc, steps[i].rc, "step %zu: rc got %d, want %d", i,
		    rc, steps[i].rc);
		cr_expect_eq(changed, steps[i].changed,
		    "step %zu: changed "
		    "got %d, want %d",
		    i, changed, steps[i].changed);
		if (steps[i].idx > 3) {
			continue;
		}
		s = rh_str(&srv, "HGET pm:{%d}:r:%s %d:s", sh, qid,
		    (int) steps[i].idx);
		cr_expect_str_eq(s, steps[i].want_s,
		    "step %zu: status got "
		    "%s, want %s",
		    i, s, steps[i].want_s);
		free(s);
		s = rh_str(&srv, "HGET pm:{%d}:r:%s %d:d", sh, qid,
		    (int) steps[i].idx);
		cr_expect_str_eq(s, steps[i].want_d);
		free(s);
		s = rh_str(&srv, "HGET pm:{%d}:r:%s %d:t", sh, qid,
		    (int) steps[i].idx);
		cr_expect_str_eq(s, steps[i].want_t,
		    "step %zu: text got "
		    "\"%s\"",
		    i, s);
		free(s);
	}
	/* An over-long reply text is cut, not refused. */
	big = pm_malloc(100001);
	memset(big, 'x', 100000);
	big[100000] = 0;
	rc = pm_qstore_rcpt_status(qs, qid, 3, PM_RCPT_DEFERRED, NULL, big,
	    &changed);
	cr_expect_eq(rc, 0, "long text: got %d", rc);
	cr_expect_eq(rh_int(&srv, "HSTRLEN pm:{%d}:r:%s 3:t", sh, qid), 4096);
	free(big);
	/* Not queued, bad id, wrong key type. */
	pm_qid_new(other);
	rc = pm_qstore_rcpt_status(qs, other, 0, "sent", "2.0.0", "", &changed);
	cr_expect_eq(rc, PM_ENOENT, "unknown qid: got %d, want ENOENT", rc);
	rc = pm_qstore_rcpt_status(qs, "../../etc/passwd", 0, "sent", "", "",
	    &changed);
	cr_expect_eq(rc, PM_EINVAL);
	rh_ok(&srv, "SET pm:{%d}:r:%s junk", pm_qid_shard(other, 2), other);
	rc = pm_qstore_rcpt_status(qs, other, 0, "sent", "2.0.0", "", &changed);
	cr_expect_eq(rc, PM_EREDIS, "string r: got %d, want EREDIS", rc);
	rh_ok(&srv, "DEL pm:{%d}:r:%s", pm_qid_shard(other, 2), other);
	rh_ok(&srv, "HSET pm:{%d}:r:%s n 1 0:a x 0:s weird",
	    pm_qid_shard(other, 2), other);
	rc = pm_qstore_rcpt_status(qs, other, 0, "sent", "2.0.0", "", &changed);
	cr_expect(rc == 0 && changed == 0, "unknown status: got %d/%d", rc,
	    changed);
	cr_expect_eq(pm_qstore_ping(qs), 0, "connection lost");
	/* The functions were flushed: loaded again, the call works. */
	rh_ok(&srv, "FUNCTION FLUSH");
	rc =
	    pm_qstore_rcpt_status(qs, qid, 3, "sent", "2.0.0", "250", &changed);
	cr_expect(rc == 0 && changed == 1, "after FUNCTION FLUSH: got %d/%d",
	    rc, changed);
	pm_qstore_close(qs);
	leak_check();
}

/* Read the message back: recipient idx's status. */
static void
expect_read_status(pm_qstore *qs, const char *qid, size_t idx, const char *want)
{
	pm_qmsg *m = NULL;
	int rc = pm_qstore_read(qs, qid, &m);

	cr_assert_eq(rc, 0, "read: got %d", rc);
	cr_expect_str_eq(m->rcpt[idx].status, want, "rcpt %zu: got %s, want %s",
	    idx, m->rcpt[idx].status, want);
	pm_qmsg_free(m);
}

/*
 * Sent with no success notice (PM_RCPT_NOTIFIED) is stored as "i:s" =
 * sent plus "i:q" = 1, so a version that does not know it reads sent;
 * it reads back, and comes back in the compare-and-set reply, as
 * notified; so does "i:s" = notified as the version of 2026-12-02
 * stored it (a message queued during an upgrade).
 */
Test(qdeliv, rcpt_status_quiet)
{
	char qid[PM_QID_LEN + 1], *s;
	pm_qrcpt_final f;
	pm_qstore *qs;
	int rc, sh;

	rh_start(&srv);
	qs = open_qs("redis", 2);
	enqueue(qs, 2, 0, qid);
	sh = pm_qid_shard(qid, 2);
	rc = pm_qstore_rcpt_cas(qs, qid, 0, PM_RCPT_NOTIFIED, "2.0.0", "250 ok",
	    &f);
	cr_expect(rc == 0 && f.changed == 1, "notified: got %d/%d", rc,
	    f.changed);
	s = rh_str(&srv, "HGET pm:{%d}:r:%s 0:s", sh, qid);
	cr_expect_str_eq(s, "sent", "stored status: got %s", s);
	free(s);
	s = rh_str(&srv, "HGET pm:{%d}:r:%s 0:q", sh, qid);
	cr_expect_str_eq(s, "1");
	free(s);
	/* final: a duplicate report is answered with what is stored */
	rc = pm_qstore_rcpt_cas(qs, qid, 0, PM_RCPT_SENT, "2.0.0", "250 dup",
	    &f);
	cr_expect(rc == 0 && f.changed == 0, "dup: got %d/%d", rc, f.changed);
	cr_expect_str_eq(f.status, PM_RCPT_NOTIFIED);
	cr_expect_str_eq(f.text, "250 ok");
	/* a plain sent has no "i:q" and reads as sent */
	rc = pm_qstore_rcpt_cas(qs, qid, 1, PM_RCPT_SENT, "2.0.0", "250", &f);
	cr_expect(rc == 0 && f.changed == 1);
	cr_expect_eq(rh_int(&srv, "HEXISTS pm:{%d}:r:%s 1:q", sh, qid), 0);
	rc = pm_qstore_rcpt_cas(qs, qid, 1, PM_RCPT_BOUNCED, "5.0.0", "x", &f);
	cr_expect(rc == 0 && f.changed == 0);
	cr_expect_str_eq(f.status, PM_RCPT_SENT);
	/* the previous version's stored value */
	rh_ok(&srv, "HSET pm:{%d}:r:%s 2:s notified 2:d 2.0.0 2:t old", sh,
	    qid);
	rc = pm_qstore_rcpt_cas(qs, qid, 2, PM_RCPT_SENT, "2.0.0", "250", &f);
	cr_expect(rc == 0 && f.changed == 0);
	cr_expect_str_eq(f.status, PM_RCPT_NOTIFIED);
	/* "i:q" on anything but sent means nothing */
	rh_ok(&srv, "HSET pm:{%d}:r:%s 3:s bounced 3:q 1", sh, qid);
	expect_read_status(qs, qid, 0, PM_RCPT_NOTIFIED);
	expect_read_status(qs, qid, 1, PM_RCPT_SENT);
	expect_read_status(qs, qid, 2, PM_RCPT_NOTIFIED);
	expect_read_status(qs, qid, 3, PM_RCPT_BOUNCED);
	pm_qstore_close(qs);
	leak_check();
}

/*
 * The success notice's action of a sent recipient ("relayed": pipe
 * without flag X) is stored with it as "i:x" in the same call, and
 * read back; other statuses and unknown actions store none. Under an
 * older functions library that refuses the extra argument (here a
 * stand-in "postmesh" library with the 4/8-argument check of before)
 * the status is still recorded, without the action.
 */
Test(qdeliv, rcpt_status_action)
{
	static const char old_lib[] =
	    "#!lua name=postmesh\n"
	    "redis.register_function('pm_rcpt_status', function(k, a)\n"
	    "  if #a ~= 4 and #a ~= 8 then\n"
	    "    return redis.error_reply("
	    "'ERR postmesh: bad rcpt_status arguments')\n"
	    "  end\n"
	    "  redis.call('HSET', k[1], a[1] .. ':s', a[2])\n"
	    "  return 1\n"
	    "end)\n";
	char qid[PM_QID_LEN + 1];
	pm_qrcpt_final f;
	pm_qstore *qs;
	pm_qmsg *m = NULL;
	redisContext *c;
	redisReply *r;
	int rc, sh;

	rh_start(&srv);
	qs = open_qs("redis", 2);
	enqueue(qs, 2, 0, qid);
	sh = pm_qid_shard(qid, 2);
	rc = pm_qstore_rcpt_cas_action(qs, qid, 0, PM_RCPT_SENT, "2.0.0",
	    "delivered via x", "relayed", &f);
	cr_expect(rc == 0 && f.changed == 1, "sent: got %d/%d", rc, f.changed);
	rc = pm_qstore_rcpt_cas_action(qs, qid, 1, PM_RCPT_BOUNCED, "5.0.0",
	    "no", "relayed", &f);
	cr_expect(rc == 0 && f.changed == 1);
	rc = pm_qstore_rcpt_cas_action(qs, qid, 2, PM_RCPT_SENT, "2.0.0", "ok",
	    "bogus", &f);
	cr_expect(rc == 0 && f.changed == 1);
	cr_expect_eq(rh_int(&srv, "HEXISTS pm:{%d}:r:%s 1:x", sh, qid), 0);
	cr_expect_eq(rh_int(&srv, "HEXISTS pm:{%d}:r:%s 2:x", sh, qid), 0);
	cr_assert_eq(pm_qstore_read(qs, qid, &m), 0);
	cr_expect_str_eq(m->rcpt[0].status, PM_RCPT_SENT);
	cr_expect_str_eq(m->rcpt[0].action, "relayed");
	cr_expect_str_eq(m->rcpt[1].action, "");
	cr_expect_str_eq(m->rcpt[3].action, "");
	pm_qmsg_free(m);
	/* an older library: recorded, without the action */
	c = rh_raw(&srv);
	cr_assert(c != NULL);
	r = redisCommand(c, "FUNCTION LOAD REPLACE %s", old_lib);
	cr_assert(r != NULL && r->type == REDIS_REPLY_STRING, "%s",
	    r != NULL && r->str != NULL ? r->str : "no reply");
	freeReplyObject(r);
	redisFree(c);
	rc = pm_qstore_rcpt_cas_action(qs, qid, 3, PM_RCPT_SENT, "2.0.0", "ok",
	    "relayed", &f);
	cr_expect(rc == 0 && f.changed == 1, "old library: got %d/%d", rc,
	    f.changed);
	cr_expect_eq(rh_int(&srv, "HEXISTS pm:{%d}:r:%s 3:x", sh, qid), 0);
	m = NULL;
	cr_assert_eq(pm_qstore_read(qs, qid, &m), 0);
	cr_expect_str_eq(m->rcpt[3].status, PM_RCPT_SENT);
	pm_qmsg_free(m);
	pm_qstore_close(qs);
	leak_check();
}
