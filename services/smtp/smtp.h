/*
 * NAME
 *	smtp - internal interfaces of the smtp/lmtp delivery agent
 * DESCRIPTION
 *	smtp.c          main(), parameters, deliver(): one job
 *	smtp_reply.c    reply lines, enhanced status codes, EHLO keywords,
 *	                xtext (pure)
 *	smtp_stuff.c    dot-stuffing and CR/LF normalisation (pure)
 *	smtp_nexthop.c  nexthop forms, MX ordering (pure)
 *	smtp_resolve.c  nexthop -> addresses (DNS)
 *	smtp_conn.c     sockets with timeouts, reading replies, the
 *	                connection cache
 *	smtp_proto.c    greeting, EHLO/LHLO, the mail transaction
 *	smtp_tls*.c     STARTTLS, TLS policy, TLS sessions (smtp_tls.h)
 *	The pure files depend on libpostmesh only, so the unit tests
 *	compile them in directly.
 */
#ifndef SMTP_H
#define SMTP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "pm_agent.h"
#include "pm_dns.h"
#include "pm_metrics.h"
#include "pm_util.h"

/* ---- smtp_reply.c ---- */

#define SMTP_REPLY_TEXT_MAX 8192  /* reply text kept (all lines) */
#define SMTP_REPLY_LINES_MAX 1000 /* more lines: protocol error */

typedef struct smtp_reply {
	int code;     /* 100..599 of the last line; 0 if malformed */
	char dsn[16]; /* enhanced status code, or "X.0.0" from code */
	pm_buf text;  /* the lines as received, "\n"-separated */
	int nlines;
	int done; /* the last line was seen */
} smtp_reply;

void smtp_reply_init(smtp_reply *r);
void smtp_reply_reset(smtp_reply *r);
void smtp_reply_free(smtp_reply *r);
/*
 * Add one line (without its line end). Returns 1 when the reply is
 * complete (a last line "NNN text" or "NNN", or a malformed line: then
 * code is 0), else 0.
 */
int smtp_reply_add(smtp_reply *r, const char *line, size_t len);
/* The whole reply on one printable line: "550-5.1.1 a 550 5.1.1 b". */
void smtp_reply_flat(const smtp_reply *r, char *buf, size_t size);
/* Enhanced status code at the start of text, class must match code. */
int smtp_dsn_parse(int code, const char *text, size_t len, char *dsn,
    size_t size);

typedef struct smtp_features {
	int esmtp;
	int pipelining;
	int size;                    /* SIZE offered */
	unsigned long long size_max; /* 0 = no limit given */
	int eightbitmime;
	int dsn;
	int smtputf8;
	int chunking;
	int starttls;
} smtp_features;

/*
 * EHLO reply -> features. discard: NULL-terminated lower-case keywords
 * to ignore (smtp_discard_ehlo_keywords), may be NULL.
 */
void smtp_ehlo_parse(const smtp_reply *r, char *const *discard,
    smtp_features *f);
/* xtext (RFC 3461 4): "+XX" for '+', '=', and octets outside 33..126. */
int smtp_xtext(pm_buf *out, const char *s);

/* ---- smtp_stuff.c ---- */

typedef struct smtp_stuff {
	int bol;      /* at the beginning of a line */
	int cr;       /* a CR is pending */
	size_t col;   /* octets on the current output line */
	size_t limit; /* smtp_line_length_limit; 0 = none */
} smtp_stuff;

void smtp_stuff_init(smtp_stuff *st, size_t line_limit);
/*
 * Append content to out as it goes on the wire: CRLF line ends only (a
 * bare CR or LF becomes CRLF), a leading "." doubled, lines longer
 * than the limit broken with CRLF SPACE. The result does not depend
 * on how the content is split. 0 or PM_ETOOBIG.
 */
int smtp_stuff_feed(smtp_stuff *st, const void *data, size_t len, pm_buf *out);
/* End the content: CRLF if a line is open, then ".\r\n". */
int smtp_stuff_end(smtp_stuff *st, pm_buf *out);

/* ---- smtp_nexthop.c ---- */

#define SMTP_DEST_DOMAIN 1 /* MX lookup */
#define SMTP_DEST_HOST 2   /* name or address, no MX */
#define SMTP_DEST_UNIX 3   /* lmtp: unix-domain socket */

typedef struct smtp_dest {
	int kind;
	char host[PM_DNS_NAME_MAX + 1]; /* name, address, or socket path */
	unsigned port;                  /* 0: the default port */
	int literal;                    /* host is an IP address */
} smtp_dest;

/*
 * smtp: "domain", "[host]", "[host]:port", "host:port";
 * lmtp: "unix:/path", "inet:host:port", "inet:[host]:port",
 *       "[host]:port", "host:port", "host" (never MX).
 * "[ipv6:addr]" is "[addr]". 0, or PM_EINVAL with *why.
 */
int smtp_nexthop_parse(const char *nexthop, int lmtp, smtp_dest *d,
    const char **why);
