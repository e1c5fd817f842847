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

typedef struct pm_resolved {
	char *address;   /* canonical */
	int addr_class;  /* AddrClass of rewrite.proto */
	char *transport;
	char *nexthop;
	char *recipient;
	unsigned flags;  /* ResolveFlag bits */
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
int pm_rewrite_canon(pm_rewrite_clnt *c, const char *address,
    const char *rule, char **out);

#endif
