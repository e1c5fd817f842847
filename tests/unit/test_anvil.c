/*
 * NAME
 *	test_anvil - pm_anvil: client counters in Redis, and the Redis
 *	helpers under them (pm_qstore_incr_expire, _get_count, _hget)
 * DESCRIPTION
 *	Against a private redis-server: a counter counts per client and
 *	per "what", its key names the window, it gets a time to live of
 *	two windows on creation (and keeps it on later increments), two
 *	pm_anvil on two connections (two smtpd replicas) share it; a
 *	stopped Redis gives PM_EREDIS (the caller fails open) and the
 *	counters work again when it is back. HGET: present, absent, a key
 *	of another type. pm_anvil_take: six threads on six connections
 *	with limit 3 take exactly three tries (check and count are one
 *	step), a refused try stays counted (as Postfix's anvil counts
 *	every attempt), a released one is given back
 *	(and never makes an expired counter negative). Connections
 *	(pm_anvil_connect, pm_anvil_renew): a concurrency limit shared by
 *	two replicas, a closed connection dropped, a lease that ends lets
 *	the next one in (a killed replica), renewal keeps a lease alive and
 *	brings back a lost one, batches longer than PM_QS_LEASE_BATCH, the
 *	connection rate, and PM_EREDIS while Redis is down.
 */
#include "pm_anvil.h"
#include "pm_util.h"
#include "redis_helper.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

static pm_anvil *
anvil_on(const rh_server *srv, long unit)
{
	pm_qstore *qs = pm_qstore_open(srv->addr, 2000, "redis", 1);

	cr_assert_not_null(qs);
	return (pm_anvil_open(qs, unit));
}

Test(anvil, counts_shared_with_ttl)
{
	static rh_server srv;
	pm_anvil *a, *b;
	long long n = -1;
	char key[256];
	int i;

	rh_start(&srv);
	a = anvil_on(&srv, 600);
	b = anvil_on(&srv, 600);
	cr_assert_eq(pm_anvil_count(a, "auth", "192.0.2.1", &n), 0);
	cr_expect_eq(n, 0);
	for (i = 1; i <= 3; i++) {
		cr_assert_eq(pm_anvil_incr(i == 2 ? b : a, "auth", "192.0.2.1",
		                 &n),
		    0);
		cr_expect_eq(n, i, "got %lld, want %d", n, i);
	}
	cr_assert_eq(pm_anvil_count(b, "auth", "192.0.2.1", &n), 0);
	cr_expect_eq(n, 3);
	cr_assert_eq(pm_anvil_count(b, "auth", "192.0.2.2", &n), 0);
	cr_expect_eq(n, 0);
	cr_assert_eq(pm_anvil_count(b, "conn", "192.0.2.1", &n), 0);
	cr_expect_eq(n, 0);
	pm_anvil_key(a, "auth", "192.0.2.1", (long long) time(NULL), key,
	    sizeof(key));
	cr_expect_eq(strncmp(key, "pm:anvil:auth:192.0.2.1:", 24), 0, "%s",
	    key);
	{
		char *v = rh_str(&srv, "GET %s", key);

		cr_expect_str_eq(v, "3");
		free(v);
	}
	i = (int) rh_int(&srv, "TTL %s", key);
	cr_expect(i > 1100 && i <= 1200, "ttl %d", i);
	/* The window number: 599 and 600 s fall into different ones. */
	pm_anvil_key(a, "auth", "x", 599, key, sizeof(key));
	cr_expect_str_eq(key, "pm:anvil:auth:x:0");
	pm_anvil_key(a, "auth", "x", 600, key, sizeof(key));
	cr_expect_str_eq(key, "pm:anvil:auth:x:1");

	/* Redis down: an error, not a count; back: counting again. */
	rh_kill(&srv, SIGKILL);
	cr_expect_eq(pm_anvil_incr(a, "auth", "192.0.2.1", &n), PM_EREDIS);
	cr_expect_eq(pm_anvil_count(a, "auth", "192.0.2.1", &n), PM_EREDIS);
	rh_start(&srv);
	usleep(1100 *
	    1000); /* the circuit opened for redis_cache_retry_delay */
	cr_expect_eq(pm_anvil_incr(a, "auth", "192.0.2.9", &n), 0);
	cr_expect_eq(n, 1);
	pm_anvil_close(a);
	pm_anvil_close(b);
	rh_stop(&srv);
}

