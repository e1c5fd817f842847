/*
 * NAME
 *	pm_qstore - the Redis queue store: atomic enqueue, read-back, delete
 * SUMMARY
 *	#include "pm_qstore.h"
 * DESCRIPTION
 *	The queue of ../shared/DESIGN.md ("Queue store"). Keys, for a
 *	message with queue id Q in shard S (pm_qid_shard):
 *	  pm:{S}:m:Q   hash: envelope (see pm_qmsg and docs/queue.md)
 *	  pm:{S}:r:Q   hash: recipients, fields per recipient index i:
 *	               "i:a" address, "i:o" orcpt, "i:n" notify bits,
 *	               "i:s" status (todo|sent|bounced|deferred),
 *	               "i:d" last DSN code, "i:t" last reply text
 *	  pm:{S}:b:Q   body (redis body store): a list of chunks
 *	  pm:{S}:incoming  stream, one entry per queued message: field
 *	               "qid" = Q; consumer group "qmgr" (created at start)
 *	  pm:{S}:deferred, pm:{S}:hold  (issue 3)
 *	  pm:{S}:seen:Q  an id refused again until it expires (keep_id_ms)
 *	  pm:queue_shards  the queue_shards the queue was made with: every
 *	               connection compares, a mismatch is fatal
 *
 *	Enqueue (pm_qstore_enqueue): the body chunks are written first
 *	under a staging key pm:{S}:t:Q:<nonce>, each chunk with an expiry
 *	(queue_body_orphan_ttl), then the Redis Function "pm_enqueue"
 *	(library "postmesh", loaded with FUNCTION LOAD REPLACE by
 *	pm_qstore_load_functions) atomically checks that the message does
 *	not exist yet, renames the staged body to pm:{S}:b:Q and removes
 *	its expiry, writes m and r and XADDs to incoming. (Staging keeps a
 *	second enqueue of the same id from touching the queued body.) All
 *	commands of one enqueue are pipelined in one round trip. If
 *	anything fails the message is not queued: no m, r or stream entry
 *	exists, and a stray body expires by itself. With fs: bodies, the
 *	body file is durable (fdatasync, link, fsync of the directory)
 *	before the function runs. See docs/queue.md.
 *
 *	Many enqueues in flight: a pm_qstore is one hiredis connection, used
 *	by one thread at a time; open one per worker thread (cleanup has
 *	many workers). pm_qstore_enqueue_many() pipelines several messages
 *	in one round trip on one connection.
 *
 *	After any Redis error the connection is reconnected on the next call.
 * LIMITS
 *	Body chunks of queue_body_chunk_size (default 256 KiB) so a large
 *	body never blocks Redis for long. Replies are checked for type and
 *	size before use.
 * SECURITY
 *	Queue ids are checked with pm_qid_valid() before use in keys.
 *	Data read back from Redis is checked (counts, lengths) before use.
 */
#ifndef PM_QSTORE_H
#define PM_QSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "pm_qid.h"
#include "pm_util.h"

/* Recipient status values (stored as strings). */
#define PM_RCPT_TODO "todo"
#define PM_RCPT_SENT "sent"
#define PM_RCPT_BOUNCED "bounced"
#define PM_RCPT_DEFERRED "deferred"
/*
 * Sent, and qmgr sends no success notice for it: the notice is
 * someone else's (the agent sent an owner- failure notice, local(8)'s
 * bounce_workaround; or the next MTA took NOTIFY). Kept in Redis so a
 * qmgr that takes the message over does not send a success notice
 * either. Not stored under this name: pm_rcpt_status stores it as
 * "i:s" = sent plus "i:q" = 1, so a version that does not know it
 * reads sent (docs/queue.md); pm_qstore_read() and the compare-and-set
 * reply give it this name again, also for the "i:s" = notified that
 * the version of 2026-12-02 stored.
 */
#define PM_RCPT_NOTIFIED "notified"

typedef struct pm_qrcpt {
	char *address;   /* as given by the client (after cleanup rewriting) */
	char *orcpt;     /* original recipient (DSN ORCPT), may be "" */
	unsigned notify; /* Notify bits of common.proto */
	char *status;    /* PM_RCPT_* ; enqueue ignores it (always todo) */
	char *dsn;       /* last DSN code, "" if none */
	char *text;      /* last reply text, "" if none */
	char *action;    /* "i:x": a sent one's notice action, "" if none */
} pm_qrcpt;

