/*
 * NAME
 *	test_dsn - unit tests of pm_dsn (RFC 3464 notices)
 * DESCRIPTION
 *	Every notice built here is parsed back by a small MIME reader in
 *	this file (notice_parse) and checked: CRLF line ends only (no bare
 *	CR or LF), lines of at most 998 bytes, 7-bit headers, the required
 *	top-level headers, three body parts between the boundary
 *	delimiters and a closing delimiter, the part types, and the
 *	delivery-status fields RFC 3464 requires (Reporting-MTA per
 *	message; Final-Recipient, Action, Status per recipient).
 *	Tables: each kind with each RET and size; NOTIFY filtering;
 *	routing (double bounces); pm_dsn_split; hostile input (huge text,
 *	CR/LF in every field, bare CR/LF/NUL and 8-bit bytes in the
 *	original, the boundary inside the original, a truncated original,
 *	a small output limit).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_dsn.h"
#include "pm_util.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK()                                                    \
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks found")
#else
#define LEAK_CHECK()
#endif

#define QID "4Hx2ZZZZZZZ00000001"
#define NQID "4Hx2ZZZZZZZ00000002"
#define NOW_US 1700000000000000LL
#define HOST "mx.example.net"

static const char orig_msg[] =
    "Received: from client.example.org\r\n"
    "\tby mx.example.net with ESMTP\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.com\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "BODY-MARKER line one\r\n"
    "line two\r\n";

typedef struct part {
	char *hdrs;             /* header block, lines CRLF-joined */
	char *body;
} part;

typedef struct notice {
	char *hdrs;
	char boundary[128];
	part parts[8];
	int nparts;
	int closed;             /* the closing delimiter was found */
} notice;

static pm_dsn_cfg
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

static pm_dsn_orig
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
static void
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
static char *
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

static void
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
static void
split_hb(const char *s, size_t len, char **hdrs, char **body)
{
	const char *sep = memmem(s, len, "\r\n\r\n", 4);

	cr_assert(sep != NULL, "no empty line after the headers");
	*hdrs = pm_strndup(s, (size_t) (sep - s) + 2);
	*body = pm_strndup(sep + 4, len - (size_t) (sep + 4 - s));
}

