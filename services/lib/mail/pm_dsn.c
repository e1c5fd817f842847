/*
 * NAME
 *	pm_dsn - build RFC 3464 delivery status notifications (pure code)
 * SUMMARY
 *	#include "pm_dsn.h"
 * DESCRIPTION
 *	See pm_dsn.h for the contract and docs/dsn.md for an example;
 *	the routing, NOTIFY and status code rules are in pm_dsn_rules.c.
 *	This file writes the notice top-down: headers, the text part, the
 *	delivery-status part, the original. All text Postmesh writes goes
 *	through dsn_clean() (7-bit, no control characters) and is wrapped
 *	with w_wrap(), so no line is longer than PM_DSN_LINE_MAX and no
 *	CR or LF from a peer reaches the output except as a CRLF that
 *	pm_dsn itself writes. The original is copied by w_original().
 * LIMITS
 *	PM_DSN_TEXT_MAX, PM_DSN_ADDR_MAX, PM_DSN_HOST_MAX per value;
 *	bounce_size_limit for the returned original; the caller's pm_buf
 *	limit for the whole notice.
 * SECURITY
 *	Recipients, texts, the sender, ENVID and the content are untrusted
 *	(they come from SMTP peers through other roles).
 */
#include "pm_dsn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.pb-c.h"
#include "common.pb-c.h"
#include "pm_addr.h"
#include "pm_msghdr.h"

#define DSN_WIDTH 76 /* text and field lines wrap here */
#define DSN_INDENT "    "
#define DSN_BOUNDARY_MAX 70 /* RFC 2046 */
#define DSN_HDR_SCAN_LIMIT (1024 * 1024)

typedef struct dsn_kind {
	const char *action;
	char cls; /* status class digit */
	const char *subject;
	const char *orig_desc; /* Content-Description of headers only */
} dsn_kind;

static const dsn_kind dsn_kinds[] = {
	[PM_NOTICE_FAILED] = { "failed", '5',
	    "Undelivered Mail Returned to Sender",
	    "Undelivered Message Headers" },
	[PM_NOTICE_DELAYED] = { "delayed", '4',
	    "Delayed Mail (still being retried)", "Message Headers" },
	[PM_NOTICE_DELIVERED] = { "delivered", '2',
	    "Successful Mail Delivery Report", "Message Headers" },
	[PM_NOTICE_RELAYED] = { "relayed", '2',
	    "Successful Mail Delivery Report", "Message Headers" },
};

/* A writer: the first error sticks, later writes do nothing. */
typedef struct dsn_w {
	pm_buf *b;
	int err;
} dsn_w;

static void
w_put(dsn_w *w, const void *p, size_t len)
{
	int err;

	if (w->err == 0 && len > 0 &&
	    (err = pm_buf_append(w->b, p, len)) != 0) {
		w->err = err;
	}
}

