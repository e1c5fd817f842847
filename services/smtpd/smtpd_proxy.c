/*
 * NAME
 *	smtpd_proxy - smtpd behind a proxy: the PROXY protocol header
 * DESCRIPTION
 *	See smtpd_proxy.h. The stage looks at the connection's input
 *	buffer (at most PM_PROXY_MAX_LEN bytes of it) with
 *	pm_proxy_parse() each time input arrives, drains the header once
 *	it is complete and leaves what follows (SMTP commands, a TLS
 *	ClientHello) to the session.
 * LIMITS
 *	PM_PROXY_MAX_LEN; smtpd_upstream_proxy_timeout.
 * SECURITY
 *	The header is trusted as to the client's address (that is its
 *	purpose); its bytes are not: logged through pm_printable() only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pm_log.h"
#include "pm_proxy.h"
#include "smtpd_proxy.h"

char *var_smtpd_uproxy_proto;
long var_smtpd_uproxy_tmout;

static int proxy_on;

void
smtpd_proxy_init(void)
{
	if (strcmp(var_smtpd_uproxy_proto, "haproxy") == 0) {
		proxy_on = 1;
	} else if (var_smtpd_uproxy_proto[0] == 0) {
		proxy_on = 0;
	} else {
		pm_msg_fatal("%s: unsupported protocol type: %s (expected "
		             "haproxy or empty)",
		    VAR_SMTPD_UPROXY_PROTO, var_smtpd_uproxy_proto);
	}
}

int
smtpd_proxy_enabled(void)
{
	return (proxy_on);
}

/* Postfix: a client whose address the header did not give. */
static void
proxy_fail(smtpd_session *s)
{
	free(s->addr);
	free(s->name);
	s->addr = pm_strdup("unknown");
	s->name = pm_strdup("unknown");
	smtpd_session_client(s);
	pm_msg_info("connect from %s", s->namaddr);
	s->where = "CONNECT";
	smtpd_close(s, "lost connection");
}

static void
proxy_warn(smtpd_session *s, const char *why, const void *hdr, size_t len)
{
	char *p = NULL;

	if (len > 0) {
		p = pm_printable_dup(hdr, len, 100);
	}
	pm_msg_warn("haproxy read: %s%s%s (proxy %s port %s)", why,
	    p != NULL ? ": " : "", p != NULL ? p : "", s->conn->addr,
	    s->conn->port);
	free(p);
}

/* The real client: the same normalization as an accepted socket. */
static int
proxy_set_peer(smtpd_conn *c, const pm_proxy_result *r)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (void *) &ss;
	struct sockaddr_in6 *in6 = (void *) &ss;

	memset(&ss, 0, sizeof(ss));
	if (r->family == AF_INET) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t) r->src_port);
		if (inet_pton(AF_INET, r->src_addr, &in->sin_addr) != 1) {
			return (PM_EINVAL);
		}
	} else {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t) r->src_port);
		if (inet_pton(AF_INET6, r->src_addr, &in6->sin6_addr) != 1) {
			return (PM_EINVAL);
		}
	}
	smtpd_conn_set_peer(c, (const struct sockaddr *) &ss);
	return (0);
}

static int
proxy_stage(smtpd_conn *c, struct evbuffer *in)
{
	smtpd_session *s = c->arg;
	size_t len = evbuffer_get_length(in);
	size_t n = len < PM_PROXY_MAX_LEN ? len : PM_PROXY_MAX_LEN;
	const unsigned char *p = evbuffer_pullup(in, (ev_ssize_t) n);
	pm_proxy_result r;
	const char *why = "";
	int rc;

	rc = pm_proxy_parse(p, n, &r, &why);
	if (rc == PM_PROXY_MORE) {
		return (0);
	}
	if (rc == PM_PROXY_BAD) {
		proxy_warn(s, why, p, n);
		return (PM_EPROTO); /* session_closed -> smtpd_proxy_closed */
	}
	evbuffer_drain(in, r.len);
	evtimer_del(s->timer);
	if (!r.local) {
		PM_ASSERT(proxy_set_peer(c, &r) == 0);
		free(s->addr);
		free(s->port);
		s->addr = pm_strdup(c->addr);
		s->port = pm_strdup(c->port);
		s->loopback = c->loopback;
		smtpd_session_client(s);
	}
	smtpd_session_start(s);
	return (1);
}

void
smtpd_proxy_start(smtpd_session *s)
{
	struct timeval tv = { var_smtpd_uproxy_tmout, 0 };

	s->phase = PH_PROXY;
	s->conn->stage = proxy_stage;
	evtimer_add(s->timer, &tv);
}

void
smtpd_proxy_timer(smtpd_session *s)
{
	struct evbuffer *in = smtpd_conn_input(s->conn);
	size_t n = evbuffer_get_length(in);

	if (n > PM_PROXY_MAX_LEN) {
		n = PM_PROXY_MAX_LEN;
	}
	s->conn->stage = NULL;
	proxy_warn(s, "time limit exceeded",
	    evbuffer_pullup(in, (ev_ssize_t) n), n);
	proxy_fail(s);
}

void
smtpd_proxy_closed(smtpd_session *s)
{
	/* The stage refused the header (and said why) or the peer left. */
	if (s->conn->stage != NULL) {
		s->conn->stage = NULL;
		proxy_warn(s, "lost connection", NULL, 0);
	}
	evtimer_del(s->timer);
	proxy_fail(s);
}
