/*
 * NAME
 *	pm_qstore_fence - lease epochs: fencing qmgr's writes
 * SUMMARY
 *	#include "pm_qstore.h"
 * DESCRIPTION
 *	Every claim of an entry (pm_qstore_claim_new, _stale, _own) ends
 *	with pm__qs_lease(): the function pm_lease, one call per entry,
 *	pipelined, checks that the entry is pending for the claiming
 *	consumer and records in the message hash "lease_owner" (the
 *	consumer) and "lease_epoch" (HINCRBY: 1, 2, ...). The entry keeps
 *	both (pm_qentry.owner, .epoch). From then on finish, defer and hold
 *	of that entry, and pm_qstore_rcpt_status_fenced(), pass "owner
 *	epoch" to their function, which refuses ("-LOST", PM_ELOST) and
 *	writes nothing unless the entry is pending for nobody else and the
 *	message's lease is still that owner's with that epoch. So a qmgr
 *	that lost a message (stopped past the lease, another qmgr took it,
 *	or a second process under the same name took it back) can no
 *	longer finish or defer it. pm_qstore_touch (pm_lease_touch)
 *	reports such an entry lost too.
 *
 *	Not fenced: the agents' compare-and-set status writes
 *	(pm_qstore_rcpt_cas): a recipient an agent delivered is a fact,
 *	and refusing to record it would deliver it again.
 * LIMITS
 *	QS_LEASE_BATCH pm_lease calls per round trip.
 * SECURITY
 *	Replies are checked for type; an entry Redis says is not the
 *	consumer's is dropped from the claim, never used.
 */
#include "pm_qstore_priv.h"
#include "pm_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QS_LEASE_BATCH 256

int
pm__qs_fence_args(const pm_qentry *e, const char **argv, int argc, char *epoch)
{
	if (e->epoch == 0) {
		return (argc);
	}
	(void) snprintf(epoch, 24, "%" PRIu64, e->epoch);
	argv[argc++] = e->owner;
	argv[argc++] = epoch;
	return (argc);
}

/* Append the pm_lease calls of e[0..n). */
static int
qs_lease_append(pm_qstore *qs, const char *consumer, const pm_qentry *e,
    size_t n)
{
	const char *argv[] = { "FCALL", "pm_lease", "2", NULL, NULL, QS_GROUP,
		NULL, consumer };
	char inc[QS_KEY_MAX], m[QS_KEY_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		pm__qs_key(inc, e[i].shard, "incoming", NULL);
		pm__qs_key(m, pm_qid_shard(e[i].qid, qs->nshards), "m",
		    e[i].qid);
		argv[3] = inc;
		argv[4] = m;
		argv[6] = e[i].id;
		if (pm__qs_appendv(qs, 8, argv) < 0) {
			return (PM_EREDIS);
		}
	}
	return (0);
}

/*
 * One round trip for e[0..n): epochs into e[], keep[i] = 0 for the
 * entries that are not the consumer's. PM_EAGAIN: the library was
 * missing and is loaded now (call again).
 */
static int
qs_lease_batch(pm_qstore *qs, const char *consumer, pm_qentry *e, size_t n,
    unsigned char *keep)
{
	redisReply **rv;
	size_t i;
	int rc = 0;

	if (pm__qs_conn(qs) == NULL ||
	    qs_lease_append(qs, consumer, e, n) < 0) {
		return (PM_EREDIS);
	}
	rv = pm_calloc(n, sizeof(*rv));
	if (pm__qs_read(qs, rv, n) < 0) {
		free(rv);
		return (PM_EREDIS);
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (pm__qs_is_nofunc(rv[i])) {
			rc = pm_qstore_load_functions(qs);
			rc = rc < 0 ? rc : PM_EAGAIN;
		} else if (rv[i]->type != REDIS_REPLY_INTEGER) {
			rc = pm__qs_bad_reply(qs, e[i].qid, "lease", rv[i]);
		} else if (rv[i]->integer < 0) {
			keep[i] = 0;
		} else {
			keep[i] = 1;
			e[i].epoch = (uint64_t) rv[i]->integer;
			(void) snprintf(e[i].owner, sizeof(e[i].owner), "%s",
			    consumer);
		}
	}
	pm__qs_free_replies(rv, n);
	free(rv);
	return (rc);
}

int
pm__qs_lease(pm_qstore *qs, const char *consumer, pm_qentry *e, size_t *n)
{
	unsigned char *keep;
	size_t i, k, got = 0;
	int rc = 0, tries;

	if (*n == 0) {
		return (0);
	}
	keep = pm_calloc(*n, 1);
	for (i = 0; i < *n && rc == 0; i += k) {
		k = *n - i < QS_LEASE_BATCH ? *n - i : QS_LEASE_BATCH;
		tries = 0;
		do {
			rc = qs_lease_batch(qs, consumer, e + i, k, keep + i);
		} while (rc == PM_EAGAIN && ++tries < 2);
	}
	if (rc != 0) {
		pm_msg_warn("consumer %s: cannot give %zu claimed entries a "
		            "lease epoch: %s; they are taken up again later",
		    consumer, *n, pm_strerror(rc));
		*n = 0;
		free(keep);
		return (rc);
	}
	for (i = 0; i < *n; i++) {
		if (keep[i]) {
			if (got != i) {
				e[got] = e[i];
			}
			got++;
		} else {
			pm_msg_info("%s: entry %s was taken by another "
			            "consumer while %s claimed it",
			    e[i].qid, e[i].id, consumer);
		}
	}
	*n = got;
	free(keep);
	return (0);
}

int
pm_qstore_rcpt_status_fenced(pm_qstore *qs, const pm_qentry *e, size_t index,
    const char *status, const char *dsn, const char *text, int *changed)
{
	pm_qrcpt_final f;
	int rc;

	if (!pm__qs_entry_ok(qs, e)) {
		return (PM_EINVAL);
	}
	rc = pm__qs_rcpt_call(qs, e->qid, index, status, dsn, text, e, &f);
	if (rc == 0 && changed != NULL) {
		*changed = f.changed;
	}
	return (rc);
}
