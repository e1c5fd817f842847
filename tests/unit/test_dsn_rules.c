/*
 * NAME
 *	test_dsn_rules - who gets a DSN and for which recipients
 * DESCRIPTION
 *	pm_dsn's rules around the notice: NOTIFY filtering (alone and in a
 *	built notice, checked by dsn_helper.h's notice_parse()), routing
 *	(the rules that keep notices from looping: double bounces), and
 *	pm_dsn_split() (the status code at the start of an error or
 *	discard nexthop).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_helper.h"

/* NOTIFY filtering, alone and in a notice. */
Test(dsn, notify_filter)
{
	static const struct {
		int kind;
		unsigned notify;
		int want;
	} t[] = {
		{ PM_NOTICE_FAILED, 0, 1 },
		{ PM_NOTICE_DELAYED, 0, 1 },
		{ PM_NOTICE_DELIVERED, 0, 0 },
		{ PM_NOTICE_RELAYED, 0, 0 },
		{ PM_NOTICE_FAILED, PM_NOTIFY_NEVER, 0 },
		{ PM_NOTICE_DELAYED, PM_NOTIFY_NEVER, 0 },
		{ PM_NOTICE_FAILED, PM_NOTIFY_SUCCESS, 0 },
		{ PM_NOTICE_DELIVERED, PM_NOTIFY_SUCCESS, 1 },
		{ PM_NOTICE_RELAYED, PM_NOTIFY_SUCCESS, 1 },
		{ PM_NOTICE_DELAYED, PM_NOTIFY_FAILURE, 0 },
		{ PM_NOTICE_FAILED, PM_NOTIFY_FAILURE, 1 },
		{ PM_NOTICE_DELAYED, PM_NOTIFY_DELAY, 1 },
		{ PM_NOTICE_FAILED, PM_NOTIFY_NEVER | PM_NOTIFY_FAILURE, 0 },
		{ 0, PM_NOTIFY_FAILURE, 0 },
		{ 5, PM_NOTIFY_SUCCESS, 0 },
	};
	pm_notice_rcpt r[4] = {
		{ "a@x.test", "", 0, "5.1.1", "550 no", "mx", 0 },
		{ "b@x.test", "", PM_NOTIFY_NEVER, "5.1.1", "550 no", "mx", 0 },
		{ "c@x.test", "", PM_NOTIFY_SUCCESS, "5.1.1", "550 no", "mx",
		    0 },
		{ "d@x.test", "", PM_NOTIFY_FAILURE, "5.1.1", "550 no", "mx",
		    0 },
	};
	pm_dsn_cfg c = cfg_default();
	pm_dsn_orig o = orig_default();
	pm_dsn_info info;
	pm_buf out;
	notice n;
	size_t i;
	int err;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert(pm_dsn_wanted(t[i].kind, t[i].notify) == t[i].want,
		    "[%zu] kind %d notify %u: got %d, want %d", i, t[i].kind,
		    t[i].notify, !t[i].want, t[i].want);
	}
	pm_buf_init(&out, 0);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, r, 4, &c,
	    "alice@example.org", &out, &info);
	cr_assert(err == 0 && info.nlisted == 2, "got %d/%zu, want 0/2", err,
	    info.nlisted);
	notice_parse(&out, &n);
	cr_assert(strstr(n.parts[1].body, "a@x.test") != NULL &&
	        strstr(n.parts[1].body, "d@x.test") != NULL,
	    "a or d missing");
	cr_assert(strstr(out.data, "b@x.test") == NULL &&
	        strstr(out.data, "c@x.test") == NULL,
	    "b or c listed");
	notice_free(&n);

	/* nobody asked for success: nothing is written */
	pm_buf_reset(&out);
	err = pm_dsn_build(PM_NOTICE_DELIVERED, PM_DSN_TO_SENDER, &o, r, 2, &c,
	    "alice@example.org", &out, &info);
	cr_assert(err == PM_ENOENT && out.len == 0, "got %d/%zu, want %d/0",
	    err, out.len, PM_ENOENT);

	/* a double bounce lists everyone whatever NOTIFY says */
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_POSTMASTER, &o, r, 4, &c,
	    "postmaster@example.net", &out, &info);
	cr_assert(err == 0 && info.nlisted == 4, "got %d/%zu, want 0/4", err,
	    info.nlisted);
	notice_parse(&out, &n);
	want_hdr(n.hdrs, "Subject", "Postmaster Copy: Undelivered Mail");
	want_hdr(n.hdrs, "To", "postmaster@example.net");
	notice_free(&n);
	pm_buf_free(&out);
	LEAK_CHECK();
}

