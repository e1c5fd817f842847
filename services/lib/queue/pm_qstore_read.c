/*
 * NAME
 *	pm_qstore_read - read a queued message and its body back
 * DESCRIPTION
 *	See pm_qstore.h. pm_qstore_read() pipelines HGETALL of m and r;
 *	pm_qstore_body_get() pipelines HMGET m size body and LRANGE b, so
 *	each costs one round trip; pm_qstore_body_get_env() asks the
 *	same HMGET for a few more envelope fields (an agent's per-job
 *	read: the pipe agent's client macros).
 * LIMITS
 *	QS_RCPT_MAX recipients ("n"), PM_BODY_SIZE_MAX for "size".
 * SECURITY
 *	Redis data is checked before use: reply types, embedded NULs,
 *	numbers (full string, in range), recipient indexes below "n",
 *	every recipient's address present, the body size equal to the
 *	envelope's. Bad data is PM_EIO ("corrupt", logged), never a
 *	crash.
 */
#include "pm_qstore_priv.h"
#include "pm_log.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Read back. */

pm_qmsg *
pm_qmsg_free(pm_qmsg *m)
{
	size_t i;

	if (m == NULL) {
		return (NULL);
	}
	for (i = 0; i < QS_NFIELDS; i++) {
		if (pm__qs_fields[i].type == QF_STR) {
			free(*(char **) ((char *) m + pm__qs_fields[i].off));
		}
	}
	for (i = 0; m->rcpt != NULL && i < m->nrcpt; i++) {
		free(m->rcpt[i].address);
		free(m->rcpt[i].orcpt);
		free(m->rcpt[i].status);
		free(m->rcpt[i].dsn);
		free(m->rcpt[i].text);
		free(m->rcpt[i].action);
	}
	free(m->rcpt);
	free(m);
	return (NULL);
}

/* A string element without embedded NUL, or NULL. */
static const char *
qs_text(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_STRING ||
	    strlen(r->str) != r->len) {
		return (NULL);
	}
	return (r->str);
}

static int
qs_number(const char *s, long long min, long long max, long long *out)
{
	char *ep;
	long long v;

	if (s == NULL || *s == 0 || (*s != '-' && (*s < '0' || *s > '9'))) {
		return (-1);
	}
	errno = 0;
	v = strtoll(s, &ep, 10);
	if (errno != 0 || *ep != 0 || v < min || v > max) {
		return (-1);
	}
	*out = v;
	return (0);
}

/* Store one envelope field from Redis into m; -1 if it is bad. */
static int
qs_set_field(pm_qmsg *m, size_t i, const char *v)
{
	char *p = (char *) m + pm__qs_fields[i].off;
	long long n;

	switch (pm__qs_fields[i].type) {
	case QF_STR:
		free(*(char **) p);
		*(char **) p = pm_strdup(v);
		return (0);
	case QF_I64:
		if (qs_number(v, INT64_MIN, INT64_MAX, &n) < 0) {
			return (-1);
		}
		*(int64_t *) p = n;
		return (0);
	case QF_SIZE:
		if (qs_number(v, 0, (long long) PM_BODY_SIZE_MAX, &n) < 0) {
			return (-1);
		}
		*(size_t *) p = (size_t) n;
		return (0);
	case QF_INT:
		if (qs_number(v, INT_MIN, INT_MAX, &n) < 0) {
			return (-1);
		}
		*(int *) p = (int) n;
		return (0);
	default:
		if (qs_number(v, 0, UINT_MAX, &n) < 0) {
			return (-1);
		}
		*(unsigned *) p = (unsigned) n;
		return (0);
	}
}

static int
qs_parse_env(pm_qmsg *m, const redisReply *r)
{
	unsigned seen = 0;
	const char *name, *val;
	size_t e, i;

	for (e = 0; e + 1 < r->elements; e += 2) {
		if ((name = qs_text(r->element[e])) == NULL ||
		    (val = qs_text(r->element[e + 1])) == NULL) {
			return (-1);
		}
		for (i = 0; i < QS_NFIELDS; i++) {
			if (strcmp(name, pm__qs_fields[i].name) == 0) {
				if (qs_set_field(m, i, val) < 0) {
					return (-1);
				}
				seen |= 1U << i;
			}
		}
	}
	for (i = 0; i < QS_NFIELDS; i++) {
		if (pm__qs_fields[i].required && !(seen & (1U << i))) {
			return (-1);
		}
		if (pm__qs_fields[i].type == QF_STR && !(seen & (1U << i))) {
			*(char **) ((char *) m + pm__qs_fields[i].off) =
			    pm_strdup("");
		}
	}
	return (0);
}

