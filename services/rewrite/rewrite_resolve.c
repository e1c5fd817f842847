/*
 * NAME
 *	rewrite_resolve - address class resolution (trivial-rewrite "resolve")
 * SUMMARY
 *	#include "rewrite_resolve.h"
 * DESCRIPTION
 *	See rewrite_resolve.h. This file holds the parameters, the resolver
 *	object (domain lists, tables), the class decision of Postfix's
 *	resolve_addr() and the transport_maps and relocated_maps overrides.
 *	Canonical form is in rewrite_canon.c, the known-recipient check
 *	in rewrite_known.c.
 *
 *	Class order (first match wins), as in Postfix: local (mydestination,
 *	"localhost", [127.0.0.1], [ipv6:::1] and the address literals of
 *	inet_interfaces), virtual alias (virtual_alias_domains), virtual
 *	mailbox (virtual_mailbox_domains), relay (relay_domains), default.
 *
 *	Domain lists: items separated by white space or commas; "domain"
 *	matches the domain and, if the parameter is named in
 *	parent_domain_matches_subdomains, its subdomains; ".domain" matches
 *	subdomains; "type:table" matches when the table has the domain (or,
 *	for subdomains, a parent key as above); "!item" negates; first match
 *	wins.
 * LIMITS
 *	Table results longer than PM_RESOLVE_ADDR_MAX are lookup errors.
 * SECURITY
 *	Parameter values and tables are operator input. Addresses are not
 *	trusted: rewrite_canon.c checks them before any lookup.
 */
#include "rewrite_int.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_util.h"
#include "rewrite.pb-c.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PM_CLASS_LOCAL == PM__ADDR_CLASS__CLASS_LOCAL, "class");
_Static_assert(PM_CLASS_VIRTUAL_ALIAS == PM__ADDR_CLASS__CLASS_VIRTUAL_ALIAS,
    "class");
_Static_assert(PM_CLASS_VIRTUAL_MAILBOX ==
        PM__ADDR_CLASS__CLASS_VIRTUAL_MAILBOX,
    "class");
_Static_assert(PM_CLASS_RELAY == PM__ADDR_CLASS__CLASS_RELAY, "class");
_Static_assert(PM_CLASS_DEFAULT == PM__ADDR_CLASS__CLASS_DEFAULT, "class");
_Static_assert(PM_RESOLVE_FAIL == PM__RESOLVE_FLAG__RESOLVE_FLAG_FAIL, "flag");
_Static_assert(PM_RESOLVE_ERROR == PM__RESOLVE_FLAG__RESOLVE_FLAG_ERROR,
    "flag");
_Static_assert(PM_RESOLVE_ROUTED == PM__RESOLVE_FLAG__RESOLVE_FLAG_ROUTED,
    "flag");
_Static_assert(PM_RESOLVE_KNOWN == PM__RESOLVE_FLAG__RESOLVE_KNOWN, "flag");
_Static_assert(PM_RESOLVE_UNKNOWN == PM__RESOLVE_FLAG__RESOLVE_UNKNOWN, "flag");
_Static_assert(PM_RESOLVE_RELOCATED == PM__RESOLVE_FLAG__RESOLVE_RELOCATED,
    "flag");

int var_swap_bangpath;
int var_percent_hack;
int var_append_dot_mydomain;
int var_resolve_dequoted;
char *var_local_transport;
char *var_virt_transport;
char *var_relay_transport;
char *var_def_transport;
char *var_error_transport;
char *var_relayhost;
char *var_virt_alias_doms;
char *var_virt_mailbox_doms;
char *var_relay_rcpt_maps;
char *var_transport_maps;
char *var_relocated_maps;
char *var_par_dom_match;
char *var_inet_interfaces;
char *var_empty_addr;

#define RS_STR(s) ((s) != NULL ? (s) : "")

