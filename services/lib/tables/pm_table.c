/*
 * NAME
 *	pm_table - Postfix-style lookup tables: open, lookup, lists, reload
 * SUMMARY
 *	#include "pm_table.h"
 * DESCRIPTION
 *	See pm_table.h. This file dispatches "type:name" to the table types
 *	(pm_table_hash.c: inline, static, texthash, unix; pm_table_regexp.c;
 *	pm_table_cidr.c; pm_table_redis.c), keeps table lists, implements the access(5)
 *	address lookup order, and holds the file and logical-line readers
 *	the file-based types share.
 *
 *	Each pm_table owns an immutable image behind a read-write lock:
 *	lookups from many threads (smtpd's check pool) take the read lock;
 *	pm_tables_reload() builds a new image first and swaps it under the
 *	write lock, so a failed reload keeps the old table working.
 * LIMITS
 *	PM_TABLE_FILE_MAX bytes per file, PM_TABLE_LINE_MAX bytes per
 *	logical line, PM_TABLE_ENTRIES_MAX tables per list.
 * SECURITY
 *	Table files are trusted as configuration, but never enough to crash
 *	on: NUL bytes, over-long lines and bad syntax are warned about with
 *	file name and line number and skipped.
 */
#include "pm_table.h"
#include "pm_addr.h"
#include "pm_log.h"
#include "pm_table_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pm_table {
	char *spec;       /* "type:name" */
	const char *name; /* inside spec, after the ':' */
	const pm__table_ops *ops;
	pthread_rwlock_t lock;
	void *impl;
};

struct pm_tables {
	size_t n;
	pm_table **v;
};

static const pm__table_ops *const table_types[] = {
	&pm__table_inline_ops,
	&pm__table_static_ops,
	&pm__table_texthash_ops,
	&pm__table_unix_ops,
	&pm__table_regexp_ops,
	&pm__table_pcre_ops,
	&pm__table_cidr_ops,
	&pm__table_redis_ops,
	NULL,
};

/* ---- Files and logical lines ---- */

int
pm__file_read(const char *path, char **data, size_t *len, const char **err)
{
	struct stat st;
	pm_buf b;
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*err = "cannot open table file";
		return (errno == ENOENT ? PM_ENOENT : PM_EIO);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*err = "table file is not a regular file";
		return (PM_EIO);
	}
	if (st.st_size > PM_TABLE_FILE_MAX) {
		close(fd);
		*err = "table file too large";
		return (PM_ETOOBIG);
	}
	pm_buf_init(&b, PM_TABLE_FILE_MAX);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			*err = "cannot read table file";
			rc = PM_EIO;
			break;
		}
		if (n == 0) {
			break;
		}
		/* The file may grow while we read it: the limit still holds. */
		if (pm_buf_append(&b, chunk, (size_t) n) != 0) {
			*err = "table file too large";
			rc = PM_ETOOBIG;
			break;
		}
	}
	close(fd);
	if (rc != 0) {
		pm_buf_free(&b);
		return (rc);
	}
	if (b.data == NULL) {
		pm_buf_puts(&b, "");
	}
	*data = pm_buf_steal(&b, len);
	return (0);
}

void
pm__lines_init(pm__lines *l, const char *what, const char *path,
    const char *data, size_t len)
{
	l->what = what;
	l->path = path;
	l->p = data;
	l->end = data + len;
	l->lineno = 1;
	pm_buf_init(&l->buf, PM_TABLE_LINE_MAX);
}

void
pm__lines_free(pm__lines *l)
{
	pm_buf_free(&l->buf);
}

static int
is_ws(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	    c == '\v');
}

