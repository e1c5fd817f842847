/*
 * NAME
 *	postscreen_conn - one client: access list, cache, tests, verdict
 * DESCRIPTION
 *	psc_conn_new() logs "CONNECT from [addr]:port to [addr]:port";
 *	psc_tests_progress() then walks the client through, as Postfix's
 *	postscreen(8):
 *	1. postscreen_access_list: permit hands off at once
 *	   ("ALLOWLISTED"), reject logs "DENYLISTED" and applies
 *	   postscreen_denylist_action (drop: 521 and close; enforce: the
 *	   dialogue of postscreen_smtp.c refuses every recipient; ignore:
 *	   the tests go on);
 *	2. the shared cache: a client whose tests have not expired is
 *	   handed off without waiting ("PASS OLD");
 *	3. the tests that expired run at once: the pregreet test writes
 *	   postscreen_greet_banner as a "220-" line and waits
 *	   postscreen_greet_wait; anything the client sends meanwhile is
 *	   "PREGREET n after t from [addr]:port: text". The DNSBL lookups
 *	   (postscreen_dnsbl.c) run during the wait and may extend it up
 *	   to postscreen_dnsbl_timeout after the start; without the
 *	   pregreet test the verdict comes as soon as the answers are in.
 *	   A combined DNSBL score at or below a (negative)
 *	   postscreen_dnsbl_allowlist_threshold ends the wait at once.
 *	4. the verdict: "DNSBL rank N for [addr]:port" at or above
 *	   postscreen_dnsbl_threshold; a failed test applies its action
 *	   (the strictest of the failed ones: drop, then enforce, then
 *	   ignore); a client that failed nothing is "PASS NEW" and handed
 *	   off; one that failed only "ignore" tests is handed off too.
 *	   Each test passed now is cached with its own expiry, as Postfix
 *	   (a failed test is not: it runs again next time); a pass by the
 *	   allowlist threshold counts for every test.
 * LIMITS
 *	Pregreet text logged: its first line, at most 100 bytes. Input
 *	read during the tests is counted and dropped (never buffered).
 * SECURITY
 *	Client bytes are logged only through pm_printable_dup().
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>

#include "pm_log.h"
#include "pm_util.h"
#include "postscreen.h"

#define PSC_PREGR_LOG_MAX 100

static void
psc_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size,
    unsigned *port)
{
	const void *a;

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *) sa;

		/* A v4-mapped address is shown (and looked up) as v4. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a = &s6->sin6_addr.s6_addr[12];
			inet_ntop(AF_INET, a, buf, (socklen_t) size);
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, buf,
			    (socklen_t) size);
		}
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *) sa;

		inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t) size);
		*port = ntohs(s4->sin_port);
	}
}


static double
psc_elapsed(const psc_conn *c)
{
	struct timeval now;

	gettimeofday(&now, NULL);
	return ((double) (now.tv_sec - c->start.tv_sec) +
	    (double) (now.tv_usec - c->start.tv_usec) / 1e6);
}

psc_conn *
psc_conn_new(evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	struct sockaddr_storage ls;
	socklen_t llen = sizeof(ls);
	psc_conn *c;

	(void) salen;
	c = pm_calloc(1, sizeof(*c));
	psc_sockaddr_str(sa, c->addr, sizeof(c->addr), &c->port);
	if (getsockname(fd, (struct sockaddr *) &ls, &llen) == 0) {
		psc_sockaddr_str((struct sockaddr *) &ls, c->laddr,
		    sizeof(c->laddr), &c->lport);
	} else {
		snprintf(c->laddr, sizeof(c->laddr), "unknown");
	}
	evutil_make_socket_nonblocking(fd);
	c->bev = bufferevent_socket_new(psc_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		pm_msg_warn("cannot make a bufferevent for [%s]:%u", c->addr,
		    c->port);
		evutil_closesocket(fd);
		free(c);
		return (NULL);
	}
	c->timer = evtimer_new(psc_base, NULL, NULL);
	gettimeofday(&c->start, NULL);
	bufferevent_setcb(c->bev, NULL, NULL, psc_conn_event_cb, c);
	bufferevent_disable(c->bev, EV_READ);
	pm_msg_info("CONNECT from [%s]:%u to [%s]:%u", c->addr, c->port,
	    c->laddr, c->lport);
	return (c);
}

/* Release everything but the struct; freed when no request holds it. */
void
psc_conn_close(psc_conn *c)
{
	if (c->closed) {
		return;
	}
	c->closed = 1;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->up != NULL) {
		bufferevent_free(c->up);
		c->up = NULL;
	}
	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	psc_conn_gone(c);
	if (c->refs == 0) {
		psc_conn_free(c);
	}
}

