/*
 * NAME
 *	test_qstore - unit tests of the Redis queue store and body store
 * DESCRIPTION
 *	Each test starts its own redis-server (appendonly, appendfsync
 *	always, no RDB) on a free loopback port in a temporary directory
 *	and stops it by PID in the suite's fini; the server also gets
 *	PR_SET_PDEATHSIG so a crashed test leaves no server behind.
 *	Checks go through a second, raw hiredis connection (EXISTS, KEYS,
 *	XLEN, TTL), never through the code under test alone.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pm_log.h"
#include "pm_qid.h"
#include "pm_qstore.h"
#include "pm_util.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

/* The test server. */

static struct {
	pid_t pid;
	int port;
	char dir[64];
	char addr[32];
	char bodies[96]; /* "fs:<dir>/bodies" */
} srv;

static int
free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *) &sa, &len) == 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return (port);
}

static redisContext *
raw(void)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", srv.port, tv);

	if (c != NULL && c->err) {
		redisFree(c);
		c = NULL;
	}
	return (c);
}

/* Start redis-server with extra "--name", "value" pairs (NULL-ended). */
static void
srv_start(const char *const *extra)
{
	const char *argv[40];
	char port[16], log[96];
	redisContext *c;
	redisReply *r;
	pid_t parent = getpid();
	int i, n = 0, fd;

	if (srv.dir[0] == 0) {
		strcpy(srv.dir, "/tmp/pm_qstore.XXXXXX");
		cr_assert(mkdtemp(srv.dir) != NULL);
		snprintf(srv.bodies, sizeof(srv.bodies), "fs:%s/bodies",
		    srv.dir);
		srv.port = free_port();
		snprintf(srv.addr, sizeof(srv.addr), "127.0.0.1:%d",
		    srv.port);
	}
	snprintf(port, sizeof(port), "%d", srv.port);
	snprintf(log, sizeof(log), "%s/redis.log", srv.dir);
	argv[n++] = "redis-server";
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--bind";
	argv[n++] = "127.0.0.1";
	argv[n++] = "--dir";
	argv[n++] = srv.dir;
	argv[n++] = "--appendonly";
	argv[n++] = "yes";
	argv[n++] = "--appendfsync";
	argv[n++] = "always";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--logfile";
	argv[n++] = log;
	for (i = 0; extra != NULL && extra[i] != NULL && n < 38; i++) {
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	srv.pid = fork();
	cr_assert(srv.pid >= 0);
	if (srv.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(1);
		}
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		execvp("redis-server", (char **) argv);
		_exit(127);
	}
	for (i = 0; i < 400; i++) {
		if (waitpid(srv.pid, NULL, WNOHANG) == srv.pid) {
			srv.pid = 0;
			cr_assert_fail("redis-server exited at start; see %s", log);
		}
		if ((c = raw()) != NULL) {
			r = redisCommand(c, "PING");
			n = (r != NULL && r->type == REDIS_REPLY_STATUS);
			if (r != NULL) {
				freeReplyObject(r);
			}
			redisFree(c);
			if (n) {
				return;
			}
		}
		usleep(25000);
	}
	cr_assert_fail("redis-server did not answer PING on port %d", srv.port);
}

static void
srv_stop(int sig)
{
	int i;

	if (srv.pid <= 0) {
		return;
	}
	kill(srv.pid, sig);
	for (i = 0; i < 400; i++) {
		if (waitpid(srv.pid, NULL, WNOHANG) == srv.pid) {
			srv.pid = 0;
			return;
		}
		usleep(25000);
	}
	kill(srv.pid, SIGKILL);
	waitpid(srv.pid, NULL, 0);
	srv.pid = 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void) st;
	(void) flag;
	(void) f;
	return (remove(path));
}

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore");
}

