/*
 * NAME
 *	qmgr_clnt - client stub of qmgr's fetch/done API (delivery agents)
 * SUMMARY
 *	#include "qmgr_clnt.h"
 * DESCRIPTION
 *	See qmgr_clnt.h. The only code on the agents' side that knows
 *	delivery.proto: packs FetchRequest (MSG_QMGR_FETCH) and
 *	DoneRequest (MSG_QMGR_DONE), reads FetchReply and DoneReply.
 *
 *	A fetch reply is unpacked, then walked once more on the wire:
 *	protobuf-c stops a string at its first NUL without a word, so a
 *	job id "a\0b" would arrive as "a". Each job (field 1 of
 *	FetchReply) whose bytes hold a NUL in any string field, at any
 *	depth, is marked; pm_qmgr_fetched_job() refuses it ("NUL in a
 *	string"), as it refuses a job whose fields fail their checks.
 *	A refused job is still copied (failed fields as "") so that the
 *	agent reports it back deferred and qmgr is not left waiting; only
 *	a job without a usable job id is dropped.
 * LIMITS
 *	PM_QMGR_*_MAX (qmgr_clnt.h) and PM_ADDR_MAX for strings;
 *	1..PM_AGENT_MAX_RCPT recipients with distinct indexes below
 *	PM_QMGR_RCPT_INDEX_MAX; notify <= 15; body_type <= 3; dsn_ret <= 2;
 *	size <= PM_BODY_SIZE_MAX; 0 <= shard < nshards. Nested messages
 *	are walked 8 deep at most. Replies are read into buffers of
 *	PM_RPC_CONTROL_MAX.
 * SECURITY
 *	qmgr is another role and not trusted: nothing of a reply is used
 *	before it is checked; strings must be NUL-free and free of control
 *	characters; the queue id must be valid (pm_qid_valid) before it is
 *	used in a key; reasons are logged with pm_printable_dup().
 */
#include "qmgr_clnt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "delivery.pb-c.h"
#include "pm_addr.h"
#include "pm_body.h"
#include "pm_log.h"
#include "pm_qid.h"

/* The contract's codes are the wire's: qmgr compares them directly. */
_Static_assert(PM_JOB_NONE == PM__RCPT_STATUS__RCPT_NONE, "RcptStatus");
_Static_assert(PM_JOB_SENT == PM__RCPT_STATUS__RCPT_SENT, "RcptStatus");
_Static_assert(PM_JOB_DEFERRED == PM__RCPT_STATUS__RCPT_DEFERRED, "RcptStatus");
_Static_assert(PM_JOB_BOUNCED == PM__RCPT_STATUS__RCPT_BOUNCED, "RcptStatus");
_Static_assert(PM_JOB_REDIRECT == PM__RCPT_STATUS__RCPT_REDIRECT, "RcptStatus");

struct pm_qmgr_fetched {
	Pm__FetchReply *fr;
	unsigned char *ok; /* ok[i]: job i's strings are NUL-free */
	size_t nok;        /* jobs seen on the wire (<= fr->n_jobs) */
};

/* ---- wire checks ---- */

static int
wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	int shift;
	uint8_t b;

	for (shift = 0; *p < end && shift < 64; shift += 7) {
		b = *(*p)++;
		x |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = x;
			return (1);
		}
	}
	return (0);
}

/* 1 if every string field of the packed message (recursively) is NUL-free. */
static int
wire_ok(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
    int depth)
{
	const uint8_t *p = buf, *end = buf + len;
	const ProtobufCFieldDescriptor *f;
	uint64_t key, l;

	if (depth > 8) {
		return (0);
	}
	while (p < end) {
		if (!wire_varint(&p, end, &key)) {
			return (0);
		}
		switch (key & 7) {
		case 0:
			if (!wire_varint(&p, end, &l)) {
				return (0);
			}
			break;
		case 1:
			if (end - p < 8) {
				return (0);
			}
			p += 8;
			break;
		case 5:
			if (end - p < 4) {
				return (0);
			}
			p += 4;
			break;
		case 2:
			if (!wire_varint(&p, end, &l) ||
			    l > (uint64_t) (end - p)) {
				return (0);
			}
			f = (key >> 3) <= 0x1fffffff ?
			    protobuf_c_message_descriptor_get_field(d,
			        (unsigned) (key >> 3)) :
			    NULL;
			if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
			    memchr(p, 0, (size_t) l) != NULL) {
				return (0);
			}
			if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    !wire_ok(f->descriptor, p, (size_t) l, depth + 1)) {
				return (0);
			}
			p += l;
			break;
		default:
			return (0);
		}
	}
	return (1);
}

