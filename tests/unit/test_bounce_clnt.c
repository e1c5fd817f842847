/*
 * NAME
 *	test_bounce_clnt - unit tests for the bounce client stub
 * DESCRIPTION
 *	pm_bounce_notify() against a small pm_rpc server in the process (an
 *	ipc:// socket) that records every request it gets: recipients are
 *	split in parts of at most per_notice, in order, each request with
 *	its part index (issue 6, 3d); a part answered 5xx is lost and the
 *	others are still asked for (PM_ENOENT, res.lost, res.why); a 4xx
 *	stops at that part (PM_EAGAIN); texts are cut at their wire bound
 *	and an over-long address makes its part lost, never a request
 *	over the control-call limit. pm_bounce_notify_to() sends an
 *	owner's notice with the caller's part and one to the sender (no
 *	notify_to) with PM_BOUNCE_PART_AGENT + part.
 */
#include "bounce_clnt.h"
#include "pm_qid.h"
#include "pm_rpc.h"
#include "pm_util.h"

#include "bounce.pb-c.h"
#include "common.pb-c.h"

#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXREQ 64

/* What the fake bounce got, and how it answers part p. */
static struct {
	pthread_mutex_t mu;
	size_t n;
	unsigned part[MAXREQ];
	size_t nrcpt[MAXREQ];
	char first[MAXREQ][64]; /* first recipient of each part */
	size_t textlen[MAXREQ];
	char notify_to[MAXREQ][64];
	unsigned code_for_part[8]; /* 0: 250 */
} fake = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int
srv_handler(void *ctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	Pm__BounceReply rep = PM__BOUNCE_REPLY__INIT;
	Pm__BounceRequest *m;
	uint8_t buf[512];
	char nqid[PM_QID_LEN + 1];
	size_t len, i;

	(void) ctx;
	if (type != PM__MSG_TYPE__MSG_BOUNCE_NOTIFY ||
	    (m = pm__bounce_request__unpack(NULL, reqlen, req)) == NULL) {
		return (PM_EPROTO);
	}
	pthread_mutex_lock(&fake.mu);
	i = fake.n < MAXREQ ? fake.n++ : MAXREQ - 1;
	fake.part[i] = m->part;
	fake.nrcpt[i] = m->n_rcpt;
	snprintf(fake.first[i], sizeof(fake.first[i]), "%s",
	    m->n_rcpt ? m->rcpt[0]->address : "");
	fake.textlen[i] = m->n_rcpt ? strlen(m->rcpt[0]->text) : 0;
	snprintf(fake.notify_to[i], sizeof(fake.notify_to[i]), "%s",
	    m->notify_to ? m->notify_to : "");
	rep.code = m->part < 8 && fake.code_for_part[m->part] ?
	    fake.code_for_part[m->part] :
	    250;
	pthread_mutex_unlock(&fake.mu);
	rep.text = rep.code == 250 ? "2.0.0 Ok" : "5.3.4 too large";
	(void) pm_qid_derive(nqid, m->queue_id, (unsigned) m->kind, m->part);
	rep.notice_queue_id = rep.code == 250 ? nqid : "";
	len = pm__bounce_reply__pack(&rep, buf);
	pm__bounce_request__free_unpacked(m, NULL);
	*rtype = PM__MSG_TYPE__MSG_BOUNCE_REPLY;
	return (pm_buf_append(rbuf, buf, len));
}

static pm_rpc_server *srv;
static pm_bounce_clnt *clnt;

static void
setup(void)
{
	char url[128];

	snprintf(url, sizeof(url), "ipc:///tmp/pm_test_bounce_%d.ipc",
	    (int) getpid());
	srv = pm_rpc_server_start(url, 2, PM_RPC_CONTROL_MAX, srv_handler, NULL,
	    NULL);
	cr_assert_not_null(srv, "server on %s", url);
	clnt = pm_bounce_clnt_new(url, 5000);
	cr_assert_not_null(clnt);
}

static void
teardown(void)
{
	pm_bounce_clnt_free(clnt);
	pm_rpc_server_stop(srv);
}

TestSuite(bclnt, .init = setup, .fini = teardown, .timeout = 60);

/* n recipients r0@x .. r<n-1>@x with texts of tlen bytes. */
static pm_notice_rcpt *
rcpts(size_t n, size_t tlen, char ***addr, char **text)
{
	pm_notice_rcpt *r = pm_calloc(n, sizeof(*r));
	size_t i;

	*addr = pm_calloc(n, sizeof(**addr));
	*text = pm_malloc(tlen + 1);
	memset(*text, 't', tlen);
	(*text)[tlen] = 0;
	for (i = 0; i < n; i++) {
		(*addr)[i] = pm_asprintf("r%zu@x", i);
		r[i].address = (*addr)[i];
		r[i].orcpt = "";
		r[i].dsn = "5.1.1";
		r[i].text = *text;
		r[i].remote_mta = "mx.x";
	}
	return (r);
}

