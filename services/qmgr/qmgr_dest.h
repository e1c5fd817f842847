/*
 * NAME
 *	qmgr_dest - queue manager scheduling: destinations, slow start, dead
 *	destinations, round-robin, job grouping, retry backoff
 * SUMMARY
 *	#include "qmgr_dest.h"
 * DESCRIPTION
 *	The pure logic of qmgr's scheduler (docs/scheduling.md), without
 *	Redis, nng or threads, so that it can be unit-tested. Not
 *	thread-safe: qmgr calls it under its own lock. Times are
 *	milliseconds on a monotonic clock, passed in by the caller.
 *
 *	A destination is (transport, nexthop). Each has a FIFO of queued
 *	jobs, a number of jobs in flight and a concurrency window:
 *	- slow start: the window starts at initial_destination_concurrency
 *	  and grows by one after each delivery that reached the
 *	  destination, up to the transport's concurrency limit
 *	  (<transport>_destination_concurrency_limit);
 *	- a delivery whose destination failed (connect, greeting) shrinks
 *	  the window by one (never below 1) and adds 1/window to the
 *	  destination's failed pseudo-cohort count (Postfix's name: a
 *	  pseudo-cohort is as many deliveries as the window); when that
 *	  count reaches default_destination_concurrency_failed_cohort_limit
 *	  the destination is dead: the window becomes 0, every queued job
 *	  is handed back to the caller with the last failure reason, and
 *	  new jobs are refused (PM_EAGAIN) until dead_ms passes; then the
 *	  destination is tried again with a window of 1. A success resets
 *	  the failure count.
 *	- an idle destination (no job queued or in flight) that is alive
 *	  and has no failures counted is forgotten, as Postfix deletes an
 *	  empty queue; one with failures is kept, so that failures spread
 *	  over time (one message after another) still make a dead site,
 *	  until it has been idle for dead_ms (pm_sched_expire()).
 *
 *	pm_sched_next() picks the next job for the transports an agent
 *	serves: transports in rotation, and within a transport the
 *	destinations with queued jobs in a ring, each pick moving the
 *	cursor past the destination it served: one huge backlog to one
 *	destination never starves the others.
 *
 *	Transports are served only when agents ask for them:
 *	pm_sched_expire() hands back jobs queued for at least
 *	transport_wait_ms on a transport that no agent asked for within
 *	that time and that has no job in flight.
 *
 *	pm_sched_group() splits a message's resolved recipients into jobs
 *	by destination, at most limit(transport) recipients each.
 *	pm_sched_backoff() is the retry delay after a deferral.
 *
 * LIMITS
 *	At most max_dests destinations (pm_sched_enqueue answers
 *	PM_ETOOBIG past it) and PM_SCHED_MAX_TRANSPORTS transports
 *	(asks for more transports are ignored). Names longer than
 *	PM_SCHED_NAME_MAX bytes are refused (PM_EINVAL).
 * SECURITY
 *	Transport names come from agents (fetch requests): they only
 *	select among existing transports or create a bounded record.
 */
#ifndef PM_SCHED_H
#define PM_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "pm_smap.h"
#include "pm_util.h"

#define PM_SCHED_MAX_TRANSPORTS 256
#define PM_SCHED_NAME_MAX 1024

/*
 * Retry delay in seconds after the attempts-th failed attempt:
 * clamp(min_s * 2^(attempts-1), min_s, max_s); attempts < 1 counts as 1.
 */
int64_t pm_sched_backoff(int64_t min_s, int64_t max_s, int attempts);

/*
 * Group n recipients into jobs. transport[i]/nexthop[i] is where
 * recipient i goes, or transport[i] == NULL for a recipient that needs
 * no job (already done). job_of[i] receives the job number of
 * recipient i (0 .. result-1, in order of first appearance), SIZE_MAX
 * for skipped ones. Recipients of one destination fill its jobs in
 * order, at most limit(arg, transport) each (a limit below 1 counts
 * as 1). Returns the number of jobs.
 */
typedef long (*pm_sched_limit_fn)(void *arg, const char *transport);
size_t pm_sched_group(const char *const *transport, const char *const *nexthop,
    size_t n, pm_sched_limit_fn limit, void *arg, size_t *job_of);

