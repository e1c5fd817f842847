/*
 * NAME
 *	test_rpc_disco - unit tests for pm_rpc_disco and pm_rpc_dialers
 * DESCRIPTION
 *	Splitting service URLs (names, IP literals, ipc://, hostile text),
 *	formatting address URLs, sorted address sets and their difference
 *	(what is added and dropped when a name's addresses change),
 *	numeric resolution (no DNS here: tests/integration/test_discovery.py
 *	runs a real DNS server), pm_disco_new's callbacks for a static list
 *	(one per distinct address, del for each at free, a refused add
 *	fails the list), and the dialers and reconnects metrics of a
 *	client whose server goes away and comes back.
 */
#include "pm_metrics.h"
#include "pm_rpc.h"
#include "pm_rpc_disco.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

Test(disco, split)
{
	static const struct {
		const char *url;
		int rc;
		const char *scheme, *host, *port;
		int resolve;
	} cases[] = {
		{ "tcp://cleanup.mesh.test:10025", 0, "tcp",
		    "cleanup.mesh.test", "10025", 1 },
		{ "tls+tcp://qmgr:10030", 0, "tls+tcp", "qmgr", "10030", 1 },
		{ "tcp4://a.b:1", 0, "tcp4", "a.b", "1", 1 },
		{ "tcp://127.0.0.2:25", 0, "tcp", "127.0.0.2", "25", 0 },
		{ "tcp://[::1]:25", 0, "tcp", "::1", "25", 0 },
		{ "tls+tcp6://[fe80::1]:9", 0, "tls+tcp6", "fe80::1", "9", 0 },
		{ "ipc:///tmp/x.ipc", 0, "ipc", "", "", 0 },
		{ "inproc://x", 0, "inproc", "", "", 0 },
		/* hostile or broken */
		{ "tcp://host", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "tcp://host:", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "tcp://:25", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "tcp://host:25x", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "tcp://::1:25", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "tcp://[::1:25", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "tcp://a/b:25", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "tcp://u@h:25", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "127.0.0.1:25", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "://h:25", PM_EINVAL, NULL, NULL, NULL, 0 },
		{ "averyveryveryveryverylongschemename://h:1", PM_EINVAL, NULL,
		    NULL, NULL, 0 },
		{ "tcp://h:123456789012345678901", PM_EINVAL, NULL, NULL, NULL,
		    0 },
	};
	char scheme[32], host[256], port[16];
	size_t i;
	int rc, resolve;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = pm_disco_split(cases[i].url, scheme, sizeof(scheme), host,
		    sizeof(host), port, sizeof(port), &resolve);
		cr_assert_eq(rc, cases[i].rc, "%s: got %d, want %d",
		    cases[i].url, rc, cases[i].rc);
		if (rc != 0) {
			continue;
		}
		cr_assert_str_eq(scheme, cases[i].scheme, "%s: scheme %s",
		    cases[i].url, scheme);
		cr_assert_str_eq(host, cases[i].host, "%s: host %s",
		    cases[i].url, host);
		cr_assert_str_eq(port, cases[i].port, "%s: port %s",
		    cases[i].url, port);
		cr_assert_eq(resolve, cases[i].resolve, "%s: resolve %d",
		    cases[i].url, resolve);
	}
}

Test(disco, format)
{
	char out[64];

	cr_assert_eq(pm_disco_format("tcp", "10.0.0.1", "25", out, sizeof(out)),
	    0);
	cr_assert_str_eq(out, "tcp://10.0.0.1:25");
	cr_assert_eq(pm_disco_format("tls+tcp", "fd00::5", "9", out,
	                 sizeof(out)),
	    0);
	cr_assert_str_eq(out, "tls+tcp://[fd00::5]:9");
	cr_assert_eq(pm_disco_format("tcp", "10.0.0.1", "25", out, 10),
	    PM_ETOOBIG);
}

typedef struct seen {
	char v[8][64];
	int n;
} seen;

