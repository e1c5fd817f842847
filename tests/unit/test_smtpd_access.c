/*
 * NAME
 *	test_access - unit tests for pm_access's start-up checks: the relay
 *	guard and the default mynetworks
 * DESCRIPTION
 *	The relay guard (Postfix's has_required()): pm_access_new() fails
 *	when neither smtpd_relay_restrictions nor
 *	smtpd_recipient_restrictions holds reject_unauth_destination,
 *	defer_unauth_destination, reject, defer or defer_if_permit before a
 *	"permit", directly or through a restriction class. A table of both
 *	lists and classes, with the wanted outcome; hostile shapes: a
 *	self-recursive class, warn_if_reject before the guard, "permit"
 *	first. The restriction evaluation itself is tested in
 *	test_smtpd_check.c.
 *
 *	The default mynetworks holds 127.0.0.1 and ::1 only, not the rest
 *	of 127.0.0.0/8 (sidecar proxies connect from 127.0.0.6).
 */
#include "smtpd_access.h"
#include "pm_cfg.h"
#include "pm_common_params.h"
#include "pm_util.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#define WANT_ERR \
	"in parameter smtpd_relay_restrictions or " \
	"smtpd_recipient_restrictions, specify at least one working " \
	"instance of: reject_unauth_destination"

Test(access, relay_guard_table)
{
	static const struct {
		const char *relay;
		const char *rcpt;
		const char *classes; /* "name=body": one class, or NULL */
		int ok;
	} cases[] = {
		/* The defaults restrict relaying. */
		{ NULL, NULL, NULL, 1 },
		{ "", "", NULL, 0 },
		{ "", NULL, NULL, 0 },
		{ "permit_mynetworks", "", NULL, 0 },
		{ "permit_mynetworks, permit_sasl_authenticated", "", NULL, 0 },
		{ "permit_mynetworks reject_unauth_destination", "", NULL, 1 },
		{ "defer_unauth_destination", "", NULL, 1 },
		{ "reject", "", NULL, 1 },
		{ "defer", "", NULL, 1 },
		{ "defer_if_permit", "", NULL, 1 },
		/* Either list is enough (Postfix checks both). */
		{ "", "permit_mynetworks, reject_unauth_destination", NULL, 1 },
		{ "permit_mynetworks", "reject", NULL, 1 },
		/* "permit" ends the list: what follows never runs. */
		{ "permit, reject_unauth_destination", "", NULL, 0 },
		{ "permit_mynetworks permit reject", "permit reject", NULL, 0 },
		/* The restriction after warn_if_reject only warns. */
		{ "warn_if_reject reject_unauth_destination", "", NULL, 0 },
		{ "warn_if_reject reject, reject_unauth_destination", "", NULL,
		    1 },
		/* Not guards: they decide nothing for an unknown destination. */
		{ "defer_if_reject, permit_auth_destination", "", NULL, 0 },
		{ "reject_unlisted_recipient, reject_non_fqdn_recipient", "",
		    NULL, 0 },
		/* Restriction classes count for what they hold. */
		{ "guard", "", "guard=permit_mynetworks, reject", 1 },
		{ "permit_mynetworks guard", "",
		    "guard=defer_unauth_destination", 1 },
		{ "guard", "", "guard=permit_mynetworks", 0 },
		{ "guard", "", "guard=permit, reject", 0 },
		{ "", "guard", "guard=guard", 0 }, /* recursive */
		{ "", "guard", "guard=guard, reject", 1 },
	};
	pm_access *a;
	char *err;
	char *name;
	char *eq;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_cfg_reset();
		if (cases[i].relay != NULL) {
			pm_cfg_set("smtpd_relay_restrictions", cases[i].relay);
		}
		if (cases[i].rcpt != NULL) {
			pm_cfg_set("smtpd_recipient_restrictions",
			    cases[i].rcpt);
		}
		if (cases[i].classes != NULL) {
			name = pm_strdup(cases[i].classes);
			eq = strchr(name, '=');
			*eq = 0;
			pm_cfg_set("smtpd_restriction_classes", name);
			pm_cfg_set(name, eq + 1);
			free(name);
		}
		pm_common_params_bind();
		err = NULL;
		a = pm_access_new(NULL, NULL, &err);
		if (cases[i].ok) {
			cr_expect_not_null(a,
			    "relay=\"%s\" rcpt=\"%s\" class "
			    "%s: got \"%s\", want accepted",
			    cases[i].relay ? cases[i].relay : "(default)",
			    cases[i].rcpt ? cases[i].rcpt : "(default)",
			    cases[i].classes ? cases[i].classes : "-",
			    err ? err : "");
		} else {
			cr_expect_null(a,
			    "relay=\"%s\" rcpt=\"%s\" class %s: "
			    "accepted, want refused",
			    cases[i].relay ? cases[i].relay : "(default)",
			    cases[i].rcpt ? cases[i].rcpt : "(default)",
			    cases[i].classes ? cases[i].classes : "-");
			cr_expect(err != NULL && strstr(err, WANT_ERR) != NULL,
			    "case %zu: got error \"%s\", want \"%s...\"", i,
			    err ? err : "(none)", WANT_ERR);
		}
		free(err);
		pm_access_free(a);
	}
}

Test(access, default_mynetworks)
{
	static const struct {
		const char *addr;
		int in;
	} cases[] = {
		{ "127.0.0.1", 1 },
		{ "::1", 1 },
		{ "127.0.0.6", 0 }, /* Istio/Envoy sidecar source */
		{ "127.0.0.2", 0 },
		{ "127.255.255.254", 0 },
		{ "127.0.0.0", 0 },
		{ "::2", 0 },
		{ "10.0.0.1", 0 },
		{ "192.0.2.1", 0 },
		{ "", 0 },
		{ "127.0.0.1\r", 0 },
		{ "not an address", 0 },
	};
	pm_access *a;
	char *err = NULL;
	size_t i;
	int got;

	pm_cfg_reset();
	pm_common_params_bind();
	a = pm_access_new(NULL, NULL, &err);
	cr_assert_not_null(a, "defaults: %s", err ? err : "");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = pm_access_mynetworks(a, cases[i].addr);
		cr_expect_eq(got, cases[i].in,
		    "\"%s\" in default mynetworks: "
		    "got %d, want %d",
		    cases[i].addr, got, cases[i].in);
	}
	pm_access_free(a);
}
