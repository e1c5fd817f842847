/*
 * NAME
 *	test_log - unit tests of pm_log (line shape, newline neutering,
 *	truncation, one write per line, fatal and panic)
 * DESCRIPTION
 *	Every line must look like Postfix's maillog_file output:
 *	"Mon DD HH:MM:SS host prog[pid]: text" (day space-padded, as
 *	syslog), with CR and LF in the text replaced so that one event
 *	stays one line. stdout is pointed at a temporary file to read the
 *	lines back. Threads log concurrently to check that lines never
 *	interleave.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pm_log.h"
#include "pm_util.h"

#define STAMP_RE \
	"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) " \
	"( [1-9]|[12][0-9]|3[01]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-6][0-9] "

/* Match "stamp host prog[pid]: " at the start of line; return the rest. */
static const char *
line_head(const char *line, const char *host, const char *prog)
{
	regex_t re;
	regmatch_t m;
	char *pat;
	int ok;

	pat =
	    pm_asprintf(STAMP_RE "%s %s\\[%d\\]: ", host, prog, (int) getpid());
	cr_assert(regcomp(&re, pat, REG_EXTENDED) == 0, "regcomp %s", pat);
	ok = regexec(&re, line, 1, &m, 0) == 0;
	regfree(&re);
	free(pat);
	return (ok ? line + m.rm_eo : NULL);
}

typedef struct cap {
	int saved;
	int fd;
} cap;

static void
cap_start(cap *c)
{
	char tmpl[] = "/tmp/test_log_capXXXXXX";

	fflush(stdout);
	c->fd = mkstemp(tmpl);
	cr_assert(c->fd >= 0, "mkstemp failed");
	unlink(tmpl);
	fcntl(c->fd, F_SETFL, O_APPEND);
	c->saved = dup(1);
	cr_assert(dup2(c->fd, 1) == 1, "dup2 failed");
}

static char *
read_fd_all(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *buf = pm_malloc((size_t) size + 1);
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, (size_t) size);
	buf[n > 0 ? n : 0] = 0;
	return (buf);
}

static char *
cap_end(cap *c)
{
	char *out;

	dup2(c->saved, 1);
	close(c->saved);
	out = read_fd_all(c->fd);
	close(c->fd);
	return (out);
}

/* Before any pm_log_init(): the default program name must survive. */
Test(log, default_prog)
{
	char buf[512], host[256], *dot;
	int n;

	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = 0;
	if ((dot = strchr(host, '.')) != NULL) {
		*dot = 0; /* syslog shows the short name */
	}
	n = pm_log_format(buf, sizeof(buf), "", "x");
	cr_expect(n == (int) strlen(buf), "got length %d, want %zu", n,
	    strlen(buf));
	cr_expect(line_head(buf, host, "postmesh") != NULL,
	    "got \"%s\", want host %s and prog postmesh", buf, host);
}

