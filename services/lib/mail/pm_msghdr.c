/*
 * NAME
 *	pm_msghdr - message header block parsing (RFC 5322), Postfix style
 * DESCRIPTION
 *	See pm_msghdr.h. Used by cleanup (header processing) and unit
 *	tested on its own (tests/unit/test_cleanup.c).
 * LIMITS
 *	The caller's header size limit bounds every logical header.
 * SECURITY
 *	Never reads past the content length; every byte value is allowed.
 */
#include "pm_msghdr.h"

#include <stdio.h>
#include <string.h>

#include "pm_addr.h"

#define IS_SPACE_TAB(c) ((c) == ' ' || (c) == '\t')

/* One physical line at p: [p, p+len) without line end; *next after it. */
static size_t
hdr_line(const char *p, const char *end, const char **next, int *crlf)
{
	const char *nl = memchr(p, '\n', (size_t) (end - p));
	size_t len;

	if (nl == NULL) {
		*next = end;
		*crlf = 0;
		return ((size_t) (end - p));
	}
	*next = nl + 1;
	len = (size_t) (nl - p);
	if (len > 0 && p[len - 1] == '\r') {
		*crlf = 1;
		return (len - 1);
	}
	*crlf = 0;
	return (len);
}

void
pm_hdr_iter_init(pm_hdr_iter *it, const void *content, size_t len,
    size_t header_size_limit)
{
	it->p = content;
	it->end = it->p + len;
	it->limit = header_size_limit > 0 ? header_size_limit : 1;
	it->done = 0;
	it->blank = 0;
}

void
pm_hdr_init(pm_hdr *h)
{
	memset(h, 0, sizeof(*h));
	pm_buf_init(&h->text, 0);
}

void
pm_hdr_free(pm_hdr *h)
{
	pm_buf_free(&h->text);
}

size_t
pm_hdr_namelen(const char *line, size_t len)
{
	size_t i, namelen = 0;
	int in_space = 0;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char) line[i];
		if (c == ':') {
			return (namelen);
		}
		if (IS_SPACE_TAB(c)) {
			if (namelen == 0) {
				return (0);
			}
			in_space = 1;
			continue;
		}
		if (c < 0x21 || c > 0x7e || in_space) {
			return (0);
		}
		namelen++;
	}
	return (0);
}

/* Append within the header size limit; remember a cut. */
static void
hdr_add(pm_hdr *h, size_t limit, const char *s, size_t n)
{
	size_t room;

	if (h->truncated) {
		return;
	}
	room = h->text.len < limit ? limit - h->text.len : 0;
	if (n > room) {
		n = room;
		h->truncated = 1;
	}
	if (n > 0 && pm_buf_append(&h->text, s, n) != 0) {
		h->truncated = 1;
	}
}

int
pm_hdr_next(pm_hdr_iter *it, pm_hdr *h)
{
	const char *line, *next;
	size_t len, namelen, colon;
	int crlf, clean;

	if (it->done) {
		return (0);
	}
	if (it->p >= it->end) {
		it->done = 1;
		it->blank = 0;
		return (0);
	}
	line = it->p;
	len = hdr_line(line, it->end, &next, &crlf);
	if (len == 0) {
		it->p = next;
		it->done = 1;
		it->blank = 1;
		return (0);
	}
	if ((namelen = pm_hdr_namelen(line, len)) == 0) {
		/* Not a header: the body starts here, without a separator. */
		it->done = 1;
		it->blank = 0;
		return (0);
	}
	pm_buf_reset(&h->text);
	h->namelen = namelen;
	h->raw = line;
	h->truncated = 0;
	for (colon = namelen; line[colon] != ':'; colon++) {
		/* skip obsolete white space before the colon */
	}
	h->normalized = colon != namelen;
	clean = crlf || next == it->end;
	hdr_add(h, it->limit, line, namelen);
	hdr_add(h, it->limit, line + colon, len - colon);
	it->p = next;

	/* Continuation lines. */
	while (it->p < it->end && IS_SPACE_TAB(*it->p)) {
		line = it->p;
		len = hdr_line(line, it->end, &next, &crlf);
		clean = clean && (crlf || next == it->end);
		hdr_add(h, it->limit, "\n", 1);
		hdr_add(h, it->limit, line, len);
		it->p = next;
	}
	h->rawlen = (size_t) (it->p - h->raw);
	if (!clean) {
		/* bare LF line ends: write the text back with CRLF */
		h->normalized = 1;
	}
	return (1);
}

