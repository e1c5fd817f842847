/*
 * NAME
 *	qmgr_fetch - the agents' side: fetch (long poll) and done
 * SUMMARY
 *	#include "qmgr.h"
 * DESCRIPTION
 *	qmgr_handler() runs on pm_rpc worker threads (thread_ctx is the
 *	worker's pm_qstore).
 *
 *	MSG_QMGR_FETCH (FetchRequest): notes that an agent serves the
 *	named transports and that it is alive (qmgr_agents.c), then waits
 *	(condition variable) up to min(wait_ms, qmgr_fetch_wait_limit,
 *	the agent's budget timeout_ms less a margin) until a job of one of them
 *	may be dispatched, and answers with up to max_jobs jobs
 *	(pm_sched_next: per-destination windows, round-robin). Each job
 *	carries its unique job_id, idempotency_key "qid/attempt/seq", the
 *	envelope, dispatch_us, and is remembered (job id -> job) until
 *	its agent reports, the agent is found dead (qmgr_agent_jobs.c),
 *	or qmgr_job_timeout passes. A fetch whose budget is spent gets no
 *	job; a fetch for no job (max_jobs 0) is a heartbeat, held until
 *	its wait ends or a newer incarnation of the agent appears. At most
 *	3/4 of the workers wait at once, so done reports always find a
 *	worker; a fetch beyond that waits 100 ms at most.
 *
 *	MSG_QMGR_DONE (DoneRequest): applies the outcomes to the message:
 *	sent and bounced recipients are final (the agent wrote them to
 *	Redis; when RcptResult.recorded is false qmgr writes them with
 *	pm_qstore_rcpt_cas_action, the sent ones with their success
 *	notice's DSN action, before the message may complete),
 *	deferred ones keep their reason; redirected ones go to the
 *	transport the agent named at once (qmgr_redirect.c); recipients
 *	the agent did not mention are deferred. The destination gets feedback
 *	(dest_failed: failure, else success). A report for a job qmgr no
 *	longer knows (it timed out, or qmgr restarted) still gets its
 *	unrecorded final statuses written, then is acknowledged.
 * LIMITS
 *	QMGR_FETCH_MAX_JOBS and QMGR_FETCH_BYTES per reply; at most 16
 *	transport names per fetch, 64 bytes each; at most 2000 results
 *	per report, reasons up to 2048 bytes (kept: QMGR_TEXT_MAX).
 * SECURITY
 *	Agents are another role: every field is checked (lengths,
 *	counts, enums, recipient indexes belong to the job) and agent
 *	text is made printable before it is kept.
 */
#include "qmgr.h"
#include "qmgr_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.pb-c.h"
#include "delivery.pb-c.h"
#include "pm_dsn.h"
#include "pm_log.h"
#include "qmgr_clnt.h"

#define FETCH_MAX_TRANSPORTS 16
#define FETCH_NAME_MAX 64
#define DONE_TEXT_MAX 2048

/* An agent refuses a job with more recipients (qmgr_clnt.c). */
_Static_assert(QMGR_MAX_RCPT_LIMIT <= PM_AGENT_MAX_RCPT,
    "qmgr may not send more recipients than an agent takes");

static int
name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max) {
		return (0);
	}
	for (; *s; s++) {
		if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f) {
			return (0);
		}
	}
	return (1);
}

