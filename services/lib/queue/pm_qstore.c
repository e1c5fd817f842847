/*
 * NAME
 *	pm_qstore - the Redis queue store: atomic enqueue, read-back, delete
 * DESCRIPTION
 *	See pm_qstore.h and docs/queue.md. One hiredis 0.14 synchronous
 *	context per pm_qstore; every multi-command step is pipelined
 *	(redisAppendCommandArgv, then one redisGetReply per command) so it
 *	costs one round trip.
 *
 *	Connection rule: an I/O error, a timeout or a reply of the wrong
 *	type frees the context; the next call connects again. An error
 *	reply (OOM, EXISTS) leaves the connection in step and keeps it.
 *	Every reply of a pipeline is read before the function returns, so
 *	a kept connection never holds a stale reply; and a kept connection
 *	the server closed while it was idle is found before the next call
 *	sends anything (a peek at the socket) and made again, so that call
 *	does not fail (a Redis restart, a Sentinel failover).
 *
 *	This file: connection handling, open/close, PING, loading the
 *	functions library and consumer groups, delete, stream length.
 *	pm_qstore_enq.c enqueues, pm_qstore_read.c reads back;
 *	pm_qstore_lua.c holds the functions; pm_body.c the body store.
 * LIMITS
 *	PM_BODY_CHUNK_SIZE per Redis body chunk, PM_BODY_ORPHAN_TTL_MS for
 *	a staged body, QS_RCPT_MAX recipients, PM_QSTORE_BATCH_MAX messages
 *	per pm_qstore_enqueue_many().
 * SECURITY
 *	Queue ids are checked with pm_qid_valid() before they are used in
 *	keys or file names. Replies are checked for type; data read back
 *	is checked (counts, numbers, embedded NULs) before use, and bad
 *	data is PM_EIO ("corrupt"), never a crash.
 */
#include "pm_qstore_priv.h"
#include "pm_log.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>

/* Envelope fields of m, in the order they are written. */
const pm__qs_field pm__qs_fields[QS_NFIELDS] = {
	{ "sender", QF_STR, offsetof(pm_qmsg, sender), 1 },
	{ "arrival", QF_I64, offsetof(pm_qmsg, arrival_us), 1 },
	{ "size", QF_SIZE, offsetof(pm_qmsg, size), 1 },
	{ "nrcpt", QF_SIZE, offsetof(pm_qmsg, nrcpt), 0 },
	{ "client_name", QF_STR, offsetof(pm_qmsg, client_name), 0 },
	{ "client_addr", QF_STR, offsetof(pm_qmsg, client_addr), 0 },
	{ "client_port", QF_STR, offsetof(pm_qmsg, client_port), 0 },
	{ "helo", QF_STR, offsetof(pm_qmsg, helo_name), 0 },
	{ "protocol", QF_STR, offsetof(pm_qmsg, protocol), 0 },
	{ "sasl_username", QF_STR, offsetof(pm_qmsg, sasl_username), 0 },
	{ "sasl_method", QF_STR, offsetof(pm_qmsg, sasl_method), 0 },
	{ "sasl_sender", QF_STR, offsetof(pm_qmsg, sasl_sender), 0 },
	{ "envid", QF_STR, offsetof(pm_qmsg, dsn_envid), 0 },
	{ "ret", QF_INT, offsetof(pm_qmsg, dsn_ret), 0 },
	{ "body_type", QF_INT, offsetof(pm_qmsg, body_type), 0 },
	{ "flags", QF_UINT, offsetof(pm_qmsg, flags), 0 },
	{ "attempts", QF_INT, offsetof(pm_qmsg, attempts), 0 },
	{ "next_attempt", QF_I64, offsetof(pm_qmsg, next_attempt_us), 0 },
	{ "expire", QF_INT, offsetof(pm_qmsg, expire), 0 },
};

/* Connection. */

