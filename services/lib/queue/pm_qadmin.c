/*
 * NAME
 *	pm_qadmin - the operator's view of the queue (postqueue, postsuper)
 * DESCRIPTION
 *	See pm_qadmin.h. A walk keeps, per shard, a phase (stream,
 *	deferred, hold) and a cursor: the last stream entry id read
 *	(XRANGE with an exclusive start) or the ZSCAN/SSCAN cursor, so
 *	messages removed during a walk (postsuper -d ALL) neither stop
 *	it nor make it skip others. A stream page is XRANGE and XPENDING
 *	over the same start, pipelined: the pending ones are "active".
 *
 *	The changes are one Lua script (EVAL, QA_LUA below) per message;
 *	every key it touches carries the message's hash tag. A stream
 *	entry is only removed when it still names the message. Deleting
 *	is pm_qstore_delete() (m, r, body, deferred, hold; fs bodies)
 *	and then the entry: a qmgr that is delivering the message sees it
 *	gone (its lease refresh reports the entry lost, its finish or
 *	defer finds no message and writes nothing; agents' status writes
 *	answer NOENT), so nothing brings it back.
 * LIMITS
 *	PM_QA_PAGE ids per round trip; pm_qa_find() reads a shard's
 *	stream QA_FIND_PAGE entries per round trip. A change whose message
 *	keeps moving is tried QA_RETRIES times; pm_qa_flush() moves at
 *	most QA_FLUSH_ROUNDS pages per shard.
 * SECURITY
 *	Queue ids from the operator and from Redis are checked with
 *	pm_qid_valid() before use; reply types are checked.
 */
#include "pm_qadmin.h"
#include "pm_qstore_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QA_FIND_PAGE 1000
#define QA_FLUSH_ROUNDS 1000 /* pages of QA_FIND_PAGE per shard per flush */
#define QA_RETRIES 3         /* tries of a change whose message moves */

/*
 * KEYS m incoming deferred hold; ARGV op qid entry group now_ms.
 * Returns 1 done, 0 nothing to do, -1 no such message, 3 done and
 * released from hold (expire_release), 2 moved: the
 * message is not where the caller saw it (not in hold or deferred, and
 * the stream entry given is gone or names another message), so the
 * caller finds it again (qa_op). Mail that leaves the hold queue loses
 * the SUBMIT_HOLD envelope flag (unhold) that cleanup set for a
 * header_checks HOLD, or qmgr would put it back on hold at once;
 * expire_release clears it wherever the message is (a message cleanup
 * flagged but qmgr has not yet held is in incoming). The
 * script works out the state itself:
 * what the caller saw may be stale (a qmgr defers, holds or requeues
 * the message between pm_qa_find and here).
 */
