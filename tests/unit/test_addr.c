/*
 * NAME
 *	test_addr - unit tests for pm_addr (paths, commands, xtext, domains)
 * DESCRIPTION
 *	Tables of input and expected result, good and hostile: NUL bytes,
 *	bare CR/LF, over-long parts, truncated input, bad UTF-8.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "pm_addr.h"
#include "pm_util.h"

#define L(s) s, sizeof(s) - 1 /* keeps embedded NULs */

struct path_case {
	const char *in;
	size_t len;
	int utf8;
	int bare;
	int rc;
	const char *addr; /* when rc == 0 */
	int null;
	size_t nparams;
	const char *why; /* when rc != 0: expected reason, NULL = any */
};

static char *
repeat(char c, size_t n)
{
	char *s = pm_malloc(n + 1);

	memset(s, c, n);
	s[n] = 0;
	return (s);
}

Test(addr, parse_path_table)
{
	static const struct path_case cases[] = {
		{ L("<user@example.com>"), 0, 0, 0, "user@example.com", 0, 0,
		    NULL },
		{ L(" <user@example.com>"), 0, 0, 0, "user@example.com", 0, 0,
		    NULL },
		{ L("\t<a@b>"), 0, 0, 0, "a@b", 0, 0, NULL },
		{ L("<>"), 0, 0, 0, "", 1, 0, NULL },
		{ L("<> SIZE=0"), 0, 0, 0, "", 1, 1, NULL },
		{ L("<@a.example,@b.example:user@c.example>"), 0, 0, 0,
		    "user@c.example", 0, 0, NULL },
		{ L("<\"john doe\"@example.com>"), 0, 0, 0,
		    "\"john doe\"@example.com", 0, 0, NULL },
		{ L("<\"a\\\"b\"@example.com>"), 0, 0, 0,
		    "\"a\\\"b\"@example.com", 0, 0, NULL },
		{ L("<\"a@b\"@example.com>"), 0, 0, 0, "\"a@b\"@example.com", 0,
		    0, NULL },
		{ L("<user@[192.0.2.1]>"), 0, 0, 0, "user@[192.0.2.1]", 0, 0,
		    NULL },
		{ L("<user@[IPv6:2001:db8::1]>"), 0, 0, 0,
		    "user@[IPv6:2001:db8::1]", 0, 0, NULL },
		{ L("<postmaster>"), 0, 0, 0, "postmaster", 0, 0, NULL },
		{ L("<user@example.com> SIZE=1000 BODY=8BITMIME"), 0, 0, 0,
		    "user@example.com", 0, 2, NULL },
		{ L("<u@e.com> NOTIFY=SUCCESS,FAILURE "
		    "ORCPT=rfc822;u+2Be@e.com"),
		    0, 0, 0, "u@e.com", 0, 2, NULL },
		{ L("<user@example.com>   "), 0, 0, 0, "user@example.com", 0, 0,
		    NULL },
		{ L("<a@b>  SIZE=1\tSMTPUTF8 "), 1, 0, 0, "a@b", 0, 2, NULL },
		{ L("<a@-b.c>"), 0, 0, 0, "a@-b.c", 0, 0, NULL },
		{ L("<first..last.@docomo.ne.jp>"), 0, 0, 0,
		    "first..last.@docomo.ne.jp", 0, 0, NULL },
		{ L("<a@b> MT-PRIORITY=3"), 0, 0, 0, "a@b", 0, 1, NULL },
		{ L("<用户@例子.测试>"), 1, 0, 0, "用户@例子.测试", 0, 0,
		    NULL },
		{ L("<\"用户 x\"@例子.测试> SIZE=1"), 1, 0, 0,
		    "\"用户 x\"@例子.测试", 0, 1, NULL },
		{ L("user@example.com"), 0, 1, 0, "user@example.com", 0, 0,
		    NULL },
		{ L("user@example.com SIZE=5"), 0, 1, 0, "user@example.com", 0,
		    1, NULL },
		{ L("<user@example.com>"), 0, 1, 0, "user@example.com", 0, 0,
		    NULL },

		{ L("<user@example.com"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "missing '>'" },
		{ L("<<a@b>>"), 0, 0, PM_EINVAL, NULL, 0, 0, NULL },
		{ L("<a@b> %junk"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad parameter" },
		{ L("<a@b>junk"), 0, 0, PM_EINVAL, NULL, 0, 0, NULL },
		{ L("<a@b> SIZE=1 junk!"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad parameter" },
		{ L("<\"abc@example.com>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "unbalanced quote" },
		{ L("<\"abc\\"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "unbalanced quote" },
		{ L("<a\0b@c>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "NUL character in input" },
		{ L("<a@b>\0"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "NUL character in input" },
		{ L("<a@b\r>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "control character in input" },
		{ L("<a@b>\r\n"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "control character in input" },
		{ L("<a@b> SIZE=1\nRCPT TO:<x@y>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "control character in input" },
		{ L("<\"a\x01\"@b>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "control character in input" },
		{ L("<a@b..c>"), 0, 0, PM_EINVAL, NULL, 0, 0, "bad domain" },
		{ L("<a@b.c.>"), 0, 0, PM_EINVAL, NULL, 0, 0, "bad domain" },
		{ L("<a@.b>"), 0, 0, PM_EINVAL, NULL, 0, 0, "bad domain" },
		{ L("<a@>"), 0, 0, PM_EINVAL, NULL, 0, 0, "bad domain" },
		{ L("<a@b!c>"), 0, 0, PM_EINVAL, NULL, 0, 0, "bad domain" },
		{ L("<a@b@c>"), 0, 0, PM_EINVAL, NULL, 0, 0, "bad domain" },
		{ L("<a b@c>"), 0, 0, PM_EINVAL, NULL, 0, 0, NULL },
		{ L("<a@[1.2.3.999]>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad address literal" },
		{ L("<a@[IPv6:zz::1]>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad address literal" },
		{ L("<a@[1.2.3.4>"), 0, 0, PM_EINVAL, NULL, 0, 0, NULL },
		{ L("<a@[]>"), 0, 0, PM_EINVAL, NULL, 0, 0, NULL },
		{ L("<@a.example:>"), 0, 0, PM_EINVAL, NULL, 0, 0, NULL },
		{ L("<@a..b:u@c>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad source route" },
		{ L("<@a.example>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad source route" },
		{ L("<\xff@b>"), 1, 0, PM_EINVAL, NULL, 0, 0, "invalid UTF-8" },
		{ L("<\xc3(@b>"), 1, 0, PM_EINVAL, NULL, 0, 0,
		    "invalid UTF-8" },
		{ L("<\xc0\xaf@b>"), 1, 0, PM_EINVAL, NULL, 0, 0,
		    "invalid UTF-8" },
		{ L("<\xed\xa0\x80@b>"), 1, 0, PM_EINVAL, NULL, 0, 0,
		    "invalid UTF-8" },
		{ L("<a@b\xe4\xbe>"), 1, 0, PM_EINVAL, NULL, 0, 0,
		    "invalid UTF-8" },
		{ L("<用户@例子.测试>"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "Must declare SMTPUTF8 to send unicode address" },
		{ L("<a@b> X=\xc3\xa9"), 0, 0, PM_EINVAL, NULL, 0, 0, NULL },
		{ L("<a@b> SI_ZE=1"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad parameter" },
		{ L("<a@b> -SIZE=1"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad parameter" },
		{ L("<a@b> =1"), 0, 0, PM_EINVAL, NULL, 0, 0, "bad parameter" },
		{ L("<a@b> SIZE="), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad parameter" },
		{ L("<a@b> SIZE=1=2"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "bad parameter" },
		{ L("<a@b> A B C D E F G H I J K L M N O P Q"), 0, 0, PM_EINVAL,
		    NULL, 0, 0, "too many parameters" },
		{ L(""), 0, 0, PM_EINVAL, NULL, 0, 0, "missing address" },
		{ L("   "), 0, 0, PM_EINVAL, NULL, 0, 0, "missing address" },
		{ L("<"), 0, 0, PM_EINVAL, NULL, 0, 0, NULL },
		{ L("<a@b.c"), 0, 0, PM_EINVAL, NULL, 0, 0, "missing '>'" },
		{ L("user@example.com"), 0, 0, PM_EINVAL, NULL, 0, 0,
		    "missing '<'" },
		{ L("user@example.com>"), 0, 1, PM_EINVAL, NULL, 0, 0, NULL },
		{ L(">"), 0, 1, PM_EINVAL, NULL, 0, 0, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct path_case *c = &cases[i];
		pm_smtp_path p;
		const char *why = "untouched";
		int rc;

		memset(&p, 0xa5, sizeof(p));
		rc = pm_smtp_parse_path(c->in, c->len, c->utf8, c->bare, &p,
		    &why);
		cr_expect_eq(rc, c->rc,
		    "case %zu \"%s\": got rc %d, want %d "
		    "(why %s)",
		    i, c->in, rc, c->rc, why);
		if (rc != c->rc) {
			if (rc == 0) {
				pm_smtp_path_free(&p);
			}
			continue;
		}
		if (rc != 0) {
			cr_expect(c->why == NULL || strcmp(why, c->why) == 0,
			    "case %zu \"%s\": got why \"%s\", want \"%s\"", i,
			    c->in, why, c->why);
			cr_expect(why != NULL && strcmp(why, "untouched") != 0,
			    "case %zu: got no reason, want one", i);
			/* A failure leaves *out alone. */
			cr_expect(((unsigned char *) &p)[0] == 0xa5,
			    "case %zu: got *out changed, want untouched", i);
			continue;
		}
		cr_expect_str_eq(p.address, c->addr,
		    "case %zu: got address \"%s\", want \"%s\"", i, p.address,
		    c->addr);
		cr_expect_eq(p.null, c->null, "case %zu: got null %d, want %d",
		    i, p.null, c->null);
		cr_expect_eq(p.nparams, c->nparams,
		    "case %zu: got %zu params, want %zu", i, p.nparams,
		    c->nparams);
		pm_smtp_path_free(&p);
	}
}

Test(addr, params_and_limits)
{
	struct {
		const char *in;
		const char *key;
		const char *want; /* NULL: no value */
		int has;
	} pv[] = {
		{ "<a@b> SIZE=1000 BODY=8BITMIME", "size", "1000", 1 },
		{ "<a@b> SIZE=1000 BODY=8BITMIME", "BODY", "8BITMIME", 1 },
		{ "<a@b> size=1 smtputf8", "SMTPUTF8", NULL, 1 },
		{ "<a@b> size=1 smtputf8", "Size", "1", 1 },
		{ "<a@b> size=1", "RET", NULL, 0 },
		{ "<u@e.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+2Be@e.com",
		    "ORCPT", "rfc822;u+2Be@e.com", 1 },
		{ "<u@e.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+2Be@e.com",
		    "notify", "SUCCESS,FAILURE", 1 },
	};
	pm_smtp_path p;
	const char *why = NULL, *v;
	char *s, *local, *label, *dom;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(pv) / sizeof(pv[0]); i++) {
		rc = pm_smtp_parse_path(pv[i].in, strlen(pv[i].in), 0, 0, &p,
		    &why);
		cr_assert_eq(rc, 0, "case %zu: got %d (%s), want 0", i, rc,
		    why);
		v = pm_smtp_param(&p, pv[i].key);
		cr_expect((v == NULL && pv[i].want == NULL) ||
		        (v != NULL && pv[i].want != NULL &&
		            strcmp(v, pv[i].want) == 0),
		    "case %zu %s: got \"%s\", want \"%s\"", i, pv[i].key,
		    v ? v : "(null)", pv[i].want ? pv[i].want : "(null)");
		cr_expect_eq(pm_smtp_has_param(&p, pv[i].key), pv[i].has,
		    "case %zu has %s: got %d, want %d", i, pv[i].key,
		    pm_smtp_has_param(&p, pv[i].key), pv[i].has);
		cr_expect(strcmp(p.params[0].key, "SIZE") == 0 ||
		        strcmp(p.params[0].key, "NOTIFY") == 0,
		    "case %zu: got key \"%s\", want upper case", i,
		    p.params[0].key);
		pm_smtp_path_free(&p);
	}

	/* Exactly 16 parameters are fine. */
	s = "<a@b> A B C D E F G H I J K L M N O P";
	rc = pm_smtp_parse_path(s, strlen(s), 0, 0, &p, &why);
	cr_expect_eq(rc, 0, "16 params: got %d, want 0", rc);
	if (rc == 0) {
		pm_smtp_path_free(&p);
	}

	/* Local part 64 ok, 65 refused. */
	local = repeat('a', 64);
	s = pm_asprintf("<%s@example.com>", local);
	rc = pm_smtp_parse_path(s, strlen(s), 0, 0, &p, &why);
	cr_expect_eq(rc, 0, "local 64: got %d, want 0", rc);
	if (rc == 0) {
		pm_smtp_path_free(&p);
	}
	free(s);
	s = pm_asprintf("<%sa@example.com>", local);
	rc = pm_smtp_parse_path(s, strlen(s), 0, 0, &p, &why);
	cr_expect_eq(rc, PM_EINVAL, "local 65: got %d, want PM_EINVAL", rc);
	cr_expect_str_eq(why, "local part too long", "got \"%s\"", why);
	free(s);

	/* Domain: 63-byte labels fine, a 64-byte label or 256 total not. */
	label = repeat('b', 63);
	dom = pm_asprintf("%s.%s.%s.%s", label, label, label, label);
	s = pm_asprintf("<a@%s>", dom); /* 255 */
	rc = pm_smtp_parse_path(s, strlen(s), 0, 0, &p, &why);
	cr_expect_eq(rc, 0, "domain 255: got %d (%s), want 0", rc, why);
	if (rc == 0) {
		pm_smtp_path_free(&p);
	}
	free(s);
	s = pm_asprintf("<a@%s.c>", dom); /* 257 */
	rc = pm_smtp_parse_path(s, strlen(s), 0, 0, &p, &why);
	cr_expect_eq(rc, PM_EINVAL, "domain 257: got %d, want PM_EINVAL", rc);
	cr_expect_str_eq(why, "domain name too long", "got \"%s\"", why);
	free(s);
	s = pm_asprintf("<a@%sb.c>", label);
	rc = pm_smtp_parse_path(s, strlen(s), 0, 0, &p, &why);
	cr_expect_eq(rc, PM_EINVAL, "label 64: got %d, want PM_EINVAL", rc);
	free(s);

	/* A very long line of garbage and a long route. */
	s = repeat('a', 100000);
	s[0] = '<';
	rc = pm_smtp_parse_path(s, strlen(s), 0, 0, &p, &why);
	cr_expect_eq(rc, PM_EINVAL, "100000 bytes: got %d, want PM_EINVAL", rc);
	free(s);
	s = pm_malloc(20000);
	strcpy(s, "<");
	for (i = 0; i < 1000; i++) {
		strcat(s, "@abcdefghijk,");
	}
	strcat(s, "@x:a@b>");
	rc = pm_smtp_parse_path(s, strlen(s), 0, 0, &p, &why);
	cr_expect_eq(rc, PM_EINVAL, "long route: got %d, want PM_EINVAL", rc);
	free(s);
	free(local);
	free(label);
	free(dom);

	/* Truncated: every prefix of a good path either parses or fails. */
	s = "<@r.example:\"q\\\"x\"@[IPv6:2001:db8::1]> SIZE=1 BODY=7BIT";
	for (i = 0; i <= strlen(s); i++) {
		rc = pm_smtp_parse_path(s, i, 0, 0, &p, &why);
		cr_expect(rc == 0 || rc == PM_EINVAL,
		    "prefix %zu: got %d, want 0 or PM_EINVAL", i, rc);
		if (rc == 0) {
			cr_expect(i >= strlen("<@r.example:\"q\\\"x\"@[IPv6:"
			                      "2001:db8::1]>"),
			    "prefix %zu: got accepted, want refused", i);
			pm_smtp_path_free(&p);
		}
	}
}

Test(addr, parse_cmd_table)
{
	static const struct {
		const char *in;
		size_t len;
		size_t vsize;
		int rc;
		const char *verb;
		const char *arg;
	} cases[] = {
		{ L("MAIL FROM:<a@b>"), 16, 0, "MAIL", "FROM:<a@b>" },
		{ L("ehlo host"), 16, 0, "EHLO", "host" },
		{ L("  quit"), 16, 0, "QUIT", "" },
		{ L("QUIT"), 16, 0, "QUIT", "" },
		{ L("DATA "), 16, 0, "DATA", "" },
		{ L("RCPT\tTO:<a@b>"), 16, 0, "RCPT", "TO:<a@b>" },
		{ L("MAIL  FROM:<a@b>"), 16, 0, "MAIL", "FROM:<a@b>" },
		{ L("STARTTLS"), 9, 0, "STARTTLS", "" },
		{ L("STARTTLS"), 8, PM_EINVAL, NULL, NULL },
		{ L(""), 16, PM_EINVAL, NULL, NULL },
		{ L("   "), 16, PM_EINVAL, NULL, NULL },
		{ L("MA\0IL FROM:<>"), 16, PM_EINVAL, NULL, NULL },
		{ L("MAIL FROM:<>\0"), 16, PM_EINVAL, NULL, NULL },
		{ L("\0"), 16, PM_EINVAL, NULL, NULL },
		{ L("MAIL1 x"), 16, PM_EINVAL, NULL, NULL },
		{ L("MAIL:FROM"), 16, PM_EINVAL, NULL, NULL },
		{ L("DATA\r"), 16, PM_EINVAL, NULL, NULL },
		{ L("\r\n"), 16, PM_EINVAL, NULL, NULL },
		{ L("\xc3\xa9HLO x"), 16, PM_EINVAL, NULL, NULL },
		{ L("HELO x"), 0, PM_EINVAL, NULL, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char verb[16];
		const char *arg = NULL;
		int rc;

		rc = pm_smtp_parse_cmd(cases[i].in, cases[i].len, verb,
		    cases[i].vsize, &arg);
		cr_expect_eq(rc, cases[i].rc, "case %zu: got %d, want %d", i,
		    rc, cases[i].rc);
		if (rc == 0 && cases[i].rc == 0) {
			cr_expect_str_eq(verb, cases[i].verb,
			    "case %zu: got verb \"%s\", want \"%s\"", i, verb,
			    cases[i].verb);
			cr_expect_str_eq(arg, cases[i].arg,
			    "case %zu: got arg \"%s\", want \"%s\"", i, arg,
			    cases[i].arg);
		}
	}
}

Test(addr, xtext_and_domains)
{
	static const struct {
		const char *in;
		const char *want; /* NULL: malformed */
	} xt[] = {
		{ "+2B", "+" },
		{ "+2b", "+" },
		{ "u+2Be@e.com", "u+e@e.com" },
		{ "rfc822;a+20b", "rfc822;a b" },
		{ "abc", "abc" },
		{ "", "" },
		{ "+2", NULL },
		{ "+", NULL },
		{ "+zz", NULL },
		{ "+2z", NULL },
		{ "a b", NULL },
		{ "a=b", NULL },
		{ "\x7f", NULL },
		{ "\xc3\xa9", NULL },
		{ "a\r\n", NULL },
		{ "+00", NULL },
	};
	static const struct {
		const char *in;
		int at; /* offset of '@', -1 for NULL */
	} dm[] = {
		{ "user@example.com", 4 },
		{ "\"a@b\"@c", 5 },
		{ "a@b@c", 3 },
		{ "\"a\\\"@b\"@c", 7 },
		{ "\"a@b\"", -1 },
		{ "nodomain", -1 },
		{ "", -1 },
	};
	static const struct {
		const char *in;
		int utf8;
		int valid;
		int fqdn;
	} dv[] = {
		{ "example.com", 0, 1, 1 },
		{ "Mail-1.Example.COM", 0, 1, 1 },
		{ "a_b.c", 0, 1, 1 },
		{ "localhost", 0, 1, 0 },
		{ "example.com.", 0, 0, 0 },
		{ ".example.com", 0, 0, 0 },
		{ "a..b", 0, 0, 0 },
		{ "", 0, 0, 0 },
		{ "a b.c", 0, 0, 0 },
		{ "a\r.c", 0, 0, 0 },
		{ "[192.0.2.1]", 0, 1, 0 },
		{ "[IPv6:2001:db8::1]", 0, 1, 0 },
		{ "[192.0.2.1", 0, 0, 0 },
		{ "[192.0.2.1]x", 0, 0, 0 },
		{ "[300.0.2.1]", 0, 0, 0 },
		{ "例子.测试", 1, 1, 1 },
		{ "例子.测试", 0, 0, 1 },
		{ "\xff.com", 1, 0, 0 },
	};
	char *s, *e, *d;
	const char *at;
	size_t i;

	for (i = 0; i < sizeof(xt) / sizeof(xt[0]); i++) {
		s = pm_xtext_decode(xt[i].in);
		cr_expect((s == NULL && xt[i].want == NULL) ||
		        (s != NULL && xt[i].want != NULL &&
		            strcmp(s, xt[i].want) == 0),
		    "xtext %zu \"%s\": got \"%s\", want \"%s\"", i, xt[i].in,
		    s ? s : "(null)", xt[i].want ? xt[i].want : "(null)");
		free(s);
	}
	e = pm_xtext_encode("a+b=c d\xc3\xa9");
	cr_expect_str_eq(e, "a+2Bb+3Dc+20d+C3+A9", "encode: got \"%s\"", e);
	d = pm_xtext_decode(e);
	cr_expect_str_eq(d, "a+b=c d\xc3\xa9", "round trip: got \"%s\"", d);
	free(e);
	free(d);

	for (i = 0; i < sizeof(dm) / sizeof(dm[0]); i++) {
		at = pm_addr_domain(dm[i].in);
		cr_expect_eq(at ? (int) (at - dm[i].in) : -1, dm[i].at,
		    "domain %zu \"%s\": got %d, want %d", i, dm[i].in,
		    at ? (int) (at - dm[i].in) : -1, dm[i].at);
	}
	cr_expect_null(pm_addr_domain(NULL), "NULL: got non-NULL");

	for (i = 0; i < sizeof(dv) / sizeof(dv[0]); i++) {
		int v = pm_addr_domain_valid(dv[i].in, dv[i].utf8);
		int f = pm_addr_domain_fqdn(dv[i].in);

		cr_expect_eq(v, dv[i].valid,
		    "valid %zu \"%s\": got %d, want %d", i, dv[i].in, v,
		    dv[i].valid);
		cr_expect_eq(f, dv[i].fqdn, "fqdn %zu \"%s\": got %d, want %d",
		    i, dv[i].in, f, dv[i].fqdn);
	}
}
