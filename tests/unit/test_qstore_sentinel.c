/*
 * NAME
 *	test_qstore_sentinel - pm_qstore through Redis Sentinel
 * SUMMARY
 *	build/test/test_qstore_sentinel
 * DESCRIPTION
 *	Real redis-server and redis-sentinel processes on free loopback
 *	ports (started and stopped by PID): the redis_sentinel_servers
 *	list is checked (good and hostile values); with no sentinel
 *	reachable a connection fails with a reason; a sentinel that names
 *	a replica (the stale answer of a failover) is not used (ROLE);
 *	after a -READONLY reply the next call asks the sentinels again and
 *	reaches the new master; so does the first call after Sentinel's
 *	CLIENT KILL closed the connection, without failing.
 * LIMITS
 *	Each sentinel is configured with quorum 1 and the default
 *	down-after-milliseconds (30 s), so none fails over during a test.
 * SECURITY
 *	Test code only.
 */
#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_qstore.h"
#include "pm_util.h"
#include "redis_helper.h"

#include <stdio.h>
#include <string.h>

typedef struct sen_proc {
	pid_t pid;
	int port;
	char dir[64];
} sen_proc;

static rh_server ra, rb;
static sen_proc s1, s2;
static char pa[16], pb[16]; /* ports of A and B */

/* redis-sentinel on a free port monitoring "m" at 127.0.0.1:mport. */
static void
sen_start(sen_proc *s, int mport)
{
	char conf[128], buf[512];
	pid_t parent = getpid();
	redisContext *c;
	FILE *f;
	int i, fd;

	strcpy(s->dir, "/tmp/pm_sentinel.XXXXXX");
	cr_assert(mkdtemp(s->dir) != NULL);
	s->port = rh_free_port();
	snprintf(conf, sizeof(conf), "%s/sentinel.conf", s->dir);
	snprintf(buf, sizeof(buf),
	    "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s/sentinel.log\n"
	    "sentinel monitor m 127.0.0.1 %d 1\n",
	    s->port, s->dir, s->dir, mport);
	cr_assert((f = fopen(conf, "w")) != NULL);
	fputs(buf, f);
	fclose(f);
	s->pid = fork();
	cr_assert(s->pid >= 0);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(1);
		}
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		execlp("redis-sentinel", "redis-sentinel", conf, (char *) NULL);
		_exit(127);
	}
	for (i = 0; i < 400; i++) {
		struct timeval tv = { 1, 0 };

		c = redisConnectWithTimeout("127.0.0.1", s->port, tv);
		if (c != NULL && c->err == 0) {
			redisFree(c);
			return;
		}
		if (c != NULL) {
			redisFree(c);
		}
		usleep(25000);
	}
	cr_assert_fail("redis-sentinel did not start; see %s", s->dir);
}

static void
sen_stop(sen_proc *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	if (s->dir[0] != 0) {
		nftw(s->dir, rh_rm_one, 8, FTW_DEPTH | FTW_PHYS);
		s->dir[0] = 0;
	}
}

/* postmesh_redis_sentinel_lookups_total{result="<result>"} */
static int64_t
lookups(const char *result)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	return (
	    pm_metric_value(pm_metric_counter("redis_sentinel_lookups_total",
	        "Redis Sentinel master lookups, by result", labels)));
}

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_sentinel");
}

static void
teardown(void)
{
	(void) pm_qstore_set_sentinels("", NULL, NULL, 1000);
	sen_stop(&s1);
	sen_stop(&s2);
	rh_stop(&ra);
	rh_stop(&rb);
}

TestSuite(sentinel, .init = setup, .fini = teardown, .timeout = 120);

