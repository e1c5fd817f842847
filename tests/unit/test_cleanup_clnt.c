/*
 * NAME
 *	test_cleanup_clnt - unit tests for the cleanup client stub
 * DESCRIPTION
 *	cleanup_clnt against a small pm_rpc server in the process (an
 *	ipc:// socket) whose reply depends on the sender: the request
 *	arrives whole, replies are validated (bad code, DSN of the wrong
 *	class, CR/LF in the text, a bad queue id), a handler error and a
 *	missing server become 451 4.3.0, content over the limit is refused
 *	locally (552 5.3.4, PM_ETOOBIG for the async call without a
 *	callback), the async callback runs exactly once.
 */
#include "cleanup_clnt.h"
#include "pm_qid.h"
#include "pm_rpc.h"
#include "pm_util.h"

#include "cleanup.pb-c.h"
#include "common.pb-c.h"

#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fake cleanup: the reply depends on the sender. */
static int
srv_handler(void *ctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	Pm__CleanupReply rep = PM__CLEANUP_REPLY__INIT;
	Pm__CleanupSubmit *s;
	uint8_t buf[2048];
	size_t len;
	char text[256];

	(void) ctx;
	if (type != PM__MSG_TYPE__MSG_CLEANUP_SUBMIT ||
	    (s = pm__cleanup_submit__unpack(NULL, reqlen, req)) == NULL) {
		return (PM_EPROTO);
	}
	if (strcmp(s->sender, "err@x") == 0) {
		pm__cleanup_submit__free_unpacked(s, NULL);
		return (PM_EIO);
	}
	rep.queue_id = s->queue_id;
	rep.code = 250;
	rep.dsn = "2.0.0";
	snprintf(text, sizeof(text), "Ok: queued as %s n=%zu c=%zu %s %s",
	    s->queue_id, s->n_rcpt, s->content.len,
	    s->n_rcpt ? s->rcpt[0]->address : "-", s->helo_name);
	rep.text = text;
	if (strcmp(s->sender, "code@x") == 0) {
		rep.code = 700;
	} else if (strcmp(s->sender, "dsn@x") == 0) {
		rep.code = 550;
		rep.dsn = "4.1.1";
		rep.text = "mismatch";
	} else if (strcmp(s->sender, "ctl@x") == 0) {
		rep.code = 550;
		rep.dsn = "5.7.1";
		rep.text = "bad\r\n250 smuggled";
		rep.queue_id = "../../etc";
	}
	len = pm__cleanup_reply__pack(&rep, buf);
	pm__cleanup_submit__free_unpacked(s, NULL);
	*rtype = PM__MSG_TYPE__MSG_CLEANUP_REPLY;
	return (pm_buf_append(rbuf, buf, len));
}

struct async_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	pm_submit_result res;
};

static void
async_cb(void *arg, const pm_submit_result *res)
{
	struct async_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->res = *res;
	w->done++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

Test(clnt, submit)
{
	static const struct {
		const char *sender;
		unsigned code;
		const char *dsn;
		const char *text_prefix;
		int has_qid;
	} cases[] = {
		{ "ok@x", 250, "2.0.0", "Ok: queued as ", 1 },
		{ "code@x", 451, "4.3.0", "Error: queue file write error", 1 },
		{ "dsn@x", 550, "5.3.0", "mismatch", 1 },
		{ "ctl@x", 550, "5.7.1", "bad??250 smuggled", 1 },
		{ "err@x", 451, "4.3.0", "Error: queue file write error", 1 },
	};
	pm_submit_rcpt rcpt[2] = { { "a@example.org", "", 0 },
		{ "b@example.org", "rfc822;b@example.org", 6 } };
	pm_submit s;
	pm_submit_result res;
	pm_rpc_server *srv;
	pm_cleanup_clnt *c;
	struct async_wait w;
	char url[128], qid[PM_QID_LEN + 1];
	size_t i;

	snprintf(url, sizeof(url), "ipc:///tmp/pm_test_cleanup_%d.ipc",
	    (int) getpid());
	srv = pm_rpc_server_start(url, 2, 1024 * 1024, srv_handler, NULL, NULL);
	cr_assert_not_null(srv, "server on %s", url);
	c = pm_cleanup_clnt_new(url, 1000, 5000);
	cr_assert_not_null(c);

	pm_qid_new(qid);
	memset(&s, 0, sizeof(s));
	s.queue_id = qid;
	s.rcpt = rcpt;
	s.nrcpt = 2;
	s.content = "Subject: x\r\n\r\nbody\r\n";
	s.content_len = strlen(s.content);
	s.helo_name = "client.example";
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s.sender = cases[i].sender;
		pm_cleanup_submit(c, &s, &res);
		cr_assert_eq(res.code, cases[i].code,
		    "%s: code got %u, want "
		    "%u (%s)",
		    cases[i].sender, res.code, cases[i].code, res.text);
		cr_assert_str_eq(res.dsn, cases[i].dsn, "%s: dsn got %s",
		    cases[i].sender, res.dsn);
		cr_assert(strncmp(res.text, cases[i].text_prefix,
		              strlen(cases[i].text_prefix)) == 0,
		    "%s: text got \"%s\"", cases[i].sender, res.text);
		cr_assert_str_eq(res.queue_id, qid, "%s: qid got %s",
		    cases[i].sender, res.queue_id);
	}
	/* the request arrived whole */
	s.sender = "ok@x";
	pm_cleanup_submit(c, &s, &res);
	cr_assert(strstr(res.text, " n=2 c=20 a@example.org client.example") !=
	        NULL,
	    "request fields: got \"%s\"", res.text);

	/* asynchronous */
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	w.done = 0;
	cr_assert_eq(pm_cleanup_submit_async(c, &s, async_cb, &w), 0);
	pthread_mutex_lock(&w.mu);
	while (w.done == 0) {
		pthread_cond_wait(&w.cv, &w.mu);
	}
	pthread_mutex_unlock(&w.mu);
	cr_assert_eq(w.done, 1);
	cr_assert_eq(w.res.code, 250, "async: got %u %s", w.res.code,
	    w.res.text);

	/* over the size limit: refused locally, no callback */
	s.content_len = 1001;
	s.content = pm_calloc(1, 1001);
	pm_cleanup_submit(c, &s, &res);
	cr_assert(res.code == 552 && strcmp(res.dsn, "5.3.4") == 0,
	    "too big: got %u %s", res.code, res.dsn);
	cr_assert_eq(pm_cleanup_submit_async(c, &s, async_cb, &w), PM_ETOOBIG);
	free((void *) s.content);
	cr_assert_eq(w.done, 1, "callback after a refused start");
	pm_cleanup_clnt_free(c);
	pm_rpc_server_stop(srv);

	/* nobody listening: 451 4.3.0 within the deadline */
	c = pm_cleanup_clnt_new("tcp://127.0.0.1:1", 1000, 300);
	cr_assert_not_null(c);
	s.content = "x";
	s.content_len = 1;
	pm_cleanup_submit(c, &s, &res);
	cr_assert(res.code == 451 && strcmp(res.dsn, "4.3.0") == 0,
	    "no server: got %u %s %s", res.code, res.dsn, res.text);
	pm_cleanup_clnt_free(c);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
}
