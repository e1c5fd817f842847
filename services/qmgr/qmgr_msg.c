/*
 * NAME
 *	qmgr_msg - message state and the end of a delivery pass
 * SUMMARY
 *	#include "qmgr.h"
 * DESCRIPTION
 *	An active message keeps, per recipient, its state in this pass
 *	(todo, sent, bounced, deferred), the last DSN code and reason and
 *	the remote MTA. Recipients that were already sent or bounced when
 *	the message was read (an earlier pass, or a qmgr that died) start
 *	final and get no job: a takeover never re-sends them.
 *
 *	When the last hold goes (every job back), qmgr_msg_complete_list()
 *	ends the pass (unless the lease was lost, qmgr_msg_lose(): then
 *	the message is only freed, the new owner ends the pass), as
 *	Postfix's qmgr_active_done():
 *	- recipients still deferred past maximal_queue_lifetime
 *	  (bounce_queue_lifetime for the null sender,
 *	  address_verify_probe_lifetime for a verify probe) bounce now with
 *	  5.4.7 "message delivery time expired: <last reason>";
 *	  a message force-expired by postsuper -e/-f (pm_qmsg.expire)
 *	  bounces its waiting recipients at once, as Postfix 3.5: with
 *	  the last delay reason and its status as 5.x.y, or 5.7.0
 *	  "message is administratively expired" when there is none;
 *	- if every recipient is final: a non-delivery notice (bounce
 *	  service, PM_NOTICE_FAILED) for the bounced ones that want it
 *	  (NOTIFY unset or FAILURE), a success notice (PM_NOTICE_DELIVERED)
 *	  for the sent ones with NOTIFY=SUCCESS, then pm_qstore_finish()
 *	  and "QID: removed". Notices hold at most
 *	  bounce_notice_recipient_limit recipients each (more: several).
 *	  If a notice cannot be queued now the message is kept (deferred
 *	  for min(minimal_backoff_time, 60s)); the kinds already queued are
 *	  remembered in the envelope field "notices". A notice the bounce
 *	  service refuses for good (5xx: too large, refused by cleanup) is
 *	  given up with "warning: QID: non-delivery notice failed: ...
 *	  lost: <why>", and the message is finished all the same;
 *	- else: a delay warning once (delay_warning_time, envelope field
 *	  "warned"), the reasons qmgr itself decided are written to the
 *	  recipients, and the message goes to the deferred queue with
 *	  backoff clamp(minimal_backoff_time * 2^(attempts-1),
 *	  minimal_backoff_time, maximal_backoff_time).
 *	A verify probe (PM_MSG_PROBE, qmgr_verify.c) gets no notice of
 *	any kind; its recipients' outcomes go to the verify cache at the
 *	end of every pass.
 *	If Redis does not answer a write of that end (a status an agent
 *	could not record, the finish, the defer), the message stays in
 *	memory, still counted and its lease still refreshed, on the retry
 *	list (qmgr_retry.c) and the end of the pass is tried again from
 *	memory every second: the statuses first, then the rest; notices
 *	already queued in this pass are remembered (msg->notified) and
 *	not queued again.
 *	Finish, defer and the statuses qmgr decides (deferred reasons,
 *	expiry bounces) are fenced by the message's lease epoch
 *	(pm_qstore_fence.c): when Redis refuses one (PM_ELOST, another
 *	consumer took the message) the pass ends there, with "QID: lease
 *	lost: ... refused" and qmgr_leases_lost_total; the message is
 *	dropped from memory, not retried.
 * LIMITS
 *	Reasons are cut to QMGR_TEXT_MAX bytes.
 * SECURITY
 *	Reasons come from agents and Redis: they are made printable before
 *	they are kept or logged.
 */
#include "qmgr.h"
#include "pm_msgflags.h"
#include "pm_log_dlv.h"
#include "qmgr_params.h"
#include "qmgr_clnt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "pm_log.h"
#include "pm_qstore_attr.h"

