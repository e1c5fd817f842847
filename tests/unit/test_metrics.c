/*
 * NAME
 *	test_metrics - unit tests for pm_metrics and pm_http
 * DESCRIPTION
 *	The rendered Prometheus text, line by line; exact sums under
 *	concurrent updates from 8 threads; the registry limit; and the
 *	/metrics, /healthz, /readyz server fetched with a plain socket,
 *	including hostile requests.
 */
#include "pm_metrics.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() \
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks found")
#else
#define LEAK_CHECK()
#endif

/* Compare a rendered page with the wanted lines, one by one. */
static void
check_lines(const char *got, const char *const *want)
{
	char *copy = strdup(got), *line, *save = NULL;
	int i = 0;

	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), i++) {
		cr_assert_not_null(want[i], "extra line %d: got \"%s\"", i,
		    line);
		cr_assert_str_eq(line, want[i],
		    "line %d: got \"%s\", want "
		    "\"%s\"",
		    i, line, want[i]);
	}
	cr_assert_null(want[i], "missing line %d: want \"%s\"", i,
	    want[i] ? want[i] : "");
	cr_assert(got[strlen(got) - 1] == '\n', "no final newline");
	free(copy);
}

Test(metrics, render_format)
{
	static const double b3[] = { 0.1, 1, 10 };
	static const double obs[] = { 0.05, 0.1, 0.5, 5, 50, NAN };
	static const char *const want[] = {
		"# HELP postmesh_t_requests_total Requests seen.",
		"# TYPE postmesh_t_requests_total counter",
		"postmesh_t_requests_total 3",
		"# HELP postmesh_t_rejected_total Rejects \\\\ by\\nreason.",
		"# TYPE postmesh_t_rejected_total counter",
		"postmesh_t_rejected_total{reason=\"relay\"} 2",
		"postmesh_t_rejected_total{reason=\"size\"} 18446744073709551",
		"# HELP postmesh_t_active Sessions.",
		"# TYPE postmesh_t_active gauge",
		"postmesh_t_active -4",
		"# HELP postmesh_t_latency_seconds Latency.",
		"# TYPE postmesh_t_latency_seconds histogram",
		"postmesh_t_latency_seconds_bucket{le=\"0.1\"} 2",
		"postmesh_t_latency_seconds_bucket{le=\"1\"} 3",
		"postmesh_t_latency_seconds_bucket{le=\"10\"} 4",
		"postmesh_t_latency_seconds_bucket{le=\"+Inf\"} 5",
		"postmesh_t_latency_seconds_sum 55.65",
		"postmesh_t_latency_seconds_count 5",
		"postmesh_t_latency_seconds_bucket{role=\"x\",le=\"0.1\"} 0",
		"postmesh_t_latency_seconds_bucket{role=\"x\",le=\"1\"} 1",
		"postmesh_t_latency_seconds_bucket{role=\"x\",le=\"10\"} 1",
		"postmesh_t_latency_seconds_bucket{role=\"x\",le=\"+Inf\"} 1",
		"postmesh_t_latency_seconds_sum{role=\"x\"} 0.25",
		"postmesh_t_latency_seconds_count{role=\"x\"} 1",
		NULL,
	};
	pm_metric *req, *relay, *size, *active, *lat, *latx;
	pm_buf b;
	size_t i;

	req = pm_metric_counter("t_requests_total", "Requests seen.", NULL);
	relay = pm_metric_counter("t_rejected_total", "Rejects \\ by\nreason.",
	    "reason=\"relay\"");
	active = pm_metric_gauge("t_active", "Sessions.", "");
	lat = pm_metric_histogram("t_latency_seconds", "Latency.", NULL, b3, 3);
	/* Same family, registered after others: rendered under its HELP. */
	size = pm_metric_counter("t_rejected_total", "ignored help",
	    "reason=\"size\"");
	latx = pm_metric_histogram("t_latency_seconds", "Latency.",
	    "role=\"x\"", b3, 3);
	cr_assert_eq(pm_metric_counter("t_rejected_total", "x",
	                 "reason=\"relay\""),
	    relay, "same name+labels: new metric");
	cr_assert_neq(size, relay);

	pm_metric_inc(req);
	pm_metric_add(req, 2);
	pm_metric_add(relay, 2);
	pm_metric_add(size, 18446744073709551ULL);
	pm_metric_set(active, 10);
	pm_metric_gauge_add(active, -14);
	for (i = 0; i < sizeof(obs) / sizeof(obs[0]); i++) {
		pm_metric_observe(lat, obs[i]);
	}
	pm_metric_observe(latx, 0.25);

	cr_assert_eq(pm_metric_value(req), 3, "got %lld, want 3",
	    (long long) pm_metric_value(req));
	cr_assert_eq(pm_metric_value(active), -4);
	cr_assert_eq(pm_metric_value(lat), 5, "NaN must not count");

	pm_buf_init(&b, 0);
	cr_assert_eq(pm_metrics_render(&b), 0);
	check_lines(b.data, want);
	pm_buf_free(&b);

	/* A page over the buffer limit is an error, not a cut page. */
	pm_buf_init(&b, 100);
	cr_assert_eq(pm_metrics_render(&b), PM_ETOOBIG);
	pm_buf_free(&b);
	LEAK_CHECK();
}

