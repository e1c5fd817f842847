/*
 * NAME
 *	cleanup_durable - refuse mail while Redis is not as durable as
 *	queue_durability says
 * SUMMARY
 *	#include "cleanup.h"
 *	cleanup_durable_start(), cleanup_durable_stop(),
 *	cleanup_durable_check(), cleanup_durable_ok()
 * DESCRIPTION
 *	"250 queued" promises that the message survives a crash. With
 *	queue_durability = fsync that holds only if Redis runs with
 *	appendonly yes and appendfsync always; with replica, also with
 *	queue_min_replicas connected replicas (pm_qstore_durable()). A
 *	Redis started with other settings, or changed at run time with
 *	CONFIG SET, would make every 250 a lie, so cleanup checks:
 *
 *	  - at start (cleanup_durable_start(), before the first request),
 *	  - on every /readyz (cleanup_durable_check(): not ready unless
 *	    durable, or, with none, unless Redis answers PING; a Redis
 *	    that still loads its append-only file answers -LOADING, so
 *	    readiness is false meanwhile),
 *	  - every queue_durability_check_interval on a thread of its own,
 *	    and every second while the last check failed (so mail flows
 *	    again soon after Redis is fixed or has restarted).
 *
 *	While the last check failed, cleanup_durable_ok() is false and
 *	cleanup_submit.c answers every submission "451 4.3.0 Error: queue
 *	storage is not durable; try again later" (the client retries, as
 *	for any 4xx). Every change of state is logged once, e.g.
 *	"warning: queue_durability = fsync but Redis has appendfsync
 *	everysec: refusing mail", and "... durable again: accepting mail"
 *	when it is fixed. With queue_durability = none nothing is promised
 *	and nothing refused here (a Redis that is down fails the enqueue
 *	itself).
 * LIMITS
 *	One check at a time (a mutex; each check is one pipeline bounded
 *	by redis_timeout) on a connection of its own.
 * SECURITY
 *	Redis replies are checked in pm_qstore_durable().
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cleanup.h"
#include "pm_server_queue.h"
#include "cleanup_params.h"
#include "pm_common_params.h"
#include "pm_log.h"

#define DUR_WHY_MAX 256
#define DUR_RETRY_SECS 1 /* re-check interval while refusing mail */

long var_queue_dur_check;

static pthread_mutex_t dur_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dur_cv;
static pm_qstore *dur_qs;              /* under dur_mu */
static int dur_last_rc = 1;            /* under dur_mu; 1: no check yet */
static char dur_last_why[DUR_WHY_MAX]; /* under dur_mu */
static int dur_stop;                   /* under dur_mu */
static int dur_thread_running;
static pthread_t dur_tid;
static atomic_int dur_accept;

static int
dur_none(void)
{
	return (strcmp(var_queue_durability, "none") == 0);
}

/* Log a change of the check's outcome; dur_mu held. */
static void
dur_log(int rc, const char *why)
{
	if (rc == dur_last_rc && strcmp(why, dur_last_why) == 0) {
		return;
	}
	if (rc == 0 && dur_none()) {
		if (dur_last_rc != 1) {
			pm_msg_info("Redis at %s answers again",
			    pm_qstore_server(dur_qs));
		}
	} else if (rc == 0) {
		pm_msg_info("%s = %s: Redis at %s is durable%s: accepting "
		            "mail",
		    VAR_QUEUE_DURABILITY, var_queue_durability,
		    pm_qstore_server(dur_qs), dur_last_rc == 1 ? "" : " again");
	} else if (dur_none()) {
		pm_msg_warn("Redis at %s: %s", pm_qstore_server(dur_qs), why);
	} else if (rc == PM_EAGAIN) {
		pm_msg_warn("%s = %s but %s: refusing mail",
		    VAR_QUEUE_DURABILITY, var_queue_durability, why);
	} else {
		pm_msg_warn("%s = %s but Redis durability cannot be checked "
		            "(%s): refusing mail",
		    VAR_QUEUE_DURABILITY, var_queue_durability, why);
	}
	dur_last_rc = rc;
	snprintf(dur_last_why, sizeof(dur_last_why), "%s", why);
}

int
cleanup_durable_check(void)
{
	char why[DUR_WHY_MAX];
	int rc;

	pthread_mutex_lock(&dur_mu);
	if (dur_qs == NULL) {
		pthread_mutex_unlock(&dur_mu);
		return (PM_EREDIS);
	}
	rc = pm_qstore_durable(dur_qs, var_queue_durability,
	    (int) var_queue_min_replicas, why, sizeof(why));
	dur_log(rc, why);
	atomic_store(&dur_accept, rc == 0 || dur_none());
	pthread_mutex_unlock(&dur_mu);
	return (rc);
}

int
cleanup_durable_ok(void)
{
	return (atomic_load(&dur_accept));
}

static void *
dur_main(void *arg)
{
	struct timespec until;

	(void) arg;
	pthread_mutex_lock(&dur_mu);
	while (!dur_stop) {
		/*
		 * While mail is refused, look again every second: a Redis
		 * that was restarting or was just fixed is taken back at
		 * once. While all is well, every interval.
		 */
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec +=
		    dur_last_rc == 0 ? var_queue_dur_check : DUR_RETRY_SECS;
		while (!dur_stop &&
		    pthread_cond_timedwait(&dur_cv, &dur_mu, &until) == 0) {
			/* woken early: only a stop counts */
		}
		if (dur_stop) {
			break;
		}
		pthread_mutex_unlock(&dur_mu);
		(void) cleanup_durable_check();
		pthread_mutex_lock(&dur_mu);
	}
	pthread_mutex_unlock(&dur_mu);
	return (NULL);
}

int
cleanup_durable_start(void)
{
	pthread_condattr_t ca;

	dur_qs = pm_server_qstore_open();
	if (dur_qs == NULL) {
		return (-1);
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&dur_cv, &ca);
	pthread_condattr_destroy(&ca);
	(void) cleanup_durable_check();
	if (pthread_create(&dur_tid, NULL, dur_main, NULL) != 0) {
		pm_msg_error("cannot create the durability check thread");
		return (-1);
	}
	dur_thread_running = 1;
	return (0);
}

void
cleanup_durable_stop(void)
{
	if (dur_thread_running) {
		pthread_mutex_lock(&dur_mu);
		dur_stop = 1;
		pthread_cond_broadcast(&dur_cv);
		pthread_mutex_unlock(&dur_mu);
		pthread_join(dur_tid, NULL);
		dur_thread_running = 0;
	}
	pthread_mutex_lock(&dur_mu);
	dur_qs = pm_qstore_close(dur_qs);
	pthread_mutex_unlock(&dur_mu);
}
