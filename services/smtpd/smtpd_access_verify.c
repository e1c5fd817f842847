/*
 * NAME
 *	smtpd_access_verify - reject_unverified_recipient and
 *	reject_unverified_sender (Postfix's address verification)
 * DESCRIPTION
 *	pm__access_verify_new() reads unverified_{recipient,sender}_
 *	{reject_code,defer_code,reject_reason,tempfail_action},
 *	address_verify_poll_count, address_verify_poll_delay and the
 *	cache times (pm_verify_cfg_read). pm_access_set_verify() gives
 *	the cache (pm_verify) and the function that queues a probe
 *	(smtpd: a PM_MSG_PROBE message through cleanup, smtpd_verify.c).
 *
 *	pm__access_verify() evaluates one of the two restrictions as
 *	Postfix's smtpd_check.c reject_unverified_address() does, on a
 *	check thread (blocking waits are allowed there):
 *	- the null sender is not verified;
 *	- deliverable: no decision (DUNNO);
 *	- undeliverable: unverified_*_reject_code (450)
 *	  "<a>: Recipient address rejected: undeliverable address: <the
 *	  probe's reply>" (or unverified_*_reject_reason when set);
 *	- unknown or probing: a probe is queued unless one is pending
 *	  (pm_verify_claim: one probe per address for every replica),
 *	  then the cache is polled address_verify_poll_count times,
 *	  address_verify_poll_delay apart, for a result; without one,
 *	  or for a deferred result, unverified_*_defer_code (450)
 *	  "4.1.1 <a>: Recipient address rejected: unverified address:
 *	  <reason>" ("Address verification in progress" while probing);
 *	- an entry due for refresh answers with what it holds and queues
 *	  a new probe (Postfix's refresh times).
 *	Polling blocks a check thread shared by every client, so at most
 *	address_verify_poll_limit restrictions poll at one time in the
 *	process (Postmesh; 0: a quarter of smtpd_check_threads, at least
 *	1); above it the unknown address gets the defer reply at once
 *	(its probe is queued all the same): many unverified recipients
 *	cannot hold every check thread while other clients wait.
 *	Redis or the probe queue unavailable: unverified_*_tempfail_action
 *	(default $reject_tempfail_action = defer_if_permit, as Postfix:
 *	450 4.1.1 "address verification problem" if nothing else rejects
 *	and the mail would be accepted; "defer": that reply at once;
 *	Postmesh "dunno": fail open, no decision).
 *	Metric: postmesh_smtpd_verify_cache_total{result=hit_deliverable|
 *	hit_undeliverable|miss|probing} per lookup (deferred results
 *	count as miss).
 * LIMITS
 *	A restriction blocks its check thread at most
 *	address_verify_poll_count * address_verify_poll_delay plus one
 *	Redis call (redis_timeout) per poll and one cleanup call; at
 *	most address_verify_poll_limit threads poll at one time.
 * SECURITY
 *	Addresses are client data checked by smtpd; reasons come from
 *	remote servers through the cache and are made printable again by
 *	pm__access_reply().
 */
#include "smtpd_access.h"
#include "smtpd_access_priv.h"
#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VT_DEFER_IF_PERMIT 0
#define VT_DEFER 1
#define VT_DUNNO 2

struct pm__averify {
	int rcode[2]; /* [0] recipient, [1] sender */
	int dcode[2];
	char *reason[2];
	int tempfail[2];
	long poll_count;
	long poll_delay;
	long poll_limit; /* threads polling at one time */
	pm_verify_cfg cfg;
	pm_verify *v; /* not owned */
	pm_access_prober probe;
	void *probe_arg;
};

static pm_metric *vm_hit_ok, *vm_hit_bad, *vm_miss, *vm_probing;

/* Check threads polling now (every pm_access shares the one pool). */
static long av_polling;

static char *
av_param(const char *name)
{
	char *v = pm_cfg_get(name);

	return (v != NULL ? v : pm_strdup(""));
}

static int
av_long(const char *name, long min, long max, int time, long *out, char **err)
{
	char *v = av_param(name);
	int rc;

	rc = time ? pm_cfg_parse_time(pm_trim(v), 's', out) :
	            pm_cfg_parse_long(pm_trim(v), out);
	if (rc != 0 || *out < min || *out > max) {
		*err = pm_asprintf("%s: bad value \"%s\" (want %ld..%ld)", name,
		    v, min, max);
		free(v);
		return (PM_EINVAL);
	}
	free(v);
	return (0);
}

