/*
 * NAME
 *	cleanup_addr - envelope address rewriting: canonical maps and
 *	virtual alias expansion, as Postfix's cleanup_map11/cleanup_map1n
 * DESCRIPTION
 *	pm_cleanup_sender() and pm_cleanup_rcpts(), see cleanup_proc.h.
 *
 *	Lookup order (canonical(5), virtual(5)): "user@domain", then
 *	"user" when domain is local (listed in cfg->local_domains:
 *	myorigin and the names in mydestination), then "@domain". A
 *	result is a list of addresses separated by commas and/or white
 *	space (double quotes protect); a result item "@other" keeps the
 *	original local part; an unqualified result goes through the canon
 *	callback (Postfix appends @$myorigin).
 *
 *	One-to-one (canonical) mapping repeats until the address maps to
 *	itself or stops matching, at most CANON_MAX_NEST times (more is a
 *	temporary error, as Postfix). One-to-many (virtual) expansion
 *	replaces each address in place by its expansion and repeats, as
 *	cleanup_map1n: an address that expands into itself (among other
 *	addresses) is kept and not expanded again; an address is expanded
 *	at most virtual_alias_recursion_limit times; when the list grows
 *	past virtual_alias_expansion_limit expansion stops, a warning is
 *	logged and the first virtual_alias_expansion_limit addresses are
 *	kept.
 *
 *	Duplicates (same address, original recipient and NOTIFY, compared
 *	case-insensitively, as Postfix's been_here) are removed. The
 *	original recipient: the client's ORCPT when given, else, when
 *	enable_original_recipient = yes and the final address differs from
 *	the one the client gave, "rfc822;" + that address.
 * LIMITS
 *	virtual_alias_recursion_limit, virtual_alias_expansion_limit,
 *	total_recipient_limit; result items longer than PM_ADDR_MAX are a
 *	configuration error (temporary failure, warning).
 * SECURITY
 *	Addresses come from clients (checked for length and control
 *	characters by the caller); logged through pm_printable.
 */
#include "cleanup_priv.h"

#include <stdlib.h>
#include <string.h>

#include "pm_addr.h"
#include "pm_log.h"

#define CANON_MAX_NEST 10

/* A set of strings compared case-insensitively (been_here). */
typedef struct strset {
	char **slot;
	size_t cap;
	size_t n;
} strset;

static size_t
strset_hash(const char *s)
{
	size_t h = 2166136261u;
	unsigned char c;

	for (; *s; s++) {
		c = (unsigned char) *s;
		if (c >= 'A' && c <= 'Z') {
			c = (unsigned char) (c - 'A' + 'a');
		}
		h = (h ^ c) * 16777619u;
	}
	return (h);
}

static size_t
strset_find(const strset *set, const char *key)
{
	size_t i = strset_hash(key) & (set->cap - 1);

	while (set->slot[i] != NULL && !pm_strcaseeq(set->slot[i], key)) {
		i = (i + 1) & (set->cap - 1);
	}
	return (i);
}

static int
strset_has(const strset *set, const char *key)
{
	return (set->cap > 0 && set->slot[strset_find(set, key)] != NULL);
}

/* Add key (copied); returns 1 if added, 0 if already there. */
static int
strset_add(strset *set, const char *key)
{
	size_t i, old_cap = set->cap;
	char **old = set->slot;

	if (strset_has(set, key)) {
		return (0);
	}
	if ((set->n + 1) * 2 > set->cap) {
		set->cap = old_cap ? old_cap * 2 : 16;
		set->slot = pm_calloc(set->cap, sizeof(char *));
		for (i = 0; i < old_cap; i++) {
			if (old[i] != NULL) {
				set->slot[strset_find(set, old[i])] = old[i];
			}
		}
		free(old);
	}
	set->slot[strset_find(set, key)] = pm_strdup(key);
	set->n++;
	return (1);
}

static void
strset_free(strset *set)
{
	size_t i;

	for (i = 0; i < set->cap; i++) {
		free(set->slot[i]);
	}
	free(set->slot);
	memset(set, 0, sizeof(*set));
}

