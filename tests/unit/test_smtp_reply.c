/*
 * NAME
 *	test_smtp_reply - unit tests for the SMTP client's reply parsing
 * DESCRIPTION
 *	services/smtp/smtp_reply.c is compiled in (it depends on
 *	libpostmesh only). Replies: single and multi-line, bare codes,
 *	enhanced status codes of the wrong class or malformed, garbage
 *	lines, NUL and control octets, over-long text. EHLO keywords with
 *	the discard list; xtext.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "smtp.h"

#define L(s) s, sizeof(s) - 1 /* keeps embedded NULs */

struct line {
	const char *s;
	size_t len;
};

Test(smtp_reply, reply_table)
{
	static const struct {
		struct line lines[4];
		int nlines;  /* lines fed */
		int done_at; /* the reply completes at this line (1-based) */
		int code;
		const char *dsn;
		const char *flat;
	} cases[] = {
		{ { { L("250 ok") } }, 1, 1, 250, "2.0.0", "250 ok" },
		{ { { L("250-a") }, { L("250 b") } }, 2, 2, 250, "2.0.0",
		    "250-a 250 b" },
		{ { { L("550 5.1.1 <x>: unknown") } }, 1, 1, 550, "5.1.1",
		    "550 5.1.1 <x>: unknown" },
		{ { { L("451 5.1.1 wrong class") } }, 1, 1, 451, "4.0.0",
		    "451 5.1.1 wrong class" },
		{ { { L("250") } }, 1, 1, 250, "2.0.0", "250" },
		{ { { L("354 go ahead") } }, 1, 1, 354, "4.0.0",
		    "354 go ahead" },
		{ { { L("25") } }, 1, 1, 0, "4.5.0", "25" },
		{ { { L("hello") } }, 1, 1, 0, "4.5.0", "hello" },
		{ { { L("") } }, 1, 1, 0, "4.5.0", "" },
		{ { { L("250-x") }, { L("garbage") } }, 2, 2, 0, "4.5.0",
		    "250-x garbage" },
		{ { { L("250x ok") } }, 1, 1, 0, "4.5.0", "250x ok" },
		{ { { L("550 5.1.1234 x") } }, 1, 1, 550, "5.0.0",
		    "550 5.1.1234 x" },
		{ { { L("550 5.1.1x") } }, 1, 1, 550, "5.0.0", "550 5.1.1x" },
		{ { { L("550 5.1") } }, 1, 1, 550, "5.0.0", "550 5.1" },
		{ { { L("550 5.999.999") } }, 1, 1, 550, "5.999.999",
		    "550 5.999.999" },
		{ { { L("550-5.7.1 first") }, { L("550 5.7.1 second") } }, 2, 2,
		    550, "5.7.1", "550-5.7.1 first 550 5.7.1 second" },
		{ { { L("250 \0\x01\x7f\xff") } }, 1, 1, 250, "2.0.0",
		    "250 ????" },
		{ { { L("099 low") } }, 1, 1, 0, "4.0.0", "099 low" },
		{ { { L("250-a") }, { L("250-b") } }, 2, 0, 0, "", "" },
	};
	size_t i;
	int l, done;
	smtp_reply r;
	char flat[128];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smtp_reply_init(&r);
		done = 0;
		for (l = 0; l < cases[i].nlines; l++) {
			if (smtp_reply_add(&r, cases[i].lines[l].s,
			        cases[i].lines[l].len)) {
				done = l + 1;
				break;
			}
		}
		cr_assert_eq(done, cases[i].done_at,
		    "case %zu: got done at "
		    "%d, want %d",
		    i, done, cases[i].done_at);
		if (done) {
			smtp_reply_flat(&r, flat, sizeof(flat));
			cr_assert_eq(r.code, cases[i].code,
			    "case %zu: got "
			    "code %d, want %d",
			    i, r.code, cases[i].code);
			cr_assert_str_eq(r.dsn, cases[i].dsn,
			    "case %zu: got "
			    "dsn %s, want %s",
			    i, r.dsn, cases[i].dsn);
			cr_assert_str_eq(flat, cases[i].flat,
			    "case %zu: got "
			    "\"%s\", want \"%s\"",
			    i, flat, cases[i].flat);
		}
		smtp_reply_free(&r);
	}
}

