/*
 * NAME
 *	pm_table_priv - internals shared by the pm_table_*.c files
 * SUMMARY
 *	#include "pm_table_priv.h"
 * DESCRIPTION
 *	Not for use outside libpostmesh's table code. Each table type is a
 *	pm__table_ops: open() builds an immutable in-memory image of the
 *	table, get() looks a key up in it (thread-safe: images are never
 *	changed after open), close() frees it. pm_table.c wraps an image in
 *	a pm_table with a lock so that pm_tables_reload() can swap it.
 *
 *	pm__file_read() reads a whole table file under the size limit;
 *	pm__lines_next() returns Postfix "logical lines" (comments and
 *	blank lines skipped, lines starting with white space continue the
 *	previous line). pm__hash is a string map used by texthash:/inline:.
 *	pm__cidr_* parse and match addresses for cidr: and pm_netlist.
 * LIMITS
 *	PM_TABLE_FILE_MAX, PM_TABLE_LINE_MAX, PM_TABLE_ENTRIES_MAX below,
 *	as documented in pm_table.h.
 * SECURITY
 *	Table files are operator input: bad lines are warned about and
 *	skipped. Lookup keys are client data.
 */
#ifndef PM_TABLE_PRIV_H
#define PM_TABLE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "pm_smap.h"
#include "pm_util.h"

#define PM_TABLE_FILE_MAX (64 * 1024 * 1024)
#define PM_TABLE_LINE_MAX (64 * 1024)
#define PM_TABLE_ENTRIES_MAX 100000

/* Tables whose only sensible key is the whole string (regexp:, cidr:). */
#define PM__TABLE_FULLKEY 1

typedef struct pm__table_ops {
	const char *type;
	int flags;
	/* name is the text after "type:"; *impl is the image. */
	int (*open)(const char *name, void **impl, const char **err);
	int (*get)(void *impl, const char *key, char **value);
	void (*close)(void *impl);
} pm__table_ops;

extern const pm__table_ops pm__table_inline_ops;
extern const pm__table_ops pm__table_static_ops;
extern const pm__table_ops pm__table_texthash_ops;
extern const pm__table_ops pm__table_unix_ops;
extern const pm__table_ops pm__table_regexp_ops;
extern const pm__table_ops pm__table_pcre_ops;
extern const pm__table_ops pm__table_cidr_ops;
extern const pm__table_ops pm__table_redis_ops; /* pm_table_redis.c */

/*
 * Next item of a list "a, b c" (white space or commas), where "{...}"
 * groups (nesting allowed) keep their separators: "inline:{a=b, c=d}".
 * Returns 0 and a new string, PM_ENOENT at the end, PM_EINVAL with *err
 * on unbalanced braces.
 */
int pm__list_next(const char **cp, char **item, const char **err);

/* Whole file into a new NUL-terminated buffer (NULs inside are kept). */
int pm__file_read(const char *path, char **data, size_t *len, const char **err);

typedef struct pm__lines {
	const char *path;
	const char *what; /* "regexp map" etc., for warnings */
	const char *p;
	const char *end;
	int lineno; /* physical line number of the line at p */
	pm_buf buf;
} pm__lines;

void pm__lines_init(pm__lines *l, const char *what, const char *path,
    const char *data, size_t len);
/* Next logical line (in l->buf, modifiable) or NULL; *lineno = first. */
char *pm__lines_next(pm__lines *l, int *lineno);
void pm__lines_free(pm__lines *l);

/* String map with ASCII-lowercased keys (pm_smap underneath). */
typedef struct pm__hash {
	pm_smap *m; /* lowercased key -> value string (owned) */
	size_t n;
} pm__hash;

void pm__hash_init(pm__hash *h);
void pm__hash_free(pm__hash *h);
/* Takes key and val. PM_EEXIST (both freed) if key is there already. */
int pm__hash_put(pm__hash *h, char *key, char *val);
const char *pm__hash_get(const pm__hash *h, const char *key);

/* An address block: family 4 or 6, 16 bytes (IPv4 in the first 4). */
typedef struct pm__cidr {
	int family;
	int bits;
	uint8_t net[16];
} pm__cidr;

/*
 * "1.2.3.4", "1.2.3.0/24", "[::1]", "[2001:db8::]/32", "2001:db8::/32".
 * Host bits set under the mask is an error, as in Postfix.
 */
int pm__cidr_parse(const char *s, pm__cidr *c, const char **err);
/* A lookup address: IPv4, IPv6, or [..]; ::ffff:a.b.c.d becomes IPv4. */
int pm__cidr_addr(const char *s, pm__cidr *a);
int pm__cidr_match(const pm__cidr *net, const pm__cidr *addr);

/*
 * texthash: files in aliases(5) form (pm_table_alias.c): 1 if the first
 * record's key ends in ':' or is quoted ("root: admin"), the form
 * Postfix's texthash warns about ("is this an alias file?"); then
 * pm__alias_hash() fills h with name -> value through pm_alias_parse().
 */
int pm__alias_format(const char *data, size_t len);
void pm__alias_hash(const char *path, const char *data, size_t len,
    pm__hash *h);

#endif
