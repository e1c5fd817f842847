/*
 * NAME
 *	postscreen_cache - test results shared by every replica (Redis)
 * DESCRIPTION
 *	A client that passed a test keeps one key, pm:cache:psc:<addr>, holding
 *	"greet=<t>;dnsbl=<t>": the time (Unix seconds) until which each
 *	test counts as passed (0: never passed or not run), as Postfix's
 *	postscreen_cache_map keeps per-test expiry times. The pregreet
 *	test counts for postscreen_greet_ttl, the DNSBL test for the
 *	smallest TTL of the DNSBL answers, within postscreen_dnsbl_min_ttl
 *	and postscreen_dnsbl_max_ttl (max without answers). The key
 *	expires with the last of its tests.
 *
 *	Redis calls block, so they run on one thread of their own, never
 *	on the event loop: psc_cache_lookup() queues a GET and
 *	psc_cache_done() receives the answer on the loop;
 *	psc_cache_update() queues a SET EX. When Redis cannot be used the
 *	lookup answers "not cached" (fail open: the client is tested),
 *	with one warning per outage and one line when Redis is back.
 *
 *	A slow or hung Redis never holds a client: the loop waits
 *	postscreen_cache_timeout for an answer, then tests the client as
 *	not cached (a late answer is dropped). After a failed call the
 *	thread stops calling Redis for postscreen_cache_retry_delay:
 *	lookups are answered "not cached" at once and updates dropped;
 *	then one call tries again. A request that waited in the queue
 *	longer than postscreen_cache_timeout is answered without a call
 *	(its client went on already).
 * LIMITS
 *	PSC_CACHE_QUEUE_MAX requests waiting (beyond: a lookup answers
 *	"not cached" at once, an update is dropped); each Redis call
 *	within redis_timeout.
 * SECURITY
 *	A cache entry that does not parse is ignored (warned about).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_qstore_str.h"
#include "pm_server_queue.h"
#include "pm_util.h"
#include "postscreen.h"

#define PSC_CACHE_QUEUE_MAX 10000
#define PSC_CACHE_PREFIX "pm:cache:psc:"

typedef struct psc_creq {
	struct psc_creq *next;
	psc_conn *conn; /* GET: the waiting client; SET: NULL */
	int64_t queued; /* pm_mono_ms() */
	char key[sizeof(PSC_CACHE_PREFIX) + PSC_ADDR_MAX];
	char value[64];
	long ttl;
	int rc;
	char *result;
} psc_creq;

static pthread_t psc_cache_tid;
static int psc_cache_started;
static pthread_mutex_t psc_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t psc_cache_cv = PTHREAD_COND_INITIALIZER;
static psc_creq *psc_todo_head, *psc_todo_tail;
static psc_creq *psc_done;
static long psc_nqueued;
static int psc_cache_quit;
static struct event *psc_done_ev;
static pm_qstore *psc_qs;       /* the thread's */
static int psc_redis_down;      /* the thread's */
static int64_t psc_redis_retry; /* the thread's: no call before (ms) */
static int psc_cache_slow;      /* the loop's: a deadline was missed */

static void
psc_redis_note(int rc)
{
	if (rc == 0 || rc == PM_ENOENT) {
		if (psc_redis_down) {
			pm_msg_info("postscreen cache: Redis is back");
			psc_redis_down = 0;
		}
	} else {
		psc_redis_retry = pm_mono_ms() + var_psc_cache_retry * 1000;
		if (!psc_redis_down) {
			pm_msg_warn("postscreen cache: Redis unavailable (%s): "
			            "testing every client, caching nothing",
			    pm_strerror(rc));
			psc_redis_down = 1;
		}
	}
}

static void *
psc_cache_thread(void *arg)
{
	psc_creq *r;
	int quit;
	int64_t now;

	(void) arg;
	pthread_mutex_lock(&psc_cache_mu);
	for (;;) {
		while (psc_todo_head == NULL && !psc_cache_quit) {
			pthread_cond_wait(&psc_cache_cv, &psc_cache_mu);
		}
		if ((r = psc_todo_head) == NULL) {
			break;
		}
		psc_todo_head = r->next;
		if (psc_todo_head == NULL) {
			psc_todo_tail = NULL;
		}
		psc_nqueued--;
		quit = psc_cache_quit;
		pthread_mutex_unlock(&psc_cache_mu);
		now = pm_mono_ms();
		if (quit) {
			r->rc = PM_EAGAIN; /* stopping: answer at once */
		} else if (psc_qs == NULL) {
			r->rc = PM_EREDIS;
		} else if (psc_redis_down && now < psc_redis_retry) {
			r->rc = PM_EREDIS; /* circuit open: no call */
		} else if (r->conn != NULL &&
		    now - r->queued > var_psc_cache_tmout * 1000) {
			r->rc = PM_ETIMEDOUT; /* the client went on already */
		} else if (r->conn != NULL) {
			r->rc = pm_qstore_get_str(psc_qs, r->key, &r->result);
			psc_redis_note(r->rc);
		} else {
			r->rc =
			    pm_qstore_set_ex(psc_qs, r->key, r->value, r->ttl);
			psc_redis_note(r->rc);
		}
		pthread_mutex_lock(&psc_cache_mu);
		if (r->conn == NULL) {
			free(r);
			continue;
		}
		r->next = psc_done;
		psc_done = r;
		event_active(psc_done_ev, 0, 0);
	}
	pthread_mutex_unlock(&psc_cache_mu);
	return (NULL);
}

