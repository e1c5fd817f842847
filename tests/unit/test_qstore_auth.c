/*
 * NAME
 *	test_qstore_auth - the queue store against a Redis with passwords
 * DESCRIPTION
 *	pm_qstore_set_auth(): every connection sends AUTH right after
 *	connect. A redis-server with an ACL user (the default user off)
 *	takes the right user and password (the functions load, a message
 *	is queued and read back, the durability check passes) and refuses
 *	a wrong password, an unknown user, the default user and no AUTH
 *	at all: every call fails with PM_EREDIS, the durability check says
 *	"refused our credentials" (or NOAUTH and what to set), and neither
 *	that text nor the log holds the password. With requirepass (the
 *	default user) "AUTH password" works. New credentials are used by
 *	the next connection after the old one is killed.
 * SECURITY
 *	Test code only: passwords on the redis-server command line.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "pm_log.h"
#include "qstore_helper.h"

#define PASS "s3cret-Pa55"
#define BAD_PASS "n0t-Th3-pa55w0rd"

static const char *const acl_args[] = { "--user", "default", "off", "--user",
	"postmesh", "on", ">" PASS, "~pm:*", "&*", "+@all", NULL };

static void
setup(void)
{
	pm_log_init("postmesh/test_qstore_auth");
}

static void
teardown(void)
{
	rh_stop(&srv);
}

TestSuite(qauth, .init = setup, .fini = teardown, .timeout = 120);

/* stdout to a file, to read back the log lines. */
static int cap_saved = -1, cap_fd = -1;

static void
cap_start(void)
{
	char tmpl[] = "/tmp/test_qauth_capXXXXXX";

	fflush(stdout);
	cap_fd = mkstemp(tmpl);
	cr_assert(cap_fd >= 0);
	unlink(tmpl);
	cap_saved = dup(1);
	cr_assert(dup2(cap_fd, 1) == 1);
}

static char *
cap_end(void)
{
	off_t size;
	char *buf;
	ssize_t n;

	fflush(stdout);
	dup2(cap_saved, 1);
	close(cap_saved);
	size = lseek(cap_fd, 0, SEEK_END);
	buf = pm_malloc((size_t) size + 1);
	lseek(cap_fd, 0, SEEK_SET);
	n = read(cap_fd, buf, (size_t) size);
	buf[n > 0 ? n : 0] = 0;
	close(cap_fd);
	return (buf);
}

/* One command as the ACL user, on a connection of its own. */
static void
admin(const char *pass, const char *fmt, const char *arg)
{
	redisContext *c = rh_raw(&srv);
	redisReply *r;

	cr_assert(c != NULL);
	r = redisCommand(c, "AUTH postmesh %s", pass);
	cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS, "admin AUTH");
	freeReplyObject(r);
	r = redisCommand(c, fmt, arg);
	cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt,
	    r ? r->str : c->errstr);
	freeReplyObject(r);
	redisFree(c);
}

Test(qauth, acl_user)
{
	static const struct {
		const char *user, *pass;
		int want;
		const char *why; /* in the durability check's text */
	} cases[] = {
		{ "postmesh", PASS, 0, "" },
		{ "postmesh", BAD_PASS, PM_EREDIS,
		    "refused our credentials (user postmesh): WRONGPASS" },
		{ "nobody", PASS, PM_EREDIS,
		    "refused our credentials (user nobody): WRONGPASS" },
		{ NULL, PASS, PM_EREDIS,
		    "refused our credentials (user default): WRONGPASS" },
		{ "", PASS, PM_EREDIS,
		    "refused our credentials (user default): WRONGPASS" },
		{ "postmesh", NULL, PM_EREDIS,
		    "NOAUTH Authentication required. (set redis_user and "
		    "redis_password_file)" },
	};
	char why[512], *log;
	pm_qstore *qs;
	pm_qmsg m, *got = NULL;
	long long len;
	size_t i;
	int rc;

	rh_start_with(&srv, acl_args);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_qstore_set_auth(cases[i].user, cases[i].pass);
		cap_start();
		qs = pm_qstore_open(srv.addr, 2000, "redis", 2);
		cr_assert(qs != NULL, "case %zu: open", i);
		rc = pm_qstore_load_functions(qs);
		cr_expect_eq(rc, cases[i].want,
		    "case %zu: load functions: got %d, want %d", i, rc,
		    cases[i].want);
		rc = pm_qstore_ping(qs);
		cr_expect_eq(rc, cases[i].want,
		    "case %zu: ping: got %d, want %d", i, rc, cases[i].want);
		rc = pm_qstore_incoming_len(qs, &len);
		cr_expect_eq(rc, cases[i].want,
		    "case %zu: XLEN: got %d, want %d", i, rc, cases[i].want);
		rc = pm_qstore_durable(qs, "fsync", 0, why, sizeof(why));
		cr_expect_eq(rc, cases[i].want,
		    "case %zu: durable: got %d (%s), want %d", i, rc, why,
		    cases[i].want);
		cr_expect(strstr(why, cases[i].why) != NULL,
		    "case %zu: got why \"%s\", want \"%s\" in it", i, why,
		    cases[i].why);
		if (cases[i].want == 0) {
			msg_init(&m, 2);
			cr_expect_eq(pm_qstore_enqueue(qs, &m, "hi\r\n", 4), 0);
			cr_expect_eq(pm_qstore_read(qs, m.qid, &got), 0);
			got = pm_qmsg_free(got);
		}
		pm_qstore_close(qs);
		log = cap_end();
		if (cases[i].want != 0) {
			/* logged once, whatever the number of calls */
			cr_expect(strstr(log, cases[i].why) != NULL,
			    "case %zu: log \"%s\" lacks \"%s\"", i, log,
			    cases[i].why);
		}
		cr_expect(strstr(log, PASS) == NULL &&
		        strstr(log, BAD_PASS) == NULL,
		    "case %zu: the password is in the log: %s", i, log);
		cr_expect(strstr(why, PASS) == NULL &&
		        strstr(why, BAD_PASS) == NULL,
		    "case %zu: the password is in \"%s\"", i, why);
		free(log);
	}
	pm_qstore_set_auth(NULL, NULL);
	leak_check();
}