/* "host:port", "[v6]:port", "host" or "unix:/path". */
int
pm__qs_parse_server(pm_qstore *qs, const char *spec)
{
	const char *colon, *end;
	char *ep;
	long port = QS_DEFAULT_PORT;

	if (strncmp(spec, "unix:", 5) == 0) {
		if (spec[5] != '/') {
			return (PM_EINVAL);
		}
		qs->host = pm_strdup(spec + 5);
		qs->port = 0;
		return (0);
	}
	if (spec[0] == '[') {
		if ((end = strchr(spec, ']')) == NULL || end == spec + 1) {
			return (PM_EINVAL);
		}
		qs->host = pm_strndup(spec + 1, (size_t) (end - spec - 1));
		colon = (end[1] == ':' ? end + 1 : NULL);
		if (colon == NULL && end[1] != 0) {
			return (PM_EINVAL);
		}
	} else {
		colon = strchr(spec, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			return (PM_EINVAL); /* a bare IPv6 address: use [] */
		}
		if (colon == spec || spec[0] == 0) {
			return (PM_EINVAL);
		}
		qs->host = colon ? pm_strndup(spec, (size_t) (colon - spec)) :
		                   pm_strdup(spec);
	}
	if (colon != NULL) {
		port = strtol(colon + 1, &ep, 10);
		if (colon[1] == 0 || *ep != 0 || port < 1 || port > 65535) {
			return (PM_EINVAL);
		}
	}
	qs->port = (int) port;
	return (0);
}

/*
 * The shard count the queue was made with: a message's keys are found
 * through pm_qid_shard(qid, queue_shards), so a service with another
 * count would miss queued messages (and finish them, deleting their
 * bodies). The first connection to an empty store records the count in
 * QS_SHARDS_KEY (SET NX); every later connection compares. A mismatch
 * is fatal: the process must not run against this queue. Redis out of
 * memory (SET refused) is not a mismatch: the count is recorded at a
 * later connection. Returns 0, or -1 (Redis trouble, logged).
 */
static int
qs_check_shards(pm_qstore *qs, redisContext *c)
{
	redisReply *r;
	char want[16], *got;
	int rc = 0;

	(void) snprintf(want, sizeof(want), "%d", qs->nshards);
	r = redisCommand(c, "GET %s", QS_SHARDS_KEY);
	if (r != NULL && r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		r = redisCommand(c, "SET %s %s NX GET", QS_SHARDS_KEY, want);
		if (r != NULL && r->type == REDIS_REPLY_NIL) {
			pm_msg_info("new queue in Redis %s: %s = %s recorded "
			            "in %s",
			    qs->server, "queue_shards", want, QS_SHARDS_KEY);
			freeReplyObject(r);
			return (0);
		}
		if (pm__qs_is_err(r, "OOM")) {
			freeReplyObject(r);
			return (0);
		}
		/* another process recorded it first: compare with that */
	}
	if (r == NULL || r->type != REDIS_REPLY_STRING) {
		/* NOAUTH: Redis wants a password and we have none */
		(void) snprintf(qs->conn_err, sizeof(qs->conn_err),
		    "Redis %s: cannot read %s: %s%s", qs->server, QS_SHARDS_KEY,
		    r == NULL                        ? c->errstr :
		        r->type == REDIS_REPLY_ERROR ? r->str :
		                                       "unexpected reply type",
		    pm__qs_is_err(r, "NOAUTH") ?
		        " (set redis_user and redis_password_file)" :
		        "");
		pm_printable(qs->conn_err);
		if (!qs->down) {
			pm_msg_warn("%s", qs->conn_err);
		}
		qs->down = 1;
		rc = -1;
	} else if (strcmp(r->str, want) != 0) {
		got = pm_printable_dup(r->str, r->len, 16);
		pm_msg_fatal(
		    "queue_shards = %s, but the queue in Redis %s "
		    "was made with queue_shards = %s (%s): queued mail would "
		    "not be found; set queue_shards = %s, or drain the queue "
		    "and delete %s first",
		    want, qs->server, got, QS_SHARDS_KEY, got, QS_SHARDS_KEY);
	}
	if (r != NULL) {
		freeReplyObject(r);
	}
	return (rc);
}

/*
 * 1 if the server has closed an idle connection. Every reply is read
 * before a call returns, so an idle connection has nothing to read:
 * end of file, an error or bytes nobody asked for mean it is gone (a
 * Redis restart; Sentinel's CLIENT KILL when it turns the old master
 * into a replica) or out of step. Peeks without waiting; a connection
 * with commands appended but not sent yet is not idle and is left to
 * the call.
 */
static int
qs_conn_closed(const redisContext *c)
{
	char b;
	ssize_t n;

	if (c->obuf != NULL && c->obuf[0] != 0) {
		return (0);
	}
	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return (n >= 0 ||
	    (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR));
}

