/*
 * NAME
 *	test_mime8 - unit tests for pm_mime8 (8BITMIME to 7bit conversion)
 * DESCRIPTION
 *	Every converted message must be 7-bit, and decoding it (with the
 *	small, independent MIME reader and quoted-printable / base64
 *	decoders below) must give back exactly the leaf bodies of the
 *	original. Hostile input: NUL octets, bare CR/LF, trailing white
 *	space, over-long lines, lines that look like boundaries after a
 *	soft break, unterminated multiparts, absurd nesting, truncation.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "smtp_mime8.h"
#include "pm_util.h"

#define L(s) s, sizeof(s) - 1 /* keeps embedded NULs */

/* ---- independent decoders ---- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9') {
		return (c - '0');
	}
	if (c >= 'A' && c <= 'F') {
		return (c - 'A' + 10);
	}
	return (-1);
}

static void
qp_decode(const char *p, size_t n, pm_buf *out)
{
	size_t i;
	int h, l;

	for (i = 0; i < n; i++) {
		if (p[i] != '=') {
			pm_buf_append(out, p + i, 1);
		} else if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') {
			i += 2; /* soft line break */
		} else {
			cr_assert(i + 2 < n, "truncated =XX at %zu", i);
			h = hexval(p[i + 1]);
			l = hexval(p[i + 2]);
			cr_assert(h >= 0 && l >= 0, "bad =XX at %zu", i);
			char c = (char) (h * 16 + l);
			pm_buf_append(out, &c, 1);
			i += 2;
		}
	}
}

static void
b64_decode(const char *p, size_t n, pm_buf *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned v = 0;
	int bits = 0;
	size_t i;
	const char *q;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '=') {
			continue;
		}
		q = strchr(tab, p[i]);
		cr_assert(q != NULL && *q != 0, "bad base64 octet %d", p[i]);
		v = (v << 6) | (unsigned) (q - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			char c = (char) ((v >> bits) & 0xff);
			pm_buf_append(out, &c, 1);
		}
	}
}

/* ---- a small MIME reader for well-formed test messages ---- */

typedef struct leaves {
	pm_buf b[32];
	int n;
} leaves;

/* Value of header name in the header block [h, e), or NULL. */
static char *
hdr_get(const char *h, const char *e, const char *name)
{
	size_t nl = strlen(name);
	const char *p, *v, *end;

	for (p = h; p < e; p++) {
		if ((p == h || p[-1] == '\n') && (size_t) (e - p) > nl &&
		    strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			v = p + nl + 1;
			while (*v == ' ') {
				v++;
			}
			end = strstr(v, "\r\n");
			return (pm_strndup(v, (size_t) (end - v)));
		}
	}
	return (NULL);
}

static void
flatten(const char *p, size_t len, leaves *lv)
{
	const char *he = NULL, *body;
	char *ct, *cte, *bd;
	size_t i;

	if (len >= 2 && memcmp(p, "\r\n", 2) == 0) {
		he = p;
		body = p + 2;
	} else {
		for (i = 0; i + 4 <= len; i++) {
			if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
				he = p + i + 2;
				break;
			}
		}
		cr_assert(he != NULL, "no header/body separator");
		body = he + 2;
	}
	ct = hdr_get(p, he, "Content-Type");
	cte = hdr_get(p, he, "Content-Transfer-Encoding");
	if (ct != NULL && strncasecmp(ct, "multipart/", 10) == 0) {
		char delim[128];
		const char *s, *part = NULL, *end = p + len;

		bd = strstr(ct, "boundary=\"");
		cr_assert(bd != NULL);
		bd += 10;
		snprintf(delim, sizeof(delim), "\r\n--%.*s",
		    (int) (strchr(bd, '"') - bd), bd);
		/* the body starts with a delimiter line in these tests */
		s = body - 2;
		for (;;) {
			const char *hit = s;

			/* a delimiter line: "--" boundary, then CRLF or "--" */
			do {
				hit = memmem(hit, (size_t) (end - hit), delim,
				    strlen(delim));
				cr_assert(hit != NULL,
				    "unterminated multipart");
				hit++;
			} while (strncmp(hit - 1 + strlen(delim), "\r\n", 2) !=
			        0 &&
			    strncmp(hit - 1 + strlen(delim), "--", 2) != 0);
			hit--;
			if (part != NULL) {
				flatten(part, (size_t) (hit - part), lv);
			}
			s = hit + strlen(delim);
			if (strncmp(s, "--", 2) == 0) {
				break;
			}
			s = strstr(s, "\r\n") + 2;
			part = s;
			s -= 2;
		}
	} else if (ct != NULL && strncasecmp(ct, "message/rfc822", 14) == 0) {
		flatten(body, (size_t) (p + len - body), lv);
	} else {
		pm_buf *o = &lv->b[lv->n++];

		pm_buf_init(o, 0);
		if (cte != NULL && strcasecmp(cte, "quoted-printable") == 0) {
			qp_decode(body, (size_t) (p + len - body), o);
		} else if (cte != NULL && strcasecmp(cte, "base64") == 0) {
			b64_decode(body, (size_t) (p + len - body), o);
		} else {
			pm_buf_append(o, body, (size_t) (p + len - body));
		}
	}
	free(ct);
	free(cte);
}

