/*
 * NAME
 *	test_qstore_info - pm_qstore_memory: Redis used_memory and maxmemory
 * DESCRIPTION
 *	A real redis-server with maxmemory 64mb: pm_qstore_memory() gives
 *	maxmemory 67108864 and a used_memory that grows by at least the
 *	size of a 2 MB value stored (and agrees with INFO read here);
 *	CONFIG SET maxmemory 0 gives 0. An ACL user without INFO gets
 *	PM_EREDIS and the outputs untouched; Redis killed: PM_EREDIS.
 *	qmgr exports the two values (qmgr_gauges.c), which
 *	tests/integration/test_dashboard.py finds scraped by Prometheus.
 */
#include <criterion/criterion.h>

#include <signal.h>

#include "pm_log.h"
#include "qstore_helper.h"

#define PASS "s3cret-Pa55"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_info");
}

static void
teardown(void)
{
	rh_stop(&srv);
	pm_qstore_set_auth(NULL, NULL);
}

TestSuite(qstore_info, .init = setup, .fini = teardown, .timeout = 60);

/* used_memory as INFO says it, read on the test's own connection. */
static long long
raw_used(void)
{
	redisReply *r = rh_cmd(&srv, "INFO memory");
	const char *p;
	long long v;

	cr_assert(r->type == REDIS_REPLY_STRING);
	p = strstr(r->str, "\nused_memory:");
	cr_assert(p != NULL, "INFO memory without used_memory: %s", r->str);
	v = strtoll(p + 13, NULL, 10);
	freeReplyObject(r);
	return (v);
}

Test(qstore_info, used_and_max)
{
	static const char *const args[] = { "--maxmemory", "64mb", NULL };
	long long used = -1, max = -1, used2 = -1, max2 = -1, before, after;
	pm_qstore *qs;
	char *big;
	int rc;

	rh_start_with(&srv, args);
	qs = open_qs("redis", 1);
	before = raw_used();
	rc = pm_qstore_memory(qs, &used, &max);
	after = raw_used();
	cr_assert_eq(rc, 0, "pm_qstore_memory: got %d, want 0", rc);
	cr_expect_eq(max, 64LL * 1024 * 1024, "maxmemory: got %lld", max);
	/* within what INFO said just before and after (a little slack:
	 * our own connection's buffers count too) */
	cr_expect(used > 0 && used >= before / 2 && used <= 2 * after,
	    "used_memory %lld, INFO said %lld then %lld", used, before, after);

	big = pm_malloc(2 * 1024 * 1024 + 1);
	memset(big, 'x', 2 * 1024 * 1024);
	big[2 * 1024 * 1024] = 0;
	rh_ok(&srv, "SET pm:test:big %s", big);
	free(big);
	rc = pm_qstore_memory(qs, &used2, &max2);
	cr_assert_eq(rc, 0);
	cr_expect_geq(used2, used + 2 * 1024 * 1024,
	    "used_memory after 2 MB: got %lld, was %lld", used2, used);
	cr_expect_eq(max2, max);

	rh_ok(&srv, "CONFIG SET maxmemory 0");
	rc = pm_qstore_memory(qs, &used, &max);
	cr_assert_eq(rc, 0);
	cr_expect_eq(max, 0, "maxmemory 0 (no limit): got %lld", max);

	rh_kill(&srv, SIGKILL);
	used = max = 7;
	rc = pm_qstore_memory(qs, &used, &max);
	cr_expect_eq(rc, PM_EREDIS, "Redis killed: got %d, want %d", rc,
	    PM_EREDIS);
	cr_expect(used == 7 && max == 7, "outputs changed on failure");
	cr_expect_eq(pm_qstore_memory(qs, NULL, &max), PM_EINVAL);
	pm_qstore_close(qs);
	leak_check();
}

Test(qstore_info, acl_without_info)
{
	static const char *const args[] = { "--user", "postmesh", "on",
		">" PASS, "~pm:*", "&*", "+@all", "-info", NULL };
	long long used = 7, max = 7;
	pm_qstore *qs;
	int rc;

	rh_start_with(&srv, args);
	pm_qstore_set_auth("postmesh", PASS);
	qs = open_qs("redis", 1);
	rc = pm_qstore_memory(qs, &used, &max);
	cr_expect_eq(rc, PM_EREDIS, "INFO refused (-NOPERM): got %d, want %d",
	    rc, PM_EREDIS);
	cr_expect(used == 7 && max == 7, "outputs changed on failure");
	/* the connection is still good for everything else */
	rc = pm_qstore_probe(qs);
	cr_expect_eq(rc, 0, "probe after -NOPERM: got %d", rc);
	pm_qstore_close(qs);
	leak_check();
}