redisContext *
pm__qs_conn(pm_qstore *qs)
{
	struct timeval tv;
	redisContext *c;

	if (qs->c != NULL && qs->stale) { /* -READONLY: ask the sentinels */
		pm__qs_drop(qs, "the server is a replica now (READONLY)");
	}
	/*
	 * Found before a command is sent, not by the command failing: each
	 * pooled connection (cleanup's workers, qmgr's, the agents' slots)
	 * would otherwise fail one call after every failover or restart,
	 * and a client would get a 451 for each of them in turn.
	 */
	if (qs->c != NULL && qs_conn_closed(qs->c)) {
		pm__qs_drop(qs, "the server closed the idle connection");
	}
	if (qs->c != NULL) {
		return (qs->c);
	}
	qs->stale = 0;
	tv.tv_sec = qs->timeout_ms / 1000;
	tv.tv_usec = (qs->timeout_ms % 1000) * 1000;
	if (pm__qs_sentinel_on()) { /* pm_qstore_sentinel.c */
		if ((c = pm__qs_sentinel_connect(qs, tv)) == NULL) {
			qs->down = 1;
			return (NULL);
		}
	} else if (qs->port == 0) {
		c = redisConnectUnixWithTimeout(qs->host, tv);
	} else {
		c = redisConnectWithTimeout(qs->host, qs->port, tv);
	}
	if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) != REDIS_OK) {
		c->err = REDIS_ERR_IO;
		(void) snprintf(c->errstr, sizeof(c->errstr),
		    "cannot set timeout");
	}
	if (c == NULL || c->err != 0) {
		(void) snprintf(qs->conn_err, sizeof(qs->conn_err),
		    "Redis at %s is not reachable: %s", qs->server,
		    c ? c->errstr : "cannot allocate context");
		if (!qs->down) {
			pm_msg_warn("connect to Redis %s: %s", qs->server,
			    c ? c->errstr : "cannot allocate context");
		}
		qs->down = 1;
		if (c != NULL) {
			redisFree(c);
		}
		return (NULL);
	}
	/* AUTH first: with an ACL nothing else is allowed before it. */
	if (pm__qs_auth(qs, c) < 0 || pm__qs_sentinel_role(qs, c) < 0 ||
	    qs_check_shards(qs, c) < 0) {
		qs->down = 1;
		redisFree(c);
		return (NULL);
	}
	qs->conn_err[0] = 0;
	if (qs->down) {
		pm_msg_info("connected to Redis %s", qs->server);
		pm__qs_reconnected();
		qs->down = 0;
	}
	qs->c = c;
	return (c);
}

/* Forget the connection after an I/O error or a confusing reply. */
void
pm__qs_drop(pm_qstore *qs, const char *why)
{
	if (qs->c == NULL) {
		return;
	}
	if (!qs->down) {
		pm_msg_warn("Redis %s: %s", qs->server,
		    why ? why : (qs->c->err ? qs->c->errstr : "error"));
	}
	qs->down = 1;
	redisFree(qs->c);
	qs->c = NULL;
}

/* Read n replies of a pipeline; on failure none is kept. */
int
pm__qs_read(pm_qstore *qs, redisReply **rv, size_t n)
{
	sigset_t saved;
	void *r;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		r = NULL;
		if (i > 0) {
			rc = redisGetReply(qs->c, &r);
		} else {
			/* the first call writes the pipeline: Redis may be gone */
			pm_sigpipe_block(&saved);
			rc = redisGetReply(qs->c, &r);
			pm_sigpipe_restore(&saved);
		}
		if (rc != REDIS_OK || r == NULL) {
			pm__qs_drop(qs, NULL);
			while (i > 0) {
				freeReplyObject(rv[--i]);
			}
			return (PM_EREDIS);
		}
		rv[i] = r;
		pm__qs_note_reply(qs, r);
	}
	return (0);
}

void
pm__qs_free_replies(redisReply **rv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (rv[i] != NULL) {
			freeReplyObject(rv[i]);
			rv[i] = NULL;
		}
	}
}

/* Append one command; on failure the connection is dropped. */
int
pm__qs_append(pm_qstore *qs, int argc, const char **argv, const size_t *argl)
{
	if (redisAppendCommandArgv(qs->c, argc, argv, argl) != REDIS_OK) {
		pm__qs_drop(qs, "cannot queue a command");
		return (PM_EREDIS);
	}
	return (0);
}

/* Append a command of NUL-terminated words (no binary data). */
int
pm__qs_appendv(pm_qstore *qs, int argc, const char **argv)
{
	size_t argl[16];
	int i;

	PM_ASSERT(argc <= 16);
	for (i = 0; i < argc; i++) {
		argl[i] = strlen(argv[i]);
	}
	return (pm__qs_append(qs, argc, argv, argl));
}

