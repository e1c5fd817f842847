/*
 * NAME
 *	test_qstore_redis - the queue store while Redis fails and comes back
 * DESCRIPTION
 *	The store over a unix socket; Redis stopped and started again (the
 *	same pm_qstore handle works, queued mail is still there, a refused
 *	fs body is not left behind); kill -9 in the middle of a load (every
 *	acknowledged enqueue survives); maxmemory with noeviction (PM_EFULL,
 *	nothing of the message left, delete still works); and the WAIT hook
 *	without replicas; an idle connection the server closed (CLIENT KILL,
 *	a restart) is made again before the next call, which succeeds.
 *	Each test starts its own redis-server
 *	(qstore_helper.h) and restarts it on the same data (rh_kill()).
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "pm_log.h"
#include "qstore_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_redis");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qstore, .init = setup, .fini = teardown, .timeout = 120);

/* Redis's used_memory in bytes, -1 if INFO does not say. */
static long long
raw_used_memory(void)
{
	redisContext *c = rh_raw(&srv);
	redisReply *r;
	long long v = -1;
	char *p;

	cr_assert(c != NULL);
	r = redisCommand(c, "INFO memory");
	cr_assert(r != NULL && r->type == REDIS_REPLY_STRING);
	if ((p = strstr(r->str, "used_memory:")) != NULL) {
		v = atoll(p + 12);
	}
	freeReplyObject(r);
	redisFree(c);
	return (v);
}

/* The default server is on a UNIX socket; host:port works as well. */
Test(qstore, tcp_port)
{
	const char *extra[] = { "--port", NULL, "--bind", "127.0.0.1", NULL };
	char port[16], spec[40];
	pm_qstore *qs;
	pm_qmsg m, *got = NULL;
	int p = rh_free_port();

	snprintf(port, sizeof(port), "%d", p);
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", p);
	extra[1] = port;
	rh_start_with(&srv, extra);
	qs = pm_qstore_open(spec, 2000, "redis", 1);
	cr_assert(qs != NULL);
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	msg_init(&m, 1);
	cr_expect_eq(pm_qstore_enqueue(qs, &m, "x\r\n", 3), 0);
	cr_expect_eq(pm_qstore_read(qs, m.qid, &got), 0);
	pm_qmsg_free(got);
	pm_qstore_close(qs);
	leak_check();
}

/*
 * The server closes an idle connection (CLIENT KILL, which Sentinel
 * sends to the clients of a master it turns into a replica; a restart
 * on the same data): the next call connects again before it sends
 * anything, so it succeeds instead of failing once per connection.
 */
Test(qstore, idle_connection_closed)
{
	pm_qstore *qs;
	pm_qmsg m, *got = NULL;
	int rc;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	cr_assert_eq(pm_qstore_ping(qs), 0);
	cr_assert_geq(rh_int(&srv, "CLIENT KILL TYPE normal"), 1);
	msg_init(&m, 1);
	rc = pm_qstore_enqueue(qs, &m, "killed\r\n", 8);
	cr_expect_eq(rc, 0, "enqueue after CLIENT KILL: got %d, want 0", rc);
	rh_kill(&srv, SIGKILL);
	rh_start(&srv);
	rc = pm_qstore_read(qs, m.qid, &got);
	cr_expect_eq(rc, 0, "read after a restart: got %d, want 0", rc);
	pm_qmsg_free(got);
	pm_qstore_close(qs);
	leak_check();
}

