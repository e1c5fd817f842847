/*
 * NAME
 *	pm_log_dlv - the one builder of Postfix's delivery status log line
 * SUMMARY
 *	#include "pm_log_dlv.h"
 * DESCRIPTION
 *	Every role that logs a recipient's fate (qmgr, every delivery
 *	agent) writes the same line, in Postfix's field order and number
 *	format, so that pflogsumm and other Postfix log tools read it:
 *
 *	QID: to=<rcpt>, orig_to=<orcpt>, relay=host[ip]:port, conn_use=N,
 *	delay=T, delays=a/b/c/d, dsn=X.Y.Z, status=S (text)
 *
 *	orig_to only when it differs from to; conn_use only above 1.
 *	delays: a = before the queue manager (arrival to active), b = in
 *	the queue manager (to the agent), c = connection set-up, d =
 *	transmission.
 *
 *	pm_log_delay() formats one delay as Postfix does: whole seconds
 *	from 10 s or when the tenths are 0 ("27", "2"), one decimal from
 *	1 s ("2.5"), two significant decimals below ("0.57", "0.1",
 *	"0.06"), and "0" under 10 ms. Negative values count as 0.
 * LIMITS
 *	Addresses are cut at 1024 bytes and the text at 1024 bytes, after
 *	pm_printable().
 * SECURITY
 *	Addresses and text may come from peers: every field goes through
 *	pm_printable() before it is logged.
 */
#ifndef PM_LOG_DLV_H
#define PM_LOG_DLV_H

#include <stddef.h>
#include <stdint.h>

typedef struct pm_log_dlv {
	const char *qid; /* NULL or "": NOQUEUE */
	const char *to;
	const char *orig_to;  /* NULL or equal to "to": not logged */
	const char *relay;    /* NULL: "none" */
	unsigned conn_use;    /* logged when > 1 */
	int64_t delay_us;     /* arrival to now */
	int64_t delays_us[4]; /* a/b/c/d */
	const char *dsn;
	const char *status; /* sent, deferred, bounced, ... */
	const char *text;
} pm_log_dlv;

void pm_log_delay(char *buf, size_t size, int64_t us);
/* Format the line (without the log prefix) into buf; returns its length. */
size_t pm_log_dlv_format(char *buf, size_t size, const pm_log_dlv *d);
/* pm_msg_info() of that line. */
void pm_log_dlv_info(const pm_log_dlv *d);

#endif
