/*
 * NAME
 *	pm_agent_job - delivery jobs: taken in, finished, reported
 * DESCRIPTION
 *	pm__agent_job_new() wraps job i of a fetch reply, copied and
 *	checked by qmgr_clnt (pm_qmgr_fetched_job), into an agent_job; a
 *	job that fails a check is kept only to be reported back as
 *	deferred (so qmgr is not left waiting), without being delivered.
 *
 *	pm_job_redirect() is deliver()'s way to hand a recipient to
 *	another transport (local's mailbox_transport, fallback_transport;
 *	Postfix's deliver_pass()): qmgr re-routes it at once and the
 *	target agent delivers, records and logs it. Nothing of a
 *	redirected recipient is written to Redis, logged (but with -v) or
 *	counted here; the agent that redirects counts it.
 *
 *	pm__agent_finish() runs after deliver(): each recipient's outcome
 *	goes to Redis with pm_qstore_rcpt_cas() (compare-and-set: a
 *	recipient already sent or bounced is never changed, and a second
 *	"sent" for it is counted as a duplicate delivery), is logged in
 *	Postfix's format and counted; then the done report is packed
 *	(pm_qmgr_done_pack).
 *	When Redis says the recipient was final already, the stored
 *	status, DSN and text are what is logged and reported to qmgr,
 *	with a warning naming this attempt's own outcome: qmgr never
 *	sends a bounce for mail that was delivered, and the log never
 *	says "sent" for a recipient whose sender was told it bounced.
 *	A sent recipient whose notice is not qmgr's (deliver() set
 *	notified: the agent sent a notice itself; or the peer took NOTIFY)
 *	is recorded as PM_RCPT_NOTIFIED and reported with dsn_passed: no
 *	success notice, also from a qmgr that takes the message over. So
 *	is every sent recipient of a job with no_success_notice (qmgr
 *	redirected it after the first agent's own notice); and a
 *	redirected recipient that was notified is reported with
 *	dsn_passed, which qmgr turns into that job flag.
 *
 *	Log line (Postfix's smtp/lmtp "to=" record):
 *	  QID: to=<rcpt>, orig_to=<queued>, relay=host[ip]:port,
 *	  conn_use=N, delay=T, delays=a/b/c/d, dsn=X.Y.Z, status=S (text)
 *	orig_to only when it differs, conn_use only for a reused
 *	connection; a = arrival..qmgr took the message, b = that..deliver()
 *	started (time in qmgr and in the agent's queue, as Postfix's "b"
 *	includes the transfer to the agent), c = connection setup, d =
 *	transmission. Times as Postfix prints them: 0.06, 2.5, 27. For an
 *	address verification probe (PM_MSG_PROBE) the status is
 *	deliverable, undeliverable or deferred, as Postfix logs probes.
 * LIMITS
 *	Those of qmgr_clnt.h (what a job from qmgr may hold); a
 *	recipient's text is cut at 511 bytes.
 * SECURITY
 *	Jobs arrive checked by qmgr_clnt (qmgr is another role and not
 *	trusted); the remote text deliver() stored is made printable
 *	before it is logged or reported.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_dsn.h"
#include "pm_log_dlv.h"
#include "pm_agent_peers.h"
#include "pm_agent_priv.h"
#include "pm_log.h"
#include "pm_msgflags.h"

/* ---- jobs ---- */

agent_job *
pm__agent_job_new(const pm_qmgr_fetched *f, size_t i, const pm_agent *a,
    int qmgr, int nshards)
{
	agent_job *aj = pm_calloc(1, sizeof(*aj));

	if (pm_qmgr_fetched_job(f, i, a->transports, nshards, &aj->job,
	        &aj->invalid) != 0) {
		free(aj);
		return (NULL);
	}
	aj->qmgr = qmgr;
	pm__agent_peer_hold(qmgr); /* its report goes to that qmgr */
	return (aj);
}

void
pm__agent_job_free(agent_job *aj)
{
	if (aj == NULL) {
		return;
	}
	pm_qmgr_job_clear(&aj->job);
	pm__agent_peer_release(aj->qmgr);
	free(aj);
}

/* ---- outcomes ---- */

static void
job_vset(pm_job_rcpt *r, int status, const char *dsn, const char *fmt,
    va_list ap)
{
	r->status = status;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn ? dsn : "");
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	pm_printable(r->text);
}

void
pm_job_set(pm_job_rcpt *r, int status, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	job_vset(r, status, dsn, fmt, ap);
	va_end(ap);
}

void
pm_job_set_all(pm_job *j, int status, const char *dsn, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	for (i = 0; i < j->nrcpt; i++) {
		if (j->rcpt[i].status == PM_JOB_NONE) {
			va_start(ap, fmt);
			job_vset(&j->rcpt[i], status, dsn, fmt, ap);
			va_end(ap);
		}
	}
}

