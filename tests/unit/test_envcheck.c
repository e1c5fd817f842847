/*
 * NAME
 *	test_envcheck - unit tests for pm_envcheck, the one check of the
 *	envelope values smtpd takes and cleanup stores
 * DESCRIPTION
 *	Tables of input and want, good and hostile: C0 controls (bare CR,
 *	bare LF, TAB, ESC), DEL, 8-bit octets, values one over and at each
 *	limit. The xtext table runs ENVID and ORCPT values as smtpd gets
 *	them from the client (pm_xtext_decode, then the check), so NUL
 *	("+00"), truncated ("a+0", "a+") and bad hex are covered too: a
 *	value is accepted only when both steps accept it.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "pm_msgflags.h"
#include "pm_addr.h"
#include "pm_envcheck.h"
#include "pm_util.h"

#define OK NULL
#define CTRL "control character"
#define LONG "too long"

static char *
repeat(const char *head, char c, size_t n)
{
	size_t h = strlen(head);
	char *s = pm_malloc(h + n + 1);

	memcpy(s, head, h);
	memset(s + h, c, n);
	s[h + n] = 0;
	return (s);
}

static void
expect_why(const char *what, const char *in, const char *got, const char *want)
{
	char *p = pm_printable_dup(in, strlen(in), 60);

	if (want == NULL) {
		cr_expect_null(got, "%s(\"%s\"): got \"%s\", want accepted",
		    what, p, got);
	} else {
		cr_expect(got != NULL && strcmp(got, want) == 0,
		    "%s(\"%s\"): got \"%s\", want \"%s\"", what, p,
		    got ? got : "accepted", want);
	}
	free(p);
}

Test(envcheck, fields_table)
{
	static const struct {
		const char *(*fn)(const char *);
		const char *name;
		const char *in;
		const char *want;
	} cases[] = {
		{ pm_envcheck_helo, "helo", "mail.example.com", OK },
		{ pm_envcheck_helo, "helo", "[IPv6:2001:db8::1]", OK },
		{ pm_envcheck_helo, "helo", "h\xc3\xa9llo.test", OK },
		{ pm_envcheck_helo, "helo", "", OK },
		{ pm_envcheck_helo, "helo", "bad\rname", CTRL },
		{ pm_envcheck_helo, "helo", "bad\nname", CTRL },
		{ pm_envcheck_helo, "helo", "bad\r\nX-Injected: yes", CTRL },
		{ pm_envcheck_helo, "helo", "tab\tname", CTRL },
		{ pm_envcheck_helo, "helo", "esc\x1bname", CTRL },
		{ pm_envcheck_helo, "helo", "del\x7fname", CTRL },
		{ pm_envcheck_helo, "helo", "\r", CTRL },
		{ pm_envcheck_envid, "envid", "QQ314159", OK },
		{ pm_envcheck_envid, "envid", "with space and +=;", OK },
		{ pm_envcheck_envid, "envid", "a\r\nX-Injected: yes", CTRL },
		{ pm_envcheck_envid, "envid", "a\x01", CTRL },
		{ pm_envcheck_envid, "envid", "a\x7f", CTRL },
		{ pm_envcheck_envid, "envid", "caf\xc3\xa9",
		    "8-bit character" },
		{ pm_envcheck_envid, "envid", "\xff", "8-bit character" },
		{ pm_envcheck_orcpt, "orcpt", "rfc822;user@example.com", OK },
		{ pm_envcheck_orcpt, "orcpt", "utf-8;us\xc3\xa9r@x", OK },
		{ pm_envcheck_orcpt, "orcpt", "rfc822;a\rb@x", CTRL },
		{ pm_envcheck_orcpt, "orcpt", "rfc822;a\nb@x", CTRL },
		{ pm_envcheck_addr, "addr", "user@example.com", OK },
		{ pm_envcheck_addr, "addr", "\"a b\"@example.com", OK },
		{ pm_envcheck_addr, "addr", "", OK },
		{ pm_envcheck_addr, "addr", "a\rb@example.com", CTRL },
		{ pm_envcheck_addr, "addr", "a@example.com\n", CTRL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_why(cases[i].name, cases[i].in, cases[i].fn(cases[i].in),
		    cases[i].want);
	}
	/* Absent values are fine. */
	cr_expect_null(pm_envcheck_envid(NULL));
	cr_expect_null(pm_envcheck_orcpt(NULL));
	cr_expect_null(pm_envcheck_helo(NULL));
	cr_expect_null(pm_envcheck_addr(NULL));
	cr_expect_null(pm_envcheck_text(NULL, 0));
}

