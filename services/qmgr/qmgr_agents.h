/*
 * NAME
 *	qmgr_agents - which delivery agents are alive (qmgr's view)
 * DESCRIPTION
 *	See qmgr_agents.c. The table is a plain structure so that unit
 *	tests can drive it with their own clock; qmgr keeps one
 *	(qmgr_agent_jobs.c) under qmgr.mu.
 */
#ifndef QMGR_AGENTS_H
#define QMGR_AGENTS_H

#include <stddef.h>
#include <stdint.h>

/* Agents tracked at once; more are served but not tracked. */
#define QMGR_AGENTS_MAX 4096
#define QMGR_AGENT_NAME_MAX 200
/* A superseded incarnation that does not fetch again this long is dead. */
#define QMGR_AGENT_SUPERSEDED_MS 2000
/*
 * Its connection closed and no fetch of it came since for this long:
 * dead (a live agent whose connection dropped dials again at once).
 */
#define QMGR_AGENT_GONE_MS 3000
/* Time kept back from a fetch's budget for the reply's way back. */
#define QMGR_FETCH_MARGIN_MS 1000

typedef struct qmgr_agent {
	char *name;      /* "smtp@pod-0" */
	uint64_t inc;    /* incarnation: process start time, us */
	int waiting;     /* its fetches being handled now */
	uint32_t pipe;   /* connection of its last fetch (0: unknown) */
	int64_t gone_ms; /* that connection closed then (0: open) */
	int64_t last_ms; /* a fetch of it began or ended */
	int superseded;  /* a newer incarnation of the name fetched */
	int dup;         /* fetched again after that: two live processes */
	struct qmgr_agent *next;
	struct qmgr_agent *prev;
} qmgr_agent;

typedef struct qmgr_agents {
	qmgr_agent *head;
	size_t n;
	size_t max;
	int64_t heard_ms; /* a fetch of any agent began */
	int64_t full_warned_ms;
} qmgr_agents;

void qmgr_agents_init(qmgr_agents *t, size_t max);
/* Free every entry (at exit). */
void qmgr_agents_clear(qmgr_agents *t);

/*
 * A fetch of (name, inc) begins at now: the entry (made if new), its
 * waiting count raised. *kicked is set when older incarnations of the
 * name were superseded (the caller wakes their waiting fetches). NULL
 * (not tracked) for an empty or bad name, inc 0, or a full table.
 */
qmgr_agent *qmgr_agents_begin(qmgr_agents *t, const char *name, uint64_t inc,
    uint32_t pipe, int64_t now, int *kicked);
/*
 * Connection pipe closed at now: agents whose last fetch came on it
 * are marked (their waiting fetches answer now, with no job). Returns
 * how many.
 */
size_t qmgr_agents_pipe_gone(qmgr_agents *t, uint32_t pipe, int64_t now);
/* That fetch ended (answered) at now. a may be NULL. */
void qmgr_agents_end(qmgr_agents *t, qmgr_agent *a, int64_t now);
/* 1 if a fetch of a should answer now, with no job (superseded, or
 * its connection closed). */
int qmgr_agent_kicked(const qmgr_agent *a);

/*
 * The first dead agent, unlinked (the caller returns its jobs and
 * frees it), or NULL. Dead: no fetch of it is waiting, and either it
 * was superseded and silent QMGR_AGENT_SUPERSEDED_MS, or its
 * connection closed QMGR_AGENT_GONE_MS ago, or it has been
 * silent timeout_ms while qmgr heard a fetch of another agent since
 * (so a qmgr whose workers are all stuck declares no one dead).
 */
qmgr_agent *qmgr_agents_dead(qmgr_agents *t, int64_t now, int64_t timeout_ms);
qmgr_agent *qmgr_agent_free(qmgr_agent *a);

/*
 * The plan of one fetch received at now: the agent waits timeout_ms
 * for the reply (0: not said), asks for a wait of wait_ms, qmgr caps
 * it at cap_ms. Sets *deadline (when to answer at the latest) and
 * returns 1 if jobs may be handed out before it, 0 if the budget is
 * spent (answer at once, with no job: the agent gives up first).
 */
int qmgr_fetch_plan(int64_t now, uint32_t timeout_ms, uint32_t wait_ms,
    int64_t cap_ms, int64_t *deadline);

#endif
