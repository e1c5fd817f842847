/*
 * NAME
 *	test_table_redis - unit tests for redis: tables, the atomic table
 *	replace of postalias, and texthash: tables in aliases(5) form
 * DESCRIPTION
 *	Against a real redis-server (redis_helper.h): lookups (case folded
 *	keys, bounded values, NUL bytes), Redis down gives a temporary
 *	error and never "not found", the table works again after Redis
 *	comes back; pm_qstore_table_replace() removes names that are gone
 *	and never touches keys outside its (glob-escaped) prefix.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm_cfg.h"
#include "pm_common_params.h"
#include "pm_qstore_table.h"
#include "pm_server_queue.h"
#include "pm_table.h"
#include "pm_util.h"
#include "redis_helper.h"

static rh_server srv;

static void
setup(void)
{
	rh_start(&srv);
	pm_cfg_reset();
	pm_cfg_set("redis_server", srv.addr);
	pm_cfg_set("redis_timeout", "2s");
	pm_common_params_bind();
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(table_redis, .init = setup, .fini = teardown);

static void
expect_get(pm_table *t, const char *key, int want_rc, const char *want)
{
	char *v = NULL;
	int rc = pm_table_get(t, key, &v);

	cr_expect_eq(rc, want_rc, "key \"%s\": got rc %d (%s), want %d", key,
	    rc, pm_strerror(rc), want_rc);
	if (rc == 0 && want != NULL) {
		cr_expect_str_eq(v, want, "key \"%s\": got \"%s\", want \"%s\"",
		    key, v, want);
	}
	free(v);
}

Test(table_redis, lookup)
{
	const char *err = NULL;
	pm_table *t;
	char *big;

	rh_ok(&srv, "SET pm:alias:root %s", "admin, \"|/bin/x y\"");
	rh_ok(&srv, "SET pm:alias:postmaster root");
	rh_ok(&srv, "SET %b %b", "pm:alias:nul", (size_t) 12, "a\0b",
	    (size_t) 3);
	big = pm_malloc(70000);
	memset(big, 'x', 69999);
	big[69999] = 0;
	rh_ok(&srv, "SET pm:alias:big %s", big);
	free(big);

	t = pm_table_open("redis:pm:alias:", &err);
	cr_assert_not_null(t, "open: %s", err);
	expect_get(t, "root", 0, "admin, \"|/bin/x y\"");
	expect_get(t, "ROOT", 0, "admin, \"|/bin/x y\"");
	expect_get(t, "PostMaster", 0, "root");
	expect_get(t, "nobody", PM_ENOENT, NULL);
	expect_get(t, "", PM_ENOENT, NULL);
	expect_get(t, "nul", PM_EPROTO, NULL);
	expect_get(t, "big", PM_ETOOBIG, NULL);
	pm_table_close(t);

	/* An empty prefix would reach every key (the queue's too). */
	cr_expect_null(pm_table_open("redis:", &err));
	cr_expect(strstr(err, "prefix") != NULL, "got %s", err);
}

Test(table_redis, redis_down_is_temporary)
{
	const char *err = NULL;
	pm_tables *ts;
	char *v = NULL;

	rh_ok(&srv, "SET pm:a:root admin");
	ts = pm_tables_open("redis:pm:a:", &err);
	cr_assert_not_null(ts, "open: %s", err);
	cr_assert_eq(pm_tables_get(ts, "root", &v), 0);
	free(v);

	/* Down: a temporary error for found and not-found keys alike. */
	rh_kill(&srv, SIGKILL);
	cr_expect_eq(pm_tables_get(ts, "root", &v), PM_EREDIS);
	cr_expect_eq(pm_tables_get(ts, "nobody", &v), PM_EREDIS);

	/* Back (same data, appendfsync always): the table answers again. */
	rh_start(&srv);
	cr_expect_eq(pm_tables_get(ts, "root", &v), 0);
	cr_expect_str_eq(v, "admin");
	free(v);
	pm_tables_close(ts);
}