Test(smtp_reply, long_and_reused)
{
	smtp_reply r;
	char *big = pm_malloc(20000), flat[64];
	int i;

	/* text beyond SMTP_REPLY_TEXT_MAX is dropped, parsing goes on */
	memset(big, 'x', 20000);
	memcpy(big, "250-", 4);
	smtp_reply_init(&r);
	for (i = 0; i < 5; i++) {
		cr_assert_eq(smtp_reply_add(&r, big, 20000), 0);
	}
	cr_assert_eq(smtp_reply_add(&r, L("250 2.1.0 end")), 1);
	cr_assert_eq(r.code, 250);
	cr_assert_str_eq(r.dsn, "2.1.0");
	cr_assert(r.text.len <= SMTP_REPLY_TEXT_MAX,
	    "got %zu octets of "
	    "text, want at most %d",
	    r.text.len, SMTP_REPLY_TEXT_MAX);
	/* a complete reply is reset by the next line */
	cr_assert_eq(smtp_reply_add(&r, L("451 4.3.0 again")), 1);
	smtp_reply_flat(&r, flat, sizeof(flat));
	cr_assert_str_eq(flat, "451 4.3.0 again", "got \"%s\"", flat);
	cr_assert_eq(r.nlines, 1);
	/* flat output is cut, NUL-terminated */
	smtp_reply_flat(&r, flat, 4);
	cr_assert_str_eq(flat, "451");
	smtp_reply_free(&r);
	free(big);
}

Test(smtp_reply, ehlo_and_xtext)
{
	static const char ehlo[] =
	    "mx.example ESMTP PIPELINING\n"
	    "250-PIPELINING\n250-SIZE 10240000\n250-8bitmime\n250-DSN\n"
	    "250-SMTPUTF8\n250-STARTTLS\n250 CHUNKING";
	char *discard[] = { "pipelining", "dsn", NULL };
	smtp_features f;
	smtp_reply r;
	pm_buf b;
	size_t i;
	static const struct {
		const char *size_line;
		int size;
		unsigned long long max;
	} sizes[] = {
		{ "250 SIZE", 1, 0 },
		{ "250 SIZE 0", 1, 0 },
		{ "250 SIZE 99999999999999999999", 1, 0 },
		{ "250 SIZE 1000x", 1, 1000 },
		{ "250 SIZEX 5", 0, 0 },
		{ "250 size=77", 1, 0 },
	};

	smtp_reply_init(&r);
	pm_buf_puts(&r.text, "250-");
	pm_buf_puts(&r.text, ehlo);
	r.code = 250;
	smtp_ehlo_parse(&r, NULL, &f);
	cr_assert(f.esmtp && f.pipelining && f.size && f.eightbitmime &&
	        f.dsn && f.smtputf8 && f.starttls && f.chunking,
	    "got a feature missing");
	cr_assert_eq(f.size_max, 10240000ULL, "got SIZE %llu", f.size_max);
	smtp_ehlo_parse(&r, discard, &f);
	cr_assert(!f.pipelining && !f.dsn && f.eightbitmime,
	    "got discarded keywords used");
	/* the first line is the server's name, never a keyword */
	pm_buf_reset(&r.text);
	pm_buf_puts(&r.text, "250 PIPELINING");
	smtp_ehlo_parse(&r, NULL, &f);
	cr_assert_eq(f.pipelining, 0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		pm_buf_reset(&r.text);
		pm_buf_puts(&r.text, "250-mx\n");
		pm_buf_puts(&r.text, sizes[i].size_line);
		smtp_ehlo_parse(&r, NULL, &f);
		cr_assert(f.size == sizes[i].size && f.size_max == sizes[i].max,
		    "%s: got %d/%llu, want %d/%llu", sizes[i].size_line, f.size,
		    f.size_max, sizes[i].size, sizes[i].max);
	}
	smtp_reply_free(&r);

	pm_buf_init(&b, 0);
	cr_assert_eq(smtp_xtext(&b, "a+b=c d\xe9~!"), 0);
	cr_assert_str_eq(b.data, "a+2Bb+3Dc+20d+E9~!", "got %s", b.data);
	pm_buf_free(&b);
}
