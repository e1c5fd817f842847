/*
 * NAME
 *	pm_server_reload - SIGHUP: read main.cf again and apply what can be
 * SUMMARY
 *	#include "pm_server_priv.h"
 *	pm__server_reload_init(); pm__server_reload(svc, cfpath);
 * DESCRIPTION
 *	What `postfix reload` does, within one running process: Postfix
 *	restarts its daemons after a reload; a Postmesh service keeps
 *	running, so it applies what it safely can and says what it did
 *	not:
 *
 *	1. main.cf is read again (pm_cfg_load: the file's old values are
 *	   forgotten; -o and POSTMESH_<name> still win over it);
 *	2. the parameters named in svc->reload_params (in the service's
 *	   tables or the common ones) are checked, and only if all are
 *	   good bound again (pm_cfg_rebind); a bad value leaves the
 *	   running configuration as it was, with an error line;
 *	3. svc->reload() rebuilds what depends on them (tables,
 *	   restrictions, the resolver), reading the new values; then
 *	   the Redis credentials are read again if the role uses Redis
 *	   (pm__server_queue_reload());
 *	4. every parameter whose effective value differs from the last
 *	   one applied is logged: "reload: applied: a, b" for those that
 *	   steps 2 and 3 looked up (pm_cfg_track_*); "warning: reload: x
 *	   changed but not applied" for those only reload() looked up when
 *	   it failed (pm_server_reload_failed(): it keeps its old tables
 *	   or restrictions), or that it named with
 *	   pm_server_reload_kept() (bound again, but not put to use: the
 *	   old settings stay in use and in the snapshot); "warning: reload: x changed; restart
 *	   <service> to apply it" for the others (used
 *	   only at start: listen addresses, thread counts, redis_server, queue
 *	   shards, RPC size limits ...).
 *
 *	A parameter that needs a restart is compared with the value in
 *	use, so it is reported again at every reload until the restart.
 * LIMITS
 *	One reload at a time (the signal thread). Replaced string values
 *	are kept until exit (a reader may hold one): a few bytes per
 *	changed parameter and reload.
 * SECURITY
 *	main.cf is operator input; bad values are refused, not fatal.
 */
#include "pm_server_priv.h"
#include "pm_server_queue.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_util.h"

#include <stdlib.h>
#include <string.h>

typedef struct reload_snap {
	char **name; /* sorted (pm_cfg_walk order) */
	char **value;
	size_t n;
	size_t cap;
} reload_snap;

static reload_snap reload_applied; /* values in use; signal thread only */
static int reload_failed;          /* reload() kept its old state */
/* lists of reload_params that reload() kept (pm_server_reload_kept) */
static const char *const *reload_kept[PM_SERVER_RELOAD_KEPT_MAX];
static size_t reload_nkept;

void
pm_server_reload_failed(void)
{
	reload_failed = 1; /* called from reload(), on the signal thread */
}

void
pm_server_reload_kept(const char *const *names)
{
	reload_failed = 1;
	if (reload_nkept < PM_SERVER_RELOAD_KEPT_MAX) {
		reload_kept[reload_nkept++] = names;
	}
}


static void
snap_add(const char *name, const char *defval, const char *value, void *arg)
{
	reload_snap *s = arg;

	(void) defval;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->name = pm_realloc(s->name, s->cap * sizeof(*s->name));
		s->value = pm_realloc(s->value, s->cap * sizeof(*s->value));
	}
	s->name[s->n] = pm_strdup(name);
	s->value[s->n] = pm_strdup(value);
	s->n++;
}

static void
snap_free(reload_snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->name[i]);
		free(s->value[i]);
	}
	free(s->name);
	free(s->value);
	memset(s, 0, sizeof(*s));
}

static void
snap_take(reload_snap *s)
{
	memset(s, 0, sizeof(*s));
	pm_cfg_walk(snap_add, s);
}

