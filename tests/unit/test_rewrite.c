/*
 * NAME
 *	test_rewrite - unit tests for pm_resolve (canonical form, address
 *	classes, known recipients) and the rewrite client stub
 * DESCRIPTION
 *	Parameters are set with pm_cfg_set() and bound as a service would;
 *	tables are inline: so no files are needed. Tables of input and
 *	want, including hostile input (control characters, bare CR/LF,
 *	unbalanced quotes, over-long parts, truncated input), and
 *	routing operators hidden in quoted local parts
 *	(resolve_dequoted_address).
 *	The client test runs a small pm_rpc server in the process (on an
 *	ipc:// socket) whose handler counts requests, to see the cache
 *	work (hits, check_known in the key, LRU bound, TTL) and hostile
 *	replies refused.
 */
#include "pm_cfg.h"
#include "pm_common_params.h"
#include "rewrite_resolve.h"
#include "pm_rpc.h"
#include "pm_util.h"
#include "rewrite_clnt.h"

#include "common.pb-c.h"
#include "rewrite.pb-c.h"

#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The base configuration every test starts from. */
static const struct kv base_cfg[] = {
	{ "myhostname", "mail.example.com" },
	{ "mydomain", "example.com" },
	{ "myorigin", "$myhostname" },
	{ "mydestination",
	    "$myhostname, localhost.$mydomain, localhost, "
	    "example.com, inline:{ tabledest.test=yes }" },
	{ "relay_domains", "!no.relay.test, relay.test, .sub.relay2.test" },
	{ "relay_recipient_maps",
	    "inline:{ ok@relay.test=1, "
	    "@a.sub.relay2.test=1 }" },
	{ "virtual_alias_domains", "valias.test" },
	{ "virtual_alias_maps",
	    "inline:{ info@valias.test=x@example.com, "
	    "alias@example.com=alice }" },
	{ "virtual_mailbox_domains", "vmbox.test" },
	{ "virtual_mailbox_maps", "inline:{ u@vmbox.test=vmbox/u/ }" },
	{ "local_recipient_maps", "inline:{ alice=1, bob@example.com=1 }" },
	{ "recipient_delimiter", "+" },
	{ "transport_maps",
	    "inline:{ special.test=smtp:[10.0.0.1]:2525, "
	    "keep.test=:[gw.test], { err.test = error:no mail here }, "
	    "only.test=lmtp, .parent.test=relay:[p.test], "
	    "vip@example.com=local:other }" },
	{ "relocated_maps",
	    "inline:{ gone@example.com=new@else.test, "
	    "@moved.test=x@else.test }" },
	{ NULL, NULL },
};

static pm_resolve *
setup(const struct kv *extra)
{
	const struct kv *kv;
	pm_resolve *r;
	char *err = NULL;

	pm_cfg_reset();
	for (kv = base_cfg; kv->name != NULL; kv++) {
		pm_cfg_set(kv->name, kv->value);
	}
	for (kv = extra; kv != NULL && kv->name != NULL; kv++) {
		pm_cfg_set(kv->name, kv->value);
	}
	pm_common_params_bind();
	pm_resolve_params_bind();
	r = pm_resolve_new(&err);
	cr_assert_not_null(r, "pm_resolve_new: %s", err ? err : "?");
	return (r);
}

static char *
repeat(const char *prefix, char c, size_t n, const char *suffix)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = pm_malloc(pl + n + sl + 1);

	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	memcpy(s + pl + n, suffix, sl + 1);
	return (s);
}

#define F_FAIL PM_RESOLVE_FAIL
#define F_ROUTED PM_RESOLVE_ROUTED

struct canon_case {
	const char *in;
	const char *rule;
	const char *want; /* NULL: FAIL expected */
	unsigned flags;   /* FAIL/ROUTED bits wanted, exactly */
};

static void
run_canon(pm_resolve *r, const struct canon_case *c, size_t n)
{
	pm_resolved res;
	size_t i;
	unsigned got;

	for (i = 0; i < n; i++) {
		cr_assert_eq(pm_resolve_canon(r, c[i].in, c[i].rule, &res), 0,
		    "case %zu: canon(%s) failed", i, c[i].in);
		got = res.flags & (F_FAIL | F_ROUTED | PM_RESOLVE_ERROR);
		cr_expect_eq(got, c[i].flags,
		    "case %zu <%s>: got flags %#x, "
		    "want %#x (text %s)",
		    i, c[i].in, got, c[i].flags, res.text);
		if (c[i].want != NULL) {
			cr_expect_str_eq(res.address, c[i].want,
			    "case %zu: got <%s>, want <%s>", i, res.address,
			    c[i].want);
		} else {
			cr_expect_neq(res.text[0], 0, "case %zu: no reason", i);
		}
		pm_resolved_free(&res);
	}
}

