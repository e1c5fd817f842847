/*
 * NAME
 *	pm_table_regexp - regexp: and pcre: tables (Postfix regexp_table(5),
 *	pcre_table(5))
 * SUMMARY
 *	#include "pm_table_priv.h"
 * DESCRIPTION
 *	A file of rules tried in order; the first match gives the result:
 *	  /pattern/flags result        pattern matches the key
 *	  !/pattern/flags result       pattern does not match
 *	  /pat1/flags!/pat2/flags result
 *	                               pat1 matches and pat2 does not
 *	                               (regexp: only, as in Postfix)
 *	  if /pattern/flags ... endif  rules inside apply only when the
 *	                               pattern matches ("if !/pat/" too);
 *	                               blocks nest
 *	The delimiter is the first character ('/' usually); a backslash
 *	keeps the next character in the pattern. The result may use
 *	$1..$9, ${1}, $(1) for subexpressions and $$ for '$'; an index
 *	over the number of subexpressions, or any $n in a negated rule,
 *	is an error. "if" and "endif" are case-insensitive. Bad rules are
 *	warned about (file and line) and skipped, as Postfix does; an
 *	unmatched endif is ignored, a missing one is assumed at the end of
 *	the file.
 *
 *	regexp: uses POSIX regcomp(). Flags toggle: i case (default:
 *	case-insensitive), x extended syntax (default: POSIX extended), m
 *	multi-line.
 *
 *	pcre: uses PCRE2, as Postfix's dict_pcre: flags toggle i
 *	(PCRE2_CASELESS, default on), s (PCRE2_DOTALL, default on), m
 *	(MULTILINE), x (EXTENDED), A (ANCHORED), E (DOLLAR_ENDONLY), U
 *	(UNGREEDY); X (PCRE1's EXTRA) is obsolete, warned about and
 *	ignored. "!" may repeat (each one toggles) and be followed by white
 *	space. "\<delimiter>" stays in the pattern (PCRE reads it as the
 *	literal character). A match that fails for a reason other than "no
 *	match" (the match limit, out of memory) is warned about with the
 *	file and line and fails the lookup with PM_EAGAIN: callers defer,
 *	as on any table error. (Postfix warns and goes on to the next
 *	rule; failing is the safe choice for access and header checks.)
 * LIMITS
 *	PM_TABLE_ENTRIES_MAX rules; a result expands to at most
 *	PM_REGEXP_RESULT_MAX bytes (a longer one is a lookup error).
 *	pcre: matches stop after pm_table_set_pcre_match_limit() steps
 *	(pcre_match_limit, default PCRE2's own 10000000, which is what
 *	Postfix runs with); the limit in force when a table is opened or
 *	reloaded applies to it.
 * SECURITY
 *	Keys are client data; regexec() and pcre2_match() see them
 *	unchanged (no UTF mode: any byte is a character). Compiled rules
 *	and the match context are never changed after open; each pcre:
 *	lookup has its own match data, so lookups may run in many threads
 *	at once.
 */
#include "pm_log.h"
#include "pm_table.h"
#include "pm_table_priv.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PM_REGEXP_RESULT_MAX (256 * 1024)
#define RX_NSUB_MAX 9

enum { RX_MATCH, RX_IF, RX_ENDIF };

typedef struct rx_pat {
	regex_t re;       /* regexp: */
	pcre2_code *code; /* pcre: */
	int used;         /* compiled */
	int negate;
} rx_pat;

typedef struct rx_rule {
	int kind;
	int lineno;
	rx_pat pat[2]; /* second: "/a/!/b/" */
	char *result;  /* RX_MATCH only */
	int subst;     /* result has $n */
	size_t skip;   /* RX_IF: index after its endif */
} rx_rule;

typedef struct rx_table {
	size_t n;
	rx_rule *v;
	const char *what; /* "pcre map", for warnings */
	char *path;
	pcre2_match_context *mctx; /* pcre: the match limit */
} rx_table;

/* One lookup's state: the key, pcre: match data, the last groups. */
typedef struct rx_match {
	const rx_table *t;
	const char *key;
	size_t keylen;
	pcre2_match_data *md;
	regmatch_t m[RX_NSUB_MAX + 1];
} rx_match;

