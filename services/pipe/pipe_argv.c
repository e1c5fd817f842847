/*
 * NAME
 *	pipe_argv - the pipe agent's flags, command template and expansion
 * DESCRIPTION
 *	See pipe_argv.h. A template element is kept as written; parsing
 *	only checks it and notes whether it holds a per-recipient macro.
 * LIMITS
 *	See pipe_argv.h.
 * SECURITY
 *	See pipe_argv.h.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pipe_argv.h"
#include "pm_command.h"
#include "pm_util.h"

struct pipe_argv {
	size_t n;
	char **elem;
	int *per_rcpt; /* element holds a per-recipient macro */
};

static const struct {
	char c;
	unsigned flag;
} pipe_flag_tab[] = {
	{ 'F', PIPE_F_FROM },
	{ 'R', PIPE_F_RPATH },
	{ 'D', PIPE_F_DELIV },
	{ 'O', PIPE_F_ORCPT },
	{ 'X', PIPE_F_FINAL },
	{ 'q', PIPE_F_QUOTE },
	{ 'h', PIPE_F_FOLDH },
	{ 'u', PIPE_F_FOLDU },
	{ '.', PIPE_F_DOT },
	{ '>', PIPE_F_GTFROM },
	{ 'B', PIPE_F_BLANK },
};

int
pipe_flags_parse(const char *s, unsigned *flags, char *bad)
{
	unsigned f = 0;
	size_t i;

	for (; *s != 0; s++) {
		for (i = 0;
		     i < sizeof(pipe_flag_tab) / sizeof(pipe_flag_tab[0]);
		     i++) {
			if (pipe_flag_tab[i].c == *s) {
				f |= pipe_flag_tab[i].flag;
				break;
			}
		}
		if (i == sizeof(pipe_flag_tab) / sizeof(pipe_flag_tab[0])) {
			*bad = *s;
			return (PM_EINVAL);
		}
	}
	*flags = f;
	return (0);
}

#define PV_NONE ((size_t) -1)
#define PV(f) offsetof(pipe_vars, f)

/*
 * Macro names: 1 = per recipient; str: a pipe_vars string expanded as
 * it is ("" when NULL), PV_NONE: computed by pipe_value().
 */
static const struct {
	const char *name;
	int per_rcpt;
	size_t str;
} pipe_macros[] = {
	{ "sender", 0, PV_NONE },
	{ "nexthop", 0, PV_NONE },
	{ "queue_id", 0, PV(queue_id) },
	{ "size", 0, PV_NONE },
	{ "client_address", 0, PV(client_address) },
	{ "client_hostname", 0, PV(client_hostname) },
	{ "client_port", 0, PV(client_port) },
	{ "client_protocol", 0, PV(client_protocol) },
	{ "client_helo", 0, PV(client_helo) },
	{ "sasl_method", 0, PV(sasl_method) },
	{ "sasl_username", 0, PV(sasl_username) },
	{ "sasl_sender", 0, PV(sasl_sender) },
	{ "recipient", 1, PV_NONE },
	{ "original_recipient", 1, PV_NONE },
	{ "user", 1, PV_NONE },
	{ "extension", 1, PV_NONE },
	{ "mailbox", 1, PV_NONE },
	{ "domain", 1, PV_NONE },
};

/* Macro index or -1. */
static int
pipe_macro(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(pipe_macros) / sizeof(pipe_macros[0]); i++) {
		if (strlen(pipe_macros[i].name) == len &&
		    memcmp(pipe_macros[i].name, name, len) == 0) {
			return ((int) i);
		}
	}
	return (-1);
}

/*
 * The macro at s ("$" at s[0]): its name and length and how many
 * bytes it takes. 0: "$$"; -1: malformed.
 */
