/*
 * NAME
 *	smtpd_access - smtpd access restrictions (smtpd_*_restrictions, access(5))
 * SUMMARY
 *	#include "smtpd_access.h"
 * DESCRIPTION
 *	The evaluation logic behind smtpd_check (services/smtpd), kept in
 *	the library so that it is unit-tested without an SMTP server.
 *
 *	pm_access_new() reads the configuration (pm_cfg): the restriction
 *	lists smtpd_client_restrictions, smtpd_helo_restrictions,
 *	smtpd_sender_restrictions, smtpd_relay_restrictions,
 *	smtpd_recipient_restrictions and smtpd_data_restrictions, the
 *	restriction classes (smtpd_restriction_classes), mynetworks, the
 *	reply codes (reject_code, defer_code, relay_domains_reject_code,
 *	access_map_reject_code, access_map_defer_code,
 *	unknown_*_reject_code, non_fqdn_reject_code,
 *	invalid_hostname_reject_code, unknown_client_reject_code,
 *	unknown_hostname_reject_code), smtpd_delay_reject,
 *	smtpd_reject_unlisted_recipient, smtpd_reject_unlisted_sender,
 *	smtpd_null_access_lookup_key, parent_domain_matches_subdomains and
 *	smtpd_dns_timeout (Postmesh: the limit of each DNS lookup made by
 *	a restriction, default 10s). It parses every list and opens every
 *	table named by check_*_access. A parameter that no main.cf, no
 *	environment and no library default names takes Postfix's default.
 *
 *	Restrictions: permit, reject, defer, defer_if_permit,
 *	defer_if_reject, warn_if_reject, permit_mynetworks,
 *	permit_sasl_authenticated, reject_unauth_destination,
 *	defer_unauth_destination, permit_auth_destination,
 *	reject_unlisted_recipient, reject_unlisted_sender,
 *	reject_non_fqdn_{sender,recipient,helo_hostname},
 *	reject_invalid_helo_hostname, reject_unknown_helo_hostname,
 *	reject_unknown_{sender,recipient}_domain,
 *	reject_unknown_client_hostname,
 *	reject_unknown_reverse_client_hostname (PTR lookup),
 *	check_{client,helo,sender,recipient}_access type:name, restriction
 *	class names, and Postfix's old aliases (reject_non_fqdn_hostname,
 *	reject_invalid_hostname, reject_unknown_hostname,
 *	reject_unknown_client, check_recipient_maps).
 *	reject_unauth_pipelining is accepted and ignored with a warning
 *	(smtpd enforces smtpd_forbid_unauth_pipelining itself). DNS lists
 *	(reject_rbl_client, reject_rhsbl_*, permit_dnswl_client, ...):
 *	smtpd_access_dnsbl.c; check_policy_service: smtpd_policy.c;
 *	reject_unverified_recipient and reject_unverified_sender:
 *	smtpd_access_verify.c. Not yet: permit_mx_backup.
 *	reject_sender_login_mismatch and its authenticated, unauthenticated
 *	and known variants use smtpd_sender_login_maps (sender address or
 *	"@domain" -> owner logins, comma or space separated, compared
 *	case-insensitively with the SASL user name), as in Postfix.
 *
 *	An unknown restriction name is an error (the caller makes it
 *	fatal: Postfix instead warns and defers all mail, which hides the
 *	mistake from the operator). A restriction that needs information
 *	not yet known (check_sender_access before MAIL with
 *	smtpd_delay_reject = no) is skipped, as in Postfix. When neither
 *	smtpd_relay_restrictions nor smtpd_recipient_restrictions holds a
 *	relay guard (reject_unauth_destination, defer_unauth_destination,
 *	reject, defer or defer_if_permit, directly or in a restriction
 *	class, before any "permit" and not right after warn_if_reject)
 *	pm_access_new() fails: the server would be an open relay, and
 *	Postfix refuses to run then too.
 *
 *	pm_access_check() evaluates the lists of one SMTP stage. Within a
 *	list the first decisive restriction wins: "permit" ends that list
 *	(evaluation goes on with the next list), a reject ends everything.
 *	With smtpd_delay_reject = yes the client, helo and sender lists
 *	are evaluated at RCPT (before the relay and recipient lists, for
 *	every recipient), and the CONNECT, HELO and MAIL stages decide
 *	nothing. After the recipient list, smtpd_reject_unlisted_recipient
 *	(and, after the sender list, smtpd_reject_unlisted_sender) reject
 *	unknown addresses even without an explicit restriction.
 *	defer_if_permit, defer_if_reject and warn_if_reject work as in
 *	Postfix within one pm_access_check() call.
 *
 *	Addresses are classified (local, virtual, relay, ...) and checked
 *	for existence by the resolver function given to pm_access_new()
 *	(smtpd passes the rewrite service client); when it fails the reply
 *	is "451 4.3.0 <addr>: Temporary lookup failure". Without a resolver
 *	(NULL) every check that needs one answers that, except
 *	reject_unknown_*_domain, which then looks the domain up as given
 *	(with a resolver, final destinations skip the DNS lookup).
 *
 *	res->code == 0 means "go on" (res->hold / res->discard may be set
 *	by HOLD / DISCARD access actions); otherwise res->code is the SMTP
 *	reply code, res->dsn the enhanced status code (its first digit
 *	always equals the reply code's) and res->text the reply text
 *	without code and dsn, e.g. "<a@b>: Relay access denied".
 * LIMITS
 *	Reply text is cut at PM_ACCESS_TEXT_MAX - 1 bytes; access table
 *	results that name restrictions nest at most PM_ACCESS_DEPTH_MAX
 *	deep; each DNS lookup waits at most smtpd_dns_timeout.
 * SECURITY
 *	Client data (names, helo, addresses) is only used as lookup keys
 *	and echoed through pm_printable(). Access table results are
 *	operator data but are parsed defensively (unknown actions answer
 *	"451 4.3.5 Server configuration error" with a warning).
 *	Thread-safe: a pm_access is read-only after pm_access_new(), the
 *	tables lock themselves, DNS lookups use their own channels.
 */
