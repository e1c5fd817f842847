/*
 * NAME
 *	pm_snap - the current version of a reloadable object, reference counted
 * SUMMARY
 *	#include "pm_snap.h"
 *	static pm_snap tables = PM_SNAP_INIT(tables_free);
 *	pm_snap_set(&tables, t);          (at start and on reload)
 *	pm_snap_ref *r = pm_snap_get(&tables);
 *	use(r->obj); pm_snap_put(&tables, r);
 * DESCRIPTION
 *	Services that rebuild their tables or restrictions on SIGHUP keep
 *	serving requests while they do: a request takes a reference to the
 *	version current when it started and uses it to the end; the reload
 *	installs a new version; the old one is freed (free_fn) when the
 *	last request that holds it lets go. This is the one copy of that
 *	pattern (cleanup's maps, smtpd's restrictions, rewrite's resolver).
 *
 *	pm_snap_get() returns NULL when nothing is installed.
 *	pm_snap_set(s, NULL) uninstalls (at stop); the old version goes
 *	when unused, as on a reload.
 * LIMITS
 *	One mutex per holder, held only to count.
 * SECURITY
 *	Not applicable: process-internal.
 */
#ifndef PM_SNAP_H
#define PM_SNAP_H

#include <pthread.h>

typedef struct pm_snap_ref {
	void *obj;
	long refs;
} pm_snap_ref;

typedef struct pm_snap {
	pthread_mutex_t mu;
	pm_snap_ref *cur;
	void (*free_fn)(void *);
} pm_snap;

#define PM_SNAP_INIT(free_fn) \
	{ \
		PTHREAD_MUTEX_INITIALIZER, NULL, (free_fn) \
	}

pm_snap_ref *pm_snap_get(pm_snap *s);
void pm_snap_put(pm_snap *s, pm_snap_ref *r);
void pm_snap_set(pm_snap *s, void *obj);

#endif