int
pm_job_redirect(pm_job_rcpt *r, const char *transport, const char *nexthop)
{
	if (*transport == 0 || strlen(transport) > PM_QMGR_TRANSPORT_MAX ||
	    strlen(nexthop) > PM_QMGR_NEXTHOP_MAX) {
		return (PM_EINVAL);
	}
	free(r->redirect_transport);
	free(r->redirect_nexthop);
	r->redirect_transport = pm_strdup(transport);
	r->redirect_nexthop = pm_strdup(nexthop);
	/* what a qmgr without redirects would keep: a deferral's reason */
	pm_job_set(r, PM_JOB_REDIRECT, "4.3.0", "redirected to %s:%s",
	    transport, nexthop);
	return (0);
}

void
pm__agent_metrics_init(agent_metrics *m, const char *name)
{
	char n1[96], n2[96], n3[96];

	snprintf(n1, sizeof(n1), "%s_deliveries_total", name);
	snprintf(n2, sizeof(n2), "%s_duplicate_deliveries_total", name);
	snprintf(n3, sizeof(n3), "%s_delivery_seconds", name);
	m->sent = pm_metric_counter(n1, "Recipients handled, by outcome",
	    "status=\"sent\"");
	m->deferred = pm_metric_counter(n1, "Recipients handled, by outcome",
	    "status=\"deferred\"");
	m->bounced = pm_metric_counter(n1, "Recipients handled, by outcome",
	    "status=\"bounced\"");
	m->duplicate = pm_metric_counter(n2,
	    "Recipients delivered again "
	    "though Redis had them final already",
	    NULL);
	{
		static const double b[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
			0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };

		m->seconds = pm_metric_histogram(n3,
		    "Time of one delivery "
		    "attempt (one job), in seconds",
		    NULL, b, sizeof(b) / sizeof(b[0]));
	}
}

static const char *
status_name(int st)
{
	return (st == PM_JOB_SENT    ? PM_RCPT_SENT :
	        st == PM_JOB_BOUNCED ? PM_RCPT_BOUNCED :
	                               PM_RCPT_DEFERRED);
}

/*
 * The status recorded in Redis: sent whose notice is not qmgr's (the
 * agent's own, or the peer took NOTIFY) is PM_RCPT_NOTIFIED, so a
 * qmgr that takes the message over sends no success notice either.
 */
static const char *
record_name(const pm_job *j, const pm_job_rcpt *r)
{
	if (r->status == PM_JOB_SENT &&
	    (r->notified || j->dsn_passed || j->no_success_notice)) {
		return (PM_RCPT_NOTIFIED);
	}
	return (status_name(r->status));
}

/* Make the outcome consistent: a status, a DSN of its class, a text. */
static void
rcpt_normalize(pm_job_rcpt *r)
{
	int code;

	if (r->status == PM_JOB_REDIRECT && r->redirect_transport != NULL) {
		r->text[sizeof(r->text) - 1] = 0;
		pm_printable(r->text);
		return;
	}
	if (r->status != PM_JOB_SENT && r->status != PM_JOB_BOUNCED &&
	    r->status != PM_JOB_DEFERRED) {
		r->status = PM_JOB_DEFERRED;
		if (r->text[0] == 0) {
			snprintf(r->text, sizeof(r->text),
			    "delivery status "
			    "unknown");
		}
	}
	code = r->status == PM_JOB_SENT ? 250 :
	    r->status == PM_JOB_BOUNCED ? 550 :
	                                  450;
	if (!pm_dsn_status_match(code, r->dsn)) {
		snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", code / 100);
	}
	r->text[sizeof(r->text) - 1] = 0;
	pm_printable(r->text);
}

/*
 * Write the outcome to Redis (compare-and-set). If the recipient was
 * final already (an earlier attempt, another agent), what Redis holds
 * is the truth qmgr and the log must see: r takes the stored status,
 * DSN and text, and *own_sent says whether this attempt delivered.
 */