static unsigned long pcre_match_limit = PM_TABLE_PCRE_MATCH_LIMIT;

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
	if (delim == 0 || is_space(delim) || is_alnum(delim) || delim == '\\') {
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
		            "delimiter \"%c\"",
		    f->what, f->path, f->lineno, delim);
		pm_buf_free(&pb);
		return (-1);
	}
	for (p++; *p && !is_space(*p) && *p != '!'; p++) {
		switch (*p) {
		case 'i':
			cflags ^= REG_ICASE;
			break;
		case 'x':
			cflags ^= REG_EXTENDED;
			break;
		case 'm':
			cflags ^= REG_NEWLINE;
			break;
		default:
			pm_msg_warn("%s %s, line %d: unknown regexp option "
			            "\"%c\": skipping this rule",
			    f->what, f->path, f->lineno, *p);
			pm_buf_free(&pb);
			return (-1);
		}
	}
	if (nosub || pat->negate) {
		cflags |= REG_NOSUB;
	}
	src = pm_strdup(pb.data ? pb.data : "");
	pm_buf_free(&pb);
	if ((rc = regcomp(&pat->re, src, cflags)) != 0) {
		regerror(rc, &pat->re, errbuf, sizeof(errbuf));
		pm_msg_warn("%s %s, line %d: %s: skipping this rule", f->what,
		    f->path, f->lineno, errbuf);
		free(src);
		return (-1);
	}
	free(src);
	pat->used = 1;
	*pp = p;
	return (0);
}

/*
 * pcre: "[!...]/pattern/flags" at *pp, as Postfix's dict_pcre. Returns
 * 0, or -1 after a warning.
 */
static int
pcre_parse_pat(const rx_file *f, char **pp, rx_pat *pat)
{
	char *p = *pp, *start, delim;
	uint32_t opts = PCRE2_CASELESS | PCRE2_DOTALL;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int code;

	for (;; p++) {
		if (*p == '!') {
			pat->negate = !pat->negate;
		} else if (!is_space(*p)) {
			break;
		}
	}
	delim = *p;
	if (delim == 0 || is_alnum(delim) || delim == '\\') {
		pm_msg_warn("%s %s, line %d: no regexp delimiter", f->what,
		    f->path, f->lineno);
		return (-1);
	}
	start = ++p;
	/* "\x" stays as it is: PCRE reads an escaped delimiter literally. */
	for (; *p && *p != delim; p++) {
		if (*p == '\\' && p[1] != 0) {
			p++;
		}
	}
	if (*p != delim) {
		pm_msg_warn("%s %s, line %d: missing closing regexp "
		            "delimiter \"%c\"",
		    f->what, f->path, f->lineno, delim);
		return (-1);
	}
	*p++ = 0;
	for (; *p && !is_space(*p); p++) {
		switch (*p) {
		case 'i':
			opts ^= PCRE2_CASELESS;
			break;
		case 'm':
			opts ^= PCRE2_MULTILINE;
			break;
		case 's':
			opts ^= PCRE2_DOTALL;
			break;
		case 'x':
			opts ^= PCRE2_EXTENDED;
			break;
		case 'A':
			opts ^= PCRE2_ANCHORED;
			break;
		case 'E':
			opts ^= PCRE2_DOLLAR_ENDONLY;
			break;
		case 'U':
			opts ^= PCRE2_UNGREEDY;
			break;
		case 'X':
			pm_msg_warn("%s %s, line %d: ignoring obsolete regexp "
			            "option \"X\"",
			    f->what, f->path, f->lineno);
			break;
		default:
			pm_msg_warn("%s %s, line %d: unknown regexp option "
			            "\"%c\": skipping this rule",
			    f->what, f->path, f->lineno, *p);
			return (-1);
		}
	}
	pat->code = pcre2_compile((PCRE2_SPTR) start, PCRE2_ZERO_TERMINATED,
	    opts, &code, &off, NULL);
	if (pat->code == NULL) {
		if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0) {
			snprintf((char *) msg, sizeof(msg), "error %d", code);
		}
		pm_msg_warn("%s %s, line %d: error in regex at offset %lu: "
		            "%s: skipping this rule",
		    f->what, f->path, f->lineno, (unsigned long) off,
		    (char *) msg);
		return (-1);
	}
	pat->used = 1;
	*pp = p;
	return (0);
}

