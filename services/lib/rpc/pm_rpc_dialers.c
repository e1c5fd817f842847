/*
 * NAME
 *	pm_rpc_dialers - the nng dialers of one pm_rpc client
 * SUMMARY
 *	#include "pm_rpc_dialers.h"
 * DESCRIPTION
 *	See pm_rpc_dialers.h. pm_rpc_disco calls dl_add() and dl_del() (on
 *	its thread, or in pm__rpc_dialers_new's caller for the first set);
 *	the table of dialers is under dl->mu, which is never held while
 *	nng is called: closing a dialer waits for its pipe callbacks, and
 *	those take dl->mu.
 *
 *	A connection that arrives before its dialer is in the table (the
 *	window between nng_dialer_start and the insert) is remembered by
 *	dialer id (the last DL_EARLY such ids), so that the insert marks
 *	the dialer connected and its next connection counts as a
 *	reconnect. nng may also report such a connection with no dialer
 *	id at all (seen: nng_pipe_dialer() gives -1 while nng_dialer_start
 *	runs); dl_add runs one at a time, so such a connection is the
 *	first of the dialer being added.
 * LIMITS
 *	PM_DISCO_MAX_ADDRS dialers; DL_EARLY early connections remembered.
 * SECURITY
 *	See pm_rpc_disco.h.
 */
#include "pm_rpc_dialers.h"
#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_rpc.h"
#include "pm_rpc_disco.h"
#include "pm_rpc_priv.h"
#include "pm_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DL_EARLY 16

typedef struct dl_ent {
	nng_dialer d;
	int connected; /* a pipe was added for it once */
} dl_ent;

struct pm__rpc_dialers {
	nng_socket sock;
	pthread_mutex_t mu;
	dl_ent *v; /* under mu */
	size_t n;
	int early[DL_EARLY]; /* dialer ids connected before the insert */
	size_t nearly;       /* ring position */
	int adding;          /* dl_add is starting a dialer */
	int adding_early;    /* ... and a connection without id came */
	pm_metric *dialers;
	pm_metric *reconnects;
	pm_disco *disco;
};

static pthread_mutex_t role_mu = PTHREAD_MUTEX_INITIALIZER;
static char rpc_role[64] = "rpc";

void
pm_rpc_set_role(const char *role)
{
	pthread_mutex_lock(&role_mu);
	snprintf(rpc_role, sizeof(rpc_role), "%s", role);
	pthread_mutex_unlock(&role_mu);
}

static int
dl_add(void *arg, const char *url, void **datap)
{
	pm__rpc_dialers *dl = arg;
	nng_dialer d;

	pthread_mutex_lock(&dl->mu);
	dl->adding = 1;
	dl->adding_early = 0;
	pthread_mutex_unlock(&dl->mu);
	if (pm__rpc_dial(dl->sock, url, &d) != 0) {
		pthread_mutex_lock(&dl->mu);
		dl->adding = 0;
		pthread_mutex_unlock(&dl->mu);
		return (PM_EINVAL); /* logged */
	}
	pthread_mutex_lock(&dl->mu);
	dl->adding = 0;
	dl->v = pm_realloc(dl->v, (dl->n + 1) * sizeof(*dl->v));
	dl->v[dl->n].d = d;
	dl->v[dl->n].connected = dl->adding_early;
	for (size_t k = 0; k < DL_EARLY; k++) {
		if (dl->early[k] == nng_dialer_id(d)) {
			dl->v[dl->n].connected = 1; /* its first came early */
			dl->early[k] = 0;
		}
	}
	dl->n++;
	pthread_mutex_unlock(&dl->mu);
	pm_metric_gauge_add(dl->dialers, 1);
	*datap = (void *) (uintptr_t) nng_dialer_id(d);
	return (0);
}

static void
dl_del(void *arg, const char *url, void *data)
{
	pm__rpc_dialers *dl = arg;
	nng_dialer d = NNG_DIALER_INITIALIZER;
	size_t i;

	(void) url;
	d.id = (uint32_t) (uintptr_t) data;
	pthread_mutex_lock(&dl->mu);
	for (i = 0; i < dl->n; i++) {
		if (nng_dialer_id(dl->v[i].d) == (int) d.id) {
			dl->v[i] = dl->v[--dl->n];
			break;
		}
	}
	pthread_mutex_unlock(&dl->mu);
	pm__rpc_tls_forget(0, (int) d.id);
	(void) nng_dialer_close(d); /* its connections close with it */
	pm_metric_gauge_add(dl->dialers, -1);
}

pm__rpc_dialers *
pm__rpc_dialers_new(nng_socket s, const char *service, const char *urls,
    pm__rpc_dialers **publish)
{
	pm__rpc_dialers *dl = pm_calloc(1, sizeof(*dl));
	char n1[128], n2[128], labels[96], param[96];

	dl->sock = s;
	pthread_mutex_init(&dl->mu, NULL);
	pthread_mutex_lock(&role_mu);
	snprintf(n1, sizeof(n1), "%s_service_dialers", rpc_role);
	snprintf(n2, sizeof(n2), "%s_service_reconnects_total", rpc_role);
	pthread_mutex_unlock(&role_mu);
	snprintf(labels, sizeof(labels), "service=\"%s\"", service);
	snprintf(param, sizeof(param), "%s_service", service);
	dl->dialers = pm_metric_gauge(n1,
	    "Dialers open to a service, one per address its "
	    "<service>_service resolves to",
	    labels);
	dl->reconnects = pm_metric_counter(n2,
	    "Connections to a service address made again after the first",
	    labels);
	/* the pipe callback finds the table from the first connection on */
	__atomic_store_n(publish, dl, __ATOMIC_RELEASE);
	dl->disco = pm_disco_new(param, urls, dl_add, dl_del, dl);
	if (dl->disco == NULL) {
		__atomic_store_n(publish, NULL, __ATOMIC_RELEASE);
		pthread_mutex_destroy(&dl->mu);
		free(dl);
		return (NULL);
	}
	return (dl);
}

void
pm__rpc_dialers_free(pm__rpc_dialers *dl)
{
	if (dl == NULL) {
		return;
	}
	pm_disco_free(dl->disco); /* closes every dialer (dl_del) */
	pthread_mutex_destroy(&dl->mu);
	free(dl->v);
	free(dl);
}

void
pm__rpc_dialers_pipe(pm__rpc_dialers *dl, nng_pipe p)
{
	int id = nng_dialer_id(nng_pipe_dialer(p));
	int again = 0;
	size_t i;

	if (dl == NULL) {
		return;
	}
	if (id < 0) {
		pthread_mutex_lock(&dl->mu);
		dl->adding_early |= dl->adding;
		pthread_mutex_unlock(&dl->mu);
		return;
	}
	pthread_mutex_lock(&dl->mu);
	for (i = 0; i < dl->n; i++) {
		if (nng_dialer_id(dl->v[i].d) == id) {
			again = dl->v[i].connected;
			dl->v[i].connected = 1;
			break;
		}
	}
	if (i == dl->n && id > 0) { /* before dl_add's insert */
		dl->early[dl->nearly++ % DL_EARLY] = id;
	}
	pthread_mutex_unlock(&dl->mu);
	if (again) {
		pm_metric_inc(dl->reconnects);
	}
}
