/*
 * NAME
 *	smtpd_access_priv - internals shared by smtpd_access.c and smtpd_access_rules.c
 * SUMMARY
 *	#include "smtpd_access_priv.h"
 * DESCRIPTION
 *	Not for use outside the pm_access module. smtpd_access.c parses the
 *	configuration and drives the lists of each SMTP stage;
 *	smtpd_access_rules.c evaluates one restriction, smtpd_access_table.c
 *	the check_*_access ones and access table results. A pm__actx is
 *	the state of one pm_access_check() call.
 */
#ifndef PM_ACCESS_PRIV_H
#define PM_ACCESS_PRIV_H

#include <stddef.h>

#include "smtpd_access.h"
#include "pm_addr.h"
#include "pm_table.h"

/* Restrictions. */
enum {
	PM__R_PERMIT = 1,
	PM__R_REJECT,
	PM__R_DEFER,
	PM__R_DEFER_IF_PERMIT,
	PM__R_DEFER_IF_REJECT,
	PM__R_WARN_IF_REJECT,
	PM__R_NOOP,
	PM__R_PERMIT_MYNETWORKS,
	PM__R_PERMIT_SASL,
	PM__R_REJECT_UNAUTH_DEST,
	PM__R_DEFER_UNAUTH_DEST,
	PM__R_PERMIT_AUTH_DEST,
	PM__R_REJECT_UNLISTED_RCPT,
	PM__R_REJECT_UNLISTED_SENDER,
	PM__R_NON_FQDN_SENDER,
	PM__R_NON_FQDN_RCPT,
	PM__R_NON_FQDN_HELO,
	PM__R_INVALID_HELO,
	PM__R_UNKNOWN_HELO,
	PM__R_UNKNOWN_SENDER_DOMAIN,
	PM__R_UNKNOWN_RCPT_DOMAIN,
	PM__R_UNKNOWN_CLIENT,
	PM__R_UNKNOWN_REVERSE_CLIENT,
	PM__R_CHECK_CLIENT,
	PM__R_CHECK_HELO,
	PM__R_CHECK_SENDER,
	PM__R_CHECK_RCPT,
	PM__R_CLASS,
	PM__R_SENDER_LOGIN,        /* reject_sender_login_mismatch */
	PM__R_AUTH_SENDER_LOGIN,   /* reject_authenticated_... */
	PM__R_UNAUTH_SENDER_LOGIN, /* reject_unauthenticated_... */
	PM__R_KNOWN_SENDER_LOGIN,  /* reject_known_sender_login_mismatch */
	/* DNS lists (smtpd_access_dnsbl.c): argument domain[=filter]. */
	PM__R_RBL_CLIENT,
	PM__R_RHSBL_CLIENT,
	PM__R_RHSBL_REVERSE_CLIENT,
	PM__R_RHSBL_HELO,
	PM__R_RHSBL_SENDER,
	PM__R_RHSBL_RCPT,
	PM__R_DNSWL_CLIENT,
	PM__R_RHSWL_CLIENT,
	/* check_policy_service (smtpd_policy.c): argument inet:host:port. */
	PM__R_POLICY,

	PM__R_UNVERIFIED_RCPT,   /* reject_unverified_recipient */
	PM__R_UNVERIFIED_SENDER, /* reject_unverified_sender */
};

/* pm__access_word() *needs: what follows the restriction name. */
#define PM__ARG_TABLE 1  /* type:name */
#define PM__ARG_DNSXL 2  /* domain[=filter] */
#define PM__ARG_POLICY 3 /* inet:host:port or unix:/path */

/* Lists, in evaluation order at RCPT. */
#define PM__L_CLIENT 0
#define PM__L_HELO 1
#define PM__L_SENDER 2
#define PM__L_RELAY 3
#define PM__L_RCPT 4
#define PM__L_DATA 5
#define PM__L_COUNT 6

/* Outcome of a restriction or list. */
#define PM__DUNNO 0
#define PM__OK 1
#define PM__REJECT 2

typedef struct pm__restr {
	int op;
	size_t cls;                  /* PM__R_CLASS: index into classes */
	pm_tables *tables;           /* check_*_access */
	char *name;                  /* as written, for messages */
	struct pm_dnsbl_site *site;  /* DNS list restrictions */
	struct pm_metric *hits;      /* postmesh_smtpd_rbl_hits_total */
	struct smtpd_policy *policy; /* check_policy_service */
} pm__restr;

typedef struct pm__rlist {
	pm__restr *v;
	size_t n;
} pm__rlist;

