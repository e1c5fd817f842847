/*
 * NAME
 *	cleanup_clnt - client stub of the cleanup service
 * SUMMARY
 *	#include "cleanup_clnt.h"
 * DESCRIPTION
 *	See cleanup_clnt.h. Packs a pm_submit into a CleanupSubmit
 *	(cleanup.proto; the content goes as a part of its own, copied once
 *	into the request), sends it with pm_rpc (MSG_CLEANUP_SUBMIT) and
 *	turns the CleanupReply into a pm_submit_result. Any failure on the
 *	way (cleanup down, timeout, MSG_ERROR, a reply that does not
 *	unpack or has the wrong type) becomes "451 4.3.0 Error: queue file
 *	write error", as Postfix's smtpd says when cleanup fails: the
 *	caller defers, never reports success.
 *
 *	Resend is on (pm_rpc_client_set_resend): a request whose
 *	connection closes before the reply (a cleanup that stops, or one
 *	that our name lookups dropped) goes at once to another cleanup
 *	with the same queue id. cleanup answers a queue id that is still
 *	queued with "250 ... already queued" and writes nothing, so a
 *	message is neither refused nor queued twice; a stopping cleanup
 *	writes every reply before it closes (pm_rpc.h). Only a cleanup
 *	that dies between its queue write and its reply, with the message
 *	delivered and gone before the resend arrives, leads to a second
 *	copy (keep_id_secs 0, as smtpd sends).
 * LIMITS
 *	Content over max_content, or a request over max_content +
 *	PM_CLEANUP_ENV_ALLOWANCE + nrcpt * PM_CLEANUP_RCPT_ALLOWANCE, is
 *	refused locally (552 5.3.4 "Error: message file too big"; the
 *	async variant returns PM_ETOOBIG), so the server never drops the
 *	connection for an oversized request. Each call waits at most
 *	timeout_ms. Replies are read with PM_RPC_CONTROL_MAX.
 * SECURITY
 *	The reply is untrusted: the code must be 2xx/4xx/5xx, the DSN must
 *	be well formed and of the same class, the text is made printable
 *	and cut to fit, the queue id must pass pm_qid_valid().
 */
#include "cleanup_clnt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.pb-c.h"
#include "common.pb-c.h"
#include "pm_dsn.h"
#include "pm_log.h"
#include "pm_qid.h"
#include "pm_rpc.h"
#include "pm_util.h"

struct pm_cleanup_clnt {
	pm_rpc_client *rpc;
	size_t max_content;
	int timeout_ms;
};

typedef struct clnt_async {
	pm_cleanup_cb cb;
	void *arg;
	char qid[PM_QID_LEN + 1];
} clnt_async;

#define CLNT_ERR_TEXT "Error: queue file write error"
#define CLNT_BIG_TEXT "Error: message file too big"

pm_cleanup_clnt *
pm_cleanup_clnt_new(const char *urls, size_t max_content, int timeout_ms)
{
	pm_cleanup_clnt *c;
	pm_rpc_client *rpc;

	if ((rpc = pm_rpc_client_open("cleanup", urls, PM_RPC_CONTROL_MAX)) ==
	    NULL) {
		return (NULL);
	}
	/* A submit names its queue id: cleanup answers a repeat "already
	 * queued", so a request lost with a stopping cleanup goes again. */
	pm_rpc_client_set_resend(rpc, 1);
	c = pm_calloc(1, sizeof(*c));
	c->rpc = rpc;
	c->max_content = max_content;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	return (c);
}

void
pm_cleanup_clnt_free(pm_cleanup_clnt *c)
{
	if (c == NULL) {
		return;
	}
	pm_rpc_client_free(c->rpc);
	free(c);
}

static void
result_set(pm_submit_result *res, unsigned code, const char *dsn,
    const char *text, const char *qid)
{
	memset(res, 0, sizeof(*res));
	res->code = code;
	snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
	snprintf(res->text, sizeof(res->text), "%s", text);
	if (qid != NULL && pm_qid_valid(qid)) {
		snprintf(res->queue_id, sizeof(res->queue_id), "%s", qid);
	}
}

