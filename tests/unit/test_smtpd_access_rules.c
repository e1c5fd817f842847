/*
 * NAME
 *	test_smtpd_access_rules - smtpd's access restrictions (pm_access)
 * DESCRIPTION
 *	The evaluation logic of services/smtpd/smtpd_check.c lives in
 *	pm_access (smtpd_check.c is a thin, reference counted wrapper
 *	around it, tested in test_smtpd_check.c), so these tests drive
 *	pm_access without a rewrite service: address classes come from
 *	pm_resolve in-process (smtpd_access_helper.h); the "rewrite service
 *	down" case uses the real rewrite client against a socket nobody
 *	listens on. DNS checks run against a real dnsmasq
 *	(dnsmasq_helper.h). Relay guard and mynetworks have their own
 *	tests in test_smtpd_access.c.
 *
 *	Each case names its extra parameters, the SMTP stage and the
 *	session, and the reply wanted; every reply is also checked for an
 *	enhanced status code whose first digit matches the reply code and
 *	for printable text. Hostile input: control characters, over-long
 *	addresses and helo names, a bogus client address; bad
 *	configuration; which stages smtpd may skip.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsmasq_helper.h"
#include "pm_dns.h"
#include "smtpd_access_helper.h"

/* A sender access table with every action of access(5). */
#define SENDER_TABLE \
	"check_sender_access inline:{ ok.test=OK, rej.test=REJECT, " \
	"{ rejtext.test = REJECT go away }, dunno.test=DUNNO, " \
	"{ t4.test = 450 try later }, { t5.test = 550 5.1.1 no such }, " \
	"{ t5x.test = 550 4.2.2 mismatched }, def.test=DEFER, " \
	"dip.test=DEFER_IF_PERMIT, hold.test=HOLD, disc.test=DISCARD, " \
	"num.test=12345, { rn.test = permit_mynetworks, reject }, " \
	"bad.test=bogus_restriction, " \
	"{ tbl.test = check_sender_access inline:{a=b} }, <>=REJECT, " \
	"friend.test=friendly, relay.test=RELAY, " \
	"{ warn.test = WARN look at this } }"

static const struct kv cfg_none[] = { { NULL, NULL } };
static const struct kv cfg_sender[] = {
	{ "smtpd_sender_restrictions", SENDER_TABLE },
	{ "smtpd_restriction_classes", "friendly" },
	{ "friendly", "permit" },
	{ NULL, NULL },
};
static const struct kv cfg_relay_code[] = {
	{ "relay_domains_reject_code", "450" }, { NULL, NULL }
};
static const struct kv cfg_defer_unauth[] = {
	{ "smtpd_relay_restrictions",
	    "permit_mynetworks defer_unauth_destination" },
	{ NULL, NULL },
};
static const struct kv cfg_no_unlisted[] = {
	{ "smtpd_reject_unlisted_recipient", "no" }, { NULL, NULL }
};
static const struct kv cfg_unk_local_450[] = {
	{ "unknown_local_recipient_reject_code", "450" }, { NULL, NULL }
};
static const struct kv cfg_client[] = {
	{ "smtpd_client_restrictions",
	    "check_client_access inline:{ "
	    "192.0.2.66=REJECT, 198.51.100=OK, "
	    "{ bad.host.test = 554 5.7.1 go away }, 2001:db8=REJECT }" },
	{ NULL, NULL },
};
static const struct kv cfg_helo[] = {
	{ "smtpd_helo_restrictions",
	    "check_helo_access inline:{ "
	    "evil.test=REJECT }, reject_invalid_helo_hostname, "
	    "reject_non_fqdn_helo_hostname" },
	{ NULL, NULL },
};
static const struct kv cfg_fqdn[] = {
	{ "smtpd_sender_restrictions", "reject_non_fqdn_sender" },
	{ "smtpd_recipient_restrictions", "reject_non_fqdn_recipient" },
	{ NULL, NULL },
};
static const struct kv cfg_nodelay[] = {
	{ "smtpd_delay_reject", "no" },
	{ "smtpd_client_restrictions",
	    "check_client_access "
	    "inline:{ 192.0.2.66=REJECT }" },
	{ "smtpd_helo_restrictions",
	    "check_helo_access "
	    "inline:{ evil.test=REJECT }" },
	{ "smtpd_sender_restrictions", "reject_non_fqdn_sender" },
	{ NULL, NULL },
};
static const struct kv cfg_delay[] = {
	{ "smtpd_client_restrictions",
	    "check_client_access "
	    "inline:{ 192.0.2.66=REJECT }" },
	{ NULL, NULL },
};
static const struct kv cfg_data[] = { { "smtpd_data_restrictions", "reject" },
	{ NULL, NULL } };
