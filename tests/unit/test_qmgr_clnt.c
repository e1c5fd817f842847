/*
 * NAME
 *	test_qmgr_clnt - unit tests for qmgr's fetch/done client stub
 * DESCRIPTION
 *	qmgr's side is played with the generated protobuf-c functions, as
 *	qmgr_fetch.c packs and unpacks: a FetchRequest packed by the stub
 *	unpacks with every field; a FetchReply packed here parses into
 *	pm_jobs equal to what was sent; a table of hostile jobs (truncated
 *	reply, wrong type, NUL in a string at the top or nested, too many
 *	recipients, bad enums, every string over its bound, control
 *	characters, duplicate indexes, shard out of range) is refused as
 *	pm_agent has always refused it: the reply as a whole (PM_EPROTO),
 *	the job dropped (no usable job id), or the job kept but marked
 *	invalid with the field's name, failed strings as "". A DoneRequest
 *	packed from a pm_job carries each status as its wire code; a done
 *	reply is checked. Last, the calls themselves against a small
 *	pm_rpc server in the process (ipc://).
 */
#include "pm_agent.h"
#include "qmgr_clnt.h"
#include "pm_addr.h"
#include "pm_body.h"
#include "pm_log.h"
#include "pm_qid.h"
#include "pm_rpc.h"
#include "pm_util.h"

#include "common.pb-c.h"
#include "delivery.pb-c.h"

#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSHARDS 2
#define MAXR 1001

static const char *const served[] = { "smtp", "relay", NULL };

static void
setup(void)
{
	pm_log_init("postmesh/test_qmgr_clnt");
}

TestSuite(qclnt, .init = setup, .timeout = 60);

/* A job as qmgr would send it, with room for hostile changes. */
typedef struct fake_job {
	Pm__DeliveryJob d;
	Pm__JobRcpt r[MAXR];
	Pm__JobRcpt *rp[MAXR];
	char qid[PM_QID_LEN + 1];
	char big[PM_QMGR_NEXTHOP_MAX + 2]; /* longer than any bound */
} fake_job;

static void
fake_init(fake_job *f, size_t nrcpt)
{
	static const char *const addr[] = { "a@example.test", "b@example.test",
		"c@example.test" };
	size_t i;

	memset(f, 0, sizeof(*f));
	pm_qid_new(f->qid);
	memset(f->big, 'x', sizeof(f->big) - 1);
	pm__delivery_job__init(&f->d);
	f->d.job_id = "job-1";
	f->d.queue_id = f->qid;
	f->d.transport = "smtp";
	f->d.nexthop = "example.test";
	f->d.sender = "s@example.test";
	f->d.attempt = 2;
	f->d.idempotency_key = "k/2/1";
	f->d.body_type = 2;
	f->d.dsn_ret = 1;
	f->d.dsn_envid = "env1";
	f->d.flags = 1;
	f->d.size = 4321;
	f->d.arrival_us = 1000;
	f->d.shard = pm_qid_shard(f->qid, NSHARDS);
	f->d.active_us = 2000;
	f->d.dispatch_us = 3000;
	for (i = 0; i < nrcpt && i < MAXR; i++) {
		pm__job_rcpt__init(&f->r[i]);
		f->r[i].index = (uint32_t) i;
		f->r[i].address = (char *) addr[i % 3];
		f->r[i].orcpt = "rfc822;o@example.test";
		f->r[i].notify = 3;
		f->r[i].queued_address = (char *) addr[i % 3];
		f->rp[i] = &f->r[i];
	}
	f->d.n_rcpt = nrcpt;
	f->d.rcpt = f->rp;
}

/* Pack a FetchReply of n jobs (caller frees). */
static uint8_t *
pack_reply(Pm__DeliveryJob **jobs, size_t n, size_t *len)
{
	Pm__FetchReply rep = PM__FETCH_REPLY__INIT;
	uint8_t *buf;

	rep.n_jobs = n;
	rep.jobs = jobs;
	*len = pm__fetch_reply__get_packed_size(&rep);
	buf = pm_malloc(*len + 1);
	pm__fetch_reply__pack(&rep, buf);
	return (buf);
}

