/*
 * NAME
 *	test_qstore_enq - enqueue, read and delete in the Redis queue store
 * DESCRIPTION
 *	pm_qstore_enqueue(), pm_qstore_enqueue_many(), pm_qstore_read(),
 *	pm_qstore_body_get() and pm_qstore_delete() with bodies in Redis
 *	and in an "fs:" directory: round trips of awkward bodies (empty,
 *	NUL, bare CR/LF, chunk-sized, 1 MB), duplicates and invalid ids,
 *	every key gone after a delete, and eight threads enqueueing at
 *	once. Each test starts its own redis-server (qstore_helper.h);
 *	results are checked through a second, raw hiredis connection,
 *	never through the code under test alone.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "pm_log.h"
#include "qstore_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_enq");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qstore, .init = setup, .fini = teardown, .timeout = 120);

/* Tests. */

static const char body_crlf[] = "Subject: t\r\n\r\nline\r\n.\r\n..x\r\n";
static const char body_hostile[] = "a\0b\rc\nd\r\n\0\0\r\r\n\n\xff\x80.";

static const struct {
	const char *name;
	const char *data; /* NULL: make_body(len) */
	size_t len;
} bodies[] = {
	{ "empty", "", 0 },
	{ "crlf", body_crlf, sizeof(body_crlf) - 1 },
	{ "nul-bare-cr-lf", body_hostile, sizeof(body_hostile) - 1 },
	{ "one-chunk-exactly", NULL, 256 * 1024 },
	{ "1MB-spanning-chunks", NULL, 1024 * 1024 + 7 },
};
#define NBODIES (sizeof(bodies) / sizeof(bodies[0]))

static void
roundtrip(const char *store, int nshards)
{
	pm_qstore *qs;
	pm_qmsg m[NBODIES], *got;
	char *data[NBODIES], path[1024];
	long long xlen, before;
	size_t i;
	int rc;

	/* another queue_shards needs an empty store (pm:queue_shards) */
	rh_ok(&srv, "FLUSHALL");
	qs = open_qs(store, nshards);
	cr_assert_eq(pm_qstore_incoming_len(qs, &before), 0);
	for (i = 0; i < NBODIES; i++) {
		msg_init(&m[i], nshards);
		if (i == 0) {
			m[i].sender = ""; /* null sender */
		}
		data[i] = make_body(bodies[i].len, (unsigned) i);
		if (bodies[i].data) { /* may hold NULs: no strdup */
			memcpy(data[i], bodies[i].data, bodies[i].len);
		}
		rc = pm_qstore_enqueue(qs, &m[i], data[i], bodies[i].len);
		cr_assert_eq(rc, 0, "%s: enqueue: got %d (%s), want 0",
		    bodies[i].name, rc, pm_strerror(rc));
		cr_expect_eq(m[i].size, bodies[i].len);
	}
	for (i = 0; i < NBODIES; i++) {
		got = NULL;
		rc = pm_qstore_read(qs, m[i].qid, &got);
		cr_assert_eq(rc, 0, "%s: read: got %d, want 0", bodies[i].name,
		    rc);
		expect_same(&m[i], got);
		pm_qmsg_free(got);
		expect_body(qs, m[i].qid, data[i], bodies[i].len);
		if (strcmp(store, "redis") == 0 && bodies[i].len > 0) {
			rc = (int) rh_int(&srv, "PTTL pm:{%d}:b:%s", m[i].shard,
			    m[i].qid);
			cr_expect_eq(rc, -1,
			    "%s: body TTL: got %d, want -1 "
			    "(persisted)",
			    bodies[i].name, rc);
		}
		if (strncmp(store, "fs:", 3) == 0) {
			snprintf(path, sizeof(path), "%s/%c/%s", store + 3,
			    m[i].qid[10], m[i].qid);
			cr_expect(access(path, F_OK) == 0, "no file %s", path);
			cr_expect_eq(rh_int(&srv, "EXISTS pm:{%d}:b:%s",
			                 m[i].shard, m[i].qid),
			    0);
		}
		free(data[i]);
	}
	cr_expect_eq(rh_nkeys(&srv, "pm:*:t:*"), 0, "staged bodies left over");
	rc = pm_qstore_incoming_len(qs, &xlen);
	cr_assert_eq(rc, 0);
	cr_expect_eq(xlen - before, (long long) NBODIES,
	    "incoming: got %lld "
	    "new entries, want %zu",
	    xlen - before, NBODIES);
	pm_qstore_close(qs);
}

Test(qstore, roundtrip_redis)
{
	rh_start(&srv);
	roundtrip("redis", 1);
	roundtrip("redis", 4);
	leak_check();
}

Test(qstore, roundtrip_fs)
{
	rh_start(&srv);
	roundtrip(qs_fs_store(), 1);
	roundtrip(qs_fs_store(), 3);
	leak_check();
}