Test(log, format_shape)
{
	static const struct {
		const char *prefix, *text, *want;
	} cases[] = {
		{ "", "hello", "hello" },
		{ "warning: ", "disk full", "warning: disk full" },
		{ "", "a\nb\rc", "a b c" },
		{ "", "smuggle\r\n.\r\nMAIL FROM:<x>",
		    "smuggle  .  MAIL FROM:<x>" },
		{ "", "trailing\n", "trailing " },
		{ "error: ", "", "error: " },
		{ "", "4Hx2BCDFGHJKLMNPQRS: to=<a@b>, status=sent (250 ok)",
		    "4Hx2BCDFGHJKLMNPQRS: to=<a@b>, status=sent (250 ok)" },
	};
	static const int sizes[] = { 1, 2, 10, 40, 64 };
	char buf[512], small[64];
	const char *rest;
	size_t i;
	int n, w, full;

	pm_log_init("postmesh/test");
	pm_log_set_hostname("myhost.example.com");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = pm_log_format(buf, sizeof(buf), cases[i].prefix,
		    cases[i].text);
		cr_expect(n == (int) strlen(buf),
		    "case %zu: got length %d, "
		    "want %zu",
		    i, n, strlen(buf));
		rest = line_head(buf, "myhost", "postmesh/test");
		cr_expect(rest != NULL, "case %zu: bad shape: \"%s\"", i, buf);
		cr_expect(rest == NULL || strcmp(rest, cases[i].want) == 0,
		    "case %zu: got \"%s\", want \"%s\"", i, rest,
		    cases[i].want);
		cr_expect(strchr(buf, '\n') == NULL &&
		        strchr(buf, '\r') == NULL,
		    "case %zu: CR or LF left in \"%s\"", i, buf);
	}
	/* truncation: always NUL-terminated, length = what fits */
	full = pm_log_format(buf, sizeof(buf), "", "0123456789");
	cr_assert(full > 40 && full < 63, "line length %d", full);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(small, '#', sizeof(small));
		n = pm_log_format(small, sizes[i], "", "0123456789");
		w = sizes[i] - 1 < full ? sizes[i] - 1 : full;
		cr_expect(n == w && small[n] == 0,
		    "size %d: got length %d, want %d", sizes[i], n, w);
		cr_expect(strncmp(small, buf, (size_t) n) == 0,
		    "size %d: got \"%s\", want a prefix of \"%s\"", sizes[i],
		    small, buf);
	}
	cr_expect(pm_log_format(small, 0, "", "x") == 0, "size 0: want 0");
	cr_expect(pm_log_format(small, -5, "", "x") == 0, "size -5: want 0");
}

Test(log, msg_lines)
{
	char *out, *line, *save = NULL, xs[PM_LOG_LINE_MAX];
	const char *want[5], *rest;
	char *big;
	int n = 0;
	cap c;

	pm_log_init("postmesh/t");
	pm_log_set_hostname("lh");
	big = pm_malloc(10001);
	memset(big, 'x', 10000);
	big[10000] = 0;
	memset(xs, 'x', sizeof(xs) - 1);
	xs[sizeof(xs) - 1] = 0;
	want[0] = "hello 1";
	want[1] = "warning: a b";
	want[2] = "error: x ";
	want[3] = "debug: shown";
	want[4] = xs; /* cut at PM_LOG_LINE_MAX - 1 bytes of text */

	pm_msg_verbose = 0;
	cap_start(&c);
	pm_msg_info("hello %d", 1);
	pm_msg_warn("a%sb", "\n");
	pm_msg_error("x\r");
	pm_msg_debug("hidden");
	pm_msg_verbose = 1;
	pm_msg_debug("shown");
	pm_msg_info("%s", big);
	out = cap_end(&c);
	cr_expect(out[strlen(out) - 1] == '\n', "output does not end in LF");
	for (line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), n++) {
		cr_assert(n < 5, "more than 5 lines: \"%s\"", line);
		rest = line_head(line, "lh", "postmesh/t");
		cr_expect(rest != NULL && strcmp(rest, want[n]) == 0,
		    "line %d: got \"%.80s\", want \"%.80s\"", n,
		    rest ? rest : line, want[n]);
	}
	cr_expect(n == 5, "got %d lines, want 5", n);
	free(out);
	free(big);
}

#define T_THREADS 8
#define T_LINES 300

static void *
log_thread(void *arg)
{
	int id = (int) (long) arg, i;
	char fill[3001];

	for (i = 0; i < T_LINES; i++) {
		int len = (i * 37 + id * 101) % 3000;

		memset(fill, 'a' + id, (size_t) len);
		fill[len] = 0;
		pm_msg_info("t%d n%d len%d %s.", id, i, len, fill);
	}
	return (NULL);
}

