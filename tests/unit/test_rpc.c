/*
 * NAME
 *	test_rpc - unit tests for pm_rpc (server and client in one process)
 * DESCRIPTION
 *	Echo over ipc and tcp, error replies, 200 concurrent asynchronous
 *	calls answered exactly once, a deadline that does not run the
 *	handler twice, a client started before its server, oversize and
 *	malformed requests (raw nng REQ socket), hostile replies (raw nng
 *	REP socket), and a stop that lets a running handler finish.
 */
#include "pm_rpc.h"
#include "pm_log.h"

#include "common.pb-c.h"

#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() \
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks found")
#else
#define LEAK_CHECK()
#endif

#define T_ECHO 100
#define T_ECHO_REPLY 101
#define T_SLEEP 102 /* body: milliseconds as text */
#define T_FAIL 103  /* always PM_ENOENT */

static atomic_int n_handled;
static atomic_int n_sleep_done;
static atomic_int n_init;
static atomic_int n_fini;

static int
handler(void *tctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	char ms[16];

	cr_assert_eq(tctx, (void *) &n_init, "thread ctx not passed");
	atomic_fetch_add(&n_handled, 1);
	switch (type) {
	case T_ECHO:
		*rtype = T_ECHO_REPLY;
		return (pm_buf_append(rbuf, req, reqlen));
	case T_SLEEP:
		snprintf(ms, sizeof(ms), "%.*s", (int) reqlen,
		    (const char *) req);
		usleep((useconds_t) atoi(ms) * 1000);
		atomic_fetch_add(&n_sleep_done, 1);
		*rtype = T_ECHO_REPLY;
		return (0);
	case T_FAIL:
		return (PM_ENOENT);
	default:
		return (PM_EINVAL);
	}
}

static void *
tinit(void)
{
	atomic_fetch_add(&n_init, 1);
	return (&n_init);
}

static void
tfini(void *ctx)
{
	cr_assert_eq(ctx, (void *) &n_init);
	atomic_fetch_add(&n_fini, 1);
}

static void
ipc_url(char *buf, size_t len, int n)
{
	snprintf(buf, len, "ipc:///tmp/pm_test_rpc_%d_%d.ipc", (int) getpid(),
	    n);
}

static void
tcp_url(char *buf, size_t len)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *) &sin, &slen) == 0);
	close(fd);
	snprintf(buf, len, "tcp://127.0.0.1:%u", ntohs(sin.sin_port));
}

static pm_rpc_server *
start(const char *url, int nworkers, size_t recvmax)
{
	pm_rpc_server *srv;

	srv =
	    pm_rpc_server_start(url, nworkers, recvmax, handler, tinit, tfini);
	cr_assert_not_null(srv, "server on %s did not start", url);
	return (srv);
}

Test(rpc, echo_and_errors)
{
	static char big[100000];
	static const struct {
		uint32_t type;
		const char *body;
		size_t len;
		int want_err;
	} cases[] = {
		{ T_ECHO, "", 0, 0 },
		{ T_ECHO, "hello", 5, 0 },
		{ T_ECHO, "a\0b\r\nc\r.\n", 9, 0 },
		{ T_ECHO, big, sizeof(big), 0 },
		{ T_FAIL, "x", 1, PM_ENOENT },
		{ 9999, "unknown type", 12, PM_EINVAL },
		{ 0, "", 0, PM_EINVAL },
	};
	char urls[2][128];
	size_t i, u;

	memset(big, 'B', sizeof(big));
	ipc_url(urls[0], sizeof(urls[0]), 0);
	tcp_url(urls[1], sizeof(urls[1]));
	for (u = 0; u < 2; u++) {
		pm_rpc_server *srv = start(urls[u], 4, 0);
		pm_rpc_client *cl = pm_rpc_client_new(urls[u], 0);

		cr_assert_not_null(cl);
		cr_assert_eq(atomic_load(&n_init), 4 * (int) (u + 1),
		    "start returned before thread_init: got %d, want %d",
		    atomic_load(&n_init), 4 * (int) (u + 1));
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			pm_buf rb;
			uint32_t rtype = 77;
			int err;

			pm_buf_init(&rb, 0);
			pm_buf_puts(&rb, "pre:");
			err = pm_rpc_call(cl, cases[i].type, cases[i].body,
			    cases[i].len, 5000, &rtype, &rb);
			cr_assert_eq(err, cases[i].want_err,
			    "%s case %zu: got %d, want %d", urls[u], i, err,
			    cases[i].want_err);
			if (err == 0) {
				cr_assert_eq(rtype, T_ECHO_REPLY,
				    "case %zu: got rtype %u, want %u", i, rtype,
				    T_ECHO_REPLY);
				cr_assert_eq(rb.len, 4 + cases[i].len,
				    "case %zu: got len %zu, want %zu", i,
				    rb.len, 4 + cases[i].len);
				cr_assert(memcmp(rb.data + 4, cases[i].body,
				              cases[i].len) == 0,
				    "case %zu: body", i);
			} else {
				cr_assert_eq(rtype, 77, "rtype touched");
				cr_assert_eq(rb.len, 4, "rbuf touched");
			}
			pm_buf_free(&rb);
		}
		/* Bad arguments fail at once. */
		cr_assert_eq(pm_rpc_call(cl, T_ECHO, NULL, 3, 100, NULL, NULL),
		    PM_EINVAL);
		pm_rpc_client_free(cl);
		pm_rpc_server_stop(srv);
	}
	cr_assert_eq(atomic_load(&n_init), 8, "got %d thread_init, want 8",
	    atomic_load(&n_init));
	cr_assert_eq(atomic_load(&n_fini), 8, "got %d thread_fini, want 8",
	    atomic_load(&n_fini));
	cr_assert_null(pm_rpc_client_new("", 0), "empty list accepted");
	cr_assert_null(pm_rpc_client_new("bogus://x", 0), "bad URL accepted");
	cr_assert_null(pm_rpc_server_start("bogus://x", 1, 0, handler, NULL,
	                   NULL),
	    "bad listen URL accepted");
	LEAK_CHECK();
}

