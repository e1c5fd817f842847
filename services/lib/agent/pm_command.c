/*
 * NAME
 *	pm_command - run one external command for a delivery agent
 * DESCRIPTION
 *	See pm_command.h. The parent prepares everything before fork()
 *	(the agent has threads: the child only makes async-signal-safe
 *	calls until execve). A close-on-exec pipe tells the parent why the
 *	child could not exec (errno and the step). The parent then polls
 *	stdin (non-blocking writes), the output pipe and the exec-error
 *	pipe, and reaps the child with waitpid(WNOHANG) between polls.
 * LIMITS
 *	See pm_command.h.
 * SECURITY
 *	See pm_command.h. SIGPIPE is blocked in the calling thread while
 *	it writes to the command (pm_sigpipe_block), so an early exit is
 *	an EPIPE, never the agent's death.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "pm_command.h"
#include "pm_util.h"

#define CMD_CHUNK 65536     /* bytes per feed() call */
#define CMD_POLL_MS 50      /* between waitpid(WNOHANG) checks */
#define CMD_CLOSE_MAX 65536 /* descriptors closed without close_range */

/* What the child tells the parent when it cannot exec. */
enum {
	STEP_PGRP = 1,
	STEP_DUP,
	STEP_GROUPS,
	STEP_GID,
	STEP_UID,
	STEP_CWD,
	STEP_EXEC
};
static const char *const cmd_steps[] = { "", "setpgid", "dup2", "setgroups",
	"setgid", "setuid", "chdir", "execve" };

static const struct {
	int code;
	int outcome;
	const char *dsn;
	const char *text;
} cmd_exits[] = {
	{ EX_USAGE, PM_COMMAND_BOUNCE, "5.3.0", "command line usage error" },
	{ EX_DATAERR, PM_COMMAND_BOUNCE, "5.6.0", "data format error" },
	{ EX_NOINPUT, PM_COMMAND_BOUNCE, "5.3.0", "cannot open input" },
	{ EX_NOUSER, PM_COMMAND_BOUNCE, "5.1.1", "user unknown" },
	{ EX_NOHOST, PM_COMMAND_BOUNCE, "5.1.2", "host name unknown" },
	{ EX_UNAVAILABLE, PM_COMMAND_BOUNCE, "5.3.0", "service unavailable" },
	{ EX_SOFTWARE, PM_COMMAND_BOUNCE, "5.3.0", "internal software error" },
	{ EX_OSERR, PM_COMMAND_DEFER, "4.3.0", "system resource problem" },
	{ EX_OSFILE, PM_COMMAND_BOUNCE, "5.3.0", "critical OS file missing" },
	{ EX_CANTCREAT, PM_COMMAND_BOUNCE, "5.2.0",
	    "can't create user output file" },
	{ EX_IOERR, PM_COMMAND_BOUNCE, "5.3.0", "input/output error" },
	{ EX_TEMPFAIL, PM_COMMAND_DEFER, "4.3.0", "temporary failure" },
	{ EX_PROTOCOL, PM_COMMAND_BOUNCE, "5.5.0", "remote error in protocol" },
	{ EX_NOPERM, PM_COMMAND_BOUNCE, "5.7.0", "permission denied" },
	{ EX_CONFIG, PM_COMMAND_BOUNCE, "5.3.5", "local configuration error" },
};

int
pm_command_exit_dsn(int code, const char **dsn, const char **text)
{
	size_t i;

	if (code == 0) {
		*dsn = "2.0.0";
		*text = NULL;
		return (PM_COMMAND_OK);
	}
	for (i = 0; i < sizeof(cmd_exits) / sizeof(cmd_exits[0]); i++) {
		if (cmd_exits[i].code == code) {
			*dsn = cmd_exits[i].dsn;
			*text = cmd_exits[i].text;
			return (cmd_exits[i].outcome);
		}
	}
	*dsn = "5.3.0";
	*text = NULL;
	return (PM_COMMAND_BOUNCE);
}

/* One printable line: controls become spaces, runs of them one space. */
static void
cmd_oneline(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, n = 0;
	int space = 1; /* drops leading white space */
	unsigned char c;

	for (i = 0; i < len && n + 1 < size; i++) {
		c = (unsigned char) src[i];
		if (c < 0x20 || c == ' ' || c == 0x7f) {
			if (!space) {
				dst[n++] = ' ';
			}
			space = 1;
			continue;
		}
		dst[n++] = c < 0x7f ? (char) c : '?';
		space = 0;
	}
	while (n > 0 && dst[n - 1] == ' ') {
		n--;
	}
	dst[n] = 0;
}

