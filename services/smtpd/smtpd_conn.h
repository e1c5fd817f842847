/*
 * NAME
 *	smtpd_conn - one client connection: bounded buffered I/O
 * SUMMARY
 *	#include "smtpd_conn.h"
 * DESCRIPTION
 *	The session never touches the socket: it reads from the input
 *	evbuffer and writes through smtpd_conn_write(). All I/O goes
 *	through the function table c->io, so a connection can change
 *	transport mid-stream: "plain" (a libevent socket bufferevent), then
 *	"tls" (an OpenSSL filter bufferevent stacked on the same socket by
 *	io->start_tls, smtpd_tls.c), without the session noticing; the
 *	tls_done callback says when the handshake ended.
 *
 *	A connection may first run a "pre-session stage" (c->stage) that
 *	consumes input before the session sees any, e.g. a PROXY protocol
 *	header that replaces the client address; the stage returns 1 when
 *	done (the session then starts), 0 when it needs more input, or a
 *	negative PM_E* to drop the connection (smtpd_proxy.c installs
 *	one).
 *
 *	Callbacks (from the event loop): readable (new input), drained
 *	(output buffer empty), closed (EOF or error; eof = 1 for a clean
 *	EOF). Input stays in the buffer until the session drains it.
 * LIMITS
 *	smtpd_conn_set_input_limit() bounds the input buffer: reading from
 *	the socket pauses while it holds that much (libevent high
 *	watermark), so a client that pipelines while the session waits
 *	costs at most that many bytes.
 * SECURITY
 *	The client address comes from the kernel (accept) or, with
 *	smtpd_upstream_proxy_protocol, a PROXY header from a trusted
 *	front end only.
 */
#ifndef SMTPD_CONN_H
#define SMTPD_CONN_H

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

typedef struct smtpd_conn smtpd_conn;

typedef struct smtpd_conn_cb {
	void (*readable)(void *arg);
	void (*drained)(void *arg);
	void (*closed)(void *arg, int eof);
	/* TLS handshake ended: ok 1, or 0 (closed follows). */
	void (*tls_done)(void *arg, int ok);
} smtpd_conn_cb;

typedef struct smtpd_conn_io {
	const char *name; /* "plain", "tls" */
	int (*write)(smtpd_conn *c, const void *p, size_t len);
	/* 1 if input is waiting that the session has not seen yet. */
	int (*pending)(smtpd_conn *c);
	/* Switch to TLS (ctx: SSL_CTX *); PM_E* if unsupported. */
	int (*start_tls)(smtpd_conn *c, void *ctx);
} smtpd_conn_io;

struct smtpd_conn {
	const smtpd_conn_io *io;
	struct bufferevent *bev;
	evutil_socket_t fd;
	int (*stage)(smtpd_conn *c, struct evbuffer *in); /* may be NULL */
	smtpd_conn_cb cb;
	void *arg;
	char addr[64]; /* "192.0.2.1", "2001:db8::1" */
	char port[8];
	int family;   /* AF_INET, AF_INET6, AF_UNIX */
	int loopback; /* client address is 127/8 or ::1 */
	int closed;   /* EOF or error seen */
	int tls;      /* 0 plain, 1 handshake running, 2 TLS established */
	/* Activated once all output left for the socket (TLS), or NULL. */
	struct event *flushed;
	/* TLS: the callback on the socket's output that activates flushed. */
	struct evbuffer_cb_entry *raw_cb;
};

/*
 * Wrap an accepted socket (takes ownership of fd, closed on free).
 * Returns NULL (fd closed) if libevent refuses.
 */
smtpd_conn *smtpd_conn_new(struct event_base *base, evutil_socket_t fd,
    const struct sockaddr *sa, int salen, const smtpd_conn_cb *cb, void *arg);
void smtpd_conn_free(smtpd_conn *c);

struct evbuffer *smtpd_conn_input(smtpd_conn *c);
/* Octets not yet written to the socket (under a TLS filter too). */
size_t smtpd_conn_output_len(smtpd_conn *c);
int smtpd_conn_write(smtpd_conn *c, const void *p, size_t len);
int smtpd_conn_pending(smtpd_conn *c);
/* Pause or resume reading from the socket. */
void smtpd_conn_read(smtpd_conn *c, int on);
void smtpd_conn_set_input_limit(smtpd_conn *c, size_t high);
/* Peer address, port, family, loopback from sa (accept, PROXY header). */
void smtpd_conn_set_peer(smtpd_conn *c, const struct sockaddr *sa);

#endif