static void
rcpt_record(agent_metrics *m, pm_qstore *qs, agent_job *aj, pm_job_rcpt *r,
    int *recorded)
{
	pm_job *j = &aj->job;
	pm_qrcpt_final f;
	int rc, own = r->status;

	*recorded = 0;
	if (qs == NULL || aj->invalid != NULL) {
		return;
	}
	/* the success action goes with "sent": a later reader needs it */
	rc = pm_qstore_rcpt_cas_action(qs, j->queue_id, r->index,
	    record_name(j, r), r->dsn, r->text, j->dsn_action, &f);
	if (rc == 0) {
		*recorded = 1;
		if (f.changed || f.status[0] == 0) {
			if (own == PM_JOB_SENT && !f.changed) {
				pm_msg_warn(
				    "%s: to=<%s>: recipient was final "
				    "in the queue already: delivered more than "
				    "once",
				    j->queue_id, r->address);
				pm_metric_inc(m->duplicate);
			}
			return;
		}
		r->notified = strcmp(f.status, PM_RCPT_NOTIFIED) == 0;
		r->status = strcmp(f.status, PM_RCPT_SENT) == 0 || r->notified ?
		    PM_JOB_SENT :
		    PM_JOB_BOUNCED;
		pm_msg_warn(
		    "%s: to=<%s>: recipient was final in the queue "
		    "already (%s); this attempt's outcome (%s, %s %s) is not "
		    "used%s",
		    j->queue_id, r->address, f.status, status_name(own), r->dsn,
		    r->text,
		    own == PM_JOB_SENT ? ": delivered more than once" : "");
		if (own == PM_JOB_SENT) {
			pm_metric_inc(m->duplicate);
		}
		snprintf(r->dsn, sizeof(r->dsn), "%.15s", f.dsn);
		snprintf(r->text, sizeof(r->text), "%s", f.text);
		rcpt_normalize(r);
	} else if (rc == PM_ENOENT) {
		pm_msg_warn("%s: cannot record the status of <%s>: message "
		            "no longer queued",
		    j->queue_id, r->address);
	} else {
		pm_msg_warn("%s: cannot record the status of <%s>: %s",
		    j->queue_id, r->address, pm_strerror(rc));
	}
}

static void
rcpt_log(const agent_job *aj, const pm_job_rcpt *r, int64_t now)
{
	const pm_job *j = &aj->job;
	int64_t start = aj->start_us ? aj->start_us : now;
	pm_log_dlv d = { 0 };

	d.qid = j->queue_id;
	d.to = r->address;
	d.orig_to = r->queued_address;
	d.relay = r->relay[0] != 0 ? r->relay : j->relay;
	d.conn_use = j->conn_use;
	d.delay_us = now - j->arrival_us;
	d.delays_us[0] = j->active_us - j->arrival_us;
	d.delays_us[1] = start - j->active_us;
	d.delays_us[2] = (int64_t) j->conn_ms * 1000;
	d.delays_us[3] = (int64_t) j->xfer_ms * 1000;
	d.dsn = r->dsn;
	d.status = status_name(r->status);
	if (j->flags & PM_MSG_PROBE) {
		/* Postfix's words for a verify probe's outcome */
		d.status = r->status == PM_JOB_SENT ? "deliverable" :
		    r->status == PM_JOB_BOUNCED     ? "undeliverable" :
		                                      "deferred";
	}
	d.text = r->text;
	pm_log_dlv_info(&d);
}

void
pm__agent_finish(const pm_agent *a, agent_metrics *m, pm_qstore *qs,
    agent_job *aj, pm_buf *out)
{
	pm_job *j = &aj->job;
	int64_t now = pm_now_us();
	size_t i;
	int recorded, own_sent;

	(void) a;
	if (aj->invalid != NULL) {
		pm_job_set_all(j, PM_JOB_DEFERRED, "4.3.5",
		    "invalid delivery request: %s", aj->invalid);
	}
	j->relay[sizeof(j->relay) - 1] = 0;
	pm_printable(j->relay);
	for (i = 0; i < j->nrcpt; i++) {
		pm_job_rcpt *r = &j->rcpt[i];

		rcpt_normalize(r);
		if (r->status == PM_JOB_REDIRECT && aj->invalid == NULL) {
			/* the target agent records and logs it; with no
			 * success notice if this agent sent one itself */
			r->recorded = 0;
			r->dsn_passed = r->notified != 0;
			if (pm_msg_verbose) {
				pm_msg_debug("%s: to=<%s>: %s", j->queue_id,
				    r->address, r->text);
			}
			continue;
		}
		own_sent = r->status == PM_JOB_SENT;
		rcpt_record(m, qs, aj, r, &recorded);
		rcpt_log(aj, r, now);
		pm_metric_inc(r->status == PM_JOB_SENT ? m->sent :
		        r->status == PM_JOB_BOUNCED    ? m->bounced :
		                                         m->deferred);
		r->recorded = recorded;
		r->dsn_passed = r->status == PM_JOB_SENT &&
		    ((j->dsn_passed && own_sent) || r->notified ||
		        j->no_success_notice);
	}
	if (aj->start_us != 0) {
		pm_metric_observe(m->seconds,
		    (double) (now - aj->start_us) / 1e6);
	}
	if (pm_qmgr_done_pack(j, out) != 0) {
		pm_msg_warn("%s: done report too large", j->queue_id);
	}
}
