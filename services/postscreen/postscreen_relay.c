/*
 * NAME
 *	postscreen_relay - hand a passing client to an smtpd (PROXY v2)
 * DESCRIPTION
 *	Postfix passes the client's socket to a local smtpd; Postmesh's
 *	smtpd runs elsewhere, so postscreen connects to one of
 *	postscreen_smtpd_service (a list of host:port, resolved at start;
 *	round-robin; one that refuses or does not answer within
 *	postscreen_smtpd_connect_timeout is skipped for this client),
 *	writes a PROXY protocol v2 header with the client's address and
 *	port and the address it connected to (pm_proxy_v2_build), and
 *	then relays bytes both ways. The smtpd (with
 *	smtpd_upstream_proxy_protocol = haproxy) sends its "220 " line,
 *	which completes the "220-" line postscreen may have sent, as in
 *	Postfix. When no smtpd takes the client: "421 4.3.2 Service
 *	currently unavailable" and close.
 *
 *	When one side ends (EOF), what it sent is written to the other,
 *	whose writing is then shut (shutdown SHUT_WR), and bytes go on the
 *	other way until that side ends too: a client that sends QUIT and
 *	half-closes gets smtpd's 221. An error on either side closes both.
 * LIMITS
 *	PSC_SMTPD_MAX addresses. postscreen_relay_buffer_size bytes
 *	buffered per direction: a side that reads faster than the other
 *	writes is paused (back-pressure). A connection with no byte
 *	either way for postscreen_relay_timeout is closed.
 * SECURITY
 *	Bytes are relayed, not interpreted. The PROXY header carries only
 *	addresses postscreen itself got from the kernel.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "pm_log.h"
#include "pm_proxy.h"
#include "pm_util.h"
#include "postscreen.h"

#define PSC_SMTPD_MAX 32

typedef struct psc_smtpd {
	struct sockaddr_storage ss;
	socklen_t len;
	char name[300];
} psc_smtpd;

static psc_smtpd psc_smtpds[PSC_SMTPD_MAX];
static int psc_nsmtpd;
static unsigned psc_rr;

/*
 * "host:port" or "[v6addr]:port" of parameter param to an address;
 * passive: an empty or "*" host is every address. Fatal if bad.
 */
void
psc_hostport(const char *param, const char *spec, int passive,
    struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *port;
	const char *colon;
	struct addrinfo hints;
	struct addrinfo *res;
	int rc;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (rb == NULL || rb[1] != ':' || (size_t) (rb - spec) > 255) {
			pm_msg_fatal("%s: bad address: %s", param, spec);
		}
		snprintf(host, sizeof(host), "%.*s", (int) (rb - spec - 1),
		    spec + 1);
		port = rb + 2;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL ||
		    (size_t) (colon - spec) > 255) {
			pm_msg_fatal("%s: expected host:port, got: %s", param,
			    spec);
		}
		snprintf(host, sizeof(host), "%.*s", (int) (colon - spec),
		    spec);
		port = colon + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rc = getaddrinfo(passive && (host[0] == 0 || strcmp(host, "*") == 0) ?
	        NULL :
	        host,
	    port, &hints, &res);
	if (rc != 0) {
		pm_msg_fatal("%s: %s: %s", param, spec, gai_strerror(rc));
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
}

static void
psc_relay_add(const char *spec)
{
	psc_smtpd *d;

	if (psc_nsmtpd >= PSC_SMTPD_MAX) {
		pm_msg_fatal("%s: more than %d addresses",
		    VAR_PSC_SMTPD_SERVICE, PSC_SMTPD_MAX);
	}
	d = &psc_smtpds[psc_nsmtpd++];
	psc_hostport(VAR_PSC_SMTPD_SERVICE, spec, 0, &d->ss, &d->len);
	snprintf(d->name, sizeof(d->name), "%s", spec);
}

