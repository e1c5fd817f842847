/*
 * NAME
 *	bench_conn - non-blocking SMTP connection with optional TLS, for
 *	the benchmark tools
 * SYNOPSIS
 *	#include "bench_conn.h"
 * DESCRIPTION
 *	One socket, one bounded input buffer, one output buffer and, after
 *	STARTTLS, one SSL object, driven by an epoll loop of the caller
 *	(tls_source.c, tls_sink.c). Every call returns at once: BENCH_AGAIN
 *	means "wait for the socket" (bench_conn_events() says for what).
 *	These tools are test instruments, not Postmesh: they share no code
 *	with services/ so that Postmesh and Postfix are measured with the
 *	same independent client and server.
 * LIMITS
 *	BENCH_LINE_MAX bytes per line (input buffer), BENCH_OUT_MAX bytes of
 *	queued output.
 * SECURITY
 *	Peer data is only scanned for line ends and compared with fixed
 *	strings; nothing is interpreted beyond the reply code or command.
 */
#ifndef BENCH_CONN_H
#define BENCH_CONN_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

#define BENCH_LINE_MAX 4096
#define BENCH_OUT_MAX (64 * 1024 * 1024)

#define BENCH_OK 1
#define BENCH_AGAIN 0
#define BENCH_ERR (-1)

typedef struct bench_conn {
	int fd;
	SSL *ssl;
	char in[BENCH_LINE_MAX];
	size_t in_off; /* first unconsumed byte */
	size_t in_len; /* end of data */
	char *out;
	size_t out_off, out_len, out_cap;
	int ssl_want_write; /* the last SSL call wanted to write */
	int ssl_dead;       /* a fatal SSL error: no SSL_shutdown() */
	int eof;            /* the peer closed (after in[] is drained) */
	time_t last;        /* last I/O progress, for timeouts */
} bench_conn;

extern void bench_conn_init(bench_conn *, int);
extern void bench_conn_close(bench_conn *);
extern int bench_conn_fill(bench_conn *);
extern int bench_conn_line(bench_conn *, char **, size_t *);
extern void bench_conn_discard_input(bench_conn *);
extern int bench_conn_append(bench_conn *, const void *, size_t);
extern int bench_conn_printf(bench_conn *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
extern int bench_conn_flush(bench_conn *);
extern int bench_conn_pending_out(const bench_conn *);
extern int bench_conn_start_tls(bench_conn *, SSL_CTX *, int, SSL_SESSION *,
    const char *);
extern int bench_conn_handshake(bench_conn *);
extern unsigned bench_conn_events(const bench_conn *);
extern int bench_reply_code(const char *, size_t, int *);
extern int bench_parse_hostport(const char *, char **, char **);
extern int bench_pin_protocol(SSL_CTX *, const char *);

#endif
