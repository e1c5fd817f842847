/*
 * NAME
 *	test_local - unit tests of the local agent's pure parts
 * DESCRIPTION
 *	local_addr_split (extensions, several delimiters, owner-/-request
 *	with owner_request_special, hostile local parts), pm_loop_seen
 *	(Delivered-To in the primary headers only, case, white space,
 *	folded and truncated headers), local_user_parse ("uid:gid:home"),
 *	local_once_found (the tag in new/ or cur/ of a maildir in a temp
 *	dir), local_delegate_parse ("transport:nexthop" values of
 *	mailbox_transport and fallback_transport) and local_priv_set
 *	(files created by the thread get the user's uid/gid, another
 *	thread stays root; needs root as in CI).
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "pm_loop.h"

/* ---- local_addr_split ---- */

static const struct split_case {
	const char *addr, *delims;
	int ownreq;
	int rc;
	const char *local, *user, *ext, *domain;
} split_cases[] = {
	{ "Alice@Example.test", "+", 1, 0, "alice", "alice", "",
	    "Example.test" },
	{ "alice+news@d", "+", 1, 0, "alice+news", "alice", "news", "d" },
	{ "alice+a+b@d", "+", 1, 0, "alice+a+b", "alice", "a+b", "d" },
	{ "alice-x@d", "+-", 1, 0, "alice-x", "alice", "x", "d" },
	{ "alice+x@d", "", 1, 0, "alice+x", "alice+x", "", "d" },
	{ "+x@d", "+", 1, 0, "+x", "+x", "", "d" },
	{ "owner-list@d", "-", 1, 0, "owner-list", "owner-list", "", "d" },
	{ "list-request@d", "-", 1, 0, "list-request", "list-request", "",
	    "d" },
	{ "owner-list@d", "-", 0, 0, "owner-list", "owner", "list", "d" },
	{ "bare", "+", 1, 0, "bare", "bare", "", NULL },
	{ "@d", "+", 1, PM_EINVAL, NULL, NULL, NULL, NULL },
	{ "", "+", 1, PM_EINVAL, NULL, NULL, NULL, NULL },
	{ "../etc/passwd@d", "+", 1, PM_EINVAL, NULL, NULL, NULL, NULL },
};

Test(local_addr, split)
{
	size_t i;

	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];
		local_addr a;
		int rc = local_addr_split(&a, c->addr, c->delims, c->ownreq);

		cr_expect_eq(rc, c->rc, "%s: got rc %d, want %d", c->addr, rc,
		    c->rc);
		if (rc != 0 || c->rc != 0) {
			continue;
		}
		cr_expect_str_eq(a.local, c->local, "%s: local got %s want %s",
		    c->addr, a.local, c->local);
		cr_expect_str_eq(a.user, c->user, "%s: user got %s want %s",
		    c->addr, a.user, c->user);
		cr_expect_str_eq(a.ext, c->ext, "%s: ext got %s want %s",
		    c->addr, a.ext, c->ext);
		if (c->domain == NULL) {
			cr_expect_null(a.domain, "%s: domain", c->addr);
		} else {
			cr_expect_str_eq(a.domain, c->domain, "%s: domain",
			    c->addr);
		}
	}
}

Test(local_addr, overlong)
{
	char big[1200];
	local_addr a;

	memset(big, 'a', sizeof(big) - 3);
	strcpy(big + sizeof(big) - 3, "@d");
	cr_expect_eq(local_addr_split(&a, big, "+", 1), PM_EINVAL);
	/* a user just over LOCAL_NAME_MAX with a short extension */
	memset(big, 'b', LOCAL_NAME_MAX + 1);
	strcpy(big + LOCAL_NAME_MAX + 1, "+x@d");
	cr_expect_eq(local_addr_split(&a, big, "+", 1), PM_EINVAL);
}

/* ---- pm_loop_seen ---- */

static const struct loop_case {
	const char *msg, *addr;
	int want;
} loop_cases[] = {
	{ "Delivered-To: a@d\r\nSubject: x\r\n\r\nbody\r\n", "a@d", 1 },
	{ "delivered-to:   A@D  \r\n\r\n", "a@d", 1 },
	{ "Delivered-To: b@d\r\nDelivered-To: a@d\r\n\r\n", "a@d", 1 },
	{ "Delivered-To: a@d.x\r\n\r\n", "a@d", 0 },
	{ "Delivered-To: xa@d\r\n\r\n", "a@d", 0 },
	{ "X-Delivered-To: a@d\r\n\r\n", "a@d", 0 },
	/* in the body: not a loop */
	{ "Subject: x\r\n\r\nDelivered-To: a@d\r\n", "a@d", 0 },
	/* folded value */
	{ "Delivered-To:\r\n a@d\r\n\r\n", "a@d", 1 },
	/* no body, no final line end */
	{ "Delivered-To: a@d", "a@d", 1 },
	{ "", "a@d", 0 },
};

