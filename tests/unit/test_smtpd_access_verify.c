/*
 * NAME
 *	test_smtpd_access_verify - reject_unverified_recipient and
 *	reject_unverified_sender against a real verify cache (Redis)
 * DESCRIPTION
 *	pm_access with the verify cache of a private redis-server and a
 *	probe function that counts its calls: a deliverable address goes
 *	on; an undeliverable one gets unverified_recipient_reject_code with
 *	the probe's reply (or unverified_recipient_reject_reason); an
 *	unknown one queues one probe (a second lookup while it is pending
 *	queues none) and gets 450 "unverified address"; a result that
 *	lands while smtpd polls is used; a deferred one gets 450 with its
 *	reason; the sender variant words "Sender address" and 4.1.7;
 *	the null sender is not verified; Redis down or no probe function:
 *	defer_if_permit (450 "address verification problem" when the mail
 *	would be accepted, nothing when a later restriction rejects),
 *	"dunno" fails open; a bad tempfail action or code is refused.
 */
#include "smtpd_access_helper.h"

#include "pm_verify.h"
#include "redis_helper.h"

#include <pthread.h>
#include <unistd.h>

/* Relay for the test client only (the relay guard wants a reject). */
#define RELAY "check_client_access inline:{192.0.2.1=OK}, reject"

static int nprobes;
static const char *probe_result; /* set by the probe after a while */
static pm_verify *probe_cache;

static int
count_probe(void *arg, const char *address)
{
	(void) arg;
	nprobes++;
	if (probe_result != NULL) {
		cr_assert_eq(pm_verify_update(probe_cache, address,
		                 pm_verify_status_code(probe_result),
		                 "250 2.1.5 Ok"),
		    0);
	}
	return (0);
}

static pm_verify *
cache_on(const rh_server *srv)
{
	pm_verify_cfg cfg;
	pm_qstore *qs = pm_qstore_open(srv->addr, 2000, "redis", 1);
	char *err = NULL;

	cr_assert_not_null(qs);
	cr_assert_eq(pm_verify_cfg_read(&cfg, &err), 0, "%s", err);
	return (pm_verify_open(qs, &cfg));
}

static void
check(pm_verify *v, const struct kv *cfg, const char *sender, const char *rcpt,
    int code, const char *dsn, const char *text)
{
	pm_access_state st;
	pm_access_result res;
	pm_access *a;
	char *err = NULL;

	configure(cfg);
	/* no resolver here: unlisted address checks need one */
	pm_cfg_set("smtpd_reject_unlisted_recipient", "no");
	pm_cfg_set("smtpd_reject_unlisted_sender", "no");
	a = pm_access_new(NULL, NULL, &err);
	cr_assert_not_null(a, "pm_access_new: %s", err);
	pm_access_set_verify(a, v, v != NULL ? count_probe : NULL, NULL);
	memset(&st, 0, sizeof(st));
	st.client_addr = OUT;
	st.client_name = "unknown";
	st.helo = "client.test";
	st.sender = sender;
	st.recipient = rcpt;
	pm_access_check(a, PM_ACCESS_RCPT, &st, &res);
	check_result(rcpt, &res, code, dsn, text, 0, 0);
	pm_access_free(a);
}

static const struct kv rcfg[] = {
	{ "smtpd_recipient_restrictions",
	    "reject_unverified_recipient, permit" },
	{ "smtpd_relay_restrictions", RELAY },
	{ "address_verify_poll_count", "0" },
	{ NULL, NULL },
};

Test(access_verify, recipient_states)
{
	static rh_server srv;
	static const struct kv reason[] = {
		{ "smtpd_recipient_restrictions",
		    "reject_unverified_recipient, permit" },
		{ "smtpd_relay_restrictions", RELAY },
		{ "unverified_recipient_reject_reason", "Go away" },
		{ "unverified_recipient_reject_code", "550" },
		{ NULL, NULL },
	};
	static const struct kv poll[] = {
		{ "smtpd_recipient_restrictions",
		    "reject_unverified_recipient, permit" },
		{ "smtpd_relay_restrictions", RELAY },
		{ "address_verify_poll_count", "2" },
		{ "address_verify_poll_delay", "1s" },
		{ NULL, NULL },
	};
	static const struct kv open_rel[] = {
		{ "smtpd_recipient_restrictions",
		    "reject_unverified_recipient, permit" },
		{ "smtpd_relay_restrictions", RELAY },
		{ "address_verify_poll_count", "0" },
		{ NULL, NULL },
	};
	pm_verify *v;

	rh_start(&srv);
	configure(rcfg);
	v = cache_on(&srv);
	probe_cache = v;
	cr_assert_eq(pm_verify_update(v, "ok@remote.example",
	                 PM_VERIFY_DELIVERABLE, "250 2.1.5 Ok"),
	    0);
	cr_assert_eq(pm_verify_update(v, "bad@remote.example",
	                 PM_VERIFY_UNDELIVERABLE,
	                 "host mx[192.0.2.9] said: 550 5.1.1 no such user"),
	    0);
	cr_assert_eq(pm_verify_update(v, "slow@remote.example",
	                 PM_VERIFY_DEFERRED,
	                 "connect to mx: Connection refused"),
	    0);

	nprobes = 0;
	check(v, open_rel, "s@client.test", "ok@remote.example", 0, NULL, NULL);
	check(v, open_rel, "s@client.test", "bad@remote.example", 450, "4.1.1",
	    "<bad@remote.example>: Recipient address rejected: undeliverable "
	    "address: host mx[192.0.2.9] said: 550 5.1.1 no such user");
	check(v, reason, "s@client.test", "bad@remote.example", 550, "5.1.1",
	    "<bad@remote.example>: Recipient address rejected: undeliverable "
	    "address: Go away");
	check(v, open_rel, "s@client.test", "slow@remote.example", 450, "4.1.1",
	    "<slow@remote.example>: Recipient address rejected: unverified "
	    "address: connect to mx: Connection refused");
	cr_expect_eq(nprobes, 0, "fresh entries need no probe");

	/* Unknown: one probe; pending: no second one. */
	check(v, open_rel, "s@client.test", "new@remote.example", 450, "4.1.1",
	    "<new@remote.example>: Recipient address rejected: unverified "
	    "address: Address verification in progress");
	cr_expect_eq(nprobes, 1);
	check(v, open_rel, "s@client.test", "new@remote.example", 450, "4.1.1",
	    "<new@remote.example>: Recipient address rejected: unverified "
	    "address: Address verification in progress");
	cr_expect_eq(nprobes, 1, "a pending probe was sent again");

	/* The result lands while smtpd polls: accepted. */
	probe_result = "deliverable";
	check(v, poll, "s@client.test", "fast@remote.example", 0, NULL, NULL);
	probe_result = NULL;
	cr_expect_eq(nprobes, 2);

	pm_verify_close(v);
	rh_stop(&srv);
}