static int
pipe_macro_at(const char *s, const char **name, size_t *nlen, size_t *used)
{
	const char *p;

	if (s[1] == '$') {
		*used = 2;
		*nlen = 0;
		return (0);
	}
	if (s[1] == '{' || s[1] == '(') {
		/* ${name}, and Postfix's older $(name) */
		if ((p = strchr(s + 2, s[1] == '{' ? '}' : ')')) == NULL) {
			return (-1);
		}
		*name = s + 2;
		*nlen = (size_t) (p - s - 2);
		*used = (size_t) (p - s + 1);
		return (*nlen > 0 ? 1 : -1);
	}
	for (p = s + 1; isalnum((unsigned char) *p) || *p == '_'; p++) {
	}
	*name = s + 1;
	*nlen = (size_t) (p - s - 1);
	*used = (size_t) (p - s);
	return (*nlen > 0 ? 1 : -1);
}

pipe_argv *
pipe_argv_free(pipe_argv *t)
{
	size_t i;

	if (t != NULL) {
		for (i = 0; i < t->n; i++) {
			free(t->elem[i]);
		}
		free(t->elem);
		free(t->per_rcpt);
		free(t);
	}
	return (NULL);
}

int
pipe_argv_parse(const char *spec, pipe_argv **out, char **err)
{
	pipe_argv *t = pm_calloc(1, sizeof(*t));
	const char *p = spec, *start, *q, *name;
	size_t len, nlen, used;
	int m, k;

	t->elem = pm_calloc(PIPE_ARGV_MAX, sizeof(*t->elem));
	t->per_rcpt = pm_calloc(PIPE_ARGV_MAX, sizeof(*t->per_rcpt));
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			p++;
		}
		if (*p == 0) {
			break;
		}
		start = p;
		while (*p != 0 && *p != ' ' && *p != '\t' && *p != '\n' &&
		    *p != '\r') {
			p++;
		}
		len = (size_t) (p - start);
		if (t->n == PIPE_ARGV_MAX) {
			*err = pm_asprintf("more than %d arguments",
			    PIPE_ARGV_MAX);
			goto fail;
		}
		t->elem[t->n] = pm_strndup(start, len);
		for (q = t->elem[t->n]; (q = strchr(q, '$')) != NULL;
		     q += used) {
			if ((m = pipe_macro_at(q, &name, &nlen, &used)) < 0) {
				*err = pm_asprintf("malformed macro in "
				                   "\"%s\"",
				    t->elem[t->n]);
				t->n++;
				goto fail;
			}
			if (m == 0) {
				continue;
			}
			if ((k = pipe_macro(name, nlen)) < 0) {
				*err = pm_asprintf("unknown macro \"$%.*s\" "
				                   "in \"%s\"",
				    (int) nlen, name, t->elem[t->n]);
				t->n++;
				goto fail;
			}
			t->per_rcpt[t->n] |= pipe_macros[k].per_rcpt;
		}
		t->n++;
	}
	if (t->n == 0) {
		*err = pm_strdup("empty command");
		goto fail;
	}
	if (t->elem[0][0] != '/' || strchr(t->elem[0], '$') != NULL) {
		*err = pm_asprintf("the command \"%s\" must be an absolute "
		                   "path without macros",
		    t->elem[0]);
		goto fail;
	}
	*out = t;
	return (0);
fail:
	pipe_argv_free(t);
	return (PM_EINVAL);
}

size_t
pipe_argv_count(const pipe_argv *t)
{
	return (t->n);
}

const char *
pipe_argv_elem(const pipe_argv *t, size_t i)
{
	return (i < t->n ? t->elem[i] : NULL);
}

void
pipe_addr_split(const char *addr, const char *delim, pipe_addr *a)
{
	const char *at = strrchr(addr, '@');
	size_t llen = at ? (size_t) (at - addr) : strlen(addr);
	size_t ulen;

	a->local = pm_strndup(addr, llen);
	a->domain = pm_strdup(at ? at + 1 : "");
	ulen = delim != NULL && *delim != 0 ? strcspn(a->local, delim) : llen;
	if (ulen == 0 || ulen >= llen) {
		/* no delimiter, or the local part starts with one */
		ulen = llen;
	}
	a->user = pm_strndup(a->local, ulen);
	a->ext = pm_strdup(ulen < llen ? a->local + ulen + 1 : "");
}