qmgr_msg *
qmgr_msg_new(const pm_qentry *e, pm_qmsg *m, int64_t now_us)
{
	qmgr_msg *msg = pm_calloc(1, sizeof(*msg));
	qmgr_rcpt *r;
	size_t i;

	msg->e = *e;
	msg->m = m;
	msg->r = pm_calloc(m->nrcpt ? m->nrcpt : 1, sizeof(*msg->r));
	msg->active_us = now_us;
	msg->attempt = (unsigned) (m->attempts > 0 ? m->attempts : 0) + 1;
	msg->holds = 1; /* intake, until its jobs are queued */
	for (i = 0; i < m->nrcpt; i++) {
		r = &msg->r[i];
		/* sent: as its agent stored ("i:x"), else "delivered";
		 * notified: none */
		r->state = qmgr_stored_state(m->rcpt[i].status,
		    m->rcpt[i].action, NULL, &r->success);
		snprintf(r->dsn, sizeof(r->dsn), "%s", m->rcpt[i].dsn);
		if (m->rcpt[i].text[0] != 0) {
			r->text = pm_printable_dup(m->rcpt[i].text,
			    strlen(m->rcpt[i].text), QMGR_TEXT_MAX);
		}
	}
	return (msg);
}

void
qmgr_msg_free(qmgr_msg *msg)
{
	size_t i;

	if (msg == NULL) {
		return;
	}
	for (i = 0; i < msg->m->nrcpt; i++) {
		free(msg->r[i].text);
		free(msg->r[i].relay);
	}
	free(msg->r);
	pm_qmsg_free(msg->m);
	free(msg);
}

void
qmgr_rcpt_set(qmgr_msg *msg, size_t i, int state, const char *dsn,
    const char *text, const char *relay, int record)
{
	qmgr_rcpt *r = &msg->r[i];

	if (QR_FINAL(r->state)) {
		return; /* the first final outcome wins */
	}
	r->state = state;
	r->record = record;
	snprintf(r->dsn, sizeof(r->dsn), "%s",
	    dsn != NULL && *dsn ? dsn :
	                          (state == QR_SENT           ? "2.0.0" :
	                                  state == QR_BOUNCED ? "5.0.0" :
	                                                        "4.0.0"));
	/* a deferral is never a 5.x.y (nor a bounce a 4.x.y) */
	if (state == QR_DEFERRED && r->dsn[0] != '4') {
		r->dsn[0] = '4';
	} else if (state == QR_BOUNCED && r->dsn[0] != '5') {
		r->dsn[0] = '5';
	}
	if (text != NULL) {
		free(r->text);
		r->text = pm_printable_dup(text, strlen(text), QMGR_TEXT_MAX);
	}
	if (relay != NULL) {
		free(r->relay);
		r->relay =
		    pm_printable_dup(relay, strlen(relay), QMGR_RELAY_MAX);
	}
	r->last_us = pm_now_us();
	pm_metric_inc(state == QR_SENT ? qmgr_m.rcpt_sent :
	        state == QR_BOUNCED    ? qmgr_m.rcpt_bounced :
	                                 qmgr_m.rcpt_deferred);
}

void
qmgr_msg_release(qmgr_msg *msg, qmgr_msg **done)
{
	PM_ASSERT(msg->holds > 0);
	if (--msg->holds == 0) {
		msg->cnext = *done;
		*done = msg;
	}
}

void
qmgr_msg_lose(qmgr_msg *msg, qmgr_msg **done)
{
	qmgr_job *j, *next;

	msg->lost = 1;
	if (pm_smap_get(qmgr.msgs, msg->e.qid) == msg) {
		pm_smap_del(qmgr.msgs, msg->e.qid);
	}
	for (j = msg->jobs; j != NULL; j = next) {
		next = j->mnext;
		if (!j->inflight) {
			pm_sched_remove(qmgr.sched, &j->sj);
			qmgr_job_free(j);
			qmgr_msg_release(msg, done);
		}
	}
}

