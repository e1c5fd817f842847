/*
 * NAME
 *	pm_http - the /metrics, /healthz and /readyz HTTP endpoint
 * SUMMARY
 *	#include "pm_metrics.h"
 *	pm_http_start("http://127.0.0.1:9101", ready);
 * DESCRIPTION
 *	One HTTP server per process on nng's supplemental HTTP server
 *	(nng_http_server_hold on the URL, one handler per path, GET only).
 *	nng answers 404 for other paths and 405 for other methods itself.
 *	  GET /metrics  pm_metrics_render(), text/plain; version=0.0.4
 *	  GET /healthz  200 "ok"
 *	  GET /readyz   200 "ready" if ready() returns nonzero (or is NULL),
 *	                else 503 "not ready"
 *	Handlers run on nng's threads; ready() must not block for long.
 * LIMITS
 *	A /metrics page is at most HTTP_METRICS_MAX bytes (a render over it
 *	answers 500 and logs a warning).
 * SECURITY
 *	Nothing is read from requests but method and path; bind it to an
 *	address that only the scraper reaches (metrics reveal load).
 */
#include "pm_metrics.h"
#include "pm_log.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include <pthread.h>
#include <string.h>

#define HTTP_METRICS_MAX (8 * 1024 * 1024)

static pthread_mutex_t http_mu = PTHREAD_MUTEX_INITIALIZER;
static nng_http_server *http_srv;
static int (*volatile http_ready)(void);

static void
http_reply(nng_aio *aio, uint16_t status, const char *ctype, const void *data,
    size_t len)
{
	nng_http_res *res;
	int rv;

	if ((rv = nng_http_res_alloc(&res)) != 0) {
		nng_aio_finish(aio, rv);
		return;
	}
	if ((rv = nng_http_res_set_status(res, status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", ctype)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Cache-Control", "no-store")) !=
	        0 ||
	    (rv = nng_http_res_copy_data(res, data, len)) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static void
http_metrics(nng_aio *aio)
{
	pm_buf b;
	int rc;

	pm_buf_init(&b, HTTP_METRICS_MAX);
	if ((rc = pm_metrics_render(&b)) != 0) {
		pm_msg_warn("/metrics: render: %s", pm_strerror(rc));
		http_reply(aio, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR,
		    "text/plain; charset=utf-8", "error\n", 6);
	} else {
		http_reply(aio, NNG_HTTP_STATUS_OK,
		    "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
	}
	pm_buf_free(&b);
}

static void
http_healthz(nng_aio *aio)
{
	http_reply(aio, NNG_HTTP_STATUS_OK, "text/plain; charset=utf-8", "ok\n",
	    3);
}

static void
http_readyz(nng_aio *aio)
{
	int (*ready)(void) = http_ready;

	if (ready == NULL || ready()) {
		http_reply(aio, NNG_HTTP_STATUS_OK, "text/plain; charset=utf-8",
		    "ready\n", 6);
	} else {
		http_reply(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "text/plain; charset=utf-8", "not ready\n", 10);
	}
}

static int
http_add(nng_http_server *srv, const char *path, void (*fn)(nng_aio *))
{
	nng_http_handler *h;
	int rv;

	if ((rv = nng_http_handler_alloc(&h, path, fn)) != 0) {
		return (rv);
	}
	if ((rv = nng_http_handler_set_method(h, "GET")) != 0 ||
	    (rv = nng_http_server_add_handler(srv, h)) != 0) {
		nng_http_handler_free(h);
	}
	return (rv);
}

int
pm_http_start(const char *url, int (*ready)(void))
{
	nng_http_server *srv = NULL;
	nng_url *u = NULL;
	int rv, rc = 0;

	if (url == NULL || *url == 0) {
		return (0); /* no HTTP server configured */
	}
	pthread_mutex_lock(&http_mu);
	if (http_srv != NULL) {
		pm_msg_warn("HTTP server already started; %s ignored", url);
		rc = PM_EEXIST;
		goto out;
	}
	http_ready = ready;
	if ((rv = nng_url_parse(&u, url)) != 0 ||
	    strcmp(u->u_scheme, "http") != 0) {
		pm_msg_error("bad HTTP URL: %s", url);
		rc = PM_EINVAL;
		goto out;
	}
	if ((rv = nng_http_server_hold(&srv, u)) != 0) {
		pm_msg_error("HTTP server %s: %s", url, nng_strerror(rv));
		rc = PM_EIO;
		goto out;
	}
	if ((rv = http_add(srv, "/metrics", http_metrics)) != 0 ||
	    (rv = http_add(srv, "/healthz", http_healthz)) != 0 ||
	    (rv = http_add(srv, "/readyz", http_readyz)) != 0) {
		pm_msg_error("HTTP server %s: handler: %s", url,
		    nng_strerror(rv));
		nng_http_server_release(srv);
		rc = PM_EIO;
		goto out;
	}
	if ((rv = nng_http_server_start(srv)) != 0) {
		pm_msg_error("bind %s: %s", url, nng_strerror(rv));
		nng_http_server_release(srv);
		rc = PM_EIO;
		goto out;
	}
	http_srv = srv;
out:
	pthread_mutex_unlock(&http_mu);
	if (u != NULL) {
		nng_url_free(u);
	}
	return (rc);
}

void
pm_http_stop(void)
{
	pthread_mutex_lock(&http_mu);
	if (http_srv != NULL) {
		nng_http_server_stop(http_srv);
		nng_http_server_release(http_srv);
		http_srv = NULL;
	}
	pthread_mutex_unlock(&http_mu);
}