static const char QA_LUA[] =
    "local m, inc, dfr, hold = KEYS[1], KEYS[2], KEYS[3], KEYS[4]\n"
    "local op, qid, id, grp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
    "for i, w in ipairs({'hash', 'stream', 'zset', 'set'}) do\n"
    "  local t = redis.call('TYPE', KEYS[i])['ok']\n"
    "  if t ~= w and t ~= 'none' then\n"
    "    return redis.error_reply('WRONGTYPE ' .. KEYS[i])\n"
    "  end\n"
    "end\n"
    "local function names()\n"
    "  if id == '' or redis.call('EXISTS', inc) == 0 then return false end\n"
    "  local e = redis.call('XRANGE', inc, id, id)\n"
    "  if #e == 0 then return false end\n"
    "  local f = e[1][2]\n"
    "  for i = 1, #f - 1, 2 do\n"
    "    if f[i] == 'qid' and f[i + 1] == qid then return true end\n"
    "  end\n"
    "  return false\n"
    "end\n"
    "local function pending()\n"
    "  local p = redis.pcall('XPENDING', inc, grp, id, id, 1)\n"
    "  return type(p) == 'table' and p.err == nil and #p > 0\n"
    "end\n"
    "local function drop()\n"
    "  redis.pcall('XACK', inc, grp, id)\n"
    "  redis.call('XDEL', inc, id)\n"
    "end\n"
    "local function unhold()\n"
    "  local f = tonumber(redis.call('HGET', m, 'flags') or '0')\n"
    "  if f ~= nil and f % 8 >= 4 then\n"
    "    redis.call('HSET', m, 'flags', tostring(f - 4))\n"
    "  end\n"
    "end\n"
    "if op == 'drop' then\n"
    "  if not names() then return 0 end\n"
    "  drop()\n"
    "  return 1\n"
    "end\n"
    "if redis.call('EXISTS', m) == 0 then return -1 end\n"
    "if op == 'hold' then\n"
    "  if redis.call('SISMEMBER', hold, qid) == 1 then return 0 end\n"
    "  if redis.call('ZREM', dfr, qid) == 0 then\n"
    "    if not names() then return 2 end\n"
    "    drop()\n"
    "  end\n"
    "  redis.call('HINCRBY', m, 'lease_epoch', 1)\n"
    "  redis.call('SADD', hold, qid)\n"
    "  return 1\n"
    "elseif op == 'release' then\n"
    "  if redis.call('SREM', hold, qid) == 0 then return 0 end\n"
    "  unhold()\n"
    "  redis.call('ZADD', dfr, ARGV[5], qid)\n"
    "  return 1\n"
    "elseif op == 'requeue' then\n"
    "  if redis.call('SREM', hold, qid) == 0 and\n"
    "      redis.call('ZREM', dfr, qid) == 0 then\n"
    "    if not names() then return 2 end\n"
    "    redis.call('HSET', m, 'next_attempt', '0')\n"
    "    if not pending() then return 1 end\n"
    "    drop()\n"
    "    redis.call('HINCRBY', m, 'lease_epoch', 1)\n"
    "  end\n"
    "  unhold()\n"
    "  redis.call('HSET', m, 'next_attempt', '0')\n"
    "  redis.call('XADD', inc, '*', 'qid', qid)\n"
    "  return 1\n"
    "elseif op == 'expire' or op == 'expire_release' then\n"
    "  redis.call('HSET', m, 'expire', '1')\n"
    "  if op == 'expire_release' then\n"
    "    unhold()\n"
    "    if redis.call('SREM', hold, qid) == 1 then\n"
    "      redis.call('ZADD', dfr, ARGV[5], qid)\n"
    "      return 3\n"
    "    end\n"
    "  end\n"
    "  return 1\n"
    "elseif op == 'flush' then\n"
    "  if redis.call('ZREM', dfr, qid) == 0 then return 0 end\n"
    "  redis.call('HSET', m, 'next_attempt', '0')\n"
    "  redis.call('XADD', inc, '*', 'qid', qid)\n"
    "  return 1\n"
    "end\n"
    "return redis.error_reply('bad operation')\n";

const char *
pm_qa_queue_name(unsigned queue)
{
	switch (queue) {
	case PM_QA_INCOMING:
		return ("incoming");
	case PM_QA_ACTIVE:
		return ("active");
	case PM_QA_DEFERRED:
		return ("deferred");
	case PM_QA_HOLD:
		return ("hold");
	default:
		return ("unknown");
	}
}

unsigned
pm_qa_queue_bit(const char *name)
{
	unsigned b;

	for (b = 1; b <= PM_QA_HOLD; b <<= 1) {
		if (strcmp(name, pm_qa_queue_name(b)) == 0) {
			return (b);
		}
	}
	return (0);
}

/* Walk. */

enum { PH_STREAM, PH_DEFERRED, PH_HOLD, PH_DONE };

struct pm_qa_walk {
	pm_qstore *qs;
	int nshards;
	unsigned mask;
	int shard;
	int phase;
	int started;                /* the phase's first call was made */
	char cursor[QS_ID_MAX + 1]; /* last entry id, or scan cursor */
	char stop[QS_ID_MAX + 1];   /* the stream's last id at the start */
	pm_qa_item *page;           /* the page handed out */
	size_t cap;
};

