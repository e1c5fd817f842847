/*
 * NAME
 *	pm_rpc_priv - internal interface between pm_rpc.c and pm_rpc_pack.c
 * DESCRIPTION
 *	pm__rpc_pack_parts() builds the nng message of a request whose body
 *	is given in parts (pm_rpc_call_asyncv).
 * LIMITS
 *	max (the client's sendmax; 0 = none) bounds the whole message.
 * SECURITY
 *	Not applicable: builds outgoing messages from the caller's bytes.
 */
#ifndef PM_RPC_PRIV_H
#define PM_RPC_PRIV_H

#include <nng/nng.h>

#include "pm_rpc.h"

/* 0 and a new message in *msgp, PM_ETOOBIG or PM_ENOMEM. */
int pm__rpc_pack_parts(uint32_t type, uint64_t id, const pm_rpc_part *parts,
    size_t nparts, size_t max, nng_msg **msgp);

#endif
