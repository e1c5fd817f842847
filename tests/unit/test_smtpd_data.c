/*
 * NAME
 *	test_smtpd_data - unit tests of pm_smtp_data (DATA/BDAT content,
 *	reply format, BDAT argument)
 * DESCRIPTION
 *	Every DATA case is fed whole, split at every byte offset, and one
 *	byte at a time; all must give the same content, end state and
 *	consumed count. Cases include the SMTP smuggling variants of
 *	end-of-data, bare CR/LF, dot-stuffing, NUL and over-size input.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "pm_smtp_data.h"

typedef struct data_case {
	const char *name;
	const char *in;
	size_t inlen; /* 0: strlen(in) */
	int after_crlf;
	const char *want; /* stored content */
	size_t wantlen;   /* 0: strlen(want) */
	int done;
	size_t rest; /* octets left unconsumed */
} data_case;

#define S(x) x, sizeof(x) - 1

static const data_case data_cases[] = {
	{ "simple", S("hello\r\n.\r\n"), 1, S("hello\r\n"), 1, 0 },
	{ "empty message", S(".\r\n"), 1, S(""), 1, 0 },
	{ "empty after bare-LF DATA", S(".\r\nx\r\n.\r\n"), 0, S("\r\nx\r\n"),
	    1, 0 },
	{ "LF dot CRLF", S("a\n.\r\nMAIL FROM:<x>\r\n"), 1,
	    S("a\r\n\r\nMAIL FROM:<x>\r\n"), 0, 0 },
	{ "CRLF dot LF", S("a\r\n.\nMAIL FROM:<x>\r\n"), 1,
	    S("a\r\n\r\nMAIL FROM:<x>\r\n"), 0, 0 },
	{ "LF dot LF", S("a\n.\nRCPT TO:<y>\n"), 1,
	    S("a\r\n\r\nRCPT TO:<y>\r\n"), 0, 0 },
	{ "CR dot CR", S("a\r.\rb"), 1, S("a.b"), 0, 0 },
	{ "CRLF dot CR", S("a\r\n.\rMAIL FROM:<x>\r\n.\r\n"), 1,
	    S("a\r\nMAIL FROM:<x>\r\n"), 1, 0 },
	{ "CR dot CRLF", S("a\r.\r\n.\r\n"), 1, S("a.\r\n"), 1, 0 },
	{ "CRLF dot CR CR LF", S("a\r\n.\r\r\n.\r\n"), 1, S("a\r\n\r\n"), 1,
	    0 },
	{ "CRLF CR dot CRLF", S("a\r\n\r.\r\nb\r\n.\r\n"), 1,
	    S("a\r\n.\r\nb\r\n"), 1, 0 },
	{ "CR CRLF dot CRLF", S("a\r\r\n.\r\nrest"), 1, S("a\r\n"), 1, 4 },
	{ "dot stuffed", S("a\r\n..b\r\n..\r\n.\r\n"), 1, S("a\r\n.b\r\n.\r\n"),
	    1, 0 },
	{ "first line dot", S(".x\r\n.\r\n"), 1, S("x\r\n"), 1, 0 },
	{ "first line dotdot", S("..\r\n.\r\n"), 1, S(".\r\n"), 1, 0 },
	{ "bare CR removed", S("a\rb\rc\r\n.\r\n"), 1, S("abc\r\n"), 1, 0 },
	{ "bare LF normalized", S("a\nb\n\r\n.\r\n"), 1, S("a\r\nb\r\n\r\n"), 1,
	    0 },
	{ "pipelined rest", S("x\r\n.\r\nQUIT\r\n"), 1, S("x\r\n"), 1, 6 },
	{ "NUL kept", "a\0b\r\n.\r\n", 8, 1, "a\0b\r\n", 5, 1, 0 },
	{ "blank line first", S("\r\n.\r\n"), 1, S("\r\n"), 1, 0 },
	{ "LF first dot", S("\n.\r\n"), 1, S("\r\n\r\n"), 0, 0 },
	{ "truncated", S("abc\r\n."), 1, S("abc\r\n"), 0, 0 },
	{ "dot space", S(". \r\n.\r\n"), 1, S(" \r\n"), 1, 0 },
	{ "high octets", S("\xff\xfe\r\n.\r\n"), 1, S("\xff\xfe\r\n"), 1, 0 },
	{ NULL, NULL, 0, 0, NULL, 0, 0, 0 },
};