static void
teardown(void)
{
	srv_stop(SIGKILL);
	if (srv.dir[0]) {
		nftw(srv.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
}

/*
 * Called at the end of each test: criterion ignores assertions in a
 * suite's fini, and LeakSanitizer alone does not fail a test.
 */
static void
leak_check(void)
{
#ifdef __SANITIZE_ADDRESS__
	cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
#endif
}

TestSuite(qstore, .init = setup, .fini = teardown, .timeout = 120);

/* Raw checks. */

static long long
raw_int(const char *fmt, ...)
{
	redisContext *c = raw();
	redisReply *r;
	long long v;
	va_list ap;

	cr_assert(c != NULL, "raw connection to Redis failed");
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER,
	    "%s: got reply type %d, want integer", fmt, r ? r->type : -1);
	v = r->integer;
	freeReplyObject(r);
	redisFree(c);
	return (v);
}

static void
raw_ok(const char *fmt, ...)
{
	redisContext *c = raw();
	redisReply *r;
	va_list ap;

	cr_assert(c != NULL);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt,
	    r ? r->str : c->errstr);
	freeReplyObject(r);
	redisFree(c);
}

/* A command given as one string of words separated by spaces. */
static void
raw_words(const char *cmd)
{
	redisContext *c = raw();
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

/* Number of keys matching pattern. */
static size_t
raw_nkeys(const char *pattern)
{
	redisContext *c = raw();
	redisReply *r;
	size_t n;

	cr_assert(c != NULL);
	r = redisCommand(c, "KEYS %s", pattern);
	cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
	n = r->elements;
	freeReplyObject(r);
	redisFree(c);
	return (n);
}

static long long
raw_used_memory(void)
{
	redisContext *c = raw();
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

/* Messages. */

static pm_qrcpt std_rcpt[] = {
	{ "alice@example.com", "", 0, NULL, NULL, NULL },
	{ "\"john q. doe\"@example.com", "rfc822;\"john q. doe\"@example.com",
	    2 | 4, NULL, NULL, NULL },
	{ "j\xc3\xb6rg@b\xc3\xbc" "cher.example", "utf-8;j\xc3\xb6rg", 8, NULL,
	    NULL, NULL },
	{ "\"a\\\"b c\"@[192.0.2.7]", "", 1, NULL, NULL, NULL },
};

static void
msg_init(pm_qmsg *m, int nshards)
{
	memset(m, 0, sizeof(*m));
	pm_qid_new(m->qid);
	m->shard = pm_qid_shard(m->qid, nshards);
	m->sender = "sender@example.org";
	m->arrival_us = pm_now_us();
	m->client_name = "mail.example.net";
	m->client_addr = "192.0.2.1";
	m->client_port = "41234";
	m->helo_name = "mail.example.net";
	m->protocol = "ESMTP";
	m->sasl_username = "";
	m->dsn_envid = "ENV-1";
	m->dsn_ret = 2;
	m->body_type = 2;
	m->flags = 3;
	m->nrcpt = sizeof(std_rcpt) / sizeof(std_rcpt[0]);
	m->rcpt = std_rcpt;
}

static void
expect_same(const pm_qmsg *want, const pm_qmsg *got)
{
	size_t i;

	cr_expect_str_eq(got->qid, want->qid);
	cr_expect_eq(got->shard, want->shard);
	cr_expect_str_eq(got->sender, want->sender);
	cr_expect_eq(got->arrival_us, want->arrival_us, "arrival: got %lld, "
	    "want %lld", (long long) got->arrival_us,
	    (long long) want->arrival_us);
	cr_expect_eq(got->size, want->size, "size: got %zu, want %zu",
	    got->size, want->size);
	cr_expect_str_eq(got->client_name, want->client_name);
	cr_expect_str_eq(got->client_addr, want->client_addr);
	cr_expect_str_eq(got->client_port, want->client_port);
	cr_expect_str_eq(got->helo_name, want->helo_name);
	cr_expect_str_eq(got->protocol, want->protocol);
	cr_expect_str_eq(got->sasl_username, want->sasl_username);
	cr_expect_str_eq(got->dsn_envid, want->dsn_envid);
	cr_expect_eq(got->dsn_ret, want->dsn_ret);
	cr_expect_eq(got->body_type, want->body_type);
	cr_expect_eq(got->flags, want->flags);
	cr_expect_eq(got->attempts, 0);
	cr_expect_eq(got->next_attempt_us, 0);
	cr_assert_eq(got->nrcpt, want->nrcpt, "nrcpt: got %zu, want %zu",
	    got->nrcpt, want->nrcpt);
	for (i = 0; i < got->nrcpt; i++) {
		cr_expect_str_eq(got->rcpt[i].address, want->rcpt[i].address,
		    "rcpt %zu: got <%s>, want <%s>", i, got->rcpt[i].address,
		    want->rcpt[i].address);
		cr_expect_str_eq(got->rcpt[i].orcpt, want->rcpt[i].orcpt);
		cr_expect_eq(got->rcpt[i].notify, want->rcpt[i].notify);
		cr_expect_str_eq(got->rcpt[i].status, PM_RCPT_TODO);
		cr_expect_str_eq(got->rcpt[i].dsn, "");
		cr_expect_str_eq(got->rcpt[i].text, "");
	}
}

static void
expect_body(pm_qstore *qs, const char *qid, const char *want, size_t len)
{
	char *data = NULL;
	size_t got = 0;
	int rc;

	rc = pm_qstore_body_get(qs, qid, &data, &got);
	cr_assert_eq(rc, 0, "body_get: got %d (%s), want 0", rc,
	    pm_strerror(rc));
	cr_assert_eq(got, len, "body length: got %zu, want %zu", got, len);
	cr_expect(memcmp(data, want, len) == 0, "body differs");
	cr_expect_eq(data[len], 0, "body not NUL-terminated");
	free(data);
}

static pm_qstore *
open_qs(const char *store, int nshards)
{
	pm_qstore *qs = pm_qstore_open(srv.addr, 2000, store, nshards);
	int rc;

	cr_assert(qs != NULL, "pm_qstore_open(%s, %s) failed", srv.addr,
	    store);
	rc = pm_qstore_load_functions(qs);
	cr_assert_eq(rc, 0, "load_functions: got %d, want 0", rc);
	return (qs);
}

/* A body with every awkward byte: NUL, bare CR and LF, 8-bit. */
static char *
make_body(size_t len, unsigned seed)
{
	char *b = pm_malloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (char) (seed >> 16);
	}
	return (b);
}

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
	raw_ok("FLUSHALL");
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
			rc = (int) raw_int("PTTL pm:{%d}:b:%s", m[i].shard,
			    m[i].qid);
			cr_expect_eq(rc, -1, "%s: body TTL: got %d, want -1 "
			    "(persisted)", bodies[i].name, rc);
		}
		if (strncmp(store, "fs:", 3) == 0) {
			snprintf(path, sizeof(path), "%s/%c/%s", store + 3,
			    m[i].qid[10], m[i].qid);
			cr_expect(access(path, F_OK) == 0, "no file %s", path);
			cr_expect_eq(raw_int("EXISTS pm:{%d}:b:%s", m[i].shard,
			    m[i].qid), 0);
		}
		free(data[i]);
	}
	cr_expect_eq(raw_nkeys("pm:*:t:*"), 0, "staged bodies left over");
	rc = pm_qstore_incoming_len(qs, &xlen);
	cr_assert_eq(rc, 0);
	cr_expect_eq(xlen - before, (long long) NBODIES, "incoming: got %lld "
	    "new entries, want %zu", xlen - before, NBODIES);
	pm_qstore_close(qs);
}