Test(rewrite, canonical_form)
{
	char *long_addr = repeat("", 'a', PM_RESOLVE_ADDR_MAX, "@example.com");
	char *long_label = repeat("u@", 'b', 64, ".example.com");
	char *long_domain = repeat("u@", 'c', 60, "");
	char *ok_label = repeat("u@", 'b', 63, ".example.com");
	const struct canon_case cases[] = {
		{ "user", "local", "user@mail.example.com", 0 },
		{ "user", "", "user@mail.example.com", 0 },
		{ "user", "remote", "user@example.com", 0 },
		{ "User@EXAMPLE.Com.", "local", "User@example.com", 0 },
		{ "", "local", "", 0 },
		{ "@a.test,@b.test:user@c.test", "local", "user@c.test",
		    F_ROUTED },
		{ "host!user", "local", "user@host", F_ROUTED },
		{ "a!b!c", "local", "b!c@a", F_ROUTED },
		{ "user%other.test", "local", "user@other.test", F_ROUTED },
		{ "user%other.test@example.com", "local", "user@other.test",
		    F_ROUTED },
		{ "user%other.test@remote.test", "local",
		    "user%other.test@remote.test", F_ROUTED },
		{ "user@other.test@example.com", "local", "user@other.test",
		    F_ROUTED },
		{ "u%v%w.test@example.com", "local", "u%v@w.test", F_ROUTED },
		/* resolve_dequoted_address: quoted operators count */
		{ "\"a@b\"@example.com", "local", "a@b", F_ROUTED },
		{ "\"john doe\"@Example.COM", "local",
		    "\"john doe\"@example.com", 0 },
		{ "user@[192.0.2.1]", "local", "user@[192.0.2.1]", 0 },
		{ "user@[IPv6:2001:DB8::1]", "local", "user@[ipv6:2001:db8::1]",
		    0 },
		{ "user@localhost", "remote", "user@localhost", 0 },
		{ "user@host", "local", "user@host", 0 },
		{ ok_label, "local", ok_label, 0 },
		/* hostile or malformed */
		{ "@example.com", "local", NULL, F_FAIL },
		{ "user@", "local", NULL, F_FAIL },
		{ "user@.", "local", NULL, F_FAIL },
		{ "user@x.test..", "local", NULL, F_FAIL },
		{ "user@exa mple.com", "local", NULL, F_FAIL },
		{ "us er@example.com", "local", NULL, F_FAIL },
		{ "user\r\nRCPT TO:<x@y>@example.com", "local", NULL, F_FAIL },
		{ "user@example.com\n", "local", NULL, F_FAIL },
		{ "user\r@example.com", "local", NULL, F_FAIL },
		{ "\"unbalanced@example.com", "local", NULL, F_FAIL },
		{ "user\\", "local", NULL, F_FAIL },
		{ "user@-bad.com", "local", NULL, F_FAIL },
		{ "user@bad-.com", "local", NULL, F_FAIL },
		{ "user@1.2.3.4", "local", NULL, F_FAIL },
		{ "user@[1.2.3]", "local", NULL, F_FAIL },
		{ "user@[1.2.3.4", "local", NULL, F_FAIL },
		{ "user@exam<ple.com", "local", NULL, F_FAIL },
		{ "<user>@example.com", "local", NULL, F_FAIL },
		{ "@a.test:", "local", NULL, F_FAIL },
		{ "@a.test", "local", NULL, F_FAIL },
		{ "user\x7f@example.com", "local", NULL, F_FAIL },
		{ long_addr, "local", NULL, F_FAIL },
		{ long_label, "local", NULL, F_FAIL },
		{ "x@a..b", "local", NULL, F_FAIL },
	};
	pm_resolve *r = setup(NULL);
	pm_resolved res;
	char *huge_domain;

	run_canon(r, cases, sizeof(cases) / sizeof(cases[0]));

	/* a 300-byte domain: 5 labels of 60 */
	huge_domain = pm_asprintf("%s.%s.%s.%s.%s", long_domain + 2,
	    long_domain + 2, long_domain + 2, long_domain + 2, long_domain + 2);
	free(long_domain);
	long_domain = pm_asprintf("u@%s", huge_domain);
	cr_assert_eq(pm_resolve_canon(r, long_domain, "local", &res), 0);
	cr_expect(res.flags & F_FAIL,
	    "got flags %#x for a 304-byte domain, "
	    "want FAIL",
	    res.flags);
	pm_resolved_free(&res);

	cr_expect_eq(pm_resolve_canon(r, "user", "bogus", &res), PM_EINVAL,
	    "unknown rule: want PM_EINVAL");
	cr_expect_eq(pm_resolve_canon(r, NULL, "local", &res), PM_EINVAL,
	    "NULL address: want PM_EINVAL");

	free(huge_domain);
	free(long_domain);
	free(long_addr);
	free(long_label);
	free(ok_label);
	pm_resolve_free(r);
	LEAK_CHECK();
}