/*
 * For each job (field 1) of a packed FetchReply, in order: ok[i] = 1 if
 * its strings are NUL-free. Returns the number of jobs seen (<= max).
 */
static size_t
wire_jobs(const uint8_t *buf, size_t len, unsigned char *ok, size_t max)
{
	const uint8_t *p = buf, *end = buf + len;
	uint64_t key, l;
	size_t n = 0;

	while (p < end && n < max) {
		if (!wire_varint(&p, end, &key) || (key & 7) != 2 ||
		    !wire_varint(&p, end, &l) || l > (uint64_t) (end - p)) {
			break; /* FetchReply has one field: jobs */
		}
		if ((key >> 3) == 1) {
			ok[n++] = (unsigned char) wire_ok(
			    &pm__delivery_job__descriptor, p, (size_t) l, 0);
		}
		p += l;
	}
	return (n);
}

/* 0 if s has at most max bytes and no control characters. */
static int
str_bad(const char *s, size_t max, int empty_ok)
{
	const unsigned char *p;

	if (s == NULL) {
		return (!empty_ok);
	}
	if (*s == 0) {
		return (!empty_ok);
	}
	if (strlen(s) > max) {
		return (1);
	}
	for (p = (const unsigned char *) s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			return (1);
		}
	}
	return (0);
}

static char *
dup_ok(const char *s, size_t max, int empty_ok, const char **why,
    const char *what)
{
	if (str_bad(s, max, empty_ok)) {
		if (*why == NULL) {
			*why = what;
		}
		return (pm_strdup(""));
	}
	return (pm_strdup(s != NULL ? s : ""));
}

static int
cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;

	return (x < y ? -1 : x > y);
}

/* ---- fetch ---- */

int
pm_qmgr_fetch_pack(const pm_qmgr_fetch_req *req, pm_buf *out)
{
	Pm__FetchRequest fr = PM__FETCH_REQUEST__INIT;
	size_t nt = 0, len;
	uint8_t *tmp;
	int rc;

	while (req->transports != NULL && req->transports[nt] != NULL) {
		nt++;
	}
	fr.agent_id = (char *) (req->agent_id != NULL ? req->agent_id : "");
	fr.transports = (char **) req->transports;
	fr.n_transports = nt;
	fr.max_jobs = req->max_jobs;
	fr.wait_ms = req->wait_ms;
	fr.instance = (char *) (req->instance != NULL ? req->instance : "");
	fr.incarnation = req->incarnation;
	fr.timeout_ms = req->timeout_ms;
	if (req->dsn_action != NULL) {
		fr.dsn_action = (char *) req->dsn_action;
	}
	len = pm__fetch_request__get_packed_size(&fr);
	tmp = pm_malloc(len > 0 ? len : 1);
	pm__fetch_request__pack(&fr, tmp);
	pm_buf_reset(out);
	rc = pm_buf_append(out, tmp, len);
	free(tmp);
	return (rc);
}

int
pm_qmgr_fetch_call_async(pm_rpc_client *cl, const pm_qmgr_fetch_req *req,
    int timeout_ms, pm_rpc_cb cb, void *arg)
{
	pm_buf b;
	int rc;

	pm_buf_init(&b, PM_RPC_CONTROL_MAX);
	if ((rc = pm_qmgr_fetch_pack(req, &b)) == 0) {
		rc = pm_rpc_call_async(cl, PM__MSG_TYPE__MSG_QMGR_FETCH, b.data,
		    b.len, timeout_ms, cb, arg);
	}
	pm_buf_free(&b);
	return (rc);
}

int
pm_qmgr_fetch_reply(uint32_t rtype, const uint8_t *buf, size_t len,
    pm_qmgr_fetched **out)
{
	pm_qmgr_fetched *f;
	Pm__FetchReply *fr;

	if (rtype != PM__MSG_TYPE__MSG_QMGR_FETCH_REPLY ||
	    (fr = pm__fetch_reply__unpack(NULL, len, buf)) == NULL) {
		return (PM_EPROTO);
	}
	f = pm_calloc(1, sizeof(*f));
	f->fr = fr;
	if (fr->n_jobs > 0) {
		f->ok = pm_calloc(fr->n_jobs, 1);
		f->nok = wire_jobs(buf, len, f->ok, fr->n_jobs);
	}
	*out = f;
	return (0);
}

size_t
pm_qmgr_fetched_count(const pm_qmgr_fetched *f)
{
	return (f != NULL ? f->fr->n_jobs : 0);
}

pm_qmgr_fetched *
pm_qmgr_fetched_free(pm_qmgr_fetched *f)
{
	if (f != NULL) {
		pm__fetch_reply__free_unpacked(f->fr, NULL);
		free(f->ok);
		free(f);
	}
	return (NULL);
}

