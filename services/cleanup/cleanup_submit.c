/*
 * NAME
 *	cleanup_submit - the MSG_CLEANUP_SUBMIT handler
 * DESCRIPTION
 *	cleanup_handler() runs on an RPC worker thread for each request:
 *	  1. unpack and validate the CleanupSubmit (other roles are not
 *	     trusted); a bad request gets "451 4.3.0 Error: internal
 *	     protocol error" and a warning;
 *	  2. content over message_size_limit: "552 5.3.4 Error: message
 *	     file too big";
 *	  3. envelope sender and recipients through pm_cleanup_sender()
 *	     and pm_cleanup_rcpts() (rewrite service, canonical maps,
 *	     virtual aliases): a lookup or rewrite failure gives "451 4.3.0
 *	     Error: queue file write error";
 *	  4. content through pm_cleanup_content(): REJECT, DISCARD, HOLD;
 *	     while Redis is not as durable as queue_durability says
 *	     (cleanup_durable.c): "451 4.3.0 Error: queue storage is not
 *	     durable; try again later", nothing written;
 *	  5. pm_qstore_enqueue() on the worker's own Redis connection;
 *	     0 -> "250 2.0.0 Ok: queued as QID" (also when the queue id is
 *	     already queued, or was within keep_id_secs of a request that
 *	     queued it: a repeated request; nothing is queued), PM_EFULL -> "452 4.3.1
 *	     Insufficient system storage", anything else -> "451 4.3.0
 *	     Error: queue file write error". The store guarantees that a
 *	     failed enqueue leaves nothing behind.
 *	Logs, as Postfix: "QID: message-id=<...>" and, while there is no
 *	queue manager to say it, "QID: from=<sender>, size=N, nrcpt=M
 *	(queue incoming)".
 *	A request is first charged to cleanup_content_memory_limit
 *	(cleanup.h); when there is no room within CLEANUP_CONTENT_WAIT_MS
 *	it gets "451 4.3.1 Insufficient system storage" before it is
 *	unpacked, and smtpd passes that on.
 * LIMITS
 *	cleanup_recipient_limit recipients per request; PM_ADDR_MAX bytes
 *	per address, PM_ORCPT_MAX per ORCPT, PM_ENVID_MAX per ENVID,
 *	PM_HELO_MAX per HELO name (pm_envcheck.h, the limits smtpd applies
 *	at the command); message_size_limit bytes of content.
 * SECURITY
 *	Every field of the request is checked (lengths, control
 *	characters, enum and flag ranges, queue id syntax) before use, and
 *	passed through pm_printable before it is logged. The values a
 *	client gives smtpd go through the pm_envcheck functions smtpd
 *	calls too, so smtpd never accepts a value refused here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "pm_msgflags.h"
#include "cleanup.pb-c.h"
#include "cleanup_params.h"
#include "common.pb-c.h"
#include "pm_addr.h"
#include "pm_common_params.h"
#include "pm_envcheck.h"
#include "pm_log.h"
#include "pm_qid.h"

#define SUBMIT_FLAGS_ALL PM_MSG_ALL /* LOCAL|SMTPUTF8|HOLD|BOUNCE|PROBE */
#define HOSTNAME_MAX 255
#define CLIENT_ADDR_MAX 64
#define CLIENT_PORT_MAX 16
#define PROTOCOL_MAX 32
#define FULL_NAME_MAX 256 /* sendmail -F */
#define SASL_USER_MAX 1024
#define SASL_METHOD_MAX 64
#define KEEP_ID_MAX (400 * 86400) /* keep_id_secs: over a year is a bug */

#define TEXT_WRITE_ERR "Error: queue file write error"
#define TEXT_PROTO_ERR "Error: internal protocol error"
#define TEXT_NOT_DURABLE "Error: queue storage is not durable; try again later"

typedef struct submit_reply {
	unsigned code;
	char dsn[16];
	char text[512];
	char qid[PM_QID_LEN + 1];
} submit_reply;

