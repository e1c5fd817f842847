/*
 * NAME
 *	test_mailbox - unit tests of pm_mailbox (maildir and mbox writers)
 * DESCRIPTION
 *	In a temporary directory: the file holds the content byte for
 *	byte (LF line ends) after Return-Path and Delivered-To; envelope
 *	text cannot inject a header; maildir names stay unique over 1000
 *	deliveries from 2 processes; N forked mbox writers never
 *	interleave (each message parses back intact); a lock held by
 *	another process (fcntl or dotlock) gives 4.2.0 after the wait, a
 *	stale dotlock is removed; the size limit gives 5.2.2 and writes
 *	nothing; a write that fails half way (RLIMIT_FSIZE) truncates the
 *	mbox back and leaves no maildir file; symlinks and hard links
 *	are refused; lock lists parse; a mailbox that cannot be opened
 *	or created (mbox, maildir directory) maps through
 *	pm_mailbox_errno_dsn() over open_dsn (default 4.2.0), a write
 *	error over 5.3.0 (EFBIG: 5.2.2 "error writing message: ...").
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pm_mailbox.h"
#include "pm_util.h"

static char tdir[64];

static void
setup(void)
{
	strcpy(tdir, "/tmp/pm_mailbox_XXXXXX");
	cr_assert_not_null(mkdtemp(tdir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	if (system(cmd) != 0) {
		cr_log_warn("cannot remove %s", tdir);
	}
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = pm_malloc((size_t) n + 1);
	cr_assert_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
	buf[n] = 0;
	fclose(f);
	*len = (size_t) n;
	return (buf);
}

/* Names of the files in dir (sorted not needed); returns the count. */
static int
list_dir(const char *dir, char names[][256], int max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "opendir %s", dir);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		if (names && n < max) {
			snprintf(names[n], 256, "%s", e->d_name);
		}
		n++;
	}
	closedir(d);
	return (n);
}

static off_t
file_size(const char *path)
{
	struct stat sb;

	return (stat(path, &sb) == 0 ? sb.st_size : -1);
}

static const pm_mailbox_opts defopts = {
	.lock_wait_ms = 2000,
	.locks = PM_MBOX_LOCK_FCNTL | PM_MBOX_LOCK_DOTLOCK,
	.instance = "pod-a:1/x",
};

TestSuite(mailbox, .init = setup, .fini = teardown);

Test(mailbox, maildir_content)
{
	static const char body[] = "Subject: hi\r\nFrom: a@b\r\n\r\nline 1\r\n"
	                           "From here\r\nbare\rcr\r\nno final eol";
	static const char want[] = "Return-Path: <s@x.org>\nDelivered-To: "
	                           "u@d.org\nSubject: hi\nFrom: a@b\n\nline 1\n"
	                           "From here\nbare\rcr\nno final eol\n";
	pm_mailbox_msg m = { "s@x.org", "u@d.org", body, sizeof(body) - 1 };
	pm_mailbox_status st;
	char md[128], sub[160], names[4][256], path[512];
	size_t len;
	char *got;

	snprintf(md, sizeof(md), "%s/d/u/", tdir);
	cr_assert_eq(pm_maildir_deliver(md, &m, &defopts, &st), 0, "%s %s",
	    st.dsn, st.text);
	cr_assert_str_eq(st.dsn, "2.0.0");
	cr_assert_str_eq(st.text, "delivered to maildir");
	snprintf(sub, sizeof(sub), "%s/d/u/new", tdir);
	cr_assert_eq(list_dir(sub, names, 4), 1);
	snprintf(sub, sizeof(sub), "%s/d/u/tmp", tdir);
	cr_assert_eq(list_dir(sub, NULL, 0), 0, "tmp/ not empty");
	snprintf(sub, sizeof(sub), "%s/d/u/cur", tdir);
	cr_assert_eq(list_dir(sub, NULL, 0), 0);
	/* the instance, with '/' and ':' escaped, and the size */
	cr_assert_not_null(strstr(names[0], ".pod-a\\0721\\057x,S="), "got %s",
	    names[0]);
	snprintf(path, sizeof(path), "%s/d/u/new/%s", tdir, names[0]);
	got = slurp(path, &len);
	cr_assert_eq(len, sizeof(want) - 1, "got %zu bytes, want %zu", len,
	    sizeof(want) - 1);
	cr_assert(memcmp(got, want, len) == 0, "got [%s]", got);
	cr_assert_not_null(strstr(names[0], ",S=")); /* size matches */
	cr_assert_eq(atol(strstr(names[0], ",S=") + 3), (long) len);
	free(got);
}