int
pm_qmgr_fetched_job(const pm_qmgr_fetched *f, size_t i,
    const char *const *transports, int nshards, pm_job *j, const char **invalid)
{
	const Pm__DeliveryJob *d;
	const Pm__JobRcpt *dr;
	pm_job_rcpt *r;
	const char *why = NULL;
	unsigned *idx;
	size_t k, n;
	int served = 0;
	char *p;

	PM_ASSERT(f != NULL && i < f->fr->n_jobs && transports != NULL);
	d = f->fr->jobs[i];
	if (str_bad(d->job_id, PM_QMGR_JOB_ID_MAX, 0)) {
		p = pm_printable_dup(d->job_id ? d->job_id : "",
		    strlen(d->job_id ? d->job_id : ""), 64);
		pm_msg_warn("invalid delivery request from qmgr: bad job id "
		            "\"%s\"; dropped",
		    p);
		free(p);
		return (PM_EPROTO);
	}
	memset(j, 0, sizeof(*j));
	j->job_id = pm_strdup(d->job_id);
	if (!pm_qid_valid(d->queue_id ? d->queue_id : "")) {
		why = "queue id";
	}
	j->queue_id = pm_strdup(why == NULL ? d->queue_id : "");
	j->transport =
	    dup_ok(d->transport, PM_QMGR_TRANSPORT_MAX, 0, &why, "transport");
	for (k = 0; transports[k] != NULL; k++) {
		served |= strcmp(transports[k], j->transport) == 0;
	}
	if (!served && why == NULL) {
		why = "transport not served by this agent";
	}
	j->nexthop =
	    dup_ok(d->nexthop, PM_QMGR_NEXTHOP_MAX, 1, &why, "nexthop");
	j->sender = dup_ok(d->sender, PM_ADDR_MAX, 1, &why, "sender");
	j->idempotency_key = dup_ok(d->idempotency_key, PM_QMGR_KEY_MAX, 1,
	    &why, "idempotency key");
	j->dsn_envid =
	    dup_ok(d->dsn_envid, PM_QMGR_ENVID_MAX, 1, &why, "envid");
	n = d->n_rcpt;
	if (n == 0 || n > PM_AGENT_MAX_RCPT) {
		why = why ? why : "recipient count";
		n = n > PM_AGENT_MAX_RCPT ? 0 : n;
	}
	j->nrcpt = n;
	j->rcpt = pm_calloc(n > 0 ? n : 1, sizeof(*j->rcpt));
	idx = pm_calloc(n > 0 ? n : 1, sizeof(*idx));
	for (k = 0; k < n; k++) {
		r = &j->rcpt[k];
		dr = d->rcpt[k];
		if (dr == NULL) {
			why = why ? why : "recipient";
			r->address = pm_strdup("");
			r->orcpt = pm_strdup("");
			r->queued_address = pm_strdup("");
			continue;
		}
		r->index = dr->index;
		idx[k] = dr->index;
		if (dr->index >= PM_QMGR_RCPT_INDEX_MAX && why == NULL) {
			why = "recipient index";
		}
		r->address = dup_ok(dr->address, PM_ADDR_MAX, 0, &why,
		    "recipient address");
		r->orcpt = dup_ok(dr->orcpt, PM_QMGR_ORCPT_MAX, 1, &why,
		    "original recipient");
		r->queued_address = dup_ok(dr->queued_address, PM_ADDR_MAX, 1,
		    &why, "queued address");
		r->notify = dr->notify;
		if (dr->notify > 15 && why == NULL) {
			why = "notify";
		}
	}
	qsort(idx, n, sizeof(*idx), cmp_uint);
	for (k = 1; k < n; k++) {
		if (idx[k] == idx[k - 1] && why == NULL) {
			why = "duplicate recipient index";
		}
	}
	free(idx);
	j->attempt = d->attempt;
	j->body_type = (int) d->body_type;
	j->dsn_ret = (int) d->dsn_ret;
	j->flags = d->flags;
	j->size = d->size;
	j->arrival_us = d->arrival_us;
	j->shard = d->shard;
	j->active_us = d->active_us;
	j->dispatch_us = d->dispatch_us;
	j->no_success_notice = d->no_success_notice != 0;
	if (why == NULL && (d->body_type > 3 || d->dsn_ret > 2)) {
		why = "body type or RET";
	}
	if (why == NULL && d->size > PM_BODY_SIZE_MAX) {
		why = "size";
	}
	if (why == NULL && (d->shard < 0 || d->shard >= nshards)) {
		why = "shard";
	}
	if (f->ok == NULL || i >= f->nok || !f->ok[i]) {
		why = "NUL in a string";
	}
	snprintf(j->relay, sizeof(j->relay), "none");
	*invalid = why;
	if (why != NULL) {
		pm_msg_warn("%s: invalid delivery request %s from qmgr: %s",
		    *j->queue_id ? j->queue_id : "NOQUEUE", j->job_id, why);
	}
	return (0);
}

