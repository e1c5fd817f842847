/*
 * NAME
 *	pm_dsn - build RFC 3464 delivery status notifications (pure code)
 * SUMMARY
 *	#include "pm_dsn.h"
 * DESCRIPTION
 *	The bounce service's notice builder, kept free of I/O so that it
 *	can be unit-tested: the caller reads the original message and
 *	submits the result. docs/dsn.md shows a complete notice.
 *
 *	pm_dsn_route() says who gets a notice about a message, as Postfix
 *	does: the envelope sender; for a failed message with the null
 *	sender (a bounce that bounced) postmaster, as a "double bounce"
 *	sent from the double_bounce_sender address; nobody when the
 *	message came from the double_bounce_sender address (a double
 *	bounce that failed: this is what keeps notices from looping), or
 *	when a delay or success notice would go to the null sender.
 *
 *	pm_dsn_wanted() is the RFC 3461 NOTIFY filter: FAILURE for failed,
 *	DELAY for delayed, SUCCESS for delivered and relayed; no NOTIFY
 *	means FAILURE,DELAY; NEVER means nothing. Double bounces to
 *	postmaster ignore NOTIFY (the null sender asked for nothing).
 *
 *	pm_dsn_build() writes the whole notice (headers and a
 *	multipart/report; report-type=delivery-status body) into a pm_buf:
 *	  1. text/plain: Postfix-like wording for the kind, then one
 *	     paragraph per listed recipient ("<rcpt>: host X said: ...");
 *	  2. message/delivery-status: Original-Envelope-Id, Reporting-MTA,
 *	     X-Postmesh-Queue-ID, X-Postmesh-Sender, Arrival-Date; per
 *	     recipient Final-Recipient, Original-Recipient, Action, Status,
 *	     Remote-MTA, Diagnostic-Code, Last-Attempt-Date (and
 *	     Will-Retry-Until for delay notices);
 *	  3. the original: message/rfc822 (the whole message) for failures
 *	     unless RET=HDRS or the message is over bounce_size_limit;
 *	     else text/rfc822-headers (its header block). Delay and
 *	     success notices carry the headers only.
 *	Only recipients that pm_dsn_wanted() accepts are listed (all of
 *	them for a double bounce).
 * LIMITS
 *	Every text from a peer or another role is cut at PM_DSN_TEXT_MAX
 *	bytes, addresses at PM_DSN_ADDR_MAX, host names at PM_DSN_HOST_MAX.
 *	The original's header block returned alone is cut (at a line end)
 *	at bounce_size_limit bytes. Lines of the original longer than
 *	PM_DSN_LINE_MAX bytes are broken. The whole notice is bounded by
 *	the limit of the caller's pm_buf (PM_ETOOBIG past it).
 * SECURITY
 *	Everything but the configuration is untrusted. The notice has
 *	CRLF line ends only. Text Postmesh writes (headers, the text and
 *	delivery-status parts) is 7-bit: control characters (CR and LF
 *	included, so a remote reply can never start a header or a MIME
 *	part) become spaces and 8-bit bytes become '?', except that the
 *	To: header keeps a UTF-8 address of an SMTPUTF8 message. The
 *	original is returned as it is, with bare CR/LF made CRLF and NUL
 *	bytes made spaces; if it holds 8-bit bytes its part is labelled
 *	8bit and the notice is 8BITMIME. The MIME boundary is checked
 *	against the returned content and changed if that content holds it.
 */
#ifndef PM_DSN_H
#define PM_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "bounce_clnt.h"
#include "pm_msgflags.h"
#include "pm_util.h"

#define PM_DSN_TEXT_MAX 1024
#define PM_DSN_ADDR_MAX 512
#define PM_DSN_HOST_MAX 255
#define PM_DSN_LINE_MAX 990