/* "<index>:<letter>" -> index and letter; -1 if not of that form. */
static int
qs_rcpt_field(const char *name, size_t n, size_t *idx, char *what)
{
	size_t v = 0;
	const char *p;

	for (p = name; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (size_t) (*p - '0');
		if (v >= n || p - name > 6) {
			return (-1);
		}
	}
	if (p == name || p[0] != ':' || p[1] == 0 || p[2] != 0) {
		return (-1);
	}
	*idx = v;
	*what = p[1];
	return (0);
}

/*
 * Sent with no success notice from qmgr is stored as "i:s" = sent plus
 * "i:q" = 1 (the version of 2026-12-02 stored "i:s" = notified, read
 * as it is): it reads as PM_RCPT_NOTIFIED. "i:q" on any other status
 * means nothing.
 */
static void
qs_rcpt_quiet(pm_qrcpt *r)
{
	if (strcmp(r->status, PM_RCPT_SENT) == 0) {
		free(r->status);
		r->status = pm_strdup(PM_RCPT_NOTIFIED);
	}
}

static int
qs_parse_rcpt(pm_qmsg *m, const redisReply *r)
{
	const char *name, *val;
	long long n = -1;
	size_t e, i;
	char **slot, what;

	for (e = 0; e + 1 < r->elements; e += 2) {
		name = qs_text(r->element[e]);
		if (name != NULL && strcmp(name, "n") == 0) {
			if (qs_number(qs_text(r->element[e + 1]), 0,
			        QS_RCPT_MAX, &n) < 0) {
				return (-1);
			}
		}
	}
	if (n < 0) {
		return (-1);
	}
	m->nrcpt = (size_t) n;
	m->rcpt = pm_calloc(m->nrcpt ? m->nrcpt : 1, sizeof(*m->rcpt));
	for (e = 0; e + 1 < r->elements; e += 2) {
		if ((name = qs_text(r->element[e])) == NULL ||
		    (val = qs_text(r->element[e + 1])) == NULL) {
			return (-1);
		}
		if (qs_rcpt_field(name, m->nrcpt, &i, &what) < 0) {
			continue; /* "n", or a field of a later version */
		}
		switch (what) {
		case 'a':
			slot = &m->rcpt[i].address;
			break;
		case 'o':
			slot = &m->rcpt[i].orcpt;
			break;
		case 's':
			slot = &m->rcpt[i].status;
			break;
		case 'd':
			slot = &m->rcpt[i].dsn;
			break;
		case 't':
			slot = &m->rcpt[i].text;
			break;
		case 'x':
			slot = &m->rcpt[i].action;
			break;
		case 'n':
			if (qs_number(val, 0, UINT_MAX, &n) < 0) {
				return (-1);
			}
			m->rcpt[i].notify = (unsigned) n;
			continue;
		default:
			continue;
		}
		free(*slot);
		*slot = pm_strdup(val);
	}
	for (e = 0; e + 1 < r->elements; e += 2) { /* after every "i:s" */
		if (qs_rcpt_field(qs_text(r->element[e]), m->nrcpt, &i,
		        &what) == 0 &&
		    what == 'q' && m->rcpt[i].status != NULL &&
		    strcmp(qs_text(r->element[e + 1]), "1") == 0) {
			qs_rcpt_quiet(&m->rcpt[i]);
		}
	}
	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].address == NULL) {
			return (-1);
		}
		if (m->rcpt[i].orcpt == NULL) {
			m->rcpt[i].orcpt = pm_strdup("");
		}
		if (m->rcpt[i].status == NULL) {
			m->rcpt[i].status = pm_strdup(PM_RCPT_TODO);
		}
		if (m->rcpt[i].dsn == NULL) {
			m->rcpt[i].dsn = pm_strdup("");
		}
		if (m->rcpt[i].text == NULL) {
			m->rcpt[i].text = pm_strdup("");
		}
		if (m->rcpt[i].action == NULL) {
			m->rcpt[i].action = pm_strdup("");
		}
	}
	return (0);
}

int
pm__qs_read_parse(const char *qid, int shard, const redisReply *rm,
    const redisReply *rr, pm_qmsg **out)
{
	pm_qmsg *m;

	if (rm->type != REDIS_REPLY_ARRAY || rr->type != REDIS_REPLY_ARRAY) {
		pm__qs_warn_reply(qid, "read",
		    rm->type != REDIS_REPLY_ARRAY ? rm : rr);
		return (PM_EREDIS);
	}
	if (rm->elements == 0) {
		return (PM_ENOENT);
	}
	m = pm_calloc(1, sizeof(*m));
	memcpy(m->qid, qid, PM_QID_LEN + 1);
	m->shard = shard;
	if (qs_parse_env(m, rm) < 0 || qs_parse_rcpt(m, rr) < 0) {
		pm_msg_warn("%s: corrupt queue entry in Redis", qid);
		pm_qmsg_free(m);
		return (PM_EIO);
	}
	*out = m;
	return (0);
}

