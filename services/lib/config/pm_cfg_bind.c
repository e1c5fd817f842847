/*
 * NAME
 *	pm_cfg_bind - bind typed parameter tables to variables
 * SUMMARY
 *	#include "pm_cfg.h"
 *	pm_cfg_bind_str(), pm_cfg_bind_int(), pm_cfg_bind_time(),
 *	pm_cfg_bind_bool()
 * DESCRIPTION
 *	Each table entry is recorded as a known parameter with its default
 *	string (pm_cfg_warn_unknown, pm_cfg_walk), then its variable gets
 *	the effective, expanded, parsed and range-checked value.
 *
 *	When a table default and the library default (pm_params.c) both
 *	exist and differ in meaning (compared as numbers, seconds or
 *	booleans for typed tables), a warning names both, so the two never
 *	silently disagree; the table default is then used.
 *
 *	Binding a string variable again (reload) parks the value the
 *	previous bind gave it until pm_cfg_reset() (pm__cfg_bury), as
 *	pm_cfg_raw() values are: another thread may still read it.
 *
 *	pm_cfg_rebind() is the reload form (pm_server on SIGHUP): only the
 *	named entries, every value checked first and none assigned if one
 *	is bad (an error message instead of pm_msg_fatal), so a mistake in
 *	main.cf cannot stop a running service.
 * LIMITS
 *	Ranges come from the tables; max 0 means no maximum.
 * SECURITY
 *	A value that does not parse or is out of range is fatal: this is
 *	bad configuration at start, not input from a peer.
 */
#include "pm_cfg.h"
#include "pm_cfg_priv.h"
#include "pm_log.h"
#include "pm_util.h"

#include <stdlib.h>
#include <string.h>

static char **cfg_owned; /* values handed to bound str variables */
static size_t cfg_nowned;
static size_t cfg_owned_cap;

/* Record name as known with its default (NULL: the lib default). */
static void
cfg_bind_name(const char *name, const char *defstr)
{
	pm__cfg_ent *e = pm__cfg_find(name, 1);

	e->bound = 1;
	pm__cfg_bury(e->bound_def);
	e->bound_def = NULL;
	if (defstr != NULL) {
		e->bound_def = pm_strdup(defstr);
	} else if (e->lib_def == NULL) {
		pm_msg_warn("parameter %s: no default in its table nor in "
		            "pm_params.c, using empty value",
		    name);
		e->bound_def = pm_strdup("");
	}
}

void
pm_cfg_declare(const char *name, const char *defval)
{
	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	cfg_bind_name(name, defval);
	pthread_mutex_unlock(&pm__cfg_lock);
}

static void
cfg_conflict(const char *name, const char *tabdef)
{
	pm_msg_warn("parameter %s: table default \"%s\" differs from the "
	            "library default \"%s\" (pm_params.c)",
	    name, tabdef, pm__cfg_find(name, 1)->lib_def);
}

/* The library default of a name, if there is one to compare with. */
static const char *
cfg_libdef(const char *name)
{
	pm__cfg_ent *e = pm__cfg_find(name, 0);

	if (e == NULL || e->lib_def == NULL || pm__cfg_is_computed(name)) {
		return (NULL);
	}
	return (e->lib_def);
}

/* The effective expanded value for binding; fatal if over the limit. */
static char *
cfg_bind_value(const char *name)
{
	char *v;
	int err;

	v = pm__cfg_get_locked(name, &err);
	if (v == NULL || err != 0) {
		pm_msg_fatal("parameter %s: value longer than %d bytes after "
		             "expansion",
		    name, PM__CFG_EXPAND_MAX);
	}
	return (v);
}

static void
cfg_set_var(char **var, char *v)
{
	size_t i;

	for (i = 0; *var != NULL && i < cfg_nowned; i++) {
		if (cfg_owned[i] == *var) {
			/* not freed: a reader may hold it (reload) */
			pm__cfg_bury(cfg_owned[i]);
			cfg_owned[i] = cfg_owned[--cfg_nowned];
			break;
		}
	}
	if (cfg_nowned == cfg_owned_cap) {
		cfg_owned_cap = cfg_owned_cap ? cfg_owned_cap * 2 : 32;
		cfg_owned =
		    pm_realloc(cfg_owned, cfg_owned_cap * sizeof(*cfg_owned));
	}
	cfg_owned[cfg_nowned++] = v;
	*var = v;
}

