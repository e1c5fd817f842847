/*
 * NAME
 *	test_qstore_deliv - unit tests of the delivery side of the queue
 * DESCRIPTION
 *	Claim, takeover, lease refresh, recipient status compare-and-set,
 *	finish, defer and requeue, hold and sizes (pm_qstore_deliv.c and
 *	its Redis Functions). Each test starts its own redis-server on a
 *	free loopback port in a temporary directory and stops it by PID;
 *	the server gets PR_SET_PDEATHSIG so a crashed test leaves none
 *	behind. Results are checked through a second, raw hiredis
 *	connection, never through the code under test alone.
 */
#include <criterion/criterion.h>

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
#include <unistd.h>

#include "pm_log.h"
#include "pm_qid.h"
#include "pm_qstore.h"
#include "pm_util.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

/* The test server (as in test_qstore.c). */

static struct {
	pid_t pid;
	int port;
	char dir[64];
	char addr[32];
	char bodies[96];
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

static void
srv_start(void)
{
	const char *argv[24];
	char port[16], log[96];
	redisContext *c;
	redisReply *r;
	pid_t parent = getpid();
	int i, n = 0, fd;

	if (srv.dir[0] == 0) {
		strcpy(srv.dir, "/tmp/pm_qdeliv.XXXXXX");
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
			cr_assert_fail("redis-server exited at start; see %s",
			    log);
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
	pm_log_init("postmesh/test_qstore_deliv");
}

static void
teardown(void)
{
	srv_stop(SIGKILL);
	if (srv.dir[0]) {
		nftw(srv.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
}

static void
leak_check(void)
{
#ifdef __SANITIZE_ADDRESS__
	cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked");
#endif
}

TestSuite(qdeliv, .init = setup, .fini = teardown, .timeout = 120);

/* Raw checks. */

static redisReply *
raw_cmd(const char *fmt, ...)
{
	redisContext *c = raw();
	redisReply *r;
	va_list ap;

	cr_assert(c != NULL, "raw connection to Redis failed");
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	cr_assert(r != NULL, "%s: no reply", fmt);
	redisFree(c);
	return (r);
}

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

/* A string reply as a malloc'ed string, NULL for nil. */
static char *
raw_str(const char *fmt, ...)
{
	redisContext *c = raw();
	redisReply *r;
	char *s = NULL;
	va_list ap;

	cr_assert(c != NULL);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	cr_assert(r != NULL && (r->type == REDIS_REPLY_STRING
	    || r->type == REDIS_REPLY_NIL), "%s: got reply type %d", fmt,
	    r ? r->type : -1);
	if (r->type == REDIS_REPLY_STRING) {
		s = pm_strndup(r->str, r->len);
	}
	freeReplyObject(r);
	redisFree(c);
	return (s);
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

/* Pending entries of group qmgr on a shard (XPENDING summary). */
static long long
raw_pending(int shard)
{
	redisReply *r = raw_cmd("XPENDING pm:{%d}:incoming qmgr", shard);
	long long v;

	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements >= 1
	    && r->element[0]->type == REDIS_REPLY_INTEGER,
	    "XPENDING: got reply type %d", r->type);
	v = r->element[0]->integer;
	freeReplyObject(r);
	return (v);
}

/* The consumer holding an entry, malloc'ed; NULL if not pending. */
static char *
raw_owner(const pm_qentry *e)
{
	redisReply *r = raw_cmd("XPENDING pm:{%d}:incoming qmgr %s %s 1",
	    e->shard, e->id, e->id);
	char *s = NULL;

	cr_assert(r->type == REDIS_REPLY_ARRAY);
	if (r->elements == 1) {
		s = pm_strdup(r->element[0]->element[1]->str);
	}
	freeReplyObject(r);
	return (s);
}

static long long
raw_xlen_all(int nshards)
{
	long long v = 0;
	int s;

	for (s = 0; s < nshards; s++) {
		v += raw_int("XLEN pm:{%d}:incoming", s);
	}
	return (v);
}

/* Messages. */

static pm_qrcpt rcpts[] = {
	{ "alice@example.com", "", 0, NULL, NULL, NULL },
	{ "bob@example.com", "rfc822;bob@example.com", 2, NULL, NULL, NULL },
	{ "carol@example.net", "", 0, NULL, NULL, NULL },
	{ "dave@example.net", "", 0, NULL, NULL, NULL },
};

static pm_qstore *
open_qs(const char *store, int nshards)
{
	pm_qstore *qs = pm_qstore_open(srv.addr, 1000, store, nshards);
	int rc;

	cr_assert(qs != NULL, "pm_qstore_open(%s, %s) failed", srv.addr,
	    store);
	rc = pm_qstore_load_functions(qs);
	cr_assert_eq(rc, 0, "load_functions: got %d, want 0", rc);
	return (qs);
}

/* Enqueue one message; its qid goes to qid. */
static void
enqueue(pm_qstore *qs, int nshards, int64_t arrival_us, char *qid)
{
	static const char body[] = "Subject: t\r\n\r\nhello\r\n";
	pm_qmsg m;
	int rc;

	memset(&m, 0, sizeof(m));
	pm_qid_new(m.qid);
	m.shard = pm_qid_shard(m.qid, nshards);
	m.sender = "sender@example.org";
	m.arrival_us = arrival_us ? arrival_us : pm_now_us();
	m.client_name = m.client_addr = m.client_port = "";
	m.helo_name = m.protocol = m.sasl_username = m.dsn_envid = "";
	m.nrcpt = sizeof(rcpts) / sizeof(rcpts[0]);
	m.rcpt = rcpts;
	rc = pm_qstore_enqueue(qs, &m, body, sizeof(body) - 1);
	cr_assert_eq(rc, 0, "enqueue: got %d (%s), want 0", rc,
	    pm_strerror(rc));
	memcpy(qid, m.qid, PM_QID_LEN + 1);
}

static size_t
claim(pm_qstore *qs, const char *consumer, const int *shards, int nsel,
    size_t max, int block_ms, pm_qentry *out)
{
	size_t n = 99999;
	int rc;

	rc = pm_qstore_claim_new(qs, consumer, shards, nsel, max, block_ms,
	    out, &n);
	cr_assert_eq(rc, 0, "claim_new: got %d (%s), want 0", rc,
	    pm_strerror(rc));
	cr_assert(n <= max, "claim_new: got %zu entries, want <= %zu", n,
	    max);
	return (n);
}

static size_t
stale(pm_qstore *qs, const char *consumer, long long idle, size_t max,
    pm_qentry *out)
{
	size_t n = 99999;
	int rc;

	rc = pm_qstore_claim_stale(qs, consumer, NULL, 0, idle, max, out, &n);
	cr_assert_eq(rc, 0, "claim_stale: got %d (%s), want 0", rc,
	    pm_strerror(rc));
	cr_assert(n <= max);
	return (n);
}

static void
expect_keys_gone(const char *qid, int nshards)
{
	int s = pm_qid_shard(qid, nshards);
	char *score;

	cr_expect_eq(raw_int("EXISTS pm:{%d}:m:%s pm:{%d}:r:%s pm:{%d}:b:%s",
	    s, qid, s, qid, s, qid), 0, "%s: m, r or b left", qid);
	score = raw_str("ZSCORE pm:{%d}:deferred %s", s, qid);
	cr_expect(score == NULL, "%s: still deferred", qid);
	free(score);
	cr_expect_eq(raw_int("SISMEMBER pm:{%d}:hold %s", s, qid), 0);
}

/* Tests. */

/* Claim, pending, finish; the fs body file goes with the message. */
static void
claim_finish(const char *store)
{
	enum { N = 6, SH = 4 };
	char qids[N][PM_QID_LEN + 1], path[160];
	pm_qentry e[N + 2];
	pm_qsizes sz;
	size_t n, i, j, seen = 0;
	pm_qstore *qs;
	struct stat st;
	int rc;

	srv_start();
	qs = open_qs(store, SH);
	for (i = 0; i < N; i++) {
		enqueue(qs, SH, 0, qids[i]);
	}
	n = claim(qs, "qmgr-1", NULL, 0, N + 2, 0, e);
	cr_assert_eq(n, N, "claimed: got %zu, want %d", n, N);
	for (i = 0; i < n; i++) {
		cr_expect_eq(e[i].shard, pm_qid_shard(e[i].qid, SH),
		    "%s: shard got %d, want %d", e[i].qid, e[i].shard,
		    pm_qid_shard(e[i].qid, SH));
		for (j = 0; j < N; j++) {
			if (strcmp(e[i].qid, qids[j]) == 0) {
				seen |= 1u << j;
			}
		}
	}
	cr_expect_eq(seen, (1u << N) - 1, "claimed ids: got mask %zx", seen);
	for (i = 0, j = 0; i < SH; i++) {
		j += (size_t) raw_pending((int) i);
	}
	cr_expect_eq(j, N, "pending: got %zu, want %d", j, N);
	cr_expect_eq(claim(qs, "qmgr-1", NULL, 0, 10, 0, e + N), 0,
	    "second claim got entries");
	cr_expect_eq(claim(qs, "qmgr-2", NULL, 0, 10, 0, e + N), 0,
	    "other consumer got entries");
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect_eq(sz.incoming, N, "incoming: got %lld", sz.incoming);
	cr_expect_eq(sz.active, N, "active: got %lld", sz.active);
	for (i = 0; i < n; i++) {
		rc = pm_qstore_finish(qs, &e[i]);
		cr_expect_eq(rc, 0, "finish: got %d (%s)", rc, pm_strerror(rc));
		expect_keys_gone(e[i].qid, SH);
		if (strncmp(store, "fs:", 3) == 0) {
			snprintf(path, sizeof(path), "%s/%c/%s", store + 3,
			    e[i].qid[10], e[i].qid);
			cr_expect(stat(path, &st) != 0, "%s still exists",
			    path);
		}
	}
	/* Finishing again is harmless. */
	cr_expect_eq(pm_qstore_finish(qs, &e[0]), 0);
	for (i = 0; i < SH; i++) {
		cr_expect_eq(raw_int("XLEN pm:{%d}:incoming", (int) i), 0);
		cr_expect_eq(raw_pending((int) i), 0);
	}
	cr_expect_eq(raw_int("DBSIZE"), SH + 1, "keys left besides the "
	    "streams and pm:queue_shards");
	pm_qstore_close(qs);
	leak_check();
}

Test(qdeliv, claim_finish_redis)
{
	claim_finish("redis");
}

Test(qdeliv, claim_finish_fs)
{
	srv_start(); /* makes srv.bodies */
	srv_stop(SIGTERM);
	claim_finish(srv.bodies);
}

/* COUNT is per stream: a claim over many shards never exceeds max. */
Test(qdeliv, claim_max_and_shards)
{
	enum { N = 23, SH = 4 };
	static const struct {
		size_t max;
	} cases[] = { { 1 }, { 3 }, { 5 }, { 7 }, { 100 } };
	char qids[N][PM_QID_LEN + 1];
	pm_qentry e[N], one[N];
	size_t n, total, c, i, j, k, in1 = 0;
	int sel[] = { 1 };
	pm_qstore *qs;

	srv_start();
	qs = open_qs("redis", SH);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		raw_ok("FLUSHALL");
		cr_assert_eq(pm_qstore_load_functions(qs), 0);
		for (i = 0; i < N; i++) {
			enqueue(qs, SH, 0, qids[i]);
		}
		total = 0;
		for (k = 0; k < 100 && total < N; k++) {
			n = claim(qs, "q", NULL, 0, cases[c].max, 0, one);
			cr_assert(n > 0, "max %zu: claim returned nothing "
			    "with %zu left", cases[c].max, N - total);
			memcpy(e + total, one, n * sizeof(*one));
			total += n;
		}
		cr_expect_eq(total, N, "max %zu: got %zu, want %d",
		    cases[c].max, total, N);
		for (i = 0; i < total; i++) {
			for (j = i + 1; j < total; j++) {
				cr_expect(strcmp(e[i].qid, e[j].qid) != 0,
				    "%s claimed twice", e[i].qid);
			}
		}
	}
	/* Only the selected shard. */
	raw_ok("FLUSHALL");
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	for (i = 0; i < N; i++) {
		enqueue(qs, SH, 0, qids[i]);
		in1 += (pm_qid_shard(qids[i], SH) == 1);
	}
	n = claim(qs, "q", sel, 1, N, 0, e);
	cr_expect_eq(n, in1, "shard 1: got %zu, want %zu", n, in1);
	for (i = 0; i < n; i++) {
		cr_expect_eq(e[i].shard, 1);
		cr_expect_eq(pm_qid_shard(e[i].qid, SH), 1);
	}
	pm_qstore_close(qs);
	leak_check();
}

/* Compare-and-set of a recipient's status. */
Test(qdeliv, rcpt_status_cas)
{
	static const struct {
		size_t idx;
		const char *status, *dsn, *text;
		int rc, changed;
		const char *want_s, *want_d, *want_t;
	} steps[] = {
		{ 0, "sent", "2.0.0", "250 ok", 0, 1, "sent", "2.0.0",
		    "250 ok" },
		{ 0, "bounced", "5.1.1", "550 no", 0, 0, "sent", "2.0.0",
		    "250 ok" },
		{ 0, "deferred", "4.0.0", "451 x", 0, 0, "sent", "2.0.0",
		    "250 ok" },
		{ 0, "sent", "2.0.0", "250 again", 0, 0, "sent", "2.0.0",
		    "250 ok" },
		{ 1, "deferred", "4.4.1", "connect refused", 0, 1, "deferred",
		    "4.4.1", "connect refused" },
		{ 1, "deferred", "4.7.0", "451 later", 0, 1, "deferred",
		    "4.7.0", "451 later" },
		{ 1, "sent", "2.0.0", "250 queued", 0, 1, "sent", "2.0.0",
		    "250 queued" },
		{ 1, "sent", "2.0.0", "250 dup", 0, 0, "sent", "2.0.0",
		    "250 queued" },
		{ 2, "bounced", "5.1.1", "550 unknown\r\nuser", 0, 1,
		    "bounced", "5.1.1", "550 unknown\r\nuser" },
		{ 2, "sent", "2.0.0", "250", 0, 0, "bounced", "5.1.1",
		    "550 unknown\r\nuser" },
		/* Hostile or wrong arguments change nothing. */
		{ 3, "done", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 3, "", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 3, "SENT", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 3, "sent", "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0", "x",
		    PM_EINVAL, -1, "todo", "", "" },
		{ 4, "sent", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 99999, "sent", "2.0.0", "x", PM_EINVAL, -1, "todo", "", "" },
		{ 100000, "sent", "", "", PM_EINVAL, -1, "todo", "", "" },
		{ (size_t) -1, "sent", "", "", PM_EINVAL, -1, "todo", "", "" },
	};
	char qid[PM_QID_LEN + 1], other[PM_QID_LEN + 1], *s, *big;
	size_t i;
	pm_qstore *qs;
	int rc, changed, sh;

	srv_start();
	qs = open_qs("redis", 2);
	enqueue(qs, 2, 0, qid);
	sh = pm_qid_shard(qid, 2);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		changed = -1;
		rc = pm_qstore_rcpt_status(qs, qid, steps[i].idx,
		    steps[i].status, steps[i].dsn, steps[i].text, &changed);
		cr_expect_eq(rc, steps[i].rc, "step %zu: rc got %d, want %d",
		    i, rc, steps[i].rc);
		cr_expect_eq(changed, steps[i].changed, "step %zu: changed "
		    "got %d, want %d", i, changed, steps[i].changed);
		if (steps[i].idx > 3) {
			continue;
		}
		s = raw_str("HGET pm:{%d}:r:%s %d:s", sh, qid,
		    (int) steps[i].idx);
		cr_expect_str_eq(s, steps[i].want_s, "step %zu: status got "
		    "%s, want %s", i, s, steps[i].want_s);
		free(s);
		s = raw_str("HGET pm:{%d}:r:%s %d:d", sh, qid,
		    (int) steps[i].idx);
		cr_expect_str_eq(s, steps[i].want_d);
		free(s);
		s = raw_str("HGET pm:{%d}:r:%s %d:t", sh, qid,
		    (int) steps[i].idx);
		cr_expect_str_eq(s, steps[i].want_t, "step %zu: text got "
		    "\"%s\"", i, s);
		free(s);
	}
	/* An over-long reply text is cut, not refused. */
	big = pm_malloc(100001);
	memset(big, 'x', 100000);
	big[100000] = 0;
	rc = pm_qstore_rcpt_status(qs, qid, 3, PM_RCPT_DEFERRED, NULL, big,
	    &changed);
	cr_expect_eq(rc, 0, "long text: got %d", rc);
	cr_expect_eq(raw_int("HSTRLEN pm:{%d}:r:%s 3:t", sh, qid), 4096);
	free(big);
	/* Not queued, bad id, wrong key type. */
	pm_qid_new(other);
	rc = pm_qstore_rcpt_status(qs, other, 0, "sent", "2.0.0", "", &changed);
	cr_expect_eq(rc, PM_ENOENT, "unknown qid: got %d, want ENOENT", rc);
	rc = pm_qstore_rcpt_status(qs, "../../etc/passwd", 0, "sent", "", "",
	    &changed);
	cr_expect_eq(rc, PM_EINVAL);
	raw_ok("SET pm:{%d}:r:%s junk", pm_qid_shard(other, 2), other);
	rc = pm_qstore_rcpt_status(qs, other, 0, "sent", "2.0.0", "", &changed);
	cr_expect_eq(rc, PM_EREDIS, "string r: got %d, want EREDIS", rc);
	raw_ok("DEL pm:{%d}:r:%s", pm_qid_shard(other, 2), other);
	raw_ok("HSET pm:{%d}:r:%s n 1 0:a x 0:s weird", pm_qid_shard(other,
	    2), other);
	rc = pm_qstore_rcpt_status(qs, other, 0, "sent", "2.0.0", "", &changed);
	cr_expect(rc == 0 && changed == 0, "unknown status: got %d/%d", rc,
	    changed);
	cr_expect_eq(pm_qstore_ping(qs), 0, "connection lost");
	/* The functions were flushed: loaded again, the call works. */
	raw_ok("FUNCTION FLUSH");
	rc = pm_qstore_rcpt_status(qs, qid, 3, "sent", "2.0.0", "250",
	    &changed);
	cr_expect(rc == 0 && changed == 1, "after FUNCTION FLUSH: got %d/%d",
	    rc, changed);
	pm_qstore_close(qs);
	leak_check();
}

/* Defer with a score, requeue when due, read back attempts. */
Test(qdeliv, defer_requeue)
{
	char qid[PM_QID_LEN + 1], ghost[PM_QID_LEN + 1];
	pm_qentry e[2];
	pm_qmsg *m = NULL;
	pm_qsizes sz;
	int64_t next;
	size_t moved = 99;
	pm_qstore *qs;
	int rc, sh;

	srv_start();
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qid);
	sh = 0;
	cr_assert_eq(claim(qs, "q", NULL, 0, 5, 0, e), 1);
	next = pm_now_us() + 400 * 1000;
	rc = pm_qstore_defer(qs, &e[0], 3, next);
	cr_assert_eq(rc, 0, "defer: got %d (%s)", rc, pm_strerror(rc));
	cr_expect_eq(raw_int("XLEN pm:{%d}:incoming", sh), 0);
	cr_expect_eq(raw_pending(sh), 0);
	cr_expect_eq(raw_int("ZCARD pm:{%d}:deferred", sh), 1);
	{
		char *score = raw_str("ZSCORE pm:{%d}:deferred %s", sh, qid);

		cr_assert(score != NULL);
		cr_expect_eq(atoll(score), next / 1000, "score: got %s, "
		    "want %lld", score, (long long) (next / 1000));
		free(score);
	}
	rc = pm_qstore_read(qs, qid, &m);
	cr_assert_eq(rc, 0);
	cr_expect_eq(m->attempts, 3);
	cr_expect_eq(m->next_attempt_us, next);
	m = pm_qmsg_free(m);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect(sz.incoming == 0 && sz.active == 0 && sz.deferred == 1,
	    "sizes: got %lld/%lld/%lld", sz.incoming, sz.active, sz.deferred);

	/* A ghost: deferred without a message. */
	pm_qid_new(ghost);
	raw_ok("ZADD pm:{0}:deferred 1 %s", ghost);
	rc = pm_qstore_requeue_due(qs, 0, pm_now_us() / 1000, 100, &moved);
	cr_expect_eq(rc, 0);
	cr_expect_eq(moved, 0, "early: moved %zu, want 0", moved);
	cr_expect_eq(raw_int("ZCARD pm:{0}:deferred"), 1, "ghost not removed");
	usleep(500 * 1000);
	rc = pm_qstore_requeue_due(qs, 0, pm_now_us() / 1000, 0, &moved);
	cr_expect(rc == 0 && moved == 0, "max 0: got %d, moved %zu", rc,
	    moved);
	rc = pm_qstore_requeue_due(qs, 0, pm_now_us() / 1000, 100, &moved);
	cr_expect_eq(rc, 0);
	cr_expect_eq(moved, 1, "due: moved %zu, want 1", moved);
	cr_expect_eq(raw_int("ZCARD pm:{0}:deferred"), 0);
	cr_expect_eq(raw_int("XLEN pm:{0}:incoming"), 1);
	cr_assert_eq(claim(qs, "q2", NULL, 0, 5, 0, e + 1), 1);
	cr_expect_str_eq(e[1].qid, qid);
	cr_expect_str_neq(e[1].id, e[0].id, "same entry id after requeue");
	/* Defer of a message that is gone: entry removed, no ghost. */
	raw_ok("DEL pm:{0}:m:%s", qid);
	rc = pm_qstore_defer(qs, &e[1], 4, next);
	cr_expect_eq(rc, PM_ENOENT, "gone: got %d, want ENOENT", rc);
	cr_expect_eq(raw_int("XLEN pm:{0}:incoming"), 0);
	cr_expect_eq(raw_int("ZCARD pm:{0}:deferred"), 0);
	/* Bad arguments. */
	cr_expect_eq(pm_qstore_requeue_due(qs, 1, 0, 1, &moved), PM_EINVAL);
	cr_expect_eq(pm_qstore_requeue_due(qs, -1, 0, 1, &moved), PM_EINVAL);
	cr_expect_eq(pm_qstore_defer(qs, &e[1], -1, next), PM_EINVAL);
	cr_expect_eq(pm_qstore_defer(qs, &e[1], 1, -5), PM_EINVAL);
	pm_qstore_close(qs);
	leak_check();
}

/* A dead consumer's entries are taken over; touch keeps a lease. */
Test(qdeliv, stale_and_touch)
{
	char qids[3][PM_QID_LEN + 1], *owner;
	pm_qentry dead[3], live[3], keep[2];
	size_t n, i;
	pm_qstore *qs, *qs2;
	int rc, kept = -1, taken = -1;

	srv_start();
	qs = open_qs("redis", 2);
	qs2 = open_qs("redis", 2);
	for (i = 0; i < 3; i++) {
		enqueue(qs, 2, 0, qids[i]);
	}
	cr_assert_eq(claim(qs, "dead", NULL, 0, 3, 0, dead), 3);
	cr_expect_eq(stale(qs2, "live", 300, 3, live), 0,
	    "fresh entries taken over");
	usleep(400 * 1000);
	/* "dead" is alive for entry 0 and 2 after all. */
	keep[0] = dead[0];
	keep[1] = dead[2];
	rc = pm_qstore_touch(qs, "dead", keep, 2);
	cr_expect_eq(rc, 0, "touch: got %d", rc);
	n = stale(qs2, "live", 300, 3, live);
	cr_assert_eq(n, 1, "taken over: got %zu, want 1", n);
	cr_expect_str_eq(live[0].qid, dead[1].qid);
	cr_expect_str_eq(live[0].id, dead[1].id);
	cr_expect_eq(live[0].shard, dead[1].shard);
	owner = raw_owner(&dead[1]);
	cr_expect_str_eq(owner, "live");
	free(owner);
	/* A late touch by the old owner does not steal it back. */
	rc = pm_qstore_touch(qs, "dead", &dead[1], 1);
	cr_expect_eq(rc, 0);
	owner = raw_owner(&dead[1]);
	cr_expect_str_eq(owner, "live", "touch stole the entry back");
	free(owner);
	/* max bounds the takeover ("live" keeps its own lease). */
	usleep(400 * 1000);
	cr_expect_eq(pm_qstore_touch(qs2, "live", live, 1), 0);
	n = stale(qs2, "live", 300, 1, live + 1);
	cr_expect_eq(n, 1, "max 1: got %zu", n);
	for (i = 0; i < 3; i++) {
		if (strcmp(dead[i].qid, live[1].qid) == 0) {
			taken = (int) i;
		}
	}
	cr_expect(taken == 0 || taken == 2, "took %d", taken);
	kept = taken == 0 ? 2 : 0;
	owner = raw_owner(&dead[kept]);
	cr_expect_str_eq(owner, "dead");
	free(owner);
	/* Bad arguments. */
	cr_expect_eq(pm_qstore_touch(qs, "de ad", dead, 1), PM_EINVAL);
	cr_expect_eq(pm_qstore_touch(qs, "", dead, 1), PM_EINVAL);
	live[2] = dead[0];
	strcpy(live[2].id, "1-2-3");
	cr_expect_eq(pm_qstore_touch(qs, "dead", &live[2], 1), PM_EINVAL);
	live[2].shard = 2;
	strcpy(live[2].id, "1-2");
	cr_expect_eq(pm_qstore_touch(qs, "dead", &live[2], 1), PM_EINVAL);
	cr_expect_eq(pm_qstore_claim_stale(qs, "live", NULL, 0, -1, 1, live,
	    &n), PM_EINVAL);
	pm_qstore_close(qs);
	pm_qstore_close(qs2);
	leak_check();
}

/* Hold: out of the stream, into the hold set; delete clears it. */
Test(qdeliv, hold)
{
	char qid[PM_QID_LEN + 1];
	pm_qentry e;
	pm_qsizes sz;
	pm_qstore *qs;
	int rc;

	srv_start();
	qs = open_qs("redis", 3);
	enqueue(qs, 3, 0, qid);
	cr_assert_eq(claim(qs, "q", NULL, 0, 1, 0, &e), 1);
	rc = pm_qstore_hold(qs, &e);
	cr_assert_eq(rc, 0, "hold: got %d", rc);
	cr_expect_eq(raw_int("SISMEMBER pm:{%d}:hold %s", e.shard, qid), 1);
	cr_expect_eq(raw_int("XLEN pm:{%d}:incoming", e.shard), 0);
	cr_expect_eq(raw_pending(e.shard), 0);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect(sz.hold == 1 && sz.incoming == 0 && sz.active == 0,
	    "sizes: hold %lld incoming %lld active %lld", sz.hold,
	    sz.incoming, sz.active);
	rc = pm_qstore_delete(qs, qid);
	cr_expect_eq(rc, 0);
	cr_expect_eq(raw_int("SCARD pm:{%d}:hold", e.shard), 0);
	rc = pm_qstore_hold(qs, &e);
	cr_expect_eq(rc, PM_ENOENT, "hold of a deleted message: got %d", rc);
	cr_expect_eq(raw_int("SCARD pm:{%d}:hold", e.shard), 0);
	pm_qstore_close(qs);
	leak_check();
}

/* Sizes over all shards and the oldest arrival. */
Test(qdeliv, sizes)
{
	enum { SH = 3 };
	static const int64_t arrival[] = { 3000000000000000LL,
		1000000000000000LL, 2000000000000000LL, 4000000000000000LL,
		2500000000000000LL };
	char qids[5][PM_QID_LEN + 1];
	pm_qentry e[5], x;
	pm_qsizes sz;
	pm_qstore *qs;
	size_t n, i;
	int rc;

	srv_start();
	qs = open_qs("redis", SH);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect(sz.incoming == 0 && sz.active == 0 && sz.deferred == 0
	    && sz.hold == 0 && sz.oldest_us == 0, "empty queue not empty");
	for (i = 0; i < 5; i++) {
		enqueue(qs, SH, arrival[i], qids[i]);
	}
	n = claim(qs, "q", NULL, 0, 5, 0, e);
	cr_assert_eq(n, 5);
	/* 1 (oldest) deferred, 3 held, 0 and 2 active, 4 back to new. */
	for (i = 0; i < n; i++) {
		if (strcmp(e[i].qid, qids[1]) == 0) {
			cr_assert_eq(pm_qstore_defer(qs, &e[i], 1,
			    pm_now_us() + 3600LL * 1000000), 0);
		} else if (strcmp(e[i].qid, qids[3]) == 0) {
			cr_assert_eq(pm_qstore_hold(qs, &e[i]), 0);
		} else if (strcmp(e[i].qid, qids[4]) == 0) {
			x = e[i];
			cr_assert_eq(pm_qstore_finish(qs, &x), 0);
		}
	}
	enqueue(qs, SH, arrival[4], qids[4]);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0, "sizes: got %d", rc);
	cr_expect_eq(sz.incoming, 3, "incoming: got %lld, want 3",
	    sz.incoming);
	cr_expect_eq(sz.active, 2, "active: got %lld, want 2", sz.active);
	cr_expect_eq(sz.deferred, 1);
	cr_expect_eq(sz.hold, 1);
	cr_expect_eq(sz.oldest_us, arrival[1], "oldest: got %lld, want %lld",
	    (long long) sz.oldest_us, (long long) arrival[1]);
	cr_expect_eq(raw_xlen_all(SH), 3);
	/* Without the deferred one, the oldest is an incoming entry. */
	cr_assert_eq(pm_qstore_delete(qs, qids[1]), 0);
	rc = pm_qstore_sizes(qs, &sz);
	cr_assert_eq(rc, 0);
	cr_expect_eq(sz.deferred, 0);
	cr_expect(sz.oldest_us == arrival[0] || sz.oldest_us == arrival[2]
	    || sz.oldest_us == arrival[4], "oldest: got %lld",
	    (long long) sz.oldest_us);
	/* A key of the wrong type is an error, not a crash. */
	raw_ok("SET pm:{1}:hold junk");
	rc = pm_qstore_sizes(qs, &sz);
	cr_expect_eq(rc, PM_EREDIS, "wrong type: got %d, want EREDIS", rc);
	cr_expect_eq(pm_qstore_ping(qs), 0);
	pm_qstore_close(qs);
	leak_check();
}

