/*
 * NAME
 *	smtpd_access_helper - base configuration and case runner for the
 *	smtpd restriction tests
 * SUMMARY
 *	#include "smtpd_access_helper.h"
 * DESCRIPTION
 *	For test_smtpd_access_rules.c and test_smtpd_check.c: base_cfg
 *	(the domains, maps and networks every case starts from), struct
 *	check_case (a case's extra parameters, stage, session and the
 *	reply wanted), the short names R, OUT, MYNET, LOC and REM used in
 *	the case tables, configure(), check_result() (also checks that the
 *	enhanced status code matches the reply code and that the text is
 *	printable) and run_cases(), which drives pm_access with addresses
 *	classified by pm_resolve in-process (the library the rewrite
 *	service runs: the same answers, without nng). resolve_clnt() asks
 *	a real rewrite service through the client instead.
 * SECURITY
 *	Test code only.
 */
#ifndef SMTPD_ACCESS_HELPER_H
#define SMTPD_ACCESS_HELPER_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_cfg.h"
#include "pm_common_params.h"
#include "pm_util.h"
#include "rewrite_clnt.h"
#include "rewrite_resolve.h"
#include "smtpd_access.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() \
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks found")
#else
#define LEAK_CHECK()
#endif

struct kv {
	const char *name;
	const char *value;
};

static const struct kv base_cfg[] = {
	{ "myhostname", "mail.example.com" },
	{ "mydomain", "example.com" },
	{ "mydestination", "$myhostname, localhost, example.com" },
	{ "relay_domains", "relay.test" },
	{ "local_recipient_maps", "inline:{ alice=1, bob=1 }" },
	{ "relocated_maps", "inline:{ gone@example.com=new@else.test }" },
	{ "mynetworks", "127.0.0.0/8 [::1]/128 10.1.0.0/16" },
	{ NULL, NULL },
};

struct check_case {
	const char *desc;
	const struct kv *cfg;
	int stage;
	const char *addr; /* client address; NULL = "192.0.2.1" */
	const char *name; /* client name; NULL = "unknown" */
	const char *helo;
	const char *sender;
	const char *rcpt;
	int sasl;
	int code; /* 0: go on */
	const char *dsn;
	const char *text;
	int hold;
	int discard;
};

#define R PM_ACCESS_RCPT
#define OUT "192.0.2.1"
#define MYNET "127.0.0.1"
#define LOC "alice@example.com"
#define REM "x@remote.example"

static inline int
resolve_inproc(void *arg, const char *address, int check_known,
    pm_resolved *out)
{
	return (pm_resolve_addr(arg, address, "local", check_known, out));
}

static inline int
resolve_clnt(void *arg, const char *address, int check_known, pm_resolved *out)
{
	return (pm_rewrite_resolve(arg, address, "local", check_known, out));
}

static inline void
configure(const struct kv *extra)
{
	const struct kv *kv;

	pm_cfg_reset();
	for (kv = base_cfg; kv->name != NULL; kv++) {
		pm_cfg_set(kv->name, kv->value);
	}
	for (kv = extra; kv != NULL && kv->name != NULL; kv++) {
		pm_cfg_set(kv->name, kv->value);
	}
	pm_common_params_bind();
	pm_resolve_params_bind();
}

static inline int
printable(const char *s)
{
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e) {
			return (0);
		}
	}
	return (1);
}

static inline void
check_result(const char *desc, const pm_access_result *res, int code,
    const char *dsn, const char *text, int hold, int discard)
{
	cr_expect_eq(res->code, code, "%s: got code %d (%s %s), want %d", desc,
	    res->code, res->dsn, res->text, code);
	if (code != 0 && res->code == code) {
		cr_expect_str_eq(res->dsn, dsn, "%s: got dsn %s, want %s", desc,
		    res->dsn, dsn);
		cr_expect_str_eq(res->text, text, "%s: got \"%s\", want \"%s\"",
		    desc, res->text, text);
	}
	if (res->code != 0) {
		cr_expect_eq(res->dsn[0], '0' + res->code / 100,
		    "%s: dsn %s does not match code %d", desc, res->dsn,
		    res->code);
		cr_expect(printable(res->text), "%s: unprintable text", desc);
	}
	cr_expect_eq(res->hold, hold, "%s: got hold %d, want %d", desc,
	    res->hold, hold);
	cr_expect_eq(res->discard, discard, "%s: got discard %d, want %d", desc,
	    res->discard, discard);
}

static inline void
run_cases(const struct check_case *cases, size_t n)
{
	pm_access_state st;
	pm_access_result res;
	pm_resolve *r;
	pm_access *a;
	char *err = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct check_case *c = &cases[i];

		configure(c->cfg);
		r = pm_resolve_new(&err);
		cr_assert_not_null(r, "%s: pm_resolve_new: %s", c->desc, err);
		a = pm_access_new(resolve_inproc, r, &err);
		cr_assert_not_null(a, "%s: pm_access_new: %s", c->desc, err);
		memset(&st, 0, sizeof(st));
		st.client_addr = c->addr ? c->addr : OUT;
		st.client_name = c->name ? c->name : "unknown";
		st.helo = c->helo;
		st.sender = c->sender;
		st.recipient = c->rcpt;
		st.sasl_authenticated = c->sasl;
		pm_access_check(a, c->stage, &st, &res);
		check_result(c->desc, &res, c->code, c->dsn, c->text, c->hold,
		    c->discard);
		pm_access_free(a);
		pm_resolve_free(r);
	}
}

#endif
