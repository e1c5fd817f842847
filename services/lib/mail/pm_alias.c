/*
 * NAME
 *	pm_alias - the parser of Postfix aliases(5) and :include: files
 * SUMMARY
 *	#include "pm_alias.h"
 * DESCRIPTION
 *	See pm_alias.h. Three layers: a line reader (physical lines ->
 *	logical lines, with the line number of the first one, and hostile
 *	bytes marked), the "name: value" splitter, and pm_alias_split(),
 *	which cuts a value into targets at top-level commas and classifies
 *	each one.
 * LIMITS
 *	PM_ALIAS_* in pm_alias.h.
 * SECURITY
 *	Operator and user input: every byte is checked, nothing is trusted
 *	to be NUL-free, balanced or short.
 */
#include "pm_alias.h"
#include "pm_addr.h"
#include "pm_log.h"
#include "pm_smap.h"
#include "pm_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define INCLUDE_PREFIX ":include:"
#define INCLUDE_PREFIX_LEN (sizeof(INCLUDE_PREFIX) - 1)

static int
is_blank(int c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v');
}

const char *
pm_alias_kind_name(pm_alias_kind kind)
{
	switch (kind) {
	case PM_ALIAS_ADDRESS:
		return ("address");
	case PM_ALIAS_COMMAND:
		return ("command");
	case PM_ALIAS_FILE:
		return ("file");
	case PM_ALIAS_INCLUDE:
		return ("include");
	}
	return ("unknown");
}

