/*
 * NAME
 *	qmgr_success - which success notice a sent recipient gets
 * DESCRIPTION
 *	qmgr_success_kind() (qmgr.h): the NOTIFY=SUCCESS notice kind
 *	qmgr queues for a recipient an agent sent. Pure code, unit-tested
 *	by tests/unit/test_qmgr_success.c.
 */
#include <string.h>

#include "bounce_clnt.h"
#include "qmgr.h"

/*
 * NOTIFY=SUCCESS (RFC 3461): a relay to a peer that did not take the
 * NOTIFY parameter says "relayed"; final delivery says "delivered"; a
 * peer that took it sends the notice itself. The agent may say which
 * (pipe: "delivered" only with flag X); else the transport decides.
 */
int
qmgr_success_kind(const char *transport, int dsn_passed, const char *action)
{
	if (dsn_passed) {
		return (0);
	}
	if (action != NULL && strcmp(action, "relayed") == 0) {
		return (PM_NOTICE_RELAYED);
	}
	if (action != NULL && strcmp(action, "delivered") == 0) {
		return (PM_NOTICE_DELIVERED);
	}
	if (transport != NULL &&
	    (strcmp(transport, "smtp") == 0 ||
	        strcmp(transport, "relay") == 0)) {
		return (PM_NOTICE_RELAYED);
	}
	return (PM_NOTICE_DELIVERED);
}
