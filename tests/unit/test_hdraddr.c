/*
 * NAME
 *	test_hdraddr - unit tests for pm_hdr_addrs (sendmail -t) and
 *	pm_msgread (sendmail's standard input)
 * DESCRIPTION
 *	Address lists as mail programs write them (display names, quoted
 *	names with commas, comments, groups, source routes, bare local
 *	parts) and hostile ones (unbalanced quotes and brackets, an
 *	over-long address, control characters quoted or not);
 *	messages with LF and CRLF lines, a lone dot
 *	with and without dot_ends, a From_ line, long lines in pieces, a
 *	last line without LF, the size limit.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "pm_hdraddr.h"
#include "pm_msgread.h"
#include "pm_util.h"

static void
want_addrs(const char *value, const char *const *want, size_t skipped)
{
	pm_addr_list l = { 0 };
	size_t n = 0, got;

	got = pm_hdr_addrs(value, strlen(value), &l);
	cr_expect_eq(got, skipped, "%s: skipped %zu", value, got);
	while (want[n] != NULL) {
		n++;
	}
	cr_assert_eq(l.n, n, "%s: %zu addresses, want %zu", value, l.n, n);
	for (n = 0; n < l.n; n++) {
		cr_expect_str_eq(l.addr[n], want[n], "%s", value);
	}
	pm_addr_list_free(&l);
}

Test(hdraddr, forms)
{
	want_addrs("a@b.example", (const char *[]){ "a@b.example", NULL }, 0);
	want_addrs("\"Ann, A.\" <ann@x.test>, Bob <bob@x.test>",
	    (const char *[]){ "ann@x.test", "bob@x.test", NULL }, 0);
	want_addrs("c@x.test (Cy, the boss), d@x.test",
	    (const char *[]){ "c@x.test", "d@x.test", NULL }, 0);
	want_addrs("friends: e@x.test, F <f@x.test>; g@x.test",
	    (const char *[]){ "e@x.test", "f@x.test", "g@x.test", NULL }, 0);
	want_addrs("undisclosed-recipients:;", (const char *[]){ NULL }, 0);
	want_addrs("<@relay.test:h@x.test>",
	    (const char *[]){ "h@x.test", NULL }, 0);
	want_addrs("\"john doe\"@x.test, root",
	    (const char *[]){ "\"john doe\"@x.test", "root", NULL }, 0);
	want_addrs("a@x.test,\n\tb@x.test",
	    (const char *[]){ "a@x.test", "b@x.test", NULL }, 0);
}

Test(hdraddr, hostile)
{
	char big[1000];

	/* the quoted string runs to the end and is closed there */
	want_addrs("\"unbalanced <x@y>",
	    (const char *[]){ "\"unbalanced <x@y>\"", NULL }, 0);
	want_addrs("Name <a@x.test", (const char *[]){ "a@x.test", NULL }, 0);
	want_addrs("(never closed a@x.test", (const char *[]){ NULL }, 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	want_addrs(big, (const char *[]){ NULL }, 1);
	/* a control character is dropped, quoted or not */
	want_addrs("\"a\\\tb\"@x.test, \"c\td\"@x.test, e@x.test",
	    (const char *[]){ "\"ab\"@x.test", "\"cd\"@x.test", "e@x.test",
	        NULL },
	    0);
	want_addrs("\"a\\\\b\"@x.test",
	    (const char *[]){ "\"a\\\\b\"@x.test", NULL }, 0);
}

static int
read_str(const char *in, size_t inlen, int dot_ends, size_t line_limit,
    size_t size_limit, pm_buf *out)
{
	pm_msgread_opts o = { dot_ends, line_limit, size_limit };
	FILE *f = fmemopen((void *) in, inlen, "r");
	int err;

	cr_assert_not_null(f);
	pm_buf_init(out, 0);
	err = pm_msgread(f, &o, out);
	fclose(f);
	return (err);
}

#define S(s) s, sizeof(s) - 1

static void
want_read(const char *in, size_t inlen, int dot_ends, size_t line_limit,
    const char *want)
{
	pm_buf out;

	cr_assert_eq(read_str(in, inlen, dot_ends, line_limit, 0, &out), 0);
	cr_expect_eq(out.len, strlen(want), "len %zu want %zu", out.len,
	    strlen(want));
	cr_expect(memcmp(out.data, want, out.len) == 0, "got %.*s",
	    (int) out.len, out.data);
	pm_buf_free(&out);
}

Test(msgread, lines_and_dots)
{
	want_read(S("a\nb\r\nc"), 1, 100, "a\r\nb\r\nc\r\n");
	want_read(S("From x y\nS: 1\n\nbody\n"), 1, 100,
	    "S: 1\r\n\r\nbody\r\n");
	want_read(S("a\n..b\n.\nafter\n"), 1, 100, "a\r\n..b\r\n");
	want_read(S("a\n.\r\nafter\n"), 1, 100, "a\r\n");
	want_read(S("a\n.\nafter\n"), 0, 100, "a\r\n.\r\nafter\r\n");
	want_read(S("a\rb\n"), 1, 100, "a\rb\r\n");
	/* a long line in pieces: a "." piece inside it ends nothing */
	want_read(S("abcd.\nx\n"), 1, 4, "abcd.\r\nx\r\n");
	/* CR at the piece limit, LF next */
	want_read(S("abc\r\nx\n"), 1, 4, "abc\r\nx\r\n");
	/* a From_ line longer than a piece is dropped whole */
	want_read(S("From a-very-long-line\nS: 1\n"), 1, 6, "S: 1\r\n");
}

Test(msgread, size_limit)
{
	pm_buf out;

	cr_expect_eq(read_str(S("12345678\n"), 1, 100, 10, &out), 0);
	pm_buf_free(&out);
	cr_expect_eq(read_str(S("123456789\n"), 1, 100, 10, &out), PM_ETOOBIG);
	pm_buf_free(&out);
}