/* A growable list of owned strings. */
typedef struct strlist {
	char **v;
	size_t n;
	size_t cap;
} strlist;

static void
strlist_add(strlist *l, char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = pm_realloc(l->v, l->cap * sizeof(char *));
	}
	l->v[l->n++] = s;
}

static void
strlist_free(strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i]);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Split a table result into addresses (commas/white space, quotes). */
static void
split_result(const char *val, strlist *out)
{
	const char *p = val, *start;
	int quoted;

	for (;;) {
		while (*p == ',' || *p == ' ' || *p == '\t') {
			p++;
		}
		if (*p == 0) {
			return;
		}
		start = p;
		for (quoted = 0; *p; p++) {
			if (quoted && *p == '\\' && p[1] != 0) {
				p++;
			} else if (*p == '"') {
				quoted = !quoted;
			} else if (!quoted &&
			    (*p == ',' || *p == ' ' || *p == '\t')) {
				break;
			}
		}
		strlist_add(out, pm_strndup(start, (size_t) (p - start)));
	}
}

static int
domain_is_local(const pm_cleanup_cfg *cfg, const char *domain)
{
	size_t i;

	for (i = 0; cfg->local_domains && cfg->local_domains[i]; i++) {
		if (pm_strcaseeq(cfg->local_domains[i], domain)) {
			return (1);
		}
	}
	return (0);
}

/* canonical(5)/virtual(5) lookup order. 0 + *val, PM_ENOENT or PM_E*. */
static int
addr_lookup(const pm_cleanup_cfg *cfg, pm_tables *ts, const char *addr,
    char **val)
{
	const char *at = pm_addr_domain(addr);
	char *key;
	int err;

	if ((err = pm_tables_get(ts, addr, val)) != PM_ENOENT || at == NULL) {
		return (err);
	}
	if (at > addr && domain_is_local(cfg, at + 1)) {
		key = pm_strndup(addr, (size_t) (at - addr));
		err = pm_tables_get(ts, key, val);
		free(key);
		if (err != PM_ENOENT) {
			return (err);
		}
	}
	return (pm_tables_get(ts, at, val));
}

/* Log "QID: <head><map><mid><ADDR><tail>", the address made printable. */
static void
warn_addr(const char *qid, const char *head, const char *map, const char *mid,
    const char *addr, const char *tail)
{
	char *a = pm_printable_dup(addr, strlen(addr), PM_ADDR_MAX);

	pm_msg_warn("%s: %s%s%s%s%s", qid, head, map, mid, a, tail);
	free(a);
}

#define TRY_LATER " -- message not accepted, try again later"

/* One result item for orig: "@dom" keeps the local part; qualify. */
static int
addr_result(const pm_cleanup_cfg *cfg, const char *qid, const char *map,
    const char *orig, const char *item, char **out)
{
	const char *at;
	char *s, *c = NULL;
	int err;

	if (item[0] == '@') {
		at = pm_addr_domain(orig);
		s = pm_asprintf("%.*s%s",
		    (int) (at ? (size_t) (at - orig) : strlen(orig)), orig,
		    item);
	} else {
		s = pm_strdup(item);
	}
	if (pm_addr_domain(s) == NULL && cfg->canon != NULL) {
		if ((err = cfg->canon(cfg->canon_arg, s, &c)) != 0) {
			free(s);
			return (err);
		}
		free(s);
		s = c;
	}
	if (strlen(s) > PM_ADDR_MAX) {
		warn_addr(qid, "", map, " map result too long for ", orig,
		    TRY_LATER);
		free(s);
		return (PM_ETOOBIG);
	}
	*out = s;
	return (0);
}

