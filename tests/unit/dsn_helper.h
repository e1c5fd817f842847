/*
 * NAME
 *	dsn_helper - a small MIME reader that checks pm_dsn's notices
 * SUMMARY
 *	#include "dsn_helper.h"
 * DESCRIPTION
 *	For test_dsn_build.c and test_dsn_rules.c: cfg_default() and
 *	orig_default() (an original message, orig_msg), and notice_parse(),
 *	which parses a notice back and checks it: CRLF line ends only (no
 *	bare CR or LF), lines of at most 998 bytes, 7-bit headers, the
 *	required top-level headers, three body parts between the boundary
 *	delimiters and a closing delimiter, and the part types. hdr_get(),
 *	want_hdr(), status_groups() (the delivery-status groups) and
 *	has_line() look inside a notice.
 * SECURITY
 *	Test code only.
 */
#ifndef DSN_HELPER_H
#define DSN_HELPER_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_dsn.h"
#include "pm_util.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() \
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks found")
#else
#define LEAK_CHECK()
#endif

#define QID "4Hx2ZZZZZZZ00000001"
#define NQID "4Hx2ZZZZZZZ00000002"
#define NOW_US 1700000000000000LL
#define HOST "mx.example.net"

static const char orig_msg[] = "Received: from client.example.org\r\n"
                               "\tby mx.example.net with ESMTP\r\n"
                               "From: Alice <alice@example.org>\r\n"
                               "To: bob@example.com\r\n"
                               "Subject: hello\r\n"
                               "\r\n"
                               "BODY-MARKER line one\r\n"
                               "line two\r\n";

typedef struct part {
	char *hdrs; /* header block, lines CRLF-joined */
	char *body;
} part;

typedef struct notice {
	char *hdrs;
	char boundary[128];
	part parts[8];
	int nparts;
	int closed; /* the closing delimiter was found */
} notice;

static inline pm_dsn_cfg
cfg_default(void)
{
	pm_dsn_cfg c;

	memset(&c, 0, sizeof(c));
	c.myhostname = HOST;
	c.myorigin = "example.net";
	c.bounce_size_limit = 50000;
	c.delay_secs = 4 * 3600;
	c.lifetime_secs = 5 * 86400;
	c.notice_qid = NQID;
	c.now_us = NOW_US;
	return (c);
}

static inline pm_dsn_orig
orig_default(void)
{
	pm_dsn_orig o;

	memset(&o, 0, sizeof(o));
	o.queue_id = QID;
	o.sender = "alice@example.org";
	o.arrival_us = NOW_US - 3600LL * 1000000;
	o.envid = "ENV123";
	o.content = orig_msg;
	o.len = sizeof(orig_msg) - 1;
	return (o);
}

/* Line ends CRLF only, lines <= 998 bytes. */
static inline void
check_lines(const char *s, size_t len)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r') {
			cr_assert(i + 1 < len && s[i + 1] == '\n',
			    "bare CR at %zu", i);
		} else if (s[i] == '\n') {
			cr_assert(i > 0 && s[i - 1] == '\r', "bare LF at %zu",
			    i);
			col = 0;
			continue;
		}
		col++;
		cr_assert(col <= 1000, "line over 998 bytes at %zu", i);
	}
	cr_assert(len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n',
	    "no final CRLF");
}

/* Unfolded value of header name in a CRLF header block, or NULL. */
static inline char *
hdr_get(const char *block, const char *name)
{
	size_t nlen = strlen(name);
	const char *p = block, *e;
	pm_buf b;

	while (*p) {
		e = strstr(p, "\r\n");
		e = e != NULL ? e : p + strlen(p);
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			pm_buf_init(&b, 0);
			p += nlen + 1;
			for (;;) {
				while (p < e && (*p == ' ' || *p == '\t')) {
					p++;
				}
				pm_buf_append(&b, p, (size_t) (e - p));
				if (*e == 0 || (e[2] != ' ' && e[2] != '\t')) {
					break;
				}
				pm_buf_puts(&b, " ");
				p = e + 2;
				e = strstr(p, "\r\n");
				e = e != NULL ? e : p + strlen(p);
			}
			return (pm_buf_steal(&b, NULL));
		}
		p = *e ? e + 2 : e;
	}
	return (NULL);
}

static inline void
want_hdr(const char *block, const char *name, const char *want)
{
	char *v = hdr_get(block, name);

	cr_assert(v != NULL, "header %s missing", name);
	if (want != NULL) {
		cr_assert(strcmp(v, want) == 0, "%s: got \"%s\", want \"%s\"",
		    name, v, want);
	}
	free(v);
}

/* Split "hdrs\r\n\r\nbody" (a block may be empty). */
static inline void
split_hb(const char *s, size_t len, char **hdrs, char **body)
{
	const char *sep = memmem(s, len, "\r\n\r\n", 4);

	cr_assert(sep != NULL, "no empty line after the headers");
	*hdrs = pm_strndup(s, (size_t) (sep - s) + 2);
	*body = pm_strndup(sep + 4, len - (size_t) (sep + 4 - s));
}