Test(rewrite, canonical_form_settings)
{
	static const struct kv extra[] = {
		{ "append_dot_mydomain", "yes" },
		{ "swap_bangpath", "no" },
		{ "allow_percent_hack", "no" },
		{ NULL, NULL },
	};
	const struct canon_case cases[] = {
		{ "user@host", "local", "user@host.example.com", 0 },
		{ "user@Host.", "local", "user@host.example.com", 0 },
		{ "user@[10.1.2.3]", "local", "user@[10.1.2.3]", 0 },
		{ "user@a.test", "local", "user@a.test", 0 },
		{ "user", "local", "user@mail.example.com", 0 },
		/* operators not honoured, but still flagged as routed */
		{ "host!user", "local", "host!user@mail.example.com",
		    F_ROUTED },
		{ "user%other.test", "local",
		    "user%other.test@mail.example.com", F_ROUTED },
		{ "user%other.test@example.com", "local",
		    "user%other.test@example.com", F_ROUTED },
		/* '@' in the local part of a local address: always */
		{ "user@other.test@example.com", "local", "user@other.test",
		    F_ROUTED },
	};
	pm_resolve *r = setup(extra);

	run_canon(r, cases, sizeof(cases) / sizeof(cases[0]));
	pm_resolve_free(r);
	LEAK_CHECK();
}

#define K PM_RESOLVE_KNOWN
#define U PM_RESOLVE_UNKNOWN
#define RL PM_RESOLVE_RELOCATED

struct res_case {
	const char *in;
	int known;
	int cls;
	const char *transport;
	const char *nexthop;
	const char *recipient;
	unsigned flags;   /* FAIL/ROUTED/KNOWN/UNKNOWN/RELOCATED, exactly */
	const char *text; /* NULL: not checked */
};

static void
run_resolve(pm_resolve *r, const struct res_case *c, size_t n)
{
	pm_resolved res;
	unsigned mask = PM_RESOLVE_ALL_FLAGS, got;
	size_t i;

	for (i = 0; i < n; i++) {
		cr_assert_eq(pm_resolve_addr(r, c[i].in, "local", c[i].known,
		                 &res),
		    0, "case %zu: resolve(%s) failed", i, c[i].in);
		got = res.flags & mask;
		cr_expect_eq(got, c[i].flags,
		    "case %zu <%s>: got flags %#x, "
		    "want %#x (text %s)",
		    i, c[i].in, got, c[i].flags, res.text);
		cr_expect_eq(res.addr_class, c[i].cls,
		    "case %zu <%s>: got "
		    "class %s, want %s",
		    i, c[i].in, pm_resolve_class_name(res.addr_class),
		    pm_resolve_class_name(c[i].cls));
		if (c[i].transport != NULL) {
			cr_expect_str_eq(res.transport, c[i].transport,
			    "case %zu <%s>: got transport %s, want %s", i,
			    c[i].in, res.transport, c[i].transport);
		}
		if (c[i].nexthop != NULL) {
			cr_expect_str_eq(res.nexthop, c[i].nexthop,
			    "case %zu <%s>: got nexthop %s, want %s", i,
			    c[i].in, res.nexthop, c[i].nexthop);
		}
		if (c[i].recipient != NULL) {
			cr_expect_str_eq(res.recipient, c[i].recipient,
			    "case %zu <%s>: got recipient %s, want %s", i,
			    c[i].in, res.recipient, c[i].recipient);
		}
		if (c[i].text != NULL) {
			cr_expect_str_eq(res.text, c[i].text,
			    "case %zu <%s>: got text \"%s\", want \"%s\"", i,
			    c[i].in, res.text, c[i].text);
		}
		pm_resolved_free(&res);
	}
}

