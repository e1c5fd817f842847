/*
 * NAME
 *	test_command - unit tests of pm_command (running a delivery command)
 * DESCRIPTION
 *	Real processes (/bin/sh, /usr/bin/id, /bin/cat ...) as uid 65534
 *	(nobody; the tests run as root, as in CI): exit codes mapped by
 *	sysexits.h, output captured and cut, the time limit killing the
 *	whole process group, a command that exits before reading a large
 *	input (no SIGPIPE death: criterion's test process does not ignore
 *	SIGPIPE), the uid switch, arguments passed literally (no shell),
 *	a clean environment, and refused requests (uid 0, relative path,
 *	missing program).
 */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm_command.h"
#include "pm_util.h"

#define NOBODY 65534

static void
run(const char *const *argv, const char *data, pm_command_res *res)
{
	pm_command_req req = {
		.argv = argv,
		.uid = NOBODY,
		.gid = NOBODY,
		.time_limit = 10,
		.data = data,
		.len = data ? strlen(data) : 0,
	};

	cr_assert(pm_command_run(&req, res) == 0, "run %s: %s", argv[0],
	    res->text);
}

Test(command, exit_codes)
{
	static const struct {
		const char *code;
		int outcome;
		const char *dsn;
		const char *text;
	} cases[] = {
		{ "0", PM_COMMAND_OK, "2.0.0", "out" },
		{ "75", PM_COMMAND_DEFER, "4.3.0",
		    "temporary failure. Command output: out" },
		{ "67", PM_COMMAND_BOUNCE, "5.1.1",
		    "user unknown. Command output: out" },
		{ "68", PM_COMMAND_BOUNCE, "5.1.2",
		    "host name unknown. Command output: out" },
		{ "69", PM_COMMAND_BOUNCE, "5.3.0",
		    "service unavailable. Command output: out" },
		{ "65", PM_COMMAND_BOUNCE, "5.6.0",
		    "data format error. Command output: out" },
		{ "77", PM_COMMAND_BOUNCE, "5.7.0",
		    "permission denied. Command output: out" },
		{ "71", PM_COMMAND_DEFER, "4.3.0",
		    "system resource problem. Command output: out" },
		{ "74", PM_COMMAND_BOUNCE, "5.3.0",
		    "input/output error. Command output: out" },
		{ "64", PM_COMMAND_BOUNCE, "5.3.0",
		    "command line usage error. Command output: out" },
		{ "66", PM_COMMAND_BOUNCE, "5.3.0",
		    "cannot open input. Command output: out" },
		{ "70", PM_COMMAND_BOUNCE, "5.3.0",
		    "internal software error. Command output: out" },
		{ "72", PM_COMMAND_BOUNCE, "5.3.0",
		    "critical OS file missing. Command output: out" },
		{ "73", PM_COMMAND_BOUNCE, "5.2.0",
		    "can't create user output file. Command output: out" },
		{ "76", PM_COMMAND_BOUNCE, "5.5.0",
		    "remote error in protocol. Command output: out" },
		{ "78", PM_COMMAND_BOUNCE, "5.3.5",
		    "local configuration error. Command output: out" },
		{ "1", PM_COMMAND_BOUNCE, "5.3.0",
		    "Command died with status 1: \"/bin/sh\". Command output: "
		    "out" },
	};
	pm_command_res res;
	char script[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { "/bin/sh", "-c", script, NULL };

		snprintf(script, sizeof(script), "echo out; exit %s",
		    cases[i].code);
		run(argv, NULL, &res);
		cr_expect(res.outcome == cases[i].outcome &&
		        strcmp(res.dsn, cases[i].dsn) == 0 &&
		        strcmp(res.text, cases[i].text) == 0,
		    "exit %s: got %d %s \"%s\", want %d %s \"%s\"",
		    cases[i].code, res.outcome, res.dsn, res.text,
		    cases[i].outcome, cases[i].dsn, cases[i].text);
		cr_expect(res.exit_code == atoi(cases[i].code),
		    "exit %s: got exit_code %d", cases[i].code, res.exit_code);
	}
	/* a failure without output: the short text alone */
	{
		const char *argv[] = { "/bin/sh", "-c", "exit 75", NULL };

		run(argv, NULL, &res);
		cr_expect(strcmp(res.text, "temporary failure") == 0,
		    "got \"%s\"", res.text);
	}
}