int
pm_hdr_is(const pm_hdr *h, const char *name)
{
	size_t n = strlen(name);

	return (n == h->namelen && pm_strncaseeq(h->text.data, name, n));
}

const char *
pm_hdr_value(const pm_hdr *h, size_t *len)
{
	const char *v = h->text.data + h->namelen + 1;
	const char *end = h->text.data + h->text.len;

	if (h->namelen + 1 > h->text.len) {
		/* cut inside the name: no value */
		*len = 0;
		return (end);
	}
	while (v < end && (IS_SPACE_TAB(*v) || *v == '\n')) {
		v++;
	}
	*len = (size_t) (end - v);
	return (v);
}

const char *
pm_hdr_key(pm_hdr *h)
{
	size_t i;

	for (i = 0; i < h->text.len; i++) {
		if (h->text.data[i] == 0) {
			h->text.data[i] = ' ';
		}
	}
	return (h->text.data);
}

int
pm_hdr_write(pm_buf *b, const char *text, size_t len)
{
	const char *p = text, *end = text + len, *nl;
	int err;

	for (;;) {
		nl = memchr(p, '\n', (size_t) (end - p));
		if ((err = pm_buf_append(b, p,
		         (size_t) ((nl ? nl : end) - p))) != 0 ||
		    (err = pm_buf_append(b, "\r\n", 2)) != 0) {
			return (err);
		}
		if (nl == NULL) {
			return (0);
		}
		p = nl + 1;
	}
}

void
pm_mail_date(time_t when, char *buf, size_t size)
{
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri",
		"Sat" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;
	char sign = '+';
	char zone[64];

	if (localtime_r(&when, &tm) == NULL) {
		gmtime_r(&when, &tm);
		tm.tm_gmtoff = 0;
		tm.tm_zone = "UTC";
	}
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	if (tm.tm_zone == NULL ||
	    strftime(zone, sizeof(zone), "%Z", &tm) == 0) {
		zone[0] = 0;
	}
	/* Postfix's mail_date(): day of month without a leading zero. */
	snprintf(buf, size, "%s, %2d %s %d %02d:%02d:%02d %c%02ld%02ld%s%s%s",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60,
	    off % 60, zone[0] ? " (" : "", zone, zone[0] ? ")" : "");
}

/* RFC 5322 atext, plus 8-bit bytes (SMTPUTF8 local parts). */
static int
is_atext(unsigned char c)
{
	if (c >= 0x80) {
		return (1);
	}
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9')) {
		return (1);
	}
	return (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
is_dot_atom(const char *s, size_t len)
{
	size_t i;
	int prev_dot = 1;

	if (len == 0) {
		return (0);
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (prev_dot) {
				return (0);
			}
			prev_dot = 1;
		} else if (is_atext((unsigned char) s[i])) {
			prev_dot = 0;
		} else {
			return (0);
		}
	}
	return (!prev_dot);
}

char *
pm_quote_822_local(const char *address)
{
	const char *at = pm_addr_domain(address);
	size_t llen;
	pm_buf b;
	size_t i;

	if (at == NULL) {
		/* unbalanced quotes: the last '@', as Postfix */
		at = strrchr(address, '@');
	}
	llen = at ? (size_t) (at - address) : strlen(address);

	if (is_dot_atom(address, llen) ||
	    (llen >= 2 && address[0] == '"' && address[llen - 1] == '"')) {
		return (pm_strdup(address));
	}
	pm_buf_init(&b, 0);
	pm_buf_append(&b, "\"", 1);
	for (i = 0; i < llen; i++) {
		if (address[i] == '"' || address[i] == '\\') {
			pm_buf_append(&b, "\\", 1);
		}
		pm_buf_append(&b, address + i, 1);
	}
	pm_buf_append(&b, "\"", 1);
	if (at != NULL) {
		pm_buf_puts(&b, at);
	}
	return (pm_buf_steal(&b, NULL));
}