void
qmgr_job_link(qmgr_msg *msg, qmgr_job *j)
{
	j->msg = msg;
	j->mprev = NULL;
	j->mnext = msg->jobs;
	if (msg->jobs != NULL) {
		msg->jobs->mprev = j;
	}
	msg->jobs = j;
}

void
qmgr_job_free(qmgr_job *j)
{
	size_t i;

	if (j == NULL) {
		return;
	}
	if (j->msg != NULL) {
		if (j->mprev != NULL) {
			j->mprev->mnext = j->mnext;
		} else if (j->msg->jobs == j) {
			j->msg->jobs = j->mnext;
		}
		if (j->mnext != NULL) {
			j->mnext->mprev = j->mprev;
		}
	}
	for (i = 0; i < j->n; i++) {
		free(j->addr[i]);
	}
	free(j->addr);
	free(j->idx);
	free(j->transport);
	free(j->nexthop);
	free(j);
}

void
qmgr_log_rcpt(const qmgr_msg *msg, size_t i, const char *to, const char *relay,
    int64_t dispatch_us, const char *dsn, const char *status, const char *text)
{
	int64_t now = pm_now_us();
	pm_log_dlv d = { 0 };

	d.qid = msg->e.qid;
	d.to = to;
	d.orig_to = msg->m->rcpt[i].address;
	d.relay = relay;
	d.delay_us = now - msg->m->arrival_us;
	d.delays_us[0] = msg->active_us - msg->m->arrival_us;
	d.delays_us[1] = (dispatch_us > 0 ? dispatch_us : now) - msg->active_us;
	d.dsn = dsn;
	d.status = status;
	d.text = text;
	pm_log_dlv_info(&d);
}

void
qmgr_job_abandon(qmgr_job *j, const char *dsn, const char *prefix,
    const char *text, qmgr_msg **done)
{
	qmgr_msg *msg = j->msg;
	char *why = pm_asprintf("%s%s", prefix ? prefix : "", text ? text : "");
	size_t k, i;

	for (k = 0; k < j->n; k++) {
		i = j->idx[k];
		if (QR_FINAL(msg->r[i].state)) {
			continue;
		}
		qmgr_rcpt_set(msg, i, QR_DEFERRED, dsn, why, NULL, 1);
		qmgr_log_rcpt(msg, i, j->addr[k], NULL, j->dispatch_us,
		    msg->r[i].dsn, "deferred", why);
	}
	free(why);
	qmgr_job_free(j);
	qmgr_msg_release(msg, done);
}

void
qmgr_job_queue(qmgr_job *j, qmgr_msg **done)
{
	qmgr_msg *msg = j->msg;
	char dsn[QMGR_DSN_MAX], text[QMGR_TEXT_MAX];
	int rc;

	j->seq = ++msg->seq;
	snprintf(j->id, sizeof(j->id), "%s-%llu", qmgr.job_prefix,
	    (unsigned long long) ++qmgr.job_seq);
	msg->holds++;
	rc = pm_sched_enqueue(qmgr.sched, &j->sj, j->transport, j->nexthop,
	    pm_mono_ms(), dsn, sizeof(dsn), text, sizeof(text));
	if (rc == PM_EAGAIN) {
		qmgr_job_abandon(j, dsn,
		    "delivery temporarily suspended: ", text, done);
	} else if (rc != 0) {
		qmgr_job_abandon(j, "4.3.0", "",
		    rc == PM_ETOOBIG ? "too many destinations in the active "
		                       "queue" :
		                       "bad transport or nexthop",
		    done);
	}
}

void
qmgr_drop_dead(void *arg, pm_sched_job *sj, const char *dsn, const char *text)
{
	qmgr_job_abandon((qmgr_job *) sj, dsn,
	    "delivery temporarily suspended: ", text, arg);
}