void
pm_resolve_params_bind(void)
{
	static const pm_cfg_str strs[] = {
		PM_RESOLVE_CFG_STRS,
		{ 0 },
	};
	static const pm_cfg_bool bools[] = {
		PM_RESOLVE_CFG_BOOLS,
		{ 0 },
	};

	pm_cfg_bind_str(strs);
	pm_cfg_bind_bool(bools);
}

const char *
pm_resolve_class_name(int addr_class)
{
	switch (addr_class) {
	case PM_CLASS_LOCAL:
		return ("local");
	case PM_CLASS_VIRTUAL_ALIAS:
		return ("virtual alias");
	case PM_CLASS_VIRTUAL_MAILBOX:
		return ("virtual mailbox");
	case PM_CLASS_RELAY:
		return ("relay");
	case PM_CLASS_DEFAULT:
		return ("default");
	default:
		return ("unset");
	}
}

/* 1 if "type:name" (not a domain, not an address literal). */
static int
rs_is_table(const char *item)
{
	const char *p;

	for (p = item; *p != 0 && *p != ':'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		        *p == '_' || *p == '-')) {
			return (0);
		}
	}
	return (*p == ':' && p > item);
}

static void
rs_list_close(pm__rs_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->items[i].pattern);
		pm_table_close(l->items[i].table);
	}
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static int
rs_list_open(pm__rs_list *l, const char *name, const char *value, char **par,
    char **err)
{
	char **items, *item;
	const char *terr = NULL;
	size_t n, i, len;
	pm__rs_item *it;
	int neg;

	l->name = name;
	l->parent = 0;
	for (i = 0; par != NULL && par[i] != NULL; i++) {
		if (strcmp(par[i], name) == 0) {
			l->parent = 1;
		}
	}
	items = pm_cfg_list(RS_STR(value), &n);
	l->items = pm_calloc(n + 1, sizeof(*l->items));
	l->n = 0;
	for (i = 0; i < n; i++) {
		it = &l->items[l->n];
		item = items[i];
		neg = (*item == '!');
		item += neg;
		if (*item == 0) {
			continue;
		}
		it->neg = neg;
		if (*item == '/') {
			*err = pm_asprintf("%s: file name patterns are not "
			                   "supported (use texthash:%s)",
			    name, item);
			goto fail;
		}
		if (rs_is_table(item)) {
			it->table = pm_table_open(item, &terr);
			if (it->table == NULL) {
				*err = pm_asprintf("%s: cannot open %s: %s",
				    name, item, RS_STR(terr));
				goto fail;
			}
		} else {
			it->pattern = pm_lowercase(pm_strdup(item));
			len = strlen(it->pattern);
			if (len > 1 && it->pattern[len - 1] == '.') {
				it->pattern[len - 1] = 0;
			}
		}
		l->n++;
	}
	pm_cfg_list_free(items);
	return (0);

fail:
	pm_cfg_list_free(items);
	rs_list_close(l);
	return (PM_EINVAL);
}

/* ".example.com" suffix match of name (case-insensitive). */
static int
rs_suffix(const char *name, const char *suffix)
{
	size_t nl = strlen(name), sl = strlen(suffix);

	return (nl > sl && pm_strcaseeq(name + nl - sl, suffix));
}

static int
rs_table_match(pm__rs_list *l, pm_table *t, const char *domain)
{
	const char *p;
	char *v = NULL;
	int rc;

	rc = pm_table_get(t, domain, &v);
	for (p = strchr(domain, '.');
	     rc == PM_ENOENT && p != NULL && domain[0] != '[';
	     p = strchr(p + 1, '.')) {
		rc = pm_table_get(t, l->parent ? p + 1 : p, &v);
	}
	free(v);
	if (rc == 0) {
		return (1);
	}
	if (rc == PM_ENOENT) {
		return (0);
	}
	pm_msg_warn("%s: %s lookup error for \"%s\": %s", l->name,
	    pm_table_name(t), domain, pm_strerror(rc));
	return (rc);
}

