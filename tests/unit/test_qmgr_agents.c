/*
 * NAME
 *	test_qmgr_agents - unit tests of qmgr's view of delivery agents
 * DESCRIPTION
 *	qmgr_fetch_plan(): a fetch whose budget is spent gets no job and
 *	is answered at once; the wait is the smallest of the agent's
 *	wait, qmgr's cap and the budget less the margin. The agent table
 *	(qmgr_agents.c), driven with a fake clock: alive while a fetch
 *	waits, dead after the timeout once another agent was heard, a
 *	restart (newer incarnation) supersedes the old process, two live
 *	processes with one name are never taken for a restart, a closed
 *	connection kills only an agent that does not fetch again within
 *	the grace, hostile
 *	names are not tracked, the table is bounded.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "qmgr_agents.h"

Test(qmgr_agents, fetch_plan)
{
	static const struct {
		int64_t now;
		uint32_t timeout_ms, wait_ms;
		int64_t cap_ms;
		int want_ok;
		int64_t want_deadline;
	} t[] = {
		/* an older agent: no budget said, wait capped */
		{ 1000, 0, 5000, 5000, 1, 6000 },
		{ 1000, 0, 9000, 5000, 1, 6000 },
		{ 1000, 0, 0, 5000, 1, 1000 },
		/* the usual case: budget = wait + 5 s */
		{ 1000, 10000, 5000, 5000, 1, 6000 },
		/* a budget shorter than the wait: answer within it */
		{ 1000, 3000, 5000, 5000, 1, 3000 },
		{ 1000, QMGR_FETCH_MARGIN_MS + 1, 5000, 5000, 1, 1001 },
		/* spent: no job, answer now */
		{ 1000, QMGR_FETCH_MARGIN_MS, 5000, 5000, 0, 1000 },
		{ 1000, 1, 5000, 5000, 0, 1000 },
		{ 7, 1, 0, 0, 0, 7 },
		/* hostile: huge values, negative cap */
		{ 1000, 0xffffffffu, 0xffffffffu, 60000, 1, 61000 },
		{ 1000, 0, 5000, -5, 1, 1000 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t dl = -1;
		int ok = qmgr_fetch_plan(t[i].now, t[i].timeout_ms,
		    t[i].wait_ms, t[i].cap_ms, &dl);

		cr_expect(ok == t[i].want_ok, "case %zu: got %d, want %d", i,
		    ok, t[i].want_ok);
		cr_expect(dl == t[i].want_deadline,
		    "case %zu: deadline got %lld, want %lld", i, (long long) dl,
		    (long long) t[i].want_deadline);
	}
}

Test(qmgr_agents, liveness)
{
	qmgr_agents t;
	qmgr_agent *a, *b, *d;
	int kicked;

	qmgr_agents_init(&t, 16);
	b = qmgr_agents_begin(&t, "smtp@b", 200, 0, 900, &kicked);
	cr_assert(b != NULL && !kicked);
	qmgr_agents_end(&t, b, 950);
	a = qmgr_agents_begin(&t, "smtp@a", 100, 0, 1000, &kicked);
	cr_assert(a != NULL && !kicked);
	/* a's fetch waits: alive however long */
	d = qmgr_agents_dead(&t, 100000, 5000);
	cr_assert(d == b, "b silent 99 s, a heard since: dead");
	qmgr_agent_free(d);
	cr_expect(qmgr_agents_dead(&t, 100000, 5000) == NULL,
	    "a has a fetch waiting: alive");
	qmgr_agents_end(&t, a, 101000);
	/* nobody heard since a went quiet: a stuck qmgr kills no one */
	cr_expect(qmgr_agents_dead(&t, 200000, 5000) == NULL,
	    "no fetch of anyone since: not dead");
	/* a's next fetch within the timeout keeps it alive */
	a = qmgr_agents_begin(&t, "smtp@a", 100, 0, 104000, &kicked);
	qmgr_agents_end(&t, a, 104001);
	b = qmgr_agents_begin(&t, "smtp@b", 200, 0, 105000, &kicked);
	cr_expect(qmgr_agents_dead(&t, 108000, 5000) == NULL,
	    "a silent 4 s < 5 s: alive");
	d = qmgr_agents_dead(&t, 109001, 5000);
	cr_expect(d == a, "a silent 5 s, b heard since: dead");
	qmgr_agent_free(d);
	cr_expect(t.n == 1, "got %zu agents, want 1", t.n);
	qmgr_agents_clear(&t);
	cr_expect(t.n == 0 && t.head == NULL);
}