void
qmgr_drop_plain(void *arg, pm_sched_job *sj, const char *dsn, const char *text)
{
	qmgr_job_abandon((qmgr_job *) sj, dsn, "", text, arg);
}

/* NOTIFY: unset means FAILURE,DELAY (RFC 3461); NEVER means none. */

/*
 * Every deferred recipient was given back by a stopping agent (never
 * tried): retry in a second, not after the backoff.
 */
static int
msg_handed_back(const qmgr_msg *msg)
{
	size_t i;
	int any = 0;

	for (i = 0; i < msg->m->nrcpt; i++) {
		if (msg->r[i].state != QR_DEFERRED) {
			continue;
		}
		if (msg->r[i].text == NULL ||
		    strcmp(msg->r[i].text, PM_JOB_STOPPING_TEXT) != 0) {
			return (0);
		}
		any = 1;
	}
	return (any);
}

static int
want_failure(unsigned notify)
{
	return (notify == 0 || (notify & PM_NOTIFY_FAILURE));
}

static int
want_delay(unsigned notify)
{
	return (notify == 0 || (notify & PM_NOTIFY_DELAY));
}

static int
want_success(unsigned notify)
{
	return ((notify & PM_NOTIFY_SUCCESS) != 0 &&
	    (notify & PM_NOTIFY_NEVER) == 0);
}

/* "mx.example.com[192.0.2.1]:25" -> "mx.example.com" */
static char *
remote_mta(const char *relay)
{
	size_t n;

	if (relay == NULL || strcmp(relay, "none") == 0) {
		return (pm_strdup(""));
	}
	n = strcspn(relay, "[");
	return (pm_strndup(relay, n));
}

static const char *
notice_word(int kind)
{
	return (kind == PM_NOTICE_FAILED  ? "non-delivery" :
	        kind == PM_NOTICE_DELAYED ? "delay" :
	                                    "delivery status");
}

/*
 * Send one kind of notice for the recipients in state `state` whose
 * NOTIFY wants it (and, with success != 0, whose success notice kind
 * is that), in notices of at most bounce_notice_recipient_limit
 * recipients. 0 if queued, not needed, or refused for good by the
 * bounce service (logged: the notice is lost; *sent = 1 if one was
 * requested), else the error: keep the message and ask again (the
 * parts already queued are not queued twice, see bounce_clnt.h).
 */
static int
msg_notice_sel(qmgr_msg *msg, int kind, int state, int success,
    int (*want)(unsigned), int *sent)
{
	pm_qmsg *m = msg->m;
	pm_notice_rcpt *nr;
	pm_notice_result res;
	char **mta;
	size_t i, n = 0;
	int rc;

	*sent = 0;
	nr = pm_calloc(m->nrcpt ? m->nrcpt : 1, sizeof(*nr));
	mta = pm_calloc(m->nrcpt ? m->nrcpt : 1, sizeof(*mta));
	for (i = 0; i < m->nrcpt; i++) {
		if (msg->r[i].state != state || !want(m->rcpt[i].notify) ||
		    (success != 0 && msg->r[i].success != success)) {
			continue;
		}
		mta[n] = remote_mta(msg->r[i].relay);
		nr[n].address = m->rcpt[i].address;
		nr[n].orcpt = m->rcpt[i].orcpt;
		nr[n].notify = m->rcpt[i].notify;
		nr[n].dsn = msg->r[i].dsn[0] ?
		    msg->r[i].dsn :
		    (state == QR_SENT           ? "2.0.0" :
		            state == QR_BOUNCED ? "5.0.0" :
		                                  "4.0.0");
		nr[n].text = msg->r[i].text ? msg->r[i].text : "";
		nr[n].remote_mta = mta[n];
		nr[n].last_attempt_us =
		    msg->r[i].last_us ? msg->r[i].last_us : pm_now_us();
		n++;
	}
	rc = 0;
	if (n > 0) {
		*sent = 1;
		rc = pm_bounce_notify(qmgr.bounce, kind, msg->e.qid, nr, n,
		    (size_t) var_bounce_notice_rcpt_limit, &res);
		if (rc == PM_ENOENT) {
			/*
			 * Refused for good (too large, cleanup refuses it):
			 * asking again would fail again, every queue run,
			 * forever. Give it up, say so, and go on.
			 */
			pm_metric_inc(qmgr_m.notices_failed);
			pm_msg_warn("%s: %s notice failed: %zu of %zu notices "
			            "lost: %s",
			    msg->e.qid, notice_word(kind), res.lost, res.parts,
			    res.why);
			rc = 0;
		} else if (rc != 0) {
			pm_metric_inc(qmgr_m.notices_failed);
			pm_msg_warn("%s: cannot queue a %s notice: %s; message "
			            "kept",
			    msg->e.qid, notice_word(kind), pm_strerror(rc));
		}
	}
	for (i = 0; i < n; i++) {
		free(mta[i]);
	}
	free(mta);
	free(nr);
	return (rc);
}