void
psc_conn_free(psc_conn *c)
{
	free(c->helo);
	free(c->sender);
	free(c->reply);
	free(c);
}

/* "DISCONNECT [addr]:port", once per connection. */
void
psc_log_disconnect(psc_conn *c)
{
	if (!c->disc_logged) {
		c->disc_logged = 1;
		pm_msg_info("DISCONNECT [%s]:%u", c->addr, c->port);
	}
}

void
psc_conn_unref(psc_conn *c)
{
	PM_ASSERT(c->refs > 0);
	if (--c->refs == 0 && c->closed) {
		psc_conn_free(c);
	}
}

void
psc_timer_set(psc_conn *c, long seconds, long usec,
    void (*cb)(evutil_socket_t, short, void *))
{
	struct timeval tv = { seconds, usec };

	event_del(c->timer);
	event_assign(c->timer, psc_base, -1, 0, cb, c);
	evtimer_add(c->timer, &tv);
}

/* Write a last reply, then close once it is out (or after a while). */

static void
psc_closing_write_cb(struct bufferevent *bev, void *arg)
{
	(void) bev;
	psc_conn_close(arg);
}

static void
psc_closing_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	psc_conn_close(arg);
}

void
psc_write_close(psc_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->closed || c->state == PSC_ST_CLOSING) {
		return;
	}
	c->state = PSC_ST_CLOSING;
	if (c->up != NULL) {
		bufferevent_free(c->up);
		c->up = NULL;
	}
	bufferevent_disable(c->bev, EV_READ);
	va_start(ap, fmt);
	evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_setcb(c->bev, NULL, psc_closing_write_cb, psc_conn_event_cb,
	    c);
	bufferevent_enable(c->bev, EV_WRITE);
	psc_timer_set(c, 10, 0, psc_closing_timer_cb);
}

void
psc_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	psc_conn *c = arg;

	(void) bev;
	(void) what;
	/* EOF or error from the client before a verdict. */
	if (c->state == PSC_ST_TESTS || c->state == PSC_ST_CACHE) {
		pm_msg_info("HANGUP after %.2f from [%s]:%u in tests before "
		            "SMTP handshake",
		    psc_elapsed(c), c->addr, c->port);
	}
	psc_log_disconnect(c);
	psc_conn_close(c);
}

/* Hand-off of a client that passed or may pass. */

static void
psc_handoff(psc_conn *c)
{
	event_del(c->timer);
	bufferevent_disable(c->bev, EV_READ);
	psc_conn_handed_off(c);
	psc_relay_start(c);
}

/* The verdict. */