/* Who gets a notice: the rules that keep notices from looping. */
Test(dsn, route)
{
	static const struct {
		int kind;
		const char *sender;
		int want;
	} t[] = {
		{ PM_NOTICE_FAILED, "alice@example.org", PM_DSN_TO_SENDER },
		{ PM_NOTICE_DELAYED, "alice@example.org", PM_DSN_TO_SENDER },
		{ PM_NOTICE_RELAYED, "alice@example.org", PM_DSN_TO_SENDER },
		{ PM_NOTICE_FAILED, "", PM_DSN_TO_POSTMASTER },
		{ PM_NOTICE_DELAYED, "", PM_DSN_DISCARD },
		{ PM_NOTICE_DELIVERED, "", PM_DSN_DISCARD },
		{ PM_NOTICE_FAILED, NULL, PM_DSN_TO_POSTMASTER },
		{ PM_NOTICE_FAILED, "double-bounce@example.net",
		    PM_DSN_DISCARD },
		{ PM_NOTICE_FAILED, "Double-Bounce@EXAMPLE.net",
		    PM_DSN_DISCARD },
		{ PM_NOTICE_DELAYED, "double-bounce@example.net",
		    PM_DSN_DISCARD },
		{ PM_NOTICE_FAILED, "double-bounce@other.test",
		    PM_DSN_TO_SENDER },
	};
	static const struct {
		const char *addr;
		const char *origin;
		const char *want;
	} q[] = {
		{ "double-bounce", "example.net", "double-bounce@example.net" },
		{ "postmaster@hq.test", "example.net", "postmaster@hq.test" },
		{ "postmaster", "", "postmaster" },
		{ "", "example.net", "" },
	};
	size_t i;
	char *s;
	int got;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		got = pm_dsn_route(t[i].kind, t[i].sender,
		    "double-bounce@example.net");
		cr_assert(got == t[i].want, "[%zu] %s: got %d, want %d", i,
		    t[i].sender ? t[i].sender : "(null)", got, t[i].want);
	}
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		s = pm_dsn_qualify(q[i].addr, q[i].origin);
		cr_assert(strcmp(s, q[i].want) == 0, "[%zu] got %s, want %s", i,
		    s, q[i].want);
		free(s);
	}
	LEAK_CHECK();
}

/* The status code at the start of an error/discard nexthop. */
Test(dsn, split)
{
	static const struct {
		const char *text;
		const char *def;
		const char *dsn;
		const char *rest;
	} t[] = {
		{ "User unknown in virtual alias table", "5.0.0", "5.0.0",
		    "User unknown in virtual alias table" },
		{ "5.1.1 User unknown", "5.0.0", "5.1.1", "User unknown" },
		{ "4.1.1  soon", "5.0.0", "5.1.1", "soon" },
		{ "5.7.1 policy", "4.0.0", "4.7.1", "policy" },
		{ "2.0.0", "2.0.0", "2.0.0", "" },
		{ "5.1.1x bad", "5.0.0", "5.0.0", "5.1.1x bad" },
		{ "6.1.1 bad class", "5.0.0", "5.0.0", "6.1.1 bad class" },
		{ "5.1111.1 long", "5.0.0", "5.0.0", "5.1111.1 long" },
		{ "5.1. x", "5.0.0", "5.0.0", "5.1. x" },
		{ "", "2.0.0", "2.0.0", "" },
		{ NULL, "4.0.0", "4.0.0", "" },
	};
	const char *rest;
	char dsn[16];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pm_dsn_split(t[i].text, t[i].def, dsn, &rest);
		cr_assert(strcmp(dsn, t[i].dsn) == 0 &&
		        strcmp(rest, t[i].rest) == 0,
		    "[%zu] got %s \"%s\", want %s \"%s\"", i, dsn, rest,
		    t[i].dsn, t[i].rest);
	}
	LEAK_CHECK();
}
