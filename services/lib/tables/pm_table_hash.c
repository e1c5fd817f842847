/*
 * NAME
 *	pm_table_hash - inline:, static:, texthash: and unix: tables
 * SUMMARY
 *	#include "pm_table_priv.h"
 * DESCRIPTION
 *	The key-value table types of pm_table.h, and the string map under
 *	them:
 *	  inline:{ key=value, { key = value with, commas } }
 *	      as Postfix's dict_inline: items separated by commas or white
 *	      space; "{ ... }" keeps white space and commas, split at the
 *	      first '=', name and value trimmed. A syntax error makes the
 *	      open fail.
 *	  static:value, static:{ text with spaces }
 *	      every key gives value.
 *	  texthash:/path
 *	      as Postfix's dict_thash: "key whitespace value" logical
 *	      lines; a line without a value is warned about and skipped;
 *	      a duplicate key is warned about and the first one kept.
 *	      A file whose first record is in aliases(5) form ("root:
 *	      admin") is read by pm_alias (pm_table_alias.c), so
 *	      alias_maps = texthash:/etc/aliases works without postalias.
 *	  unix:passwd.byname
 *	      getpwnam_r() on the key's local part (the text before the
 *	      last '@', or the whole key); the value is the key. Used by
 *	      local_recipient_maps' default.
 *	Keys are folded to lower case (ASCII) on load and lookup.
 * LIMITS
 *	PM_TABLE_ENTRIES_MAX entries per table (the rest is ignored with a
 *	warning); PM_UNIX_NAME_MAX bytes per user name.
 * SECURITY
 *	Lookup keys are client data; the hash is not keyed, but clients
 *	only look up and never insert, so they cannot make chains grow.
 */
#include "pm_addr.h"
#include "pm_log.h"
#include "pm_table_priv.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PM_UNIX_NAME_MAX 256

/* ---- String map with lowercased keys, over pm_smap ---- */

void
pm__hash_init(pm__hash *h)
{
	h->m = pm_smap_new();
	h->n = 0;
}

static void
hash_free_val(const char *key, void *value, void *arg)
{
	(void) key;
	(void) arg;
	free(value);
}

void
pm__hash_free(pm__hash *h)
{
	if (h->m != NULL) {
		pm_smap_walk(h->m, hash_free_val, NULL);
		pm_smap_free(h->m);
	}
	h->m = NULL;
	h->n = 0;
}

int
pm__hash_put(pm__hash *h, char *key, char *val)
{
	pm_lowercase(key);
	if (pm_smap_get(h->m, key) != NULL) {
		free(key);
		free(val);
		return (PM_EEXIST);
	}
	(void) pm_smap_put(h->m, key, val);
	free(key);
	h->n++;
	return (0);
}

const char *
pm__hash_get(const pm__hash *h, const char *key)
{
	char small[256], *k;
	const char *v;
	size_t len = strlen(key);

	if (h->n == 0) {
		return (NULL);
	}
	k = len < sizeof(small) ? small : pm_malloc(len + 1);
	memcpy(k, key, len + 1);
	pm_lowercase(k);
	v = pm_smap_get(h->m, k);
	if (k != small) {
		free(k);
	}
	return (v);
}

static int
hash_get(void *impl, const char *key, char **value)
{
	const char *v = pm__hash_get(impl, key);

	if (v == NULL) {
		return (PM_ENOENT);
	}
	*value = pm_strdup(v);
	return (0);
}

static void
hash_close(void *impl)
{
	if (impl != NULL) {
		pm__hash_free(impl);
		free(impl);
	}
}

/* ---- inline: ---- */

static int
is_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/* "{ text }" -> "text" in place; NULL if not a brace group. */
static char *
strip_braces(char *s)
{
	size_t len = strlen(s);

	if (len < 2 || s[0] != '{' || s[len - 1] != '}') {
		return (NULL);
	}
	s[len - 1] = 0;
	return (pm_trim(s + 1));
}

static int
inline_open(const char *name, void **impl, const char **err)
{
	pm__hash *h;
	char *copy, *body, *item, *eq, *k, *v;
	const char *cp;
	int rc;

	copy = pm_strdup(name);
	if ((body = strip_braces(pm_trim(copy))) == NULL) {
		free(copy);
		*err = "inline table: need \"inline:{name=value...}\"";
		return (PM_EINVAL);
	}
	h = pm_malloc(sizeof(*h));
	pm__hash_init(h);
	cp = body;
	while ((rc = pm__list_next(&cp, &item, err)) == 0) {
		char *text = item;

		if (item[0] == '{' && (text = strip_braces(item)) == NULL) {
			*err = "inline table: unbalanced '{'";
			rc = PM_EINVAL;
		} else if ((eq = strchr(text, '=')) == NULL) {
			*err = "inline table: need name=value";
			rc = PM_EINVAL;
		} else if (h->n >= PM_TABLE_ENTRIES_MAX) {
			*err = "inline table: too many entries";
			rc = PM_ETOOBIG;
		}
		if (rc != 0) {
			free(item);
			break;
		}
		*eq = 0;
		k = pm_trim(text);
		v = pm_trim(eq + 1);
		if (*k == 0) {
			*err = "inline table: empty name";
			free(item);
			rc = PM_EINVAL;
			break;
		}
		if (pm__hash_put(h, pm_strdup(k), pm_strdup(v)) != 0) {
			pm_msg_warn("inline table: duplicate entry: \"%s\"", k);
		}
		free(item);
	}
	free(copy);
	if (rc != PM_ENOENT) {
		hash_close(h);
		return (rc != 0 ? rc : PM_EINVAL);
	}
	*impl = h;
	return (0);
}