int
pm__resolve_list_match(pm__rs_list *l, const char *domain)
{
	pm__rs_item *it;
	size_t i;
	int rc;

	for (i = 0; i < l->n; i++) {
		it = &l->items[i];
		if (it->table != NULL) {
			if ((rc = rs_table_match(l, it->table, domain)) < 0) {
				return (rc);
			}
		} else if (it->pattern[0] == '.') {
			rc = rs_suffix(domain, it->pattern);
		} else {
			rc = pm_strcaseeq(domain, it->pattern);
			if (!rc && l->parent && domain[0] != '[' &&
			    rs_suffix(domain, it->pattern)) {
				rc = domain[strlen(domain) -
				         strlen(it->pattern) - 1] == '.';
			}
		}
		if (rc) {
			return (!it->neg);
		}
	}
	return (0);
}

/*
 * Canonical text of an address literal: "[1.2.3.4]" or "[ipv6:...]"
 * (inet_ntop form), from "[...]" or a bare address. NULL if not one.
 */
static char *
rs_literal(const char *s)
{
	char buf[64], txt[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	size_t len = strlen(s);

	if (len >= sizeof(buf)) {
		return (NULL);
	}
	if (s[0] == '[' && len > 2 && s[len - 1] == ']') {
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = 0;
	} else {
		memcpy(buf, s, len + 1);
	}
	if (inet_pton(AF_INET, buf, bin) == 1) {
		return (pm_asprintf("[%s]", buf));
	}
	if (pm_strncaseeq(buf, "ipv6:", 5)) {
		memmove(buf, buf + 5, strlen(buf + 5) + 1);
	}
	if (inet_pton(AF_INET6, buf, bin) == 1 &&
	    inet_ntop(AF_INET6, bin, txt, sizeof(txt)) != NULL) {
		return (pm_lowercase(pm_asprintf("[ipv6:%s]", txt)));
	}
	return (NULL);
}

static void
rs_add_literal(pm_resolve *r, const char *s)
{
	char *lit = rs_literal(s);

	if (lit != NULL) {
		r->local_literals = pm_realloc(r->local_literals,
		    (r->nlocal_literals + 1) * sizeof(char *));
		r->local_literals[r->nlocal_literals++] = lit;
	}
}

int
pm__resolve_is_local(pm_resolve *r, const char *domain)
{
	char *lit;
	size_t i;
	int hit = 0;

	if (pm_strcaseeq(domain, "localhost")) {
		return (1);
	}
	if (domain[0] == '[' && (lit = rs_literal(domain)) != NULL) {
		for (i = 0; i < r->nlocal_literals && !hit; i++) {
			hit = strcmp(lit, r->local_literals[i]) == 0;
		}
		free(lit);
		if (hit) {
			return (1);
		}
	}
	return (pm__resolve_list_match(&r->mydest, domain));
}

static int
rs_tables_open(pm_tables **ts, const char *name, const char *value, char **err)
{
	const char *terr = NULL;

	*ts = NULL;
	if (value == NULL || strspn(value, " \t\r\n,") == strlen(value)) {
		return (0);
	}
	if ((*ts = pm_tables_open(value, &terr)) == NULL) {
		*err = pm_asprintf("%s: cannot open \"%s\": %s", name, value,
		    RS_STR(terr));
		return (PM_EINVAL);
	}
	return (0);
}

/* "transport[:nexthop]" with a non-empty transport. */
static int
rs_check_transport(const char *name, const char *value, char **err)
{
	if (value == NULL || value[0] == 0 || value[0] == ':') {
		*err = pm_asprintf("parameter %s: null transport is not "
		                   "allowed",
		    name);
		return (PM_EINVAL);
	}
	return (0);
}

pm_resolve *
pm_resolve_new(char **err)
{
	pm_resolve *r = pm_calloc(1, sizeof(*r));
	char **par, **ifs;
	size_t n, i;

	*err = NULL;
	par = pm_cfg_list(RS_STR(var_par_dom_match), &n);
	for (i = 0; i < n; i++) {
		if (strcmp(par[i], VAR_TRANSPORT_MAPS) == 0) {
			r->transport_parent = 1;
		}
	}
	r->swap_bangpath = var_swap_bangpath;
	r->percent_hack = var_percent_hack;
	r->append_dot = var_append_dot_mydomain;
	r->resolve_dequoted = var_resolve_dequoted;
	r->myhostname = pm_lowercase(pm_strdup(RS_STR(var_myhostname)));
	r->mydomain = pm_lowercase(pm_strdup(RS_STR(var_mydomain)));
	r->myorigin = pm_lowercase(pm_strdup(RS_STR(var_myorigin)));
	r->relayhost = pm_strdup(RS_STR(var_relayhost));
	r->rcpt_delim = pm_strdup(RS_STR(var_rcpt_delim));
	r->empty_addr = pm_strdup(RS_STR(var_empty_addr));
	r->local_transport = pm_strdup(RS_STR(var_local_transport));
	r->virt_transport = pm_strdup(RS_STR(var_virt_transport));
	r->relay_transport = pm_strdup(RS_STR(var_relay_transport));
	r->def_transport = pm_strdup(RS_STR(var_def_transport));
	r->error_transport = pm_strdup(RS_STR(var_error_transport));

	rs_add_literal(r, "127.0.0.1");
	rs_add_literal(r, "::1");
	ifs = pm_cfg_list(RS_STR(var_inet_interfaces), &n);
	for (i = 0; i < n; i++) {
		rs_add_literal(r, ifs[i]);
	}
	pm_cfg_list_free(ifs);

	if (r->myorigin[0] == 0 || r->mydomain[0] == 0 ||
	    r->myhostname[0] == 0) {
		*err = pm_strdup("myhostname, mydomain and myorigin must not "
		                 "be empty");
		goto fail;
	}
	if (rs_check_transport(VAR_LOCAL_TRANSPORT, r->local_transport, err) ||
	    rs_check_transport(VAR_VIRT_TRANSPORT, r->virt_transport, err) ||
	    rs_check_transport(VAR_RELAY_TRANSPORT, r->relay_transport, err) ||
	    rs_check_transport(VAR_DEF_TRANSPORT, r->def_transport, err) ||
	    rs_check_transport(VAR_ERROR_TRANSPORT, r->error_transport, err)) {
		goto fail;
	}
	if (rs_list_open(&r->mydest, VAR_MYDEST, var_mydest, par, err) ||
	    rs_list_open(&r->virt_alias_doms, VAR_VIRT_ALIAS_DOMS,
	        var_virt_alias_doms, par, err) ||
	    rs_list_open(&r->virt_mailbox_doms, VAR_VIRT_MAILBOX_DOMS,
	        var_virt_mailbox_doms, par, err) ||
	    rs_list_open(&r->relay_doms, VAR_RELAY_DOMAINS, var_relay_domains,
	        par, err)) {
		goto fail;
	}
	if (rs_tables_open(&r->transport_maps, VAR_TRANSPORT_MAPS,
	        var_transport_maps, err) ||
	    rs_tables_open(&r->relocated_maps, VAR_RELOCATED_MAPS,
	        var_relocated_maps, err) ||
	    rs_tables_open(&r->virt_alias_maps, VAR_VIRT_ALIAS_MAPS,
	        var_virt_alias_maps, err) ||
	    rs_tables_open(&r->virt_mailbox_maps, VAR_VIRT_MAILBOX_MAPS,
	        var_virt_mailbox_maps, err) ||
	    rs_tables_open(&r->local_rcpt_maps, VAR_LOCAL_RCPT_MAPS,
	        var_local_rcpt_maps, err) ||
	    rs_tables_open(&r->relay_rcpt_maps, VAR_RELAY_RCPT_MAPS,
	        var_relay_rcpt_maps, err)) {
		goto fail;
	}
	pm_cfg_list_free(par);
	return (r);

fail:
	pm_cfg_list_free(par);
	pm_resolve_free(r);
	return (NULL);
}

pm_resolve *
pm_resolve_free(pm_resolve *r)
{
	size_t i;

	if (r == NULL) {
		return (NULL);
	}
	rs_list_close(&r->mydest);
	rs_list_close(&r->virt_alias_doms);
	rs_list_close(&r->virt_mailbox_doms);
	rs_list_close(&r->relay_doms);
	for (i = 0; i < r->nlocal_literals; i++) {
		free(r->local_literals[i]);
	}
	free(r->local_literals);
	pm_tables_close(r->transport_maps);
	pm_tables_close(r->relocated_maps);
	pm_tables_close(r->virt_alias_maps);
	pm_tables_close(r->virt_mailbox_maps);
	pm_tables_close(r->local_rcpt_maps);
	pm_tables_close(r->relay_rcpt_maps);
	free(r->myhostname);
	free(r->mydomain);
	free(r->myorigin);
	free(r->relayhost);
	free(r->rcpt_delim);
	free(r->empty_addr);
	free(r->local_transport);
	free(r->virt_transport);
	free(r->relay_transport);
	free(r->def_transport);
	free(r->error_transport);
	free(r);
	return (NULL);
}

int
pm__resolve_get(pm_tables *ts, const char *param, const char *key, char **value)
{
	char *v = NULL, *pkey;
	int rc;

	if (ts == NULL) {
		return (PM_ENOENT);
	}
	rc = pm_tables_get(ts, key, &v);
	if (rc == 0 && strlen(v) > PM_RESOLVE_ADDR_MAX) {
		free(v);
		rc = PM_ETOOBIG;
	}
	if (rc == 0) {
		*value = v;
		return (0);
	}
	if (rc != PM_ENOENT) {
		pkey = pm_printable_dup(key, strlen(key), 256);
		pm_msg_warn("%s lookup error for \"%s\": %s", param, pkey,
		    pm_strerror(rc));
		free(pkey);
	}
	return (rc);
}

/* Rule name: 1 remote, 0 local, -1 unknown. */
static int
rs_rule(const char *rule)
{
	if (rule == NULL || rule[0] == 0 || strcmp(rule, "local") == 0) {
		return (0);
	}
	return (strcmp(rule, "remote") == 0 ? 1 : -1);
}

/* Every string member set (possibly ""), so callers never see NULL. */
static void
rs_result_fill(pm_resolved *out)
{
	char **s[] = { &out->address, &out->transport, &out->nexthop,
		&out->recipient, &out->text };
	size_t i;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		if (*s[i] == NULL) {
			*s[i] = pm_strdup("");
		}
	}
}

