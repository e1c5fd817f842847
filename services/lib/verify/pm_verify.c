/*
 * NAME
 *	pm_verify - address verification cache and probe dedupe (Redis)
 * DESCRIPTION
 *	See pm_verify.h. The writes are scripts (EVAL) so that an entry
 *	and its time to live, or the dedupe key and the entry's probed
 *	time, change in one step.
 * LIMITS
 *	See pm_verify.h.
 * SECURITY
 *	See pm_verify.h.
 */
#include "pm_verify.h"

#include "pm_addr.h"
#include "pm_breaker.h"
#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VERIFY_PREFIX "pm:cache:verify:"
#define VERIFY_PROBE_PREFIX "pm:cache:verify-probe:"
#define VERIFY_KEY_MAX (sizeof(VERIFY_PROBE_PREFIX) + PM_ADDR_MAX + 1)

struct pm_verify {
	pm_qstore *qs;
	pm_verify_cfg cfg;
	pm_breaker *br; /* the connection's lock, fail fast */
	int down;       /* warned about an outage */
};

static const char *const status_names[] = {
	[PM_VERIFY_UNKNOWN] = "unknown",
	[PM_VERIFY_DELIVERABLE] = "deliverable",
	[PM_VERIFY_UNDELIVERABLE] = "undeliverable",
	[PM_VERIFY_DEFERRED] = "deferred",
	[PM_VERIFY_PROBING] = "probing",
};

const char *
pm_verify_status_name(int status)
{
	if (status < 0 || status > PM_VERIFY_PROBING) {
		return ("unknown");
	}
	return (status_names[status]);
}

int
pm_verify_status_code(const char *name)
{
	int i;

	for (i = PM_VERIFY_DELIVERABLE; name != NULL && i <= PM_VERIFY_PROBING;
	     i++) {
		if (strcmp(name, status_names[i]) == 0) {
			return (i);
		}
	}
	return (PM_VERIFY_UNKNOWN);
}

/* prefix + address with its domain lower-cased. */
static void
verify_key(const char *prefix, const char *addr, char *buf, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t n, i;

	n = (size_t) snprintf(buf, size, "%s%s", prefix, addr);
	if (at == NULL || n >= size) {
		return;
	}
	for (i = strlen(prefix) + (size_t) (at - addr); buf[i] != 0; i++) {
		buf[i] = (char) tolower((unsigned char) buf[i]);
	}
}

void
pm_verify_key(const char *addr, char *buf, size_t size)
{
	verify_key(VERIFY_PREFIX, addr, buf, size);
}

static int
verify_addr_ok(const char *addr)
{
	size_t n = addr != NULL ? strlen(addr) : 0;

	return (n > 0 && n <= PM_ADDR_MAX);
}

/* ---- parameters ---- */

static int
cfg_time(const char *name, long min, long *out, char **err)
{
	char *v = pm_cfg_get(name);
	long secs;
	int rc = 0;

	if (v == NULL || pm_cfg_parse_time(pm_trim(v), 's', &secs) != 0 ||
	    secs < min || secs > 366L * 86400) {
		*err = pm_asprintf("%s: bad time \"%s\" (want %lds..366d)",
		    name, v ? v : "", min);
		rc = PM_EINVAL;
	} else {
		*out = secs;
	}
	free(v);
	return (rc);
}

int
pm_verify_cfg_read(pm_verify_cfg *cfg, char **err)
{
	pm_verify_cfg c;
	char *v;
	int rc;

	*err = NULL;
	if ((rc = cfg_time("address_verify_positive_expire_time", 1,
	         &c.pos_expire, err)) != 0 ||
	    (rc = cfg_time("address_verify_positive_refresh_time", 1,
	         &c.pos_refresh, err)) != 0 ||
	    (rc = cfg_time("address_verify_negative_expire_time", 1,
	         &c.neg_expire, err)) != 0 ||
	    (rc = cfg_time("address_verify_negative_refresh_time", 1,
	         &c.neg_refresh, err)) != 0 ||
	    (rc = cfg_time("address_verify_probe_ttl", 1, &c.probe_ttl, err)) !=
	        0) {
		return (rc);
	}
	v = pm_cfg_get("address_verify_negative_cache");
	if (v == NULL || pm_cfg_parse_bool(pm_trim(v), &c.neg_cache) != 0) {
		*err = pm_asprintf("address_verify_negative_cache: bad "
		                   "boolean \"%s\"",
		    v ? v : "");
		free(v);
		return (PM_EINVAL);
	}
	free(v);
	*cfg = c;
	return (0);
}