Test(log, threads_no_interleave)
{
	pthread_t t[T_THREADS];
	char *out, *line, *save = NULL;
	const char *rest;
	int seen[T_THREADS] = { 0 }, n = 0, bad = 0, id, k, len, off;
	long i;
	cap c;

	pm_log_init("postmesh/mt");
	pm_log_set_hostname("mt");
	cap_start(&c);
	for (i = 0; i < T_THREADS; i++) {
		pthread_create(&t[i], NULL, log_thread, (void *) i);
	}
	for (i = 0; i < T_THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	out = cap_end(&c);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), n++) {
		rest = line_head(line, "mt", "postmesh/mt");
		off = 0;
		if (rest == NULL ||
		    sscanf(rest, "t%d n%d len%d %n", &id, &k, &len, &off) !=
		        3 ||
		    off == 0 || id < 0 || id >= T_THREADS || k != seen[id] ||
		    (int) strspn(rest + off,
		        (char[]){ (char) ('a' + id), 0 }) != len ||
		    strcmp(rest + off + len, ".") != 0) {
			bad++;
			continue;
		}
		seen[id]++;
	}
	cr_expect(bad == 0, "got %d malformed or out of order lines", bad);
	cr_expect(n == T_THREADS * T_LINES, "got %d lines, want %d", n,
	    T_THREADS * T_LINES);
	free(out);
}

Test(log, fatal_and_panic)
{
	static const struct {
		int panic;
		const char *want;
	} cases[] = {
		{ 0, "fatal: bad config x" },
		{ 1, "panic: bug y" },
	};
	char tmpl[64], *out;
	int fd, status;
	size_t i;
	pid_t pid;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(tmpl, sizeof(tmpl), "/tmp/test_log_fatalXXXXXX");
		fd = mkstemp(tmpl);
		cr_assert(fd >= 0, "mkstemp");
		unlink(tmpl);
		fflush(stdout);
		pid = fork();
		cr_assert(pid >= 0, "fork");
		if (pid == 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			signal(SIGABRT, SIG_DFL);
			pm_log_init("postmesh/f");
			if (cases[i].panic) {
				pm_panic("bug %s", "y");
			}
			pm_msg_fatal("bad config %s", "x");
		}
		cr_assert(waitpid(pid, &status, 0) == pid, "waitpid");
		out = read_fd_all(fd);
		close(fd);
		if (cases[i].panic) {
			cr_expect(WIFSIGNALED(status) &&
			        WTERMSIG(status) == SIGABRT,
			    "panic: got status 0x%x, want SIGABRT", status);
		} else {
			cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 1,
			    "fatal: got status 0x%x, want exit 1", status);
		}
		cr_expect(strstr(out, cases[i].want) != NULL,
		    "got \"%s\", want \"%s\"", out, cases[i].want);
		free(out);
	}
}

/* An operator command: "prog: warning: text" on stderr, stdout clean. */
Test(log, command_mode)
{
	char buf[512], *out, *err;
	int saved, fd;
	cap c;

	pm_log_command("postconf");
	cr_expect_eq(pm_log_format(buf, sizeof(buf), "warning: ", "a\nb"),
	    (int) strlen("postconf: warning: a b"));
	cr_expect_str_eq(buf, "postconf: warning: a b");
	fflush(stderr);
	saved = dup(2);
	cap_start(&c);
	fd = dup(1); /* the capture file: stderr goes there too */
	dup2(fd, 2);
	pm_msg_warn("unknown %s", "x");
	dup2(saved, 2);
	close(saved);
	close(fd);
	out = cap_end(&c);
	cr_expect_str_eq(out, "postconf: warning: unknown x\n");
	free(out);
	/* nothing went to stdout: capture stdout alone */
	cap_start(&c);
	saved = dup(2);
	fd = open("/dev/null", O_WRONLY);
	dup2(fd, 2);
	pm_msg_error("to stderr");
	dup2(saved, 2);
	close(saved);
	close(fd);
	err = cap_end(&c);
	cr_expect_str_eq(err, "");
	free(err);
}