static void
rs_replace(char **dst, const char *src)
{
	free(*dst);
	*dst = pm_strdup(src);
}

int
pm_resolve_canon(pm_resolve *r, const char *address, const char *rule,
    pm_resolved *out)
{
	const char *why;
	int remote;

	memset(out, 0, sizeof(*out));
	if (address == NULL || (remote = rs_rule(rule)) < 0) {
		return (PM_EINVAL);
	}
	pm__resolve_canon(r, address, remote, &out->address, &out->flags, &why);
	if (out->address == NULL) {
		out->address = pm_strdup(address);
	}
	if (why != NULL) {
		out->text = pm_strdup(why);
	}
	rs_result_fill(out);
	return (0);
}

/*
 * Apply a transport table result (Postfix transport(5)): ":nexthop"
 * keeps the transport; "transport[:nexthop]" sets the transport and
 * the nexthop, or resets the nexthop to the recipient domain when none
 * is given ("Address is undeliverable" for the error transport).
 */
static void
rs_transport_update(pm_resolve *r, const char *value, const char *domain,
    pm_resolved *out)
{
	const char *colon = strchr(value, ':');
	size_t tlen = colon ? (size_t) (colon - value) : strlen(value);
	const char *nh = colon ? colon + 1 : "";

	if (tlen == 0) {
		if (*nh != 0) {
			rs_replace(&out->nexthop, nh);
		}
		return;
	}
	free(out->transport);
	out->transport = pm_strndup(value, tlen);
	if (*nh != 0) {
		rs_replace(&out->nexthop, nh);
	} else if (strcmp(out->transport, r->error_transport) == 0 ||
	    strcmp(out->transport, "error") == 0 ||
	    strcmp(out->transport, "retry") == 0) {
		rs_replace(&out->nexthop, "Address is undeliverable");
	} else {
		rs_replace(&out->nexthop, domain);
	}
}

