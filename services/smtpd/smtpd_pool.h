/*
 * NAME
 *	smtpd_pool - thread pool for blocking work (access checks, AUTH)
 * SUMMARY
 *	#include "smtpd_pool.h"
 * DESCRIPTION
 *	smtpd_check_*() block (rewrite calls, DNS), so they never run on
 *	the event loop. The loop fills a job (embedded in the session, no
 *	allocation) and submits it; a worker runs job->work(job->arg) and
 *	then event_active(job->done, 0, 0), which is thread-safe once
 *	evthread_use_pthreads() was called: the done callback runs on the
 *	loop thread, where the result is read (the event's lock orders the
 *	worker's writes before the loop's reads).
 *
 *	A submitted job runs exactly once, unless the pool is stopped
 *	first: smtpd_pool_stop() lets running jobs finish, drops queued
 *	ones (their done event still fires, with job->cancelled = 1), and
 *	joins the workers.
 *
 *	Two instances: the check pool (smtpd_check_threads, queue bounded
 *	by the number of sessions) and the AUTH pool (smtpd_sasl_threads,
 *	smtpd_auth.c), so that slow SASL backends never hold the threads
 *	that answer connect, HELO, MAIL and RCPT checks. A pool made with
 *	max_queued >= 0 refuses a job (smtpd_pool_submit returns -1, the
 *	job is not run and its done event does not fire) when max_queued
 *	jobs already wait for a worker.
 * LIMITS
 *	nthreads workers; at most max_queued waiting jobs (< 0: no limit
 *	beyond one job per session).
 */
#ifndef SMTPD_POOL_H
#define SMTPD_POOL_H

#include <event2/event.h>

typedef struct smtpd_job {
	void (*work)(void *arg);
	void *arg;
	struct event *done;
	int cancelled;
	struct smtpd_job *next;
} smtpd_job;

typedef struct smtpd_pool smtpd_pool;

smtpd_pool *smtpd_pool_new(int nthreads, int max_queued);
/* 0, or -1 when the queue is full (see DESCRIPTION). */
int smtpd_pool_submit(smtpd_pool *p, smtpd_job *job);
/* Stop: see DESCRIPTION. Frees the pool. */
void smtpd_pool_stop(smtpd_pool *p);

#endif