pm_qa_walk *
pm_qa_walk_new(pm_qstore *qs, int nshards, unsigned mask)
{
	pm_qa_walk *w = pm_malloc(sizeof(*w));

	memset(w, 0, sizeof(*w));
	w->qs = qs;
	w->nshards = nshards > 0 ? nshards : 1;
	w->mask = mask;
	return (w);
}

pm_qa_walk *
pm_qa_walk_free(pm_qa_walk *w)
{
	if (w != NULL) {
		free(w->page);
	}
	free(w);
	return (NULL);
}

static int
phase_wanted(const pm_qa_walk *w)
{
	switch (w->phase) {
	case PH_STREAM:
		return ((w->mask & (PM_QA_INCOMING | PM_QA_ACTIVE)) != 0);
	case PH_DEFERRED:
		return ((w->mask & PM_QA_DEFERRED) != 0);
	case PH_HOLD:
		return ((w->mask & PM_QA_HOLD) != 0);
	default:
		return (1);
	}
}

/* The next phase (or shard); 0 when the walk is over. */
static int
advance(pm_qa_walk *w)
{
	w->started = 0;
	w->cursor[0] = 0;
	w->stop[0] = 0;
	do {
		if (++w->phase == PH_DONE) {
			w->phase = PH_STREAM;
			if (++w->shard >= w->nshards) {
				w->phase = PH_DONE;
				return (0);
			}
		}
	} while (!phase_wanted(w));
	return (1);
}

/* Stream entry ids "ms-seq": a after b? */
static int
id_after(const char *a, const char *b)
{
	unsigned long long am, as = 0, bm, bs = 0;
	char *e;

	am = strtoull(a, &e, 10);
	if (*e == '-') {
		as = strtoull(e + 1, NULL, 10);
	}
	bm = strtoull(b, &e, 10);
	if (*e == '-') {
		bs = strtoull(e + 1, NULL, 10);
	}
	return (am > bm || (am == bm && as > bs));
}

/* Room for one more item in the page. */
static pm_qa_item *
page_slot(pm_qa_walk *w, size_t n)
{
	if (n >= w->cap) {
		w->cap = w->cap == 0 ? PM_QA_PAGE : w->cap * 2;
		w->page = pm_realloc(w->page, w->cap * sizeof(*w->page));
	}
	return (&w->page[n]);
}

/* Is id among the pending entries of reply p (XPENDING extended)? */
static int
is_pending(const redisReply *p, const char *id)
{
	size_t i;
	const redisReply *e;

	if (p == NULL || p->type != REDIS_REPLY_ARRAY) {
		return (0);
	}
	for (i = 0; i < p->elements; i++) {
		e = p->element[i];
		if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
		    pm__qs_is_str(e->element[0]) &&
		    strcmp(e->element[0]->str, id) == 0) {
			return (1);
		}
	}
	return (0);
}

