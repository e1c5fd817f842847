/*
 * NAME
 *	pm_qstore_enq - pm_qstore_enqueue() and pm_qstore_enqueue_many()
 * DESCRIPTION
 *	See pm_qstore.h, pm_qstore.c and docs/queue.md. Per message, in one
 *	pipeline: the body chunks (FCALL pm_body_append: RPUSH to a staging
 *	key with an expiry), then FCALL pm_enqueue; then WAIT when replicas are asked for. With the
 *	fs body store the body file is written durably first.
 *
 *	The Redis body is staged under pm:{S}:t:<qid>:<nonce> and renamed
 *	to pm:{S}:b:<qid> by the function after its EXISTS check: writing
 *	straight into pm:{S}:b:<qid> would append to the body of a queued
 *	message when a queue id is submitted twice.
 *
 *	A lost reply (timeout, reset) leaves the outcome unknown: the
 *	function may have run. Then nothing is undone: a staged body
 *	expires by itself and an fs body file stays (the sweeper removes
 *	it if no message names it). Only a definite refusal (an error
 *	reply, or nothing sent) removes the body this call wrote.
 * LIMITS
 *	PM_BODY_CHUNK_SIZE per chunk, PM_BODY_ORPHAN_TTL_MS for a staged
 *	body, QS_RCPT_MAX recipients, PM_QSTORE_BATCH_MAX messages.
 * SECURITY
 *	Queue ids are checked (pm_qid_valid) and must belong to the shard
 *	given; every reply is checked for type before use.
 */
#include "pm_qstore_priv.h"
#include "pm_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field i of m as a string; numbers go into num. */
static const char *
qs_field_str(const pm_qmsg *m, size_t i, char *num, size_t size)
{
	const char *p = (const char *) m + pm__qs_fields[i].off;
	const char *s;

	switch (pm__qs_fields[i].type) {
	case QF_STR:
		s = *(char *const *) p;
		return (s ? s : "");
	case QF_I64:
		(void) snprintf(num, size, "%lld",
		    (long long) *(const int64_t *) p);
		break;
	case QF_SIZE:
		(void) snprintf(num, size, "%zu", *(const size_t *) p);
		break;
	case QF_INT:
		(void) snprintf(num, size, "%d", *(const int *) p);
		break;
	default:
		(void) snprintf(num, size, "%u", *(const unsigned *) p);
		break;
	}
	return (num);
}

/* Enqueue. */

#define QS_PENDING 1 /* job rc: not decided yet */

typedef struct qs_job {
	pm_qmsg *m;
	const void *body;
	size_t len;
	int rc;       /* 0, PM_E*, or QS_PENDING */
	int known;    /* definitely not queued by this call */
	int retry;    /* function missing: load and try again */
	int fs_body;  /* this call wrote the fs body file */
	int check;    /* fs body file existed: is the message queued? */
	int seen;     /* refused: the id was queued before (keep_id_ms) */
	size_t nbody; /* body commands in the pipeline */
	char stage[QS_KEY_MAX]; /* staged Redis body, "" if none */
} qs_job;

static int
qs_check_msg(pm_qstore *qs, const pm_qmsg *m, size_t len)
{
	size_t i;

	if (m == NULL || !pm_qid_valid(m->qid) ||
	    m->shard != pm_qid_shard(m->qid, qs->nshards) || m->nrcpt < 1 ||
	    m->rcpt == NULL) {
		return (PM_EINVAL);
	}
	if (m->nrcpt > QS_RCPT_MAX || len > PM_BODY_SIZE_MAX) {
		return (PM_ETOOBIG);
	}
	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].address == NULL) {
			return (PM_EINVAL);
		}
	}
	return (0);
}

