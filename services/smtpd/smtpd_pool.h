/*
 * NAME
 *	smtpd_pool - thread pool for blocking work (access checks)
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
 * LIMITS
 *	smtpd_check_threads workers; the queue holds at most one job per
 *	session, so it is bounded by the number of sessions.
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

smtpd_pool *smtpd_pool_new(int nthreads);
void smtpd_pool_submit(smtpd_pool *p, smtpd_job *job);
/* Stop: see DESCRIPTION. Frees the pool. */
void smtpd_pool_stop(smtpd_pool *p);

#endif