static int
msg_notice(qmgr_msg *msg, int kind, int state, int (*want)(unsigned), int *sent)
{
	return (msg_notice_sel(msg, kind, state, 0, want, sent));
}

/* A fenced write refused: the message is another consumer's now. */
static int
msg_lost(const qmgr_msg *msg, int rc, const char *what)
{
	if (rc != PM_ELOST) {
		return (0);
	}
	qmgr_lease_refused(msg, what);
	return (1);
}

/* Might an earlier pass have queued notices already? */
static int
msg_seen_before(const qmgr_msg *msg)
{
	return (msg->m->attempts > 0 || msg->stale);
}

/* Remember that a notice kind went out in this pass. */
static void
msg_notified(qmgr_msg *msg, char kind)
{
	size_t n = strlen(msg->notified);

	if (strchr(msg->notified, kind) == NULL &&
	    n + 1 < sizeof(msg->notified)) {
		msg->notified[n] = kind;
		msg->notified[n + 1] = 0;
	}
}

/* Every recipient is final: notices, then finish. 0, QMGR_RETRY (the
 * finish failed: keep it), or the error of a notice (defer it). */
static int
msg_final(pm_qstore *qs, qmgr_msg *msg)
{
	char done[PM_QSTORE_ATTR_MAX + 1] = "", now_done[8] = "";
	int rc = 0, sent, need_f = 0, need_d = 0, need_r = 0, ws;
	size_t i;

	for (i = 0; i < msg->m->nrcpt && !qmgr_verify_probe(msg); i++) {
		need_f |= msg->r[i].state == QR_BOUNCED &&
		    want_failure(msg->m->rcpt[i].notify);
		ws = msg->r[i].state == QR_SENT &&
		    want_success(msg->m->rcpt[i].notify);
		need_d |= ws && msg->r[i].success == PM_NOTICE_DELIVERED;
		need_r |= ws && msg->r[i].success == PM_NOTICE_RELAYED;
	}
	if ((need_f || need_d || need_r) && msg_seen_before(msg) &&
	    pm_qstore_attr_get(qs, msg->e.qid, "notices", done, sizeof(done)) ==
	        PM_EREDIS) {
		done[0] = 0; /* at least once: a duplicate beats a loss */
	}
	/* queued in this pass before a write failed (retry list) */
	if (strlen(done) + strlen(msg->notified) < sizeof(done)) {
		strcat(done, msg->notified);
	}
	if (need_f && strchr(done, 'f') == NULL) {
		rc = msg_notice(msg, PM_NOTICE_FAILED, QR_BOUNCED, want_failure,
		    &sent);
		if (rc == 0) {
			strcat(now_done, "f");
			msg_notified(msg, 'f');
		}
	}
	if (rc == 0 && need_d && strchr(done, 'd') == NULL) {
		rc = msg_notice_sel(msg, PM_NOTICE_DELIVERED, QR_SENT,
		    PM_NOTICE_DELIVERED, want_success, &sent);
		if (rc == 0) {
			strcat(now_done, "d");
			msg_notified(msg, 'd');
		}
	}
	if (rc == 0 && need_r && strchr(done, 'r') == NULL) {
		rc = msg_notice_sel(msg, PM_NOTICE_RELAYED, QR_SENT,
		    PM_NOTICE_RELAYED, want_success, &sent);
		if (rc == 0) {
			strcat(now_done, "r");
			msg_notified(msg, 'r');
		}
	}
	if (rc != 0) {
		if (now_done[0] != 0 &&
		    strlen(done) + strlen(now_done) < sizeof(done)) {
			strcat(done, now_done);
			(void) pm_qstore_attr_set(qs, msg->e.qid, "notices",
			    done);
		}
		return (rc);
	}
	if ((rc = pm_qstore_finish(qs, &msg->e)) != 0) {
		if (qmgr_retry_rc(rc)) {
			/* kept in memory: msg->notified says what went out */
			if (!msg->retry) {
				pm_msg_warn(
				    "%s: cannot remove the message: %s; "
				    "kept, tried again every second",
				    msg->e.qid, pm_strerror(rc));
			}
			return (QMGR_RETRY);
		}
		/* the next owner must not send the same notices again */
		if (now_done[0] != 0 &&
		    strlen(done) + strlen(now_done) < sizeof(done)) {
			strcat(done, now_done);
			(void) pm_qstore_attr_set(qs, msg->e.qid, "notices",
			    done);
		}
		if (!msg_lost(msg, rc, "finish")) {
			pm_msg_warn("%s: cannot remove the message: %s; it "
			            "will be taken up again after %lds",
			    msg->e.qid, pm_strerror(rc), var_qmgr_lease);
		}
		return (0);
	}
	pm_msg_info("%s: removed", msg->e.qid);
	pm_metric_inc(qmgr_m.removed);
	return (0);
}