static void
leaves_free(leaves *lv)
{
	int i;

	for (i = 0; i < lv->n; i++) {
		pm_buf_free(&lv->b[i]);
	}
}

static void
assert_7bit_lines(const char *name, const pm_buf *o)
{
	size_t i, col = 0;

	for (i = 0; i < o->len; i++) {
		cr_assert((unsigned char) o->data[i] < 0x80,
		    "%s: got octet 0x%02x at %zu, want 7-bit", name,
		    (unsigned char) o->data[i], i);
		if (o->data[i] == '\n') {
			col = 0;
		} else if (o->data[i] != '\r') {
			col++;
		}
	}
}

/* Convert, check 7-bit, check every leaf decodes to the original. */
static void
check_roundtrip(const char *name, const char *msg, size_t len)
{
	pm_buf o;
	leaves a = { .n = 0 }, b = { .n = 0 };
	int i, rc;

	pm_buf_init(&o, 0);
	rc = pm_mime8_to_7bit(msg, len, &o, 0, 0);
	cr_assert_eq(rc, 0, "%s: got rc %d, want 0", name, rc);
	assert_7bit_lines(name, &o);
	flatten(msg, len, &a);
	flatten(o.data, o.len, &b);
	cr_assert_eq(a.n, b.n, "%s: got %d leaves, want %d", name, b.n, a.n);
	for (i = 0; i < a.n; i++) {
		cr_assert(a.b[i].len == b.b[i].len &&
		        memcmp(a.b[i].data, b.b[i].data, a.b[i].len) == 0,
		    "%s: leaf %d: got \"%s\" (%zu), want \"%s\" (%zu)", name, i,
		    b.b[i].data, b.b[i].len, a.b[i].data, a.b[i].len);
	}
	leaves_free(&a);
	leaves_free(&b);
	pm_buf_free(&o);
}