/* Replace the first "NUL!" in the packed bytes by a NUL and "UL!". */
static void
put_nul(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 4 <= len; i++) {
		if (memcmp(buf + i, "NUL!", 4) == 0) {
			buf[i] = 0;
			return;
		}
	}
	cr_assert_fail("no NUL! marker in the packed reply");
}

Test(qclnt, fetch_request_packs_every_field)
{
	pm_qmgr_fetch_req req = { .agent_id = "smtp@h:1",
		.transports = served,
		.max_jobs = 7,
		.wait_ms = 5000 };
	Pm__FetchRequest *fr;
	pm_buf b;

	pm_buf_init(&b, PM_RPC_CONTROL_MAX);
	cr_assert_eq(pm_qmgr_fetch_pack(&req, &b), 0);
	fr = pm__fetch_request__unpack(NULL, b.len, (uint8_t *) b.data);
	cr_assert_not_null(fr);
	cr_expect_str_eq(fr->agent_id, "smtp@h:1");
	cr_assert_eq(fr->n_transports, 2);
	cr_expect_str_eq(fr->transports[0], "smtp");
	cr_expect_str_eq(fr->transports[1], "relay");
	cr_expect_eq(fr->max_jobs, 7);
	cr_expect_eq(fr->wait_ms, 5000);
	pm__fetch_request__free_unpacked(fr, NULL);
	pm_buf_free(&b);
}

Test(qclnt, fetch_reply_round_trip)
{
	static fake_job f[2];
	Pm__DeliveryJob *jobs[2];
	pm_qmgr_fetched *fr = NULL;
	const char *why = "unset";
	pm_job j;
	uint8_t *buf;
	size_t len, i, k;

	fake_init(&f[0], 3);
	fake_init(&f[1], 1);
	f[1].d.job_id = "job-2";
	f[1].d.transport = "relay";
	f[1].d.sender = "";
	f[1].d.dsn_envid = "";
	jobs[0] = &f[0].d;
	jobs[1] = &f[1].d;
	buf = pack_reply(jobs, 2, &len);
	cr_assert_eq(pm_qmgr_fetch_reply(PM__MSG_TYPE__MSG_QMGR_FETCH_REPLY,
	                 buf, len, &fr),
	    0);
	cr_assert_eq(pm_qmgr_fetched_count(fr), 2);
	for (i = 0; i < 2; i++) {
		const Pm__DeliveryJob *d = &f[i].d;

		cr_assert_eq(pm_qmgr_fetched_job(fr, i, served, NSHARDS, &j,
		                 &why),
		    0);
		cr_expect_null(why, "job %zu refused: %s", i, why);
		cr_expect_str_eq(j.job_id, d->job_id);
		cr_expect_str_eq(j.queue_id, d->queue_id);
		cr_expect_str_eq(j.transport, d->transport);
		cr_expect_str_eq(j.nexthop, d->nexthop);
		cr_expect_str_eq(j.sender, d->sender);
		cr_expect_str_eq(j.idempotency_key, d->idempotency_key);
		cr_expect_str_eq(j.dsn_envid, d->dsn_envid);
		cr_expect_eq(j.attempt, d->attempt);
		cr_expect_eq(j.body_type, (int) d->body_type);
		cr_expect_eq(j.dsn_ret, (int) d->dsn_ret);
		cr_expect_eq(j.flags, d->flags);
		cr_expect_eq(j.size, d->size);
		cr_expect_eq(j.arrival_us, d->arrival_us);
		cr_expect_eq(j.shard, d->shard);
		cr_expect_eq(j.active_us, d->active_us);
		cr_expect_eq(j.dispatch_us, d->dispatch_us);
		cr_expect_str_eq(j.relay, "none");
		cr_assert_eq(j.nrcpt, d->n_rcpt);
		for (k = 0; k < j.nrcpt; k++) {
			cr_expect_eq(j.rcpt[k].index, d->rcpt[k]->index);
			cr_expect_str_eq(j.rcpt[k].address,
			    d->rcpt[k]->address);
			cr_expect_str_eq(j.rcpt[k].orcpt, d->rcpt[k]->orcpt);
			cr_expect_str_eq(j.rcpt[k].queued_address,
			    d->rcpt[k]->queued_address);
			cr_expect_eq(j.rcpt[k].notify, d->rcpt[k]->notify);
			cr_expect_eq(j.rcpt[k].status, PM_JOB_NONE);
		}
		pm_qmgr_job_clear(&j);
		cr_expect_null(j.job_id);
	}
	pm_qmgr_fetched_free(fr);
	free(buf);

	/* an empty reply (the long poll ran out) is fine */
	buf = pack_reply(NULL, 0, &len);
	fr = NULL;
	cr_assert_eq(pm_qmgr_fetch_reply(PM__MSG_TYPE__MSG_QMGR_FETCH_REPLY,
	                 buf, len, &fr),
	    0);
	cr_expect_eq(pm_qmgr_fetched_count(fr), 0);
	pm_qmgr_fetched_free(fr);
	free(buf);
}