Test(command, output_bounded_one_line)
{
	const char *argv[] = { "/bin/sh", "-c",
		"printf 'line1\\r\\n\\tline2\\001\\n'; printf '%5000s' x >&2",
		NULL };
	pm_command_req req = {
		.argv = argv,
		.uid = NOBODY,
		.gid = NOBODY,
		.time_limit = 10,
		.output_limit = 100,
	};
	pm_command_res res;

	cr_assert(pm_command_run(&req, &res) == 0);
	cr_expect(res.outcome == PM_COMMAND_OK, "got %d", res.outcome);
	/* stderr counted too; the kept part is cut at the limit */
	cr_expect(res.out_len == 15 + 5000, "got out_len %zu", res.out_len);
	cr_expect(strncmp(res.output, "line1 line2", 11) == 0 &&
	        strlen(res.output) <= 100,
	    "got \"%s\" (%zu)", res.output, strlen(res.output));
	cr_expect(strchr(res.output, '\n') == NULL &&
	        strchr(res.output, '\t') == NULL,
	    "control characters left: \"%s\"", res.output);
}

Test(command, stdin_and_output)
{
	const char *argv[] = { "/bin/cat", NULL };
	pm_command_res res;

	run(argv, "hello world", &res);
	cr_expect(res.outcome == PM_COMMAND_OK &&
	        strcmp(res.output, "hello world") == 0,
	    "got %d \"%s\"", res.outcome, res.output);
}

typedef struct feeder {
	size_t left;
	int calls;
} feeder;

static long
feed(void *ctx, char *buf, size_t cap)
{
	feeder *f = ctx;
	size_t n = f->left < cap ? f->left : cap;

	f->calls++;
	memset(buf, 'x', n);
	f->left -= n;
	return ((long) n);
}

Test(command, early_exit_big_stdin)
{
	const char *argv[] = { "/bin/sh", "-c", "head -c 10 >/dev/null; exit 0",
		NULL };
	const char *argv2[] = { "/bin/sh", "-c", "exit 67", NULL };
	size_t big = 8 * 1024 * 1024;
	char *data = pm_malloc(big + 1);
	pm_command_req req = {
		.argv = argv,
		.uid = NOBODY,
		.gid = NOBODY,
		.time_limit = 20,
	};
	pm_command_res res;
	feeder f = { 64 * 1024 * 1024, 0 };

	/* not ignored here: a SIGPIPE would end this test process */
	signal(SIGPIPE, SIG_DFL);
	memset(data, 'y', big);
	data[big] = 0;
	req.data = data;
	req.len = big;
	cr_assert(pm_command_run(&req, &res) == 0);
	cr_expect(res.outcome == PM_COMMAND_OK, "buffer: got %d %s",
	    res.outcome, res.text);
	/* the exit status decides, also when it is a failure */
	req.argv = argv2;
	cr_assert(pm_command_run(&req, &res) == 0);
	cr_expect(strcmp(res.dsn, "5.1.1") == 0, "buffer, 67: got %s %s",
	    res.dsn, res.text);
	/* a feed: not called on after the command stopped reading */
	req.argv = argv;
	req.data = NULL;
	req.len = 0;
	req.feed = feed;
	req.feed_ctx = &f;
	cr_assert(pm_command_run(&req, &res) == 0);
	cr_expect(res.outcome == PM_COMMAND_OK, "feed: got %d %s", res.outcome,
	    res.text);
	cr_expect(f.left > 0, "feed: all 64 MB were fed (%d calls)", f.calls);
	free(data);
}

/* A process that is gone or a zombie waiting for init. */
static int
gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if ((fp = fopen(path, "r")) == NULL) {
		return (1);
	}
	p = fgets(buf, sizeof(buf), fp);
	fclose(fp);
	p = p ? strrchr(buf, ')') : NULL;
	return (p != NULL && p[1] == ' ' && p[2] == 'Z');
}

Test(command, time_limit_kills_group)
{
	/* a background child in the group, then a foreground sleep */
	const char *argv[] = { "/bin/sh", "-c", "sleep 60 & echo $!; sleep 60",
		NULL };
	pm_command_req req = {
		.argv = argv,
		.uid = NOBODY,
		.gid = NOBODY,
		.time_limit = 1,
	};
	pm_command_res res;
	int64_t t0, took;
	pid_t bg;
	int i;

	t0 = pm_mono_ms();
	cr_assert(pm_command_run(&req, &res) == 0);
	took = pm_mono_ms() - t0;
	cr_expect(took >= 1000 && took < 5000, "took %lld ms",
	    (long long) took);
	cr_expect(res.timed_out && res.outcome == PM_COMMAND_DEFER &&
	        strcmp(res.dsn, "4.3.0") == 0,
	    "got timed_out %d %d %s", res.timed_out, res.outcome, res.dsn);
	cr_expect(strncmp(res.text, "Command time limit exceeded: \"/bin/sh\"",
	              38) == 0,
	    "got \"%s\"", res.text);
	bg = (pid_t) atoi(res.output);
	cr_assert(bg > 1, "background pid: \"%s\"", res.output);
	for (i = 0; i < 1000 && !gone(bg); i++) {
		usleep(20000);
	}
	cr_expect(gone(bg), "background sleep %d still runs", (int) bg);
}