/* "25", "smtp", "lmtp" -> port; 0 if invalid. */
unsigned smtp_port_parse(const char *s);
/*
 * Order MX records by preference, shuffling equal preferences with
 * rnd(n) (0..n-1).
 */
void smtp_mx_sort(pm_dns_rr *rr, size_t n, unsigned (*rnd)(unsigned));
/*
 * Mail loops: if myhostname is one of the MX hosts, keep only the
 * more preferred ones. Returns the count kept; *self = 1 if found.
 */
size_t smtp_mx_trim_self(pm_dns_rr *rr, size_t n, const char *myhostname,
    int *self);

/* ---- smtp_resolve.c ---- */

typedef struct smtp_addr {
	char host[PM_DNS_NAME_MAX + 1]; /* for logs: the MX or host name */
	char ip[INET6_ADDRSTRLEN + 1];  /* text, or the socket path */
	int family;                     /* AF_INET, AF_INET6, AF_UNIX */
	unsigned char addr[16];
	unsigned port;
	char path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
} smtp_addr;

typedef struct smtp_err {
	int status; /* PM_JOB_DEFERRED or PM_JOB_BOUNCED */
	char dsn[16];
	char text[512];
} smtp_err;

/* From the configuration (smtp.c). */
extern unsigned smtp_port_smtp; /* smtp_tcp_port */
extern unsigned smtp_port_lmtp; /* lmtp_tcp_port */
extern int smtp_use_v4;         /* inet_protocols */
extern int smtp_use_v6;
extern char **smtp_discard_kw; /* smtp_discard_ehlo_keywords */

/*
 * The addresses to try for dest, at most max (MX order). 0 with *n >
 * 0, or an error with *err filled (bounce or defer).
 */
int smtp_resolve(const smtp_dest *d, int lmtp, smtp_addr *out, size_t max,
    size_t *n, smtp_err *err);

/* ---- smtp_conn.c ---- */

typedef struct smtp_sess {
	int fd;
	int lmtp;
	char key[1100];   /* cache key: mode and nexthop */
	char relay[300];  /* host[ip]:port, for logs */
	char hostip[300]; /* host[ip], for reply texts */
	smtp_features feat;
	char *ibuf; /* input */
	size_t ilen, ipos;
	int64_t created_ms;
	int64_t idle_ms; /* when it went idle (cache) */
	unsigned uses;
	int broken;                /* I/O failed, timed out, or 421: close */
	int in_txn;                /* MAIL accepted, no final reply yet */
	struct smtp_tls_sess *tls; /* smtp_tls.c; NULL: no TLS policy */
	struct smtp_sess *next;
} smtp_sess;

/* Wait for ev on fd until deadline (pm_mono_ms): 0, PM_ETIMEDOUT, PM_EIO. */
int smtp_poll_fd(int fd, short ev, int64_t deadline);
/* Connect within timeout; err gets Postfix's "connect to ..." text. */
int smtp_connect(const smtp_addr *a, int lmtp, long timeout, smtp_sess **out,
    smtp_err *err);
/* Write all within timeout (seconds): 0, PM_ETIMEDOUT, PM_ECLOSED. */
int smtp_write(smtp_sess *s, const void *data, size_t len, long timeout);
/* Read one whole reply within timeout: 0, PM_ETIMEDOUT, PM_ECLOSED, PM_EPROTO. */
int smtp_read_reply(smtp_sess *s, smtp_reply *r, long timeout);
/* Close; with quit, say QUIT first (without waiting). NULL is fine. */
void smtp_sess_close(smtp_sess *s, int quit);

void smtp_cache_init(pm_metric *hit, pm_metric *miss);
/* Take an idle connection for key, or NULL (counts hit or miss). */
smtp_sess *smtp_cache_get(const char *key);
/* Keep an idle connection (or close it if the cache is full). */
void smtp_cache_put(smtp_sess *s);
/* Close idle connections past the time limits; all when force. */
void smtp_cache_expire(int force);
/* Count a cache hit or miss (connection_cache_total). */
void smtp_cache_count(int hit);

/* ---- smtp_proto.c ---- */

typedef struct smtp_msg {
	const char *body; /* the content as queued */
	size_t len;
	int eight;   /* 8-bit octets in the content */
	int utf8;    /* SMTPUTF8 required (envelope or headers) */
	pm_buf conv; /* 7-bit form, made when first needed */
	int converted;
	pm_buf out;     /* wire buffer */
	smtp_reply rep; /* reply buffer */
} smtp_msg;

/* Greeting and EHLO/LHLO (HELO fallback): 0, or err filled. */
int smtp_hello(smtp_sess *s, smtp_msg *m, smtp_err *err, int *soft);

#define SMTP_XACT_DONE 0  /* statuses set (some may remain NONE) */
#define SMTP_XACT_STALE 1 /* reused connection was dead: try anew */

/* One mail transaction for the job's recipients still NONE. */
int smtp_xact(smtp_sess *s, pm_job *j, smtp_msg *m, int reused);

#endif