static int
av_tempfail(const char *name, int *out, char **err)
{
	char *v = av_param(name);
	const char *t = pm_trim(v);

	if (strcmp(t, "defer_if_permit") == 0) {
		*out = VT_DEFER_IF_PERMIT;
	} else if (strcmp(t, "defer") == 0) {
		*out = VT_DEFER;
	} else if (strcmp(t, "dunno") == 0) {
		*out = VT_DUNNO;
	} else {
		*err = pm_asprintf("%s: want defer_if_permit, defer or dunno, "
		                   "got \"%s\"",
		    name, t);
		free(v);
		return (PM_EINVAL);
	}
	free(v);
	return (0);
}

/*
 * smtpd_check_threads (16 when unset or bad, as smtpd's default), read
 * once: the pool is sized at start and a reload does not resize it, so
 * a reload must neither use a new value nor look it up (a lookup during
 * a reload would be reported as "applied").
 */
static long
av_check_threads(void)
{
	static _Atomic long cached;
	char *v;
	long n = atomic_load(&cached);

	if (n > 0) {
		return (n);
	}
	v = pm_cfg_get("smtpd_check_threads");
	if (v == NULL || pm_cfg_parse_long(pm_trim(v), &n) != 0 || n < 1) {
		n = 16;
	}
	free(v);
	atomic_store(&cached, n);
	return (n);
}

pm__averify *
pm__access_verify_free(pm__averify *av)
{
	if (av != NULL) {
		free(av->reason[0]);
		free(av->reason[1]);
		free(av);
	}
	return (NULL);
}

int
pm__access_verify_new(pm__averify **out, char **err)
{
	static const char *const who[2] = { "recipient", "sender" };
	static const char *nm = "smtpd_verify_cache_total";
	static const char *help = "Address verification cache lookups by "
	                          "reject_unverified_*, by result";
	pm__averify *av = pm_calloc(1, sizeof(*av));
	char name[64];
	long n;
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "unverified_%s_reject_code",
		    who[i]);
		if (av_long(name, 400, 599, 0, &n, err) != 0) {
			goto fail;
		}
		av->rcode[i] = (int) n;
		snprintf(name, sizeof(name), "unverified_%s_defer_code",
		    who[i]);
		if (av_long(name, 400, 499, 0, &n, err) != 0) {
			goto fail;
		}
		av->dcode[i] = (int) n;
		snprintf(name, sizeof(name), "unverified_%s_reject_reason",
		    who[i]);
		av->reason[i] = av_param(name);
		snprintf(name, sizeof(name), "unverified_%s_tempfail_action",
		    who[i]);
		if (av_tempfail(name, &av->tempfail[i], err) != 0) {
			goto fail;
		}
	}
	if (av_long("address_verify_poll_count", 0, 100, 0, &av->poll_count,
	        err) != 0 ||
	    av_long("address_verify_poll_delay", 0, 60, 1, &av->poll_delay,
	        err) != 0 ||
	    av_long("address_verify_poll_limit", 0, 1024, 0, &av->poll_limit,
	        err) != 0 ||
	    pm_verify_cfg_read(&av->cfg, err) != 0) {
		goto fail;
	}
	if (av->poll_limit == 0) {
		av->poll_limit = av_check_threads() / 4;
		av->poll_limit = av->poll_limit > 0 ? av->poll_limit : 1;
	}
	vm_hit_ok = pm_metric_counter(nm, help, "result=\"hit_deliverable\"");
	vm_hit_bad =
	    pm_metric_counter(nm, help, "result=\"hit_undeliverable\"");
	vm_miss = pm_metric_counter(nm, help, "result=\"miss\"");
	vm_probing = pm_metric_counter(nm, help, "result=\"probing\"");
	*out = av;
	return (0);
fail:
	pm__access_verify_free(av);
	return (PM_EINVAL);
}

void
pm_access_set_verify(pm_access *a, pm_verify *v, pm_access_prober fn, void *arg)
{
	if (a->verify != NULL) {
		a->verify->v = v;
		a->verify->probe = fn;
		a->verify->probe_arg = arg;
	}
}

/* Redis or the probe queue failed: unverified_*_tempfail_action. */
static int
av_tempfail_reply(pm__actx *c, const pm__averify *av, int snd, const char *addr,
    const char *cls)
{
	switch (av->tempfail[snd]) {
	case VT_DEFER:
		return (pm__access_reply(c, av->dcode[snd],
		    snd ? "4.1.7" : "4.1.1",
		    "<%s>: %s rejected: address verification problem", addr,
		    cls));
	case VT_DEFER_IF_PERMIT:
		pm__access_defer_if(c, 1, av->dcode[snd],
		    snd ? "4.1.7" : "4.1.1",
		    "<%s>: %s rejected: address verification problem", addr,
		    cls);
		return (PM__DUNNO);
	default:
		return (PM__DUNNO);
	}
}