/* An error reply whose first word is code ("OOM", "EXISTS", ...)? */
int
pm__qs_is_err(const redisReply *r, const char *code)
{
	size_t n = strlen(code);

	return (r != NULL && r->type == REDIS_REPLY_ERROR && r->len >= n &&
	    strncmp(r->str, code, n) == 0 && (r->len == n || r->str[n] == ' '));
}

int
pm__qs_is_nofunc(const redisReply *r)
{
	return (r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strstr(r->str, "Function not found") != NULL);
}

void
pm__qs_warn_reply(const char *qid, const char *what, const redisReply *r)
{
	char *text;

	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		text = pm_printable_dup(r->str, r->len, 200);
		pm_msg_warn("%s: %s: Redis said: %s", qid, what, text);
		free(text);
	} else {
		pm_msg_warn("%s: %s: unexpected Redis reply type %d", qid, what,
		    r ? r->type : -1);
	}
}

void
pm__qs_key(char *buf, int shard, const char *kind, const char *qid)
{
	if (qid != NULL) {
		(void) snprintf(buf, QS_KEY_MAX, "pm:{%d}:%s:%s", shard, kind,
		    qid);
	} else {
		(void) snprintf(buf, QS_KEY_MAX, "pm:{%d}:%s", shard, kind);
	}
}

/* Open, close, functions. */

pm_qstore *
pm_qstore_open(const char *redis_server, int timeout_ms, const char *body_store,
    int nshards)
{
	pm_qstore *qs;

	if (redis_server == NULL || nshards < 1 || nshards > 16384 ||
	    timeout_ms < 1) {
		pm_msg_error("pm_qstore_open: bad arguments");
		return (NULL);
	}
	qs = pm_calloc(1, sizeof(*qs));
	qs->server = pm_strdup(redis_server);
	qs->timeout_ms = timeout_ms;
	qs->nshards = nshards;
	if (pm__qs_parse_server(qs, redis_server) < 0) {
		pm_msg_error("redis_server: bad value \"%s\": want host:port, "
		             "[addr]:port or unix:/path",
		    redis_server);
		return (pm_qstore_close(qs));
	}
	if ((qs->body = pm_body_open(body_store)) == NULL) {
		return (pm_qstore_close(qs));
	}
	if (getrandom(&qs->stage_seq, sizeof(qs->stage_seq), 0) !=
	    (ssize_t) sizeof(qs->stage_seq)) {
		qs->stage_seq = (unsigned long long) pm_now_us();
	}
	/* connect now: a shard count mismatch stops the process at start */
	(void) pm__qs_conn(qs);
	return (qs);
}

pm_qstore *
pm_qstore_close(pm_qstore *qs)
{
	if (qs != NULL) {
		if (qs->c != NULL) {
			redisFree(qs->c);
		}
		pm_body_free(qs->body);
		free(qs->server);
		free(qs->host);
		free(qs);
	}
	return (NULL);
}

void
pm_qstore_set_wait_replicas(pm_qstore *qs, int n, int timeout_ms)
{
	qs->wait_n = n > 0 ? n : 0;
	qs->wait_ms = timeout_ms > 0 ? timeout_ms : 0;
}

int
pm_qstore_ping(pm_qstore *qs)
{
	const char *argv[] = { "PING" };
	redisReply *r;
	int rc;

	if (pm__qs_conn(qs) == NULL || pm__qs_appendv(qs, 1, argv) < 0 ||
	    pm__qs_read(qs, &r, 1) < 0) {
		return (PM_EREDIS);
	}
	rc = (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) ?
	    0 :
	    PM_EREDIS;
	freeReplyObject(r);
	return (rc);
}