void
psc_relay_init(void)
{
	char *copy = pm_strdup(var_psc_smtpd_service);
	char *save = NULL;
	char *item;

	for (item = strtok_r(copy, ", \t\r\n", &save); item != NULL;
	     item = strtok_r(NULL, ", \t\r\n", &save)) {
		psc_relay_add(item);
	}
	free(copy);
	if (psc_nsmtpd == 0) {
		pm_msg_fatal("%s: no address", VAR_PSC_SMTPD_SERVICE);
	}
}

static void psc_relay_try(psc_conn *c);

/* Relaying. */

static void psc_relay_read_cb(struct bufferevent *bev, void *arg);
static void psc_relay_write_cb(struct bufferevent *bev, void *arg);
static void psc_relay_event_cb(struct bufferevent *bev, short what, void *arg);

static struct bufferevent *
psc_relay_other(psc_conn *c, struct bufferevent *bev)
{
	return (bev == c->bev ? c->up : c->bev);
}

static unsigned
psc_relay_side(psc_conn *c, struct bufferevent *bev)
{
	return (bev == c->bev ? PSC_R_CLIENT : PSC_R_SMTPD);
}

/*
 * The partner of dst has ended and all it sent is written to dst: shut
 * dst's writing (its peer sees the end and may still answer). Both
 * sides ended and shut: done.
 */
static void
psc_relay_shut(psc_conn *c, struct bufferevent *dst)
{
	unsigned side = psc_relay_side(c, dst);

	if (!(c->relay_shut & side)) {
		c->relay_shut |= side;
		(void) shutdown(bufferevent_getfd(dst), SHUT_WR);
	}
	if (c->relay_shut == (PSC_R_CLIENT | PSC_R_SMTPD)) {
		psc_conn_close(c);
	}
}

/* dst's output drained to its low watermark. */
static void
psc_relay_write_cb(struct bufferevent *dst, void *arg)
{
	psc_conn *c = arg;
	struct bufferevent *src = psc_relay_other(c, dst);

	if (c->relay_eof & psc_relay_side(c, src)) {
		if (evbuffer_get_length(bufferevent_get_output(dst)) == 0) {
			psc_relay_shut(c, dst);
		}
		return;
	}
	/* Below half: read from its partner again (back-pressure off). */
	bufferevent_setwatermark(dst, EV_WRITE, 0, 0);
	bufferevent_enable(src, EV_READ);
}

static void
psc_relay_read_cb(struct bufferevent *bev, void *arg)
{
	psc_conn *c = arg;
	struct bufferevent *dst = psc_relay_other(c, bev);
	struct evbuffer *out = bufferevent_get_output(dst);

	c->relay_active = 1;
	evbuffer_add_buffer(out, bufferevent_get_input(bev));
	if (evbuffer_get_length(out) >= (size_t) var_psc_relay_buf) {
		bufferevent_setwatermark(dst, EV_WRITE,
		    (size_t) var_psc_relay_buf / 2, 0);
		bufferevent_disable(bev, EV_READ);
	}
}

/*
 * One side ended (EOF): what it sent goes on to the other side, whose
 * writing is then shut, and the other direction goes on until it ends
 * too (or postscreen_relay_timeout passes idle): a client's "QUIT" and
 * half-close still gets smtpd's "221". An error ends both at once.
 */
static void
psc_relay_event_cb(struct bufferevent *bev, short what, void *arg)
{
	psc_conn *c = arg;
	struct bufferevent *dst = psc_relay_other(c, bev);

	if (!(what & BEV_EVENT_EOF) || (what & BEV_EVENT_ERROR)) {
		psc_conn_close(c);
		return;
	}
	c->relay_eof |= psc_relay_side(c, bev);
	bufferevent_disable(bev, EV_READ);
	evbuffer_add_buffer(bufferevent_get_output(dst),
	    bufferevent_get_input(bev));
	c->relay_active = 1;
	if (evbuffer_get_length(bufferevent_get_output(dst)) == 0) {
		psc_relay_shut(c, dst);
		return;
	}
	bufferevent_setwatermark(dst, EV_WRITE, 0, 0); /* called when empty */
}