/* What becomes of a hostile job. */
#define W_REPLY 1   /* the whole reply is refused (PM_EPROTO) */
#define W_DROP 2    /* the job is dropped: no usable job id */
#define W_INVALID 3 /* the job is kept, refused: why */

typedef enum {
	H_TRUNCATED,
	H_TYPE,
	H_NUL_JOBID,
	H_NUL_SENDER,
	H_NUL_RCPT,
	H_JOBID_EMPTY,
	H_JOBID_LONG,
	H_JOBID_CRLF,
	H_QID,
	H_TP_UNSERVED,
	H_TP_LONG,
	H_TP_EMPTY,
	H_NEXTHOP_LONG,
	H_SENDER_LONG,
	H_KEY_LONG,
	H_ENVID_LONG,
	H_ADDR_CRLF,
	H_ADDR_EMPTY,
	H_ADDR_LONG,
	H_ORCPT_LONG,
	H_QADDR_LONG,
	H_NO_RCPT,
	H_TOO_MANY,
	H_INDEX,
	H_DUP_INDEX,
	H_NOTIFY,
	H_BODY_TYPE,
	H_RET,
	H_SIZE,
	H_SHARD_NEG,
	H_SHARD_HIGH,
} hostile;

static const struct {
	hostile h;
	const char *name;
	int want;
	const char *why;
} hcases[] = {
	{ H_TRUNCATED, "truncated reply", W_REPLY, NULL },
	{ H_TYPE, "wrong reply type", W_REPLY, NULL },
	{ H_NUL_JOBID, "NUL in the job id", W_INVALID, "NUL in a string" },
	{ H_NUL_SENDER, "NUL in the sender", W_INVALID, "NUL in a string" },
	{ H_NUL_RCPT, "NUL in a recipient (nested)", W_INVALID,
	    "NUL in a string" },
	{ H_JOBID_EMPTY, "empty job id", W_DROP, NULL },
	{ H_JOBID_LONG, "job id over its bound", W_DROP, NULL },
	{ H_JOBID_CRLF, "CR LF in the job id", W_DROP, NULL },
	{ H_QID, "bad queue id", W_INVALID, "queue id" },
	{ H_TP_UNSERVED, "transport not served", W_INVALID,
	    "transport not served by this agent" },
	{ H_TP_LONG, "transport over its bound", W_INVALID, "transport" },
	{ H_TP_EMPTY, "empty transport", W_INVALID, "transport" },
	{ H_NEXTHOP_LONG, "nexthop over its bound", W_INVALID, "nexthop" },
	{ H_SENDER_LONG, "sender over PM_ADDR_MAX", W_INVALID, "sender" },
	{ H_KEY_LONG, "idempotency key over its bound", W_INVALID,
	    "idempotency key" },
	{ H_ENVID_LONG, "ENVID over its bound", W_INVALID, "envid" },
	{ H_ADDR_CRLF, "CR LF in an address", W_INVALID, "recipient address" },
	{ H_ADDR_EMPTY, "empty address", W_INVALID, "recipient address" },
	{ H_ADDR_LONG, "address over PM_ADDR_MAX", W_INVALID,
	    "recipient address" },
	{ H_ORCPT_LONG, "ORCPT over its bound", W_INVALID,
	    "original recipient" },
	{ H_QADDR_LONG, "queued address over PM_ADDR_MAX", W_INVALID,
	    "queued address" },
	{ H_NO_RCPT, "no recipient", W_INVALID, "recipient count" },
	{ H_TOO_MANY, "PM_AGENT_MAX_RCPT + 1 recipients", W_INVALID,
	    "recipient count" },
	{ H_INDEX, "recipient index over its bound", W_INVALID,
	    "recipient index" },
	{ H_DUP_INDEX, "duplicate recipient index", W_INVALID,
	    "duplicate recipient index" },
	{ H_NOTIFY, "NOTIFY bits out of range", W_INVALID, "notify" },
	{ H_BODY_TYPE, "body type out of range", W_INVALID,
	    "body type or RET" },
	{ H_RET, "RET out of range", W_INVALID, "body type or RET" },
	{ H_SIZE, "size over PM_BODY_SIZE_MAX", W_INVALID, "size" },
	{ H_SHARD_NEG, "negative shard", W_INVALID, "shard" },
	{ H_SHARD_HIGH, "shard >= queue_shards", W_INVALID, "shard" },
};

