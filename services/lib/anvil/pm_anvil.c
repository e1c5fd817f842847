/*
 * NAME
 *	pm_anvil - client rate counters in Redis
 * DESCRIPTION
 *	See pm_anvil.h. Issue 10 adds connection and message rates here.
 * LIMITS
 *	See pm_anvil.h.
 * SECURITY
 *	See pm_anvil.h.
 */
#include "pm_anvil.h"

#include "pm_log.h"
#include "pm_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct pm_anvil {
	pm_qstore *qs;
	long unit;
	pthread_mutex_t mu;
	int down; /* warned about an outage */
};

pm_anvil *
pm_anvil_open(pm_qstore *qs, long unit_s)
{
	pm_anvil *an = pm_calloc(1, sizeof(*an));

	an->qs = qs;
	an->unit = unit_s > 0 ? unit_s : 60;
	pthread_mutex_init(&an->mu, NULL);
	return (an);
}

pm_anvil *
pm_anvil_close(pm_anvil *an)
{
	if (an != NULL) {
		pm_qstore_close(an->qs);
		pthread_mutex_destroy(&an->mu);
		free(an);
	}
	return (NULL);
}

void
pm_anvil_key(const pm_anvil *an, const char *what, const char *client,
    long long now_s, char *buf, size_t size)
{
	snprintf(buf, size, "pm:anvil:%.64s:%.128s:%lld", what, client,
	    now_s / an->unit);
}

/* Called with the mutex held. */
static void
anvil_note(pm_anvil *an, int rc)
{
	if (rc != 0 && !an->down) {
		an->down = 1;
		pm_msg_warn("anvil: Redis %s unreachable: client rate limits "
		            "are not enforced until it answers (%s)",
		    pm_qstore_server(an->qs), pm_strerror(rc));
	} else if (rc == 0 && an->down) {
		an->down = 0;
		pm_msg_info("anvil: Redis %s answers again: client rate "
		            "limits enforced",
		    pm_qstore_server(an->qs));
	}
}

int
pm_anvil_count(pm_anvil *an, const char *what, const char *client,
    long long *count)
{
	char key[256];
	int rc;

	pm_anvil_key(an, what, client, (long long) time(NULL), key,
	    sizeof(key));
	pthread_mutex_lock(&an->mu);
	rc = pm_qstore_get_count(an->qs, key, count);
	anvil_note(an, rc);
	pthread_mutex_unlock(&an->mu);
	return (rc == 0 ? 0 : PM_EREDIS);
}

int
pm_anvil_incr(pm_anvil *an, const char *what, const char *client,
    long long *count)
{
	char key[256];
	int rc;

	pm_anvil_key(an, what, client, (long long) time(NULL), key,
	    sizeof(key));
	pthread_mutex_lock(&an->mu);
	rc = pm_qstore_incr_expire(an->qs, key, 2 * an->unit, count);
	anvil_note(an, rc);
	pthread_mutex_unlock(&an->mu);
	return (rc == 0 ? 0 : PM_EREDIS);
}

int
pm_anvil_take(pm_anvil *an, const char *what, const char *client,
    long long limit, pm_anvil_slot *slot)
{
	long long n = 0;
	int rc;

	slot->held = 0;
	slot->count = 0;
	pm_anvil_key(an, what, client, (long long) time(NULL), slot->key,
	    sizeof(slot->key));
	pthread_mutex_lock(&an->mu);
	rc = pm_qstore_incr_limit(an->qs, slot->key, 2 * an->unit, limit, &n);
	anvil_note(an, rc);
	pthread_mutex_unlock(&an->mu);
	if (rc != 0) {
		return (PM_EREDIS);
	}
	slot->held = n <= limit;
	slot->count = slot->held ? n : n - 1;
	return (0);
}

int
pm_anvil_release(pm_anvil *an, pm_anvil_slot *slot)
{
	int rc;

	if (!slot->held) {
		return (0);
	}
	slot->held = 0;
	pthread_mutex_lock(&an->mu);
	rc = pm_qstore_decr_existing(an->qs, slot->key);
	anvil_note(an, rc);
	pthread_mutex_unlock(&an->mu);
	return (rc == 0 ? 0 : PM_EREDIS);
}