void
pm_qmgr_job_clear(pm_job *j)
{
	size_t i;

	if (j == NULL) {
		return;
	}
	for (i = 0; i < j->nrcpt; i++) {
		free((char *) j->rcpt[i].address);
		free((char *) j->rcpt[i].orcpt);
		free((char *) j->rcpt[i].queued_address);
		free(j->rcpt[i].redirect_transport);
		free(j->rcpt[i].redirect_nexthop);
	}
	free(j->rcpt);
	free((char *) j->job_id);
	free((char *) j->queue_id);
	free((char *) j->transport);
	free((char *) j->nexthop);
	free((char *) j->sender);
	free((char *) j->idempotency_key);
	free((char *) j->dsn_envid);
	memset(j, 0, sizeof(*j));
}

/* ---- done ---- */

int
pm_qmgr_done_pack(const pm_job *j, pm_buf *out)
{
	Pm__DoneRequest dr = PM__DONE_REQUEST__INIT;
	Pm__RcptResult *res, **resp;
	const pm_job_rcpt *r;
	uint8_t *tmp;
	size_t i, len;
	int rc;

	res = pm_calloc(j->nrcpt > 0 ? j->nrcpt : 1, sizeof(*res));
	resp = pm_calloc(j->nrcpt > 0 ? j->nrcpt : 1, sizeof(*resp));
	for (i = 0; i < j->nrcpt; i++) {
		r = &j->rcpt[i];
		pm__rcpt_result__init(&res[i]);
		res[i].index = r->index;
		res[i].status = r->status == PM_JOB_SENT ?
		    PM__RCPT_STATUS__RCPT_SENT :
		    r->status == PM_JOB_BOUNCED ?
		    PM__RCPT_STATUS__RCPT_BOUNCED :
		    r->status == PM_JOB_REDIRECT && r->redirect_transport ?
		    PM__RCPT_STATUS__RCPT_REDIRECT :
		    PM__RCPT_STATUS__RCPT_DEFERRED;
		if (res[i].status == PM__RCPT_STATUS__RCPT_REDIRECT) {
			res[i].redirect_transport = r->redirect_transport;
			res[i].redirect_nexthop =
			    r->redirect_nexthop ? r->redirect_nexthop : "";
		}
		res[i].dsn = (char *) r->dsn;
		res[i].text = (char *) r->text;
		res[i].recorded = r->recorded != 0;
		res[i].dsn_passed = r->dsn_passed != 0;
		if (r->status == PM_JOB_SENT && j->dsn_action != NULL) {
			res[i].dsn_action = (char *) j->dsn_action;
		}
		resp[i] = &res[i];
	}
	dr.job_id = (char *) j->job_id;
	dr.queue_id = (char *) j->queue_id;
	dr.n_results = j->nrcpt;
	dr.results = resp;
	dr.relay = (char *) j->relay;
	dr.conn_ms = j->conn_ms;
	dr.xfer_ms = j->xfer_ms;
	dr.dest_failed = j->dest_failed != 0;
	len = pm__done_request__get_packed_size(&dr);
	tmp = pm_malloc(len > 0 ? len : 1);
	pm__done_request__pack(&dr, tmp);
	pm_buf_reset(out);
	rc = pm_buf_append(out, tmp, len);
	free(tmp);
	free(resp);
	free(res);
	return (rc);
}

int
pm_qmgr_done_reply(uint32_t rtype, const uint8_t *buf, size_t len)
{
	Pm__DoneReply *rep;

	if (rtype != PM__MSG_TYPE__MSG_QMGR_DONE_REPLY ||
	    (rep = pm__done_reply__unpack(NULL, len, buf)) == NULL) {
		return (PM_EPROTO);
	}
	pm__done_reply__free_unpacked(rep, NULL);
	return (0);
}

int
pm_qmgr_done_call(pm_rpc_client *cl, const pm_buf *done, int timeout_ms)
{
	pm_buf reply;
	uint32_t rtype = 0;
	int rc;

	pm_buf_init(&reply, PM_RPC_CONTROL_MAX);
	rc = pm_rpc_call(cl, PM__MSG_TYPE__MSG_QMGR_DONE, done->data, done->len,
	    timeout_ms, &rtype, &reply);
	if (rc == 0) {
		rc = pm_qmgr_done_reply(rtype, (const uint8_t *) reply.data,
		    reply.len);
	}
	pm_buf_free(&reply);
	return (rc);
}