Test(rewrite, resolve_classes)
{
	const struct res_case cases[] = {
		/* local class */
		{ "alice@example.com", 1, PM_CLASS_LOCAL, "local",
		    "mail.example.com", "alice@example.com", K, "" },
		{ "alice+ext@example.com", 1, PM_CLASS_LOCAL, "local", NULL,
		    "alice+ext@example.com", K, NULL },
		{ "Bob@Example.COM", 1, PM_CLASS_LOCAL, "local", NULL,
		    "Bob@example.com", K, NULL },
		{ "bob+x@example.com", 1, PM_CLASS_LOCAL, NULL, NULL, NULL, K,
		    NULL },
		{ "carol@example.com", 1, PM_CLASS_LOCAL, "local", NULL, NULL,
		    U, "User unknown in local recipient table" },
		{ "carol@example.com", 0, PM_CLASS_LOCAL, "local", NULL, NULL,
		    0, "" },
		{ "postmaster@example.com", 1, PM_CLASS_LOCAL, NULL, NULL, NULL,
		    K, NULL },
		{ "PostMaster@mail.example.com", 1, PM_CLASS_LOCAL, NULL, NULL,
		    NULL, K, NULL },
		{ "alias@example.com", 1, PM_CLASS_LOCAL, NULL, NULL, NULL, K,
		    NULL },
		{ "alice", 1, PM_CLASS_LOCAL, "local", "mail.example.com",
		    "alice@mail.example.com", K, NULL },
		{ "x@localhost", 0, PM_CLASS_LOCAL, "local", NULL, NULL, 0,
		    NULL },
		{ "x@localhost.example.com", 0, PM_CLASS_LOCAL, NULL, NULL,
		    NULL, 0, NULL },
		{ "x@tabledest.test", 0, PM_CLASS_LOCAL, NULL, NULL, NULL, 0,
		    NULL },
		{ "x@[127.0.0.1]", 0, PM_CLASS_LOCAL, "local", NULL, NULL, 0,
		    NULL },
		{ "x@[IPv6:0::1]", 0, PM_CLASS_LOCAL, NULL, NULL, NULL, 0,
		    NULL },
		{ "x@[192.0.2.1]", 0, PM_CLASS_DEFAULT, "smtp", "[192.0.2.1]",
		    NULL, 0, NULL },
		{ "vip@example.com", 0, PM_CLASS_LOCAL, "local", "other", NULL,
		    0, NULL },
		/* null sender: the local MAILER-DAEMON */
		{ "", 1, PM_CLASS_LOCAL, "local", "mail.example.com",
		    "MAILER-DAEMON@mail.example.com", K, NULL },
		/* virtual alias class */
		{ "info@valias.test", 1, PM_CLASS_VIRTUAL_ALIAS, "error",
		    "User unknown in virtual alias table", NULL, K, NULL },
		{ "nobody@valias.test", 1, PM_CLASS_VIRTUAL_ALIAS, "error",
		    NULL, NULL, U, "User unknown in virtual alias table" },
		/* virtual mailbox class */
		{ "u@vmbox.test", 1, PM_CLASS_VIRTUAL_MAILBOX, "virtual",
		    "vmbox.test", NULL, K, NULL },
		{ "u+box@vmbox.test", 1, PM_CLASS_VIRTUAL_MAILBOX, "virtual",
		    NULL, NULL, K, NULL },
		{ "x@vmbox.test", 1, PM_CLASS_VIRTUAL_MAILBOX, NULL, NULL, NULL,
		    U, "User unknown in virtual mailbox table" },
		/* relay class (relay_transport: lib default "relay") */
		{ "ok@relay.test", 1, PM_CLASS_RELAY, "relay", "relay.test",
		    NULL, K, NULL },
		{ "no@relay.test", 1, PM_CLASS_RELAY, NULL, NULL, NULL, U,
		    "User unknown in relay recipient table" },
		{ "x@deep.relay.test", 0, PM_CLASS_RELAY, NULL,
		    "deep.relay.test", NULL, 0, NULL },
		{ "x@no.relay.test", 0, PM_CLASS_DEFAULT, "smtp", NULL, NULL, 0,
		    NULL },
		{ "x@a.sub.relay2.test", 1, PM_CLASS_RELAY, NULL, NULL, NULL, K,
		    NULL },
		{ "x@sub.relay2.test", 0, PM_CLASS_DEFAULT, NULL, NULL, NULL, 0,
		    NULL },
		{ "x@relay.test.evil", 0, PM_CLASS_DEFAULT, NULL, NULL, NULL, 0,
		    NULL },
		{ "x@xrelay.test", 0, PM_CLASS_DEFAULT, NULL, NULL, NULL, 0,
		    NULL },
		/* default class and transport_maps */
		{ "a@Other.Test", 1, PM_CLASS_DEFAULT, "smtp", "other.test",
		    "a@other.test", K, NULL },
		{ "a@special.test", 0, PM_CLASS_DEFAULT, "smtp",
		    "[10.0.0.1]:2525", NULL, 0, NULL },
		{ "a@keep.test", 0, PM_CLASS_DEFAULT, "smtp", "[gw.test]", NULL,
		    0, NULL },
		{ "a@err.test", 0, PM_CLASS_DEFAULT, "error", "no mail here",
		    NULL, 0, NULL },
		{ "a@only.test", 0, PM_CLASS_DEFAULT, "lmtp", "only.test", NULL,
		    0, NULL },
		{ "a@x.parent.test", 0, PM_CLASS_DEFAULT, "relay", "[p.test]",
		    NULL, 0, NULL },
		{ "a@parent.test", 0, PM_CLASS_DEFAULT, "smtp", "parent.test",
		    NULL, 0, NULL },
		/* relocated */
		{ "gone@example.com", 1, PM_CLASS_LOCAL, NULL, NULL, NULL,
		    RL | K, "new@else.test" },
		{ "gone+x@example.com", 0, PM_CLASS_LOCAL, NULL, NULL, NULL, RL,
		    "new@else.test" },
		{ "z@moved.test", 0, PM_CLASS_DEFAULT, NULL, NULL, NULL, RL,
		    "x@else.test" },
		/* routing */
		{ "user%a.test@example.com", 0, PM_CLASS_DEFAULT, "smtp",
		    "a.test", "user@a.test", PM_RESOLVE_ROUTED, NULL },
		{ "user%a.test@relay.test", 0, PM_CLASS_RELAY, NULL, NULL,
		    "user%a.test@relay.test", PM_RESOLVE_ROUTED, NULL },
		/* malformed: FAIL, no class, nothing known */
		{ "@example.com", 1, PM_CLASS_UNSET, "", "", NULL,
		    PM_RESOLVE_FAIL, NULL },
		{ "a@b@", 1, PM_CLASS_UNSET, NULL, NULL, NULL, PM_RESOLVE_FAIL,
		    NULL },
		{ "x\n@example.com", 1, PM_CLASS_UNSET, NULL, NULL, NULL,
		    PM_RESOLVE_FAIL, NULL },
	};
	pm_resolve *r = setup(NULL);

	run_resolve(r, cases, sizeof(cases) / sizeof(cases[0]));
	cr_expect_eq(pm_resolve_addr(r, "a@b.test", "x", 0,
	                 &(pm_resolved){ 0 }),
	    PM_EINVAL, "unknown rule: want PM_EINVAL");
	pm_resolve_free(r);
	LEAK_CHECK();
}