static void
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
static void
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
		    *p == '\n' || *p == '\t', "8-bit or control byte 0x%02x "
		    "in the headers", (unsigned char) *p);
	}
	want_hdr(n->hdrs, "From", "MAILER-DAEMON@example.net (Mail Delivery "
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
	cr_assert(v != NULL && strncmp(v, "multipart/report; "
	    "report-type=delivery-status;", 45) == 0, "Content-Type: got %s",
	    v ? v : "(none)");
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
			cr_assert(q + strlen(close) == end, "data after the "
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
static int
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

static void
groups_free(char **g, int n)
{
	while (n-- > 0) {
		free(g[n]);
	}
}

/* Notices of every kind, with RET and size variants. */
Test(dsn, kinds_and_ret)
{
	static const struct {
		int kind;
		int ret;
		size_t limit;
		const char *subject;
		const char *action;
		const char *status;     /* from "4.1.1" or "5.1.1" input */
		const char *otype;      /* type of the third part */
		int body;               /* 1: body marker returned */
		const char *phrase;     /* in the text part */
	} t[] = {
		{ PM_NOTICE_FAILED, PM_RET_UNSET, 50000,
		    "Undelivered Mail Returned to Sender", "failed", "5.1.1",
		    "message/rfc822", 1, "could not\r\nbe delivered to one" },
		{ PM_NOTICE_FAILED, PM_RET_FULL, 50000,
		    "Undelivered Mail Returned to Sender", "failed", "5.1.1",
		    "message/rfc822", 1, "It's attached below." },
		{ PM_NOTICE_FAILED, PM_RET_HDRS, 50000,
		    "Undelivered Mail Returned to Sender", "failed", "5.1.1",
		    "text/rfc822-headers", 0, "I'm sorry to have to inform" },
		{ PM_NOTICE_FAILED, PM_RET_FULL, 160,
		    "Undelivered Mail Returned to Sender", "failed", "5.1.1",
		    "text/rfc822-headers", 0, "This is the mail system at "
		    "host " HOST "." },
		{ PM_NOTICE_DELAYED, PM_RET_FULL, 50000,
		    "Delayed Mail (still being retried)", "delayed", "4.1.1",
		    "text/rfc822-headers", 0, "Your message could not be "
		    "delivered for 4 hours.\r\nIt will be retried until it "
		    "is 5 days old." },
		{ PM_NOTICE_DELIVERED, PM_RET_FULL, 50000,
		    "Successful Mail Delivery Report", "delivered", "2.1.1",
		    "text/rfc822-headers", 0, "successfully delivered" },
		{ PM_NOTICE_RELAYED, PM_RET_UNSET, 50000,
		    "Successful Mail Delivery Report", "relayed", "2.1.1",
		    "text/rfc822-headers", 0, "successfully delivered" },
	};
	pm_notice_rcpt r[2] = {
		{ "bob@example.com", "rfc822;Bob@Example.COM",
		    PM_NOTIFY_FAILURE | PM_NOTIFY_DELAY |
		    PM_NOTIFY_SUCCESS, "4.1.1", "550 5.1.1 <bob@example."
		    "com>: Recipient address rejected: User unknown",
		    "mx.example.com[192.0.2.1]:25", NOW_US - 1000000 },
		{ "carol@example.com", "list@example.org",
		    PM_NOTIFY_FAILURE | PM_NOTIFY_DELAY |
		    PM_NOTIFY_SUCCESS, "bogus", "connect to "
		    "mx.example.com: Connection refused", "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pm_dsn_cfg c = cfg_default();
		pm_dsn_orig o = orig_default();
		pm_dsn_info info;
		pm_buf out;
		notice n;
		char *g[8], *v, want[64];
		int ng, err;

		c.bounce_size_limit = t[i].limit;
		o.ret = t[i].ret;
		pm_buf_init(&out, 1024 * 1024);
		err = pm_dsn_build(t[i].kind, PM_DSN_TO_SENDER, &o, r, 2, &c,
		    "alice@example.org", &out, &info);
		cr_assert(err == 0, "[%zu] got %d, want 0", i, err);
		cr_assert(info.nlisted == 2, "[%zu] listed %zu, want 2", i,
		    info.nlisted);
		cr_assert(info.body_type == PM_BODYTYPE_7BIT && !info.smtputf8,
		    "[%zu] body type %d", i, info.body_type);
		notice_parse(&out, &n);
		want_hdr(n.hdrs, "Subject", t[i].subject);
		want_hdr(n.hdrs, "To", "alice@example.org");
		want_hdr(n.parts[2].hdrs, "Content-Type", t[i].otype);
		cr_assert(info.full == (strcmp(t[i].otype, "message/rfc822") ==
		    0), "[%zu] full %d", i, info.full);
		cr_assert(strstr(n.parts[0].body, t[i].phrase) != NULL,
		    "[%zu] text part lacks \"%s\":\n%s", i, t[i].phrase,
		    n.parts[0].body);
		cr_assert(strstr(n.parts[0].body, "<bob@example.com>:") !=
		    NULL, "[%zu] no recipient line", i);
		cr_assert((strstr(n.parts[2].body, "BODY-MARKER") != NULL) ==
		    t[i].body, "[%zu] body returned: got %d, want %d", i,
		    !t[i].body, t[i].body);
		cr_assert(strstr(n.parts[2].body, "Subject: hello\r\n") !=
		    NULL, "[%zu] original headers missing", i);

		ng = status_groups(&n.parts[1], g, 8);
		cr_assert(ng == 3, "[%zu] got %d status groups, want 3", i,
		    ng);
		want_hdr(g[0], "Reporting-MTA", "dns; " HOST);
		want_hdr(g[0], "X-Postmesh-Queue-ID", QID);
		want_hdr(g[0], "X-Postmesh-Sender", "rfc822; "
		    "alice@example.org");
		want_hdr(g[0], "Original-Envelope-Id", "ENV123");
		want_hdr(g[0], "Arrival-Date", NULL);
		want_hdr(g[1], "Final-Recipient", "rfc822; bob@example.com");
		want_hdr(g[1], "Original-Recipient", "rfc822; "
		    "Bob@Example.COM");
		want_hdr(g[1], "Action", t[i].action);
		want_hdr(g[1], "Status", t[i].status);
		want_hdr(g[1], "Remote-MTA", "dns; mx.example.com");
		want_hdr(g[1], "Diagnostic-Code", "smtp; 550 5.1.1 "
		    "<bob@example.com>: Recipient address rejected: User "
		    "unknown");
		want_hdr(g[1], "Last-Attempt-Date", NULL);
		want_hdr(g[2], "Final-Recipient", "rfc822; carol@example.com");
		want_hdr(g[2], "Original-Recipient", "rfc822; "
		    "list@example.org");
		snprintf(want, sizeof(want), "%c.0.0", t[i].status[0]);
		want_hdr(g[2], "Status", want);
		v = hdr_get(g[2], "Remote-MTA");
		cr_assert(v == NULL, "[%zu] Remote-MTA without a host: %s", i,
		    v);
		want_hdr(g[2], "Diagnostic-Code", "X-Postmesh; connect to "
		    "mx.example.com: Connection refused");
		v = hdr_get(g[1], "Will-Retry-Until");
		cr_assert((v != NULL) == (t[i].kind == PM_NOTICE_DELAYED),
		    "[%zu] Will-Retry-Until: %s", i, v ? v : "(none)");
		free(v);
		/* text: "expanded from" only for a different rfc822 orcpt */
		cr_assert(strstr(n.parts[0].body, "<carol@example.com> "
		    "(expanded from <list@example.org>):") != NULL,
		    "[%zu] no expanded-from line", i);
		cr_assert(strstr(n.parts[0].body, "<bob@example.com> "
		    "(expanded") == NULL, "[%zu] orcpt of another case", i);
		groups_free(g, ng);
		notice_free(&n);
		pm_buf_free(&out);
	}
	LEAK_CHECK();
}

/* NOTIFY filtering, alone and in a notice. */
Test(dsn, notify_filter)
{
	static const struct {
		int kind;
		unsigned notify;
		int want;
	} t[] = {
		{ PM_NOTICE_FAILED, 0, 1 },
		{ PM_NOTICE_DELAYED, 0, 1 },
		{ PM_NOTICE_DELIVERED, 0, 0 },
		{ PM_NOTICE_RELAYED, 0, 0 },
		{ PM_NOTICE_FAILED, PM_NOTIFY_NEVER, 0 },
		{ PM_NOTICE_DELAYED, PM_NOTIFY_NEVER, 0 },
		{ PM_NOTICE_FAILED, PM_NOTIFY_SUCCESS, 0 },
		{ PM_NOTICE_DELIVERED, PM_NOTIFY_SUCCESS, 1 },
		{ PM_NOTICE_RELAYED, PM_NOTIFY_SUCCESS, 1 },
		{ PM_NOTICE_DELAYED, PM_NOTIFY_FAILURE, 0 },
		{ PM_NOTICE_FAILED, PM_NOTIFY_FAILURE, 1 },
		{ PM_NOTICE_DELAYED, PM_NOTIFY_DELAY, 1 },
		{ PM_NOTICE_FAILED, PM_NOTIFY_NEVER |
		    PM_NOTIFY_FAILURE, 0 },
		{ 0, PM_NOTIFY_FAILURE, 0 },
		{ 5, PM_NOTIFY_SUCCESS, 0 },
	};
	pm_notice_rcpt r[4] = {
		{ "a@x.test", "", 0, "5.1.1", "550 no", "mx", 0 },
		{ "b@x.test", "", PM_NOTIFY_NEVER, "5.1.1", "550 no",
		    "mx", 0 },
		{ "c@x.test", "", PM_NOTIFY_SUCCESS, "5.1.1", "550 no",
		    "mx", 0 },
		{ "d@x.test", "", PM_NOTIFY_FAILURE, "5.1.1", "550 no",
		    "mx", 0 },
	};
	pm_dsn_cfg c = cfg_default();
	pm_dsn_orig o = orig_default();
	pm_dsn_info info;
	pm_buf out;
	notice n;
	size_t i;
	int err;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert(pm_dsn_wanted(t[i].kind, t[i].notify) == t[i].want,
		    "[%zu] kind %d notify %u: got %d, want %d", i, t[i].kind,
		    t[i].notify, !t[i].want, t[i].want);
	}
	pm_buf_init(&out, 0);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, r, 4, &c,
	    "alice@example.org", &out, &info);
	cr_assert(err == 0 && info.nlisted == 2, "got %d/%zu, want 0/2", err,
	    info.nlisted);
	notice_parse(&out, &n);
	cr_assert(strstr(n.parts[1].body, "a@x.test") != NULL &&
	    strstr(n.parts[1].body, "d@x.test") != NULL, "a or d missing");
	cr_assert(strstr(out.data, "b@x.test") == NULL &&
	    strstr(out.data, "c@x.test") == NULL, "b or c listed");
	notice_free(&n);

	/* nobody asked for success: nothing is written */
	pm_buf_reset(&out);
	err = pm_dsn_build(PM_NOTICE_DELIVERED, PM_DSN_TO_SENDER, &o, r, 2,
	    &c, "alice@example.org", &out, &info);
	cr_assert(err == PM_ENOENT && out.len == 0, "got %d/%zu, want %d/0",
	    err, out.len, PM_ENOENT);

	/* a double bounce lists everyone whatever NOTIFY says */
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_POSTMASTER, &o, r, 4,
	    &c, "postmaster@example.net", &out, &info);
	cr_assert(err == 0 && info.nlisted == 4, "got %d/%zu, want 0/4", err,
	    info.nlisted);
	notice_parse(&out, &n);
	want_hdr(n.hdrs, "Subject", "Postmaster Copy: Undelivered Mail");
	want_hdr(n.hdrs, "To", "postmaster@example.net");
	notice_free(&n);
	pm_buf_free(&out);
	LEAK_CHECK();
}

