/*
 * NAME
 *	qmgr_redirect - an agent hands a recipient to another transport
 * SUMMARY
 *	#include "qmgr.h"
 * DESCRIPTION
 *	Postfix's local(8) passes a recipient to mailbox_transport or
 *	fallback_transport with deliver_pass(): a direct call to the other
 *	delivery agent. Agents here only talk to qmgr, so the local agent
 *	reports the recipient as RCPT_REDIRECT with a transport and
 *	nexthop instead (delivery.proto), writing nothing to Redis, and
 *	qmgr re-routes it in memory: done() (qmgr_fetch.c) calls
 *	qmgr_redirect() for each such result, which puts the recipient in
 *	a new job for (transport, nexthop) - recipients of one report for
 *	the same destination share a job up to the transport's recipient
 *	limit - and qmgr_redirect_queue() queues those jobs at once, with
 *	no retry delay. The target agent (lmtp, pipe ...) delivers,
 *	records the final status and logs it, as for any other job.
 *	Counted in qmgr_redirects_total{result="accepted"|"refused"}.
 *
 *	A recipient whose report says dsn_passed (local sent a failure
 *	notice for it itself: to an owner- alias, Postfix's
 *	bounce_workaround, or to the sender about its bounced alias
 *	targets, local_fails.c) goes in a job
 *	with no_success_notice: the target agent records it delivered
 *	with no success notice (PM_RCPT_NOTIFIED), as Postfix's local
 *	keeps the "notified" mark when it passes the recipient on.
 *
 *	No state is kept beyond the pass: if qmgr restarts, the recipient
 *	resolves to local again and local redirects it again.
 *
 *	Only the local agent redirects (qmgr_redirect_from_ok(): jobs
 *	of the transport "local"), as only Postfix's local(8) passes mail
 *	to mailbox_transport or fallback_transport: a redirect in the
 *	report of any other transport is a fault of that agent, logged as
 *	a warning, and the recipient is deferred 4.3.5 as below.
 *
 *	Loops: a redirect to the reporting agent's own transport (so to
 *	"local"), or more than qmgr_redirect_limit redirects of one
 *	recipient in a pass, is refused: the recipient is deferred
 *	"4.3.5 redirect from transport local to local refused: delivery
 *	loop (its own transport)" (written at the end of the pass,
 *	logged now) and retried after the usual backoff, so a wrong
 *	mailbox_transport never spins.
 * LIMITS
 *	qmgr_redirect_limit redirects per recipient and pass; the
 *	transport's _destination_recipient_limit per new job.
 * SECURITY
 *	Transport and nexthop come from an agent: checked here (printable,
 *	no space, bounded) and again by pm_sched_enqueue().
 */
#include "qmgr.h"
#include "qmgr_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_log.h"
#include "qmgr_clnt.h"

/* A job of rd for (transport, nexthop) with room, or a new one. */
static qmgr_job *
redirect_job(qmgr_msg *msg, const char *transport, const char *nexthop,
    int no_notice, size_t need, qmgr_redirects *rd)
{
	long lim = qmgr_tpinfo_get(transport)->rcpt_limit;
	qmgr_job *j;

	for (j = rd->head; j != NULL; j = j->inext) {
		if (strcmp(j->transport, transport) == 0 &&
		    strcmp(j->nexthop, nexthop) == 0 &&
		    j->no_notice == no_notice && (long) j->n < lim &&
		    j->bytes + need <= QMGR_JOB_BYTES) {
			return (j);
		}
	}
	j = pm_calloc(1, sizeof(*j));
	j->transport = pm_strdup(transport);
	j->nexthop = pm_strdup(nexthop);
	j->bytes = strlen(msg->m->sender) +
	    strlen(msg->m->dsn_envid ? msg->m->dsn_envid : "") + 256 +
	    strlen(transport) + strlen(nexthop);
	j->msg = msg;
	j->no_notice = no_notice;
	/* inext links rd's jobs until they are queued (not in flight) */
	j->inext = rd->head;
	rd->head = j;
	return (j);
}

void
qmgr_redirect(qmgr_job *j, size_t pos, const char *transport,
    const char *nexthop, int no_notice, qmgr_redirects *rd)
{
	qmgr_msg *msg = j->msg;
	size_t i = j->idx[pos];
	qmgr_job *nj;
	const char *why;
	char *text;
	size_t need;

	if (msg->lost || QR_FINAL(msg->r[i].state)) {
		return; /* not ours any more, or done already */
	}
	why = qmgr_redirect_refused(j->transport, transport,
	    ++msg->r[i].redirects, var_qmgr_redirect_limit);
	if (!qmgr_redirect_from_ok(j->transport)) {
		pm_msg_warn("%s: to=<%s>: redirect to %.64s from transport "
		            "%s ignored: only transport %s may redirect",
		    msg->e.qid, j->addr[pos], transport, j->transport,
		    QMGR_REDIRECT_FROM);
	}
	if (why == NULL &&
	    !qmgr_redirect_name_ok(nexthop, PM_QMGR_NEXTHOP_MAX, 1)) {
		why = "bad nexthop";
	}
	if (why != NULL) {
		text = pm_asprintf("redirect from transport %s to %.64s "
		                   "refused: %s",
		    j->transport, transport, why);
		qmgr_rcpt_set(msg, i, QR_DEFERRED, "4.3.5", text, NULL, 1);
		qmgr_log_rcpt(msg, i, j->addr[pos], NULL, j->dispatch_us,
		    "4.3.5", "deferred", msg->r[i].text);
		free(text);
		pm_metric_inc(qmgr_m.redirects_refused);
		return;
	}
	need = strlen(j->addr[pos]) + strlen(msg->m->rcpt[i].address) +
	    strlen(msg->m->rcpt[i].orcpt) + 32;
	nj = redirect_job(msg, transport, nexthop, no_notice != 0, need, rd);
	nj->idx = pm_realloc(nj->idx, (nj->n + 1) * sizeof(*nj->idx));
	nj->addr = pm_realloc(nj->addr, (nj->n + 1) * sizeof(*nj->addr));
	nj->idx[nj->n] = i;
	nj->addr[nj->n] = pm_strdup(j->addr[pos]);
	nj->bytes += need;
	nj->n++;
	pm_metric_inc(qmgr_m.redirects_accepted);
	if (pm_msg_verbose) {
		pm_msg_debug("%s: to=<%s>: redirected by %s to %s:%s",
		    msg->e.qid, j->addr[pos], j->transport, transport, nexthop);
	}
}

void
qmgr_redirect_queue(qmgr_redirects *rd, qmgr_msg **done)
{
	qmgr_job *j, *next;

	for (j = rd->head; j != NULL; j = next) {
		next = j->inext;
		j->inext = NULL;
		qmgr_job_link(j->msg, j);
		qmgr_job_queue(j, done);
	}
	rd->head = NULL;
}
