/*
 * NAME
 *	pm_qstore_deliv - the delivery side of the queue store
 * DESCRIPTION
 *	See the "Delivery side" of pm_qstore.h and docs/queue.md. Called
 *	by qmgr (finish, defer, hold, requeue, sizes) and by the delivery
 *	agents (pm_qstore_rcpt_status). Claiming and leases are in
 *	pm_qstore_claim.c; the helpers both use (pm__qs_call, reply and
 *	entry checks) are here.
 *
 *	Every step that changes a message is one Redis Function of the
 *	"postmesh" library (pm_qstore_lua.c) on one shard, so it is
 *	atomic and written to the AOF as one block. The stream key,
 *	deferred and hold of an entry are those of e->shard; m, r and b
 *	are those of the queue id's shard (the same unless queue_shards
 *	was changed with a live queue).
 *
 *	When Redis answers "Function not found" (flushed, or restarted
 *	without its files) the library is loaded once more and the call
 *	retried.
 * LIMITS
 *	QS_DSN_MAX and QS_TEXT_MAX for a recipient's DSN code and reply
 *	text (longer text is cut); QS_REQUEUE_MAX ids per shard per
 *	requeue call.
 * SECURITY
 *	Queue ids, entry ids and shards are checked before use in keys or
 *	commands. Every reply is checked for its type; a wrong type is
 *	PM_EREDIS (and the connection is dropped when out of step), never
 *	a crash. Stream entries read back are checked by
 *	pm__qs_parse_entry().
 */
#include "pm_qstore_priv.h"
#include "pm_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define QS_DSN_MAX 32
#define QS_TEXT_MAX 4096
#define QS_REQUEUE_MAX 10000

/* Checks. */

/* A stream entry id: digits "-" digits. */
int
pm__qs_id_ok(const char *s, size_t len)
{
	size_t i, dash = 0;

	if (len == 0 || len >= QS_ID_MAX) {
		return (0);
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '-' && dash == 0 && i > 0) {
			dash = i;
		} else if (s[i] < '0' || s[i] > '9') {
			return (0);
		}
	}
	return (dash > 0 && dash + 1 < len);
}

int
pm__qs_entry_ok(const pm_qstore *qs, const pm_qentry *e)
{
	return (e != NULL && e->shard >= 0 && e->shard < qs->nshards &&
	    pm__qs_id_ok(e->id, strnlen(e->id, QS_ID_MAX)) &&
	    pm_qid_valid(e->qid));
}

/* Replies. */