/* Who gets a notice: the rules that keep notices from looping. */
Test(dsn, route)
{
	static const struct {
		int kind;
		const char *sender;
		int want;
	} t[] = {
		{ PM_NOTICE_FAILED, "alice@example.org", PM_DSN_TO_SENDER },
		{ PM_NOTICE_DELAYED, "alice@example.org", PM_DSN_TO_SENDER },
		{ PM_NOTICE_RELAYED, "alice@example.org", PM_DSN_TO_SENDER },
		{ PM_NOTICE_FAILED, "", PM_DSN_TO_POSTMASTER },
		{ PM_NOTICE_DELAYED, "", PM_DSN_DISCARD },
		{ PM_NOTICE_DELIVERED, "", PM_DSN_DISCARD },
		{ PM_NOTICE_FAILED, NULL, PM_DSN_TO_POSTMASTER },
		{ PM_NOTICE_FAILED, "double-bounce@example.net",
		    PM_DSN_DISCARD },
		{ PM_NOTICE_FAILED, "Double-Bounce@EXAMPLE.net",
		    PM_DSN_DISCARD },
		{ PM_NOTICE_DELAYED, "double-bounce@example.net",
		    PM_DSN_DISCARD },
		{ PM_NOTICE_FAILED, "double-bounce@other.test",
		    PM_DSN_TO_SENDER },
	};
	static const struct {
		const char *addr;
		const char *origin;
		const char *want;
	} q[] = {
		{ "double-bounce", "example.net", "double-bounce@example.net" },
		{ "postmaster@hq.test", "example.net", "postmaster@hq.test" },
		{ "postmaster", "", "postmaster" },
		{ "", "example.net", "" },
	};
	size_t i;
	char *s;
	int got;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		got = pm_dsn_route(t[i].kind, t[i].sender,
		    "double-bounce@example.net");
		cr_assert(got == t[i].want, "[%zu] %s: got %d, want %d", i,
		    t[i].sender ? t[i].sender : "(null)", got, t[i].want);
	}
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		s = pm_dsn_qualify(q[i].addr, q[i].origin);
		cr_assert(strcmp(s, q[i].want) == 0, "[%zu] got %s, want %s",
		    i, s, q[i].want);
		free(s);
	}
	LEAK_CHECK();
}

