/*
 * NAME
 *	pm_qstore_priv - internals shared by the pm_qstore*.c files
 * DESCRIPTION
 *	Not for callers outside pm_qstore.c (connection, functions,
 *	delete), pm_qstore_enq.c (enqueue), pm_qstore_read.c (read
 *	back), pm_qstore_claim.c and pm_qstore_deliv.c (delivery
 *	side). The connection rule: pm__qs_conn() connects when there is
 *	no context; an I/O error or a reply out of step frees it
 *	(pm__qs_drop); pm__qs_read() reads every reply of a pipeline or
 *	drops the connection, so a kept connection never holds a stale
 *	reply.
 */
#ifndef PM_QSTORE_PRIV_H
#define PM_QSTORE_PRIV_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "pm_body.h"
#include "pm_qstore.h"

#define QS_RCPT_MAX 100000 /* recipients per message */
#define QS_KEY_MAX 96
#define QS_DEFAULT_PORT 6379
#define QS_GROUP "qmgr"
#define QS_SHARDS_KEY \
	"pm:queue_shards" /* queue_shards the queue was made with */

struct pm_qstore {
	char *server; /* as configured, for logs */
	char *host;   /* host name, address or unix socket path */
	int port;     /* 0: unix socket */
	int timeout_ms;
	int nshards;
	pm_body *body;
	redisContext *c;
	int down;           /* unreachable was logged */
	int auth_refused;   /* AUTH refused was logged (pm_qstore_auth.c) */
	char conn_err[256]; /* why the last connect failed, for callers */
	int wait_n;
	int wait_ms;
	int stale; /* a -READONLY reply: reconnect (pm_qstore_sentinel.c) */
	unsigned long long stage_seq;
	unsigned claim_rr; /* first shard of the next claim (fairness) */
};

/* Envelope fields of m ("sender", "arrival", ...), in write order. */
enum { QF_STR, QF_I64, QF_SIZE, QF_INT, QF_UINT };
typedef struct pm__qs_field {
	const char *name;
	int type;   /* QF_* */
	size_t off; /* in pm_qmsg */
	int required;
} pm__qs_field;
#define QS_NFIELDS 19
extern const pm__qs_field pm__qs_fields[QS_NFIELDS];

extern const char pm__qstore_lua[];

redisContext *pm__qs_conn(pm_qstore *qs);
/* A connection made after an outage (pm_qstore_health.c counts it). */
void pm__qs_reconnected(void);
/* AUTH on a new connection c (pm_qstore_auth.c): 0, or -1 (refused or
 * I/O error; qs->conn_err says which, logged once per outage). */
int pm__qs_auth(pm_qstore *qs, redisContext *c);
void pm__qs_drop(pm_qstore *qs, const char *why);
/* "host:port", "[v6]:port", "host" or "unix:/path" into qs->host, port. */
int pm__qs_parse_server(pm_qstore *qs, const char *spec);

/* Redis Sentinel (pm_qstore_sentinel.c). */
#define PM_QS_SENTINELS_MAX 16
/* 1 if redis_sentinel_servers is set. */
int pm__qs_sentinel_on(void);
/* Ask the sentinels for the master and connect to it (qs->server then
 * names it); NULL with qs->conn_err set when no sentinel answered. */
redisContext *pm__qs_sentinel_connect(pm_qstore *qs, struct timeval tv);
/* With sentinels, ROLE on c must say master: 0, or -1 (conn_err). */
int pm__qs_sentinel_role(pm_qstore *qs, redisContext *c);
/* Note a reply: -READONLY marks the connection stale. */
void pm__qs_note_reply(pm_qstore *qs, const redisReply *r);
int pm__qs_read(pm_qstore *qs, redisReply **rv, size_t n);
void pm__qs_free_replies(redisReply **rv, size_t n);
int pm__qs_append(pm_qstore *qs, int argc, const char **argv,
    const size_t *argl);