/* Turn a reply (or a transport error) into a result. */
static void
result_from_reply(pm_submit_result *res, int err, uint32_t rtype,
    const uint8_t *reply, size_t len, const char *qid)
{
	Pm__CleanupReply *r;
	unsigned code;

	if (err != 0) {
		pm_msg_warn("%s: cleanup service: %s",
		    qid && *qid ? qid : "NOQUEUE", pm_strerror(err));
		result_set(res, 451, "4.3.0", CLNT_ERR_TEXT, qid);
		return;
	}
	if (rtype != PM__MSG_TYPE__MSG_CLEANUP_REPLY ||
	    (r = pm__cleanup_reply__unpack(NULL, len, reply)) == NULL) {
		pm_msg_warn("%s: cleanup service: malformed reply (type %u)",
		    qid && *qid ? qid : "NOQUEUE", (unsigned) rtype);
		result_set(res, 451, "4.3.0", CLNT_ERR_TEXT, qid);
		return;
	}
	code = r->code;
	if (code < 200 || code > 599 || (code >= 300 && code < 400)) {
		pm_msg_warn("%s: cleanup service: bad reply code %u",
		    qid && *qid ? qid : "NOQUEUE", code);
		result_set(res, 451, "4.3.0", CLNT_ERR_TEXT, qid);
	} else {
		result_set(res, code,
		    code < 300     ? "2.0.0" :
		        code < 500 ? "4.3.0" :
		                     "5.3.0",
		    "", NULL);
		if (r->dsn != NULL && strlen(r->dsn) < sizeof(res->dsn) &&
		    pm_dsn_status_match((int) code, r->dsn)) {
			snprintf(res->dsn, sizeof(res->dsn), "%s", r->dsn);
		}
		snprintf(res->text, sizeof(res->text), "%s",
		    r->text != NULL && *r->text ? r->text :
		        code < 300              ? "Ok" :
		                                  CLNT_ERR_TEXT);
		pm_printable(res->text);
		if (r->queue_id != NULL && pm_qid_valid(r->queue_id)) {
			snprintf(res->queue_id, sizeof(res->queue_id), "%s",
			    r->queue_id);
		} else if (qid != NULL && pm_qid_valid(qid)) {
			snprintf(res->queue_id, sizeof(res->queue_id), "%s",
			    qid);
		}
	}
	pm__cleanup_reply__free_unpacked(r, NULL);
}

#define S(x) ((char *) ((x) != NULL ? (x) : ""))

/*
 * The request in three parts: the CleanupSubmit packed without its
 * content, the key and length of the content field, and the content
 * itself, which is copied only once, into the nng message (no packed
 * copy of the whole message in between).
 */
typedef struct clnt_req {
	uint8_t *env; /* malloc'ed */
	uint8_t head[PM_RPC_FIELD_HEAD_MAX];
	pm_rpc_part part[3];
} clnt_req;

#define CLEANUP_SUBMIT_CONTENT_FIELD 4 /* CleanupSubmit.content */

/*
 * Pack the request. Returns 0 and r->part set (free r->env), or
 * PM_ETOOBIG when content or envelope exceed what cleanup accepts.
 */
