/*
 * NAME
 *	smtpd_check - smtpd access restrictions (smtpd_*_restrictions)
 * SUMMARY
 *	#include "smtpd_check.h"
 * DESCRIPTION
 *	The Postfix restriction lists, evaluated at each SMTP stage:
 *	smtpd_client_restrictions, smtpd_helo_restrictions,
 *	smtpd_sender_restrictions, smtpd_relay_restrictions,
 *	smtpd_recipient_restrictions, smtpd_data_restrictions. With
 *	smtpd_delay_reject = yes (default) client, helo and sender lists
 *	are evaluated at RCPT time, as Postfix does.
 *
 *	These functions BLOCK (rewrite service calls, DNS): smtpd calls them
 *	from its check thread pool, never from the event loop. They are
 *	thread-safe. Each fills *res: res->code == 0 means "go on" (permit
 *	or no decision); otherwise the SMTP reply to send (4xx/5xx, with an
 *	enhanced status code in res->dsn whose first digit matches).
 * LIMITS
 *	Reply text is bounded by SMTPD_CHECK_TEXT_MAX.
 * SECURITY
 *	Client data (helo, addresses) is untrusted; it was syntax-checked by
 *	pm_addr before it gets here and is passed through pm_printable()
 *	before it is logged or echoed.
 */
#ifndef SMTPD_CHECK_H
#define SMTPD_CHECK_H

#define SMTPD_CHECK_TEXT_MAX 512

typedef struct smtpd_check_state {
	const char *client_addr; /* "192.0.2.1" or "2001:db8::1" */
	const char *client_name; /* verified name or "unknown" */
	const char *helo;        /* NULL before HELO/EHLO */
	const char *sender;      /* NULL before MAIL; "" for <> */
	const char *recipient;   /* RCPT stage only */
	int sasl_authenticated;
	const char *sasl_username; /* NULL unless authenticated */
	const char *queue_id;      /* for log lines; may be NULL */
	/* For check_policy_service (may be NULL / 0). */
	const char *protocol;    /* "SMTP" or "ESMTP" */
	const char *client_port; /* "54321" */
	const char *sasl_method; /* "PLAIN" */
	const char *sasl_sender; /* MAIL FROM AUTH=, NULL if none */
	const char *tls_summary; /* "TLSv1.3 with cipher NAME (...)" */
	unsigned rcpt_count;     /* recipients accepted so far */
} smtpd_check_state;

typedef struct smtpd_check_result {
	int code;     /* 0: go on; else 4xx/5xx */
	char dsn[16]; /* "5.7.1" */
	char text[SMTPD_CHECK_TEXT_MAX];
	int discard; /* DISCARD action: accept, then drop */
	int hold;    /* HOLD action: accept, put on hold */
} smtpd_check_result;

/* Open tables, parse restriction lists. pm_msg_fatal on bad config. */
void smtpd_check_init(void);
void smtpd_check_reload(void);

void smtpd_check_connect(const smtpd_check_state *st, smtpd_check_result *res);
void smtpd_check_helo(const smtpd_check_state *st, smtpd_check_result *res);
void smtpd_check_mail(const smtpd_check_state *st, smtpd_check_result *res);
void smtpd_check_rcpt(const smtpd_check_state *st, smtpd_check_result *res);
void smtpd_check_data(const smtpd_check_state *st, smtpd_check_result *res);

/*
 * 1 if fn (one of the functions above) would decide nothing with the
 * current configuration, so the caller may skip calling it (and the
 * thread hand-off). Never blocks. Always 0 for smtpd_check_connect and
 * smtpd_check_rcpt.
 */
int smtpd_check_idle(void (*fn)(const smtpd_check_state *,
    smtpd_check_result *));

/* 1 if the client is in mynetworks (for local submission flags, logs). */
int smtpd_check_mynetworks(const char *client_addr);

#endif
