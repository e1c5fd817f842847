/*
 * NAME
 *	test_server - unit tests for pm_server_main
 * DESCRIPTION
 *	A test service runs pm_server_main() in a child process with its
 *	log on a file: command line (-c, -o, -v), main.cf, RPC echo,
 *	/healthz, SIGHUP reload, SIGTERM stop with on_stop and fini, exit
 *	status, the log lines Postfix operators expect; a service with its
 *	own run() loop; bad command lines are fatal (exit 1).
 */
#include "pm_server.h"
#include "pm_log.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_ECHO 100

static char *var_listen, *var_mlisten;
static long var_workers;
static atomic_int n_init;

static int
echo(void *tctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	(void) tctx;
	*rtype = type + 1;
	return (pm_buf_append(rbuf, req, reqlen));
}

static void *
tinit(void)
{
	atomic_fetch_add(&n_init, 1);
	return (NULL);
}

static void
on_stop(void *arg)
{
	pm_msg_info("on_stop called (%s)", (const char *) arg);
}

static int
post_init(void)
{
	pm_msg_info("post_init: workers=%ld threads=%d", var_workers,
	    atomic_load(&n_init));
	pm_server_on_stop(on_stop, "arg");
	return (0);
}

static void
fini(void)
{
	pm_msg_info("fini called");
}

static void
reload(void)
{
	pm_msg_info("reload called");
}

/* A run() loop that returns when asked to stop. */
static int
run(void)
{
	pm_msg_info("run started");
	while (!pm_server_stopping()) {
		usleep(10000);
	}
	pm_msg_info("run done");
	return (0);
}

static const pm_cfg_str strs[] = {
	{ "tsvc_listen", "", &var_listen, 0, 0 },
	{ "tsvc_metrics_listen", "", &var_mlisten, 0, 0 },
	{ 0 },
};
static const pm_cfg_int ints[] = {
	{ "tsvc_workers", 2, &var_workers, 1, 64 },
	{ 0 },
};

static const pm_service svc_rpc = {
	.name = "tsvc",
	.strs = strs,
	.ints = ints,
	.listen_param = "tsvc_listen",
	.workers_param = "tsvc_workers",
	.metrics_param = "tsvc_metrics_listen",
	.handler = echo,
	.thread_init = tinit,
	.post_init = post_init,
	.fini = fini,
	.reload = reload,
};

static const pm_service svc_run = {
	.name = "trun",
	.run = run,
	.post_init = post_init,
	.fini = fini,
};

static const pm_service svc_bad = { .name = "tbad" };

__attribute__((constructor)) static void
test_child(int argc, char **argv, char **envp)
{
	const char *which = getenv("PM_TEST_SERVER");
	const pm_service *svc;

	(void) envp;
	if (which == NULL) {
		return; /* the criterion runner */
	}
	unsetenv("PM_TEST_SERVER");
	if (strcmp(which, "rpc") == 0) {
		svc = &svc_rpc;
	} else if (strcmp(which, "run") == 0) {
		svc = &svc_run;
	} else {
		svc = &svc_bad;
	}
	exit(pm_server_main(svc, argc, argv));
}

static char dir[256], logpath[300];

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *) &sin, &slen) == 0);
	close(fd);
	return (ntohs(sin.sin_port));
}

static void
make_dir(const char *maincf)
{
	char path[320];
	FILE *fp;

	snprintf(dir, sizeof(dir), "/tmp/pm_test_server_%d", (int) getpid());
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/main.cf", dir);
	fp = fopen(path, "w");
	cr_assert_not_null(fp);
	fputs(maincf, fp);
	fclose(fp);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
}

/* Remove what make_dir() and the service made. */
static void
rm_dir(void)
{
	static const char *const files[] = { "main.cf", "log", "rpc.ipc" };
	char path[320];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

/*
 * Run pm_server_main(svc, argv) in a child with stdout on logpath. The
 * test process has already used nng (criterion's nn_* calls resolve to
 * libnng's), and nng refuses to run in a forked child: so the child
 * execs this binary again, and test_child() below runs the service
 * before criterion's main().
 */
static pid_t
spawn(const char *which, char **argv)
{
	pid_t pid;
	int fd;

	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		setenv("PM_TEST_SERVER", which, 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	return (pid);
}

/* Wait for the child's exit status, at most ms; -1 if it did not end. */
static int
wait_exit(pid_t pid, int ms)
{
	int st;

	for (; ms > 0; ms -= 10) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			return (WIFEXITED(st) ? WEXITSTATUS(st) :
			                        128 + WTERMSIG(st));
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return (-1);
}

static char *
read_log(void)
{
	static char buf[65536];
	int fd = open(logpath, O_RDONLY);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0) {
		close(fd);
	}
	return (buf);
}

/* Wait until the log holds text, at most ms. */
static int
log_wait(const char *text, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (strstr(read_log(), text) != NULL) {
			return (1);
		}
		usleep(10000);
	}
	return (0);
}

/* The wanted texts appear in this order in the log. */
static void
check_order(const char *const *want)
{
	const char *log = read_log(), *p = log, *q;
	int i;

	for (i = 0; want[i] != NULL; i++) {
		q = strstr(p, want[i]);
		cr_assert_not_null(q, "want \"%s\" (in order) in log:\n%s",
		    want[i], log);
		p = q + strlen(want[i]);
	}
}

