/*
 * NAME
 *	pm_qstore_claim - claim queue entries and keep their leases
 * DESCRIPTION
 *	pm_qstore_claim_new (XREADGROUP over several shards in one
 *	command), pm_qstore_claim_stale (XAUTOCLAIM: the entries of a
 *	dead consumer) and pm_qstore_touch (function pm_lease_touch: refresh
 *	the idle time of the entries a consumer still owns). Called by
 *	qmgr. See pm_qstore.h ("Delivery side") and docs/queue.md.
 *
 *	"NOGROUP" on a claim (Redis lost its data) recreates the groups
 *	with pm_qstore_load_functions() and retries once.
 * LIMITS
 *	QS_CONSUMER_MAX bytes of consumer name; QS_TOUCH_BATCH ids per
 *	pm_lease_touch call; QS_CLAIM_ROUNDS extra round trips for streams that
 *	had more; QS_STALE_ROUNDS calls of at most QS_STALE_COUNT per
 *	shard for a takeover. A blocking claim waits at most
 *	QS_BLOCK_MAX_MS.
 * SECURITY
 *	Consumer names, shards and entries are checked before use.
 *	Stream entries from Redis are checked: an entry without a valid
 *	"qid" is acknowledged, deleted and skipped with a warning. A
 *	claim never returns more than the caller's max, so no entry is
 *	claimed that the caller does not know of.
 */
#include "pm_qstore_priv.h"
#include "pm_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define QS_TOUCH_BATCH 1000
#define QS_CLAIM_ROUNDS 4 /* re-reads of streams that had more */
#define QS_STALE_ROUNDS 64
#define QS_STALE_COUNT 1000
#define QS_BLOCK_MAX_MS (3600 * 1000)

int
pm__qs_consumer_ok(const char *c)
{
	size_t i;

	if (c == NULL || c[0] == 0) {
		return (0);
	}
	for (i = 0; c[i] != 0; i++) {
		if (i >= QS_CONSUMER_MAX || c[i] <= ' ' || c[i] > '~') {
			return (0);
		}
	}
	return (1);
}

void
pm__qs_bad_add(pm__qs_badlist *b, const pm_qentry *e)
{
	char key[QS_KEY_MAX];

	pm__qs_key(key, e->shard, "incoming", NULL);
	pm_msg_warn("%s: entry %s has no valid queue id: removed", key, e->id);
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 8;
		b->v = pm_realloc(b->v, b->cap * sizeof(*b->v));
	}
	b->v[b->n].shard = e->shard;
	memcpy(b->v[b->n].id, e->id, QS_ID_MAX);
	b->n++;
}

void
pm__qs_bad_flush(pm_qstore *qs, pm__qs_badlist *b)
{
	const char *ack[] = { "XACK", NULL, QS_GROUP, NULL };
	const char *del[] = { "XDEL", NULL, NULL };
	char key[QS_KEY_MAX];
	redisReply **rv;
	size_t i;

	if (b->n == 0 || pm__qs_conn(qs) == NULL) {
		free(b->v);
		return;
	}
	for (i = 0; i < b->n; i++) {
		pm__qs_key(key, b->v[i].shard, "incoming", NULL);
		ack[1] = del[1] = key;
		ack[3] = del[2] = b->v[i].id;
		if (pm__qs_appendv(qs, 4, ack) < 0 ||
		    pm__qs_appendv(qs, 3, del) < 0) {
			free(b->v);
			return;
		}
	}
	rv = pm_calloc(2 * b->n, sizeof(*rv));
	if (pm__qs_read(qs, rv, 2 * b->n) == 0) {
		for (i = 0; i < 2 * b->n; i++) {
			if (rv[i]->type != REDIS_REPLY_INTEGER) {
				pm__qs_warn_reply(b->v[i / 2].id,
				    "remove malformed entry", rv[i]);
			}
		}
		pm__qs_free_replies(rv, 2 * b->n);
	}
	free(rv);
	free(b->v);
}

/*
 * The shards of a claim: all when shards is NULL, each at most once,
 * starting at a rotating offset so that no shard is always served
 * last.
 */
