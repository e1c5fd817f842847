/*
 * NAME
 *	qmgr_agents - which delivery agents are alive (qmgr's view)
 * SUMMARY
 *	#include "qmgr_agents.h"
 * DESCRIPTION
 *	Every delivery agent keeps a FetchRequest outstanding at each
 *	qmgr at all times: for jobs while it has free slots, else with
 *	max_jobs 0, a heartbeat qmgr holds until its wait ends. A fetch
 *	names the agent: a stable instance name ("smtp@pod-0") and an
 *	incarnation (the process's start time in us). This table keeps
 *	one entry per (name, incarnation) seen, with the fetches of it
 *	being handled and the time one last began or ended.
 *
 *	An agent is alive while a fetch of it waits here, or one ended
 *	less than qmgr_agent_timeout ago. The qmgr_agent_timeout must
 *	exceed the gap between two fetches of a live agent (the reply's
 *	way back and the next request's way in: milliseconds, plus the
 *	time a request waits for a free qmgr worker). Because that wait
 *	grows when qmgr's own workers are stuck (Redis slow), an agent
 *	counts as silent only if qmgr heard a fetch of some other agent
 *	after it: a stuck qmgr declares no one dead.
 *
 *	A fetch from a newer incarnation of a name (a restarted agent)
 *	supersedes the older ones: their waiting fetches are woken and
 *	answered empty, and an older one that does not fetch again
 *	within QMGR_AGENT_SUPERSEDED_MS is dead. One that does fetch
 *	again is a second live process with the same name (two agents
 *	on one host with the default service_instance_name): it is
 *	warned about and from then on judged by the timeout alone, so
 *	no job of a live agent is returned because of a shared name.
 *
 *	The connection a fetch came on is noted (pm_rpc_request_pipe).
 *	When it closes (nng's pipe-removal event on qmgr's socket: the
 *	kernel closes a killed process's sockets at once) the agent's
 *	waiting fetches are answered with no job, and unless a fetch of
 *	it comes again within QMGR_AGENT_GONE_MS (a live agent whose
 *	connection dropped dials again at once) it is dead: a closed
 *	connection alone never returns a live agent's jobs.
 *
 *	A kill -9'd agent is therefore noticed about QMGR_AGENT_GONE_MS
 *	after its death; one cut off without a close (host or network
 *	lost) when its outstanding fetch ends (at most
 *	qmgr_fetch_wait_limit) plus qmgr_agent_timeout; a restarted one
 *	at its first fetch plus QMGR_AGENT_SUPERSEDED_MS.
 *	What happens to the jobs is qmgr_agent_jobs.c's business.
 *
 *	qmgr_fetch_plan(): a FetchRequest says how long the agent waits
 *	for the reply (timeout_ms), as a budget relative to its sending
 *	and not as an absolute time, because the agent's and qmgr's
 *	clocks may differ between hosts (a skew of seconds would make an
 *	absolute deadline either never expire or always). qmgr counts it
 *	from when a worker takes the request and keeps
 *	QMGR_FETCH_MARGIN_MS back for the way back (transit and time in
 *	qmgr's receive queue are not seen; the margin covers them). It
 *	answers before the rest is spent, and never with jobs once it
 *	is: the jobs stay queued for a fetch that is still awaited.
 * LIMITS
 *	QMGR_AGENTS_MAX entries (more agents are served, untracked: their
 *	jobs come back by qmgr_job_timeout only); names up to
 *	QMGR_AGENT_NAME_MAX bytes, printable, no space. Lookup is linear
 *	in the number of agents (tens).
 * SECURITY
 *	Names come from agents (another role): checked before they are
 *	kept or logged. An agent can claim another's name and so make
 *	qmgr return that agent's jobs early (a duplicate delivery at
 *	worst); internal mutual TLS limits who can send fetches at all.
 */
#include "qmgr_agents.h"

#include <stdlib.h>
#include <string.h>

#include "pm_log.h"
#include "pm_util.h"

#define FULL_WARN_EVERY_MS 60000

void
qmgr_agents_init(qmgr_agents *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
}

qmgr_agent *
qmgr_agent_free(qmgr_agent *a)
{
	if (a != NULL) {
		free(a->name);
		free(a);
	}
	return (NULL);
}

static void
unlink_agent(qmgr_agents *t, qmgr_agent *a)
{
	if (a->prev != NULL) {
		a->prev->next = a->next;
	} else {
		t->head = a->next;
	}
	if (a->next != NULL) {
		a->next->prev = a->prev;
	}
	a->next = a->prev = NULL;
	t->n--;
}