static void
rcpts_free(pm_notice_rcpt *r, size_t n, char **addr, char *text)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(addr[i]);
	}
	free(addr);
	free(text);
	free(r);
}

Test(bclnt, split_in_order_with_part_index)
{
	static const struct {
		size_t n, per;
		size_t want_parts;
	} cases[] = {
		{ 1, 3, 1 },
		{ 3, 3, 1 },
		{ 7, 3, 3 },
		{ 9, 3, 3 },
		{ 10, 1, 10 },
		{ 5, 1000, 1 }, /* capped at the max */
		{ 801, 400, 3 },
		{ 801, 100000, 3 },
	};
	char qid[PM_QID_LEN + 1], want[32], **addr, *text;
	pm_notice_result res;
	pm_notice_rcpt *r;
	size_t c, i, per;
	int rc;

	pm_qid_new(qid);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		fake.n = 0;
		r = rcpts(cases[c].n, 10, &addr, &text);
		rc = pm_bounce_notify(clnt, PM_NOTICE_FAILED, qid, r,
		    cases[c].n, cases[c].per, &res);
		cr_expect_eq(rc, 0, "case %zu: got %d", c, rc);
		cr_expect_eq(res.parts, cases[c].want_parts,
		    "case %zu: parts "
		    "got %zu, want %zu",
		    c, res.parts, cases[c].want_parts);
		cr_expect_eq(fake.n, cases[c].want_parts,
		    "case %zu: requests"
		    " got %zu",
		    c, fake.n);
		cr_expect_eq(res.lost, 0);
		per = cases[c].per < PM_BOUNCE_NOTICE_MAX ?
		    cases[c].per :
		    PM_BOUNCE_NOTICE_MAX;
		for (i = 0; i < fake.n; i++) {
			cr_expect_eq(fake.part[i], i,
			    "case %zu: request %zu "
			    "has part %u",
			    c, i, fake.part[i]);
			cr_expect_eq(fake.nrcpt[i],
			    i + 1 < fake.n ? per : cases[c].n - i * per,
			    "case %zu part %zu: %zu "
			    "recipients",
			    c, i, fake.nrcpt[i]);
			snprintf(want, sizeof(want), "r%zu@x", i * per);
			cr_expect_str_eq(fake.first[i], want);
		}
		/* the first part's notice id, derived from the original */
		pm_qid_derive(want, qid, PM_NOTICE_FAILED, 0);
		cr_expect_str_eq(res.queue_id, want);
		rcpts_free(r, cases[c].n, addr, text);
	}
}

Test(bclnt, lost_and_temporary_parts)
{
	char qid[PM_QID_LEN + 1], **addr, *text;
	pm_notice_result res;
	pm_notice_rcpt *r;
	int rc;

	pm_qid_new(qid);
	r = rcpts(9, 10, &addr, &text);

	/* part 1 of 3 refused for good: parts 0 and 2 still asked */
	fake.n = 0;
	memset(fake.code_for_part, 0, sizeof(fake.code_for_part));
	fake.code_for_part[1] = 552;
	rc = pm_bounce_notify(clnt, PM_NOTICE_FAILED, qid, r, 9, 3, &res);
	cr_expect_eq(rc, PM_ENOENT, "got %d, want PM_ENOENT", rc);
	cr_expect_eq(fake.n, 3);
	cr_expect_eq(res.parts, 3);
	cr_expect_eq(res.lost, 1);
	cr_expect(strstr(res.why, "552 5.3.4 too large") != NULL, "why: %s",
	    res.why);

	/* part 1 fails for now: stop there, part 2 is not asked */
	fake.n = 0;
	fake.code_for_part[1] = 451;
	rc = pm_bounce_notify(clnt, PM_NOTICE_FAILED, qid, r, 9, 3, &res);
	cr_expect_eq(rc, PM_EAGAIN, "got %d, want PM_EAGAIN", rc);
	cr_expect_eq(fake.n, 2, "asked %zu parts, want 2", fake.n);

	/* bad arguments */
	cr_expect_eq(pm_bounce_notify(clnt, PM_NOTICE_FAILED, qid, r, 9, 0,
	                 &res),
	    PM_EINVAL);
	cr_expect_eq(pm_bounce_notify(clnt, 9, qid, r, 9, 3, &res), PM_EINVAL);
	cr_expect_eq(pm_bounce_notify(clnt, PM_NOTICE_FAILED, "bad", r, 9, 3,
	                 &res),
	    PM_EINVAL);
	rcpts_free(r, 9, addr, text);
}

