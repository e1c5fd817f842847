/*
 * NAME
 *	rewrite_resolve - address canonicalisation and resolution (trivial-rewrite)
 * SUMMARY
 *	#include "rewrite_resolve.h"
 * DESCRIPTION
 *	The pure logic of the rewrite service, without nng or protobuf, so
 *	that it can be unit-tested and, if ever wanted, run in-process.
 *
 *	pm_resolve_params_bind() binds the parameters below (tests; the
 *	rewrite service lists the same entries in its own tables with the
 *	PM_RESOLVE_CFG_* macros). Common parameters (myhostname, mydomain,
 *	myorigin, mydestination, relay_domains) come from pm_common_params.
 *
 *	pm_resolve_new() builds a resolver from the bound values: it parses
 *	the domain lists and opens every lookup table. A resolver never
 *	changes once built and pm_table lookups are thread-safe, so one
 *	resolver may serve many threads at once; to reload, build a new one.
 *
 *	pm_resolve_canon() turns an address into canonical form
 *	(user@fully.qualified.domain): source routes stripped, bang paths
 *	swapped (swap_bangpath), the percent hack applied
 *	(allow_percent_hack), "@$myorigin" (rule "local") or "@$mydomain"
 *	(rule "remote") appended to a bare local part, ".$mydomain" appended
 *	to a dotless domain (append_dot_mydomain), one trailing dot removed,
 *	the domain lower-cased. The null address "" stays "".
 *	With resolve_dequoted_address (default yes) routing operators
 *	inside a quoted local part count, as Postfix sees them: a local
 *	address "user@other"@$mydomain is resolved as user@other.
 *	PM_RESOLVE_ROUTED is set whenever the local part of the result
 *	holds '@', '%' or '!', quoted or not, so that smtpd refuses to
 *	relay "victim@elsewhere"@relay-domain for strangers (Postfix
 *	looks at the unquoted form for this, whatever the settings).
 *
 *	pm_resolve_addr() canonicalises and then resolves the address by
 *	class (Postfix ADDRESS_CLASS_README): local, virtual alias, virtual
 *	mailbox, relay, default, to (transport, nexthop, recipient), applies
 *	transport_maps and relocated_maps, and with check_known answers
 *	whether the recipient exists (RESOLVE_KNOWN / RESOLVE_UNKNOWN).
 *
 *	Both fill a pm_resolved (rewrite_clnt.h) that the caller frees with
 *	pm_resolved_free(). A bad address is not an error return: it is a
 *	result with PM_RESOLVE_FAIL and a reason in text. A table lookup
 *	failure is a result with PM_RESOLVE_ERROR (the caller answers
 *	451 4.3.0).
 * LIMITS
 *	Addresses longer than PM_RESOLVE_ADDR_MAX bytes fail; the rewriting
 *	loop (percent hack, bang paths) runs at most PM_RESOLVE_LOOP_MAX
 *	times.
 * SECURITY
 *	Addresses come from SMTP clients through other roles: control
 *	characters, unbalanced quotes, over-long input and bad domains give
 *	PM_RESOLVE_FAIL, never a crash. Lookup keys are derived only from
 *	addresses that passed these checks.
 */
#ifndef PM_RESOLVE_H
#define PM_RESOLVE_H

#include "pm_mail_params.h"

#include "pm_cfg.h"
#include "rewrite_clnt.h"

/*
 * Parameters: Postfix names. String defaults are the library's
 * (pm_params.c: NULL in the tables below), except the two given here.
 */
#define VAR_SWAP_BANGPATH "swap_bangpath"
#define DEF_SWAP_BANGPATH 1
#define VAR_PERCENT_HACK "allow_percent_hack"
#define DEF_PERCENT_HACK 1
#define VAR_APP_DOT_MYDOMAIN "append_dot_mydomain"
#define DEF_APP_DOT_MYDOMAIN 0
#define VAR_RESOLVE_DEQUOTED "resolve_dequoted_address"
#define DEF_RESOLVE_DEQUOTED 1
#define VAR_LOCAL_TRANSPORT "local_transport"
#define VAR_VIRT_TRANSPORT "virtual_transport"
#define VAR_RELAY_TRANSPORT "relay_transport"
#define VAR_DEF_TRANSPORT "default_transport"
#define VAR_ERROR_TRANSPORT "error_service_name"
#define DEF_ERROR_TRANSPORT "error"
#define VAR_RELAYHOST "relayhost"
#define VAR_VIRT_ALIAS_DOMS "virtual_alias_domains"
#define VAR_VIRT_MAILBOX_DOMS "virtual_mailbox_domains"
#define VAR_RELAY_RCPT_MAPS "relay_recipient_maps"
#define VAR_TRANSPORT_MAPS "transport_maps"
#define VAR_RELOCATED_MAPS "relocated_maps"
#define VAR_PAR_DOM_MATCH "parent_domain_matches_subdomains"
#define VAR_INET_INTERFACES "inet_interfaces"
#define VAR_EMPTY_ADDR "empty_address_recipient"
#define DEF_EMPTY_ADDR "MAILER-DAEMON"