static const struct kv cfg_defer_if[] = {
	{ "smtpd_sender_restrictions",
	    "defer_if_reject, "
	    "check_sender_access inline:{ rej.test=REJECT }, "
	    "warn_if_reject, check_sender_access inline:{ w.test=REJECT }" },
	{ NULL, NULL },
};
static const struct kv cfg_dns[] = {
	{ "smtpd_sender_restrictions", "reject_unknown_sender_domain" },
	{ "smtpd_recipient_restrictions", "reject_unknown_recipient_domain" },
	{ "smtpd_helo_restrictions", "reject_unknown_helo_hostname" },
	{ NULL, NULL },
};
static const struct kv cfg_dns_550[] = {
	{ "smtpd_sender_restrictions", "reject_unknown_sender_domain" },
	{ "unknown_address_reject_code", "550" },
	{ NULL, NULL },
};
static const struct kv cfg_client_rev[] = {
	{ "smtpd_client_restrictions",
	    "reject_unknown_reverse_client_hostname" },
	{ NULL, NULL },
};
static const struct kv cfg_client_name[] = {
	{ "smtpd_client_restrictions", "reject_unknown_client_hostname" },
	{ NULL, NULL },
};

static const struct check_case relay_cases[] = {
	{ "mynetworks may relay", cfg_none, R, MYNET, NULL, "h.test",
	    "s@x.test", REM, 0, 0, NULL, NULL, 0, 0 },
	{ "outside client may not relay", cfg_none, R, OUT, NULL, "h.test",
	    "s@x.test", REM, 0, 554, "5.7.1",
	    "<x@remote.example>: Relay access denied", 0, 0 },
	{ "IPv6 outside client may not relay", cfg_none, R, "2001:db8::5", NULL,
	    "h.test", "s@x.test", REM, 0, 554, "5.7.1",
	    "<x@remote.example>: Relay access denied", 0, 0 },
	{ "IPv6 loopback is in mynetworks", cfg_none, R, "::1", NULL, "h.test",
	    "s@x.test", REM, 0, 0, NULL, NULL, 0, 0 },
	{ "local recipient from outside", cfg_none, R, OUT, NULL, "h.test",
	    "s@x.test", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "relay_domains from outside", cfg_none, R, OUT, NULL, "h.test",
	    "s@x.test", "u@relay.test", 0, 0, NULL, NULL, 0, 0 },
	{ "SASL client may relay", cfg_none, R, OUT, NULL, "h.test", "s@x.test",
	    REM, 1, 0, NULL, NULL, 0, 0 },
	{ "relay_domains_reject_code 450", cfg_relay_code, R, OUT, NULL,
	    "h.test", "s@x.test", REM, 0, 450, "4.7.1",
	    "<x@remote.example>: Relay access denied", 0, 0 },
	{ "defer_unauth_destination", cfg_defer_unauth, R, OUT, NULL, "h.test",
	    "s@x.test", REM, 0, 450, "4.7.1",
	    "<x@remote.example>: Relay access denied", 0, 0 },
	{ "percent hack is not a relay path", cfg_none, R, OUT, NULL, "h.test",
	    "s@x.test", "u%remote.example@example.com", 0, 554, "5.7.1",
	    "<u%remote.example@example.com>: Relay access denied", 0, 0 },
	{ "unknown local user", cfg_none, R, OUT, NULL, "h.test", "s@x.test",
	    "nobody@example.com", 0, 550, "5.1.1",
	    "<nobody@example.com>: "
	    "Recipient address rejected: User unknown in local recipient "
	    "table",
	    0, 0 },
	{ "unknown local user from mynetworks", cfg_none, R, MYNET, NULL,
	    "h.test", "s@x.test", "nobody@example.com", 0, 550, "5.1.1",
	    "<nobody@example.com>: Recipient address rejected: User unknown "
	    "in local recipient table",
	    0, 0 },
	{ "smtpd_reject_unlisted_recipient=no", cfg_no_unlisted, R, OUT, NULL,
	    "h.test", "s@x.test", "nobody@example.com", 0, 0, NULL, NULL, 0,
	    0 },
	{ "relocated user", cfg_none, R, OUT, NULL, "h.test", "s@x.test",
	    "gone@example.com", 0, 550, "5.1.6",
	    "<gone@example.com>: "
	    "Recipient address rejected: User has moved to new@else.test",
	    0, 0 },
	{ "unknown_local_recipient_reject_code 450", cfg_unk_local_450, R, OUT,
	    NULL, "h.test", "s@x.test", "nobody@example.com", 0, 450, "4.1.1",
	    "<nobody@example.com>: Recipient address rejected: "
	    "User unknown in local recipient table",
	    0, 0 },
};