static void
note(void *arg, const char *url)
{
	seen *s = arg;

	cr_assert_lt(s->n, 8);
	snprintf(s->v[s->n++], sizeof(s->v[0]), "%s", url);
}

Test(disco, sets_and_difference)
{
	pm_disco_set a = { 0 }, b = { 0 };
	seen gone = { 0 }, added = { 0 };

	/* two addresses, then the name loses .2 and gains .4 */
	cr_assert_eq(pm_disco_set_add(&a, "tcp://127.0.0.3:1", 10), 1);
	cr_assert_eq(pm_disco_set_add(&a, "tcp://127.0.0.2:1", 10), 1);
	cr_assert_eq(pm_disco_set_add(&a, "tcp://127.0.0.2:1", 10), 0,
	    "a duplicate must not be added");
	cr_assert_eq(a.n, 2);
	cr_assert_str_eq(a.v[0], "tcp://127.0.0.2:1", "not sorted");
	cr_assert_eq(pm_disco_set_add(&b, "tcp://127.0.0.4:1", 10), 1);
	cr_assert_eq(pm_disco_set_add(&b, "tcp://127.0.0.3:1", 10), 1);
	pm_disco_set_minus(&a, &b, note, &gone);
	pm_disco_set_minus(&b, &a, note, &added);
	cr_assert_eq(gone.n, 1, "got %d gone, want 1", gone.n);
	cr_assert_str_eq(gone.v[0], "tcp://127.0.0.2:1");
	cr_assert_eq(added.n, 1, "got %d added, want 1", added.n);
	cr_assert_str_eq(added.v[0], "tcp://127.0.0.4:1");
	/* the same set: nothing changes */
	gone.n = 0;
	pm_disco_set_minus(&a, &a, note, &gone);
	cr_assert_eq(gone.n, 0);
	/* the bound */
	cr_assert_eq(pm_disco_set_add(&b, "tcp://127.0.0.9:1", 2), 0,
	    "set over its bound");
	cr_assert(pm_disco_set_has(&b, "tcp://127.0.0.4:1"));
	cr_assert(!pm_disco_set_has(&b, "tcp://127.0.0.9:1"));
	pm_disco_set_clear(&a);
	pm_disco_set_clear(&b);
	cr_assert_eq(a.n, 0);
}

Test(disco, resolve_numeric)
{
	pm_disco_set s = { 0 };
	const char *why = NULL;

	cr_assert_eq(pm_disco_resolve("tcp", "127.0.0.2", "25", &s, &why), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.v[0], "tcp://127.0.0.2:25");
	pm_disco_set_clear(&s);
	cr_assert_eq(pm_disco_resolve("tls+tcp6", "::1", "7", &s, &why), 0);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.v[0], "tls+tcp6://[::1]:7");
	pm_disco_set_clear(&s);
	/* an IPv6 address for an IPv4-only scheme does not resolve */
	cr_assert_eq(pm_disco_resolve("tcp4", "::1", "7", &s, &why), PM_EAGAIN);
	cr_assert_not_null(why);
	cr_assert_eq(s.n, 0);
}

typedef struct calls {
	int adds, dels, fail_on;
	char last[64];
} calls;

static int
t_add(void *arg, const char *url, void **datap)
{
	calls *c = arg;

	if (++c->adds == c->fail_on) {
		return (PM_EINVAL);
	}
	snprintf(c->last, sizeof(c->last), "%s", url);
	*datap = c;
	return (0);
}

static void
t_del(void *arg, const char *url, void *data)
{
	calls *c = arg;

	(void) url;
	cr_assert_eq(data, c, "del got another add's data");
	c->dels++;
}

