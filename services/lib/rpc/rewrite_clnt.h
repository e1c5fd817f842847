/*
 * NAME
 *	rewrite_clnt - client stub of the rewrite (trivial-rewrite) service
 * SUMMARY
 *	#include "rewrite_clnt.h"
 * DESCRIPTION
 *	Callers see no nng or protobuf: pm_rewrite_resolve() asks the
 *	rewrite service (rewrite_service URLs) for the canonical form and
 *	the (transport, nexthop, recipient) of an address. Synchronous;
 *	thread-safe; one client per process is enough.
 *	Results are cached in-process for rewrite_cache_ttl seconds (a
 *	bounded cache of rewrite_cache_size entries).
 * LIMITS
 *	Each call waits at most ipc_timeout.
 */
#ifndef REWRITE_CLNT_H
#define REWRITE_CLNT_H

#include <stdint.h>

/* Limits and result codes of the resolver API (rewrite.proto). */
#define PM_RESOLVE_ADDR_MAX 1024

/* AddrClass of rewrite.proto (checked against it in rewrite_resolve.c). */
#define PM_CLASS_UNSET 0
#define PM_CLASS_LOCAL 1
#define PM_CLASS_VIRTUAL_ALIAS 2
#define PM_CLASS_VIRTUAL_MAILBOX 3
#define PM_CLASS_RELAY 4
#define PM_CLASS_DEFAULT 5

/* ResolveFlag bits of rewrite.proto. */
#define PM_RESOLVE_FAIL 1u   /* bad address; text says why */
#define PM_RESOLVE_ERROR 2u  /* temporary (table lookup) failure */
#define PM_RESOLVE_ROUTED 4u /* source route, %, ! seen */
#define PM_RESOLVE_KNOWN 8u
#define PM_RESOLVE_UNKNOWN 16u
#define PM_RESOLVE_RELOCATED 32u
#define PM_RESOLVE_ALL_FLAGS 63u

typedef struct pm_resolved {
	char *address;  /* canonical */
	int addr_class; /* AddrClass of rewrite.proto */
	char *transport;
	char *nexthop;
	char *recipient;
	unsigned flags; /* ResolveFlag bits */
	char *text;
} pm_resolved;

void pm_resolved_free(pm_resolved *r); /* frees members; r itself not */

typedef struct pm_rewrite_clnt pm_rewrite_clnt;

pm_rewrite_clnt *pm_rewrite_clnt_new(const char *urls, int timeout_ms);
void pm_rewrite_clnt_free(pm_rewrite_clnt *c);

/* rule: "local" or "remote". 0, or PM_E* (caller answers 4xx). */
int pm_rewrite_resolve(pm_rewrite_clnt *c, const char *address,
    const char *rule, int check_known, pm_resolved *out);
/* Canonical form only. */
int pm_rewrite_canon(pm_rewrite_clnt *c, const char *address, const char *rule,
    char **out);

#endif