/* Entries without a valid queue id are acknowledged and removed. */
Test(qdeliv, malformed_entries)
{
	static const char *const bad[] = {
		"XADD pm:{0}:incoming * foo bar",
		"XADD pm:{0}:incoming * qid ../../etc/passwd",
		"XADD pm:{0}:incoming * qid %b",
		"XADD pm:{0}:incoming * qid %s",
		"XADD pm:{0}:incoming * qid 0123456789abcdefghijklmnop",
	};
	char qid[PM_QID_LEN + 1], nul[PM_QID_LEN];
	pm_qentry e[8];
	pm_qstore *qs;
	size_t i, n;

	srv_start();
	qs = open_qs("redis", 1);
	pm_qid_new(qid);
	memcpy(nul, qid, PM_QID_LEN);
	nul[5] = 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strstr(bad[i], "%b") != NULL) {
			raw_ok(bad[i], nul, (size_t) PM_QID_LEN);
		} else if (strstr(bad[i], "%s") != NULL) {
			raw_ok(bad[i], "");
		} else {
			raw_ok(bad[i]);
		}
	}
	enqueue(qs, 1, 0, qid);
	n = claim(qs, "q", NULL, 0, 8, 0, e);
	cr_assert_eq(n, 1, "claimed: got %zu, want 1", n);
	cr_expect_str_eq(e[0].qid, qid);
	cr_expect_eq(raw_int("XLEN pm:{0}:incoming"), 1, "malformed kept");
	cr_expect_eq(raw_pending(0), 1);
	/* Wrong stream type and bad arguments. */
	raw_ok("SET pm:{0}:incoming junk");
	cr_expect_eq(pm_qstore_claim_new(qs, "q", NULL, 0, 8, 0, e, &n),
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_claim_stale(qs, "q", NULL, 0, 0, 8, e, &n),
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_finish(qs, &e[0]), PM_EREDIS);
	cr_expect_eq(pm_qstore_requeue_due(qs, 0, 0, 1, &n), PM_EREDIS);
	cr_expect_eq(pm_qstore_ping(qs), 0);
	{
		int dup[] = { 0, 0 }, out[] = { 1 }, neg[] = { -1 };
		char longname[200];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = 0;
		cr_expect_eq(pm_qstore_claim_new(qs, "q", dup, 2, 8, 0, e, &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "q", out, 1, 8, 0, e, &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "q", neg, 1, 8, 0, e, &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "q", out, 0, 8, 0, e, &n),
		    PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, longname, NULL, 0, 8, 0, e,
		    &n), PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "a\nb", NULL, 0, 8, 0, e,
		    &n), PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, NULL, NULL, 0, 8, 0, e,
		    &n), PM_EINVAL);
		cr_expect_eq(pm_qstore_claim_new(qs, "q", NULL, 0, 8, -1, e,
		    &n), PM_EINVAL);
	}
	pm_qstore_close(qs);
	leak_check();
}