/* The status code at the start of an error/discard nexthop. */
Test(dsn, split)
{
	static const struct {
		const char *text;
		const char *def;
		const char *dsn;
		const char *rest;
	} t[] = {
		{ "User unknown in virtual alias table", "5.0.0", "5.0.0",
		    "User unknown in virtual alias table" },
		{ "5.1.1 User unknown", "5.0.0", "5.1.1", "User unknown" },
		{ "4.1.1  soon", "5.0.0", "5.1.1", "soon" },
		{ "5.7.1 policy", "4.0.0", "4.7.1", "policy" },
		{ "2.0.0", "2.0.0", "2.0.0", "" },
		{ "5.1.1x bad", "5.0.0", "5.0.0", "5.1.1x bad" },
		{ "6.1.1 bad class", "5.0.0", "5.0.0", "6.1.1 bad class" },
		{ "5.1111.1 long", "5.0.0", "5.0.0", "5.1111.1 long" },
		{ "5.1. x", "5.0.0", "5.0.0", "5.1. x" },
		{ "", "2.0.0", "2.0.0", "" },
		{ NULL, "4.0.0", "4.0.0", "" },
	};
	const char *rest;
	char dsn[16];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pm_dsn_split(t[i].text, t[i].def, dsn, &rest);
		cr_assert(strcmp(dsn, t[i].dsn) == 0 && strcmp(rest,
		    t[i].rest) == 0, "[%zu] got %s \"%s\", want %s \"%s\"",
		    i, dsn, rest, t[i].dsn, t[i].rest);
	}
	LEAK_CHECK();
}