static int
http_status(int port, const char *path)
{
	struct sockaddr_in sin;
	char buf[512];
	int fd, st = -1;
	ssize_t n;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t) port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0) {
		snprintf(buf, sizeof(buf),
		    "GET %s HTTP/1.1\r\nHost: x\r\n"
		    "Connection: close\r\n\r\n",
		    path);
		(void) !write(fd, buf, strlen(buf));
		if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
			buf[n] = 0;
			sscanf(buf, "HTTP/1.1 %d", &st);
		}
	}
	close(fd);
	return (st);
}

Test(server, rpc_service_lifecycle)
{
	char url[300], murl[64], o1[340], o2[100];
	char *argv[] = { "tsvc", "-v", "-c", dir, "-o", o1, "-o", o2, NULL };
	const char *want[] = {
		"postmesh/tsvc[",
		"daemon started -- version ",
		NULL, /* configuration DIR */
		"post_init: workers=3 threads=3",
		"reload -- version",
		"reload called",
		"terminating on signal 15",
		"on_stop called (arg)",
		"fini called",
		"daemon stopped",
		NULL,
	};
	char cfg[300];
	pm_rpc_client *cl;
	pm_buf rb;
	uint32_t rtype = 0;
	pid_t pid;
	int port, err, i, st = -1;

	make_dir("# test\nmyhostname = box.example.com\ntsvc_workers = 7\n"
	         "tsvc_listen = tcp://192.0.2.1:1\n");
	snprintf(url, sizeof(url), "ipc://%s/rpc.ipc", dir);
	port = free_port();
	snprintf(murl, sizeof(murl), "http://127.0.0.1:%d", port);
	/* -o beats main.cf; white space around '=' is allowed. */
	snprintf(o1, sizeof(o1), "tsvc_listen = %s", url);
	snprintf(o2, sizeof(o2), "tsvc_metrics_listen=%s", murl);
	snprintf(cfg, sizeof(cfg), "configuration %s", dir);
	want[2] = cfg;
	setenv("POSTMESH_tsvc_workers", "3", 1); /* env beats main.cf */
	pid = spawn("rpc", argv);

	for (i = 0; i < 2000 && st != 200; i++) {
		usleep(10000);
		st = http_status(port, "/healthz");
	}
	cr_assert_eq(st, 200, "/healthz: got %d, want 200\n%s", st, read_log());
	/*
	 * /healthz answers as soon as the HTTP server runs; /readyz only
	 * once post_init() opened the listeners, so it may lag a little.
	 */
	for (i = 0, st = -1; i < 2000 && st != 200; i++) {
		st = http_status(port, "/readyz");
		if (st != 200) {
			cr_assert_eq(st, 503, "/readyz: got %d", st);
			usleep(10000);
		}
	}
	cr_assert_eq(st, 200, "/readyz: got %d, want 200\n%s", st, read_log());
	cl = pm_rpc_client_new(url, 0);
	pm_buf_init(&rb, 0);
	err = pm_rpc_call(cl, T_ECHO, "ping", 4, 3000, &rtype, &rb);
	cr_assert_eq(err, 0, "got %d (%s), want 0", err, pm_strerror(err));
	cr_assert_eq(rtype, T_ECHO + 1);
	cr_assert_str_eq(rb.data, "ping");
	pm_buf_free(&rb);
	pm_rpc_client_free(cl);

	kill(pid, SIGPIPE); /* ignored */
	kill(pid, SIGHUP);
	cr_assert(log_wait("reload called", 20000), "no reload:\n%s",
	    read_log());
	kill(pid, SIGTERM);
	st = wait_exit(pid, 20000);
	cr_assert_eq(st, 0, "exit: got %d, want 0\n%s", st, read_log());
	check_order(want);
	cr_assert_not_null(strstr(read_log(), " box postmesh/tsvc["),
	    "log host is not myhostname's first label:\n%s", read_log());
	cr_assert_eq(http_status(port, "/healthz"), -1, "HTTP still up");
	rm_dir();
}

Test(server, run_loop_service)
{
	char *argv[] = { "trun", NULL };
	const char *want[] = {
		"postmesh/trun[",
		"daemon started",
		"run started",
		"terminating on signal 2",
		"on_stop called",
		"run done",
		"fini called",
		"daemon stopped",
		NULL,
	};
	pid_t pid;
	int st;

	make_dir("");
	setenv("MAIL_CONFIG", dir, 1);
	pid = spawn("run", argv);
	cr_assert(log_wait("run started", 20000), "not started:\n%s",
	    read_log());
	kill(pid, SIGINT);
	st = wait_exit(pid, 20000);
	cr_assert_eq(st, 0, "exit: got %d, want 0\n%s", st, read_log());
	check_order(want);
	rm_dir();
}

Test(server, bad_command_lines)
{
	static const struct {
		char *args[4];
		const char *want;
	} cases[] = {
		{ { "tbad", "-o", "novalue", NULL }, "bad -o argument" },
		{ { "tbad", "-o", "=x", NULL }, "bad -o argument" },
		{ { "tbad", "-x", NULL }, "usage: tbad" },
		{ { "tbad", "extra", NULL }, "usage: tbad" },
		{ { "tbad", "-c", NULL }, "usage: tbad" },
	};
	size_t i;
	int st;

	make_dir("");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *args[4]; /* getopt may permute argv: not rodata */

		memcpy(args, cases[i].args, sizeof(args));
		unlink(logpath);
		st = wait_exit(spawn("bad", args), 20000);
		cr_assert_eq(st, 1, "case %zu: got exit %d, want 1\n%s", i, st,
		    read_log());
		cr_assert_not_null(strstr(read_log(), cases[i].want),
		    "case %zu: want \"%s\" in:\n%s", i, cases[i].want,
		    read_log());
	}
	rm_dir();
}