/* Some recipients wait: delay warning, reasons, deferred queue.
 * 0, or QMGR_RETRY when Redis did not take the defer. */
static int
msg_defer(pm_qstore *qs, qmgr_msg *msg, int64_t now)
{
	pm_qmsg *m = msg->m;
	char warned[PM_QSTORE_ATTR_MAX + 1] = "";
	int64_t next;
	size_t i;
	int sent, changed, rc;

	if (var_delay_warn_time > 0 && !qmgr_verify_probe(msg) &&
	    now >= m->arrival_us + var_delay_warn_time * 1000000LL) {
		if (msg_seen_before(msg)) {
			(void) pm_qstore_attr_get(qs, msg->e.qid, "warned",
			    warned, sizeof(warned));
		}
		if (warned[0] == 0 && strchr(msg->notified, 'w') == NULL &&
		    msg_notice(msg, PM_NOTICE_DELAYED, QR_DEFERRED, want_delay,
		        &sent) == 0) {
			msg_notified(msg, 'w');
			(void) pm_qstore_attr_set(qs, msg->e.qid, "warned",
			    "1");
		}
	}
	for (i = 0; i < m->nrcpt; i++) {
		if (msg->r[i].state != QR_DEFERRED || !msg->r[i].record) {
			continue;
		}
		rc = pm_qstore_rcpt_status_fenced(qs, &msg->e, i,
		    PM_RCPT_DEFERRED, msg->r[i].dsn,
		    msg->r[i].text ? msg->r[i].text : "", &changed);
		if (msg_lost(msg, rc, "deferred reason")) {
			return (0);
		}
		if (rc == PM_EREDIS) {
			break; /* only the reason is lost */
		}
	}
	next = now +
	    1000000LL *
	        (msg_handed_back(msg) ?
	                1 :
	                pm_sched_backoff(var_min_backoff, var_max_backoff,
	                    (int) msg->attempt));
	rc = pm_qstore_defer(qs, &msg->e, (int) msg->attempt, next);
	if (rc == PM_ENOENT) {
		/* nothing written: another consumer finished it meanwhile */
		pm_msg_info("%s: gone from the queue before the defer: "
		            "dropped",
		    msg->e.qid);
	} else if (rc != 0 && !msg_lost(msg, rc, "defer")) {
		if (qmgr_retry_rc(rc)) {
			if (!msg->retry) {
				pm_msg_warn("%s: cannot move the message to "
				            "the deferred queue: %s; kept, "
				            "tried again every second",
				    msg->e.qid, pm_strerror(rc));
			}
			return (QMGR_RETRY);
		}
		pm_msg_warn("%s: cannot move the message to the deferred "
		            "queue: %s; it will be taken up again after %lds",
		    msg->e.qid, pm_strerror(rc), var_qmgr_lease);
	}
	return (0);
}