#define NCALLS 200

static struct {
	atomic_int calls;
	atomic_int err;
	atomic_int ok_body;
} slots[NCALLS];
static atomic_int n_done;
static __thread int in_async;

static void
async_cb(void *arg, int err, uint32_t rtype, const uint8_t *reply, size_t len)
{
	int i = (int) (intptr_t) arg;
	char want[32];

	cr_assert_eq(in_async, 0, "callback from inside pm_rpc_call_async");
	snprintf(want, sizeof(want), "call %d", i);
	atomic_fetch_add(&slots[i].calls, 1);
	atomic_store(&slots[i].err, err);
	if (err == 0 && rtype == T_ECHO_REPLY && len == strlen(want) &&
	    memcmp(reply, want, len) == 0) {
		atomic_store(&slots[i].ok_body, 1);
	}
	atomic_fetch_add(&n_done, 1);
}

static int
wait_done(int n, int ms)
{
	while (atomic_load(&n_done) < n && ms-- > 0) {
		usleep(1000);
	}
	return (atomic_load(&n_done));
}

/* Wait (at most ms) until *counter reaches n; return its value. */
static int
wait_count(atomic_int *counter, int n, int ms)
{
	int64_t end = pm_mono_ms() + ms;

	while (atomic_load(counter) < n && pm_mono_ms() < end) {
		usleep(1000);
	}
	return (atomic_load(counter));
}

Test(rpc, concurrent_async_exactly_once)
{
	char url[128], body[32];
	pm_rpc_server *srv;
	pm_rpc_client *cl;
	int i, err;

	ipc_url(url, sizeof(url), 1);
	srv = start(url, 8, 0);
	cl = pm_rpc_client_new(url, 0);
	cr_assert_not_null(cl);
	for (i = 0; i < NCALLS; i++) {
		snprintf(body, sizeof(body), "call %d", i);
		in_async = 1;
		err = pm_rpc_call_async(cl, T_ECHO, body, strlen(body), 10000,
		    async_cb, (void *) (intptr_t) i);
		in_async = 0;
		cr_assert_eq(err, 0, "call %d: got %d, want 0", i, err);
	}
	cr_assert_eq(wait_done(NCALLS, 15000), NCALLS,
	    "got %d replies, want %d", atomic_load(&n_done), NCALLS);
	usleep(200000); /* a duplicate callback would show up now */
	for (i = 0; i < NCALLS; i++) {
		cr_assert_eq(atomic_load(&slots[i].calls), 1,
		    "call %d: got %d callbacks, want 1", i,
		    atomic_load(&slots[i].calls));
		cr_assert_eq(atomic_load(&slots[i].err), 0,
		    "call %d: got err %d", i, atomic_load(&slots[i].err));
		cr_assert(atomic_load(&slots[i].ok_body), "call %d: body", i);
	}
	/* A call that cannot start returns its error, never calls back. */
	in_async = 1;
	cr_assert_eq(pm_rpc_call_async(cl, T_ECHO, "x", 1, 0, async_cb,
	                 (void *) 0),
	    PM_EINVAL);
	cr_assert_eq(pm_rpc_call_async(cl, T_ECHO, "x", 1, 100, NULL, NULL),
	    PM_EINVAL);
	in_async = 0;
	usleep(100000);
	cr_assert_eq(atomic_load(&slots[0].calls), 1, "failed start called cb");
	pm_rpc_client_free(cl);
	pm_rpc_server_stop(srv);
	LEAK_CHECK();
}

