/*
 * NAME
 *	pm_table_regexp - regexp: and pcre: tables (Postfix regexp_table(5))
 * SUMMARY
 *	#include "pm_table_priv.h"
 * DESCRIPTION
 *	A file of rules tried in order; the first match gives the result:
 *	  /pattern/flags result        pattern matches the key
 *	  !/pattern/flags result       pattern does not match
 *	  /pat1/flags!/pat2/flags result
 *	                               pat1 matches and pat2 does not
 *	  if /pattern/flags ... endif  rules inside apply only when the
 *	                               pattern matches ("if !/pat/" too);
 *	                               blocks nest
 *	The delimiter is the first character ('/' usually); a backslash
 *	keeps the next character in the pattern. Flags toggle: i case
 *	(default: case-insensitive), x extended syntax (default: POSIX
 *	extended), m multi-line. The result may use $1..$9, ${1}, $(1)
 *	for subexpressions and $$ for '$'; an index over the number of
 *	subexpressions, or any $n in a negated rule, is an error. "if" and
 *	"endif" are case-insensitive. Bad rules are warned about and
 *	skipped; an unmatched endif is ignored, a missing one is assumed
 *	at the end of the file.
 *
 *	pcre: is the same file format read with the POSIX engine: "\d",
 *	"\D" (and "\d", "\w", "\s" inside brackets) are translated, other
 *	PCRE-only syntax fails to compile and the rule is skipped with a
 *	warning.
 * LIMITS
 *	PM_TABLE_ENTRIES_MAX rules; a result expands to at most
 *	PM_REGEXP_RESULT_MAX bytes (a longer one is a lookup error).
 * SECURITY
 *	Keys are client data; POSIX regexec() is used on them unchanged.
 *	Compiled rules are never changed after open, so lookups may run in
 *	many threads at once.
 */
#include "pm_log.h"
#include "pm_table_priv.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PM_REGEXP_RESULT_MAX (256 * 1024)
#define RX_NSUB_MAX 9

enum { RX_MATCH, RX_IF, RX_ENDIF };

typedef struct rx_pat {
	regex_t re;
	int used;     /* compiled */
	int negate;
} rx_pat;

typedef struct rx_rule {
	int kind;
	rx_pat pat[2];  /* second: "/a/!/b/" */
	char *result;   /* RX_MATCH only */
	int subst;      /* result has $n */
	size_t skip;    /* RX_IF: index after its endif */
} rx_rule;

typedef struct rx_table {
	size_t n;
	rx_rule *v;
} rx_table;

typedef struct rx_file {
	const char *what;
	const char *path;
	int lineno;
	int pcre;
} rx_file;

static int
is_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

static int
is_alnum(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'));
}

/* PCRE escapes into POSIX ERE (the common ones only). */
static char *
pcre_translate(const char *s)
{
	pm_buf b;
	int in_bracket = 0;

	pm_buf_init(&b, 0);
	for (; *s; s++) {
		if (*s == '\\' && s[1] != 0) {
			const char *rep = NULL;
			char c = *++s;

			if (!in_bracket) {
				rep = c == 'd' ? "[0-9]" :
				    c == 'D'   ? "[^0-9]" :
				                 NULL;
			} else if (c == 'd') {
				rep = "0-9";
			} else if (c == 'w') {
				rep = "[:alnum:]_";
			} else if (c == 's') {
				rep = "[:space:]";
			} else if (!is_alnum(c) && c != '-' && c != ']' &&
			    c != '^') {
				/* "[\.]": a bracket needs no escapes. */
				pm_buf_append(&b, &c, 1);
				continue;
			}
			if (rep != NULL) {
				pm_buf_puts(&b, rep);
			} else {
				pm_buf_append(&b, s - 1, 2);
			}
			continue;
		}
		if (!in_bracket && *s == '[') {
			in_bracket = 1;
			pm_buf_append(&b, s, 1);
			/* A ']' (after an optional '^') first is literal. */
			if (s[1] == '^') {
				pm_buf_append(&b, ++s, 1);
			}
			if (s[1] == ']') {
				pm_buf_append(&b, ++s, 1);
			}
			continue;
		}
		if (in_bracket && *s == '[' && s[1] == ':') {
			const char *e = strstr(s + 2, ":]");

			if (e != NULL) {
				pm_buf_append(&b, s, (size_t) (e + 2 - s));
				s = e + 1;
				continue;
			}
		}
		if (in_bracket && *s == ']') {
			in_bracket = 0;
		}
		pm_buf_append(&b, s, 1);
	}
	if (b.data == NULL) {
		pm_buf_puts(&b, "");
	}
	return (pm_buf_steal(&b, NULL));
}