/* Redis stops and comes back: errors, then the same handle works. */
static void
down_and_up(const char *store)
{
	pm_qstore *qs;
	pm_qmsg m1, m2, m3, *got = NULL;
	char path[1024];
	int rc;

	rh_start(&srv);
	qs = open_qs(store, 1);
	msg_init(&m1, 1);
	cr_assert_eq(pm_qstore_enqueue(qs, &m1, "first\r\n", 7), 0);
	rh_kill(&srv, SIGTERM);
	msg_init(&m2, 1);
	rc = pm_qstore_enqueue(qs, &m2, "second\r\n", 8);
	cr_expect_eq(rc, PM_EREDIS, "enqueue while down: got %d, want %d", rc,
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_read(qs, m1.qid, &got), PM_EREDIS);
	cr_expect_eq(pm_qstore_ping(qs), PM_EREDIS);
	cr_expect_eq(pm_qstore_delete(qs, m1.qid), PM_EREDIS);
	/*
	 * The first failure was on the old connection (outcome unknown, so
	 * an fs body stays for the sweeper); now Redis is known to be down,
	 * nothing is sent, and an fs body must not stay.
	 */
	msg_init(&m2, 1);
	rc = pm_qstore_enqueue(qs, &m2, "second\r\n", 8);
	cr_expect_eq(rc, PM_EREDIS, "enqueue while down: got %d, want %d", rc,
	    PM_EREDIS);
	if (strncmp(store, "fs:", 3) == 0) {
		snprintf(path, sizeof(path), "%s/%c/%s", store + 3, m2.qid[10],
		    m2.qid);
		cr_expect(access(path, F_OK) < 0, "refused body file stays");
	}
	rh_start(&srv);
	cr_expect_eq(pm_qstore_ping(qs), 0, "ping after restart");
	msg_init(&m3, 1);
	rc = pm_qstore_enqueue(qs, &m3, "third\r\n", 7);
	cr_expect_eq(rc, 0, "enqueue after restart: got %d, want 0", rc);
	m1.size = 7;
	cr_assert_eq(pm_qstore_read(qs, m1.qid, &got), 0,
	    "message queued before the restart is gone");
	expect_same(&m1, got);
	got = pm_qmsg_free(got);
	expect_body(qs, m1.qid, "first\r\n", 7);
	expect_body(qs, m3.qid, "third\r\n", 7);
	cr_expect_eq(pm_qstore_read(qs, m2.qid, &got), PM_ENOENT);
	cr_expect_eq(rh_int(&srv, "XLEN pm:{0}:incoming"), 2);
	cr_expect_eq(rh_nkeys(&srv, "pm:*:m:*"), 2);
	cr_expect_eq(rh_nkeys(&srv, "pm:*:r:*"), 2);
	pm_qstore_close(qs);
	rh_stop(&srv); /* the next round gets a new directory */
}

Test(qstore, redis_down_and_back)
{
	down_and_up("redis");
	rh_start(&srv); /* a new directory for the fs round */
	rh_kill(&srv, SIGTERM);
	down_and_up(qs_fs_store());
	leak_check();
}

/*
 * kill -9 in the middle of a load: after the restart every enqueue
 * that returned 0 is there in full, every m has its r and its stream
 * entry, and only expiring staged bodies may be left over.
 */
struct loader {
	pm_qstore *qs;
	volatile int stop;
	char (*ok)[PM_QID_LEN + 1];
	atomic_size_t nok; /* read by the test while the loader runs */
	size_t max;
};

static void *
load_run(void *arg)
{
	struct loader *l = arg;
	char *body = make_body(300000, 3);
	pm_qmsg m;

	while (!l->stop && l->nok < l->max) {
		msg_init(&m, 1);
		if (pm_qstore_enqueue(l->qs, &m, body, 300000) == 0) {
			memcpy(l->ok[atomic_load(&l->nok)], m.qid,
			    PM_QID_LEN + 1);
			atomic_fetch_add(&l->nok, 1);
		}
	}
	free(body);
	return (NULL);
}

