/*
 * NAME
 *	bounce_notify - the MSG_BOUNCE_NOTIFY handler
 * DESCRIPTION
 *	bounce_handler() runs on an RPC worker thread for each request:
 *	  1. unpack and check the BounceRequest (kind, queue id, recipient
 *	     count and fields); a malformed request is refused with
 *	     MSG_ERROR (PM_EPROTO) and a warning;
 *	  2. read the original's envelope with pm_qstore_read() on the
 *	     worker's own connection: not queued -> "550 5.0.0"; a Redis
 *	     error -> "451 4.3.0";
 *	  3. decide who gets the notice (pm_dsn_route): the sender, or
 *	     notify_to when the request has one (the local agent's owner-
 *	     alias, Postfix's bounce_workaround; its notice id is derived
 *	     with kind + BOUNCE_OWNER_KIND so that it never is the
 *	     sender's notice's); for a
 *	     failed bounce (null sender) postmaster, from the
 *	     double_bounce_sender address; nobody for a failed double
 *	     bounce ("QID: discarding double bounce") or for a delay or
 *	     success notice about a bounce -> "250" without a notice;
 *	  4. no recipient asked for this kind (NOTIFY) -> "250" without a
 *	     notice;
 *	  5. read the content, build the notice (pm_dsn_build; if it is
 *	     over message_size_limit with the whole original, again with
 *	     the headers only; still over: "552 5.3.4", the notice can
 *	     never be sent), give it the queue id derived from (original
 *	     queue id, kind, part) with pm_qid_derive and submit it to
 *	     cleanup (pm_cleanup_submit, flags SUBMIT_BOUNCE, one
 *	     recipient, keep_id_secs: maximal_queue_lifetime + 1 day);
 *	  6. cleanup said 250 -> log "QID: sender non-delivery
 *	     notification: NEWQID" (or "sender delay notification",
 *	     "sender delivery status notification", "postmaster
 *	     non-delivery notification") and answer "250 2.0.0" with the
 *	     notice's queue id; 5xx -> "550 5.3.0" (refused for good);
 *	     anything else -> "451 4.3.0" and qmgr keeps the original and
 *	     asks again.
 *	A notice is queued once: asked again (qmgr timed out, or did not
 *	get the answer) the notice has the same queue id, and cleanup
 *	answers 250 without queueing it again, while it is queued and
 *	for keep_id_secs after it is gone (pm:{S}:seen:Q, docs/queue.md).
 * LIMITS
 *	BOUNCE_MAX_RCPT recipients per request; string fields bounded as
 *	below; the notice itself by pm_dsn's limits and
 *	message_size_limit.
 * SECURITY
 *	Every field of the request is checked before use and logged only
 *	through pm_printable. The original comes from the queue (written
 *	by cleanup, but its content is a peer's) and is only copied into
 *	the notice by pm_dsn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "bounce.pb-c.h"
#include "bounce_params.h"
#include "cleanup.pb-c.h"
#include "common.pb-c.h"
#include "pm_common_params.h"
#include "pm_dsn.h"
#include "pm_log.h"
#include "pm_qid.h"

#define BOUNCE_MAX_RCPT 10000
#define BOUNCE_ADDR_MAX 1024
#define BOUNCE_DSN_MAX 15
#define BOUNCE_TEXT_MAX 65536 /* longer texts are refused; pm_dsn cuts */
#define BOUNCE_KEEP_ID_MAX (365L * 86400) /* cleanup accepts up to 400 days */
#define BOUNCE_OWNER_KIND 0x20U /* pm_qid_derive kind offset: notify_to */

typedef struct bounce_reply {
	unsigned code;
	char text[256];
	char qid[32]; /* as pm_submit_result.queue_id */
} bounce_reply;

static void
reply_set(bounce_reply *r, unsigned code, const char *text)
{
	r->code = code;
	snprintf(r->text, sizeof(r->text), "%s", text);
}

static int
reply_pack(const bounce_reply *r, uint32_t *rtype, pm_buf *rbuf)
{
	Pm__BounceReply rep = PM__BOUNCE_REPLY__INIT;
	uint8_t *buf;
	size_t len;
	int err;

	rep.code = r->code;
	rep.text = (char *) r->text;
	rep.notice_queue_id = (char *) r->qid;
	len = pm__bounce_reply__get_packed_size(&rep);
	buf = pm_malloc(len ? len : 1);
	pm__bounce_reply__pack(&rep, buf);
	err = pm_buf_append(rbuf, buf, len);
	free(buf);
	*rtype = PM__MSG_TYPE__MSG_BOUNCE_REPLY;
	return (err);
}