Test(sentinel, server_list)
{
	static const struct {
		const char *servers, *master;
		int want;
	} t[] = {
		{ "", "m", 0 }, /* off */
		{ "127.0.0.1:26379", "m", 0 },
		{ "a:1, b:2 [::1]:3", "m", 0 },
		{ "sentinel-0.sentinel", "m", 0 }, /* port 26379 */
		{ "[::1]", "m", 0 },
		{ "a:1", "", PM_EINVAL },
		{ "unix:/run/sentinel.sock", "m", PM_EINVAL },
		{ "a:0", "m", PM_EINVAL },
		{ "a:65536", "m", PM_EINVAL },
		{ "a:1x", "m", PM_EINVAL },
		{ ":1", "m", PM_EINVAL },
		{ "[::1", "m", PM_EINVAL },
		{ "::1:5", "m", PM_EINVAL },
		{ ",, ,", "m", PM_EINVAL },
		{ "a:1 b:2 c:3 d:4 e:5 f:6 g:7 h:8 i:9 j:10 k:11 l:12 m:13 "
		  "n:14 o:15 p:16 q:17",
		    "m", PM_EINVAL },
	};
	char longhost[400];
	size_t i;
	int got;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		got = pm_qstore_set_sentinels(t[i].servers, t[i].master, NULL,
		    1000);
		cr_expect_eq(got, t[i].want,
		    "\"%s\" master \"%s\": got %d, "
		    "want %d",
		    t[i].servers, t[i].master, got, t[i].want);
	}
	memset(longhost, 'a', sizeof(longhost) - 3);
	strcpy(longhost + sizeof(longhost) - 3, ":1");
	got = pm_qstore_set_sentinels(longhost, "m", NULL, 1000);
	cr_expect_eq(got, PM_EINVAL, "a 400-byte host: got %d", got);
}

/* With no sentinel answering, a connection fails and says why. */
Test(sentinel, none_reachable)
{
	char list[64], why[256];
	pm_qstore *qs;
	int rc;

	snprintf(list, sizeof(list), "127.0.0.1:%d", rh_free_port());
	cr_assert_eq(pm_qstore_set_sentinels(list, "m", NULL, 1000), 0);
	/* redis_server names nothing either: only the sentinels count */
	qs = pm_qstore_open("127.0.0.1:1", 2000, "redis", 1);
	cr_assert(qs != NULL);
	rc = pm_qstore_durable(qs, "none", 0, why, sizeof(why));
	cr_expect_eq(rc, PM_EREDIS, "got %d", rc);
	cr_expect(strstr(why, "no sentinel named the Redis master m") != NULL,
	    "why: %s", why);
	/* one at pm_qstore_open, one at the call */
	cr_expect_eq(lookups("no_answer"), 2, "no_answer: got %lld",
	    (long long) lookups("no_answer"));
	pm_qstore_close(qs);
}

static void
start_pair(void)
{
	const char *ea[] = { "--port", pa, "--bind", "127.0.0.1", NULL };
	const char *eb[] = { "--port", pb, "--bind", "127.0.0.1", "--replicaof",
		"127.0.0.1", pa, NULL };

	snprintf(pa, sizeof(pa), "%d", rh_free_port());
	snprintf(pb, sizeof(pb), "%d", rh_free_port());
	rh_start_with(&ra, ea);
	rh_start_with(&rb, eb);
	sen_start(&s1, atoi(pa)); /* names A, the master */
	sen_start(&s2, atoi(pb)); /* names B, a replica: a stale answer */
}