char *
pm__lines_next(pm__lines *l, int *lineno)
{
	const char *eol, *s, *e;
	int started = 0, bad = 0, first = 0;

	pm_buf_reset(&l->buf);
	while (l->p < l->end) {
		eol = memchr(l->p, '\n', (size_t) (l->end - l->p));
		if (eol == NULL) {
			eol = l->end;
		}
		s = l->p;
		e = eol;
		while (s < e && is_ws(*s)) {
			s++;
		}
		while (e > s && is_ws(e[-1])) {
			e--;
		}
		/* Blank and comment lines are skipped, even inside a text. */
		if (s == e || *s == '#') {
			goto consumed;
		}
		if (s == l->p) {
			/* Non-white space in column 1 starts a logical line. */
			if (started) {
				if (!bad) {
					break;
				}
				pm_buf_reset(&l->buf);
				started = bad = 0;
			}
			started = 1;
			first = l->lineno;
		} else if (!started) {
			pm_msg_warn("%s %s, line %d: logical line must not "
			            "start with white space",
			    l->what, l->path, l->lineno);
			goto consumed;
		}
		if (bad) {
			goto consumed;
		}
		if (memchr(s, 0, (size_t) (e - s)) != NULL) {
			pm_msg_warn("%s %s, line %d: NUL character in line, "
			            "skipping",
			    l->what, l->path, l->lineno);
			bad = 1;
		} else if ((l->buf.len > 0 &&
		               pm_buf_append(&l->buf, " ", 1) != 0) ||
		    pm_buf_append(&l->buf, s, (size_t) (e - s)) != 0) {
			pm_msg_warn("%s %s, line %d: line longer than %d "
			            "bytes, skipping",
			    l->what, l->path, first, PM_TABLE_LINE_MAX);
			bad = 1;
		}
consumed:
		l->lineno++;
		l->p = eol < l->end ? eol + 1 : l->end;
	}
	if (!started || bad) {
		return (NULL);
	}
	*lineno = first;
	return (l->buf.data);
}

/* ---- Lists ---- */

int
pm__list_next(const char **cp, char **item, const char **err)
{
	const char *s = *cp, *start;
	int depth = 0;

	while (*s && (is_ws(*s) || *s == ',')) {
		s++;
	}
	if (*s == 0) {
		*cp = s;
		return (PM_ENOENT);
	}
	start = s;
	for (; *s; s++) {
		if (*s == '{') {
			depth++;
		} else if (*s == '}') {
			if (--depth < 0) {
				*err = "unbalanced '}'";
				return (PM_EINVAL);
			}
		} else if (depth == 0 && (is_ws(*s) || *s == ',')) {
			break;
		}
	}
	if (depth != 0) {
		*err = "unbalanced '{'";
		return (PM_EINVAL);
	}
	*item = pm_strndup(start, (size_t) (s - start));
	*cp = s;
	return (0);
}

/* ---- One table ---- */

pm_table *
pm_table_open(const char *spec, const char **err)
{
	const pm__table_ops *const *o;
	const char *colon;
	pm_table *t;
	size_t tlen, i;
	void *impl = NULL;

	if (spec == NULL || (colon = strchr(spec, ':')) == NULL ||
	    colon == spec) {
		*err = "need \"type:name\" form";
		return (NULL);
	}
	tlen = (size_t) (colon - spec);
	for (i = 0; i < tlen; i++) {
		char c = spec[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
			*err = "unsupported table type";
			return (NULL);
		}
	}
	for (o = table_types; *o != NULL; o++) {
		if (strlen((*o)->type) == tlen &&
		    strncmp((*o)->type, spec, tlen) == 0) {
			break;
		}
	}
	if (*o == NULL) {
		*err = "unsupported table type";
		return (NULL);
	}
	if ((*o)->open(colon + 1, &impl, err) != 0) {
		return (NULL);
	}
	t = pm_calloc(1, sizeof(*t));
	t->spec = pm_strdup(spec);
	t->name = t->spec + tlen + 1;
	t->ops = *o;
	t->impl = impl;
	if (pthread_rwlock_init(&t->lock, NULL) != 0) {
		pm_panic("pm_table_open: pthread_rwlock_init failed");
	}
	return (t);
}

pm_table *
pm_table_close(pm_table *t)
{
	if (t != NULL) {
		t->ops->close(t->impl);
		pthread_rwlock_destroy(&t->lock);
		free(t->spec);
		free(t);
	}
	return (NULL);
}

const char *
pm_table_name(const pm_table *t)
{
	return (t->spec);
}

int
pm_table_get(pm_table *t, const char *key, char **value)
{
	int rc;

	if (t == NULL || key == NULL) {
		return (PM_EINVAL);
	}
	pthread_rwlock_rdlock(&t->lock);
	rc = t->ops->get(t->impl, key, value);
	pthread_rwlock_unlock(&t->lock);
	return (rc);
}

static int
table_reload(pm_table *t)
{
	const char *err = NULL;
	void *impl = NULL, *old;
	int rc;

	if ((rc = t->ops->open(t->name, &impl, &err)) != 0) {
		pm_msg_warn("%s: reload failed: %s; keeping the old table",
		    t->spec, err ? err : pm_strerror(rc));
		return (rc != 0 ? rc : PM_EIO);
	}
	pthread_rwlock_wrlock(&t->lock);
	old = t->impl;
	t->impl = impl;
	pthread_rwlock_unlock(&t->lock);
	t->ops->close(old);
	return (0);
}