Test(anvil, hget)
{
	static rh_server srv;
	pm_qstore *qs;
	char *v = NULL;

	rh_start(&srv);
	qs = pm_qstore_open(srv.addr, 2000, "redis", 1);
	rh_ok(&srv, "HSET pw alice $6$x");
	rh_ok(&srv, "SET str value");
	cr_assert_eq(pm_qstore_hget(qs, "pw", "alice", &v), 0);
	cr_expect_str_eq(v, "$6$x");
	free(v);
	cr_expect_eq(pm_qstore_hget(qs, "pw", "bob", &v), PM_ENOENT);
	cr_expect_eq(pm_qstore_hget(qs, "nokey", "bob", &v), PM_ENOENT);
	cr_expect_eq(pm_qstore_hget(qs, "str", "x", &v), PM_EREDIS);
	pm_qstore_close(qs);
	rh_stop(&srv);
}

typedef struct taker {
	pm_anvil *an;
	pthread_barrier_t *go;
	pm_anvil_slot slot;
	int rc;
} taker;

static void *
take_main(void *arg)
{
	taker *t = arg;

	pthread_barrier_wait(t->go);
	t->rc = pm_anvil_take(t->an, "auth", "192.0.2.5", 3, &t->slot);
	return (NULL);
}

Test(anvil, take_is_atomic)
{
	static rh_server srv;
	pthread_barrier_t go;
	pthread_t thr[6];
	taker t[6];
	pm_anvil_slot extra;
	int i, held = 0;
	char *v;

	rh_start(&srv);
	pthread_barrier_init(&go, NULL, 6);
	for (i = 0; i < 6; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].an = anvil_on(&srv, 600);
		t[i].go = &go;
		pthread_create(&thr[i], NULL, take_main, &t[i]);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(thr[i], NULL);
		cr_expect_eq(t[i].rc, 0);
		if (t[i].slot.held) {
			held++;
			cr_expect(t[i].slot.count >= 1 && t[i].slot.count <= 3);
		} else {
			/* refused: the count before it (3, 4 or 5) */
			cr_expect(t[i].slot.count >= 3 && t[i].slot.count <= 5);
		}
	}
	cr_expect_eq(held, 3, "held %d", held);
	/* Every attempt counts, refused or not (as Postfix's anvil). */
	v = rh_str(&srv, "GET %s", t[0].slot.key);
	cr_expect_str_eq(v, "6");
	free(v);
	/* A success gives its try back (the refused ones stay counted). */
	for (i = 0; i < 6 && !t[i].slot.held; i++) {
		;
	}
	cr_assert_lt(i, 6);
	cr_expect_eq(pm_anvil_release(t[i].an, &t[i].slot), 0);
	cr_expect_eq(t[i].slot.held, 0);
	cr_expect_eq(pm_anvil_release(t[i].an, &t[i].slot), 0); /* no-op */
	v = rh_str(&srv, "GET %s", t[0].slot.key);
	cr_expect_str_eq(v, "5");
	free(v);
	cr_assert_eq(pm_anvil_take(t[0].an, "auth", "192.0.2.5", 3, &extra), 0);
	cr_expect_eq(extra.held, 0);
	cr_expect_eq(extra.count, 5);
	/* Below the limit again (a new window, here: a deleted counter). */
	rh_int(&srv, "DEL %s", extra.key);
	cr_assert_eq(pm_anvil_take(t[0].an, "auth", "192.0.2.5", 3, &extra), 0);
	cr_expect_eq(extra.held, 1);
	cr_expect_eq(extra.count, 1);
	/* An expired counter is not made negative. */
	rh_int(&srv, "DEL %s", extra.key);
	cr_expect_eq(pm_anvil_release(t[0].an, &extra), 0);
	cr_expect_eq(rh_int(&srv, "EXISTS %s", extra.key), 0);
	for (i = 0; i < 6; i++) {
		pm_anvil_close(t[i].an);
	}
	pthread_barrier_destroy(&go);
	rh_stop(&srv);
}