const pm__table_ops pm__table_inline_ops = {
	.type = "inline",
	.open = inline_open,
	.get = hash_get,
	.close = hash_close,
};

/* ---- static: ---- */

static int
static_open(const char *name, void **impl, const char **err)
{
	char *copy = pm_strdup(name), *t = pm_trim(copy), *body;

	if (t[0] == '{') {
		if ((body = strip_braces(t)) == NULL) {
			free(copy);
			*err = "static table: unbalanced '{'";
			return (PM_EINVAL);
		}
		t = body;
	}
	*impl = pm_strdup(t);
	free(copy);
	return (0);
}

static int
static_get(void *impl, const char *key, char **value)
{
	(void) key;
	*value = pm_strdup(impl);
	return (0);
}

static void
static_close(void *impl)
{
	free(impl);
}

const pm__table_ops pm__table_static_ops = {
	.type = "static",
	.open = static_open,
	.get = static_get,
	.close = static_close,
};

/* ---- texthash: ---- */

static int
texthash_open(const char *name, void **impl, const char **err)
{
	pm__lines l;
	pm__hash *h;
	char *data, *line, *k, *v;
	size_t len;
	int rc, lineno;

	if ((rc = pm__file_read(name, &data, &len, err)) != 0) {
		return (rc);
	}
	h = pm_malloc(sizeof(*h));
	pm__hash_init(h);
	if (pm__alias_format(data, len)) {
		pm__alias_hash(name, data, len, h);
		free(data);
		*impl = h;
		return (0);
	}
	pm__lines_init(&l, "texthash map", name, data, len);
	while ((line = pm__lines_next(&l, &lineno)) != NULL) {
		k = line;
		for (v = k; *v && !is_space(*v); v++) {
			;
		}
		if (*v) {
			*v++ = 0;
		}
		v = pm_trim(v);
		if (*v == 0) {
			pm_msg_warn("texthash map %s, line %d: expected "
			            "format: key whitespace value",
			    name, lineno);
			continue;
		}
		if (h->n >= PM_TABLE_ENTRIES_MAX) {
			pm_msg_warn("texthash map %s, line %d: more than %d "
			            "entries, ignoring the rest",
			    name, lineno, PM_TABLE_ENTRIES_MAX);
			break;
		}
		if (pm__hash_put(h, pm_strdup(k), pm_strdup(v)) != 0) {
			char *p = pm_printable_dup(k, strlen(k), 256);

			pm_msg_warn("texthash map %s, line %d: duplicate "
			            "entry: \"%s\"",
			    name, lineno, p);
			free(p);
		}
	}
	pm__lines_free(&l);
	free(data);
	*impl = h;
	return (0);
}

const pm__table_ops pm__table_texthash_ops = {
	.type = "texthash",
	.open = texthash_open,
	.get = hash_get,
	.close = hash_close,
};

/* ---- unix:passwd.byname ---- */

static int
unix_open(const char *name, void **impl, const char **err)
{
	if (strcmp(name, "passwd.byname") != 0) {
		*err = "unix table: only unix:passwd.byname is supported";
		return (PM_EINVAL);
	}
	*impl = NULL;
	return (0);
}

/* getpwnam_r(); 0 found, PM_ENOENT not found, PM_EIO lookup error. */
static int
unix_user(const char *user)
{
	struct passwd pw, *res = NULL;
	char stackbuf[4096], *buf = stackbuf;
	size_t size = sizeof(stackbuf);
	int rc;

	for (;;) {
		rc = getpwnam_r(user, &pw, buf, size, &res);
		if (rc != ERANGE || size >= 1024 * 1024) {
			break;
		}
		size *= 4;
		if (buf != stackbuf) {
			free(buf);
		}
		buf = pm_malloc(size);
	}
	if (buf != stackbuf) {
		free(buf);
	}
	if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF ||
	    rc == EPERM) {
		/* POSIX lets "not found" come back as any of these. */
		return (res != NULL ? 0 : PM_ENOENT);
	}
	return (PM_EIO);
}

static int
unix_get(void *impl, const char *key, char **value)
{
	const char *at = pm_addr_domain(key);
	size_t len = at != NULL ? (size_t) (at - key) : strlen(key);
	char name[PM_UNIX_NAME_MAX + 1];
	int rc;

	(void) impl;
	if (len == 0 || len > PM_UNIX_NAME_MAX || key[0] == '"') {
		return (PM_ENOENT);
	}
	memcpy(name, key, len);
	name[len] = 0;
	if (strchr(name, '/') != NULL || name[0] == '-' || name[0] == '+') {
		/* Not a user name; NIS-style "+"/"-" entries never match. */
		return (PM_ENOENT);
	}
	rc = unix_user(name);
	if (rc == PM_ENOENT && memcmp(pm_lowercase(name), key, len) != 0) {
		/* Postfix folds addresses to lower case before lookup. */
		rc = unix_user(name);
	}
	if (rc == 0) {
		*value = pm_strdup(key);
	}
	return (rc);
}

static void
unix_close(void *impl)
{
	(void) impl;
}

const pm__table_ops pm__table_unix_ops = {
	.type = "unix",
	.flags = PM__TABLE_FULLKEY,
	.open = unix_open,
	.get = unix_get,
	.close = unix_close,
};