/* A blocking claim waits longer than the command timeout. */
struct late {
	pm_qstore *qs;
	char qid[PM_QID_LEN + 1];
};

static void *
late_enqueue(void *arg)
{
	struct late *l = arg;

	usleep(1300 * 1000);
	enqueue(l->qs, 2, 0, l->qid);
	return (NULL);
}

Test(qdeliv, claim_blocks)
{
	struct late l;
	pthread_t t;
	pm_qentry e[2];
	pm_qstore *qs;
	int64_t t0, ms;
	size_t n;

	srv_start();
	qs = open_qs("redis", 2); /* command timeout 1000 ms */
	l.qs = open_qs("redis", 2);
	t0 = pm_mono_ms();
	n = claim(qs, "q", NULL, 0, 2, 300, e);
	ms = pm_mono_ms() - t0;
	cr_expect_eq(n, 0);
	cr_expect(ms >= 250 && ms < 1500, "empty block: %lld ms",
	    (long long) ms);
	cr_assert_eq(pthread_create(&t, NULL, late_enqueue, &l), 0);
	t0 = pm_mono_ms();
	n = claim(qs, "q", NULL, 0, 2, 5000, e);
	ms = pm_mono_ms() - t0;
	pthread_join(t, NULL);
	cr_assert_eq(n, 1, "blocking claim: got %zu, want 1 (after %lld ms)",
	    n, (long long) ms);
	cr_expect_str_eq(e[0].qid, l.qid);
	cr_expect(ms >= 1000 && ms < 4000, "woke after %lld ms",
	    (long long) ms);
	cr_expect_eq(pm_qstore_ping(qs), 0, "connection dropped");
	pm_qstore_close(qs);
	pm_qstore_close(l.qs);
	leak_check();
}