static void report(pm_alias_err_fn fn, void *arg, const char *path, int lineno,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
report(pm_alias_err_fn fn, void *arg, const char *path, int lineno,
    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = pm_vasprintf(fmt, ap);
	va_end(ap);
	pm_printable(msg);
	if (fn != NULL) {
		fn(arg, path, lineno, msg);
	} else if (lineno > 0) {
		pm_msg_warn("%s, line %d: %s", path, lineno, msg);
	} else {
		pm_msg_warn("%s: %s", path, msg);
	}
	free(msg);
}

/* ---- Targets ---- */

void
pm_alias_list_free(pm_alias_list *l)
{
	size_t i;

	if (l == NULL) {
		return;
	}
	for (i = 0; i < l->n; i++) {
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
list_add(pm_alias_list *l, pm_alias_kind kind, int noalias, char *value)
{
	/* Callers check PM_ALIAS_TARGETS_MAX first: n * size cannot wrap. */
	l->v = pm_realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n].kind = kind;
	l->v[l->n].noalias = noalias;
	l->v[l->n].value = value;
	l->n++;
}

/*
 * Length of the quoted string at s[0] == '"' up to and including the
 * closing quote, or 0 if it is not closed within len.
 */
static size_t
quoted_len(const char *s, size_t len)
{
	size_t i;

	for (i = 1; i < len; i++) {
		if (s[i] == '\\') {
			i++;
		} else if (s[i] == '"') {
			return (i + 1);
		}
	}
	return (0);
}

/* The contents of a quoted string of qlen bytes, quoted-pairs undone. */
static char *
unquote(const char *s, size_t qlen)
{
	char *out = pm_malloc(qlen), *o = out;
	size_t i;

	for (i = 1; i + 1 < qlen; i++) {
		if (s[i] == '\\' && i + 2 < qlen) {
			i++;
		}
		*o++ = s[i];
	}
	*o = 0;
	return (out);
}

static char *
trim_dup(const char *s, size_t len)
{
	while (len > 0 && is_blank(*s)) {
		s++;
		len--;
	}
	while (len > 0 && is_blank(s[len - 1])) {
		len--;
	}
	return (pm_strndup(s, len));
}

static int
has_blank(const char *s)
{
	for (; *s; s++) {
		if (is_blank(*s)) {
			return (1);
		}
	}
	return (0);
}

/* Classify a target whose content is a command, file or include. */
static int
classify_special(const char *s, pm_alias_kind *kind, char **value,
    const char **err)
{
	char *v;

	if (s[0] == '|') {
		v = trim_dup(s + 1, strlen(s + 1));
		if (*v == 0) {
			free(v);
			*err = "empty |command";
			return (PM_EINVAL);
		}
		*kind = PM_ALIAS_COMMAND;
	} else if (s[0] == '/') {
		v = pm_strdup(s);
		*kind = PM_ALIAS_FILE;
	} else if (strncasecmp(s, INCLUDE_PREFIX, INCLUDE_PREFIX_LEN) == 0) {
		v = trim_dup(s + INCLUDE_PREFIX_LEN,
		    strlen(s + INCLUDE_PREFIX_LEN));
		if (v[0] != '/') {
			free(v);
			*err = ":include: needs an absolute path";
			return (PM_EINVAL);
		}
		*kind = PM_ALIAS_INCLUDE;
	} else {
		return (PM_ENOENT);
	}
	*value = v;
	return (0);
}

/*
 * An unquoted address: no white space and no ':' outside quotes and
 * [literals] (a ':' is a "name: value" line where only targets may be).
 */
static int
check_address(const char *s, const char **err)
{
	size_t i, len = strlen(s), q;
	int bracket = 0;

	if (len == 0) {
		*err = "empty address";
		return (PM_EINVAL);
	}
	if (len > PM_ADDR_MAX) {
		*err = "address too long";
		return (PM_ETOOBIG);
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '"') {
			if ((q = quoted_len(s + i, len - i)) == 0) {
				*err = "unbalanced quote";
				return (PM_EINVAL);
			}
			i += q - 1;
		} else if (s[i] == '[') {
			bracket = 1;
		} else if (s[i] == ']') {
			bracket = 0;
		} else if (is_blank(s[i])) {
			*err = "unquoted white space in address";
			return (PM_EINVAL);
		} else if (s[i] == ':' && !bracket) {
			*err = "unquoted ':' in address";
			return (PM_EINVAL);
		} else if (s[i] == '<' || s[i] == '>' || s[i] == ',') {
			*err = "misplaced '<', '>' or ','";
			return (PM_EINVAL);
		}
	}
	return (0);
}

static int
classify(const char *t, size_t len, pm_alias_list *l, const char **err)
{
	pm_alias_kind kind = PM_ALIAS_ADDRESS;
	char *text, *inner, *value = NULL;
	int noalias = 0, rc;
	size_t q;

	if (len > PM_ALIAS_TARGET_MAX) {
		*err = "target too long";
		return (PM_ETOOBIG);
	}
	if (l->n >= PM_ALIAS_TARGETS_MAX) {
		*err = "too many targets";
		return (PM_ETOOBIG);
	}
	text = pm_strndup(t, len);
	if (text[0] == '"' && (q = quoted_len(text, len)) == len) {
		/* One quoted string: "|cmd, x", "/a file", ":include:/x". */
		inner = unquote(text, len);
		rc = classify_special(inner, &kind, &value, err);
		free(inner);
		if (rc == PM_ENOENT) {
			/* "a b" is a local part in quoted form. */
			kind = PM_ALIAS_ADDRESS;
			value = text;
			text = NULL;
			rc = 0;
		}
		goto out;
	}
	rc = classify_special(text, &kind, &value, err);
	if (rc == 0 && kind != PM_ALIAS_COMMAND && has_blank(value)) {
		*err = "unquoted white space in file name";
		rc = PM_EINVAL;
	}
	if (rc != PM_ENOENT) {
		goto out;
	}
	kind = PM_ALIAS_ADDRESS;
	inner = text;
	if (inner[0] == '\\') {
		noalias = 1;
		inner++;
	}
	if (inner[0] == '<') {
		q = strlen(inner);
		if (q < 2 || inner[q - 1] != '>') {
			*err = "misplaced '<', '>' or ','";
			rc = PM_EINVAL;
			goto out;
		}
		inner[q - 1] = 0;
		inner++;
	}
	if ((rc = check_address(inner, err)) == 0) {
		value = pm_strdup(inner);
	}
out:
	free(text);
	if (rc != 0) {
		free(value);
		return (rc);
	}
	list_add(l, kind, noalias, value);
	return (0);
}

/* Append the targets of value to l (on error l may hold some of them). */
static int
split_into(const char *value, pm_alias_list *l, const char **err)
{
	const char *p = value, *start, *end = value + strlen(value);
	int angle, bracket, rc;
	size_t q;

	for (;;) {
		while (is_blank(*p)) {
			p++;
		}
		if (*p == 0) {
			return (0);
		}
		start = p;
		angle = bracket = 0;
		for (; *p != 0; p++) {
			if (*p == '"') {
				/* end - p, not strlen(p): linear work. */
				if ((q = quoted_len(p, (size_t) (end - p))) ==
				    0) {
					*err = "unbalanced quote";
					return (PM_EINVAL);
				}
				p += q - 1;
			} else if (*p == '<') {
				angle++;
			} else if (*p == '>') {
				angle--;
			} else if (*p == '[') {
				bracket++;
			} else if (*p == ']') {
				bracket--;
			} else if (*p == ',' && angle == 0 && bracket == 0) {
				break;
			}
			if (angle < 0 || angle > 1 || bracket < 0 ||
			    bracket > 1) {
				*err = "unbalanced '<>' or '[]'";
				return (PM_EINVAL);
			}
		}
		if (angle != 0 || bracket != 0) {
			*err = "unbalanced '<>' or '[]'";
			return (PM_EINVAL);
		}
		q = (size_t) (p - start);
		while (q > 0 && is_blank(start[q - 1])) {
			q--;
		}
		if (q > 0 && (rc = classify(start, q, l, err)) != 0) {
			return (rc);
		}
		if (*p == ',') {
			p++;
		}
	}
}

static int
check_bytes(const char *s, size_t len, const char **err)
{
	size_t i;

	if (memchr(s, 0, len) != NULL) {
		*err = "NUL byte";
		return (PM_EINVAL);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*err = "control character";
			return (PM_EINVAL);
		}
	}
	return (0);
}