/* FCALL pm_enqueue for one message (see pm_qstore_lua.c). */
static int
qs_append_fcall(pm_qstore *qs, const qs_job *j)
{
	const pm_qmsg *m = j->m;
	char keys[5][QS_KEY_MAX], nums[QS_NFIELDS][24], nenv[8], nr[24];
	char nch[24], keep[24];
	char(*notify)[12];
	const char **argv;
	size_t *argl, argc = 0, max, i;
	int rc;

	max = 14 + 2 * (QS_NFIELDS + 1) + 3 * m->nrcpt;
	argv = pm_calloc(max, sizeof(*argv));
	argl = pm_calloc(max, sizeof(*argl));
	notify = pm_calloc(m->nrcpt, sizeof(*notify));
	pm__qs_key(keys[0], m->shard, "m", m->qid);
	pm__qs_key(keys[1], m->shard, "r", m->qid);
	pm__qs_key(keys[2], m->shard, "b", m->qid);
	pm__qs_key(keys[3], m->shard, "incoming", NULL);
	pm__qs_key(keys[4], m->shard, "seen", m->qid);
	argv[argc++] = "FCALL";
	argv[argc++] = "pm_enqueue";
	argv[argc++] = j->stage[0] ? "6" : "5";
	for (i = 0; i < 5; i++) {
		argv[argc++] = keys[i];
	}
	if (j->stage[0]) {
		argv[argc++] = j->stage;
	}
	argv[argc++] = m->qid;
	(void) snprintf(nenv, sizeof(nenv), "%d", QS_NFIELDS + 1);
	argv[argc++] = nenv;
	for (i = 0; i < QS_NFIELDS; i++) {
		argv[argc++] = pm__qs_fields[i].name;
		argv[argc++] = qs_field_str(m, i, nums[i], sizeof(nums[i]));
	}
	argv[argc++] = "body";
	argv[argc++] = pm_body_kind_name(qs->body);
	(void) snprintf(nr, sizeof(nr), "%zu", m->nrcpt);
	argv[argc++] = nr;
	for (i = 0; i < m->nrcpt; i++) {
		(void) snprintf(notify[i], sizeof(notify[i]), "%u",
		    m->rcpt[i].notify);
		argv[argc++] = m->rcpt[i].address;
		argv[argc++] = m->rcpt[i].orcpt ? m->rcpt[i].orcpt : "";
		argv[argc++] = notify[i];
	}
	(void) snprintf(nch, sizeof(nch), "%zu",
	    j->stage[0] ? pm_body_redis_nchunks(j->len, PM_BODY_CHUNK_SIZE) :
	                  (size_t) 0);
	argv[argc++] = nch;
	(void) snprintf(keep, sizeof(keep), "%lld",
	    (long long) (m->keep_id_ms > 0 ? m->keep_id_ms : 0));
	argv[argc++] = keep;
	PM_ASSERT(argc <= max);
	for (i = 0; i < argc; i++) {
		argl[i] = strlen(argv[i]);
	}
	rc = pm__qs_append(qs, (int) argc, argv, argl);
	free(notify);
	free(argl);
	free(argv);
	return (rc);
}

/* fs: write the bodies first; an existing file may be an orphan. */
static void
qs_fs_put_all(pm_qstore *qs, qs_job *jobs, size_t n)
{
	const char *argv[] = { "EXISTS", NULL };
	char key[QS_KEY_MAX];
	redisReply **rv;
	size_t i, k, nchk = 0;
	int r;

	for (i = 0; i < n; i++) {
		if (jobs[i].rc != QS_PENDING) {
			continue;
		}
		r = pm_body_fs_put(qs->body, jobs[i].m->qid, jobs[i].body,
		    jobs[i].len, 0);
		if (r == 0) {
			jobs[i].fs_body = 1;
		} else if (r == PM_EEXIST) {
			jobs[i].check = 1;
			nchk++;
		} else {
			jobs[i].rc = r;
			jobs[i].known = 1;
		}
	}
	if (nchk == 0) {
		return;
	}
	for (i = 0; i < n; i++) {
		if (jobs[i].check) {
			pm__qs_key(key, jobs[i].m->shard, "m", jobs[i].m->qid);
			argv[1] = key;
			if (pm__qs_appendv(qs, 2, argv) < 0) {
				break;
			}
		}
	}
	rv = pm_calloc(nchk, sizeof(*rv));
	if (qs->c == NULL || pm__qs_read(qs, rv, nchk) < 0) {
		for (i = 0; i < n; i++) {
			if (jobs[i].check) {
				jobs[i].rc = PM_EREDIS;
				jobs[i].known = 1;
			}
		}
		free(rv);
		return;
	}
	for (i = 0, k = 0; i < n; i++) {
		if (!jobs[i].check) {
			continue;
		}
		if (rv[k]->type != REDIS_REPLY_INTEGER) {
			pm__qs_warn_reply(jobs[i].m->qid, "EXISTS", rv[k]);
			jobs[i].rc = PM_EREDIS;
		} else if (rv[k]->integer != 0) {
			jobs[i].rc = PM_EEXIST;
		} else {
			pm_msg_info("%s: replacing an orphaned body file",
			    jobs[i].m->qid);
			r = pm_body_fs_put(qs->body, jobs[i].m->qid,
			    jobs[i].body, jobs[i].len, 1);
			if (r == 0) {
				jobs[i].fs_body = 1;
			} else {
				jobs[i].rc = r;
			}
		}
		if (jobs[i].rc != QS_PENDING) {
			jobs[i].known = 1;
		}
		k++;
	}
	pm__qs_free_replies(rv, nchk);
	free(rv);
}