Test(qstore, kill9_mid_load)
{
	struct loader l = { 0 };
	char *body = make_body(300000, 3);
	redisContext *c;
	redisReply *r;
	pthread_t t;
	pm_qmsg *got;
	size_t i;

	rh_start(&srv);
	l.qs = open_qs("redis", 1);
	l.max = 100000;
	l.ok = pm_calloc(l.max, sizeof(*l.ok));
	pthread_create(&t, NULL, load_run, &l);
	usleep(400000);
	/* kill mid-load, once something was acknowledged (later on a
	 * busy machine) */
	for (i = 0; i < 2000 && atomic_load(&l.nok) == 0; i++) {
		usleep(10000);
	}
	rh_kill(&srv, SIGKILL);
	l.stop = 1;
	pthread_join(t, NULL);
	cr_assert(l.nok > 0, "nothing was queued before the kill");
	rh_start(&srv);
	for (i = 0; i < l.nok; i++) {
		got = NULL;
		cr_assert_eq(pm_qstore_read(l.qs, l.ok[i], &got), 0,
		    "%s acknowledged but lost", l.ok[i]);
		pm_qmsg_free(got);
		expect_body(l.qs, l.ok[i], body, 300000);
	}
	cr_expect_eq(rh_nkeys(&srv, "pm:*:m:*"), rh_nkeys(&srv, "pm:*:r:*"));
	cr_expect_eq((size_t) rh_int(&srv, "XLEN pm:{0}:incoming"),
	    rh_nkeys(&srv, "pm:*:m:*"));
	cr_expect(rh_nkeys(&srv, "pm:*:m:*") >= l.nok);
	c = rh_raw(&srv);
	r = redisCommand(c, "KEYS pm:*:t:*");
	cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
	for (i = 0; i < r->elements; i++) {
		cr_expect(rh_int(&srv, "PTTL %s", r->element[i]->str) > 0,
		    "staged %s does not expire", r->element[i]->str);
	}
	freeReplyObject(r);
	redisFree(c);
	printf("kill9_mid_load: %zu acknowledged before the kill, all "
	       "found\n",
	    l.nok);
	free(l.ok);
	free(body);
	pm_qstore_close(l.qs);
	leak_check();
}

/* maxmemory + noeviction: PM_EFULL and nothing of the message left. */
Test(qstore, redis_full)
{
	static const char *extra[] = { "--maxmemory-policy", "noeviction",
		NULL };
	pm_qstore *qs;
	pm_qmsg small, big;
	long long used, max = 1024 * 1024;
	char *body = make_body(1024 * 1024, 5);
	int rc;

	rh_start_with(&srv, extra);
	qs = open_qs("redis", 1);
	/*
	 * 1 MB as asked, unless Redis itself already uses about that much
	 * (functions, AOF buffers): then leave room for one small message.
	 */
	used = raw_used_memory();
	if (used + 256 * 1024 > max) {
		max = used + 256 * 1024;
	}
	rh_ok(&srv, "CONFIG SET maxmemory %lld", max);
	msg_init(&small, 1);
	rc = pm_qstore_enqueue(qs, &small, "small\r\n", 7);
	cr_assert_eq(rc, 0, "small message: got %d, want 0", rc);
	msg_init(&big, 1);
	rc = pm_qstore_enqueue(qs, &big, body, 1024 * 1024);
	cr_expect_eq(rc, PM_EFULL, "1 MB message: got %d (%s), want %d", rc,
	    pm_strerror(rc), PM_EFULL);
	cr_expect_eq(rh_int(&srv, "EXISTS pm:{0}:m:%s pm:{0}:r:%s pm:{0}:b:%s",
	                 big.qid, big.qid, big.qid),
	    0);
	cr_expect_eq(rh_nkeys(&srv, "pm:*:t:*"), 0, "staged body left");
	cr_expect_eq(rh_int(&srv, "XLEN pm:{0}:incoming"), 1);
	/* Delete works when full. */
	rh_ok(&srv, "CONFIG SET maxmemory %lld", raw_used_memory() - 1000);
	rc = pm_qstore_delete(qs, small.qid);
	cr_expect_eq(rc, 0, "delete when full: got %d, want 0", rc);
	free(body);
	pm_qstore_close(qs);
	leak_check();
}

/* The WAIT hook: no replicas, so the enqueue is reported as failed. */
Test(qstore, wait_replicas)
{
	pm_qstore *qs;
	pm_qmsg m, *got = NULL;
	int rc;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	pm_qstore_set_wait_replicas(qs, 1, 50);
	msg_init(&m, 1);
	rc = pm_qstore_enqueue(qs, &m, "x", 1);
	cr_expect_eq(rc, PM_EREDIS,
	    "WAIT 1 without replicas: got %d, "
	    "want %d",
	    rc, PM_EREDIS);
	cr_expect_eq(pm_qstore_read(qs, m.qid, &got), 0,
	    "queued on the primary all the same");
	pm_qmsg_free(got);
	pm_qstore_set_wait_replicas(qs, 0, 0);
	msg_init(&m, 1);
	cr_expect_eq(pm_qstore_enqueue(qs, &m, "x", 1), 0);
	pm_qstore_close(qs);
	leak_check();
}