/*
 * Parse "[!]/pattern/flags" at *pp; compile into pat. Returns 0, or -1
 * after a warning.
 */
static int
rx_parse_pat(const rx_file *f, char **pp, rx_pat *pat, int nosub)
{
	char *p = *pp, *src, delim, errbuf[256];
	int cflags = REG_EXTENDED | REG_ICASE, rc;
	pm_buf pb;

	if (*p == '!') {
		pat->negate = 1;
		p++;
	}
	delim = *p;
	if (delim == 0 || is_space(delim) || is_alnum(delim) ||
	    delim == '\\') {
		pm_msg_warn("%s %s, line %d: no regexp delimiter", f->what,
		    f->path, f->lineno);
		return (-1);
	}
	p++;
	pm_buf_init(&pb, PM_TABLE_LINE_MAX);
	for (; *p && *p != delim; p++) {
		if (*p == '\\' && p[1] == delim) {
			/* "\/" is a literal delimiter: drop the backslash. */
			p++;
		} else if (*p == '\\' && p[1] != 0) {
			pm_buf_append(&pb, p++, 1);
		}
		pm_buf_append(&pb, p, 1);
	}
	if (*p != delim) {
		pm_msg_warn("%s %s, line %d: missing closing regexp "
		    "delimiter \"%c\"", f->what, f->path, f->lineno, delim);
		pm_buf_free(&pb);
		return (-1);
	}
	for (p++; *p && !is_space(*p) && *p != '!'; p++) {
		switch (*p) {
		case 'i':
			cflags ^= REG_ICASE;
			break;
		case 'x':
			if (f->pcre) {
				goto badflag;
			}
			cflags ^= REG_EXTENDED;
			break;
		case 'm':
			cflags ^= REG_NEWLINE;
			break;
		default:
badflag:
			pm_msg_warn("%s %s, line %d: unknown regexp option "
			    "\"%c\": skipping this rule", f->what, f->path,
			    f->lineno, *p);
			pm_buf_free(&pb);
			return (-1);
		}
	}
	if (nosub || pat->negate) {
		cflags |= REG_NOSUB;
	}
	src = f->pcre ? pcre_translate(pb.data ? pb.data : "") :
	                pm_strdup(pb.data ? pb.data : "");
	pm_buf_free(&pb);
	if ((rc = regcomp(&pat->re, src, cflags)) != 0) {
		regerror(rc, &pat->re, errbuf, sizeof(errbuf));
		pm_msg_warn("%s %s, line %d: %s: skipping this rule",
		    f->what, f->path, f->lineno, errbuf);
		free(src);
		return (-1);
	}
	free(src);
	pat->used = 1;
	*pp = p;
	return (0);
}

/*
 * After a '$' at *rp: "n", "{n}" or "(n)". Returns n (maybe out of
 * 1..9 when malformed) and leaves *rp on the last character used.
 */
static int
rx_ref(const char **rp)
{
	const char *r = *rp;

	if ((*r == '{' || *r == '(') && r[1] != 0 &&
	    r[2] == (*r == '{' ? '}' : ')')) {
		*rp = r + 2;
		return (r[1] - '0');
	}
	return (*r - '0');
}

/* Check "$n" references in a result; returns the highest n or -1. */
static int
rx_check_result(const rx_file *f, const char *r, size_t nsub)
{
	int max = 0, n;

	for (; *r; r++) {
		if (*r != '$') {
			continue;
		}
		r++;
		if (*r == '$') {
			continue;
		}
		n = rx_ref(&r);
		if (n < 1 || n > RX_NSUB_MAX) {
			pm_msg_warn("%s %s, line %d: bad replacement syntax "
			    "in result: skipping this rule", f->what,
			    f->path, f->lineno);
			return (-1);
		}
		if ((size_t) n > nsub) {
			pm_msg_warn("%s %s, line %d: out of range "
			    "replacement index \"%d\": skipping this rule",
			    f->what, f->path, f->lineno, n);
			return (-1);
		}
		if (n > max) {
			max = n;
		}
	}
	return (max);
}