/*
 * Past its lifetime: what still waits bounces now. The bounce is written
 * to Redis before any notice goes out, so that a later pass (after a
 * notice failed and the message was deferred for a short retry) sees
 * these recipients as final and never delivers them after the sender
 * was told they failed. Returns the number of statuses not recorded,
 * or -1 when the lease is lost (nothing more may be written).
 */
static void
expire_reason(const qmgr_msg *msg, size_t i, char *dsn, size_t size, char **why)
{
	const qmgr_rcpt *r = &msg->r[i];

	if (!msg->m->expire) {
		(void) snprintf(dsn, size, "5.4.7");
		*why = r->text != NULL ?
		    pm_asprintf("message delivery time expired: %s", r->text) :
		    pm_strdup("message delivery time expired");
	} else if (r->text != NULL && r->text[0] != 0 && r->dsn[0] != 0) {
		/* Postfix: the reason for the delay, as a failure */
		(void) snprintf(dsn, size, "5%s", r->dsn + 1);
		*why = pm_strdup(r->text);
	} else {
		(void) snprintf(dsn, size, "5.7.0");
		*why = pm_strdup("message is administratively expired");
	}
}

static int
msg_expire(pm_qstore *qs, qmgr_msg *msg)
{
	pm_qmsg *m = msg->m;
	char *why, dsn[sizeof(msg->r[0].dsn)];
	size_t i;
	int changed, failed = 0, rc;

	pm_msg_info("%s: from=<%s>, status=expired, returned to sender",
	    msg->e.qid, m->sender);
	for (i = 0; i < m->nrcpt; i++) {
		if (QR_FINAL(msg->r[i].state)) {
			continue;
		}
		expire_reason(msg, i, dsn, sizeof(dsn), &why);
		rc = pm_qstore_rcpt_status_fenced(qs, &msg->e, i,
		    PM_RCPT_BOUNCED, dsn, why, &changed);
		if (msg_lost(msg, rc, "expiry bounce")) {
			free(why);
			return (-1);
		}
		msg->r[i].state = QR_TODO;
		qmgr_rcpt_set(msg, i, QR_BOUNCED, dsn, why, NULL, 0);
		if (rc != 0) {
			msg->r[i].unwritten = 1; /* written before any notice */
			failed++;
		}
		qmgr_log_rcpt(msg, i, m->rcpt[i].address, NULL, 0, dsn,
		    "bounced", why);
		free(why);
	}
	return (failed);
}

/*
 * Final statuses Redis does not have yet (an agent could not record
 * them, or an earlier try of this end failed): written now, before
 * anything else. Unfenced: an agent's outcome is a fact, and the
 * compare-and-set never overwrites a final status; the retry list's
 * lease refresh drops a message another qmgr took before this runs
 * again. 0, or QMGR_RETRY.
 */