extern int var_swap_bangpath;
extern int var_percent_hack;
extern int var_append_dot_mydomain;
extern int var_resolve_dequoted;
extern char *var_local_transport;
extern char *var_virt_transport;
extern char *var_relay_transport;
extern char *var_def_transport;
extern char *var_error_transport;
extern char *var_relayhost;
extern char *var_virt_alias_doms;
extern char *var_virt_mailbox_doms;
extern char *var_relay_rcpt_maps;
extern char *var_transport_maps;
extern char *var_relocated_maps;
extern char *var_par_dom_match;
extern char *var_inet_interfaces;
extern char *var_empty_addr;

/* Table entries, for a service's own pm_cfg_str/pm_cfg_bool tables. */
#define PM_RESOLVE_CFG_STRS \
	{ VAR_LOCAL_TRANSPORT, NULL, &var_local_transport, 1, 0 }, \
	    { VAR_VIRT_TRANSPORT, NULL, &var_virt_transport, 1, 0 }, \
	    { VAR_RELAY_TRANSPORT, NULL, &var_relay_transport, 1, 0 }, \
	    { VAR_DEF_TRANSPORT, NULL, &var_def_transport, 1, 0 }, \
	    { VAR_ERROR_TRANSPORT, DEF_ERROR_TRANSPORT, &var_error_transport, \
		    1, 64 }, \
	    { VAR_RELAYHOST, NULL, &var_relayhost, 0, 1024 }, \
	    { VAR_VIRT_ALIAS_DOMS, NULL, &var_virt_alias_doms, 0, 0 }, \
	    PM_CFG_VIRT_ALIAS_MAPS, \
	    { VAR_VIRT_MAILBOX_DOMS, NULL, &var_virt_mailbox_doms, 0, 0 }, \
	    PM_CFG_VIRT_MAILBOX_MAPS, \
	    { VAR_RELAY_RCPT_MAPS, NULL, &var_relay_rcpt_maps, 0, 0 }, \
	    PM_CFG_LOCAL_RCPT_MAPS, \
	    { VAR_TRANSPORT_MAPS, NULL, &var_transport_maps, 0, 0 }, \
	    { VAR_RELOCATED_MAPS, NULL, &var_relocated_maps, 0, 0 }, \
	    PM_CFG_RCPT_DELIM, \
	    { VAR_PAR_DOM_MATCH, NULL, &var_par_dom_match, 0, 0 }, \
	    { VAR_INET_INTERFACES, NULL, &var_inet_interfaces, 0, 0 }, \
	{ \
		VAR_EMPTY_ADDR, DEF_EMPTY_ADDR, &var_empty_addr, 1, 255 \
	}

#define PM_RESOLVE_CFG_BOOLS \
	{ VAR_SWAP_BANGPATH, DEF_SWAP_BANGPATH, &var_swap_bangpath }, \
	    { VAR_PERCENT_HACK, DEF_PERCENT_HACK, &var_percent_hack }, \
	    { VAR_APP_DOT_MYDOMAIN, DEF_APP_DOT_MYDOMAIN, \
		    &var_append_dot_mydomain }, \
	{ \
		VAR_RESOLVE_DEQUOTED, DEF_RESOLVE_DEQUOTED, \
		    &var_resolve_dequoted \
	}

/* Bind the tables above (tests, services that resolve in-process). */
void pm_resolve_params_bind(void);

typedef struct pm_resolve pm_resolve;

/*
 * Build a resolver from the bound parameter values. On failure (a table
 * that does not open, an empty transport) returns NULL with *err set to
 * a new string naming the parameter; the caller frees it.
 */
pm_resolve *pm_resolve_new(char **err);
/* Returns NULL; NULL is fine. */
pm_resolve *pm_resolve_free(pm_resolve *r);

/*
 * rule: "local", "remote" or "" (= "local"); anything else is
 * PM_EINVAL. Return 0 with *out filled (see flags), or PM_EINVAL.
 */
int pm_resolve_canon(pm_resolve *r, const char *address, const char *rule,
    pm_resolved *out);
int pm_resolve_addr(pm_resolve *r, const char *address, const char *rule,
    int check_known, pm_resolved *out);

/* "local", "virtual alias", ... for logs; "unset" for unknown values. */
const char *pm_resolve_class_name(int addr_class);

#endif