static void
cfg_fatal_value(const char *what, const char *name, const char *v)
{
	char *show = pm_printable_dup(v, strlen(v), 200);

	pm_msg_fatal("%s: %s = %s", what, name, show);
}

static void
cfg_range(const char *name, long v, long min, long max)
{
	if (v < min) {
		pm_msg_fatal("invalid %s parameter value %ld < %ld", name, v,
		    min);
	}
	if (max != 0 && v > max) {
		pm_msg_fatal("invalid %s parameter value %ld > %ld", name, v,
		    max);
	}
}

void
pm_cfg_bind_str(const pm_cfg_str *t)
{
	const char *ld;
	size_t len;
	char *v;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	for (; t != NULL && t->name != NULL; t++) {
		if (t->defval != NULL && (ld = cfg_libdef(t->name)) != NULL &&
		    strcmp(ld, t->defval) != 0) {
			cfg_conflict(t->name, t->defval);
		}
		cfg_bind_name(t->name, t->defval);
		v = cfg_bind_value(t->name);
		len = strlen(v);
		if (t->min_len > 0 && len < (size_t) t->min_len) {
			pm_msg_fatal("bad string length %zu < %d: %s = %s", len,
			    t->min_len, t->name, pm_printable(v));
		}
		if (t->max_len > 0 && len > (size_t) t->max_len) {
			pm_msg_fatal("bad string length %zu > %d: %s = %.200s",
			    len, t->max_len, t->name, pm_printable(v));
		}
		cfg_set_var(t->var, v);
	}
	pthread_mutex_unlock(&pm__cfg_lock);
}

void
pm_cfg_bind_int(const pm_cfg_int *t)
{
	const char *ld;
	char *def, *v;
	long n, libn;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	for (; t != NULL && t->name != NULL; t++) {
		def = pm_asprintf("%ld", t->defval);
		if ((ld = cfg_libdef(t->name)) != NULL &&
		    (pm_cfg_parse_long(ld, &libn) != 0 || libn != t->defval)) {
			cfg_conflict(t->name, def);
		}
		cfg_bind_name(t->name, def);
		free(def);
		v = cfg_bind_value(t->name);
		if (pm_cfg_parse_long(v, &n) != 0) {
			cfg_fatal_value("bad numerical configuration", t->name,
			    v);
		}
		free(v);
		cfg_range(t->name, n, t->min, t->max);
		*t->var = n;
	}
	pthread_mutex_unlock(&pm__cfg_lock);
}

void
pm_cfg_bind_time(const pm_cfg_time *t)
{
	const char *ld;
	char *v;
	long n, libn, tabn;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	for (; t != NULL && t->name != NULL; t++) {
		if (t->defval != NULL && (ld = cfg_libdef(t->name)) != NULL &&
		    (pm_cfg_parse_time(ld, t->unit, &libn) != 0 ||
		        pm_cfg_parse_time(t->defval, t->unit, &tabn) != 0 ||
		        libn != tabn)) {
			cfg_conflict(t->name, t->defval);
		}
		cfg_bind_name(t->name, t->defval);
		v = cfg_bind_value(t->name);
		if (pm_cfg_parse_time(v, t->unit, &n) != 0) {
			cfg_fatal_value("invalid time value", t->name, v);
		}
		free(v);
		cfg_range(t->name, n, t->min, t->max);
		*t->var = n;
	}
	pthread_mutex_unlock(&pm__cfg_lock);
}

void
pm_cfg_bind_bool(const pm_cfg_bool *t)
{
	const char *ld;
	char *v;
	int b, libb;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	for (; t != NULL && t->name != NULL; t++) {
		if ((ld = cfg_libdef(t->name)) != NULL &&
		    (pm_cfg_parse_bool(ld, &libb) != 0 ||
		        libb != (t->defval != 0))) {
			cfg_conflict(t->name, t->defval ? "yes" : "no");
		}
		cfg_bind_name(t->name, t->defval ? "yes" : "no");
		v = cfg_bind_value(t->name);
		if (pm_cfg_parse_bool(v, &b) != 0) {
			cfg_fatal_value("bad boolean configuration", t->name,
			    v);
		}
		free(v);
		*t->var = b;
	}
	pthread_mutex_unlock(&pm__cfg_lock);
}

/* Reload. */

static int
cfg_named(const char *name, const char *const *only)
{
	for (; only != NULL && *only != NULL; only++) {
		if (strcmp(*only, name) == 0) {
			return (1);
		}
	}
	return (0);
}