Test(rewrite, resolve_relayhost_and_transports)
{
	static const struct kv extra[] = {
		{ "relayhost", "[smart.test]:587" },
		{ "relay_transport", "smtp:[relay-gw.test]" },
		{ "local_transport", "lmtp" },
		{ "local_recipient_maps", "" },
		{ "parent_domain_matches_subdomains", "transport_maps" },
		{ "transport_maps",
		    "inline:{ parent.test=smtp:[pp.test], "
		    "bare.test=error, *=:[wild.test] }" },
		{ NULL, NULL },
	};
	const struct res_case cases[] = {
		{ "a@other.test", 0, PM_CLASS_DEFAULT, "smtp", "[wild.test]",
		    NULL, 0, NULL },
		{ "a@relay.test", 0, PM_CLASS_RELAY, "smtp", "[wild.test]",
		    NULL, 0, NULL },
		{ "a@x.parent.test", 0, PM_CLASS_DEFAULT, "smtp", "[pp.test]",
		    NULL, 0, NULL },
		{ "a@bare.test", 0, PM_CLASS_DEFAULT, "error",
		    "Address is undeliverable", NULL, 0, NULL },
		/* empty local_recipient_maps: every local part is known */
		{ "anyone@example.com", 1, PM_CLASS_LOCAL, "lmtp",
		    "[wild.test]", NULL, K, NULL },
		/* relay_domains no longer parent-matching */
		{ "a@deep.relay.test", 0, PM_CLASS_DEFAULT, NULL, NULL, NULL, 0,
		    NULL },
		{ "info@valias.test", 0, PM_CLASS_VIRTUAL_ALIAS, "error",
		    "User unknown in virtual alias table", NULL, 0, NULL },
	};
	static const struct kv extra2[] = {
		{ "relayhost", "[smart.test]:587" },
		{ "relay_transport", "smtp:[relay-gw.test]" },
		{ "transport_maps", "" },
		{ NULL, NULL },
	};
	const struct res_case cases2[] = {
		{ "a@other.test", 0, PM_CLASS_DEFAULT, "smtp",
		    "[smart.test]:587", NULL, 0, NULL },
		{ "a@relay.test", 0, PM_CLASS_RELAY, "smtp", "[relay-gw.test]",
		    NULL, 0, NULL },
		{ "a@example.com", 0, PM_CLASS_LOCAL, "local",
		    "mail.example.com", NULL, 0, NULL },
	};
	pm_resolve *r = setup(extra);

	run_resolve(r, cases, sizeof(cases) / sizeof(cases[0]));
	pm_resolve_free(r);
	r = setup(extra2);
	run_resolve(r, cases2, sizeof(cases2) / sizeof(cases2[0]));
	pm_resolve_free(r);
	LEAK_CHECK();
}

