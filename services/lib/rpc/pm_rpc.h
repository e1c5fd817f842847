/*
 * NAME
 *	pm_rpc - nng request/reply between services, with typed envelopes
 * SUMMARY
 *	#include "pm_rpc.h"
 * DESCRIPTION
 *	Server: pm_rpc_server_start() listens on an nng URL (tcp://, ipc://,
 *	or tls+tcp:// with mutual TLS: pm_rpc_tls.h) with a REP socket and starts nworkers threads, each owning one nng
 *	context: receive, unpack the Envelope (pm.Envelope, common.proto),
 *	call the handler synchronously, pack the reply envelope (same
 *	request id), send. So nworkers requests run at once and a handler
 *	may block (on Redis, on another service). A request that does not
 *	unpack is dropped with a warning (the caller times out); a handler
 *	error becomes an MSG_ERROR reply carrying the PM_E* code.
 *	Every worker calls thread_init() once at start (e.g. to open its own
 *	Redis connection) and passes the result to every handler call.
 *
 *	Client: pm_rpc_client_new() opens a REQ socket with resend off
 *	(NNG_OPT_REQ_RESENDTIME = infinite, set before any context),
 *	RECVMAXSZ set, and dials every address of the URL list (white
 *	space or comma separated; a host name stands for every address it
 *	resolves to, followed as it changes: pm_rpc_disco.h) with
 *	NNG_FLAG_NONBLOCK, so the peer may start later; a tls+tcp:// URL gets the internal TLS configuration, and a
 *	peer that fails the handshake counts as no peer. pm_rpc_call() blocks the calling thread until the reply or
 *	the deadline; pm_rpc_call_async() returns at once and calls back
 *	exactly once on an nng thread (never from inside pm_rpc_call_async
 *	itself), which must not block. A timeout or a dead peer is an error
 *	(PM_ETIMEDOUT, PM_ECLOSED, PM_ECONNREFUSED): the caller treats it as
 *	"try later", never as success. Both are thread-safe.
 *	pm_rpc_call_asyncv() takes the request in parts (pm_rpc_pack.c).
 * LIMITS
 *	recvmax bounds a received message (NNG_OPT_RECVMAXSZ); requests
 *	larger than the peer's limit are refused locally with PM_ETOOBIG
 *	when the caller passes sendmax.
 * SECURITY
 *	Replies and requests are untrusted: envelope type and request id
 *	are checked; handlers must check the unpacked body.
 */
#ifndef PM_RPC_H
#define PM_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "pm_util.h"

#define PM_RPC_CONTROL_MAX (1024 * 1024) /* RECVMAXSZ for control calls */

/*
 * A handler gets the request type and body and fills the reply body
 * (*rtype and rbuf). Return 0, or a PM_E* code to send MSG_ERROR.
 */
typedef int (*pm_rpc_handler)(void *thread_ctx, uint32_t type,
    const uint8_t *req, size_t reqlen, uint32_t *rtype, pm_buf *rbuf);

typedef struct pm_rpc_server pm_rpc_server;

/*
 * Start listening and serving. thread_init may be NULL; it runs in each
 * worker thread before the first request. Returns NULL and logs on
 * failure (bad URL, address in use).
 */
pm_rpc_server *pm_rpc_server_start(const char *url, int nworkers,
    size_t recvmax, pm_rpc_handler handler, void *(*thread_init)(void),
    void (*thread_fini)(void *));
/*
 * Stop receiving, let in-flight handlers finish and their replies go
 * out (up to RPC_STOP_LINGER after the last one), close: requests not
 * yet taken by a worker are dropped with the connection (a client
 * with resend on sends them again elsewhere). NULL is fine.
 */
void pm_rpc_server_stop(pm_rpc_server *srv);

/*
 * In a handler: the id of the connection (nng pipe) the request came
 * on, 0 if unknown. pm_rpc_on_pipe_gone(fn): fn(id) runs on an nng
 * thread when a connection to any server of the process closes (a
 * peer that died, or a network failure: the peer may come back on a
 * new connection). Set once; NULL removes it.
 */