#define S(s, code, dsn, text) \
	{ \
		"sender " s, cfg_sender, R, OUT, NULL, "h.test", s, LOC, 0, \
		    code, dsn, text, 0, 0 \
	}

static const struct check_case access_cases[] = {
	S("s@ok.test", 0, NULL, NULL),
	S("s@rej.test", 554, "5.7.1",
	    "<s@rej.test>: Sender address rejected: Access denied"),
	S("s@sub.rej.test", 554, "5.7.1",
	    "<s@sub.rej.test>: Sender address rejected: Access denied"),
	S("s@rejtext.test", 554, "5.7.1",
	    "<s@rejtext.test>: Sender address rejected: go away"),
	S("s@dunno.test", 0, NULL, NULL),
	S("s@t4.test", 450, "4.7.1",
	    "<s@t4.test>: Sender address rejected: try later"),
	S("s@t5.test", 550, "5.1.1",
	    "<s@t5.test>: Sender address rejected: no such"),
	S("s@t5x.test", 550, "5.2.2",
	    "<s@t5x.test>: Sender address rejected: mismatched"),
	S("s@def.test", 450, "4.7.1",
	    "<s@def.test>: Sender address rejected: Access denied"),
	S("s@dip.test", 450, "4.7.1",
	    "<s@dip.test>: Sender address rejected: Service unavailable"),
	S("s@num.test", 0, NULL, NULL),
	S("s@rn.test", 554, "5.7.1",
	    "<s@rn.test>: Sender address rejected: Access denied"),
	S("s@bad.test", 451, "4.3.5", "Server configuration error"),
	S("s@tbl.test", 451, "4.3.5", "Server configuration error"),
	S("", 554, "5.7.1", "<>: Sender address rejected: Access denied"),
	S("s@friend.test", 0, NULL, NULL),
	S("s@warn.test", 0, NULL, NULL),
	S("s@relay.test", 0, NULL, NULL),
	S("s\r\n\001@rej.test", 554, "5.7.1",
	    "<s???@rej.test>: Sender address rejected: Access denied"),
	{ "sender permit ends only its list", cfg_sender, R, OUT, NULL,
	    "h.test", "s@ok.test", REM, 0, 554, "5.7.1",
	    "<x@remote.example>: Relay access denied", 0, 0 },
	{ "reject beats defer_if_permit", cfg_sender, R, OUT, NULL, "h.test",
	    "s@dip.test", REM, 0, 554, "5.7.1",
	    "<x@remote.example>: Relay access denied", 0, 0 },
	{ "restriction names as result, mynetworks", cfg_sender, R, MYNET, NULL,
	    "h.test", "s@rn.test", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "HOLD", cfg_sender, R, OUT, NULL, "h.test", "s@hold.test", LOC, 0, 0,
	    NULL, NULL, 1, 0 },
	{ "DISCARD", cfg_sender, R, OUT, NULL, "h.test", "s@disc.test", LOC, 0,
	    0, NULL, NULL, 0, 1 },
	{ "client REJECT", cfg_client, R, "192.0.2.66", NULL, "h.test",
	    "s@x.test", LOC, 0, 554, "5.7.1",
	    "<unknown[192.0.2.66]>: Client host rejected: Access denied", 0,
	    0 },
	{ "client network prefix OK, relay still denied", cfg_client, R,
	    "198.51.100.7", NULL, "h.test", "s@x.test", REM, 0, 554, "5.7.1",
	    "<x@remote.example>: Relay access denied", 0, 0 },
	{ "client parent domain", cfg_client, R, "192.0.2.9",
	    "mx.bad.host.test", "h.test", "s@x.test", LOC, 0, 554, "5.7.1",
	    "<mx.bad.host.test[192.0.2.9]>: Client host rejected: go away", 0,
	    0 },
	{ "client IPv6 prefix", cfg_client, R, "2001:db8::7", NULL, "h.test",
	    "s@x.test", LOC, 0, 554, "5.7.1",
	    "<unknown[2001:db8::7]>: Client host rejected: Access denied", 0,
	    0 },
	{ "bogus client address", cfg_client, R, "not an address", NULL,
	    "h.test", "s@x.test", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "helo access", cfg_helo, R, OUT, NULL, "evil.test", "s@x.test", LOC,
	    0, 554, "5.7.1",
	    "<evil.test>: Helo command rejected: Access denied", 0, 0 },
	{ "invalid helo", cfg_helo, R, OUT, NULL, "bad_host!", "s@x.test", LOC,
	    0, 501, "5.5.2", "<bad_host!>: Helo command rejected: Invalid name",
	    0, 0 },
	{ "non-FQDN helo", cfg_helo, R, OUT, NULL, "localhost", "s@x.test", LOC,
	    0, 504, "5.5.2",
	    "<localhost>: Helo command rejected: "
	    "need fully-qualified hostname",
	    0, 0 },
	{ "helo address literal", cfg_helo, R, OUT, NULL, "[192.0.2.1]",
	    "s@x.test", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "no helo yet", cfg_helo, R, OUT, NULL, NULL, "s@x.test", LOC, 0, 0,
	    NULL, NULL, 0, 0 },
	{ "non-FQDN sender", cfg_fqdn, R, OUT, NULL, "h.test", "user", LOC, 0,
	    504, "5.5.2",
	    "<user>: Sender address rejected: need "
	    "fully-qualified address",
	    0, 0 },
	{ "non-FQDN sender domain", cfg_fqdn, R, OUT, NULL, "h.test",
	    "user@host", LOC, 0, 504, "5.5.2",
	    "<user@host>: Sender address "
	    "rejected: need fully-qualified address",
	    0, 0 },
	{ "null sender is fine", cfg_fqdn, R, OUT, NULL, "h.test", "", LOC, 0,
	    0, NULL, NULL, 0, 0 },
	{ "sender address literal", cfg_fqdn, R, OUT, NULL, "h.test",
	    "u@[192.0.2.1]", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "sender trailing dot", cfg_fqdn, R, OUT, NULL, "h.test",
	    "u@x.example.com.", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "non-FQDN recipient after mynetworks permit", cfg_fqdn, R, MYNET,
	    NULL, "h.test", "s@x.test", "bob", 0, 504, "5.5.2",
	    "<bob>: Recipient address rejected: need fully-qualified "
	    "address",
	    0, 0 },
	{ "delay_reject=no: CONNECT", cfg_nodelay, PM_ACCESS_CONNECT,
	    "192.0.2.66", NULL, NULL, NULL, NULL, 0, 554, "5.7.1",
	    "<unknown[192.0.2.66]>: Client host rejected: Access denied", 0,
	    0 },
	{ "delay_reject=no: HELO", cfg_nodelay, PM_ACCESS_HELO, OUT, NULL,
	    "evil.test", NULL, NULL, 0, 554, "5.7.1",
	    "<evil.test>: Helo command rejected: Access denied", 0, 0 },
	{ "delay_reject=no: MAIL", cfg_nodelay, PM_ACCESS_MAIL, OUT, NULL,
	    "h.test", "user", NULL, 0, 504, "5.5.2",
	    "<user>: Sender address "
	    "rejected: need fully-qualified address",
	    0, 0 },
	{ "delay_reject=no: RCPT skips early lists", cfg_nodelay, R,
	    "192.0.2.66", NULL, "evil.test", "user", LOC, 0, 0, NULL, NULL, 0,
	    0 },
	{ "delay_reject=yes: CONNECT decides nothing", cfg_delay,
	    PM_ACCESS_CONNECT, "192.0.2.66", NULL, NULL, NULL, NULL, 0, 0, NULL,
	    NULL, 0, 0 },
	{ "delay_reject=yes: at RCPT", cfg_delay, R, "192.0.2.66", NULL,
	    "h.test", "s@x.test", LOC, 0, 554, "5.7.1",
	    "<unknown[192.0.2.66]>: Client host rejected: Access denied", 0,
	    0 },
	{ "data restrictions", cfg_data, PM_ACCESS_DATA, OUT, NULL, "h.test",
	    "s@x.test", LOC, 0, 554, "5.7.1",
	    "<DATA>: Data command rejected: Access denied", 0, 0 },
	{ "defer_if_reject", cfg_defer_if, R, OUT, NULL, "h.test", "s@rej.test",
	    LOC, 0, 450, "4.7.1",
	    "<s@rej.test>: Sender address "
	    "rejected: defer_if_reject requested",
	    0, 0 },
	{ "warn_if_reject", cfg_defer_if, R, OUT, NULL, "h.test", "s@w.test",
	    LOC, 0, 0, NULL, NULL, 0, 0 },
};