typedef struct data_res {
	char *content;
	size_t len;
	size_t consumed;
	int done;
	unsigned bare_cr, bare_lf;
} data_res;

/* Feed in pieces: split at each offset in cuts[0..ncuts). */
static data_res
run_data(const data_case *c, const size_t *cuts, size_t ncuts)
{
	size_t inlen = c->inlen ? c->inlen : strlen(c->in);
	pm_buf out;
	pm_smtp_data d;
	data_res r;
	size_t pos = 0;
	size_t k;

	pm_buf_init(&out, 0);
	pm_smtp_data_init(&d, PM_SMTP_DATA_DOT, &out, 0, c->after_crlf);
	for (k = 0; k <= ncuts && !d.done; k++) {
		size_t end = k < ncuts ? cuts[k] : inlen;
		size_t got;

		if (end < pos) {
			continue;
		}
		got = pm_smtp_data_feed(&d, c->in + pos, end - pos);
		cr_assert(got <= end - pos);
		if (!d.done) {
			cr_assert_eq(got, end - pos,
			    "%s: consumed %zu of %zu "
			    "without end",
			    c->name, got, end - pos);
		}
		pos += got;
	}
	r.len = out.len;
	r.content = pm_buf_steal(&out, NULL);
	r.consumed = pos;
	r.done = d.done;
	r.bare_cr = d.bare_cr;
	r.bare_lf = d.bare_lf;
	cr_assert_eq(d.size, r.len);
	cr_assert_eq(d.received, pos);
	return (r);
}

static void
check_res(const data_case *c, const data_res *r, const char *how)
{
	size_t inlen = c->inlen ? c->inlen : strlen(c->in);
	size_t wantlen = c->wantlen ? c->wantlen : strlen(c->want);

	cr_assert_eq(r->done, c->done, "%s (%s): done got %d, want %d", c->name,
	    how, r->done, c->done);
	cr_assert_eq(r->len, wantlen, "%s (%s): length got %zu, want %zu",
	    c->name, how, r->len, wantlen);
	cr_assert(r->content == NULL ?
	        wantlen == 0 :
	        memcmp(r->content, c->want, wantlen) == 0,
	    "%s (%s): content differs", c->name, how);
	cr_assert_eq(inlen - r->consumed, c->rest,
	    "%s (%s): rest got %zu, want %zu", c->name, how,
	    inlen - r->consumed, c->rest);
}

Test(smtp_data, dot_cases_every_split)
{
	const data_case *c;

	for (c = data_cases; c->name != NULL; c++) {
		size_t inlen = c->inlen ? c->inlen : strlen(c->in);
		data_res whole = run_data(c, NULL, 0);
		size_t i, j;
		size_t *bytes;

		check_res(c, &whole, "whole");
		/* Every single split point. */
		for (i = 0; i <= inlen; i++) {
			data_res r = run_data(c, &i, 1);

			check_res(c, &r, "split");
			cr_assert_eq(r.bare_cr, whole.bare_cr);
			cr_assert_eq(r.bare_lf, whole.bare_lf);
			free(r.content);
		}
		/* Every pair of split points. */
		for (i = 0; i <= inlen; i++) {
			for (j = i; j <= inlen; j++) {
				size_t cuts[2] = { i, j };
				data_res r = run_data(c, cuts, 2);

				check_res(c, &r, "split2");
				free(r.content);
			}
		}
		/* One byte at a time. */
		bytes = pm_malloc((inlen + 1) * sizeof(*bytes));
		for (i = 0; i < inlen; i++) {
			bytes[i] = i + 1;
		}
		{
			data_res r = run_data(c, bytes, inlen);

			check_res(c, &r, "bytewise");
			free(r.content);
		}
		free(bytes);
		free(whole.content);
	}
}

