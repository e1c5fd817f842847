/*
 * NAME
 *	test_qmgr_success - unit test of qmgr_success_kind (qmgr_msg.c)
 * DESCRIPTION
 *	Which NOTIFY=SUCCESS notice qmgr sends for a sent recipient: none
 *	when the peer took NOTIFY (dsn_passed); the agent's "relayed" or
 *	"delivered" (pipe's flag X) when it gave one; otherwise "relayed"
 *	for smtp and relay, "delivered" for every other transport. And
 *	the status for it in Redis: PM_RCPT_NOTIFIED (sent, no notice;
 *	stored as "i:s" = sent plus "i:q" = 1, test_qstore_rcpt.c).
 */
#include <criterion/criterion.h>

#include "bounce_clnt.h"
#include "pm_qstore.h"
#include "qmgr.h"

Test(qmgr_success, kind)
{
	static const struct {
		const char *transport;
		int passed;
		const char *action;
		int want;
	} t[] = {
		{ "smtp", 1, NULL, 0 },
		{ "mypipe", 1, "delivered", 0 },
		{ "smtp", 0, NULL, PM_NOTICE_RELAYED },
		{ "relay", 0, "", PM_NOTICE_RELAYED },
		{ "local", 0, NULL, PM_NOTICE_DELIVERED },
		{ "mypipe", 0, "", PM_NOTICE_DELIVERED },
		{ "mypipe", 0, "relayed", PM_NOTICE_RELAYED },
		{ "mypipe", 0, "delivered", PM_NOTICE_DELIVERED },
		{ "smtp", 0, "delivered", PM_NOTICE_DELIVERED },
		{ "mypipe", 0, "bogus", PM_NOTICE_DELIVERED },
		{ "smtp", 0, "bogus", PM_NOTICE_RELAYED },
		{ NULL, 0, NULL, PM_NOTICE_DELIVERED },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got =
		    qmgr_success_kind(t[i].transport, t[i].passed, t[i].action);

		cr_expect_eq(got, t[i].want, "case %zu: got %d, want %d", i,
		    got, t[i].want);
	}
}

/*
 * The same fact in Redis: PM_RCPT_NOTIFIED (what pm_qstore_read() gives
 * for sent + "i:q", and for a stored "notified" of 2026-12-02) reads
 * back as sent, no notice.
 */
Test(qmgr_success, stored)
{
	int success = -1;

	cr_expect_eq(qmgr_stored_state(PM_RCPT_SENT, "", "smtp", &success),
	    QR_SENT);
	cr_expect_eq(success, PM_NOTICE_RELAYED);
	cr_expect_eq(qmgr_stored_state(PM_RCPT_SENT, NULL, NULL, &success),
	    QR_SENT);
	cr_expect_eq(success, PM_NOTICE_DELIVERED);
	/* the action its agent stored with it ("i:x") wins */
	cr_expect_eq(qmgr_stored_state(PM_RCPT_SENT, "relayed", "myfilter",
	                 &success),
	    QR_SENT);
	cr_expect_eq(success, PM_NOTICE_RELAYED);
	cr_expect_eq(qmgr_stored_state(PM_RCPT_SENT, "delivered", "smtp",
	                 &success),
	    QR_SENT);
	cr_expect_eq(success, PM_NOTICE_DELIVERED);
	cr_expect_eq(qmgr_stored_state(PM_RCPT_NOTIFIED, NULL, "local",
	                 &success),
	    QR_SENT);
	cr_expect_eq(success, 0);
	cr_expect_eq(qmgr_stored_state(PM_RCPT_BOUNCED, NULL, "local",
	                 &success),
	    QR_BOUNCED);
	cr_expect_eq(qmgr_stored_state(PM_RCPT_DEFERRED, NULL, "local",
	                 &success),
	    QR_TODO);
	cr_expect_eq(qmgr_stored_state(PM_RCPT_TODO, NULL, "local", &success),
	    QR_TODO);
	cr_expect_str_eq(qmgr_store_status(QR_SENT, 0), PM_RCPT_NOTIFIED);
	cr_expect_str_eq(qmgr_store_status(QR_SENT, PM_NOTICE_DELIVERED),
	    PM_RCPT_SENT);
	cr_expect_str_eq(qmgr_store_status(QR_BOUNCED, 0), PM_RCPT_BOUNCED);
}

/*
 * What qmgr stores itself when the agent did not record a recipient:
 * the action with "sent", so a pipe without flag X ("relayed") reads
 * back as relayed, not as the transport's default "delivered".
 */
Test(qmgr_success, store_action_round_trip)
{
	int success = -1;
	int kind;

	cr_expect_null(qmgr_store_action(QR_BOUNCED, PM_NOTICE_RELAYED));
	cr_expect_null(qmgr_store_action(QR_SENT, 0), "no notice: none");
	kind = qmgr_success_kind("pipe", 0, "relayed");
	cr_expect_str_eq(qmgr_store_action(QR_SENT, kind), "relayed");
	cr_expect_eq(qmgr_stored_state(qmgr_store_status(QR_SENT, kind),
	                 qmgr_store_action(QR_SENT, kind), "pipe", &success),
	    QR_SENT);
	cr_expect_eq(success, PM_NOTICE_RELAYED);
	kind = qmgr_success_kind("smtp", 0, "delivered");
	cr_expect_str_eq(qmgr_store_action(QR_SENT, kind), "delivered");
	cr_expect_eq(qmgr_stored_state(qmgr_store_status(QR_SENT, kind),
	                 qmgr_store_action(QR_SENT, kind), "smtp", &success),
	    QR_SENT);
	cr_expect_eq(success, PM_NOTICE_DELIVERED);
}