static void
reply_set(submit_reply *r, unsigned code, const char *dsn, const char *text)
{
	r->code = code;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
	snprintf(r->text, sizeof(r->text), "%s", text);
}

static int
submit_invalid(const char *qid, const char *field, const char *why)
{
	pm_msg_warn("%s: invalid cleanup request: %s: %s", qid, field, why);
	return (-1);
}

/* One field through its pm_envcheck function (the one smtpd uses). */
#define CHECK(field, expr) \
	do { \
		if ((why = (expr)) != NULL) { \
			return (submit_invalid(qid, #field, why)); \
		} \
	} while (0)

/* Validate the request: 0, or -1 after a warning. */
static int
submit_check(const Pm__CleanupSubmit *s, const char *qid)
{
	const char *why;
	char field[32];
	size_t i;

	CHECK(sender, pm_envcheck_addr(s->sender));
	CHECK(dsn_envid, pm_envcheck_envid(s->dsn_envid));
	CHECK(client_name, pm_envcheck_text(s->client_name, HOSTNAME_MAX));
	CHECK(client_addr, pm_envcheck_text(s->client_addr, CLIENT_ADDR_MAX));
	CHECK(client_port, pm_envcheck_text(s->client_port, CLIENT_PORT_MAX));
	CHECK(helo_name, pm_envcheck_helo(s->helo_name));
	CHECK(protocol, pm_envcheck_text(s->protocol, PROTOCOL_MAX));
	CHECK(sasl_username, pm_envcheck_text(s->sasl_username, SASL_USER_MAX));
	CHECK(sasl_method, pm_envcheck_text(s->sasl_method, SASL_METHOD_MAX));
	CHECK(sasl_sender, pm_envcheck_addr(s->sasl_sender));
	CHECK(full_name, pm_envcheck_text(s->full_name, FULL_NAME_MAX));
	if (s->n_rcpt < 1 || s->n_rcpt > (size_t) var_cleanup_rcpt_limit) {
		snprintf(field, sizeof(field), "%zu", s->n_rcpt);
		return (submit_invalid(qid, "recipient count", field));
	}
	for (i = 0; i < s->n_rcpt; i++) {
		snprintf(field, sizeof(field), "recipient %zu", i);
		if (s->rcpt[i] == NULL || s->rcpt[i]->address == NULL ||
		    s->rcpt[i]->address[0] == 0) {
			return (submit_invalid(qid, field, "empty address"));
		}
		if ((why = pm_envcheck_addr(s->rcpt[i]->address)) ||
		    (why = pm_envcheck_orcpt(s->rcpt[i]->orcpt)) ||
		    (why = pm_envcheck_notify(s->rcpt[i]->notify))) {
			return (submit_invalid(qid, field, why));
		}
	}
	if (s->flags > SUBMIT_FLAGS_ALL) {
		return (submit_invalid(qid, "flags", "unknown flag"));
	}
	if ((unsigned) s->body_type > PM_BODYTYPE_BINARYMIME) {
		return (submit_invalid(qid, "body_type", "out of range"));
	}
	if ((unsigned) s->dsn_ret > PM_RET_HDRS) {
		return (submit_invalid(qid, "dsn_ret", "out of range"));
	}
	if (s->arrival_us < 0) {
		return (submit_invalid(qid, "arrival_us", "negative"));
	}
	if (s->keep_id_secs > KEEP_ID_MAX) {
		return (submit_invalid(qid, "keep_id_secs", "out of range"));
	}
	return (0);
}

static const char *
str_or_empty(const char *s)
{
	return (s != NULL ? s : "");
}

/* Write the message to the queue; fills r. */
static void
submit_enqueue(cleanup_worker *w, const Pm__CleanupSubmit *s, const char *qid,
    char *sender, pm_qrcpt *rcpt, size_t nrcpt, pm_cleanup_msg *m,
    submit_reply *r)
{
	pm_qmsg q;
	struct timespec t0, t1;
	char *ps;
	int err;

	memset(&q, 0, sizeof(q));
	snprintf(q.qid, sizeof(q.qid), "%s", qid);
	q.shard = pm_qid_shard(qid, (int) var_queue_shards);
	q.sender = sender;
	q.arrival_us = s->arrival_us > 0 ? s->arrival_us : pm_now_us();
	q.client_name = (char *) str_or_empty(s->client_name);
	q.client_addr = (char *) str_or_empty(s->client_addr);
	q.client_port = (char *) str_or_empty(s->client_port);
	q.helo_name = (char *) str_or_empty(s->helo_name);
	q.protocol = (char *) str_or_empty(s->protocol);
	q.sasl_username = (char *) str_or_empty(s->sasl_username);
	q.sasl_method = (char *) str_or_empty(s->sasl_method);
	q.sasl_sender = (char *) str_or_empty(s->sasl_sender);
	q.dsn_envid = (char *) str_or_empty(s->dsn_envid);
	q.dsn_ret = s->dsn_ret;
	q.body_type = s->body_type;
	q.flags = s->flags | (m->hold ? PM_MSG_HOLD : 0);
	q.nrcpt = nrcpt;
	q.rcpt = rcpt;
	if (s->queue_id != NULL && s->queue_id[0] != 0) {
		q.keep_id_ms = (int64_t) s->keep_id_secs * 1000;
	}

	pm_metric_inc(cleanup_m.queue_writes);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = pm_qstore_enqueue(w->qs, &q, m->out.data, m->out.len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pm_metric_observe(cleanup_m.enqueue_seconds,
	    (double) (t1.tv_sec - t0.tv_sec) +
	        (double) (t1.tv_nsec - t0.tv_nsec) / 1e9);

	if (err == PM_EEXIST) {
		/* The same request again (a retry): it is queued already. */
		pm_msg_warn("%s: already queued; answering success", qid);
		reply_set(r, 250, "2.0.0", "");
		snprintf(r->text, sizeof(r->text), "Ok: queued as %s", qid);
		return;
	}
	if (err == PM_EFULL) {
		pm_msg_warn("%s: queue store full (Redis refuses writes)", qid);
		reply_set(r, 452, "4.3.1", "Insufficient system storage");
		pm_metric_inc(cleanup_m.error);
		return;
	}
	if (err != 0) {
		pm_msg_warn("%s: queue file write error: %s", qid,
		    pm_strerror(err));
		reply_set(r, 451, "4.3.0", TEXT_WRITE_ERR);
		pm_metric_inc(cleanup_m.error);
		return;
	}
	ps = pm_printable_dup(sender, strlen(sender), PM_ADDR_MAX);
	pm_msg_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue %s)", qid, ps,
	    m->out.len, nrcpt, (q.flags & PM_MSG_HOLD) ? "hold" : "incoming");
	free(ps);
	pm_metric_inc((q.flags & PM_MSG_HOLD) ? cleanup_m.held :
	                                        cleanup_m.queued);
	pm_metric_add(cleanup_m.message_bytes, m->out.len);
	reply_set(r, 250, "2.0.0", "");
	snprintf(r->text, sizeof(r->text), "Ok: queued as %s", qid);
}

/* "name[addr]" or "local", printable. */
static char *
submit_origin(const Pm__CleanupSubmit *s)
{
	char *o;

	if (s->client_addr == NULL || *s->client_addr == 0) {
		return (pm_strdup("local"));
	}
	o = pm_asprintf("%s[%s]",
	    s->client_name && *s->client_name ? s->client_name : "unknown",
	    s->client_addr);
	return (pm_printable(o));
}

/* Process one valid request; fills r. */
static void
submit_process(cleanup_worker *w, const Pm__CleanupSubmit *s, const char *qid,
    submit_reply *r)
{
	pm_snap_ref *maps = cleanup_maps_get();
	const pm_cleanup_cfg *cfg = &((cleanup_maps *) maps->obj)->cfg;
	pm_submit_rcpt *in;
	pm_qrcpt *rcpt = NULL;
	size_t nrcpt = 0, i;
	char *sender = NULL, *origin = submit_origin(s);
	pm_cleanup_msg m;
	int64_t arrival;

	pm_cleanup_msg_init(&m);
	if (s->submit_user != NULL) {
		/* A sendmail(1) submission, logged as Postfix's pickup. */
		char *ps = pm_printable_dup(str_or_empty(s->sender),
		    strlen(str_or_empty(s->sender)), PM_ADDR_MAX);

		pm_msg_info("%s: uid=%u from=<%s>", qid, s->submit_user->uid,
		    ps);
		free(ps);
	}
	in = pm_calloc(s->n_rcpt, sizeof(*in));
	for (i = 0; i < s->n_rcpt; i++) {
		in[i].address = s->rcpt[i]->address;
		in[i].orcpt = str_or_empty(s->rcpt[i]->orcpt);
		in[i].notify = s->rcpt[i]->notify;
	}
	if (pm_cleanup_sender(cfg, qid, str_or_empty(s->sender), &sender) !=
	        0 ||
	    pm_cleanup_rcpts(cfg, qid, in, s->n_rcpt, &rcpt, &nrcpt) != 0 ||
	    nrcpt == 0) {
		reply_set(r, 451, "4.3.0", TEXT_WRITE_ERR);
		pm_metric_inc(cleanup_m.error);
		goto out;
	}

	m.qid = qid;
	m.sender = sender;
	m.rcpt = rcpt[0].address;
	m.origin = origin;
	m.protocol = s->protocol;
	m.helo = s->helo_name;
	m.add_missing = (s->flags & PM_MSG_LOCAL) != 0;
	m.full_name = s->full_name;
	/* Postfix runs no content checks on its own notifications. */
	m.filter = (s->flags & PM_MSG_BOUNCE) == 0;
	arrival = s->arrival_us > 0 ? s->arrival_us : pm_now_us();
	m.arrival = (time_t) (arrival / 1000000);
	m.now = time(NULL);
	if (pm_cleanup_content(cfg, &m, s->content.data, s->content.len) != 0) {
		pm_msg_warn("%s: out of memory for the message content", qid);
		m.status = PM_CLEANUP_DEFER;
	}
	switch (m.status) {
	case PM_CLEANUP_DEFER:
		reply_set(r, 451, "4.3.0", TEXT_WRITE_ERR);
		pm_metric_inc(cleanup_m.error);
		break;
	case PM_CLEANUP_REJECT:
		reply_set(r, m.code, m.dsn, m.text);
		pm_metric_inc(cleanup_m.rejected);
		break;
	case PM_CLEANUP_DISCARD:
		pm_msg_info("%s: message-id=%s", qid,
		    m.message_id[0] ? m.message_id : "<>");
		reply_set(r, 250, "2.0.0", "");
		snprintf(r->text, sizeof(r->text), "Ok: queued as %s", qid);
		pm_metric_inc(cleanup_m.discarded);
		break;
	default:
		pm_msg_info("%s: message-id=%s", qid,
		    m.message_id[0] ? m.message_id : "<>");
		submit_enqueue(w, s, qid, sender, rcpt, nrcpt, &m, r);
		break;
	}

out:
	pm_cleanup_msg_free(&m);
	pm_cleanup_rcpts_free(rcpt, nrcpt);
	free(sender);
	free(origin);
	free(in);
	cleanup_maps_put(maps);
}

static void
submit(cleanup_worker *w, const Pm__CleanupSubmit *s, submit_reply *r)
{
	char *bad;

	if (s->queue_id == NULL || s->queue_id[0] == 0) {
		pm_qid_new(r->qid);
	} else if (!pm_qid_valid(s->queue_id)) {
		bad = pm_printable_dup(s->queue_id, strlen(s->queue_id), 64);
		pm_msg_warn("NOQUEUE: invalid cleanup request: bad queue id "
		            "%s",
		    bad);
		free(bad);
		reply_set(r, 451, "4.3.0", TEXT_PROTO_ERR);
		pm_metric_inc(cleanup_m.error);
		return;
	} else {
		snprintf(r->qid, sizeof(r->qid), "%s", s->queue_id);
	}
	if (submit_check(s, r->qid) != 0) {
		reply_set(r, 451, "4.3.0", TEXT_PROTO_ERR);
		pm_metric_inc(cleanup_m.error);
		return;
	}
	if (s->content.len > (size_t) var_message_size_limit) {
		pm_msg_info("%s: reject: message size %zu exceeds "
		            "message_size_limit %ld",
		    r->qid, s->content.len, var_message_size_limit);
		reply_set(r, 552, "5.3.4", "Error: message file too big");
		pm_metric_inc(cleanup_m.rejected);
		return;
	}
	if (!cleanup_durable_ok()) {
		pm_msg_info("%s: defer: %s = %s not met by Redis; refusing "
		            "mail",
		    r->qid, VAR_QUEUE_DURABILITY, var_queue_durability);
		reply_set(r, 451, "4.3.0", TEXT_NOT_DURABLE);
		pm_metric_inc(cleanup_m.error);
		return;
	}
	submit_process(w, s, r->qid, r);
}

int
cleanup_handler(void *ctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	Pm__CleanupReply rep = PM__CLEANUP_REPLY__INIT;
	Pm__CleanupSubmit *s;
	submit_reply r;
	uint8_t *buf;
	size_t len, charge;
	int err;

	if (type != PM__MSG_TYPE__MSG_CLEANUP_SUBMIT) {
		pm_msg_warn("unexpected request type %u", (unsigned) type);
		return (PM_EPROTO);
	}
	memset(&r, 0, sizeof(r));
	charge = reqlen <= SIZE_MAX / CLEANUP_CONTENT_COPIES ?
	    reqlen * CLEANUP_CONTENT_COPIES :
	    SIZE_MAX;
	if (pm_budget_reserve_wait(&cleanup_content_budget, charge, reqlen,
	        CLEANUP_CONTENT_WAIT_MS) != 0) {
		/* Before the unpack: a refusal makes no copy. */
		pm_msg_warn("NOQUEUE: insufficient content memory for a "
		            "request of %zu bytes (%s = %ld)",
		    reqlen, VAR_CLEANUP_CONTENT_MEM, var_cleanup_content_mem);
		reply_set(&r, 451, "4.3.1", "Insufficient system storage");
		pm_metric_inc(cleanup_m.error);
		charge = 0;
	} else if ((s = pm__cleanup_submit__unpack(NULL, reqlen, req)) ==
	    NULL) {
		pm_msg_warn("NOQUEUE: malformed cleanup request (%zu bytes)",
		    reqlen);
		reply_set(&r, 451, "4.3.0", TEXT_PROTO_ERR);
		pm_metric_inc(cleanup_m.error);
	} else {
		pm_metric_gauge_add(cleanup_m.content_bytes, (int64_t) charge);
		submit(ctx, s, &r);
		pm__cleanup_submit__free_unpacked(s, NULL);
		pm_metric_gauge_add(cleanup_m.content_bytes, -(int64_t) charge);
	}
	pm_budget_release(&cleanup_content_budget, charge);
	rep.code = r.code;
	rep.dsn = r.dsn;
	rep.text = r.text;
	rep.queue_id = r.qid;
	len = pm__cleanup_reply__get_packed_size(&rep);
	buf = pm_malloc(len ? len : 1);
	pm__cleanup_reply__pack(&rep, buf);
	err = pm_buf_append(rbuf, buf, len);
	free(buf);
	*rtype = PM__MSG_TYPE__MSG_CLEANUP_REPLY;
	return (err);
}