Test(local_loop, seen)
{
	size_t i;

	for (i = 0; i < sizeof(loop_cases) / sizeof(loop_cases[0]); i++) {
		const struct loop_case *c = &loop_cases[i];
		int got = pm_loop_seen(c->msg, strlen(c->msg), c->addr);

		cr_expect_eq(got, c->want, "case %zu: got %d, want %d", i, got,
		    c->want);
	}
}

Test(local_loop, nul_and_truncated)
{
	static const char msg[] = "Delivered-To: a@d\0x\r\nDelivered-To: a@d";

	/* a NUL in the value is not the address; length bounds the read */
	cr_expect_eq(pm_loop_seen(msg, 21, "a@d"), 0);
	cr_expect_eq(pm_loop_seen(msg, sizeof(msg) - 1, "a@d"), 1);
	cr_expect_eq(pm_loop_seen(msg, 10, "a@d"), 0);
}

/* ---- local_user_parse ---- */

Test(local_user, parse)
{
	local_user u;

	cr_assert_eq(local_user_parse("1000:100:/home/a", &u), 0);
	cr_expect_eq(u.uid, 1000);
	cr_expect_eq(u.gid, 100);
	cr_expect_str_eq(u.home, "/home/a");
	cr_assert_eq(local_user_parse("7:8:", &u), 0);
	cr_expect_str_eq(u.home, "");
	cr_assert_eq(local_user_parse("7:8", &u), 0);
	cr_expect_eq(local_user_parse("alice", &u), PM_EINVAL);
	cr_expect_eq(local_user_parse("1:2:relative", &u), PM_EINVAL);
	cr_expect_eq(local_user_parse("1:x:/h", &u), PM_EINVAL);
	cr_expect_eq(local_user_parse("-1:2:/h", &u), PM_EINVAL);
	cr_expect_eq(local_user_parse("99999999999:2:/h", &u), PM_EINVAL);
	cr_expect_eq(local_user_parse("", &u), PM_EINVAL);
}

/* ---- local_once_found ---- */

static char tmpdir[64];

static void
mk(const char *rel)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0, "create %s", path);
	close(fd);
}