/* NULL if s is NULL or acceptable, else why not. */
static const char *
check_str(const char *s, size_t max)
{
	if (s != NULL && strlen(s) > max) {
		return ("too long");
	}
	return (NULL);
}

/* 1 if s has no control characters (it becomes a To: and an RCPT). */
static int
no_controls(const char *s)
{
	for (; *s != 0; s++) {
		if ((unsigned char) *s < 0x20 || *s == 0x7f) {
			return (0);
		}
	}
	return (1);
}

/* Validate the request: 0, or -1 after a warning. */
static int
request_check(const Pm__BounceRequest *m)
{
	const Pm__NoticeRcpt *r;
	const char *why = NULL;
	const char *qid = m->queue_id != NULL ? m->queue_id : "";
	size_t i;

	if (!pm_qid_valid(qid)) {
		pm_msg_warn("invalid bounce request: bad queue id");
		return (-1);
	}
	if (m->kind < PM__NOTICE_KIND__NOTICE_FAILED ||
	    m->kind > PM__NOTICE_KIND__NOTICE_RELAYED) {
		pm_msg_warn("%s: invalid bounce request: notice kind %d", qid,
		    (int) m->kind);
		return (-1);
	}
	if (m->notify_to != NULL && *m->notify_to != 0 &&
	    (m->kind != PM__NOTICE_KIND__NOTICE_FAILED ||
	        strlen(m->notify_to) > BOUNCE_ADDR_MAX ||
	        !no_controls(m->notify_to))) {
		pm_msg_warn("%s: invalid bounce request: bad notify_to", qid);
		return (-1);
	}
	if (m->n_rcpt < 1 || m->n_rcpt > BOUNCE_MAX_RCPT) {
		pm_msg_warn("%s: invalid bounce request: %zu recipients", qid,
		    m->n_rcpt);
		return (-1);
	}
	for (i = 0; i < m->n_rcpt && why == NULL; i++) {
		r = m->rcpt[i];
		if (r == NULL || r->address == NULL || r->address[0] == 0) {
			why = "empty address";
		} else if ((why = check_str(r->address, BOUNCE_ADDR_MAX)) ||
		    (why = check_str(r->orcpt, BOUNCE_ADDR_MAX)) ||
		    (why = check_str(r->dsn, BOUNCE_DSN_MAX)) ||
		    (why = check_str(r->text, BOUNCE_TEXT_MAX)) ||
		    (why = check_str(r->remote_mta, BOUNCE_ADDR_MAX))) {
			/* why is set */
		} else if (r->notify > 15) {
			why = "bad NOTIFY";
		} else if (r->last_attempt_us < 0) {
			why = "negative time";
		}
	}
	if (why != NULL) {
		pm_msg_warn("%s: invalid bounce request: recipient %zu: %s",
		    qid, i - 1, why);
		return (-1);
	}
	return (0);
}

/* "sender non-delivery notification" etc., as Postfix logs them. */
static const char *
notice_name(int kind, int route)
{
	if (route == PM_DSN_TO_POSTMASTER) {
		return ("postmaster non-delivery notification");
	}
	switch (kind) {
	case PM_NOTICE_FAILED:
		return ("sender non-delivery notification");
	case PM_NOTICE_DELAYED:
		return ("sender delay notification");
	default:
		return ("sender delivery status notification");
	}
}