Test(qstore, roundtrip_redis)
{
	srv_start(NULL);
	roundtrip("redis", 1);
	roundtrip("redis", 4);
	leak_check();
}

Test(qstore, roundtrip_fs)
{
	srv_start(NULL);
	roundtrip(srv.bodies, 1);
	roundtrip(srv.bodies, 3);
	leak_check();
}

static void
dup_and_invalid(const char *store)
{
	static const char *bad_qids[] = {
		"", "short", "0123456789BCDFGHJKA", /* vowel */
		"0123456789BCDFGHJKLM", /* one too long */
		"../../../etc/passwd", "0123456789BCDFGHJK\n",
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
	cr_expect_eq(raw_nkeys("pm:*:t:*"), 0, "staged body left over");
	cr_expect_eq(raw_int("XLEN pm:{%d}:incoming", m.shard), 1);

	for (i = 0; i < sizeof(bad_qids) / sizeof(bad_qids[0]); i++) {
		msg_init(&m2, 4);
		memcpy(m2.qid, bad_qids[i], strlen(bad_qids[i]) + 1 >
		    sizeof(m2.qid) ? sizeof(m2.qid) - 1 : strlen(bad_qids[i])
		    + 1);
		m2.qid[sizeof(m2.qid) - 1] = 0;
		rc = pm_qstore_enqueue(qs, &m2, "x", 1);
		if (strlen(bad_qids[i]) < sizeof(m2.qid)) {
			cr_expect_eq(rc, PM_EINVAL, "enqueue \"%s\": got %d, "
			    "want %d", bad_qids[i], rc, PM_EINVAL);
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
	cr_expect_eq(raw_int("DBSIZE"), want, "keys: got %lld, want %lld "
	    "(m, r, [b,] 4 streams, pm:queue_shards)", raw_int("DBSIZE"),
	    want);
	pm_qstore_close(qs);
}

Test(qstore, duplicate_and_invalid)
{
	srv_start(NULL);
	dup_and_invalid("redis");
	raw_ok("FLUSHALL");
	dup_and_invalid(srv.bodies);
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
	raw_ok("ZADD pm:{0}:deferred 1 %s", m.qid);
	raw_ok("SADD pm:{0}:hold %s", m.qid);
	rc = pm_qstore_delete(qs, m.qid);
	cr_assert_eq(rc, 0, "delete: got %d, want 0", rc);
	cr_expect_eq(raw_int("EXISTS pm:{0}:m:%s pm:{0}:r:%s pm:{0}:b:%s",
	    m.qid, m.qid, m.qid), 0);
	cr_expect_eq(raw_nkeys("pm:{*"), 1, "keys left besides the stream");
	cr_expect_eq(raw_int("EXISTS pm:{0}:incoming"), 1);
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
	srv_start(NULL);
	delete_all("redis");
	delete_all(srv.bodies);
	leak_check();
}

/* Hostile data in Redis: read must refuse it without crashing. */
Test(qstore, corrupt_entries)
{
	static const struct {
		const char *name;
		const char *m;  /* HSET args for m, "" for none */
		const char *r;  /* HSET args for r */
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
		{ "arrival-overflow", "sender a arrival 99999999999999999999 "
		    "size 0", "n 1 0:a x", PM_EIO, 0 },
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
		{ "fs-body-but-redis-store", "sender a arrival 1 size 0 body fs",
		    "n 1 0:a x", 0, PM_EIO },
	};
	pm_qstore *qs;
	pm_qmsg *got;
	char qid[PM_QID_LEN + 1], *data, cmd[300];
	size_t i, len;
	int rc;

	srv_start(NULL);
	qs = open_qs("redis", 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_qid_new(qid);
		if (cases[i].m == NULL) {
			raw_ok("SET pm:{0}:m:%s x", qid);
		} else {
			snprintf(cmd, sizeof(cmd), "HSET pm:{0}:m:%s %s", qid,
			    cases[i].m);
			raw_words(cmd);
		}
		snprintf(cmd, sizeof(cmd), "HSET pm:{0}:r:%s %s", qid,
		    cases[i].r);
		raw_words(cmd);
		raw_ok("RPUSH pm:{0}:b:%s abc", qid);
		if (strcmp(cases[i].name, "size-differs") != 0) {
			raw_ok("DEL pm:{0}:b:%s", qid);
		}
		got = NULL;
		rc = pm_qstore_read(qs, qid, &got);
		cr_expect_eq(rc, cases[i].want_read, "%s: read: got %d, want %d",
		    cases[i].name, rc, cases[i].want_read);
		cr_expect((rc == 0) == (got != NULL));
		pm_qmsg_free(got);
		data = NULL;
		rc = pm_qstore_body_get(qs, qid, &data, &len);
		cr_expect_eq(rc, cases[i].want_body, "%s: body: got %d, want %d",
		    cases[i].name, rc, cases[i].want_body);
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

	srv_start(NULL);
	qs = open_qs("redis", 1);
	raw_ok("DEL pm:{0}:incoming");
	raw_ok("SET pm:{0}:incoming notastream");
	msg_init(&m, 1);
	rc = pm_qstore_enqueue(qs, &m, "body", 4);
	cr_expect_eq(rc, PM_EREDIS, "incoming not a stream: got %d, want %d",
	    rc, PM_EREDIS);
	cr_expect_eq(raw_nkeys("pm:{*"), 1, "keys left: got %zu, want 1",
	    raw_nkeys("pm:{*"));
	raw_ok("DEL pm:{0}:incoming");
	/* Functions gone (FLUSH): enqueue and delete load them again. */
	raw_ok("FUNCTION FLUSH");
	rc = pm_qstore_enqueue(qs, &m, "body", 4);
	cr_expect_eq(rc, 0, "after FUNCTION FLUSH: got %d, want 0", rc);
	raw_ok("FUNCTION FLUSH");
	cr_expect_eq(pm_qstore_delete(qs, m.qid), 0);
	cr_expect_eq(raw_nkeys("pm:*:[mrbt]:*"), 0);
	pm_qstore_close(qs);
	leak_check();
}

Test(qstore, unix_socket)
{
	const char *extra[] = { "--unixsocket", NULL, NULL };
	char sock[128], spec[140];
	pm_qstore *qs;
	pm_qmsg m, *got = NULL;

	srv_start(NULL);
	srv_stop(SIGTERM);
	snprintf(sock, sizeof(sock), "%s/redis.sock", srv.dir);
	snprintf(spec, sizeof(spec), "unix:%s", sock);
	extra[1] = sock;
	srv_start(extra);
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

Test(qstore, bad_specs)
{
	static const char *servers[] = {
		"", "host:0", "host:65536", "host:", ":6379", "[::1",
		"::1:6379", "unix:relative", "host:12x",
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

/* Redis stops and comes back: errors, then the same handle works. */
static void
down_and_up(const char *store)
{
	pm_qstore *qs;
	pm_qmsg m1, m2, m3, *got = NULL;
	char path[1024];
	int rc;

	srv_start(NULL);
	qs = open_qs(store, 1);
	msg_init(&m1, 1);
	cr_assert_eq(pm_qstore_enqueue(qs, &m1, "first\r\n", 7), 0);
	srv_stop(SIGTERM);
	msg_init(&m2, 1);
	rc = pm_qstore_enqueue(qs, &m2, "second\r\n", 8);
	cr_expect_eq(rc, PM_EREDIS, "enqueue while down: got %d, want %d",
	    rc, PM_EREDIS);
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
	cr_expect_eq(rc, PM_EREDIS, "enqueue while down: got %d, want %d",
	    rc, PM_EREDIS);
	if (strncmp(store, "fs:", 3) == 0) {
		snprintf(path, sizeof(path), "%s/%c/%s", store + 3,
		    m2.qid[10], m2.qid);
		cr_expect(access(path, F_OK) < 0, "refused body file stays");
	}
	srv_start(NULL);
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
	cr_expect_eq(raw_int("XLEN pm:{0}:incoming"), 2);
	cr_expect_eq(raw_nkeys("pm:*:m:*"), 2);
	cr_expect_eq(raw_nkeys("pm:*:r:*"), 2);
	pm_qstore_close(qs);
	teardown();
	memset(&srv, 0, sizeof(srv));
}

Test(qstore, redis_down_and_back)
{
	down_and_up("redis");
	srv_start(NULL); /* a new directory for the fs round */
	srv_stop(SIGTERM);
	down_and_up(srv.bodies);
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
	size_t nok;
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
			memcpy(l->ok[l->nok++], m.qid, PM_QID_LEN + 1);
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

	srv_start(NULL);
	l.qs = open_qs("redis", 1);
	l.max = 100000;
	l.ok = pm_calloc(l.max, sizeof(*l.ok));
	pthread_create(&t, NULL, load_run, &l);
	usleep(400000);
	srv_stop(SIGKILL);
	l.stop = 1;
	pthread_join(t, NULL);
	cr_assert(l.nok > 0, "nothing was queued before the kill");
	srv_start(NULL);
	for (i = 0; i < l.nok; i++) {
		got = NULL;
		cr_assert_eq(pm_qstore_read(l.qs, l.ok[i], &got), 0,
		    "%s acknowledged but lost", l.ok[i]);
		pm_qmsg_free(got);
		expect_body(l.qs, l.ok[i], body, 300000);
	}
	cr_expect_eq(raw_nkeys("pm:*:m:*"), raw_nkeys("pm:*:r:*"));
	cr_expect_eq((size_t) raw_int("XLEN pm:{0}:incoming"),
	    raw_nkeys("pm:*:m:*"));
	cr_expect(raw_nkeys("pm:*:m:*") >= l.nok);
	c = raw();
	r = redisCommand(c, "KEYS pm:*:t:*");
	cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY);
	for (i = 0; i < r->elements; i++) {
		cr_expect(raw_int("PTTL %s", r->element[i]->str) > 0,
		    "staged %s does not expire", r->element[i]->str);
	}
	freeReplyObject(r);
	redisFree(c);
	printf("kill9_mid_load: %zu acknowledged before the kill, all "
	    "found\n", l.nok);
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

	srv_start(extra);
	qs = open_qs("redis", 1);
	/*
	 * 1 MB as asked, unless Redis itself already uses about that much
	 * (functions, AOF buffers): then leave room for one small message.
	 */
	used = raw_used_memory();
	if (used + 256 * 1024 > max) {
		max = used + 256 * 1024;
	}
	raw_ok("CONFIG SET maxmemory %lld", max);
	msg_init(&small, 1);
	rc = pm_qstore_enqueue(qs, &small, "small\r\n", 7);
	cr_assert_eq(rc, 0, "small message: got %d, want 0", rc);
	msg_init(&big, 1);
	rc = pm_qstore_enqueue(qs, &big, body, 1024 * 1024);
	cr_expect_eq(rc, PM_EFULL, "1 MB message: got %d (%s), want %d", rc,
	    pm_strerror(rc), PM_EFULL);
	cr_expect_eq(raw_int("EXISTS pm:{0}:m:%s pm:{0}:r:%s pm:{0}:b:%s",
	    big.qid, big.qid, big.qid), 0);
	cr_expect_eq(raw_nkeys("pm:*:t:*"), 0, "staged body left");
	cr_expect_eq(raw_int("XLEN pm:{0}:incoming"), 1);
	/* Delete works when full. */
	raw_ok("CONFIG SET maxmemory %lld", raw_used_memory() - 1000);
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

	srv_start(NULL);
	qs = open_qs("redis", 1);
	pm_qstore_set_wait_replicas(qs, 1, 50);
	msg_init(&m, 1);
	rc = pm_qstore_enqueue(qs, &m, "x", 1);
	cr_expect_eq(rc, PM_EREDIS, "WAIT 1 without replicas: got %d, "
	    "want %d", rc, PM_EREDIS);
	cr_expect_eq(pm_qstore_read(qs, m.qid, &got), 0,
	    "queued on the primary all the same");
	pm_qmsg_free(got);
	pm_qstore_set_wait_replicas(qs, 0, 0);
	msg_init(&m, 1);
	cr_expect_eq(pm_qstore_enqueue(qs, &m, "x", 1), 0);
	pm_qstore_close(qs);
	leak_check();
}

Test(qstore, enqueue_many)
{
	pm_qstore *qs;
	pm_qmsg ms[10], *mp[10];
	const void *bp[10];
	size_t lens[10], i;
	int rc[10], first;

	srv_start(NULL);
	qs = open_qs("redis", 2);
	for (i = 0; i < 10; i++) {
		msg_init(&ms[i], 2);
		mp[i] = &ms[i];
		bp[i] = i % 2 ? "odd body\r\n" : "";
		lens[i] = i % 2 ? 10 : 0;
	}
	ms[7] = ms[3]; /* a duplicate inside the batch */
	ms[5].nrcpt = 0; /* invalid */
	first = pm_qstore_enqueue_many(qs, mp, bp, lens, 10, rc);
	for (i = 0; i < 10; i++) {
		int want = i == 7 ? PM_EEXIST : i == 5 ? PM_EINVAL : 0;

		cr_expect_eq(rc[i], want, "message %zu: got %d, want %d", i,
		    rc[i], want);
	}
	cr_expect_eq(first, PM_EINVAL);
	cr_expect_eq(raw_nkeys("pm:*:m:*"), 8);
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
		if (pm_qstore_enqueue(qs, &m, "Subject: x\r\n\r\nhi\r\n",
		    18) != 0) {
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

	srv_start(NULL);
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
	    "%.0f/s\n", CONC_THREADS * CONC_EACH, (long long) ms,
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
	cr_expect_eq(xlen, CONC_THREADS * CONC_EACH, "XLEN: got %lld, "
	    "want %d", xlen, CONC_THREADS * CONC_EACH);
	pm_qstore_close(qs);
	leak_check();
}