static int
msg_write_statuses(pm_qstore *qs, qmgr_msg *msg)
{
	pm_qrcpt_final f;
	qmgr_rcpt *r;
	size_t i;
	int rc;

	for (i = 0; i < msg->m->nrcpt; i++) {
		r = &msg->r[i];
		if (!r->unwritten || !QR_FINAL(r->state)) {
			r->unwritten = 0;
			continue;
		}
		rc = pm_qstore_rcpt_cas_action(qs, msg->e.qid, i,
		    qmgr_store_status(r->state, r->success), r->dsn,
		    r->text ? r->text : "",
		    qmgr_store_action(r->state, r->success), &f);
		if (qmgr_retry_rc(rc)) {
			if (!msg->retry) {
				pm_msg_warn("%s: cannot record the status of "
				            "recipient %zu: %s; kept, tried "
				            "again every second",
				    msg->e.qid, i, pm_strerror(rc));
			}
			return (QMGR_RETRY);
		}
		r->unwritten = 0;
		if (rc == 0) {
			pm_metric_inc(qmgr_m.retry_writes);
		}
	}
	return (0);
}

/* The end of the pass. 0 (free the message), or QMGR_RETRY. */
static int
msg_complete(pm_qstore *qs, qmgr_msg *msg)
{
	pm_qmsg *m = msg->m;
	int64_t now = pm_now_us(), life, short_retry;
	size_t i, nwait = 0;
	int rc;

	if ((rc = msg_write_statuses(qs, msg)) != 0) {
		return (rc == QMGR_RETRY ? QMGR_RETRY : 0);
	}

	for (i = 0; i < m->nrcpt; i++) {
		if (msg->r[i].state == QR_TODO) {
			/* never attempted in this pass (should not happen) */
			msg->r[i].state = QR_DEFERRED;
		}
		nwait += !QR_FINAL(msg->r[i].state);
	}
	life = m->sender[0] == 0 ? var_dsn_queue_time : var_max_queue_time;
	if (qmgr_verify_probe(msg)) {
		life = qmgr_verify_lifetime();
	}
	if (nwait > 0 &&
	    (m->expire || now >= m->arrival_us + life * 1000000LL)) {
		nwait = 0;
		if ((rc = msg_expire(qs, msg)) != 0) {
			/* no notice before the bounces are on record */
			return (rc > 0 ? QMGR_RETRY : 0);
		}
	}
	qmgr_verify_record(msg);
	if (nwait == 0) {
		if ((rc = msg_final(qs, msg)) == QMGR_RETRY) {
			return (rc);
		}
		if (rc != 0) {
			short_retry =
			    var_min_backoff < 60 ? var_min_backoff : 60;
			rc = pm_qstore_defer(qs, &msg->e, (int) msg->attempt,
			    now + short_retry * 1000000LL);
			if (msg_lost(msg, rc, "defer")) {
				return (0);
			}
			return (qmgr_retry_rc(rc) ? QMGR_RETRY : 0);
		}
		return (0);
	}
	return (msg_defer(qs, msg, now));
}

void
qmgr_msg_complete_list(pm_qstore *qs, qmgr_msg *list)
{
	qmgr_msg *msg, *next;

	for (msg = list; msg != NULL; msg = next) {
		next = msg->cnext;
		if (msg->lost) {
			/* another qmgr owns it now: it ends the pass */
			pm_msg_info("%s: dropped from the active queue (lease "
			            "lost)",
			    msg->e.qid);
		} else if (msg_complete(qs, msg) == QMGR_RETRY) {
			pthread_mutex_lock(&qmgr.mu);
			qmgr_retry_add(msg); /* stays in qmgr.msgs, counted */
			pthread_mutex_unlock(&qmgr.mu);
			continue;
		}
		pthread_mutex_lock(&qmgr.mu);
		if (pm_smap_get(qmgr.msgs, msg->e.qid) == msg) {
			pm_smap_del(qmgr.msgs, msg->e.qid);
		}
		qmgr.nmsgs--;
		qmgr.nrcpts -= msg->m->nrcpt;
		pm_metric_set(qmgr_m.mem_messages, (int64_t) qmgr.nmsgs);
		pthread_cond_broadcast(&qmgr.room_cv);
		pthread_mutex_unlock(&qmgr.mu);
		qmgr_msg_free(msg);
	}
}