struct pm_access {
	pm__rlist lists[PM__L_COUNT];
	char **class_names;
	pm__rlist *classes;
	size_t nclasses;
	pm_netlist *mynetworks;
	pm_tables *login_maps; /* smtpd_sender_login_maps, or NULL */
	int delay_reject;
	int unlisted_rcpt;
	int unlisted_sender;
	int parent_style; /* "dom.ain" (1) or ".dom.ain" (0) for parents */
	char *null_key;
	int reject_code;
	int defer_code;
	int relay_code;
	int map_reject_code;
	int map_defer_code;
	int unk_local_code;
	int unk_alias_code;
	int unk_mailbox_code;
	int unk_relay_code;
	int unk_addr_code;
	int unk_client_code;
	int unk_host_code;
	int non_fqdn_code;
	int bad_host_code;
	int dns_timeout_ms;
	int rbl_code;        /* maps_rbl_reject_code */
	char *rbl_reply;     /* default_rbl_reply */
	pm_tables *rbl_maps; /* rbl_reply_maps, or NULL */
	pm_access_resolver resolve;
	void *resolve_arg;
	struct pm__averify *verify; /* reject_unverified_* */
};

typedef struct pm__actx {
	const pm_access *a;
	const pm_access_state *st;
	pm_access_result *res;
	int stage;
	int depth;
	int warn_next;   /* warn_if_reject seen: applies to the next item */
	int warn_active; /* current item only logs its reject */
	int dip;         /* defer_if_permit pending */
	pm_access_result dip_res;
	int dir; /* defer_if_reject active */
	pm_access_result dir_res;
	int rcpt_checked; /* unlisted recipient check done */
	int sender_checked;
	char namaddr[PM_ADDR_MAX + 80]; /* "name[addr]" */
} pm__actx;

/* smtpd_access.c */
int pm__access_word(const pm_access *a, const char *word, int *op, size_t *cls,
    int *needs_table);
int pm__access_eval_list(pm__actx *c, const pm__restr *v, size_t n, int kind);
int pm__access_reply(pm__actx *c, int code, const char *dsn, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
void pm__access_defer_if(pm__actx *c, int permit, int code, const char *dsn,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
const char *pm__access_stage_name(int stage);
/* Log "QID: what: STAGE from name[addr]: text; from=<> to=<> helo=<>". */
void pm__access_log(pm__actx *c, const char *what, const char *text);

/* smtpd_access_rules.c */
int pm__access_eval_item(pm__actx *c, const pm__restr *r, int kind);
int pm__access_unlisted(pm__actx *c, const char *addr, int sender);
/* "451 4.3.5 Server configuration error" */
int pm__access_server_error(pm__actx *c);
int pm__access_is_ip(const char *s);
/* New copy without one trailing dot ("host." -> "host", not "host.."). */
char *pm__access_nodot(const char *s);

/* smtpd_access_login.c: the *_sender_login_mismatch restrictions. */
int pm__access_login_mismatch(pm__actx *c, int op);

/* smtpd_access_verify.c: reject_unverified_{recipient,sender}. */
typedef struct pm__averify pm__averify;
int pm__access_verify_new(pm__averify **out, char **err);
pm__averify *pm__access_verify_free(pm__averify *av);
int pm__access_verify(pm__actx *c, int sender);

/* smtpd_access_table.c */
int pm__access_check_table(pm__actx *c, const pm__restr *r, int kind);
/* Apply an access(5) result (value) found in table (for messages). */
int pm__access_table_result(pm__actx *c, const char *table, const char *value,
    const char *rname, const char *rcls, int kind);

/* smtpd_access_rules.c: reply name and class of a list ("Client host"). */
void pm__access_kind(const pm__actx *c, int kind, const char **name,
    const char **cls);
/* 1: local, virtual or relay destination; 0: not; -1: *outcome. */
int pm__access_auth_dest(pm__actx *c, const char *rcpt, int *outcome);

/* smtpd_access_dnsbl.c: argument parsing and evaluation. */
int pm__access_dnsbl_parse(pm__restr *r, const char *arg, char **err);
void pm__access_dnsbl_free(pm__restr *r);
int pm__access_dnsbl(pm__actx *c, const pm__restr *r, int kind);

/* smtpd_policy.c: check_policy_service. */
int pm__access_policy_parse(pm__restr *r, const pm_access *a, const char *arg,
    char **err);
void pm__access_policy_free(pm__restr *r);
int pm__access_policy(pm__actx *c, const pm__restr *r, int kind);
/* The TLS summary's protocol, cipher and key size, each cut to its size. */
void pm__policy_tls(const char *sum, char *proto, size_t proto_size,
    char *cipher, size_t cipher_size, char *bits, size_t bits_size);

#endif