static const struct check_case dns_cases[] = {
	{ "sender domain with MX", cfg_dns, R, OUT, NULL, "mx1.example.test",
	    "s@example.test", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "sender domain with only A", cfg_dns, R, OUT, NULL,
	    "mx1.example.test", "s@aonly.test", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "sender domain with only AAAA", cfg_dns, R, OUT, NULL,
	    "mx1.example.test", "s@v6only.test", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "sender domain NXDOMAIN", cfg_dns, R, OUT, NULL, "mx1.example.test",
	    "s@nothere.test", LOC, 0, 450, "4.1.8",
	    "<s@nothere.test>: "
	    "Sender address rejected: Domain not found",
	    0, 0 },
	{ "sender domain null MX", cfg_dns, R, OUT, NULL, "mx1.example.test",
	    "s@nullmx.test", LOC, 0, 550, "5.7.27",
	    "<s@nullmx.test>: Sender "
	    "address rejected: Domain nullmx.test does not accept mail "
	    "(nullMX)",
	    0, 0 },
	{ "sender domain DNS failure: defer if permit", cfg_dns, R, OUT, NULL,
	    "mx1.example.test", "s@outside.example", LOC, 0, 450, "4.1.8",
	    "<s@outside.example>: Sender address rejected: Domain "
	    "not found",
	    0, 0 },
	{ "sender DNS failure, then relay denied", cfg_dns, R, OUT, NULL,
	    "mx1.example.test", "s@outside.example", REM, 0, 554, "5.7.1",
	    "<x@remote.example>: Relay access denied", 0, 0 },
	{ "local sender domain needs no DNS", cfg_dns, R, OUT, NULL,
	    "mx1.example.test", "s@example.com", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "unknown_address_reject_code 550", cfg_dns_550, R, OUT, NULL,
	    "mx1.example.test", "s@nothere.test", LOC, 0, 550, "5.1.8",
	    "<s@nothere.test>: Sender address rejected: Domain not found", 0,
	    0 },
	{ "recipient domain NXDOMAIN", cfg_dns, R, MYNET, NULL,
	    "mx1.example.test", "s@example.test", "x@nothere.test", 0, 450,
	    "4.1.2",
	    "<x@nothere.test>: Recipient address rejected: Domain "
	    "not found",
	    0, 0 },
	{ "unknown helo host", cfg_dns, R, OUT, NULL, "nohost.test",
	    "s@example.test", LOC, 0, 450, "4.7.1",
	    "<nohost.test>: Helo command rejected: Host not found", 0, 0 },
	{ "reverse name exists", cfg_client_rev, R, "127.0.0.3", NULL, "h.test",
	    "s@x.test", LOC, 0, 0, NULL, NULL, 0, 0 },
	{ "no reverse name", cfg_client_rev, R, "127.0.0.4", NULL, "h.test",
	    "s@x.test", LOC, 0, 450, "4.7.25",
	    "Client host rejected: cannot "
	    "find your reverse hostname, [127.0.0.4]",
	    0, 0 },
	{ "unknown client hostname", cfg_client_name, R, "127.0.0.3", NULL,
	    "h.test", "s@x.test", LOC, 0, 450, "4.7.25",
	    "Client host "
	    "rejected: cannot find your hostname, [127.0.0.3]",
	    0, 0 },
	{ "verified client hostname", cfg_client_name, R, "127.0.0.3",
	    "aonly.test", "h.test", "s@x.test", LOC, 0, 0, NULL, NULL, 0, 0 },
};

