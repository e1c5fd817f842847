/*
 * NAME
 *	qmgr_dest - queue manager scheduling (see qmgr_dest.h)
 * DESCRIPTION
 *	Data: a map of transports (name -> sched_tp) and a map of
 *	destinations ("transport\001nexthop" -> pm_sched_dest). A
 *	destination with queued jobs sits in its transport's ring; the
 *	ring pointer of the transport is the round-robin cursor. Jobs are
 *	intrusive (pm_sched_job embedded in the caller's job) and queued
 *	FIFO per destination.
 *
 *	Window arithmetic follows Postfix's qmgr_queue.c in spirit (slow
 *	start, negative feedback, failed pseudo-cohorts, a throttled queue
 *	that defers its backlog at once) with unit feedback: +1 per
 *	success, -1 per failure. docs/scheduling.md explains the choices.
 * LIMITS
 *	See qmgr_dest.h.
 */
#include "qmgr_dest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_DSN_MAX 16
#define SCHED_TEXT_MAX 512

typedef struct sched_tp {
	char *name;
	long limit;          /* concurrency limit per destination */
	int64_t asked_ms;    /* last fetch naming it; -1 = never */
	long inflight;       /* jobs in flight, all destinations */
	pm_sched_dest *ring; /* destinations with queued jobs; cursor */
	size_t nring;
} sched_tp;

struct pm_sched_dest {
	char *key;
	char *nexthop;
	sched_tp *tp;
	pm_sched_job *head;
	pm_sched_job *tail;
	size_t nqueued;
	long window; /* 0 = dead */
	long active; /* jobs in flight */
	double fail_cohorts;
	int64_t dead_until; /* while dead */
	int64_t last_ms;    /* last enqueue or report */
	char dsn[SCHED_DSN_MAX];
	char text[SCHED_TEXT_MAX];
	pm_sched_dest *rnext;
	pm_sched_dest *rprev;
	int in_ring;
};

struct pm_sched {
	pm_sched_cfg cfg;
	pm_smap *dests;
	pm_smap *tps;
	size_t ntp;
	size_t nqueued;
	unsigned rr;
};

int64_t
pm_sched_backoff(int64_t min_s, int64_t max_s, int attempts)
{
	int64_t d = min_s;
	int i;

	if (min_s < 0) {
		min_s = d = 0;
	}
	if (max_s < min_s) {
		max_s = min_s;
	}
	for (i = 1; i < attempts && d < max_s; i++) {
		d = d > max_s / 2 ? max_s : d * 2;
	}
	return (d > max_s ? max_s : d);
}

size_t
pm_sched_group(const char *const *transport, const char *const *nexthop,
    size_t n, pm_sched_limit_fn limit, void *arg, size_t *job_of)
{
	pm_smap *open = pm_smap_new(); /* destination -> open job + 1 */
	size_t *fill = NULL, nfill = 0, njobs = 0, i, job;
	uintptr_t v;
	long lim;
	char *key;

	for (i = 0; i < n; i++) {
		job_of[i] = SIZE_MAX;
		if (transport[i] == NULL) {
			continue;
		}
		lim = limit != NULL ? limit(arg, transport[i]) : 1;
		if (lim < 1) {
			lim = 1;
		}
		key = pm_asprintf("%s\001%s", transport[i],
		    nexthop[i] != NULL ? nexthop[i] : "");
		v = (uintptr_t) pm_smap_get(open, key);
		if (v != 0 && fill[v - 1] < (size_t) lim) {
			job = v - 1;
		} else {
			job = njobs++;
			if (njobs > nfill) {
				nfill = nfill ? nfill * 2 : 16;
				fill = pm_realloc(fill, nfill * sizeof(*fill));
			}
			fill[job] = 0;
			pm_smap_put(open, key, (void *) (uintptr_t) (job + 1));
		}
		fill[job]++;
		job_of[i] = job;
		free(key);
	}
	free(fill);
	pm_smap_free(open);
	return (njobs);
}

pm_sched *
pm_sched_new(const pm_sched_cfg *cfg)
{
	pm_sched *s = pm_calloc(1, sizeof(*s));

	s->cfg = *cfg;
	if (s->cfg.initial_concurrency < 1) {
		s->cfg.initial_concurrency = 1;
	}
	if (s->cfg.max_dests < 1) {
		s->cfg.max_dests = 1;
	}
	s->dests = pm_smap_new();
	s->tps = pm_smap_new();
	return (s);
}

static void
sched_free_dest(const char *key, void *value, void *arg)
{
	pm_sched_dest *d = value;

	(void) key;
	(void) arg;
	free(d->key);
	free(d->nexthop);
	free(d);
}