/* On the loop: deliver answers. */
static void
psc_cache_done_cb(evutil_socket_t fd, short what, void *arg)
{
	psc_creq *list;
	psc_creq *r;

	(void) fd;
	(void) what;
	(void) arg;
	pthread_mutex_lock(&psc_cache_mu);
	list = psc_done;
	psc_done = NULL;
	pthread_mutex_unlock(&psc_cache_mu);
	while ((r = list) != NULL) {
		list = r->next;
		if (r->conn->state == PSC_ST_CACHE && !r->conn->closed &&
		    psc_cache_slow && (r->rc == 0 || r->rc == PM_ENOENT)) {
			pm_msg_info("postscreen cache: answers in time again");
			psc_cache_slow = 0;
		}
		psc_cache_done(r->conn, r->rc, r->result);
		psc_conn_unref(r->conn);
		free(r->result);
		free(r);
	}
}

static int
psc_cache_queue(psc_creq *r)
{
	pthread_mutex_lock(&psc_cache_mu);
	if (!psc_cache_started || psc_cache_quit ||
	    psc_nqueued >= PSC_CACHE_QUEUE_MAX) {
		pthread_mutex_unlock(&psc_cache_mu);
		return (PM_EFULL);
	}
	r->next = NULL;
	if (psc_todo_tail != NULL) {
		psc_todo_tail->next = r;
	} else {
		psc_todo_head = r;
	}
	psc_todo_tail = r;
	psc_nqueued++;
	pthread_cond_signal(&psc_cache_cv);
	pthread_mutex_unlock(&psc_cache_mu);
	return (0);
}

void
psc_cache_init(void)
{
	psc_done_ev = event_new(psc_base, -1, 0, psc_cache_done_cb, NULL);
	if ((psc_qs = pm_server_qstore_open()) == NULL) {
		pm_msg_warn("postscreen cache: cannot use %s: no cache",
		    VAR_REDIS_SERVER);
	}
	if (pthread_create(&psc_cache_tid, NULL, psc_cache_thread, NULL) != 0) {
		pm_msg_fatal("cannot start the cache thread");
	}
	psc_cache_started = 1;
}

void
psc_cache_stop(void)
{
	if (!psc_cache_started) {
		return;
	}
	pthread_mutex_lock(&psc_cache_mu);
	psc_cache_quit = 1;
	pthread_cond_signal(&psc_cache_cv);
	pthread_mutex_unlock(&psc_cache_mu);
	pthread_join(psc_cache_tid, NULL);
	psc_cache_started = 0;
	psc_cache_done_cb(-1, 0, NULL);
	event_free(psc_done_ev);
	psc_qs = pm_qstore_close(psc_qs);
}

/* No answer within postscreen_cache_timeout: test as not cached. */
static void
psc_cache_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	psc_conn *c = arg;

	(void) fd;
	(void) what;
	if (!psc_cache_slow) {
		pm_msg_warn("postscreen cache: no answer within %lds: testing "
		            "clients as not cached",
		    var_psc_cache_tmout);
		psc_cache_slow = 1;
	}
	psc_cache_done(c, PM_ETIMEDOUT, NULL);
}

void
psc_cache_lookup(psc_conn *c)
{
	psc_creq *r = pm_calloc(1, sizeof(*r));

	snprintf(r->key, sizeof(r->key), PSC_CACHE_PREFIX "%s", c->addr);
	r->conn = c;
	r->queued = pm_mono_ms();
	c->refs++;
	if (psc_cache_queue(r) != 0) {
		free(r);
		c->refs--;
		psc_cache_done(c, PM_EFULL, NULL);
		return;
	}
	psc_timer_set(c, var_psc_cache_tmout, 0, psc_cache_deadline_cb);
}

/*
 * Record the tests c passed now (the others keep their cached time):
 * the pregreet test for postscreen_greet_ttl, the DNSBL test for the
 * DNSBL TTL; a pass by the DNSBL allowlist threshold counts for every
 * test, for the DNSBL TTL, as in Postfix.
 */
void
psc_cache_update(psc_conn *c, int greet_pass, int dnsbl_pass)
{
	long now = (long) time(NULL);
	long g = c->greet_exp > now ? c->greet_exp : 0;
	long d = c->dnsbl_exp > now ? c->dnsbl_exp : 0;
	long ttl;
	psc_creq *r;

	if (!greet_pass && !dnsbl_pass && !c->dnsbl_allow) {
		return;
	}
	ttl = c->dnsbl_ttl > 0 ? (long) c->dnsbl_ttl : var_psc_dnsbl_max_ttl;
	ttl = ttl < var_psc_dnsbl_min_ttl ? var_psc_dnsbl_min_ttl : ttl;
	ttl = ttl > var_psc_dnsbl_max_ttl ? var_psc_dnsbl_max_ttl : ttl;
	if (c->dnsbl_allow) {
		g = d = now + ttl;
	} else {
		if (greet_pass) {
			g = now + var_psc_greet_ttl;
		}
		if (dnsbl_pass) {
			d = now + ttl;
		}
	}
	ttl = (g > d ? g : d) - now;
	if (ttl <= 0) {
		return;
	}
	r = pm_calloc(1, sizeof(*r));
	snprintf(r->key, sizeof(r->key), PSC_CACHE_PREFIX "%s", c->addr);
	(void) psc_cache_format(r->value, sizeof(r->value), g, d);
	r->ttl = ttl;
	if (psc_cache_queue(r) != 0) {
		free(r);
	}
}
