/*
 * NAME
 *	test_verify - pm_verify: the address verification cache in Redis
 * DESCRIPTION
 *	pm_verify_decide() as a table (fresh, due for refresh, expired,
 *	probed recently, probing); against a private redis-server: an
 *	unknown address, the probe dedupe shared by two pm_verify (two
 *	smtpd replicas: one claim wins, the entry says probing with the
 *	dedupe time to live), outcomes with their key time to live
 *	(positive and negative expire times, address_verify_negative_cache
 *	= no), a deferred outcome that does not clobber a deliverable
 *	entry, the key's lower-cased domain, a hostile reason made
 *	printable, bad addresses, and a stopped Redis (PM_EREDIS, then
 *	working again).
 */
#include "pm_verify.h"
#include "pm_addr.h"
#include "pm_util.h"
#include "redis_helper.h"

#include <unistd.h>

#include <time.h>

static const pm_verify_cfg cfg = {
	.pos_expire = 31 * 86400,
	.pos_refresh = 7 * 86400,
	.neg_expire = 3 * 86400,
	.neg_refresh = 3 * 3600,
	.neg_cache = 1,
	.probe_ttl = 1000,
};

static pm_verify *
verify_on(const rh_server *srv, const pm_verify_cfg *c)
{
	pm_qstore *qs = pm_qstore_open(srv->addr, 2000, "redis", 1);

	cr_assert_not_null(qs);
	return (pm_verify_open(qs, c));
}

Test(verify, decide_table)
{
	static const struct {
		int status;
		long long updated_ago, probed_ago; /* -1: never */
		int want, want_probe;
	} cases[] = {
		{ PM_VERIFY_UNKNOWN, -1, -1, PM_VERIFY_UNKNOWN, 1 },
		{ PM_VERIFY_UNKNOWN, -1, 10, PM_VERIFY_UNKNOWN, 0 },
		{ PM_VERIFY_PROBING, -1, 10, PM_VERIFY_PROBING, 0 },
		{ PM_VERIFY_PROBING, -1, 1000, PM_VERIFY_PROBING, 1 },
		{ PM_VERIFY_DELIVERABLE, 60, 70, PM_VERIFY_DELIVERABLE, 0 },
		{ PM_VERIFY_DELIVERABLE, 7 * 86400, 7 * 86400,
		    PM_VERIFY_DELIVERABLE, 1 },
		{ PM_VERIFY_DELIVERABLE, 7 * 86400, 5, PM_VERIFY_DELIVERABLE,
		    0 },
		{ PM_VERIFY_DELIVERABLE, 31 * 86400, 31 * 86400,
		    PM_VERIFY_UNKNOWN, 1 },
		{ PM_VERIFY_UNDELIVERABLE, 60, 70, PM_VERIFY_UNDELIVERABLE, 0 },
		{ PM_VERIFY_UNDELIVERABLE, 3 * 3600, 3 * 3600,
		    PM_VERIFY_UNDELIVERABLE, 1 },
		{ PM_VERIFY_UNDELIVERABLE, 3 * 86400, 3 * 86400,
		    PM_VERIFY_UNKNOWN, 1 },
		{ PM_VERIFY_DEFERRED, 3 * 3600 - 1, 3 * 3600,
		    PM_VERIFY_DEFERRED, 0 },
		{ PM_VERIFY_DEFERRED, 3 * 3600, 3 * 3600, PM_VERIFY_DEFERRED,
		    1 },
	};
	long long now = 2000000000LL;
	pm_verify_entry e;
	size_t i;
	int got, probe;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.status = cases[i].status;
		e.updated =
		    cases[i].updated_ago < 0 ? 0 : now - cases[i].updated_ago;
		e.probed =
		    cases[i].probed_ago < 0 ? 0 : now - cases[i].probed_ago;
		probe = -1;
		got = pm_verify_decide(&cfg, &e, now, &probe);
		cr_expect_eq(got, cases[i].want, "case %zu: got %s, want %s", i,
		    pm_verify_status_name(got),
		    pm_verify_status_name(cases[i].want));
		cr_expect_eq(probe, cases[i].want_probe,
		    "case %zu: got probe %d, want %d", i, probe,
		    cases[i].want_probe);
	}
}