uint32_t pm_rpc_request_pipe(void);
typedef void (*pm_rpc_pipe_fn)(uint32_t pipe);
void pm_rpc_on_pipe_gone(pm_rpc_pipe_fn fn);

typedef struct pm_rpc_client pm_rpc_client;

pm_rpc_client *pm_rpc_client_new(const char *urls, size_t recvmax);
/*
 * The same for the clients of a named service ("cleanup"): its metrics
 * carry service="cleanup" and its logs name cleanup_service. A host
 * name in urls is resolved again every service_resolve_interval, with
 * one dialer per address (pm_rpc_disco.h). pm_rpc_client_new() is
 * pm_rpc_client_open("rpc", ...).
 */
pm_rpc_client *pm_rpc_client_open(const char *service, const char *urls,
    size_t recvmax);
/* Role name in metric names (postmesh_<role>_service_dialers). */
void pm_rpc_set_role(const char *role);
void pm_rpc_client_free(pm_rpc_client *cl);
/*
 * Refuse locally with PM_ETOOBIG a request whose envelope would exceed
 * sendmax (the peer's RECVMAXSZ), instead of letting the peer drop the
 * connection (which fails every call on it). 0 = no check (default).
 * Call before the client is shared between threads.
 */
void pm_rpc_client_set_sendmax(pm_rpc_client *cl, size_t sendmax);

/*
 * Resend on a lost connection: a call whose connection closes before
 * its reply (the peer stopped, or our name lookup dropped it) is sent
 * again at once on another connection, within its deadline, instead
 * of failing with PM_ECLOSED. Only for requests that are safe to
 * repeat (a lookup; a cleanup submit, which its queue id makes
 * idempotent): a peer that dies after doing the work but before its
 * reply went out does it twice. Off by default. Call before the
 * client is shared between threads.
 */
void pm_rpc_client_set_resend(pm_rpc_client *cl, int on);

/*
 * Synchronous call. On success *rtype and rbuf hold the reply (rbuf is
 * appended to; caller owns it). MSG_ERROR replies return the code the
 * server sent (negative).
 */
int pm_rpc_call(pm_rpc_client *cl, uint32_t type, const void *req,
    size_t reqlen, int timeout_ms, uint32_t *rtype, pm_buf *rbuf);

/*
 * Asynchronous call: cb(arg, err, rtype, reply, replylen) exactly once,
 * on an nng thread; reply is valid only during the callback. Returns 0
 * if started; on error returns the code and never calls cb.
 */
typedef void (*pm_rpc_cb)(void *arg, int err, uint32_t rtype,
    const uint8_t *reply, size_t replylen);
int pm_rpc_call_async(pm_rpc_client *cl, uint32_t type, const void *req,
    size_t reqlen, int timeout_ms, pm_rpc_cb cb, void *arg);

/*
 * The same with the request body given in parts, sent as their
 * concatenation: a big field (message content) is copied once, into
 * the nng message, not first into a packed request. The parts need
 * only live until the call returns.
 */
typedef struct pm_rpc_part {
	const void *data;
	size_t len;
} pm_rpc_part;
int pm_rpc_call_asyncv(pm_rpc_client *cl, uint32_t type,
    const pm_rpc_part *parts, size_t nparts, int timeout_ms, pm_rpc_cb cb,
    void *arg);

/*
 * Key and length of a protobuf bytes field (number field, len bytes),
 * to put before the bytes of a part: a packed message followed by such
 * a field unpacks as if the field had been packed with it. Returns the
 * length written to out (at most PM_RPC_FIELD_HEAD_MAX).
 */
#define PM_RPC_FIELD_HEAD_MAX 16
size_t pm_rpc_field_head(uint32_t field, size_t len, uint8_t *out);

#endif