static void
w_puts(dsn_w *w, const char *s)
{
	w_put(w, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
w_printf(dsn_w *w, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = pm_vasprintf(fmt, ap);
	va_end(ap);
	w_puts(w, s);
	free(s);
}

/*
 * Write s as lines of at most width columns, breaking at spaces (runs
 * of spaces become one); continuation lines start with DSN_INDENT. A
 * word too long for a line is split hard. Ends with CRLF.
 */
static void
w_wrap(dsn_w *w, const char *s, size_t width)
{
	const size_t ilen = strlen(DSN_INDENT);
	const size_t hard = PM_DSN_LINE_MAX - ilen;
	size_t col = 0, wl, n;
	const char *p = s, *q;

	for (;;) {
		while (*p == ' ') {
			p++;
		}
		if (*p == 0) {
			break;
		}
		for (q = p; *q != 0 && *q != ' '; q++) {
			/* find the end of the word */
		}
		wl = (size_t) (q - p);
		if (col > 0 && col + 1 + wl > width) {
			w_puts(w, "\r\n" DSN_INDENT);
			col = ilen;
		} else if (col > 0) {
			w_put(w, " ", 1);
			col++;
		}
		while (wl > 0) {
			n = wl < hard ? wl : hard;
			if (col + n > PM_DSN_LINE_MAX) {
				w_puts(w, "\r\n" DSN_INDENT);
				col = ilen;
			}
			w_put(w, p, n);
			col += n;
			p += n;
			wl -= n;
		}
	}
	w_puts(w, "\r\n");
}

/*
 * A clean copy of at most max bytes of s (NULL is ""): control
 * characters (CR, LF, TAB, NUL ...) become spaces, 8-bit bytes '?'
 * unless keep8, and leading/trailing white space goes. New string.
 */
static char *
dsn_clean(const char *s, size_t max, int keep8)
{
	size_t len, i;
	unsigned char c;
	char *out, *t;

	if (s == NULL) {
		s = "";
	}
	len = strnlen(s, max);
	out = pm_malloc(len + 1);
	for (i = 0; i < len; i++) {
		c = (unsigned char) s[i];
		if (c < 0x20 || c == 0x7f) {
			c = ' ';
		} else if (c >= 0x80 && !keep8) {
			c = '?';
		}
		out[i] = (char) c;
	}
	out[len] = 0;
	t = pm_trim(out);
	if (t != out) {
		memmove(out, t, strlen(t) + 1);
	}
	return (out);
}

/* A host name for Reporting-MTA, Message-Id and the boundary. */
static char *
dsn_host(const char *s)
{
	char *h = dsn_clean(s, PM_DSN_HOST_MAX, 0), *p;

	for (p = h; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		        (*p >= '0' && *p <= '9') || *p == '.' || *p == '-')) {
			*p = '-';
		}
	}
	if (*h == 0) {
		free(h);
		h = pm_strdup("localhost");
	}
	return (h);
}

/* 1 if any byte is 8-bit. */
static int
dsn_has8(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if ((unsigned char) p[i] >= 0x80) {
			return (1);
		}
	}
	return (0);
}

/* Status: a valid X.Y.Z with the class of the notice, else C.0.0. */
static void
dsn_status(const char *in, char cls, char out[16])
{
	if (in != NULL && strlen(in) < 16 && pm_dsn_status_valid(in)) {
		snprintf(out, 16, "%c%s", cls, in + 1);
	} else {
		snprintf(out, 16, "%c.0.0", cls);
	}
}

/* An RFC 5322 date for a time in microseconds (0 = now). */
static void
dsn_date(int64_t us, int64_t now_us, char *buf, size_t size)
{
	pm_mail_date((time_t) ((us > 0 ? us : now_us) / 1000000), buf, size);
}

/* "4 hours", "1 day", "30 minutes", "5 seconds". */
static void
dsn_duration(long secs, char *buf, size_t size)
{
	static const struct {
		long unit;
		const char *name;
	} u[] = {
		{ 86400, "day" },
		{ 3600, "hour" },
		{ 60, "minute" },
		{ 1, "second" },
	};
	size_t i;
	long n;

	if (secs < 0) {
		secs = 0;
	}
	for (i = 0; i < 4; i++) {
		/* days only when exact; else the largest unit, rounded */
		if ((i == 0 && secs >= u[i].unit && secs % u[i].unit == 0) ||
		    (i > 0 && secs >= u[i].unit) || i == 3) {
			n = (secs + u[i].unit / 2) / u[i].unit;
			snprintf(buf, size, "%ld %s%s", n, u[i].name,
			    n == 1 ? "" : "s");
			return;
		}
	}
}

/*
 * Split an ORCPT ("rfc822;addr", "rfc822; addr" or a bare "addr")
 * into its type and address (new, clean strings); 0 if there is none.
 */