Test(mailbox, envelope_injection)
{
	pm_mailbox_msg m = { "a@b\r\nX-Evil: 1", "u@d\nBcc: x", "x\n", 2 };
	pm_mailbox_status st;
	char mb[128];
	size_t len;
	char *got;
	pm_mailbox_opts o = defopts;

	o.now = 86400 * 365;
	snprintf(mb, sizeof(mb), "%s/mbox", tdir);
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	got = slurp(mb, &len);
	cr_assert(strncmp(got, "From a@b__X-Evil:_1 ", 20) == 0, "got [%s]",
	    got);
	cr_assert_not_null(strstr(got,
	                       "\nReturn-Path: <a@b??X-Evil: 1>\n"
	                       "Delivered-To: u@d?Bcc: x\nx\n\n"),
	    "got [%s]", got);
	free(got);
}

Test(mailbox, mbox_format)
{
	static const char body[] =
	    "Subject: s\r\n\r\nFrom the start\r\n"
	    ">From kept\r\n From indented\r\nFromage\r\n";
	pm_mailbox_msg m = { "", "u@d", body, sizeof(body) - 1 };
	pm_mailbox_status st;
	pm_mailbox_opts o = defopts;
	char mb[128], want[512], date[64];
	struct tm tm;
	size_t len;
	char *got;

	o.now = 1700000000;
	localtime_r(&o.now, &tm);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
	snprintf(want, sizeof(want),
	    "From MAILER-DAEMON %s\nReturn-Path: <>\nDelivered-To: u@d\n"
	    "Subject: s\n\n>From the start\n>From kept\n From indented\n"
	    "Fromage\n\n",
	    date);
	snprintf(mb, sizeof(mb), "%s/sub/dir/mbox", tdir);
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	cr_assert_str_eq(st.dsn, "2.0.0");
	cr_assert_str_eq(st.text, "delivered to mailbox");
	got = slurp(mb, &len);
	cr_assert_str_eq(got, want);
	free(got);
	/* a second message is appended after the blank line */
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	got = slurp(mb, &len);
	cr_assert_eq(len, 2 * strlen(want));
	cr_assert_str_eq(got + strlen(want), want);
	free(got);
	cr_assert_eq(file_size(strcat(mb, ".lock")), -1, "dotlock left");
}

static void
deliver_many(const char *md, int who, int n)
{
	char body[128];
	pm_mailbox_status st;

	for (int i = 0; i < n; i++) {
		int len = snprintf(body, sizeof(body),
		    "Message-ID: <%d.%d@t>\r\n\r\nbody %d %d\r\n", who, i, who,
		    i);
		pm_mailbox_msg m = { "s@x", "u@d", body, (size_t) len };

		if (pm_maildir_deliver(md, &m, &defopts, &st) != 0) {
			fprintf(stderr, "%s %s\n", st.dsn, st.text);
			_exit(1);
		}
	}
}

