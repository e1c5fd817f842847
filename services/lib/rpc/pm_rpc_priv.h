/*
 * NAME
 *	pm_rpc_priv - internal interface between pm_rpc.c and pm_rpc_pack.c
 * DESCRIPTION
 *	pm__rpc_pack_parts() builds the nng message of a request whose body
 *	is given in parts (pm_rpc_call_asyncv). pm__rpc_listen() and
 *	pm__rpc_dial() (pm_rpc_tls.c) make pm_rpc's endpoints, with the
 *	internal TLS configuration for tls+tcp:// URLs;
 *	pm__rpc_tls_forget() is called before such an endpoint is closed;
 *	pm__rpc_peer() names the peer of a received message for logs.
 * LIMITS
 *	max (the client's sendmax; 0 = none) bounds the whole message.
 * SECURITY
 *	Not applicable: builds outgoing messages from the caller's bytes.
 */
#ifndef PM_RPC_PRIV_H
#define PM_RPC_PRIV_H

#include <nng/nng.h>

#include "pm_rpc.h"

/* Start a listener / a non-blocking dialer; 0 or an nng error (logged). */
int pm__rpc_listen(nng_socket s, const char *url, nng_listener *lp);
int pm__rpc_dial(nng_socket s, const char *url, nng_dialer *dp);
/* listener: 1 for an nng_listener id, 0 for an nng_dialer id. */
void pm__rpc_tls_forget(int listener, int id);
/* "[addr]:port" of the peer that sent msg, for logs. */
void pm__rpc_peer(nng_msg *msg, char *buf, size_t len);

/* pm_rpc_pipe.c: the request being served came on msg's pipe (NULL:
 * served); the pipe-notify callback of every server socket. */
void pm__rpc_pipe_set(nng_msg *msg);
void pm__rpc_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg);

/* 0 and a new message in *msgp, PM_ETOOBIG or PM_ENOMEM. */
int pm__rpc_pack_parts(uint32_t type, uint64_t id, const pm_rpc_part *parts,
    size_t nparts, size_t max, nng_msg **msgp);

#endif