int
pm_alias_split(const char *value, pm_alias_list *out, const char **err)
{
	pm_alias_list l = { 0 };
	int rc;

	if (strlen(value) > PM_ALIAS_LINE_MAX) {
		*err = "line too long";
		return (PM_ETOOBIG);
	}
	if ((rc = check_bytes(value, strlen(value), err)) != 0) {
		return (rc);
	}
	if ((rc = split_into(value, &l, err)) != 0) {
		pm_alias_list_free(&l);
		return (rc);
	}
	*out = l;
	return (0);
}

/* ---- Lines ---- */

typedef struct reader {
	const char *p, *end;
	int lineno;        /* of the physical line at p */
	int continuations; /* 1: aliases(5), 0: :include: (every line) */
	pm_buf buf;
} reader;

static void
reader_init(reader *r, const char *data, size_t len, int continuations)
{
	r->p = data;
	r->end = data + len;
	r->lineno = 1;
	r->continuations = continuations;
	pm_buf_init(&r->buf, PM_ALIAS_LINE_MAX);
}

/*
 * The next logical line into r->buf: 1 with *first (its first line
 * number) and *why NULL, or *why set when the line is bad (it is still
 * consumed whole); 0 at the end.
 */
static int
reader_next(reader *r, int *first, const char **why)
{
	const char *eol, *s, *e;
	int started = 0;

	*why = NULL;
	pm_buf_reset(&r->buf);
	while (r->p < r->end) {
		eol = memchr(r->p, '\n', (size_t) (r->end - r->p));
		if (eol == NULL) {
			eol = r->end;
		}
		s = r->p;
		e = eol;
		while (s < e && is_blank(*s)) {
			s++;
		}
		while (e > s && is_blank(e[-1])) {
			e--;
		}
		if (s == e || *s == '#') {
			goto consumed; /* blank or comment, even inside */
		}
		if (started && (s == r->p || !r->continuations)) {
			break; /* column 1 starts the next logical line */
		}
		if (!started) {
			started = 1;
			*first = r->lineno;
			if (s != r->p && r->continuations) {
				*why = "continuation line without a "
				       "\"name: value\" line before it";
			}
		} else if (*why == NULL &&
		    pm_buf_append(&r->buf, " ", 1) != 0) {
			*why = "line too long";
		}
		if (*why == NULL) {
			if (check_bytes(s, (size_t) (e - s), why) == 0 &&
			    pm_buf_append(&r->buf, s, (size_t) (e - s)) != 0) {
				*why = "line too long";
			}
		}
consumed:
		r->p = eol < r->end ? eol + 1 : eol;
		r->lineno++;
	}
	return (started);
}

