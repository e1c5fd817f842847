/*
 * NAME
 *	pm_table_cidr - cidr: tables (Postfix cidr_table(5)) and pm_netlist
 * SUMMARY
 *	#include "pm_table_priv.h"
 * DESCRIPTION
 *	Address blocks for two users:
 *	  cidr:/path  rules tried in file order, the first match wins:
 *	                1.2.3.4 result        one address
 *	                1.2.3.0/24 result     an IPv4 block
 *	                2001:db8::/32 result  an IPv6 block ("[..]" allowed)
 *	                !1.2.3.0/24 result    any address NOT in the block
 *	                if 1.2.3.0/24 ... endif  (nest; "if !..." too)
 *	              A block with host bits set under the mask is warned
 *	              about and skipped, as Postfix does.
 *	  pm_netlist  mynetworks-style lists (see pm_table.h): addresses,
 *	              blocks, "!item", "type:name" tables and "/file/name"
 *	              (the file's items in place), the first match wins.
 *	An IPv4-mapped IPv6 key (::ffff:1.2.3.4) is matched as IPv4, and an
 *	IPv4-mapped IPv6 block (::ffff:1.2.3.0/120) as the IPv4 block.
 * LIMITS
 *	PM_TABLE_ENTRIES_MAX rules or list items; "/file/name" nesting at
 *	most PM_NETLIST_DEPTH deep; if/endif at most 64 deep.
 * SECURITY
 *	Keys are client addresses in text form from the SMTP layer or the
 *	PROXY protocol: anything that inet_pton() refuses matches nothing.
 */
#include "pm_log.h"
#include "pm_table.h"
#include "pm_table_priv.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PM_NETLIST_DEPTH 4
#define CIDR_TEXT_MAX 64

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff,
	0xff };

/* ---- Blocks ---- */

/* "[addr]" or "addr" (len bytes) into c; 0 or -1. */
static int
cidr_host(const char *s, size_t len, pm__cidr *c)
{
	char buf[CIDR_TEXT_MAX];

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf)) {
		return (-1);
	}
	memcpy(buf, s, len);
	buf[len] = 0;
	memset(c, 0, sizeof(*c));
	if (strchr(buf, ':') != NULL) {
		if (inet_pton(AF_INET6, buf, c->net) != 1) {
			return (-1);
		}
		c->family = 6;
		c->bits = 128;
	} else {
		if (inet_pton(AF_INET, buf, c->net) != 1) {
			return (-1);
		}
		c->family = 4;
		c->bits = 32;
	}
	return (0);
}

