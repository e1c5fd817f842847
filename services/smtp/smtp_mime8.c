/*
 * NAME
 *	smtp_mime8 - 8BITMIME to 7bit conversion of a message
 * DESCRIPTION
 *	See smtp_mime8.h. One entity (a message, a body part, an
 *	encapsulated message) is handled by mime_entity(): its headers are
 *	read twice with pm_hdr_iter, once to learn Content-Type and
 *	Content-Transfer-Encoding, once to copy them with the encoding
 *	header rewritten; then the body is copied, walked (multipart,
 *	message/rfc822) or encoded (leaf).
 *
 *	Multipart bodies: a delimiter line is "--" boundary, optionally
 *	"--" (the close delimiter), then optional white space. The line
 *	break before a delimiter belongs to the delimiter (RFC 2046 5.1.1),
 *	so a part's content stops before it and its encoded form never
 *	gains or loses a final line break.
 * LIMITS
 *	See smtp_mime8.h.
 * SECURITY
 *	Every scan is bounded by the entity's end pointer.
 */
#include <stdio.h>
#include <string.h>

#include "smtp_mime8.h"
#include "pm_msghdr.h"

#define MIME_TOKEN_MAX 64

/* What the headers of one entity say. */
typedef struct mime_info {
	char type[MIME_TOKEN_MAX]; /* lower case, "" if none/bad */
	char subtype[MIME_TOKEN_MAX];
	char boundary[PM_MIME8_BOUNDARY_MAX + 1];
	char cte[MIME_TOKEN_MAX]; /* lower case, "" if none */
	int has_ct;
	int has_cte;
	int has_mimever;
} mime_info;

typedef struct mime_ctx {
	pm_buf *out;
	int nesting_limit;
	size_t header_limit;
	int err;
} mime_ctx;

static void mime_entity(mime_ctx *m, const char *p, size_t len, int depth,
    int digest, int top);

int
pm_mime8_is_8bit(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] & 0x80) {
			return (1);
		}
	}
	return (0);
}

static void
out_put(mime_ctx *m, const void *p, size_t n)
{
	if (m->err == 0 && n > 0) {
		m->err = pm_buf_append(m->out, p, n);
	}
}

/* Skip white space, line breaks and (nested) comments. */
static const char *
skip_cfws(const char *p, const char *end)
{
	int depth;

	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
			p++;
		} else if (*p == '(') {
			for (depth = 0; p < end; p++) {
				if (*p == '\\' && p + 1 < end) {
					p++;
				} else if (*p == '(') {
					depth++;
				} else if (*p == ')' && --depth == 0) {
					p++;
					break;
				}
			}
		} else {
			break;
		}
	}
	return (p);
}

static int
is_tspecial(int c)
{
	return (strchr("()<>@,;:\\\"/[]?=", c) != NULL);
}

/* Read an RFC 2045 token, lower-cased into buf; 0 if none or too long. */
static const char *
get_token(const char *p, const char *end, char *buf, size_t size)
{
	size_t n = 0;

	*buf = 0;
	while (p < end && (unsigned char) *p > 0x20 &&
	    (unsigned char) *p < 0x7f && !is_tspecial(*p)) {
		if (n + 1 < size) {
			buf[n] =
			    (char) ((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' :
			                                       *p);
		}
		n++;
		p++;
	}
	if (n == 0 || n + 1 > size) {
		*buf = 0;
		return (NULL);
	}
	buf[n] = 0;
	return (p);
}

/* A parameter value: token or quoted-string (unquoted into buf). */
static const char *
get_value(const char *p, const char *end, char *buf, size_t size, int *ok)
{
	size_t n = 0;

	*ok = 1;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end) {
				p++;
			}
			if (n + 1 < size) {
				buf[n] = *p;
			}
			n++;
		}
		if (p >= end) {
			*ok = 0;
			return (end);
		}
		p++;
	} else {
		while (p < end && (unsigned char) *p > 0x20 &&
		    (unsigned char) *p < 0x7f && !is_tspecial(*p)) {
			if (n + 1 < size) {
				buf[n] = *p;
			}
			n++;
			p++;
		}
	}
	if (n == 0 || n + 1 > size) {
		*ok = 0;
		n = 0;
	}
	buf[n] = 0;
	return (p);
}

