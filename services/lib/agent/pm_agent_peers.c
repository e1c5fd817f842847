/*
 * NAME
 *	pm_agent_peers - the qmgr instances a delivery agent fetches from
 * SUMMARY
 *	#include "pm_agent_peers.h"
 * DESCRIPTION
 *	See pm_agent_peers.h. Implementation notes: the table is under
 *	pr.mu, which is a leaf lock: never held while calling nng, the
 *	agent (wake) or pm_rpc_disco. The agent's own mutex may be held by
 *	a caller (the fetch loop asks pm__agent_peer_gone under it), so
 *	wake(), which takes it, is called with pr.mu released.
 *
 *	A slot goes FREE -> LIVE (add) -> gone (del) -> thread ended and
 *	no job -> client closed -> joined -> FREE. Whoever makes the last
 *	condition true (the fetcher ending, or a worker releasing the last
 *	job) closes the client; an add joins ended threads before it looks
 *	for a free slot.
 * LIMITS
 *	AGENT_QMGR_MAX slots.
 * SECURITY
 *	See pm_rpc_disco.h.
 */
#include "pm_agent_peers.h"
#include "pm_log.h"
#include "pm_rpc_disco.h"
#include "pm_util.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct agent_peer {
	int used;    /* slot taken (until joined) */
	int gone;    /* the fetcher must end */
	int started; /* tid is a thread to join */
	int ended;   /* the fetcher returned */
	int jobs;    /* jobs from it not yet freed */
	char *url;   /* "tcp://10.1.2.3:10030" */
	pm_rpc_client *cl;
	pthread_t tid;
} agent_peer;

static struct {
	pthread_mutex_t mu;
	agent_peer p[AGENT_QMGR_MAX];
	pm_disco *disco;
	size_t recvmax;
	void *(*fetch)(void *);
	void (*wake)(void);
	int full_warned;
	int stopping; /* clients stay open for late replies and reports */
} pr = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Take the client of a slot that no longer needs it; under pr.mu. */
static pm_rpc_client *
peer_idle_client(agent_peer *p)
{
	pm_rpc_client *cl = NULL;

	if (!pr.stopping && p->used && p->gone && p->ended && p->jobs == 0) {
		cl = p->cl;
		p->cl = NULL;
	}
	return (cl);
}

/* Join the ended fetchers whose client is closed; under pr.mu. */
static void
peer_reap(void)
{
	int i;

	for (i = 0; i < AGENT_QMGR_MAX; i++) {
		agent_peer *p = &pr.p[i];

		if (p->used && p->ended && p->cl == NULL && p->jobs == 0) {
			if (p->started) {
				pthread_join(p->tid, NULL);
			}
			free(p->url);
			memset(p, 0, sizeof(*p));
		}
	}
}

static int
peer_add(void *arg, const char *url, void **datap)
{
	pm_rpc_client *cl;
	agent_peer *p = NULL;
	int i;

	(void) arg;
	pthread_mutex_lock(&pr.mu);
	peer_reap();
	for (i = 0; i < AGENT_QMGR_MAX && p == NULL; i++) {
		if (!pr.p[i].used) {
			p = &pr.p[i];
		}
	}
	if (p == NULL) {
		if (!pr.full_warned) {
			pm_msg_warn("qmgr_service: more than %d qmgr addresses "
			            "at once; not fetching from %s",
			    AGENT_QMGR_MAX, url);
		}
		pr.full_warned = 1;
		pthread_mutex_unlock(&pr.mu);
		return (PM_ETOOBIG);
	}
	p->used = 1; /* reserved while the client is made */
	pthread_mutex_unlock(&pr.mu);

	if ((cl = pm_rpc_client_open("qmgr", url, pr.recvmax)) == NULL) {
		pthread_mutex_lock(&pr.mu);
		p->used = 0;
		pthread_mutex_unlock(&pr.mu);
		return (PM_EINVAL); /* logged */
	}
	pm_rpc_client_set_sendmax(cl, PM_RPC_CONTROL_MAX);
	pthread_mutex_lock(&pr.mu);
	p->url = pm_strdup(url);
	p->cl = cl;
	if (pthread_create(&p->tid, NULL, pr.fetch,
	        (void *) (intptr_t) (p - pr.p)) != 0) {
		pm_msg_fatal("cannot create fetch thread");
	}
	p->started = 1;
	pthread_mutex_unlock(&pr.mu);
	*datap = p;
	return (0);
}

