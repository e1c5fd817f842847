/*
 * NAME
 *	pm_anvil - client rate counters in Redis
 * DESCRIPTION
 *	See pm_anvil.h. The outage state (warned or not) is process-wide:
 *	smtpd uses one pm_anvil for its checks and one for lease renewal,
 *	and an outage is one warning, not one per connection.
 * LIMITS
 *	See pm_anvil.h.
 * SECURITY
 *	See pm_anvil.h.
 */
#include "pm_anvil.h"

#include "pm_breaker.h"
#include "pm_log.h"
#include "pm_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct pm_anvil {
	pm_qstore *qs;
	long unit;
	pm_breaker *br; /* the connection's lock, fail fast */
};

/* Warned about an outage (any pm_anvil of the process). */
static pthread_mutex_t anvil_down_mu = PTHREAD_MUTEX_INITIALIZER;
static int anvil_down;

pm_anvil *
pm_anvil_open(pm_qstore *qs, long unit_s)
{
	pm_anvil *an = pm_calloc(1, sizeof(*an));

	an->qs = qs;
	an->unit = unit_s > 0 ? unit_s : 60;
	an->br = pm_breaker_new();
	return (an);
}

pm_anvil *
pm_anvil_close(pm_anvil *an)
{
	if (an != NULL) {
		pm_qstore_close(an->qs);
		pm_breaker_free(an->br);
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

/* Called with the connection held (for pm_qstore_server). */
static void
anvil_note(pm_anvil *an, int rc)
{
	pthread_mutex_lock(&anvil_down_mu);
	if (rc != 0 && !anvil_down) {
		anvil_down = 1;
		pm_msg_warn("anvil: Redis %s unreachable: client rate limits "
		            "are not enforced until it answers (%s)",
		    pm_qstore_server(an->qs), pm_strerror(rc));
	} else if (rc == 0 && anvil_down) {
		anvil_down = 0;
		pm_msg_info("anvil: Redis %s answers again: client rate "
		            "limits enforced",
		    pm_qstore_server(an->qs));
	}
	pthread_mutex_unlock(&anvil_down_mu);
}

int
pm_anvil_count(pm_anvil *an, const char *what, const char *client,
    long long *count)
{
	char key[256];
	int rc;

	pm_anvil_key(an, what, client, (long long) time(NULL), key,
	    sizeof(key));
	if (pm_breaker_enter(an->br) != 0) {
		return (PM_EREDIS);
	}
	rc = pm_qstore_get_count(an->qs, key, count);
	anvil_note(an, rc);
	pm_breaker_leave(an->br, rc != 0);
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
	if (pm_breaker_enter(an->br) != 0) {
		return (PM_EREDIS);
	}
	rc = pm_qstore_incr_expire(an->qs, key, 2 * an->unit, count);
	anvil_note(an, rc);
	pm_breaker_leave(an->br, rc != 0);
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
	if (pm_breaker_enter(an->br) != 0) {
		return (PM_EREDIS);
	}
	rc = pm_qstore_incr_limit(an->qs, slot->key, 2 * an->unit, limit, &n);
	anvil_note(an, rc);
	pm_breaker_leave(an->br, rc != 0);
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
	if (pm_breaker_enter(an->br) != 0) {
		return (PM_EREDIS);
	}
	rc = pm_qstore_decr_existing(an->qs, slot->key);
	anvil_note(an, rc);
	pm_breaker_leave(an->br, rc != 0);
	return (rc == 0 ? 0 : PM_EREDIS);
}

void
pm_anvil_live_key(const char *client, char *buf, size_t size)
{
	snprintf(buf, size, "pm:anvil:live:%.128s", client);
}

int
pm_anvil_connect(pm_anvil *an, const char *client, const char *member,
    long lease_s, long long count_limit, long long rate_limit, int *verdict,
    long long *count, long long *rate)
{
	char zkey[256], rkey[256];
	long long out[3] = { 0, 0, 0 };
	int rc;

	pm_anvil_live_key(client, zkey, sizeof(zkey));
	pm_anvil_key(an, "connect", client, (long long) time(NULL), rkey,
	    sizeof(rkey));
	if (pm_breaker_enter(an->br) != 0) {
		return (PM_EREDIS);
	}
	rc = pm_qstore_lease_take(an->qs, zkey, member, lease_s, count_limit,
	    rkey, 2 * an->unit, rate_limit, out);
	anvil_note(an, rc);
	pm_breaker_leave(an->br, rc != 0);
	if (rc != 0) {
		return (PM_EREDIS);
	}
	*verdict = out[0] == 1 ? PM_ANVIL_COUNT :
	    out[0] == 2        ? PM_ANVIL_RATE :
	                         PM_ANVIL_OK;
	*count = out[1];
	*rate = out[2];
	return (0);
}

int
pm_anvil_renew(pm_anvil *an, size_t n, const char *const *clients,
    const char *const *members, size_t ndrop, long lease_s)
{
	char(*keys)[256];
	const char **kp;
	size_t i, k, done;
	int rc = 0;

	if (n == 0) {
		return (0);
	}
	k = n < PM_QS_LEASE_BATCH ? n : PM_QS_LEASE_BATCH;
	keys = pm_calloc(k, sizeof(*keys));
	kp = pm_calloc(k, sizeof(*kp));
	for (done = 0; done < n && rc == 0; done += k) {
		size_t m = n - done < k ? n - done : k;
		size_t d = ndrop > done ? ndrop - done : 0;

		for (i = 0; i < m; i++) {
			pm_anvil_live_key(clients[done + i], keys[i],
			    sizeof(keys[i]));
			kp[i] = keys[i];
		}
		if (pm_breaker_enter(an->br) != 0) {
			return (PM_EREDIS);
		}
		rc = pm_qstore_lease_renew(an->qs, m, kp, members + done,
		    d < m ? d : m, lease_s);
		anvil_note(an, rc);
		pm_breaker_leave(an->br, rc != 0);
	}
	free(keys);
	free(kp);
	return (rc == 0 ? 0 : PM_EREDIS);
}
