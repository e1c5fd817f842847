/*
 * NAME
 *	bench_conn - non-blocking SMTP connection with optional TLS
 * DESCRIPTION
 *	See bench_conn.h. Input is read into a fixed buffer and handed out
 *	line by line; output is queued and written when the socket takes
 *	it. With TLS, SSL_read() may hold decrypted bytes the socket no
 *	longer signals: bench_conn_fill() reads until SSL says WANT_READ
 *	or the buffer is full, and the caller calls it again after
 *	consuming lines. The thread's OpenSSL error queue is cleared
 *	before every SSL call: SSL_get_error() reads it, and an error left
 *	by another session would make a WANT_READ look fatal.
 * LIMITS
 *	A line longer than BENCH_LINE_MAX is an error for
 *	bench_conn_line(); more than BENCH_OUT_MAX queued bytes is an
 *	error for bench_conn_append().
 * SECURITY
 *	Bounded buffers only; see bench_conn.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "bench_conn.h"

void
bench_conn_init(bench_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->last = time(NULL);
}

void
bench_conn_close(bench_conn *c)
{
	if (c->ssl != NULL) {
		/* close_notify: a session closed without it cannot resume */
		if (!c->ssl_dead && SSL_is_init_finished(c->ssl)) {
			ERR_clear_error();
			(void) SSL_shutdown(c->ssl);
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	free(c->out);
	c->out = NULL;
	c->out_off = c->out_len = c->out_cap = 0;
	c->in_off = c->in_len = 0;
}

/* ssl_error - map an SSL result to AGAIN (with the direction) or ERR */
static int
ssl_error(bench_conn *c, int ret)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		c->ssl_want_write = 0;
		return (BENCH_AGAIN);
	case SSL_ERROR_WANT_WRITE:
		c->ssl_want_write = 1;
		return (BENCH_AGAIN);
	case SSL_ERROR_ZERO_RETURN:
		c->eof = 1;
		return (BENCH_ERR);
	default:
		c->ssl_dead = 1;
		return (BENCH_ERR);
	}
}

/*
 * bench_conn_fill - read what is available: BENCH_OK if bytes were
 * added, BENCH_AGAIN if none yet, BENCH_ERR on EOF or error (eof set
 * on a clean close). A full buffer returns BENCH_AGAIN: consume lines.
 */
int
bench_conn_fill(bench_conn *c)
{
	int got = 0;

	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	while (c->in_len < sizeof(c->in)) {
		size_t room = sizeof(c->in) - c->in_len;
		ssize_t n;

		if (c->ssl != NULL) {
			int r;

			ERR_clear_error();
			r = SSL_read(c->ssl, c->in + c->in_len, (int) room);

			if (r <= 0) {
				int e = ssl_error(c, r);

				if (e == BENCH_AGAIN || got) {
					break;
				}
				return (e);
			}
			n = r;
		} else {
			n = read(c->fd, c->in + c->in_len, room);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				break;
			}
			if (n <= 0) {
				if (n == 0) {
					c->eof = 1;
				}
				if (got) {
					break;
				}
				return (BENCH_ERR);
			}
		}
		c->in_len += (size_t) n;
		got = 1;
	}
	if (got) {
		c->last = time(NULL);
	}
	return (got ? BENCH_OK : BENCH_AGAIN);
}

/*
 * bench_conn_line - next complete line (without CRLF, NUL-terminated in
 * place): BENCH_OK, BENCH_AGAIN (none complete), BENCH_ERR (a line
 * fills the whole buffer).
 */
int
bench_conn_line(bench_conn *c, char **line, size_t *len)
{
	char *start = c->in + c->in_off;
	char *nl = memchr(start, '\n', c->in_len - c->in_off);
	size_t n;

	if (nl == NULL) {
		if (c->in_off == 0 && c->in_len == sizeof(c->in)) {
			return (BENCH_ERR);
		}
		return (BENCH_AGAIN);
	}
	n = (size_t) (nl - start);
	c->in_off += n + 1;
	if (n > 0 && start[n - 1] == '\r') {
		n--;
	}
	start[n] = 0;
	*line = start;
	*len = n;
	return (BENCH_OK);
}

/* bench_conn_discard_input - drop buffered input (pipelined STARTTLS) */
void
bench_conn_discard_input(bench_conn *c)
{
	c->in_off = c->in_len = 0;
}