/* Build the notice into out; 0, or a PM_E* after a warning. */
static int
notice_build(const Pm__BounceRequest *m, const pm_qmsg *q, int route,
    const char *body, size_t blen, const char *nqid, const char *to,
    pm_buf *out, pm_dsn_info *info)
{
	pm_notice_rcpt *rv = pm_calloc(m->n_rcpt, sizeof(*rv));
	pm_dsn_orig o;
	pm_dsn_cfg c;
	size_t i;
	int err;

	for (i = 0; i < m->n_rcpt; i++) {
		rv[i].address = m->rcpt[i]->address;
		rv[i].orcpt = m->rcpt[i]->orcpt;
		rv[i].notify = m->rcpt[i]->notify;
		rv[i].dsn = m->rcpt[i]->dsn;
		rv[i].text = m->rcpt[i]->text;
		rv[i].remote_mta = m->rcpt[i]->remote_mta;
		rv[i].last_attempt_us = m->rcpt[i]->last_attempt_us;
	}
	memset(&o, 0, sizeof(o));
	o.queue_id = q->qid;
	o.sender = q->sender;
	o.arrival_us = q->arrival_us;
	o.envid = q->dsn_envid;
	o.ret = q->dsn_ret;
	o.flags = q->flags;
	o.content = body;
	o.len = blen;
	memset(&c, 0, sizeof(c));
	c.myhostname = var_myhostname;
	c.myorigin = var_myorigin;
	c.bounce_size_limit = (size_t) var_bounce_limit;
	c.delay_secs = var_delay_warn_time;
	c.lifetime_secs = var_max_queue_time;
	c.notice_qid = nqid;
	c.now_us = pm_now_us();

	err = pm_dsn_build((int) m->kind, route, &o, rv, m->n_rcpt, &c, to, out,
	    info);
	if (err == PM_ETOOBIG && o.ret != PM_RET_HDRS) {
		/* too big with the whole original: the headers only */
		pm_buf_reset(out);
		o.ret = PM_RET_HDRS;
		err = pm_dsn_build((int) m->kind, route, &o, rv, m->n_rcpt, &c,
		    to, out, info);
	}
	if (err != 0 && err != PM_ENOENT) {
		pm_msg_warn("%s: cannot build the %s: %s", q->qid,
		    notice_name((int) m->kind, route), pm_strerror(err));
	}
	free(rv);
	return (err);
}

/*
 * How long cleanup keeps a notice's queue id refused after the notice
 * is gone: a notice request comes again only while its original is
 * queued, at most maximal_queue_lifetime, plus a day for the last
 * backoff and slow retries.
 */
static unsigned
bounce_keep_id_secs(void)
{
	long secs = var_max_queue_time + 86400;

	return ((unsigned) (secs > BOUNCE_KEEP_ID_MAX ? BOUNCE_KEEP_ID_MAX :
	                                                secs));
}

/* Submit the notice; fills r. */
static void
notice_submit(const pm_qmsg *q, int kind, int route, const char *nqid,
    const char *to, const pm_buf *content, const pm_dsn_info *info,
    bounce_reply *r)
{
	pm_submit_rcpt rc = { to, "", 0 };
	pm_submit_result res;
	pm_submit s;
	char *text;

	memset(&s, 0, sizeof(s));
	s.queue_id = nqid;
	s.sender = route == PM_DSN_TO_POSTMASTER ? bounce_dbl_addr : "";
	s.rcpt = &rc;
	s.nrcpt = 1;
	s.content = content->data;
	s.content_len = content->len;
	s.flags = PM_MSG_BOUNCE | (info->smtputf8 ? PM_MSG_SMTPUTF8 : 0);
	s.body_type = info->body_type;
	s.protocol = "bounce";
	s.arrival_us = pm_now_us();
	s.keep_id_secs = bounce_keep_id_secs();
	pm_cleanup_submit(bounce_cleanup, &s, &res);
	if (res.code != 250) {
		text = pm_printable_dup(res.text, strlen(res.text), 512);
		pm_msg_warn("%s: cannot queue the %s: cleanup said: %u %s %s",
		    q->qid, notice_name(kind, route), res.code, res.dsn, text);
		pm_metric_inc(bounce_m.err_cleanup);
		if (res.code >= 500 && res.code < 600) {
			/* the same notice is refused again: it is lost */
			r->code = 550;
			snprintf(r->text, sizeof(r->text),
			    "5.3.0 Error: "
			    "cleanup refuses the notice: %u %s %.150s",
			    res.code, res.dsn, text);
		} else {
			reply_set(r, 451,
			    "4.3.0 Error: cannot queue the "
			    "notice");
		}
		free(text);
		return;
	}
	snprintf(r->qid, sizeof(r->qid), "%s",
	    res.queue_id[0] ? res.queue_id : nqid);
	pm_msg_info("%s: %s: %s", q->qid, notice_name(kind, route), r->qid);
	pm_metric_inc(
	    bounce_m.notice[route == PM_DSN_TO_POSTMASTER ? 0 : kind]);
	snprintf(r->text, sizeof(r->text), "2.0.0 Ok: queued as %s", r->qid);
	r->code = 250;
}

