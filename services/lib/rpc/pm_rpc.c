/*
 * NAME
 *	pm_rpc - nng request/reply between services, with typed envelopes
 * SUMMARY
 *	#include "pm_rpc.h"
 * DESCRIPTION
 *	See pm_rpc.h for the contract. Implementation notes:
 *
 *	Server: one REP socket, nworkers threads, each with its own nng_ctx
 *	and an nng_aio without callback (the thread waits on it). Start
 *	returns once every worker has run thread_init(). A worker
 *	marks itself "in receive" under the server mutex before it starts a
 *	receive; pm_rpc_server_stop() sets "stopping" and cancels only the
 *	receives under the same mutex, so a handler that is running is never
 *	interrupted and its reply is still sent. Then the threads are joined
 *	and the socket is closed, but not before RPC_STOP_LINGER has
 *	passed since the last reply was queued: nng completes a reply
 *	send when the message is queued on its connection, and closing
 *	the socket aborts what the transport has not written yet, so a
 *	request that was done would look lost to its client (which might
 *	then do it again elsewhere). Which connection a request came on,
 *	and which closed: pm_rpc_pipe.c.
 *
 *	Endpoints are made by pm_rpc_tls.c (TLS for tls+tcp:// URLs, and
 *	the list of endpoints a new TLS configuration goes to).
 *
 *	Client: one REQ socket with resend off and RECVMAXSZ set, dialed
 *	without blocking to every address of the list: pm_rpc_dialers.c
 *	keeps one dialer per address a name resolves to, following the
 *	name (pm_rpc_disco.c). A call takes a "call"
 *	object (nng_ctx + nng_aio with callback) from a per-client free list
 *	or makes a new one; the callback drives send, then receive, unpacks
 *	the reply, calls the user's callback once, and puts the object back.
 *	The free list grows to the highest number of calls in flight at once
 *	and is released by pm_rpc_client_free(). The synchronous call is the
 *	asynchronous one plus a condition variable.
 *
 *	Resend (pm_rpc_client_set_resend): each call's context gets
 *	NNG_OPT_REQ_RESENDTIME = its timeout + RPC_RESEND_SLACK, so nng's
 *	timer never fires before the deadline ends the call; what remains
 *	is nng's resend of a request whose connection closed (req0 moves
 *	it to the send queue at once, for the next ready connection).
 *
 *	A receive that times out while no connection to any peer exists is
 *	reported as PM_ECONNREFUSED (no peer), otherwise PM_ETIMEDOUT. A
 *	connection lost under a request (peer died, or it dropped us for
 *	sending more than its RECVMAXSZ) is PM_ECLOSED.
 * LIMITS
 *	recvmax (NNG_OPT_RECVMAXSZ) on both sides. A reply is at most
 *	max(recvmax, PM_RPC_CONTROL_MAX) bytes of body (the handler's buffer
 *	limit; over it the handler sees PM_ETOOBIG). A reply send waits at
 *	most RPC_SEND_TIMEOUT. At most RPC_MAX_WORKERS worker threads. A
 *	stop waits at most RPC_STOP_LINGER (500 ms) after the last reply.
 * SECURITY
 *	Requests and replies are untrusted bytes: a malformed request is
 *	dropped with a warning; a malformed reply, or one whose request id
 *	is not ours, fails the call with PM_EPROTO. Peer text is never
 *	logged; peer addresses are.
 */
#include "pm_rpc.h"
#include "pm_log.h"
#include "pm_rpc_dialers.h"
#include "pm_rpc_priv.h"

#include "common.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RPC_SEND_TIMEOUT 10000 /* ms: a reply that cannot be queued */
#define RPC_MAX_WORKERS 4096
#define RPC_RECONN_MIN 100  /* ms between dial attempts, at first */
#define RPC_RECONN_MAX 2000 /* ms between dial attempts, at most */
/*
 * With no connection to any peer, a request waits at most this long for
 * one (a restarting peer reconnects within RPC_RECONN_MAX) before it
 * fails with PM_ECONNREFUSED, instead of holding its caller for the
 * whole deadline: a client that waits on us should hear "try later"
 * promptly when the peer is down.
 */