static int
dsn_orcpt(const char *orcpt, char **type, char **addr)
{
	const char *semi, *p;
	int typed = 0;

	if (orcpt == NULL || *orcpt == 0) {
		return (0);
	}
	if ((semi = strchr(orcpt, ';')) != NULL && semi > orcpt &&
	    semi - orcpt <= 32) {
		typed = 1;
		for (p = orcpt; p < semi; p++) {
			if (!((*p >= 'a' && *p <= 'z') ||
			        (*p >= 'A' && *p <= 'Z') ||
			        (*p >= '0' && *p <= '9') || *p == '-')) {
				typed = 0;
				break;
			}
		}
	}
	if (typed) {
		*type =
		    pm_lowercase(pm_strndup(orcpt, (size_t) (semi - orcpt)));
		*addr = dsn_clean(semi + 1, PM_DSN_ADDR_MAX, 0);
	} else {
		*type = pm_strdup("rfc822");
		*addr = dsn_clean(orcpt, PM_DSN_ADDR_MAX, 0);
	}
	if (**addr == 0) {
		free(*type);
		free(*addr);
		return (0);
	}
	return (1);
}

/* The host name of "mx.example.com[192.0.2.1]:25" (clean, new). */
static char *
dsn_remote_host(const char *remote)
{
	char *h = dsn_clean(remote, PM_DSN_HOST_MAX, 0), *b, *e;

	if ((b = strchr(h, '[')) != NULL) {
		if (b > h) {
			*b = 0;
		} else if ((e = strchr(b, ']')) != NULL) {
			*e = 0;
			memmove(h, b + 1, strlen(b + 1) + 1);
		}
	}
	return (h);
}

/* 1 if the text starts like an SMTP reply ("550 ...", "451-..."). */
static int
dsn_smtp_reply(const char *text)
{
	return (text[0] >= '2' && text[0] <= '5' && text[1] >= '0' &&
	    text[1] <= '9' && text[2] >= '0' && text[2] <= '9' &&
	    (text[3] == 0 || text[3] == ' ' || text[3] == '-'));
}

/*
 * The remote reply in Postfix-style agent text: "host X said: 550 ...
 * (in reply to RCPT TO command)" gives "550 ..." (the text is cut in
 * place); other text is returned as it is.
 */
static char *
dsn_diag(char *text)
{
	char *said, *in;
	size_t len;

	if (strncmp(text, "host ", 5) != 0 ||
	    (said = strstr(text, " said: ")) == NULL ||
	    !dsn_smtp_reply(said + 7)) {
		return (text);
	}
	said += 7;
	len = strlen(said);
	if (len > 0 && said[len - 1] == ')' &&
	    (in = strstr(said, " (in reply to ")) != NULL) {
		*in = 0;
	}
	return (said);
}

/* What pm_dsn_build() needs in every part, cleaned once. */
typedef struct dsn_ctx {
	int kind;
	int route;
	const dsn_kind *k;
	const pm_dsn_orig *orig;
	const pm_dsn_cfg *cfg;
	char *host; /* myhostname, cleaned */
	char boundary[DSN_BOUNDARY_MAX + 1];
} dsn_ctx;

