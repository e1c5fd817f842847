/*
 * NAME
 *	pm_body - the message body store: Redis chunks or one file per id
 * SUMMARY
 *	#include "pm_body.h"
 * DESCRIPTION
 *	Used by pm_qstore only (queue_body_store). Two backends:
 *
 *	"redis": the body is a list of chunks of at most
 *	queue_body_chunk_size bytes. pm_qstore pipelines the writes with
 *	the enqueue function, so this backend does not talk to Redis by
 *	itself: pm_body_redis_append() appends one "FCALL pm_body_append
 *	1 key ttl chunk" per chunk to a hiredis context's output buffer
 *	(the caller sends them and reads the replies). That function
 *	(pm_qstore_lua.c) does RPUSH and PEXPIRE in one step: with a
 *	plain RPUSH then PEXPIRE, a crash between the two (they may be
 *	written to the AOF in different event-loop passes) left a staged
 *	body that never expired;
 *	pm_body_redis_join() turns an LRANGE reply into one buffer.
 *
 *	"fs:/path": one file per queue id, <path>/<c>/<qid>, where c is
 *	the 11th character of the id (the fastest-changing character of
 *	its time part, 32 values), so no directory grows too large.
 *	pm_body_fs_put() writes a temporary file in the same directory,
 *	fdatasync()s it, links it to its final name (link(2) fails if the
 *	name exists, so an existing body is never replaced unless the
 *	caller asks) and fsync()s the directory: when it returns 0 the
 *	body survives a crash. The subdirectories are created (and the
 *	base directory fsync()ed) by pm_body_open().
 * LIMITS
 *	A body read back is at most PM_BODY_SIZE_MAX bytes.
 *	PM_BODY_CHUNK_SIZE is the default queue_body_chunk_size;
 *	PM_BODY_ORPHAN_TTL_MS the expiry of a Redis body that no enqueue
 *	function has claimed (queue_body_orphan_ttl).
 * SECURITY
 *	Queue ids must be valid (pm_qid_valid) before they are used in a
 *	file name; pm_body_fs_* check again. Sizes read back are checked
 *	against the size the caller expects (from the envelope).
 */
#ifndef PM_BODY_H
#define PM_BODY_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#define PM_BODY_CHUNK_SIZE (256 * 1024)
#define PM_BODY_ORPHAN_TTL_MS (3600LL * 1000)
#define PM_BODY_SIZE_MAX ((size_t) 1 << 30)

#define PM_BODY_REDIS 1
#define PM_BODY_FS 2

typedef struct pm_body pm_body;

/*
 * spec is "redis" or "fs:/path" (the directory is created if missing,
 * one level). Returns NULL and logs on a bad spec or an unusable
 * directory.
 */
pm_body *pm_body_open(const char *spec);
pm_body *pm_body_free(pm_body *b);

/* PM_BODY_REDIS or PM_BODY_FS; the name stored in the envelope. */
int pm_body_kind(const pm_body *b);
const char *pm_body_kind_name(const pm_body *b);

/*
 * Redis: append one FCALL pm_body_append per chunk of at most chunk
 * bytes (RPUSH to key and PEXPIRE ttl_ms, atomically) to c. A body of
 * more than one chunk is sent chunk by chunk as it is appended (the
 * output buffer holds one chunk, not the body; what was appended to c
 * before goes out with the first). Returns the number of commands
 * appended (0 for an empty body), PM_EREDIS when nothing was sent, or
 * PM_EIO when a write failed after something may have been.
 * The caller reads that many replies, each an integer (the list's
 * length) or an error.
 */
int pm_body_redis_append(redisContext *c, const char *key, const void *data,
    size_t len, size_t chunk, long long ttl_ms);
/* Number of chunks (RPUSH commands) for a body of len bytes. */
size_t pm_body_redis_nchunks(size_t len, size_t chunk);

/*
 * Join an LRANGE reply (an array of strings) into *data (malloc'ed,
 * NUL-terminated). The total must be want bytes: PM_EIO if not, and
 * PM_EREDIS if the reply has the wrong type.
 */
int pm_body_redis_join(const redisReply *r, size_t want, char **data,
    size_t *len);

/*
 * fs: write a body durably. replace = 0: PM_EEXIST if the file exists
 * (nothing is changed); replace = 1: an existing file is replaced.
 * PM_EIO on a system call failure (logged), PM_EINVAL on a bad id.
 */
int pm_body_fs_put(pm_body *b, const char *qid, const void *data, size_t len,
    int replace);
/* Read a body; its size must be want bytes (else PM_EIO, logged). */
int pm_body_fs_get(pm_body *b, const char *qid, size_t want, char **data,
    size_t *len);
/* Remove a body; a missing file is not an error. */
int pm_body_fs_delete(pm_body *b, const char *qid);
/* Whether the file of qid exists: 1, 0, or PM_EIO/PM_EINVAL. */
int pm_body_fs_exists(pm_body *b, const char *qid);

#endif