Test(anvil, connections_shared_and_leased)
{
	static rh_server srv;
	const char *cl[2], *mb[2];
	long long count = 0, rate = 0;
	int v = -1, i;
	pm_anvil *a, *b;
	char key[256];

	rh_start(&srv);
	a = anvil_on(&srv, 600);
	b = anvil_on(&srv, 600);
	/* Limit 3: two on replica a, one on b; the fourth is refused. */
	for (i = 1; i <= 3; i++) {
		char m[32];

		snprintf(m, sizeof(m), "%s:%d", i == 3 ? "b" : "a", i);
		cr_assert_eq(pm_anvil_connect(i == 3 ? b : a, "192.0.2.7", m,
		                 60, 3, 0, &v, &count, &rate),
		    0);
		cr_expect_eq(v, PM_ANVIL_OK);
		cr_expect_eq(count, i, "got %lld, want %d", count, i);
	}
	cr_assert_eq(pm_anvil_connect(a, "192.0.2.7", "a:4", 60, 3, 0, &v,
	                 &count, &rate),
	    0);
	cr_expect_eq(v, PM_ANVIL_COUNT);
	cr_expect_eq(count, 4, "got %lld, want 4", count);
	pm_anvil_live_key("192.0.2.7", key, sizeof(key));
	cr_expect_str_eq(key, "pm:anvil:live:192.0.2.7");
	cr_expect_eq(rh_int(&srv, "ZCARD %s", key), 3);
	i = (int) rh_int(&srv, "TTL %s", key);
	cr_expect(i > 55 && i <= 61, "ttl %d", i);
	/* Another client is not affected. */
	cr_assert_eq(pm_anvil_connect(b, "192.0.2.8", "b:9", 60, 3, 0, &v,
	                 &count, &rate),
	    0);
	cr_expect_eq(v, PM_ANVIL_OK);
	cr_expect_eq(count, 1);
	/* b's connection closes (dropped), a renews its own: one more fits. */
	cl[0] = "192.0.2.7";
	mb[0] = "b:3";
	cl[1] = "192.0.2.7";
	mb[1] = "a:1";
	cr_assert_eq(pm_anvil_renew(b, 1, cl, mb, 1, 60), 0);
	cr_expect_eq(rh_int(&srv, "ZCARD %s", key), 2);
	cr_assert_eq(pm_anvil_connect(a, "192.0.2.7", "a:5", 60, 3, 0, &v,
	                 &count, &rate),
	    0);
	cr_expect_eq(v, PM_ANVIL_OK);
	cr_expect_eq(count, 3);

	/*
	 * A killed replica: its lease ends, its connection stops counting.
	 * Leases of 2 s, looked at 1.1 s and 2.2 s later: 0.9 s of margin
	 * either way for a loaded machine (1 s and 0.7 s left 0.3 s).
	 */
	cr_assert_eq(pm_anvil_connect(b, "192.0.2.9", "dead:1", 2, 1, 0, &v,
	                 &count, &rate),
	    0);
	cr_expect_eq(v, PM_ANVIL_OK);
	cr_assert_eq(pm_anvil_connect(a, "192.0.2.9", "a:6", 1, 1, 0, &v,
	                 &count, &rate),
	    0);
	cr_expect_eq(v, PM_ANVIL_COUNT);
	/* A renewed lease stays; the dead one ends. */
	cl[0] = "192.0.2.10";
	mb[0] = "live:1";
	cr_assert_eq(pm_anvil_connect(a, cl[0], mb[0], 2, 1, 0, &v, &count,
	                 &rate),
	    0);
	usleep(1100 * 1000);
	cr_assert_eq(pm_anvil_renew(a, 1, cl, mb, 0, 2), 0);
	usleep(1100 * 1000);
	cr_assert_eq(pm_anvil_connect(a, "192.0.2.9", "a:7", 1, 1, 0, &v,
	                 &count, &rate),
	    0);
	cr_expect_eq(v, PM_ANVIL_OK, "the dead lease still counts");
	cr_expect_eq(count, 1);
	cr_assert_eq(pm_anvil_connect(b, cl[0], "b:10", 1, 1, 0, &v, &count,
	                 &rate),
	    0);
	cr_expect_eq(v, PM_ANVIL_COUNT, "the renewed lease ended");
	/* A lease Redis lost comes back with the next renewal. */
	rh_int(&srv, "DEL pm:anvil:live:192.0.2.10");
	cr_assert_eq(pm_anvil_renew(a, 1, cl, mb, 0, 60), 0);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:anvil:live:192.0.2.10"), 1);
	pm_anvil_close(a);
	pm_anvil_close(b);
	rh_stop(&srv);
}