/*
 * transport_maps: full address, address without extension, domain,
 * parent domains (".parent", or "parent" when transport_maps is in
 * parent_domain_matches_subdomains), then "*". 1 found, 0 not, <0 error.
 */
static int
rs_transport_lookup(pm_resolve *r, const char *addr, const char *domain,
    pm_resolved *out)
{
	const char *p;
	char *v = NULL;
	int rc;

	rc = pm__resolve_find(r, r->transport_maps, VAR_TRANSPORT_MAPS, addr,
	    PM__FIND_FULL | PM__FIND_NOEXT, &v);
	if (rc == PM_ENOENT) {
		rc = pm__resolve_get(r->transport_maps, VAR_TRANSPORT_MAPS,
		    domain, &v);
	}
	for (p = strchr(domain, '.');
	     rc == PM_ENOENT && p != NULL && domain[0] != '[';
	     p = strchr(p + 1, '.')) {
		rc = pm__resolve_get(r->transport_maps, VAR_TRANSPORT_MAPS,
		    r->transport_parent ? p + 1 : p, &v);
	}
	if (rc == PM_ENOENT) {
		rc = pm__resolve_get(r->transport_maps, VAR_TRANSPORT_MAPS, "*",
		    &v);
	}
	if (rc == 0) {
		rs_transport_update(r, pm_trim(v), domain, out);
		free(v);
		return (1);
	}
	return (rc == PM_ENOENT ? 0 : rc);
}

