/*
 * NAME
 *	pm_dnsbl - DNS block/allow list site specs, query names, lookups
 * SUMMARY
 *	#include "pm_dnsbl.h"
 * DESCRIPTION
 *	The pieces that smtpd (reject_rbl_client, reject_rhsbl_*,
 *	permit_dnswl_client) and postscreen (postscreen_dnsbl_sites) share,
 *	with Postfix's syntax and meaning:
 *
 *	pm_dnsbl_site_parse() reads one site spec "domain[=filter][*weight]"
 *	(the "*weight" part only with PM_DNSBL_F_WEIGHT, as postscreen
 *	allows it and smtpd does not). The filter is four dot-separated
 *	octet patterns, each a number "n" or a bracketed list "[a;b;n..m]"
 *	of numbers and ranges, e.g. "127.0.0.[2..11]" or
 *	"127.0.[0..255].[1;3;5..7]". The weight is an integer, may be
 *	negative (an allow list in postscreen), default 1. The domain is
 *	kept in lower case without a trailing dot.
 *
 *	pm_dnsbl_list_parse() reads a list of specs separated by commas
 *	and/or white space into a new array (free with free()).
 *
 *	pm_dnsbl_query_addr() builds the query name for a client address:
 *	the reversed IPv4 octets ("2.0.0.127.zen.example") or the 32
 *	reversed nibbles of an IPv6 address, then "." and the domain; an
 *	IPv4-mapped IPv6 address is queried as IPv4. pm_dnsbl_query_name()
 *	builds "name.domain" for a right-hand-side list (a sender domain,
 *	a HELO name, a client host name). Both refuse a result longer than
 *	a DNS name (PM_DNS_NAME_MAX) or with a bad label (PM_ETOOBIG,
 *	PM_EINVAL): the caller then skips the lookup.
 *
 *	pm_dnsbl_match() tells whether one A record ("127.0.0.2") matches
 *	a site: without a filter any A record matches (as in Postfix);
 *	with one, every octet must match its pattern. pm_dnsbl_match_rrs()
 *	gives the index of the first matching A record of a reply, or -1
 *	(postscreen uses it on its own asynchronous answers).
 *
 *	pm_dnsbl_lookup() asks the DNS (pm_dns_lookup, blocking, for
 *	smtpd's check threads) for the A records of a query name and, on a
 *	hit, its first TXT record. Result: PM_DNSBL_HIT with res->a (the
 *	matching record) and res->txt (printable; "" if there is none or
 *	the TXT lookup failed), PM_DNSBL_MISS (NXDOMAIN, NODATA, or no A
 *	record matched the filter), PM_EAGAIN (temporary failure: the
 *	caller treats it as no match and warns, as Postfix does), PM_EINVAL
 *	(bad query name). The whole lookup, TXT included, takes at most
 *	timeout_ms.
 * LIMITS
 *	PM_DNSBL_SPEC_MAX bytes per spec, PM_DNSBL_SITES_MAX sites per list,
 *	PM_DNSBL_ALT_MAX alternatives per filter octet, weights within
 *	+-PM_DNSBL_WEIGHT_MAX, PM_DNSBL_TXT_MAX bytes of TXT kept (the rest
 *	is cut), names up to PM_DNS_NAME_MAX bytes.
 * SECURITY
 *	Specs come from the configuration; names and addresses from SMTP
 *	clients (checked before a query is built); replies from the
 *	network (A records are parsed by pm_dns; TXT text is made
 *	printable and cut before it reaches a log line or an SMTP reply).
 */
#ifndef PM_DNSBL_H
#define PM_DNSBL_H

#include <stddef.h>

#include "pm_dns.h"

#define PM_DNSBL_SPEC_MAX 512 /* bytes in one site spec */
#define PM_DNSBL_SITES_MAX 64 /* site specs in one list */
#define PM_DNSBL_ALT_MAX 16   /* alternatives in one filter octet */
#define PM_DNSBL_WEIGHT_MAX 10000
#define PM_DNSBL_TXT_MAX 512    /* bytes of TXT text kept */
#define PM_DNSBL_FILTER_MAX 128 /* bytes of filter text kept (for logs) */

/* pm_dnsbl_site_parse() flags. */
#define PM_DNSBL_F_WEIGHT 0x1 /* accept "*weight" (postscreen) */

/* pm_dnsbl_lookup() results (errors are negative PM_E*). */
#define PM_DNSBL_MISS 0
#define PM_DNSBL_HIT 1

typedef struct pm_dnsbl_range {
	unsigned char lo;
	unsigned char hi;
} pm_dnsbl_range;

typedef struct pm_dnsbl_octet {
	unsigned nalt; /* alternatives in alt[] */
	pm_dnsbl_range alt[PM_DNSBL_ALT_MAX];
} pm_dnsbl_octet;

typedef struct pm_dnsbl_site {
	char domain[PM_DNS_NAME_MAX + 1];     /* lower case, no final dot */
	char filter[PM_DNSBL_FILTER_MAX + 1]; /* as written; "" if none */
	int has_filter;
	pm_dnsbl_octet octet[4];
	int weight; /* 1 unless "*weight" was given */
} pm_dnsbl_site;

typedef struct pm_dnsbl_result {
	char a[16];                     /* the matching A record */
	char txt[PM_DNSBL_TXT_MAX + 1]; /* first TXT, printable; or "" */
	unsigned ttl;                   /* TTL of the matching A record */
} pm_dnsbl_result;

/*
 * Parse one spec. 0, or PM_EINVAL / PM_ETOOBIG with a reason in err
 * (may be NULL); *site is untouched on failure.
 */
int pm_dnsbl_site_parse(pm_dnsbl_site *site, const char *spec, int flags,
    char *err, size_t errsize);

/*
 * Parse a list; *sites (free()) and *nsites get the result; an empty
 * list gives *sites == NULL and *nsites == 0. Errors as above.
 */
int pm_dnsbl_list_parse(pm_dnsbl_site **sites, size_t *nsites, const char *list,
    int flags, char *err, size_t errsize);

/* Query names (see DESCRIPTION); 0 or PM_EINVAL / PM_ETOOBIG. */
int pm_dnsbl_query_addr(char *buf, size_t size, const char *addr,
    const char *domain);
int pm_dnsbl_query_name(char *buf, size_t size, const char *name,
    const char *domain);

/* 1 if the A record text matches the site, else 0. */
int pm_dnsbl_match(const pm_dnsbl_site *site, const char *a);
/* Index of the first A record in rrs that matches, or -1. */
int pm_dnsbl_match_rrs(const pm_dnsbl_site *site, const pm_dns_rr *rrs,
    size_t nrr);

/* See DESCRIPTION. *res is filled on PM_DNSBL_HIT only. */
int pm_dnsbl_lookup(pm_dnsbl_result *res, const pm_dnsbl_site *site,
    const char *qname, int timeout_ms);

#endif