Test(smtpd_check, relay_and_recipients)
{
	run_cases(relay_cases, sizeof(relay_cases) / sizeof(relay_cases[0]));
	LEAK_CHECK();
}

Test(smtpd_check, access_tables_and_syntax)
{
	run_cases(access_cases, sizeof(access_cases) / sizeof(access_cases[0]));
	LEAK_CHECK();
}

Test(smtpd_check, dns_against_dnsmasq)
{
	test_dnsmasq d;

	cr_assert_eq(test_dnsmasq_start(&d), 0, "dnsmasq did not start");
	run_cases(dns_cases, sizeof(dns_cases) / sizeof(dns_cases[0]));
	test_dnsmasq_stop(&d);
	LEAK_CHECK();
}

Test(smtpd_check, config_errors)
{
	static const struct {
		const char *name;
		const char *value;
		const char *want; /* in the error text */
	} bad[] = {
		{ "smtpd_sender_restrictions", "permit_mynetworks reject_bogus",
		    "unknown restriction \"reject_bogus\"" },
		{ "smtpd_recipient_restrictions", "check_recipient_access",
		    "needs a type:name table" },
		{ "smtpd_client_restrictions", "check_client_access nosuch:x",
		    "smtpd_client_restrictions: nosuch:x" },
		{ "smtpd_helo_restrictions", "check_helo_access inline:{a=b",
		    "smtpd_helo_restrictions" },
		{ "reject_code", "200", "reject_code: bad reply code" },
		{ "access_map_reject_code", "55x", "access_map_reject_code" },
		{ "smtpd_delay_reject", "maybe", "smtpd_delay_reject" },
		{ "smtpd_restriction_classes", "permit",
		    "already a restriction" },
		{ "smtpd_restriction_classes", "undefined_class",
		    "has no definition" },
		{ "mynetworks", "10.0.0.0/33", "mynetworks" },
		{ "smtpd_dns_timeout", "0s", "smtpd_dns_timeout" },
	};
	pm_access *a;
	char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		configure(NULL);
		pm_cfg_set(bad[i].name, bad[i].value);
		err = NULL;
		a = pm_access_new(NULL, NULL, &err);
		cr_expect_null(a, "%s = %s: accepted", bad[i].name,
		    bad[i].value);
		cr_expect(err != NULL && strstr(err, bad[i].want) != NULL,
		    "%s = %s: got error \"%s\", want \"%s\"", bad[i].name,
		    bad[i].value, err ? err : "(none)", bad[i].want);
		free(err);
		a = pm_access_free(a);
	}
	/* Every known name parses (aliases included); the defaults work. */
	configure(NULL);
	pm_cfg_set("smtpd_recipient_restrictions",
	    "permit_mynetworks, "
	    "permit_sasl_authenticated, reject_unauth_destination, "
	    "defer_unauth_destination, permit_auth_destination, "
	    "reject_unlisted_recipient, check_recipient_maps, "
	    "reject_unlisted_sender, reject_non_fqdn_sender, "
	    "reject_non_fqdn_recipient, reject_non_fqdn_helo_hostname, "
	    "reject_non_fqdn_hostname, reject_invalid_helo_hostname, "
	    "reject_invalid_hostname, reject_unknown_helo_hostname, "
	    "reject_unknown_hostname, reject_unknown_sender_domain, "
	    "reject_unknown_recipient_domain, reject_unknown_client_hostname, "
	    "reject_unknown_client, reject_unknown_reverse_client_hostname, "
	    "warn_if_reject, defer_if_permit, defer_if_reject, "
	    "reject_unauth_pipelining, PERMIT, defer, reject");
	err = NULL;
	a = pm_access_new(NULL, NULL, &err);
	cr_expect_not_null(a, "all restriction names: %s", err ? err : "");
	free(err);
	cr_expect(pm_access_mynetworks(a, "127.0.0.1"),
	    "127.0.0.1 not in "
	    "mynetworks");
	cr_expect(!pm_access_mynetworks(a, "192.0.2.1"),
	    "192.0.2.1 in "
	    "mynetworks");
	pm_access_free(a);
	LEAK_CHECK();
}

