/*
 * NAME
 *	pm_rpc_pipe - which connection a request came on, and which closed
 * SUMMARY
 *	#include "pm_rpc.h"
 * DESCRIPTION
 *	pm_rpc_request_pipe() gives a handler the id of the connection
 *	(nng pipe) its request came on: pm_rpc.c sets it, thread-local,
 *	around each handler call (pm__rpc_pipe_set). pm_rpc_on_pipe_gone()
 *	sets the one hook of the process that hears, on an nng thread,
 *	when a connection to any of its servers closes
 *	(pm__rpc_pipe_event, registered on every server socket). qmgr
 *	uses both to tell a delivery agent that died (its connection
 *	closed, no fetch comes again) from one that lives.
 * LIMITS
 *	One hook per process.
 * SECURITY
 *	Pipe ids are nng's, not the peer's: nothing here comes from a peer.
 */
#include <stdatomic.h>

#include "pm_rpc_priv.h"

static __thread uint32_t rpc_cur_pipe;
static _Atomic(pm_rpc_pipe_fn) rpc_pipe_gone;

uint32_t
pm_rpc_request_pipe(void)
{
	return (rpc_cur_pipe);
}

void
pm_rpc_on_pipe_gone(pm_rpc_pipe_fn fn)
{
	atomic_store(&rpc_pipe_gone, fn);
}

void
pm__rpc_pipe_set(nng_msg *msg)
{
	int id = msg != NULL ? nng_pipe_id(nng_msg_get_pipe(msg)) : 0;

	rpc_cur_pipe = id > 0 ? (uint32_t) id : 0;
}

void
pm__rpc_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	pm_rpc_pipe_fn fn = atomic_load(&rpc_pipe_gone);

	(void) arg;
	if (ev == NNG_PIPE_EV_REM_POST && fn != NULL && nng_pipe_id(p) > 0) {
		fn((uint32_t) nng_pipe_id(p));
	}
}