/*
 * The local agent's notices: to an owner with the recipient index as
 * part; to the sender (no notify_to) with the index above qmgr's parts.
 */
Test(bclnt, notify_to_parts)
{
	char qid[PM_QID_LEN + 1], **addr, *text;
	pm_notice_result res;
	pm_notice_rcpt *r;
	int rc;

	pm_qid_new(qid);
	memset(fake.code_for_part, 0, sizeof(fake.code_for_part));
	r = rcpts(2, 10, &addr, &text);
	fake.n = 0;
	rc = pm_bounce_notify_to(clnt, qid, "owner-l@x", 7, r, 2, &res);
	cr_expect_eq(rc, 0, "got %d", rc);
	rc = pm_bounce_notify_to(clnt, qid, NULL, 7, r, 2, &res);
	cr_expect_eq(rc, 0, "got %d", rc);
	cr_assert_eq(fake.n, 2);
	cr_expect_eq(fake.part[0], 7);
	cr_expect_str_eq(fake.notify_to[0], "owner-l@x");
	cr_expect_eq(fake.part[1], PM_BOUNCE_PART_AGENT + 7, "part %u",
	    fake.part[1]);
	cr_expect_str_eq(fake.notify_to[1], "");
	cr_expect_eq(res.parts, 1);
	/* bad arguments: nothing is asked */
	cr_expect_eq(pm_bounce_notify_to(clnt, qid, "", 7, r, 2, &res),
	    PM_EINVAL);
	cr_expect_eq(pm_bounce_notify_to(clnt, qid, NULL, PM_BOUNCE_PART_AGENT,
	                 r, 2, &res),
	    PM_EINVAL);
	cr_expect_eq(fake.n, 2);
	rcpts_free(r, 2, addr, text);
}

/* Every field at its worst: requests still fit; texts are cut. */
Test(bclnt, wire_bounds)
{
	char qid[PM_QID_LEN + 1], **addr, *text, *longaddr;
	pm_notice_result res;
	pm_notice_rcpt *r;
	size_t i;
	int rc;

	pm_qid_new(qid);
	memset(fake.code_for_part, 0, sizeof(fake.code_for_part));
	r = rcpts(PM_BOUNCE_NOTICE_MAX, 100000, &addr, &text);
	for (i = 0; i < PM_BOUNCE_NOTICE_MAX; i++) {
		free(addr[i]);
		addr[i] = pm_malloc(PM_BOUNCE_ADDR_WIRE_MAX + 1);
		memset(addr[i], 'a', PM_BOUNCE_ADDR_WIRE_MAX);
		snprintf(addr[i], 24, "r%zu@x", i);
		addr[i][strlen(addr[i])] = 'a';
		addr[i][PM_BOUNCE_ADDR_WIRE_MAX] = 0;
		r[i].address = addr[i];
		r[i].orcpt = addr[i];
		r[i].remote_mta = text;
	}
	fake.n = 0;
	rc = pm_bounce_notify(clnt, PM_NOTICE_FAILED, qid, r,
	    PM_BOUNCE_NOTICE_MAX, PM_BOUNCE_NOTICE_MAX, &res);
	cr_expect_eq(rc, 0, "a full request at the wire bounds: got %d", rc);
	cr_expect_eq(fake.n, 1);
	cr_expect_eq(fake.textlen[0], PM_BOUNCE_TEXT_WIRE_MAX);

	/* an address over the bound: that part is lost, not retried */
	longaddr = pm_malloc(PM_BOUNCE_ADDR_WIRE_MAX + 2);
	memset(longaddr, 'b', PM_BOUNCE_ADDR_WIRE_MAX + 1);
	longaddr[PM_BOUNCE_ADDR_WIRE_MAX + 1] = 0;
	r[0].address = longaddr;
	fake.n = 0;
	rc = pm_bounce_notify(clnt, PM_NOTICE_FAILED, qid, r, 4, 2, &res);
	cr_expect_eq(rc, PM_ENOENT, "got %d", rc);
	cr_expect_eq(res.lost, 1);
	cr_expect_eq(res.parts, 2);
	cr_expect_eq(fake.n, 1, "the sendable part is still asked for");
	free(longaddr);
	rcpts_free(r, PM_BOUNCE_NOTICE_MAX, addr, text);
}
