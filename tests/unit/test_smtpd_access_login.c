/*
 * NAME
 *	test_smtpd_access_login - reject_*sender_login_mismatch with
 *	smtpd_sender_login_maps
 * DESCRIPTION
 *	A table of login, sender and restriction with the reply wanted,
 *	Postfix's texts: "553 5.7.1 <addr>: Sender address rejected: not
 *	owned by user X" and "... not logged in". Owners by full address
 *	and by "@domain", several owners, case-insensitive names, the null
 *	sender, an address nobody owns, no map at all, and a map that
 *	cannot be read (451).
 */
#include "smtpd_access_helper.h"

static const struct kv cfg_mismatch[] = {
	{ "smtpd_sender_login_maps",
	    "inline:{ {alice@example.com = alice}, "
	    "{shared@example.com = alice, Bob}, {@owned.test = carol} }" },
	{ "smtpd_sender_restrictions", "reject_sender_login_mismatch" },
	{ NULL, NULL },
};
static const struct kv cfg_auth[] = {
	{ "smtpd_sender_login_maps", "inline:{ {alice@example.com = alice} }" },
	{ "smtpd_sender_restrictions",
	    "reject_authenticated_sender_login_mismatch" },
	{ NULL, NULL },
};
static const struct kv cfg_unauth[] = {
	{ "smtpd_sender_login_maps", "inline:{ {alice@example.com = alice} }" },
	{ "smtpd_sender_restrictions",
	    "reject_unauthenticated_sender_login_mismatch" },
	{ NULL, NULL },
};
static const struct kv cfg_known[] = {
	{ "smtpd_sender_login_maps", "inline:{ {alice@example.com = alice} }" },
	{ "smtpd_sender_restrictions", "reject_known_sender_login_mismatch" },
	{ NULL, NULL },
};
static const struct kv cfg_nomap[] = {
	{ "smtpd_sender_restrictions", "reject_sender_login_mismatch" },
	{ NULL, NULL },
};

struct login_case {
	const char *desc;
	const struct kv *cfg;
	int stage;
	const char *sender;
	const char *user; /* SASL login, NULL: anonymous */
	int code;
	const char *dsn;
	const char *text;
};

#define NOT_OWNED(a, u) "<" a ">: Sender address rejected: not owned by user " u
#define NOT_LOGGED(a) "<" a ">: Sender address rejected: not logged in"
#define X553 553, "5.7.1"
#define PASS 0, NULL, NULL

static const struct login_case login_cases[] = {
	{ "owner", cfg_mismatch, R, LOC, "alice", PASS },
	{ "owner, other case", cfg_mismatch, R, LOC, "ALICE", PASS },
	{ "not the owner", cfg_mismatch, R, LOC, "bob", X553,
	    NOT_OWNED(LOC, "bob") },
	{ "one of two owners", cfg_mismatch, R, "shared@example.com", "bob",
	    PASS },
	{ "owner by @domain", cfg_mismatch, R, "any@owned.test", "carol",
	    PASS },
	{ "not owner by @domain", cfg_mismatch, R, "any@owned.test", "alice",
	    X553, NOT_OWNED("any@owned.test", "alice") },
	{ "a prefix of the owner", cfg_mismatch, R, LOC, "alic", X553,
	    NOT_OWNED(LOC, "alic") },
	{ "address nobody owns, authenticated", cfg_mismatch, R,
	    "x@client.test", "alice", X553,
	    NOT_OWNED("x@client.test", "alice") },
	{ "address nobody owns, anonymous", cfg_mismatch, R, "x@client.test",
	    NULL, PASS },
	{ "owned address, anonymous", cfg_mismatch, R, LOC, NULL, X553,
	    NOT_LOGGED(LOC) },
	{ "null sender", cfg_mismatch, R, "", "bob", PASS },
	{ "authenticated only: anonymous passes", cfg_auth, R, LOC, NULL,
	    PASS },
	{ "authenticated only: mismatch", cfg_auth, R, LOC, "bob", X553,
	    NOT_OWNED(LOC, "bob") },
	{ "unauthenticated only: logged in passes", cfg_unauth, R, LOC, "bob",
	    PASS },
	{ "unauthenticated only: anonymous", cfg_unauth, R, LOC, NULL, X553,
	    NOT_LOGGED(LOC) },
	{ "known: unowned address passes", cfg_known, R, "x@client.test", "bob",
	    PASS },
	{ "known: owned address, wrong user", cfg_known, R, LOC, "bob", X553,
	    NOT_OWNED(LOC, "bob") },
	{ "no map: authenticated owns nothing", cfg_nomap, R, LOC, "alice",
	    X553, NOT_OWNED(LOC, "alice") },
	{ "no map: anonymous passes", cfg_nomap, R, LOC, NULL, PASS },
	{ "delay_reject: decided at RCPT, not MAIL", cfg_mismatch,
	    PM_ACCESS_MAIL, LOC, "bob", PASS },
};

Test(smtpd_access_login, mismatch_table)
{
	pm_access_state st;
	pm_access_result res;
	pm_resolve *r;
	pm_access *a;
	char *err = NULL;
	size_t i;

	for (i = 0; i < sizeof(login_cases) / sizeof(login_cases[0]); i++) {
		const struct login_case *c = &login_cases[i];

		configure(c->cfg);
		r = pm_resolve_new(&err);
		cr_assert_not_null(r, "%s: pm_resolve_new: %s", c->desc, err);
		a = pm_access_new(resolve_inproc, r, &err);
		cr_assert_not_null(a, "%s: pm_access_new: %s", c->desc, err);
		memset(&st, 0, sizeof(st));
		st.client_addr = OUT;
		st.client_name = "unknown";
		st.helo = "client.test";
		st.sender = c->sender;
		st.recipient = c->stage == R ? LOC : NULL;
		st.sasl_authenticated = c->user != NULL;
		st.sasl_username = c->user;
		pm_access_check(a, c->stage, &st, &res);
		check_result(c->desc, &res, c->code, c->dsn, c->text, 0, 0);
		pm_access_free(a);
		pm_resolve_free(r);
	}
	LEAK_CHECK();
}

Test(smtpd_access_login, bad_map_is_a_config_error)
{
	pm_access *a;
	char *err = NULL;

	configure((const struct kv[]){
	    { "smtpd_sender_login_maps", "nosuchtype:/x" },
	    { NULL, NULL },
	});
	a = pm_access_new(NULL, NULL, &err);
	cr_assert_null(a);
	cr_assert_not_null(err);
	cr_expect(strstr(err, "smtpd_sender_login_maps") != NULL, "got %s",
	    err);
	free(err);
}