/* 1 if a line of s (CRLF lines) starts with prefix. */
static int
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

/* Hostile values in every field, hostile original content. */
Test(dsn, hostile)
{
	static const char evil_orig[] =
	    "Subject: bare\nX-Bare-CR: a\rb\r\nNul: a\0b\r\n\r\n"
	    "caf\xc3\xa9\nno final line end";
	static const struct {
		const char *content;
		size_t len;             /* 0: strlen */
		int ret;
		int eight;              /* want an 8bit part */
		const char *in3;        /* in the third part */
	} t[] = {
		{ evil_orig, sizeof(evil_orig) - 1, PM_RET_FULL, 1,
		    "caf\xc3\xa9\r\nno final line end\r\n" },
		{ evil_orig, sizeof(evil_orig) - 1, PM_RET_HDRS, 0,
		    "X-Bare-CR: a\r\nb\r\nNul: a b\r\n" },
		{ "Subject: no body, no line end", 0, PM_RET_HDRS, 0,
		    "Subject: no body, no line end\r\n" },
		{ "", 0, PM_RET_FULL, 0, "" },
		{ "Subject: \xff\r\n\r\nx\r\n", 0, PM_RET_HDRS, 1,
		    "Subject: \xff\r\n" },
	};
	char *huge = pm_malloc(200001), *inj;
	pm_notice_rcpt r[1];
	size_t i;

	memset(huge, 'x', 200000);
	for (i = 0; i < 200000; i += 37) {
		huge[i] = ' ';
	}
	huge[200000] = 0;
	inj = "550 bad\r\nX-Injected: yes\r\n\r\n--\nContent-Type: text/html"
	    "\r\n\xff\x01 end";
	for (i = 0; i < sizeof(t) * 2 / sizeof(t[0]); i++) {
		pm_dsn_cfg c = cfg_default();
		pm_dsn_orig o = orig_default();
		pm_dsn_info info;
		pm_buf out;
		notice n;
		char *g[4], *v;
		int ng, err, k = (int) (i % (sizeof(t) / sizeof(t[0])));

		r[0].address = "bob@x.test\r\nX-Injected: rcpt";
		r[0].orcpt = "rfc822;o@x.test\r\nX-Injected: orcpt";
		r[0].notify = 0;
		r[0].dsn = "5.1.1\r\nX-Injected: dsn";
		r[0].text = i < sizeof(t) / sizeof(t[0]) ? inj : huge;
		r[0].remote_mta = "mx\r\nX-Injected: mta[1.2.3.4]";
		r[0].last_attempt_us = 0;
		o.envid = "E\r\nX-Injected: envid";
		o.sender = "a\r\nX-Injected: sender@x.test";
		o.content = t[k].content;
		o.len = t[k].len > 0 ? t[k].len : strlen(t[k].content);
		o.ret = t[k].ret;
		pm_buf_init(&out, 0);
		err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, r, 1,
		    &c, o.sender, &out, &info);
		cr_assert(err == 0, "[%zu] got %d, want 0", i, err);
		notice_parse(&out, &n);
		cr_assert(!has_line(out.data, "X-Injected"), "[%zu] injected "
		    "a line:\n%s", i, out.data);
		cr_assert(!has_line(out.data, "Content-Type: text/html"),
		    "[%zu] injected a MIME header", i);
		cr_assert(info.body_type == (t[k].eight ? PM_BODYTYPE_8BITMIME :
		    PM_BODYTYPE_7BIT), "[%zu] body type %d", i,
		    info.body_type);
		v = hdr_get(n.parts[2].hdrs, "Content-Transfer-Encoding");
		cr_assert((v != NULL && strcmp(v, "8bit") == 0) == t[k].eight,
		    "[%zu] part encoding %s", i, v ? v : "(none)");
		free(v);
		cr_assert(strstr(n.parts[2].body, t[k].in3) != NULL,
		    "[%zu] third part lacks \"%s\":\n%s", i, t[k].in3,
		    n.parts[2].body);
		/* the text and status parts are 7-bit */
		for (v = n.parts[0].body; *v; v++) {
			cr_assert((unsigned char) *v < 0x80, "[%zu] 8-bit text",
			    i);
		}
		ng = status_groups(&n.parts[1], g, 4);
		cr_assert(ng == 2, "[%zu] got %d groups, want 2", i, ng);
		want_hdr(g[1], "Status", "5.0.0");
		v = hdr_get(g[1], "Diagnostic-Code");
		cr_assert(v != NULL && strlen(v) <= PM_DSN_TEXT_MAX + 32,
		    "[%zu] Diagnostic-Code of %zu bytes", i, v ? strlen(v) :
		    0);
		for (char *p = v; *p; p++) {
			cr_assert((unsigned char) *p >= 0x20 &&
			    (unsigned char) *p < 0x7f, "[%zu] control or 8-bit "
			    "byte in Diagnostic-Code", i);
		}
		free(v);
		groups_free(g, ng);
		notice_free(&n);
		pm_buf_free(&out);
	}
	free(huge);
	LEAK_CHECK();
}