/* Redis down: errors; back: the same handle works again. */
Test(qdeliv, redis_down_and_back)
{
	char qid[PM_QID_LEN + 1];
	pm_qentry e[2];
	pm_qsizes sz;
	pm_qstore *qs;
	size_t n = 0, moved;
	int changed;

	srv_start();
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qid);
	srv_stop(SIGTERM); /* appendfsync always: nothing is lost */
	cr_expect_eq(pm_qstore_claim_new(qs, "q", NULL, 0, 2, 0, e, &n),
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_claim_stale(qs, "q", NULL, 0, 0, 2, e, &n),
	    PM_EREDIS);
	cr_expect_eq(pm_qstore_sizes(qs, &sz), PM_EREDIS);
	cr_expect_eq(pm_qstore_rcpt_status(qs, qid, 0, "sent", "", "",
	    &changed), PM_EREDIS);
	cr_expect_eq(pm_qstore_requeue_due(qs, 0, 0, 1, &moved), PM_EREDIS);
	srv_start();
	n = claim(qs, "q", NULL, 0, 2, 0, e);
	cr_expect_eq(n, 1, "after restart: got %zu, want 1", n);
	cr_expect_eq(pm_qstore_rcpt_status(qs, qid, 0, "sent", "", "",
	    &changed), 0);
	cr_expect_eq(pm_qstore_finish(qs, &e[0]), 0);
	expect_keys_gone(qid, 1);
	pm_qstore_close(qs);
	leak_check();
}