static void
peer_del(void *arg, const char *url, void *data)
{
	agent_peer *p = data;

	(void) arg;
	(void) url;
	pthread_mutex_lock(&pr.mu);
	p->gone = 1;
	pthread_mutex_unlock(&pr.mu);
	pr.wake();
}

void
pm__agent_peers_start(const char *param, const char *urls, size_t recvmax,
    void *(*fetch)(void *), void (*wake)(void))
{
	pr.recvmax = recvmax;
	pr.fetch = fetch;
	pr.wake = wake;
	pr.disco = pm_disco_new(param, urls, peer_add, peer_del, NULL);
	if (pr.disco == NULL) {
		pm_msg_fatal("cannot use %s = %s", param, urls);
	}
}

void
pm__agent_peers_stop(void)
{
	pthread_t tid;
	int i, join;

	pthread_mutex_lock(&pr.mu);
	pr.stopping = 1;
	pthread_mutex_unlock(&pr.mu);
	pm_disco_free(pr.disco); /* every peer gone; no add after this */
	pr.disco = NULL;
	for (i = 0; i < AGENT_QMGR_MAX; i++) {
		pthread_mutex_lock(&pr.mu);
		join = pr.p[i].used && pr.p[i].started;
		tid = pr.p[i].tid;
		pr.p[i].started = 0;
		pthread_mutex_unlock(&pr.mu);
		if (join) {
			pthread_join(tid, NULL);
		}
	}
}

void
pm__agent_peers_free(void)
{
	pm_rpc_client *cl;
	int i;

	for (i = 0; i < AGENT_QMGR_MAX; i++) {
		pthread_mutex_lock(&pr.mu);
		cl = pr.p[i].cl;
		pr.p[i].cl = NULL;
		pthread_mutex_unlock(&pr.mu);
		/* fails a fetch still in flight; its callback runs first */
		pm_rpc_client_free(cl);
	}
	pthread_mutex_lock(&pr.mu);
	for (i = 0; i < AGENT_QMGR_MAX; i++) {
		free(pr.p[i].url);
		pr.p[i].url = NULL;
	}
	pthread_mutex_unlock(&pr.mu);
}

int
pm__agent_peer_count(void)
{
	int i, n = 0;

	pthread_mutex_lock(&pr.mu);
	for (i = 0; i < AGENT_QMGR_MAX; i++) {
		n += pr.p[i].used && !pr.p[i].gone && pr.p[i].cl != NULL;
	}
	pthread_mutex_unlock(&pr.mu);
	return (n);
}

static agent_peer *
peer_at(int slot)
{
	PM_ASSERT(slot >= 0 && slot < AGENT_QMGR_MAX);
	return (&pr.p[slot]);
}

pm_rpc_client *
pm__agent_peer_client(int slot)
{
	pm_rpc_client *cl;

	pthread_mutex_lock(&pr.mu);
	cl = peer_at(slot)->cl;
	pthread_mutex_unlock(&pr.mu);
	return (cl);
}

const char *
pm__agent_peer_url(int slot)
{
	const char *url;

	/* set before the fetcher starts, freed after it is joined */
	pthread_mutex_lock(&pr.mu);
	url = peer_at(slot)->url;
	pthread_mutex_unlock(&pr.mu);
	return (url != NULL ? url : "");
}

int
pm__agent_peer_gone(int slot)
{
	int gone;

	pthread_mutex_lock(&pr.mu);
	gone = peer_at(slot)->gone;
	pthread_mutex_unlock(&pr.mu);
	return (gone);
}

void
pm__agent_peer_hold(int slot)
{
	pthread_mutex_lock(&pr.mu);
	peer_at(slot)->jobs++;
	pthread_mutex_unlock(&pr.mu);
}

void
pm__agent_peer_release(int slot)
{
	pm_rpc_client *cl;

	pthread_mutex_lock(&pr.mu);
	peer_at(slot)->jobs--;
	cl = peer_idle_client(peer_at(slot));
	pthread_mutex_unlock(&pr.mu);
	pm_rpc_client_free(cl);
}

void
pm__agent_peer_exited(int slot)
{
	pm_rpc_client *cl;

	pthread_mutex_lock(&pr.mu);
	peer_at(slot)->ended = 1;
	cl = peer_idle_client(peer_at(slot));
	pthread_mutex_unlock(&pr.mu);
	if (cl != NULL) {
		pm_msg_info("qmgr_service: no longer fetching from %s",
		    pm__agent_peer_url(slot));
	}
	pm_rpc_client_free(cl);
}