/*
 * resolve_dequoted_address (issue 6, 3c): routing operators inside a
 * quoted local part make the address routed (so reject_unauth_destination
 * refuses it), and with the default "yes" a local domain in front of
 * them is stripped, as Postfix's resolver does.
 */
Test(rewrite, resolve_dequoted_address)
{
	static const struct kv no[] = {
		{ "resolve_dequoted_address", "no" },
		{ NULL, NULL },
	};
	const struct res_case cases[] = {
		{ "\"victim@external.test\"@relay.test", 0, PM_CLASS_RELAY,
		    NULL, "relay.test", "\"victim@external.test\"@relay.test",
		    F_ROUTED, NULL },
		{ "\"a@b\"@relay.test", 0, PM_CLASS_RELAY, NULL, NULL, NULL,
		    F_ROUTED, NULL },
		{ "\"a%b\"@relay.test", 0, PM_CLASS_RELAY, NULL, NULL, NULL,
		    F_ROUTED, NULL },
		{ "\"a!b\"@relay.test", 0, PM_CLASS_RELAY, NULL, NULL, NULL,
		    F_ROUTED, NULL },
		{ "a\\@b@relay.test", 0, PM_CLASS_RELAY, NULL, NULL, NULL,
		    F_ROUTED, NULL },
		{ "\"a@b\"@other.test", 0, PM_CLASS_DEFAULT, "smtp",
		    "other.test", NULL, F_ROUTED, NULL },
		/* quoted local parts without operators are still fine */
		{ "\"john doe\"@relay.test", 0, PM_CLASS_RELAY, "relay",
		    "relay.test", "\"john doe\"@relay.test", 0, NULL },
		{ "\"a.b\"@relay.test", 0, PM_CLASS_RELAY, NULL, NULL,
		    "\"a.b\"@relay.test", 0, NULL },
		{ "\"alice\"@example.com", 0, PM_CLASS_LOCAL, "local", NULL,
		    NULL, 0, NULL },
		/* a local domain in front is stripped, the rest resolved */
		{ "\"a@b.test\"@example.com", 0, PM_CLASS_DEFAULT, "smtp",
		    "b.test", "a@b.test", F_ROUTED, NULL },
		{ "\"a%b.test\"@example.com", 0, PM_CLASS_DEFAULT, "smtp",
		    "b.test", "a@b.test", F_ROUTED, NULL },
		{ "\"b.test!a\"@example.com", 0, PM_CLASS_DEFAULT, "smtp",
		    "b.test", "a@b.test", F_ROUTED, NULL },
		{ "\"john doe@b.test\"@example.com", 0, PM_CLASS_DEFAULT,
		    "smtp", "b.test", "\"john doe\"@b.test", F_ROUTED, NULL },
		{ "\"x\\\"y@b.test\"@example.com", 0, PM_CLASS_DEFAULT, NULL,
		    NULL, "\"x\\\"y\"@b.test", F_ROUTED, NULL },
		{ "\"a@b.test@example.com\"@mail.example.com", 0,
		    PM_CLASS_DEFAULT, NULL, "b.test", "a@b.test", F_ROUTED,
		    NULL },
		{ "\"alice@example.com\"@example.com", 1, PM_CLASS_LOCAL,
		    "local", NULL, "alice@example.com", F_ROUTED | K, NULL },
		{ "\"!a\"@example.com", 0, PM_CLASS_LOCAL, NULL, NULL,
		    "\"!a\"@example.com", F_ROUTED, NULL },
	};
	const struct res_case cases_no[] = {
		/* opaque to the class decision, but still routed */
		{ "\"a@b.test\"@example.com", 0, PM_CLASS_LOCAL, "local", NULL,
		    "\"a@b.test\"@example.com", F_ROUTED, NULL },
		{ "\"victim@external.test\"@relay.test", 0, PM_CLASS_RELAY,
		    NULL, NULL, NULL, F_ROUTED, NULL },
		{ "\"john doe\"@relay.test", 0, PM_CLASS_RELAY, NULL, NULL,
		    NULL, 0, NULL },
	};
	pm_resolve *r = setup(NULL);

	run_resolve(r, cases, sizeof(cases) / sizeof(cases[0]));
	pm_resolve_free(r);
	r = setup(no);
	run_resolve(r, cases_no, sizeof(cases_no) / sizeof(cases_no[0]));
	pm_resolve_free(r);
	LEAK_CHECK();
}