/*
 * Which stages smtpd may skip (no thread hand-off): only those where no
 * list applies. A stage with a list, or RCPT, must never be skipped.
 */
Test(smtpd_check, idle_stages)
{
	static const struct {
		const char *delay;
		const char *list; /* parameter given one restriction */
		int want[5];      /* idle? CONNECT HELO MAIL RCPT DATA */
	} cases[] = {
		{ "yes", NULL, { 1, 1, 1, 0, 1 } },
		{ "no", NULL, { 1, 1, 1, 0, 1 } },
		{ "yes", "smtpd_client_restrictions", { 1, 1, 1, 0, 1 } },
		{ "no", "smtpd_client_restrictions", { 0, 1, 1, 0, 1 } },
		{ "no", "smtpd_helo_restrictions", { 1, 0, 1, 0, 1 } },
		{ "no", "smtpd_sender_restrictions", { 1, 1, 0, 0, 1 } },
		{ "yes", "smtpd_data_restrictions", { 1, 1, 1, 0, 0 } },
	};
	pm_access *a;
	char *err;
	size_t i;
	int st;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		configure(NULL);
		pm_cfg_set("smtpd_delay_reject", cases[i].delay);
		if (cases[i].list != NULL) {
			pm_cfg_set(cases[i].list, "reject");
		}
		err = NULL;
		a = pm_access_new(NULL, NULL, &err);
		cr_assert_not_null(a, "case %zu: %s", i, err ? err : "");
		for (st = PM_ACCESS_CONNECT; st <= PM_ACCESS_DATA; st++) {
			cr_expect_eq(pm_access_stage_idle(a, st),
			    cases[i].want[st],
			    "case %zu (delay=%s, %s) stage "
			    "%d: got idle=%d, want %d",
			    i, cases[i].delay,
			    cases[i].list ? cases[i].list : "no list", st,
			    pm_access_stage_idle(a, st), cases[i].want[st]);
		}
		pm_access_free(a);
	}
	LEAK_CHECK();
}

