/*
 * NAME
 *	cleanup_proc - cleanup(8) message and address processing
 * SUMMARY
 *	#include "cleanup_proc.h"
 * DESCRIPTION
 *	The pure part of the cleanup service, kept in the library so that
 *	unit tests reach it (tests/unit/test_cleanup.c). The service
 *	(services/cleanup/) validates the request, calls these, writes the
 *	queue and answers.
 *
 *	pm_cleanup_content() processes the content as Postfix's cleanup
 *	does: header_checks on every primary header (the logical header,
 *	continuation lines joined with "\n"), drop_headers removed, hop
 *	count (Received: and Delivered-To:), missing Message-Id:, Date:
 *	and From: added (local submissions or always_add_missing_headers;
 *	Resent- variants when the message has Resent- headers), then
 *	body_checks on every body line. The added headers come first in
 *	the output, then the kept headers in their original bytes, then
 *	the body.
 *
 *	Actions in header_checks and body_checks results, as Postfix:
 *	REJECT [text], DISCARD [text], HOLD [text], WARN [text],
 *	INFO [text], IGNORE, PREPEND text, REPLACE text, OK, DUNNO.
 *	Anything else is warned about and ignored (FILTER, REDIRECT, BCC
 *	are not supported).
 *
 *	pm_cleanup_sender() and pm_cleanup_rcpts() rewrite the envelope:
 *	canonical form (the canon callback: the rewrite service), then
 *	sender_/recipient_canonical_maps and canonical_maps (as selected by
 *	canonical_classes), then, for recipients, virtual_alias_maps
 *	expansion, duplicate removal and original recipient bookkeeping.
 *	Lookups follow canonical(5)/virtual(5): user@domain, then user
 *	(when domain is local: myorigin or mydestination), then @domain;
 *	a result "@other" keeps the original local part.
 * LIMITS
 *	header_size_limit per logical header (the rest is cut and a
 *	warning logged); hopcount_limit; body_checks_size_limit (body lines
 *	that start beyond it are not checked); line_length_limit (a longer
 *	body line is matched in pieces of that size);
 *	virtual_alias_recursion_limit, virtual_alias_expansion_limit (per
 *	original recipient: the first N results are kept, as Postfix, and
 *	a warning logged); total_recipient_limit over the whole message
 *	(same treatment). Canonical mapping nests at most 10 deep.
 * SECURITY
 *	The content and the addresses are untrusted (any byte, any
 *	length up to the caller's limits); tables are operator input.
 *	Every log line passes peer text through pm_printable.
 */
#ifndef PM_CLEANUP_H
#define PM_CLEANUP_H

#include <stddef.h>
#include <time.h>

#include "cleanup_clnt.h"
#include "pm_qstore.h"
#include "pm_table.h"
#include "pm_util.h"

/* Actions of header_checks/body_checks results. */
typedef enum pm_check_act {
	PM_CHECK_DUNNO = 0, /* OK, DUNNO, and unknown actions */
	PM_CHECK_REJECT,
	PM_CHECK_DISCARD,
	PM_CHECK_HOLD,
	PM_CHECK_WARN,
	PM_CHECK_INFO,
	PM_CHECK_IGNORE,
	PM_CHECK_PREPEND,
	PM_CHECK_REPLACE,
	PM_CHECK_UNKNOWN, /* unknown or unsupported: warn, then DUNNO */
} pm_check_act;

/*
 * Parse a table result "ACTION [text]" (action case-insensitive).
 * *text points into value after the action and white space ("" if none).
 */
pm_check_act pm_check_parse(const char *value, const char **text);

/* canonical_classes bits. */
#define PM_CANON_ENV_SENDER 1
#define PM_CANON_ENV_RCPT 2
#define PM_CANON_HDR_SENDER 4
#define PM_CANON_HDR_RCPT 8
/* Parse "envelope_sender, envelope_recipient, ..."; unknown names warned. */
unsigned pm_canon_classes(const char *spec);

