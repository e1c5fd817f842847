/*
 * NAME
 *	test_rpc_tls - unit tests for pm_rpc over tls+tcp:// (pm_rpc_tls)
 * DESCRIPTION
 *	Certificates are made with the openssl command
 *	(scripts/internal-tls-certs.sh): the mesh CA with certificates
 *	"srv" and "cli", and a foreign CA with "evil". A child process
 *	(this binary exec'ed again, see serve()) serves echo on tls+tcp:// with srv; the
 *	test process calls it with each client identity: the good one is
 *	answered, a certificate from the foreign CA, a client that trusts
 *	only the foreign CA, a wrong server name and a plain tcp:// client
 *	all get an error within the call's deadline. A client whose
 *	certificate is replaced (pm_rpc_tls_configure again, as SIGHUP
 *	does) is answered without being made again. Bad files are refused
 *	with a message naming the parameter; a tls+tcp:// URL without
 *	configuration makes no client and no server.
 */
#include "pm_log.h"
#include "pm_rpc.h"
#include "pm_rpc_tls.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_ECHO 100
#define T_ECHO_REPLY 101
#define CALL_MS 2000  /* deadline of one call */
#define SLACK_MS 1000 /* an error must come within CALL_MS + this */

static char dir[64];
static char url[64];
static pid_t child;

static int
handler(void *tctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	(void) tctx;
	if (type != T_ECHO) {
		return (PM_EINVAL);
	}
	*rtype = T_ECHO_REPLY;
	return (pm_buf_append(rbuf, req, reqlen));
}

static char *
path(const char *name)
{
	static char buf[8][128];
	static int n;

	n = (n + 1) % 8;
	snprintf(buf[n], sizeof(buf[n]), "%s/%s", dir, name);
	return (buf[n]);
}

static void
free_port(char *buf, size_t len, const char *scheme)
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
	snprintf(buf, len, "%s://127.0.0.1:%u", scheme, ntohs(sin.sin_port));
}

static void
configure(const char *ca, const char *cert, const char *name)
{
	pm_rpc_tls_files f = { ca, cert, NULL, name };
	char *err = NULL;

	cr_assert_eq(pm_rpc_tls_configure(&f, &err), 0, "configure: %s",
	    err ? err : "?");
}

/* Certificates, then a child serving echo on tls+tcp:// with "srv". */
static void
setup(void)
{
	char cmd[512];

	snprintf(dir, sizeof(dir), "/tmp/pm_test_rpc_tls_%d", (int) getpid());
	snprintf(cmd, sizeof(cmd),
	    "scripts/internal-tls-certs.sh %s srv cli && "
	    "scripts/internal-tls-certs.sh %s/foreign evil",
	    dir, dir);
	cr_assert_eq(system(cmd), 0, "cannot make certificates: %s", cmd);
	free_port(url, sizeof(url), "tls+tcp");
	/* nng refuses to run in a forked child: exec ourselves afresh. */
	child = fork();
	cr_assert(child >= 0);
	if (child == 0) {
		setenv("PM_TEST_TLS_SERVE", url, 1);
		setenv("PM_TEST_TLS_DIR", dir, 1);
		execl("/proc/self/exe", "test_rpc_tls", (char *) NULL);
		_exit(127);
	}
}

/* The exec'ed child: serve echo, never return to criterion. */
__attribute__((constructor)) static void
serve(void)
{
	const char *u = getenv("PM_TEST_TLS_SERVE");
	pm_rpc_tls_files f = { NULL, NULL, NULL, NULL };
	char *err = NULL;

	if (u == NULL) {
		return;
	}
	snprintf(dir, sizeof(dir), "%s", getenv("PM_TEST_TLS_DIR"));
	f.ca_file = path("ca.pem");
	f.cert_file = path("srv.pem");
	if (pm_rpc_tls_configure(&f, &err) != 0 ||
	    pm_rpc_server_start(u, 2, 0, handler, NULL, NULL) == NULL) {
		_exit(1);
	}
	for (;;) {
		pause();
	}
}

static void
teardown(void)
{
	char cmd[128];

	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void) system(cmd);
}

/* One echo call; its error (0 on a good echo) and how long it took. */
static int
echo(pm_rpc_client *cl, int64_t *ms)
{
	uint32_t rtype = 0;
	pm_buf rb;
	int64_t t0 = pm_mono_ms();
	int rc;

	pm_buf_init(&rb, 0);
	rc = pm_rpc_call(cl, T_ECHO, "hello", 5, CALL_MS, &rtype, &rb);
	*ms = pm_mono_ms() - t0;
	if (rc == 0) {
		cr_assert_eq(rtype, T_ECHO_REPLY);
		cr_assert(rb.len == 5 && memcmp(rb.data, "hello", 5) == 0,
		    "echo garbled");
	}
	pm_buf_free(&rb);
	return (rc);
}