Test(anvil, connection_rate_and_batches)
{
	static rh_server srv;
	long long count = 0, rate = 0;
	const char **cl, **mb;
	char(*names)[32];
	int v = -1, i;
	pm_anvil *a;
	char key[256];

	rh_start(&srv);
	a = anvil_on(&srv, 600);
	/* Rate 2 (concurrency off): the third is refused, and counted. */
	for (i = 1; i <= 3; i++) {
		cr_assert_eq(pm_anvil_connect(a, "192.0.2.20", "x", 60, 0, 2,
		                 &v, &count, &rate),
		    0);
		cr_expect_eq(v, i <= 2 ? PM_ANVIL_OK : PM_ANVIL_RATE);
		cr_expect_eq(rate, i, "got %lld, want %d", rate, i);
	}
	pm_anvil_key(a, "connect", "192.0.2.20", (long long) time(NULL), key,
	    sizeof(key));
	{
		char *g = rh_str(&srv, "GET %s", key);

		cr_expect_str_eq(g, "3");
		free(g);
	}
	cr_expect_eq(rh_int(&srv, "EXISTS pm:anvil:live:192.0.2.20"), 0);
	/* Concurrency over the limit: the attempt counts in the rate. */
	cr_assert_eq(pm_anvil_connect(a, "192.0.2.21", "y:1", 60, 1, 5, &v,
	                 &count, &rate),
	    0);
	cr_assert_eq(pm_anvil_connect(a, "192.0.2.21", "y:2", 60, 1, 5, &v,
	                 &count, &rate),
	    0);
	cr_expect_eq(v, PM_ANVIL_COUNT);
	pm_anvil_key(a, "connect", "192.0.2.21", (long long) time(NULL), key,
	    sizeof(key));
	{
		char *g = rh_str(&srv, "GET %s", key);

		cr_expect_str_eq(g, "2");
		free(g);
	}
	/* 1300 renewals and drops: more than one batch. */
	cl = pm_calloc(1300, sizeof(*cl));
	mb = pm_calloc(1300, sizeof(*mb));
	names = pm_calloc(1300, sizeof(*names));
	for (i = 0; i < 1300; i++) {
		snprintf(names[i], sizeof(names[i]), "m:%d", i);
		cl[i] = "192.0.2.30";
		mb[i] = names[i];
	}
	cr_assert_eq(pm_anvil_renew(a, 1300, cl, mb, 0, 60), 0);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:anvil:live:192.0.2.30"), 1300);
	cr_assert_eq(pm_anvil_renew(a, 1300, cl, mb, 1000, 60), 0);
	cr_expect_eq(rh_int(&srv, "ZCARD pm:anvil:live:192.0.2.30"), 300);
	cr_expect_eq(rh_int(&srv, "ZREM pm:anvil:live:192.0.2.30 m:999"), 0);

	/* Redis down: errors (the caller lets the client in). */
	rh_kill(&srv, SIGKILL);
	cr_expect_eq(pm_anvil_connect(a, "192.0.2.20", "z", 60, 3, 3, &v,
	                 &count, &rate),
	    PM_EREDIS);
	cr_expect_eq(pm_anvil_renew(a, 2, cl, mb, 1, 60), PM_EREDIS);
	rh_start(&srv);
	usleep(1100 *
	    1000); /* the circuit opened for redis_cache_retry_delay */
	cr_expect_eq(pm_anvil_connect(a, "192.0.2.40", "z", 60, 3, 3, &v,
	                 &count, &rate),
	    0);
	cr_expect_eq(v, PM_ANVIL_OK);
	free(cl);
	free(mb);
	free(names);
	pm_anvil_close(a);
	rh_stop(&srv);
}