#define RPC_NOPEER_WAIT 3000
#define RPC_STOP_LINGER 500   /* ms after the last reply, at a stop */
#define RPC_RESEND_SLACK 1000 /* ms: resend timer past the deadline */

/*
 * Map an nng error to a PM_E* code. npipes says whether a connection
 * to a peer existed (for the client's "no peer" case).
 */
static int
rpc_err(int rv, int npipes)
{
	switch (rv) {
	case 0:
		return (0);
	case NNG_ETIMEDOUT:
		return (npipes > 0 ? PM_ETIMEDOUT : PM_ECONNREFUSED);
	case NNG_ECLOSED:
	case NNG_ECANCELED:
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
	case NNG_ECONNABORTED:
		return (PM_ECLOSED);
	case NNG_ECONNREFUSED:
	case NNG_EUNREACHABLE:
	case NNG_EADDRINVAL:
		return (PM_ECONNREFUSED);
	case NNG_ENOMEM:
		return (PM_ENOMEM);
	case NNG_EMSGSIZE:
		return (PM_ETOOBIG);
	case NNG_EPROTO:
		return (PM_EPROTO);
	case NNG_EINVAL:
	case NNG_ENOTSUP:
		return (PM_EINVAL);
	case NNG_EAGAIN:
		return (PM_EAGAIN);
	default:
		return (PM_EIO);
	}
}

/* Pack an envelope into a new nng message. */
static int
rpc_pack(const Pm__Envelope *env, size_t max, nng_msg **msgp)
{
	size_t len = pm__envelope__get_packed_size(env);
	nng_msg *msg;

	if (max > 0 && len > max) {
		return (PM_ETOOBIG);
	}
	if (nng_msg_alloc(&msg, len) != 0) {
		return (PM_ENOMEM);
	}
	pm__envelope__pack(env, nng_msg_body(msg));
	*msgp = msg;
	return (0);
}

/*
 * Server.
 */
typedef struct rpc_worker {
	pm_rpc_server *srv;
	pthread_t tid;
	nng_ctx ctx;
	nng_aio *aio;
	int in_recv; /* under srv->mu: a receive is pending */
} rpc_worker;

struct pm_rpc_server {
	nng_socket sock;
	nng_listener listener;
	char *url;
	size_t replymax;
	pm_rpc_handler handler;
	void *(*thread_init)(void);
	void (*thread_fini)(void *);
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;            /* under mu */
	atomic_llong last_reply; /* pm_mono_ms() of the last reply queued */
	int ninit;               /* under mu: workers past thread_init() */
	int nworkers;            /* threads started */
	rpc_worker *w;
};

/* Handle one received request; msg is consumed. */
static void
rpc_serve(rpc_worker *w, void *tctx, nng_msg *msg, pm_buf *rbuf)
{
	pm_rpc_server *srv = w->srv;
	Pm__Envelope *req;
	Pm__Envelope rep = PM__ENVELOPE__INIT;
	nng_msg *out = NULL;
	uint32_t rtype = 0;
	char peer[64];
	int rc, rv;

	pm__rpc_pipe_set(msg);
	req = pm__envelope__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	if (req == NULL) {
		pm__rpc_peer(msg, peer, sizeof(peer));
		pm_msg_warn("%s: malformed request from %s (%zu bytes): "
		            "dropped",
		    srv->url, peer, nng_msg_len(msg));
		nng_msg_free(msg);
		return;
	}
	/* The envelope holds a copy of the body: one copy, not two. */
	nng_msg_free(msg);
	pm_buf_reset(rbuf);
	rc = srv->handler(tctx, req->type, req->body.data, req->body.len,
	    &rtype, rbuf);
	pm__rpc_pipe_set(NULL);
	rep.request_id = req->request_id;
	if (rc == 0) {
		rep.type = rtype;
		rep.body.data = (uint8_t *) rbuf->data;
		rep.body.len = rbuf->len;
	} else {
		if (rc > 0) {
			rc = PM_EIO; /* handler bug: not a PM_E* code */
		}
		rep.type = PM__MSG_TYPE__MSG_ERROR;
		rep.status = rc;
		rep.error = (char *) pm_strerror(rc);
	}
	rc = rpc_pack(&rep, 0, &out);
	pm__envelope__free_unpacked(req, NULL);
	if (rc != 0) {
		pm_msg_warn("%s: cannot make reply: %s", srv->url,
		    pm_strerror(rc));
		return;
	}
	nng_aio_set_msg(w->aio, out);
	nng_aio_set_timeout(w->aio, RPC_SEND_TIMEOUT);
	nng_ctx_send(w->ctx, w->aio);
	nng_aio_wait(w->aio);
	if ((rv = nng_aio_result(w->aio)) != 0) {
		/* On failure the message is still ours. */
		nng_msg_free(nng_aio_get_msg(w->aio));
		nng_aio_set_msg(w->aio, NULL);
		if (pm_msg_verbose) {
			pm_msg_debug("%s: reply not sent: %s", srv->url,
			    nng_strerror(rv));
		}
	} else {
		atomic_store(&srv->last_reply, (long long) pm_mono_ms());
	}
}