static void cmd_set(pm_command_res *res, int outcome, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cmd_set(pm_command_res *res, int outcome, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	res->outcome = outcome;
	snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
	pm_printable(res->text);
}

/* The child: never returns. Only async-signal-safe calls. */
static void
cmd_child(const pm_command_req *req, int in, int out, int err, int maxfd)
{
	struct sigaction sa;
	sigset_t none;
	int step, e, sig, fd;
	gid_t gid = req->gid;
	char msg[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP) {
			(void) sigaction(sig, &sa, NULL);
		}
	}
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);

	step = STEP_PGRP;
	if (setpgid(0, 0) < 0) {
		goto fail;
	}
	step = STEP_DUP;
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
		goto fail;
	}
	/* The exec-error pipe moves to 3, everything else is closed. */
	if (err != 3 && dup2(err, 3) < 0) {
		goto fail;
	}
	(void) fcntl(3, F_SETFD, FD_CLOEXEC);
	err = 3;
	if (syscall(SYS_close_range, 4U, ~0U, 0U) < 0) {
		/* kernels before 5.9 */
		for (fd = 4; fd < maxfd; fd++) {
			(void) close(fd);
		}
	}
	if (geteuid() == 0) {
		step = STEP_GROUPS;
		if (setgroups(1, &gid) < 0) {
			goto fail;
		}
		step = STEP_GID;
		if (setgid(req->gid) < 0) {
			goto fail;
		}
		step = STEP_UID;
		if (setuid(req->uid) < 0) {
			goto fail;
		}
	} else if (req->uid != geteuid() || req->gid != getegid()) {
		/* Not privileged: only "run as myself" is possible. */
		step = STEP_UID;
		errno = EPERM;
		goto fail;
	}
	step = STEP_CWD;
	if (chdir(req->cwd ? req->cwd : "/") < 0) {
		goto fail;
	}
	step = STEP_EXEC;
	{
		static const char *const empty[] = { NULL };

		execve(req->argv[0], (char *const *) req->argv,
		    (char *const *) (req->envp ? req->envp : empty));
	}
fail:
	e = errno;
	msg[0] = (char) step;
	msg[1] = (char) (e < 256 ? e : 255);
	(void) !write(err, msg, 2);
	_exit(EX_OSERR);
}

static int
cmd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return (fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK));
}

/*
 * Signal the process group: the child and the parent both made it
 * before anything is killed, and it lives as long as a member does
 * (never the pid alone: once reaped, that pid may be someone else's).
 */
static void
cmd_kill(pid_t pid, int sig)
{
	(void) kill(-pid, sig);
}

/* The child's output, bounded. */
typedef struct cmd_out {
	char *buf;
	size_t len, limit, seen;
} cmd_out;

/* Read what is there; 1 at EOF. */
static int
cmd_read_out(int fd, cmd_out *o)
{
	char tmp[8192];
	ssize_t n;
	size_t keep;

	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n > 0) {
			o->seen += (size_t) n;
			keep = o->limit - o->len;
			if (keep > (size_t) n) {
				keep = (size_t) n;
			}
			memcpy(o->buf + o->len, tmp, keep);
			o->len += keep;
			continue;
		}
		if (n == 0) {
			return (1);
		}
		if (errno == EINTR) {
			continue;
		}
		return (errno == EAGAIN ? 0 : 1);
	}
}

/* The input side. */
typedef struct cmd_in {
	const pm_command_req *req;
	char *chunk;
	const char *p;
	size_t left;
	int eof;    /* no more input */
	int failed; /* feed() failed */
} cmd_in;