Test(local_once, found)
{
	local_state s;
	char path[128];

	strcpy(tmpdir, "/tmp/test_local.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/new", tmpdir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/cur", tmpdir);
	cr_assert_eq(mkdir(path, 0700), 0);
	memset(&s, 0, sizeof(s));
	strcpy(s.tag, "host-1M1N9DVQZL1P6WNC42S-3");
	cr_expect_eq(local_once_found(&s, tmpdir), 0);
	/* another recipient index, another message: not it */
	mk("new/1.M1P1Q1.host-1M1N9DVQZL1P6WNC42S-31,S=10");
	mk("new/1.M1P1Q2.host-1M1N9DVQZL1P6WNC42T-3,S=10");
	cr_expect_eq(local_once_found(&s, tmpdir), 0);
	/* moved to cur/ by a reader, with flags */
	mk("cur/1.M1P1Q3.host-1M1N9DVQZL1P6WNC42S-3,S=10:2,S");
	cr_expect_eq(local_once_found(&s, tmpdir), 1);
	/* a missing maildir: not found, no crash */
	cr_expect_eq(local_once_found(&s, "/nonexistent/maildir"), 0);
	snprintf(path, sizeof(path), "rm -rf %s", tmpdir);
	cr_expect_eq(system(path), 0);
}

/* ---- local_priv ---- */

static pthread_barrier_t priv_bar;

/*
 * Started before the switch (a new thread copies its creator's
 * credentials): waits until the main thread is the user, writes.
 */
static void *
other_thread(void *arg)
{
	char *path = arg;
	int fd;

	pthread_barrier_wait(&priv_bar);
	fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
	if (fd >= 0) {
		close(fd);
	}
	pthread_barrier_wait(&priv_bar);
	return (NULL);
}

Test(local_priv, per_thread_fsuid)
{
	char dir[] = "/tmp/test_local_priv.XXXXXX", a[128], b[128], c[128];
	struct stat st;
	pthread_t t;
	int fd;

	cr_assert(local_priv_root(), "run as root (CI does)");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chmod(dir, 0777), 0);
	snprintf(a, sizeof(a), "%s/as-user", dir);
	snprintf(b, sizeof(b), "%s/other-thread", dir);
	snprintf(c, sizeof(c), "%s/root-only", dir);
	/* a root-only file the user must not be able to open */
	fd = open(c, O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_eq(pthread_barrier_init(&priv_bar, NULL, 2), 0);
	cr_assert_eq(pthread_create(&t, NULL, other_thread, b), 0);
	cr_assert_eq(local_priv_set(4321, 4322), 0);
	/* meanwhile another thread keeps root's identity */
	pthread_barrier_wait(&priv_bar);
	pthread_barrier_wait(&priv_bar);
	fd = open(a, O_CREAT | O_WRONLY | O_EXCL, 0600);
	cr_assert(fd >= 0);
	close(fd);
	cr_expect_lt(open(c, O_WRONLY), 0, "the user opened a root file");
	pthread_join(t, NULL);
	pthread_barrier_destroy(&priv_bar);
	local_priv_restore();
	cr_assert_eq(stat(a, &st), 0);
	cr_expect_eq(st.st_uid, 4321, "got uid %u", (unsigned) st.st_uid);
	cr_expect_eq(st.st_gid, 4322, "got gid %u", (unsigned) st.st_gid);
	cr_assert_eq(stat(b, &st), 0);
	cr_expect_eq(st.st_uid, 0, "the other thread wrote as %u",
	    (unsigned) st.st_uid);
	fd = open(c, O_WRONLY);
	cr_expect(fd >= 0, "root again after restore");
	if (fd >= 0) {
		close(fd);
	}
	/* uid 0 is never a target identity */
	cr_expect_neq(local_priv_set(0, 0), 0);
	unlink(a);
	unlink(b);
	unlink(c);
	rmdir(dir);
}

/* ---- local_expand ---- */

Test(local_expand, names)
{
	static const struct {
		const char *tpl;
		int strict, rc;
		const char *want;
	} cases[] = {
		{ "$home/.forward", 1, 0, "/h/al/.forward" },
		{ "$home/.forward${recipient_delimiter}${extension}", 1, 0,
		    "/h/al/.forward+news" },
		{ "$(user):$mailbox:$local:$domain", 0, 0,
		    "al:al:al+news:d.test" },
		{ "$recipient from $sender $$5", 0, 0,
		    "al+news@d.test from s@x.test $5" },
		{ "$nosuch", 0, -1, NULL },
		{ "${home", 0, -1, NULL },
	};
	local_state s;
	local_msg m;
	pm_job j;
	local_user u;
	local_addr a;
	pm_buf b;
	size_t i;

	memset(&s, 0, sizeof(s));
	memset(&j, 0, sizeof(j));
	j.sender = "s@x.test";
	m.job = &j;
	s.m = &m;
	s.rcpt = "al+news@d.test";
	memset(&u, 0, sizeof(u));
	strcpy(u.name, "al");
	strcpy(u.home, "/h/al");
	cr_assert_eq(local_addr_split(&a, s.rcpt, "+", 1), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		pm_buf_init(&b, 4096);
		rc =
		    local_expand(cases[i].tpl, &s, &u, &a, cases[i].strict, &b);
		cr_expect_eq(rc, cases[i].rc, "%s: got %d want %d",
		    cases[i].tpl, rc, cases[i].rc);
		if (rc == 0 && cases[i].want != NULL) {
			pm_buf_append(&b, "", 1);
			cr_expect_str_eq(b.data, cases[i].want, "%s: got %s",
			    cases[i].tpl, b.data);
		}
		pm_buf_free(&b);
	}
	/* no extension: a forward_path item with ${extension} is skipped */
	cr_assert_eq(local_addr_split(&a, "al@d.test", "+", 1), 0);
	pm_buf_init(&b, 4096);
	cr_expect_eq(local_expand("$home/.forward+${extension}", &s, &u, &a, 1,
	                 &b),
	    -1);
	pm_buf_free(&b);
}

/* ---- local_delegate_parse ---- */

Test(local_delegate, parse)
{
	static const struct {
		const char *spec, *def;
		int rc;
		const char *tp, *nh;
	} cases[] = {
		{ "lmtp:inet:127.0.0.1:24", "mx.test", 0, "lmtp",
		    "inet:127.0.0.1:24" },
		{ "lmtp:unix:/run/dovecot/lmtp", NULL, 0, "lmtp",
		    "unix:/run/dovecot/lmtp" },
		{ " dovecot ", "mx.test", 0, "dovecot", "mx.test" },
		{ "dovecot:", "mx.test", 0, "dovecot", "mx.test" },
		{ "local:", NULL, 0, "local", "" },
		{ "smtp:[10.0.0.1]:25", "mx.test", 0, "smtp", "[10.0.0.1]:25" },
		{ ":nexthop", "mx.test", PM_EINVAL, NULL, NULL },
		{ "", "mx.test", PM_EINVAL, NULL, NULL },
		{ "lm tp:x", "mx.test", PM_EINVAL, NULL, NULL },
		{ "lmtp:in et:x", "mx.test", PM_EINVAL, NULL, NULL },
		{ "lmtp:x\r\nRCPT", "mx.test", PM_EINVAL, NULL, NULL },
		{ "lmtp", "bad host", PM_EINVAL, NULL, NULL },
	};
	char tp[PM_QMGR_TRANSPORT_MAX + 1], nh[PM_QMGR_NEXTHOP_MAX + 1];
	char big[PM_QMGR_TRANSPORT_MAX + 8];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = local_delegate_parse(cases[i].spec, cases[i].def, tp,
		    sizeof(tp), nh, sizeof(nh));

		cr_expect_eq(rc, cases[i].rc, "%s: got %d want %d",
		    cases[i].spec, rc, cases[i].rc);
		if (rc == 0 && cases[i].rc == 0) {
			cr_expect_str_eq(tp, cases[i].tp, "%s: got %s",
			    cases[i].spec, tp);
			cr_expect_str_eq(nh, cases[i].nh, "%s: got %s",
			    cases[i].spec, nh);
		}
	}
	/* an over-long transport name, and buffers too small */
	memset(big, 't', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cr_expect_eq(local_delegate_parse(big, "x", tp, sizeof(tp), nh,
	                 sizeof(nh)),
	    PM_EINVAL);
	cr_expect_eq(local_delegate_parse("lmtp:abcdef", NULL, tp, sizeof(tp),
	                 nh, 4),
	    PM_EINVAL);
}

/* ---- local_user_find ---- */

Test(local_user, find)
{
	const char *err = NULL;
	pm_tables *ts = pm_tables_open("inline:{ alice=1001:1002:/h/alice, "
	                               "zero=0:0:/, nobody=nobody, "
	                               "ghost=ghost, root=root }",
	    &err);
	local_user u;

	cr_assert_not_null(ts, "%s", err ? err : "");
	cr_assert_eq(local_privs_init("nobody"), 0);
	cr_assert_eq(local_user_find(ts, "alice", &u), 0);
	cr_expect_eq(u.uid, 1001);
	cr_expect_eq(u.gid, 1002);
	cr_expect_str_eq(u.home, "/h/alice");
	cr_expect_str_eq(u.name, "alice");
	/* uid 0 from a table: refused */
	cr_expect_eq(local_user_find(ts, "zero", &u), PM_EINVAL);
	/* a plain value: the password entry */
	cr_assert_eq(local_user_find(ts, "nobody", &u), 0);
	cr_expect_eq(u.uid, local_nobody_uid);
	/* not in the password file: default_privs, no home */
	cr_assert_eq(local_user_find(ts, "ghost", &u), 0);
	cr_expect_eq(u.uid, local_nobody_uid);
	cr_expect_str_eq(u.home, "");
	/* root from the password file: never root */
	cr_assert_eq(local_user_find(ts, "root", &u), 0);
	cr_expect_neq(u.uid, 0);
	cr_expect_eq(local_user_find(ts, "nosuch", &u), PM_ENOENT);
	/* no table: the password file alone */
	cr_assert_eq(local_user_find(NULL, "root", &u), 0);
	cr_expect_eq(u.uid, local_nobody_uid);
	cr_expect_eq(local_user_find(NULL, "nosuchuser-xyz", &u), PM_ENOENT);
	/* default_privs: a name, a number, never root */
	cr_expect_eq(local_privs_init("4444"), 0);
	cr_expect_eq(local_nobody_uid, 4444);
	cr_expect_neq(local_privs_init("root"), 0);
	cr_expect_neq(local_privs_init("0"), 0);
	cr_expect_neq(local_privs_init("nosuchuser-xyz"), 0);
	cr_assert_eq(local_privs_init("nobody"), 0);
	pm_tables_close(ts);
}