/* IPv4-mapped IPv6 to IPv4 (bits adjusted). */
static void
cidr_unmap(pm__cidr *c)
{
	if (c->family == 6 && c->bits >= 96 &&
	    memcmp(c->net, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(c->net, c->net + 12, 4);
		memset(c->net + 4, 0, 12);
		c->family = 4;
		c->bits -= 96;
	}
}

int
pm__cidr_parse(const char *s, pm__cidr *c, const char **err)
{
	const char *slash, *end;
	pm__cidr tmp;
	int bits = -1, i;

	end = s + strlen(s);
	slash = strrchr(s, '/');
	if (slash != NULL) {
		const char *d = slash + 1;

		if (d == end || end - d > 3) {
			*err = "bad network mask";
			return (PM_EINVAL);
		}
		for (bits = 0; d < end; d++) {
			if (*d < '0' || *d > '9') {
				*err = "bad network mask";
				return (PM_EINVAL);
			}
			bits = bits * 10 + (*d - '0');
		}
		end = slash;
	}
	if (cidr_host(s, (size_t) (end - s), &tmp) != 0) {
		*err = "bad network address";
		return (PM_EINVAL);
	}
	if (bits >= 0) {
		if (bits > tmp.bits) {
			*err = "bad network mask";
			return (PM_EINVAL);
		}
		tmp.bits = bits;
	}
	for (i = tmp.bits; i < (tmp.family == 4 ? 32 : 128); i++) {
		if (tmp.net[i / 8] & (0x80 >> (i % 8))) {
			*err = "non-null host address bits";
			return (PM_EINVAL);
		}
	}
	cidr_unmap(&tmp);
	*c = tmp;
	return (0);
}

int
pm__cidr_addr(const char *s, pm__cidr *a)
{
	pm__cidr tmp;

	if (s == NULL || cidr_host(s, strlen(s), &tmp) != 0) {
		return (PM_EINVAL);
	}
	cidr_unmap(&tmp);
	*a = tmp;
	return (0);
}

int
pm__cidr_match(const pm__cidr *net, const pm__cidr *addr)
{
	int full = net->bits / 8, rest = net->bits % 8;
	uint8_t mask;

	if (net->family != addr->family) {
		return (0);
	}
	if (memcmp(net->net, addr->net, (size_t) full) != 0) {
		return (0);
	}
	if (rest == 0) {
		return (1);
	}
	mask = (uint8_t) (0xff << (8 - rest));
	return ((net->net[full] & mask) == (addr->net[full] & mask));
}

/* ---- cidr: tables ---- */

enum { CR_MATCH, CR_IF, CR_ENDIF };

typedef struct cidr_rule {
	int kind;
	int negate;
	pm__cidr net;
	char *result;
	size_t skip; /* CR_IF: index after its endif */
} cidr_rule;

typedef struct cidr_table {
	size_t n;
	cidr_rule *v;
} cidr_table;

static int
is_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

static int
is_word(const char *p, const char *w)
{
	size_t n = strlen(w);
	char c = p[n];

	return (strncasecmp(p, w, n) == 0 && (c == 0 || is_space(c)));
}

/* One logical line into *r: 0 ok, -1 skipped (warned). */
static int
cidr_parse_line(const char *path, int lineno, char *line, cidr_rule *r)
{
	const char *err = NULL;
	char *p = line, *pat;

	memset(r, 0, sizeof(*r));
	if (is_word(p, "endif")) {
		r->kind = CR_ENDIF;
		if (*pm_trim(p + 5) != 0) {
			pm_msg_warn("cidr map %s, line %d: ignoring extra "
			            "text after ENDIF",
			    path, lineno);
		}
		return (0);
	}
	if (is_word(p, "if")) {
		r->kind = CR_IF;
		p = pm_trim(p + 2);
	} else {
		r->kind = CR_MATCH;
	}
	if (*p == '!') {
		r->negate = 1;
		p++;
	}
	pat = p;
	while (*p && !is_space(*p)) {
		p++;
	}
	if (*p) {
		*p++ = 0;
	}
	p = pm_trim(p);
	if (pm__cidr_parse(pat, &r->net, &err) != 0) {
		pm_msg_warn("cidr map %s, line %d: %s: \"%s\": skipping this "
		            "rule",
		    path, lineno, err, pat);
		return (-1);
	}
	if (r->kind == CR_IF) {
		if (*p) {
			pm_msg_warn("cidr map %s, line %d: ignoring extra text "
			            "after IF",
			    path, lineno);
		}
		return (0);
	}
	if (*p == 0) {
		pm_msg_warn("cidr map %s, line %d: no lookup result: skipping "
		            "this rule",
		    path, lineno);
		return (-1);
	}
	r->result = pm_strdup(p);
	return (0);
}

static void
cidr_close(void *impl)
{
	cidr_table *t = impl;
	size_t i;

	if (t == NULL) {
		return;
	}
	for (i = 0; i < t->n; i++) {
		free(t->v[i].result);
	}
	free(t->v);
	free(t);
}

static int
cidr_open(const char *name, void **impl, const char **err)
{
	size_t stack[64], depth = 0, cap = 0, len;
	cidr_table *t;
	pm__lines l;
	char *data, *line;
	cidr_rule r;
	int rc, lineno;

	if ((rc = pm__file_read(name, &data, &len, err)) != 0) {
		return (rc);
	}
	t = pm_calloc(1, sizeof(*t));
	pm__lines_init(&l, "cidr map", name, data, len);
	while ((line = pm__lines_next(&l, &lineno)) != NULL) {
		if (cidr_parse_line(name, lineno, line, &r) != 0) {
			continue;
		}
		if (r.kind == CR_ENDIF && depth == 0) {
			pm_msg_warn("cidr map %s, line %d: ignoring ENDIF "
			            "without matching IF",
			    name, lineno);
			continue;
		}
		if ((r.kind == CR_IF &&
		        depth >= sizeof(stack) / sizeof(*stack)) ||
		    t->n >= PM_TABLE_ENTRIES_MAX) {
			pm_msg_warn("cidr map %s, line %d: too many rules or "
			            "IF nested too deeply: skipping",
			    name, lineno);
			free(r.result);
			continue;
		}
		if (t->n == cap) {
			cap = cap ? cap * 2 : 16;
			t->v = pm_realloc(t->v, cap * sizeof(*t->v));
		}
		t->v[t->n] = r;
		if (r.kind == CR_IF) {
			stack[depth++] = t->n;
		} else if (r.kind == CR_ENDIF) {
			t->v[stack[--depth]].skip = t->n + 1;
		}
		t->n++;
	}
	while (depth > 0) {
		pm_msg_warn("cidr map %s: IF has no matching ENDIF", name);
		t->v[stack[--depth]].skip = t->n;
	}
	pm__lines_free(&l);
	free(data);
	*impl = t;
	return (0);
}

static int
cidr_get(void *impl, const char *key, char **value)
{
	const cidr_table *t = impl;
	const cidr_rule *r;
	pm__cidr a;
	size_t i = 0;
	int hit;

	if (pm__cidr_addr(key, &a) != 0) {
		return (PM_ENOENT);
	}
	while (i < t->n) {
		r = &t->v[i];
		if (r->kind == CR_ENDIF) {
			i++;
			continue;
		}
		hit = pm__cidr_match(&r->net, &a) != r->negate;
		if (r->kind == CR_IF) {
			i = hit ? i + 1 : r->skip;
			continue;
		}
		if (hit) {
			*value = pm_strdup(r->result);
			return (0);
		}
		i++;
	}
	return (PM_ENOENT);
}

const pm__table_ops pm__table_cidr_ops = {
	.type = "cidr",
	.flags = PM__TABLE_FULLKEY,
	.open = cidr_open,
	.get = cidr_get,
	.close = cidr_close,
};

/* ---- pm_netlist ---- */

typedef struct nl_item {
	int negate;
	pm__cidr net;
	pm_table *table; /* NULL: net */
} nl_item;

struct pm_netlist {
	size_t n;
	size_t cap;
	nl_item *v;
};

static int nl_parse(pm_netlist *nl, const char *spec, int depth,
    const char **err);

/* "/file/name": its logical lines hold more items. */
static int
nl_file(pm_netlist *nl, const char *path, int depth, const char **err)
{
	pm__lines l;
	char *data, *line;
	size_t len;
	int rc, lineno;

	if (depth >= PM_NETLIST_DEPTH) {
		*err = "network list files nested too deeply";
		return (PM_EINVAL);
	}
	if ((rc = pm__file_read(path, &data, &len, err)) != 0) {
		pm_msg_warn("%s: %s", path, *err);
		return (rc);
	}
	pm__lines_init(&l, "network list", path, data, len);
	while ((line = pm__lines_next(&l, &lineno)) != NULL) {
		if ((rc = nl_parse(nl, line, depth + 1, err)) != 0) {
			pm_msg_warn("network list %s, line %d: %s", path,
			    lineno, *err);
			break;
		}
	}
	pm__lines_free(&l);
	free(data);
	return (rc);
}

static int
nl_add(pm_netlist *nl, const char *item, int depth, const char **err)
{
	nl_item it;
	const char *s = item;

	memset(&it, 0, sizeof(it));
	if (*s == '!') {
		it.negate = 1;
		s++;
	}
	if (*s == '/' && !it.negate) {
		return (nl_file(nl, s, depth, err));
	}
	if (pm__cidr_parse(s, &it.net, err) != 0) {
		/* Not an address: "type:name" (letters before the ':')? */
		const char *c = s, *cidr_err = *err;
		int hex = 1;

		while ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')) {
			hex &= (*c <= 'f'); /* digits or a-f */
			c++;
		}
		if (*c != ':' || c == s) {
			return (PM_EINVAL);
		}
		if ((it.table = pm_table_open(s, err)) == NULL) {
			if (hex &&
			    strcmp(*err, "unsupported table type") == 0) {
				*err = cidr_err; /* "2001:db8::/129" */
			}
			return (PM_EINVAL);
		}
	}
	if (nl->n >= PM_TABLE_ENTRIES_MAX) {
		pm_table_close(it.table);
		*err = "too many network list items";
		return (PM_ETOOBIG);
	}
	if (nl->n == nl->cap) {
		nl->cap = nl->cap ? nl->cap * 2 : 8;
		nl->v = pm_realloc(nl->v, nl->cap * sizeof(*nl->v));
	}
	nl->v[nl->n++] = it;
	return (0);
}

