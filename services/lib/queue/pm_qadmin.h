/*
 * NAME
 *	pm_qadmin - the operator's view of the queue: walk it page by
 *	page, find one message, hold, release, requeue, delete, flush
 * SUMMARY
 *	#include "pm_qadmin.h"
 * DESCRIPTION
 *	For postqueue(1), mailq(1) and postsuper(1) (services/cli). Where
 *	a message is (Postfix's queue names):
 *	  incoming  an entry in pm:{S}:incoming no qmgr has claimed
 *	  active    an entry pending for a qmgr (being delivered)
 *	  deferred  in pm:{S}:deferred
 *	  hold      in pm:{S}:hold
 *	pm_qa_expire() marks a message force-expired (postsuper -e/-f).
 *	pm_qa_walk_*() go through the queues of every shard a page at a
 *	time (XRANGE + XPENDING pipelined, ZSCAN, SSCAN), never the whole
 *	queue at once; they are safe while messages are removed.
 *	The changes are one script call per message on its shard
 *	(docs/queue.md, "Operator commands"). A message taken away from
 *	the qmgr that holds it (hold, requeue of active mail) gets a new
 *	lease epoch, so that qmgr's fenced finish/defer/hold are refused
 *	(PM_ELOST) and it drops the message.
 * LIMITS
 *	PM_QA_PAGE ids per round trip; PM_QA_READ_BATCH messages per
 *	read pipeline.
 * SECURITY
 *	Queue ids are checked with pm_qid_valid() before use in a key.
 */
#ifndef PM_QADMIN_H
#define PM_QADMIN_H

#include <stddef.h>

#include "pm_qstore.h"

#define PM_QA_PAGE 100

/* Queue bits (Postfix's names: pm_qa_queue_name). */
#define PM_QA_INCOMING 1u
#define PM_QA_ACTIVE 2u
#define PM_QA_DEFERRED 4u
#define PM_QA_HOLD 8u
#define PM_QA_ALL 15u

/* "incoming", "active", "deferred", "hold". */
const char *pm_qa_queue_name(unsigned queue);
/* A queue name to its bit, 0 if unknown. */
unsigned pm_qa_queue_bit(const char *name);

typedef struct pm_qa_item {
	char qid[PM_QID_LEN + 1];
	unsigned queue; /* one PM_QA_* bit */
	int shard;
	char entry[48]; /* stream entry id (incoming, active), else "" */
} pm_qa_item;

typedef struct pm_qa_walk pm_qa_walk;
/* A walk over the queues in mask, shard after shard. */
pm_qa_walk *pm_qa_walk_new(pm_qstore *qs, int nshards, unsigned mask);
/* The next page: *items (valid until the next call), *n of them, about
 * PM_QA_PAGE; *n = 0 at the end. 0 or PM_EREDIS. */
int pm_qa_walk_next(pm_qa_walk *w, const pm_qa_item **items, size_t *n);
pm_qa_walk *pm_qa_walk_free(pm_qa_walk *w);

/*
 * The messages of items[0..n-1], n <= PM_QA_READ_BATCH, in one
 * pipeline (HGETALL m, HGETALL r each): out[i] is the message, or NULL
 * when it is gone (or corrupt, or a key of the wrong type: logged).
 * 0 or PM_EREDIS (out[] all NULL). Caller frees with pm_qmsg_free().
 */
#define PM_QA_READ_BATCH 16
int pm_qa_read(pm_qstore *qs, const pm_qa_item *items, size_t n, pm_qmsg **out);

/*
 * Where qid is: hold, deferred, or its stream entry (looked for page
 * by page in its shard's stream). PM_ENOENT when the message is not
 * queued; PM_EINVAL for a bad queue id.
 */
int pm_qa_find(pm_qstore *qs, int nshards, const char *qid, pm_qa_item *out);

/*
 * The changes, each atomic on the message's shard (one script that
 * works out where the message is now: *it may be stale; a message
 * that moved meanwhile is found again and the change retried).
 * Return 0 when done,
 * PM_ENOENT when the message is gone (or, for release, not on hold;
 * for hold, already on hold; for flush_one, not deferred), PM_EREDIS.
 */
int pm_qa_delete(pm_qstore *qs, const pm_qa_item *it);
int pm_qa_hold(pm_qstore *qs, const pm_qa_item *it);
int pm_qa_release(pm_qstore *qs, const pm_qa_item *it);
int pm_qa_requeue(pm_qstore *qs, const pm_qa_item *it);
int pm_qa_flush_one(pm_qstore *qs, const pm_qa_item *it);

/*
 * Force expiry (postsuper -e, -f): the envelope field "expire" is set
 * wherever the message is; qmgr returns it to the sender at its next
 * delivery attempt (qmgr_msg.c). With release, a held message also goes
 * to the deferred queue, due now, and *released is 1. 0, PM_ENOENT
 * (gone), PM_EREDIS.
 */
int pm_qa_expire(pm_qstore *qs, const pm_qa_item *it, int release,
    int *released);

/*
 * postqueue -s site (pm_qa_site.c): every deferred message with a
 * recipient not done yet at site (its domain, or "[address]") back to
 * incoming now, one pm_qa_flush_one() each; *moved counts them. 0 or
 * PM_EREDIS. pm_qa_site_valid(): 1 for a usable site (1..255 bytes,
 * no '@', no space or control character).
 */
int pm_qa_site_valid(const char *site);
int pm_qa_flush_site(pm_qstore *qs, int nshards, const char *site,
    size_t *moved);

/* Every deferred message of every shard back to incoming now. */
int pm_qa_flush(pm_qstore *qs, int nshards, size_t *moved);

/*
 * The flush request counter (PM_QA_FLUSH_KEY, one small key without a
 * TTL): postqueue -f raises it (pm_qa_flush_request); each qmgr reads
 * it every second (pm_qa_flush_count; 0 when absent) and, when it grew,
 * tries its dead destinations again and flushes. A smaller count (the
 * key was deleted, a new Redis) is only recorded, not a request.
 */
#define PM_QA_FLUSH_KEY "pm:flush"
int pm_qa_flush_request(pm_qstore *qs);
int pm_qa_flush_count(pm_qstore *qs, long long *count);

#endif
