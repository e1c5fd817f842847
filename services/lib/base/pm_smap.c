/*
 * NAME
 *	pm_smap - a string-keyed hash map (see pm_smap.h)
 * DESCRIPTION
 *	Separate chaining with a power-of-two bucket array that doubles
 *	when the map holds more entries than buckets, so lookups stay
 *	O(1) on average. FNV-1a hash. Keys are copied; values are opaque.
 *	Used by the scheduler (destinations, transports) and by qmgr
 *	(active messages, jobs in flight).
 * LIMITS
 *	The callers bound the number of entries.
 */
#include "pm_smap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pm_util.h"

#define SMAP_MIN_BUCKETS 16

typedef struct smap_ent {
	struct smap_ent *next;
	uint64_t hash;
	void *value;
	char key[];
} smap_ent;

struct pm_smap {
	smap_ent **b;
	size_t nb; /* power of two */
	size_t n;
};

static uint64_t
smap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	}
	return (h);
}

pm_smap *
pm_smap_new(void)
{
	pm_smap *m = pm_calloc(1, sizeof(*m));

	m->nb = SMAP_MIN_BUCKETS;
	m->b = pm_calloc(m->nb, sizeof(*m->b));
	return (m);
}

void
pm_smap_free(pm_smap *m)
{
	smap_ent *e, *next;
	size_t i;

	if (m == NULL) {
		return;
	}
	for (i = 0; i < m->nb; i++) {
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->b);
	free(m);
}

static smap_ent **
smap_find(const pm_smap *m, const char *key, uint64_t h)
{
	smap_ent **pp = &m->b[h & (m->nb - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0) {
			break;
		}
	}
	return (pp);
}

static void
smap_grow(pm_smap *m)
{
	size_t nb = m->nb * 2, i;
	smap_ent **b = pm_calloc(nb, sizeof(*b));
	smap_ent *e, *next;

	for (i = 0; i < m->nb; i++) {
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

void *
pm_smap_get(const pm_smap *m, const char *key)
{
	smap_ent **pp = smap_find(m, key, smap_hash(key));

	return (*pp != NULL ? (*pp)->value : NULL);
}

void *
pm_smap_put(pm_smap *m, const char *key, void *value)
{
	uint64_t h = smap_hash(key);
	smap_ent **pp = smap_find(m, key, h), *e;
	size_t len;
	void *old;

	if (*pp != NULL) {
		old = (*pp)->value;
		(*pp)->value = value;
		return (old);
	}
	len = strlen(key);
	e = pm_malloc(sizeof(*e) + len + 1);
	memcpy(e->key, key, len + 1);
	e->hash = h;
	e->value = value;
	e->next = NULL;
	*pp = e;
	if (++m->n > m->nb) {
		smap_grow(m);
	}
	return (NULL);
}

void *
pm_smap_del(pm_smap *m, const char *key)
{
	smap_ent **pp = smap_find(m, key, smap_hash(key)), *e;
	void *old;

	if ((e = *pp) == NULL) {
		return (NULL);
	}
	*pp = e->next;
	old = e->value;
	free(e);
	m->n--;
	return (old);
}

size_t
pm_smap_count(const pm_smap *m)
{
	return (m->n);
}

void
pm_smap_walk(const pm_smap *m,
    void (*fn)(const char *key, void *value, void *arg), void *arg)
{
	smap_ent *e, *next;
	size_t i;

	for (i = 0; i < m->nb; i++) {
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			fn(e->key, e->value, arg);
		}
	}
}