/* Takeover skips malformed and deleted entries and cleans them up. */
Test(qdeliv, stale_malformed_and_deleted)
{
	char qids[2][PM_QID_LEN + 1];
	pm_qentry e[4], x[4];
	redisReply *r;
	pm_qstore *qs;
	size_t n;

	srv_start();
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qids[0]);
	enqueue(qs, 1, 0, qids[1]);
	raw_ok("XADD pm:{0}:incoming * qid not-a-queue-id");
	/* "dead" reads all three by hand, so the bad one is pending too. */
	r = raw_cmd("XREADGROUP GROUP qmgr dead COUNT 10 STREAMS "
	    "pm:{0}:incoming >");
	cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 1);
	freeReplyObject(r);
	cr_assert_eq(raw_pending(0), 3);
	/* The first message's entry disappears from the stream. */
	cr_assert_eq(stale(qs, "probe", 0, 1, x), 1);
	cr_assert_eq(pm_qstore_touch(qs, "probe", x, 1), 0);
	raw_ok("XDEL pm:{0}:incoming %s", x[0].id);
	usleep(150 * 1000);
	n = stale(qs, "live", 100, 4, e);
	cr_expect_eq(n, 1, "taken over: got %zu, want 1", n);
	cr_expect_str_eq(e[0].qid, strcmp(x[0].qid, qids[0]) == 0 ? qids[1]
	    : qids[0]);
	cr_expect_eq(raw_pending(0), 1, "pending: got %lld, want 1",
	    raw_pending(0));
	cr_expect_eq(raw_int("XLEN pm:{0}:incoming"), 1,
	    "malformed entry left in the stream");
	/* Nothing stale: n is 0 and *n is set. */
	n = stale(qs, "live", 60000, 4, e);
	cr_expect_eq(n, 0);
	cr_expect_eq(pm_qstore_touch(qs, "live", e, 0), 0);
	pm_qstore_close(qs);
	leak_check();
}