int
pm_qstore_load_functions(pm_qstore *qs)
{
	const char *lf[] = { "FUNCTION", "LOAD", "REPLACE", pm__qstore_lua };
	const char *xg[] = { "XGROUP", "CREATE", NULL, QS_GROUP, "0",
		"MKSTREAM" };
	char key[QS_KEY_MAX];
	redisReply **rv;
	size_t n = (size_t) qs->nshards + 1, i;
	int rc = 0, s;

	if (pm__qs_conn(qs) == NULL || pm__qs_appendv(qs, 4, lf) < 0) {
		return (PM_EREDIS);
	}
	/*
	 * The group starts at "0", not "$": entries added before the group
	 * existed are messages too. Processed entries are deleted by qmgr.
	 */
	for (s = 0; s < qs->nshards; s++) {
		pm__qs_key(key, s, "incoming", NULL);
		xg[2] = key;
		if (pm__qs_appendv(qs, 6, xg) < 0) {
			return (PM_EREDIS);
		}
	}
	rv = pm_calloc(n, sizeof(*rv));
	if (pm__qs_read(qs, rv, n) < 0) {
		free(rv);
		return (PM_EREDIS);
	}
	if (rv[0]->type != REDIS_REPLY_STRING) {
		pm__qs_warn_reply("postmesh", "FUNCTION LOAD", rv[0]);
		rc = pm__qs_is_err(rv[0], "OOM") ? PM_EFULL : PM_EREDIS;
	}
	for (i = 1; i < n; i++) {
		if (rv[i]->type == REDIS_REPLY_STATUS ||
		    pm__qs_is_err(rv[i], "BUSYGROUP")) {
			continue;
		}
		pm__qs_warn_reply("postmesh", "XGROUP CREATE", rv[i]);
		if (rc == 0) {
			rc = pm__qs_is_err(rv[i], "OOM") ? PM_EFULL : PM_EREDIS;
		}
	}
	pm__qs_free_replies(rv, n);
	free(rv);
	return (rc);
}

int
pm_qstore_delete(pm_qstore *qs, const char *qid)
{
	const char *argv[11];
	char k[5][QS_KEY_MAX];
	redisReply *r = NULL;
	int shard, rc, tries;

	if (!pm_qid_valid(qid)) {
		return (PM_EINVAL);
	}
	shard = pm_qid_shard(qid, qs->nshards);
	pm__qs_key(k[0], shard, "m", qid);
	pm__qs_key(k[1], shard, "r", qid);
	pm__qs_key(k[2], shard, "b", qid);
	pm__qs_key(k[3], shard, "deferred", NULL);
	pm__qs_key(k[4], shard, "hold", NULL);
	argv[0] = "FCALL";
	argv[1] = "pm_delete";
	argv[2] = "5";
	for (rc = 0; rc < 5; rc++) {
		argv[3 + rc] = k[rc];
	}
	argv[8] = qid;
	for (tries = 0; tries < 2; tries++) {
		if (pm__qs_conn(qs) == NULL ||
		    pm__qs_appendv(qs, 9, argv) < 0 ||
		    pm__qs_read(qs, &r, 1) < 0) {
			return (PM_EREDIS);
		}
		if (!pm__qs_is_nofunc(r) || tries > 0 ||
		    pm_qstore_load_functions(qs) < 0) {
			break;
		}
		freeReplyObject(r);
		r = NULL;
	}
	if (r->type == REDIS_REPLY_NIL) {
		rc = PM_ENOENT;
	} else if (r->type == REDIS_REPLY_STRING) {
		rc = 0;
	} else {
		pm__qs_warn_reply(qid, "delete", r);
		rc = PM_EREDIS;
		if (r->type != REDIS_REPLY_ERROR) {
			pm__qs_drop(qs, "unexpected reply type");
		}
	}
	freeReplyObject(r);
	/* A file that no message names is removed too (an orphan). */
	if (rc != PM_EREDIS && pm_body_kind(qs->body) == PM_BODY_FS &&
	    pm_body_fs_delete(qs->body, qid) < 0) {
		rc = PM_EIO;
	}
	return (rc);
}

int
pm_qstore_incoming_len(pm_qstore *qs, long long *len)
{
	const char *argv[] = { "XLEN", NULL };
	char key[QS_KEY_MAX];
	redisReply **rv;
	long long sum = 0;
	int s, rc = 0;

	if (pm__qs_conn(qs) == NULL) {
		return (PM_EREDIS);
	}
	for (s = 0; s < qs->nshards; s++) {
		pm__qs_key(key, s, "incoming", NULL);
		argv[1] = key;
		if (pm__qs_appendv(qs, 2, argv) < 0) {
			return (PM_EREDIS);
		}
	}
	rv = pm_calloc((size_t) qs->nshards, sizeof(*rv));
	if (pm__qs_read(qs, rv, (size_t) qs->nshards) < 0) {
		free(rv);
		return (PM_EREDIS);
	}
	for (s = 0; s < qs->nshards; s++) {
		if (rv[s]->type != REDIS_REPLY_INTEGER) {
			pm__qs_warn_reply("incoming", "XLEN", rv[s]);
			rc = PM_EREDIS;
		} else {
			sum += rv[s]->integer;
		}
	}
	pm__qs_free_replies(rv, (size_t) qs->nshards);
	free(rv);
	if (rc == 0) {
		*len = sum;
	}
	return (rc);
}
