/*
 * NAME
 *	smtpd_conn - one client connection: bounded buffered I/O
 * DESCRIPTION
 *	See smtpd_conn.h. The plain transport is a socket bufferevent
 *	(BEV_OPT_CLOSE_ON_FREE). Its read callback first runs the
 *	pre-session stage, if any, then tells the session. The write
 *	callback fires when the output buffer is empty (low watermark 0).
 * LIMITS
 *	Input is bounded by the high watermark the session sets.
 * SECURITY
 *	Writes go to a socket that may be closed at any time: errors are
 *	reported through the closed callback, never fatal (SIGPIPE is
 *	ignored by smtpd.c).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "pm_log.h"
#include "pm_util.h"
#include "smtpd_conn.h"
#include "smtpd_tls.h"

static int
plain_write(smtpd_conn *c, const void *p, size_t len)
{
	if (c->closed) {
		return (PM_ECLOSED);
	}
	return (bufferevent_write(c->bev, p, len) == 0 ? 0 : PM_EIO);
}

static int
plain_pending(smtpd_conn *c)
{
	char b;
	ssize_t n;

	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		return (1);
	}
	if (c->closed) {
		return (0);
	}
	/* Bytes the kernel holds that libevent has not read yet. */
	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return (n > 0);
}

static int
plain_start_tls(smtpd_conn *c, void *ctx)
{
	return (smtpd_conn_tls_start(c, ctx)); /* smtpd_tls.c */
}

static const smtpd_conn_io plain_io = {
	.name = "plain",
	.write = plain_write,
	.pending = plain_pending,
	.start_tls = plain_start_tls,
};

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	smtpd_conn *c = arg;
	int rc;

	(void) bev;
	if (c->stage != NULL) {
		rc = c->stage(c, bufferevent_get_input(c->bev));
		if (rc == 0) {
			return;
		}
		c->stage = NULL;
		if (rc < 0) {
			c->closed = 1;
			c->cb.closed(c->arg, 0);
			return;
		}
	}
	c->cb.readable(c->arg);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	smtpd_conn *c = arg;

	(void) bev;
	c->cb.drained(c->arg);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	smtpd_conn *c = arg;

	(void) bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->closed) {
			return;
		}
		c->closed = 1;
		c->cb.closed(c->arg, (what & BEV_EVENT_EOF) != 0);
	}
}

void
smtpd_conn_set_peer(smtpd_conn *c, const struct sockaddr *sa)
{
	c->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *) sa;

		inet_ntop(AF_INET, &in->sin_addr, c->addr, sizeof(c->addr));
		snprintf(c->port, sizeof(c->port), "%u",
		    (unsigned) ntohs(in->sin_port));
		c->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *) sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			/* Log and check ::ffff:a.b.c.d as a.b.c.d. */
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], c->addr,
			    sizeof(c->addr));
			c->family = AF_INET;
			c->loopback = in6->sin6_addr.s6_addr[12] == 127;
		} else {
			inet_ntop(AF_INET6, &in6->sin6_addr, c->addr,
			    sizeof(c->addr));
			c->loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		}
		snprintf(c->port, sizeof(c->port), "%u",
		    (unsigned) ntohs(in6->sin6_port));
	} else {
		snprintf(c->addr, sizeof(c->addr), "127.0.0.1");
		snprintf(c->port, sizeof(c->port), "0");
		c->loopback = 1;
	}
}

smtpd_conn *
smtpd_conn_new(struct event_base *base, evutil_socket_t fd,
    const struct sockaddr *sa, int salen, const smtpd_conn_cb *cb, void *arg)
{
	smtpd_conn *c;

	(void) salen;
	if (evutil_make_socket_nonblocking(fd) != 0) {
		close(fd);
		return (NULL);
	}
	c = pm_calloc(1, sizeof(*c));
	c->io = &plain_io;
	c->fd = fd;
	c->cb = *cb;
	c->arg = arg;
	smtpd_conn_set_peer(c, sa);
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		pm_msg_warn("bufferevent_socket_new failed for %s", c->addr);
		close(fd);
		free(c);
		return (NULL);
	}
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return (c);
}

void
smtpd_conn_free(smtpd_conn *c)
{
	if (c == NULL) {
		return;
	}
	if (c->bev != NULL) {
		smtpd_conn_tls_unlink(c); /* smtpd_tls.c */
		bufferevent_free(c->bev);
	}
	free(c);
}

struct evbuffer *
smtpd_conn_input(smtpd_conn *c)
{
	return (bufferevent_get_input(c->bev));
}

size_t
smtpd_conn_output_len(smtpd_conn *c)
{
	struct bufferevent *raw = bufferevent_get_underlying(c->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(c->bev));

	if (raw != NULL) {
		n += evbuffer_get_length(bufferevent_get_output(raw));
	}
	return (n);
}

int
smtpd_conn_write(smtpd_conn *c, const void *p, size_t len)
{
	return (c->io->write(c, p, len));
}

int
smtpd_conn_pending(smtpd_conn *c)
{
	return (c->io->pending(c));
}

void
smtpd_conn_read(smtpd_conn *c, int on)
{
	if (c->closed) {
		return;
	}
	if (on) {
		bufferevent_enable(c->bev, EV_READ);
	} else {
		bufferevent_disable(c->bev, EV_READ);
	}
}

void
smtpd_conn_set_input_limit(smtpd_conn *c, size_t high)
{
	bufferevent_setwatermark(c->bev, EV_READ, 0, high);
}
