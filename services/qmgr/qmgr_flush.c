/*
 * NAME
 *	qmgr_flush - postqueue -f: try dead destinations again, flush
 * DESCRIPTION
 *	qmgr_flush_check() runs on the scheduler thread every second. It
 *	reads the flush request counter (pm_qa_flush_count); when it
 *	grew since the last look, every destination this qmgr marked
 *	dead is alive again (pm_sched_flush_dead) and every deferred
 *	message goes back to incoming (pm_qa_flush), in that order, so the
 *	flushed mail is not deferred again at once by a dead destination.
 *	(postqueue -f flushes too, for a qmgr without this check; mail it
 *	moved that meets a dead destination is moved again here.) The
 *	first look only records the counter, and so does a smaller count
 *	(the key was deleted or Redis replaced): only growth is a request.
 * LIMITS
 *	One GET per second per qmgr.
 */
#include "qmgr.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_qadmin.h"

void
qmgr_flush_check(pm_qstore *qs)
{
	static long long last = -1;
	long long count;
	size_t revived, moved = 0;
	int rc;

	if (pm_qa_flush_count(qs, &count) != 0 || count == last) {
		return;
	}
	if (last < 0 || count < last) {
		last = count; /* the first look, or a reset: no request */
		return;
	}
	last = count;
	pthread_mutex_lock(&qmgr.mu);
	revived = pm_sched_flush_dead(qmgr.sched);
	pthread_mutex_unlock(&qmgr.mu);
	rc = pm_qa_flush(qs, (int) var_queue_shards, &moved);
	pm_msg_info("flush request: %zu dead destination(s) tried again, "
	            "%zu deferred message(s) queued%s",
	    revived, moved, rc != 0 ? " (deferred queue scan failed)" : "");
}