void
pipe_addr_free(pipe_addr *a)
{
	free(a->local);
	free(a->user);
	free(a->ext);
	free(a->domain);
	memset(a, 0, sizeof(*a));
}

/* RFC 5321 Dot-string: atext atoms separated by single dots. */
static int
pipe_dot_string(const char *s, size_t len)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	size_t i;

	if (len == 0 || s[0] == '.' || s[len - 1] == '.') {
		return (0);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];

		if (c == '.') {
			if (s[i + 1] == '.') {
				return (0);
			}
			continue;
		}
		/* 8-bit bytes pass (SMTPUTF8, 8-bit transparent) */
		if (!isalnum(c) && c < 0x80 && strchr(atext, c) == NULL) {
			return (0);
		}
		if (c == 0) {
			return (0);
		}
	}
	return (1);
}

char *
pipe_addr_quote(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t llen = at ? (size_t) (at - addr) : strlen(addr), i;
	pm_buf b;

	if (llen == 0 || pipe_dot_string(addr, llen)) {
		return (pm_strdup(addr));
	}
	pm_buf_init(&b, 0);
	pm_buf_puts(&b, "\"");
	for (i = 0; i < llen; i++) {
		if (addr[i] == '"' || addr[i] == '\\') {
			pm_buf_puts(&b, "\\");
		}
		pm_buf_append(&b, addr + i, 1);
	}
	pm_buf_puts(&b, "\"");
	if (at != NULL) {
		pm_buf_puts(&b, at);
	}
	return (pm_buf_steal(&b, NULL));
}

char *
pipe_addr_unquote(const char *addr)
{
	const char *at = strrchr(addr, '@'), *p;
	size_t llen = at ? (size_t) (at - addr) : strlen(addr);
	pm_buf b;

	if (llen < 2 || addr[0] != '"' || addr[llen - 1] != '"') {
		return (pm_strdup(addr));
	}
	pm_buf_init(&b, 0);
	for (p = addr + 1; p < addr + llen - 1; p++) {
		if (*p == '\\' && p + 1 < addr + llen - 1) {
			p++;
		}
		pm_buf_append(&b, p, 1);
	}
	if (at != NULL) {
		pm_buf_puts(&b, at);
	}
	return (pm_buf_steal(&b, NULL));
}

/* Lower-case the local part, the domain or both of an address. */
static void
pipe_addr_fold(char *addr, int local, int domain)
{
	char *at = strrchr(addr, '@'), *p;

	for (p = addr; *p != 0; p++) {
		if ((at == NULL || p < at) ? local : (p > at && domain)) {
			*p = (char) tolower((unsigned char) *p);
		}
	}
}

/* ${sender}, ${recipient}, ${original_recipient}: fold, then quote. */
static char *
pipe_addr_value(const char *addr, unsigned flags)
{
	char *v = pipe_addr_unquote(addr), *q;

	pipe_addr_fold(v, (flags & PIPE_F_FOLDU) != 0,
	    (flags & PIPE_F_FOLDH) != 0);
	if (flags & PIPE_F_QUOTE) {
		q = pipe_addr_quote(v);
		free(v);
		v = q;
	}
	return (v);
}

static char *
pipe_fold_dup(const char *s, int fold)
{
	char *v = pm_strdup(s);

	return (fold ? pm_lowercase(v) : v);
}