static void
rx_rule_free(rx_rule *r)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (r->pat[i].used) {
			regfree(&r->pat[i].re);
		}
	}
	free(r->result);
	memset(r, 0, sizeof(*r));
}

/* One logical line into *r; 0 ok, -1 skipped (warned). */
static int
rx_parse_line(const rx_file *f, char *line, rx_rule *r)
{
	char *p = line;
	int max;

	memset(r, 0, sizeof(*r));
	if (strncasecmp(p, "endif", 5) == 0 && !is_alnum(p[5])) {
		r->kind = RX_ENDIF;
		for (p += 5; is_space(*p); p++) {
			;
		}
		if (*p) {
			pm_msg_warn("%s %s, line %d: ignoring extra text "
			    "after ENDIF", f->what, f->path, f->lineno);
		}
		return (0);
	}
	if (strncasecmp(p, "if", 2) == 0 && !is_alnum(p[2])) {
		r->kind = RX_IF;
		for (p += 2; is_space(*p); p++) {
			;
		}
		if (rx_parse_pat(f, &p, &r->pat[0], 1) != 0) {
			rx_rule_free(r);
			return (-1);
		}
		while (is_space(*p)) {
			p++;
		}
		if (*p) {
			pm_msg_warn("%s %s, line %d: ignoring extra text "
			    "after IF", f->what, f->path, f->lineno);
		}
		return (0);
	}
	r->kind = RX_MATCH;
	/* Compile first to learn re_nsub; REG_NOSUB is decided later. */
	if (rx_parse_pat(f, &p, &r->pat[0], 0) != 0) {
		rx_rule_free(r);
		return (-1);
	}
	if (*p == '!' && rx_parse_pat(f, &p, &r->pat[1], 1) != 0) {
		rx_rule_free(r);
		return (-1);
	}
	if (*p != 0 && !is_space(*p)) {
		pm_msg_warn("%s %s, line %d: bad regexp syntax: skipping this "
		    "rule", f->what, f->path, f->lineno);
		rx_rule_free(r);
		return (-1);
	}
	p = pm_trim(p);
	if (*p == 0) {
		pm_msg_warn("%s %s, line %d: no replacement text: using "
		    "empty string", f->what, f->path, f->lineno);
	}
	max = rx_check_result(f, p,
	    r->pat[0].negate ? 0 : r->pat[0].re.re_nsub);
	if (max < 0) {
		rx_rule_free(r);
		return (-1);
	}
	r->subst = max > 0;
	r->result = pm_strdup(p);
	return (0);
}

static void
rx_close(void *impl)
{
	rx_table *t = impl;
	size_t i;

	if (t == NULL) {
		return;
	}
	for (i = 0; i < t->n; i++) {
		rx_rule_free(&t->v[i]);
	}
	free(t->v);
	free(t);
}