int
pm__qs_is_str(const redisReply *r)
{
	return (r != NULL &&
	    (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
	    memchr(r->str, 0, r->len) == NULL);
}

/* An unexpected reply: log, drop the connection if out of step. */
int
pm__qs_bad_reply(pm_qstore *qs, const char *who, const char *what,
    const redisReply *r)
{
	if (pm__qs_is_err(r, "LOST")) {
		return (PM_ELOST); /* fenced: the caller says what it lost */
	}
	pm__qs_warn_reply(who, what, r);
	if (r == NULL || r->type != REDIS_REPLY_ERROR) {
		pm__qs_drop(qs, "unexpected reply type");
		return (PM_EREDIS);
	}
	return (pm__qs_is_err(r, "OOM") ? PM_EFULL : PM_EREDIS);
}

/*
 * One command, one reply (any type, error replies too). On "Function
 * not found" the library is loaded and the call sent once more; on
 * NOGROUP likewise when retry_nogroup is set. argl NULL: C strings.
 */
int
pm__qs_call(pm_qstore *qs, int argc, const char **argv, const size_t *argl,
    int retry_nogroup, redisReply **out)
{
	size_t *len = NULL;
	redisReply *r = NULL;
	int i, tries, rc;

	if (argl == NULL) {
		len = pm_malloc((size_t) argc * sizeof(*len));
		for (i = 0; i < argc; i++) {
			len[i] = strlen(argv[i]);
		}
		argl = len;
	}
	for (tries = 0; tries < 2; tries++) {
		if (pm__qs_conn(qs) == NULL ||
		    pm__qs_append(qs, argc, argv, argl) < 0 ||
		    pm__qs_read(qs, &r, 1) < 0) {
			free(len);
			return (PM_EREDIS);
		}
		if (tries > 0 ||
		    !(pm__qs_is_nofunc(r) ||
		        (retry_nogroup && pm__qs_is_err(r, "NOGROUP")))) {
			break;
		}
		rc = pm_qstore_load_functions(qs);
		if (rc < 0) {
			break;
		}
		freeReplyObject(r);
		r = NULL;
	}
	free(len);
	*out = r;
	return (0);
}

/*
 * Parse one stream entry [id, [field, value, ...]]. Returns 1 with *e
 * filled, 0 for an entry without a valid qid (e->id is set: remove
 * it), PM_EREDIS for a reply of the wrong shape.
 */
int
pm__qs_parse_entry(const redisReply *r, int shard, pm_qentry *e)
{
	const redisReply *f, *k, *v;
	size_t i;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    !pm__qs_is_str(r->element[0]) ||
	    !pm__qs_id_ok(r->element[0]->str, r->element[0]->len)) {
		return (PM_EREDIS);
	}
	memset(e, 0, sizeof(*e));
	e->shard = shard;
	memcpy(e->id, r->element[0]->str, r->element[0]->len);
	f = r->element[1];
	if (f == NULL || f->type != REDIS_REPLY_ARRAY) {
		return (0); /* a deleted entry */
	}
	for (i = 0; i + 1 < f->elements; i += 2) {
		k = f->element[i];
		v = f->element[i + 1];
		if (!pm__qs_is_str(k) || k->len != 3 ||
		    memcmp(k->str, "qid", 3) != 0) {
			continue;
		}
		if (pm__qs_is_str(v) && v->len == PM_QID_LEN &&
		    pm_qid_valid(v->str)) {
			memcpy(e->qid, v->str, PM_QID_LEN + 1);
			return (1);
		}
		return (0);
	}
	return (0);
}

/* Recipient status. */

int
pm_qstore_rcpt_status(pm_qstore *qs, const char *qid, size_t index,
    const char *status, const char *dsn, const char *text, int *changed)
{
	pm_qrcpt_final f;
	int rc;

	if ((rc = pm_qstore_rcpt_cas(qs, qid, index, status, dsn, text, &f)) ==
	        0 &&
	    changed != NULL) {
		*changed = f.changed;
	}
	return (rc);
}

/* Copy a reply string into buf, cut, printable (a NUL ends it). */
static void
qs_copy_str(char *buf, size_t size, const redisReply *r)
{
	size_t n = r->len < size - 1 ? r->len : size - 1;

	memcpy(buf, r->str, n);
	buf[n] = 0;
	pm_printable(buf);
}

/* [status, dsn, text] of a recipient that was final: into out. */
static int
qs_stored_final(const redisReply *r, pm_qrcpt_final *out)
{
	size_t i;

	if (r->elements != 3) {
		return (-1);
	}
	for (i = 0; i < 3; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING) {
			return (-1);
		}
	}
	if (pm__qs_is_str(r->element[0]) &&
	    (strcmp(r->element[0]->str, PM_RCPT_SENT) == 0 ||
	        strcmp(r->element[0]->str, PM_RCPT_NOTIFIED) == 0 ||
	        strcmp(r->element[0]->str, PM_RCPT_BOUNCED) == 0)) {
		qs_copy_str(out->status, sizeof(out->status), r->element[0]);
	}
	qs_copy_str(out->dsn, sizeof(out->dsn), r->element[1]);
	qs_copy_str(out->text, sizeof(out->text), r->element[2]);
	return (0);
}

static int qs_rcpt_call(pm_qstore *qs, const char *qid, size_t index,
    const char *status, const char *dsn, const char *text, const pm_qentry *e,
    const char *action, pm_qrcpt_final *out);

int
pm_qstore_rcpt_cas(pm_qstore *qs, const char *qid, size_t index,
    const char *status, const char *dsn, const char *text, pm_qrcpt_final *out)
{
	return (qs_rcpt_call(qs, qid, index, status, dsn, text, NULL, NULL,
	    out));
}

