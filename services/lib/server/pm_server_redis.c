/*
 * NAME
 *	pm_server_redis - Redis health of a queue role: metrics and probe
 * DESCRIPTION
 *	Every role with the Redis queue (.queue = 1: cleanup, qmgr,
 *	bounce, the delivery agents) exports
 *	  postmesh_redis_up                1 while Redis answers PING
 *	  postmesh_redis_loading           1 while Redis answers -LOADING
 *	                                   (replaying its append file)
 *	  postmesh_redis_reconnects_total  connections made again after
 *	                                   Redis was away (all threads)
 *	A thread started by pm__server_queue_start() probes Redis every
 *	second through pm__server_queue_ready(), which /readyz calls too:
 *	the gauges follow Redis even when nobody asks for readiness, and
 *	readiness is false while Redis is down or loading.
 * LIMITS
 *	One probe a second, each bounded by redis_timeout.
 * SECURITY
 *	Nothing from Redis but the kind of reply is used.
 */
#include "pm_server_queue.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "pm_metrics.h"
#include "pm_util.h"

static pm_metric *m_up, *m_loading, *m_reconnects;
static unsigned long long reconnects_seen;
static pthread_mutex_t note_mu = PTHREAD_MUTEX_INITIALIZER;

static pthread_t mon_tid;
static int mon_started;
static pthread_mutex_t mon_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mon_cv;
static int mon_quit;

void
pm__server_redis_note(int rc)
{
	unsigned long long now;

	pthread_mutex_lock(&note_mu);
	if (m_up == NULL) {
		m_up = pm_metric_gauge("redis_up",
		    "1 while Redis answers PING, else 0", NULL);
		m_loading = pm_metric_gauge("redis_loading",
		    "1 while Redis is loading its data (-LOADING), else 0",
		    NULL);
		m_reconnects = pm_metric_counter("redis_reconnects_total",
		    "Connections to Redis made again after it was away", NULL);
	}
	pm_metric_set(m_up, rc == 0);
	pm_metric_set(m_loading, rc == PM_EAGAIN);
	now = pm_qstore_reconnects();
	if (now > reconnects_seen) {
		pm_metric_add(m_reconnects, (uint64_t) (now - reconnects_seen));
		reconnects_seen = now;
	}
	pthread_mutex_unlock(&note_mu);
}

static void *
mon_main(void *arg)
{
	struct timespec ts;

	(void) arg;
	pthread_mutex_lock(&mon_mu);
	while (!mon_quit) {
		pthread_mutex_unlock(&mon_mu);
		(void) pm__server_queue_ready(); /* notes the result */
		pthread_mutex_lock(&mon_mu);
		if (mon_quit) {
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&mon_cv, &mon_mu, &ts);
	}
	pthread_mutex_unlock(&mon_mu);
	return (NULL);
}

void
pm__server_redis_start(void)
{
	pthread_condattr_t ca;

	pm__server_redis_note(PM_EREDIS); /* registered before /metrics */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&mon_cv, &ca);
	pthread_condattr_destroy(&ca);
	mon_started = pthread_create(&mon_tid, NULL, mon_main, NULL) == 0;
}

void
pm__server_redis_stop(void)
{
	if (!mon_started) {
		return;
	}
	pthread_mutex_lock(&mon_mu);
	mon_quit = 1;
	pthread_cond_broadcast(&mon_cv);
	pthread_mutex_unlock(&mon_mu);
	pthread_join(mon_tid, NULL);
	mon_started = 0;
}