/* One-to-one mapping of *addr (owned, replaced). */
static int
map11(const pm_cleanup_cfg *cfg, const char *qid, pm_tables *ts,
    const char *map, char **addr)
{
	strlist items = { 0 };
	char *val, *mapped;
	int count, err, same;

	if (ts == NULL || pm_tables_count(ts) == 0) {
		return (0);
	}
	for (count = 0; count < CANON_MAX_NEST; count++) {
		if ((err = addr_lookup(cfg, ts, *addr, &val)) == PM_ENOENT) {
			return (0);
		}
		if (err != 0) {
			warn_addr(qid, "", map, " map lookup problem for ",
			    *addr, TRY_LATER);
			return (err);
		}
		split_result(val, &items);
		free(val);
		if (items.n == 0) {
			return (0);
		}
		if (items.n > 1) {
			warn_addr(qid, "multi-valued ", map, " entry for ",
			    *addr, "");
		}
		err = addr_result(cfg, qid, map, *addr, items.v[0], &mapped);
		strlist_free(&items);
		if (err != 0) {
			return (err);
		}
		same = pm_strcaseeq(mapped, *addr);
		free(*addr);
		*addr = mapped;
		if (same) {
			return (0);
		}
	}
	warn_addr(qid, "unreasonable ", map, " map nesting for ", *addr,
	    TRY_LATER);
	return (PM_ETOOBIG);
}

/* Canonical form through the canon callback (the rewrite service). */
static int
canon(const pm_cleanup_cfg *cfg, const char *qid, const char *addr, char **out)
{
	int err;

	if (cfg->canon == NULL) {
		*out = pm_strdup(addr);
		return (0);
	}
	if ((err = cfg->canon(cfg->canon_arg, addr, out)) != 0) {
		warn_addr(qid, "rewrite service problem (", pm_strerror(err),
		    ") for ", addr, TRY_LATER);
	}
	return (err);
}

int
pm_cleanup_sender(const pm_cleanup_cfg *cfg, const char *qid,
    const char *sender, char **out)
{
	char *addr;
	int err;

	if (*sender == 0) {
		*out = pm_strdup("");
		return (0);
	}
	if ((err = canon(cfg, qid, sender, &addr)) != 0) {
		return (err);
	}
	if ((err = map11(cfg, qid, cfg->sender_canonical_maps,
	         "sender_canonical_maps", &addr)) != 0 ||
	    ((cfg->canonical_classes & PM_CANON_ENV_SENDER) &&
	        (err = map11(cfg, qid, cfg->canonical_maps, "canonical_maps",
	             &addr)) != 0)) {
		free(addr);
		return (err);
	}
	*out = addr;
	return (0);
}

/* Expand addr (owned, consumed) into list, as Postfix cleanup_map1n. */
static int
virtual_expand(const pm_cleanup_cfg *cfg, const char *qid, char *addr,
    strlist *list)
{
	strlist items = { 0 };
	strset fixed = { 0 };
	size_t i, j, limit;
	char *val, *saved, *r;
	long count;
	int err = 0;

	strlist_add(list, addr);
	if (cfg->virtual_alias_maps == NULL ||
	    pm_tables_count(cfg->virtual_alias_maps) == 0) {
		return (0);
	}
	limit = cfg->virtual_alias_expansion_limit > 0 ?
	    (size_t) cfg->virtual_alias_expansion_limit :
	    1000;
	for (i = 0; i < list->n && err == 0; i++) {
		if (list->n > limit) {
			warn_addr(qid, "unreasonable ", "virtual_alias_maps",
			    " map expansion size for ", list->v[0], "");
			break;
		}
		for (count = 0; err == 0; count++) {
			if (strset_has(&fixed, list->v[i])) {
				break;
			}
			if (count >= cfg->virtual_alias_recursion_limit) {
				warn_addr(qid, "unreasonable ",
				    "virtual_alias_maps", " map nesting for ",
				    list->v[i], "");
				break;
			}
			err = addr_lookup(cfg, cfg->virtual_alias_maps,
			    list->v[i], &val);
			if (err == PM_ENOENT) {
				err = 0;
				break;
			}
			if (err != 0) {
				warn_addr(qid, "", "virtual_alias_maps",
				    " map lookup problem for ", list->v[i],
				    TRY_LATER);
				break;
			}
			split_result(val, &items);
			free(val);
			if (items.n == 0) {
				break;
			}
			saved = list->v[i];
			for (j = 0; j < items.n && err == 0; j++) {
				err =
				    addr_result(cfg, qid, "virtual_alias_maps",
				        saved, items.v[j], &r);
				if (err != 0) {
					break;
				}
				if (pm_strcaseeq(saved, r)) {
					strset_add(&fixed, saved);
				}
				if (j == 0) {
					list->v[i] = r;
				} else {
					strlist_add(list, r);
				}
			}
			if (j > 0) {
				free(saved);
			}
			strlist_free(&items);
		}
	}
	strset_free(&fixed);
	while (list->n > limit) {
		free(list->v[--list->n]);
	}
	return (err);
}