Test(envcheck, limits_table)
{
	static const struct {
		const char *(*fn)(const char *);
		const char *name;
		const char *head;
		size_t max;
	} cases[] = {
		{ pm_envcheck_envid, "envid", "", PM_ENVID_MAX },
		{ pm_envcheck_orcpt, "orcpt", "rfc822;", PM_ORCPT_MAX },
		{ pm_envcheck_helo, "helo", "", PM_HELO_MAX },
		{ pm_envcheck_addr, "addr", "u@", PM_ADDR_MAX },
	};
	size_t i;
	size_t h;
	char *s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h = strlen(cases[i].head);
		s = repeat(cases[i].head, 'x', cases[i].max - h);
		expect_why(cases[i].name, s, cases[i].fn(s), OK);
		free(s);
		s = repeat(cases[i].head, 'x', cases[i].max - h + 1);
		expect_why(cases[i].name, s, cases[i].fn(s), LONG);
		free(s);
		/* Far over the limit, and a control character past it. */
		s = repeat(cases[i].head, 'x', 100000);
		expect_why(cases[i].name, "(100000 octets)", cases[i].fn(s),
		    LONG);
		s[cases[i].max + 10] = '\r';
		expect_why(cases[i].name, "(CR past the limit)", cases[i].fn(s),
		    LONG);
		free(s);
	}
	cr_expect_null(pm_envcheck_text("abc", 3));
	expect_why("text", "abcd", pm_envcheck_text("abcd", 3), LONG);
	expect_why("text", "ab\r", pm_envcheck_text("ab\r", 3), CTRL);
	expect_why("text", "a", pm_envcheck_text("a", 0), LONG);
}

/* ENVID and ORCPT as smtpd gets them: xtext, decoded, then checked. */
Test(envcheck, xtext_table)
{
	static const struct {
		const char *xtext;
		int envid_ok;
		int orcpt_ok; /* as "rfc822;" + decoded */
	} cases[] = {
		{ "QQ314159", 1, 1 }, { "a+2Bb+3Dc", 1, 1 }, /* "a+b=c" */
		{ "a+20b", 1, 1 },                           /* space */
		{ "a+0D+0AX-Injected:+20yes", 0, 0 },        /* CR LF */
		{ "a+0Db", 0, 0 },                           /* bare CR */
		{ "a+0Ab", 0, 0 },                           /* bare LF */
		{ "a+09b", 0, 0 },                           /* TAB */
		{ "a+1B", 0, 0 },                            /* ESC */
		{ "a+7F", 0, 0 },                            /* DEL */
		{ "a+0d+0a", 0, 0 },   /* lower-case hex */
		{ "caf+C3+A9", 0, 1 }, /* 8-bit */
		{ "a+00b", 0, 0 },     /* NUL */
		{ "a+0", 0, 0 },       /* truncated */
		{ "a+", 0, 0 }, { "+", 0, 0 }, { "a+ZZ", 0, 0 }, /* bad hex */
		{ "a b", 0, 0 },                                 /* raw space */
		{ "a=b", 0, 0 },                                 /* raw '=' */
		{ "a\rb", 0, 0 },                                /* raw CR */
	};
	char *d;
	char *o;
	size_t i;
	int ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		d = pm_xtext_decode(cases[i].xtext);
		ok = d != NULL && pm_envcheck_envid(d) == NULL;
		cr_expect_eq(ok, cases[i].envid_ok, "ENVID=%s: got %s, want %s",
		    cases[i].xtext, ok ? "accepted" : "refused",
		    cases[i].envid_ok ? "accepted" : "refused");
		o = d != NULL ? pm_asprintf("rfc822;%s", d) : NULL;
		ok = o != NULL && pm_envcheck_orcpt(o) == NULL;
		cr_expect_eq(ok, cases[i].orcpt_ok,
		    "ORCPT=rfc822;%s: got %s, "
		    "want %s",
		    cases[i].xtext, ok ? "accepted" : "refused",
		    cases[i].orcpt_ok ? "accepted" : "refused");
		free(o);
		free(d);
	}
}

Test(envcheck, notify_table)
{
	static const struct {
		unsigned bits;
		int ok;
	} cases[] = {
		{ 0, 1 },
		{ PM_NOTIFY_NEVER, 1 },
		{ PM_NOTIFY_SUCCESS, 1 },
		{ PM_NOTIFY_FAILURE | PM_NOTIFY_DELAY, 1 },
		{ PM_NOTIFY_SUCCESS | PM_NOTIFY_FAILURE | PM_NOTIFY_DELAY, 1 },
		{ PM_NOTIFY_NEVER | PM_NOTIFY_SUCCESS, 0 },
		{ 15, 0 },
		{ 16, 0 },
		{ 0x80000000u, 0 },
		{ ~0u, 0 },
	};
	size_t i;
	int ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok = pm_envcheck_notify(cases[i].bits) == NULL;
		cr_expect_eq(ok, cases[i].ok,
		    "NOTIFY bits 0x%x: got %s, want "
		    "%s",
		    cases[i].bits, ok ? "accepted" : "refused",
		    cases[i].ok ? "accepted" : "refused");
	}
}
