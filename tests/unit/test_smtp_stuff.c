/*
 * NAME
 *	test_smtp_stuff - unit tests for dot-stuffing and CR/LF normalisation
 * DESCRIPTION
 *	services/smtp/smtp_stuff.c is compiled in. A table of contents and
 *	their exact wire form, each fed whole, byte by byte and split at
 *	every position (the result must not depend on the split); then
 *	random contents of CR, LF, "." and letters: the wire form has no
 *	bare CR or LF, ends with the only <CRLF>.<CRLF>, and the lib's
 *	own SMTP server parser (pm_smtp_data, an independent reader)
 *	gives back the content with its line ends made CRLF. Long lines
 *	(smtp_line_length_limit): a table at the default limit (5,000
 *	octets of body or header, 998, 999, lines and pieces that start
 *	with "."), split at every position; and random contents with
 *	small limits: every wire line fits, and removing the CRLF SPACE
 *	breaks gives back the content.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"
#include "smtp_params.h"
#include "pm_smtp_data.h"

#define L(s) s, sizeof(s) - 1 /* keeps embedded NULs */

static void
stuff_split(const char *in, size_t len, size_t limit, size_t split, pm_buf *out)
{
	smtp_stuff st;

	pm_buf_reset(out);
	smtp_stuff_init(&st, limit);
	cr_assert_eq(smtp_stuff_feed(&st, in, split, out), 0);
	cr_assert_eq(smtp_stuff_feed(&st, in + split, len - split, out), 0);
	cr_assert_eq(smtp_stuff_end(&st, out), 0);
}

static void
stuff_bytes(const char *in, size_t len, size_t limit, pm_buf *out)
{
	smtp_stuff st;
	size_t i;

	pm_buf_reset(out);
	smtp_stuff_init(&st, limit);
	for (i = 0; i < len; i++) {
		cr_assert_eq(smtp_stuff_feed(&st, in + i, 1, out), 0);
	}
	cr_assert_eq(smtp_stuff_end(&st, out), 0);
}

Test(smtp_stuff, table)
{
	static const struct {
		const char *in;
		size_t len;
		size_t limit;
		const char *want;
		size_t wlen;
	} cases[] = {
		{ L(""), 0, L(".\r\n") },
		{ L("a"), 0, L("a\r\n.\r\n") },
		{ L("a\r\n"), 0, L("a\r\n.\r\n") },
		{ L(".\r\n"), 0, L("..\r\n.\r\n") },
		{ L("."), 0, L("..\r\n.\r\n") },
		{ L("a\n.b\n"), 0, L("a\r\n..b\r\n.\r\n") },
		{ L("a\rb"), 0, L("a\r\nb\r\n.\r\n") },
		{ L("a\r\r\n"), 0, L("a\r\n\r\n.\r\n") },
		{ L("\r"), 0, L("\r\n.\r\n") },
		{ L("\n.\n"), 0, L("\r\n..\r\n.\r\n") },
		{ L("\r.\r"), 0, L("\r\n..\r\n.\r\n") },
		{ L("x\r\n.\r\nMAIL FROM:<a>\r\n"), 0,
		    L("x\r\n..\r\nMAIL FROM:<a>\r\n.\r\n") },
		{ L("x\n.\nQUIT\n"), 0, L("x\r\n..\r\nQUIT\r\n.\r\n") },
		{ L("a\0b\r\n"), 0, L("a\0b\r\n.\r\n") },
		{ L("..\r\n"), 0, L("...\r\n.\r\n") },
		{ L(" .\r\n"), 0, L(" .\r\n.\r\n") },
		{ L("abcdefghij\r\n"), 5, L("abcde\r\n fghi\r\n j\r\n.\r\n") },
		{ L(".bcdefg"), 5, L("..bcde\r\n fg\r\n.\r\n") },
		{ L("abcde\r\nfg"), 5, L("abcde\r\nfg\r\n.\r\n") },
	};
	size_t i, s;
	pm_buf out;

	pm_buf_init(&out, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (s = 0; s <= cases[i].len; s++) {
			stuff_split(cases[i].in, cases[i].len, cases[i].limit,
			    s, &out);
			cr_assert(out.len == cases[i].wlen &&
			        memcmp(out.data, cases[i].want, out.len) == 0,
			    "case %zu split %zu: got \"%s\", want \"%s\"", i, s,
			    out.data, cases[i].want);
		}
		stuff_bytes(cases[i].in, cases[i].len, cases[i].limit, &out);
		cr_assert(out.len == cases[i].wlen &&
		        memcmp(out.data, cases[i].want, out.len) == 0,
		    "case %zu bytewise: got \"%s\", want \"%s\"", i, out.data,
		    cases[i].want);
	}
	pm_buf_free(&out);
}