static void
qs_fail_pending(qs_job *jobs, size_t n, int rc, int known)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (jobs[i].rc == QS_PENDING) {
			jobs[i].rc = rc;
			jobs[i].known = known;
		}
	}
}

/* Judge one job's replies: its body commands, then its FCALL. */
static int
qs_judge(qs_job *j, redisReply **rv)
{
	redisReply *f = rv[j->nbody];
	int full = 0, bad = 0;
	size_t k;

	for (k = 0; k < j->nbody; k++) {
		if (rv[k]->type == REDIS_REPLY_INTEGER) {
			continue;
		}
		if (pm__qs_is_err(rv[k], "OOM")) {
			full = 1;
		} else if (!bad && !pm__qs_is_nofunc(rv[k])) {
			pm__qs_warn_reply(j->m->qid, "store body", rv[k]);
			bad = 1;
		}
	}
	if (f->type == REDIS_REPLY_STRING) {
		j->rc = 0;
		return (0);
	}
	if (f->type != REDIS_REPLY_ERROR) {
		pm__qs_warn_reply(j->m->qid, "enqueue", f);
		j->rc = PM_EREDIS;
		return (-1); /* out of step: drop the connection */
	}
	j->known = 1;
	if (pm__qs_is_err(f, "EXISTS")) {
		j->rc = PM_EEXIST;
	} else if (pm__qs_is_err(f, "SEEN")) {
		j->rc = PM_EEXIST; /* no message holds this call's body */
		j->seen = 1;
	} else if (pm__qs_is_err(f, "OOM") || full) {
		pm_msg_warn("%s: enqueue: Redis is full (maxmemory)",
		    j->m->qid);
		j->rc = PM_EFULL;
	} else if (pm__qs_is_nofunc(f)) {
		j->retry = 1;
		j->rc = PM_EREDIS;
	} else {
		pm__qs_warn_reply(j->m->qid, "enqueue", f);
		j->rc = PM_EREDIS;
	}
	return (0);
}

/* One pipelined round trip for every pending job. */
static void
qs_round(pm_qstore *qs, qs_job *jobs, size_t n)
{
	const char *wargv[] = { "WAIT", NULL, NULL };
	char wn[16], wms[16];
	redisReply **rv;
	size_t i, at, nrep = 0;
	int r, drop = 0;
	int sent = 0; /* commands may have gone out: outcomes unknown */

	if (pm__qs_conn(qs) == NULL) {
		qs_fail_pending(jobs, n, PM_EREDIS, 1);
		return;
	}
	for (i = 0; i < n; i++) {
		if (jobs[i].rc != QS_PENDING) {
			continue;
		}
		jobs[i].nbody = 0;
		jobs[i].stage[0] = 0;
		if (pm_body_kind(qs->body) == PM_BODY_REDIS && jobs[i].len) {
			(void) snprintf(jobs[i].stage, QS_KEY_MAX,
			    "pm:{%d}:t:%s:%016llx", jobs[i].m->shard,
			    jobs[i].m->qid, qs->stage_seq++);
			r = pm_body_redis_append(qs->c, jobs[i].stage,
			    jobs[i].body, jobs[i].len, PM_BODY_CHUNK_SIZE,
			    PM_BODY_ORPHAN_TTL_MS);
			if (r < 0) {
				pm__qs_drop(qs, "cannot queue a command");
				qs_fail_pending(jobs, n, PM_EREDIS,
				    !sent && r != PM_EIO);
				return;
			}
			/* chunks went out, with what was appended before */
			sent |= jobs[i].len > PM_BODY_CHUNK_SIZE;
			jobs[i].nbody = (size_t) r;
		}
		if (qs_append_fcall(qs, &jobs[i]) < 0) {
			qs_fail_pending(jobs, n, PM_EREDIS, !sent);
			return;
		}
		nrep += jobs[i].nbody + 1;
	}
	if (nrep == 0) {
		return;
	}
	if (qs->wait_n > 0) {
		(void) snprintf(wn, sizeof(wn), "%d", qs->wait_n);
		(void) snprintf(wms, sizeof(wms), "%d", qs->wait_ms);
		wargv[1] = wn;
		wargv[2] = wms;
		if (pm__qs_appendv(qs, 3, wargv) < 0) {
			qs_fail_pending(jobs, n, PM_EREDIS, !sent);
			return;
		}
		nrep++;
	}
	rv = pm_calloc(nrep, sizeof(*rv));
	if (pm__qs_read(qs, rv, nrep) < 0) {
		/* Lost replies: the functions may have run. */
		qs_fail_pending(jobs, n, PM_EREDIS, 0);
		free(rv);
		return;
	}
	for (i = 0, at = 0; i < n; i++) {
		if (jobs[i].rc != QS_PENDING) {
			continue;
		}
		if (qs_judge(&jobs[i], rv + at) < 0) {
			drop = 1;
		}
		at += jobs[i].nbody + 1;
	}
	if (qs->wait_n > 0) {
		r = rv[at]->type == REDIS_REPLY_INTEGER;
		if (!r) {
			drop = 1;
		}
		for (i = 0; i < n; i++) {
			if (jobs[i].rc == 0 &&
			    (!r || rv[at]->integer < qs->wait_n)) {
				pm_msg_warn("%s: queued, but only %lld of %d "
				            "replicas acknowledged",
				    jobs[i].m->qid, r ? rv[at]->integer : 0LL,
				    qs->wait_n);
				jobs[i].rc = PM_EREDIS;
			}
		}
	}
	pm__qs_free_replies(rv, nrep);
	free(rv);
	if (drop) {
		pm__qs_drop(qs, "unexpected reply type");
	}
}