static void
w_headers(dsn_w *w, const dsn_ctx *x, const char *to, int eight,
    pm_dsn_info *info)
{
	const pm_dsn_cfg *c = x->cfg;
	char date[128], *origin, *rcpt, *quoted;
	int keep8 = (x->orig->flags & PM_MSG_SMTPUTF8) != 0;
	time_t now = (time_t) (c->now_us / 1000000);
	struct tm tm;

	origin = dsn_host(c->myorigin != NULL && *c->myorigin ? c->myorigin :
	                                                        c->myhostname);
	rcpt = dsn_clean(to, PM_DSN_ADDR_MAX, keep8);
	quoted = pm_quote_822_local(rcpt);
	info->smtputf8 = dsn_has8(quoted, strlen(quoted));
	pm_mail_date(now, date, sizeof(date));
	w_printf(w, "Date: %s\r\n", date);
	w_printf(w, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n",
	    origin);
	w_printf(w, "Subject: %s\r\n",
	    x->route == PM_DSN_TO_POSTMASTER ?
	        "Postmaster Copy: Undelivered Mail" :
	        x->k->subject);
	w_printf(w, "To: %s\r\n", quoted);
	w_puts(w, "Auto-Submitted: auto-replied\r\n");
	w_puts(w, "MIME-Version: 1.0\r\n");
	w_printf(w,
	    "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n",
	    x->boundary);
	w_printf(w, "Content-Transfer-Encoding: %s\r\n",
	    eight ? "8bit" : "7bit");
	gmtime_r(&now, &tm);
	w_printf(w, "Message-Id: <%04d%02d%02d%02d%02d%02d.%s@%s>\r\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, x->cfg->notice_qid, x->host);
	w_puts(w, "\r\n");
	w_puts(w, "This is a MIME-encapsulated message.\r\n\r\n");
	free(origin);
	free(rcpt);
	free(quoted);
}

static void
w_part_start(dsn_w *w, const dsn_ctx *x, const char *desc, const char *type,
    int eight)
{
	w_printf(w, "--%s\r\n", x->boundary);
	w_printf(w, "Content-Description: %s\r\n", desc);
	w_printf(w, "Content-Type: %s\r\n", type);
	if (eight) {
		w_puts(w, "Content-Transfer-Encoding: 8bit\r\n");
	}
	w_puts(w, "\r\n");
}

static const char dsn_hashes[] =
    "####################################################################";

/* The wording of Postfix's default templates, per kind. */
static void
w_intro(dsn_w *w, const dsn_ctx *x)
{
	const pm_dsn_cfg *c = x->cfg;
	char d1[64], d2[64];
	long delay;

	w_printf(w, "This is the mail system at host %s.\r\n\r\n", x->host);
	switch (x->kind) {
	case PM_NOTICE_FAILED:
		w_puts(w,
		    "I'm sorry to have to inform you that your message "
		    "could not\r\nbe delivered to one or more recipients. "
		    "It's attached below.\r\n\r\n");
		break;
	case PM_NOTICE_DELAYED:
		delay = c->delay_secs;
		if (delay <= 0 && x->orig->arrival_us > 0) {
			delay = (long) ((c->now_us - x->orig->arrival_us) /
			    1000000);
		}
		dsn_duration(delay, d1, sizeof(d1));
		dsn_duration(c->lifetime_secs, d2, sizeof(d2));
		w_printf(w,
		    "%s\r\n# THIS IS A WARNING ONLY.  YOU DO NOT NEED "
		    "TO RESEND YOUR MESSAGE. #\r\n%s\r\n\r\n",
		    dsn_hashes, dsn_hashes);
		w_printf(w, "Your message could not be delivered for %s.\r\n",
		    d1);
		if (c->lifetime_secs > 0) {
			w_printf(w,
			    "It will be retried until it is %s "
			    "old.\r\n",
			    d2);
		}
		w_puts(w, "\r\n");
		break;
	default:
		w_puts(w,
		    "Your message was successfully delivered to the "
		    "destination(s)\r\nlisted below. If the message was "
		    "delivered to mailbox you will\r\nreceive no further "
		    "notifications. Otherwise you may still receive\r\n"
		    "notifications of mail delivery errors from other "
		    "systems.\r\n\r\n");
		w_puts(w, "                   The mail system\r\n\r\n");
		return;
	}
	w_puts(w,
	    "For further assistance, please send mail to postmaster."
	    "\r\n\r\nIf you do so, please include this problem report. You "
	    "can\r\ndelete your own text from the attached returned message."
	    "\r\n\r\n                   The mail system\r\n\r\n");
}

/* "<rcpt> (expanded from <orcpt>): host X said: TEXT" */
static void
w_rcpt_text(dsn_w *w, const dsn_ctx *x, const pm_notice_rcpt *r)
{
	char *addr = dsn_clean(r->address, PM_DSN_ADDR_MAX, 0);
	char *text = dsn_clean(r->text, PM_DSN_TEXT_MAX, 0);
	char *remote = dsn_clean(r->remote_mta, PM_DSN_HOST_MAX, 0);
	char *otype = NULL, *oaddr = NULL, *line;
	pm_buf b;

	pm_buf_init(&b, 0);
	pm_buf_printf(&b, "<%s>", addr);
	if (dsn_orcpt(r->orcpt, &otype, &oaddr)) {
		if (strcmp(otype, "rfc822") == 0 &&
		    !pm_strcaseeq(oaddr, addr)) {
			pm_buf_printf(&b, " (expanded from <%s>)", oaddr);
		}
		free(otype);
		free(oaddr);
	}
	pm_buf_puts(&b, ":");
	if (*remote != 0 && strncmp(text, "host ", 5) != 0 &&
	    strncmp(text, "delivery via ", 13) != 0) {
		pm_buf_printf(&b,
		    x->k->cls == '2' ? " delivery via %s:" : " host %s said:",
		    remote);
	}
	pm_buf_printf(&b, " %s",
	    *text                ? text :
	        x->k->cls == '2' ? "delivered" :
	        x->k->cls == '4' ? "delivery temporarily "
	                           "suspended" :
	                           "delivery failed");
	line = pm_buf_steal(&b, NULL);
	w_wrap(w, line, DSN_WIDTH);
	w_puts(w, "\r\n");
	free(line);
	free(addr);
	free(text);
	free(remote);
}

/* "Name: value" as one wrapped field line. */
static void
w_field(dsn_w *w, const char *name, const char *value)
{
	char *line = pm_asprintf("%s: %s", name, value);

	w_wrap(w, line, DSN_WIDTH);
	free(line);
}

static void
w_status_msg(dsn_w *w, const dsn_ctx *x)
{
	const pm_dsn_orig *o = x->orig;
	char date[128], *s;

	if (o->envid != NULL && *o->envid != 0) {
		s = dsn_clean(o->envid, PM_DSN_TEXT_MAX, 0);
		if (*s != 0) {
			w_field(w, "Original-Envelope-Id", s);
		}
		free(s);
	}
	s = pm_asprintf("dns; %s", x->host);
	w_field(w, "Reporting-MTA", s);
	free(s);
	s = dsn_clean(o->queue_id, PM_DSN_HOST_MAX, 0);
	w_field(w, "X-Postmesh-Queue-ID", s);
	free(s);
	s = dsn_clean(o->sender, PM_DSN_ADDR_MAX, 0);
	w_printf(w, "X-Postmesh-Sender: rfc822; %s\r\n", s);
	free(s);
	dsn_date(o->arrival_us, x->cfg->now_us, date, sizeof(date));
	w_field(w, "Arrival-Date", date);
}

static void
w_status_rcpt(dsn_w *w, const dsn_ctx *x, const pm_notice_rcpt *r)
{
	char status[16], date[128], *s, *otype, *oaddr, *host, *diag;
	char *text = dsn_clean(r->text, PM_DSN_TEXT_MAX, 0);
	int64_t until;

	w_puts(w, "\r\n");
	s = dsn_clean(r->address, PM_DSN_ADDR_MAX, 0);
	w_printf(w, "Final-Recipient: rfc822; %s\r\n", s);
	free(s);
	if (dsn_orcpt(r->orcpt, &otype, &oaddr)) {
		w_printf(w, "Original-Recipient: %s; %s\r\n", otype, oaddr);
		free(otype);
		free(oaddr);
	}
	w_printf(w, "Action: %s\r\n", x->k->action);
	dsn_status(r->dsn, x->k->cls, status);
	w_printf(w, "Status: %s\r\n", status);
	host = dsn_remote_host(r->remote_mta);
	if (*host != 0) {
		s = pm_asprintf("dns; %s", host);
		w_field(w, "Remote-MTA", s);
		free(s);
	}
	if (*text != 0) {
		diag = dsn_diag(text);
		s = pm_asprintf("%s; %s",
		    (*host != 0 || diag != text) && dsn_smtp_reply(diag) ?
		        "smtp" :
		        "X-Postmesh",
		    diag);
		w_field(w, "Diagnostic-Code", s);
		free(s);
	}
	free(host);
	free(text);
	dsn_date(r->last_attempt_us, x->cfg->now_us, date, sizeof(date));
	w_field(w, "Last-Attempt-Date", date);
	if (x->kind == PM_NOTICE_DELAYED && x->cfg->lifetime_secs > 0 &&
	    x->orig->arrival_us > 0) {
		until = x->orig->arrival_us +
		    (int64_t) x->cfg->lifetime_secs * 1000000;
		dsn_date(until, x->cfg->now_us, date, sizeof(date));
		w_field(w, "Will-Retry-Until", date);
	}
}

/*
 * Copy content with CRLF line ends only (bare CR and bare LF become
 * CRLF), NUL as space, lines broken at PM_DSN_LINE_MAX, and a final
 * CRLF. Runs of plain bytes are appended at once.
 */
static void
w_original(dsn_w *w, const char *p, size_t len)
{
	const char *end, *run = p;
	size_t col = 0;
	char c;

	if (len == 0) {
		return;
	}
	end = p + len;
	while (p < end) {
		c = *p;
		if (c != '\r' && c != '\n' && c != 0 && col < PM_DSN_LINE_MAX) {
			p++;
			col++;
			continue;
		}
		w_put(w, run, (size_t) (p - run));
		if (c == 0) {
			w_put(w, " ", 1);
			p++;
			col++;
		} else if (c == '\r' || c == '\n') {
			w_put(w, "\r\n", 2);
			p += (c == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
			col = 0;
		} else {
			w_put(w, "\r\n", 2); /* over-long line */
			col = 0;
		}
		run = p;
	}
	w_put(w, run, (size_t) (p - run));
	if (len > 0 && col > 0) {
		w_put(w, "\r\n", 2);
	}
}

/* Length of the original's header block (without the empty line). */
static size_t
dsn_header_len(const char *content, size_t len)
{
	pm_hdr_iter it;
	pm_hdr h;
	size_t n;

	if (len == 0) {
		return (0);
	}
	pm_hdr_iter_init(&it, content, len, DSN_HDR_SCAN_LIMIT);
	pm_hdr_init(&h);
	while (pm_hdr_next(&it, &h) == 1) {
		pm_buf_reset(&h.text);
	}
	pm_hdr_free(&h);
	n = (size_t) (it.p - content);
	if (it.blank) {
		/* drop the separator line: "\r\n" or "\n" */
		if (n > 0 && content[n - 1] == '\n') {
			n--;
		}
		if (n > 0 && content[n - 1] == '\r') {
			n--;
		}
	}
	return (n);
}

/* Cut at limit, at the end of a line if there is one before it. */
static size_t
dsn_cut(const char *content, size_t len, size_t limit)
{
	size_t n;

	if (len <= limit) {
		return (len);
	}
	for (n = limit; n > 0 && content[n - 1] != '\n'; n--) {
		/* back to a line end */
	}
	return (n > 0 ? n : limit);
}

/* Postfix's QID.time/host, changed until the content does not hold it. */
static void
dsn_boundary(dsn_ctx *x, const char *part, size_t len)
{
	char try[DSN_BOUNDARY_MAX + 3], *b;
	long long secs = (long long) (x->cfg->now_us / 1000000);
	unsigned n;

	for (n = 0;; n++) {
		b = n == 0 ? pm_asprintf("%s.%lld/%s", x->cfg->notice_qid, secs,
		                 x->host) :
		             pm_asprintf("%s.%lld.%u/%s", x->cfg->notice_qid,
		                 secs, n, x->host);
		/* at most 70 characters (RFC 2046): the host name is cut */
		snprintf(x->boundary, sizeof(x->boundary), "%s", b);
		free(b);
		snprintf(try, sizeof(try), "--%s", x->boundary);
		if (len == 0 || memmem(part, len, try, strlen(try)) == NULL ||
		    n >= 1000) {
			return;
		}
	}
}

int
pm_dsn_build(int kind, int route, const pm_dsn_orig *orig,
    const pm_notice_rcpt *rcpt, size_t nrcpt, const pm_dsn_cfg *cfg,
    const char *to, pm_buf *out, pm_dsn_info *info)
{
	dsn_ctx x;
	dsn_w w = { out, 0 };
	size_t i, listed = 0, plen;
	const char *part = orig != NULL ? orig->content : NULL;
	int full, eight;

	if (kind < PM_NOTICE_FAILED || kind > PM_NOTICE_RELAYED ||
	    (route != PM_DSN_TO_SENDER && route != PM_DSN_TO_POSTMASTER) ||
	    orig == NULL || cfg == NULL || to == NULL || out == NULL ||
	    info == NULL || (nrcpt > 0 && rcpt == NULL) ||
	    cfg->notice_qid == NULL || strlen(cfg->notice_qid) > 32 ||
	    (orig->len > 0 && orig->content == NULL)) {
		return (PM_EINVAL);
	}
	for (i = 0; i < nrcpt; i++) {
		if (route == PM_DSN_TO_POSTMASTER ||
		    pm_dsn_wanted(kind, rcpt[i].notify)) {
			listed++;
		}
	}
	if (listed == 0) {
		return (PM_ENOENT);
	}
	memset(&x, 0, sizeof(x));
	x.kind = kind;
	x.route = route;
	x.k = &dsn_kinds[kind];
	x.orig = orig;
	x.cfg = cfg;
	x.host = dsn_host(cfg->myhostname);

	/* The original: whole for failures unless RET=HDRS or too big. */
	full = kind == PM_NOTICE_FAILED && orig->ret != PM_RET_HDRS &&
	    orig->len <= cfg->bounce_size_limit;
	plen = orig->len;
	if (!full) {
		plen = dsn_cut(part, dsn_header_len(part, orig->len),
		    cfg->bounce_size_limit);
	}
	eight = dsn_has8(part, plen);
	dsn_boundary(&x, part, plen);

	w_headers(&w, &x, to, eight, info);
	w_part_start(&w, &x, "Notification", "text/plain; charset=us-ascii", 0);
	w_intro(&w, &x);
	for (i = 0; i < nrcpt; i++) {
		if (route == PM_DSN_TO_POSTMASTER ||
		    pm_dsn_wanted(kind, rcpt[i].notify)) {
			w_rcpt_text(&w, &x, &rcpt[i]);
		}
	}
	w_puts(&w, "\r\n");
	w_part_start(&w, &x, "Delivery report", "message/delivery-status", 0);
	w_status_msg(&w, &x);
	for (i = 0; i < nrcpt; i++) {
		if (route == PM_DSN_TO_POSTMASTER ||
		    pm_dsn_wanted(kind, rcpt[i].notify)) {
			w_status_rcpt(&w, &x, &rcpt[i]);
		}
	}
	w_puts(&w, "\r\n");
	w_part_start(&w, &x, full ? "Undelivered Message" : x.k->orig_desc,
	    full ? "message/rfc822" : "text/rfc822-headers", eight);
	w_original(&w, part, plen);
	w_printf(&w, "\r\n--%s--\r\n", x.boundary);
	free(x.host);
	if (w.err != 0) {
		return (w.err);
	}
	info->nlisted = listed;
	info->body_type = eight ? PM_BODYTYPE_8BITMIME : PM_BODYTYPE_7BIT;
	info->full = full;
	return (0);
}