static void
sched_free_tp(const char *key, void *value, void *arg)
{
	sched_tp *tp = value;

	(void) key;
	(void) arg;
	free(tp->name);
	free(tp);
}

void
pm_sched_free(pm_sched *s)
{
	if (s == NULL) {
		return;
	}
	pm_smap_walk(s->dests, sched_free_dest, NULL);
	pm_smap_walk(s->tps, sched_free_tp, NULL);
	pm_smap_free(s->dests);
	pm_smap_free(s->tps);
	free(s);
}

/* A name is bounded and has no control characters (our key separator). */
static int
sched_name_ok(const char *s, int may_be_empty)
{
	size_t len;

	if (s == NULL) {
		return (0);
	}
	len = strlen(s);
	if ((len == 0 && !may_be_empty) || len > PM_SCHED_NAME_MAX) {
		return (0);
	}
	for (; *s; s++) {
		if ((unsigned char) *s < 0x20 || *s == 0x7f) {
			return (0);
		}
	}
	return (1);
}

static sched_tp *
sched_tp_get(pm_sched *s, const char *name, int create)
{
	sched_tp *tp = pm_smap_get(s->tps, name);

	if (tp != NULL || !create) {
		return (tp);
	}
	if (s->ntp >= PM_SCHED_MAX_TRANSPORTS || !sched_name_ok(name, 0)) {
		return (NULL);
	}
	tp = pm_calloc(1, sizeof(*tp));
	tp->name = pm_strdup(name);
	tp->asked_ms = -1;
	tp->limit = s->cfg.concurrency_limit != NULL ?
	    s->cfg.concurrency_limit(s->cfg.arg, name) :
	    20;
	if (tp->limit < 1) {
		tp->limit = 1;
	}
	pm_smap_put(s->tps, name, tp);
	s->ntp++;
	return (tp);
}

static long
sched_eff_window(const pm_sched_dest *d)
{
	return (d->window < d->tp->limit ? d->window : d->tp->limit);
}

/* Insert before the cursor: served last in the current round. */
static void
ring_insert(sched_tp *tp, pm_sched_dest *d)
{
	if (d->in_ring) {
		return;
	}
	if (tp->ring == NULL) {
		d->rnext = d->rprev = d;
		tp->ring = d;
	} else {
		d->rnext = tp->ring;
		d->rprev = tp->ring->rprev;
		d->rprev->rnext = d;
		tp->ring->rprev = d;
	}
	d->in_ring = 1;
	tp->nring++;
}

static void
ring_remove(sched_tp *tp, pm_sched_dest *d)
{
	if (!d->in_ring) {
		return;
	}
	if (d->rnext == d) {
		tp->ring = NULL;
	} else {
		d->rprev->rnext = d->rnext;
		d->rnext->rprev = d->rprev;
		if (tp->ring == d) {
			tp->ring = d->rnext;
		}
	}
	d->rnext = d->rprev = NULL;
	d->in_ring = 0;
	tp->nring--;
}

/*
 * Forget a destination that is alive, healthy and idle (Postfix: an
 * empty queue). One with failures is kept (so that failures spread
 * over time still add up to a dead site) until pm_sched_expire().
 */
static void
sched_maybe_free(pm_sched *s, pm_sched_dest *d)
{
	if (d->window == 0 || d->fail_cohorts > 0 || d->nqueued > 0 ||
	    d->active > 0) {
		return;
	}
	ring_remove(d->tp, d);
	pm_smap_del(s->dests, d->key);
	sched_free_dest(NULL, d, NULL);
}

static void
sched_revive(pm_sched_dest *d)
{
	d->window = 1;
	d->dead_until = 0;
	d->fail_cohorts = 0;
}