int
pm_qstore_rcpt_cas_action(pm_qstore *qs, const char *qid, size_t index,
    const char *status, const char *dsn, const char *text, const char *action,
    pm_qrcpt_final *out)
{
	if (action != NULL && strcmp(action, "relayed") != 0 &&
	    strcmp(action, "delivered") != 0) {
		action = NULL; /* only the actions of a success notice */
	}
	if (status == NULL || strcmp(status, PM_RCPT_SENT) != 0) {
		action = NULL;
	}
	return (qs_rcpt_call(qs, qid, index, status, dsn, text, NULL,
	    action != NULL && *action ? action : NULL, out));
}

int
pm__qs_rcpt_call(pm_qstore *qs, const char *qid, size_t index,
    const char *status, const char *dsn, const char *text, const pm_qentry *e,
    pm_qrcpt_final *out)
{
	return (qs_rcpt_call(qs, qid, index, status, dsn, text, e, NULL, out));
}

/* An older functions library refusing the action argument. */
static int
qs_old_library(const redisReply *r)
{
	return (r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	    strstr(r->str, "bad rcpt_status arguments") != NULL);
}

static int
qs_rcpt_call(pm_qstore *qs, const char *qid, size_t index, const char *status,
    const char *dsn, const char *text, const pm_qentry *e, const char *action,
    pm_qrcpt_final *out)
{
	const char *argv[15];
	size_t argl[15];
	char key[3][QS_KEY_MAX], idx[24], epoch[24];
	pm_qrcpt_final f;
	redisReply *r;
	int i, argc = 8, rc;

	if (!pm_qid_valid(qid) || index >= QS_RCPT_MAX || status == NULL ||
	    (strcmp(status, PM_RCPT_SENT) != 0 &&
	        strcmp(status, PM_RCPT_NOTIFIED) != 0 &&
	        strcmp(status, PM_RCPT_BOUNCED) != 0 &&
	        strcmp(status, PM_RCPT_DEFERRED) != 0)) {
		return (PM_EINVAL);
	}
	if (dsn == NULL) {
		dsn = "";
	}
	if (text == NULL) {
		text = "";
	}
	if (strlen(dsn) > QS_DSN_MAX) {
		return (PM_EINVAL);
	}
	if (e != NULL && e->epoch == 0) {
		e = NULL; /* an entry without a lease: not fenced */
	}
	pm__qs_key(key[0], pm_qid_shard(qid, qs->nshards), "r", qid);
	(void) snprintf(idx, sizeof(idx), "%zu", index);
	argv[0] = "FCALL";
	argv[1] = "pm_rcpt_status";
	argv[2] = "1";
	argv[3] = key[0];
	if (e != NULL) { /* fenced: KEYS r m incoming, ARGV + 4 */
		pm__qs_key(key[1], pm_qid_shard(qid, qs->nshards), "m", qid);
		pm__qs_key(key[2], e->shard, "incoming", NULL);
		argv[2] = "3";
		argv[4] = key[1];
		argv[5] = key[2];
		argc = 10;
	}
	argv[argc - 4] = idx;
	argv[argc - 3] = status;
	argv[argc - 2] = dsn;
	argv[argc - 1] = text;
	if (e != NULL) {
		argv[argc++] = QS_GROUP;
		argv[argc++] = e->id;
		argc = pm__qs_fence_args(e, argv, argc, epoch);
	}
	if (action != NULL) {
		argv[argc++] = action; /* last: older libraries refuse it */
	}
	for (i = 0; i < argc; i++) {
		argl[i] = strlen(argv[i]);
	}
	i = e != NULL ? 9 : 7; /* the text */
	if (argl[i] > QS_TEXT_MAX) {
		argl[i] = QS_TEXT_MAX; /* cut: a reply text is for humans */
	}
	if ((rc = pm__qs_call(qs, argc, argv, argl, 0, &r)) < 0) {
		return (rc);
	}
	if (action != NULL && qs_old_library(r)) {
		/* nothing was written: record it as before, without */
		freeReplyObject(r);
		return (qs_rcpt_call(qs, qid, index, status, dsn, text, e, NULL,
		    out));
	}
	memset(&f, 0, sizeof(f));
	if (r->type == REDIS_REPLY_INTEGER &&
	    (r->integer == 0 || r->integer == 1)) {
		f.changed = (int) r->integer; /* 0: a library before 3f */
		*out = f;
	} else if (r->type == REDIS_REPLY_ARRAY &&
	    qs_stored_final(r, &f) == 0) {
		*out = f;
	} else if (pm__qs_is_err(r, "NOENT")) {
		rc = PM_ENOENT;
	} else if (pm__qs_is_err(r, "NORCPT")) {
		pm_msg_warn("%s: status for recipient #%zu: no such recipient",
		    qid, index);
		rc = PM_EINVAL;
	} else {
		rc = pm__qs_bad_reply(qs, qid, "recipient status", r);
	}
	freeReplyObject(r);
	return (rc);
}