/* ---- the cache ---- */

pm_verify *
pm_verify_open(pm_qstore *qs, const pm_verify_cfg *cfg)
{
	pm_verify *v = pm_calloc(1, sizeof(*v));

	v->qs = qs;
	v->cfg = *cfg;
	v->br = pm_breaker_new();
	return (v);
}

pm_verify *
pm_verify_close(pm_verify *v)
{
	if (v != NULL) {
		pm_qstore_close(v->qs);
		pm_breaker_free(v->br);
		free(v);
	}
	return (NULL);
}

/* Called with the connection held. */
static int
verify_note(pm_verify *v, int rc)
{
	if (rc != 0 && rc != PM_ETOOBIG && !v->down) {
		v->down = 1;
		pm_msg_warn(
		    "verify: Redis %s unreachable: address "
		    "verification is not enforced until it answers (%s)",
		    pm_qstore_server(v->qs), pm_strerror(rc));
	} else if (rc == 0 && v->down) {
		v->down = 0;
		pm_msg_info("verify: Redis %s answers again: address "
		            "verification enforced",
		    pm_qstore_server(v->qs));
	}
	return (rc == 0 ? 0 : PM_EREDIS);
}

static int
verify_call(pm_verify *v, int argc, const char **argv, char **out, size_t nout,
    long long *num)
{
	int rc, failed;

	if (pm_breaker_enter(v->br) != 0) {
		return (PM_EREDIS);
	}
	rc = pm_qstore_strs(v->qs, argc, argv, out, nout, num);
	failed = rc != 0 && rc != PM_ETOOBIG;
	rc = verify_note(v, rc);
	pm_breaker_leave(v->br, failed);
	return (rc);
}

int
pm_verify_get(pm_verify *v, const char *addr, pm_verify_entry *e)
{
	char key[VERIFY_KEY_MAX];
	const char *argv[6] = { "HMGET", key, "status", "updated", "probed",
		"reason" };
	char *out[4];
	int rc;

	if (!verify_addr_ok(addr)) {
		return (PM_EINVAL);
	}
	pm_verify_key(addr, key, sizeof(key));
	if ((rc = verify_call(v, 6, argv, out, 4, NULL)) != 0) {
		return (rc);
	}
	memset(e, 0, sizeof(*e));
	e->status = pm_verify_status_code(out[0]);
	e->updated = out[1] ? strtoll(out[1], NULL, 10) : 0;
	e->probed = out[2] ? strtoll(out[2], NULL, 10) : 0;
	snprintf(e->reason, sizeof(e->reason), "%s", out[3] ? out[3] : "");
	pm_printable(e->reason);
	free(out[0]);
	free(out[1]);
	free(out[2]);
	free(out[3]);
	return (0);
}

int
pm_verify_decide(const pm_verify_cfg *cfg, const pm_verify_entry *e,
    long long now, int *probe)
{
	int recent = e->probed > 0 && now - e->probed < cfg->probe_ttl;
	long long age = now - e->updated;

	switch (e->status) {
	case PM_VERIFY_DELIVERABLE:
		if (age >= cfg->pos_expire) {
			break;
		}
		*probe = age >= cfg->pos_refresh && !recent;
		return (e->status);
	case PM_VERIFY_UNDELIVERABLE:
	case PM_VERIFY_DEFERRED:
		if (age >= cfg->neg_expire) {
			break;
		}
		*probe = age >= cfg->neg_refresh && !recent;
		return (e->status);
	case PM_VERIFY_PROBING:
		*probe = !recent;
		return (e->status);
	default:
		break;
	}
	*probe = !recent;
	return (PM_VERIFY_UNKNOWN);
}