/* Parse and range-check the effective value of one typed entry. */
static int
cfg_check_num(const char *name, int kind, char unit, long min, long max,
    long *out, char **errp)
{
	char *v;
	int err, b = 0;

	v = pm__cfg_get_locked(name, &err);
	if (v == NULL || err != 0) {
		*errp = pm_asprintf("parameter %s: value too long", name);
		free(v);
		return (PM_EINVAL);
	}
	err = kind == 'i' ? pm_cfg_parse_long(v, out) :
	    kind == 't'   ? pm_cfg_parse_time(v, unit, out) :
	                    pm_cfg_parse_bool(v, &b);
	if (kind == 'b') {
		*out = b;
	}
	if (err != 0) {
		*errp =
		    pm_asprintf("bad value: %s = %s", name, pm_printable(v));
	} else if (kind != 'b' && (*out < min || (max != 0 && *out > max))) {
		*errp = pm_asprintf("invalid %s parameter value %ld (want "
		                    "%ld..%ld)",
		    name, *out, min, max);
		err = PM_EINVAL;
	}
	free(v);
	return (err != 0 ? PM_EINVAL : 0);
}

int
pm_cfg_rebind(const pm_cfg_str *s, const pm_cfg_int *i, const pm_cfg_time *t,
    const pm_cfg_bool *b, const char *const *only, int check_only, char **errp)
{
	const pm_cfg_str *sp;
	const pm_cfg_int *ip;
	const pm_cfg_time *tp;
	const pm_cfg_bool *bp;
	size_t len;
	long n;
	char *v;
	int err;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	/* 1. Check every named value; assign nothing if one is bad. */
	for (sp = s; sp != NULL && sp->name != NULL; sp++) {
		if (!cfg_named(sp->name, only)) {
			continue;
		}
		v = pm__cfg_get_locked(sp->name, &err);
		len = v != NULL ? strlen(v) : 0;
		free(v);
		if (v == NULL || err != 0 ||
		    (sp->min_len > 0 && len < (size_t) sp->min_len) ||
		    (sp->max_len > 0 && len > (size_t) sp->max_len)) {
			*errp = pm_asprintf("bad string length %zu: %s", len,
			    sp->name);
			goto bad;
		}
	}
	for (ip = i; ip != NULL && ip->name != NULL; ip++) {
		if (cfg_named(ip->name, only) &&
		    cfg_check_num(ip->name, 'i', 0, ip->min, ip->max, &n,
		        errp) != 0) {
			goto bad;
		}
	}
	for (tp = t; tp != NULL && tp->name != NULL; tp++) {
		if (cfg_named(tp->name, only) &&
		    cfg_check_num(tp->name, 't', tp->unit, tp->min, tp->max, &n,
		        errp) != 0) {
			goto bad;
		}
	}
	for (bp = b; bp != NULL && bp->name != NULL; bp++) {
		if (cfg_named(bp->name, only) &&
		    cfg_check_num(bp->name, 'b', 0, 0, 0, &n, errp) != 0) {
			goto bad;
		}
	}
	if (check_only) {
		pthread_mutex_unlock(&pm__cfg_lock);
		return (0);
	}
	/* 2. Assign (an aligned word store each: readers see old or new). */
	for (sp = s; sp != NULL && sp->name != NULL; sp++) {
		if (cfg_named(sp->name, only)) {
			cfg_set_var(sp->var,
			    pm__cfg_get_locked(sp->name, &err));
		}
	}
	for (ip = i; ip != NULL && ip->name != NULL; ip++) {
		if (cfg_named(ip->name, only)) {
			(void) cfg_check_num(ip->name, 'i', 0, ip->min, ip->max,
			    ip->var, errp);
		}
	}
	for (tp = t; tp != NULL && tp->name != NULL; tp++) {
		if (cfg_named(tp->name, only)) {
			(void) cfg_check_num(tp->name, 't', tp->unit, tp->min,
			    tp->max, tp->var, errp);
		}
	}
	for (bp = b; bp != NULL && bp->name != NULL; bp++) {
		if (cfg_named(bp->name, only) &&
		    cfg_check_num(bp->name, 'b', 0, 0, 0, &n, errp) == 0) {
			*bp->var = (int) n;
		}
	}
	pthread_mutex_unlock(&pm__cfg_lock);
	return (0);

bad:
	pthread_mutex_unlock(&pm__cfg_lock);
	return (PM_EINVAL);
}