Test(smtpd_check, hostile_input_and_rewrite_down)
{
	pm_access_state st;
	pm_access_result res;
	pm_rewrite_clnt *clnt;
	pm_access *a;
	char *err = NULL;
	char *longaddr;
	char *longhelo;
	int64_t t0;

	/* Rewrite service down: "451 4.3.0 Temporary lookup failure". */
	configure(cfg_sender);
	clnt =
	    pm_rewrite_clnt_new("ipc:///tmp/pm-test-smtpd-check-nobody", 300);
	cr_assert_not_null(clnt);
	a = pm_access_new(resolve_clnt, clnt, &err);
	cr_assert_not_null(a, "pm_access_new: %s", err ? err : "?");
	memset(&st, 0, sizeof(st));
	st.client_addr = OUT;
	st.client_name = "unknown";
	st.helo = "h.test";
	st.sender = "s@x.test";
	st.recipient = REM;
	t0 = pm_mono_ms();
	pm_access_check(a, R, &st, &res);
	check_result("rewrite down", &res, 451, "4.3.0",
	    "<x@remote.example>: Temporary lookup failure", 0, 0);
	cr_expect_lt(pm_mono_ms() - t0, 3000, "rewrite down: too slow");

	/* Over-long input: the reply is cut, never overflows. */
	longaddr = pm_malloc(2001);
	memset(longaddr, 'a', 2000);
	longaddr[2000] = 0;
	memcpy(longaddr + 1990, "@rej.test", 10);
	st.sender = longaddr;
	st.recipient = LOC;
	pm_access_check(a, R, &st, &res);
	cr_expect_eq(res.code, 554, "long sender: got %d, want 554", res.code);
	cr_expect_lt(strlen(res.text), PM_ACCESS_TEXT_MAX,
	    "long sender: text not cut");
	longhelo = pm_malloc(5001);
	memset(longhelo, 'h', 5000);
	longhelo[5000] = 0;
	st.sender = "s@ok.test";
	st.helo = longhelo;
	st.client_name = longhelo;
	pm_access_check(a, PM_ACCESS_DATA, &st, &res);
	cr_expect_eq(res.code, 0, "long helo/name at DATA: got %d", res.code);
	free(longaddr);
	free(longhelo);
	pm_access_free(a);
	pm_rewrite_clnt_free(clnt);
	LEAK_CHECK();
}