Test(command, time_limit_term_ignored)
{
	/* SIGTERM ignored: SIGKILL follows after the grace */
	const char *argv[] = { "/bin/sh", "-c", "trap '' TERM; sleep 60",
		NULL };
	pm_command_req req = {
		.argv = argv,
		.uid = NOBODY,
		.gid = NOBODY,
		.time_limit = 1,
	};
	pm_command_res res;
	int64_t t0, took;

	t0 = pm_mono_ms();
	cr_assert(pm_command_run(&req, &res) == 0);
	took = pm_mono_ms() - t0;
	cr_expect(took >= 1000 + PM_COMMAND_KILL_GRACE_MS &&
	        took < 1000 + PM_COMMAND_KILL_GRACE_MS + 3000,
	    "took %lld ms", (long long) took);
	cr_expect(res.timed_out && strcmp(res.dsn, "4.3.0") == 0,
	    "got timed_out %d %s", res.timed_out, res.dsn);
}

Test(command, signal_defers)
{
	const char *argv[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	pm_command_res res;

	run(argv, NULL, &res);
	cr_expect(res.outcome == PM_COMMAND_DEFER && res.signo == 9 &&
	        strcmp(res.text, "Command died with signal 9: \"/bin/sh\"") ==
	            0,
	    "got %d %d \"%s\"", res.outcome, res.signo, res.text);
}

Test(command, uid_switch)
{
	const char *argv[] = { "/bin/sh", "-c", "id -u; id -g; id -G", NULL };
	pm_command_res res;

	cr_assert(geteuid() == 0, "these tests run as root");
	run(argv, NULL, &res);
	cr_expect(strcmp(res.output, "65534 65534 65534") == 0, "got \"%s\"",
	    res.output);
}

Test(command, no_shell_interpretation)
{
	const char *argv[] = { "/usr/bin/printf", "[%s]", "a;b$(x)`id`@dom",
		"*", "$HOME", "x|y>z", NULL };
	pm_command_res res;

	run(argv, NULL, &res);
	cr_expect(strcmp(res.output, "[a;b$(x)`id`@dom][*][$HOME][x|y>z]") == 0,
	    "got \"%s\"", res.output);
}

Test(command, clean_environment)
{
	const char *argv[] = { "/usr/bin/env", NULL };
	const char *envp[] = { "SENDER=a@b", "PATH=/usr/bin:/bin", NULL };
	pm_command_req req = {
		.argv = argv,
		.envp = envp,
		.uid = NOBODY,
		.gid = NOBODY,
		.time_limit = 10,
	};
	pm_command_res res;

	setenv("PM_COMMAND_LEAK", "1", 1);
	cr_assert(pm_command_run(&req, &res) == 0);
	cr_expect(strcmp(res.output, "SENDER=a@b PATH=/usr/bin:/bin") == 0,
	    "got \"%s\"", res.output);
	/* no envp: nothing at all */
	req.envp = NULL;
	cr_assert(pm_command_run(&req, &res) == 0);
	cr_expect(strcmp(res.output, "") == 0, "got \"%s\"", res.output);
}

Test(command, refused)
{
	const char *sh[] = { "/bin/sh", "-c", "exit 0", NULL };
	const char *rel[] = { "sh", "-c", "exit 0", NULL };
	const char *missing[] = { "/nonexistent/cmd", NULL };
	const char *empty[] = { NULL };
	pm_command_req req = {
		.argv = sh,
		.uid = 0,
		.gid = 0,
		.time_limit = 10,
	};
	pm_command_res res;

	cr_expect(pm_command_run(&req, &res) == PM_EINVAL &&
	        res.outcome == PM_COMMAND_DEFER,
	    "uid 0: got %d %s", res.outcome, res.text);
	req.allow_root = 1;
	cr_expect(pm_command_run(&req, &res) == 0 &&
	        res.outcome == PM_COMMAND_OK,
	    "uid 0 allowed: got %d %s", res.outcome, res.text);
	req.allow_root = 0;
	req.uid = req.gid = NOBODY;
	req.argv = rel;
	cr_expect(pm_command_run(&req, &res) == PM_EINVAL &&
	        res.outcome == PM_COMMAND_DEFER,
	    "relative: got %d %s", res.outcome, res.text);
	req.argv = empty;
	cr_expect(pm_command_run(&req, &res) == PM_EINVAL, "empty argv");
	req.argv = sh;
	req.time_limit = 0;
	cr_expect(pm_command_run(&req, &res) == PM_EINVAL, "time limit 0");
	req.time_limit = 10;
	req.argv = missing;
	cr_expect(pm_command_run(&req, &res) == 0 &&
	        res.outcome == PM_COMMAND_DEFER &&
	        strcmp(res.text,
	            "cannot execute \"/nonexistent/cmd\": execve: No such "
	            "file or directory") == 0,
	    "missing: got %d \"%s\"", res.outcome, res.text);
}