Test(mailbox, maildir_unique_names)
{
	static char names[1100][256];
	char md[128], sub[160];
	char path[600];
	pid_t kids[2];
	int status, n;

	snprintf(md, sizeof(md), "%s/Maildir", tdir);
	for (int k = 0; k < 2; k++) {
		if ((kids[k] = fork()) == 0) {
			deliver_many(md, k, 500);
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(waitpid(kids[k], &status, 0), kids[k]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	snprintf(sub, sizeof(sub), "%s/new", md);
	n = list_dir(sub, names, 1100);
	cr_assert_eq(n, 1000, "got %d files, want 1000", n);
	/* every message exactly once (the names are distinct by readdir) */
	{
		static char seen[2][500];
		for (int i = 0; i < n; i++) {
			size_t len;
			char *got;
			int who, idx;

			snprintf(path, sizeof(path), "%s/%.255s", sub,
			    names[i]);
			got = slurp(path, &len);
			cr_assert_eq(sscanf(strstr(got, "Message-ID: <"),
			                 "Message-ID: <%d.%d@t>", &who, &idx),
			    2);
			cr_assert(who >= 0 && who < 2 && idx >= 0 && idx < 500);
			cr_assert_eq(seen[who][idx], 0, "duplicate %d.%d", who,
			    idx);
			seen[who][idx] = 1;
			free(got);
		}
	}
	snprintf(sub, sizeof(sub), "%s/tmp", md);
	cr_assert_eq(list_dir(sub, NULL, 0), 0);
}

#define WRITERS 6
#define PER_WRITER 15

/* A message whose every body line names its writer and number. */
static char *
make_msg(int who, int i, size_t *len)
{
	pm_buf b;
	int lines = 200 + (i % 5) * 1500; /* up to ~200 KB: several writes */

	pm_buf_init(&b, 0);
	pm_buf_printf(&b, "Message-ID: <%d.%d@t>\r\n\r\n", who, i);
	for (int l = 0; l < lines; l++) {
		pm_buf_printf(&b, "%sw%d m%d l%d ........................\r\n",
		    l % 50 == 0 ? "From " : "", who, i, l);
	}
	*len = b.len;
	return (b.data); /* the caller frees */
}

Test(mailbox, mbox_concurrent_writers)
{
	char mb[128];
	pid_t kids[WRITERS];
	int status, count = 0;
	static char seen[WRITERS][PER_WRITER];
	size_t len;
	char *got, *p, *save = NULL;
	int cur_who = -1, cur_i = -1, cur_l = 0;

	snprintf(mb, sizeof(mb), "%s/mbox", tdir);
	for (int k = 0; k < WRITERS; k++) {
		if ((kids[k] = fork()) == 0) {
			for (int i = 0; i < PER_WRITER; i++) {
				pm_mailbox_status st;
				size_t n;
				char *d = make_msg(k, i, &n);
				pm_mailbox_msg m = { "s@x", "u@d", d, n };

				if (pm_mbox_deliver(mb, &m, &defopts, &st) !=
				    0) {
					fprintf(stderr, "%s %s\n", st.dsn,
					    st.text);
					_exit(1);
				}
				free(d);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < WRITERS; k++) {
		cr_assert_eq(waitpid(kids[k], &status, 0), kids[k]);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* Parse: From_ line, headers, body lines all of one message. */
	got = slurp(mb, &len);
	for (p = strtok_r(got, "\n", &save); p;
	     p = strtok_r(NULL, "\n", &save)) {
		int w, i, l;

		if (strncmp(p, "From s@x ", 9) == 0) {
			if (cur_who >= 0) {
				cr_assert_eq(cur_l, 200 + (cur_i % 5) * 1500,
				    "message %d.%d has %d lines", cur_who,
				    cur_i, cur_l);
			}
			cur_who = -1;
			count++;
			continue;
		}
		if (sscanf(p, "Message-ID: <%d.%d@t>", &w, &i) == 2) {
			cr_assert(w >= 0 && w < WRITERS && i >= 0 &&
			    i < PER_WRITER);
			cr_assert_eq(seen[w][i], 0, "twice %d.%d", w, i);
			seen[w][i] = 1;
			cur_who = w;
			cur_i = i;
			cur_l = 0;
			continue;
		}
		if (strncmp(p, ">From ", 6) == 0) {
			p += 6;
		}
		if (sscanf(p, "w%d m%d l%d", &w, &i, &l) == 3) {
			cr_assert(w == cur_who && i == cur_i && l == cur_l,
			    "interleaved: line w%d m%d l%d in %d.%d at %d", w,
			    i, l, cur_who, cur_i, cur_l);
			cur_l++;
		}
	}
	cr_assert_eq(cur_l, 200 + (cur_i % 5) * 1500);
	cr_assert_eq(count, WRITERS * PER_WRITER, "got %d messages", count);
	free(got);
}

/* A child holds a classic fcntl lock on path until killed. */
static pid_t
hold_fcntl_lock(const char *path)
{
	int p[2];
	char c;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		int fd = open(path, O_RDWR | O_CREAT, 0600);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

		if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0) {
			_exit(1);
		}
		if (write(p[1], "x", 1) != 1) {
			_exit(1);
		}
		pause();
		_exit(0);
	}
	close(p[1]);
	cr_assert_eq(read(p[0], &c, 1), 1, "lock holder failed");
	close(p[0]);
	return (pid);
}

Test(mailbox, mbox_lock_held)
{
	pm_mailbox_msg m = { "s@x", "u@d", "x\n", 2 };
	pm_mailbox_status st;
	pm_mailbox_opts o = defopts;
	char mb[128], lock[160];
	int64_t t0, dt;
	pid_t holder;
	int fd;

	snprintf(mb, sizeof(mb), "%s/mbox", tdir);
	snprintf(lock, sizeof(lock), "%s.lock", mb);
	o.lock_wait_ms = 400;
	/* fcntl lock by another process */
	holder = hold_fcntl_lock(mb);
	t0 = pm_mono_ms();
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), PM_EAGAIN);
	dt = pm_mono_ms() - t0;
	cr_assert_str_eq(st.dsn, "4.2.0");
	cr_assert_not_null(strstr(st.text, "cannot lock"), "%s", st.text);
	cr_assert(dt >= 400 && dt < 2000, "waited %lld ms", (long long) dt);
	cr_assert_eq(file_size(mb), 0);
	cr_assert_eq(file_size(lock), -1, "our dotlock left behind");
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);

	/* a fresh dotlock by someone else */
	fd = open(lock, O_CREAT | O_WRONLY, 0600);
	close(fd);
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), PM_EAGAIN);
	cr_assert_str_eq(st.dsn, "4.2.0");
	cr_assert_eq(file_size(lock), 0, "someone else's lock removed");
	/* a stale one is removed */
	{
		struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };

		cr_assert_eq(utimensat(AT_FDCWD, lock, old, 0), 0);
	}
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(file_size(lock), -1);
}