/* Make f hostile; the strings it points to are in f or static. */
static void
fake_hostile(fake_job *f, hostile h)
{
	switch (h) {
	case H_NUL_JOBID:
		f->d.job_id = "jobNUL!";
		break;
	case H_NUL_SENDER:
		f->d.sender = "s@NUL!.example";
		break;
	case H_NUL_RCPT:
		f->r[1].address = "b@NUL!.example";
		break;
	case H_JOBID_EMPTY:
		f->d.job_id = "";
		break;
	case H_JOBID_LONG:
		f->big[PM_QMGR_JOB_ID_MAX + 1] = 0;
		f->d.job_id = f->big;
		break;
	case H_JOBID_CRLF:
		f->d.job_id = "job\r\nRSET";
		break;
	case H_QID:
		f->d.queue_id = "../../etc";
		break;
	case H_TP_UNSERVED:
		f->d.transport = "lmtp";
		break;
	case H_TP_LONG:
		f->big[PM_QMGR_TRANSPORT_MAX + 1] = 0;
		f->d.transport = f->big;
		break;
	case H_TP_EMPTY:
		f->d.transport = "";
		break;
	case H_NEXTHOP_LONG:
		f->big[PM_QMGR_NEXTHOP_MAX + 1] = 0;
		f->d.nexthop = f->big;
		break;
	case H_SENDER_LONG:
		f->big[PM_ADDR_MAX + 1] = 0;
		f->d.sender = f->big;
		break;
	case H_KEY_LONG:
		f->big[PM_QMGR_KEY_MAX + 1] = 0;
		f->d.idempotency_key = f->big;
		break;
	case H_ENVID_LONG:
		f->big[PM_QMGR_ENVID_MAX + 1] = 0;
		f->d.dsn_envid = f->big;
		break;
	case H_ADDR_CRLF:
		f->r[0].address = "a@example.test\r\nRCPT TO:<x@evil>";
		break;
	case H_ADDR_EMPTY:
		f->r[2].address = "";
		break;
	case H_ADDR_LONG:
		f->big[PM_ADDR_MAX + 1] = 0;
		f->r[0].address = f->big;
		break;
	case H_ORCPT_LONG:
		f->big[PM_QMGR_ORCPT_MAX + 1] = 0;
		f->r[0].orcpt = f->big;
		break;
	case H_QADDR_LONG:
		f->big[PM_ADDR_MAX + 1] = 0;
		f->r[0].queued_address = f->big;
		break;
	case H_NO_RCPT:
		f->d.n_rcpt = 0;
		break;
	case H_TOO_MANY:
		fake_init(f, PM_AGENT_MAX_RCPT + 1);
		break;
	case H_INDEX:
		f->r[2].index = PM_QMGR_RCPT_INDEX_MAX;
		break;
	case H_DUP_INDEX:
		f->r[2].index = 0;
		break;
	case H_NOTIFY:
		f->r[0].notify = 16;
		break;
	case H_BODY_TYPE:
		f->d.body_type = 4;
		break;
	case H_RET:
		f->d.dsn_ret = 3;
		break;
	case H_SIZE:
		f->d.size = (uint64_t) PM_BODY_SIZE_MAX + 1;
		break;
	case H_SHARD_NEG:
		f->d.shard = -1;
		break;
	case H_SHARD_HIGH:
		f->d.shard = NSHARDS;
		break;
	case H_TRUNCATED:
	case H_TYPE:
		break;
	}
}