Test(rewrite, bad_configuration)
{
	static const struct {
		const char *name;
		const char *value;
		const char *want; /* in the error text */
	} cases[] = {
		{ "transport_maps", "nosuchtype:/x", "transport_maps" },
		{ "mydestination", "/etc/postfix/local-domains",
		    "mydestination" },
		{ "relay_domains", "example.net, bogus:{x}", "relay_domains" },
		{ "relay_transport", ":[gw.test]", "relay_transport" },
		{ "local_recipient_maps", "texthash:/nonexistent/pm_test",
		    "local_recipient_maps" },
	};
	size_t i;
	pm_resolve *r;
	char *err;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = setup(NULL);
		pm_resolve_free(r);
		pm_cfg_set(cases[i].name, cases[i].value);
		pm_resolve_params_bind();
		pm_common_params_bind();
		err = NULL;
		r = pm_resolve_new(&err);
		cr_expect_null(r,
		    "case %zu: %s = %s: got a resolver, want "
		    "an error",
		    i, cases[i].name, cases[i].value);
		cr_expect(err != NULL && strstr(err, cases[i].want) != NULL,
		    "case %zu: got error \"%s\", want one naming %s", i,
		    err ? err : "(null)", cases[i].want);
		free(err);
		pm_resolve_free(r);
	}
	LEAK_CHECK();
}

/*
 * Client stub: a server in this process answers with pm_resolve, or
 * with a hostile reply when asked.
 */
static pm_resolve *srv_resolver;
static atomic_int srv_calls;
static atomic_int srv_mode; /* 0 normal, 1 bad class, 2 bad flags, 3 junk */

static int
srv_handler(void *tctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	Pm__RewriteRequest *m;
	Pm__RewriteReply rep = PM__REWRITE_REPLY__INIT;
	pm_resolved res;
	uint8_t buf[4096];
	size_t len;
	int rc;

	(void) tctx;
	atomic_fetch_add(&srv_calls, 1);
	if ((m = pm__rewrite_request__unpack(NULL, reqlen, req)) == NULL) {
		return (PM_EPROTO);
	}
	if (type == PM__MSG_TYPE__MSG_REWRITE_RESOLVE) {
		rc = pm_resolve_addr(srv_resolver, m->address, m->rule,
		    m->check_known, &res);
	} else {
		rc = pm_resolve_canon(srv_resolver, m->address, m->rule, &res);
	}
	pm__rewrite_request__free_unpacked(m, NULL);
	if (rc != 0) {
		return (rc);
	}
	rep.address = res.address;
	rep.addr_class = (Pm__AddrClass) res.addr_class;
	rep.transport = res.transport;
	rep.nexthop = res.nexthop;
	rep.recipient = res.recipient;
	rep.flags = res.flags;
	rep.text = res.text;
	if (atomic_load(&srv_mode) == 1) {
		rep.addr_class = (Pm__AddrClass) 77;
	} else if (atomic_load(&srv_mode) == 2) {
		rep.flags = 0x1000;
	}
	len = pm__rewrite_reply__pack(&rep, buf);
	pm_resolved_free(&res);
	*rtype = PM__MSG_TYPE__MSG_REWRITE_REPLY;
	if (atomic_load(&srv_mode) == 3) {
		return (pm_buf_append(rbuf, "\xff\xff\xff", 3));
	}
	return (pm_buf_append(rbuf, buf, len));
}