void
pm_cleanup_rcpts_free(pm_qrcpt *r, size_t n)
{
	size_t i;

	for (i = 0; r && i < n; i++) {
		free(r[i].address);
		free(r[i].orcpt);
	}
	free(r);
}

/* Append one final recipient unless it is a duplicate or over the limit. */
static void
rcpt_add(const pm_cleanup_cfg *cfg, const char *qid, strset *dups,
    const pm_submit_rcpt *in, char *addr, pm_qrcpt **out, size_t *n,
    size_t *cap, int *warned)
{
	char *orcpt, *key;
	size_t limit = cfg->total_recipient_limit > 0 ?
	    (size_t) cfg->total_recipient_limit :
	    (size_t) -1;

	if (in->orcpt && *in->orcpt) {
		orcpt = pm_strdup(in->orcpt);
	} else if (cfg->enable_original_recipient &&
	    strcmp(addr, in->address) != 0) {
		orcpt = pm_asprintf("rfc822;%s", in->address);
	} else {
		orcpt = pm_strdup("");
	}
	key = pm_asprintf("%s\n%s\n%u", addr, orcpt, in->notify);
	if (!strset_add(dups, key)) {
		free(key);
		free(orcpt);
		free(addr);
		return;
	}
	free(key);
	if (*n >= limit) {
		if (!*warned) {
			pm_msg_warn(
			    "%s: too many recipients after address "
			    "expansion (cleanup_total_recipient_limit %zu): "
			    "the rest are dropped",
			    qid, limit);
			*warned = 1;
		}
		free(orcpt);
		free(addr);
		return;
	}
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*out = pm_realloc(*out, *cap * sizeof(pm_qrcpt));
	}
	memset(&(*out)[*n], 0, sizeof(pm_qrcpt));
	(*out)[*n].address = addr;
	(*out)[*n].orcpt = orcpt;
	(*out)[*n].notify = in->notify;
	(*out)[*n].status = PM_RCPT_TODO;
	(*out)[*n].dsn = "";
	(*out)[*n].text = "";
	(*n)++;
}

int
pm_cleanup_rcpts(const pm_cleanup_cfg *cfg, const char *qid,
    const pm_submit_rcpt *in, size_t n, pm_qrcpt **out, size_t *nout)
{
	pm_qrcpt *r = NULL;
	size_t nr = 0, cap = 0, i, j;
	strset dups = { 0 };
	strlist list = { 0 };
	char *addr;
	int err = 0, warned = 0;

	for (i = 0; i < n && err == 0; i++) {
		if ((err = canon(cfg, qid, in[i].address, &addr)) != 0) {
			break;
		}
		if ((err = map11(cfg, qid, cfg->recipient_canonical_maps,
		         "recipient_canonical_maps", &addr)) != 0 ||
		    ((cfg->canonical_classes & PM_CANON_ENV_RCPT) &&
		        (err = map11(cfg, qid, cfg->canonical_maps,
		             "canonical_maps", &addr)) != 0)) {
			free(addr);
			break;
		}
		if ((err = virtual_expand(cfg, qid, addr, &list)) != 0) {
			strlist_free(&list);
			break;
		}
		for (j = 0; j < list.n; j++) {
			rcpt_add(cfg, qid, &dups, &in[i], list.v[j], &r, &nr,
			    &cap, &warned);
			list.v[j] = NULL;
		}
		strlist_free(&list);
	}
	strset_free(&dups);
	if (err != 0) {
		pm_cleanup_rcpts_free(r, nr);
		return (err);
	}
	*out = r;
	*nout = nr;
	return (0);
}