Test(qclnt, hostile_jobs_are_refused)
{
	static fake_job f, good;
	Pm__DeliveryJob *jobs[2];
	pm_qmgr_fetched *fr;
	const char *why;
	uint32_t rtype;
	uint8_t *buf;
	size_t c, len, k;
	pm_job j, g;
	int rc;

	for (c = 0; c < sizeof(hcases) / sizeof(hcases[0]); c++) {
		fake_init(&f, 3);
		fake_hostile(&f, hcases[c].h);
		/* a good job after it: refusing one job spares the next */
		fake_init(&good, 1);
		good.d.job_id = "job-good";
		jobs[0] = &f.d;
		jobs[1] = &good.d;
		buf = pack_reply(jobs, 2, &len);
		if (hcases[c].h == H_NUL_JOBID || hcases[c].h == H_NUL_SENDER ||
		    hcases[c].h == H_NUL_RCPT) {
			put_nul(buf, len);
		}
		rtype = hcases[c].h == H_TYPE ?
		    PM__MSG_TYPE__MSG_QMGR_DONE_REPLY :
		    PM__MSG_TYPE__MSG_QMGR_FETCH_REPLY;
		fr = NULL;
		rc = pm_qmgr_fetch_reply(rtype, buf,
		    hcases[c].h == H_TRUNCATED ? len - 1 : len, &fr);
		if (hcases[c].want == W_REPLY) {
			cr_expect_eq(rc, PM_EPROTO,
			    "%s: reply got %d, want "
			    "PM_EPROTO",
			    hcases[c].name, rc);
			cr_expect_null(fr, "%s: reply kept", hcases[c].name);
			free(buf);
			continue;
		}
		cr_assert_eq(rc, 0, "%s: reply refused (%d)", hcases[c].name,
		    rc);
		cr_assert_eq(pm_qmgr_fetched_count(fr), 2, "%s",
		    hcases[c].name);
		memset(&j, 0xa5, sizeof(j));
		why = "unset";
		rc = pm_qmgr_fetched_job(fr, 0, served, NSHARDS, &j, &why);
		if (hcases[c].want == W_DROP) {
			cr_expect_eq(rc, PM_EPROTO,
			    "%s: got %d (%s), want "
			    "dropped",
			    hcases[c].name, rc,
			    rc == 0 && why ? why : "accepted");
			cr_expect_str_eq(why, "unset", "%s: invalid touched",
			    hcases[c].name);
			if (rc == 0) {
				pm_qmgr_job_clear(&j);
			}
		} else {
			cr_assert_eq(rc, 0,
			    "%s: dropped, want refused with "
			    "\"%s\"",
			    hcases[c].name, hcases[c].why);
			cr_expect(why != NULL &&
			        strcmp(why, hcases[c].why) == 0,
			    "%s: got \"%s\", want \"%s\"", hcases[c].name,
			    why ? why : "(accepted)", hcases[c].why);
			/* kept to be reported back: job id and recipients */
			cr_expect_str_eq(j.job_id,
			    hcases[c].h == H_NUL_JOBID ? "job" : "job-1", "%s",
			    hcases[c].name);
			cr_expect_eq(j.nrcpt,
			    hcases[c].h == H_NO_RCPT ||
			            hcases[c].h == H_TOO_MANY ?
			        0 :
			        3,
			    "%s: nrcpt "
			    "got %zu",
			    hcases[c].name, j.nrcpt);
			for (k = 0; k < j.nrcpt; k++) {
				cr_expect(strchr(j.rcpt[k].address, '\r') ==
				            NULL &&
				        strlen(j.rcpt[k].address) <=
				            PM_ADDR_MAX,
				    "%s: address kept", hcases[c].name);
			}
			cr_expect(strlen(j.nexthop) <= PM_QMGR_NEXTHOP_MAX &&
			        strlen(j.sender) <= PM_ADDR_MAX,
			    "%s: over-long "
			    "string kept",
			    hcases[c].name);
			pm_qmgr_job_clear(&j);
		}
		why = "unset";
		cr_assert_eq(pm_qmgr_fetched_job(fr, 1, served, NSHARDS, &g,
		                 &why),
		    0, "%s: next job dropped", hcases[c].name);
		cr_expect_null(why, "%s: next job refused: %s", hcases[c].name,
		    why);
		cr_expect_str_eq(g.job_id, "job-good");
		pm_qmgr_job_clear(&g);
		pm_qmgr_fetched_free(fr);
		free(buf);
	}
}