static void
psc_conclude(psc_conn *c)
{
	char name[PSC_DNSBL_NAME_MAX];
	int act = -1;
	const char *drop_reply = NULL;
	const char *reply = NULL;
	char dnsbl_reply[600]; /* copied to c->reply for the dialogue */

	event_del(c->timer);
	if (c->dnsbl_todo) {
		c->dns_late = 1; /* answers from now on are ignored */
		if (c->dnsbl_score >= var_psc_dnsbl_thresh) {
			pm_msg_info("DNSBL rank %ld for [%s]:%u",
			    c->dnsbl_score, c->addr, c->port);
			psc_verdict(PSC_V_DNSBL);
			c->fail |= PSC_F_DNSBL;
		}
	}
	if (c->fail & PSC_F_DNSBL) {
		psc_dnsbl_reply_name(c->dnsbl_name, name, sizeof(name));
		snprintf(dnsbl_reply, sizeof(dnsbl_reply),
		    "5.7.1 Service unavailable; client [%s] blocked using %s",
		    c->addr, name);
		act = psc_dnsbl_action;
		reply = dnsbl_reply;
		drop_reply = dnsbl_reply;
	}
	if ((c->fail & PSC_F_PREGR) && psc_greet_action >= act) {
		if (psc_greet_action > act || reply == NULL) {
			reply = "5.5.1 Protocol error";
			drop_reply = reply;
		}
		act = psc_greet_action;
	}
	if ((c->fail & PSC_F_DENY) && psc_blist_action > act) {
		act = psc_blist_action;
		reply = "5.7.1 Service unavailable";
		drop_reply = reply;
	}
	/* Each test passed now is recorded, whatever the others did. */
	psc_cache_update(c, c->greet_todo && !(c->fail & PSC_F_PREGR),
	    c->dnsbl_todo && !(c->fail & PSC_F_DNSBL));
	if (act == PSC_ACT_DROP) {
		psc_write_close(c, "521 %s\r\n", drop_reply);
		psc_log_disconnect(c);
		return;
	}
	if (act == PSC_ACT_ENFORCE) {
		free(c->reply);
		c->reply = pm_strdup(reply);
		psc_smtp_start(c);
		return;
	}
	if (act == PSC_ACT_IGNORE) {
		/* A failed "ignore" test is not recorded: it runs again. */
		psc_verdict(PSC_V_PASS_IGNORED);
		psc_handoff(c);
		return;
	}
	pm_msg_info("PASS NEW [%s]:%u", c->addr, c->port);
	psc_verdict(PSC_V_PASS_NEW);
	psc_handoff(c);
}

static void
psc_tests_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	psc_conn *c = arg;

	(void) fd;
	(void) what;
	c->greet_done = 1;
	if (c->dns_pending > 0 && !c->dns_extended) {
		long left_ms =
		    var_psc_dnsbl_tmout * 1000 - (long) (psc_elapsed(c) * 1000);

		if (left_ms > 0) {
			/* Wait for the DNSBL answers up to their deadline. */
			c->dns_extended = 1;
			psc_timer_set(c, left_ms / 1000,
			    (left_ms % 1000) * 1000, psc_tests_timer_cb);
			return;
		}
	}
	psc_conclude(c);
}

/* Input during the tests: the pregreet test. */
static void
psc_tests_read_cb(struct bufferevent *bev, void *arg)
{
	psc_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	if (!(c->fail & PSC_F_PREGR)) {
		unsigned char *p = evbuffer_pullup(in,
		    (ev_ssize_t) (n < PSC_PREGR_LOG_MAX ? n :
		                                          PSC_PREGR_LOG_MAX));
		size_t len = n < PSC_PREGR_LOG_MAX ? n : PSC_PREGR_LOG_MAX;
		size_t i;
		char *text;

		for (i = 0; i < len && p[i] != '\r' && p[i] != '\n'; i++) {
		}
		text = pm_printable_dup((const char *) p, i, PSC_PREGR_LOG_MAX);
		pm_msg_info("PREGREET %zu after %.2f from [%s]:%u: %s", n,
		    psc_elapsed(c), c->addr, c->port, text);
		free(text);
		psc_verdict(PSC_V_PREGREET);
		c->fail |= PSC_F_PREGR;
		if (psc_greet_action == PSC_ACT_DROP) {
			evbuffer_drain(in, n);
			psc_write_close(c, "521 5.5.1 Protocol error\r\n");
			psc_log_disconnect(c);
			return;
		}
	}
	evbuffer_drain(in, n);
}