static int
nl_parse(pm_netlist *nl, const char *spec, int depth, const char **err)
{
	const char *cp = spec;
	char *item, *p;
	int rc;

	while ((rc = pm__list_next(&cp, &item, err)) == 0) {
		if ((rc = nl_add(nl, item, depth, err)) != 0) {
			p = pm_printable_dup(item, strlen(item), 256);
			pm_msg_warn("network list: \"%s\": %s", p, *err);
			free(p);
			free(item);
			return (rc);
		}
		free(item);
	}
	return (rc == PM_ENOENT ? 0 : rc);
}

pm_netlist *
pm_netlist_parse(const char *spec, const char **err)
{
	pm_netlist *nl = pm_calloc(1, sizeof(*nl));

	if (nl_parse(nl, spec != NULL ? spec : "", 0, err) != 0) {
		return (pm_netlist_free(nl));
	}
	return (nl);
}

pm_netlist *
pm_netlist_free(pm_netlist *nl)
{
	size_t i;

	if (nl != NULL) {
		for (i = 0; i < nl->n; i++) {
			pm_table_close(nl->v[i].table);
		}
		free(nl->v);
		free(nl);
	}
	return (NULL);
}

/* A table item: any value but DUNNO/REJECT is a match. */
static int
nl_table_match(pm_table *t, const char *key)
{
	char *value = NULL;
	int rc, hit;

	rc = pm_table_get(t, key, &value);
	if (rc == PM_ENOENT) {
		return (0);
	}
	if (rc != 0) {
		pm_msg_warn("%s: lookup error for \"%s\": %s", pm_table_name(t),
		    key, pm_strerror(rc));
		return (0);
	}
	hit = !pm_strcaseeq(value, "DUNNO") && !pm_strcaseeq(value, "REJECT");
	free(value);
	return (hit);
}

int
pm_netlist_match(const pm_netlist *nl, const char *addr)
{
	char text[INET6_ADDRSTRLEN];
	const char *key = addr;
	pm__cidr a;
	int parsed, hit;
	size_t i;

	if (nl == NULL || addr == NULL) {
		return (0);
	}
	parsed = pm__cidr_addr(addr, &a) == 0;
	if (parsed &&
	    inet_ntop(a.family == 4 ? AF_INET : AF_INET6, a.net, text,
	        sizeof(text)) != NULL) {
		key = text; /* "1.2.3.4" for ::ffff:1.2.3.4, no brackets */
	}
	for (i = 0; i < nl->n; i++) {
		if (nl->v[i].table != NULL) {
			hit = nl_table_match(nl->v[i].table, key);
		} else {
			hit = parsed && pm__cidr_match(&nl->v[i].net, &a);
		}
		if (hit) {
			return (!nl->v[i].negate);
		}
	}
	return (0);
}