/* No stored content ever has a CR not followed by LF or a bare LF. */
Test(smtp_data, no_stray_cr_lf_random)
{
	static const char alphabet[] = "\r\n.a";
	unsigned seed = 12345;
	int round;

	for (round = 0; round < 20000; round++) {
		char in[24];
		size_t n = 1 + (seed % sizeof(in));
		size_t i;
		pm_buf out;
		pm_smtp_data d;

		for (i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			in[i] = alphabet[(seed >> 16) % 4];
		}
		pm_buf_init(&out, 0);
		pm_smtp_data_init(&d,
		    round % 2 ? PM_SMTP_DATA_DOT : PM_SMTP_DATA_BDAT, &out, 0,
		    1);
		(void) pm_smtp_data_feed(&d, in, n);
		for (i = 0; i < out.len; i++) {
			if (out.data[i] == '\r') {
				cr_assert(i + 1 < out.len &&
				        out.data[i + 1] == '\n',
				    "round %d: stray CR at %zu", round, i);
			}
			if (out.data[i] == '\n') {
				cr_assert(i > 0 && out.data[i - 1] == '\r',
				    "round %d: bare LF at %zu", round, i);
			}
		}
		/* End only if the input holds a real CRLF.CRLF (or starts
		 * with .CRLF). */
		if (d.done) {
			size_t used = d.received;

			cr_assert(used >= 3 &&
			    memcmp(in + used - 3, ".\r\n", 3) == 0);
			cr_assert(used == 3 ||
			        (used >= 5 &&
			            memcmp(in + used - 5, "\r\n", 2) == 0),
			    "round %d: end without CRLF before dot", round);
		}
		pm_buf_free(&out);
	}
}

Test(smtp_data, size_limit)
{
	pm_buf out;
	pm_smtp_data d;
	char line[101];
	size_t i;
	size_t got;

	memset(line, 'x', 98);
	line[98] = '\r';
	line[99] = '\n';
	line[100] = 0;
	pm_buf_init(&out, 0);
	pm_smtp_data_init(&d, PM_SMTP_DATA_DOT, &out, 1000, 1);
	for (i = 0; i < 50; i++) {
		got = pm_smtp_data_feed(&d, line, 100);
		cr_assert_eq(got, 100);
	}
	cr_assert(d.too_big, "got too_big 0, want 1");
	cr_assert(!d.done);
	cr_assert_leq(out.len, 1000, "stored %zu, limit 1000", out.len);
	got = pm_smtp_data_feed(&d, ".\r\nQUIT\r\n", 9);
	cr_assert_eq(got, 3, "consumed %zu, want 3", got);
	cr_assert(d.done);
	cr_assert_eq(d.size, 5000, "size got %zu, want 5000", d.size);
	pm_buf_free(&out);

	/* Exactly at the limit is fine. */
	pm_buf_init(&out, 0);
	pm_smtp_data_init(&d, PM_SMTP_DATA_DOT, &out, 100, 1);
	(void) pm_smtp_data_feed(&d, line, 100);
	(void) pm_smtp_data_feed(&d, ".\r\n", 3);
	cr_assert(d.done && !d.too_big && out.len == 100);
	pm_buf_free(&out);

	/* A full output buffer counts as too big too. */
	pm_buf_init(&out, 50);
	pm_smtp_data_init(&d, PM_SMTP_DATA_BDAT, &out, 0, 1);
	(void) pm_smtp_data_feed(&d, line, 100);
	cr_assert(d.too_big);
	pm_buf_free(&out);
}

typedef struct bdat_case {
	const char *name;
	const char *chunks[4];
	const char *want;
} bdat_case;