static void
deadline_ts(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Fill one DeliveryJob (pointers into job and message: pack under mu). */
static void
job_pb(qmgr_job *j, Pm__DeliveryJob *pj, Pm__JobRcpt *pr, Pm__JobRcpt **pp,
    char *key, size_t keysize)
{
	qmgr_msg *msg = j->msg;
	pm_qmsg *m = msg->m;
	size_t k, i;

	pm__delivery_job__init(pj);
	snprintf(key, keysize, "%s/%u/%u", msg->e.qid, msg->attempt, j->seq);
	pj->job_id = j->id;
	pj->queue_id = msg->e.qid;
	pj->transport = j->transport;
	pj->nexthop = j->nexthop;
	pj->sender = m->sender;
	pj->attempt = msg->attempt;
	pj->idempotency_key = key;
	pj->body_type = (uint32_t) m->body_type;
	pj->dsn_ret = (uint32_t) m->dsn_ret;
	pj->dsn_envid = m->dsn_envid ? m->dsn_envid : "";
	pj->flags = m->flags;
	pj->size = m->size;
	pj->arrival_us = m->arrival_us;
	pj->shard = msg->e.shard;
	pj->active_us = msg->active_us;
	pj->dispatch_us = j->dispatch_us;
	pj->no_success_notice = j->no_notice != 0;
	for (k = 0; k < j->n; k++) {
		i = j->idx[k];
		pm__job_rcpt__init(&pr[k]);
		pr[k].index = (uint32_t) i;
		pr[k].address = j->addr[k];
		pr[k].orcpt = m->rcpt[i].orcpt;
		pr[k].notify = m->rcpt[i].notify;
		pr[k].queued_address = m->rcpt[i].address;
		pp[k] = &pr[k];
	}
	pj->n_rcpt = j->n;
	pj->rcpt = pp;
}

/* Mark a job in flight, held by agent a (may be NULL); under mu. */
static void
job_dispatch(qmgr_job *j, qmgr_agent *a)
{
	j->agent = a;
	j->dispatch_ms = pm_mono_ms();
	j->dispatch_us = pm_now_us();
	j->inflight = 1;
	j->inext = NULL;
	j->iprev = qmgr.itail;
	if (qmgr.itail != NULL) {
		qmgr.itail->inext = j;
	} else {
		qmgr.ihead = j;
	}
	qmgr.itail = j;
	pm_smap_put(qmgr.jobs, j->id, j);
	j->msg->inflight++;
	qmgr.ninflight++;
	pm_metric_inc(qmgr_tpinfo_get(j->transport)->dispatched);
}

static int
fetch(const uint8_t *req, size_t reqlen, uint32_t *rtype, pm_buf *rbuf)
{
	Pm__FetchRequest *fr;
	Pm__FetchReply rep = PM__FETCH_REPLY__INIT;
	Pm__DeliveryJob *pj = NULL, **pjp = NULL;
	Pm__JobRcpt **pr = NULL, ***pp = NULL;
	qmgr_job **jobs = NULL;
	qmgr_agent *agent;
	pm_sched_job *sj;
	const char **tps;
	char(*keys)[PM_QID_LEN + 32] = NULL;
	struct timespec ts;
	size_t i, n = 0, max, bytes = 0, plen;
	int64_t deadline, now;
	uint8_t *packed;
	uint32_t pipe = pm_rpc_request_pipe();
	int rc = 0, over, in_time;

	if ((fr = pm__fetch_request__unpack(NULL, reqlen, req)) == NULL) {
		pm_msg_warn("fetch: malformed request");
		return (PM_EPROTO);
	}
	if (fr->n_transports == 0 || fr->n_transports > FETCH_MAX_TRANSPORTS) {
		pm_msg_warn("fetch: bad transport count %zu", fr->n_transports);
		pm__fetch_request__free_unpacked(fr, NULL);
		return (PM_EPROTO);
	}
	for (i = 0; i < fr->n_transports; i++) {
		if (!name_ok(fr->transports[i], FETCH_NAME_MAX)) {
			pm_msg_warn("fetch: bad transport name");
			pm__fetch_request__free_unpacked(fr, NULL);
			return (PM_EPROTO);
		}
	}
	tps = (const char **) fr->transports;
	max = fr->max_jobs > QMGR_FETCH_MAX_JOBS ? QMGR_FETCH_MAX_JOBS :
	                                           fr->max_jobs;
	/* the agent's budget: no job once it is spent (qmgr_agents.c) */
	in_time = qmgr_fetch_plan(pm_mono_ms(), fr->timeout_ms, fr->wait_ms,
	    1000LL * var_qmgr_fetch_wait, &deadline);
	if (!in_time) {
		max = 0;
		if (pm_msg_verbose) {
			pm_msg_debug("fetch: the agent's budget of %u ms is "
			             "spent; answered with no job",
			    fr->timeout_ms);
		}
	}
	jobs = pm_calloc(max ? max : 1, sizeof(*jobs));

	pthread_mutex_lock(&qmgr.mu);
	now = pm_mono_ms();
	agent =
	    qmgr_agent_fetch_begin(fr->instance, fr->incarnation, pipe, now);
	for (i = 0; i < fr->n_transports; i++) {
		pm_sched_asked(qmgr.sched, tps[i], now);
	}
	for (;;) {
		/* no job while the leases are unproven (qmgr_lease.c) */
		while (n < max && !qmgr.stopping && now <= deadline &&
		    !qmgr_agent_fetch_over(agent, pipe) && qmgr_lease_fresh() &&
		    bytes + QMGR_JOB_BYTES <= QMGR_FETCH_BYTES &&
		    (sj = pm_sched_next(qmgr.sched, tps, fr->n_transports,
		         now)) != NULL) {
			jobs[n] = (qmgr_job *) sj;
			bytes += jobs[n]->bytes;
			qmgr_job_action(jobs[n], fr->dsn_action);
			job_dispatch(jobs[n++], agent);
		}
		now = pm_mono_ms();
		if (n > 0 || qmgr.stopping || now >= deadline ||
		    qmgr_agent_fetch_over(agent, pipe)) {
			break;
		}
		over = qmgr.waiters >= qmgr.max_waiters;
		qmgr.waiters++;
		if (max == 0) {
			/* a heartbeat: held until its wait ends */
			qmgr_agent_hb_wait(agent, pipe,
			    over && deadline - now > 100 ? now + 100 :
			                                   deadline);
		} else {
			deadline_ts(&ts,
			    over ?
			        (deadline - now < 100 ? deadline - now : 100) :
			        deadline - now);
			pthread_cond_timedwait(&qmgr.work_cv, &qmgr.mu, &ts);
		}
		qmgr.waiters--;
		now = pm_mono_ms();
		if (over) {
			deadline = now; /* one more look, then answer */
		}
	}
	if (n > 0) {
		pj = pm_calloc(n, sizeof(*pj));
		pjp = pm_calloc(n, sizeof(*pjp));
		pr = pm_calloc(n, sizeof(*pr));
		pp = pm_calloc(n, sizeof(*pp));
		keys = pm_calloc(n, sizeof(*keys));
		for (i = 0; i < n; i++) {
			pr[i] = pm_calloc(jobs[i]->n, sizeof(**pr));
			pp[i] = pm_calloc(jobs[i]->n, sizeof(**pp));
			job_pb(jobs[i], &pj[i], pr[i], pp[i], keys[i],
			    sizeof(keys[i]));
			pjp[i] = &pj[i];
		}
		rep.n_jobs = n;
		rep.jobs = pjp;
		pm_metric_set(qmgr_m.mem_inflight, (int64_t) qmgr.ninflight);
	}
	plen = pm__fetch_reply__get_packed_size(&rep);
	packed = pm_malloc(plen ? plen : 1);
	pm__fetch_reply__pack(&rep, packed);
	qmgr_agent_fetch_end(agent, pm_mono_ms());
	pthread_mutex_unlock(&qmgr.mu);

	if (pm_msg_verbose && n > 0) {
		pm_msg_debug("fetch: %zu job(s) to %s", n,
		    name_ok(fr->agent_id, 200) ? fr->agent_id : "agent");
	}
	if ((rc = pm_buf_append(rbuf, packed, plen)) == 0) {
		*rtype = PM__MSG_TYPE__MSG_QMGR_FETCH_REPLY;
	}
	/* jobs stay in flight on a failed reply: they time out */
	free(packed);
	for (i = 0; i < n; i++) {
		free(pr[i]);
		free(pp[i]);
	}
	free(pr);
	free(pp);
	free(pj);
	free(pjp);
	free(keys);
	free(jobs);
	pm__fetch_request__free_unpacked(fr, NULL);
	return (rc);
}

/* A final status the agent could not write: qmgr writes it. */
typedef struct done_write {
	uint32_t index;
	const char *status;
	const char *dsn;
	const char *text;
	const char *action; /* sent: the success notice's DSN action */
} done_write;

/* failed[i] (if given) = 1 when Redis did not take write i. */
static void
done_writes(pm_qstore *qs, const char *qid, const done_write *w, size_t n,
    unsigned char *failed)
{
	pm_qrcpt_final f;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		rc = pm_qstore_rcpt_cas_action(qs, qid, w[i].index, w[i].status,
		    w[i].dsn, w[i].text, w[i].action, &f);
		if (failed != NULL) {
			failed[i] = qmgr_retry_rc(rc);
		}
		if (rc != 0 && rc != PM_ENOENT) {
			pm_msg_warn("%s: cannot record the status of "
			            "recipient %u: %s%s",
			    qid, w[i].index, pm_strerror(rc),
			    failed != NULL && failed[i] ?
			        "; kept, written when Redis answers" :
			        "");
		}
	}
}

