/*
 * NAME
 *	test_qstore_input - the queue store refuses hostile data and specs
 * DESCRIPTION
 *	Corrupt or wrong-type entries in Redis (pm_qstore_read() and
 *	pm_qstore_body_get() answer PM_EIO or PM_EREDIS and the connection
 *	stays usable), a keyspace that makes an enqueue fail (nothing is
 *	left behind; flushed Functions are loaded again), and server and
 *	store specs that pm_qstore_open() must refuse. Each test starts
 *	its own redis-server (qstore_helper.h).
 */
#include <criterion/criterion.h>


#include "pm_log.h"
#include "qstore_helper.h"

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_input");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qstore, .init = setup, .fini = teardown, .timeout = 120);

/* A command given as one string of words separated by spaces. */
static void
raw_words(const char *cmd)
{
	redisContext *c = rh_raw(&srv);
	redisReply *r;
	char *copy = pm_strdup(cmd), *w, *save = NULL;
	const char *argv[64];
	int argc = 0;

	cr_assert(c != NULL);
	for (w = strtok_r(copy, " ", &save); w != NULL && argc < 64;
	     w = strtok_r(NULL, " ", &save)) {
		argv[argc++] = w;
	}
	r = redisCommandArgv(c, argc, argv, NULL);
	cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", cmd,
	    r ? r->str : c->errstr);
	freeReplyObject(r);
	redisFree(c);
	free(copy);
}

/* Hostile data in Redis: read must refuse it without crashing. */
Test(qstore, corrupt_entries)
{
	static const struct {
		const char *name;
		const char *m; /* HSET args for m, "" for none */
		const char *r; /* HSET args for r */
		int want_read;
		int want_body;
	} cases[] = {
		{ "good", "sender a arrival 1 size 0", "n 1 0:a x", 0, 0 },
		{ "size-not-number", "sender a arrival 1 size 1x", "n 1 0:a x",
		    PM_EIO, PM_EIO },
		{ "size-negative", "sender a arrival 1 size -1", "n 1 0:a x",
		    PM_EIO, PM_EIO },
		{ "size-differs", "sender a arrival 1 size 5", "n 1 0:a x", 0,
		    PM_EIO },
		{ "no-sender", "arrival 1 size 0", "n 1 0:a x", PM_EIO, 0 },
		{ "arrival-overflow",
		    "sender a arrival 99999999999999999999 "
		    "size 0",
		    "n 1 0:a x", PM_EIO, 0 },
		{ "no-n", "sender a arrival 1 size 0", "0:a x", PM_EIO, 0 },
		{ "n-too-big", "sender a arrival 1 size 0", "n 100001 0:a x",
		    PM_EIO, 0 },
		{ "address-missing", "sender a arrival 1 size 0",
		    "n 2 0:a x 1:o y", PM_EIO, 0 },
		{ "notify-bad", "sender a arrival 1 size 0",
		    "n 1 0:a x 0:n 4294967296", PM_EIO, 0 },
		{ "index-out-of-range", "sender a arrival 1 size 0",
		    "n 1 0:a x 7:a y 99999999999:a z", 0, 0 },
		{ "m-wrong-type", NULL, "n 1 0:a x", PM_EREDIS, PM_EREDIS },
		{ "fs-body-but-redis-store",
		    "sender a arrival 1 size 0 body fs", "n 1 0:a x", 0,
		    PM_EIO },
	};
	pm_qstore *qs;
	pm_qmsg *got;
	char qid[PM_QID_LEN + 1], *data, cmd[300];
	size_t i, len;
	int rc;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_qid_new(qid);
		if (cases[i].m == NULL) {
			rh_ok(&srv, "SET pm:{0}:m:%s x", qid);
		} else {
			snprintf(cmd, sizeof(cmd), "HSET pm:{0}:m:%s %s", qid,
			    cases[i].m);
			raw_words(cmd);
		}
		snprintf(cmd, sizeof(cmd), "HSET pm:{0}:r:%s %s", qid,
		    cases[i].r);
		raw_words(cmd);
		rh_ok(&srv, "RPUSH pm:{0}:b:%s abc", qid);
		if (strcmp(cases[i].name, "size-differs") != 0) {
			rh_ok(&srv, "DEL pm:{0}:b:%s", qid);
		}
		got = NULL;
		rc = pm_qstore_read(qs, qid, &got);
		cr_expect_eq(rc, cases[i].want_read,
		    "%s: read: got %d, want %d", cases[i].name, rc,
		    cases[i].want_read);
		cr_expect((rc == 0) == (got != NULL));
		pm_qmsg_free(got);
		data = NULL;
		rc = pm_qstore_body_get(qs, qid, &data, &len);
		cr_expect_eq(rc, cases[i].want_body,
		    "%s: body: got %d, want %d", cases[i].name, rc,
		    cases[i].want_body);
		free(data);
	}
	/* A wrong-type reply must not spoil the connection. */
	cr_expect_eq(pm_qstore_ping(qs), 0);
	pm_qstore_close(qs);
	leak_check();
}

/* Checks run before writes: a refused enqueue leaves nothing. */
Test(qstore, hostile_keyspace)
{
	pm_qstore *qs;
	pm_qmsg m;
	int rc;

	rh_start(&srv);
	qs = open_qs("redis", 1);
	rh_ok(&srv, "DEL pm:{0}:incoming");
	rh_ok(&srv, "SET pm:{0}:incoming notastream");
	msg_init(&m, 1);
	rc = pm_qstore_enqueue(qs, &m, "body", 4);
	cr_expect_eq(rc, PM_EREDIS, "incoming not a stream: got %d, want %d",
	    rc, PM_EREDIS);
	cr_expect_eq(rh_nkeys(&srv, "pm:{*"), 1, "keys left: got %zu, want 1",
	    rh_nkeys(&srv, "pm:{*"));
	rh_ok(&srv, "DEL pm:{0}:incoming");
	/* Functions gone (FLUSH): enqueue and delete load them again. */
	rh_ok(&srv, "FUNCTION FLUSH");
	rc = pm_qstore_enqueue(qs, &m, "body", 4);
	cr_expect_eq(rc, 0, "after FUNCTION FLUSH: got %d, want 0", rc);
	rh_ok(&srv, "FUNCTION FLUSH");
	cr_expect_eq(pm_qstore_delete(qs, m.qid), 0);
	cr_expect_eq(rh_nkeys(&srv, "pm:*:[mrbt]:*"), 0);
	pm_qstore_close(qs);
	leak_check();
}

Test(qstore, bad_specs)
{
	static const char *servers[] = {
		"",
		"host:0",
		"host:65536",
		"host:",
		":6379",
		"[::1",
		"::1:6379",
		"unix:relative",
		"host:12x",
	};
	static const char *stores[] = { "bogus", "fs:", "fs:relative",
		"fs:/proc/nonexistent/x", "redis2" };
	pm_qstore *qs;
	size_t i;

	for (i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		qs = pm_qstore_open(servers[i], 1000, "redis", 1);
		cr_expect(qs == NULL, "server \"%s\" accepted", servers[i]);
		pm_qstore_close(qs);
	}
	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		qs = pm_qstore_open("127.0.0.1:1", 1000, stores[i], 1);
		cr_expect(qs == NULL, "store \"%s\" accepted", stores[i]);
		pm_qstore_close(qs);
	}
	qs = pm_qstore_open("[::1]:1", 1000, "redis", 1);
	cr_expect(qs != NULL, "[::1]:1 refused");
	cr_expect_eq(pm_qstore_ping(qs), PM_EREDIS);
	pm_qstore_close(qs);
	leak_check();
}