/* Who gets the notice (pm_dsn_route). */
#define PM_DSN_DISCARD 0       /* nobody */
#define PM_DSN_TO_SENDER 1     /* the original envelope sender */
#define PM_DSN_TO_POSTMASTER 2 /* double bounce: 2bounce_notice_recipient */

/* The original message (envelope from the queue, content as queued). */
typedef struct pm_dsn_orig {
	const char *queue_id;
	const char *sender; /* "" for the null sender */
	int64_t arrival_us;
	const char *envid;   /* ENVID, may be "" or NULL */
	int ret;             /* PM_RET_* */
	unsigned flags;      /* PM_MSG_* */
	const char *content; /* header + body, CRLF; may be NULL if len 0 */
	size_t len;
} pm_dsn_orig;

/* Configuration and the notice's own identity. */
typedef struct pm_dsn_cfg {
	const char *myhostname;   /* Reporting-MTA, text, Message-Id */
	const char *myorigin;     /* From: MAILER-DAEMON@myorigin */
	size_t bounce_size_limit; /* bounce_size_limit */
	long delay_secs;          /* delay text: "not delivered for N" */
	long lifetime_secs;       /* delay text: "retried until N old" */
	const char *notice_qid;   /* its queue id: Message-Id, boundary */
	int64_t now_us;           /* Date:, and attempts without a time */
} pm_dsn_cfg;

/* What pm_dsn_build() made. */
typedef struct pm_dsn_info {
	size_t nlisted; /* recipients in the report */
	int body_type;  /* PM_BODY_* */
	int smtputf8;   /* the To: header carries UTF-8 */
	int full;       /* 1: whole original, 0: headers only */
} pm_dsn_info;

/* PM_DSN_DISCARD, PM_DSN_TO_SENDER or PM_DSN_TO_POSTMASTER. */
int pm_dsn_route(int kind, const char *sender, const char *double_bounce_addr);

/* 1 if a recipient with these NOTIFY bits gets a notice of this kind. */
int pm_dsn_wanted(int kind, unsigned notify);

/*
 * "addr" if it has a domain, else "addr@origin" (new string): the
 * double_bounce_sender and 2bounce_notice_recipient values.
 */
char *pm_dsn_qualify(const char *addr, const char *origin);

/*
 * The one check of an RFC 3463 enhanced status code, for every role:
 * class 2, 4 or 5, then '.', 1-3 digits, '.', 1-3 digits.
 * pm_dsn_status_span(): the length of such a code at the start of
 * p[0..len), followed by the end, a space or a tab; 0 if none.
 * pm_dsn_status_valid(): 1 if s is exactly such a code.
 * pm_dsn_status_match(): 1 if dsn is such a code and its class is the
 * first digit of the reply code (200-599).
 */
size_t pm_dsn_status_span(const char *p, size_t len);
int pm_dsn_status_valid(const char *s);
int pm_dsn_status_match(int code, const char *dsn);

/*
 * Postfix's dsn_split(): text that starts with an enhanced status code
 * ("5.1.1 User unknown") gives that code, with its class replaced by
 * the class of def ("5.0.0"), and *rest points after it and the white
 * space that follows; other text gives def, and *rest = text. For the
 * error, retry and discard agents, whose nexthop is the reason.
 */
void pm_dsn_split(const char *text, const char *def, char dsn[16],
    const char **rest);

/*
 * Append the notice to out. route is PM_DSN_TO_SENDER or
 * PM_DSN_TO_POSTMASTER, to the notice recipient (the To: header).
 * Returns 0; PM_ENOENT when no recipient is listed (nothing was
 * written: send no notice); PM_EINVAL for a bad kind, route or
 * argument; PM_ETOOBIG when out's limit was reached (out then holds a
 * partial notice: reset it). *info is set on success.
 */
int pm_dsn_build(int kind, int route, const pm_dsn_orig *orig,
    const pm_notice_rcpt *rcpt, size_t nrcpt, const pm_dsn_cfg *cfg,
    const char *to, pm_buf *out, pm_dsn_info *info);

#endif
