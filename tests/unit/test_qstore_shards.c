/*
 * NAME
 *	test_qstore_shards - the queue refuses a changed queue_shards
 * DESCRIPTION
 *	A message's keys are found through pm_qid_shard(qid, queue_shards):
 *	a service started with another shard count than the queue was made
 *	with would miss queued mail and finish it (issue 6, 3e). The first
 *	pm_qstore_open() on an empty store records the count in
 *	pm:queue_shards; an open with another count exits with a fatal log
 *	line naming both values. The fatal case runs in a fork()ed child
 *	whose stdout (the log) goes to a pipe.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pm_log.h"
#include "pm_qstore.h"
#include "redis_helper.h"

static rh_server srv;

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_shards");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qshards, .init = setup, .fini = teardown, .timeout = 60);

/* The recorded count, or "" if none. */
static void
recorded(char *buf, size_t size)
{
	redisReply *r = rh_cmd(&srv, "GET pm:queue_shards");

	snprintf(buf, size, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
}

/*
 * Open with nshards in a child; returns its exit status (-1 if it did
 * not exit) and its log in out.
 */
static int
open_in_child(int nshards, char *out, size_t size)
{
	pm_qstore *qs;
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st;

	cr_assert(pipe(p) == 0);
	fflush(stdout);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 1);
		qs = pm_qstore_open(srv.addr, 2000, "redis", nshards);
		/* still here: the open was accepted; prove it works */
		_exit(qs != NULL && pm_qstore_ping(qs) == 0 ? 0 : 2);
	}
	close(p[1]);
	while (len + 1 < size &&
	    (n = read(p[0], out + len, size - len - 1)) > 0) {
		len += (size_t) n;
	}
	out[len] = 0;
	close(p[0]);
	cr_assert(waitpid(pid, &st, 0) == pid);
	return (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

Test(qshards, first_open_records_and_mismatch_is_fatal)
{
	static const struct {
		int nshards;
		int exit;        /* of the child */
		const char *log; /* in its log, or NULL */
		const char *key; /* pm:queue_shards afterwards */
	} steps[] = {
		/* first open of an empty store records its count */
		{ 1, 0, "queue_shards = 1 recorded in pm:queue_shards", "1" },
		{ 1, 0, NULL, "1" },
		/* another count: fatal, naming both values; key unchanged */
		{ 2, 1,
		    "fatal: queue_shards = 2, but the queue in Redis "
		    "unix:",
		    "1" },
		{ 4, 1, "was made with queue_shards = 1", "1" },
		{ 1, 0, NULL, "1" },
	};
	char log[8192], got[32];
	size_t i;
	int rc;

	rh_start(&srv);
	recorded(got, sizeof(got));
	cr_assert_str_eq(got, "", "a fresh Redis has pm:queue_shards = %s",
	    got);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		rc = open_in_child(steps[i].nshards, log, sizeof(log));
		cr_expect_eq(rc, steps[i].exit,
		    "step %zu (queue_shards = %d):"
		    " exit got %d, want %d; log:\n%s",
		    i, steps[i].nshards, rc, steps[i].exit, log);
		if (steps[i].log != NULL) {
			cr_expect(strstr(log, steps[i].log) != NULL,
			    "step %zu:"
			    " log lacks \"%s\":\n%s",
			    i, steps[i].log, log);
		}
		if (steps[i].exit != 0) {
			cr_expect(strstr(log, "fatal: ") != NULL,
			    "step %zu: "
			    "no fatal line:\n%s",
			    i, log);
		}
		recorded(got, sizeof(got));
		cr_expect_str_eq(got, steps[i].key,
		    "step %zu: pm:queue_shards "
		    "got \"%s\", want \"%s\"",
		    i, got, steps[i].key);
	}
}

/* An emptied store (FLUSHALL) takes the count of the next opener. */
Test(qshards, empty_store_takes_new_count)
{
	pm_qstore *qs;
	redisReply *r;
	char log[4096], got[32];

	rh_start(&srv);
	qs = pm_qstore_open(srv.addr, 2000, "redis", 3);
	cr_assert(qs != NULL);
	cr_assert_eq(pm_qstore_load_functions(qs), 0);
	pm_qstore_close(qs);
	recorded(got, sizeof(got));
	cr_expect_str_eq(got, "3");
	r = rh_cmd(&srv, "FLUSHALL");
	freeReplyObject(r);
	cr_expect_eq(open_in_child(2, log, sizeof(log)), 0, "log:\n%s", log);
	recorded(got, sizeof(got));
	cr_expect_str_eq(got, "2");
}

/*
 * Checked at every connection, not only at open: the store was emptied
 * and re-made by a service with another count while this one was
 * connected; its next connection (after the old one dropped) is fatal.
 */
Test(qshards, checked_at_reconnect)
{
	pm_qstore *qs;
	redisReply *r;
	char log[4096];
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st;

	rh_start(&srv);
	cr_assert(pipe(p) == 0);
	fflush(stdout);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], 1);
		qs = pm_qstore_open(srv.addr, 1000, "redis", 8);
		if (qs == NULL || pm_qstore_ping(qs) != 0) {
			_exit(3);
		}
		r = rh_cmd(&srv, "SET pm:queue_shards 5");
		freeReplyObject(r);
		r = rh_cmd(&srv, "CLIENT KILL TYPE normal SKIPME yes");
		freeReplyObject(r);
		(void) pm_qstore_ping(qs); /* finds the connection closed */
		(void) pm_qstore_ping(qs); /* connects again: fatal */
		_exit(0);
	}
	close(p[1]);
	while (len + 1 < sizeof(log) &&
	    (n = read(p[0], log + len, sizeof(log) - len - 1)) > 0) {
		len += (size_t) n;
	}
	log[len] = 0;
	close(p[0]);
	cr_assert(waitpid(pid, &st, 0) == pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1,
	    "exit status %d; "
	    "log:\n%s",
	    st, log);
	cr_expect(strstr(log, "fatal: queue_shards = 8, but") != NULL &&
	        strstr(log, "made with queue_shards = 5") != NULL,
	    "log:\n%s", log);
}