/* Subexpressions of a compiled pattern. */
static size_t
rx_nsub(const rx_pat *pat)
{
	uint32_t n = 0;

	if (pat->code == NULL) {
		return (pat->re.re_nsub);
	}
	if (pcre2_pattern_info(pat->code, PCRE2_INFO_CAPTURECOUNT, &n) != 0) {
		pm_panic("pcre2_pattern_info failed");
	}
	return (n);
}

static int
rx_parse_any(const rx_file *f, char **pp, rx_pat *pat, int nosub)
{
	return (f->pcre ? pcre_parse_pat(f, pp, pat) :
	                  rx_parse_pat(f, pp, pat, nosub));
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
			            "in result: skipping this rule",
			    f->what, f->path, f->lineno);
			return (-1);
		}
		if ((size_t) n > nsub) {
			pm_msg_warn(
			    "%s %s, line %d: out of range "
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
		if (r->pat[i].code != NULL) {
			pcre2_code_free(r->pat[i].code);
		} else if (r->pat[i].used) {
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
	r->lineno = f->lineno;
	if (strncasecmp(p, "endif", 5) == 0 && !is_alnum(p[5])) {
		r->kind = RX_ENDIF;
		for (p += 5; is_space(*p); p++) {
			;
		}
		if (*p) {
			pm_msg_warn("%s %s, line %d: ignoring extra text "
			            "after ENDIF",
			    f->what, f->path, f->lineno);
		}
		return (0);
	}
	if (strncasecmp(p, "if", 2) == 0 && !is_alnum(p[2])) {
		r->kind = RX_IF;
		for (p += 2; is_space(*p); p++) {
			;
		}
		if (rx_parse_any(f, &p, &r->pat[0], 1) != 0) {
			rx_rule_free(r);
			return (-1);
		}
		while (is_space(*p)) {
			p++;
		}
		if (*p) {
			pm_msg_warn("%s %s, line %d: ignoring extra text "
			            "after IF",
			    f->what, f->path, f->lineno);
		}
		return (0);
	}
	r->kind = RX_MATCH;
	/* Compile first to learn re_nsub; REG_NOSUB is decided later. */
	if (rx_parse_any(f, &p, &r->pat[0], 0) != 0) {
		rx_rule_free(r);
		return (-1);
	}
	/* Never for pcre:, whose flags end only at white space. */
	if (*p == '!' && rx_parse_pat(f, &p, &r->pat[1], 1) != 0) {
		rx_rule_free(r);
		return (-1);
	}
	if (*p != 0 && !is_space(*p)) {
		pm_msg_warn("%s %s, line %d: bad regexp syntax: skipping this "
		            "rule",
		    f->what, f->path, f->lineno);
		rx_rule_free(r);
		return (-1);
	}
	p = pm_trim(p);
	if (*p == 0) {
		pm_msg_warn("%s %s, line %d: no replacement text: using "
		            "empty string",
		    f->what, f->path, f->lineno);
	}
	max = rx_check_result(f, p, r->pat[0].negate ? 0 : rx_nsub(&r->pat[0]));
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
	free(t->path);
	pcre2_match_context_free(t->mctx);
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
	t->what = f.what;
	t->path = pm_strdup(name);
	if (pcre) {
		unsigned long lim =
		    __atomic_load_n(&pcre_match_limit, __ATOMIC_RELAXED);

		if ((t->mctx = pcre2_match_context_create(NULL)) == NULL) {
			pm_panic("pcre2_match_context_create: out of memory");
		}
		pcre2_set_match_limit(t->mctx,
		    lim > UINT32_MAX ? UINT32_MAX : (uint32_t) lim);
	}
	pm__lines_init(&l, f.what, name, data, len);
	while ((line = pm__lines_next(&l, &f.lineno)) != NULL) {
		if (rx_parse_line(&f, line, &r) != 0) {
			continue;
		}
		if (r.kind == RX_ENDIF && depth == 0) {
			pm_msg_warn("%s %s, line %d: ignoring ENDIF without "
			            "matching IF",
			    f.what, name, f.lineno);
			continue;
		}
		if (r.kind == RX_IF &&
		    depth >= sizeof(stack) / sizeof(*stack)) {
			pm_msg_warn("%s %s, line %d: IF nested too deeply: "
			            "skipping this rule",
			    f.what, name, f.lineno);
			rx_rule_free(&r);
			continue;
		}
		if (t->n >= PM_TABLE_ENTRIES_MAX) {
			pm_msg_warn("%s %s, line %d: more than %d rules, "
			            "ignoring the rest",
			    f.what, name, f.lineno, PM_TABLE_ENTRIES_MAX);
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

/* pcre: one pattern; 1 match, 0 none, PM_EAGAIN after a warning. */
static int
pcre_match(rx_match *x, const rx_rule *r, const rx_pat *p, int subs)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE *ov;
	int rc, j;

	if (x->md == NULL &&
	    (x->md = pcre2_match_data_create(RX_NSUB_MAX + 1, NULL)) == NULL) {
		pm_panic("pcre2_match_data_create: out of memory");
	}
	rc = pcre2_match(p->code, (PCRE2_SPTR) x->key, x->keylen, 0, 0, x->md,
	    x->t->mctx);
	if (rc == PCRE2_ERROR_NOMATCH) {
		return (0);
	}
	if (rc < 0) {
		if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0) {
			snprintf((char *) msg, sizeof(msg), "error %d", rc);
		}
		pm_msg_warn("%s %s, line %d: %s", x->t->what, x->t->path,
		    r->lineno, (char *) msg);
		return (PM_EAGAIN);
	}
	if (!subs) {
		return (1);
	}
	/* rc 0: more groups than pairs; the first RX_NSUB_MAX are set. */
	ov = pcre2_get_ovector_pointer(x->md);
	for (j = 0; j <= RX_NSUB_MAX; j++) {
		if ((rc > 0 && j >= rc) || ov[2 * j] == PCRE2_UNSET) {
			x->m[j].rm_so = x->m[j].rm_eo = -1;
		} else {
			x->m[j].rm_so = (regoff_t) ov[2 * j];
			x->m[j].rm_eo = (regoff_t) ov[2 * j + 1];
		}
	}
	return (1);
}

/* Pattern k of rule r; 1 hit (negation applied), 0 miss, < 0 error. */
static int
rx_pat_match(rx_match *x, const rx_rule *r, int k, int subs)
{
	const rx_pat *p = &r->pat[k];
	int hit;

	if (p->code != NULL) {
		if ((hit = pcre_match(x, r, p, subs && !p->negate)) < 0) {
			return (hit);
		}
	} else {
		hit = regexec(&p->re, x->key, subs ? RX_NSUB_MAX + 1 : 0,
		          subs ? x->m : NULL, 0) == 0;
	}
	return (p->negate ? !hit : hit);
}

static int
rx_get(void *impl, const char *key, char **value)
{
	rx_match x = { .t = impl, .key = key, .keylen = strlen(key) };
	const rx_table *t = impl;
	const rx_rule *r;
	size_t i = 0;
	int hit, rc = PM_ENOENT;

	while (i < t->n) {
		r = &t->v[i];
		switch (r->kind) {
		case RX_IF:
			if ((hit = rx_pat_match(&x, r, 0, 0)) < 0) {
				rc = hit;
				goto out;
			}
			i = hit ? i + 1 : r->skip;
			continue;
		case RX_ENDIF:
			i++;
			continue;
		default:
			break;
		}
		i++;
		if ((hit = rx_pat_match(&x, r, 0, r->subst)) <= 0 ||
		    (r->pat[1].used &&
		        (hit = rx_pat_match(&x, r, 1, 0)) <= 0)) {
			if (hit < 0) {
				rc = hit;
				goto out;
			}
			continue;
		}
		if (!r->subst) {
			*value = pm_strdup(r->result);
			rc = 0;
		} else {
			rc = rx_expand(r->result, key, x.m, value);
		}
		goto out;
	}
out:
	pcre2_match_data_free(x.md);
	return (rc);
}

void
pm_table_set_pcre_match_limit(unsigned long limit)
{
	__atomic_store_n(&pcre_match_limit, limit, __ATOMIC_RELAXED);
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