/* Content-Type: type "/" subtype *(";" name "=" value) */
static void
parse_ct(mime_info *mi, const char *v, size_t len)
{
	const char *end = v + len, *p;
	char name[MIME_TOKEN_MAX];
	char val[PM_MIME8_BOUNDARY_MAX + 1];
	int ok;

	mi->has_ct = 1;
	mi->type[0] = mi->subtype[0] = mi->boundary[0] = 0;
	p = skip_cfws(v, end);
	if ((p = get_token(p, end, mi->type, sizeof(mi->type))) == NULL) {
		return;
	}
	p = skip_cfws(p, end);
	if (p >= end || *p != '/') {
		mi->type[0] = 0;
		return;
	}
	p = skip_cfws(p + 1, end);
	if ((p = get_token(p, end, mi->subtype, sizeof(mi->subtype))) == NULL) {
		mi->type[0] = 0;
		return;
	}
	for (;;) {
		p = skip_cfws(p, end);
		if (p >= end || *p != ';') {
			return;
		}
		p = skip_cfws(p + 1, end);
		if ((p = get_token(p, end, name, sizeof(name))) == NULL) {
			return;
		}
		p = skip_cfws(p, end);
		if (p >= end || *p != '=') {
			return;
		}
		p = skip_cfws(p + 1, end);
		p = get_value(p, end, val, sizeof(val), &ok);
		if (strcmp(name, "boundary") == 0) {
			/* a bad or over-long boundary: none at all */
			if (ok) {
				memcpy(mi->boundary, val, strlen(val) + 1);
			}
			return;
		}
	}
}

static void
parse_cte(mime_info *mi, const char *v, size_t len)
{
	const char *end = v + len, *p;

	mi->has_cte = 1;
	p = skip_cfws(v, end);
	if (get_token(p, end, mi->cte, sizeof(mi->cte)) == NULL) {
		mi->cte[0] = 0;
	}
}

/* Pass 1: read the headers; returns the offset of the body. */
static size_t
read_headers(mime_ctx *m, const char *p, size_t len, mime_info *mi, int *blank)
{
	pm_hdr_iter it;
	pm_hdr h;
	const char *v;
	size_t vlen;

	memset(mi, 0, sizeof(*mi));
	pm_hdr_iter_init(&it, p, len, m->header_limit);
	pm_hdr_init(&h);
	while (pm_hdr_next(&it, &h)) {
		v = pm_hdr_value(&h, &vlen);
		if (pm_hdr_is(&h, "Content-Type") && !mi->has_ct) {
			parse_ct(mi, v, vlen);
		} else if (pm_hdr_is(&h, "Content-Transfer-Encoding") &&
		    !mi->has_cte) {
			parse_cte(mi, v, vlen);
		} else if (pm_hdr_is(&h, "MIME-Version")) {
			mi->has_mimever = 1;
		}
	}
	pm_hdr_free(&h);
	*blank = it.blank;
	return ((size_t) (it.p - p));
}

/*
 * Pass 2: copy the headers; every Content-Transfer-Encoding header is
 * replaced by one with new_cte (the first) or dropped (the others).
 * new_cte NULL: keep them. add: header lines added at the end.
 */
static void
write_headers(mime_ctx *m, const char *p, size_t len, const char *new_cte,
    const char *add, int blank, int has_body)
{
	pm_hdr_iter it;
	pm_hdr h;
	int done = 0;

	pm_hdr_iter_init(&it, p, len, m->header_limit);
	pm_hdr_init(&h);
	while (pm_hdr_next(&it, &h)) {
		if (new_cte != NULL &&
		    pm_hdr_is(&h, "Content-Transfer-Encoding")) {
			if (!done) {
				out_put(m, "Content-Transfer-Encoding: ", 27);
				out_put(m, new_cte, strlen(new_cte));
				out_put(m, "\r\n", 2);
				done = 1;
			}
			continue;
		}
		out_put(m, h.raw, h.rawlen);
	}
	pm_hdr_free(&h);
	if (add != NULL) {
		out_put(m, add, strlen(add));
	}
	if (blank || has_body || add != NULL) {
		/* the separator (also where a non-header line ended them) */
		out_put(m, "\r\n", 2);
	}
}