Test(rpc, deadline_runs_handler_once)
{
	char url[128];
	pm_rpc_server *srv;
	pm_rpc_client *cl;
	pm_buf rb;
	uint32_t rtype;
	int64_t t0, dt;
	int err;

	ipc_url(url, sizeof(url), 2);
	srv = start(url, 2, 0);
	cl = pm_rpc_client_new(url, 0);
	pm_buf_init(&rb, 0);
	t0 = pm_mono_ms();
	err = pm_rpc_call(cl, T_SLEEP, "700", 3, 150, &rtype, &rb);
	dt = pm_mono_ms() - t0;
	cr_assert_eq(err, PM_ETIMEDOUT, "got %d (%s), want PM_ETIMEDOUT", err,
	    pm_strerror(err));
	cr_assert(dt >= 140 && dt < 600, "got %lld ms, want about 150",
	    (long long) dt);
	/*
	 * The handler finishes (its 700 ms sleep; later on a busy machine),
	 * then, long after the reply came (and was dropped): still one run.
	 */
	cr_assert_geq(wait_count(&n_sleep_done, 1, 20000), 1,
	    "the handler never finished");
	usleep(800000);
	cr_assert_eq(atomic_load(&n_sleep_done), 1, "got %d runs, want 1",
	    atomic_load(&n_sleep_done));
	/* The client is still usable; the stale reply is not taken. */
	err = pm_rpc_call(cl, T_ECHO, "again", 5, 2000, &rtype, &rb);
	cr_assert_eq(err, 0, "got %d, want 0", err);
	cr_assert_str_eq(rb.data, "again");
	cr_assert_eq(atomic_load(&n_handled), 2, "got %d handled, want 2",
	    atomic_load(&n_handled));
	pm_buf_free(&rb);
	pm_rpc_client_free(cl);
	pm_rpc_server_stop(srv);
	LEAK_CHECK();
}

Test(rpc, client_before_server)
{
	char url[128];
	pm_rpc_server *srv;
	pm_rpc_client *cl;
	pm_buf rb;
	uint32_t rtype;
	int err;

	ipc_url(url, sizeof(url), 3);
	cl = pm_rpc_client_new(url, 0);
	cr_assert_not_null(cl, "client must start without its server");
	pm_buf_init(&rb, 0);
	err = pm_rpc_call(cl, T_ECHO, "x", 1, 200, &rtype, &rb);
	cr_assert_eq(err, PM_ECONNREFUSED, "no peer: got %d (%s), want %d", err,
	    pm_strerror(err), PM_ECONNREFUSED);
	/* A call in flight when the server comes up gets its answer. */
	err = pm_rpc_call_async(cl, T_ECHO, "call 0", 6, 5000, async_cb,
	    (void *) 0);
	cr_assert_eq(err, 0);
	usleep(300000);
	srv = start(url, 2, 0);
	cr_assert_eq(wait_done(1, 5000), 1, "late server: no reply");
	cr_assert_eq(atomic_load(&slots[0].err), 0, "got %d, want 0",
	    atomic_load(&slots[0].err));
	cr_assert(atomic_load(&slots[0].ok_body));
	err = pm_rpc_call(cl, T_ECHO, "y", 1, 2000, &rtype, &rb);
	cr_assert_eq(err, 0, "got %d, want 0", err);
	pm_buf_free(&rb);
	pm_rpc_client_free(cl);
	pm_rpc_server_stop(srv);
	LEAK_CHECK();
}