static void
dup_and_invalid(const char *store)
{
	static const char *bad_qids[] = {
		"",
		"short",
		"0123456789BCDFGHJKA",  /* vowel */
		"0123456789BCDFGHJKLM", /* one too long */
		"../../../etc/passwd",
		"0123456789BCDFGHJK\n",
	};
	pm_qstore *qs = open_qs(store, 4);
	pm_qmsg m, m2, *got = NULL;
	char *data = NULL;
	long long want;
	size_t i, len;
	int rc;

	msg_init(&m, 4);
	rc = pm_qstore_enqueue(qs, &m, "original\r\n", 10);
	cr_assert_eq(rc, 0);
	m2 = m;
	m2.sender = "intruder@example.com";
	m2.nrcpt = 1;
	rc = pm_qstore_enqueue(qs, &m2, "replacement body\r\n", 18);
	cr_expect_eq(rc, PM_EEXIST, "duplicate: got %d, want %d", rc,
	    PM_EEXIST);
	rc = pm_qstore_enqueue(qs, &m2, "", 0);
	cr_expect_eq(rc, PM_EEXIST, "duplicate, empty body: got %d", rc);
	m.size = 10;
	cr_assert_eq(pm_qstore_read(qs, m.qid, &got), 0);
	expect_same(&m, got);
	pm_qmsg_free(got);
	expect_body(qs, m.qid, "original\r\n", 10);
	cr_expect_eq(rh_nkeys(&srv, "pm:*:t:*"), 0, "staged body left over");
	cr_expect_eq(rh_int(&srv, "XLEN pm:{%d}:incoming", m.shard), 1);

	for (i = 0; i < sizeof(bad_qids) / sizeof(bad_qids[0]); i++) {
		msg_init(&m2, 4);
		memcpy(m2.qid, bad_qids[i],
		    strlen(bad_qids[i]) + 1 > sizeof(m2.qid) ?
		        sizeof(m2.qid) - 1 :
		        strlen(bad_qids[i]) + 1);
		m2.qid[sizeof(m2.qid) - 1] = 0;
		rc = pm_qstore_enqueue(qs, &m2, "x", 1);
		if (strlen(bad_qids[i]) < sizeof(m2.qid)) {
			cr_expect_eq(rc, PM_EINVAL,
			    "enqueue \"%s\": got %d, "
			    "want %d",
			    bad_qids[i], rc, PM_EINVAL);
		} else {
			pm_qstore_delete(qs, m2.qid); /* cut to a valid id */
		}
		cr_expect_eq(pm_qstore_read(qs, bad_qids[i], &got), PM_EINVAL);
		cr_expect_eq(pm_qstore_body_get(qs, bad_qids[i], &data, &len),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_delete(qs, bad_qids[i]), PM_EINVAL);
	}
	msg_init(&m2, 4);
	m2.shard = (m2.shard + 1) % 4;
	cr_expect_eq(pm_qstore_enqueue(qs, &m2, "x", 1), PM_EINVAL,
	    "wrong shard accepted");
	msg_init(&m2, 4);
	m2.nrcpt = 0;
	cr_expect_eq(pm_qstore_enqueue(qs, &m2, "x", 1), PM_EINVAL,
	    "no recipients accepted");
	msg_init(&m2, 4);
	m2.nrcpt = 100001;
	cr_expect_eq(pm_qstore_enqueue(qs, &m2, "x", 1), PM_ETOOBIG);
	want = strcmp(store, "redis") == 0 ? 3 + 4 + 1 : 2 + 4 + 1;
	cr_expect_eq(rh_int(&srv, "DBSIZE"), want,
	    "keys: got %lld, want %lld "
	    "(m, r, [b,] 4 streams, pm:queue_shards)",
	    rh_int(&srv, "DBSIZE"), want);
	pm_qstore_close(qs);
}

Test(qstore, duplicate_and_invalid)
{
	rh_start(&srv);
	dup_and_invalid("redis");
	rh_ok(&srv, "FLUSHALL");
	dup_and_invalid(qs_fs_store());
	leak_check();
}

