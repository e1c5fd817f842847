/*
 * NAME
 *	bounce_clnt - client stub of the bounce service (bounce/defer/trace)
 * SUMMARY
 *	#include "bounce_clnt.h"
 * DESCRIPTION
 *	qmgr asks the bounce service (bounce_service URLs) to send a
 *	delivery status notification about some recipients of a queued
 *	message: failed, delayed, delivered or relayed; one notice per
 *	part of at most per_notice recipients. The local agent asks for
 *	a failure notice to an owner- alias instead of the sender, or
 *	to the sender about a recipient it redirects (pm_bounce_notify_to). Synchronous, thread-safe.
 *	The reply says whether the notice is queued (code 250, or 250
 *	with no notice when none was needed), can never be sent (5xx: the
 *	caller gives it up and logs that it is lost), or not now (4xx, a
 *	transport error: qmgr keeps the message and asks again).
 * LIMITS
 *	PM_BOUNCE_NOTICE_MAX recipients per notice; each request waits at
 *	most the timeout given at creation.
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
 * Recipients per notice: at most PM_BOUNCE_NOTICE_MAX, so that one
 * request stays within PM_RPC_CONTROL_MAX with every field at its wire
 * bound (addresses PM_BOUNCE_ADDR_WIRE_MAX, texts cut at
 * PM_BOUNCE_TEXT_WIRE_MAX, the notice shows no more).
 */
#define PM_BOUNCE_NOTICE_MAX 400
#define PM_BOUNCE_ADDR_WIRE_MAX 512
#define PM_BOUNCE_MTA_WIRE_MAX 256
#define PM_BOUNCE_TEXT_WIRE_MAX 1024

typedef struct pm_notice_result {
	char queue_id[32]; /* the first notice's, "" if none was sent */
	size_t parts;      /* notices asked for */
	size_t lost;       /* of those, refused for good (5xx) */
	char why[256];     /* the last refusal, printable */
} pm_notice_result;

/*
 * One kind of notice about rcpt[0..nrcpt-1], in parts of at most
 * per_notice recipients (1..PM_BOUNCE_NOTICE_MAX), in order: part i
 * holds rcpt[i * per_notice ...]. The bounce service derives each
 * notice's queue id from (queue_id, kind, part), so asking again after
 * a failure or a lost answer never queues a notice twice; the split
 * must be the same when asking again (same recipients, same order).
 * Returns 0 when every part is queued or not needed; PM_ENOENT when
 * every part was answered but res->lost of them can never be sent
 * (res->why); another PM_E* at the first part that failed for now
 * (later parts are not asked): keep the message and try later.
 */
int pm_bounce_notify(pm_bounce_clnt *c, int kind, const char *queue_id,
    const pm_notice_rcpt *rcpt, size_t nrcpt, size_t per_notice,
    pm_notice_result *res);

/*
 * One failure notice about rcpt[0..nrcpt-1] (1..PM_BOUNCE_NOTICE_MAX)
 * sent to notify_to instead of the message's sender: the local agent's
 * owner- alias (Postfix's bounce_workaround). part is the caller's
 * (the recipient's index): asked again with the same part the notice
 * is queued once, and it never shares an id with the sender's notices.
 * notify_to NULL: to the sender after all (postmaster for a null
 * sender, as qmgr's notices), for the failed targets of a recipient
 * that the local agent redirects; its part goes out as
 * PM_BOUNCE_PART_AGENT + part, above any part of qmgr's notices, so
 * that it too never takes their id. Returns as pm_bounce_notify();
 * PM_EINVAL for bad arguments (part >= PM_BOUNCE_PART_AGENT too).
 */
#define PM_BOUNCE_PART_AGENT 0x80000000U
int pm_bounce_notify_to(pm_bounce_clnt *c, const char *queue_id,
    const char *notify_to, unsigned part, const pm_notice_rcpt *rcpt,
    size_t nrcpt, pm_notice_result *res);

#endif