Test(rpc, oversize_request)
{
	static char big[16384];
	char url[128];
	pm_rpc_server *srv;
	pm_rpc_client *cl;
	pm_buf rb;
	uint32_t rtype;
	int err, i;

	ipc_url(url, sizeof(url), 4);
	srv = start(url, 2, 4096);
	cl = pm_rpc_client_new(url, 0);
	pm_buf_init(&rb, 0);
	err = pm_rpc_call(cl, T_ECHO, big, sizeof(big), 2000, &rtype, &rb);
	cr_assert_eq(err, PM_ECLOSED, "got %d (%s), want PM_ECLOSED", err,
	    pm_strerror(err));
	cr_assert_eq(atomic_load(&n_handled), 0, "oversize request handled");
	/* The client reconnects by itself; small requests go through. */
	for (i = 0; i < 3; i++) {
		err = pm_rpc_call(cl, T_ECHO, "ok", 2, 3000, &rtype, &rb);
		cr_assert_eq(err, 0, "after oversize: got %d (%s), want 0", err,
		    pm_strerror(err));
	}
	/* With sendmax the client refuses it locally. */
	pm_rpc_client_set_sendmax(cl, 4096);
	err = pm_rpc_call(cl, T_ECHO, big, sizeof(big), 2000, &rtype, &rb);
	cr_assert_eq(err, PM_ETOOBIG, "got %d, want PM_ETOOBIG", err);
	err = pm_rpc_call(cl, T_ECHO, big, 4000, 2000, &rtype, &rb);
	cr_assert_eq(err, 0, "under sendmax: got %d, want 0", err);
	pm_buf_free(&rb);
	pm_rpc_client_free(cl);
	pm_rpc_server_stop(srv);
	LEAK_CHECK();
}

Test(rpc, malformed_requests)
{
	static const struct {
		const char *name;
		const char *bytes;
		size_t len;
		int want_reply; /* empty bytes are a valid empty envelope */
	} cases[] = {
		{ "garbage", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 10,
		    0 },
		{ "truncated varint", "\x10\xff", 2, 0 },
		{ "NUL bytes", "\0\0\0", 3, 0 },
		{ "length past end",
		    "\x1a\x7f"
		    "abc",
		    5, 0 },
		{ "bare CR LF", "\r\n\r\n.\r\n", 7, 0 },
		{ "empty", "", 0, 1 },
	};
	char url[128];
	pm_rpc_server *srv;
	pm_rpc_client *cl;
	nng_socket raw;
	nng_msg *msg;
	pm_buf rb;
	uint32_t rtype;
	size_t i;
	int rv, err;

	ipc_url(url, sizeof(url), 5);
	srv = start(url, 2, 0);
	cr_assert_eq(nng_req0_open(&raw), 0);
	cr_assert_eq(nng_socket_set_ms(raw, NNG_OPT_RECVTIMEO, 300), 0);
	cr_assert_eq(nng_dial(raw, url, NULL, 0), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(nng_msg_alloc(&msg, 0), 0);
		cr_assert_eq(nng_msg_append(msg, cases[i].bytes, cases[i].len),
		    0);
		cr_assert_eq(nng_sendmsg(raw, msg, 0), 0);
		rv = nng_recvmsg(raw, &msg, 0);
		if (cases[i].want_reply) {
			Pm__Envelope *env;

			cr_assert_eq(rv, 0, "%s: got %s, want a reply",
			    cases[i].name, nng_strerror(rv));
			env = pm__envelope__unpack(NULL, nng_msg_len(msg),
			    nng_msg_body(msg));
			cr_assert_not_null(env);
			cr_assert_eq(env->type, PM__MSG_TYPE__MSG_ERROR);
			cr_assert_eq(env->status, PM_EINVAL,
			    "got status %d, want %d", env->status, PM_EINVAL);
			pm__envelope__free_unpacked(env, NULL);
			nng_msg_free(msg);
		} else {
			cr_assert_eq(rv, NNG_ETIMEDOUT,
			    "%s: got %s, want no reply", cases[i].name,
			    nng_strerror(rv));
		}
	}
	nng_close(raw);
	cr_assert_eq(atomic_load(&n_handled), 1, "got %d handled, want 1",
	    atomic_load(&n_handled));
	/* And the server keeps serving. */
	cl = pm_rpc_client_new(url, 0);
	pm_buf_init(&rb, 0);
	err = pm_rpc_call(cl, T_ECHO, "still", 5, 2000, &rtype, &rb);
	cr_assert_eq(err, 0, "got %d, want 0", err);
	cr_assert_str_eq(rb.data, "still");
	pm_buf_free(&rb);
	pm_rpc_client_free(cl);
	pm_rpc_server_stop(srv);
	LEAK_CHECK();
}