Test(qmgr_agents, restart_and_shared_name)
{
	qmgr_agents t;
	qmgr_agent *old, *neu, *d;
	int kicked;

	qmgr_agents_init(&t, 16);
	old = qmgr_agents_begin(&t, "smtp@x", 100, 0, 1000, &kicked);
	cr_assert(!qmgr_agent_kicked(old));
	/* a restart: a newer incarnation supersedes the old process */
	neu = qmgr_agents_begin(&t, "smtp@x", 200, 0, 2000, &kicked);
	cr_expect(kicked, "a newer incarnation must kick the old one");
	cr_expect(qmgr_agent_kicked(old), "old fetches answer now");
	cr_expect(!qmgr_agent_kicked(neu));
	cr_expect(qmgr_agents_dead(&t, 2500, 60000) == NULL,
	    "old still has a fetch waiting");
	qmgr_agents_end(&t, old, 2500);
	cr_expect(qmgr_agents_dead(&t, 2500 + QMGR_AGENT_SUPERSEDED_MS - 1,
	              60000) == NULL,
	    "superseded, silent less than the grace: not yet");
	d = qmgr_agents_dead(&t, 2500 + QMGR_AGENT_SUPERSEDED_MS, 60000);
	cr_expect(d == old, "superseded and silent: dead at once");
	qmgr_agent_free(d);
	qmgr_agents_clear(&t);

	/* two live processes, one name: the older one fetches again */
	qmgr_agents_init(&t, 16);
	old = qmgr_agents_begin(&t, "smtp@y", 100, 0, 1000, &kicked);
	neu = qmgr_agents_begin(&t, "smtp@y", 200, 0, 1000, &kicked);
	qmgr_agents_end(&t, old, 1001);
	old = qmgr_agents_begin(&t, "smtp@y", 100, 0, 1002, &kicked);
	cr_expect(!qmgr_agent_kicked(old), "alive: no longer superseded");
	cr_expect(!kicked, "the older process kicks no one");
	qmgr_agents_end(&t, old, 1003);
	neu = qmgr_agents_begin(&t, "smtp@y", 200, 0, 1004, &kicked);
	cr_expect(!kicked && !qmgr_agent_kicked(old),
	    "no ping-pong between two live processes");
	cr_expect(qmgr_agents_dead(&t, 1003 + QMGR_AGENT_SUPERSEDED_MS,
	              60000) == NULL,
	    "a shared name is judged by the timeout alone");
	qmgr_agents_clear(&t);

	/* seen newer first (qmgr restarted): the older one is shared */
	qmgr_agents_init(&t, 16);
	neu = qmgr_agents_begin(&t, "smtp@z", 200, 0, 1000, &kicked);
	old = qmgr_agents_begin(&t, "smtp@z", 100, 0, 1000, &kicked);
	cr_expect(!kicked && !qmgr_agent_kicked(old) &&
	    !qmgr_agent_kicked(neu));
	qmgr_agents_clear(&t);
}

Test(qmgr_agents, connection_closed)
{
	qmgr_agents t;
	qmgr_agent *a, *b, *d;
	int kicked;

	qmgr_agents_init(&t, 16);
	a = qmgr_agents_begin(&t, "smtp@a", 100, 7, 1000, &kicked);
	b = qmgr_agents_begin(&t, "smtp@b", 100, 8, 1000, &kicked);
	cr_expect(qmgr_agents_pipe_gone(&t, 0, 1100) == 0, "pipe 0 unknown");
	cr_expect(qmgr_agents_pipe_gone(&t, 7, 1100) == 1);
	cr_expect(qmgr_agent_kicked(a), "a's waiting fetch answers now");
	cr_expect(!qmgr_agent_kicked(b));
	qmgr_agents_end(&t, a, 1101);
	cr_expect(qmgr_agents_dead(&t, 1100 + QMGR_AGENT_GONE_MS - 1, 60000) ==
	        NULL,
	    "closed less than the grace ago: not yet");
	/* a live agent dials again and fetches: not dead */
	a = qmgr_agents_begin(&t, "smtp@a", 100, 9, 1500, &kicked);
	cr_expect(!qmgr_agent_kicked(a), "a fetch again clears it");
	qmgr_agents_end(&t, a, 1600);
	cr_expect(qmgr_agents_dead(&t, 1100 + QMGR_AGENT_GONE_MS, 60000) ==
	    NULL);
	/* now it dies: closed, no fetch within the grace */
	cr_expect(qmgr_agents_pipe_gone(&t, 9, 2000) == 1);
	d = qmgr_agents_dead(&t, 2000 + QMGR_AGENT_GONE_MS, 60000);
	cr_expect(d == a, "closed and silent past the grace: dead");
	qmgr_agent_free(d);
	cr_expect(qmgr_agents_dead(&t, 2000 + QMGR_AGENT_GONE_MS, 60000) ==
	        NULL,
	    "b has a fetch waiting");
	qmgr_agents_clear(&t);
}

Test(qmgr_agents, hostile_and_bounded)
{
	static const char *bad[] = { "", "a b", "a\tb", "a\x7f", "\xc3\xa9" };
	char longname[QMGR_AGENT_NAME_MAX + 2], name[32];
	qmgr_agents t;
	size_t i;
	int kicked;

	qmgr_agents_init(&t, 4);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect(qmgr_agents_begin(&t, bad[i], 1, 0, 1, &kicked) ==
		        NULL,
		    "bad name %zu tracked", i);
	}
	cr_expect(qmgr_agents_begin(&t, NULL, 1, 0, 1, &kicked) == NULL);
	cr_expect(qmgr_agents_begin(&t, "ok", 0, 0, 1, &kicked) == NULL,
	    "incarnation 0 (an older agent) is not tracked");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	cr_expect(qmgr_agents_begin(&t, longname, 1, 0, 1, &kicked) == NULL);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "smtp@%zu", i);
		qmgr_agent *a = qmgr_agents_begin(&t, name, 1, 0, 1, &kicked);

		cr_expect((a != NULL) == (i < 4), "agent %zu: tracked %d", i,
		    a != NULL);
	}
	cr_expect(t.n == 4, "got %zu agents, want 4", t.n);
	qmgr_agents_clear(&t);
}
