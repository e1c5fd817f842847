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
 * The macro walker: one pass over an element's text, either checking
 * it (w->v NULL: every name must be known, and every branch of a
 * conditional is visited, as Postfix's MAC_EXP_FLAG_SCAN) or
 * expanding it for recipient w->r into w->out.
 */
typedef struct pipe_walk {
	const pipe_vars *v; /* NULL: check only */
	long r;
	pm_buf *out;
	int per_rcpt; /* a per-recipient name was seen */
	char *err;    /* check only: what is wrong */
	int depth;
} pipe_walk;

static int pipe_walk_text(pipe_walk *w, const char *s, size_t len);
static char *pipe_value(int k, const pipe_vars *v, long r);

static int
pipe_walk_fail(pipe_walk *w, const char *fmt, const char *s, size_t len)
{
	if (w->err == NULL) {
		w->err = pm_asprintf(fmt, (int) len, s);
	}
	return (PM_EINVAL);
}

/*
 * The end of the group opened at s[0] ('{' or '('): the index of its
 * balanced closing character within s[0..len), or 0 when none.
 */
static size_t
pipe_group_end(const char *s, size_t len)
{
	char open = s[0], close = open == '{' ? '}' : ')';
	size_t i, level = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == open) {
			level++;
		} else if (s[i] == close && --level == 0) {
			return (i);
		}
	}
	return (0);
}