Test(mailbox, size_limit)
{
	static const char body[] = "Subject: big\n\n0123456789012345678901\n";
	pm_mailbox_msg m = { "s@x", "u@d", body, sizeof(body) - 1 };
	pm_mailbox_status st;
	pm_mailbox_opts o = defopts;
	char md[128], sub[160], mb[128];
	off_t before;

	snprintf(md, sizeof(md), "%s/Maildir/", tdir);
	o.size_limit = 40;
	cr_assert_eq(pm_maildir_deliver(md, &m, &o, &st), PM_ETOOBIG);
	cr_assert_str_eq(st.dsn, "5.2.2");
	cr_assert_not_null(strstr(st.text, "mailbox full"), "%s", st.text);
	snprintf(sub, sizeof(sub), "%s/Maildir/new", tdir);
	/* checked before anything is created */
	cr_assert_neq(access(sub, F_OK), 0, "%s created", sub);
	/* mbox: the file after the delivery counts */
	snprintf(mb, sizeof(mb), "%s/mbox", tdir);
	o.size_limit = 200;
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	before = file_size(mb);
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), PM_ETOOBIG);
	cr_assert_str_eq(st.dsn, "5.2.2");
	cr_assert_eq(file_size(mb), before, "file changed");
}

/* In a child: RLIMIT_FSIZE makes the write fail half way (EFBIG). */
Test(mailbox, write_failure_truncates)
{
	char mb[128], md[128], sub[160];
	pm_mailbox_msg m0 = { "s@x", "u@d", "first\n", 6 };
	pm_mailbox_status st;
	off_t before;
	pid_t pid;
	int status;

	snprintf(mb, sizeof(mb), "%s/mbox", tdir);
	snprintf(md, sizeof(md), "%s/Maildir", tdir);
	cr_assert_eq(pm_mbox_deliver(mb, &m0, &defopts, &st), 0);
	before = file_size(mb);
	if ((pid = fork()) == 0) {
		struct rlimit rl = { 150000, 150000 };
		size_t n;
		char *d = make_msg(0, 4, &n); /* > 150 KB */
		pm_mailbox_msg m = { "s@x", "u@d", d, n };

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
			_exit(10);
		}
		if (pm_mbox_deliver(mb, &m, &defopts, &st) != PM_EIO ||
		    strcmp(st.dsn, "5.2.2") != 0 || st.err != EFBIG ||
		    strcmp(st.text, "error writing message: File too large")) {
			fprintf(stderr, "mbox: %s %s\n", st.dsn, st.text);
			_exit(11);
		}
		if (pm_maildir_deliver(md, &m, &defopts, &st) != PM_EIO ||
		    strcmp(st.dsn, "5.2.2") != 0 ||
		    strcmp(st.text, "error writing message: File too large")) {
			fprintf(stderr, "maildir: %s %s\n", st.dsn, st.text);
			_exit(12);
		}
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died");
	cr_assert_eq(WEXITSTATUS(status), 0, "child exit %d",
	    WEXITSTATUS(status));
	cr_assert_eq(file_size(mb), before, "mbox not truncated back: %lld",
	    (long long) file_size(mb));
	snprintf(sub, sizeof(sub), "%s/new", md);
	cr_assert_eq(list_dir(sub, NULL, 0), 0);
	snprintf(sub, sizeof(sub), "%s/tmp", md);
	cr_assert_eq(list_dir(sub, NULL, 0), 0, "tmp file left");
}