#ifndef PM_ACCESS_H
#define PM_ACCESS_H

#include "pm_verify.h"
#include "rewrite_clnt.h"

#define PM_ACCESS_TEXT_MAX 512
#define PM_ACCESS_DEPTH_MAX 20

/* SMTP stages. */
#define PM_ACCESS_CONNECT 0
#define PM_ACCESS_HELO 1
#define PM_ACCESS_MAIL 2
#define PM_ACCESS_RCPT 3
#define PM_ACCESS_DATA 4

typedef struct pm_access_state {
	const char *client_addr; /* "192.0.2.1" or "2001:db8::1" */
	const char *client_name; /* verified name or "unknown" */
	const char *helo;        /* NULL before HELO/EHLO */
	const char *sender;      /* NULL before MAIL; "" for <> */
	const char *recipient;   /* RCPT stage (and DATA with one rcpt) */
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
} pm_access_state;

typedef struct pm_access_result {
	int code;     /* 0: go on; else 4xx/5xx */
	char dsn[16]; /* "5.7.1" */
	char text[PM_ACCESS_TEXT_MAX];
	int discard; /* DISCARD action */
	int hold;    /* HOLD action */
} pm_access_result;

/*
 * Resolve an address (rule "local") as the rewrite service does:
 * 0 with *out filled (caller frees with pm_resolved_free), or PM_E*.
 */
typedef int (*pm_access_resolver)(void *arg, const char *address,
    int check_known, pm_resolved *out);

typedef struct pm_access pm_access;

/*
 * Build from the configuration. fn may be NULL (every check that needs
 * it then answers 451 4.3.0). On bad configuration returns NULL and
 * *err (a new string naming the parameter).
 */
pm_access *pm_access_new(pm_access_resolver fn, void *arg, char **err);
pm_access *pm_access_free(pm_access *a);

/*
 * 1 if pm_access_check() at this stage certainly decides nothing (no
 * list applies: smtpd_delay_reject moves client/helo/sender lists to
 * RCPT, or the stage's list is empty), so smtpd may skip the thread
 * hand-off. RCPT always evaluates (relay restrictions, unlisted
 * recipients).
 */
int pm_access_stage_idle(const pm_access *a, int stage);

void pm_access_check(const pm_access *a, int stage, const pm_access_state *st,
    pm_access_result *res);

/*
 * reject_unverified_recipient / reject_unverified_sender
 * (smtpd_access_verify.c): the verify cache (not owned) and the
 * function that queues a probe for an address (0 or PM_E*). Without
 * them the restrictions answer per unverified_*_tempfail_action.
 */
typedef int (*pm_access_prober)(void *arg, const char *address);
void pm_access_set_verify(pm_access *a, pm_verify *v, pm_access_prober fn,
    void *arg);

/* 1 if addr is in mynetworks. */
int pm_access_mynetworks(const pm_access *a, const char *addr);

#endif