/*
 * Long lines at the default smtp_line_length_limit, which must be
 * Postfix's 998 (1,000 octets with CRLF). Input and want are runs: a
 * literal string, or an octet repeated n times.
 */
typedef struct run {
	const char *s; /* literal, or NULL for c x n */
	char c;
	size_t n;
} run;

#define R(s) \
	{ \
		s, 0, 0 \
	}
#define X(c, n) \
	{ \
		NULL, c, n \
	}
#define BRK R("\r\n ")
#define RUNS_MAX 16
#define DEF DEF_SMTP_LINE_LIMIT

static void
runs_build(const run *r, pm_buf *out)
{
	size_t i, k;

	pm_buf_reset(out);
	for (i = 0; i < RUNS_MAX && (r[i].s != NULL || r[i].n > 0); i++) {
		if (r[i].s != NULL) {
			pm_buf_puts(out, r[i].s);
			continue;
		}
		for (k = 0; k < r[i].n; k++) {
			pm_buf_append(out, &r[i].c, 1);
		}
	}
}

/* Where a and b first differ (for messages). */
static size_t
first_diff(const pm_buf *a, const pm_buf *b)
{
	size_t i;

	for (i = 0; i < a->len && i < b->len; i++) {
		if (a->data[i] != b->data[i]) {
			break;
		}
	}
	return (i);
}