Test(qclnt, done_request_carries_wire_codes)
{
	static const struct {
		int status;
		Pm__RcptStatus wire;
		int recorded, passed;
	} rc[] = {
		{ PM_JOB_SENT, PM__RCPT_STATUS__RCPT_SENT, 1, 1 },
		{ PM_JOB_BOUNCED, PM__RCPT_STATUS__RCPT_BOUNCED, 1, 0 },
		{ PM_JOB_DEFERRED, PM__RCPT_STATUS__RCPT_DEFERRED, 0, 0 },
		{ PM_JOB_NONE, PM__RCPT_STATUS__RCPT_DEFERRED, 0, 0 },
		{ 42, PM__RCPT_STATUS__RCPT_DEFERRED, 0, 0 },
	};
	const size_t n = sizeof(rc) / sizeof(rc[0]);
	pm_job_rcpt r[sizeof(rc) / sizeof(rc[0])];
	Pm__DoneRequest *dr;
	pm_job j;
	pm_buf b;
	size_t i;

	memset(&j, 0, sizeof(j));
	memset(r, 0, sizeof(r));
	for (i = 0; i < n; i++) {
		r[i].index = (unsigned) (10 + i);
		r[i].status = rc[i].status;
		snprintf(r[i].dsn, sizeof(r[i].dsn), "%d.0.0", (int) i);
		snprintf(r[i].text, sizeof(r[i].text), "text %zu", i);
		r[i].recorded = rc[i].recorded;
		r[i].dsn_passed = rc[i].passed;
	}
	j.job_id = "job-9";
	j.queue_id = "QID";
	j.nrcpt = n;
	j.rcpt = r;
	snprintf(j.relay, sizeof(j.relay), "mx[192.0.2.1]:25");
	j.conn_ms = 12;
	j.xfer_ms = 34;
	j.dest_failed = 1;
	j.dsn_action = "relayed";
	pm_buf_init(&b, PM_RPC_CONTROL_MAX);
	cr_assert_eq(pm_qmgr_done_pack(&j, &b), 0);
	dr = pm__done_request__unpack(NULL, b.len, (uint8_t *) b.data);
	cr_assert_not_null(dr);
	cr_expect_str_eq(dr->job_id, "job-9");
	cr_expect_str_eq(dr->queue_id, "QID");
	cr_expect_str_eq(dr->relay, "mx[192.0.2.1]:25");
	cr_expect_eq(dr->conn_ms, 12);
	cr_expect_eq(dr->xfer_ms, 34);
	cr_expect(dr->dest_failed);
	cr_assert_eq(dr->n_results, n);
	for (i = 0; i < n; i++) {
		Pm__RcptResult *x = dr->results[i];

		cr_expect_eq(x->index, 10 + i);
		cr_expect_eq(x->status, rc[i].wire,
		    "rcpt %zu: status got %d, "
		    "want %d",
		    i, (int) x->status, (int) rc[i].wire);
		cr_expect_str_eq(x->dsn, r[i].dsn);
		cr_expect_str_eq(x->text, r[i].text);
		cr_expect_eq(!!x->recorded, rc[i].recorded, "rcpt %zu", i);
		cr_expect_eq(!!x->dsn_passed, rc[i].passed, "rcpt %zu", i);
		/* the job's action goes with sent recipients only */
		cr_expect_str_eq(x->dsn_action,
		    rc[i].status == PM_JOB_SENT ? "relayed" : "", "rcpt %zu",
		    i);
	}
	pm__done_request__free_unpacked(dr, NULL);
	pm_buf_free(&b);

	/* over the buffer's limit: refused, nothing half-packed */
	pm_buf_init(&b, 16);
	cr_expect_eq(pm_qmgr_done_pack(&j, &b), PM_ETOOBIG);
	cr_expect_eq(b.len, 0);
	pm_buf_free(&b);
}

/*
 * PM_JOB_REDIRECT goes out as RCPT_REDIRECT with its transport and
 * nexthop (pm_job_redirect); without a transport it is a deferral;
 * hostile names are refused by pm_job_redirect, r untouched.
 */