static void *
rpc_worker_main(void *arg)
{
	rpc_worker *w = arg;
	pm_rpc_server *srv = w->srv;
	void *tctx = NULL;
	pm_buf rbuf;
	int rv;

	if (srv->thread_init != NULL) {
		tctx = srv->thread_init();
	}
	pm_buf_init(&rbuf, srv->replymax);
	pthread_mutex_lock(&srv->mu);
	srv->ninit++;
	pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
	for (;;) {
		pthread_mutex_lock(&srv->mu);
		if (srv->stopping) {
			pthread_mutex_unlock(&srv->mu);
			break;
		}
		w->in_recv = 1;
		nng_aio_set_timeout(w->aio, NNG_DURATION_INFINITE);
		nng_ctx_recv(w->ctx, w->aio);
		pthread_mutex_unlock(&srv->mu);

		nng_aio_wait(w->aio);

		pthread_mutex_lock(&srv->mu);
		w->in_recv = 0;
		pthread_mutex_unlock(&srv->mu);
		if ((rv = nng_aio_result(w->aio)) != 0) {
			if (rv == NNG_ECANCELED || rv == NNG_ECLOSED) {
				break;
			}
			pm_msg_warn("%s: receive: %s", srv->url,
			    nng_strerror(rv));
			usleep(100000); /* do not spin on a persistent error */
			continue;
		}
		rpc_serve(w, tctx, nng_aio_get_msg(w->aio), &rbuf);
		nng_aio_set_msg(w->aio, NULL);
	}
	pm_buf_free(&rbuf);
	if (srv->thread_fini != NULL) {
		srv->thread_fini(tctx);
	}
	return (NULL);
}