void
qmgr_agents_clear(qmgr_agents *t)
{
	qmgr_agent *a;

	while ((a = t->head) != NULL) {
		unlink_agent(t, a);
		qmgr_agent_free(a);
	}
}

static int
agent_name_ok(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > QMGR_AGENT_NAME_MAX) {
		return (0);
	}
	for (; *s; s++) {
		if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f) {
			return (0);
		}
	}
	return (1);
}

qmgr_agent *
qmgr_agents_begin(qmgr_agents *t, const char *name, uint64_t inc, uint32_t pipe,
    int64_t now, int *kicked)
{
	qmgr_agent *a, *found = NULL;
	int newer = 0, shared = 0;

	*kicked = 0;
	if (!agent_name_ok(name) || inc == 0) {
		return (NULL);
	}
	for (a = t->head; a != NULL; a = a->next) {
		if (strcmp(a->name, name) != 0) {
			continue;
		}
		if (a->inc == inc) {
			found = a;
		} else if (a->inc > inc) {
			newer = 1;
		} else if (!a->superseded && !a->dup) {
			a->superseded = 1; /* a restart, unless it fetches */
			*kicked = 1;
		}
	}
	if (found == NULL) {
		if (t->n >= t->max) {
			if (t->full_warned_ms == 0 ||
			    now - t->full_warned_ms >= FULL_WARN_EVERY_MS) {
				pm_msg_warn("more than %zu delivery agents: "
				            "%s is not tracked",
				    t->max, name);
				t->full_warned_ms = now;
			}
			return (NULL);
		}
		found = pm_calloc(1, sizeof(*found));
		found->name = pm_strdup(name);
		found->inc = inc;
		found->next = t->head;
		if (t->head != NULL) {
			t->head->prev = found;
		}
		t->head = found;
		t->n++;
		/* older than a process already seen: both are alive */
		shared = newer;
	} else if (found->superseded) {
		shared = 1; /* superseded, yet it fetches: alive */
	}
	if (shared) {
		found->superseded = 0;
		found->dup = 1;
		pm_msg_warn("delivery agent %s: two live processes use this "
		            "name (service_instance_name); a restart of "
		            "either is noticed after qmgr_agent_timeout only",
		    name);
	}
	found->waiting++;
	found->last_ms = now;
	found->pipe = pipe;
	found->gone_ms = 0;
	t->heard_ms = now;
	return (found);
}

void
qmgr_agents_end(qmgr_agents *t, qmgr_agent *a, int64_t now)
{
	(void) t;
	if (a == NULL) {
		return;
	}
	PM_ASSERT(a->waiting > 0);
	a->waiting--;
	a->last_ms = now;
}

size_t
qmgr_agents_pipe_gone(qmgr_agents *t, uint32_t pipe, int64_t now)
{
	qmgr_agent *a;
	size_t n = 0;

	for (a = t->head; a != NULL && pipe != 0; a = a->next) {
		if (a->pipe == pipe && a->gone_ms == 0) {
			a->gone_ms = now > 0 ? now : 1;
			n++;
		}
	}
	return (n);
}

int
qmgr_agent_kicked(const qmgr_agent *a)
{
	return (a != NULL && (a->superseded || a->gone_ms != 0));
}

qmgr_agent *
qmgr_agents_dead(qmgr_agents *t, int64_t now, int64_t timeout_ms)
{
	qmgr_agent *a;

	for (a = t->head; a != NULL; a = a->next) {
		if (a->waiting > 0) {
			continue;
		}
		if ((a->superseded &&
		        now - a->last_ms >= QMGR_AGENT_SUPERSEDED_MS) ||
		    (a->gone_ms != 0 &&
		        now - a->gone_ms >= QMGR_AGENT_GONE_MS) ||
		    (now - a->last_ms >= timeout_ms &&
		        t->heard_ms > a->last_ms)) {
			unlink_agent(t, a);
			return (a);
		}
	}
	return (NULL);
}

int
qmgr_fetch_plan(int64_t now, uint32_t timeout_ms, uint32_t wait_ms,
    int64_t cap_ms, int64_t *deadline)
{
	int64_t wait = (int64_t) wait_ms < cap_ms ? (int64_t) wait_ms : cap_ms;

	if (wait < 0) {
		wait = 0;
	}
	if (timeout_ms == 0) {
		*deadline = now + wait; /* an older agent: no budget said */
		return (1);
	}
	if ((int64_t) timeout_ms <= QMGR_FETCH_MARGIN_MS) {
		*deadline = now;
		return (0);
	}
	if ((int64_t) timeout_ms - QMGR_FETCH_MARGIN_MS < wait) {
		wait = (int64_t) timeout_ms - QMGR_FETCH_MARGIN_MS;
	}
	*deadline = now + wait;
	return (1);
}