Test(disco, static_lists)
{
	calls c = { 0 };
	pm_disco *d;

	/* duplicates count once; ipc:// and literals stand for themselves */
	d = pm_disco_new("x_service",
	    "tcp://127.0.0.2:5, ipc:///tmp/x tcp://127.0.0.2:5", t_add, t_del,
	    &c);
	cr_assert_not_null(d);
	cr_assert_eq(c.adds, 2, "got %d adds, want 2", c.adds);
	cr_assert_eq(pm_disco_count(d), 2);
	pm_disco_free(d);
	cr_assert_eq(c.dels, 2, "got %d dels, want 2", c.dels);

	/* bad lists */
	cr_assert_null(pm_disco_new("x_service", "", t_add, t_del, &c));
	cr_assert_null(pm_disco_new("x_service", " , ", t_add, t_del, &c));
	cr_assert_null(pm_disco_new("x_service", "tcp://h", t_add, t_del, &c));
	cr_assert_null(pm_disco_new("x_service", "tcp://a:1 tcp://b\n:2", t_add,
	    t_del, &c));

	/* an address nng refuses fails the whole list, del for the others */
	memset(&c, 0, sizeof(c));
	c.fail_on = 2;
	cr_assert_null(pm_disco_new("x_service",
	    "tcp://127.0.0.2:5 tcp://127.0.0.3:5", t_add, t_del, &c));
	cr_assert_eq(c.adds, 2);
	cr_assert_eq(c.dels, 1, "got %d dels, want 1", c.dels);
}

static int
echo(void *tctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	(void) tctx;
	(void) type;
	*rtype = 2;
	return (pm_buf_append(rbuf, req, reqlen));
}

static void
tcp_url(char *buf, size_t len)
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
	snprintf(buf, len, "tcp://127.0.0.1:%u", ntohs(sin.sin_port));
}

static int
call(pm_rpc_client *cl)
{
	uint32_t rtype;
	pm_buf b;
	int rc;

	pm_buf_init(&b, 0);
	rc = pm_rpc_call(cl, 1, "hi", 2, 5000, &rtype, &b);
	pm_buf_free(&b);
	return (rc);
}

Test(disco, dialer_and_reconnect_metrics)
{
	pm_metric *dialers, *again;
	pm_rpc_server *srv;
	pm_rpc_client *cl;
	char url[64], list[160];
	int rc;

	pm_rpc_set_role("unit");
	dialers = pm_metric_gauge("unit_service_dialers",
	    "Dialers open to a service, one per address its "
	    "<service>_service resolves to",
	    "service=\"echo\"");
	again = pm_metric_counter("unit_service_reconnects_total",
	    "Connections to a service address made again after the first",
	    "service=\"echo\"");
	tcp_url(url, sizeof(url));
	srv = pm_rpc_server_start(url, 1, 0, echo, NULL, NULL);
	cr_assert_not_null(srv);
	snprintf(list, sizeof(list), "%s,%s", url, url);
	cl = pm_rpc_client_open("echo", list, 0);
	cr_assert_not_null(cl);
	cr_assert_eq(pm_metric_value(dialers), 1, "got %lld dialers, want 1",
	    (long long) pm_metric_value(dialers));
	cr_assert_eq(call(cl), 0);
	cr_assert_eq(pm_metric_value(again), 0);
	/* the peer restarts: the dialer connects again */
	pm_rpc_server_stop(srv);
	srv = pm_rpc_server_start(url, 1, 0, echo, NULL, NULL);
	cr_assert_not_null(srv);
	for (int i = 0; i < 200 && (rc = call(cl)) != 0; i++) {
		usleep(100000);
	}
	cr_assert_eq(rc, 0, "no reply after the restart: %d", rc);
	/* nng runs the pipe callback beside the traffic: the reply may
	 * come first */
	for (int i = 0; i < 2000 && pm_metric_value(again) == 0; i++) {
		usleep(10000);
	}
	cr_assert_eq(pm_metric_value(again), 1, "got %lld reconnects, want 1",
	    (long long) pm_metric_value(again));
	pm_rpc_client_free(cl);
	cr_assert_eq(pm_metric_value(dialers), 0, "got %lld dialers, want 0",
	    (long long) pm_metric_value(dialers));
	pm_rpc_server_stop(srv);
}