/* A raw REP peer answering each request with a crafted reply. */
enum { R_GARBAGE, R_WRONG_ID, R_ERR_ZERO, R_ERR_ENOENT, R_GOOD, R_N };

static const char *reply_url;

static void *
raw_rep_main(void *arg)
{
	nng_socket *s = arg;
	int k;

	for (k = 0; k < R_N; k++) {
		Pm__Envelope rep = PM__ENVELOPE__INIT;
		Pm__Envelope *req;
		nng_msg *msg;

		if (nng_recvmsg(*s, &msg, 0) != 0) {
			return (NULL);
		}
		req = pm__envelope__unpack(NULL, nng_msg_len(msg),
		    nng_msg_body(msg));
		nng_msg_clear(msg);
		rep.request_id = req->request_id;
		rep.type = T_ECHO_REPLY;
		rep.body.data = (uint8_t *) "good";
		rep.body.len = 4;
		switch (k) {
		case R_GARBAGE:
			nng_msg_append(msg, "\xff\xfe\x01", 3);
			break;
		case R_WRONG_ID:
			rep.request_id++;
			break;
		case R_ERR_ZERO:
			rep.type = PM__MSG_TYPE__MSG_ERROR;
			rep.status = 0;
			break;
		case R_ERR_ENOENT:
			rep.type = PM__MSG_TYPE__MSG_ERROR;
			rep.status = PM_ENOENT;
			break;
		default:
			break;
		}
		if (k != R_GARBAGE) {
			uint8_t buf[256];
			size_t n = pm__envelope__pack(&rep, buf);

			nng_msg_append(msg, buf, n);
		}
		pm__envelope__free_unpacked(req, NULL);
		nng_sendmsg(*s, msg, 0);
	}
	return (NULL);
}

Test(rpc, hostile_replies)
{
	static const int want[R_N] = {
		PM_EPROTO,
		PM_EPROTO,
		PM_EPROTO,
		PM_ENOENT,
		0,
	};
	char url[128];
	nng_socket s;
	pthread_t tid;
	pm_rpc_client *cl;
	pm_buf rb;
	uint32_t rtype;
	int k, err;

	ipc_url(url, sizeof(url), 6);
	reply_url = url;
	cr_assert_eq(nng_rep0_open(&s), 0);
	cr_assert_eq(nng_listen(s, url, NULL, 0), 0);
	pthread_create(&tid, NULL, raw_rep_main, &s);
	cl = pm_rpc_client_new(url, 0);
	pm_buf_init(&rb, 0);
	for (k = 0; k < R_N; k++) {
		pm_buf_reset(&rb);
		err = pm_rpc_call(cl, T_ECHO, "q", 1, 2000, &rtype, &rb);
		cr_assert_eq(err, want[k], "reply %d: got %d (%s), want %d", k,
		    err, pm_strerror(err), want[k]);
	}
	cr_assert_str_eq(rb.data, "good");
	pthread_join(tid, NULL);
	pm_buf_free(&rb);
	pm_rpc_client_free(cl);
	nng_close(s);
	LEAK_CHECK();
}

static void *
stopper(void *arg)
{
	usleep(100000);
	pm_rpc_server_stop(arg);
	return (NULL);
}

Test(rpc, stop_finishes_running_handler)
{
	char url[128];
	pm_rpc_server *srv;
	pm_rpc_client *cl;
	pthread_t tid;
	int err;

	ipc_url(url, sizeof(url), 7);
	srv = start(url, 3, 0);
	cl = pm_rpc_client_new(url, 0);
	err = pm_rpc_call_async(cl, T_SLEEP, "400", 3, 5000, async_cb,
	    (void *) 0);
	cr_assert_eq(err, 0);
	/* stop while the handler runs: wait until it started */
	cr_assert_eq(wait_count(&n_handled, 1, 20000), 1,
	    "the handler never started");
	pthread_create(&tid, NULL, stopper, srv);
	pthread_join(tid, NULL);
	cr_assert_eq(atomic_load(&n_sleep_done), 1,
	    "stop returned before the handler finished");
	cr_assert_eq(atomic_load(&n_fini), 3, "got %d thread_fini, want 3",
	    atomic_load(&n_fini));
	cr_assert_eq(wait_done(1, 5000), 1, "call never completed");
	pm_rpc_client_free(cl);
	cr_assert_eq(atomic_load(&slots[0].calls), 1, "got %d callbacks",
	    atomic_load(&slots[0].calls));
	LEAK_CHECK();
}