typedef struct pm_qmsg {
	char qid[PM_QID_LEN + 1];
	int shard;
	char *sender; /* "" for the null sender */
	int64_t arrival_us;
	size_t size; /* content bytes */
	char *client_name;
	char *client_addr;
	char *client_port;
	char *helo_name;
	char *protocol;
	char *sasl_username;
	char *sasl_method;
	char *sasl_sender; /* MAIL FROM AUTH= */
	char *dsn_envid;
	int dsn_ret;    /* DsnRet of cleanup.proto */
	int body_type;  /* BodyType of cleanup.proto */
	unsigned flags; /* SubmitFlag bits of cleanup.proto */
	int attempts;
	int64_t next_attempt_us;
	/* 1: force-expired (postsuper -e/-f, pm_qadmin.c): qmgr returns
	 * it to the sender at its next attempt instead of delivering */
	int expire;
	size_t nrcpt;
	pm_qrcpt *rcpt;
	/*
	 * Enqueue only: > 0 keeps the queue id refused (PM_EEXIST) for
	 * this long after the message is gone, in pm:{S}:seen:Q. For ids
	 * that a retried request derives again (bounce notices).
	 */
	int64_t keep_id_ms;
} pm_qmsg;

/* Free a message read by pm_qstore_read(); NULL is fine; returns NULL. */
pm_qmsg *pm_qmsg_free(pm_qmsg *m);

typedef struct pm_qstore pm_qstore;

/*
 * Connect to redis_server ("host:port", "[v6]:port" or "unix:/path"),
 * with timeout_ms for connect and every command. body_store is "redis"
 * or "fs:/path". nshards is queue_shards. Returns NULL and logs on a bad
 * spec; an unreachable Redis is not an error here (each call retries
 * the connection and returns PM_EREDIS while it is down).
 */
pm_qstore *pm_qstore_open(const char *redis_server, int timeout_ms,
    const char *body_store, int nshards);
pm_qstore *pm_qstore_close(pm_qstore *qs);

/*
 * Redis credentials for every later connection of every pm_qstore of
 * the process (pm_qstore_auth.c): right after connect, "AUTH user
 * password" (user NULL or "": "AUTH password", the default user);
 * password NULL or "": no AUTH. Both are copied; open connections are
 * kept. A refused AUTH fails the connection like an unreachable Redis
 * (PM_EREDIS from the call, retried at the next one) and is logged
 * without the password.
 */
void pm_qstore_set_auth(const char *user, const char *password);

/*
 * Redis Sentinel for every later connection of every pm_qstore of the
 * process (pm_qstore_sentinel.c): servers is a list of host:port
 * (comma or space separated, port 26379 when left out, at most 16);
 * each connection asks them in turn, each within timeout_ms, for the
 * address of master, connects there, sends AUTH and checks that ROLE
 * says master. password (NULL or "": none) is sent to the sentinels.
 * servers "" turns Sentinel off (redis_server is used). Returns 0 or
 * PM_EINVAL (bad list; nothing changed).
 */
int pm_qstore_set_sentinels(const char *servers, const char *master,
    const char *password, int timeout_ms);
/* The server qs connects to, for logs: redis_server, or with the
 * sentinels the master they named last. Valid until the next call on
 * qs. */
const char *pm_qstore_server(const pm_qstore *qs);

/* FUNCTION LOAD REPLACE the postmesh library; create consumer groups. */
int pm_qstore_load_functions(pm_qstore *qs);

/*
 * Plain keys next to the queue (pm_qstore_kv.c): HGET (PM_ENOENT if
 * absent; *value a new string), INCR with EXPIRE ttl_s on creation
 * (ttl_s <= 0: no TTL), GET of a counter (0 if absent).
 */
int pm_qstore_hget(pm_qstore *qs, const char *key, const char *field,
    char **value);
int pm_qstore_incr_expire(pm_qstore *qs, const char *key, long ttl_s,
    long long *count);
int pm_qstore_get_count(pm_qstore *qs, const char *key, long long *count);
/*
 * One atomic step (a script): INCR key (EXPIRE ttl_s on creation); when
 * the new count exceeds limit, DECR it back. *count is the count after
 * the INCR (> limit: not taken). pm_qstore_decr_existing(): DECR key
 * only if it exists (an expired counter is not made negative).
 */