/* The value of name in s, or NULL. */
static const char *
snap_get(const reload_snap *s, const char *name)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(s->name[mid], name)) == 0) {
			return (s->value[mid]);
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return (NULL);
}

static int
in_list(char *const *list, const char *name)
{
	for (; list != NULL && *list != NULL; list++) {
		if (strcmp(*list, name) == 0) {
			return (1);
		}
	}
	return (0);
}

/* True if reload() said it kept its old use of name. */
static int
kept(const char *name)
{
	size_t i;

	for (i = 0; i < reload_nkept; i++) {
		if (in_list((char *const *) reload_kept[i], name)) {
			return (1);
		}
	}
	return (0);
}

void
pm__server_reload_init(void)
{
	snap_free(&reload_applied);
	snap_take(&reload_applied);
}

/* Check (check_only) or bind the reloadable parameters. */
static int
reload_bind(const pm_service *svc, int check_only, char **errp)
{
	if (svc->reload_params == NULL) {
		return (0);
	}
	if (pm_common_params_rebind(svc->reload_params, check_only, errp) !=
	        0 ||
	    pm_cfg_rebind(svc->strs, svc->ints, svc->times, svc->bools,
	        svc->reload_params, check_only, errp) != 0) {
		return (PM_EINVAL);
	}
	return (0);
}

void
pm__server_reload(const pm_service *svc, const char *cfpath)
{
	reload_snap now;
	char **looked, *err = NULL;
	const char *old;
	pm_buf applied;
	size_t i;
	int nchanged = 0, tls_failed;

	if (pm_cfg_load(cfpath) != 0) {
		pm_msg_error("reload: cannot read main.cf; keeping the running "
		             "configuration");
		return;
	}
	pm_cfg_track_begin();
	if (reload_bind(svc, 1, &err) != 0) {
		pm_cfg_list_free(pm_cfg_track_end());
		pm_msg_error("reload: %s; keeping the running configuration",
		    err);
		free(err);
		return;
	}
	(void) reload_bind(svc, 0, &err);
	reload_failed = 0;
	reload_nkept = 0;
	if (svc->reload != NULL) {
		svc->reload();
	}
	pm__server_queue_reload(); /* Redis credentials, if this role has any */
	tls_failed = pm__server_tls_reload() != 0;
	looked = pm_cfg_track_end();

	snap_take(&now);
	pm_buf_init(&applied, 0);
	for (i = 0; i < now.n; i++) {
		old = snap_get(&reload_applied, now.name[i]);
		if (old != NULL && strcmp(old, now.value[i]) == 0) {
			continue;
		}
		nchanged++;
		if (in_list(looked, now.name[i]) && !kept(now.name[i]) &&
		    !(tls_failed &&
		        in_list((char *const *) pm_common_tls_params,
		            now.name[i])) &&
		    (!reload_failed ||
		        in_list((char *const *) svc->reload_params,
		            now.name[i]))) {
			if (applied.len > 0) {
				pm_buf_append(&applied, ", ", 2);
			}
			pm_buf_append(&applied, now.name[i],
			    strlen(now.name[i]));
			continue;
		}
		if (in_list(looked, now.name[i])) {
			pm_msg_warn("reload: %s changed but not applied "
			            "(reload failed, see above)",
			    now.name[i]);
		} else {
			pm_msg_warn("reload: %s changed; restart %s to apply "
			            "it",
			    now.name[i], svc->name);
		}
		/* keep comparing with the value in use */
		free(now.value[i]);
		now.value[i] = pm_strdup(old != NULL ? old : "");
	}
	if (applied.len > 0) {
		pm_buf_append(&applied, "", 1);
		pm_msg_info("reload: applied: %s", applied.data);
	} else if (nchanged == 0) {
		pm_msg_info("reload: no parameter changed");
	}
	pm_buf_free(&applied);
	pm_cfg_list_free(looked);
	snap_free(&reload_applied);
	reload_applied = now;
}