static int
qs_select(pm_qstore *qs, const int *shards, int nsel, int **out)
{
	unsigned char *seen;
	int *sel, i, s, start;

	if (shards == NULL) {
		nsel = qs->nshards;
	}
	if (nsel < 1 || nsel > qs->nshards) {
		return (PM_EINVAL);
	}
	seen = pm_calloc((size_t) qs->nshards, 1);
	sel = pm_malloc((size_t) nsel * sizeof(*sel));
	start = (int) (qs->claim_rr++ % (unsigned) nsel);
	for (i = 0; i < nsel; i++) {
		s = shards ? shards[(start + i) % nsel] : (start + i) % nsel;
		if (s < 0 || s >= qs->nshards || seen[s]) {
			free(seen);
			free(sel);
			return (PM_EINVAL);
		}
		seen[s] = 1;
		sel[i] = s;
	}
	free(seen);
	*out = sel;
	return (nsel);
}

static int
qs_set_timeout(pm_qstore *qs, long long ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t) (ms / 1000);
	tv.tv_usec = (suseconds_t) ((ms % 1000) * 1000);
	if (redisSetTimeout(qs->c, tv) != REDIS_OK) {
		pm__qs_drop(qs, "cannot set timeout");
		return (PM_EREDIS);
	}
	return (0);
}

/* Claim new entries. */

/*
 * One XREADGROUP over the k shards in act[] with COUNT count. Appends
 * valid entries to out[*got .. max), malformed ones to bad; full[j] is
 * set when shard act[j] returned count entries (it may have more).
 */
static int
qs_xreadgroup(pm_qstore *qs, const char *consumer, const int *act, int k,
    size_t count, int block_ms, pm_qentry *out, size_t *got, size_t max,
    pm__qs_badlist *bad, unsigned char *full)
{
	char(*keys)[QS_KEY_MAX] = pm_malloc((size_t) k * QS_KEY_MAX);
	const char **argv = pm_malloc((size_t) (9 + 2 * k) * sizeof(*argv));
	char cnt[24], blk[24];
	const redisReply *st, *ents;
	redisReply *r = NULL;
	pm_qentry e;
	size_t i, m;
	int argc = 0, j, rc;

	(void) snprintf(cnt, sizeof(cnt), "%zu", count);
	(void) snprintf(blk, sizeof(blk), "%d", block_ms);
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = QS_GROUP;
	argv[argc++] = consumer;
	argv[argc++] = "COUNT";
	argv[argc++] = cnt;
	if (block_ms > 0) {
		argv[argc++] = "BLOCK";
		argv[argc++] = blk;
	}
	argv[argc++] = "STREAMS";
	for (j = 0; j < k; j++) {
		pm__qs_key(keys[j], act[j], "incoming", NULL);
		argv[argc++] = keys[j];
		full[j] = 0;
	}
	for (j = 0; j < k; j++) {
		argv[argc++] = ">";
	}
	if (block_ms > 0 &&
	    (pm__qs_conn(qs) == NULL ||
	        qs_set_timeout(qs, (long long) qs->timeout_ms + block_ms) <
	            0)) {
		rc = PM_EREDIS;
		goto out;
	}
	rc = pm__qs_call(qs, argc, argv, NULL, 1, &r);
	if (block_ms > 0 && qs->c != NULL) {
		/* On failure the connection is dropped; the reply is good. */
		(void) qs_set_timeout(qs, qs->timeout_ms);
	}
	if (rc < 0) {
		goto out;
	}
	if (r->type == REDIS_REPLY_NIL) {
		goto out; /* nothing new (or BLOCK timed out) */
	}
	if (r->type != REDIS_REPLY_ARRAY) {
		rc = pm__qs_bad_reply(qs, "incoming", "XREADGROUP", r);
		goto out;
	}
	for (i = 0; i < r->elements && rc == 0; i++) {
		st = r->element[i];
		if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
		    !pm__qs_is_str(st->element[0]) ||
		    st->element[1]->type != REDIS_REPLY_ARRAY) {
			rc = pm__qs_bad_reply(qs, "incoming", "XREADGROUP", st);
			break;
		}
		for (j = 0; j < k; j++) {
			if (strlen(keys[j]) == st->element[0]->len &&
			    memcmp(keys[j], st->element[0]->str,
			        st->element[0]->len) == 0) {
				break;
			}
		}
		ents = st->element[1];
		if (j == k) {
			rc = pm__qs_bad_reply(qs, "incoming", "XREADGROUP", st);
			break;
		}
		full[j] = (ents->elements >= count);
		for (m = 0; m < ents->elements; m++) {
			rc = pm__qs_parse_entry(ents->element[m], act[j], &e);
			if (rc < 0) {
				rc = pm__qs_bad_reply(qs, keys[j], "XREADGROUP",
				    ents->element[m]);
				break;
			}
			if (rc == 0) {
				pm__qs_bad_add(bad, &e);
			} else if (*got < max) {
				out[(*got)++] = e;
			} else {
				/* Not asked for; a later takeover gets it. */
				pm_msg_warn("%s: XREADGROUP returned more than "
				            "COUNT",
				    keys[j]);
			}
			rc = 0;
		}
	}