Test(smtp_data, bdat_chunks)
{
	static const bdat_case cases[] = {
		{ "plain", { "abc\r\n", "def\r\n" }, "abc\r\ndef\r\n" },
		{ "CR LF across chunks", { "a\r", "\nb" }, "a\r\nb" },
		{ "CR at the end", { "a\r" }, "a" },
		{ "bare LF", { "a\nb\n" }, "a\r\nb\r\n" },
		{ "bare CR", { "a\rb", "\r", "c" }, "abc" },
		{ "no dot handling", { "x\r\n.\r\n..\r\n" },
		    "x\r\n.\r\n..\r\n" },
		{ "empty chunks", { "", "a", "" }, "a" },
		{ NULL, { NULL }, NULL },
	};
	const bdat_case *c;

	for (c = cases; c->name != NULL; c++) {
		pm_buf out;
		pm_smtp_data d;
		int k;

		pm_buf_init(&out, 0);
		pm_smtp_data_init(&d, PM_SMTP_DATA_BDAT, &out, 0, 0);
		for (k = 0; k < 4 && c->chunks[k] != NULL; k++) {
			size_t n = strlen(c->chunks[k]);

			cr_assert_eq(pm_smtp_data_feed(&d, c->chunks[k], n), n);
		}
		pm_smtp_data_finish(&d);
		cr_assert(!d.done);
		cr_assert_str_eq(out.data ? out.data : "", c->want,
		    "%s: got \"%s\", want \"%s\"", c->name,
		    out.data ? out.data : "", c->want);
		pm_buf_free(&out);
	}
}

typedef struct reply_case {
	int code;
	const char *dsn;
	const char *text;
	int rc;
	const char *want;
} reply_case;

Test(smtp_reply, format)
{
	static const reply_case cases[] = {
		{ 250, "2.0.0", "Ok", 0, "250 2.0.0 Ok\r\n" },
		{ 221, "2.0.0", "Bye", 0, "221 2.0.0 Bye\r\n" },
		{ 214, "2.0.0", "Help", 0, "214 2.0.0 Help\r\n" },
		{ 421, "4.4.2", "h Error: timeout exceeded", 0,
		    "421 4.4.2 h Error: timeout exceeded\r\n" },
		{ 451, "4.3.0", "x", 0, "451 4.3.0 x\r\n" },
		{ 452, "4.5.3", "x", 0, "452 4.5.3 x\r\n" },
		{ 500, "5.5.0", "x", 0, "500 5.5.0 x\r\n" },
		{ 501, "5.5.4", "x", 0, "501 5.5.4 x\r\n" },
		{ 502, "5.5.2", "x", 0, "502 5.5.2 x\r\n" },
		{ 503, "5.5.1", "x", 0, "503 5.5.1 x\r\n" },
		{ 504, "5.5.4", "x", 0, "504 5.5.4 x\r\n" },
		{ 552, "5.3.4", "x", 0, "552 5.3.4 x\r\n" },
		{ 554, "5.7.1", "x", 0, "554 5.7.1 x\r\n" },
		{ 555, "5.5.4", "x", 0, "555 5.5.4 x\r\n" },
		{ 550, "5.123.456", "x", 0, "550 5.123.456 x\r\n" },
		{ 220, NULL, "h ESMTP", 0, "220 h ESMTP\r\n" },
		{ 250, NULL, "h\nPIPELINING\nSIZE 10", 0,
		    "250-h\r\n250-PIPELINING\r\n250 SIZE 10\r\n" },
		{ 354, NULL, "End data", 0, "354 End data\r\n" },
		/* AUTH challenges (RFC 4954): no status code, may be empty. */
		{ 334, NULL, "VXNlcm5hbWU6", 0, "334 VXNlcm5hbWU6\r\n" },
		{ 334, NULL, "", 0, "334 \r\n" },
		{ 235, "2.7.0", "Authentication successful", 0,
		    "235 2.7.0 Authentication successful\r\n" },
		{ 235, NULL, "x", PM_EINVAL, "" },
		{ 550, "5.1.1", "a\nb", 0, "550-5.1.1 a\r\n550 5.1.1 b\r\n" },
		{ 550, "5.1.1", "a\rb\x01\xff", 0, "550 5.1.1 a?b??\r\n" },
		{ 250, "5.0.0", "Ok", PM_EINVAL, "" },
		{ 550, "2.0.0", "x", PM_EINVAL, "" },
		{ 451, "5.3.0", "x", PM_EINVAL, "" },
		{ 354, "3.0.0", "x", PM_EINVAL, "" },
		{ 221, NULL, "Bye", PM_EINVAL, "" },
		{ 421, NULL, "x", PM_EINVAL, "" },
		{ 550, NULL, "x", PM_EINVAL, "" },
		{ 199, "1.0.0", "x", PM_EINVAL, "" },
		{ 600, "6.0.0", "x", PM_EINVAL, "" },
		{ 550, "5.1", "x", PM_EINVAL, "" },
		{ 550, "5.1.1 ", "x", PM_EINVAL, "" },
		{ 550, "5.1234.1", "x", PM_EINVAL, "" },
		{ 550, "5..1", "x", PM_EINVAL, "" },
		{ 550, "", "x", PM_EINVAL, "" },
		{ 550, "5.1.1x", "x", PM_EINVAL, "" },
		{ 0, NULL, NULL, 0, NULL },
	};
	const reply_case *c;

	for (c = cases; c->code != 0; c++) {
		pm_buf b;
		int rc;

		pm_buf_init(&b, 0);
		pm_buf_puts(&b, "");
		rc = pm_smtp_reply_format(&b, c->code, c->dsn, c->text);
		cr_assert_eq(rc, c->rc, "%d %s %s: rc got %d, want %d", c->code,
		    c->dsn ? c->dsn : "-", c->text, rc, c->rc);
		cr_assert_str_eq(b.data, c->want,
		    "%d: got \"%s\", want "
		    "\"%s\"",
		    c->code, b.data, c->want);
		pm_buf_free(&b);
	}
}