int pm__qs_appendv(pm_qstore *qs, int argc, const char **argv);
int pm__qs_is_err(const redisReply *r, const char *code);
int pm__qs_is_nofunc(const redisReply *r);
void pm__qs_warn_reply(const char *qid, const char *what, const redisReply *r);
/* "pm:{shard}:kind:qid", or "pm:{shard}:kind" when qid is NULL. */
void pm__qs_key(char *buf, int shard, const char *kind, const char *qid);

/* HGETALL m and r replies of qid into a message (pm_qstore_read.c):
 * 0, PM_ENOENT (no m), PM_EIO (corrupt, logged), PM_EREDIS. */
int pm__qs_read_parse(const char *qid, int shard, const redisReply *rm,
    const redisReply *rr, pm_qmsg **out);

/* Delivery side helpers (pm_qstore_deliv.c). */
#define QS_ID_MAX (sizeof(((pm_qentry *) 0)->id))
/* A stream entry id "digits-digits" of len bytes. */
int pm__qs_id_ok(const char *s, size_t len);
/* Shard in range, entry id and queue id well-formed. */
int pm__qs_entry_ok(const pm_qstore *qs, const pm_qentry *e);
/* A string or status reply without NULs. */
int pm__qs_is_str(const redisReply *r);
/* Log an unexpected reply; drop the connection unless it is an error
 * reply. Returns PM_EFULL for OOM, else PM_EREDIS. */
int pm__qs_bad_reply(pm_qstore *qs, const char *who, const char *what,
    const redisReply *r);
/*
 * One command, one reply of any type in *out (caller frees). Loads the
 * library and retries once on "Function not found" (and on NOGROUP
 * when retry_nogroup). argl NULL: C strings. PM_EREDIS if no reply.
 */
int pm__qs_call(pm_qstore *qs, int argc, const char **argv, const size_t *argl,
    int retry_nogroup, redisReply **out);
/* Stream entry [id, fields]: 1 valid, 0 no valid qid (e->id set),
 * PM_EREDIS wrong shape. */
int pm__qs_parse_entry(const redisReply *r, int shard, pm_qentry *e);

/* Claim side helpers (pm_qstore_claim.c). */
#define QS_CONSUMER_MAX PM_QSTORE_CONSUMER_MAX
/* 1 if c is a consumer name: 1..QS_CONSUMER_MAX printable bytes. */
int pm__qs_consumer_ok(const char *c);
/* Claimed entries without a valid queue id, to be removed. */
typedef struct pm__qs_bad {
	int shard;
	char id[QS_ID_MAX];
} pm__qs_bad;
typedef struct pm__qs_badlist {
	pm__qs_bad *v;
	size_t n, cap;
} pm__qs_badlist;
/* Warn about e and add it to b. */
void pm__qs_bad_add(pm__qs_badlist *b, const pm_qentry *e);
/* XACK + XDEL the entries of b (best effort); frees b's array. */
void pm__qs_bad_flush(pm_qstore *qs, pm__qs_badlist *b);

/* Fencing (pm_qstore_fence.c). */
/*
 * A new lease for each of the n claimed entries of consumer (function
 * pm_lease, pipelined): sets owner and epoch; entries no longer the
 * consumer's are removed from e[] (*n shrinks). On a Redis error none
 * is returned (*n = 0): they stay pending for the consumer and are
 * taken up again (claim_own at start, or the lease takeover).
 */
int pm__qs_lease(pm_qstore *qs, const char *consumer, pm_qentry *e, size_t *n);
/* Append "owner epoch" to argv when e is fenced; epoch is a buffer of
 * 24 bytes. Returns the new argc. */
int pm__qs_fence_args(const pm_qentry *e, const char **argv, int argc,
    char *epoch);
/* pm_qstore_rcpt_cas, fenced by e when e is not NULL. */
int pm__qs_rcpt_call(pm_qstore *qs, const char *qid, size_t index,
    const char *status, const char *dsn, const char *text, const pm_qentry *e,
    pm_qrcpt_final *out);

#endif