/* One stream page: XRANGE and XPENDING from the cursor, pipelined. */
static int
walk_stream(pm_qa_walk *w, size_t max, size_t *n)
{
	pm_qa_item *it;
	const char *xr[6], *xp[7], *xl[6];
	char key[QS_KEY_MAX], start[QS_ID_MAX + 2], cnt[24];
	redisReply *rv[3] = { NULL, NULL, NULL };
	size_t nr = w->started ? 2 : 3;
	const redisReply *r;
	pm_qentry e;
	size_t i;
	unsigned q;
	int rc = 0;

	pm__qs_key(key, w->shard, "incoming", NULL);
	if (w->started) {
		(void) snprintf(start, sizeof(start), "(%s", w->cursor);
	} else {
		(void) snprintf(start, sizeof(start), "-");
	}
	(void) snprintf(cnt, sizeof(cnt), "%zu", max);
	xr[0] = "XRANGE", xr[1] = key, xr[2] = start, xr[3] = "+";
	xr[4] = "COUNT", xr[5] = cnt;
	xp[0] = "XPENDING", xp[1] = key, xp[2] = QS_GROUP, xp[3] = start;
	xp[4] = "+", xp[5] = cnt;
	/* At the start, the last entry: entries added later (requeued by
	 * this walk's caller) are not walked. */
	xl[0] = "XREVRANGE", xl[1] = key, xl[2] = "+", xl[3] = "-";
	xl[4] = "COUNT", xl[5] = "1";
	if (pm__qs_conn(w->qs) == NULL || pm__qs_appendv(w->qs, 6, xr) < 0 ||
	    pm__qs_appendv(w->qs, 6, xp) < 0 ||
	    (nr == 3 && pm__qs_appendv(w->qs, 6, xl) < 0) ||
	    pm__qs_read(w->qs, rv, nr) < 0) {
		return (PM_EREDIS);
	}
	if (nr == 3) {
		r = rv[2];
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
		    r->element[0]->type == REDIS_REPLY_ARRAY &&
		    r->element[0]->elements == 2 &&
		    pm__qs_is_str(r->element[0]->element[0]) &&
		    r->element[0]->element[0]->len < sizeof(w->stop)) {
			memcpy(w->stop, r->element[0]->element[0]->str,
			    r->element[0]->element[0]->len + 1);
		} else {
			w->stop[0] = 0; /* empty: nothing to walk */
		}
	}
	w->started = 1;
	r = rv[0];
	if (r->type != REDIS_REPLY_ARRAY) {
		rc = pm__qs_bad_reply(w->qs, key, "list", r);
		goto out;
	}
	if (r->elements == 0 || w->stop[0] == 0) {
		(void) advance(w);
		goto out;
	}
	for (i = 0; i < r->elements && *n < max; i++) {
		if (pm__qs_parse_entry(r->element[i], w->shard, &e) < 0) {
			rc = pm__qs_bad_reply(w->qs, key, "list", r);
			goto out;
		}
		if (id_after(e.id, w->stop)) {
			(void) advance(w);
			goto out;
		}
		(void) snprintf(w->cursor, sizeof(w->cursor), "%s", e.id);
		if (e.qid[0] == 0) {
			continue; /* no valid queue id: qmgr removes it */
		}
		/* NOGROUP (no qmgr yet): nothing is active. */
		q = is_pending(rv[1], e.id) ? PM_QA_ACTIVE : PM_QA_INCOMING;
		if ((w->mask & q) == 0) {
			continue;
		}
		it = page_slot(w, (*n)++);
		memcpy(it->qid, e.qid, sizeof(it->qid));
		it->queue = q;
		it->shard = w->shard;
		(void) snprintf(it->entry, sizeof(it->entry), "%s", e.id);
	}
out:
	pm__qs_free_replies(rv, 3);
	return (rc);
}

/* One ZSCAN / SSCAN page. */
static int
walk_scan(pm_qa_walk *w, size_t max, size_t *n)
{
	pm_qa_item *it;
	const char *argv[6];
	char key[QS_KEY_MAX], cnt[24];
	redisReply *r = NULL;
	const redisReply *a, *v;
	int zset = w->phase == PH_DEFERRED, rc = 0;
	size_t i;

	pm__qs_key(key, w->shard, zset ? "deferred" : "hold", NULL);
	(void) snprintf(cnt, sizeof(cnt), "%zu", max);
	argv[0] = zset ? "ZSCAN" : "SSCAN";
	argv[1] = key;
	argv[2] = w->started ? w->cursor : "0";
	argv[3] = "COUNT";
	argv[4] = cnt;
	if ((rc = pm__qs_call(w->qs, 5, argv, NULL, 0, &r)) < 0) {
		return (rc);
	}
	w->started = 1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    !pm__qs_is_str(r->element[0]) ||
	    r->element[0]->len >= sizeof(w->cursor) ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		rc = pm__qs_bad_reply(w->qs, key, "scan", r);
		freeReplyObject(r);
		return (rc);
	}
	a = r->element[1];
	/* ZSCAN gives member, score pairs. COUNT is a hint: a small
	 * set comes back whole (its encoding's limit, 128 by default). */
	for (i = 0; i < a->elements; i += zset ? 2 : 1) {
		v = a->element[i];
		if (!pm__qs_is_str(v) || v->len != PM_QID_LEN ||
		    !pm_qid_valid(v->str)) {
			continue;
		}
		it = page_slot(w, (*n)++);
		memcpy(it->qid, v->str, PM_QID_LEN + 1);
		it->queue = zset ? PM_QA_DEFERRED : PM_QA_HOLD;
		it->shard = w->shard;
		it->entry[0] = 0;
	}
	(void) snprintf(w->cursor, sizeof(w->cursor), "%s", r->element[0]->str);
	if (strcmp(w->cursor, "0") == 0) {
		(void) advance(w);
	}
	freeReplyObject(r);
	return (0);
}