int
pm_verify_claim(pm_verify *v, const char *addr, int *claimed)
{
	static const char script[] =
	    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) "
	    "then return 0 end "
	    "if redis.call('EXISTS', KEYS[1]) == 0 then "
	    "redis.call('HSET', KEYS[1], 'status', 'probing', 'updated', '0', "
	    "'probed', ARGV[1], 'reason', '') "
	    "redis.call('EXPIRE', KEYS[1], ARGV[2]) "
	    "else redis.call('HSET', KEYS[1], 'probed', ARGV[1]) end "
	    "return 1";
	char key[VERIFY_KEY_MAX], pkey[VERIFY_KEY_MAX];
	char now[32], ttl[32];
	const char *argv[7] = { "EVAL", script, "2", key, pkey, now, ttl };
	long long n = 0;
	int rc;

	*claimed = 0;
	if (!verify_addr_ok(addr)) {
		return (PM_EINVAL);
	}
	pm_verify_key(addr, key, sizeof(key));
	verify_key(VERIFY_PROBE_PREFIX, addr, pkey, sizeof(pkey));
	snprintf(now, sizeof(now), "%lld", (long long) time(NULL));
	snprintf(ttl, sizeof(ttl), "%ld", v->cfg.probe_ttl);
	if ((rc = verify_call(v, 7, argv, NULL, 0, &n)) != 0) {
		return (rc);
	}
	*claimed = n == 1;
	return (0);
}

int
pm_verify_update(pm_verify *v, const char *addr, int status, const char *reason)
{
	/*
	 * As Postfix's verify(8): a temporary failure does not clobber an
	 * address that was verified as deliverable (and has not expired:
	 * else the key would be gone).
	 */
	static const char script[] =
	    "local old = redis.call('HGET', KEYS[1], 'status') "
	    "redis.call('DEL', KEYS[2]) "
	    "if ARGV[1] == 'deferred' and old == 'deliverable' then "
	    "return 0 end "
	    "local p = redis.call('HGET', KEYS[1], 'probed') or ARGV[2] "
	    "redis.call('DEL', KEYS[1]) "
	    "redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated', "
	    "ARGV[2], 'probed', p, 'reason', ARGV[3]) "
	    "redis.call('EXPIRE', KEYS[1], ARGV[4]) "
	    "return 1";
	char key[VERIFY_KEY_MAX], pkey[VERIFY_KEY_MAX];
	char now[32], ttl[32], why[PM_VERIFY_REASON_MAX];
	const char *argv[9] = { "EVAL", script, "2", key, pkey, NULL, now, why,
		ttl };
	long life;

	if (!verify_addr_ok(addr) ||
	    (status != PM_VERIFY_DELIVERABLE &&
	        status != PM_VERIFY_UNDELIVERABLE &&
	        status != PM_VERIFY_DEFERRED)) {
		return (PM_EINVAL);
	}
	life = status == PM_VERIFY_DELIVERABLE ? v->cfg.pos_expire :
	    status == PM_VERIFY_UNDELIVERABLE && !v->cfg.neg_cache ?
	                                         v->cfg.probe_ttl :
	                                         v->cfg.neg_expire;
	pm_verify_key(addr, key, sizeof(key));
	verify_key(VERIFY_PROBE_PREFIX, addr, pkey, sizeof(pkey));
	argv[5] = pm_verify_status_name(status);
	snprintf(now, sizeof(now), "%lld", (long long) time(NULL));
	snprintf(ttl, sizeof(ttl), "%ld", life);
	snprintf(why, sizeof(why), "%s", reason ? reason : "");
	pm_printable(why);
	return (verify_call(v, 9, argv, NULL, 0, NULL));
}
