/*
 * NAME
 *	pm_aliasdb - what postalias and newaliases do: check, load, query
 * DESCRIPTION
 *	See pm_aliasdb.h. The argument list is walked once: each item is
 *	a table ("type:name", or a bare file name meaning texthash:name);
 *	a bare file name right after a redis: table is that table's source.
 * LIMITS
 *	PM_ALIASDB_ARGS_MAX arguments; see pm_alias, pm_qstore_table.
 * SECURITY
 *	Operator input only; messages are made printable.
 */
#include "pm_aliasdb.h"
#include "pm_alias.h"
#include "pm_cfg.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_qstore_table.h"
#include "pm_server_queue.h"
#include "pm_table.h"
#include "pm_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct run {
	const char *prog;
	int verbose;
	FILE *out; /* query results: the real stdout */
} run;

static void say(const run *r, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(const run *r, const char *level, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = pm_vasprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s%s\n", r->prog, level, pm_printable(msg));
	free(msg);
}

static void
file_error(void *arg, const char *path, int lineno, const char *msg)
{
	if (lineno > 0) {
		say(arg, "warning: ", "%s, line %d: %s", path, lineno, msg);
	} else {
		say(arg, "warning: ", "%s: %s", path, msg);
	}
}

/* Parse an aliases file; 0 and *f, or 1 (errors were reported). */
static int
parse_source(const run *r, const char *path, pm_alias_file *f)
{
	if (pm_alias_load(path, f, file_error, (void *) r) != 0) {
		return (1);
	}
	if (f->nerrors > 0) {
		say(r, "warning: ", "%s: %zu error%s", path, f->nerrors,
		    f->nerrors == 1 ? "" : "s");
		pm_alias_file_free(f);
		return (1);
	}
	return (0);
}

static int
load_redis(const run *r, const char *prefix, const char *source)
{
	pm_alias_file f;
	long long removed = 0;
	char **names, **values;
	pm_qstore *qs;
	size_t i;
	int rc;

	if (*prefix == 0) {
		say(r,
		    "fatal: ", "redis: needs a key prefix (redis:pm:alias:)");
		return (1);
	}
	if (parse_source(r, source, &f) != 0) {
		say(r, "fatal: ", "redis:%s not changed", prefix);
		return (1);
	}
	names = pm_calloc(f.n + 1, sizeof(*names));
	values = pm_calloc(f.n + 1, sizeof(*values));
	for (i = 0; i < f.n; i++) {
		names[i] = f.v[i].name;
		values[i] = f.v[i].value;
	}
	if ((qs = pm_server_qstore_open()) == NULL) {
		rc = PM_EINVAL;
	} else {
		rc = pm_qstore_table_replace(qs, prefix, f.n, names, values,
		    &removed);
	}
	pm_qstore_close(qs);
	if (rc == 0 && r->verbose) {
		say(r, "", "redis:%s: %zu names from %s, %lld removed", prefix,
		    f.n, source, removed);
	} else if (rc != 0) {
		say(r, "fatal: ", "redis:%s: cannot update (%s); not changed",
		    prefix, pm_strerror(rc));
	}
	free(names);
	free(values);
	pm_alias_file_free(&f);
	return (rc == 0 ? 0 : rc == PM_EREDIS ? PM_ALIASDB_EX_TEMPFAIL : 1);
}

static int
query(const run *r, const char *spec, const char *key, int *found)
{
	const char *err = NULL;
	char *value = NULL;
	pm_table *t;
	int rc;

	if ((t = pm_table_open(spec, &err)) == NULL) {
		say(r, "fatal: ", "%s: %s", spec, err);
		return (1);
	}
	rc = pm_table_get(t, key, &value);
	pm_table_close(t);
	if (rc == 0) {
		fprintf(r->out, "%s\n", value);
		free(value);
		*found = 1;
		return (0);
	}
	if (rc == PM_ENOENT) {
		return (0);
	}
	say(r, "fatal: ", "%s: lookup of \"%s\" failed: %s", spec, key,
	    pm_strerror(rc));
	return (rc == PM_EREDIS ? PM_ALIASDB_EX_TEMPFAIL : 1);
}

/* One table: check, load, or query. */
static int
one(const run *r, const char *spec, const char *source, const char *key,
    int *found)
{
	pm_alias_file f;

	if (key != NULL) {
		return (query(r, spec, key, found));
	}
	if (strncmp(spec, "texthash:", 9) == 0) {
		if (parse_source(r, spec + 9, &f) != 0) {
			return (1);
		}
		if (r->verbose) {
			say(r, "", "%s: %zu names, no errors", spec + 9, f.n);
		}
		pm_alias_file_free(&f);
		return (0);
	}
	if (strncmp(spec, "redis:", 6) == 0) {
		return (load_redis(r, spec + 6, source));
	}
	say(r, "fatal: ",
	    "%s: unsupported alias database type (want "
	    "texthash: or redis:)",
	    spec);
	return (1);
}

static int
walk(const run *r, char *const *specs, size_t n, const char *key)
{
	const char *source;
	char *spec;
	int status = 0, rc, found = 0;
	size_t i;

	if (n > PM_ALIASDB_ARGS_MAX) {
		say(r, "fatal: ", "more than %d tables", PM_ALIASDB_ARGS_MAX);
		return (1);
	}
	for (i = 0; i < n && !found; i++) {
		source = PM_ALIASDB_DEFAULT_SOURCE;
		if (strchr(specs[i], ':') == NULL) {
			/* A bare file name: texthash, as Postfix's
			 * default_database_type. */
			spec = pm_asprintf("texthash:%s", specs[i]);
		} else {
			spec = pm_strdup(specs[i]);
			if (strncmp(spec, "redis:", 6) == 0 && i + 1 < n &&
			    strchr(specs[i + 1], ':') == NULL) {
				source = specs[++i];
			}
		}
		rc = one(r, spec, source, key, &found);
		free(spec);
		if (rc != 0) {
			status = rc;
			if (key != NULL) {
				return (status); /* never a later answer */
			}
		}
	}
	if (key != NULL && status == 0 && !found) {
		return (1);
	}
	return (status);
}

int
pm_aliasdb_cli(const char *progname, const char *config_dir, char *const *specs,
    size_t n, const char *query_key, int verbose)
{
	run r = { .prog = progname, .verbose = verbose };
	char *cfpath = NULL, *db, **list;
	int fd, status;
	size_t nlist;

	/* Query results on stdout; pm_log's lines (to fd 1) on stderr. */
	if ((fd = dup(1)) < 0 || (r.out = fdopen(fd, "w")) == NULL ||
	    dup2(2, 1) < 0) {
		fprintf(stderr, "%s: fatal: cannot set up output\n", progname);
		return (1);
	}
	pm_log_init(progname);
	if (config_dir != NULL) {
		setenv("MAIL_CONFIG", config_dir, 1);
		cfpath = pm_asprintf("%s/main.cf", config_dir);
	}
	if (pm_cfg_load(cfpath) != 0) {
		say(&r, "fatal: ", "cannot read the configuration");
		free(cfpath);
		return (1);
	}
	free(cfpath);
	pm_common_params_bind();
	if (specs != NULL) {
		status = walk(&r, specs, n, query_key);
	} else {
		db = pm_cfg_get("alias_database");
		list = pm_cfg_list(db != NULL ? db : "", &nlist);
		if (nlist == 0) {
			say(&r, "warning: ",
			    "alias_database is empty: "
			    "nothing to do");
		}
		status = walk(&r, list, nlist, query_key);
		pm_cfg_list_free(list);
		free(db);
	}
	fflush(r.out);
	fclose(r.out);
	return (status);
}
