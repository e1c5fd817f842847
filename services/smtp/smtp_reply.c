/*
 * NAME
 *	smtp_reply - SMTP/LMTP server replies, EHLO keywords, xtext
 * DESCRIPTION
 *	A reply is one or more lines "NNN-text" ending with "NNN text" (or
 *	a bare "NNN"), as Postfix's smtp_chat_resp() reads them. A line
 *	that does not start with three digits and a space, a hyphen or
 *	its end is malformed: the reply ends there with code 0 (as
 *	Postfix does with pipelining on, so that garbage can never be
 *	taken for the reply of a later command).
 *
 *	The enhanced status code (RFC 3463) is taken from the last line
 *	when it starts with one whose class is the reply's first digit;
 *	else it is "2.0.0", "4.0.0" or "5.0.0" from the code (4.0.0 for
 *	anything but 2xx and 5xx).
 *
 *	smtp_ehlo_parse() reads the keywords of an EHLO/LHLO reply (all
 *	lines but the first): PIPELINING, SIZE [n], 8BITMIME, DSN,
 *	SMTPUTF8, CHUNKING, STARTTLS; case-insensitive.
 * LIMITS
 *	SMTP_REPLY_TEXT_MAX octets of text are kept (later lines are
 *	parsed, not stored); SMTP_REPLY_LINES_MAX lines per reply (the
 *	reader enforces it). The caller bounds each line
 *	(line_length_limit).
 * SECURITY
 *	Replies come from the network: any octets, any length; text is
 *	made printable before it is logged or stored.
 */
#include <stdio.h>
#include <string.h>

#include "smtp.h"
#include "pm_dsn.h"

void
smtp_reply_init(smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
	pm_buf_init(&r->text, SMTP_REPLY_TEXT_MAX);
}

void
smtp_reply_reset(smtp_reply *r)
{
	r->code = 0;
	r->dsn[0] = 0;
	r->nlines = 0;
	r->done = 0;
	pm_buf_reset(&r->text);
}

void
smtp_reply_free(smtp_reply *r)
{
	pm_buf_free(&r->text);
}

static int
is_digit(int c)
{
	return (c >= '0' && c <= '9');
}

int
smtp_dsn_parse(int code, const char *text, size_t len, char *dsn, size_t size)
{
	size_t i = pm_dsn_status_span(text, len);

	if (i == 0 || text[0] != '0' + code / 100) {
		return (PM_EINVAL);
	}
	if (i + 1 > size) {
		return (PM_ETOOBIG);
	}
	memcpy(dsn, text, i);
	dsn[i] = 0;
	return (0);
}

int
smtp_reply_add(smtp_reply *r, const char *line, size_t len)
{
	int code, last;
	const char *t;
	size_t tlen;

	if (r->done) {
		smtp_reply_reset(r);
	}
	r->nlines++;
	if (r->text.len > 0) {
		(void) pm_buf_append(&r->text, "\n", 1);
	}
	(void) pm_buf_append(&r->text, line, len);
	if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) ||
	    !is_digit(line[2]) ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		r->code = 0;
		snprintf(r->dsn, sizeof(r->dsn), "4.5.0");
		r->done = 1;
		return (1);
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	last = len == 3 || line[3] == ' ';
	if (!last) {
		return (0);
	}
	r->code = code >= 100 ? code : 0;
	t = len > 4 ? line + 4 : "";
	tlen = len > 4 ? len - 4 : 0;
	if (smtp_dsn_parse(code, t, tlen, r->dsn, sizeof(r->dsn)) != 0) {
		snprintf(r->dsn, sizeof(r->dsn), "%d.0.0",
		    code / 100 == 2 || code / 100 == 5 ? code / 100 : 4);
	}
	r->done = 1;
	return (1);
}

void
smtp_reply_flat(const smtp_reply *r, char *buf, size_t size)
{
	size_t i, n = 0;
	char c;

	if (size == 0) {
		return;
	}
	for (i = 0; i < r->text.len && n + 1 < size; i++) {
		c = r->text.data[i];
		if (c == '\n') {
			c = ' ';
		} else if ((unsigned char) c < 0x20 ||
		    (unsigned char) c > 0x7e) {
			c = '?';
		}
		buf[n++] = c;
	}
	buf[n] = 0;
}

/* Does the keyword [k, k+len) appear in the discard list? */
static int
discarded(char *const *discard, const char *k, size_t len)
{
	size_t i;

	for (i = 0; discard != NULL && discard[i] != NULL; i++) {
		if (strlen(discard[i]) == len &&
		    pm_strncaseeq(discard[i], k, len)) {
			return (1);
		}
	}
	return (0);
}

void
smtp_ehlo_parse(const smtp_reply *r, char *const *discard, smtp_features *f)
{
	const char *p = r->text.data, *end = p + r->text.len, *nl, *k, *v;
	size_t klen;
	unsigned long long n;
	int first = 1, digits;

	memset(f, 0, sizeof(*f));
	f->esmtp = 1;
	for (; p < end; p = nl + 1, first = 0) {
		if ((nl = memchr(p, '\n', (size_t) (end - p))) == NULL) {
			nl = end;
		}
		if (first || nl - p < 5) {
			continue;
		}
		k = p + 4;
		for (v = k; v < nl && *v != ' ' && *v != '='; v++) {
			/* keyword */
		}
		klen = (size_t) (v - k);
		if (discarded(discard, k, klen)) {
			continue;
		}
#define KW(s) (klen == sizeof(s) - 1 && pm_strncaseeq(k, s, klen))
		if (KW("PIPELINING")) {
			f->pipelining = 1;
		} else if (KW("8BITMIME")) {
			f->eightbitmime = 1;
		} else if (KW("DSN")) {
			f->dsn = 1;
		} else if (KW("SMTPUTF8")) {
			f->smtputf8 = 1;
		} else if (KW("CHUNKING")) {
			f->chunking = 1;
		} else if (KW("STARTTLS")) {
			f->starttls = 1;
		} else if (KW("SIZE")) {
			f->size = 1;
			while (v < nl && *v == ' ') {
				v++;
			}
			for (n = 0, digits = 0;
			     v < nl && is_digit(*v) && digits < 19;
			     v++, digits++) {
				n = n * 10 + (unsigned long long) (*v - '0');
			}
			f->size_max = digits < 19 ? n : 0;
		}
#undef KW
	}
}

int
smtp_xtext(pm_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char enc[3];
	int err = 0;

	for (p = (const unsigned char *) s; *p && err == 0; p++) {
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=') {
			enc[0] = '+';
			enc[1] = hex[*p >> 4];
			enc[2] = hex[*p & 15];
			err = pm_buf_append(out, enc, 3);
		} else {
			err = pm_buf_append(out, p, 1);
		}
	}
	return (err);
}