int
pm_qstore_read(pm_qstore *qs, const char *qid, pm_qmsg **out)
{
	const char *argv[] = { "HGETALL", NULL };
	char km[QS_KEY_MAX], kr[QS_KEY_MAX];
	redisReply *rv[2];
	int shard, rc;

	if (!pm_qid_valid(qid)) {
		return (PM_EINVAL);
	}
	shard = pm_qid_shard(qid, qs->nshards);
	pm__qs_key(km, shard, "m", qid);
	pm__qs_key(kr, shard, "r", qid);
	if (pm__qs_conn(qs) == NULL) {
		return (PM_EREDIS);
	}
	argv[1] = km;
	if (pm__qs_appendv(qs, 2, argv) < 0) {
		return (PM_EREDIS);
	}
	argv[1] = kr;
	if (pm__qs_appendv(qs, 2, argv) < 0 || pm__qs_read(qs, rv, 2) < 0) {
		return (PM_EREDIS);
	}
	rc = pm__qs_read_parse(qid, shard, rv[0], rv[1], out);
	pm__qs_free_replies(rv, 2);
	return (rc);
}

int
pm_qstore_body_get(pm_qstore *qs, const char *qid, char **data, size_t *len)
{
	return (pm_qstore_body_get_env(qs, qid, NULL, 0, NULL, data, len));
}

int
pm_qstore_body_get_env(pm_qstore *qs, const char *qid, const char *const *names,
    size_t n, char **vals, char **data, size_t *len)
{
	const char *hm[4 + PM_QSTORE_ENV_MAX] = { "HMGET", NULL, "size",
		"body" };
	const char *lr[] = { "LRANGE", NULL, "0", "-1" };
	char km[QS_KEY_MAX], kb[QS_KEY_MAX];
	redisReply *rv[2], *h;
	const char *kind, *v;
	long long size;
	size_t i;
	int shard, rc;

	if (!pm_qid_valid(qid) || n > PM_QSTORE_ENV_MAX) {
		return (PM_EINVAL);
	}
	for (i = 0; i < n; i++) {
		vals[i] = NULL;
		hm[4 + i] = names[i];
	}
	shard = pm_qid_shard(qid, qs->nshards);
	pm__qs_key(km, shard, "m", qid);
	pm__qs_key(kb, shard, "b", qid);
	hm[1] = km;
	lr[1] = kb;
	if (pm__qs_conn(qs) == NULL ||
	    pm__qs_appendv(qs, (int) (4 + n), hm) < 0 ||
	    pm__qs_appendv(qs, 4, lr) < 0 || pm__qs_read(qs, rv, 2) < 0) {
		return (PM_EREDIS);
	}
	h = rv[0];
	if (h->type != REDIS_REPLY_ARRAY || h->elements != 2 + n) {
		pm__qs_warn_reply(qid, "read body", h);
		rc = PM_EREDIS;
		goto out;
	}
	if (h->element[0]->type == REDIS_REPLY_NIL) {
		rc = PM_ENOENT;
		goto out;
	}
	if (qs_number(qs_text(h->element[0]), 0, (long long) PM_BODY_SIZE_MAX,
	        &size) < 0) {
		pm_msg_warn("%s: corrupt queue entry: bad size", qid);
		rc = PM_EIO;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (h->element[2 + i]->type == REDIS_REPLY_NIL) {
			v = "";
		} else if ((v = qs_text(h->element[2 + i])) == NULL) {
			pm_msg_warn("%s: corrupt queue entry: bad %s", qid,
			    names[i]);
			rc = PM_EIO;
			goto out;
		}
		vals[i] = pm_strdup(v);
	}
	kind = qs_text(h->element[1]);
	if (kind != NULL && strcmp(kind, "fs") == 0) {
		if (pm_body_kind(qs->body) != PM_BODY_FS) {
			pm_msg_warn("%s: body is in a file store, but "
			            "queue_body_store is not fs:",
			    qid);
			rc = PM_EIO;
			goto out;
		}
		rc = pm_body_fs_get(qs->body, qid, (size_t) size, data, len);
		if (rc == PM_ENOENT) {
			rc = PM_EIO; /* named by m, but gone: corrupt */
		}
		goto out;
	}
	rc = pm_body_redis_join(rv[1], (size_t) size, data, len);
	if (rc == PM_EIO) {
		pm_msg_warn("%s: corrupt body in Redis: size differs from %lld",
		    qid, size);
	} else if (rc < 0) {
		pm__qs_warn_reply(qid, "read body", rv[1]);
	}
out:
	if (rc != 0) {
		for (i = 0; i < n; i++) {
			free(vals[i]);
			vals[i] = NULL;
		}
	}
	pm__qs_free_replies(rv, 2);
	return (rc);
}