/* The boundary changes when the original holds it; limits; SMTPUTF8. */
Test(dsn, boundary_limits_utf8)
{
	pm_notice_rcpt r = { "bob@x.test", "", 0, "5.1.1", "550 no", "", 0 };
	pm_dsn_cfg c = cfg_default();
	pm_dsn_orig o = orig_default();
	pm_dsn_info info;
	pm_buf out;
	notice n;
	char content[512], bnd[128];
	int err;

	snprintf(bnd, sizeof(bnd), "%s.%lld/%s", NQID, NOW_US / 1000000, HOST);
	snprintf(content, sizeof(content), "Subject: trap\r\n\r\n--%s\r\n"
	    "Content-Type: text/plain\r\n\r\nfake part\r\n--%s--\r\n", bnd,
	    bnd);
	o.content = content;
	o.len = strlen(content);
	pm_buf_init(&out, 0);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    "alice@example.org", &out, &info);
	cr_assert(err == 0, "got %d, want 0", err);
	notice_parse(&out, &n);
	cr_assert(strcmp(n.boundary, bnd) != 0, "boundary %s kept", bnd);
	cr_assert(strstr(n.parts[2].body, "fake part") != NULL, "original "
	    "content lost");
	notice_free(&n);

	/* a long host name: the boundary is cut to 70 characters */
	c.myhostname = "a-very-long-host-name.with.many.labels.example."
	    "example.example.example.net";
	pm_buf_reset(&out);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    "alice@example.org", &out, &info);
	cr_assert(err == 0, "got %d, want 0", err);
	notice_parse(&out, &n);
	notice_free(&n);
	c = cfg_default();

	/* the caller's limit */
	pm_buf_free(&out);
	pm_buf_init(&out, 600);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    "alice@example.org", &out, &info);
	cr_assert(err == PM_ETOOBIG, "got %d, want %d", err, PM_ETOOBIG);
	pm_buf_free(&out);

	/* bad arguments */
	pm_buf_init(&out, 0);
	err = pm_dsn_build(5, PM_DSN_TO_SENDER, &o, &r, 1, &c, "a@b", &out,
	    &info);
	cr_assert(err == PM_EINVAL, "kind 5: got %d", err);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_DISCARD, &o, &r, 1, &c,
	    "a@b", &out, &info);
	cr_assert(err == PM_EINVAL, "route discard: got %d", err);
	cr_assert(out.len == 0, "wrote %zu bytes on error", out.len);

	/* a UTF-8 sender: kept in To: for SMTPUTF8 mail only */
	o = orig_default();
	o.sender = "j\xc3\xb6rg@example.org";
	o.flags = PM_MSG_SMTPUTF8;
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    o.sender, &out, &info);
	cr_assert(err == 0 && info.smtputf8 == 1, "got %d/%d, want 0/1", err,
	    info.smtputf8);
	cr_assert(strstr(out.data, "\r\nTo: j\xc3\xb6rg@example.org\r\n") !=
	    NULL, "UTF-8 To: missing");
	pm_buf_reset(&out);
	o.flags = 0;
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    o.sender, &out, &info);
	cr_assert(err == 0 && info.smtputf8 == 0, "got %d/%d, want 0/0", err,
	    info.smtputf8);
	notice_parse(&out, &n);
	want_hdr(n.hdrs, "To", "j??rg@example.org");
	notice_free(&n);
	pm_buf_free(&out);
	LEAK_CHECK();
}