Test(access_verify, sender_and_tempfail)
{
	static rh_server srv;
	static const struct kv scfg[] = {
		{ "smtpd_sender_restrictions", "reject_unverified_sender" },
		{ "smtpd_relay_restrictions", RELAY },
		{ "address_verify_poll_count", "0" },
		{ NULL, NULL },
	};
	static const struct kv later_reject[] = {
		{ "smtpd_recipient_restrictions",
		    "reject_unverified_recipient, reject" },
		{ "smtpd_relay_restrictions", RELAY },
		{ NULL, NULL },
	};
	static const struct kv dunno[] = {
		{ "smtpd_recipient_restrictions",
		    "reject_unverified_recipient, permit" },
		{ "smtpd_relay_restrictions", RELAY },
		{ "unverified_recipient_tempfail_action", "dunno" },
		{ NULL, NULL },
	};
	static const struct kv defer_now[] = {
		{ "smtpd_recipient_restrictions",
		    "reject_unverified_recipient, permit" },
		{ "smtpd_relay_restrictions", RELAY },
		{ "unverified_recipient_tempfail_action", "defer" },
		{ NULL, NULL },
	};
	static const struct kv bad_action[] = {
		{ "unverified_sender_tempfail_action", "maybe" },
		{ NULL, NULL },
	};
	static const struct kv bad_code[] = {
		{ "unverified_recipient_defer_code", "550" },
		{ NULL, NULL },
	};
	static const struct kv permit_all[] = {
		{ "smtpd_recipient_restrictions",
		    "reject_unverified_recipient, permit" },
		{ "smtpd_relay_restrictions", RELAY },
		{ NULL, NULL },
	};
	pm_verify *v;
	pm_access *a;
	char *err = NULL;

	rh_start(&srv);
	configure(scfg);
	v = cache_on(&srv);
	cr_assert_eq(pm_verify_update(v, "bad@remote.example",
	                 PM_VERIFY_UNDELIVERABLE, "550 5.1.1 unknown"),
	    0);
	check(v, scfg, "bad@remote.example", "x@remote.example", 450, "4.1.7",
	    "<bad@remote.example>: Sender address rejected: undeliverable "
	    "address: 550 5.1.1 unknown");
	check(v, scfg, "", "x@remote.example", 0, NULL, NULL);

	/* Redis down: defer_if_permit (Postfix's default). */
	rh_kill(&srv, SIGKILL);
	check(v, permit_all, "s@client.test", "x@remote.example", 450, "4.1.1",
	    "<x@remote.example>: Recipient address rejected: address "
	    "verification problem");
	check(v, later_reject, "s@client.test", "x@remote.example", 554,
	    "5.7.1",
	    "<x@remote.example>: Recipient address rejected: Access denied");
	check(v, dunno, "s@client.test", "x@remote.example", 0, NULL, NULL);
	check(v, defer_now, "s@client.test", "x@remote.example", 450, "4.1.1",
	    "<x@remote.example>: Recipient address rejected: address "
	    "verification problem");
	/* No cache at all (not configured): the same action. */
	check(NULL, permit_all, "s@client.test", "x@remote.example", 450,
	    "4.1.1",
	    "<x@remote.example>: Recipient address rejected: address "
	    "verification problem");

	configure(bad_action);
	cr_expect_null(a = pm_access_new(NULL, NULL, &err));
	cr_expect(err != NULL && strstr(err, "maybe") != NULL, "%s", err);
	free(err);
	err = NULL;
	configure(bad_code);
	cr_expect_null(a = pm_access_new(NULL, NULL, &err));
	cr_expect(err != NULL && strstr(err, "defer_code") != NULL, "%s", err);
	free(err);

	pm_verify_close(v);
	rh_stop(&srv);
}