#define NTHREADS 8
#define NITER 100000

static pm_metric *cc, *cg, *ch;

static void *
hammer(void *arg)
{
	int i;

	(void) arg;
	for (i = 0; i < NITER; i++) {
		pm_metric_inc(cc);
		pm_metric_gauge_add(cg, (i & 1) ? -1 : 2);
		pm_metric_observe(ch, (i % 3) == 0 ? 0.5 : 2.0);
	}
	return (NULL);
}

Test(metrics, concurrent_updates_exact)
{
	static const double b1[] = { 1 };
	pthread_t tid[NTHREADS];
	char want[128];
	pm_buf b;
	int i;
	long long under = 0, n = (long long) NTHREADS * NITER;

	cc = pm_metric_counter("t_hits_total", "Hits.", NULL);
	cg = pm_metric_gauge("t_level", "Level.", NULL);
	ch = pm_metric_histogram("t_size", "Size.", NULL, b1, 1);
	for (i = 0; i < NTHREADS; i++) {
		pthread_create(&tid[i], NULL, hammer, NULL);
	}
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
	}
	for (i = 0; i < NITER; i++) {
		under += (i % 3) == 0;
	}
	under *= NTHREADS;
	cr_assert_eq(pm_metric_value(cc), n, "counter: got %lld, want %lld",
	    (long long) pm_metric_value(cc), n);
	cr_assert_eq(pm_metric_value(cg), n / 2, "gauge: got %lld, want %lld",
	    (long long) pm_metric_value(cg), n / 2);
	cr_assert_eq(pm_metric_value(ch), n, "histogram count: got %lld",
	    (long long) pm_metric_value(ch));
	pm_buf_init(&b, 0);
	pm_metrics_render(&b);
	snprintf(want, sizeof(want), "postmesh_t_size_bucket{le=\"1\"} %lld\n",
	    under);
	cr_assert_not_null(strstr(b.data, want), "want \"%s\" in:\n%s", want,
	    b.data);
	/* Exact: sums of 0.5 and 2.0 are representable doubles. */
	snprintf(want, sizeof(want), "postmesh_t_size_sum %.15g\n",
	    0.5 * (double) under + 2.0 * (double) (n - under));
	cr_assert_not_null(strstr(b.data, want), "want \"%s\" in:\n%s", want,
	    b.data);
	pm_buf_free(&b);
	LEAK_CHECK();
}

Test(metrics, registry_limit)
{
	char name[32];
	pm_metric *m, *first = NULL, *over;
	pm_buf b;
	double many[PM_METRICS_MAX_BUCKETS];
	int i;

	for (i = 0; i < PM_METRICS_MAX_BUCKETS; i++) {
		many[i] = i + 1;
	}
	m = pm_metric_histogram("t_wide", "Wide.", NULL, many,
	    PM_METRICS_MAX_BUCKETS);
	pm_metric_observe(m, 1000);
	pm_metric_observe(m, -5);
	cr_assert_eq(pm_metric_value(m), 2);
	for (i = 1; i < PM_METRICS_MAX; i++) {
		snprintf(name, sizeof(name), "t_m%d", i);
		m = pm_metric_counter(name, "", NULL);
		cr_assert_not_null(m);
		first = first ? first : m;
	}
	over = pm_metric_counter("t_over", "Over.", NULL);
	cr_assert_not_null(over, "over the limit must not return NULL");
	pm_metric_inc(over);
	cr_assert_eq(pm_metric_counter("t_m1", "", NULL), first);
	/* NULL metrics are ignored (callers need not check). */
	pm_metric_inc(NULL);
	pm_metric_set(NULL, 1);
	pm_metric_observe(NULL, 1);
	cr_assert_eq(pm_metric_value(NULL), 0);
	pm_buf_init(&b, 0);
	cr_assert_eq(pm_metrics_render(&b), 0);
	cr_assert_null(strstr(b.data, "t_over"), "over-limit metric shown");
	cr_assert_not_null(strstr(b.data, "postmesh_t_m511 0\n"));
	cr_assert_not_null(strstr(b.data,
	    "postmesh_t_wide_bucket{le=\"24\"} 1\n"));
	cr_assert_not_null(strstr(b.data,
	    "postmesh_t_wide_bucket{le=\"+Inf\"} 2\n"));
	pm_buf_free(&b);
	LEAK_CHECK();
}

