/*
 * NAME
 *	bounce_clnt - client stub of the bounce service (bounce/defer/trace)
 * SUMMARY
 *	#include "bounce_clnt.h"
 * DESCRIPTION
 *	qmgr asks the bounce service (bounce_service URLs) to send a
 *	delivery status notification about some recipients of a queued
 *	message: failed, delayed, delivered or relayed. Synchronous,
 *	thread-safe. The reply says whether the notice is queued (code
 *	250, or 250 with no notice when none was needed); any other answer
 *	or a transport error means "try again later" and qmgr keeps the
 *	message.
 * LIMITS
 *	Each call waits at most the timeout given at creation.
 */
#ifndef BOUNCE_CLNT_H
#define BOUNCE_CLNT_H

#include <stddef.h>
#include <stdint.h>

/* Notice kinds (NoticeKind of bounce.proto). */
#define PM_NOTICE_FAILED 1
#define PM_NOTICE_DELAYED 2
#define PM_NOTICE_DELIVERED 3
#define PM_NOTICE_RELAYED 4

typedef struct pm_notice_rcpt {
	const char *address;
	const char *orcpt;
	unsigned notify;
	const char *dsn;
	const char *text;
	const char *remote_mta;
	int64_t last_attempt_us;
} pm_notice_rcpt;

typedef struct pm_bounce_clnt pm_bounce_clnt;

pm_bounce_clnt *pm_bounce_clnt_new(const char *urls, int timeout_ms);
void pm_bounce_clnt_free(pm_bounce_clnt *c);

/*
 * 0 when the notice is queued or not needed (*notice_qid set, "" when
 * none was sent); PM_EAGAIN (bounce answered 4xx) or another PM_E* on
 * failure: keep the message and try later.
 */
int pm_bounce_notify(pm_bounce_clnt *c, int kind, const char *queue_id,
    const pm_notice_rcpt *rcpt, size_t nrcpt, char *notice_qid,
    size_t notice_qid_size);

#endif