/* Finish, defer, hold. */

int
pm_qstore_finish(pm_qstore *qs, const pm_qentry *e)
{
	const char *argv[14];
	char k[6][QS_KEY_MAX], epoch[24];
	redisReply *r;
	int ms, i, argc, rc, fs = 0;

	if (!pm__qs_entry_ok(qs, e)) {
		return (PM_EINVAL);
	}
	ms = pm_qid_shard(e->qid, qs->nshards);
	pm__qs_key(k[0], ms, "m", e->qid);
	pm__qs_key(k[1], ms, "r", e->qid);
	pm__qs_key(k[2], ms, "b", e->qid);
	pm__qs_key(k[3], e->shard, "incoming", NULL);
	pm__qs_key(k[4], e->shard, "deferred", NULL);
	pm__qs_key(k[5], e->shard, "hold", NULL);
	argv[0] = "FCALL";
	argv[1] = "pm_finish";
	argv[2] = "6";
	for (i = 0; i < 6; i++) {
		argv[3 + i] = k[i];
	}
	argv[9] = e->qid;
	argv[10] = e->id;
	argv[11] = QS_GROUP;
	argc = pm__qs_fence_args(e, argv, 12, epoch);
	if ((rc = pm__qs_call(qs, argc, argv, NULL, 0, &r)) < 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_NIL) {
		fs = 1; /* gone already; a stray fs body is an orphan */
	} else if (r->type == REDIS_REPLY_STRING) {
		fs = (r->len == 2 && memcmp(r->str, "fs", 2) == 0);
		if (fs && pm_body_kind(qs->body) != PM_BODY_FS) {
			pm_msg_warn("%s: body file left behind: no fs body "
			            "store configured",
			    e->qid);
		}
	} else {
		rc = pm__qs_bad_reply(qs, e->qid, "finish", r);
	}
	freeReplyObject(r);
	if (rc == 0 && fs && pm_body_kind(qs->body) == PM_BODY_FS &&
	    pm_body_fs_delete(qs->body, e->qid) < 0) {
		rc = PM_EIO;
	}
	return (rc);
}

/* pm_defer or pm_hold: 1 done, 0 the message is gone. */
static int
qs_park(pm_qstore *qs, const pm_qentry *e, const char *fn, const char *set,
    const char *score, const char *attempts, const char *next)
{
	const char *argv[14];
	char k[3][QS_KEY_MAX], epoch[24];
	redisReply *r;
	int argc, rc;

	pm__qs_key(k[0], pm_qid_shard(e->qid, qs->nshards), "m", e->qid);
	pm__qs_key(k[1], e->shard, "incoming", NULL);
	pm__qs_key(k[2], e->shard, set, NULL);
	argv[0] = "FCALL";
	argv[1] = fn;
	argv[2] = "3";
	argv[3] = k[0];
	argv[4] = k[1];
	argv[5] = k[2];
	argv[6] = e->qid;
	argv[7] = e->id;
	argv[8] = QS_GROUP;
	argc = 9;
	if (score != NULL) {
		argv[argc++] = score;
		argv[argc++] = attempts;
		argv[argc++] = next;
	}
	argc = pm__qs_fence_args(e, argv, argc, epoch);
	if ((rc = pm__qs_call(qs, argc, argv, NULL, 0, &r)) < 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
		rc = 0;
	} else if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
		rc = PM_ENOENT;
	} else {
		rc = pm__qs_bad_reply(qs, e->qid, fn + 3, r);
	}
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_defer(pm_qstore *qs, const pm_qentry *e, int attempts,
    int64_t next_attempt_us)
{
	char score[24], att[16], next[24];

	if (!pm__qs_entry_ok(qs, e) || attempts < 0 || next_attempt_us < 0) {
		return (PM_EINVAL);
	}
	(void) snprintf(score, sizeof(score), "%lld",
	    (long long) (next_attempt_us / 1000));
	(void) snprintf(att, sizeof(att), "%d", attempts);
	(void) snprintf(next, sizeof(next), "%lld",
	    (long long) next_attempt_us);
	return (qs_park(qs, e, "pm_defer", "deferred", score, att, next));
}