int
bench_conn_append(bench_conn *c, const void *data, size_t len)
{
	size_t need;

	if (c->out_off > 0 && c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
	}
	need = c->out_len + len;
	if (need < len || need > BENCH_OUT_MAX) {
		return (BENCH_ERR);
	}
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 1024;
		char *p;

		while (cap < need) {
			cap *= 2;
		}
		if ((p = realloc(c->out, cap)) == NULL) {
			return (BENCH_ERR);
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return (BENCH_OK);
}

int
bench_conn_printf(bench_conn *c, const char *fmt, ...)
{
	char buf[BENCH_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= sizeof(buf)) {
		return (BENCH_ERR);
	}
	return (bench_conn_append(c, buf, (size_t) n));
}

/*
 * bench_conn_flush - write queued output: BENCH_OK when all is out,
 * BENCH_AGAIN when the socket is full, BENCH_ERR on error.
 */
int
bench_conn_flush(bench_conn *c)
{
	while (c->out_off < c->out_len) {
		size_t left = c->out_len - c->out_off;
		ssize_t n;

		if (c->ssl != NULL) {
			int r;

			ERR_clear_error();
			r = SSL_write(c->ssl, c->out + c->out_off,
			    left > 65536 ? 65536 : (int) left);

			if (r <= 0) {
				return (ssl_error(c, r));
			}
			c->ssl_want_write = 0;
			n = r;
		} else {
			n = write(c->fd, c->out + c->out_off, left);
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
				return (BENCH_AGAIN);
			}
			if (n < 0) {
				return (BENCH_ERR);
			}
		}
		c->out_off += (size_t) n;
		c->last = time(NULL);
	}
	c->out_off = c->out_len = 0;
	return (BENCH_OK);
}

int
bench_conn_pending_out(const bench_conn *c)
{
	return (c->out_off < c->out_len);
}

/*
 * bench_conn_start_tls - put an SSL object on the socket: client (with
 * an optional session to resume and an optional SNI/verified name) or
 * server. Plaintext still buffered must have been handled first.
 */
int
bench_conn_start_tls(bench_conn *c, SSL_CTX *ctx, int server,
    SSL_SESSION *resume, const char *name)
{
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		return (BENCH_ERR);
	}
	if (server) {
		SSL_set_accept_state(c->ssl);
		return (BENCH_OK);
	}
	SSL_set_connect_state(c->ssl);
	if (resume != NULL && SSL_set_session(c->ssl, resume) != 1) {
		return (BENCH_ERR);
	}
	if (name != NULL &&
	    (SSL_set_tlsext_host_name(c->ssl, name) != 1 ||
	        SSL_set1_host(c->ssl, name) != 1)) {
		return (BENCH_ERR);
	}
	return (BENCH_OK);
}

/* bench_conn_handshake - one step: BENCH_OK when done */
int
bench_conn_handshake(bench_conn *c)
{
	int r;

	ERR_clear_error();
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->ssl_want_write = 0;
		c->last = time(NULL);
		return (BENCH_OK);
	}
	return (ssl_error(c, r));
}

/* bench_conn_events - what to wait for: input always, output if due */
unsigned
bench_conn_events(const bench_conn *c)
{
	unsigned ev = EPOLLIN;

	if (bench_conn_pending_out(c) || c->ssl_want_write) {
		ev |= EPOLLOUT;
	}
	return (ev);
}

/*
 * bench_reply_code - the code of an SMTP reply line, or -1 if the line
 * is not "DDD " or "DDD-" (or just "DDD"); *last = 0 on "DDD-".
 */
int
bench_reply_code(const char *line, size_t len, int *last)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9') {
		return (-1);
	}
	if (len > 3 && line[3] != ' ' && line[3] != '-') {
		return (-1);
	}
	*last = !(len > 3 && line[3] == '-');
	return ((line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0');
}

/*
 * bench_parse_hostport - "host:port" or "[v6]:port" into new strings;
 * 0 or -1.
 */
int
bench_parse_hostport(const char *s, char **host, char **port)
{
	const char *colon;
	size_t hl;
	const char *h = s;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':') {
			return (-1);
		}
		h = s + 1;
		hl = (size_t) (rb - h);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			return (-1);
		}
		hl = (size_t) (colon - s);
	}
	if (colon[1] == 0 || strlen(colon + 1) > 5) {
		return (-1);
	}
	*host = strndup(h, hl);
	*port = strdup(colon + 1);
	return (*host != NULL && *port != NULL ? 0 : -1);
}

/*
 * bench_pin_protocol - "TLSv1.2" or "TLSv1.3": that protocol only;
 * NULL or "": OpenSSL's defaults (TLSv1.3 preferred). 0 or -1.
 */
int
bench_pin_protocol(SSL_CTX *ctx, const char *proto)
{
	int v;

	if (proto == NULL || *proto == 0) {
		return (0);
	}
	if (strcmp(proto, "TLSv1.2") == 0) {
		v = TLS1_2_VERSION;
	} else if (strcmp(proto, "TLSv1.3") == 0) {
		v = TLS1_3_VERSION;
	} else {
		return (-1);
	}
	return (SSL_CTX_set_min_proto_version(ctx, v) == 1 &&
	            SSL_CTX_set_max_proto_version(ctx, v) == 1 ?
	        0 :
	        -1);
}