/*
 * HTTP: fetch with a plain socket; returns the status code and puts
 * the whole response in buf (NUL-terminated), or -1 if nothing came.
 */
static int
http_get(int port, const char *req, size_t reqlen, char *buf, size_t len)
{
	struct sockaddr_in sin;
	struct timeval tv = { 3, 0 };
	size_t got = 0;
	ssize_t n;
	int fd, status = -1;
	const char *hdr_end, *cl;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t) port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
		close(fd);
		return (-2);
	}
	(void) !write(fd, req, reqlen);
	buf[0] = 0;
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0) {
		got += (size_t) n;
		buf[got] = 0;
		/* Stop at the end of a response with Content-Length. */
		if ((hdr_end = strstr(buf, "\r\n\r\n")) != NULL &&
		    (cl = strcasestr(buf, "content-length:")) != NULL &&
		    cl < hdr_end &&
		    got >= (size_t) (hdr_end + 4 - buf) +
		            strtoul(cl + 15, NULL, 10)) {
			break;
		}
	}
	close(fd);
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1) {
		status = -1;
	}
	return (status);
}

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

static atomic_int is_ready;

static int
ready_fn(void)
{
	return (atomic_load(&is_ready));
}

Test(metrics, http_endpoints)
{
	static char buf[65536], longreq[70000];
	static const char nul_req[] = "GET /healthz\0 HTTP/1.1\r\nHost: x\r\n"
	                              "\r\n";
	static const size_t nul_case = 8;
	static const struct {
		const char *req;
		int ready;
		int want_status;
		const char *want_text; /* in the response, or NULL */
	} cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, 200,
		    "postmesh_t_http_total 7\n" },
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, 200,
		    "version=0.0.4" },
		{ "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 0, 200,
		    "\r\n\r\nok\n" },
		{ "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", 0, 503,
		    "\r\n\r\nnot ready\n" },
		{ "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", 1, 200,
		    "\r\n\r\nready\n" },
		{ "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 1, 404, NULL },
		{ "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0"
		  "\r\n\r\n",
		    1, 405, NULL },
		{ "GET /healthz HTTP/1.1\nHost: x\n\n", 1, 200, NULL },
		{ nul_req, 1, -1, NULL },
		{ "\r\n\r\nGARBAGE\r\n\r\n", 1, -1, NULL },
	};
	char url[64];
	pm_metric *m;
	size_t i, len;
	int port, st;

	m = pm_metric_counter("t_http_total", "HTTP test.", NULL);
	pm_metric_add(m, 7);
	cr_assert_eq(pm_http_start("", NULL), 0, "empty URL: no server");
	cr_assert_eq(pm_http_start("tcp://127.0.0.1:1", NULL), PM_EINVAL);
	cr_assert_eq(pm_http_start("http://[bad", NULL), PM_EINVAL);
	port = free_port();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	cr_assert_eq(pm_http_start(url, ready_fn), 0, "start %s", url);
	cr_assert_eq(pm_http_start(url, ready_fn), PM_EEXIST);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		atomic_store(&is_ready, cases[i].ready);
		len = strlen(cases[i].req);
		if (i == nul_case) {
			len = sizeof(nul_req) - 1; /* NUL included */
		}
		st = http_get(port, cases[i].req, len, buf, sizeof(buf));
		if (cases[i].want_status == -1) {
			/* Hostile: any error status or a close, no crash. */
			cr_assert(st == -1 || st >= 400,
			    "case %zu: got %d, want an error", i, st);
			continue;
		}
		cr_assert_eq(st, cases[i].want_status,
		    "case %zu: got %d, want %d:\n%s", i, st,
		    cases[i].want_status, buf);
		if (cases[i].want_text != NULL) {
			cr_assert_not_null(strstr(buf, cases[i].want_text),
			    "case %zu: want \"%s\" in:\n%s", i,
			    cases[i].want_text, buf);
		}
	}
	/* An over-long request line: refused or dropped, server lives. */
	memset(longreq, 'a', sizeof(longreq));
	memcpy(longreq, "GET /", 5);
	st = http_get(port, longreq, sizeof(longreq), buf, sizeof(buf));
	cr_assert(st == -1 || st >= 400, "long request: got %d", st);
	st = http_get(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35, buf,
	    sizeof(buf));
	cr_assert_eq(st, 200, "after hostile input: got %d, want 200", st);
	pm_http_stop();
	st = http_get(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35, buf,
	    sizeof(buf));
	cr_assert(st < 0, "after stop: got %d, want no answer", st);
	pm_http_stop(); /* twice is fine */
	LEAK_CHECK();
}