/* fs store: finishing a message whose keys are gone removes the file. */
Test(qdeliv, finish_fs_orphan)
{
	char qid[PM_QID_LEN + 1], path[160], store[96];
	struct stat st;
	pm_qentry e;
	pm_qstore *qs;
	int sh;

	srv_start();
	strcpy(store, srv.bodies);
	qs = open_qs(store, 2);
	enqueue(qs, 2, 0, qid);
	sh = pm_qid_shard(qid, 2);
	snprintf(path, sizeof(path), "%s/%c/%s", store + 3, qid[10], qid);
	cr_assert(stat(path, &st) == 0, "%s: no body file", path);
	cr_assert_eq(claim(qs, "q", NULL, 0, 1, 0, &e), 1);
	raw_ok("DEL pm:{%d}:m:%s pm:{%d}:r:%s", sh, qid, sh, qid);
	cr_expect_eq(pm_qstore_finish(qs, &e), 0);
	cr_expect(stat(path, &st) != 0, "%s: orphan body file left", path);
	cr_expect_eq(raw_pending(sh), 0);
	cr_expect_eq(raw_int("XLEN pm:{%d}:incoming", sh), 0);
	pm_qstore_close(qs);
	leak_check();
}

/* Requeue order (earliest first), the per-call max and the cap. */
Test(qdeliv, requeue_order_and_max)
{
	enum { N = 25 };
	char qids[N][PM_QID_LEN + 1];
	pm_qentry e[N], back[N];
	pm_qstore *qs;
	size_t n, i, moved, total = 0;
	int64_t base = pm_now_us() - 3600LL * 1000000;
	int rounds;

	srv_start();
	qs = open_qs("redis", 1);
	for (i = 0; i < N; i++) {
		enqueue(qs, 1, 0, qids[i]);
	}
	cr_assert_eq(claim(qs, "q", NULL, 0, N, 0, e), N);
	/* Entry i is due at base + (N - i) ms: the last one first. */
	for (i = 0; i < N; i++) {
		cr_assert_eq(pm_qstore_defer(qs, &e[i], 1, base
		    + (int64_t) (N - i) * 1000), 0);
	}
	cr_expect_eq(pm_qstore_requeue_due(qs, 0, base / 1000 + 3, 100,
	    &moved), 0);
	cr_expect_eq(moved, 3, "due by base+3ms: moved %zu, want 3", moved);
	n = claim(qs, "q", NULL, 0, N, 0, back);
	cr_assert_eq(n, 3);
	for (i = 0; i < n; i++) {
		cr_expect_str_eq(back[i].qid, e[N - 1 - i].qid,
		    "requeue order: %zu got %s, want %s", i, back[i].qid,
		    e[N - 1 - i].qid);
	}
	total = 3;
	for (rounds = 0; rounds < 10 && total < N; rounds++) {
		cr_assert_eq(pm_qstore_requeue_due(qs, 0, pm_now_us() / 1000,
		    10, &moved), 0);
		cr_expect(moved <= 10, "moved %zu > max 10", moved);
		total += moved;
	}
	cr_expect_eq(total, N, "requeued: got %zu, want %d", total, N);
	cr_expect_eq(rounds, 3, "rounds: got %d, want 3", rounds);
	cr_expect_eq(raw_int("ZCARD pm:{0}:deferred"), 0);
	cr_expect_eq(raw_int("XLEN pm:{0}:incoming"), N);
	/* A huge max is capped, not an error. */
	cr_expect_eq(pm_qstore_requeue_due(qs, 0, pm_now_us() / 1000,
	    (size_t) -1, &moved), 0);
	cr_expect_eq(moved, 0);
	pm_qstore_close(qs);
	leak_check();
}

