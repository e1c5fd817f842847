/*
 * NAME
 *	redis_helper - a private redis-server for one unit test
 * SUMMARY
 *	#include "redis_helper.h"
 *	static rh_server srv;
 *	rh_start(&srv); ... rh_raw(&srv) ... rh_stop(&srv);
 * DESCRIPTION
 *	Starts redis-server (appendonly, appendfsync always, no RDB) on a
 *	UNIX socket in a temporary directory (no TCP port: tests that run
 *	in parallel, or restart a server, can never meet another test's
 *	server on a reused port), waits until it answers
 *	PING, and stops it by PID (rh_stop also removes the directory). The
 *	server gets PR_SET_PDEATHSIG, so a crashed test leaves no server
 *	behind. rh_raw() opens a second, plain hiredis connection for the
 *	test's own checks; rh_cmd() runs one command on it, and rh_int(),
 *	rh_str(), rh_ok() and rh_nkeys() check the kind of its reply.
 *
 *	rh_start_with() takes extra "--name", "value" arguments for
 *	redis-server (NULL-ended); a server that answers NOAUTH (an ACL
 *	or requirepass given that way) counts as started. rh_kill() stops the server with a signal
 *	but keeps its directory: the next rh_start() (or rh_start_with())
 *	runs on the same socket and the same data, as a restart does.
 *	rh_free_port() gives a free loopback port for the one test that
 *	checks host:port addresses ("--port", N as extra arguments).
 * LIMITS
 *	One server per rh_server; a test that needs a fresh one calls
 *	rh_stop() and rh_start() again (a new directory). At most
 *	16 extra arguments.
 * SECURITY
 *	Test code only: a socket in a mode-700 directory.
 */
#ifndef REDIS_HELPER_H
#define REDIS_HELPER_H

#include <criterion/criterion.h>

#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
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

typedef struct rh_server {
	pid_t pid;
	char dir[64];
	char sock[96];  /* dir/redis.sock */
	char addr[112]; /* "unix:dir/redis.sock" for pm_qstore_open */
} rh_server;

static inline int
rh_free_port(void)
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

static inline redisContext *
rh_raw(const rh_server *s)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectUnixWithTimeout(s->sock, tv);

	if (c != NULL && c->err) {
		redisFree(c);
		c = NULL;
	}
	return (c);
}

/* One command on a new raw connection; the reply (caller frees). */
static inline redisReply *
rh_vcmd(const rh_server *s, const char *fmt, va_list ap)
{
	redisContext *c = rh_raw(s);
	redisReply *r;

	cr_assert(c != NULL, "no raw connection to Redis");
	r = redisvCommand(c, fmt, ap);
	cr_assert(r != NULL, "%s: no reply from Redis: %s", fmt, c->errstr);
	redisFree(c);
	return (r);
}

static inline redisReply *
rh_cmd(const rh_server *s, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = rh_vcmd(s, fmt, ap);
	va_end(ap);
	return (r);
}

/* An integer reply (the test fails on any other kind). */
static inline long long
rh_int(const rh_server *s, const char *fmt, ...)
{
	redisReply *r;
	long long v;
	va_list ap;

	va_start(ap, fmt);
	r = rh_vcmd(s, fmt, ap);
	va_end(ap);
	cr_assert(r->type == REDIS_REPLY_INTEGER,
	    "%s: got reply type %d, want integer", fmt, r->type);
	v = r->integer;
	freeReplyObject(r);
	return (v);
}

/* A string reply as a malloc'ed string (caller frees), NULL for nil. */
static inline char *
rh_str(const rh_server *s, const char *fmt, ...)
{
	redisReply *r;
	char *v = NULL;
	va_list ap;

	va_start(ap, fmt);
	r = rh_vcmd(s, fmt, ap);
	va_end(ap);
	cr_assert(r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL,
	    "%s: got reply type %d, want string or nil", fmt, r->type);
	if (r->type == REDIS_REPLY_STRING) {
		v = strndup(r->str, r->len);
		cr_assert(v != NULL);
	}
	freeReplyObject(r);
	return (v);
}