static inline void
notice_free(notice *n)
{
	int i;

	free(n->hdrs);
	for (i = 0; i < n->nparts; i++) {
		free(n->parts[i].hdrs);
		free(n->parts[i].body);
	}
}

/* Parse and check the generic structure of a notice. */
static inline void
notice_parse(const pm_buf *out, notice *n)
{
	const char *s = out->data, *p, *q, *end;
	char *body, *v, *b, delim[140], close[140];
	size_t i;

	memset(n, 0, sizeof(*n));
	check_lines(s, out->len);
	cr_assert(memchr(s, 0, out->len) == NULL, "NUL in the notice");
	split_hb(s, out->len, &n->hdrs, &body);
	for (p = n->hdrs; *p; p++) {
		cr_assert((*p >= 0x20 && *p < 0x7f) || *p == '\r' ||
		        *p == '\n' || *p == '\t',
		    "8-bit or control byte 0x%02x "
		    "in the headers",
		    (unsigned char) *p);
	}
	want_hdr(n->hdrs, "From",
	    "MAILER-DAEMON@example.net (Mail Delivery "
	    "System)");
	want_hdr(n->hdrs, "Auto-Submitted", "auto-replied");
	want_hdr(n->hdrs, "MIME-Version", "1.0");
	want_hdr(n->hdrs, "Date", NULL);
	want_hdr(n->hdrs, "To", NULL);
	want_hdr(n->hdrs, "Subject", NULL);
	v = hdr_get(n->hdrs, "Message-Id");
	cr_assert(v != NULL && strstr(v, "." NQID "@") != NULL,
	    "Message-Id: got %s", v ? v : "(none)");
	free(v);
	v = hdr_get(n->hdrs, "Content-Type");
	cr_assert(v != NULL &&
	        strncmp(v,
	            "multipart/report; "
	            "report-type=delivery-status;",
	            45) == 0,
	    "Content-Type: got %s", v ? v : "(none)");
	b = strstr(v, "boundary=\"");
	cr_assert(b != NULL, "no boundary");
	b += 10;
	for (i = 0; b[i] && b[i] != '"' && i < sizeof(n->boundary) - 1; i++) {
		n->boundary[i] = b[i];
	}
	n->boundary[i] = 0;
	cr_assert(i >= 1 && i <= 70 && b[i] == '"', "bad boundary %s", b);
	free(v);

	/* parts: each delimiter is "--B" at the start of a line */
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", n->boundary);
	snprintf(close, sizeof(close), "\r\n--%s--\r\n", n->boundary);
	end = body + strlen(body);
	p = strstr(body, delim + 2) == body ? body - 2 : strstr(body, delim);
	cr_assert(p != NULL, "no first delimiter");
	for (;;) {
		p += strlen(delim);
		q = strstr(p, delim);
		if (q == NULL) {
			q = strstr(p, close);
			cr_assert(q != NULL, "no closing delimiter");
			cr_assert(q + strlen(close) == end,
			    "data after the "
			    "closing delimiter");
			n->closed = 1;
		}
		cr_assert(n->nparts < 8, "too many parts");
		split_hb(p, (size_t) (q - p) + 2, &n->parts[n->nparts].hdrs,
		    &n->parts[n->nparts].body);
		n->nparts++;
		if (n->closed) {
			break;
		}
		p = q;
	}
	free(body);
	cr_assert(n->nparts == 3, "got %d parts, want 3", n->nparts);
	want_hdr(n->parts[0].hdrs, "Content-Type",
	    "text/plain; charset=us-ascii");
	want_hdr(n->parts[1].hdrs, "Content-Type", "message/delivery-status");
}

/*
 * The delivery-status groups: [0] per message, then per recipient.
 * Returns the count; groups[i] are header blocks.
 */
static inline int
status_groups(const part *pt, char **groups, int max)
{
	const char *p = pt->body, *q;
	int n = 0;

	while (*p && n < max) {
		while (strncmp(p, "\r\n", 2) == 0) {
			p += 2;
		}
		if (*p == 0) {
			break;
		}
		q = strstr(p, "\r\n\r\n");
		q = q != NULL ? q + 2 : p + strlen(p);
		groups[n++] = pm_strndup(p, (size_t) (q - p));
		p = q;
	}
	return (n);
}

static inline void
groups_free(char **g, int n)
{
	while (n-- > 0) {
		free(g[n]);
	}
}

/* 1 if a line of s (CRLF lines) starts with prefix. */
static inline int
has_line(const char *s, const char *prefix)
{
	const char *p = s;
	size_t n = strlen(prefix);

	for (;;) {
		if (strncasecmp(p, prefix, n) == 0) {
			return (1);
		}
		if ((p = strstr(p, "\r\n")) == NULL) {
			return (0);
		}
		p += 2;
	}
}

#endif