/* ---- Aliases files ---- */

void
pm_alias_file_free(pm_alias_file *f)
{
	size_t i;

	if (f == NULL) {
		return;
	}
	for (i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].value);
		pm_alias_list_free(&f->v[i].targets);
	}
	free(f->v);
	f->v = NULL;
	f->n = 0;
	f->nerrors = 0;
}

const pm_alias_entry *
pm_alias_file_find(const pm_alias_file *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		if (pm_strcaseeq(f->v[i].name, name)) {
			return (&f->v[i]);
		}
	}
	return (NULL);
}

/*
 * Split "name: value" in line (modified). Returns 0 with *name (new,
 * unquoted, lower case) and *value pointing into line.
 */
static int
split_name(char *line, char **name, char **value, const char **why)
{
	char *p = line, *n;
	size_t q;

	if (*p == '"') {
		if ((q = quoted_len(p, strlen(p))) == 0) {
			*why = "unbalanced quote in name";
			return (PM_EINVAL);
		}
		n = unquote(p, q);
		p += q;
	} else {
		while (*p && *p != ':' && !is_blank(*p) && *p != '"' &&
		    *p != '@') {
			p++;
		}
		if (*p == '"') {
			*why = "quote inside a name: quote the whole name";
			return (PM_EINVAL);
		}
		if (*p == '@') {
			*why = "name must be local (no '@')";
			return (PM_EINVAL);
		}
		n = pm_strndup(line, (size_t) (p - line));
	}
	while (is_blank(*p)) {
		p++;
	}
	if (*p != ':' || *n == 0) {
		*why = *p == 0 || *n == 0 || *p == ':' ?
		    "need name:value pair" :
		    "unquoted white space in name";
		free(n);
		return (PM_EINVAL);
	}
	if (strlen(n) > PM_ADDR_MAX) {
		*why = "name too long";
		free(n);
		return (PM_ETOOBIG);
	}
	p++;
	while (is_blank(*p)) {
		p++;
	}
	if (*p == 0) {
		*why = "need name:value pair";
		free(n);
		return (PM_EINVAL);
	}
	*name = pm_lowercase(n);
	*value = p;
	return (0);
}

int
pm_alias_parse(const char *path, const char *data, size_t len,
    pm_alias_file *out, pm_alias_err_fn fn, void *arg)
{
	pm_alias_file f = { 0 };
	pm_smap *seen = pm_smap_new(); /* names so far: duplicates */
	pm_alias_list targets;
	const char *why;
	char *name, *value;
	size_t cap = 0;
	reader r;
	int lineno = 0;

	reader_init(&r, data, len, 1);
	while (reader_next(&r, &lineno, &why)) {
		if (why == NULL) {
			(void) split_name(r.buf.data, &name, &value, &why);
		}
		if (why == NULL && pm_alias_split(value, &targets, &why) != 0) {
			free(name);
		}
		if (why == NULL && targets.n == 0) {
			why = "need name:value pair";
			free(name);
		}
		if (why == NULL && pm_smap_get(seen, name) != NULL) {
			report(fn, arg, path, lineno,
			    "duplicate entry: \"%s\" (the first one is kept)",
			    name);
			f.nerrors++;
			free(name);
			pm_alias_list_free(&targets);
			continue;
		}
		if (why == NULL && f.n >= PM_ALIAS_ENTRIES_MAX) {
			why = "too many entries in the file";
			free(name);
			pm_alias_list_free(&targets);
		}
		if (why != NULL) {
			report(fn, arg, path, lineno, "%s", why);
			f.nerrors++;
			continue;
		}
		(void) pm_smap_put(seen, name, &f);
		if (f.n == cap) {
			cap = cap ? 2 * cap : 16; /* <= 2 * ENTRIES_MAX */
			f.v = pm_realloc(f.v, cap * sizeof(*f.v));
		}
		f.v[f.n].name = name;
		f.v[f.n].value = pm_strdup(value);
		f.v[f.n].lineno = lineno;
		f.v[f.n].targets = targets;
		f.n++;
	}
	pm_buf_free(&r.buf);
	pm_smap_free(seen);
	*out = f;
	return (0);
}

