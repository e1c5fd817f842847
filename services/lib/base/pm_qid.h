/*
 * NAME
 *	pm_qid - queue ids unique across processes and hosts, time-ordered
 * SUMMARY
 *	#include "pm_qid.h"
 * DESCRIPTION
 *	A queue id is PM_QID_LEN characters from an alphabet of 32 letters
 *	and digits in ASCII order (no vowels, as Postfix's long ids):
 *	11 characters of microseconds since the epoch (so ids sort by
 *	time), then 8 characters (40 bits) of a random per-process nonce
 *	drawn at start. Within a process the time part is strictly
 *	increasing (a second id in the same microsecond takes the next
 *	one), so ids never repeat in a process; the nonce separates
 *	processes and hosts. Thread-safe. pm_qid_derive() makes ids that
 *	are a function of another id (notices about a message).
 * SECURITY
 *	pm_qid_valid() checks an id from another role before it is used in
 *	a Redis key or a file name.
 */
#ifndef PM_QID_H
#define PM_QID_H

#include <stddef.h>
#include <stdint.h>

#define PM_QID_LEN 19

/* buf must hold PM_QID_LEN + 1 bytes. */
void pm_qid_new(char *buf);
/* 1 if s is a well-formed queue id, else 0. */
int pm_qid_valid(const char *s);
/* Arrival time encoded in the id, microseconds since the epoch. */
int64_t pm_qid_time_us(const char *qid);
/* Shard of a queue id, 0 .. nshards-1 (stable hash). */
int pm_qid_shard(const char *qid, int nshards);
/*
 * The queue id of something derived from the message qid, the same
 * every time for the same (qid, kind, part): the time part is qid's,
 * the nonce part a 40-bit hash of all three (FNV-1a). Used for bounce
 * notices (kind = notice kind, part = index of a split notice), so a
 * notice asked for again gets the id it had and is not queued twice.
 * Returns 0, or PM_EINVAL if qid is not valid.
 */
int pm_qid_derive(char *buf, const char *qid, unsigned kind, unsigned part);

#endif