int pm_qstore_incr_limit(pm_qstore *qs, const char *key, long ttl_s,
    long long limit, long long *count);
int pm_qstore_decr_existing(pm_qstore *qs, const char *key);

/*
 * Leased members of a sorted set (pm_qstore_lease.c): a count of live
 * things that forgets the things of a killed process once their lease
 * ends. See pm_qstore_lease.c for the scripts; out[] of _take is
 * {verdict 0 taken | 1 over limit | 2 over rate_limit, live count with
 * this one, rate count with this one}. _renew: ZREM the first ndrop
 * pairs, new leases for the others; n <= PM_QS_LEASE_BATCH.
 */
#define PM_QS_LEASE_BATCH 512
int pm_qstore_lease_take(pm_qstore *qs, const char *zkey, const char *member,
    long lease_s, long long limit, const char *rkey, long rate_ttl_s,
    long long rate_limit, long long out[3]);
int pm_qstore_lease_renew(pm_qstore *qs, size_t n, const char *const *keys,
    const char *const *members, size_t ndrop, long lease_s);

/* Redis reachable (PING)? 0 or PM_EREDIS. */
int pm_qstore_ping(pm_qstore *qs);

/*
 * PING for health (pm_qstore_health.c): 0 (PONG), PM_EAGAIN (Redis
 * answers -LOADING: it is replaying its append file or RDB), or
 * PM_EREDIS (unreachable or another error).
 */
int pm_qstore_probe(pm_qstore *qs);

/* Connections made again after Redis was unreachable, process-wide. */
unsigned long long pm_qstore_reconnects(void);

/*
 * Is Redis as durable as queue_durability mode ("fsync", "replica",
 * "none") promises (pm_qstore_durable.c)? 0: yes; PM_EAGAIN: no;
 * PM_EREDIS: cannot tell (down, loading, CONFIG refused). why gets a
 * printable line saying what Redis has.
 */
int pm_qstore_durable(pm_qstore *qs, const char *mode, int min_replicas,
    char *why, size_t whylen);

/*
 * Durable, atomic enqueue. m->qid must be valid and m->shard set by the
 * caller (pm_qid_shard(m->qid, nshards)); m->size is set from len.
 * Returns 0, PM_EEXIST (qid already queued, or queued before within
 * the keep_id_ms of that enqueue), PM_EFULL (Redis refuses writes:
 * OOM), PM_EREDIS, PM_EIO (fs body store).
 */
int pm_qstore_enqueue(pm_qstore *qs, pm_qmsg *m, const void *body, size_t len);

/*
 * Several messages in one round trip on one connection. rc[i] receives
 * the result of message i (as pm_qstore_enqueue); returns 0 if every
 * message was queued, else the first nonzero rc[i]. n is at most
 * PM_QSTORE_BATCH_MAX.
 */
#define PM_QSTORE_BATCH_MAX 64
int pm_qstore_enqueue_many(pm_qstore *qs, pm_qmsg *const *m,
    const void *const *body, const size_t *len, size_t n, int *rc);

/*
 * queue_durability = replica: when n > 0, every enqueue also sends
 * "WAIT n timeout_ms" in the same pipeline and fails with PM_EREDIS if
 * fewer than n replicas acknowledged (the message may be queued on the
 * primary all the same: the caller defers, delivery is at least once).
 * n = 0 (default) turns it off.
 */
void pm_qstore_set_wait_replicas(pm_qstore *qs, int n, int timeout_ms);

/* Read the envelope and recipients back. PM_ENOENT if not queued. */
int pm_qstore_read(pm_qstore *qs, const char *qid, pm_qmsg **out);
/* Read the body. *data is malloc'ed, NUL-terminated; caller frees. */
int pm_qstore_body_get(pm_qstore *qs, const char *qid, char **data,
    size_t *len);
/*
 * As pm_qstore_body_get(), and in the same HMGET the envelope fields
 * names[0..n-1] (n <= PM_QSTORE_ENV_MAX): on success vals[i] is a new
 * string, "" when the field is absent (caller frees each); on failure
 * every vals[i] is NULL.
 */
#define PM_QSTORE_ENV_MAX 16
int pm_qstore_body_get_env(pm_qstore *qs, const char *qid,
    const char *const *names, size_t n, char **vals, char **data, size_t *len);