pm_rpc_server *
pm_rpc_server_start(const char *url, int nworkers, size_t recvmax,
    pm_rpc_handler handler, void *(*thread_init)(void),
    void (*thread_fini)(void *))
{
	pm_rpc_server *srv;
	rpc_worker *w;
	int rv, i;

	PM_ASSERT(handler != NULL);
	if (url == NULL || *url == 0) {
		pm_msg_error("rpc server: empty listen address");
		return (NULL);
	}
	if (nworkers < 1) {
		nworkers = 1;
	} else if (nworkers > RPC_MAX_WORKERS) {
		nworkers = RPC_MAX_WORKERS;
	}
	if (recvmax == 0) {
		recvmax = PM_RPC_CONTROL_MAX;
	}
	srv = pm_calloc(1, sizeof(*srv));
	srv->url = pm_strdup(url);
	srv->replymax =
	    recvmax > PM_RPC_CONTROL_MAX ? recvmax : PM_RPC_CONTROL_MAX;
	srv->handler = handler;
	srv->thread_init = thread_init;
	srv->thread_fini = thread_fini;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cv, NULL);
	srv->w = pm_calloc((size_t) nworkers, sizeof(*srv->w));

	if ((rv = nng_rep0_open(&srv->sock)) != 0) {
		pm_msg_error("rpc server: socket: %s", nng_strerror(rv));
		goto fail_sock;
	}
	if ((rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, recvmax)) !=
	    0) {
		pm_msg_error("listen %s: %s", url, nng_strerror(rv));
		goto fail;
	}
	if ((rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_REM_POST,
	         pm__rpc_pipe_event, srv)) != 0) {
		pm_msg_error("rpc server %s: %s", url, nng_strerror(rv));
		goto fail;
	}
	if (pm__rpc_listen(srv->sock, url, &srv->listener) != 0) {
		goto fail; /* logged */
	}
	for (i = 0; i < nworkers; i++) {
		w = &srv->w[i];
		w->srv = srv;
		if ((rv = nng_ctx_open(&w->ctx, srv->sock)) != 0 ||
		    (rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0) {
			pm_msg_error("rpc server %s: context: %s", url,
			    nng_strerror(rv));
			goto fail;
		}
		if (pthread_create(&w->tid, NULL, rpc_worker_main, w) != 0) {
			pm_msg_error("rpc server %s: cannot create thread",
			    url);
			nng_aio_free(w->aio);
			w->aio = NULL;
			goto fail;
		}
		srv->nworkers++;
	}
	/* Return when every worker is ready (thread_init() done). */
	pthread_mutex_lock(&srv->mu);
	while (srv->ninit < srv->nworkers) {
		pthread_cond_wait(&srv->cv, &srv->mu);
	}
	pthread_mutex_unlock(&srv->mu);
	return (srv);

fail:
	/* Stop what started; pm_rpc_server_stop closes the socket. */
	if (srv->nworkers < nworkers && srv->w[srv->nworkers].aio != NULL) {
		nng_aio_free(srv->w[srv->nworkers].aio);
		srv->w[srv->nworkers].aio = NULL;
	}
	pm_rpc_server_stop(srv);
	return (NULL);

fail_sock:
	pthread_cond_destroy(&srv->cv);
	pthread_mutex_destroy(&srv->mu);
	free(srv->w);
	free(srv->url);
	free(srv);
	return (NULL);
}

void
pm_rpc_server_stop(pm_rpc_server *srv)
{
	long long left;
	int i;

	if (srv == NULL) {
		return;
	}
	pthread_mutex_lock(&srv->mu);
	srv->stopping = 1;
	for (i = 0; i < srv->nworkers; i++) {
		if (srv->w[i].in_recv) {
			nng_aio_cancel(srv->w[i].aio);
		}
	}
	pthread_mutex_unlock(&srv->mu);
	for (i = 0; i < srv->nworkers; i++) {
		pthread_join(srv->w[i].tid, NULL);
		nng_aio_free(srv->w[i].aio);
	}
	/* Let the transport write the last replies (see above). */
	if (atomic_load(&srv->last_reply) > 0) {
		left = atomic_load(&srv->last_reply) + RPC_STOP_LINGER -
		    (long long) pm_mono_ms();
		if (left > 0) {
			usleep((useconds_t) (left * 1000));
		}
	}
	pm__rpc_tls_forget(1, nng_listener_id(srv->listener));
	nng_close(srv->sock); /* closes the contexts and the listener */
	pthread_cond_destroy(&srv->cv);
	pthread_mutex_destroy(&srv->mu);
	free(srv->w);
	free(srv->url);
	free(srv);
}

/*
 * Client.
 */
enum { CALL_SEND, CALL_RECV };

typedef struct rpc_call {
	struct rpc_call *next; /* free list */
	pm_rpc_client *cl;
	nng_ctx ctx;
	nng_aio *aio;
	int state;
	uint64_t id;
	int64_t deadline; /* pm_mono_ms() */
	pm_rpc_cb cb;
	void *arg;
} rpc_call;