/* requirepass: the default user, "AUTH password". */
Test(qauth, default_user)
{
	const char *args[] = { "--requirepass", PASS, NULL };
	static const struct {
		const char *user, *pass;
		int want;
	} cases[] = {
		{ NULL, PASS, 0 }, { "", PASS, 0 }, { "default", PASS, 0 },
		{ NULL, BAD_PASS, PM_EREDIS }, { NULL, NULL, PM_EREDIS },
		{ NULL, "", PM_EREDIS }, /* "": no AUTH */
	};
	pm_qstore *qs;
	size_t i;
	int rc;

	rh_start_with(&srv, args);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_qstore_set_auth(cases[i].user, cases[i].pass);
		qs = pm_qstore_open(srv.addr, 2000, "redis", 1);
		cr_assert(qs != NULL);
		rc = pm_qstore_ping(qs);
		cr_expect_eq(rc, cases[i].want, "case %zu: got %d, want %d", i,
		    rc, cases[i].want);
		pm_qstore_close(qs);
	}
	pm_qstore_set_auth(NULL, NULL);
	leak_check();
}

/* A password sent to a Redis that has none is an error, not ignored. */
Test(qauth, server_without_password)
{
	char why[512];
	pm_qstore *qs;

	rh_start(&srv);
	pm_qstore_set_auth(NULL, PASS);
	qs = pm_qstore_open(srv.addr, 2000, "redis", 1);
	cr_assert(qs != NULL);
	cr_expect_eq(pm_qstore_ping(qs), PM_EREDIS);
	cr_expect_eq(pm_qstore_durable(qs, "fsync", 0, why, sizeof(why)),
	    PM_EREDIS);
	cr_expect(strstr(why, "refused our credentials (user default): ERR") !=
	        NULL,
	    "got \"%s\"", why);
	pm_qstore_close(qs);
	pm_qstore_set_auth(NULL, NULL);
	leak_check();
}

/* The password changes: the next connection uses the new one. */
Test(qauth, next_connection_uses_new_credentials)
{
	pm_qstore *qs;

	rh_start_with(&srv, acl_args);
	pm_qstore_set_auth("postmesh", PASS);
	qs = pm_qstore_open(srv.addr, 2000, "redis", 1);
	cr_assert(qs != NULL);
	cr_assert_eq(pm_qstore_ping(qs), 0);
	/* rotation: Redis takes only the new password from now on */
	admin(PASS, "ACL SETUSER postmesh resetpass >%s", BAD_PASS);
	cr_expect_eq(pm_qstore_ping(qs), 0, "an open connection stays");
	admin(BAD_PASS, "CLIENT KILL USER %s", "postmesh");
	/* the first call finds the connection dead, the next reconnects */
	(void) pm_qstore_ping(qs);
	cr_expect_eq(pm_qstore_ping(qs), PM_EREDIS, "old password refused");
	pm_qstore_set_auth("postmesh", BAD_PASS);
	cr_expect_eq(pm_qstore_ping(qs), 0, "new password taken");
	pm_qstore_close(qs);
	pm_qstore_set_auth(NULL, NULL);
	leak_check();
}
