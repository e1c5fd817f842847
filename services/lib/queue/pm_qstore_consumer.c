/*
 * NAME
 *	pm_qstore_consumer - a qmgr instance's own entries and gone consumers
 * DESCRIPTION
 *	pm_qstore_claim_own() re-reads the pending entries a consumer
 *	already holds (XREADGROUP GROUP qmgr <consumer> ... STREAMS key 0,
 *	page by page): a qmgr restarted under its stable name
 *	(service_instance_name) takes back what its dead process held at
 *	once, without waiting for qmgr_lease_time. pm_qstore_reap_consumers()
 *	calls the function pm_reap on every shard: consumers of instances
 *	that are gone, whose entries were all taken over (none pending),
 *	idle at least the given time, are deleted from the group. Called by
 *	qmgr (qmgr_sched.c). See pm_qstore.h and docs/queue.md.
 * LIMITS
 *	QS_OWN_COUNT entries per XREADGROUP; the caller's max in all.
 *	Consumer names: QS_CONSUMER_MAX printable bytes.
 * SECURITY
 *	Replies from Redis are checked: an entry without a valid "qid"
 *	is acknowledged, deleted and skipped with a warning; consumer
 *	names Redis returns are made printable before they are logged.
 */
#include "pm_qstore_priv.h"
#include "pm_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QS_OWN_COUNT 256

/* One page of shard s's own pending entries after *from; 1 if full. */
static int
qs_own_page(pm_qstore *qs, const char *consumer, int s, char *from,
    size_t count, pm_qentry *out, size_t *got, pm__qs_badlist *bad)
{
	const char *argv[] = { "XREADGROUP", "GROUP", QS_GROUP, consumer,
		"COUNT", NULL, "STREAMS", NULL, from };
	char key[QS_KEY_MAX], cnt[24];
	const redisReply *st, *ents, *id;
	redisReply *r;
	pm_qentry e;
	size_t m;
	int rc;

	pm__qs_key(key, s, "incoming", NULL);
	(void) snprintf(cnt, sizeof(cnt), "%zu", count);
	argv[5] = cnt;
	argv[7] = key;
	if ((rc = pm__qs_call(qs, 9, argv, NULL, 1, &r)) < 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		return (0);
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
	    (st = r->element[0])->type != REDIS_REPLY_ARRAY ||
	    st->elements != 2 || st->element[1]->type != REDIS_REPLY_ARRAY) {
		rc = pm__qs_bad_reply(qs, key, "XREADGROUP", r);
		freeReplyObject(r);
		return (rc);
	}
	ents = st->element[1];
	for (m = 0; m < ents->elements && m < count; m++) {
		rc = pm__qs_parse_entry(ents->element[m], s, &e);
		if (rc < 0) {
			rc = pm__qs_bad_reply(qs, key, "XREADGROUP",
			    ents->element[m]);
			freeReplyObject(r);
			return (rc);
		}
		if (rc == 0) {
			pm__qs_bad_add(bad, &e); /* deleted or malformed */
		} else {
			out[(*got)++] = e;
		}
		id = ents->element[m]->element[0];
		memcpy(from, id->str, id->len);
		from[id->len] = 0;
	}
	rc = ents->elements >= count;
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_claim_own(pm_qstore *qs, const char *consumer, const int *shards,
    int nshards_sel, size_t max, pm_qentry *out, size_t *n, int *more)
{
	pm__qs_badlist bad = { NULL, 0, 0 };
	char from[QS_ID_MAX];
	size_t got = 0, count;
	int i, s, nsel, rc = 0, lrc, full;

	if (!pm__qs_consumer_ok(consumer) || out == NULL || n == NULL ||
	    more == NULL) {
		return (PM_EINVAL);
	}
	nsel = shards == NULL ? qs->nshards : nshards_sel;
	if (nsel < 1 || nsel > qs->nshards) {
		return (PM_EINVAL);
	}
	for (i = 0; i < nsel; i++) {
		s = shards == NULL ? i : shards[i];
		if (s < 0 || s >= qs->nshards) {
			return (PM_EINVAL);
		}
	}
	for (i = 0; i < nsel && rc == 0 && got < max; i++) {
		s = shards == NULL ? i : shards[i];
		strcpy(from, "0");
		do {
			count =
			    max - got < QS_OWN_COUNT ? max - got : QS_OWN_COUNT;
			rc = qs_own_page(qs, consumer, s, from, count, out,
			    &got, &bad);
		} while (rc == 1 && got < max);
		rc = rc < 0 ? rc : 0;
	}
	pm__qs_bad_flush(qs, &bad);
	full = got >= max;
	if (got > 0 && (lrc = pm__qs_lease(qs, consumer, out, &got)) < 0) {
		rc = lrc;
	}
	if (rc < 0 && got == 0) {
		return (rc);
	}
	*n = got;
	*more = full;
	return (0);
}

int
pm_qstore_reap_consumers(pm_qstore *qs, const char *self, long long min_idle_ms,
    size_t *removed)
{
	const char *argv[] = { "FCALL", "pm_reap", "1", NULL, QS_GROUP, self,
		NULL };
	char key[QS_KEY_MAX], idle[24], *name;
	const redisReply *x;
	redisReply *r;
	size_t i, k = 0;
	int s, rc = 0;

	if (!pm__qs_consumer_ok(self) || min_idle_ms < 0 || removed == NULL) {
		return (PM_EINVAL);
	}
	(void) snprintf(idle, sizeof(idle), "%lld", min_idle_ms);
	argv[3] = key;
	argv[6] = idle;
	for (s = 0; s < qs->nshards && rc == 0; s++) {
		pm__qs_key(key, s, "incoming", NULL);
		if ((rc = pm__qs_call(qs, 7, argv, NULL, 0, &r)) < 0) {
			break;
		}
		if (r->type != REDIS_REPLY_ARRAY) {
			rc = pm__qs_bad_reply(qs, key, "reap", r);
			freeReplyObject(r);
			break;
		}
		for (i = 0; i < r->elements; i++) {
			x = r->element[i];
			if (x->type != REDIS_REPLY_STRING) {
				continue;
			}
			name =
			    pm_printable_dup(x->str, x->len, QS_CONSUMER_MAX);
			pm_msg_info(
			    "%s: consumer %s removed from group %s: "
			    "no pending entries, idle for %llds or more",
			    key, name, QS_GROUP, min_idle_ms / 1000);
			free(name);
			k++;
		}
		freeReplyObject(r);
	}
	*removed = k;
	return (rc);
}