Test(smtp_reply, long_line_cut)
{
	char text[2000];
	pm_buf b;

	memset(text, 'y', sizeof(text) - 1);
	text[sizeof(text) - 1] = 0;
	pm_buf_init(&b, 0);
	cr_assert_eq(pm_smtp_reply_format(&b, 550, "5.0.0", text), 0);
	cr_assert_eq(b.len, 4 + 6 + PM_SMTP_REPLY_TEXT_MAX + 2, "got %zu",
	    b.len);
	cr_assert(b.len <= 512);
	pm_buf_free(&b);
}

typedef struct bdat_arg_case {
	const char *arg;
	int rc;
	size_t size;
	int last;
} bdat_arg_case;

Test(smtp_bdat, parse)
{
	static const bdat_arg_case cases[] = {
		{ "10", 0, 10, 0 },
		{ "0", 0, 0, 0 },
		{ "10 LAST", 0, 10, 1 },
		{ "10 last", 0, 10, 1 },
		{ "10   LAST  ", 0, 10, 1 },
		{ "0 LAST", 0, 0, 1 },
		{ "18446744073709551615", 0, 18446744073709551615UL, 0 },
		{ "18446744073709551616", PM_EINVAL, 0, 0 },
		{ "000000000000000000001", PM_EINVAL, 0, 0 },
		{ "", PM_EINVAL, 0, 0 },
		{ " 10", PM_EINVAL, 0, 0 },
		{ "-1", PM_EINVAL, 0, 0 },
		{ "+1", PM_EINVAL, 0, 0 },
		{ "1x", PM_EINVAL, 0, 0 },
		{ "10 ", PM_EINVAL, 0, 0 },
		{ "10 LASTX", PM_EINVAL, 0, 0 },
		{ "10 LAS", PM_EINVAL, 0, 0 },
		{ "10 FOO", PM_EINVAL, 0, 0 },
		{ "10 LAST x", PM_EINVAL, 0, 0 },
		{ "10\tLAST", PM_EINVAL, 0, 0 },
		{ NULL, 0, 0, 0 },
	};
	const bdat_arg_case *c;

	for (c = cases; c->arg != NULL; c++) {
		size_t size = 777;
		int last = 7;
		int rc = pm_smtp_parse_bdat(c->arg, &size, &last);

		cr_assert_eq(rc, c->rc, "\"%s\": rc got %d, want %d", c->arg,
		    rc, c->rc);
		if (rc == 0) {
			cr_assert_eq(size, c->size,
			    "\"%s\": size got %zu, "
			    "want %zu",
			    c->arg, size, c->size);
			cr_assert_eq(last, c->last);
		} else {
			cr_assert(size == 777 && last == 7,
			    "\"%s\": out-parameters touched", c->arg);
		}
	}
	cr_assert_eq(pm_smtp_parse_bdat(NULL, NULL, NULL), PM_EINVAL);
}