out:
	if (r != NULL) {
		freeReplyObject(r);
	}
	free(keys);
	free(argv);
	return (rc);
}

int
pm_qstore_claim_new(pm_qstore *qs, const char *consumer, const int *shards,
    int nshards_sel, size_t max, int block_ms, pm_qentry *out, size_t *n)
{
	pm__qs_badlist bad = { NULL, 0, 0 };
	unsigned char *full;
	size_t got = 0, left, count;
	int *sel, *todo, *again, nsel, ntodo, nagain = 0, k, j;
	int rounds = 0, block = 0, blocked = 0, rc = 0, lrc;

	if (!pm__qs_consumer_ok(consumer) || block_ms < 0 || out == NULL ||
	    n == NULL) {
		return (PM_EINVAL);
	}
	if ((nsel = qs_select(qs, shards, nshards_sel, &sel)) < 0) {
		return (nsel);
	}
	if (block_ms > QS_BLOCK_MAX_MS) {
		block_ms = QS_BLOCK_MAX_MS;
	}
	full = pm_malloc((size_t) nsel);
	todo = pm_malloc((size_t) nsel * sizeof(*todo));
	again = pm_malloc((size_t) nsel * sizeof(*again));
	memcpy(todo, sel, (size_t) nsel * sizeof(*todo));
	ntodo = nsel;

	/*
	 * COUNT applies per stream, so one XREADGROUP over k streams asks
	 * each for (max - got) / k entries and never gets more than max.
	 * With more shards than max, the shards are read in windows of
	 * max (without blocking). Streams that returned a full COUNT may
	 * hold more: they are asked again for what is left, at most
	 * QS_CLAIM_ROUNDS times. A claim blocks on its whole selection
	 * when that fits in one call (nsel <= max), else, after a scan
	 * that found nothing, on the first window.
	 */
	while (got < max && rc == 0) {
		block = 0;
		if (ntodo == 0) {
			if (nagain > 0 && rounds < QS_CLAIM_ROUNDS) {
				memcpy(todo, again,
				    (size_t) nagain * sizeof(*todo));
				ntodo = nagain;
				nagain = 0;
				rounds++;
			} else if (got == 0 && block_ms > 0 && !blocked) {
				ntodo = nsel < (int) max ? nsel : (int) max;
				memcpy(todo, sel,
				    (size_t) ntodo * sizeof(*todo));
				block = 1;
			} else {
				break;
			}
		} else if (ntodo == nsel && (size_t) nsel <= max &&
		    block_ms > 0 && !blocked) {
			block = 1;
		}
		blocked |= block;
		left = max - got;
		k = (size_t) ntodo > left ? (int) left : ntodo;
		count = left / (size_t) k;
		rc = qs_xreadgroup(qs, consumer, todo, k, count,
		    block ? block_ms : 0, out, &got, max, &bad, full);
		for (j = 0; j < k && rc == 0; j++) {
			if (full[j]) {
				again[nagain++] = todo[j];
			}
		}
		memmove(todo, todo + k, (size_t) (ntodo - k) * sizeof(*todo));
		ntodo -= k;
	}
	pm__qs_bad_flush(qs, &bad);
	free(sel);
	free(todo);
	free(again);
	free(full);
	if (got > 0 && (lrc = pm__qs_lease(qs, consumer, out, &got)) < 0) {
		rc = lrc;
	}
	/* Entries already claimed are returned even after a failure. */
	if (rc < 0 && got == 0) {
		return (rc);
	}
	*n = got;
	return (0);
}