Test(qclnt, done_request_carries_redirects)
{
	pm_job_rcpt r[3];
	Pm__DoneRequest *dr;
	char big[PM_QMGR_NEXTHOP_MAX + 2];
	pm_job j;
	pm_buf b;

	memset(&j, 0, sizeof(j));
	memset(r, 0, sizeof(r));
	r[0].index = 1;
	cr_assert_eq(pm_job_redirect(&r[0], "lmtp", "inet:127.0.0.1:24"), 0);
	cr_expect_eq(r[0].status, PM_JOB_REDIRECT);
	r[1].index = 2;
	r[1].status = PM_JOB_REDIRECT; /* no transport: a deferral */
	r[2].index = 3;
	cr_expect_eq(pm_job_redirect(&r[2], "", "x"), PM_EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cr_expect_eq(pm_job_redirect(&r[2], "lmtp", big), PM_EINVAL);
	cr_expect_eq(r[2].status, PM_JOB_NONE);
	cr_expect_null(r[2].redirect_transport);
	j.job_id = "job-1";
	j.queue_id = "QID";
	j.nrcpt = 3;
	j.rcpt = r;
	pm_buf_init(&b, PM_RPC_CONTROL_MAX);
	cr_assert_eq(pm_qmgr_done_pack(&j, &b), 0);
	dr = pm__done_request__unpack(NULL, b.len, (uint8_t *) b.data);
	cr_assert_not_null(dr);
	cr_assert_eq(dr->n_results, 3);
	cr_expect_eq(dr->results[0]->status, PM__RCPT_STATUS__RCPT_REDIRECT);
	cr_expect_str_eq(dr->results[0]->redirect_transport, "lmtp");
	cr_expect_str_eq(dr->results[0]->redirect_nexthop, "inet:127.0.0.1:24");
	cr_expect_eq(dr->results[1]->status, PM__RCPT_STATUS__RCPT_DEFERRED);
	cr_expect_str_eq(dr->results[1]->redirect_transport, "");
	cr_expect_eq(dr->results[2]->status, PM__RCPT_STATUS__RCPT_DEFERRED);
	pm__done_request__free_unpacked(dr, NULL);
	pm_buf_free(&b);
	free(r[0].redirect_transport);
	free(r[0].redirect_nexthop);
}

Test(qclnt, done_reply_is_checked)
{
	Pm__DoneReply rep = PM__DONE_REPLY__INIT;
	uint8_t ok[16], bad[] = { 0x08 }; /* a varint key with no value */
	size_t len;

	rep.ok = 1;
	len = pm__done_reply__pack(&rep, ok);
	cr_expect_eq(pm_qmgr_done_reply(PM__MSG_TYPE__MSG_QMGR_DONE_REPLY, ok,
	                 len),
	    0);
	cr_expect_eq(pm_qmgr_done_reply(PM__MSG_TYPE__MSG_QMGR_FETCH_REPLY, ok,
	                 len),
	    PM_EPROTO, "wrong type accepted");
	cr_expect_eq(pm_qmgr_done_reply(PM__MSG_TYPE__MSG_QMGR_DONE_REPLY, bad,
	                 sizeof(bad)),
	    PM_EPROTO, "truncated reply accepted");
}

/* ---- the calls, against a fake qmgr ---- */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned max_jobs; /* what the fake qmgr was asked */
	size_t done_results;
	int cb_rc; /* what the fetch callback parsed */
	size_t cb_jobs;
	char cb_job[32];
	int called;
} fk = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static int
fake_qmgr(void *ctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	static fake_job f;
	Pm__DeliveryJob *jobs[1] = { &f.d };
	Pm__DoneReply rep = PM__DONE_REPLY__INIT;
	Pm__FetchRequest *fr;
	Pm__DoneRequest *dr;
	uint8_t *buf, small[16];
	size_t len;
	int rc;

	(void) ctx;
	if (type == PM__MSG_TYPE__MSG_QMGR_FETCH) {
		if ((fr = pm__fetch_request__unpack(NULL, reqlen, req)) ==
		    NULL) {
			return (PM_EPROTO);
		}
		pthread_mutex_lock(&fk.mu);
		fk.max_jobs = fr->max_jobs;
		pthread_mutex_unlock(&fk.mu);
		pm__fetch_request__free_unpacked(fr, NULL);
		fake_init(&f, 2);
		buf = pack_reply(jobs, 1, &len);
		rc = pm_buf_append(rbuf, buf, len);
		free(buf);
		*rtype = PM__MSG_TYPE__MSG_QMGR_FETCH_REPLY;
		return (rc);
	}
	if (type == PM__MSG_TYPE__MSG_QMGR_DONE) {
		if ((dr = pm__done_request__unpack(NULL, reqlen, req)) ==
		    NULL) {
			return (PM_EPROTO);
		}
		pthread_mutex_lock(&fk.mu);
		fk.done_results = dr->n_results;
		pthread_mutex_unlock(&fk.mu);
		pm__done_request__free_unpacked(dr, NULL);
		rep.ok = 1;
		len = pm__done_reply__pack(&rep, small);
		*rtype = PM__MSG_TYPE__MSG_QMGR_DONE_REPLY;
		return (pm_buf_append(rbuf, small, len));
	}
	return (PM_EPROTO);
}