/*
 * Delete every key of a message (and its body) atomically, and its id
 * from pm:{S}:deferred and pm:{S}:hold. PM_ENOENT if it was not queued
 * (any stray r, b or fs body is removed all the same).
 */
int pm_qstore_delete(pm_qstore *qs, const char *qid);

/* Number of entries in the incoming streams of all shards (tests, metrics). */
int pm_qstore_incoming_len(pm_qstore *qs, long long *len);

/*
 * Delivery side (qmgr and agents; issue 3). Implemented in
 * pm_qstore_deliv.c with Redis Functions in pm_qstore_lua.c. Every step
 * that must be atomic touches one shard and is one function call.
 */

/* Consumer names: 1..PM_QSTORE_CONSUMER_MAX printable bytes. */
#define PM_QSTORE_CONSUMER_MAX 128

/*
 * One claimed incoming entry. The claim functions also give the
 * message a new lease (pm_qstore_fence.c): owner is the consumer and
 * epoch the message's lease epoch in Redis. finish, defer, hold and
 * pm_qstore_rcpt_status_fenced() of an entry with epoch > 0 are fenced:
 * refused with PM_ELOST once another claim (by anyone, the same name
 * too) took the message. epoch 0: not fenced (an entry made by hand, or
 * whose message was gone at the claim).
 */
typedef struct pm_qentry {
	int shard;
	char id[48]; /* stream entry id "1700000000000-0" */
	char qid[PM_QID_LEN + 1];
	uint64_t epoch;
	char owner[PM_QSTORE_CONSUMER_MAX + 1];
} pm_qentry;

/*
 * XREADGROUP GROUP qmgr <consumer> COUNT max [BLOCK block_ms] STREAMS
 * over the given shards (all shards when shards == NULL) with ">":
 * new entries become this consumer's (its active queue). Fills out[],
 * sets *n. block_ms 0 = do not block. Malformed entries (no valid qid
 * field) are acknowledged, deleted and skipped with a warning.
 */
int pm_qstore_claim_new(pm_qstore *qs, const char *consumer, const int *shards,
    int nshards_sel, size_t max, int block_ms, pm_qentry *out, size_t *n);

/*
 * Take over entries idle for at least min_idle_ms (a dead qmgr's active
 * messages): XAUTOCLAIM on each selected shard, at most max in all.
 */
int pm_qstore_claim_stale(pm_qstore *qs, const char *consumer,
    const int *shards, int nshards_sel, long long min_idle_ms, size_t max,
    pm_qentry *out, size_t *n);

/*
 * Refresh the lease of entries this consumer holds (function
 * pm_lease_touch: XCLAIM ... JUSTID). An entry it no longer holds
 * (taken over by another consumer, or gone; or, for an entry with a
 * lease epoch, whose message records another lease: taken back by a
 * process under the same name) is left alone and, when lost is not NULL,
 * reported: lost[i] = 1 for e[i] (lost has n bytes; 0 for the others);
 * with lost NULL it is logged. On error lost says only what the calls
 * before the error found.
 */
int pm_qstore_touch(pm_qstore *qs, const char *consumer, const pm_qentry *e,
    size_t n, unsigned char *lost);

/*
 * Take back this consumer's own pending entries (XREADGROUP ... 0:
 * those it held when its process died), at most max over the selected
 * shards, from shard to shard. A restarted qmgr with the same name
 * gets its active queue back at once instead of after the lease.
 * Entries without a valid queue id (or deleted from the stream) are
 * acknowledged and removed with a warning. *more = 1 when max was
 * reached (more may be left). Each call starts from the first pending
 * entry again: call it once, at start.
 */
int pm_qstore_claim_own(pm_qstore *qs, const char *consumer, const int *shards,
    int nshards_sel, size_t max, pm_qentry *out, size_t *n, int *more);

/*
 * Remove the consumers of gone instances: every consumer but self with
 * no pending entry that was idle at least min_idle_ms (function pm_reap,
 * checked and deleted atomically per shard). Each is logged; *removed
 * counts consumer-shard pairs deleted.
 */
int pm_qstore_reap_consumers(pm_qstore *qs, const char *self,
    long long min_idle_ms, size_t *removed);