/* A sentinel that names a replica: ROLE says so, nothing is used. */
Test(sentinel, stale_answer_refused)
{
	char list[64], why[256];
	pm_qstore *qs;
	int rc;

	start_pair();
	snprintf(list, sizeof(list), "127.0.0.1:%d", s2.port);
	cr_assert_eq(pm_qstore_set_sentinels(list, "m", NULL, 1000), 0);
	qs = pm_qstore_open("127.0.0.1:1", 2000, "redis", 1);
	cr_assert(qs != NULL);
	rc = pm_qstore_durable(qs, "none", 0, why, sizeof(why));
	cr_expect_eq(rc, PM_EREDIS, "a replica was used: got %d (%s)", rc, why);
	cr_expect(strstr(why, "is not the master (ROLE: slave)") != NULL,
	    "why: %s", why);
	/* one at pm_qstore_open, one at the call */
	cr_expect_eq(lookups("not_master"), 2, "not_master: got %lld",
	    (long long) lookups("not_master"));
	/* the other sentinel names the master: used at the next call */
	snprintf(list, sizeof(list), "127.0.0.1:%d", s1.port);
	cr_assert_eq(pm_qstore_set_sentinels(list, "m", NULL, 1000), 0);
	rc = pm_qstore_durable(qs, "none", 0, why, sizeof(why));
	cr_expect_eq(rc, 0, "got %d (%s)", rc, why);
	cr_expect_eq(pm_qstore_load_functions(qs), 0);
	cr_expect_eq(lookups("master"), 1, "master: got %lld",
	    (long long) lookups("master"));
	pm_qstore_close(qs);
}

/* The master turned into a replica under an open connection: -READONLY,
 * then the next call asks the sentinels again. */
Test(sentinel, readonly_asks_again)
{
	char list[64];
	pm_qstore *qs;
	int rc;

	start_pair();
	snprintf(list, sizeof(list), "127.0.0.1:%d", s1.port);
	cr_assert_eq(pm_qstore_set_sentinels(list, "m", NULL, 1000), 0);
	qs = pm_qstore_open("127.0.0.1:1", 2000, "redis", 1);
	cr_assert(qs != NULL);
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	/* a failover by hand: B master, A its replica */
	rh_ok(&rb, "REPLICAOF NO ONE");
	rh_ok(&ra, "REPLICAOF 127.0.0.1 %s", pb);
	rc = pm_qstore_load_functions(qs);
	cr_expect_eq(rc, PM_EREDIS, "a write to a replica: got %d", rc);
	/* now the sentinels name B (s2 monitors it) */
	snprintf(list, sizeof(list), "127.0.0.1:%d", s2.port);
	cr_assert_eq(pm_qstore_set_sentinels(list, "m", NULL, 1000), 0);
	rc = pm_qstore_load_functions(qs);
	cr_expect_eq(rc, 0, "after -READONLY the connection was kept: got %d",
	    rc);
	cr_expect_eq(lookups("readonly"), 1, "readonly: got %lld",
	    (long long) lookups("readonly"));
	cr_expect_eq(lookups("master"), 2, "master: got %lld",
	    (long long) lookups("master"));
	pm_qstore_close(qs);
}

/*
 * A failover as Sentinel makes it: the old master turned into a replica
 * and its clients killed (CLIENT KILL TYPE normal). The next call finds
 * its idle connection closed before it sends anything, asks the
 * sentinels and reaches the new master: it does not fail.
 */
Test(sentinel, killed_connection_asks_again)
{
	char list[64];
	pm_qstore *qs;
	int rc;

	start_pair();
	snprintf(list, sizeof(list), "127.0.0.1:%d", s1.port);
	cr_assert_eq(pm_qstore_set_sentinels(list, "m", NULL, 1000), 0);
	qs = pm_qstore_open("127.0.0.1:1", 2000, "redis", 1);
	cr_assert(qs != NULL);
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	rh_ok(&rb, "REPLICAOF NO ONE");
	rh_ok(&ra, "REPLICAOF 127.0.0.1 %s", pb);
	cr_assert_geq(rh_int(&ra, "CLIENT KILL TYPE normal"), 1);
	/* now the sentinels name B (s2 monitors it) */
	snprintf(list, sizeof(list), "127.0.0.1:%d", s2.port);
	cr_assert_eq(pm_qstore_set_sentinels(list, "m", NULL, 1000), 0);
	rc = pm_qstore_load_functions(qs);
	cr_expect_eq(rc, 0, "the first call after the kill: got %d, want 0",
	    rc);
	cr_expect_eq(lookups("master"), 2, "master: got %lld",
	    (long long) lookups("master"));
	pm_qstore_close(qs);
}
