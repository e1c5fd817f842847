/*
 * NAME
 *	qmgr_retry - finish from memory what Redis did not take
 * SUMMARY
 *	#include "qmgr.h"
 * DESCRIPTION
 *	When Redis is down (killed, restarting, loading its append file)
 *	qmgr keeps working from memory: agents go on delivering the jobs
 *	they have, and what must be written afterwards waits here instead
 *	of being dropped (which left the entry pending until another
 *	qmgr_lease_time, and re-delivered what an agent had delivered but
 *	could not record):
 *	- a message whose end of pass failed (a final status, the finish,
 *	  the defer: qmgr_msg.c returns QMGR_RETRY) stays in qmgr.msgs,
 *	  counted in the active limits, its lease refreshed with the
 *	  others, and goes on the message list;
 *	- an entry intake claimed but could not read goes on the entry
 *	  list.
 *	qmgr_retry_run(), from the scheduler thread every second, first
 *	refreshes the leases of what it holds (pm_qstore_touch: an entry
 *	another consumer took meanwhile is dropped, as in
 *	qmgr_msg_lose()); if Redis answers, it completes the messages
 *	again (qmgr_msg_complete_list: statuses first, then notices not
 *	yet queued, then finish or defer) and reads the entries again
 *	(qmgr_intake_entries). A failure puts them back for the next
 *	second.
 * LIMITS
 *	RETRY_BATCH messages and entries per pass. Messages are bounded by
 *	qmgr_message_active_limit (they stay counted); entries by
 *	RETRY_ENTRIES_MAX (more are left to the lease takeover, logged).
 * SECURITY
 *	Only qmgr's own state; Redis replies are checked by pm_qstore.
 */
#include "qmgr.h"
#include "qmgr_params.h"

#include <stdlib.h>
#include <string.h>

#include "pm_log.h"

#define RETRY_BATCH 256
#define RETRY_ENTRIES_MAX 10000

static qmgr_msg *retry_head; /* under qmgr.mu */
static qmgr_msg *retry_tail;
static size_t retry_nmsgs;
static pm_qentry *retry_ents; /* under qmgr.mu */
static size_t retry_nents;

int
qmgr_retry_rc(int rc)
{
	return (rc == PM_EREDIS || rc == PM_EFULL);
}

static void
retry_gauge(void)
{
	pm_metric_set(qmgr_m.retry_messages,
	    (int64_t) (retry_nmsgs + retry_nents));
}

void
qmgr_retry_add(qmgr_msg *msg)
{
	msg->retry = 1;
	msg->rnext = NULL;
	if (retry_tail != NULL) {
		retry_tail->rnext = msg;
	} else {
		retry_head = msg;
	}
	retry_tail = msg;
	retry_nmsgs++;
	retry_gauge();
}

void
qmgr_retry_entry_add(const pm_qentry *e)
{
	pthread_mutex_lock(&qmgr.mu);
	if (retry_nents >= RETRY_ENTRIES_MAX) {
		pthread_mutex_unlock(&qmgr.mu);
		pm_msg_warn("%s: more than %d unread entries wait for Redis: "
		            "left to the lease takeover",
		    e->qid, RETRY_ENTRIES_MAX);
		return;
	}
	if (retry_ents == NULL) {
		retry_ents = pm_calloc(RETRY_ENTRIES_MAX, sizeof(*retry_ents));
	}
	retry_ents[retry_nents++] = *e;
	retry_gauge();
	pthread_mutex_unlock(&qmgr.mu);
}

/* Take up to RETRY_BATCH messages and entries off the lists. */
static size_t
retry_take(qmgr_msg **msgs, size_t *nmsgs, pm_qentry *ents)
{
	size_t n = 0, k = 0;
	qmgr_msg *msg;

	pthread_mutex_lock(&qmgr.mu);
	while (retry_head != NULL && n < RETRY_BATCH) {
		msg = retry_head;
		retry_head = msg->rnext;
		msg->rnext = NULL;
		msg->retry = 2; /* taken: failed once, not on the list */
		msgs[n++] = msg;
		retry_nmsgs--;
	}
	if (retry_head == NULL) {
		retry_tail = NULL;
	}
	if (retry_nents > 0) {
		k = retry_nents < RETRY_BATCH ? retry_nents : RETRY_BATCH;
		retry_nents -= k;
		memcpy(ents, retry_ents + retry_nents, k * sizeof(*ents));
	}
	pthread_mutex_unlock(&qmgr.mu);
	*nmsgs = n;
	return (k);
}

/* Redis still down: everything back on the lists. */
static void
retry_put_back(qmgr_msg **msgs, size_t n, const pm_qentry *ents, size_t k)
{
	size_t i;

	pthread_mutex_lock(&qmgr.mu);
	for (i = 0; i < n; i++) {
		qmgr_retry_add(msgs[i]);
	}
	for (i = 0; i < k && retry_nents < RETRY_ENTRIES_MAX; i++) {
		retry_ents[retry_nents++] = ents[i];
	}
	retry_gauge();
	pthread_mutex_unlock(&qmgr.mu);
}

void
qmgr_retry_run(pm_qstore *qs)
{
	qmgr_msg *msgs[RETRY_BATCH], *list = NULL, *done = NULL;
	pm_qentry all[2 * RETRY_BATCH], ents[RETRY_BATCH];
	unsigned char lost[2 * RETRY_BATCH];
	size_t n, k, i, nk = 0;

	k = retry_take(msgs, &n, ents);
	if (n == 0 && k == 0) {
		return;
	}
	for (i = 0; i < n; i++) {
		all[i] = msgs[i]->e;
	}
	memcpy(all + n, ents, k * sizeof(*ents));
	/* still ours? (and a full lease from now on) */
	if (pm_qstore_touch(qs, qmgr.consumer, all, n + k, lost) != 0) {
		retry_put_back(msgs, n, ents, k);
		return;
	}
	pthread_mutex_lock(&qmgr.mu);
	for (i = 0; i < n; i++) {
		if (lost[i] && !msgs[i]->lost) {
			pm_msg_warn("%s: lease lost while Redis was away: "
			            "entry %s is held by another consumer now",
			    msgs[i]->e.qid, msgs[i]->e.id);
			pm_metric_inc(qmgr_m.leases_lost);
			qmgr_msg_lose(msgs[i], &done);
		}
		msgs[i]->cnext = list;
		list = msgs[i];
	}
	retry_gauge();
	pthread_mutex_unlock(&qmgr.mu);
	PM_ASSERT(done == NULL); /* no holds left on these messages */
	for (i = 0; i < k; i++) {
		if (!lost[n + i]) {
			ents[nk++] = ents[i];
		}
	}
	qmgr_msg_complete_list(qs, list); /* failures come back here */
	qmgr_intake_entries(qs, ents, nk, 0);
}

void
qmgr_retry_forget(void)
{
	pthread_mutex_lock(&qmgr.mu);
	retry_head = retry_tail = NULL;
	retry_nmsgs = 0;
	retry_nents = 0;
	free(retry_ents);
	retry_ents = NULL;
	pthread_mutex_unlock(&qmgr.mu);
}
