/*
 * NAME
 *	bounce_clnt - client stub of the bounce service (bounce/defer/trace)
 * SUMMARY
 *	#include "bounce_clnt.h"
 * DESCRIPTION
 *	See bounce_clnt.h. Packs a BounceRequest (bounce.proto), sends it
 *	with pm_rpc (MSG_BOUNCE_NOTIFY) and reads the BounceReply:
 *	  250      -> 0, the notice queue id copied out ("" if none sent);
 *	  4xx      -> PM_EAGAIN (the service could not send it now);
 *	  5xx      -> PM_ENOENT (the service cannot ever send it, e.g. the
 *	              original is no longer queued);
 *	  anything else, a transport error, a timeout or a malformed
 *	  reply -> a negative PM_E* (never 0): the caller keeps the
 *	  message and asks again later.
 * LIMITS
 *	At most PM_BOUNCE_CLNT_MAX_RCPT recipients per call (PM_ETOOBIG);
 *	requests over PM_RPC_CONTROL_MAX are refused locally. Each call
 *	waits at most timeout_ms.
 * SECURITY
 *	The reply is untrusted: its type, code and queue id (pm_qid_valid)
 *	are checked; its text is only logged, made printable.
 */
#include "bounce_clnt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.pb-c.h"
#include "common.pb-c.h"
#include "pm_log.h"
#include "pm_qid.h"
#include "pm_rpc.h"
#include "pm_util.h"

#define PM_BOUNCE_CLNT_MAX_RCPT 10000

struct pm_bounce_clnt {
	pm_rpc_client *rpc;
	int timeout_ms;
};

pm_bounce_clnt *
pm_bounce_clnt_new(const char *urls, int timeout_ms)
{
	pm_bounce_clnt *c;
	pm_rpc_client *rpc;

	if ((rpc = pm_rpc_client_new(urls, PM_RPC_CONTROL_MAX)) == NULL) {
		return (NULL);
	}
	pm_rpc_client_set_sendmax(rpc, PM_RPC_CONTROL_MAX);
	c = pm_calloc(1, sizeof(*c));
	c->rpc = rpc;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	return (c);
}

void
pm_bounce_clnt_free(pm_bounce_clnt *c)
{
	if (c == NULL) {
		return;
	}
	pm_rpc_client_free(c->rpc);
	free(c);
}

#define S(x) ((char *) ((x) != NULL ? (x) : ""))

/* Pack the request into a new buffer. */
static uint8_t *
clnt_pack(int kind, const char *queue_id, const pm_notice_rcpt *rcpt,
    size_t nrcpt, size_t *lenp)
{
	Pm__BounceRequest req = PM__BOUNCE_REQUEST__INIT;
	Pm__NoticeRcpt *rv, **rp;
	uint8_t *buf;
	size_t i, len;

	rv = pm_calloc(nrcpt, sizeof(*rv));
	rp = pm_calloc(nrcpt, sizeof(*rp));
	for (i = 0; i < nrcpt; i++) {
		pm__notice_rcpt__init(&rv[i]);
		rv[i].address = S(rcpt[i].address);
		rv[i].orcpt = S(rcpt[i].orcpt);
		rv[i].notify = rcpt[i].notify;
		rv[i].dsn = S(rcpt[i].dsn);
		rv[i].text = S(rcpt[i].text);
		rv[i].remote_mta = S(rcpt[i].remote_mta);
		rv[i].last_attempt_us = rcpt[i].last_attempt_us;
		rp[i] = &rv[i];
	}
	req.kind = (Pm__NoticeKind) kind;
	req.queue_id = (char *) queue_id;
	req.n_rcpt = nrcpt;
	req.rcpt = rp;
	len = pm__bounce_request__get_packed_size(&req);
	buf = pm_malloc(len ? len : 1);
	*lenp = pm__bounce_request__pack(&req, buf);
	free(rv);
	free(rp);
	return (buf);
}

int
pm_bounce_notify(pm_bounce_clnt *c, int kind, const char *queue_id,
    const pm_notice_rcpt *rcpt, size_t nrcpt, char *notice_qid,
    size_t notice_qid_size)
{
	Pm__BounceReply *rep = NULL;
	uint32_t rtype = 0;
	uint8_t *req;
	size_t reqlen;
	pm_buf reply;
	char *text;
	int err;

	if (c == NULL || queue_id == NULL || !pm_qid_valid(queue_id) ||
	    kind < PM_NOTICE_FAILED || kind > PM_NOTICE_RELAYED ||
	    nrcpt == 0 || rcpt == NULL || notice_qid == NULL ||
	    notice_qid_size == 0) {
		return (PM_EINVAL);
	}
	if (nrcpt > PM_BOUNCE_CLNT_MAX_RCPT) {
		return (PM_ETOOBIG);
	}
	req = clnt_pack(kind, queue_id, rcpt, nrcpt, &reqlen);
	pm_buf_init(&reply, PM_RPC_CONTROL_MAX);
	err = pm_rpc_call(c->rpc, PM__MSG_TYPE__MSG_BOUNCE_NOTIFY, req, reqlen,
	    c->timeout_ms, &rtype, &reply);
	free(req);
	if (err != 0) {
		pm_msg_warn("%s: bounce service: %s", queue_id,
		    pm_strerror(err));
		goto out;
	}
	if (rtype != PM__MSG_TYPE__MSG_BOUNCE_REPLY || (rep =
	    pm__bounce_reply__unpack(NULL, reply.len,
	    (const uint8_t *) reply.data)) == NULL) {
		pm_msg_warn("%s: bounce service: malformed reply (type %u)",
		    queue_id, (unsigned) rtype);
		err = PM_EPROTO;
		goto out;
	}
	text = pm_printable_dup(S(rep->text), strlen(S(rep->text)), 512);
	if (rep->code == 250) {
		if (rep->notice_queue_id != NULL && *rep->notice_queue_id &&
		    (!pm_qid_valid(rep->notice_queue_id) ||
		    strlen(rep->notice_queue_id) >= notice_qid_size)) {
			pm_msg_warn("%s: bounce service: bad notice queue id",
			    queue_id);
			err = PM_EPROTO;
		} else {
			snprintf(notice_qid, notice_qid_size, "%s",
			    S(rep->notice_queue_id));
		}
	} else if (rep->code >= 400 && rep->code < 500) {
		pm_msg_warn("%s: bounce service: %u %s", queue_id, rep->code,
		    text);
		err = PM_EAGAIN;
	} else if (rep->code >= 500 && rep->code < 600) {
		pm_msg_warn("%s: bounce service: %u %s", queue_id, rep->code,
		    text);
		err = PM_ENOENT;
	} else {
		pm_msg_warn("%s: bounce service: bad reply code %u", queue_id,
		    rep->code);
		err = PM_EPROTO;
	}
	free(text);
out:
	if (rep != NULL) {
		pm__bounce_reply__free_unpacked(rep, NULL);
	}
	pm_buf_free(&reply);
	return (err);
}