Test(smtp_stuff, long_lines)
{
	static const struct {
		const char *name;
		size_t limit;
		run in[RUNS_MAX];
		run want[RUNS_MAX];
	} cases[] = {
		{ "5000-octet body line", DEF, { X('x', 5000), R("\r\n") },
		    { X('x', 998), BRK, X('x', 997), BRK, X('x', 997), BRK,
		        X('x', 997), BRK, X('x', 997), BRK, X('x', 14),
		        R("\r\n.\r\n") } },
		{ "5000-octet unfolded header", DEF,
		    { R("X-Long: "), X('h', 4992), R("\r\n\r\nbody\r\n") },
		    { R("X-Long: "), X('h', 990), BRK, X('h', 997), BRK,
		        X('h', 997), BRK, X('h', 997), BRK, X('h', 997), BRK,
		        X('h', 14), R("\r\n\r\nbody\r\n.\r\n") } },
		{ "exactly 998", DEF, { X('x', 998), R("\r\nz\r\n") },
		    { X('x', 998), R("\r\nz\r\n.\r\n") } },
		{ "exactly 998, last line without line end", DEF,
		    { X('x', 998) }, { X('x', 998), R("\r\n.\r\n") } },
		{ "999", DEF, { X('x', 999), R("\r\n") },
		    { X('x', 998), BRK, R("x\r\n.\r\n") } },
		{ "1995: two full pieces", DEF, { X('x', 1995), R("\r\n") },
		    { X('x', 998), BRK, X('x', 997), R("\r\n.\r\n") } },
		{ "dot line of 998: the doubled dot is not counted", DEF,
		    { R("."), X('x', 997), R("\r\n") },
		    { R(".."), X('x', 997), R("\r\n.\r\n") } },
		{ "dot line of 999", DEF, { R("."), X('x', 998), R("\r\n") },
		    { R(".."), X('x', 997), BRK, R("x\r\n.\r\n") } },
		{ "a piece that starts with a dot", DEF,
		    { X('x', 998), R(".\r\n") },
		    { X('x', 998), BRK, R(".\r\n.\r\n") } },
		{ "a piece that is a lone dot, then the end", DEF,
		    { X('x', 998), R(".") },
		    { X('x', 998), BRK, R(".\r\n.\r\n") } },
		{ "dot line after a broken line", DEF,
		    { X('x', 999), R("\r\n.y\r\n") },
		    { X('x', 998), BRK, R("x\r\n..y\r\n.\r\n") } },
		{ "bare CR at the limit", DEF, { X('x', 998), R("\ry") },
		    { X('x', 998), R("\r\ny\r\n.\r\n") } },
		{ "bare LF at the limit", DEF, { X('x', 998), R("\ny") },
		    { X('x', 998), R("\r\ny\r\n.\r\n") } },
		{ "limit 0: never broken", 0, { X('x', 5000), R("\r\n") },
		    { X('x', 5000), R("\r\n.\r\n") } },
		{ "limit 1 works as 2", 1, { R("abc") },
		    { R("ab\r\n c\r\n.\r\n") } },
	};
	pm_buf in, want, out;
	size_t i, s;

	pm_buf_init(&in, 0);
	pm_buf_init(&want, 0);
	pm_buf_init(&out, 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		runs_build(cases[i].in, &in);
		runs_build(cases[i].want, &want);
		/* every split: CRLF, CR/LF and "." across chunk ends */
		for (s = 0; s <= in.len; s++) {
			stuff_split(in.data, in.len, cases[i].limit, s, &out);
			cr_assert(out.len == want.len &&
			        memcmp(out.data, want.data, out.len) == 0,
			    "%s, split at %zu: got %zu octets, want %zu, "
			    "first difference at %zu",
			    cases[i].name, s, out.len, want.len,
			    first_diff(&out, &want));
		}
		stuff_bytes(in.data, in.len, cases[i].limit, &out);
		cr_assert(out.len == want.len &&
		        memcmp(out.data, want.data, out.len) == 0,
		    "%s, bytewise: got %zu octets, want %zu, first "
		    "difference at %zu",
		    cases[i].name, out.len, want.len, first_diff(&out, &want));
	}
	pm_buf_free(&in);
	pm_buf_free(&want);
	pm_buf_free(&out);
}

/* The content with every line end made CRLF and a final CRLF. */
static void
normalize(const char *in, size_t len, pm_buf *out)
{
	size_t i;

	pm_buf_reset(out);
	for (i = 0; i < len; i++) {
		if (in[i] == '\r') {
			pm_buf_append(out, "\r\n", 2);
			if (i + 1 < len && in[i + 1] == '\n') {
				i++;
			}
		} else if (in[i] == '\n') {
			pm_buf_append(out, "\r\n", 2);
		} else {
			pm_buf_append(out, in + i, 1);
		}
	}
	if (out->len > 0 &&
	    (out->len < 2 ||
	        memcmp(out->data + out->len - 2, "\r\n", 2) != 0)) {
		pm_buf_append(out, "\r\n", 2);
	}
}

