/*
 * NAME
 *	pm_rpc_disco - follow the addresses a service list resolves to
 * SUMMARY
 *	#include "pm_rpc_disco.h"
 * DESCRIPTION
 *	A `<service>_service` value is a list of nng URLs (white space or
 *	comma separated). A tcp:// or tls+tcp:// URL (and their 4/6
 *	variants) whose host is a name stands for every address the name
 *	resolves to (a Kubernetes headless Service has one per pod); an IP
 *	literal and an ipc:// or inproc:// URL stand for themselves.
 *
 *	pm_disco_new() resolves every name once (getaddrinfo(), so
 *	/etc/hosts and DNS as the system is configured) and calls add()
 *	for each distinct address URL ("tcp://10.1.2.3:10025", the
 *	scheme and port of the URL it came from). From then on one
 *	process-wide thread resolves the names again every
 *	service_resolve_interval (pm_disco_set_interval) and calls add()
 *	for an address that appeared and del() for one that is gone. A
 *	name that fails to resolve keeps the addresses it had (logged once
 *	per outage, and again when it resolves): a DNS outage never empties
 *	a list. add() and del() of one pm_disco never run at the same time;
 *	they may block briefly (dial, thread start) but must not call into
 *	this module. pm_disco_free() stops following and calls del() for
 *	every address still held; no callback runs after it returns.
 *
 *	The pure helpers below (URL split, address formatting, sorted sets
 *	and their difference) are what the thread uses; tests call them.
 * LIMITS
 *	PM_DISCO_MAX_ADDRS addresses per list (more are ignored, with a
 *	warning); service_resolve_interval 1 s .. 1 h. One slow name
 *	delays the refresh of the others (getaddrinfo blocks; its time is
 *	bounded by resolv.conf's timeout and attempts).
 * SECURITY
 *	Addresses come from the operator's configuration and from DNS; DNS
 *	answers only choose where to dial: with tls+tcp:// the peer must
 *	still prove its identity with a certificate from the internal CA
 *	(and carry internal_tls_server_name when that is set), whatever
 *	address the name gave.
 */
#ifndef PM_RPC_DISCO_H
#define PM_RPC_DISCO_H

#include <stddef.h>

#define PM_DISCO_MAX_ADDRS 256
#define PM_DISCO_URL_MAX 300           /* one address URL */
#define DEF_SERVICE_RESOLVE_INTERVAL 5 /* seconds */

/* add: 0 and *datap set, or an error (retried at the next pass). */
typedef int (*pm_disco_add_fn)(void *arg, const char *url, void **datap);
typedef void (*pm_disco_del_fn)(void *arg, const char *url, void *data);

typedef struct pm_disco pm_disco;

/*
 * param names the list in logs ("cleanup_service"). Returns NULL
 * (logged) on an empty list or a URL that cannot be split; a name that
 * does not resolve yet is not an error (it is tried again).
 */
pm_disco *pm_disco_new(const char *param, const char *urls, pm_disco_add_fn add,
    pm_disco_del_fn del, void *arg);
void pm_disco_free(pm_disco *d);
/* Number of addresses held now. */
size_t pm_disco_count(pm_disco *d);
/* The resolve interval in seconds for every pm_disco (bounded here). */
void pm_disco_set_interval(long seconds);

/*
 * Split "scheme://host:port". *resolve is 1 when host is a name to
 * resolve, 0 when the URL stands for itself (IP literal, ipc://, ...).
 * host comes without IPv6 brackets. 0 or PM_EINVAL.
 */
int pm_disco_split(const char *url, char *scheme, size_t slen, char *host,
    size_t hlen, char *port, size_t plen, int *resolve);
/* "scheme://a.b.c.d:port" or "scheme://[v6]:port" of a numeric host. */
int pm_disco_format(const char *scheme, const char *numhost, const char *port,
    char *out, size_t len);

/* A sorted set of distinct strings (address URLs). */
typedef struct pm_disco_set {
	char **v;
	size_t n;
} pm_disco_set;

/* 1 if added, 0 if already there or the set holds max entries. */
int pm_disco_set_add(pm_disco_set *s, const char *url, size_t max);
int pm_disco_set_has(const pm_disco_set *s, const char *url);
void pm_disco_set_clear(pm_disco_set *s);
/* Call fn(arg, url) for each url of a not in b (a - b). */
void pm_disco_set_minus(const pm_disco_set *a, const pm_disco_set *b,
    void (*fn)(void *arg, const char *url), void *arg);
/*
 * Resolve host (getaddrinfo, family from the scheme: tcp4 = IPv4,
 * tcp6 = IPv6, else both) into address URLs added to out. 0, or
 * PM_EAGAIN with *why (static text) when the name does not resolve.
 */
int pm_disco_resolve(const char *scheme, const char *host, const char *port,
    pm_disco_set *out, const char **why);

#endif