/* Canonical form of an address (rewrite service): 0 or PM_E*. */
typedef int (*pm_canon_fn)(void *arg, const char *addr, char **out);

typedef struct pm_cleanup_cfg {
	/* content */
	size_t header_size_limit;
	long hopcount_limit;
	char **drop_headers; /* NULL-terminated names, or NULL */
	int always_add_missing_headers;
	const char *myhostname;
	pm_tables *header_checks; /* NULL or empty: none */
	pm_tables *body_checks;
	size_t body_checks_size_limit; /* 0: no limit */
	size_t line_length_limit;      /* body_checks piece size */
	/* addresses */
	pm_tables *canonical_maps;
	pm_tables *sender_canonical_maps;
	pm_tables *recipient_canonical_maps;
	unsigned canonical_classes;
	pm_tables *virtual_alias_maps;
	long virtual_alias_recursion_limit;
	long virtual_alias_expansion_limit;
	long total_recipient_limit;
	int enable_original_recipient;
	char **local_domains; /* NULL-terminated, or NULL */
	pm_canon_fn canon;    /* NULL: addresses are canonical */
	void *canon_arg;
} pm_cleanup_cfg;

/* pm_cleanup_msg.status */
#define PM_CLEANUP_QUEUE 0   /* queue m->out (m->hold: on hold) */
#define PM_CLEANUP_REJECT 1  /* answer m->code m->dsn m->text */
#define PM_CLEANUP_DISCARD 2 /* answer 250, do not queue */
#define PM_CLEANUP_DEFER 3   /* lookup error: answer 451 4.3.0 */

typedef struct pm_cleanup_msg {
	/* set by the caller (strings are borrowed) */
	const char *qid;
	const char *sender;    /* canonical envelope sender, "" for <> */
	const char *rcpt;      /* a recipient, for log lines; may be NULL */
	const char *origin;    /* "name[addr]" or "local" */
	const char *protocol;  /* may be NULL */
	const char *helo;      /* may be NULL */
	int add_missing;       /* local submission: add missing headers */
	const char *full_name; /* for an added From:; may be NULL or "" */
	int filter;            /* run header_checks/body_checks */
	time_t arrival;        /* for Date: */
	time_t now;            /* for Message-Id: */
	/* results */
	int status;    /* PM_CLEANUP_* */
	int hold;      /* a HOLD action matched */
	unsigned code; /* REJECT: 550, 554, 451 ... */
	char dsn[16];
	char text[512];
	char message_id[256]; /* Message-ID value for the log, "" if none */
	size_t hops;          /* Received: + Delivered-To: headers */
	pm_buf out;           /* the content to queue */
} pm_cleanup_msg;

void pm_cleanup_msg_init(pm_cleanup_msg *m);
void pm_cleanup_msg_free(pm_cleanup_msg *m);

/*
 * Process content; sets m->status and, for PM_CLEANUP_QUEUE, m->out.
 * Returns 0, or PM_ETOOBIG if the output would not fit in memory
 * limits (the caller answers 451).
 */
int pm_cleanup_content(const pm_cleanup_cfg *cfg, pm_cleanup_msg *m,
    const void *content, size_t len);

/*
 * Envelope sender: canonical form and canonical maps. "" stays "".
 * 0 and a new string, or PM_E* (the caller answers 451 4.3.0).
 */
int pm_cleanup_sender(const pm_cleanup_cfg *cfg, const char *qid,
    const char *sender, char **out);

/*
 * Recipients: canonical form, canonical maps, virtual alias expansion,
 * duplicates removed. *out is a new array of *nout recipients (address,
 * orcpt, notify set; status "todo"); free with pm_cleanup_rcpts_free.
 * Returns 0 or PM_E* (lookup error: the caller answers 451 4.3.0).
 */
int pm_cleanup_rcpts(const pm_cleanup_cfg *cfg, const char *qid,
    const pm_submit_rcpt *in, size_t n, pm_qrcpt **out, size_t *nout);
void pm_cleanup_rcpts_free(pm_qrcpt *r, size_t n);

#endif
