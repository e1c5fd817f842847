/*
 * NAME
 *	pm_snap - the current version of a reloadable object, reference counted
 * DESCRIPTION
 *	See pm_snap.h.
 * LIMITS
 *	None beyond memory: one small record per installed version.
 */
#include "pm_snap.h"

#include <stdlib.h>

#include "pm_util.h"

pm_snap_ref *
pm_snap_get(pm_snap *s)
{
	pm_snap_ref *r;

	pthread_mutex_lock(&s->mu);
	if ((r = s->cur) != NULL) {
		r->refs++;
	}
	pthread_mutex_unlock(&s->mu);
	return (r);
}

void
pm_snap_put(pm_snap *s, pm_snap_ref *r)
{
	int last;

	if (r == NULL) {
		return;
	}
	pthread_mutex_lock(&s->mu);
	last = --r->refs == 0;
	pthread_mutex_unlock(&s->mu);
	if (last) {
		if (s->free_fn != NULL && r->obj != NULL) {
			s->free_fn(r->obj);
		}
		free(r);
	}
}

void
pm_snap_set(pm_snap *s, void *obj)
{
	pm_snap_ref *r = NULL, *old;

	if (obj != NULL) {
		r = pm_calloc(1, sizeof(*r));
		r->obj = obj;
		r->refs = 1;
	}
	pthread_mutex_lock(&s->mu);
	old = s->cur;
	s->cur = r;
	pthread_mutex_unlock(&s->mu);
	pm_snap_put(s, old);
}