static void
fetch_cb(void *arg, int err, uint32_t rtype, const uint8_t *reply, size_t len)
{
	pm_qmgr_fetched *fr = NULL;
	const char *why;
	pm_job j;

	(void) arg;
	pthread_mutex_lock(&fk.mu);
	fk.cb_rc = err != 0 ? err : pm_qmgr_fetch_reply(rtype, reply, len, &fr);
	fk.cb_jobs = pm_qmgr_fetched_count(fr);
	if (fk.cb_jobs > 0 &&
	    pm_qmgr_fetched_job(fr, 0, served, NSHARDS, &j, &why) == 0) {
		snprintf(fk.cb_job, sizeof(fk.cb_job), "%s%s", j.job_id,
		    why != NULL ? " (refused)" : "");
		pm_qmgr_job_clear(&j);
	}
	pm_qmgr_fetched_free(fr);
	fk.called++;
	pthread_cond_broadcast(&fk.cv);
	pthread_mutex_unlock(&fk.mu);
}

Test(qclnt, fetch_and_done_calls)
{
	pm_qmgr_fetch_req req = { .agent_id = "test",
		.transports = served,
		.max_jobs = 3,
		.wait_ms = 100 };
	pm_job_rcpt r[2];
	pm_rpc_server *srv;
	pm_rpc_client *cl;
	char url[128];
	pm_buf done;
	pm_job j;

	snprintf(url, sizeof(url), "ipc:///tmp/pm_test_qmgr_clnt_%d.ipc",
	    (int) getpid());
	srv = pm_rpc_server_start(url, 2, PM_RPC_CONTROL_MAX, fake_qmgr, NULL,
	    NULL);
	cr_assert_not_null(srv, "server on %s", url);
	cl = pm_rpc_client_new(url, PM_RPC_CONTROL_MAX);
	cr_assert_not_null(cl);

	cr_assert_eq(pm_qmgr_fetch_call_async(cl, &req, 5000, fetch_cb, NULL),
	    0);
	pthread_mutex_lock(&fk.mu);
	while (!fk.called) {
		pthread_cond_wait(&fk.cv, &fk.mu);
	}
	cr_expect_eq(fk.max_jobs, 3);
	cr_expect_eq(fk.cb_rc, 0, "fetch got %d", fk.cb_rc);
	cr_expect_eq(fk.cb_jobs, 1);
	cr_expect_str_eq(fk.cb_job, "job-1");
	pthread_mutex_unlock(&fk.mu);

	memset(&j, 0, sizeof(j));
	memset(r, 0, sizeof(r));
	r[1].index = 1;
	j.job_id = "job-1";
	j.queue_id = "QID";
	j.nrcpt = 2;
	j.rcpt = r;
	pm_buf_init(&done, 0);
	cr_assert_eq(pm_qmgr_done_pack(&j, &done), 0);
	cr_expect_eq(pm_qmgr_done_call(cl, &done, 5000), 0);
	pthread_mutex_lock(&fk.mu);
	cr_expect_eq(fk.done_results, 2);
	pthread_mutex_unlock(&fk.mu);
	pm_buf_free(&done);

	pm_rpc_client_free(cl);
	pm_rpc_server_stop(srv);
}
