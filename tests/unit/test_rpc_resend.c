/*
 * NAME
 *	test_rpc_resend - pm_rpc at a server's stop: replies written,
 *	requests not taken sent again elsewhere
 * DESCRIPTION
 *	A rolling restart stops an RPC server under load (pm_server.h):
 *	- a reply queued just before the stop still reaches its client
 *	  (a big one, which the transport needs time to write: the stop
 *	  lingers, pm_rpc.c);
 *	- requests queued on the connection of a server that stops, not
 *	  yet taken by its one busy worker, fail with PM_ECLOSED without
 *	  resend, and with pm_rpc_client_set_resend() are answered by the
 *	  other server, each handled exactly once in all.
 *	Real nng sockets over tcp on loopback, in one process.
 */
#include "pm_rpc.h"
#include "pm_log.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define T_WORK 200  /* body: "<ms> <reply bytes>" */
#define T_REPLY 201 /* the reply type */
#define NCALLS 6
#define BIG (8 * 1024 * 1024)

static atomic_int n_handled;
static atomic_int n_started; /* handlers entered (before their work) */

static int
handler(void *tctx, uint32_t type, const uint8_t *req, size_t reqlen,
    uint32_t *rtype, pm_buf *rbuf)
{
	char arg[64];
	long ms = 0, bytes = 0;
	char *fill;
	int rc;

	(void) tctx;
	if (type != T_WORK || reqlen >= sizeof(arg)) {
		return (PM_EINVAL);
	}
	snprintf(arg, sizeof(arg), "%.*s", (int) reqlen, (const char *) req);
	if (sscanf(arg, "%ld %ld", &ms, &bytes) != 2) {
		return (PM_EINVAL);
	}
	atomic_fetch_add(&n_started, 1);
	usleep((useconds_t) ms * 1000);
	atomic_fetch_add(&n_handled, 1);
	*rtype = T_REPLY;
	if (bytes <= 0) {
		return (0);
	}
	fill = pm_malloc((size_t) bytes);
	memset(fill, 'r', (size_t) bytes);
	rc = pm_buf_append(rbuf, fill, (size_t) bytes);
	free(fill);
	return (rc);
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

typedef struct slot {
	atomic_int done;
	atomic_int err;
} slot;

static slot slots[NCALLS];

static void
call_cb(void *arg, int err, uint32_t rtype, const uint8_t *reply, size_t len)
{
	slot *s = arg;

	(void) reply;
	(void) len;
	if (err == 0 && rtype != T_REPLY) {
		err = PM_EPROTO;
	}
	atomic_store(&s->err, err);
	atomic_store(&s->done, 1);
}

static int
wait_all(int n, int ms)
{
	int i, done = 0;

	while (ms-- > 0) {
		for (done = 0, i = 0; i < n; i++) {
			done += atomic_load(&slots[i].done);
		}
		if (done == n) {
			break;
		}
		usleep(1000);
	}
	return (done);
}

static void *
stop_thread(void *arg)
{
	pm_rpc_server_stop(arg);
	return (NULL);
}

/* One round: NCALLS calls spread over servers a and b, then a stops.
 * Returns how many calls failed with PM_ECLOSED (dropped with a). */
static int
stop_round(int resend)
{
	char ua[64], ub[64], urls[160];
	pm_rpc_server *a, *b;
	pm_rpc_client *cl;
	pm_buf rb;
	pthread_t tid;
	uint32_t rtype;
	int i, nclosed;

	atomic_store(&n_handled, 0);
	memset(slots, 0, sizeof(slots));
	tcp_url(ua, sizeof(ua));
	tcp_url(ub, sizeof(ub));
	a = pm_rpc_server_start(ua, 1, 0, handler, NULL, NULL);
	b = pm_rpc_server_start(ub, 1, 0, handler, NULL, NULL);
	cr_assert(a != NULL && b != NULL);
	snprintf(urls, sizeof(urls), "%s %s", ua, ub);
	cl = pm_rpc_client_open("test", urls, 0);
	cr_assert_not_null(cl);
	pm_rpc_client_set_resend(cl, resend);
	pm_buf_init(&rb, 0);
	/* Both connections up before the calls. */
	for (i = 0; i < 20; i++) {
		cr_assert_eq(pm_rpc_call(cl, T_WORK, "0 0", 3, 3000, &rtype,
		                 &rb),
		    0);
	}
	atomic_store(&n_handled, 0);
	/* Spread over both; each server works one at a time. */
	for (i = 0; i < NCALLS; i++) {
		cr_assert_eq(pm_rpc_call_async(cl, T_WORK, "300 0", 5, 10000,
		                 call_cb, &slots[i]),
		    0);
	}
	usleep(100000);
	/* a stops: its running call finishes, the rest is queued. */
	cr_assert_eq(pthread_create(&tid, NULL, stop_thread, a), 0);
	cr_assert_eq(wait_all(NCALLS, 8000), NCALLS, "calls not done");
	pthread_join(tid, NULL);
	for (nclosed = 0, i = 0; i < NCALLS; i++) {
		int err = atomic_load(&slots[i].err);

		cr_assert(err == 0 || (!resend && err == PM_ECLOSED),
		    "resend %d: call %d: %s", resend, i, pm_strerror(err));
		nclosed += err == PM_ECLOSED;
	}
	if (resend) {
		/* every call answered, none handled twice */
		cr_assert_eq(atomic_load(&n_handled), NCALLS,
		    "handled %d times for %d calls", atomic_load(&n_handled),
		    NCALLS);
	} else {
		cr_assert_eq(atomic_load(&n_handled) + nclosed, NCALLS);
	}
	pm_buf_free(&rb);
	pm_rpc_client_free(cl);
	pm_rpc_server_stop(b);
	return (nclosed);
}

Test(rpc_resend, stop_hands_queued_requests_to_another_server)
{
	int attempt, nclosed = 0;

	/* The case exists: without resend, calls queued at a are dropped.
	 * Whether any queue at a depends on the scheduling of a loaded
	 * machine (seen once in CI: none did), so up to 5 rounds. */
	for (attempt = 0; attempt < 5 && nclosed == 0; attempt++)
		nclosed = stop_round(0);
	cr_assert_gt(nclosed, 0, "no call was queued at a in 5 rounds");
	/* With resend the same rounds lose nothing and do nothing twice. */
	for (attempt = 0; attempt < 3; attempt++)
		(void) stop_round(1);
}

Test(rpc_resend, stop_writes_the_last_big_reply)
{
	char ua[64], arg[32];
	pm_rpc_server *a;
	pm_rpc_client *cl;
	pthread_t tid;
	int n;

	atomic_store(&n_handled, 0);
	memset(slots, 0, sizeof(slots));
	tcp_url(ua, sizeof(ua));
	a = pm_rpc_server_start(ua, 1, BIG + 4096, handler, NULL, NULL);
	cr_assert_not_null(a);
	cl = pm_rpc_client_open("test", ua, BIG + 4096);
	cr_assert_not_null(cl);
	n = snprintf(arg, sizeof(arg), "200 %d", BIG);
	cr_assert_eq(pm_rpc_call_async(cl, T_WORK, arg, (size_t) n, 10000,
	                 call_cb, &slots[0]),
	    0);
	/* stop while the handler runs: wait until it started */
	for (n = 0; n < 20000 && atomic_load(&n_started) == 0; n++) {
		usleep(1000);
	}
	cr_assert_eq(atomic_load(&n_started), 1, "the handler never started");
	cr_assert_eq(pthread_create(&tid, NULL, stop_thread, a), 0);
	cr_assert_eq(wait_all(1, 8000), 1, "call not done");
	pthread_join(tid, NULL);
	cr_assert_eq(atomic_load(&slots[0].err), 0, "big reply lost: %s",
	    pm_strerror(atomic_load(&slots[0].err)));
	pm_rpc_client_free(cl);
}
