/*
 * NAME
 *	pm_verify - address verification cache and probe dedupe (Redis)
 * SUMMARY
 *	#include "pm_verify.h"
 * DESCRIPTION
 *	Postfix's verify(8) as a library: its state is a cache that every
 *	smtpd (which asks) and the queue manager (which records probe
 *	outcomes) reach directly in Redis, so there is no verify process
 *	and no extra RPC hop.
 *
 *	One hash per address, "pm:cache:verify:<address>" (the domain
 *	lower-cased), fields status (deliverable, undeliverable,
 *	deferred or probing), updated and probed (seconds since the
 *	epoch) and reason (the probe's reply text), with a key time to
 *	live: address_verify_positive_expire_time for deliverable,
 *	address_verify_negative_expire_time for undeliverable and
 *	deferred (with address_verify_negative_cache = no an
 *	undeliverable result lives only address_verify_probe_ttl: long
 *	enough for the smtpd that waits for it, then the next lookup
 *	probes again), address_verify_probe_ttl for a "probing" entry.
 *
 *	pm_verify_cfg_read() reads those parameters (pm_cfg, defaults in
 *	pm_params.c). pm_verify_open() takes a store connection (kept).
 *	pm_verify_get() reads an entry (status PM_VERIFY_UNKNOWN when
 *	there is none). pm_verify_decide() is Postfix's verify_query
 *	logic without I/O: an entry past its expire time counts as
 *	unknown; a missing or unknown entry, or one past its refresh time
 *	(positive or negative), wants a probe unless one was sent within
 *	address_verify_probe_ttl (field probed). pm_verify_claim() is the
 *	dedupe: SET "pm:cache:verify-probe:<address>" NX EX
 *	address_verify_probe_ttl, and when it is new, it also records
 *	probed = now (and status probing if there was no entry), in one
 *	script; *claimed says whether this caller must send the probe, so
 *	many smtpd replicas send one probe per address.
 *	pm_verify_update() records a probe outcome (and removes the dedupe
 *	key: the next refresh decision follows the new entry).
 *
 *	All return 0, PM_EINVAL (an address that is empty or too long),
 *	or PM_EREDIS: callers fail open (Postfix's unverified_*_
 *	tempfail_action), and pm_verify logs one warning per outage and
 *	one line when Redis answers again. Thread-safe: the one
 *	connection is behind a pm_breaker (after a failure, PM_EREDIS at
 *	once for redis_cache_retry_delay; no queueing behind a slow
 *	call).
 * LIMITS
 *	Addresses up to PM_ADDR_MAX bytes; a reason is cut at
 *	PM_VERIFY_REASON_MAX - 1 bytes; one Redis round trip per call,
 *	each within redis_timeout.
 * SECURITY
 *	Addresses are client data: they go into key names only (Redis
 *	keys are binary safe). Reasons come from remote servers: made
 *	printable before they are stored, and again when read.
 */
#ifndef PM_VERIFY_H
#define PM_VERIFY_H

#include "pm_qstore.h"

#define PM_VERIFY_UNKNOWN 0
#define PM_VERIFY_DELIVERABLE 1
#define PM_VERIFY_UNDELIVERABLE 2
#define PM_VERIFY_DEFERRED 3
#define PM_VERIFY_PROBING 4

#define PM_VERIFY_REASON_MAX 256

typedef struct pm_verify_cfg {
	long pos_expire;  /* address_verify_positive_expire_time */
	long pos_refresh; /* address_verify_positive_refresh_time */
	long neg_expire;  /* address_verify_negative_expire_time */
	long neg_refresh; /* address_verify_negative_refresh_time */
	int neg_cache;    /* address_verify_negative_cache */
	long probe_ttl;   /* address_verify_probe_ttl */
} pm_verify_cfg;

typedef struct pm_verify_entry {
	int status;        /* PM_VERIFY_* */
	long long updated; /* last outcome, 0: none */
	long long probed;  /* last probe sent, 0: none */
	char reason[PM_VERIFY_REASON_MAX];
} pm_verify_entry;

typedef struct pm_verify pm_verify;

/* Read the parameters; PM_EINVAL and *err (a new string) when bad. */
int pm_verify_cfg_read(pm_verify_cfg *cfg, char **err);

/* qs becomes owned; cfg is copied. */
pm_verify *pm_verify_open(pm_qstore *qs, const pm_verify_cfg *cfg);
pm_verify *pm_verify_close(pm_verify *v);

int pm_verify_get(pm_verify *v, const char *addr, pm_verify_entry *e);

/*
 * The status to answer with (PM_VERIFY_UNKNOWN for an expired entry)
 * and, in *probe, whether a probe is due now.
 */
int pm_verify_decide(const pm_verify_cfg *cfg, const pm_verify_entry *e,
    long long now, int *probe);

int pm_verify_claim(pm_verify *v, const char *addr, int *claimed);

/* status: DELIVERABLE, UNDELIVERABLE or DEFERRED. */
int pm_verify_update(pm_verify *v, const char *addr, int status,
    const char *reason);

/* "deliverable", ... ; and back (PM_VERIFY_UNKNOWN if none matches). */
const char *pm_verify_status_name(int status);
int pm_verify_status_code(const char *name);

/* The cache key of addr ("pm:cache:verify:<address>"). */
void pm_verify_key(const char *addr, char *buf, size_t size);

#endif