Test(rewrite, client_cache)
{
	static const struct kv extra[] = {
		{ "rewrite_cache_size", "2" },
		{ "rewrite_cache_ttl", "1s" },
		{ NULL, NULL },
	};
	pm_rpc_server *srv;
	pm_rewrite_clnt *c;
	pm_resolved res;
	char url[128], *canon = NULL;
	int calls;

	srv_resolver = setup(extra);
	snprintf(url, sizeof(url), "ipc:///tmp/pm_test_rewrite_%d.ipc",
	    (int) getpid());
	srv = pm_rpc_server_start(url, 2, PM_RPC_CONTROL_MAX, srv_handler, NULL,
	    NULL);
	cr_assert_not_null(srv, "server start on %s", url);
	c = pm_rewrite_clnt_new(url, 5000);
	cr_assert_not_null(c);

	cr_assert_eq(pm_rewrite_resolve(c, "carol@example.com", "local", 1,
	                 &res),
	    0);
	cr_expect(res.flags & PM_RESOLVE_UNKNOWN,
	    "got flags %#x, want "
	    "UNKNOWN",
	    res.flags);
	cr_expect_str_eq(res.text, "User unknown in local recipient table");
	pm_resolved_free(&res);
	cr_assert_eq(pm_rewrite_resolve(c, "carol@example.com", "local", 1,
	                 &res),
	    0);
	pm_resolved_free(&res);
	calls = atomic_load(&srv_calls);
	cr_expect_eq(calls, 1, "got %d server calls, want 1 (cached)", calls);

	/* check_known is part of the key */
	cr_assert_eq(pm_rewrite_resolve(c, "carol@example.com", "local", 0,
	                 &res),
	    0);
	cr_expect_eq(res.flags & (PM_RESOLVE_KNOWN | PM_RESOLVE_UNKNOWN), 0,
	    "got flags %#x without check_known", res.flags);
	pm_resolved_free(&res);
	cr_expect_eq(atomic_load(&srv_calls), 2, "got %d calls, want 2",
	    atomic_load(&srv_calls));

	/* canonical form: its own key; the LRU holds 2 entries */
	cr_assert_eq(pm_rewrite_canon(c, "user", "remote", &canon), 0);
	cr_expect_str_eq(canon, "user@example.com");
	free(canon);
	cr_expect_eq(atomic_load(&srv_calls), 3, "got %d calls, want 3",
	    atomic_load(&srv_calls));
	/* the first entry was evicted (size 2): asked again */
	cr_assert_eq(pm_rewrite_resolve(c, "carol@example.com", "local", 1,
	                 &res),
	    0);
	pm_resolved_free(&res);
	cr_expect_eq(atomic_load(&srv_calls), 4,
	    "got %d calls, want 4 "
	    "(LRU eviction)",
	    atomic_load(&srv_calls));

	/* malformed address: PM_EINVAL from canon; too long: no request */
	cr_expect_eq(pm_rewrite_canon(c, "@x.test", "local", &canon), PM_EINVAL,
	    "malformed address: want PM_EINVAL");
	calls = atomic_load(&srv_calls);
	{
		char *big = repeat("", 'x', PM_RESOLVE_ADDR_MAX + 1, "");

		cr_assert_eq(pm_rewrite_resolve(c, big, "local", 0, &res), 0);
		cr_expect(res.flags & PM_RESOLVE_FAIL, "too long: got %#x",
		    res.flags);
		pm_resolved_free(&res);
		free(big);
	}
	cr_expect_eq(atomic_load(&srv_calls), calls,
	    "too long address was "
	    "sent to the server");
	cr_expect_eq(pm_rewrite_resolve(c, "a@b.test", "bogus", 0, &res),
	    PM_EINVAL, "unknown rule: want PM_EINVAL");

	/* TTL: after 1s the entry is stale */
	sleep(2);
	calls = atomic_load(&srv_calls);
	cr_assert_eq(pm_rewrite_resolve(c, "carol@example.com", "local", 1,
	                 &res),
	    0);
	pm_resolved_free(&res);
	cr_expect_eq(atomic_load(&srv_calls), calls + 1, "stale entry used");

	/* hostile replies */
	atomic_store(&srv_mode, 1);
	cr_expect_eq(pm_rewrite_resolve(c, "h1@x.test", "local", 0, &res),
	    PM_EPROTO, "bad class: want PM_EPROTO");
	atomic_store(&srv_mode, 2);
	cr_expect_eq(pm_rewrite_resolve(c, "h2@x.test", "local", 0, &res),
	    PM_EPROTO, "bad flags: want PM_EPROTO");
	atomic_store(&srv_mode, 3);
	cr_expect_eq(pm_rewrite_resolve(c, "h3@x.test", "local", 0, &res),
	    PM_EPROTO, "junk reply: want PM_EPROTO");
	atomic_store(&srv_mode, 0);

	pm_rewrite_clnt_free(c);
	pm_rpc_server_stop(srv);
	srv_resolver = pm_resolve_free(srv_resolver);
	unlink(url + strlen("ipc://"));
	LEAK_CHECK();
}

Test(rewrite, client_no_server)
{
	pm_rewrite_clnt *c;
	pm_resolved res;
	char url[128];
	int rc;

	snprintf(url, sizeof(url), "ipc:///tmp/pm_test_rewrite_none_%d.ipc",
	    (int) getpid());
	c = pm_rewrite_clnt_new(url, 300);
	cr_assert_not_null(c);
	rc = pm_rewrite_resolve(c, "a@b.test", "local", 0, &res);
	cr_expect(rc == PM_ECONNREFUSED || rc == PM_ETIMEDOUT,
	    "got %s, want "
	    "a transport error",
	    pm_strerror(rc));
	pm_rewrite_clnt_free(c);
	LEAK_CHECK();
}
