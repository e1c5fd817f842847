/*
 * NAME
 *	pm_rpc_dialers - the nng dialers of one pm_rpc client
 * SUMMARY
 *	#include "pm_rpc_dialers.h"
 * DESCRIPTION
 *	Internal to pm_rpc.c. pm__rpc_dialers_new() follows the client's
 *	URL list with pm_rpc_disco: one non-blocking dialer (pm__rpc_dial,
 *	so tls+tcp:// gets the internal TLS configuration) per address,
 *	added and closed as the names' addresses come and go.
 *	pm__rpc_dialers_free() closes them all (before the socket is
 *	closed). pm__rpc_dialers_pipe() is called for every new connection
 *	(NNG_PIPE_EV_ADD_POST) and counts the ones after a dialer's first.
 *
 *	Metrics (per process, label service = the client's service):
 *	postmesh_<role>_service_dialers (gauge: dialers open, one per
 *	address) and postmesh_<role>_service_reconnects_total (counter:
 *	connections a dialer made again after its first one, i.e. after a
 *	peer restarted or the connection broke). <role> is the one given
 *	to pm_rpc_set_role() (pm_server_main gives the service's name).
 * LIMITS
 *	PM_DISCO_MAX_ADDRS dialers per client.
 * SECURITY
 *	See pm_rpc_disco.h: DNS chooses only where to dial.
 */
#ifndef PM_RPC_DIALERS_H
#define PM_RPC_DIALERS_H

#include <nng/nng.h>

typedef struct pm__rpc_dialers pm__rpc_dialers;

/* NULL (logged) on a bad list; service labels metrics and logs. */
/* *publish is set to the new table before the first dial (and back to
 * NULL on failure), so that pipe callbacks see every connection. */
pm__rpc_dialers *pm__rpc_dialers_new(nng_socket s, const char *service,
    const char *urls, pm__rpc_dialers **publish);
void pm__rpc_dialers_free(pm__rpc_dialers *dl);
void pm__rpc_dialers_pipe(pm__rpc_dialers *dl, nng_pipe p);

#endif