static int
clnt_pack(const pm_cleanup_clnt *c, const pm_submit *s, clnt_req *r)
{
	Pm__CleanupSubmit req = PM__CLEANUP_SUBMIT__INIT;
	Pm__LocalUser user = PM__LOCAL_USER__INIT;
	Pm__Recipient *rv = NULL, **rp = NULL;
	size_t i, len, hlen, max;

	if (s->content_len > c->max_content || s->nrcpt > SIZE_MAX / 2048) {
		return (PM_ETOOBIG);
	}
	req.queue_id = S(s->queue_id);
	req.sender = S(s->sender);
	if (s->nrcpt > 0) {
		rv = pm_calloc(s->nrcpt, sizeof(*rv));
		rp = pm_calloc(s->nrcpt, sizeof(*rp));
	}
	for (i = 0; i < s->nrcpt; i++) {
		pm__recipient__init(&rv[i]);
		rv[i].address = S(s->rcpt[i].address);
		rv[i].orcpt = S(s->rcpt[i].orcpt);
		rv[i].notify = s->rcpt[i].notify;
		rp[i] = &rv[i];
	}
	req.n_rcpt = s->nrcpt;
	req.rcpt = rp;
	/* content: a part of its own, see above */
	req.flags = s->flags;
	req.body_type = (Pm__BodyType) s->body_type;
	req.dsn_ret = (Pm__DsnRet) s->dsn_ret;
	req.dsn_envid = S(s->dsn_envid);
	req.client_name = S(s->client_name);
	req.client_addr = S(s->client_addr);
	req.client_port = S(s->client_port);
	req.helo_name = S(s->helo_name);
	req.protocol = S(s->protocol);
	req.sasl_username = S(s->sasl_username);
	req.sasl_method = S(s->sasl_method);
	req.sasl_sender = S(s->sasl_sender);
	req.arrival_us = s->arrival_us;
	req.keep_id_secs = s->keep_id_secs;
	req.submit_user = s->has_uid ? &user : NULL;
	user.uid = s->uid;
	req.full_name = S(s->full_name);

	len = pm__cleanup_submit__get_packed_size(&req);
	hlen = pm_rpc_field_head(CLEANUP_SUBMIT_CONTENT_FIELD, s->content_len,
	    r->head);
	/* room for the pm.Envelope around it */
	max = c->max_content + PM_CLEANUP_ENV_ALLOWANCE - 256 +
	    s->nrcpt * PM_CLEANUP_RCPT_ALLOWANCE;
	if (len + hlen + s->content_len > max) {
		free(rv);
		free(rp);
		return (PM_ETOOBIG);
	}
	r->env = pm_malloc(len ? len : 1);
	r->part[0].data = r->env;
	r->part[0].len = pm__cleanup_submit__pack(&req, r->env);
	r->part[1].data = r->head;
	r->part[1].len = hlen;
	r->part[2].data = s->content_len > 0 ? s->content : NULL;
	r->part[2].len = s->content_len;
	free(rv);
	free(rp);
	return (0);
}

void
pm_cleanup_submit(pm_cleanup_clnt *c, const pm_submit *s, pm_submit_result *res)
{
	clnt_req r;
	pm_buf req, reply;
	uint32_t rtype = 0;
	int err, i;

	if (clnt_pack(c, s, &r) != 0) {
		result_set(res, 552, "5.3.4", CLNT_BIG_TEXT, s->queue_id);
		return;
	}
	/* The blocking call sends one buffer (bounce notices). */
	pm_buf_init(&req, 0);
	for (i = 0; i < 3; i++) {
		(void) pm_buf_append(&req, r.part[i].data, r.part[i].len);
	}
	free(r.env);
	pm_buf_init(&reply, PM_RPC_CONTROL_MAX);
	err = pm_rpc_call(c->rpc, PM__MSG_TYPE__MSG_CLEANUP_SUBMIT, req.data,
	    req.len, c->timeout_ms, &rtype, &reply);
	pm_buf_free(&req);
	result_from_reply(res, err, rtype, (const uint8_t *) reply.data,
	    reply.len, s->queue_id);
	pm_buf_free(&reply);
}

static void
clnt_async_done(void *arg, int err, uint32_t rtype, const uint8_t *reply,
    size_t replylen)
{
	clnt_async *a = arg;
	pm_submit_result res;

	result_from_reply(&res, err, rtype, reply, replylen, a->qid);
	a->cb(a->arg, &res);
	free(a);
}

int
pm_cleanup_submit_async(pm_cleanup_clnt *c, const pm_submit *s,
    pm_cleanup_cb cb, void *arg)
{
	clnt_async *a;
	clnt_req r;
	int err;

	if ((err = clnt_pack(c, s, &r)) != 0) {
		return (err);
	}
	a = pm_calloc(1, sizeof(*a));
	a->cb = cb;
	a->arg = arg;
	if (s->queue_id != NULL && pm_qid_valid(s->queue_id)) {
		snprintf(a->qid, sizeof(a->qid), "%s", s->queue_id);
	}
	err = pm_rpc_call_asyncv(c->rpc, PM__MSG_TYPE__MSG_CLEANUP_SUBMIT,
	    r.part, 3, c->timeout_ms, clnt_async_done, a);
	free(r.env);
	if (err != 0) {
		free(a);
	}
	return (err);
}