/* Take over stale entries. */

int
pm_qstore_claim_stale(pm_qstore *qs, const char *consumer, const int *shards,
    int nshards_sel, long long min_idle_ms, size_t max, pm_qentry *out,
    size_t *n)
{
	const char *argv[] = { "XAUTOCLAIM", NULL, QS_GROUP, NULL, NULL, NULL,
		"COUNT", NULL };
	pm__qs_badlist bad = { NULL, 0, 0 };
	char key[QS_KEY_MAX], idle[24], cursor[QS_ID_MAX], cnt[24];
	const redisReply *ents, *cur;
	redisReply *r;
	size_t got = 0, m, want;
	pm_qentry e;
	int *sel, nsel, i, round, rc = 0, lrc;

	if (!pm__qs_consumer_ok(consumer) || min_idle_ms < 0 || out == NULL ||
	    n == NULL) {
		return (PM_EINVAL);
	}
	if ((nsel = qs_select(qs, shards, nshards_sel, &sel)) < 0) {
		return (nsel);
	}
	(void) snprintf(idle, sizeof(idle), "%lld", min_idle_ms);
	argv[1] = key;
	argv[3] = consumer;
	argv[4] = idle;
	argv[5] = cursor;
	argv[7] = cnt;
	for (i = 0; i < nsel && got < max && rc == 0; i++) {
		pm__qs_key(key, sel[i], "incoming", NULL);
		strcpy(cursor, "0-0");
		for (round = 0; round < QS_STALE_ROUNDS && got < max; round++) {
			want = max - got;
			if (want > QS_STALE_COUNT) {
				want = QS_STALE_COUNT;
			}
			(void) snprintf(cnt, sizeof(cnt), "%zu", want);
			if ((rc = pm__qs_call(qs, 8, argv, NULL, 1, &r)) < 0) {
				break;
			}
			if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
			    !pm__qs_is_str(cur = r->element[0]) ||
			    !pm__qs_id_ok(cur->str, cur->len) ||
			    r->element[1]->type != REDIS_REPLY_ARRAY) {
				rc = pm__qs_bad_reply(qs, key, "XAUTOCLAIM", r);
				freeReplyObject(r);
				break;
			}
			ents = r->element[1];
			for (m = 0; m < ents->elements; m++) {
				rc = pm__qs_parse_entry(ents->element[m],
				    sel[i], &e);
				if (rc < 0) {
					rc = pm__qs_bad_reply(qs, key,
					    "XAUTOCLAIM", ents->element[m]);
					break;
				}
				if (rc == 0) {
					pm__qs_bad_add(&bad, &e);
				} else if (got < max) {
					out[got++] = e;
				}
				rc = 0;
			}
			memcpy(cursor, cur->str, cur->len);
			cursor[cur->len] = 0;
			freeReplyObject(r);
			if (rc < 0 || strcmp(cursor, "0-0") == 0) {
				break;
			}
		}
	}
	pm__qs_bad_flush(qs, &bad);
	free(sel);
	if (got > 0 && (lrc = pm__qs_lease(qs, consumer, out, &got)) < 0) {
		rc = lrc;
	}
	if (rc < 0 && got == 0) {
		return (rc);
	}
	*n = got;
	return (0);
}

/* Refresh leases. */

