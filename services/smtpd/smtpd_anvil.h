/*
 * NAME
 *	smtpd_anvil - Postfix anvil limits for smtpd, shared by replicas
 * SUMMARY
 *	#include "smtpd_anvil.h"
 * DESCRIPTION
 *	smtpd_client_connection_count_limit,
 *	smtpd_client_connection_rate_limit, smtpd_client_message_rate_limit,
 *	smtpd_client_recipient_rate_limit,
 *	smtpd_client_new_tls_session_rate_limit and
 *	smtpd_client_auth_rate_limit per client address, counted in Redis
 *	(pm_anvil.h) so that a limit holds across every smtpd replica.
 *	Clients in smtpd_client_event_limit_exceptions are never limited.
 *
 *	The checks block (one Redis round trip): they run on the check
 *	pool, as wrappers of smtpd_check_connect/mail/rcpt that answer
 *	the limit's reply instead of running the restrictions. The leases
 *	of live connections are renewed, and the leases of closed ones
 *	dropped, by one background thread (never the event loop).
 * LIMITS
 *	The limits above per anvil_rate_time_unit; a connection of a
 *	killed smtpd counts until its lease
 *	(smtpd_client_connection_lease_time) ends; at most
 *	SMTPD_ANVIL_DROPS closed connections wait for the background
 *	thread (more: their leases end by themselves).
 * SECURITY
 *	The client address goes into Redis key names only.
 */
#ifndef SMTPD_ANVIL_H
#define SMTPD_ANVIL_H

#include "pm_anvil.h"
#include "smtpd_check.h"

struct smtpd_session;

/* Kinds of limits (metric labels). */
enum {
	SMTPD_ANVIL_CONN_COUNT = 0,
	SMTPD_ANVIL_CONN_RATE,
	SMTPD_ANVIL_MSG_RATE,
	SMTPD_ANVIL_RCPT_RATE,
	SMTPD_ANVIL_TLS_RATE,
	SMTPD_ANVIL_AUTH_RATE,
	SMTPD_ANVIL_KINDS,
};

void smtpd_anvil_init(void); /* after smtpd_check_init: fatal on bad config */
void smtpd_anvil_stop(void); /* after the last session is freed */

/* 1 if client is in smtpd_client_event_limit_exceptions. */
int smtpd_anvil_exempt(const char *client);

/*
 * A rate limit of kind (MSG_RATE, RCPT_RATE, TLS_RATE, AUTH_RATE) for
 * client: 1 if over limit (slot->count: the count in the way; logged
 * by the caller, counted in the metric here), 0 to go on (taken in
 * slot, or off, exempt, Redis down). Blocks: check or AUTH threads.
 */
int smtpd_anvil_rate(int kind, const char *client, long limit,
    pm_anvil_slot *slot);
/* Give a try back (pm_anvil_release); a no-op for a slot not held. */
void smtpd_anvil_release(pm_anvil_slot *slot);

/* Check functions for smtpd_check_async (the session's own cst). */
void smtpd_anvil_check_connect(const smtpd_check_state *st,
    smtpd_check_result *res);
/* The MAIL and RCPT check functions: with the rate check when on. */
void (*smtpd_anvil_mail_fn(const struct smtpd_session *s))(
    const smtpd_check_state *, smtpd_check_result *);
void (*smtpd_anvil_rcpt_fn(const struct smtpd_session *s))(
    const smtpd_check_state *, smtpd_check_result *);
/* The connect continuation: smtpd_connect_done, then a TLS check due. */
void smtpd_anvil_connect_done(struct smtpd_session *s);
/* A TLS handshake completed (loop thread): count a new session. */
void smtpd_anvil_tls_done(struct smtpd_session *s, int reused);
/* The session ends (loop thread): its connection stops counting. */
void smtpd_anvil_end(struct smtpd_session *s);

#endif
