/*
 * NAME
 *	pm_server_queue - the queue store connection every Redis role shares
 * DESCRIPTION
 *	See pm_server_queue.h.
 * LIMITS
 *	One process-wide store, serialised by one mutex (readiness probes
 *	and the service's own rare uses).
 */
#include "pm_server_queue.h"

#include <pthread.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_util.h"

static pthread_mutex_t queue_mu = PTHREAD_MUTEX_INITIALIZER;
static pm_qstore *queue_qs;

pm_qstore *
pm_server_qstore_open(void)
{
	pm_qstore *qs =
	    pm_qstore_open(var_redis_server, (int) (var_redis_timeout * 1000),
	        var_body_store, (int) var_queue_shards);

	if (qs == NULL) {
		pm_msg_error("cannot use %s = %s, %s = %s", VAR_REDIS_SERVER,
		    var_redis_server, VAR_BODY_STORE, var_body_store);
	}
	return (qs);
}

pm_qstore *
pm_server_qstore_must(void)
{
	pm_qstore *qs = pm_server_qstore_open();

	if (qs == NULL) {
		pm_msg_fatal("cannot open the queue store");
	}
	return (qs);
}

void
pm__server_queue_start(void)
{
	pm_qstore *qs = pm_server_qstore_must();
	int err;

	pthread_mutex_lock(&queue_mu);
	queue_qs = qs;
	err = pm_qstore_load_functions(queue_qs);
	pthread_mutex_unlock(&queue_mu);
	if (err != 0) {
		pm_msg_warn("cannot load the queue functions into Redis at %s:"
		            " %s; will retry",
		    var_redis_server, pm_strerror(err));
	}
}

int
pm__server_queue_ready(void)
{
	int ok;

	pthread_mutex_lock(&queue_mu);
	ok = queue_qs != NULL && pm_qstore_ping(queue_qs) == 0;
	pthread_mutex_unlock(&queue_mu);
	return (ok);
}

pm_qstore *
pm_server_queue_lock(void)
{
	pthread_mutex_lock(&queue_mu);
	return (queue_qs);
}

void
pm_server_queue_unlock(void)
{
	pthread_mutex_unlock(&queue_mu);
}

void
pm__server_queue_stop(void)
{
	pthread_mutex_lock(&queue_mu);
	queue_qs = pm_qstore_close(queue_qs);
	pthread_mutex_unlock(&queue_mu);
}
