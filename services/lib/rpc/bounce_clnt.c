/*
 * NAME
 *	bounce_clnt - client stub of the bounce service (bounce/defer/trace)
 * SUMMARY
 *	#include "bounce_clnt.h"
 * DESCRIPTION
 *	See bounce_clnt.h. Per part, packs a BounceRequest (bounce.proto)
 *	with the part's index, sends it with pm_rpc (MSG_BOUNCE_NOTIFY)
 *	and reads the BounceReply:
 *	  250      -> 0, the first notice's queue id copied out ("" if
 *	              none sent);
 *	  4xx      -> PM_EAGAIN (the service could not send it now);
 *	  5xx      -> the part is lost: the service can never send it
 *	              (the original is no longer queued, the notice is
 *	              too large or cleanup refuses it); the other parts
 *	              are still asked for, then PM_ENOENT;
 *	  anything else, a transport error, a timeout or a malformed
 *	  reply -> a negative PM_E* (never 0): the caller keeps the
 *	  message and asks again later.
 * LIMITS
 *	PM_BOUNCE_NOTICE_MAX recipients per request, and every field within
 *	its wire bound (texts are cut; a part with an address over it can
 *	never be sent and counts as lost),
 *	so a request always fits PM_RPC_CONTROL_MAX. Each request waits at
 *	most timeout_ms.
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

/* Wire bound of one recipient in a request (fields plus tags). */
#define RCPT_WIRE_MAX \
	(2 * PM_BOUNCE_ADDR_WIRE_MAX + PM_BOUNCE_MTA_WIRE_MAX + \
	    PM_BOUNCE_TEXT_WIRE_MAX + 16 + 64)
_Static_assert(PM_BOUNCE_NOTICE_MAX *(size_t) RCPT_WIRE_MAX + 8192 <=
        PM_RPC_CONTROL_MAX,
    "a full notice request must fit a control call");

struct pm_bounce_clnt {
	pm_rpc_client *rpc;
	int timeout_ms;
};