static void
psc_relay_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	psc_conn *c = arg;

	(void) fd;
	(void) what;
	if (c->relay_active) {
		c->relay_active = 0;
		psc_timer_set(c, var_psc_relay_tmout, 0, psc_relay_idle_cb);
		return;
	}
	pm_msg_info("proxied connection of [%s]:%u idle for %lds: closed",
	    c->addr, c->port, var_psc_relay_tmout);
	psc_conn_close(c);
}

/* Connecting. */

static void
psc_relay_connect_cb(struct bufferevent *up, short what, void *arg)
{
	psc_conn *c = arg;
	unsigned char hdr[PM_PROXY_MAX_LEN];
	int n;

	if (!(what & BEV_EVENT_CONNECTED)) {
		int err = EVUTIL_SOCKET_ERROR();

		pm_msg_warn("connect to smtpd %s for [%s]:%u: %s",
		    psc_smtpds[c->smtpd_idx].name, c->addr, c->port,
		    (what & BEV_EVENT_TIMEOUT) ?
		        "timed out" :
		        evutil_socket_error_to_string(err));
		bufferevent_free(up);
		c->up = NULL;
		psc_relay_try(c);
		return;
	}
	n = pm_proxy_v2_build(hdr, sizeof(hdr), c->addr, c->port, c->laddr,
	    c->lport);
	if (n < 0) {
		pm_msg_warn("[%s]:%u: cannot build a PROXY header: %s", c->addr,
		    c->port, pm_strerror(n));
		pm_metric_inc(psc_m_handoff_fail);
		psc_write_close(c,
		    "421 4.3.2 Service currently "
		    "unavailable\r\n");
		return;
	}
	c->state = PSC_ST_RELAY;
	bufferevent_set_timeouts(up, NULL, NULL);
	bufferevent_write(up, hdr, (size_t) n);
	bufferevent_setwatermark(up, EV_READ, 0, (size_t) var_psc_relay_buf);
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    (size_t) var_psc_relay_buf);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	c->relay_eof = c->relay_shut = 0;
	bufferevent_setcb(up, psc_relay_read_cb, psc_relay_write_cb,
	    psc_relay_event_cb, c);
	bufferevent_setcb(c->bev, psc_relay_read_cb, psc_relay_write_cb,
	    psc_relay_event_cb, c);
	bufferevent_enable(up, EV_READ | EV_WRITE);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->relay_active = 0;
	psc_timer_set(c, var_psc_relay_tmout, 0, psc_relay_idle_cb);
	/* Bytes that came while connecting. */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		psc_relay_read_cb(c->bev, c);
	}
}

static void
psc_relay_try(psc_conn *c)
{
	struct timeval tv = { var_psc_connect_tmout, 0 };
	psc_smtpd *d;

	while (c->try_count < psc_nsmtpd) {
		c->try_count++;
		c->smtpd_idx = (int) (psc_rr++ % (unsigned) psc_nsmtpd);
		d = &psc_smtpds[c->smtpd_idx];
		c->up =
		    bufferevent_socket_new(psc_base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (c->up == NULL) {
			break;
		}
		bufferevent_setcb(c->up, NULL, NULL, psc_relay_connect_cb, c);
		bufferevent_set_timeouts(c->up, NULL, &tv);
		if (bufferevent_socket_connect(c->up,
		        (struct sockaddr *) &d->ss, (int) d->len) == 0) {
			return;
		}
		pm_msg_warn("connect to smtpd %s for [%s]:%u: %s", d->name,
		    c->addr, c->port, strerror(errno));
		bufferevent_free(c->up);
		c->up = NULL;
	}
	pm_msg_warn("no smtpd of %s took [%s]:%u", VAR_PSC_SMTPD_SERVICE,
	    c->addr, c->port);
	pm_metric_inc(psc_m_handoff_fail);
	psc_write_close(c, "421 4.3.2 Service currently unavailable\r\n");
	psc_log_disconnect(c);
}

void
psc_relay_start(psc_conn *c)
{
	c->state = PSC_ST_CONNECT;
	c->try_count = 0;
	psc_relay_try(c);
}