Test(mime8, leaf_roundtrip_table)
{
	static const struct {
		const char *name;
		const char *msg;
		size_t len;
		const char *want_hdr; /* must appear in the output */
	} cases[] = {
		{ "plain 8bit, no MIME",
		    L("Subject: x\r\n\r\ncaf\xc3\xa9 cr\xc3\xa8me\r\n"),
		    "MIME-Version: 1.0\r\nContent-Transfer-Encoding: "
		    "quoted-printable\r\n\r\n" },
		{ "labelled 8bit",
		    L("MIME-Version: 1.0\r\nContent-Type: text/plain; "
		      "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
		      "X: y\r\n\r\n\xe2\x82\xac = 3 \r\n\ttab\t\r\nend"),
		    "Content-Transfer-Encoding: quoted-printable\r\nX: y" },
		{ "hostile octets",
		    L("Content-Type: text/plain\r\n\r\n\xff\x00nul\rbare cr\n"
		      "bare lf\r\n-- \r\n.\r\n=3D\r\nFrom x\xa0 \r\n"),
		    "Content-Transfer-Encoding: quoted-printable" },
		{ "binary to base64",
		    L("Content-Type: application/octet-stream\r\n"
		      "Content-Transfer-Encoding: binary\r\n\r\n\x00\x01\xfe"
		      "\xff\r\n\r"),
		    "Content-Transfer-Encoding: base64\r\nMIME-Version: 1.0"
		    "\r\n\r\nAAH+/w0KDQ==" },
		{ "8bit image to base64",
		    L("Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"),
		    "Content-Transfer-Encoding: base64" },
		{ "7bit labelled 8bit is relabelled",
		    L("Content-Transfer-Encoding: 8bit\r\n\r\nascii\r\n"),
		    "Content-Transfer-Encoding: 7bit\r\n\r\nascii\r\n" },
		{ "already quoted-printable is kept",
		    L("Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		      "caf=C3=A9\r\n"),
		    "quoted-printable\r\n\r\ncaf=C3=A9\r\n" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_buf o;

		check_roundtrip(cases[i].name, cases[i].msg, cases[i].len);
		pm_buf_init(&o, 0);
		cr_assert_eq(pm_mime8_to_7bit(cases[i].msg, cases[i].len, &o, 0,
		                 0),
		    0);
		cr_assert(memmem(o.data, o.len, cases[i].want_hdr,
		              strlen(cases[i].want_hdr)) != NULL,
		    "%s: got \"%s\", want it to contain \"%s\"", cases[i].name,
		    o.data, cases[i].want_hdr);
		pm_buf_free(&o);
	}
}

Test(mime8, qp_long_lines_and_boundary_lookalikes)
{
	pm_buf msg, o;
	size_t i, col;
	int j;

	/* lines of 1..300 octets, 8-bit, some full of '-' and '=' */
	pm_buf_init(&msg, 0);
	pm_buf_puts(&msg, "Content-Type: text/plain\r\n\r\n");
	for (j = 1; j < 300; j += 7) {
		for (i = 0; i < (size_t) j; i++) {
			char c = j % 3 == 0 ? '-' :
			    j % 3 == 1      ? (char) (0x80 + i % 100) :
			                      (i % 2 ? '=' : ' ');

			pm_buf_append(&msg, &c, 1);
		}
		pm_buf_puts(&msg, "\r\n");
	}
	check_roundtrip("long lines", msg.data, msg.len);
	pm_buf_init(&o, 0);
	cr_assert_eq(pm_mime8_to_7bit(msg.data, msg.len, &o, 0, 0), 0);
	for (i = 0, col = 0; i < o.len; i++) {
		if (o.data[i] == '\r') {
			cr_assert(col <= 76,
			    "got a line of %zu octets, want "
			    "at most 76",
			    col);
			col = 0;
			i++;
			continue;
		}
		col++;
	}
	/* a soft-broken line never starts with "-" */
	for (i = 3; i < o.len; i++) {
		if (o.data[i] == '-' && o.data[i - 1] == '\n') {
			cr_assert(o.data[i - 3] != '=',
			    "got a soft-broken "
			    "line starting with '-' at %zu",
			    i);
		}
	}
	pm_buf_free(&o);
	pm_buf_free(&msg);
}

Test(mime8, multipart_roundtrip)
{
	static const char msg[] =
	    "MIME-Version: 1.0\r\n"
	    "Subject: parts\r\n"
	    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "preamble\r\n"
	    "--outer\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "h\xc3\xa9llo \r\n--outerX not a boundary\r\n"
	    "--outer\r\n"
	    "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
	    "\r\n"
	    "--inner\r\n"
	    "Content-Type: text/html\r\n"
	    "\r\n"
	    "<p>\xe2\x82\xac</p>\r\n"
	    "--inner\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "seven bit only\r\n"
	    "--inner--\r\n"
	    "--outer\r\n"
	    "Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "\x01\x02\xff\xfe\r\n\x80"
	    "\r\n--outer\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "Subject: inner\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "inn\xe9r body\r\n"
	    "--outer--\r\n"
	    "epilogue\r\n";
	pm_buf o;

	check_roundtrip("multipart", msg, sizeof(msg) - 1);
	pm_buf_init(&o, 0);
	cr_assert_eq(pm_mime8_to_7bit(msg, sizeof(msg) - 1, &o, 0, 0), 0);
	cr_assert(strstr(o.data,
	              "boundary=\"outer\"\r\n"
	              "Content-Transfer-Encoding: 7bit\r\n") != NULL,
	    "got %s, want the multipart relabelled 7bit", o.data);
	cr_assert(strstr(o.data,
	              "Content-Type: text/plain\r\n\r\n"
	              "seven bit only\r\n--inner--") != NULL,
	    "got %s, want the 7-bit part unchanged", o.data);
	cr_assert(strstr(o.data, "preamble\r\n--outer\r\n") != NULL);
	cr_assert(strstr(o.data, "--outer--\r\nepilogue\r\n") != NULL);
	pm_buf_free(&o);
}

Test(mime8, hostile_structure)
{
	static const struct {
		const char *name;
		const char *msg;
		size_t len;
	} cases[] = {
		{ "empty", L("") },
		{ "headers only", L("Subject: x") },
		{ "lf only", L("Content-Type: text/plain\n\nl\xe9\n") },
		{ "unterminated",
		    L("Content-Type: multipart/mixed; "
		      "boundary=b\r\n\r\n--b\r\n\r\n\xe9t\xe9") },
		{ "no delimiter",
		    L("Content-Type: multipart/mixed; "
		      "boundary=b\r\n\r\n\xe9t\xe9") },
		{ "no boundary",
		    L("Content-Type: multipart/mixed\r\n\r\n"
		      "\xe9") },
		{ "bad quotes",
		    L("Content-Type: multipart/mixed; boundary=\""
		      "b\r\n\r\n--b\r\n\xe9") },
		{ "nul in header",
		    L("Content-Type: text/pl\0ain\r\n\r\n"
		      "\xe9\0") },
		{ "8bit header kept", L("Subject: \xe9t\xe9\r\n\r\n\xe9") },
		{ "comment",
		    L("Content-Type: (c) text/plain (x); "
		      "charset=(y)utf-8\r\nContent-Transfer-Encoding: (z) "
		      "8bit\r\n\r\n\xe9") },
		{ "cr only", L("\r\r\r\xe9\r") },
		{ "truncated header", L("Content-Type: multipart/mixed; b") },
	};
	size_t i, j;
	pm_buf o, deep;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_buf_init(&o, 0);
		cr_assert_eq(pm_mime8_to_7bit(cases[i].msg, cases[i].len, &o, 0,
		                 0),
		    0, "%s: want rc 0", cases[i].name);
		pm_buf_free(&o);
	}
	/* 300 nested multiparts with limit 100: bounded, no crash */
	pm_buf_init(&deep, 0);
	for (j = 0; j < 300; j++) {
		pm_buf_printf(&deep,
		    "Content-Type: multipart/mixed; "
		    "boundary=\"b%zu\"\r\n\r\n--b%zu\r\n",
		    j, j);
	}
	pm_buf_puts(&deep, "\r\n\xe9\r\n");
	pm_buf_init(&o, 0);
	cr_assert_eq(pm_mime8_to_7bit(deep.data, deep.len, &o, 100, 0), 0);
	cr_assert(o.len >= deep.len, "got %zu octets, want at least %zu", o.len,
	    deep.len);
	pm_buf_free(&o);
	pm_buf_free(&deep);
	/* out's limit is honoured */
	pm_buf_init(&o, 10);
	cr_assert_eq(pm_mime8_to_7bit(L("Subject: 0123456789\r\n\r\n\xe9"), &o,
	                 0, 0),
	    PM_ETOOBIG);
	pm_buf_free(&o);
	cr_assert_eq(pm_mime8_is_8bit(L("abc\0\x7f")), 0);
	cr_assert_eq(pm_mime8_is_8bit(L("abc\x80")), 1);
}
