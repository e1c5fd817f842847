/*
 * NAME
 *	test_agent_finish - an agent reports what Redis holds as final
 * DESCRIPTION
 *	pm__agent_finish() (pm_agent_job.c) against a real redis-server:
 *	a message is queued with pm_qstore, some recipients are made final
 *	in Redis (as an earlier attempt or another agent would), then an
 *	agent job reports its own, different outcome for them. The agent
 *	must log and report to qmgr (DoneRequest) the stored status, DSN
 *	and text, not its own (issue 6, 3f): no bounce for mail that was
 *	delivered, no "status=sent" for a recipient that bounced. A
 *	recipient that was not final takes the agent's outcome. A
 *	redirected recipient is reported as such, neither recorded nor
 *	logged, with dsn_passed when the agent sent a notice for it; a
 *	job with no_success_notice (such a recipient at its target)
 *	records sent with "i:q" = 1 and reports dsn_passed. The log
 *	(stdout) is read from a pipe.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery.pb-c.h"
#include "pm_agent_priv.h"
#include "pm_log.h"
#include "pm_qid.h"
#include "pm_qstore.h"
#include "redis_helper.h"

static rh_server srv;

static void
setup(void)
{
	pm_log_init("postmesh/test_agent_finish");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(agent_finish, .init = setup, .fini = teardown, .timeout = 60);

#define NR 4

static const struct {
	const char *stored; /* status written first, NULL: none */
	const char *sdsn;
	const char *stext;
	int own; /* the agent's outcome */
	const char *odsn;
	const char *otext;
	/* want, reported and logged: */
	int status;
	const char *dsn;
	const char *text;
	const char *log;
} cases[NR] = {
	/* delivered before; this attempt bounced: report sent */
	{ PM_RCPT_SENT, "2.0.0", "250 2.0.0 Ok: queued as A1", PM_JOB_BOUNCED,
	    "5.1.1", "550 5.1.1 User unknown", PM_JOB_SENT, "2.0.0",
	    "250 2.0.0 Ok: queued as A1",
	    "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as A1)" },
	/* bounced before; this attempt delivered: report bounced */
	{ PM_RCPT_BOUNCED, "5.4.7", "message delivery time expired",
	    PM_JOB_SENT, "2.0.0", "250 2.0.0 Ok", PM_JOB_BOUNCED, "5.4.7",
	    "message delivery time expired",
	    "dsn=5.4.7, status=bounced (message delivery time expired)" },
	/* delivered before; this attempt deferred: report sent */
	{ PM_RCPT_SENT, "2.0.0", "250 ok", PM_JOB_DEFERRED, "4.4.1",
	    "connection timed out", PM_JOB_SENT, "2.0.0", "250 ok",
	    "dsn=2.0.0, status=sent (250 ok)" },
	/* not final: the agent's own outcome */
	{ NULL, NULL, NULL, PM_JOB_BOUNCED, "5.1.1", "550 5.1.1 nobody here",
	    PM_JOB_BOUNCED, "5.1.1", "550 5.1.1 nobody here",
	    "dsn=5.1.1, status=bounced (550 5.1.1 nobody here)" },
};

static const Pm__RcptStatus want_wire[] = {
	[PM_JOB_SENT] = PM__RCPT_STATUS__RCPT_SENT,
	[PM_JOB_DEFERRED] = PM__RCPT_STATUS__RCPT_DEFERRED,
	[PM_JOB_BOUNCED] = PM__RCPT_STATUS__RCPT_BOUNCED,
};

static const char *const st_name[] = {
	[PM_JOB_SENT] = "sent",
	[PM_JOB_DEFERRED] = "deferred",
	[PM_JOB_BOUNCED] = "bounced",
};