struct pm_rpc_client {
	nng_socket sock;
	pm__rpc_dialers *dl; /* one dialer per address */
	char *urls;          /* for logs */
	size_t recvmax;
	size_t sendmax; /* 0 = no local check */
	atomic_int npipes;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	rpc_call *free; /* under mu: idle call objects */
	unsigned inflight;
	int closing;
	int resend; /* pm_rpc_client_set_resend() */
};

/* Process-wide request ids: never 0, never reused while we run. */
static atomic_uint_fast64_t rpc_next_id = 1;

static void
rpc_pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	pm_rpc_client *cl = arg;

	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&cl->npipes, 1);
		pm__rpc_dialers_pipe(__atomic_load_n(&cl->dl, __ATOMIC_ACQUIRE),
		    p);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&cl->npipes, 1);
	}
}

pm_rpc_client *
pm_rpc_client_new(const char *urls, size_t recvmax)
{
	return (pm_rpc_client_open("rpc", urls, recvmax));
}

pm_rpc_client *
pm_rpc_client_open(const char *service, const char *urls, size_t recvmax)
{
	pm_rpc_client *cl;
	pm__rpc_dialers *dl;
	int rv;

	if (urls == NULL) {
		urls = "";
	}
	if (recvmax == 0) {
		recvmax = PM_RPC_CONTROL_MAX;
	}
	cl = pm_calloc(1, sizeof(*cl));
	cl->urls = pm_strdup(urls);
	cl->recvmax = recvmax;
	atomic_init(&cl->npipes, 0);
	if ((rv = nng_req0_open(&cl->sock)) != 0) {
		pm_msg_error("rpc client %s: socket: %s", urls,
		    nng_strerror(rv));
		free(cl->urls);
		free(cl);
		return (NULL);
	}
	pthread_mutex_init(&cl->mu, NULL);
	pthread_cond_init(&cl->cv, NULL);
	/* Resend off before any context: each context copies it. */
	if ((rv = nng_socket_set_ms(cl->sock, NNG_OPT_REQ_RESENDTIME,
	         NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(cl->sock, NNG_OPT_RECVMAXSZ, recvmax)) !=
	        0 ||
	    (rv = nng_socket_set_ms(cl->sock, NNG_OPT_RECONNMINT,
	         RPC_RECONN_MIN)) != 0 ||
	    (rv = nng_socket_set_ms(cl->sock, NNG_OPT_RECONNMAXT,
	         RPC_RECONN_MAX)) != 0 ||
	    (rv = nng_pipe_notify(cl->sock, NNG_PIPE_EV_ADD_POST,
	         rpc_pipe_event, cl)) != 0 ||
	    (rv = nng_pipe_notify(cl->sock, NNG_PIPE_EV_REM_POST,
	         rpc_pipe_event, cl)) != 0) {
		pm_msg_error("rpc client %s: socket options: %s", urls,
		    nng_strerror(rv));
		goto fail;
	}
	if ((dl = pm__rpc_dialers_new(cl->sock, service, urls, &cl->dl)) ==
	    NULL) {
		goto fail; /* logged */
	}
	return (cl);

fail:
	pm_rpc_client_free(cl);
	return (NULL);
}

void
pm_rpc_client_set_sendmax(pm_rpc_client *cl, size_t sendmax)
{
	cl->sendmax = sendmax;
}

void
pm_rpc_client_set_resend(pm_rpc_client *cl, int on)
{
	cl->resend = on;
}

void
pm_rpc_client_free(pm_rpc_client *cl)
{
	rpc_call *c, *next;

	if (cl == NULL) {
		return;
	}
	pthread_mutex_lock(&cl->mu);
	cl->closing = 1;
	pthread_mutex_unlock(&cl->mu);
	pm__rpc_dialers_free(cl->dl); /* closes the dialers */
	/* Fails every call in flight with NNG_ECLOSED, via its callback. */
	nng_close(cl->sock);
	pthread_mutex_lock(&cl->mu);
	while (cl->inflight > 0) {
		pthread_cond_wait(&cl->cv, &cl->mu);
	}
	pthread_mutex_unlock(&cl->mu);
	for (c = cl->free; c != NULL; c = next) {
		next = c->next;
		nng_aio_free(c->aio); /* waits for its callback to return */
		free(c);
	}
	pthread_cond_destroy(&cl->cv);
	pthread_mutex_destroy(&cl->mu);
	free(cl->urls);
	free(cl);
}

/* Finish a call: the user's callback once, then back to the free list. */
static void
rpc_call_done(rpc_call *c, int err, uint32_t rtype, const uint8_t *reply,
    size_t len)
{
	pm_rpc_client *cl = c->cl;

	c->cb(c->arg, err, rtype, reply, len);
	c->cb = NULL;
	c->arg = NULL;
	pthread_mutex_lock(&cl->mu);
	c->next = cl->free;
	cl->free = c;
	if (--cl->inflight == 0) {
		pthread_cond_broadcast(&cl->cv);
	}
	pthread_mutex_unlock(&cl->mu);
}

static void
rpc_call_reply(rpc_call *c, nng_msg *msg)
{
	pm_rpc_client *cl = c->cl;
	Pm__Envelope *env;
	char peer[64];
	int err;

	env = pm__envelope__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	if (env == NULL || env->request_id != c->id) {
		pm__rpc_peer(msg, peer, sizeof(peer));
		if (env == NULL) {
			pm_msg_warn("%s: malformed reply from %s (%zu bytes)",
			    cl->urls, peer, nng_msg_len(msg));
		} else {
			pm_msg_warn("%s: reply from %s for request %llu, "
			            "expected %llu",
			    cl->urls, peer,
			    (unsigned long long) env->request_id,
			    (unsigned long long) c->id);
			pm__envelope__free_unpacked(env, NULL);
		}
		nng_msg_free(msg);
		rpc_call_done(c, PM_EPROTO, 0, NULL, 0);
		return;
	}
	nng_msg_free(msg);
	if (env->type == PM__MSG_TYPE__MSG_ERROR) {
		/* Only a negative code means anything; else a broken peer. */
		err = env->status < 0 ? env->status : PM_EPROTO;
		pm__envelope__free_unpacked(env, NULL);
		rpc_call_done(c, err, 0, NULL, 0);
		return;
	}
	rpc_call_done(c, 0, env->type, env->body.data, env->body.len);
	pm__envelope__free_unpacked(env, NULL);
}

/* The aio callback, on an nng thread: send done, then receive done. */
static void
rpc_call_cb(void *arg)
{
	rpc_call *c = arg;
	int rv = nng_aio_result(c->aio);
	int64_t left;
	nng_msg *msg;

	if (rv != 0) {
		if (c->state == CALL_SEND) {
			/* A message that was not sent is still ours. */
			nng_msg_free(nng_aio_get_msg(c->aio));
		}
		nng_aio_set_msg(c->aio, NULL);
		rpc_call_done(c, rpc_err(rv, atomic_load(&c->cl->npipes)), 0,
		    NULL, 0);
		return;
	}
	if (c->state == CALL_SEND) {
		c->state = CALL_RECV;
		left = c->deadline - pm_mono_ms();
		nng_aio_set_timeout(c->aio, left > 0 ? (nng_duration) left : 1);
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	msg = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	rpc_call_reply(c, msg);
}

/* A call object from the free list, or a new one; counts it in flight. */
static int
rpc_call_get(pm_rpc_client *cl, rpc_call **cp)
{
	rpc_call *c;
	int rv;

	pthread_mutex_lock(&cl->mu);
	if (cl->closing) {
		pthread_mutex_unlock(&cl->mu);
		return (PM_ECLOSED);
	}
	if ((c = cl->free) != NULL) {
		cl->free = c->next;
		cl->inflight++;
		pthread_mutex_unlock(&cl->mu);
		*cp = c;
		return (0);
	}
	cl->inflight++;
	pthread_mutex_unlock(&cl->mu);

	c = pm_calloc(1, sizeof(*c));
	c->cl = cl;
	if ((rv = nng_aio_alloc(&c->aio, rpc_call_cb, c)) != 0) {
		free(c);
		c = NULL;
	} else if ((rv = nng_ctx_open(&c->ctx, cl->sock)) != 0) {
		nng_aio_free(c->aio);
		free(c);
		c = NULL;
	}
	if (c == NULL) {
		pthread_mutex_lock(&cl->mu);
		if (--cl->inflight == 0) {
			pthread_cond_broadcast(&cl->cv);
		}
		pthread_mutex_unlock(&cl->mu);
		return (rpc_err(rv, 1));
	}
	*cp = c;
	return (0);
}

int
pm_rpc_call_asyncv(pm_rpc_client *cl, uint32_t type, const pm_rpc_part *parts,
    size_t nparts, int timeout_ms, pm_rpc_cb cb, void *arg)
{
	uint64_t id = atomic_fetch_add(&rpc_next_id, 1);
	rpc_call *c = NULL;
	nng_msg *msg;
	int rc;

	if (cl == NULL || cb == NULL || timeout_ms <= 0) {
		return (PM_EINVAL);
	}
	if ((rc = pm__rpc_pack_parts(type, id, parts, nparts, cl->sendmax,
	         &msg)) != 0) {
		return (rc);
	}
	if ((rc = rpc_call_get(cl, &c)) != 0) {
		nng_msg_free(msg);
		return (rc);
	}
	c->state = CALL_SEND;
	c->id = id;
	c->deadline = pm_mono_ms() + timeout_ms;
	c->cb = cb;
	c->arg = arg;
	nng_aio_set_msg(c->aio, msg);
	if (cl->resend &&
	    (rc = nng_ctx_set_ms(c->ctx, NNG_OPT_REQ_RESENDTIME,
	         (nng_duration) timeout_ms + RPC_RESEND_SLACK)) != 0) {
		/* Unlikely; the call still goes, without resend. */
		pm_msg_warn("%s: resend: %s", cl->urls, nng_strerror(rc));
	}
	/* the send phase only waits for a connection to a peer */
	nng_aio_set_timeout(c->aio,
	    (nng_duration) (atomic_load(&cl->npipes) == 0 &&
	                timeout_ms > RPC_NOPEER_WAIT ?
	            RPC_NOPEER_WAIT :
	            timeout_ms));
	/* From here on every outcome arrives through rpc_call_cb. */
	nng_ctx_send(c->ctx, c->aio);
	return (0);
}

/* The synchronous call waits for its own asynchronous call. */
typedef struct rpc_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int err;
	uint32_t *rtype;
	pm_buf *rbuf;
} rpc_wait;

static void
rpc_wait_cb(void *arg, int err, uint32_t rtype, const uint8_t *reply,
    size_t len)
{
	rpc_wait *wt = arg;

	if (err == 0 && len > 0) {
		err = pm_buf_append(wt->rbuf, reply, len);
	}
	if (err == 0) {
		*wt->rtype = rtype;
	}
	pthread_mutex_lock(&wt->mu);
	wt->err = err;
	wt->done = 1;
	pthread_cond_signal(&wt->cv);
	pthread_mutex_unlock(&wt->mu);
}

int
pm_rpc_call(pm_rpc_client *cl, uint32_t type, const void *req, size_t reqlen,
    int timeout_ms, uint32_t *rtype, pm_buf *rbuf)
{
	rpc_wait wt;
	int rc;

	if (rtype == NULL || rbuf == NULL) {
		return (PM_EINVAL);
	}
	memset(&wt, 0, sizeof(wt));
	pthread_mutex_init(&wt.mu, NULL);
	pthread_cond_init(&wt.cv, NULL);
	wt.rtype = rtype;
	wt.rbuf = rbuf;
	rc = pm_rpc_call_async(cl, type, req, reqlen, timeout_ms, rpc_wait_cb,
	    &wt);
	if (rc == 0) {
		pthread_mutex_lock(&wt.mu);
		while (!wt.done) {
			pthread_cond_wait(&wt.cv, &wt.mu);
		}
		pthread_mutex_unlock(&wt.mu);
		rc = wt.err;
	}
	pthread_cond_destroy(&wt.cv);
	pthread_mutex_destroy(&wt.mu);
	return (rc);
}