Test(smtp_stuff, random_roundtrip)
{
	static const char alphabet[] = "\r\n.a";
	char in[64];
	pm_buf out, want, back;
	pm_smtp_data d;
	size_t len, i, used, end;
	int n;

	srandom(42);
	pm_buf_init(&out, 0);
	pm_buf_init(&want, 0);
	pm_buf_init(&back, 0);
	for (n = 0; n < 3000; n++) {
		len = (size_t) random() % sizeof(in);
		for (i = 0; i < len; i++) {
			in[i] = alphabet[random() % 4];
		}
		stuff_split(in, len, 0, len ? (size_t) random() % len : 0,
		    &out);
		/* no bare CR or LF */
		for (i = 0; i < out.len; i++) {
			if (out.data[i] == '\r') {
				cr_assert(i + 1 < out.len &&
				        out.data[i + 1] == '\n',
				    "got a bare CR at %zu", i);
			}
			if (out.data[i] == '\n') {
				cr_assert(i > 0 && out.data[i - 1] == '\r',
				    "got a bare LF at %zu", i);
			}
		}
		/* the end of data is at the end, and only there */
		end = out.len >= 5 ? out.len - 5 : 0;
		for (i = 0; i + 5 <= out.len; i++) {
			if (memcmp(out.data + i, "\r\n.\r\n", 5) == 0) {
				cr_assert_eq(i, end,
				    "got <CRLF>.<CRLF> at %zu, "
				    "want only at %zu",
				    i, end);
			}
		}
		/* a server reads back the normalised content */
		pm_buf_reset(&back);
		pm_smtp_data_init(&d, PM_SMTP_DATA_DOT, &back, 0, 1);
		used = pm_smtp_data_feed(&d, out.data, out.len);
		cr_assert(d.done && used == out.len,
		    "got done=%d used=%zu of "
		    "%zu",
		    d.done, used, out.len);
		normalize(in, len, &want);
		cr_assert(back.len == want.len &&
		        memcmp(back.data, want.data, want.len) == 0,
		    "round trip %d: got %zu octets, want %zu", n, back.len,
		    want.len);
	}
	pm_buf_free(&out);
	pm_buf_free(&want);
	pm_buf_free(&back);
}

/* Remove every CRLF SPACE (the breaks; the inputs have no spaces). */
static void
unbreak(pm_buf *b)
{
	size_t i, o = 0;

	for (i = 0; i < b->len; i++) {
		if (i + 2 < b->len && memcmp(b->data + i, "\r\n ", 3) == 0) {
			i += 2;
			continue;
		}
		b->data[o++] = b->data[i];
	}
	b->len = o;
}

Test(smtp_stuff, random_limit)
{
	static const char alphabet[] = "\r\n.a";
	char in[64];
	pm_buf out, want, back;
	pm_smtp_data d;
	size_t len, limit, i, start, used, wlen;
	int n;

	srandom(7);
	pm_buf_init(&out, 0);
	pm_buf_init(&want, 0);
	pm_buf_init(&back, 0);
	for (n = 0; n < 3000; n++) {
		len = (size_t) random() % sizeof(in);
		limit = 2 + (size_t) random() % 7;
		for (i = 0; i < len; i++) {
			in[i] = alphabet[random() % 4];
		}
		stuff_split(in, len, limit, len ? (size_t) random() % len : 0,
		    &out);
		/* every line fits, a doubled leading dot not counted */
		for (start = 0, i = 0; i + 1 < out.len; i++) {
			if (out.data[i] != '\r' || out.data[i + 1] != '\n') {
				continue;
			}
			wlen = i - start;
			if (wlen >= 2 && out.data[start] == '.' &&
			    out.data[start + 1] == '.') {
				wlen--;
			}
			cr_assert(wlen <= limit,
			    "run %d: got a line of %zu "
			    "octets, want at most %zu",
			    n, wlen, limit);
			start = i + 2;
		}
		/* a server reads it back; undoing the breaks restores it */
		pm_buf_reset(&back);
		pm_smtp_data_init(&d, PM_SMTP_DATA_DOT, &back, 0, 1);
		used = pm_smtp_data_feed(&d, out.data, out.len);
		cr_assert(d.done && used == out.len,
		    "got done=%d used=%zu of "
		    "%zu",
		    d.done, used, out.len);
		unbreak(&back);
		normalize(in, len, &want);
		cr_assert(back.len == want.len &&
		        memcmp(back.data, want.data, want.len) == 0,
		    "run %d (limit %zu): got %zu octets, want %zu", n, limit,
		    back.len, want.len);
	}
	pm_buf_free(&out);
	pm_buf_free(&want);
	pm_buf_free(&back);
}