Test(agent_finish, stored_final_status_wins)
{
	static const char *const tp[] = { "smtp", NULL };
	static const pm_agent a = { .name = "smtp", .transports = tp };
	char *addr[NR], log[16384], rid[64], status[NR][16], *line;
	pm_qrcpt qr[NR];
	pm_job_rcpt jr[NR];
	pm_qmsg m;
	agent_job aj;
	agent_metrics met;
	Pm__DoneRequest *dr;
	pm_qstore *qs;
	pm_buf out;
	size_t i, len = 0;
	ssize_t n;
	int p[2], saved, changed, got;

	rh_start(&srv);
	qs = pm_qstore_open(srv.addr, 2000, "redis", 2);
	cr_assert(qs != NULL);
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	memset(&m, 0, sizeof(m));
	memset(qr, 0, sizeof(qr));
	pm_qid_new(m.qid);
	m.shard = pm_qid_shard(m.qid, 2);
	m.sender = "s@example.test";
	m.arrival_us = pm_now_us();
	for (i = 0; i < NR; i++) {
		addr[i] = pm_asprintf("r%zu@example.test", i);
		qr[i].address = addr[i];
		qr[i].orcpt = "";
	}
	m.nrcpt = NR;
	m.rcpt = qr;
	cr_assert_eq(pm_qstore_enqueue(qs, &m, "Subject: x\r\n\r\nx\r\n", 16),
	    0);
	for (i = 0; i < NR; i++) {
		if (cases[i].stored == NULL) {
			continue;
		}
		cr_assert_eq(pm_qstore_rcpt_status(qs, m.qid, i,
		                 cases[i].stored, cases[i].sdsn, cases[i].stext,
		                 &changed),
		    0);
		cr_assert_eq(changed, 1);
	}

	memset(&aj, 0, sizeof(aj));
	memset(jr, 0, sizeof(jr));
	for (i = 0; i < NR; i++) {
		jr[i].index = (unsigned) i;
		jr[i].address = addr[i];
		jr[i].orcpt = "";
		jr[i].queued_address = addr[i];
		pm_job_set(&jr[i], cases[i].own, cases[i].odsn, "%s",
		    cases[i].otext);
	}
	aj.job.job_id = "job-1";
	aj.job.queue_id = m.qid;
	aj.job.transport = "smtp";
	aj.job.nexthop = "example.test";
	aj.job.sender = m.sender;
	aj.job.nrcpt = NR;
	aj.job.rcpt = jr;
	aj.job.arrival_us = m.arrival_us;
	aj.job.active_us = m.arrival_us;
	aj.job.dsn_passed = 1;
	snprintf(aj.job.relay, sizeof(aj.job.relay),
	    "mx.example.test"
	    "[192.0.2.1]:25");
	pm__agent_metrics_init(&met, "smtp");
	pm_buf_init(&out, 1 << 20);

	/* the log goes to a pipe while the job finishes */
	cr_assert(pipe(p) == 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fflush(stdout);
	saved = dup(1);
	dup2(p[1], 1);
	pm__agent_finish(&a, &met, qs, &aj, &out);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(p[1]);
	while (len + 1 < sizeof(log) &&
	    (n = read(p[0], log + len, sizeof(log) - len - 1)) > 0) {
		len += (size_t) n;
	}
	log[len] = 0;
	close(p[0]);

	dr = pm__done_request__unpack(NULL, out.len, (uint8_t *) out.data);
	cr_assert(dr != NULL, "DoneRequest does not unpack");
	cr_assert_eq(dr->n_results, NR);
	for (i = 0; i < NR; i++) {
		Pm__RcptResult *r = dr->results[i];

		cr_expect_eq(r->index, i);
		cr_expect_eq(r->status, want_wire[cases[i].status],
		    "rcpt %zu:"
		    " reported status got %d, want %s",
		    i, (int) r->status, st_name[cases[i].status]);
		cr_expect_str_eq(r->dsn, cases[i].dsn,
		    "rcpt %zu: dsn got %s,"
		    " want %s",
		    i, r->dsn, cases[i].dsn);
		cr_expect_str_eq(r->text, cases[i].text,
		    "rcpt %zu: text got "
		    "\"%s\", want \"%s\"",
		    i, r->text, cases[i].text);
		cr_expect(r->recorded, "rcpt %zu: not recorded", i);
		/* a success notice is not the peer's for an old delivery */
		cr_expect_eq(r->dsn_passed,
		    cases[i].own == PM_JOB_SENT &&
		        cases[i].status == PM_JOB_SENT,
		    "rcpt %zu: dsn_passed", i);
		/* the log line of this recipient says the same */
		snprintf(rid, sizeof(rid), "to=<r%zu@example.test>, relay=", i);
		line = strstr(log, rid);
		cr_expect(line != NULL && strstr(line, cases[i].log) != NULL &&
		        strstr(line, cases[i].log) < strchrnul(line, '\n'),
		    "rcpt %zu: no log line with \"%s\":\n%s", i, cases[i].log,
		    log);
	}
	pm__done_request__free_unpacked(dr, NULL);

	/* Redis still holds what it held, and now the new outcome */
	for (i = 0; i < NR; i++) {
		redisReply *r = rh_cmd(&srv, "HGET pm:{%d}:r:%s %d:s", m.shard,
		    m.qid, (int) i);

		cr_assert_eq(r->type, REDIS_REPLY_STRING);
		snprintf(status[i], sizeof(status[i]), "%s", r->str);
		freeReplyObject(r);
		got = strcmp(status[i], st_name[cases[i].status]) == 0;
		cr_expect(got, "rcpt %zu: Redis has %s, want %s", i, status[i],
		    st_name[cases[i].status]);
	}
	cr_expect(strstr(log, "warning: ") != NULL &&
	        strstr(log, "was final in the queue already") != NULL,
	    "no warning:\n%s", log);
	pm_buf_free(&out);
	for (i = 0; i < NR; i++) {
		free(addr[i]);
	}
	pm_qstore_close(qs);
}

/*
 * A redirected recipient (pm_job_redirect: local's mailbox_transport)
 * is reported as RCPT_REDIRECT with its transport and nexthop, not
 * recorded in Redis (the target agent does that) and not logged; the
 * other recipient of the job is finished as usual.
 */
Test(agent_finish, redirect_is_neither_recorded_nor_logged)
{
	static const char *const tp[] = { "local", NULL };
	static const pm_agent a = { .name = "local", .transports = tp };
	char log[8192];
	pm_qrcpt qr[2];
	pm_job_rcpt jr[2];
	pm_qmsg m;
	agent_job aj;
	agent_metrics met;
	Pm__DoneRequest *dr;
	redisReply *r;
	pm_qstore *qs;
	pm_buf out;
	size_t len = 0;
	ssize_t n;
	int p[2], saved;

	rh_start(&srv);
	qs = pm_qstore_open(srv.addr, 2000, "redis", 1);
	cr_assert(qs != NULL);
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	memset(&m, 0, sizeof(m));
	memset(qr, 0, sizeof(qr));
	pm_qid_new(m.qid);
	m.shard = 0;
	m.sender = "s@example.test";
	m.arrival_us = pm_now_us();
	qr[0].address = "alice@example.test";
	qr[0].orcpt = "";
	qr[1].address = "bob@example.test";
	qr[1].orcpt = "";
	m.nrcpt = 2;
	m.rcpt = qr;
	cr_assert_eq(pm_qstore_enqueue(qs, &m, "Subject: x\r\n\r\nx\r\n", 16),
	    0);

	memset(&aj, 0, sizeof(aj));
	memset(jr, 0, sizeof(jr));
	jr[0].index = 0;
	jr[0].address = jr[0].queued_address = "alice@example.test";
	jr[0].orcpt = "";
	cr_assert_eq(pm_job_redirect(&jr[0], "lmtp", "inet:127.0.0.1:24"), 0);
	jr[0].notified = 1; /* local sent an owner- notice for it */
	jr[1].index = 1;
	jr[1].address = jr[1].queued_address = "bob@example.test";
	jr[1].orcpt = "";
	pm_job_set(&jr[1], PM_JOB_SENT, "2.0.0", "delivered to maildir");
	aj.job.job_id = "job-2";
	aj.job.queue_id = m.qid;
	aj.job.transport = "local";
	aj.job.nexthop = "mx.example.test";
	aj.job.sender = m.sender;
	aj.job.nrcpt = 2;
	aj.job.rcpt = jr;
	aj.job.arrival_us = m.arrival_us;
	aj.job.active_us = m.arrival_us;
	snprintf(aj.job.relay, sizeof(aj.job.relay), "local");
	pm__agent_metrics_init(&met, "local");
	pm_buf_init(&out, 1 << 20);

	cr_assert(pipe(p) == 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	fflush(stdout);
	saved = dup(1);
	dup2(p[1], 1);
	pm__agent_finish(&a, &met, qs, &aj, &out);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(p[1]);
	while (len + 1 < sizeof(log) &&
	    (n = read(p[0], log + len, sizeof(log) - len - 1)) > 0) {
		len += (size_t) n;
	}
	log[len] = 0;
	close(p[0]);

	dr = pm__done_request__unpack(NULL, out.len, (uint8_t *) out.data);
	cr_assert(dr != NULL);
	cr_assert_eq(dr->n_results, 2);
	cr_expect_eq(dr->results[0]->status, PM__RCPT_STATUS__RCPT_REDIRECT);
	cr_expect_str_eq(dr->results[0]->redirect_transport, "lmtp");
	cr_expect_str_eq(dr->results[0]->redirect_nexthop, "inet:127.0.0.1:24");
	cr_expect(!dr->results[0]->recorded);
	cr_expect(dr->results[0]->dsn_passed, "the notified mark is lost");
	cr_expect_eq(dr->results[1]->status, PM__RCPT_STATUS__RCPT_SENT);
	cr_expect(dr->results[1]->recorded);
	cr_expect(!dr->results[1]->dsn_passed);
	pm__done_request__free_unpacked(dr, NULL);
	cr_expect(strstr(log, "to=<alice@example.test>") == NULL,
	    "a redirect was logged:\n%s", log);
	cr_expect(strstr(log, "to=<bob@example.test>") != NULL, "%s", log);

	r = rh_cmd(&srv, "HGET pm:{0}:r:%s 0:s", m.qid);
	cr_expect(r->type == REDIS_REPLY_NIL ||
	        (r->type == REDIS_REPLY_STRING && strcmp(r->str, "sent") != 0 &&
	            strcmp(r->str, "deferred") != 0),
	    "Redis has a status for the redirected recipient");
	freeReplyObject(r);
	r = rh_cmd(&srv, "HGET pm:{0}:r:%s 1:s", m.qid);
	cr_expect(r->type == REDIS_REPLY_STRING && strcmp(r->str, "sent") == 0);
	freeReplyObject(r);
	free(jr[0].redirect_transport);
	free(jr[0].redirect_nexthop);
	pm_buf_free(&out);
	pm_qstore_close(qs);
}

/* A redirected, owner-notified recipient at its target agent. */
Test(agent_finish, no_success_notice_job)
{
	static const char *const tp[] = { "lmtp", NULL };
	static const pm_agent a = { .name = "lmtp", .transports = tp };
	pm_qrcpt qr[1];
	pm_job_rcpt jr[1];
	pm_qmsg m;
	agent_job aj;
	agent_metrics met;
	Pm__DoneRequest *dr;
	redisReply *r;
	pm_qstore *qs;
	pm_buf out;

	rh_start(&srv);
	qs = pm_qstore_open(srv.addr, 2000, "redis", 1);
	cr_assert(qs != NULL);
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	memset(&m, 0, sizeof(m));
	memset(qr, 0, sizeof(qr));
	pm_qid_new(m.qid);
	m.sender = "s@example.test";
	m.arrival_us = pm_now_us();
	qr[0].address = "alice@example.test";
	qr[0].orcpt = "";
	m.nrcpt = 1;
	m.rcpt = qr;
	cr_assert_eq(pm_qstore_enqueue(qs, &m, "Subject: x\r\n\r\nx\r\n", 16),
	    0);
	memset(&aj, 0, sizeof(aj));
	memset(jr, 0, sizeof(jr));
	jr[0].address = jr[0].queued_address = "alice@example.test";
	jr[0].orcpt = "";
	pm_job_set(&jr[0], PM_JOB_SENT, "2.0.0", "250 2.0.0 Ok");
	aj.job.job_id = "job-3";
	aj.job.queue_id = m.qid;
	aj.job.transport = "lmtp";
	aj.job.nexthop = "inet:127.0.0.1:24";
	aj.job.sender = m.sender;
	aj.job.nrcpt = 1;
	aj.job.rcpt = jr;
	aj.job.arrival_us = m.arrival_us;
	aj.job.active_us = m.arrival_us;
	aj.job.no_success_notice = 1;
	snprintf(aj.job.relay, sizeof(aj.job.relay), "127.0.0.1[127.0.0.1]:24");
	pm__agent_metrics_init(&met, "lmtp");
	pm_buf_init(&out, 1 << 20);
	pm__agent_finish(&a, &met, qs, &aj, &out);
	dr = pm__done_request__unpack(NULL, out.len, (uint8_t *) out.data);
	cr_assert(dr != NULL);
	cr_assert_eq(dr->n_results, 1);
	cr_expect_eq(dr->results[0]->status, PM__RCPT_STATUS__RCPT_SENT);
	cr_expect(dr->results[0]->recorded);
	cr_expect(dr->results[0]->dsn_passed, "a success notice would go");
	pm__done_request__free_unpacked(dr, NULL);
	r = rh_cmd(&srv, "HMGET pm:{0}:r:%s 0:s 0:q", m.qid);
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
	cr_expect(r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "sent") == 0);
	cr_expect(r->element[1]->type == REDIS_REPLY_STRING &&
	        strcmp(r->element[1]->str, "1") == 0,
	    "no i:q = 1");
	freeReplyObject(r);
	pm_buf_free(&out);
	pm_qstore_close(qs);
}
