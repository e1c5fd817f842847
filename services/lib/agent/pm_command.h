/*
 * NAME
 *	pm_command - run one external command for a delivery agent
 * SUMMARY
 *	#include "pm_command.h"
 *	pm_command_req req = { .argv = argv, .envp = envp, .uid = u, ... };
 *	pm_command_res res;
 *	pm_command_run(&req, &res);
 * DESCRIPTION
 *	What Postfix's pipe(8) and local(8) do with pipe_command(): run
 *	an argument vector and tell how it went, as a DSN.
 *	- The command is started with fork + execve of req->argv (argv[0]
 *	  is the program's absolute path; there is no PATH search and never
 *	  a shell: mail data in an argument stays one literal argument).
 *	- In the child: a process group of its own; every signal set to
 *	  its default and unblocked; setgroups(gid), setgid, setuid to
 *	  req->uid/req->gid (uid 0 is refused unless req->allow_root);
 *	  chdir(req->cwd or "/"); no descriptors but 0, 1, 2; the
 *	  environment is exactly req->envp (nothing is inherited).
 *	- stdin is fed from req->data/req->len, or from req->feed() when it
 *	  is set (called until it returns 0). A command that exits without
 *	  reading all of it is no error (EPIPE is handled, the agent gets
 *	  no SIGPIPE): its exit status decides.
 *	- stdout and stderr go to one pipe; the first req->output_limit
 *	  bytes are kept, the rest is read and dropped.
 *	- After req->time_limit seconds the process group gets SIGTERM,
 *	  then SIGKILL PM_COMMAND_KILL_GRACE_MS later.
 *	- The outcome (res): PM_COMMAND_OK with dsn 2.0.0, or a deferral or
 *	  bounce with the DSN status sysexits.h gives the exit code:
 *	    0 ok 2.0.0; EX_TEMPFAIL, EX_OSERR: defer 4.3.0;
 *	    EX_NOUSER 5.1.1; EX_NOHOST 5.1.2; EX_DATAERR 5.6.0;
 *	    EX_NOPERM 5.7.0; EX_CANTCREAT 5.2.0; EX_PROTOCOL 5.5.0;
 *	    EX_CONFIG 5.3.5; EX_USAGE, EX_NOINPUT, EX_UNAVAILABLE,
 *	    EX_SOFTWARE, EX_OSFILE, EX_IOERR: 5.3.0 (Postfix's
 *	    sys_exits table); any other code: bounce 5.3.0
 *	    "Command died with status N"; a signal: defer 4.3.0 "Command
 *	    died with signal N"; the time limit: defer 4.3.0 "Command time
 *	    limit exceeded"; the command could not be started (no such
 *	    file, setuid failed ...): defer 4.3.0 "cannot execute ...".
 *	  res->output is the captured output as one printable line (control
 *	  characters become spaces); res->text is the diagnostic Postfix
 *	  gives: "user unknown. Command output: <output>".
 *	pm_command_run() blocks the calling thread (an agent's worker) for
 *	at most the time limit plus the kill grace plus
 *	PM_COMMAND_DRAIN_MS; several threads may run commands at once.
 * LIMITS
 *	req->time_limit (seconds, >= 1; the caller's command_time_limit);
 *	req->output_limit bytes of output kept (0: PM_COMMAND_OUTPUT_MAX);
 *	res->text and res->output are cut at PM_COMMAND_TEXT_MAX - 1 bytes;
 *	PM_COMMAND_MAX_ARGS arguments, PM_COMMAND_MAX_ENV variables.
 *	After the command exits its output is read at most
 *	PM_COMMAND_DRAIN_MS longer (a background child holding the pipe
 *	does not hold the agent).
 * SECURITY
 *	Arguments, environment and stdin are mail data: never interpreted,
 *	passed as they are. The command runs unprivileged (uid 0 refused
 *	by default) with nothing inherited but what the caller passes.
 *	Its output is untrusted: made printable and cut.
 */
#ifndef PM_COMMAND_H
#define PM_COMMAND_H

#include <stddef.h>
#include <sys/types.h>

#define PM_COMMAND_OUTPUT_MAX 2048    /* default output kept (bytes) */
#define PM_COMMAND_TEXT_MAX 1024      /* res->text, res->output */
#define PM_COMMAND_KILL_GRACE_MS 2000 /* SIGTERM .. SIGKILL */
#define PM_COMMAND_DRAIN_MS 1000      /* output read after exit */
#define PM_COMMAND_MAX_ARGS 4096
#define PM_COMMAND_MAX_ENV 256

/* res->outcome */
#define PM_COMMAND_OK 0
#define PM_COMMAND_DEFER 1
#define PM_COMMAND_BOUNCE 2

typedef struct pm_command_req {
	const char *const *argv; /* NULL-terminated; argv[0]: absolute path */
	const char *const *envp; /* "NAME=value", NULL-terminated; NULL: none */
	uid_t uid;               /* run as (setuid) */
	gid_t gid;               /* run as (setgid, setgroups) */
	int allow_root;          /* uid 0 allowed (else refused: 4.3.0) */
	const char *cwd;         /* working directory; NULL: "/" */
	int time_limit;          /* seconds, >= 1 */
	size_t output_limit;     /* output bytes kept; 0: default */
	/* stdin: data/len, or feed() when not NULL */
	const char *data;
	size_t len;
	/*
	 * Fill buf with at most cap bytes of input; return the count, 0 at
	 * the end, < 0 on error (the command is stopped, res: defer 4.3.0
	 * "cannot feed command"). Not called again after 0 or an error,
	 * nor after the command stopped reading.
	 */
	long (*feed)(void *ctx, char *buf, size_t cap);
	void *feed_ctx;
} pm_command_req;

typedef struct pm_command_res {
	int outcome;    /* PM_COMMAND_OK, _DEFER or _BOUNCE */
	char dsn[8];    /* "2.0.0", "4.3.0", "5.1.1" ... */
	int exit_code;  /* exit status, -1 when none (signal, time limit) */
	int signo;      /* signal that ended it, 0 when none */
	int timed_out;  /* the time limit killed it */
	size_t out_len; /* output bytes seen (kept or not) */
	char output[PM_COMMAND_TEXT_MAX]; /* one printable line */
	char text[PM_COMMAND_TEXT_MAX];   /* the diagnostic */
} pm_command_res;

/*
 * Run the command; fill *res with the outcome (always, also when the
 * command could not be started: that is a deferral). Returns 0, or
 * PM_EINVAL for a bad request (empty argv, relative argv[0], too many
 * arguments, time_limit < 1): res is then a deferral too.
 */
int pm_command_run(const pm_command_req *req, pm_command_res *res);

/*
 * The DSN for a command's exit code (sysexits.h): outcome, dsn and
 * Postfix's short text ("user unknown"); NULL text for 0 and for codes
 * sysexits.h does not name (5.3.0 bounce).
 */
int pm_command_exit_dsn(int code, const char **dsn, const char **text);

#endif