Test(mailbox, mbox_refuses_links)
{
	pm_mailbox_msg m = { "s@x", "u@d", "x\n", 2 };
	pm_mailbox_status st;
	pm_mailbox_opts local = defopts;
	char mb[128], other[128], hl[128];
	int fd;

	local.open_dsn = "5.2.0";
	snprintf(other, sizeof(other), "%s/other", tdir);
	snprintf(mb, sizeof(mb), "%s/mbox", tdir);
	snprintf(hl, sizeof(hl), "%s/hard", tdir);
	fd = open(other, O_CREAT | O_WRONLY, 0600);
	close(fd);
	cr_assert_eq(symlink(other, mb), 0);
	/* refused as an open error: open_dsn, by default 4.2.0 */
	cr_assert_neq(pm_mbox_deliver(mb, &m, &defopts, &st), 0);
	cr_assert_str_eq(st.dsn, "4.2.0", "%s", st.text);
	cr_assert_neq(pm_mbox_deliver(mb, &m, &local, &st), 0);
	cr_assert_str_eq(st.dsn, "5.2.0", "%s", st.text);
	cr_assert_eq(link(other, hl), 0);
	cr_assert_neq(pm_mbox_deliver(hl, &m, &local, &st), 0);
	cr_assert_str_eq(st.dsn, "5.2.0");
	cr_assert_eq(st.err, EPERM);
	cr_assert_eq(file_size(other), 0);
}

