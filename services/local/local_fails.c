/*
 * NAME
 *	local_fails - failed targets of one recipient, told at once
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	A recipient is one unit towards qmgr: its report carries one
 *	status. Two cases need a target's failure told by the agent
 *	itself, in a notice of its own, so that the recipient can still
 *	be done (or passed on):
 *	  - the owner- alias takes the failures of |command and /file
 *	    targets (local_owner.c, Postfix's bounce_workaround);
 *	  - a recipient whose own mailbox is redirected to
 *	    mailbox_transport or fallback_transport (local_delegate.c)
 *	    while other targets of its expansion bounced: Postfix's local
 *	    has already handed the mailbox copy to the other agent
 *	    (deliver_pass) and bounces the failed targets to the sender.
 *	    local_fails_flush() does the same here: it asks the bounce
 *	    service for one failure notice to the sender listing the
 *	    bounces (local_result() keeps every bounce that no owner
 *	    took in s->bfail), logs each as Postfix's bounce_one does
 *	    ("to=<x@d>, relay=local, ... status=bounced (reason)"), and
 *	    leaves the recipient sent, so local.c reports the redirect,
 *	    marked notified (dsn_passed): the target agent's delivery
 *	    sends no success notice. The notice's id is derived from the
 *	    recipient's index (pm_bounce_notify_to() with no notify_to:
 *	    the sender, or postmaster for a null sender, as qmgr's own
 *	    notices), so a retry queues it once. The bounce service not
 *	    reachable, a 4xx or a malformed reply (anything but a
 *	    refusal for good, PM_ENOENT) defers the recipient (the
 *	    redirect is made on the retry); a notice refused for good is logged as lost and the
 *	    recipient redirected all the same, as qmgr gives up a notice
 *	    that can never be sent.
 *	A deferred target still defers the whole recipient, redirect
 *	included: the retry redoes it (maildir and resubmission are
 *	exactly once, docs/delivery.md), and the redirect is made once,
 *	by the attempt that reports it.
 * LIMITS
 *	PM_BOUNCE_NOTICE_MAX failures per notice; more are counted and
 *	named in a warning.
 * SECURITY
 *	Texts are printable (local_result()) and cut to the fixed size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "pm_log.h"
#include "pm_log_dlv.h"

void
local_fails_add(local_fails *f, const char *dsn, const char *text)
{
	local_fail *e;

	if (f->n == PM_BOUNCE_NOTICE_MAX) {
		f->more++;
		return;
	}
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 2;
		f->v = pm_realloc(f->v, f->cap * sizeof(*f->v));
	}
	e = &f->v[f->n++];
	snprintf(e->dsn, sizeof(e->dsn), "%s", dsn);
	snprintf(e->text, sizeof(e->text), "%s", text);
}

void
local_fails_free(local_fails *f)
{
	free(f->v);
	memset(f, 0, sizeof(*f));
}

void
local_fail_log(const local_state *s, const local_fail *f)
{
	const pm_job *j = s->m->job;
	int64_t now = pm_now_us();
	pm_log_dlv d = { 0 };

	d.qid = j->queue_id;
	d.to = s->rcpt;
	d.orig_to = s->r->queued_address;
	d.relay = "local";
	d.delay_us = now - j->arrival_us;
	d.delays_us[0] = j->active_us - j->arrival_us;
	d.delays_us[1] = now - j->active_us;
	d.dsn = f->dsn;
	d.status = "bounced";
	d.text = f->text;
	pm_log_dlv_info(&d);
}

int
local_fails_notify(const local_state *s, const local_fails *f,
    const char *notify_to, pm_notice_result *res)
{
	pm_notice_rcpt *rv;
	size_t i;
	int rc;

	if (f->more > 0) {
		pm_msg_warn("%s: to=<%s>: %u more failures than the %d a "
		            "notice to %s lists",
		    s->m->job->queue_id, s->rcpt, f->more, PM_BOUNCE_NOTICE_MAX,
		    notify_to != NULL ? notify_to : "the sender");
	}
	rv = pm_calloc(f->n, sizeof(*rv));
	for (i = 0; i < f->n; i++) {
		rv[i].address = s->rcpt;
		rv[i].orcpt = s->r->orcpt;
		rv[i].notify = s->r->notify;
		rv[i].dsn = f->v[i].dsn;
		rv[i].text = f->v[i].text;
		rv[i].last_attempt_us = pm_now_us();
	}
	rc = pm_bounce_notify_to(local_bounce, s->m->job->queue_id, notify_to,
	    s->r->index, rv, f->n, res);
	free(rv);
	return (rc);
}

void
local_fails_flush(local_state *s)
{
	pm_notice_result res;
	size_t i;
	int rc;

	if (!s->redirect || s->status != PM_JOB_BOUNCED || s->bfail.n == 0 ||
	    LOCAL_PROBE(s)) {
		goto out;
	}
	rc = local_fails_notify(s, &s->bfail, NULL, &res);
	if (rc != 0 && rc != PM_ENOENT) {
		/*
		 * Only PM_ENOENT (refused for good) gives the notice up, as
		 * qmgr does for its own notices. Anything else (no answer,
		 * 4xx, a malformed reply, even PM_EINVAL) is not now: the
		 * retry asks again with the same notice id, and cleanup
		 * queues that id once.
		 */
		s->status = PM_JOB_DEFERRED;
		snprintf(s->dsn, sizeof(s->dsn), "4.3.0");
		snprintf(s->why, sizeof(s->why),
		    "cannot send the failure notice to the sender: %s",
		    pm_strerror(rc));
		goto out;
	}
	if (rc != 0) {
		pm_msg_warn("%s: to=<%s>: the failure notice to the sender is "
		            "refused (%s): it is lost",
		    s->m->job->queue_id, s->rcpt,
		    res.why[0] ? res.why : pm_strerror(rc));
	}
	for (i = 0; i < s->bfail.n; i++) {
		local_fail_log(s, &s->bfail.v[i]);
	}
	s->status = PM_JOB_SENT; /* the failures are told: pass it on */
	s->dsn[0] = s->why[0] = 0;
	if (s->done.len > 0) {
		pm_buf_puts(&s->done, "; ");
	}
	pm_buf_printf(&s->done, "failure notice to the sender: %s",
	    rc != 0                  ? "lost" :
	        res.queue_id[0] != 0 ? res.queue_id :
	                               "not requested");
	s->r->notified = 1; /* no success notice for the passed copy */
out:
	local_fails_free(&s->bfail);
}
