/*
 * NAME
 *	test_qmgr_success - unit test of qmgr_success_kind (qmgr_msg.c)
 * DESCRIPTION
 *	Which NOTIFY=SUCCESS notice qmgr sends for a sent recipient: none
 *	when the peer took NOTIFY (dsn_passed); the agent's "relayed" or
 *	"delivered" (pipe's flag X) when it gave one; otherwise "relayed"
 *	for smtp and relay, "delivered" for every other transport.
 */
#include <criterion/criterion.h>

#include "bounce_clnt.h"
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
