/*
 * NAME
 *	test_dsn_status - the one enhanced status code check (pm_dsn_status_*)
 * DESCRIPTION
 *	Every role that sees an RFC 3463 status code (smtpd replies, agent
 *	reports read by qmgr, cleanup replies, peers' replies parsed by
 *	smtp) checks it with these functions; the table holds what each
 *	of the four former copies got wrong or right, and hostile input.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "pm_dsn.h"

Test(dsn_status, table)
{
	static const struct {
		const char *in;
		int valid;
	} cases[] = {
		{ "2.0.0", 1 },
		{ "4.3.0", 1 },
		{ "5.7.1", 1 },
		{ "5.999.999", 1 },
		{ "4.12.3", 1 },
		{ "4..55", 0 }, /* qmgr's old check took this */
		{ "4.55.", 0 },
		{ ".4.5.5", 0 },
		{ "3.0.0", 0 },
		{ "6.0.0", 0 },
		{ "5.1000.1", 0 },
		{ "5.1.1000", 0 },
		{ "5.1", 0 },
		{ "5.1.1.1", 0 },
		{ "5.1.1 ", 0 },
		{ "", 0 },
		{ "5", 0 },
		{ "5.", 0 },
		{ "5.a.1", 0 },
		{ "5.1.1\r\n", 0 },
		{ "５.1.1", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_eq(pm_dsn_status_valid(cases[i].in), cases[i].valid,
		    "valid(\"%s\"): got %d, want %d", cases[i].in,
		    !cases[i].valid, cases[i].valid);
	}
	cr_expect_eq(pm_dsn_status_valid(NULL), 0, "valid(NULL)");
}

Test(dsn_status, span_and_match)
{
	static const struct {
		const char *in;
		size_t span;
	} spans[] = {
		{ "5.1.1 User unknown", 5 },
		{ "4.4.2\tlost", 5 },
		{ "2.0.0", 5 },
		{ "5.1.1x", 0 },
		{ "5.1.1.", 0 },
		{ "250 ok", 0 },
		{ "4..5 x", 0 },
	};
	static const struct {
		int code;
		const char *dsn;
		int match;
	} matches[] = {
		{ 250, "2.0.0", 1 },
		{ 451, "4.3.0", 1 },
		{ 550, "5.1.1", 1 },
		{ 450, "5.1.1", 0 },
		{ 550, "4.1.1", 0 },
		{ 199, "1.0.0", 0 },
		{ 600, "6.0.0", 0 },
		{ 450, "4..55", 0 },
		{ 250, "", 0 },
	};
	size_t i, got;

	for (i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		got = pm_dsn_status_span(spans[i].in, strlen(spans[i].in));
		cr_expect_eq(got, spans[i].span,
		    "span(\"%s\"): got %zu, want %zu", spans[i].in, got,
		    spans[i].span);
	}
	/* a length bound inside the code: never read past len */
	cr_expect_eq(pm_dsn_status_span("5.1.1", 4), 0, "span short len");
	for (i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
		cr_expect_eq(pm_dsn_status_match(matches[i].code,
		                 matches[i].dsn),
		    matches[i].match, "match(%d, \"%s\"): got %d, want %d",
		    matches[i].code, matches[i].dsn, !matches[i].match,
		    matches[i].match);
	}
}
