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
 *	gives back the content with its line ends made CRLF.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"
#include "pm_smtp_data.h"

#define L(s) s, sizeof(s) - 1 /* keeps embedded NULs */

static void
stuff_split(const char *in, size_t len, size_t limit, size_t split,
    pm_buf *out)
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
		{ L(".bcdefg"), 5, L("..bcd\r\n efg\r\n.\r\n") },
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
			    "case %zu split %zu: got \"%s\", want \"%s\"", i,
			    s, out.data, cases[i].want);
		}
		stuff_bytes(cases[i].in, cases[i].len, cases[i].limit, &out);
		cr_assert(out.len == cases[i].wlen &&
		    memcmp(out.data, cases[i].want, out.len) == 0,
		    "case %zu bytewise: got \"%s\", want \"%s\"", i, out.data,
		    cases[i].want);
	}
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
	if (out->len > 0 && (out->len < 2 ||
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
		stuff_split(in, len, 0, len ? (size_t) random() % len : 0, &out);
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
				cr_assert_eq(i, end, "got <CRLF>.<CRLF> at %zu, "
				    "want only at %zu", i, end);
			}
		}
		/* a server reads back the normalised content */
		pm_buf_reset(&back);
		pm_smtp_data_init(&d, PM_SMTP_DATA_DOT, &back, 0, 1);
		used = pm_smtp_data_feed(&d, out.data, out.len);
		cr_assert(d.done && used == out.len, "got done=%d used=%zu of "
		    "%zu", d.done, used, out.len);
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
