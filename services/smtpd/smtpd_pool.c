/*
 * NAME
 *	smtpd_pool - thread pool for blocking work (access checks)
 * DESCRIPTION
 *	See smtpd_pool.h. One mutex and condition variable guard a FIFO
 *	of jobs; workers sleep on the condition variable. queued counts
 *	the jobs in the FIFO (not those running) against max_queued.
 * LIMITS
 *	At least 1 worker; max_queued waiting jobs (< 0: unbounded).
 */
#include <pthread.h>
#include <stdlib.h>

#include "pm_log.h"
#include "pm_util.h"
#include "smtpd_pool.h"

struct smtpd_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	smtpd_job *head;
	smtpd_job *tail;
	int stopping;
	int queued;
	int max_queued;
	int nthreads;
	pthread_t *threads;
};

static void *
pool_worker(void *arg)
{
	smtpd_pool *p = arg;
	smtpd_job *job;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->head == NULL && !p->stopping) {
			pthread_cond_wait(&p->cv, &p->mu);
		}
		if (p->stopping) {
			pthread_mutex_unlock(&p->mu);
			return (NULL);
		}
		job = p->head;
		p->head = job->next;
		if (p->head == NULL) {
			p->tail = NULL;
		}
		p->queued--;
		pthread_mutex_unlock(&p->mu);
		job->work(job->arg);
		event_active(job->done, 0, 0);
	}
}

smtpd_pool *
smtpd_pool_new(int nthreads, int max_queued)
{
	smtpd_pool *p = pm_calloc(1, sizeof(*p));
	int i;

	if (nthreads < 1) {
		nthreads = 1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->threads = pm_calloc((size_t) nthreads, sizeof(*p->threads));
	for (i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, pool_worker, p) != 0) {
			pm_msg_fatal("cannot create check thread: %m");
		}
	}
	p->nthreads = nthreads;
	p->max_queued = max_queued;
	return (p);
}

int
smtpd_pool_submit(smtpd_pool *p, smtpd_job *job)
{
	job->next = NULL;
	job->cancelled = 0;
	pthread_mutex_lock(&p->mu);
	if (p->max_queued >= 0 && p->queued >= p->max_queued) {
		pthread_mutex_unlock(&p->mu);
		return (-1);
	}
	p->queued++;
	if (p->tail != NULL) {
		p->tail->next = job;
	} else {
		p->head = job;
	}
	p->tail = job;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return (0);
}

void
smtpd_pool_stop(smtpd_pool *p)
{
	smtpd_job *job;
	int i;

	if (p == NULL) {
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++) {
		pthread_join(p->threads[i], NULL);
	}
	while ((job = p->head) != NULL) {
		p->head = job->next;
		job->cancelled = 1;
		event_active(job->done, 0, 0);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}