static int
rx_open_common(const char *name, void **impl, const char **err, int pcre)
{
	rx_file f = { pcre ? "pcre map" : "regexp map", name, 0, pcre };
	size_t stack[64], depth = 0, cap = 0, len;
	rx_table *t;
	pm__lines l;
	char *data, *line;
	rx_rule r;
	int rc;

	if ((rc = pm__file_read(name, &data, &len, err)) != 0) {
		return (rc);
	}
	t = pm_calloc(1, sizeof(*t));
	pm__lines_init(&l, f.what, name, data, len);
	while ((line = pm__lines_next(&l, &f.lineno)) != NULL) {
		if (rx_parse_line(&f, line, &r) != 0) {
			continue;
		}
		if (r.kind == RX_ENDIF && depth == 0) {
			pm_msg_warn("%s %s, line %d: ignoring ENDIF without "
			    "matching IF", f.what, name, f.lineno);
			continue;
		}
		if (r.kind == RX_IF &&
		    depth >= sizeof(stack) / sizeof(*stack)) {
			pm_msg_warn("%s %s, line %d: IF nested too deeply: "
			    "skipping this rule", f.what, name, f.lineno);
			rx_rule_free(&r);
			continue;
		}
		if (t->n >= PM_TABLE_ENTRIES_MAX) {
			pm_msg_warn("%s %s, line %d: more than %d rules, "
			    "ignoring the rest", f.what, name, f.lineno,
			    PM_TABLE_ENTRIES_MAX);
			rx_rule_free(&r);
			break;
		}
		if (t->n == cap) {
			cap = cap ? cap * 2 : 16;
			t->v = pm_realloc(t->v, cap * sizeof(*t->v));
		}
		t->v[t->n] = r;
		if (r.kind == RX_IF) {
			stack[depth++] = t->n;
		} else if (r.kind == RX_ENDIF) {
			t->v[stack[--depth]].skip = t->n + 1;
		}
		t->n++;
	}
	while (depth > 0) {
		pm_msg_warn("%s %s: IF has no matching ENDIF", f.what, name);
		t->v[stack[--depth]].skip = t->n;
	}
	pm__lines_free(&l);
	free(data);
	*impl = t;
	return (0);
}

static int
rx_open(const char *name, void **impl, const char **err)
{
	return (rx_open_common(name, impl, err, 0));
}

static int
pcre_open(const char *name, void **impl, const char **err)
{
	return (rx_open_common(name, impl, err, 1));
}

static int
rx_expand(const char *result, const char *key, const regmatch_t *m,
    char **value)
{
	const char *r;
	pm_buf b;
	int n;

	pm_buf_init(&b, PM_REGEXP_RESULT_MAX);
	for (r = result; *r; r++) {
		if (*r != '$') {
			if (pm_buf_append(&b, r, 1) != 0) {
				goto toobig;
			}
			continue;
		}
		r++;
		if (*r == '$') {
			if (pm_buf_append(&b, "$", 1) != 0) {
				goto toobig;
			}
			continue;
		}
		n = rx_ref(&r);
		/* n was checked at load time; an unmatched group is "". */
		if (m[n].rm_so >= 0 && m[n].rm_eo >= m[n].rm_so &&
		    pm_buf_append(&b, key + m[n].rm_so,
		        (size_t) (m[n].rm_eo - m[n].rm_so)) != 0) {
			goto toobig;
		}
	}
	if (b.data == NULL) {
		pm_buf_puts(&b, "");
	}
	*value = pm_buf_steal(&b, NULL);
	return (0);

toobig:
	pm_buf_free(&b);
	return (PM_ETOOBIG);
}

static int
rx_pat_match(const rx_pat *p, const char *key, regmatch_t *m, size_t nm)
{
	int hit = regexec(&p->re, key, nm, m, 0) == 0;

	return (p->negate ? !hit : hit);
}

static int
rx_get(void *impl, const char *key, char **value)
{
	const rx_table *t = impl;
	regmatch_t m[RX_NSUB_MAX + 1];
	const rx_rule *r;
	size_t i = 0;

	while (i < t->n) {
		r = &t->v[i];
		switch (r->kind) {
		case RX_IF:
			i = rx_pat_match(&r->pat[0], key, NULL, 0) ? i + 1 :
			                                            r->skip;
			continue;
		case RX_ENDIF:
			i++;
			continue;
		default:
			break;
		}
		i++;
		if (!rx_pat_match(&r->pat[0], key, m,
		        r->subst ? RX_NSUB_MAX + 1 : 0)) {
			continue;
		}
		if (r->pat[1].used && !rx_pat_match(&r->pat[1], key, NULL, 0)) {
			continue;
		}
		if (!r->subst) {
			*value = pm_strdup(r->result);
			return (0);
		}
		return (rx_expand(r->result, key, m, value));
	}
	return (PM_ENOENT);
}

const pm__table_ops pm__table_regexp_ops = {
	.type = "regexp",
	.flags = PM__TABLE_FULLKEY,
	.open = rx_open,
	.get = rx_get,
	.close = rx_close,
};

const pm__table_ops pm__table_pcre_ops = {
	.type = "pcre",
	.flags = PM__TABLE_FULLKEY,
	.open = pcre_open,
	.get = rx_get,
	.close = rx_close,
};