int
pm_qstore_hold(pm_qstore *qs, const pm_qentry *e)
{
	if (!pm__qs_entry_ok(qs, e)) {
		return (PM_EINVAL);
	}
	return (qs_park(qs, e, "pm_hold", "hold", NULL, NULL, NULL));
}

/* Deferred back to incoming. */

int
pm_qstore_requeue_due(pm_qstore *qs, int shard, int64_t now_ms, size_t max,
    size_t *moved)
{
	const char *argv[8];
	char k[2][QS_KEY_MAX], prefix[QS_KEY_MAX], now[24], cnt[24];
	redisReply *r;
	int rc;

	if (shard < 0 || shard >= qs->nshards || moved == NULL) {
		return (PM_EINVAL);
	}
	if (max > QS_REQUEUE_MAX) {
		max = QS_REQUEUE_MAX; /* bound the time Redis is busy */
	}
	pm__qs_key(k[0], shard, "deferred", NULL);
	pm__qs_key(k[1], shard, "incoming", NULL);
	pm__qs_key(prefix, shard, "m", "");
	(void) snprintf(now, sizeof(now), "%lld", (long long) now_ms);
	(void) snprintf(cnt, sizeof(cnt), "%zu", max);
	argv[0] = "FCALL";
	argv[1] = "pm_requeue_due";
	argv[2] = "2";
	argv[3] = k[0];
	argv[4] = k[1];
	argv[5] = now;
	argv[6] = cnt;
	argv[7] = prefix;
	if ((rc = pm__qs_call(qs, 8, argv, NULL, 0, &r)) < 0) {
		return (rc);
	}
	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0 &&
	    (unsigned long long) r->integer <= max) {
		*moved = (size_t) r->integer;
	} else {
		rc = pm__qs_bad_reply(qs, k[0], "requeue", r);
	}
	freeReplyObject(r);
	return (rc);
}

/* Sizes. */

#define QS_SZ_CMDS 6

static int
qs_int(const redisReply *r, long long *sum)
{
	if (r->type != REDIS_REPLY_INTEGER || r->integer < 0) {
		return (0);
	}
	*sum += r->integer;
	return (1);
}

/* The queue id of an XRANGE or ZRANGE reply of at most one item. */
static int
qs_first_qid(const redisReply *r, int stream, char *qid)
{
	const redisReply *x;
	pm_qentry e;

	if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
		return (0);
	}
	x = r->element[0];
	if (stream) {
		if (pm__qs_parse_entry(x, 0, &e) != 1) {
			return (0);
		}
		memcpy(qid, e.qid, PM_QID_LEN + 1);
		return (1);
	}
	if (!pm__qs_is_str(x) || x->len != PM_QID_LEN ||
	    !pm_qid_valid(x->str)) {
		return (0);
	}
	memcpy(qid, x->str, PM_QID_LEN + 1);
	return (1);
}

