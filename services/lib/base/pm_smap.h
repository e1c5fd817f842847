/*
 * NAME
 *	pm_smap - a string-keyed hash map, the one hash table of the code
 * SUMMARY
 *	#include "pm_smap.h"
 * DESCRIPTION
 *	Separate chaining, FNV-1a, a power-of-two bucket array that doubles
 *	as the map grows. Keys are copied; values belong to the caller.
 *	Not thread-safe: callers lock.
 * LIMITS
 *	The callers bound the number of entries.
 * SECURITY
 *	Keys may come from peers; the hash is not seeded, so a caller that
 *	stores peer-chosen keys bounds their number.
 */
#ifndef PM_SMAP_H
#define PM_SMAP_H

#include <stddef.h>

/* String-keyed hash map. Keys are copied; values are the caller's. */
typedef struct pm_smap pm_smap;

pm_smap *pm_smap_new(void);
void pm_smap_free(pm_smap *m);
void *pm_smap_get(const pm_smap *m, const char *key);
/* Insert or replace; returns the value replaced, or NULL. */
void *pm_smap_put(pm_smap *m, const char *key, void *value);
/* Remove; returns the value removed, or NULL. */
void *pm_smap_del(pm_smap *m, const char *key);
size_t pm_smap_count(const pm_smap *m);
/* Call fn for every entry (the map must not change meanwhile). */
void pm_smap_walk(const pm_smap *m,
    void (*fn)(const char *key, void *value, void *arg), void *arg);

#endif