/* Whole file, bounded; reports through fn with line 0. */
static int
read_file(const char *path, char **data, size_t *len, pm_alias_err_fn fn,
    void *arg)
{
	struct stat st;
	pm_buf b;
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = errno == ENOENT ? PM_ENOENT : PM_EIO;
		report(fn, arg, path, 0, "cannot open: %s", strerror(errno));
		return (rc);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		report(fn, arg, path, 0, "not a regular file");
		return (PM_EIO);
	}
	pm_buf_init(&b, PM_ALIAS_FILE_MAX);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			if (n < 0) {
				report(fn, arg, path, 0, "read: %s",
				    strerror(errno));
				rc = PM_EIO;
			}
			break;
		}
		if (pm_buf_append(&b, chunk, (size_t) n) != 0) {
			report(fn, arg, path, 0,
			    "file too large (limit %d bytes)",
			    PM_ALIAS_FILE_MAX);
			rc = PM_ETOOBIG;
			break;
		}
	}
	close(fd);
	if (rc != 0) {
		pm_buf_free(&b);
		return (rc);
	}
	*data = pm_buf_steal(&b, len);
	if (*data == NULL) {
		*data = pm_strdup("");
		*len = 0;
	}
	return (0);
}

int
pm_alias_load(const char *path, pm_alias_file *out, pm_alias_err_fn fn,
    void *arg)
{
	char *data;
	size_t len;
	int rc;

	if ((rc = read_file(path, &data, &len, fn, arg)) != 0) {
		return (rc);
	}
	rc = pm_alias_parse(path, data, len, out, fn, arg);
	free(data);
	return (rc);
}

/* ---- :include: files ---- */

int
pm_alias_include_parse(const char *path, const char *data, size_t len,
    pm_alias_list *out, size_t *nerrors, pm_alias_err_fn fn, void *arg)
{
	pm_alias_list l = { 0 }, line;
	const char *why;
	size_t i, nerr = 0;
	reader r;
	int lineno = 0;

	reader_init(&r, data, len, 0);
	while (reader_next(&r, &lineno, &why)) {
		if (why == NULL &&
		    pm_alias_split(r.buf.data, &line, &why) == 0) {
			if (l.n + line.n > PM_ALIAS_TARGETS_MAX) {
				why = "too many targets";
				pm_alias_list_free(&line);
			} else {
				for (i = 0; i < line.n; i++) {
					list_add(&l, line.v[i].kind,
					    line.v[i].noalias, line.v[i].value);
				}
				free(line.v);
			}
		}
		if (why != NULL) {
			report(fn, arg, path, lineno, "%s", why);
			nerr++;
		}
	}
	pm_buf_free(&r.buf);
	*out = l;
	if (nerrors != NULL) {
		*nerrors = nerr;
	}
	return (0);
}

int
pm_alias_include_load(const char *path, pm_alias_list *out, size_t *nerrors,
    pm_alias_err_fn fn, void *arg)
{
	char *data;
	size_t len;
	int rc;

	if ((rc = read_file(path, &data, &len, fn, arg)) != 0) {
		return (rc);
	}
	rc = pm_alias_include_parse(path, data, len, out, nerrors, fn, arg);
	free(data);
	return (rc);
}