/* min of the "arrival" fields of the candidates: second round trip. */
static int
qs_oldest(pm_qstore *qs, char (*cand)[PM_QID_LEN + 1], size_t nc,
    int64_t *oldest)
{
	const char *argv[] = { "HGET", NULL, "arrival" };
	char key[QS_KEY_MAX], *ep;
	redisReply **rv;
	long long v;
	size_t i;
	int rc = 0;

	*oldest = 0;
	if (pm__qs_conn(qs) == NULL) {
		return (PM_EREDIS);
	}
	for (i = 0; i < nc; i++) {
		pm__qs_key(key, pm_qid_shard(cand[i], qs->nshards), "m",
		    cand[i]);
		argv[1] = key;
		if (pm__qs_appendv(qs, 3, argv) < 0) {
			return (PM_EREDIS);
		}
	}
	rv = pm_calloc(nc, sizeof(*rv));
	if (pm__qs_read(qs, rv, nc) < 0) {
		free(rv);
		return (PM_EREDIS);
	}
	for (i = 0; i < nc; i++) {
		if (rv[i]->type == REDIS_REPLY_NIL) {
			continue; /* gone meanwhile */
		}
		if (!pm__qs_is_str(rv[i])) {
			rc = pm__qs_bad_reply(qs, cand[i], "HGET arrival",
			    rv[i]);
			break;
		}
		v = strtoll(rv[i]->str, &ep, 10);
		if (*ep != 0 || v <= 0) {
			v = (long long) pm_qid_time_us(cand[i]); /* approx. */
		}
		if (*oldest == 0 || v < *oldest) {
			*oldest = v;
		}
	}
	pm__qs_free_replies(rv, nc);
	free(rv);
	return (rc);
}

int
pm_qstore_sizes(pm_qstore *qs, pm_qsizes *out)
{
	const char *cmd[QS_SZ_CMDS][8] = {
		{ "XLEN", NULL },
		{ "XPENDING", NULL, QS_GROUP },
		{ "ZCARD", NULL },
		{ "SCARD", NULL },
		{ "XRANGE", NULL, "-", "+", "COUNT", "1" },
		{ "ZRANGE", NULL, "0", "0" },
	};
	static const int argc[QS_SZ_CMDS] = { 2, 3, 2, 2, 6, 4 };
	static const char *const kind[QS_SZ_CMDS] = { "incoming", "incoming",
		"deferred", "hold", "incoming", "deferred" };
	char key[QS_KEY_MAX], (*cand)[PM_QID_LEN + 1];
	const redisReply *x;
	redisReply **rv;
	pm_qsizes sz;
	size_t nr = (size_t) qs->nshards * QS_SZ_CMDS, i, nc = 0;
	int s, c, rc = 0;

	if (out == NULL) {
		return (PM_EINVAL);
	}
	memset(&sz, 0, sizeof(sz));
	if (pm__qs_conn(qs) == NULL) {
		return (PM_EREDIS);
	}
	for (s = 0; s < qs->nshards; s++) {
		for (c = 0; c < QS_SZ_CMDS; c++) {
			pm__qs_key(key, s, kind[c], NULL);
			cmd[c][1] = key;
			if (pm__qs_appendv(qs, argc[c], cmd[c]) < 0) {
				return (PM_EREDIS);
			}
		}
	}
	rv = pm_calloc(nr, sizeof(*rv));
	if (pm__qs_read(qs, rv, nr) < 0) {
		free(rv);
		return (PM_EREDIS);
	}
	cand = pm_malloc(2 * (size_t) qs->nshards * sizeof(*cand));
	for (i = 0; i < nr && rc == 0; i++) {
		x = rv[i];
		switch (i % QS_SZ_CMDS) {
		case 0:
			rc = qs_int(x, &sz.incoming) ? 0 : PM_EREDIS;
			break;
		case 1:
			if (pm__qs_is_err(x, "NOGROUP")) {
				break; /* no stream yet: nothing pending */
			}
			rc =
			    (x->type == REDIS_REPLY_ARRAY && x->elements >= 1 &&
			        qs_int(x->element[0], &sz.active)) ?
			    0 :
			    PM_EREDIS;
			break;
		case 2:
			rc = qs_int(x, &sz.deferred) ? 0 : PM_EREDIS;
			break;
		case 3:
			rc = qs_int(x, &sz.hold) ? 0 : PM_EREDIS;
			break;
		default:
			if (x->type != REDIS_REPLY_ARRAY) {
				rc = PM_EREDIS;
			} else if (qs_first_qid(x, i % QS_SZ_CMDS == 4,
			               cand[nc])) {
				nc++;
			}
			break;
		}
		if (rc < 0) {
			rc = pm__qs_bad_reply(qs, "queue", "sizes", x);
		}
	}
	pm__qs_free_replies(rv, nr);
	free(rv);
	if (rc == 0 && nc > 0) {
		rc = qs_oldest(qs, cand, nc, &sz.oldest_us);
	}
	free(cand);
	if (rc == 0) {
		*out = sz;
	}
	return (rc);
}
