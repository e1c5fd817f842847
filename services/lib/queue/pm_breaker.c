/*
 * NAME
 *	pm_breaker - fail fast while a Redis cache does not answer
 * DESCRIPTION
 *	See pm_breaker.h. State: until (monotonic ms) the circuit stays
 *	open until; 0 when closed. After until has passed the circuit is
 *	half open: the first caller sets probing and goes through, the
 *	others are refused until it leaves.
 * LIMITS
 *	See pm_breaker.h.
 * SECURITY
 *	See pm_breaker.h.
 */
#include "pm_breaker.h"

#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct pm_breaker {
	pthread_mutex_t conn;  /* the connection */
	pthread_mutex_t state; /* the fields below */
	long retry_ms;
	int64_t until;
	int probing;
};

pm_breaker *
pm_breaker_new_ms(long retry_ms)
{
	pm_breaker *b = pm_calloc(1, sizeof(*b));

	pthread_mutex_init(&b->conn, NULL);
	pthread_mutex_init(&b->state, NULL);
	b->retry_ms = retry_ms > 0 ? retry_ms : 1;
	return (b);
}

pm_breaker *
pm_breaker_new(void)
{
	char *v = pm_cfg_get("redis_cache_retry_delay");
	long secs = 1;

	if (v == NULL || pm_cfg_parse_time(pm_trim(v), 's', &secs) != 0 ||
	    secs < 1 || secs > 3600) {
		pm_msg_fatal("redis_cache_retry_delay: bad time \"%s\" "
		             "(want 1s..1h)",
		    v ? v : "");
	}
	free(v);
	return (pm_breaker_new_ms(secs * 1000));
}

pm_breaker *
pm_breaker_free(pm_breaker *b)
{
	if (b != NULL) {
		pthread_mutex_destroy(&b->conn);
		pthread_mutex_destroy(&b->state);
		free(b);
	}
	return (NULL);
}

int
pm_breaker_open(pm_breaker *b)
{
	int open;

	pthread_mutex_lock(&b->state);
	open = b->until != 0 && pm_mono_ms() < b->until;
	pthread_mutex_unlock(&b->state);
	return (open);
}

int
pm_breaker_enter(pm_breaker *b)
{
	struct timespec ts;
	int probe = 0;

	pthread_mutex_lock(&b->state);
	if (b->until != 0) {
		if (pm_mono_ms() < b->until || b->probing) {
			pthread_mutex_unlock(&b->state);
			return (PM_EAGAIN);
		}
		b->probing = probe = 1;
	}
	pthread_mutex_unlock(&b->state);

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += PM_BREAKER_LOCK_WAIT_MS * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	if (pthread_mutex_timedlock(&b->conn, &ts) != 0) {
		if (probe) {
			pthread_mutex_lock(&b->state);
			b->probing = 0;
			pthread_mutex_unlock(&b->state);
		}
		return (PM_EAGAIN);
	}
	return (0);
}

void
pm_breaker_leave(pm_breaker *b, int failed)
{
	pthread_mutex_lock(&b->state);
	b->until = failed ? pm_mono_ms() + b->retry_ms : 0;
	b->probing = 0;
	pthread_mutex_unlock(&b->state);
	pthread_mutex_unlock(&b->conn);
}