/* Write what the pipe takes; 1 when done (all written, or EPIPE). */
static int
cmd_write_in(int fd, cmd_in *in)
{
	ssize_t n;
	long got;

	for (;;) {
		if (in->left == 0) {
			if (in->eof || in->req->feed == NULL) {
				return (1);
			}
			got = in->req->feed(in->req->feed_ctx, in->chunk,
			    CMD_CHUNK);
			if (got < 0 || (size_t) got > CMD_CHUNK) {
				in->failed = 1;
				in->eof = 1;
				return (1);
			}
			if (got == 0) {
				in->eof = 1;
				return (1);
			}
			in->p = in->chunk;
			in->left = (size_t) got;
		}
		n = write(fd, in->p, in->left);
		if (n > 0) {
			in->p += n;
			in->left -= (size_t) n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			return (0);
		}
		/* EPIPE: the command stopped reading; its status decides. */
		in->left = 0;
		in->eof = 1;
		return (1);
	}
}

static void
cmd_outcome(const pm_command_req *req, pm_command_res *res, int status,
    const cmd_out *o)
{
	const char *dsn, *text;
	int outcome;

	cmd_oneline(res->output, sizeof(res->output), o->buf, o->len);
	res->out_len = o->seen;
	if (res->timed_out) {
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "Command time limit exceeded: \"%s\"%s%s", req->argv[0],
		    *res->output ? ". Command output: " : "", res->output);
		return;
	}
	if (WIFSIGNALED(status)) {
		res->signo = WTERMSIG(status);
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "Command died with signal %d: \"%s\"%s%s", res->signo,
		    req->argv[0], *res->output ? ". Command output: " : "",
		    res->output);
		return;
	}
	res->exit_code = WEXITSTATUS(status);
	outcome = pm_command_exit_dsn(res->exit_code, &dsn, &text);
	if (outcome == PM_COMMAND_OK) {
		cmd_set(res, outcome, dsn, "%s", res->output);
	} else if (text != NULL) {
		cmd_set(res, outcome, dsn, "%s%s%s", text,
		    *res->output ? ". Command output: " : "", res->output);
	} else {
		cmd_set(res, outcome, dsn,
		    "Command died with status %d: \"%s\"%s%s", res->exit_code,
		    req->argv[0], *res->output ? ". Command output: " : "",
		    res->output);
	}
}

static int
cmd_check(const pm_command_req *req, pm_command_res *res)
{
	size_t n;

	if (req->argv == NULL || req->argv[0] == NULL ||
	    req->argv[0][0] != '/') {
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "cannot execute command: no absolute program path");
		return (PM_EINVAL);
	}
	for (n = 0; req->argv[n] != NULL; n++) {
		if (n >= PM_COMMAND_MAX_ARGS) {
			cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
			    "cannot execute \"%s\": too many arguments",
			    req->argv[0]);
			return (PM_EINVAL);
		}
	}
	for (n = 0; req->envp != NULL && req->envp[n] != NULL; n++) {
		if (n >= PM_COMMAND_MAX_ENV) {
			cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
			    "cannot execute \"%s\": too many environment "
			    "variables",
			    req->argv[0]);
			return (PM_EINVAL);
		}
	}
	if (req->time_limit < 1) {
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "cannot execute \"%s\": bad time limit", req->argv[0]);
		return (PM_EINVAL);
	}
	if (req->uid == 0 && !req->allow_root) {
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "cannot execute \"%s\" as root (uid 0): refused",
		    req->argv[0]);
		return (PM_EINVAL);
	}
	return (0);
}