/* The value of macro k for recipient r (r < 0: none). */
static char *
pipe_value(int k, const pipe_vars *v, long r)
{
	const char *name = pipe_macros[k].name, *orig;
	int fu = (v->flags & PIPE_F_FOLDU) != 0;
	int fh = (v->flags & PIPE_F_FOLDH) != 0;
	pipe_addr a;
	char *out, *internal;
	const char *str;

	if (pipe_macros[k].str != PV_NONE) {
		str = *(const char *const *) ((const char *) v +
		    pipe_macros[k].str);
		return (pm_strdup(str != NULL ? str : ""));
	}
	if (strcmp(name, "sender") == 0) {
		return (pipe_addr_value(*v->sender ? v->sender : v->null_sender,
		    v->flags));
	}
	if (strcmp(name, "nexthop") == 0) {
		return (pipe_fold_dup(v->nexthop ? v->nexthop : "", fh));
	}
	if (strcmp(name, "size") == 0) {
		return (pm_asprintf("%llu", (unsigned long long) v->size));
	}
	PM_ASSERT(r >= 0 && (size_t) r < v->nrcpt);
	if (strcmp(name, "recipient") == 0) {
		return (pipe_addr_value(v->rcpt[r], v->flags));
	}
	if (strcmp(name, "original_recipient") == 0) {
		orig = v->orig && v->orig[r] && *v->orig[r] ? v->orig[r] :
		                                              v->rcpt[r];
		return (pipe_addr_value(orig, v->flags));
	}
	internal = pipe_addr_unquote(v->rcpt[r]);
	pipe_addr_split(internal, v->delim, &a);
	free(internal);
	if (strcmp(name, "user") == 0) {
		out = pipe_fold_dup(a.user, fu);
	} else if (strcmp(name, "extension") == 0) {
		out = pipe_fold_dup(a.ext, fu);
	} else if (strcmp(name, "mailbox") == 0) {
		out = pipe_fold_dup(a.local, fu);
	} else {
		out = pipe_fold_dup(a.domain, fh);
	}
	pipe_addr_free(&a);
	return (out);
}

/* One element for recipient r; PM_ETOOBIG past PIPE_ARG_LEN_MAX. */
static int
pipe_expand_one(const char *elem, const pipe_vars *v, long r, char **out)
{
	const char *p, *name;
	size_t nlen, used;
	char *val;
	pm_buf b;
	int m, rc = 0;

	pm_buf_init(&b, PIPE_ARG_LEN_MAX);
	for (p = elem; *p != 0 && rc == 0;) {
		if (*p != '$') {
			rc = pm_buf_append(&b, p++, 1);
			continue;
		}
		m = pipe_macro_at(p, &name, &nlen, &used);
		PM_ASSERT(m >= 0); /* checked by pipe_argv_parse */
		if (m == 0) {
			rc = pm_buf_append(&b, "$", 1);
		} else {
			val = pipe_value(pipe_macro(name, nlen), v, r);
			rc = pm_buf_puts(&b, val);
			free(val);
		}
		p += used;
	}
	if (rc != 0) {
		pm_buf_free(&b);
		return (rc);
	}
	*out = pm_buf_steal(&b, NULL);
	return (0);
}

char **
pipe_argv_list_free(char **list)
{
	size_t i;

	if (list != NULL) {
		for (i = 0; list[i] != NULL; i++) {
			free(list[i]);
		}
		free(list);
	}
	return (NULL);
}

char **
pipe_argv_expand(const pipe_argv *t, const pipe_vars *v, int *err)
{
	char **list;
	size_t i, n = 0, cap = 0, r, reps;
	int rc;

	for (i = 0; i < t->n; i++) {
		cap += t->per_rcpt[i] ? v->nrcpt : 1;
	}
	if (cap > PM_COMMAND_MAX_ARGS) {
		*err = PM_ETOOBIG;
		return (NULL);
	}
	list = pm_calloc(cap + 1, sizeof(*list));
	for (i = 0; i < t->n; i++) {
		reps = t->per_rcpt[i] ? v->nrcpt : 1;
		for (r = 0; r < reps; r++) {
			rc = pipe_expand_one(t->elem[i], v,
			    t->per_rcpt[i] ? (long) r : -1, &list[n]);
			if (rc != 0) {
				*err = rc;
				return (pipe_argv_list_free(list));
			}
			n++;
		}
	}
	return (list);
}