/* Delivery feedback for pm_sched_done(). */
#define PM_SCHED_OK 0      /* the destination was reached */
#define PM_SCHED_FAIL 1    /* the destination failed (dead-site counting) */
#define PM_SCHED_NEUTRAL 2 /* nothing learned (timeout, agent stopping) */

typedef struct pm_sched pm_sched;
typedef struct pm_sched_dest pm_sched_dest;

/* Embed in the caller's job; the caller owns the memory. */
typedef struct pm_sched_job {
	struct pm_sched_job *next;
	struct pm_sched_job *prev;
	pm_sched_dest *dest;
	int64_t queued_ms;
	int inflight;
} pm_sched_job;

typedef struct pm_sched_cfg {
	long initial_concurrency;  /* initial_destination_concurrency */
	long cohort_limit;         /* failed cohort limit; 0 = never dead */
	int64_t dead_ms;           /* minimal_backoff_time */
	int64_t transport_wait_ms; /* qmgr_transport_wait */
	size_t max_dests;
	/* <transport>_destination_concurrency_limit (at least 1) */
	long (*concurrency_limit)(void *arg, const char *transport);
	void *arg;
} pm_sched_cfg;

/* A job handed back without an attempt, with the reason. */
typedef void (*pm_sched_drop_fn)(void *arg, pm_sched_job *j, const char *dsn,
    const char *text);

pm_sched *pm_sched_new(const pm_sched_cfg *cfg);
/* Free the scheduler; jobs still queued or in flight are forgotten. */
void pm_sched_free(pm_sched *s);

/*
 * Queue a job for (transport, nexthop). 0; PM_EAGAIN when the
 * destination is dead (the job is not queued; its last failure is
 * copied to dsn/text); PM_ETOOBIG when there are max_dests
 * destinations; PM_EINVAL for a bad name.
 */
int pm_sched_enqueue(pm_sched *s, pm_sched_job *j, const char *transport,
    const char *nexthop, int64_t now_ms, char *dsn, size_t dsn_size, char *text,
    size_t text_size);

/* An agent asked for work for this transport. */
void pm_sched_asked(pm_sched *s, const char *transport, int64_t now_ms);

/*
 * The next job that may be dispatched for one of the transports, now
 * in flight; NULL if none. pm_sched_ready() says whether there is one
 * without taking it.
 */
pm_sched_job *pm_sched_next(pm_sched *s, const char *const *transports,
    size_t n, int64_t now_ms);
int pm_sched_ready(pm_sched *s, const char *const *transports, size_t n,
    int64_t now_ms);

/*
 * An in-flight job is back, with feedback PM_SCHED_*; dsn/text is the
 * failure reason (for FAIL). When the destination dies, each of its
 * queued jobs is removed and passed to drop() (which may free it).
 */
void pm_sched_done(pm_sched *s, pm_sched_job *j, int outcome, const char *dsn,
    const char *text, int64_t now_ms, pm_sched_drop_fn drop, void *arg);

/* A queued job leaves without an attempt. */
void pm_sched_remove(pm_sched *s, pm_sched_job *j);

/*
 * Hand back the jobs of transports nobody serves (see DESCRIPTION)
 * with "4.3.0 mail transport unavailable", and forget idle
 * destinations kept for their failures: a dead one dead_ms after its
 * dead time ended, a failing one dead_ms after its last activity.
 * Returns jobs dropped.
 */
size_t pm_sched_expire(pm_sched *s, int64_t now_ms, pm_sched_drop_fn drop,
    void *arg);

/* Every dead destination alive again (window 1, failures forgotten);
 * returns how many (postqueue -f). */
size_t pm_sched_flush_dead(pm_sched *s);
/* Introspection: the window of a destination (0 = dead, -1 = unknown). */
long pm_sched_window(const pm_sched *s, const char *transport,
    const char *nexthop);
size_t pm_sched_ndests(const pm_sched *s);
/* Jobs queued (not in flight) in all destinations. */
size_t pm_sched_nqueued(const pm_sched *s);

/* The transport and nexthop of a queued or in-flight job. */
const char *pm_sched_job_transport(const pm_sched_job *j);
const char *pm_sched_job_nexthop(const pm_sched_job *j);

#endif