Test(table_redis, replace)
{
	char *names1[] = { "root", "staff", "old" };
	char *values1[] = { "admin", "a, b", "gone soon" };
	char *names2[] = { "root", "staff" };
	char *values2[] = { "admin2", "a, b, c" };
	long long removed = -1;
	pm_qstore *qs;
	char *v;

	rh_ok(&srv, "SET pm:aliasX keep");   /* not under the prefix */
	rh_ok(&srv, "SET pm:alias keep");    /* nor this */
	rh_ok(&srv, "SET pm:alias:stale x"); /* under it: removed */
	qs = pm_server_qstore_open();
	cr_assert_not_null(qs);
	cr_assert_eq(pm_qstore_table_replace(qs, "pm:alias:", 3, names1,
	                 values1, &removed),
	    0);
	cr_expect_eq(removed, 1);
	cr_expect_eq(rh_nkeys(&srv, "pm:alias:*"), 3);
	cr_assert_eq(pm_qstore_table_replace(qs, "pm:alias:", 2, names2,
	                 values2, &removed),
	    0);
	cr_expect_eq(removed, 1, "\"old\" is gone: got %lld", removed);
	cr_expect_eq(rh_nkeys(&srv, "pm:alias:*"), 2);
	v = rh_str(&srv, "GET pm:alias:staff");
	cr_expect_str_eq(v, "a, b, c");
	free(v);
	cr_expect_eq(rh_nkeys(&srv, "pm:alias"), 1);
	cr_expect_eq(rh_nkeys(&srv, "pm:aliasX"), 1);

	/* Glob characters in the prefix match only themselves. */
	rh_ok(&srv, "SET t*:a 1");
	rh_ok(&srv, "SET tx:a 1");
	cr_assert_eq(pm_qstore_table_replace(qs, "t*:", 0, NULL, NULL,
	                 &removed),
	    0);
	cr_expect_eq(removed, 1);
	cr_expect_eq(rh_nkeys(&srv, "tx:a"), 1);

	/* Refused: empty prefix; Redis down is an error, not a success. */
	cr_expect_eq(pm_qstore_table_replace(qs, "", 0, NULL, NULL, NULL),
	    PM_EINVAL);
	rh_kill(&srv, SIGKILL);
	cr_expect_eq(pm_qstore_table_replace(qs, "pm:alias:", 2, names2,
	                 values2, NULL),
	    PM_EREDIS);
	pm_qstore_close(qs);
}

Test(table_redis, texthash_aliases)
{
	static const char data[] = "# aliases\n"
	                           "MAILER-DAEMON: postmaster\n"
	                           "postmaster: root\n"
	                           "staff: a,\n"
	                           "  \"|/usr/bin/log x\"\n"
	                           "\"Mail Admin\": root\n"
	                           "bad line\n";
	char dir[] = "/tmp/test_table_redis.XXXXXX", *path, *spec;
	const char *err = NULL;
	pm_table *t;
	FILE *f;

	cr_assert_not_null(mkdtemp(dir));
	path = pm_asprintf("%s/aliases", dir);
	f = fopen(path, "w");
	fputs(data, f);
	fclose(f);
	spec = pm_asprintf("texthash:%s", path);
	t = pm_table_open(spec, &err);
	cr_assert_not_null(t, "open: %s", err);
	expect_get(t, "mailer-daemon", 0, "postmaster");
	expect_get(t, "Postmaster", 0, "root");
	expect_get(t, "staff", 0, "a, \"|/usr/bin/log x\"");
	expect_get(t, "mail admin", 0, "root");
	expect_get(t, "postmaster:", PM_ENOENT, NULL);
	expect_get(t, "bad", PM_ENOENT, NULL);
	pm_table_close(t);

	/* A plain texthash file (first key without ':') is unchanged. */
	f = fopen(path, "w");
	fputs("example.com OK\nfoo: bar\n", f);
	fclose(f);
	t = pm_table_open(spec, &err);
	cr_assert_not_null(t, "open: %s", err);
	expect_get(t, "example.com", 0, "OK");
	expect_get(t, "foo:", 0, "bar");
	pm_table_close(t);
	unlink(path);
	rmdir(dir);
	free(spec);
	free(path);
}