/* Remove what a definitely refused message left behind. */
static void
qs_undo(pm_qstore *qs, qs_job *jobs, size_t n, int keep_fs)
{
	const char *argv[] = { "DEL", NULL };
	redisReply **rv;
	size_t i, ndel = 0;

	for (i = 0; i < n; i++) {
		if (jobs[i].rc == 0 || !jobs[i].known) {
			continue;
		}
		if (jobs[i].stage[0] && qs->c != NULL) {
			argv[1] = jobs[i].stage;
			if (pm__qs_appendv(qs, 2, argv) == 0) {
				ndel++;
			}
		}
		jobs[i].stage[0] = 0;
		if (jobs[i].fs_body && !keep_fs &&
		    (jobs[i].rc != PM_EEXIST || jobs[i].seen)) {
			(void) pm_body_fs_delete(qs->body, jobs[i].m->qid);
			jobs[i].fs_body = 0;
		}
	}
	if (ndel > 0 && qs->c != NULL) {
		rv = pm_calloc(ndel, sizeof(*rv));
		if (pm__qs_read(qs, rv, ndel) == 0) {
			pm__qs_free_replies(rv, ndel);
		}
		free(rv);
	}
}

int
pm_qstore_enqueue_many(pm_qstore *qs, pm_qmsg *const *m,
    const void *const *body, const size_t *len, size_t n, int *rc)
{
	qs_job *jobs;
	size_t i;
	int first = 0, again;

	if (n > PM_QSTORE_BATCH_MAX) {
		for (i = 0; i < n; i++) {
			rc[i] = PM_ETOOBIG;
		}
		return (PM_ETOOBIG);
	}
	jobs = pm_calloc(n ? n : 1, sizeof(*jobs));
	for (i = 0; i < n; i++) {
		jobs[i].m = m[i];
		jobs[i].body = body[i] ? body[i] : "";
		jobs[i].len = body[i] ? len[i] : 0;
		jobs[i].rc = qs_check_msg(qs, m[i], jobs[i].len);
		if (jobs[i].rc == 0) {
			m[i]->size = jobs[i].len;
			jobs[i].rc = QS_PENDING;
		}
	}
	if (pm__qs_conn(qs) == NULL) {
		qs_fail_pending(jobs, n, PM_EREDIS, 1);
	} else if (pm_body_kind(qs->body) == PM_BODY_FS) {
		qs_fs_put_all(qs, jobs, n);
	}
	qs_round(qs, jobs, n);
	for (i = 0, again = 0; i < n; i++) {
		again |= jobs[i].retry;
	}
	if (again) {
		/* Redis lost its functions (restarted without its AOF?). */
		qs_undo(qs, jobs, n, 1);
		if (pm_qstore_load_functions(qs) == 0) {
			for (i = 0; i < n; i++) {
				if (jobs[i].retry) {
					jobs[i].rc = QS_PENDING;
					jobs[i].known = 0;
					jobs[i].retry = 0;
				}
			}
			qs_round(qs, jobs, n);
		}
	}
	qs_undo(qs, jobs, n, 0);
	for (i = 0; i < n; i++) {
		rc[i] = jobs[i].rc;
		if (first == 0) {
			first = rc[i];
		}
	}
	free(jobs);
	return (first);
}

int
pm_qstore_enqueue(pm_qstore *qs, pm_qmsg *m, const void *body, size_t len)
{
	int rc;

	(void) pm_qstore_enqueue_many(qs, &m, &body, &len, 1, &rc);
	return (rc);
}