/* A command that must not fail. */
static inline void
rh_ok(const rh_server *s, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = rh_vcmd(s, fmt, ap);
	va_end(ap);
	cr_assert(r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r->str);
	freeReplyObject(r);
}

/* The number of keys matching pattern. */
static inline size_t
rh_nkeys(const rh_server *s, const char *pattern)
{
	redisReply *r = rh_cmd(s, "KEYS %s", pattern);
	size_t n;

	cr_assert(r->type == REDIS_REPLY_ARRAY, "KEYS: got reply type %d",
	    r->type);
	n = r->elements;
	freeReplyObject(r);
	return (n);
}

static inline void
rh_start_with(rh_server *s, const char *const *extra)
{
	const char *argv[40];
	char log[96];
	redisContext *c;
	redisReply *r;
	pid_t parent = getpid();
	int i, n = 0, fd, ok;

	/*
	 * As every service (pm_server_main): a write to a server that went
	 * away is an error to handle, not a signal that kills the test.
	 */
	signal(SIGPIPE, SIG_IGN);
	if (s->dir[0] == 0) { /* else a restart on the same data */
		strcpy(s->dir, "/tmp/pm_redis.XXXXXX");
		cr_assert(mkdtemp(s->dir) != NULL);
		snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
		snprintf(s->addr, sizeof(s->addr), "unix:%s", s->sock);
	}
	snprintf(log, sizeof(log), "%s/redis.log", s->dir);
	argv[n++] = "redis-server";
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--unixsocket";
	argv[n++] = s->sock;
	argv[n++] = "--unixsocketperm";
	argv[n++] = "700";
	argv[n++] = "--dir";
	argv[n++] = s->dir;
	argv[n++] = "--appendonly";
	argv[n++] = "yes";
	argv[n++] = "--appendfsync";
	argv[n++] = "always";
	argv[n++] = "--save";
	argv[n++] = "";
	argv[n++] = "--logfile";
	argv[n++] = log;
	for (i = 0; extra != NULL && extra[i] != NULL; i++) {
		cr_assert(n < 39, "too many extra redis-server arguments");
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
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
		execvp("redis-server", (char **) argv);
		_exit(127);
	}
	for (i = 0; i < 400; i++) {
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			cr_assert_fail("redis-server exited at start; see %s",
			    log);
		}
		if ((c = rh_raw(s)) != NULL) {
			/* NOAUTH: up, with a password (rh_start_with) */
			r = redisCommand(c, "PING");
			ok = (r != NULL &&
			    (r->type == REDIS_REPLY_STATUS ||
			        (r->type == REDIS_REPLY_ERROR &&
			            strncmp(r->str, "NOAUTH", 6) == 0)));
			if (r != NULL) {
				freeReplyObject(r);
			}
			redisFree(c);
			if (ok) {
				return;
			}
		}
		usleep(25000);
	}
	cr_assert_fail("redis-server did not answer PING on %s", s->sock);
}

static inline void
rh_start(rh_server *s)
{
	rh_start_with(s, NULL);
}

static inline int
rh_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void) st;
	(void) flag;
	(void) f;
	return (remove(path));
}

/* Stop the server with sig (SIGKILL after 10 s); keep its directory. */
static inline void
rh_kill(rh_server *s, int sig)
{
	int i;

	if (s->pid <= 0) {
		return;
	}
	kill(s->pid, sig);
	for (i = 0; i < 400; i++) {
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		usleep(25000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

static inline void
rh_stop(rh_server *s)
{
	rh_kill(s, SIGTERM);
	if (s->dir[0]) {
		nftw(s->dir, rh_rm_one, 16, FTW_DEPTH | FTW_PHYS);
		s->dir[0] = 0;
	}
}

#endif