int
pm_mime8_base64_encode(const void *data, size_t len, pm_buf *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char q[4];
	size_t i, col = 0;
	unsigned v;
	int err = 0;

	for (i = 0; i < len && err == 0; i += 3) {
		v = (unsigned) p[i] << 16;
		if (i + 1 < len) {
			v |= (unsigned) p[i + 1] << 8;
		}
		if (i + 2 < len) {
			v |= p[i + 2];
		}
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? tab[v & 63] : '=';
		if (col == 76) {
			err = pm_buf_append(out, "\r\n", 2);
			col = 0;
		}
		if (err == 0) {
			err = pm_buf_append(out, q, 4);
		}
		col += 4;
	}
	return (err);
}

int
pm_mime8_qp_encode(const void *data, size_t len, pm_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = data;
	size_t i, col = 0;
	int cont = 0, err = 0, lit, hard_next;
	char tok[3];
	unsigned char c;

	for (i = 0; i < len && err == 0; i++) {
		c = p[i];
		if (c == '\r' && i + 1 < len && p[i + 1] == '\n') {
			err = pm_buf_append(out, "\r\n", 2);
			i++;
			col = 0;
			cont = 0;
			continue;
		}
		/* white space before a line break or the end is encoded */
		hard_next = i + 1 == len ||
		    (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n');
		if (c == ' ' || c == '\t') {
			lit = !hard_next;
		} else {
			lit = c >= 33 && c <= 126 && c != '=';
		}
		if (col + (lit ? 1 : 3) > 75) {
			err = pm_buf_append(out, "=\r\n", 3);
			col = 0;
			cont = 1;
		}
		/* no soft-broken line may look like a boundary */
		if (lit && c == '-' && col == 0 && cont) {
			lit = 0;
		}
		if (lit) {
			tok[0] = (char) c;
		} else {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
		}
		if (err == 0) {
			err = pm_buf_append(out, tok, lit ? 1 : 3);
		}
		col += lit ? 1 : 3;
	}
	return (err);
}

/* A leaf: encode if needed. */
static void
mime_leaf(mime_ctx *m, const char *p, size_t len, const mime_info *mi,
    size_t hlen, int blank, int top)
{
	const char *body = p + hlen;
	size_t blen = len - hlen;
	int eight = pm_mime8_is_8bit(body, blen);
	int plain = mi->cte[0] == 0 || strcmp(mi->cte, "7bit") == 0 ||
	    strcmp(mi->cte, "8bit") == 0 || strcmp(mi->cte, "binary") == 0;
	int binary = strcmp(mi->cte, "binary") == 0;
	int text = mi->type[0] == 0 || strcmp(mi->type, "text") == 0;
	const char *enc;
	char add[96];

	if (!plain || (!eight && !binary)) {
		/* relabel a 7-bit body; leave encoded ones alone */
		write_headers(m, p, hlen,
		    plain && mi->has_cte && strcmp(mi->cte, "7bit") != 0 ?
		        "7bit" :
		        NULL,
		    NULL, blank, blen > 0);
		out_put(m, body, blen);
		return;
	}
	enc = text && !binary ? "quoted-printable" : "base64";
	snprintf(add, sizeof(add), "%s%s%s%s",
	    top && !mi->has_mimever ? "MIME-Version: 1.0\r\n" : "",
	    mi->has_cte ? "" : "Content-Transfer-Encoding: ",
	    mi->has_cte ? "" : enc, mi->has_cte ? "" : "\r\n");
	write_headers(m, p, hlen, mi->has_cte ? enc : NULL,
	    add[0] != 0 ? add : NULL, blank, 1);
	if (m->err == 0) {
		m->err = text && !binary ?
		    pm_mime8_qp_encode(body, blen, m->out) :
		    pm_mime8_base64_encode(body, blen, m->out);
	}
}

/* Is the line [l, e) (without its line end) a delimiter? 2 = close. */
static int
is_delim(const char *l, const char *e, const char *b, size_t blen)
{
	int close = 0;

	if ((size_t) (e - l) < blen + 2 || l[0] != '-' || l[1] != '-' ||
	    memcmp(l + 2, b, blen) != 0) {
		return (0);
	}
	l += blen + 2;
	if (e - l >= 2 && l[0] == '-' && l[1] == '-') {
		close = 1;
		l += 2;
	}
	while (l < e && (*l == ' ' || *l == '\t')) {
		l++;
	}
	return (l == e ? 1 + close : 0);
}

static void
mime_multipart(mime_ctx *m, const char *body, size_t blen, const mime_info *mi,
    int depth)
{
	const char *end = body + blen, *l, *nl, *e, *part = NULL;
	const char *dstart;
	size_t bl = strlen(mi->boundary);
	int digest = strcmp(mi->subtype, "digest") == 0, d;
	const char *copied = body; /* output is complete up to here */

	for (l = body; l < end; l = nl) {
		if ((nl = memchr(l, '\n', (size_t) (end - l))) == NULL) {
			nl = end;
			e = end;
		} else {
			e = nl > l && nl[-1] == '\r' ? nl - 1 : nl;
			nl++;
		}
		if ((d = is_delim(l, e, mi->boundary, bl)) == 0) {
			continue;
		}
		/* the line break before the delimiter is the delimiter's */
		dstart = l;
		if (dstart > body && dstart[-1] == '\n') {
			dstart--;
			if (dstart > body && dstart[-1] == '\r') {
				dstart--;
			}
		}
		if (dstart < copied) {
			dstart = copied;
		}
		if (part != NULL) {
			mime_entity(m, part, (size_t) (dstart - part),
			    depth + 1, digest, 0);
		} else {
			out_put(m, copied, (size_t) (dstart - copied));
		}
		out_put(m, dstart, (size_t) (nl - dstart));
		copied = nl;
		if (d == 2) {
			part = NULL;
			break;
		}
		part = nl;
	}
	if (part != NULL) {
		/* no close delimiter: the last part runs to the end */
		mime_entity(m, part, (size_t) (end - part), depth + 1, digest,
		    0);
	} else {
		out_put(m, copied, (size_t) (end - copied));
	}
}

static void
mime_entity(mime_ctx *m, const char *p, size_t len, int depth, int digest,
    int top)
{
	mime_info mi;
	size_t hlen;
	int blank, relabel;

	if (m->err != 0) {
		return;
	}
	if (depth > m->nesting_limit) {
		out_put(m, p, len);
		return;
	}
	hlen = read_headers(m, p, len, &mi, &blank);
	if (!mi.has_ct && digest) {
		memcpy(mi.type, "message", 8);
		memcpy(mi.subtype, "rfc822", 7);
	}
	relabel = mi.has_cte &&
	    (strcmp(mi.cte, "8bit") == 0 || strcmp(mi.cte, "binary") == 0);
	if (strcmp(mi.type, "multipart") == 0 && mi.boundary[0] != 0) {
		write_headers(m, p, hlen, relabel ? "7bit" : NULL, NULL, blank,
		    hlen < len);
		mime_multipart(m, p + hlen, len - hlen, &mi, depth);
	} else if (strcmp(mi.type, "message") == 0 &&
	    strcmp(mi.subtype, "rfc822") == 0) {
		write_headers(m, p, hlen, relabel ? "7bit" : NULL, NULL, blank,
		    hlen < len);
		mime_entity(m, p + hlen, len - hlen, depth + 1, 0, 0);
	} else if (strcmp(mi.type, "multipart") == 0) {
		/* no usable boundary: nothing to walk */
		out_put(m, p, len);
	} else {
		mime_leaf(m, p, len, &mi, hlen, blank, top);
	}
}

int
pm_mime8_to_7bit(const void *content, size_t len, pm_buf *out,
    int nesting_limit, size_t header_size_limit)
{
	mime_ctx m;

	m.out = out;
	m.nesting_limit =
	    nesting_limit > 0 ? nesting_limit : PM_MIME8_NESTING_DEF;
	m.header_limit = header_size_limit > 0 ? header_size_limit : 102400;
	m.err = 0;
	mime_entity(&m, content, len, 0, 0, 1);
	return (m.err);
}