/* ---- Lists of tables ---- */

pm_tables *
pm_tables_open(const char *spec, const char **err)
{
	pm_tables *ts = pm_calloc(1, sizeof(*ts));
	const char *cp = spec ? spec : "";
	char *item;
	pm_table *t;
	int rc;

	while ((rc = pm__list_next(&cp, &item, err)) == 0) {
		if (ts->n >= PM_TABLE_ENTRIES_MAX) {
			free(item);
			*err = "too many tables";
			return (pm_tables_close(ts));
		}
		t = pm_table_open(item, err);
		if (t == NULL) {
			pm_msg_warn("%s: %s", item, *err);
			free(item);
			return (pm_tables_close(ts));
		}
		free(item);
		ts->v = pm_realloc(ts->v, (ts->n + 1) * sizeof(*ts->v));
		ts->v[ts->n++] = t;
	}
	if (rc != PM_ENOENT) {
		return (pm_tables_close(ts));
	}
	return (ts);
}

pm_tables *
pm_tables_close(pm_tables *ts)
{
	size_t i;

	if (ts != NULL) {
		for (i = 0; i < ts->n; i++) {
			pm_table_close(ts->v[i]);
		}
		free(ts->v);
		free(ts);
	}
	return (NULL);
}

size_t
pm_tables_count(const pm_tables *ts)
{
	return (ts != NULL ? ts->n : 0);
}

/* First match of key; partial: skip regexp/cidr-style tables. */
static int
tables_get(pm_tables *ts, const char *key, int partial, char **value)
{
	size_t i;
	int rc;

	for (i = 0; i < ts->n; i++) {
		if (partial && (ts->v[i]->ops->flags & PM__TABLE_FULLKEY)) {
			continue;
		}
		rc = pm_table_get(ts->v[i], key, value);
		if (rc != PM_ENOENT) {
			return (rc);
		}
	}
	return (PM_ENOENT);
}

int
pm_tables_get(pm_tables *ts, const char *key, char **value)
{
	if (ts == NULL || key == NULL) {
		return (PM_EINVAL);
	}
	return (tables_get(ts, key, 0, value));
}

int
pm_tables_get_fixed(pm_tables *ts, const char *key, char **value)
{
	if (ts == NULL || key == NULL) {
		return (PM_EINVAL);
	}
	return (tables_get(ts, key, 1, value));
}

int
pm_table_lookup_addr(pm_tables *ts, const char *address, int parent_domains,
    char **value)
{
	const char *at, *domain, *p;
	char *user;
	int rc;

	if (ts == NULL || address == NULL) {
		return (PM_EINVAL);
	}
	/* The whole address; regexp: and cidr: tables see only this. */
	if ((rc = tables_get(ts, address, 0, value)) != PM_ENOENT ||
	    *address == 0) {
		return (rc);
	}
	at = pm_addr_domain(address);
	if (at != NULL && at[1] != 0) {
		domain = at + 1;
		if ((rc = tables_get(ts, domain, 1, value)) != PM_ENOENT) {
			return (rc);
		}
		/* Parent domains: ".example.com", then "example.com". */
		for (p = strchr(domain, '.'); domain[0] != '[' && p != NULL;
		     p = strchr(p + 1, '.')) {
			if (p[1] == 0) {
				break;
			}
			if ((rc = tables_get(ts, p, 1, value)) != PM_ENOENT) {
				return (rc);
			}
			if (parent_domains &&
			    (rc = tables_get(ts, p + 1, 1, value)) !=
			        PM_ENOENT) {
				return (rc);
			}
		}
	}
	/* "user@" */
	if (at != NULL) {
		user = pm_strndup(address, (size_t) (at - address) + 1);
	} else {
		user = pm_asprintf("%s@", address);
	}
	rc = tables_get(ts, user, 1, value);
	free(user);
	return (rc);
}

int
pm_tables_reload(pm_tables *ts)
{
	size_t i;
	int rc, first = 0;

	if (ts == NULL) {
		return (0);
	}
	for (i = 0; i < ts->n; i++) {
		if ((rc = table_reload(ts->v[i])) != 0 && first == 0) {
			first = rc;
		}
	}
	return (first);
}
