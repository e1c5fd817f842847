/*
 * NAME
 *	pm_cfg - main.cf reader, parameter tables, $name expansion
 * SUMMARY
 *	#include "pm_cfg.h"
 * DESCRIPTION
 *	Every service reads the same main.cf (Postfix syntax):
 *	- "name = value" lines; leading white space continues the previous
 *	  line (joined with one space); '#' at the start of a logical line
 *	  (after white space) is a comment; blank lines are ignored;
 *	- "$name", "${name}" and "$(name)" expand to the effective value of
 *	  another parameter, recursively (with a depth limit); "$$" is "$";
 *	  an unknown name expands to "" (with a warning);
 *	- an environment variable POSTMESH_<name> overrides main.cf, which
 *	  overrides the built-in default.
 *
 *	Defaults: lib knows the defaults of every parameter (pm_params.c,
 *	a table of {name, default-string}); a service binds typed variables
 *	with pm_cfg_bind_*() tables that name the parameter, its default and
 *	its range. Names in main.cf that no table knows are warned about by
 *	pm_cfg_warn_unknown() ("unused parameter: name=value", as postconf).
 *
 *	Computed defaults, as in Postfix: myhostname (gethostname, made
 *	fully qualified if possible), mydomain (myhostname minus its first
 *	label, or "localdomain").
 *
 *	Time values take a unit suffix (s, m, h, d, w; default given by the
 *	table), size values are plain bytes. Booleans are yes/no (also
 *	true/false, 1/0, on/off).
 *
 *	The file is found as: pm_cfg_load(path) if path != NULL; else
 *	$MAIL_CONFIG/main.cf; else /etc/postmesh/main.cf. A missing file is
 *	not an error (containers configure by environment): an info line is
 *	logged and defaults apply.
 * LIMITS
 *	Lines up to 64 KiB after continuation; expansion depth 100 and
 *	result length 64 KiB.
 * SECURITY
 *	main.cf and the environment are trusted (operator input), but
 *	malformed lines are warned about and skipped, never fatal.
 */
#ifndef PM_CFG_H
#define PM_CFG_H

#include <stddef.h>

typedef struct pm_cfg_str {
	const char *name;
	const char *defval; /* NULL: take the lib default (pm_params.c) */
	char **var;         /* receives a malloc'ed, expanded string */
	int min_len;        /* value must have at least this length */
	int max_len;        /* 0 = no maximum */
} pm_cfg_str;

typedef struct pm_cfg_int {
	const char *name;
	long defval;
	long *var;
	long min;
	long max; /* 0 = no maximum */
} pm_cfg_int;

typedef struct pm_cfg_time {
	const char *name;
	const char *defval; /* e.g. "300s" */
	long *var;          /* seconds */
	char
	    unit; /* default unit when the value has none: 's','m','h','d','w' */
	long min;
	long max; /* 0 = no maximum */
} pm_cfg_time;

typedef struct pm_cfg_bool {
	const char *name;
	int defval;
	int *var;
} pm_cfg_bool;

/* Load main.cf (see above for where it is found). Call once. */
int pm_cfg_load(const char *path);
/*
 * Where main.cf is (a new string): <config_dir>/main.cf if config_dir
 * != NULL, else $MAIL_CONFIG/main.cf, else /etc/postmesh/main.cf.
 */
char *pm_cfg_main_path(const char *config_dir);
/* Forget everything (tests). */
void pm_cfg_reset(void);
/* Set a value as if from main.cf (tests, command line -o name=value). */
void pm_cfg_set(const char *name, const char *value);

/* Raw (unexpanded) effective value: env, main.cf, default; NULL if unknown. */
const char *pm_cfg_raw(const char *name);
/*
 * Expanded effective value as a new string; NULL if the name is unknown.
 * Template parameters (default_rbl_reply) come back unexpanded.
 */
char *pm_cfg_get(const char *name);
/* Expand $name references in a string; returns a new string. */
char *pm_cfg_expand(const char *value);

/*
 * Bind tables (terminated by an entry with name == NULL). Each variable
 * receives the effective, expanded, range-checked value. A value out of
 * range or unparsable is fatal (pm_msg_fatal): bad configuration at
 * start. Names are remembered as known for pm_cfg_warn_unknown().
 */
void pm_cfg_bind_str(const pm_cfg_str *t);
void pm_cfg_bind_int(const pm_cfg_int *t);
void pm_cfg_bind_time(const pm_cfg_time *t);
void pm_cfg_bind_bool(const pm_cfg_bool *t);

/*
 * Reload (pm_server on SIGHUP, after pm_cfg_load): bind again only the
 * entries whose name is in only (NULL-terminated), in any of the four
 * tables (each may be NULL). Every value is checked first; if one does
 * not parse or is out of range nothing is assigned and PM_EINVAL is
 * returned with *errp a message to free. check_only: check, assign
 * nothing. Replaced strings stay valid until pm_cfg_reset() (a reader
 * may hold one).
 */
int pm_cfg_rebind(const pm_cfg_str *s, const pm_cfg_int *i,
    const pm_cfg_time *t, const pm_cfg_bool *b, const char *const *only,
    int check_only, char **errp);

/*
 * Reload: record the names whose value is looked up (pm_cfg_get, bind)
 * from pm_cfg_track_begin() until pm_cfg_track_end(), which returns
 * them as a NULL-terminated list (pm_cfg_list_free). pm_server uses it
 * to tell which changed parameters a service's reload() applied.
 */
void pm_cfg_track_begin(void);
char **pm_cfg_track_end(void);

/* Parse helpers (return 0 or PM_EINVAL). */
int pm_cfg_parse_time(const char *s, char defunit, long *secs);
int pm_cfg_parse_bool(const char *s, int *val);
int pm_cfg_parse_long(const char *s, long *val);

/*
 * Make name known with defval as its default, as a bound table does but
 * without a variable (postconf knows every service's parameters this
 * way). defval NULL: the lib default.
 */
void pm_cfg_declare(const char *name, const char *defval);
/* 1 if a lib default, a bound table or pm_cfg_declare() knows name. */
int pm_cfg_known(const char *name);
/*
 * Iterate over main.cf's settings in name order: fn(name, raw value
 * from main.cf, known as by pm_cfg_known()).
 */
void pm_cfg_walk_file(void (*fn)(const char *name, const char *value, int known,
                          void *arg),
    void *arg);

/* Warn about main.cf names that no default or bound table knows. */
void pm_cfg_warn_unknown(void);

/*
 * Iterate over every known parameter (lib defaults and bound names) in
 * name order, for postconf: fn(name, default, effective expanded value).
 */
void pm_cfg_walk(void (*fn)(const char *name, const char *defval,
                     const char *value, void *arg),
    void *arg);

/* The lib table of known parameters and their default strings. */
typedef struct pm_param_default {
	const char *name;
	const char *defval;
} pm_param_default;
extern const pm_param_default pm_param_defaults[];

/*
 * Split a list value (white space and/or commas separate items, as in
 * Postfix) into a NULL-terminated array of new strings; free with
 * pm_cfg_list_free(). Items inside {braces} are kept whole.
 */
char **pm_cfg_list(const char *value, size_t *np);
void pm_cfg_list_free(char **list);

#endif
