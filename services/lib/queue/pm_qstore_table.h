/*
 * NAME
 *	pm_qstore_table - lookup-table keys on the queue store's Redis
 * SUMMARY
 *	#include "pm_qstore_table.h"
 * DESCRIPTION
 *	The Redis side of pm_table's redis: type and of postalias:
 *	pm_qstore_get() is GET key with a bound on the value;
 *	pm_qstore_table_replace() makes the keys <prefix><name> exactly
 *	the given name/value pairs in one atomic step (one script: SET
 *	every pair, then SCAN the prefix and DEL every key that is not in
 *	the new set), so a reader sees the old table or the new one, never
 *	a mix, and names that disappeared from the source disappear from
 *	Redis. Both use the store's connection rules (pm_qstore_kv.c).
 * LIMITS
 *	One round trip each within redis_timeout (a replace of a large
 *	table runs as one script: PM_QS_TABLE_ENTRIES_MAX pairs at most,
 *	each value at most PM_QS_TABLE_VALUE_MAX bytes).
 * SECURITY
 *	Reply types and lengths are checked; a value with a NUL byte is
 *	refused (PM_EPROTO). The prefix is escaped for SCAN MATCH, so no
 *	key outside it is ever touched; an empty prefix is refused.
 */
#ifndef PM_QSTORE_TABLE_H
#define PM_QSTORE_TABLE_H

#include <stddef.h>

#include "pm_qstore.h"

#define PM_QS_TABLE_VALUE_MAX (64 * 1024)
#define PM_QS_TABLE_ENTRIES_MAX 100000

/* GET key: 0 and a new *value, PM_ENOENT, PM_ETOOBIG over max bytes,
 * PM_EPROTO (NUL or wrong reply type) or PM_EREDIS (Redis away). */
int pm_qstore_get(pm_qstore *qs, const char *key, size_t max, char **value);

/*
 * Replace the keys under prefix by names[i] -> values[i] (i < n), in
 * one atomic script. *removed (may be NULL) counts deleted stale keys.
 * Returns 0, PM_EINVAL (empty prefix, too many or too long), PM_EREDIS.
 */
int pm_qstore_table_replace(pm_qstore *qs, const char *prefix, size_t n,
    char *const *names, char *const *values, long long *removed);

#endif