static void
copy_str(char *dst, size_t size, const char *src)
{
	if (size == 0) {
		return;
	}
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

int
pm_sched_enqueue(pm_sched *s, pm_sched_job *j, const char *transport,
    const char *nexthop, int64_t now_ms, char *dsn, size_t dsn_size, char *text,
    size_t text_size)
{
	pm_sched_dest *d;
	sched_tp *tp;
	char *key;

	if (!sched_name_ok(transport, 0) || !sched_name_ok(nexthop, 1)) {
		return (PM_EINVAL);
	}
	key = pm_asprintf("%s\001%s", transport, nexthop);
	if ((d = pm_smap_get(s->dests, key)) == NULL) {
		if (pm_smap_count(s->dests) >= s->cfg.max_dests ||
		    (tp = sched_tp_get(s, transport, 1)) == NULL) {
			free(key);
			return (PM_ETOOBIG);
		}
		d = pm_calloc(1, sizeof(*d));
		d->key = key;
		d->nexthop = pm_strdup(nexthop);
		d->tp = tp;
		d->window = s->cfg.initial_concurrency;
		pm_smap_put(s->dests, key, d);
	} else {
		free(key);
	}
	if (d->window == 0) {
		if (now_ms < d->dead_until) {
			copy_str(dsn, dsn_size, d->dsn);
			copy_str(text, text_size, d->text);
			return (PM_EAGAIN);
		}
		sched_revive(d);
	}
	d->last_ms = now_ms;
	j->next = NULL;
	j->prev = d->tail;
	if (d->tail != NULL) {
		d->tail->next = j;
	} else {
		d->head = j;
	}
	d->tail = j;
	j->dest = d;
	j->queued_ms = now_ms;
	j->inflight = 0;
	d->nqueued++;
	s->nqueued++;
	ring_insert(d->tp, d);
	return (0);
}

void
pm_sched_asked(pm_sched *s, const char *transport, int64_t now_ms)
{
	sched_tp *tp = sched_tp_get(s, transport, 1);

	if (tp != NULL) {
		tp->asked_ms = now_ms;
	}
}

/* Unlink a queued job from its destination. */
static void
sched_unqueue(pm_sched *s, pm_sched_job *j)
{
	pm_sched_dest *d = j->dest;

	if (j->prev != NULL) {
		j->prev->next = j->next;
	} else {
		d->head = j->next;
	}
	if (j->next != NULL) {
		j->next->prev = j->prev;
	} else {
		d->tail = j->prev;
	}
	j->next = j->prev = NULL;
	d->nqueued--;
	s->nqueued--;
	if (d->nqueued == 0) {
		ring_remove(d->tp, d);
	}
}

static int
sched_can_send(const pm_sched_dest *d)
{
	return (d->window > 0 && d->nqueued > 0 &&
	    d->active < sched_eff_window(d));
}

/* Find (and with take, dispatch) the next job. */
static pm_sched_job *
sched_pick(pm_sched *s, const char *const *transports, size_t n, int take)
{
	pm_sched_dest *d;
	pm_sched_job *j;
	sched_tp *tp;
	size_t k, i;

	for (k = 0; k < n; k++) {
		if (transports[(s->rr + k) % n] == NULL) {
			continue;
		}
		tp = pm_smap_get(s->tps, transports[(s->rr + k) % n]);
		if (tp == NULL || tp->ring == NULL) {
			continue;
		}
		for (d = tp->ring, i = 0; i < tp->nring; i++, d = d->rnext) {
			if (!sched_can_send(d)) {
				continue;
			}
			j = d->head;
			if (!take) {
				return (j);
			}
			tp->ring = d->rnext; /* the next pick starts after d */
			sched_unqueue(s, j);
			j->dest = d;
			j->inflight = 1;
			d->active++;
			tp->inflight++;
			s->rr = (unsigned) ((s->rr + k + 1) % n);
			return (j);
		}
	}
	return (NULL);
}

pm_sched_job *
pm_sched_next(pm_sched *s, const char *const *transports, size_t n,
    int64_t now_ms)
{
	(void) now_ms;
	return (n == 0 ? NULL : sched_pick(s, transports, n, 1));
}

int
pm_sched_ready(pm_sched *s, const char *const *transports, size_t n,
    int64_t now_ms)
{
	(void) now_ms;
	return (n > 0 && sched_pick(s, transports, n, 0) != NULL);
}

/* The destination is dead: hand back its backlog. */
static void
sched_kill(pm_sched *s, pm_sched_dest *d, int64_t now_ms, pm_sched_drop_fn drop,
    void *arg)
{
	pm_sched_job *j;

	d->window = 0;
	d->dead_until = now_ms + s->cfg.dead_ms;
	while ((j = d->head) != NULL) {
		sched_unqueue(s, j);
		j->dest = NULL;
		if (drop != NULL) {
			drop(arg, j, d->dsn, d->text);
		}
	}
}

void
pm_sched_done(pm_sched *s, pm_sched_job *j, int outcome, const char *dsn,
    const char *text, int64_t now_ms, pm_sched_drop_fn drop, void *arg)
{
	pm_sched_dest *d = j->dest;

	PM_ASSERT(d != NULL && j->inflight);
	j->inflight = 0;
	j->dest = NULL;
	d->active--;
	d->tp->inflight--;
	d->last_ms = now_ms;
	switch (outcome) {
	case PM_SCHED_OK:
		if (d->window == 0) {
			sched_revive(d);
		}
		d->fail_cohorts = 0;
		if (d->window < d->tp->limit) {
			d->window++;
		}
		break;
	case PM_SCHED_FAIL:
		copy_str(d->dsn, sizeof(d->dsn),
		    dsn != NULL && *dsn ? dsn : "4.4.1");
		copy_str(d->text, sizeof(d->text),
		    text != NULL && *text ? text : "destination failed");
		if (d->window == 0) {
			break;
		}
		d->fail_cohorts += 1.0 / (double) sched_eff_window(d);
		if (s->cfg.cohort_limit > 0 &&
		    d->fail_cohorts + 1e-9 >= (double) s->cfg.cohort_limit) {
			sched_kill(s, d, now_ms, drop, arg);
		} else if (d->window > 1) {
			d->window--;
		}
		break;
	default:
		break;
	}
	sched_maybe_free(s, d);
}

void
pm_sched_remove(pm_sched *s, pm_sched_job *j)
{
	pm_sched_dest *d = j->dest;

	if (d == NULL || j->inflight) {
		return;
	}
	sched_unqueue(s, j);
	j->dest = NULL;
	sched_maybe_free(s, d);
}

typedef struct expire_ctx {
	pm_sched *s;
	int64_t now;
	pm_sched_drop_fn drop;
	void *arg;
	size_t dropped;
} expire_ctx;

static void
expire_tp(const char *key, void *value, void *arg)
{
	expire_ctx *x = arg;
	sched_tp *tp = value;
	pm_sched_dest **ds, *d;
	pm_sched_job *j;
	int64_t wait = x->s->cfg.transport_wait_ms;
	size_t i, n;

	(void) key;
	if (tp->ring == NULL || tp->inflight > 0 ||
	    (tp->asked_ms >= 0 && x->now - tp->asked_ms < wait)) {
		return;
	}
	n = tp->nring;
	ds = pm_malloc(n * sizeof(*ds));
	for (d = tp->ring, i = 0; i < n; i++, d = d->rnext) {
		ds[i] = d;
	}
	for (i = 0; i < n; i++) {
		d = ds[i];
		while ((j = d->head) != NULL && x->now - j->queued_ms >= wait) {
			sched_unqueue(x->s, j);
			j->dest = NULL;
			x->dropped++;
			if (x->drop != NULL) {
				x->drop(x->arg, j, "4.3.0",
				    "mail transport unavailable");
			}
		}
		sched_maybe_free(x->s, d);
	}
	free(ds);
}

/* Idle destinations kept for their failures: dead or failing ones. */
static void
expire_idle(const char *key, void *value, void *arg)
{
	expire_ctx *x = arg;
	pm_sched_dest *d = value;
	int64_t since;

	(void) key;
	if (d->nqueued > 0 || d->active > 0) {
		return;
	}
	since = d->window == 0 ? d->dead_until : d->last_ms;
	if (x->now >= since + x->s->cfg.dead_ms) {
		pm_smap_del(x->s->dests, d->key);
		sched_free_dest(NULL, d, NULL);
	}
}

size_t
pm_sched_expire(pm_sched *s, int64_t now_ms, pm_sched_drop_fn drop, void *arg)
{
	expire_ctx x = { s, now_ms, drop, arg, 0 };

	pm_smap_walk(s->tps, expire_tp, &x);
	pm_smap_walk(s->dests, expire_idle, &x);
	return (x.dropped);
}

/* postqueue -f: every dead destination is tried again (Postfix's
 * flush of dead destinations). */
static void
revive_dead(const char *key, void *value, void *arg)
{
	pm_sched_dest *d = value;

	(void) key;
	if (d->window == 0) {
		sched_revive(d);
		(*(size_t *) arg)++;
	}
}

size_t
pm_sched_flush_dead(pm_sched *s)
{
	size_t n = 0;

	pm_smap_walk(s->dests, revive_dead, &n);
	return (n);
}

long
pm_sched_window(const pm_sched *s, const char *transport, const char *nexthop)
{
	pm_sched_dest *d;
	char *key = pm_asprintf("%s\001%s", transport, nexthop);

	d = pm_smap_get(s->dests, key);
	free(key);
	return (d != NULL ? d->window : -1);
}

size_t
pm_sched_ndests(const pm_sched *s)
{
	return (pm_smap_count(s->dests));
}

size_t
pm_sched_nqueued(const pm_sched *s)
{
	return (s->nqueued);
}

const char *
pm_sched_job_transport(const pm_sched_job *j)
{
	return (j->dest != NULL ? j->dest->tp->name : NULL);
}

const char *
pm_sched_job_nexthop(const pm_sched_job *j)
{
	return (j->dest != NULL ? j->dest->nexthop : NULL);
}