/*
 * Record a recipient's final outcome, compare-and-set: only if its
 * status is still todo or deferred. status is PM_RCPT_SENT,
 * PM_RCPT_NOTIFIED, PM_RCPT_BOUNCED or PM_RCPT_DEFERRED (deferred is not final: it only
 * records dsn/text, and never overwrites sent/bounced). *changed = 1 if
 * this call changed the status (0: it was already final, e.g. a
 * duplicate report). Returns PM_ENOENT if the message is gone.
 */
int pm_qstore_rcpt_status(pm_qstore *qs, const char *qid, size_t index,
    const char *status, const char *dsn, const char *text, int *changed);

/*
 * The same, and when the recipient was final already (changed = 0),
 * what Redis holds: the caller must report that, not its own outcome
 * (a bounce for mail that was delivered, or "sent" for a recipient the
 * sender was told bounced, would be wrong). status is "" when Redis
 * did not say (an older functions library); text is cut to fit.
 */
typedef struct pm_qrcpt_final {
	int changed;
	char status[16]; /* PM_RCPT_SENT, _NOTIFIED, _BOUNCED, or "" */
	char dsn[33];
	char text[512];
} pm_qrcpt_final;
int pm_qstore_rcpt_cas(pm_qstore *qs, const char *qid, size_t index,
    const char *status, const char *dsn, const char *text, pm_qrcpt_final *out);
/*
 * The same, and for status PM_RCPT_SENT the success notice's DSN action
 * ("relayed", "delivered"; NULL or "": none), stored with it ("i:x") so
 * that a qmgr reading the recipient back later tells the sender the
 * same. A functions library that does not take it (an older version
 * loaded during a rollback) is called again without it.
 */
int pm_qstore_rcpt_cas_action(pm_qstore *qs, const char *qid, size_t index,
    const char *status, const char *dsn, const char *text, const char *action,
    pm_qrcpt_final *out);

/*
 * The same for qmgr's own decisions (deferred reasons, bounces it
 * decides), fenced by e's lease: PM_ELOST if e->owner no longer holds
 * it (nothing written). Agents' reports are facts and use the unfenced
 * calls above (docs/architecture.md, "Decisions").
 */
int pm_qstore_rcpt_status_fenced(pm_qstore *qs, const pm_qentry *e,
    size_t index, const char *status, const char *dsn, const char *text,
    int *changed);

/*
 * The message is finished: delete m, r, body, the stream entry (XACK +
 * XDEL) and any deferred/hold membership, atomically. With e->epoch >
 * 0, fenced: PM_ELOST (nothing written) when the lease is lost; the
 * same holds for pm_qstore_defer() and pm_qstore_hold().
 */
int pm_qstore_finish(pm_qstore *qs, const pm_qentry *e);

/*
 * The message must wait: XACK + XDEL the entry, ZADD deferred with
 * score next_attempt_us/1000 (ms), HSET m attempts/next_attempt.
 */
int pm_qstore_defer(pm_qstore *qs, const pm_qentry *e, int attempts,
    int64_t next_attempt_us);

/* Put on hold: XACK + XDEL, SADD hold. */
int pm_qstore_hold(pm_qstore *qs, const pm_qentry *e);

/*
 * Move deferred messages whose time has come (score <= now_ms) back to
 * incoming (ZREM + XADD, atomic per shard), at most max per shard per
 * call; *moved counts them.
 */
int pm_qstore_requeue_due(pm_qstore *qs, int shard, int64_t now_ms, size_t max,
    size_t *moved);

/* Queue sizes for metrics and tests. */
typedef struct pm_qsizes {
	long long incoming; /* XLEN of incoming, all shards */
	long long active;   /* pending entries of group qmgr, all shards */
	long long deferred; /* ZCARD deferred */
	long long hold;     /* SCARD hold */
	int64_t
	    oldest_us; /* arrival of the oldest queued message (approx.), 0 if empty */
} pm_qsizes;
int pm_qstore_sizes(pm_qstore *qs, pm_qsizes *out);

/* INFO memory: used_memory and maxmemory (0: no limit), in bytes
 * (pm_qstore_info.c). */
int pm_qstore_memory(pm_qstore *qs, long long *used, long long *maxmemory);

/*
 * One small command or script, its reply as strings
 * (pm_qstore_cmd.c): an integer, status or nil in *num, a string or an
 * array's elements in out[0..nout-1] (new strings or NULL).
 */
int pm_qstore_strs(pm_qstore *qs, int argc, const char **argv, char **out,
    size_t nout, long long *num);

#endif