/* Diagnostic-Code: the SMTP reply of a remote MTA, else X-Postmesh. */
Test(dsn, diagnostic)
{
	static const struct {
		const char *text;
		const char *remote;
		const char *want;
	} t[] = {
		{ "550 5.1.1 User unknown", "mx[192.0.2.1]:25",
		    "smtp; 550 5.1.1 User unknown" },
		{ "host mx[192.0.2.1] said: 550 5.1.1 User unknown (in reply "
		    "to RCPT TO command)", "mx[192.0.2.1]:25",
		    "smtp; 550 5.1.1 User unknown" },
		{ "host mx[192.0.2.1] said: 451-4.3.0 try later", "",
		    "smtp; 451-4.3.0 try later" },
		{ "550 local text that looks like a reply", "",
		    "X-Postmesh; 550 local text that looks like a reply" },
		{ "host x said: no code here", "mx",
		    "X-Postmesh; host x said: no code here" },
		{ "User unknown in virtual alias table", "",
		    "X-Postmesh; User unknown in virtual alias table" },
		{ "55", "mx", "X-Postmesh; 55" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pm_notice_rcpt r = { "a@x.test", "", 0, "5.1.1", t[i].text,
		    t[i].remote, 0 };
		pm_dsn_cfg c = cfg_default();
		pm_dsn_orig o = orig_default();
		pm_dsn_info info;
		pm_buf out;
		notice n;
		char *g[4];
		int ng, err;

		pm_buf_init(&out, 0);
		err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r,
		    1, &c, "alice@example.org", &out, &info);
		cr_assert(err == 0, "[%zu] got %d, want 0", i, err);
		notice_parse(&out, &n);
		ng = status_groups(&n.parts[1], g, 4);
		cr_assert(ng == 2, "[%zu] got %d groups, want 2", i, ng);
		want_hdr(g[1], "Diagnostic-Code", t[i].want);
		cr_assert(strstr(n.parts[0].body, "said: host") == NULL,
		    "[%zu] text part says \"host\" twice", i);
		groups_free(g, ng);
		notice_free(&n);
		pm_buf_free(&out);
	}
	LEAK_CHECK();
}