/* Called whenever a test finished (DNSBL answers) or to start. */
void
psc_tests_progress(psc_conn *c)
{
	if (c->closed) {
		return;
	}
	if (c->state == PSC_ST_CACHE && !c->acl_done) {
		c->acl_done = 1;
		switch (psc_access_check(c->addr)) {
		case PSC_ACL_PERMIT:
			pm_msg_info("ALLOWLISTED [%s]:%u", c->addr, c->port);
			psc_verdict(PSC_V_ALLOWLISTED);
			psc_handoff(c);
			return;
		case PSC_ACL_REJECT:
			pm_msg_info("DENYLISTED [%s]:%u", c->addr, c->port);
			psc_verdict(PSC_V_DENYLISTED);
			c->fail |= PSC_F_DENY;
			if (psc_blist_action == PSC_ACT_DROP) {
				psc_write_close(c,
				    "521 5.7.1 Service "
				    "unavailable\r\n");
				psc_log_disconnect(c);
				return;
			}
			if (psc_blist_action == PSC_ACT_ENFORCE) {
				c->reply =
				    pm_strdup("5.7.1 Service unavailable");
				psc_smtp_start(c);
				return;
			}
			break;
		}
		psc_cache_lookup(c);
		return;
	}
	if (c->state != PSC_ST_TESTS) {
		return;
	}
	/* A DNSBL answer came in. */
	if (c->dns_pending == 0) {
		if (var_psc_dnsbl_althresh < 0 &&
		    c->dnsbl_score <= var_psc_dnsbl_althresh && c->fail == 0) {
			/* Allowlisted by DNSBL score: skip the wait. */
			c->greet_done = 1;
			c->dnsbl_allow = 1;
			psc_conclude(c);
			return;
		}
		if (c->greet_done) {
			psc_conclude(c);
		}
	}
}

/* The cache answered (rc 0 with value, PM_ENOENT, or an error). */
void
psc_cache_done(psc_conn *c, int rc, const char *value)
{
	long now = (long) time(NULL);
	long gexp = 0, dexp = 0;

	if (c->closed || c->state != PSC_ST_CACHE) {
		return; /* e.g. an answer after postscreen_cache_timeout */
	}
	event_del(c->timer);
	if (rc == 0 && psc_cache_parse(value, &gexp, &dexp) != 0) {
		pm_msg_warn("[%s]: bad cache entry ignored", c->addr);
		gexp = dexp = 0;
	}
	c->greet_exp = gexp;
	c->dnsbl_exp = dexp;
	c->greet_todo = var_psc_greet_wait > 0 && gexp <= now;
	c->dnsbl_todo = psc_dnsbl_enabled() && dexp <= now;
	if (!c->greet_todo && !c->dnsbl_todo && !(c->fail & PSC_F_DENY)) {
		pm_msg_info("PASS OLD [%s]:%u", c->addr, c->port);
		psc_verdict(PSC_V_PASS_OLD);
		psc_handoff(c);
		return;
	}
	c->state = PSC_ST_TESTS;
	c->greet_done = !c->greet_todo;
	if (c->greet_todo) {
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "220-%s\r\n", var_psc_greet_banner);
		c->banner_sent = 1;
		bufferevent_setcb(c->bev, psc_tests_read_cb, NULL,
		    psc_conn_event_cb, c);
		bufferevent_setwatermark(c->bev, EV_READ, 0,
		    (size_t) var_line_limit);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		psc_timer_set(c, var_psc_greet_wait, 0, psc_tests_timer_cb);
	} else {
		/* No banner yet: leave the client's bytes where they are. */
		psc_timer_set(c, var_psc_dnsbl_tmout, 0, psc_tests_timer_cb);
	}
	if (c->dnsbl_todo) {
		psc_dnsbl_start(c);
	} else if (!c->greet_todo) {
		psc_conclude(c); /* only the denylist "ignore" was left */
	}
}
