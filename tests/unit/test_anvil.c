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
 *	step), a refused try counts nothing, a released one is given back
 *	(and never makes an expired counter negative).
 */
#include "pm_anvil.h"
#include "pm_util.h"
#include "redis_helper.h"

#include <pthread.h>
#include <time.h>

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
			cr_expect_eq(t[i].slot.count, 3);
		}
	}
	cr_expect_eq(held, 3, "held %d", held);
	v = rh_str(&srv, "GET %s", t[0].slot.key);
	cr_expect_str_eq(v, "3");
	free(v);
	/* A success gives its try back: the next one is taken. */
	for (i = 0; i < 6 && !t[i].slot.held; i++) {
		;
	}
	cr_assert_lt(i, 6);
	cr_expect_eq(pm_anvil_release(t[i].an, &t[i].slot), 0);
	cr_expect_eq(t[i].slot.held, 0);
	cr_expect_eq(pm_anvil_release(t[i].an, &t[i].slot), 0); /* no-op */
	cr_assert_eq(pm_anvil_take(t[0].an, "auth", "192.0.2.5", 3, &extra), 0);
	cr_expect_eq(extra.held, 1);
	cr_expect_eq(extra.count, 3);
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
