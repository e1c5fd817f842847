/*
 * NAME
 *	rewrite_int - internals shared by rewrite_*.c
 * DESCRIPTION
 *	Not for use outside rewrite_resolve.c, rewrite_canon.c and
 *	rewrite_known.c. The resolver object holds private copies of
 *	every parameter value it uses, so rebinding parameters (SIGHUP)
 *	never changes a resolver in use.
 */
#ifndef PM_RESOLVE_INT_H
#define PM_RESOLVE_INT_H

#include <stddef.h>

#include "rewrite_resolve.h"

#define PM_RESOLVE_LOOP_MAX 100 /* rewriting passes per address */
#include "pm_table.h"

/* One item of a domain list such as mydestination. */
typedef struct pm__rs_item {
	int neg;         /* "!pattern" */
	char *pattern;   /* domain or ".domain", lower case; or NULL */
	pm_table *table; /* "type:name" */
} pm__rs_item;

typedef struct pm__rs_list {
	const char *name; /* parameter name, for logs */
	int parent;       /* name is in parent_domain_matches_subdomains */
	size_t n;
	pm__rs_item *items;
} pm__rs_list;

struct pm_resolve {
	pm__rs_list mydest;
	pm__rs_list virt_alias_doms;
	pm__rs_list virt_mailbox_doms;
	pm__rs_list relay_doms;
	char **local_literals; /* [127.0.0.1], [ipv6:::1], inet_interfaces */
	size_t nlocal_literals;
	pm_tables *transport_maps; /* NULL when the parameter is empty */
	pm_tables *relocated_maps;
	pm_tables *virt_alias_maps;
	pm_tables *virt_mailbox_maps;
	pm_tables *local_rcpt_maps;
	pm_tables *relay_rcpt_maps;
	int transport_parent;
	int swap_bangpath;
	int percent_hack;
	int append_dot;
	int resolve_dequoted;
	char *myhostname;
	char *mydomain;
	char *myorigin;
	char *relayhost;
	char *rcpt_delim;
	char *empty_addr;
	char *local_transport;
	char *virt_transport;
	char *relay_transport;
	char *def_transport;
	char *error_transport;
};

/* Domain list match: 1 match, 0 no match, PM_E* on a lookup error. */
int pm__resolve_list_match(pm__rs_list *l, const char *domain);
/* mydestination, localhost, local address literals: 1, 0 or PM_E*. */
int pm__resolve_is_local(pm_resolve *r, const char *domain);

/*
 * The '@' that separates local part and domain: the last one outside
 * quotes; NULL if none.
 */
const char *pm__resolve_at(const char *addr);

/*
 * Canonical form into a new *out; flags get PM_RESOLVE_ROUTED,
 * PM_RESOLVE_FAIL (with *why) or PM_RESOLVE_ERROR. On FAIL/ERROR *out
 * may be NULL.
 */
void pm__resolve_canon(pm_resolve *r, const char *addr, int remote, char **out,
    unsigned *flags, const char **why);

/*
 * Table lookup that logs a lookup error with the parameter name.
 * Returns 0 with *value (new string), PM_ENOENT, or another PM_E*.
 */
int pm__resolve_get(pm_tables *ts, const char *param, const char *key,
    char **value);

/* Lookup strategy bits for pm__resolve_find() (Postfix mail_addr_find). */
#define PM__FIND_FULL 1      /* user+ext@domain */
#define PM__FIND_NOEXT 2     /* user@domain */
#define PM__FIND_LOCALPART 4 /* user+ext, user */
#define PM__FIND_ATDOMAIN 8  /* @domain */

/* Same return values as pm__resolve_get(). */
int pm__resolve_find(pm_resolve *r, pm_tables *ts, const char *param,
    const char *addr, int strategy, char **value);

/* check_known: sets PM_RESOLVE_KNOWN / UNKNOWN / ERROR and text. */
void pm__resolve_known(pm_resolve *r, pm_resolved *res);

#endif