/* Steps 2-6 of DESCRIPTION for a checked request. */
static void
bounce_notify(bounce_worker *w, const Pm__BounceRequest *m, bounce_reply *r)
{
	int kind = (int) m->kind, route, err;
	char nqid[PM_QID_LEN + 1], *body = NULL;
	pm_qmsg *q = NULL;
	pm_dsn_info info;
	const char *to, *owner;
	size_t blen = 0, i, wanted = 0;
	pm_buf out;

	pm_buf_init(&out, (size_t) var_message_size_limit);
	if ((err = pm_qstore_read(w->qs, m->queue_id, &q)) != 0) {
		if (err == PM_ENOENT) {
			pm_msg_warn("%s: cannot send a notice: message not in "
			            "queue",
			    m->queue_id);
			reply_set(r, 550, "5.0.0 Error: message not in queue");
		} else {
			pm_msg_warn("%s: cannot send a notice: queue read: %s",
			    m->queue_id, pm_strerror(err));
			reply_set(r, 451, "4.3.0 Error: queue file read error");
		}
		pm_metric_inc(bounce_m.err_queue);
		goto out;
	}
	owner =
	    m->notify_to != NULL && *m->notify_to != 0 ? m->notify_to : NULL;
	route = pm_dsn_route(kind, owner != NULL ? owner : q->sender,
	    bounce_dbl_addr);
	if (route == PM_DSN_DISCARD) {
		if (*q->sender != 0) {
			pm_msg_info("%s: discarding double bounce", q->qid);
			pm_metric_inc(bounce_m.skip_dbl);
		} else {
			pm_metric_inc(bounce_m.skip_null);
		}
		reply_set(r, 250, "2.0.0 Ok: no notice needed");
		goto out;
	}
	for (i = 0; i < m->n_rcpt; i++) {
		wanted += pm_dsn_wanted(kind, m->rcpt[i]->notify);
	}
	if (route == PM_DSN_TO_SENDER && wanted == 0) {
		pm_metric_inc(bounce_m.skip_notify);
		reply_set(r, 250, "2.0.0 Ok: no notice requested");
		goto out;
	}
	if ((err = pm_qstore_body_get(w->qs, q->qid, &body, &blen)) != 0) {
		pm_msg_warn("%s: cannot send a notice: queue read: %s", q->qid,
		    pm_strerror(err));
		pm_metric_inc(bounce_m.err_queue);
		reply_set(r, 451, "4.3.0 Error: queue file read error");
		goto out;
	}
	/* the same notice asked again gets the same id: queued once */
	(void) pm_qid_derive(nqid, q->qid,
	    (unsigned) kind + (owner != NULL ? BOUNCE_OWNER_KIND : 0), m->part);
	to = route == PM_DSN_TO_POSTMASTER ? bounce_2bounce_addr :
	    owner != NULL                  ? owner :
	                                     q->sender;
	err = notice_build(m, q, route, body, blen, nqid, to, &out, &info);
	if (err == PM_ENOENT) {
		pm_metric_inc(bounce_m.skip_notify);
		reply_set(r, 250, "2.0.0 Ok: no notice requested");
	} else if (err == PM_ETOOBIG) {
		/* over message_size_limit even with the headers only */
		pm_metric_inc(bounce_m.err_build);
		reply_set(r, 552,
		    "5.3.4 Error: the notice is larger than "
		    "message_size_limit");
	} else if (err != 0) {
		pm_metric_inc(bounce_m.err_build);
		reply_set(r, 451, "4.3.0 Error: cannot build the notice");
	} else {
		notice_submit(q, kind, route, nqid, to, &out, &info, r);
	}
out:
	pm_buf_free(&out);
	free(body);
	pm_qmsg_free(q);
}

int
bounce_handler(void *ctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	bounce_worker *w = ctx;
	Pm__BounceRequest *m;
	bounce_reply r;

	if (type != PM__MSG_TYPE__MSG_BOUNCE_NOTIFY) {
		pm_msg_warn("unexpected request type %u", (unsigned) type);
		pm_metric_inc(bounce_m.err_request);
		return (PM_EPROTO);
	}
	if ((m = pm__bounce_request__unpack(NULL, reqlen, req)) == NULL) {
		pm_msg_warn("malformed bounce request");
		pm_metric_inc(bounce_m.err_request);
		return (PM_EPROTO);
	}
	if (request_check(m) != 0) {
		pm__bounce_request__free_unpacked(m, NULL);
		pm_metric_inc(bounce_m.err_request);
		return (PM_EPROTO);
	}
	memset(&r, 0, sizeof(r));
	bounce_notify(w, m, &r);
	pm__bounce_request__free_unpacked(m, NULL);
	return (reply_pack(&r, rtype, rbuf));
}