Test(mailbox, lock_parse)
{
	static const struct {
		const char *in;
		int rc;
		int want;
	} t[] = {
		{ "fcntl, dotlock", 0,
		    PM_MBOX_LOCK_FCNTL | PM_MBOX_LOCK_DOTLOCK },
		{ "fcntl", 0, PM_MBOX_LOCK_FCNTL },
		{ " flock\t,dotlock ", 0,
		    PM_MBOX_LOCK_FLOCK | PM_MBOX_LOCK_DOTLOCK },
		{ "", PM_EINVAL, 0 },
		{ " , ", PM_EINVAL, 0 },
		{ "fcntl,lockf", PM_EINVAL, 0 },
		{ "fcntlx", PM_EINVAL, 0 },
		{ NULL, PM_EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int locks = -1;
		int rc = pm_mbox_lock_parse(t[i].in, &locks);

		cr_assert_eq(rc, t[i].rc, "%s: got rc %d, want %d", t[i].in, rc,
		    t[i].rc);
		if (rc == 0) {
			cr_assert_eq(locks, t[i].want, "%s: got %d, want %d",
			    t[i].in, locks, t[i].want);
		} else {
			cr_assert_eq(locks, -1, "changed on error");
		}
	}
}

/* A delivery id seen before is not written twice (crash recovery). */
Test(mailbox, ledger_maildir)
{
	pm_mailbox_msg m = { "s@x", "u@d", "Subject: 1\n\nx\n", 14 };
	pm_mailbox_status st;
	pm_mailbox_opts o = defopts;
	char md[128], sub[160], names[4][256], from[600], to[700];

	o.delivery_id = "QID1.0";
	snprintf(md, sizeof(md), "%s/Maildir/", tdir);
	cr_assert_eq(pm_maildir_deliver(md, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(st.again, 0);
	cr_assert_eq(pm_maildir_deliver(md, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(st.again, 1, "written twice");
	cr_assert_str_eq(st.text, "delivered to maildir");
	snprintf(sub, sizeof(sub), "%s/Maildir/new", tdir);
	cr_assert_eq(list_dir(sub, names, 4), 1);
	/* read by a mail reader: new/X -> cur/X:2,S */
	snprintf(from, sizeof(from), "%s/%.255s", sub, names[0]);
	snprintf(to, sizeof(to), "%s/Maildir/cur/%.255s:2,S", tdir, names[0]);
	cr_assert_eq(rename(from, to), 0);
	cr_assert_eq(pm_maildir_deliver(md, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(st.again, 1);
	cr_assert_eq(list_dir(sub, NULL, 0), 0);
	/* another recipient of the same message is another delivery */
	o.delivery_id = "QID1.1";
	cr_assert_eq(pm_maildir_deliver(md, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(st.again, 0);
	cr_assert_eq(list_dir(sub, NULL, 0), 1);
	/* a bad id is ignored (no ledger), not an error */
	o.delivery_id = "../x y";
	cr_assert_eq(pm_maildir_deliver(md, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(pm_maildir_deliver(md, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(list_dir(sub, NULL, 0), 3);
}

Test(mailbox, ledger_mbox)
{
	pm_mailbox_msg m = { "s@x", "u@d", "Subject: 1\n\nFrom x\nbody\n", 24 };
	pm_mailbox_msg other = { "t@x", "u@d", "Subject: 2\n\nother\n", 18 };
	pm_mailbox_status st;
	pm_mailbox_opts o = defopts;
	char mb[128];
	off_t one, two;
	size_t len;
	char *a, *b;

	snprintf(mb, sizeof(mb), "%s/mbox", tdir);
	o.delivery_id = "QID2.0";
	o.now = 1700000000;
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	one = file_size(mb);
	a = slurp(mb, &len);
	o.now = 1700000100; /* a later attempt: another date */
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(st.again, 1, "written twice");
	cr_assert_eq(file_size(mb), one);
	/* other mail after it: still found at its offset */
	o.delivery_id = "QID3.0";
	cr_assert_eq(pm_mbox_deliver(mb, &other, &o, &st), 0, "%s", st.text);
	two = file_size(mb);
	o.delivery_id = "QID2.0";
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(st.again, 1);
	cr_assert_eq(file_size(mb), two);
	/* a torn copy at the end (killed in mid write) is cut off first */
	o.delivery_id = "QID4.0";
	o.now = 1700000200;
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(truncate(mb, two + 20), 0);
	o.now = 1700000300;
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(st.again, 0);
	cr_assert_eq(file_size(mb), two + one, "got %lld, want %lld",
	    (long long) file_size(mb), (long long) (two + one));
	b = slurp(mb, &len);
	cr_assert(memcmp(b, a, (size_t) one) == 0);
	cr_assert_not_null(strstr(b + two,
	    "\nSubject: 1\n\n>From x\nbody\n\n"));
	free(a);
	free(b);
}

struct thr_arg {
	const char *mb;
	int who;
	int fail;
};

static void *
thr_writer(void *p)
{
	struct thr_arg *a = p;
	pm_mailbox_opts o = defopts;

	o.locks = PM_MBOX_LOCK_FCNTL; /* no dotlock: the fcntl lock alone */
	for (int i = 0; i < PER_WRITER; i++) {
		pm_mailbox_status st;
		size_t n;
		char *d = make_msg(a->who, i, &n);
		pm_mailbox_msg m = { "s@x", "u@d", d, n };

		if (pm_mbox_deliver(a->mb, &m, &o, &st) != 0) {
			a->fail = 1;
		}
		free(d);
	}
	return (NULL);
}

/* Threads of one process exclude each other (OFD locks, not POSIX). */
Test(mailbox, mbox_threads_fcntl_only)
{
	pthread_t t[WRITERS];
	struct thr_arg args[WRITERS];
	char mb[128];
	size_t len;
	char *got, *p, *save = NULL;
	int cur_who = -1, cur_i = -1, cur_l = 0, count = 0;

	snprintf(mb, sizeof(mb), "%s/mbox", tdir);
	for (int k = 0; k < WRITERS; k++) {
		args[k] = (struct thr_arg){ mb, k, 0 };
		pthread_create(&t[k], NULL, thr_writer, &args[k]);
	}
	for (int k = 0; k < WRITERS; k++) {
		pthread_join(t[k], NULL);
		cr_assert_eq(args[k].fail, 0);
	}
	got = slurp(mb, &len);
	for (p = strtok_r(got, "\n", &save); p;
	     p = strtok_r(NULL, "\n", &save)) {
		int w, i, l;

		if (strncmp(p, "From s@x ", 9) == 0) {
			count++;
		} else if (sscanf(p, "Message-ID: <%d.%d@t>", &w, &i) == 2) {
			cur_who = w;
			cur_i = i;
			cur_l = 0;
		} else if (sscanf(p[0] == '>' ? p + 6 : p, "w%d m%d l%d", &w,
		               &i, &l) == 3) {
			cr_assert(w == cur_who && i == cur_i && l == cur_l,
			    "interleaved: w%d m%d l%d in %d.%d at %d", w, i, l,
			    cur_who, cur_i, cur_l);
			cur_l++;
		}
	}
	cr_assert_eq(count, WRITERS * PER_WRITER);
	free(got);
}

/* A dotlock of a dead process of this instance is removed at once. */
Test(mailbox, dotlock_dead_holder)
{
	pm_mailbox_msg m = { "s@x", "u@d", "x\n", 2 };
	pm_mailbox_status st;
	pm_mailbox_opts o = defopts;
	char mb[128], lock[160];
	int64_t t0;
	pid_t dead;
	FILE *f;

	snprintf(mb, sizeof(mb), "%s/mbox", tdir);
	snprintf(lock, sizeof(lock), "%s.lock", mb);
	o.lock_wait_ms = 600;
	if ((dead = fork()) == 0) {
		_exit(0);
	}
	waitpid(dead, NULL, 0);
	/* another instance's dead pid: cannot be checked, so it waits */
	f = fopen(lock, "w");
	fprintf(f, "%d other-host 1\n", (int) dead);
	fclose(f);
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), PM_EAGAIN);
	/* a live holder of our instance: waits */
	f = fopen(lock, "w");
	fprintf(f, "%d %s 1\n", (int) getppid(), defopts.instance);
	fclose(f);
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), PM_EAGAIN);
	/* a dead holder of our instance: removed at once */
	f = fopen(lock, "w");
	fprintf(f, "%d %s 1\n", (int) dead, defopts.instance);
	fclose(f);
	t0 = pm_mono_ms();
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	cr_assert_lt(pm_mono_ms() - t0, 300);
	/* our own pid of an earlier incarnation (restarted container) */
	f = fopen(lock, "w");
	fprintf(f, "%d %s 1\n", (int) getpid(), defopts.instance);
	fclose(f);
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), 0, "%s", st.text);
	cr_assert_eq(file_size(lock), -1);
}

/* An mbox in a directory the owner cannot write: no ledger, delivered. */
Test(mailbox, ledger_skipped_without_dir_access)
{
	char mb[128], led[160];
	pid_t pid;
	int fd, status;

	cr_assert_eq(chmod(tdir, 0755), 0);
	snprintf(mb, sizeof(mb), "%s/user", tdir);
	snprintf(led, sizeof(led), "%s.postmesh", mb);
	fd = open(mb, O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(fchown(fd, 1234, 1234), 0);
	close(fd);
	if ((pid = fork()) == 0) {
		pm_mailbox_msg m = { "s@x", "u@d", "x\n", 2 };
		pm_mailbox_opts o = defopts;
		pm_mailbox_status st;

		o.locks = PM_MBOX_LOCK_FCNTL;
		o.delivery_id = "QID9.0";
		setfsgid(1234);
		setfsuid(1234);
		_exit(pm_mbox_deliver(mb, &m, &o, &st) == 0 ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_gt(file_size(mb), 0);
	cr_assert_eq(file_size(led), -1);
}

/*
 * A failed open: the table over open_dsn (NULL: 4.2.0, virtual's;
 * local's "5.2.0"), so a missing directory (not created with
 * no_mkdirs) bounces 5.2.0 in local. The table itself, over both
 * defaults and mail_copy()'s 5.3.0 for a write error.
 */
Test(mailbox, open_failure_dsn)
{
	pm_mailbox_msg m = { "s@x", "u@d", "x\n", 2 };
	pm_mailbox_opts o = defopts;
	pm_mailbox_status st;
	char mb[128];

	snprintf(mb, sizeof(mb), "%s/no/such/dir/mbox", tdir);
	o.no_mkdirs = 1;
	cr_assert_neq(pm_mbox_deliver(mb, &m, &o, &st), 0);
	cr_expect_str_eq(st.dsn, "4.2.0", "%s", st.text);
	o.open_dsn = "5.2.0";
	cr_assert_neq(pm_mbox_deliver(mb, &m, &o, &st), 0);
	cr_expect_str_eq(st.dsn, "5.2.0", "%s", st.text);
	cr_expect(strstr(st.text, "No such file or directory") != NULL, "%s",
	    st.text);

	cr_expect_str_eq(pm_mailbox_errno_dsn(EAGAIN, "5.2.0"), "4.2.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(ESTALE, "5.2.0"), "4.2.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(ENOSPC, "5.2.0"), "4.3.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(EDQUOT, "5.2.0"), "5.2.2");
	cr_expect_str_eq(pm_mailbox_errno_dsn(EFBIG, "5.2.0"), "5.2.2");
	cr_expect_str_eq(pm_mailbox_errno_dsn(EACCES, "5.2.0"), "5.2.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(ENOENT, "5.2.0"), "5.2.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(EISDIR, "5.2.0"), "5.2.0");
	/* virtual's open default, and mail_copy()'s write default */
	cr_expect_str_eq(pm_mailbox_errno_dsn(EACCES, "4.2.0"), "4.2.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(EDQUOT, "4.2.0"), "5.2.2");
	cr_expect_str_eq(pm_mailbox_errno_dsn(ENOSPC, "4.2.0"), "4.3.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(EIO, PM_MAILBOX_WRITE_DSN),
	    "5.3.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(ENOSPC, PM_MAILBOX_WRITE_DSN),
	    "4.3.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(EFBIG, PM_MAILBOX_WRITE_DSN),
	    "5.2.2");
	cr_expect_str_eq(pm_mailbox_errno_dsn(EAGAIN, PM_MAILBOX_WRITE_DSN),
	    "4.2.0");
	cr_expect_str_eq(pm_mailbox_errno_dsn(ESTALE, PM_MAILBOX_WRITE_DSN),
	    "4.2.0");
	/* the agent's own resources defer, whatever the default (Postmesh) */
	{
		static const int own[] = { EMFILE, ENFILE, ENOMEM, ENOBUFS,
			EINTR };

		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
			cr_expect_str_eq(pm_mailbox_errno_dsn(own[i], "5.2.0"),
			    "4.3.0", "errno %d", own[i]);
			cr_expect_str_eq(pm_mailbox_errno_dsn(own[i],
			                     PM_MAILBOX_WRITE_DSN),
			    "4.3.0", "errno %d", own[i]);
			cr_expect_str_eq(pm_mailbox_errno_dsn(own[i], "4.2.0"),
			    "4.3.0", "errno %d", own[i]);
		}
	}
}

/*
 * Both writers map a mailbox that cannot be opened or created through
 * the same table over open_dsn: an mbox that is a directory (EISDIR),
 * a maildir whose tmp/ is a file (ENOTDIR), a new/ that is a file
 * (ENOTDIR at the link). Texts as Postfix's.
 */
Test(mailbox, open_errors_both_writers)
{
	pm_mailbox_msg m = { "s@x", "u@d", "x\n", 2 };
	pm_mailbox_opts o = defopts;
	pm_mailbox_status st;
	char mb[128], md[128], sub[160];
	int fd;

	snprintf(mb, sizeof(mb), "%s/dirbox", tdir);
	cr_assert_eq(mkdir(mb, 0700), 0);
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), PM_EIO);
	cr_expect_str_eq(st.dsn, "4.2.0", "%s", st.text);
	cr_expect_eq(st.err, EISDIR);
	cr_expect_str_eq(st.text, "cannot open file: Is a directory");
	o.open_dsn = "5.2.0";
	cr_assert_eq(pm_mbox_deliver(mb, &m, &o, &st), PM_EIO);
	cr_expect_str_eq(st.dsn, "5.2.0", "%s", st.text);

	snprintf(md, sizeof(md), "%s/Maildir", tdir);
	cr_assert_eq(mkdir(md, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/tmp", md);
	cr_assert((fd = open(sub, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	o.open_dsn = NULL;
	cr_assert_eq(pm_maildir_deliver(md, &m, &o, &st), PM_EIO);
	cr_expect_str_eq(st.dsn, "4.2.0", "%s", st.text);
	cr_expect_eq(st.err, ENOTDIR);
	cr_expect(strncmp(st.text, "create maildir directory ", 25) == 0, "%s",
	    st.text);
	o.open_dsn = "5.2.0";
	cr_assert_eq(pm_maildir_deliver(md, &m, &o, &st), PM_EIO);
	cr_expect_str_eq(st.dsn, "5.2.0", "%s", st.text);
	cr_expect(strstr(st.text, "Not a directory") != NULL, "%s", st.text);
}
