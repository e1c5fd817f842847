/*
 * NAME
 *	qmgr_success - which success notice a sent recipient gets
 * DESCRIPTION
 *	qmgr_success_kind() (qmgr.h): the NOTIFY=SUCCESS notice kind
 *	qmgr queues for a recipient an agent sent. qmgr_stored_state() and
 *	qmgr_store_status(): the same fact in Redis, so a qmgr that takes
 *	a message over keeps it: a sent recipient with no success notice
 *	from qmgr (the agent's own notice, local(8)'s owner- failure
 *	notice; or the peer took NOTIFY) is stored as PM_RCPT_NOTIFIED.
 *	Pure code, unit-tested by tests/unit/test_qmgr_success.c.
 */
#include <string.h>

#include "bounce_clnt.h"
#include "pm_qstore.h"
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

int
qmgr_stored_state(const char *status, const char *action, const char *transport,
    int *success)
{
	*success = 0;
	if (strcmp(status, PM_RCPT_SENT) == 0) {
		*success = qmgr_success_kind(transport, 0, action);
		return (QR_SENT);
	}
	if (strcmp(status, PM_RCPT_NOTIFIED) == 0) {
		return (QR_SENT);
	}
	if (strcmp(status, PM_RCPT_BOUNCED) == 0) {
		return (QR_BOUNCED);
	}
	return (QR_TODO);
}

const char *
qmgr_store_status(int state, int success)
{
	if (state == QR_BOUNCED) {
		return (PM_RCPT_BOUNCED);
	}
	return (success == 0 ? PM_RCPT_NOTIFIED : PM_RCPT_SENT);
}

const char *
qmgr_store_action(int state, int success)
{
	if (state != QR_SENT) {
		return (NULL);
	}
	switch (success) {
	case PM_NOTICE_RELAYED:
		return ("relayed");
	case PM_NOTICE_DELIVERED:
		return ("delivered");
	default:
		return (NULL);
	}
}