/* Error result: temporary failure, the caller defers. */
static int
rs_temp_fail(pm_resolved *out, const char *text)
{
	out->flags |= PM_RESOLVE_ERROR;
	out->addr_class = PM_CLASS_UNSET;
	rs_replace(&out->text, text);
	rs_result_fill(out);
	return (0);
}

#define RS_RELAYHOST(r, domain) ((r)->relayhost[0] ? (r)->relayhost : (domain))

/* Class, transport and nexthop of a canonical, non-null recipient. */
static int
rs_classify(pm_resolve *r, const char *domain, pm_resolved *out)
{
	const char *chan, *colon;
	int rc;

	if ((rc = pm__resolve_is_local(r, domain)) > 0) {
		out->addr_class = PM_CLASS_LOCAL;
		chan = r->local_transport;
		out->nexthop = pm_strdup(domain);
	} else if (rc == 0 &&
	    (rc = pm__resolve_list_match(&r->virt_alias_doms, domain)) > 0) {
		out->addr_class = PM_CLASS_VIRTUAL_ALIAS;
		chan = r->error_transport;
		out->nexthop = pm_strdup("User unknown in virtual alias table");
	} else if (rc == 0 &&
	    (rc = pm__resolve_list_match(&r->virt_mailbox_doms, domain)) > 0) {
		out->addr_class = PM_CLASS_VIRTUAL_MAILBOX;
		chan = r->virt_transport;
		out->nexthop = pm_strdup(domain);
	} else if (rc == 0 &&
	    (rc = pm__resolve_list_match(&r->relay_doms, domain)) > 0) {
		out->addr_class = PM_CLASS_RELAY;
		chan = r->relay_transport;
		out->nexthop = pm_strdup(RS_RELAYHOST(r, domain));
	} else if (rc == 0) {
		out->addr_class = PM_CLASS_DEFAULT;
		chan = r->def_transport;
		out->nexthop = pm_strdup(RS_RELAYHOST(r, domain));
	} else {
		return (rc);
	}
	/* "transport:nexthop" in main.cf overrides the class nexthop. */
	if ((colon = strchr(chan, ':')) != NULL) {
		out->transport = pm_strndup(chan, (size_t) (colon - chan));
		if (colon[1] != 0) {
			rs_replace(&out->nexthop, colon + 1);
		}
	} else {
		out->transport = pm_strdup(chan);
	}
	return (0);
}