static size_t
pipe_skip_ws(const char *s, size_t i, size_t len)
{
	while (i < len &&
	    (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) {
		i++;
	}
	return (i);
}

/*
 * One conditional operand at s[*i..len): "{text}" (white space around
 * it skipped) or the rest of the body as it is. Sets *t, *tlen.
 */
static int
pipe_operand(pipe_walk *w, const char *s, size_t len, size_t *i, const char **t,
    size_t *tlen)
{
	size_t j = pipe_skip_ws(s, *i, len), e;

	if (j < len && s[j] == '{') {
		if ((e = pipe_group_end(s + j, len - j)) == 0) {
			return (pipe_walk_fail(w, "unbalanced {} in \"%.*s\"",
			    s, len));
		}
		*t = s + j + 1;
		*tlen = e - 1;
		*i = pipe_skip_ws(s, j + e + 1, len);
	} else {
		*t = s + *i;
		*tlen = len - *i;
		*i = len;
	}
	return (0);
}

/*
 * The body of ${...}: "name", "name?text", "name:text",
 * "name?{text1}:{text2}" (mac_expand(3)'s forms; text may hold
 * macros). A true condition is a non-empty value.
 */
static int
pipe_walk_macro(pipe_walk *w, const char *s, size_t len)
{
	const char *t1 = NULL, *t2 = NULL;
	size_t nlen, i, t1len = 0, t2len = 0;
	char *val = NULL;
	int k, rc = 0, set;

	for (nlen = 0;
	     nlen < len && (isalnum((unsigned char) s[nlen]) || s[nlen] == '_');
	     nlen++) {
	}
	if (nlen == 0 || (nlen < len && s[nlen] != '?' && s[nlen] != ':')) {
		return (pipe_walk_fail(w, "malformed macro \"${%.*s}\"", s,
		    len));
	}
	if ((k = pipe_macro(s, nlen)) < 0) {
		return (pipe_walk_fail(w, "unknown macro \"$%.*s\"", s, nlen));
	}
	w->per_rcpt |= pipe_macros[k].per_rcpt;
	i = nlen + 1;
	if (nlen < len && s[nlen] == '?') {
		if ((rc = pipe_operand(w, s, len, &i, &t1, &t1len)) != 0) {
			return (rc);
		}
		if (i < len && s[i] == ':') {
			i++;
			if ((rc = pipe_operand(w, s, len, &i, &t2, &t2len)) !=
			    0) {
				return (rc);
			}
		}
	} else if (nlen < len) {
		if ((rc = pipe_operand(w, s, len, &i, &t2, &t2len)) != 0) {
			return (rc);
		}
	}
	if (nlen < len && i < len) {
		return (pipe_walk_fail(w, "unexpected text in \"${%.*s}\"", s,
		    len));
	}
	if (w->v == NULL) {
		/* check: every branch */
		if (t1 != NULL && (rc = pipe_walk_text(w, t1, t1len)) != 0) {
			return (rc);
		}
		return (t2 != NULL ? pipe_walk_text(w, t2, t2len) : 0);
	}
	val = pipe_value(k, w->v, w->r);
	if (nlen == len) {
		rc = pm_buf_puts(w->out, val);
	} else {
		set = *val != 0;
		if (set && t1 != NULL) {
			rc = pipe_walk_text(w, t1, t1len);
		} else if (!set && t2 != NULL) {
			rc = pipe_walk_text(w, t2, t2len);
		}
	}
	free(val);
	return (rc);
}

/* Text with macros: $$, $name, ${body}, and Postfix's older $(body). */
static int
pipe_walk_text(pipe_walk *w, const char *s, size_t len)
{
	size_t i = 0, j, e;
	int rc = 0;

	if (++w->depth > PIPE_MACRO_DEPTH) {
		return (pipe_walk_fail(w, "macros nested too deep in \"%.*s\"",
		    s, len));
	}
	while (i < len && rc == 0) {
		if (s[i] != '$') {
			for (j = i; j < len && s[j] != '$'; j++) {
			}
			if (w->out != NULL) {
				rc = pm_buf_append(w->out, s + i, j - i);
			}
			i = j;
		} else if (i + 1 < len && s[i + 1] == '$') {
			if (w->out != NULL) {
				rc = pm_buf_append(w->out, "$", 1);
			}
			i += 2;
		} else if (i + 1 < len &&
		    (s[i + 1] == '{' || s[i + 1] == '(')) {
			if ((e = pipe_group_end(s + i + 1, len - i - 1)) == 0) {
				return (pipe_walk_fail(w,
				    "malformed macro in \"%.*s\"", s, len));
			}
			rc = pipe_walk_macro(w, s + i + 2, e - 1);
			i += e + 2;
		} else {
			for (j = i + 1; j < len &&
			     (isalnum((unsigned char) s[j]) || s[j] == '_');
			     j++) {
			}
			if (j == i + 1) {
				return (pipe_walk_fail(w,
				    "malformed macro in \"%.*s\"", s, len));
			}
			rc = pipe_walk_macro(w, s + i + 1, j - i - 1);
			i = j;
		}
	}
	w->depth--;
	return (rc);
}

/*
 * The next argument of spec at *p: white space separates arguments
 * except inside balanced {}; an argument written "{ text }" is the
 * text without the braces and the white space next to them (Postfix
 * 3.0's master.cf grouping). NULL at the end; *err on a bad group.
 */
static char *
pipe_next_arg(const char **p, char **err)
{
	const char *s = *p, *start;
	size_t level = 0, len, a, b;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
		s++;
	}
	if (*s == 0) {
		*p = s;
		return (NULL);
	}
	for (start = s; *s != 0; s++) {
		if (*s == '{') {
			level++;
		} else if (*s == '}' && level > 0) {
			level--;
		} else if (level == 0 &&
		    (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
			break;
		}
	}
	*p = s;
	len = (size_t) (s - start);
	if (level > 0) {
		*err =
		    pm_asprintf("unbalanced {} in \"%.*s\"", (int) len, start);
		return (NULL);
	}
	if (start[0] != '{') {
		return (pm_strndup(start, len));
	}
	if (pipe_group_end(start, len) != len - 1) {
		*err = pm_asprintf("text after \"}\" in \"%.*s\"", (int) len,
		    start);
		return (NULL);
	}
	a = pipe_skip_ws(start, 1, len - 1);
	for (b = len - 1; b > a &&
	     (start[b - 1] == ' ' || start[b - 1] == '\t' ||
	         start[b - 1] == '\n' || start[b - 1] == '\r');
	     b--) {
	}
	return (pm_strndup(start + a, b - a));
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
	const char *p = spec;
	pipe_walk w;
	char *elem;

	*err = NULL;

	t->elem = pm_calloc(PIPE_ARGV_MAX, sizeof(*t->elem));
	t->per_rcpt = pm_calloc(PIPE_ARGV_MAX, sizeof(*t->per_rcpt));
	for (;;) {
		if ((elem = pipe_next_arg(&p, err)) == NULL) {
			if (*err != NULL) {
				goto fail;
			}
			break;
		}
		if (t->n == PIPE_ARGV_MAX) {
			free(elem);
			*err = pm_asprintf("more than %d arguments",
			    PIPE_ARGV_MAX);
			goto fail;
		}
		t->elem[t->n] = elem;
		memset(&w, 0, sizeof(w));
		if (pipe_walk_text(&w, elem, strlen(elem)) != 0) {
			*err = pm_asprintf("%s in \"%s\"", w.err, elem);
			free(w.err);
			t->n++;
			goto fail;
		}
		t->per_rcpt[t->n++] = w.per_rcpt;
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
	pipe_walk w;
	pm_buf b;
	int rc;

	pm_buf_init(&b, PIPE_ARG_LEN_MAX);
	memset(&w, 0, sizeof(w));
	w.v = v;
	w.r = r;
	w.out = &b;
	rc = pipe_walk_text(&w, elem, strlen(elem));
	PM_ASSERT(rc != PM_EINVAL); /* checked by pipe_argv_parse */
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
