/*
 * NAME
 *	pm_cfg_priv - internals shared by pm_cfg.c, pm_cfg_bind.c and
 *	pm_cfg_parse.c
 * DESCRIPTION
 *	Not for use outside pm_cfg*.c. The parameter store is a hash table
 *	of pm__cfg_ent guarded by pm__cfg_lock (recursive: expansion calls
 *	back into lookups). Every function here except the reader and the
 *	character classes expects the lock to be held.
 */
#ifndef PM_CFG_PRIV_H
#define PM_CFG_PRIV_H

#include <pthread.h>
#include <stdio.h>

#define PM__CFG_LINE_MAX (64 * 1024)   /* logical main.cf line */
#define PM__CFG_EXPAND_MAX (64 * 1024) /* expansion result */
#define PM__CFG_DEPTH_MAX 100          /* expansion nesting */

typedef struct pm__cfg_ent {
	struct pm__cfg_ent *next;
	char *name;
	char *file_val;      /* main.cf, raw */
	char *set_val;       /* pm_cfg_set(), raw */
	char *bound_def;     /* default string of a bound table, or NULL */
	const char *lib_def; /* pm_param_defaults entry, or NULL */
	int bound;
} pm__cfg_ent;

extern pthread_mutex_t pm__cfg_lock;

/* Lock held. */
void pm__cfg_init(void);
pm__cfg_ent *pm__cfg_find(const char *name, int create);
void pm__cfg_bury(char *s);
int pm__cfg_is_computed(const char *name);
char *pm__cfg_get_locked(const char *name, int *errp);

/*
 * Read main.cf from fp; store(name, raw value) for every good line;
 * bad lines are warned about (path, line number) and skipped.
 * Returns 0 or PM_EIO on a read error.
 */
int pm__cfg_read(FILE *fp, const char *path,
    void (*store)(const char *name, const char *value));

static inline int
pm__cfg_namechar(int c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_');
}

static inline int
pm__cfg_space(int c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
	    c == '\f');
}

#endif