/* The group was lost (Redis restarted empty, flushed): recreated. */
Test(qdeliv, nogroup_recovery)
{
	char qid[PM_QID_LEN + 1];
	pm_qentry e[2];
	pm_qstore *qs;

	srv_start();
	qs = open_qs("redis", 1);
	enqueue(qs, 1, 0, qid);
	raw_ok("XGROUP DESTROY pm:{0}:incoming qmgr");
	raw_ok("FUNCTION FLUSH");
	cr_expect_eq(claim(qs, "q", NULL, 0, 2, 0, e), 1,
	    "claim after the group was lost");
	cr_expect_str_eq(e[0].qid, qid);
	cr_expect_eq(pm_qstore_finish(qs, &e[0]), 0,
	    "finish after FUNCTION FLUSH");
	expect_keys_gone(qid, 1);
	pm_qstore_close(qs);
	leak_check();
}

/* Consumers claiming at once: every message exactly once. */
enum { CC_THREADS = 4, CC_MSGS = 400, CC_SHARDS = 4 };

struct cc {
	int id;
	size_t n;
	pm_qentry e[CC_MSGS];
};

static void *
cc_run(void *arg)
{
	struct cc *c = arg;
	pm_qstore *qs = pm_qstore_open(srv.addr, 2000, "redis", CC_SHARDS);
	char name[16];
	size_t n;
	int idle = 0, i;

	snprintf(name, sizeof(name), "qmgr-%d", c->id);
	while (qs != NULL && idle < 3) {
		if (pm_qstore_claim_new(qs, name, NULL, 0, 7, 50,
		    c->e + c->n, &n) < 0 || c->n + 7 > CC_MSGS) {
			break;
		}
		idle = n == 0 ? idle + 1 : 0;
		/* Finish half of them at once, like a busy qmgr. */
		for (i = 0; i < (int) n; i += 2) {
			(void) pm_qstore_finish(qs, &c->e[c->n + (size_t) i]);
		}
		c->n += n;
	}
	pm_qstore_close(qs);
	return (NULL);
}