int
pm_qa_walk_next(pm_qa_walk *w, const pm_qa_item **items, size_t *n)
{
	const size_t max = PM_QA_PAGE;
	int rc;

	*n = 0;
	*items = w->page;
	if (w->phase != PH_DONE && !phase_wanted(w) && !advance(w)) {
		return (0);
	}
	/* Empty pages (a phase with nothing, a page of bad entries) go on
	 * to the next one; *n = 0 only at the very end. */
	while (*n == 0 && w->phase != PH_DONE) {
		if (w->phase == PH_STREAM) {
			rc = walk_stream(w, max, n);
		} else {
			rc = walk_scan(w, max, n);
		}
		if (rc < 0) {
			return (rc);
		}
	}
	*items = w->page;
	return (0);
}

/* Read. */

int
pm_qa_read(pm_qstore *qs, const pm_qa_item *items, size_t n, pm_qmsg **out)
{
	const char *argv[2] = { "HGETALL", NULL };
	char key[QS_KEY_MAX];
	redisReply *rv[2 * PM_QA_READ_BATCH];
	size_t i;

	PM_ASSERT(n <= PM_QA_READ_BATCH);
	for (i = 0; i < n; i++) {
		out[i] = NULL;
	}
	if (pm__qs_conn(qs) == NULL) {
		return (PM_EREDIS);
	}
	for (i = 0; i < 2 * n; i++) {
		pm__qs_key(key, items[i / 2].shard, i % 2 == 0 ? "m" : "r",
		    items[i / 2].qid);
		argv[1] = key;
		if (pm__qs_appendv(qs, 2, argv) < 0) {
			return (PM_EREDIS);
		}
	}
	if (pm__qs_read(qs, rv, 2 * n) < 0) {
		return (PM_EREDIS);
	}
	/* A message that is gone, corrupt or of the wrong type (logged)
	 * is skipped: out[i] stays NULL. */
	for (i = 0; i < n; i++) {
		(void) pm__qs_read_parse(items[i].qid, items[i].shard,
		    rv[2 * i], rv[2 * i + 1], &out[i]);
	}
	pm__qs_free_replies(rv, 2 * n);
	return (0);
}

/* Find. */

/* Look for qid's entry in its shard's stream, page by page. */
static int
find_entry(pm_qstore *qs, pm_qa_item *it)
{
	pm_qa_walk w;
	size_t n, i;
	int rc;

	memset(&w, 0, sizeof(w));
	w.qs = qs;
	w.nshards = it->shard + 1;
	w.shard = it->shard;
	w.mask = PM_QA_INCOMING | PM_QA_ACTIVE;
	w.phase = PH_STREAM;
	for (;;) {
		if (w.phase != PH_STREAM || w.shard != it->shard) {
			rc = PM_ENOENT;
			break;
		}
		n = 0;
		if ((rc = walk_stream(&w, QA_FIND_PAGE, &n)) < 0) {
			break;
		}
		for (i = 0; i < n; i++) {
			if (strcmp(w.page[i].qid, it->qid) == 0) {
				*it = w.page[i];
				free(w.page);
				return (0);
			}
		}
	}
	free(w.page);
	return (rc);
}