int
pm_resolve_addr(pm_resolve *r, const char *address, const char *rule,
    int check_known, pm_resolved *out)
{
	const char *why, *at, *domain;
	char *surrogate, *v = NULL;
	unsigned sflags;
	int rc, strategy;

	if ((rc = pm_resolve_canon(r, address, rule, out)) != 0) {
		return (rc);
	}
	if (out->flags & (PM_RESOLVE_FAIL | PM_RESOLVE_ERROR)) {
		return (0);
	}
	free(out->text);
	out->text = NULL;

	/* The null address resolves as the local MAILER-DAEMON (Postfix). */
	free(out->recipient);
	if (out->address[0] == 0) {
		surrogate = strchr(r->empty_addr, '@') != NULL ?
		    pm_strdup(r->empty_addr) :
		    pm_asprintf("%s@%s", r->empty_addr, r->myhostname);
		pm__resolve_canon(r, surrogate, 0, &out->recipient, &sflags,
		    &why);
		free(surrogate);
		if (out->recipient == NULL) {
			out->recipient = pm_strdup("");
			return (rs_temp_fail(out,
			    sflags & PM_RESOLVE_ERROR ?
			        "Temporary lookup failure" :
			        "bad empty_address_recipient"));
		}
	} else {
		out->recipient = pm_strdup(out->address);
	}
	at = pm__resolve_at(out->recipient);
	PM_ASSERT(at != NULL);
	domain = at + 1;

	free(out->transport);
	free(out->nexthop);
	out->transport = out->nexthop = NULL;
	if (rs_classify(r, domain, out) < 0) {
		return (rs_temp_fail(out, "Temporary lookup failure"));
	}
	if (out->addr_class != PM_CLASS_VIRTUAL_ALIAS && out->address[0] != 0 &&
	    rs_transport_lookup(r, out->recipient, domain, out) < 0) {
		return (rs_temp_fail(out, "Temporary lookup failure"));
	}

	/* relocated_maps: user@domain, user@domain w/o ext, user, @domain. */
	if (out->address[0] != 0) {
		strategy = PM__FIND_FULL | PM__FIND_NOEXT | PM__FIND_ATDOMAIN;
		if (out->addr_class == PM_CLASS_LOCAL) {
			strategy |= PM__FIND_LOCALPART;
		}
		rc = pm__resolve_find(r, r->relocated_maps, VAR_RELOCATED_MAPS,
		    out->recipient, strategy, &v);
		if (rc == 0) {
			out->flags |= PM_RESOLVE_RELOCATED;
			out->text = pm_strdup(pm_trim(v));
			free(v);
		} else if (rc != PM_ENOENT) {
			return (rs_temp_fail(out, "Temporary lookup failure"));
		}
	}
	rs_result_fill(out);

	if (check_known) {
		if ((out->flags & PM_RESOLVE_RELOCATED) ||
		    out->address[0] == 0) {
			out->flags |= PM_RESOLVE_KNOWN;
		} else {
			pm__resolve_known(r, out);
		}
	}
	return (0);
}