Test(rpc_tls, who_may_call, .init = setup, .fini = teardown)
{
	static const struct {
		const char *what;
		const char *ca, *cert, *server_name;
		int plain; /* dial tcp:// to the TLS port */
		int want_ok;
	} t[] = {
		{ "certificate from the mesh CA", "ca.pem", "cli.pem", NULL, 0,
		    1 },
		{ "and the server name checked", "ca.pem", "cli.pem",
		    "postmesh-internal", 0, 1 },
		{ "certificate from a foreign CA", "ca.pem", "foreign/evil.pem",
		    NULL, 0, 0 },
		{ "client trusting only a foreign CA", "foreign/ca.pem",
		    "foreign/evil.pem", NULL, 0, 0 },
		{ "wrong server name", "ca.pem", "cli.pem", "other.example", 0,
		    0 },
		{ "plain tcp:// to the TLS port", "ca.pem", "cli.pem", NULL, 1,
		    0 },
	};
	char plain[64];
	pm_rpc_client *cl;
	int64_t ms;
	size_t i;
	int rc, tries;

	snprintf(plain, sizeof(plain), "tcp://%s", url + strlen("tls+tcp://"));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		configure(path(t[i].ca), path(t[i].cert), t[i].server_name);
		cl = pm_rpc_client_new(t[i].plain ? plain : url, 0);
		cr_assert_not_null(cl, "%s: no client", t[i].what);
		/* the server may still be starting: a good call retries */
		tries = t[i].want_ok ? 5 : 1;
		while ((rc = echo(cl, &ms)) != 0 && --tries > 0) {
		}
		if (t[i].want_ok) {
			cr_assert_eq(rc, 0, "%s: got %s, want an answer",
			    t[i].what, pm_strerror(rc));
		} else {
			cr_assert_neq(rc, 0, "%s: got an answer, want an error",
			    t[i].what);
			cr_assert_leq(ms, CALL_MS + SLACK_MS,
			    "%s: error after %lld ms, want within %d ms",
			    t[i].what, (long long) ms, CALL_MS + SLACK_MS);
		}
		pm_rpc_client_free(cl);
	}
}

/* Rotation: the same client, given a certificate from the right CA. */
Test(rpc_tls, new_certificate_for_existing_client, .init = setup,
    .fini = teardown)
{
	pm_rpc_client *cl;
	int64_t ms, t0;
	int rc;

	configure(path("ca.pem"), path("foreign/evil.pem"), NULL);
	cl = pm_rpc_client_new(url, 0);
	cr_assert_not_null(cl);
	cr_assert_neq(echo(cl, &ms), 0, "foreign certificate answered");
	configure(path("ca.pem"), path("cli.pem"), NULL);
	t0 = pm_mono_ms();
	while ((rc = echo(cl, &ms)) != 0 && pm_mono_ms() - t0 < 10000) {
	}
	cr_assert_eq(rc, 0,
	    "after the new certificate: got %s, want an "
	    "answer",
	    pm_strerror(rc));
	pm_rpc_client_free(cl);
}

Test(rpc_tls, bad_configuration, .init = setup, .fini = teardown)
{
	static const struct {
		const char *ca, *cert, *key;
		const char *want; /* in the error message */
	} t[] = {
		{ "none.pem", "cli.pem", NULL, "internal_tls_ca_file" },
		{ "cli.pem", "cli.pem", NULL, NULL }, /* a cert as CA: ok */
		{ "ca.key", "cli.pem", NULL, "internal_tls_ca_file" },
		{ "ca.pem", "none.pem", NULL, "internal_tls_cert_file" },
		{ "ca.pem", "ca.pem", NULL, "no private key" },
		{ "ca.pem", "ca.pem", "none.key", "internal_tls_key_file" },
		{ "ca.pem", "ca.pem", "ca.pem", "internal_tls_key_file" },
		{ "ca.pem", NULL, NULL, "internal_tls_cert_file is empty" },
		{ NULL, "cli.pem", NULL, "internal_tls_ca_file is empty" },
	};
	pm_rpc_tls_files f;
	char *err;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&f, 0, sizeof(f));
		f.ca_file = t[i].ca ? path(t[i].ca) : NULL;
		f.cert_file = t[i].cert ? path(t[i].cert) : NULL;
		f.key_file = t[i].key ? path(t[i].key) : NULL;
		err = NULL;
		rc = pm_rpc_tls_configure(&f, &err);
		if (t[i].want == NULL) {
			cr_assert_eq(rc, 0, "case %zu: %s", i, err);
			continue;
		}
		cr_assert_eq(rc, PM_EINVAL, "case %zu: accepted", i);
		cr_assert(err != NULL && strstr(err, t[i].want) != NULL,
		    "case %zu: got \"%s\", want \"%s\" in it", i, err,
		    t[i].want);
		free(err);
	}
}

Test(rpc_tls, not_configured)
{
	pm_rpc_tls_files none = { NULL, NULL, NULL, NULL };
	char *err = NULL;

	cr_assert_eq(pm_rpc_tls_configure(&none, &err), 0);
	cr_assert_not(pm_rpc_tls_enabled());
	cr_assert_null(pm_rpc_client_new("tls+tcp://127.0.0.1:1", 0),
	    "tls+tcp:// client made without certificates");
	cr_assert_null(pm_rpc_server_start("tls+tcp://127.0.0.1:0", 1, 0,
	                   handler, NULL, NULL),
	    "tls+tcp:// server made without certificates");
	cr_assert_eq(pm_rpc_tls_url("tls+tcp6://[::1]:1"), 1);
	cr_assert_eq(pm_rpc_tls_url("tcp://127.0.0.1:1"), 0);
}