/* Where qid is on its shard (pm_qa_find, and qa_op finding again). */
static int
find_in_shard(pm_qstore *qs, const char *qid, int shard, pm_qa_item *out)
{
	const char *argv[3][4];
	char k[3][QS_KEY_MAX];
	redisReply *rv[3] = { NULL, NULL, NULL };
	int rc = 0, i;

	if (!pm_qid_valid(qid)) {
		return (PM_EINVAL);
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->qid, qid, PM_QID_LEN + 1);
	out->shard = shard;
	pm__qs_key(k[0], out->shard, "m", qid);
	pm__qs_key(k[1], out->shard, "hold", NULL);
	pm__qs_key(k[2], out->shard, "deferred", NULL);
	argv[0][0] = "EXISTS", argv[0][1] = k[0];
	argv[1][0] = "SISMEMBER", argv[1][1] = k[1], argv[1][2] = qid;
	argv[2][0] = "ZSCORE", argv[2][1] = k[2], argv[2][2] = qid;
	if (pm__qs_conn(qs) == NULL || pm__qs_appendv(qs, 2, argv[0]) < 0 ||
	    pm__qs_appendv(qs, 3, argv[1]) < 0 ||
	    pm__qs_appendv(qs, 3, argv[2]) < 0 || pm__qs_read(qs, rv, 3) < 0) {
		return (PM_EREDIS);
	}
	for (i = 0; i < 3; i++) {
		if (rv[i]->type == REDIS_REPLY_ERROR) {
			rc = pm__qs_bad_reply(qs, qid, "find", rv[i]);
		}
	}
	if (rc == 0) {
		if (rv[0]->type != REDIS_REPLY_INTEGER || rv[0]->integer != 1) {
			rc = PM_ENOENT;
		} else if (rv[1]->type == REDIS_REPLY_INTEGER &&
		    rv[1]->integer == 1) {
			out->queue = PM_QA_HOLD;
		} else if (rv[2]->type != REDIS_REPLY_NIL) {
			out->queue = PM_QA_DEFERRED;
		} else {
			rc = find_entry(qs, out);
		}
	}
	pm__qs_free_replies(rv, 3);
	return (rc);
}

int
pm_qa_find(pm_qstore *qs, int nshards, const char *qid, pm_qa_item *out)
{
	if (!pm_qid_valid(qid)) {
		return (PM_EINVAL);
	}
	return (find_in_shard(qs, qid,
	    pm_qid_shard(qid, nshards > 0 ? nshards : 1), out));
}

/* Changes. */

static int
qa_eval(pm_qstore *qs, const char *op, const pm_qa_item *it, long long *res)
{
	const char *argv[12];
	char k[4][QS_KEY_MAX], now[24];
	redisReply *r = NULL;
	int rc;

	if (!pm_qid_valid(it->qid)) {
		return (PM_EINVAL);
	}
	pm__qs_key(k[0], it->shard, "m", it->qid);
	pm__qs_key(k[1], it->shard, "incoming", NULL);
	pm__qs_key(k[2], it->shard, "deferred", NULL);
	pm__qs_key(k[3], it->shard, "hold", NULL);
	(void) snprintf(now, sizeof(now), "%lld",
	    (long long) (pm_now_us() / 1000));
	argv[0] = "EVAL";
	argv[1] = QA_LUA;
	argv[2] = "4";
	argv[3] = k[0], argv[4] = k[1], argv[5] = k[2], argv[6] = k[3];
	argv[7] = op;
	argv[8] = it->qid;
	argv[9] = it->entry;
	argv[10] = QS_GROUP;
	argv[11] = now;
	if ((rc = pm__qs_call(qs, 12, argv, NULL, 0, &r)) < 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_INTEGER) {
		*res = r->integer;
	} else {
		rc = pm__qs_bad_reply(qs, it->qid, op, r);
	}
	freeReplyObject(r);
	return (rc);
}