pm_bounce_clnt *
pm_bounce_clnt_new(const char *urls, int timeout_ms)
{
	pm_bounce_clnt *c;
	pm_rpc_client *rpc;

	if ((rpc = pm_rpc_client_open("bounce", urls, PM_RPC_CONTROL_MAX)) ==
	    NULL) {
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

/* Pack the request into a new buffer; NULL if a field is over its bound. */
static uint8_t *
clnt_pack(int kind, const char *queue_id, const char *notify_to,
    const pm_notice_rcpt *rcpt, size_t nrcpt, unsigned part, size_t *lenp)
{
	Pm__BounceRequest req = PM__BOUNCE_REQUEST__INIT;
	Pm__NoticeRcpt *rv, **rp;
	char **cut;
	uint8_t *buf = NULL;
	size_t i, len;

	rv = pm_calloc(nrcpt, sizeof(*rv));
	rp = pm_calloc(nrcpt, sizeof(*rp));
	cut = pm_calloc(2 * nrcpt, sizeof(*cut));
	for (i = 0; i < nrcpt; i++) {
		if (strlen(S(rcpt[i].address)) > PM_BOUNCE_ADDR_WIRE_MAX ||
		    strlen(S(rcpt[i].orcpt)) > PM_BOUNCE_ADDR_WIRE_MAX ||
		    strlen(S(rcpt[i].dsn)) > 15) {
			goto out;
		}
		pm__notice_rcpt__init(&rv[i]);
		rv[i].address = S(rcpt[i].address);
		rv[i].orcpt = S(rcpt[i].orcpt);
		rv[i].notify = rcpt[i].notify;
		rv[i].dsn = S(rcpt[i].dsn);
		/* a notice shows no more of them (pm_dsn cuts too) */
		cut[2 * i] =
		    pm_strndup(S(rcpt[i].text), PM_BOUNCE_TEXT_WIRE_MAX);
		cut[2 * i + 1] =
		    pm_strndup(S(rcpt[i].remote_mta), PM_BOUNCE_MTA_WIRE_MAX);
		rv[i].text = cut[2 * i];
		rv[i].remote_mta = cut[2 * i + 1];
		rv[i].last_attempt_us = rcpt[i].last_attempt_us;
		rp[i] = &rv[i];
	}
	req.kind = (Pm__NoticeKind) kind;
	req.queue_id = (char *) queue_id;
	req.n_rcpt = nrcpt;
	req.rcpt = rp;
	req.part = part;
	req.notify_to = S(notify_to);
	len = pm__bounce_request__get_packed_size(&req);
	buf = pm_malloc(len ? len : 1);
	*lenp = pm__bounce_request__pack(&req, buf);
out:
	for (i = 0; i < 2 * nrcpt; i++) {
		free(cut[i]);
	}
	free(cut);
	free(rv);
	free(rp);
	return (buf);
}

/* One part: 0 (queued or not needed), PM_ENOENT (5xx), or PM_E*. */
static int
notify_one(pm_bounce_clnt *c, int kind, const char *queue_id,
    const char *notify_to, const pm_notice_rcpt *rcpt, size_t nrcpt,
    unsigned part, pm_notice_result *res)
{
	Pm__BounceReply *rep = NULL;
	uint32_t rtype = 0;
	uint8_t *req;
	size_t reqlen = 0;
	pm_buf reply;
	char *text;
	int err;

	if ((req = clnt_pack(kind, queue_id, notify_to, rcpt, nrcpt, part,
	         &reqlen)) == NULL) {
		/* the same request would fail again: never sendable */
		snprintf(res->why, sizeof(res->why),
		    "a recipient address "
		    "is longer than %d bytes",
		    PM_BOUNCE_ADDR_WIRE_MAX);
		pm_msg_warn("%s: bounce request: %s", queue_id, res->why);
		return (PM_ENOENT);
	}
	pm_buf_init(&reply, PM_RPC_CONTROL_MAX);
	err = pm_rpc_call(c->rpc, PM__MSG_TYPE__MSG_BOUNCE_NOTIFY, req, reqlen,
	    c->timeout_ms, &rtype, &reply);
	free(req);
	if (err != 0) {
		pm_msg_warn("%s: bounce service: %s", queue_id,
		    pm_strerror(err));
		goto out;
	}
	if (rtype != PM__MSG_TYPE__MSG_BOUNCE_REPLY ||
	    (rep = pm__bounce_reply__unpack(NULL, reply.len,
	         (const uint8_t *) reply.data)) == NULL) {
		pm_msg_warn("%s: bounce service: malformed reply (type %u)",
		    queue_id, (unsigned) rtype);
		err = PM_EPROTO;
		goto out;
	}
	text = pm_printable_dup(S(rep->text), strlen(S(rep->text)), 200);
	if (rep->code == 250) {
		if (rep->notice_queue_id != NULL && *rep->notice_queue_id &&
		    !pm_qid_valid(rep->notice_queue_id)) {
			pm_msg_warn("%s: bounce service: bad notice queue id",
			    queue_id);
			err = PM_EPROTO;
		} else if (res->queue_id[0] == 0) {
			snprintf(res->queue_id, sizeof(res->queue_id), "%s",
			    S(rep->notice_queue_id));
		}
	} else if (rep->code >= 400 && rep->code < 500) {
		pm_msg_warn("%s: bounce service: %u %s", queue_id, rep->code,
		    text);
		err = PM_EAGAIN;
	} else if (rep->code >= 500 && rep->code < 600) {
		pm_msg_warn("%s: bounce service: %u %s", queue_id, rep->code,
		    text);
		snprintf(res->why, sizeof(res->why), "%u %s", rep->code, text);
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

int
pm_bounce_notify(pm_bounce_clnt *c, int kind, const char *queue_id,
    const pm_notice_rcpt *rcpt, size_t nrcpt, size_t per_notice,
    pm_notice_result *res)
{
	size_t at, n;
	int err;

	if (res != NULL) {
		memset(res, 0, sizeof(*res));
	}
	if (c == NULL || queue_id == NULL || !pm_qid_valid(queue_id) ||
	    kind < PM_NOTICE_FAILED || kind > PM_NOTICE_RELAYED || nrcpt == 0 ||
	    rcpt == NULL || res == NULL || per_notice == 0) {
		return (PM_EINVAL);
	}
	if (per_notice > PM_BOUNCE_NOTICE_MAX) {
		per_notice = PM_BOUNCE_NOTICE_MAX;
	}
	for (at = 0; at < nrcpt; at += n) {
		n = nrcpt - at < per_notice ? nrcpt - at : per_notice;
		err = notify_one(c, kind, queue_id, NULL, rcpt + at, n,
		    (unsigned) res->parts, res);
		res->parts++;
		if (err == PM_ENOENT) {
			res->lost++;
		} else if (err != 0) {
			return (err);
		}
	}
	return (res->lost > 0 ? PM_ENOENT : 0);
}

int
pm_bounce_notify_to(pm_bounce_clnt *c, const char *queue_id,
    const char *notify_to, unsigned part, const pm_notice_rcpt *rcpt,
    size_t nrcpt, pm_notice_result *res)
{
	int err;

	if (res != NULL) {
		memset(res, 0, sizeof(*res));
	}
	if (c == NULL || queue_id == NULL || !pm_qid_valid(queue_id) ||
	    (notify_to != NULL &&
	        (*notify_to == 0 ||
	            strlen(notify_to) > PM_BOUNCE_ADDR_WIRE_MAX)) ||
	    part >= PM_BOUNCE_PART_AGENT || nrcpt == 0 ||
	    nrcpt > PM_BOUNCE_NOTICE_MAX || rcpt == NULL || res == NULL) {
		return (PM_EINVAL);
	}
	if (notify_to == NULL) {
		part += PM_BOUNCE_PART_AGENT; /* not one of qmgr's parts */
	}
	err = notify_one(c, PM_NOTICE_FAILED, queue_id, notify_to, rcpt, nrcpt,
	    part, res);
	res->parts = 1;
	if (err == PM_ENOENT) {
		res->lost = 1;
	}
	return (err);
}
