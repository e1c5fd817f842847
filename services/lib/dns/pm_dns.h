/*
 * NAME
 *	pm_dns - blocking, thread-safe DNS lookups on c-ares
 * SUMMARY
 *	#include "pm_dns.h"
 * DESCRIPTION
 *	pm_dns_lookup() asks the configured name servers for one record
 *	type of one name and waits for the answer (at most timeout_ms).
 *	Callers that may block (smtpd's check threads, delivery agents'
 *	workers) use it directly; it is safe to call from many threads at
 *	once: every call uses its own c-ares channel, so no state is
 *	shared between calls except the server list (copied under a lock).
 *
 *	Name servers come from pm_dns_set_servers(): "" (or never set:
 *	the value of dns_server at the first lookup) means the servers of
 *	/etc/resolv.conf; otherwise a list, separated by commas or white
 *	space, of "addr", "addr:port", "[v6addr]" or "[v6addr]:port"
 *	(a bare IPv6 address is accepted too). Services call it at start
 *	and after a reload with var_dns_server.
 *
 *	Record types are the DNS type numbers (PM_DNS_A, PM_DNS_AAAA,
 *	PM_DNS_MX, PM_DNS_PTR, PM_DNS_TXT). For PM_DNS_PTR the name may be
 *	an IPv4 or IPv6 address: it is turned into its in-addr.arpa or
 *	ip6.arpa name first. CNAME chains in the answer are followed. MX
 *	records are sorted by preference (stable: equal preferences keep
 *	the server's order; the SMTP client shuffles them if it wants);
 *	a null MX ("0 .", RFC 7505) is returned as a record with data "".
 *
 *	Results: 0 with *rrs (free with pm_dns_rr_free) and *nrr > 0;
 *	PM_ENOENT: the name does not exist (NXDOMAIN) or has no record of
 *	that type (NODATA), told apart by pm_dns_lookup_st()'s status;
 *	PM_EAGAIN: temporary failure (SERVFAIL, REFUSED, timeout, no
 *	server reachable); PM_EPROTO: malformed reply; PM_EINVAL: bad
 *	name or type. Out-parameters are untouched on failure.
 *
 *	Asynchronous lookups (postscreen): pm_dns_channel_new() is the
 *	one place that builds a configured channel; the event loop
 *	watches its sockets and parses each ares_query() answer with
 *	pm_dns_parse().
 * LIMITS
 *	Names up to PM_DNS_NAME_MAX bytes; at most PM_DNS_RR_MAX records
 *	per answer (more are ignored); one TXT record up to
 *	PM_DNS_TXT_MAX bytes (longer ones are cut); a CNAME chain of at
 *	most PM_DNS_CNAME_MAX links. timeout_ms <= 0 means
 *	PM_DNS_TIMEOUT_DEF; at most PM_DNS_TIMEOUT_MAX.
 * SECURITY
 *	Replies come from the network: every length and offset is checked
 *	before use, compressed names are expanded by c-ares (loop-safe),
 *	and returned host names contain only printable ASCII or are
 *	dropped. Query names come from clients: they are checked (length,
 *	labels, characters) before a packet is built.
 */
#ifndef PM_DNS_H
#define PM_DNS_H

#include <stddef.h>

#include <ares.h>

/* Record types (DNS type numbers). */
#define PM_DNS_A 1
#define PM_DNS_PTR 12
#define PM_DNS_MX 15
#define PM_DNS_TXT 16
#define PM_DNS_AAAA 28

#define PM_DNS_NAME_MAX 253
#define PM_DNS_RR_MAX 100
#define PM_DNS_TXT_MAX 4096
#define PM_DNS_CNAME_MAX 16
#define PM_DNS_TIMEOUT_DEF 10000
#define PM_DNS_TIMEOUT_MAX 600000

/* Detailed status (pm_dns_lookup_st). */
#define PM_DNS_OK 0
#define PM_DNS_NXDOMAIN 1 /* the name does not exist */
#define PM_DNS_NODATA 2   /* the name exists, no record of that type */
#define PM_DNS_RETRY 3    /* SERVFAIL, REFUSED, timeout, network error */
#define PM_DNS_INVAL 4    /* bad query name, or malformed reply */

typedef struct pm_dns_rr {
	int type;               /* PM_DNS_* */
	unsigned ttl;           /* seconds */
	unsigned pref;          /* MX preference; 0 otherwise */
	char *data;             /* A/AAAA: address text; MX, PTR: host
	                           name without trailing dot ("" for a
	                           null MX); TXT: the character strings of
	                           one record, concatenated */
	size_t len;             /* bytes in data (TXT may hold NULs) */
	int family;             /* AF_INET / AF_INET6 for A / AAAA */
	unsigned char addr[16]; /* binary address for A / AAAA */
} pm_dns_rr;

/* See DESCRIPTION. Thread-safe; blocks at most timeout_ms. */
int pm_dns_lookup(const char *name, int type, pm_dns_rr **rrs, size_t *nrr,
    int timeout_ms);
/* Same, and *status (may be NULL) gets PM_DNS_* even on failure. */
int pm_dns_lookup_st(const char *name, int type, pm_dns_rr **rrs, size_t *nrr,
    int timeout_ms, int *status);
void pm_dns_rr_free(pm_dns_rr *rrs, size_t nrr);

/* Server list (see DESCRIPTION). PM_EINVAL (list unchanged) if malformed. */
int pm_dns_set_servers(const char *spec);

/*
 * Parse a raw reply (abuf, alen) to a query for qname/type. Returns as
 * pm_dns_lookup for a NOERROR reply (0, PM_ENOENT + PM_DNS_NODATA, or
 * PM_EPROTO + PM_DNS_INVAL); the reply code itself is the caller's
 * (c-ares maps it to a status before the callback).
 */
int pm_dns_parse(const char *qname, int type, const unsigned char *abuf,
    size_t alen, pm_dns_rr **rrs, size_t *nrr, int *status);

/* "192.0.2.1" -> "1.2.0.192.in-addr.arpa"; IPv6 -> nibbles.ip6.arpa. */
int pm_dns_reverse_name(const char *addr, char *buf, size_t size);

/* 1 if name is acceptable as a query name (see SECURITY). */
int pm_dns_name_valid(const char *name);

const char *pm_dns_status_str(int status);

/*
 * A c-ares channel configured as pm_dns_lookup's (dns_server, no search
 * list, timeout_ms for one query over its tries), for an event-loop
 * resolver (postscreen): sock_state_cb (may be NULL) is told which
 * sockets to watch. 0 or PM_EAGAIN (logged). Free with ares_destroy().
 */
int pm_dns_channel_new(ares_channel *chp, int timeout_ms,
    ares_sock_state_cb sock_state_cb, void *cb_arg);

#endif