/*
 * One pm_lease_touch call for the entries of shard s from index *from on;
 * lost[i] = 1 for each entry Redis says this consumer no longer holds.
 */
static int
qs_touch_shard(pm_qstore *qs, const char *consumer, const pm_qentry *e,
    size_t n, int s, size_t *from, unsigned char *lost)
{
	const char **argv = pm_malloc((6 + 3 * QS_TOUCH_BATCH) * sizeof(*argv));
	size_t *idx = pm_malloc(QS_TOUCH_BATCH * sizeof(*idx));
	char(*mkey)[QS_KEY_MAX] = pm_malloc(QS_TOUCH_BATCH * QS_KEY_MAX);
	char(*ep)[24] = pm_malloc(QS_TOUCH_BATCH * 24);
	char key[QS_KEY_MAX];
	const redisReply *x;
	redisReply *r;
	size_t i, j, k = 0;
	int argc = 0, rc;

	pm__qs_key(key, s, "incoming", NULL);
	argv[argc++] = "FCALL";
	argv[argc++] = "pm_lease_touch";
	argv[argc++] = "1";
	argv[argc++] = key;
	argv[argc++] = QS_GROUP;
	argv[argc++] = consumer;
	for (i = *from; i < n && k < QS_TOUCH_BATCH; i++) {
		if (e[i].shard == s) {
			/* the lease epoch is checked too (0: not fenced) */
			pm__qs_key(mkey[k], pm_qid_shard(e[i].qid, qs->nshards),
			    "m", e[i].qid);
			(void) snprintf(ep[k], sizeof(ep[k]), "%llu",
			    strcmp(e[i].owner, consumer) == 0 ?
			        (unsigned long long) e[i].epoch :
			        0ULL);
			argv[argc++] = e[i].id;
			argv[argc++] = mkey[k];
			argv[argc++] = ep[k];
			idx[k++] = i;
		}
	}
	*from = i;
	if (k == 0) {
		rc = 0;
		goto out;
	}
	if ((rc = pm__qs_call(qs, argc, argv, NULL, 0, &r)) < 0) {
		goto out;
	}
	if (r->type != REDIS_REPLY_ARRAY) {
		rc = pm__qs_bad_reply(qs, key, "touch", r);
	} else {
		for (i = 0; i < r->elements; i++) {
			x = r->element[i];
			if (!pm__qs_is_str(x)) {
				continue;
			}
			/* only ids of this call count (Redis is checked too) */
			for (j = 0; j < k; j++) {
				if (strlen(e[idx[j]].id) == x->len &&
				    memcmp(e[idx[j]].id, x->str, x->len) == 0) {
					break;
				}
			}
			if (j == k) {
				continue;
			}
			if (lost != NULL) {
				lost[idx[j]] = 1;
			} else {
				pm_msg_warn(
				    "%s: entry %s is no longer held by "
				    "%s: taken over by another consumer",
				    key, e[idx[j]].id, consumer);
			}
		}
	}
	freeReplyObject(r);
out:
	free(ep);
	free(mkey);
	free(idx);
	free(argv);
	return (rc);
}

int
pm_qstore_touch(pm_qstore *qs, const char *consumer, const pm_qentry *e,
    size_t n, unsigned char *lost)
{
	unsigned char *done;
	size_t i, from;
	int rc = 0;

	if (!pm__qs_consumer_ok(consumer) || (n > 0 && e == NULL)) {
		return (PM_EINVAL);
	}
	for (i = 0; i < n; i++) {
		if (!pm__qs_entry_ok(qs, &e[i])) {
			return (PM_EINVAL);
		}
	}
	if (lost != NULL && n > 0) {
		memset(lost, 0, n);
	}
	done = pm_calloc((size_t) qs->nshards, 1);
	for (i = 0; i < n && rc == 0; i++) {
		if (done[e[i].shard]) {
			continue;
		}
		done[e[i].shard] = 1;
		from = i;
		while (from < n && rc == 0) {
			rc = qs_touch_shard(qs, consumer, e, n, e[i].shard,
			    &from, lost);
		}
	}
	free(done);
	return (rc);
}