static void
delete_all(const char *store)
{
	pm_qstore *qs = open_qs(store, 1);
	pm_qmsg m, *got = NULL;
	char *data, *body = make_body(600000, 7), path[1024];
	size_t len;
	int rc;

	msg_init(&m, 1);
	cr_assert_eq(pm_qstore_enqueue(qs, &m, body, 600000), 0);
	rh_ok(&srv, "ZADD pm:{0}:deferred 1 %s", m.qid);
	rh_ok(&srv, "SADD pm:{0}:hold %s", m.qid);
	rc = pm_qstore_delete(qs, m.qid);
	cr_assert_eq(rc, 0, "delete: got %d, want 0", rc);
	cr_expect_eq(rh_int(&srv, "EXISTS pm:{0}:m:%s pm:{0}:r:%s pm:{0}:b:%s",
	                 m.qid, m.qid, m.qid),
	    0);
	cr_expect_eq(rh_nkeys(&srv, "pm:{*"), 1,
	    "keys left besides the stream");
	cr_expect_eq(rh_int(&srv, "EXISTS pm:{0}:incoming"), 1);
	cr_expect_eq(pm_qstore_read(qs, m.qid, &got), PM_ENOENT);
	cr_expect_eq(pm_qstore_body_get(qs, m.qid, &data, &len), PM_ENOENT);
	rc = pm_qstore_delete(qs, m.qid);
	cr_expect_eq(rc, PM_ENOENT, "second delete: got %d, want %d", rc,
	    PM_ENOENT);
	if (strncmp(store, "fs:", 3) == 0) {
		snprintf(path, sizeof(path), "%s/%c/%s", store + 3, m.qid[10],
		    m.qid);
		cr_expect(access(path, F_OK) < 0 && errno == ENOENT,
		    "body file %s still there", path);
	}
	free(body);
	pm_qstore_close(qs);
}

Test(qstore, delete_removes_every_key)
{
	rh_start(&srv);
	delete_all("redis");
	delete_all(qs_fs_store());
	leak_check();
}

Test(qstore, enqueue_many)
{
	pm_qstore *qs;
	pm_qmsg ms[10], *mp[10];
	const void *bp[10];
	size_t lens[10], i;
	int rc[10], first;

	rh_start(&srv);
	qs = open_qs("redis", 2);
	for (i = 0; i < 10; i++) {
		msg_init(&ms[i], 2);
		mp[i] = &ms[i];
		bp[i] = i % 2 ? "odd body\r\n" : "";
		lens[i] = i % 2 ? 10 : 0;
	}
	ms[7] = ms[3];   /* a duplicate inside the batch */
	ms[5].nrcpt = 0; /* invalid */
	first = pm_qstore_enqueue_many(qs, mp, bp, lens, 10, rc);
	for (i = 0; i < 10; i++) {
		int want = i == 7 ? PM_EEXIST : i == 5 ? PM_EINVAL : 0;

		cr_expect_eq(rc[i], want, "message %zu: got %d, want %d", i,
		    rc[i], want);
	}
	cr_expect_eq(first, PM_EINVAL);
	cr_expect_eq(rh_nkeys(&srv, "pm:*:m:*"), 8);
	expect_body(qs, ms[3].qid, "odd body\r\n", 10);
	pm_qstore_close(qs);
	leak_check();
}

/* Concurrency: one pm_qstore per thread. */
#define CONC_THREADS 8
#define CONC_EACH 500

struct conc {
	int fails;
	char qids[CONC_EACH][PM_QID_LEN + 1];
};

static void *
conc_run(void *arg)
{
	struct conc *c = arg;
	pm_qstore *qs = pm_qstore_open(srv.addr, 5000, "redis", 4);
	pm_qmsg m;
	int i;

	for (i = 0; i < CONC_EACH; i++) {
		msg_init(&m, 4);
		if (pm_qstore_enqueue(qs, &m, "Subject: x\r\n\r\nhi\r\n", 18) !=
		    0) {
			c->fails++;
		}
		memcpy(c->qids[i], m.qid, PM_QID_LEN + 1);
	}
	pm_qstore_close(qs);
	return (NULL);
}

Test(qstore, concurrency)
{
	static struct conc cs[CONC_THREADS];
	pthread_t t[CONC_THREADS];
	pm_qstore *qs;
	pm_qmsg *got;
	long long xlen;
	int64_t t0, ms;
	int i, j;

	rh_start(&srv);
	qs = open_qs("redis", 4);
	t0 = pm_mono_ms();
	for (i = 0; i < CONC_THREADS; i++) {
		pthread_create(&t[i], NULL, conc_run, &cs[i]);
	}
	for (i = 0; i < CONC_THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	ms = pm_mono_ms() - t0;
	printf("concurrency: %d enqueues (appendfsync always) in %lld ms: "
	       "%.0f/s\n",
	    CONC_THREADS * CONC_EACH, (long long) ms,
	    CONC_THREADS * CONC_EACH * 1000.0 / (double) (ms ? ms : 1));
	for (i = 0; i < CONC_THREADS; i++) {
		cr_expect_eq(cs[i].fails, 0, "thread %d: %d failures", i,
		    cs[i].fails);
		for (j = 0; j < CONC_EACH; j++) {
			got = NULL;
			cr_expect_eq(pm_qstore_read(qs, cs[i].qids[j], &got), 0,
			    "%s not readable", cs[i].qids[j]);
			pm_qmsg_free(got);
		}
	}
	cr_assert_eq(pm_qstore_incoming_len(qs, &xlen), 0);
	cr_expect_eq(xlen, CONC_THREADS * CONC_EACH,
	    "XLEN: got %lld, "
	    "want %d",
	    xlen, CONC_THREADS * CONC_EACH);
	pm_qstore_close(qs);
	leak_check();
}
