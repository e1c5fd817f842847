/*
 * NAME
 *	pm_qstore_str - string keys with a time to live on the queue store
 * SUMMARY
 *	#include "pm_qstore_str.h"
 * DESCRIPTION
 *	Shared caches next to the queue (postscreen's client cache,
 *	pm:cache:psc:<addr>) keep one short string per key:
 *	pm_qstore_get_str() is GET (PM_ENOENT if absent, *value a new
 *	string), pm_qstore_set_ex() is SET key value EX ttl_s.
 *	They use the store's connection rules (pm_qstore_kv.c).
 * LIMITS
 *	One round trip each within redis_timeout; a value longer than
 *	PM_QS_STR_MAX bytes is refused (PM_ETOOBIG) both ways.
 * SECURITY
 *	Reply types are checked; values are the caller's to validate.
 */
#ifndef PM_QSTORE_STR_H
#define PM_QSTORE_STR_H

#include "pm_qstore.h"

#define PM_QS_STR_MAX 4096

int pm_qstore_get_str(pm_qstore *qs, const char *key, char **value);
int pm_qstore_set_ex(pm_qstore *qs, const char *key, const char *value,
    long ttl_s);

#endif