int
pm_command_run(const pm_command_req *req, pm_command_res *res)
{
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	struct pollfd pfd[2];
	sigset_t saved;
	cmd_out out;
	cmd_in in;
	pid_t pid = -1, w;
	int64_t now, deadline, kill_at = 0, drain_until = 0;
	int status = 0, reaped = 0, out_eof = 0, in_done = 0, err_done = 0;
	int rc, n, ex_step = 0, ex_errno = 0, nfd, i_out, lost = 0, maxfd;
	unsigned char msg[2];
	ssize_t got;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	if ((rc = cmd_check(req, res)) != 0) {
		return (rc);
	}
	memset(&out, 0, sizeof(out));
	out.limit =
	    req->output_limit ? req->output_limit : PM_COMMAND_OUTPUT_MAX;
	out.buf = pm_malloc(out.limit + 1);
	memset(&in, 0, sizeof(in));
	in.req = req;
	in.p = req->data;
	in.left = req->feed ? 0 : req->len;
	in.chunk = req->feed ? pm_malloc(CMD_CHUNK) : NULL;

	if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0) {
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "cannot execute \"%s\": pipe: %s", req->argv[0],
		    strerror(errno));
		goto out;
	}
	maxfd = (int) sysconf(_SC_OPEN_MAX);
	if (maxfd < 0 || maxfd > CMD_CLOSE_MAX) {
		maxfd = CMD_CLOSE_MAX;
	}
	pid = fork();
	if (pid < 0) {
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "cannot execute \"%s\": fork: %s", req->argv[0],
		    strerror(errno));
		goto out;
	}
	if (pid == 0) {
		cmd_child(req, inp[0], outp[1], errp[1], maxfd);
	}
	/* Both sides set the group: no race with an early kill. */
	(void) setpgid(pid, pid);
	close(inp[0]);
	close(outp[1]);
	close(errp[1]);
	inp[0] = outp[1] = errp[1] = -1;
	(void) cmd_nonblock(inp[1]);
	(void) cmd_nonblock(outp[0]);
	(void) cmd_nonblock(errp[0]);

	pm_sigpipe_block(&saved);
	now = pm_mono_ms();
	deadline = now + (int64_t) req->time_limit * 1000;
	for (;;) {
		if (!in_done && inp[1] >= 0) {
			in_done = cmd_write_in(inp[1], &in);
			if (in_done) {
				close(inp[1]);
				inp[1] = -1;
				if (in.failed && !reaped && !kill_at) {
					cmd_kill(pid, SIGKILL);
				}
			}
		}
		if (!reaped) {
			w = waitpid(pid, &status, WNOHANG);
			if (w == pid || (w < 0 && errno != EINTR)) {
				/* ECHILD: SIGCHLD ignored, the status is lost */
				lost = w != pid;
				reaped = 1;
				drain_until =
				    pm_mono_ms() + PM_COMMAND_DRAIN_MS;
			}
		}
		if (reaped && (out_eof || pm_mono_ms() >= drain_until) &&
		    err_done) {
			break;
		}
		if (reaped && !err_done) {
			/* The child is gone: its write end is closed. */
			got = read(errp[0], msg, 2);
			if (got == 2) {
				ex_step = msg[0];
				ex_errno = msg[1];
			}
			err_done = 1;
			continue;
		}
		now = pm_mono_ms();
		if (!reaped && now >= deadline && !kill_at) {
			res->timed_out = 1;
			cmd_kill(pid, SIGTERM);
			kill_at = now + PM_COMMAND_KILL_GRACE_MS;
		} else if (!reaped && kill_at && now >= kill_at) {
			cmd_kill(pid, SIGKILL);
			kill_at = now + 3600 * 1000; /* once */
		}
		nfd = 0;
		i_out = -1;
		if (!in_done && inp[1] >= 0) {
			pfd[nfd].fd = inp[1];
			pfd[nfd].events = POLLOUT;
			nfd++;
		}
		if (!out_eof) {
			pfd[nfd].fd = outp[0];
			pfd[nfd].events = POLLIN;
			i_out = nfd++;
		}
		n = poll(pfd, (nfds_t) nfd, CMD_POLL_MS);
		if (n > 0 && i_out >= 0 && pfd[i_out].revents) {
			out_eof = cmd_read_out(outp[0], &out);
		}
	}
	pm_sigpipe_restore(&saved);
	/* Whatever the command left behind in its group goes too. */
	if (res->timed_out || in.failed) {
		cmd_kill(pid, SIGKILL);
	}
	if (ex_step > 0 && ex_step <= STEP_EXEC) {
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "cannot execute \"%s\": %s: %s", req->argv[0],
		    cmd_steps[ex_step], strerror(ex_errno));
	} else if (lost) {
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "cannot get the status of \"%s\": %s", req->argv[0],
		    strerror(ECHILD));
	} else if (in.failed && !res->timed_out) {
		cmd_set(res, PM_COMMAND_DEFER, "4.3.0",
		    "cannot feed command \"%s\"", req->argv[0]);
	} else {
		cmd_outcome(req, res, status, &out);
	}
out:
	if (inp[0] >= 0) {
		close(inp[0]);
	}
	if (inp[1] >= 0) {
		close(inp[1]);
	}
	if (outp[0] >= 0) {
		close(outp[0]);
	}
	if (outp[1] >= 0) {
		close(outp[1]);
	}
	if (errp[0] >= 0) {
		close(errp[0]);
	}
	if (errp[1] >= 0) {
		close(errp[1]);
	}
	free(out.buf);
	free(in.chunk);
	return (0);
}