/* Queue a probe unless one is pending. 0, or PM_E* (tempfail). */
static int
av_probe(pm__actx *c, pm__averify *av, const char *addr)
{
	int claimed = 0, rc;

	if ((rc = pm_verify_claim(av->v, addr, &claimed)) != 0) {
		return (rc);
	}
	if (!claimed) {
		return (0); /* another smtpd (or this one) sent it */
	}
	if (av->probe == NULL) {
		return (PM_ECONNREFUSED);
	}
	if ((rc = av->probe(av->probe_arg, addr)) != 0) {
		pm_msg_warn("%s: verify: cannot queue a probe for <%s>: %s",
		    c->st->queue_id ? c->st->queue_id : "NOQUEUE", addr,
		    pm_strerror(rc));
	}
	return (rc);
}

int
pm__access_verify(pm__actx *c, int snd)
{
	pm__averify *av = c->a->verify;
	const char *addr = snd ? c->st->sender : c->st->recipient;
	const char *cls = snd ? "Sender address" : "Recipient address";
	pm_verify_entry e;
	long i;
	int st, probe, rc, poll = 1;

	if (addr == NULL || addr[0] == 0) {
		return (PM__DUNNO); /* the null sender is not verified */
	}
	if (av == NULL || av->v == NULL) {
		return (av != NULL ? av_tempfail_reply(c, av, snd, addr, cls) :
		                     pm__access_server_error(c));
	}
	if (pm_verify_get(av->v, addr, &e) != 0) {
		return (av_tempfail_reply(c, av, snd, addr, cls));
	}
	st = pm_verify_decide(&av->cfg, &e, (long long) time(NULL), &probe);
	pm_metric_inc(st == PM_VERIFY_DELIVERABLE ? vm_hit_ok :
	        st == PM_VERIFY_UNDELIVERABLE     ? vm_hit_bad :
	        st == PM_VERIFY_PROBING           ? vm_probing :
	                                            vm_miss);
	if (probe && av_probe(c, av, addr) != 0 &&
	    st != PM_VERIFY_DELIVERABLE && st != PM_VERIFY_UNDELIVERABLE) {
		return (av_tempfail_reply(c, av, snd, addr, cls));
	}
	/*
	 * Postfix polls while the status is unknown ("TODO") only; here
	 * only when fewer than poll_limit check threads already do.
	 */
	if ((st == PM_VERIFY_UNKNOWN || st == PM_VERIFY_PROBING) &&
	    av->poll_count > 0) {
		if (__atomic_add_fetch(&av_polling, 1, __ATOMIC_SEQ_CST) >
		    av->poll_limit) {
			poll = 0;
		}
		for (i = 0; poll &&
		     (st == PM_VERIFY_UNKNOWN || st == PM_VERIFY_PROBING) &&
		     i < av->poll_count;
		     i++) {
			sleep((unsigned) av->poll_delay);
			if ((rc = pm_verify_get(av->v, addr, &e)) != 0) {
				__atomic_sub_fetch(&av_polling, 1,
				    __ATOMIC_SEQ_CST);
				return (av_tempfail_reply(c, av, snd, addr,
				    cls));
			}
			st = pm_verify_decide(&av->cfg, &e,
			    (long long) time(NULL), &probe);
		}
		__atomic_sub_fetch(&av_polling, 1, __ATOMIC_SEQ_CST);
	}
	switch (st) {
	case PM_VERIFY_DELIVERABLE:
		return (PM__DUNNO);
	case PM_VERIFY_UNDELIVERABLE:
		return (pm__access_reply(c, av->rcode[snd],
		    snd ? "5.1.7" : "5.1.1",
		    "<%s>: %s rejected: undeliverable address: %s", addr, cls,
		    av->reason[snd][0] ? av->reason[snd] : e.reason));
	case PM_VERIFY_DEFERRED:
		return (pm__access_reply(c, av->dcode[snd],
		    snd ? "4.1.7" : "4.1.1",
		    "<%s>: %s rejected: unverified address: %s", addr, cls,
		    e.reason[0] ? e.reason : "Address verification failed"));
	default:
		return (pm__access_reply(c, av->dcode[snd],
		    snd ? "4.1.7" : "4.1.1",
		    "<%s>: %s rejected: unverified address: Address "
		    "verification in progress",
		    addr, cls));
	}
}