/*
 * One change. When the message moved since the caller saw it (the
 * script's 2: a qmgr deferred, held or requeued it meanwhile), find it
 * again and retry, QA_RETRIES times in all; a message that keeps
 * moving, or is gone, is PM_ENOENT (Postfix's postsuper skips a
 * message that vanished).
 */
static int
qa_op(pm_qstore *qs, const char *op, const pm_qa_item *it)
{
	pm_qa_item cur = *it;
	long long res = 0;
	int rc, tries;

	for (tries = 0; tries < QA_RETRIES; tries++) {
		if ((rc = qa_eval(qs, op, &cur, &res)) < 0) {
			return (rc);
		}
		if (res != 2) {
			return (res == 1 ? 0 : PM_ENOENT);
		}
		rc = find_in_shard(qs, it->qid, it->shard, &cur);
		if (rc < 0) {
			return (rc == PM_EREDIS ? rc : PM_ENOENT);
		}
	}
	return (PM_ENOENT);
}

int
pm_qa_delete(pm_qstore *qs, const pm_qa_item *it)
{
	long long res;
	int rc = pm_qstore_delete(qs, it->qid);

	if (rc == PM_EREDIS || rc == PM_EINVAL) {
		return (rc);
	}
	if (it->entry[0] != 0 && qa_eval(qs, "drop", it, &res) == PM_EREDIS) {
		return (PM_EREDIS);
	}
	return (rc == PM_EIO ? 0 : rc); /* the message is gone either way */
}

int
pm_qa_hold(pm_qstore *qs, const pm_qa_item *it)
{
	return (qa_op(qs, "hold", it));
}

int
pm_qa_release(pm_qstore *qs, const pm_qa_item *it)
{
	return (qa_op(qs, "release", it));
}

int
pm_qa_requeue(pm_qstore *qs, const pm_qa_item *it)
{
	return (qa_op(qs, "requeue", it));
}

int
pm_qa_expire(pm_qstore *qs, const pm_qa_item *it, int release, int *released)
{
	long long res = 0;
	int rc;

	/* Where the message is does not matter: the flag is in m. */
	*released = 0;
	rc = qa_eval(qs, release ? "expire_release" : "expire", it, &res);
	if (rc < 0) {
		return (rc);
	}
	*released = res == 3;
	return (res == 1 || res == 3 ? 0 : PM_ENOENT);
}

int
pm_qa_flush_one(pm_qstore *qs, const pm_qa_item *it)
{
	return (qa_op(qs, "flush", it));
}

int
pm_qa_flush(pm_qstore *qs, int nshards, size_t *moved)
{
	/* Far in the future: every deferred message is due. */
	const int64_t all_ms = INT64_C(1) << 50;
	size_t got, rounds;
	int shard, rc;

	*moved = 0;
	for (shard = 0; shard < nshards; shard++) {
		/* A call counts the messages it moved, not the ids it took
		 * (ids without a message are dropped): go on until one moves
		 * nothing. Bounded: mail deferred again meanwhile comes back. */
		for (rounds = 0; rounds < QA_FLUSH_ROUNDS; rounds++) {
			got = 0;
			rc = pm_qstore_requeue_due(qs, shard, all_ms,
			    QA_FIND_PAGE, &got);
			if (rc < 0) {
				return (rc);
			}
			if (got == 0) {
				break;
			}
			*moved += got;
		}
	}
	return (0);
}

int
pm_qa_flush_request(pm_qstore *qs)
{
	long long count;

	/* No TTL: an expired counter would read 0, a change for every
	 * qmgr (qmgr_flush.c takes a smaller count as a reset anyway). */
	return (pm_qstore_incr_expire(qs, PM_QA_FLUSH_KEY, 0, &count));
}

int
pm_qa_flush_count(pm_qstore *qs, long long *count)
{
	return (pm_qstore_get_count(qs, PM_QA_FLUSH_KEY, count));
}