Test(verify, names_and_keys)
{
	char key[400];
	int i;

	for (i = PM_VERIFY_DELIVERABLE; i <= PM_VERIFY_PROBING; i++) {
		cr_expect_eq(pm_verify_status_code(pm_verify_status_name(i)),
		    i);
	}
	cr_expect_eq(pm_verify_status_code("bogus"), PM_VERIFY_UNKNOWN);
	cr_expect_eq(pm_verify_status_code(NULL), PM_VERIFY_UNKNOWN);
	cr_expect_str_eq(pm_verify_status_name(99), "unknown");
	pm_verify_key("Joe.User@Example.COM", key, sizeof(key));
	cr_expect_str_eq(key, "pm:cache:verify:Joe.User@example.com");
	pm_verify_key("postmaster", key, sizeof(key));
	cr_expect_str_eq(key, "pm:cache:verify:postmaster");
}

Test(verify, cache_and_dedupe)
{
	static rh_server srv;
	pm_verify_cfg nc = cfg;
	pm_verify *a, *b, *n;
	pm_verify_entry e;
	char *s;
	char big[PM_ADDR_MAX + 2];
	long long ttl;
	int claimed, probe;

	rh_start(&srv);
	a = verify_on(&srv, &cfg);
	b = verify_on(&srv, &cfg);

	/* Unknown: no entry, a probe is due. */
	cr_assert_eq(pm_verify_get(a, "u@Example.com", &e), 0);
	cr_expect_eq(e.status, PM_VERIFY_UNKNOWN);
	cr_expect_eq(pm_verify_decide(&cfg, &e, time(NULL), &probe),
	    PM_VERIFY_UNKNOWN);
	cr_expect_eq(probe, 1);

	/* Two replicas: one claim wins; the entry says probing. */
	cr_assert_eq(pm_verify_claim(a, "u@Example.com", &claimed), 0);
	cr_expect_eq(claimed, 1);
	cr_assert_eq(pm_verify_claim(b, "u@example.COM", &claimed), 0);
	cr_expect_eq(claimed, 0, "second replica claimed the probe too");
	cr_assert_eq(pm_verify_get(b, "u@example.com", &e), 0);
	cr_expect_eq(e.status, PM_VERIFY_PROBING, "got %s",
	    pm_verify_status_name(e.status));
	cr_expect(e.probed > 0);
	cr_expect_eq(pm_verify_decide(&cfg, &e, time(NULL), &probe),
	    PM_VERIFY_PROBING);
	cr_expect_eq(probe, 0, "a probe is pending: no new one");
	ttl = rh_int(&srv, "TTL pm:cache:verify:u@example.com");
	cr_expect(ttl > 990 && ttl <= 1000, "probing ttl %lld", ttl);
	ttl = rh_int(&srv, "TTL pm:cache:verify-probe:u@example.com");
	cr_expect(ttl > 990 && ttl <= 1000, "dedupe ttl %lld", ttl);

	/* The outcome: deliverable, positive expire time, dedupe gone. */
	cr_assert_eq(pm_verify_update(b, "u@example.com", PM_VERIFY_DELIVERABLE,
	                 "250 2.1.5 Ok"),
	    0);
	cr_assert_eq(pm_verify_get(a, "u@example.com", &e), 0);
	cr_expect_eq(e.status, PM_VERIFY_DELIVERABLE);
	cr_expect_str_eq(e.reason, "250 2.1.5 Ok");
	cr_expect(e.updated > 0 && e.probed > 0);
	cr_expect_eq(pm_verify_decide(&cfg, &e, time(NULL), &probe),
	    PM_VERIFY_DELIVERABLE);
	cr_expect_eq(probe, 0);
	ttl = rh_int(&srv, "TTL pm:cache:verify:u@example.com");
	cr_expect(ttl > 31 * 86400 - 10 && ttl <= 31 * 86400, "ttl %lld", ttl);
	cr_expect_eq(rh_nkeys(&srv, "pm:cache:verify-probe:*"), 0);
	s = rh_str(&srv, "HGET pm:cache:verify:u@example.com status");
	cr_expect_str_eq(s, "deliverable");
	free(s);

	/* A temporary failure does not clobber a deliverable entry. */
	cr_assert_eq(pm_verify_update(a, "u@example.com", PM_VERIFY_DEFERRED,
	                 "421 busy"),
	    0);
	cr_assert_eq(pm_verify_get(a, "u@example.com", &e), 0);
	cr_expect_eq(e.status, PM_VERIFY_DELIVERABLE);

	/* Undeliverable: negative expire time; a hostile reason. */
	cr_assert_eq(pm_verify_update(a, "bad@example.com",
	                 PM_VERIFY_UNDELIVERABLE,
	                 "550 5.1.1 no\r\nsuch\001user"),
	    0);
	cr_assert_eq(pm_verify_get(b, "bad@example.com", &e), 0);
	cr_expect_eq(e.status, PM_VERIFY_UNDELIVERABLE);
	cr_expect_eq(strpbrk(e.reason, "\r\n\001"), NULL, "%s", e.reason);
	ttl = rh_int(&srv, "TTL pm:cache:verify:bad@example.com");
	cr_expect(ttl > 3 * 86400 - 10 && ttl <= 3 * 86400, "ttl %lld", ttl);

	/* Deferred on an unknown address: negative times too. */
	cr_assert_eq(pm_verify_update(a, "slow@example.com", PM_VERIFY_DEFERRED,
	                 "connect refused"),
	    0);
	cr_assert_eq(pm_verify_get(b, "slow@example.com", &e), 0);
	cr_expect_eq(e.status, PM_VERIFY_DEFERRED);
	ttl = rh_int(&srv, "TTL pm:cache:verify:slow@example.com");
	cr_expect(ttl > 3 * 86400 - 10 && ttl <= 3 * 86400, "ttl %lld", ttl);

	/* address_verify_negative_cache = no: kept for the dedupe time. */
	nc.neg_cache = 0;
	nc.probe_ttl = 77;
	n = verify_on(&srv, &nc);
	cr_assert_eq(pm_verify_update(n, "gone@example.com",
	                 PM_VERIFY_UNDELIVERABLE, "550 gone"),
	    0);
	ttl = rh_int(&srv, "TTL pm:cache:verify:gone@example.com");
	cr_expect(ttl > 60 && ttl <= 77, "ttl %lld", ttl);

	/* Bad input. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cr_expect_eq(pm_verify_get(a, "", &e), PM_EINVAL);
	cr_expect_eq(pm_verify_claim(a, big, &claimed), PM_EINVAL);
	cr_expect_eq(pm_verify_update(a, "x@y", PM_VERIFY_PROBING, ""),
	    PM_EINVAL);

	/* Redis down: an error (the caller fails open); back: working. */
	rh_kill(&srv, SIGKILL);
	cr_expect_eq(pm_verify_get(a, "u@example.com", &e), PM_EREDIS);
	cr_expect_eq(pm_verify_claim(a, "new@example.com", &claimed),
	    PM_EREDIS);
	cr_expect_eq(claimed, 0);
	rh_start(&srv);
	usleep(1100 *
	    1000); /* the circuit opened for redis_cache_retry_delay */
	cr_expect_eq(pm_verify_get(a, "u@example.com", &e), 0);
	cr_expect_eq(e.status, PM_VERIFY_DELIVERABLE);

	pm_verify_close(a);
	pm_verify_close(b);
	pm_verify_close(n);
	rh_stop(&srv);
}