Test(qdeliv, concurrent_consumers)
{
	static struct cc cc[CC_THREADS];
	static char qids[CC_MSGS][PM_QID_LEN + 1];
	pthread_t t[CC_THREADS];
	pm_qstore *qs;
	size_t i, j, k, total = 0, found;

	srv_start();
	qs = open_qs("redis", CC_SHARDS);
	for (i = 0; i < CC_THREADS; i++) {
		cc[i].id = (int) i;
		cr_assert_eq(pthread_create(&t[i], NULL, cc_run, &cc[i]), 0);
	}
	for (i = 0; i < CC_MSGS; i++) {
		enqueue(qs, CC_SHARDS, 0, qids[i]);
	}
	for (i = 0; i < CC_THREADS; i++) {
		pthread_join(t[i], NULL);
		total += cc[i].n;
	}
	cr_expect_eq(total, CC_MSGS, "claimed: got %zu, want %d", total,
	    CC_MSGS);
	for (k = 0; k < CC_MSGS; k++) {
		found = 0;
		for (i = 0; i < CC_THREADS; i++) {
			for (j = 0; j < cc[i].n; j++) {
				found += strcmp(cc[i].e[j].qid, qids[k]) == 0;
			}
		}
		cr_expect_eq(found, 1, "%s claimed %zu times", qids[k], found);
	}
	pm_qstore_close(qs);
	leak_check();
}