/* Position of recipient index in the job, or -1. */
static long
job_pos(const qmgr_job *j, uint32_t index, size_t hint)
{
	size_t k;

	if (hint < j->n && j->idx[hint] == index) {
		return ((long) hint);
	}
	for (k = 0; k < j->n; k++) {
		if (j->idx[k] == index) {
			return ((long) k);
		}
	}
	return (-1);
}

static int
done_check(const Pm__DoneRequest *dr)
{
	size_t i;

	if (!name_ok(dr->job_id, QMGR_JOB_ID_MAX - 1) ||
	    !pm_qid_valid(dr->queue_id) ||
	    dr->n_results > 2 * QMGR_MAX_RCPT_LIMIT ||
	    strlen(dr->relay) > QMGR_RELAY_MAX) {
		return (0);
	}
	for (i = 0; i < dr->n_results; i++) {
		if (strlen(dr->results[i]->dsn) >= QMGR_DSN_MAX ||
		    strlen(dr->results[i]->text) > DONE_TEXT_MAX) {
			return (0);
		}
	}
	return (1);
}

static int
done(pm_qstore *qs, const uint8_t *req, size_t reqlen, uint32_t *rtype,
    pm_buf *rbuf)
{
	Pm__DoneRequest *dr;
	Pm__DoneReply rep = PM__DONE_REPLY__INIT;
	Pm__RcptResult *r;
	qmgr_msg *msg, *list = NULL;
	qmgr_redirects rd = { NULL };
	qmgr_job *j;
	done_write *w;
	const char *fdsn = NULL, *ftext = NULL, *dsn, *text;
	unsigned char *seen, *failed;
	size_t i, nw = 0, k;
	long pos;
	int state, rc, was_final;
	uint8_t buf[16];
	size_t plen;

	if ((dr = pm__done_request__unpack(NULL, reqlen, req)) == NULL) {
		pm_msg_warn("done: malformed request");
		return (PM_EPROTO);
	}
	if (!done_check(dr)) {
		pm_msg_warn("done: bad request contents");
		pm__done_request__free_unpacked(dr, NULL);
		return (PM_EPROTO);
	}
	w = pm_calloc(dr->n_results ? dr->n_results : 1, sizeof(*w));
	pthread_mutex_lock(&qmgr.mu);
	j = pm_smap_get(qmgr.jobs, dr->job_id);
	if (j == NULL || strcmp(j->msg->e.qid, dr->queue_id) != 0) {
		pthread_mutex_unlock(&qmgr.mu);
		/* late or foreign report: keep what it says is final */
		for (i = 0; i < dr->n_results; i++) {
			r = dr->results[i];
			if (!r->recorded &&
			    (r->status == PM_JOB_SENT ||
			        r->status == PM_JOB_BOUNCED) &&
			    r->index < PM_QMGR_RCPT_INDEX_MAX &&
			    pm_dsn_status_valid(r->dsn)) {
				w[nw].index = r->index;
				w[nw].status = r->status != PM_JOB_SENT ?
				    PM_RCPT_BOUNCED :
				    r->dsn_passed ? PM_RCPT_NOTIFIED :
				                    PM_RCPT_SENT;
				w[nw].dsn = r->dsn;
				w[nw].text = r->text;
				w[nw].action =
				    r->dsn_passed ? NULL : r->dsn_action;
				nw++;
			}
		}
		done_writes(qs, dr->queue_id, w, nw, NULL);
		if (pm_msg_verbose) {
			pm_msg_debug("%s: report for unknown job %s",
			    dr->queue_id, dr->job_id);
		}
		goto reply;
	}
	/* no longer in flight */
	pm_smap_del(qmgr.jobs, j->id);
	if (j->iprev != NULL) {
		j->iprev->inext = j->inext;
	} else {
		qmgr.ihead = j->inext;
	}
	if (j->inext != NULL) {
		j->inext->iprev = j->iprev;
	} else {
		qmgr.itail = j->iprev;
	}
	j->inflight = 0;
	msg = j->msg;
	msg->inflight--;
	if (--qmgr.ninflight == 0) {
		pthread_cond_broadcast(&qmgr.idle_cv);
	}
	seen = pm_calloc(j->n ? j->n : 1, 1);
	for (i = 0; i < dr->n_results; i++) {
		r = dr->results[i];
		if ((pos = job_pos(j, r->index, i)) < 0 || seen[pos]) {
			continue; /* not this job's, or said twice */
		}
		seen[pos] = 1;
		if (r->status == PM_JOB_REDIRECT) {
			/* to another transport at once (qmgr_redirect.c) */
			qmgr_redirect(j, (size_t) pos, r->redirect_transport,
			    r->redirect_nexthop, r->dsn_passed, &rd);
			continue;
		}
		text = r->text[0] ? r->text : NULL;
		dsn = pm_dsn_status_valid(r->dsn) ? r->dsn : NULL;
		switch (r->status) {
		case PM_JOB_SENT:
			state = QR_SENT;
			break;
		case PM_JOB_BOUNCED:
			state = QR_BOUNCED;
			break;
		default:
			state = QR_DEFERRED;
			if (text == NULL) {
				text = "delivery agent reported no status";
			}
			if (fdsn == NULL) {
				fdsn = dsn;
				ftext = text;
			}
			break;
		}
		was_final = QR_FINAL(msg->r[r->index].state);
		qmgr_rcpt_set(msg, r->index, state, dsn, text,
		    dr->relay[0] ? dr->relay : NULL,
		    state == QR_DEFERRED && !r->recorded);
		if (!was_final && state == QR_SENT) {
			msg->r[r->index].success =
			    qmgr_success_kind(j->transport, r->dsn_passed,
			        r->dsn_action);
		}
		if (QR_FINAL(state) && !r->recorded) {
			w[nw].index = r->index;
			w[nw].status =
			    qmgr_store_status(state, msg->r[r->index].success);
			w[nw].dsn = msg->r[r->index].dsn;
			w[nw].text = dr->results[i]->text;
			w[nw].action =
			    qmgr_store_action(state, msg->r[r->index].success);
			nw++;
		}
	}
	for (k = 0; k < j->n; k++) {
		if (!seen[k] && !QR_FINAL(msg->r[j->idx[k]].state)) {
			qmgr_rcpt_set(msg, j->idx[k], QR_DEFERRED, "4.3.0",
			    "no delivery status from the agent", NULL, 1);
			qmgr_log_rcpt(msg, j->idx[k], j->addr[k], NULL,
			    j->dispatch_us, "4.3.0", "deferred",
			    "no delivery status from the agent");
		}
	}
	free(seen);
	/* before j's hold goes, so the message cannot complete first */
	qmgr_redirect_queue(&rd, &list);
	pm_sched_done(qmgr.sched, &j->sj,
	    dr->dest_failed ? PM_SCHED_FAIL : PM_SCHED_OK, fdsn, ftext,
	    pm_mono_ms(), qmgr_drop_dead, &list);
	if (nw > 0) {
		msg->holds++; /* until the statuses are written */
	}
	qmgr_job_free(j);
	qmgr_msg_release(msg, &list);
	pm_metric_set(qmgr_m.mem_inflight, (int64_t) qmgr.ninflight);
	pthread_cond_broadcast(&qmgr.work_cv);
	pthread_mutex_unlock(&qmgr.mu);
	if (nw > 0) {
		/* a status Redis did not take is written at completion */
		failed = pm_calloc(nw, 1);
		done_writes(qs, msg->e.qid, w, nw, failed);
		pthread_mutex_lock(&qmgr.mu);
		for (i = 0; i < nw; i++) {
			msg->r[w[i].index].unwritten |= failed[i];
		}
		qmgr_msg_release(msg, &list);
		pthread_mutex_unlock(&qmgr.mu);
		free(failed);
	}
	qmgr_msg_complete_list(qs, list);

reply:
	free(w);
	pm__done_request__free_unpacked(dr, NULL);
	rep.ok = 1;
	plen = pm__done_reply__get_packed_size(&rep);
	if (plen > sizeof(buf)) {
		return (PM_EIO);
	}
	pm__done_reply__pack(&rep, buf);
	if ((rc = pm_buf_append(rbuf, buf, plen)) == 0) {
		*rtype = PM__MSG_TYPE__MSG_QMGR_DONE_REPLY;
	}
	return (rc);
}

int
qmgr_handler(void *thread_ctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	switch (type) {
	case PM__MSG_TYPE__MSG_QMGR_FETCH:
		return (fetch(req, reqlen, rtype, rbuf));
	case PM__MSG_TYPE__MSG_QMGR_DONE:
		return (done(thread_ctx, req, reqlen, rtype, rbuf));
	default:
		pm_msg_warn("unexpected request type %u", type);
		return (PM_EPROTO);
	}
}
