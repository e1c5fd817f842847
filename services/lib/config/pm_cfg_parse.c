/*
 * NAME
 *	pm_cfg_parse - main.cf line reader, value parsers and list splitter
 * SUMMARY
 *	#include "pm_cfg.h"
 * DESCRIPTION
 *	The stateless half of pm_cfg (see pm_cfg.h):
 *
 *	pm__cfg_read() turns main.cf into name/value pairs. A logical line
 *	starts with a non-blank character; a physical line that starts with
 *	white space continues it (joined with one space); blank lines and
 *	lines whose first non-blank character is '#' are skipped and do not
 *	end a logical line. "#" anywhere else is part of the value, as in
 *	Postfix. Trailing white space, CR included (CRLF files), is
 *	dropped; the value is everything after the first '=', trimmed.
 *
 *	pm_cfg_parse_long(), _time(), _bool() parse bound values strictly:
 *	no surrounding white space, no trailing garbage, no overflow.
 *
 *	pm_cfg_list() splits a list value on white space and commas,
 *	keeping {...} groups (nested) whole.
 * LIMITS
 *	A physical or logical line over 64 KiB is warned about and skipped
 *	(the rest of an over-long physical line is read and discarded).
 * SECURITY
 *	A line with a NUL byte, without '=', with a bad name or a
 *	continuation without a line to continue is warned about (text made
 *	printable) and skipped; nothing in the file is fatal here.
 */
#include "pm_cfg.h"
#include "pm_cfg_priv.h"
#include "pm_log.h"
#include "pm_util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct cfg_rd {
	const char *path;
	void (*store)(const char *, const char *);
	pm_buf logical;
	int line; /* where the logical line started */
	int active;
	int nul;
	int too_long;
} cfg_rd;

static void
cfg_parse_line(cfg_rd *r, char *s)
{
	char *eq, *name, *value, *p, *show;

	if ((eq = strchr(s, '=')) == NULL) {
		show = pm_printable_dup(s, strlen(s), 100);
		pm_msg_warn("%s, line %d: missing '=' after parameter name: "
		            "\"%s\", line skipped",
		    r->path, r->line, show);
		free(show);
		return;
	}
	*eq = 0;
	name = pm_trim(s);
	value = pm_trim(eq + 1);
	for (p = name; *p && pm__cfg_namechar((unsigned char) *p); p++) {
		;
	}
	if (*name == 0 || *p != 0) {
		show = pm_printable_dup(name, strlen(name), 100);
		pm_msg_warn("%s, line %d: bad parameter name: \"%s\", line "
		            "skipped",
		    r->path, r->line, show);
		free(show);
		return;
	}
	r->store(name, value);
}

static void
cfg_flush(cfg_rd *r)
{
	if (!r->active) {
		return;
	}
	if (r->too_long) {
		pm_msg_warn("%s, line %d: logical line longer than %d bytes, "
		            "skipped",
		    r->path, r->line, PM__CFG_LINE_MAX);
	} else if (r->nul) {
		pm_msg_warn("%s, line %d: NUL byte in line, skipped", r->path,
		    r->line);
	} else {
		cfg_parse_line(r, r->logical.data);
	}
	pm_buf_reset(&r->logical);
	r->active = r->nul = r->too_long = 0;
}

static void
cfg_physical(cfg_rd *r, const char *data, size_t len, int too_long, int lineno)
{
	size_t p = 0;

	while (len > 0 && pm__cfg_space((unsigned char) data[len - 1])) {
		len--;
	}
	while (p < len && pm__cfg_space((unsigned char) data[p])) {
		p++;
	}
	if ((p == len && !too_long) || (p < len && data[p] == '#')) {
		return; /* blank or comment */
	}
	if (p > 0) {
		if (!r->active) {
			pm_msg_warn("%s, line %d: continuation line without "
			            "a parameter line before it, skipped",
			    r->path, lineno);
			return;
		}
		if (pm_buf_append(&r->logical, " ", 1) != 0) {
			r->too_long = 1;
		}
	} else {
		cfg_flush(r);
		r->active = 1;
		r->line = lineno;
	}
	if (too_long || pm_buf_append(&r->logical, data + p, len - p) != 0) {
		r->too_long = 1;
	}
	if (memchr(data + p, 0, len - p) != NULL) {
		r->nul = 1;
	}
}

int
pm__cfg_read(FILE *fp, const char *path,
    void (*store)(const char *name, const char *value))
{
	cfg_rd r;
	pm_buf phys;
	int c = 0, lineno = 0, got, too_long, rc = 0;
	char ch;

	memset(&r, 0, sizeof(r));
	r.path = path;
	r.store = store;
	pm_buf_init(&r.logical, PM__CFG_LINE_MAX);
	pm_buf_init(&phys, PM__CFG_LINE_MAX);
	while (c != EOF) {
		pm_buf_reset(&phys);
		got = too_long = 0;
		while ((c = getc(fp)) != EOF) {
			got = 1;
			if (c == '\n') {
				break;
			}
			ch = (char) c;
			if (!too_long && pm_buf_append(&phys, &ch, 1) != 0) {
				too_long = 1;
			}
		}
		if (!got) {
			break;
		}
		lineno++;
		cfg_physical(&r, phys.data != NULL ? phys.data : "", phys.len,
		    too_long, lineno);
	}
	cfg_flush(&r);
	if (ferror(fp)) {
		pm_msg_error("read %s: %s", path, strerror(errno));
		rc = PM_EIO;
	}
	pm_buf_free(&phys);
	pm_buf_free(&r.logical);
	return (rc);
}

int
pm_cfg_parse_long(const char *s, long *val)
{
	const char *p = s;
	char *end;
	long v;

	if (s == NULL) {
		return (PM_EINVAL);
	}
	if (*p == '-' || *p == '+') {
		p++;
	}
	if (*p < '0' || *p > '9') {
		return (PM_EINVAL);
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != 0) {
		return (PM_EINVAL);
	}
	*val = v;
	return (0);
}

static long
cfg_unit_secs(int c)
{
	switch (c) {
	case 's':
		return (1);
	case 'm':
		return (60);
	case 'h':
		return (3600);
	case 'd':
		return (86400);
	case 'w':
		return (7 * 86400);
	default:
		return (0);
	}
}

int
pm_cfg_parse_time(const char *s, char defunit, long *secs)
{
	long n, mult;
	char *end;

	if (s == NULL || *s < '0' || *s > '9' || cfg_unit_secs(defunit) == 0) {
		return (PM_EINVAL);
	}
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0) {
		return (PM_EINVAL);
	}
	if (*end == 0) {
		mult = cfg_unit_secs(defunit);
	} else if (end[1] != 0 || (mult = cfg_unit_secs(*end)) == 0) {
		return (PM_EINVAL);
	}
	if (n > LONG_MAX / mult) {
		return (PM_EINVAL);
	}
	*secs = n * mult;
	return (0);
}

int
pm_cfg_parse_bool(const char *s, int *val)
{
	static const char *yes[] = { "yes", "true", "1", "on", NULL };
	static const char *no[] = { "no", "false", "0", "off", NULL };
	int i;

	for (i = 0; s != NULL && yes[i] != NULL; i++) {
		if (pm_strcaseeq(s, yes[i])) {
			*val = 1;
			return (0);
		}
		if (pm_strcaseeq(s, no[i])) {
			*val = 0;
			return (0);
		}
	}
	return (PM_EINVAL);
}

static int
cfg_list_sep(int c)
{
	return (c == ',' || pm__cfg_space(c));
}

char **
pm_cfg_list(const char *value, size_t *np)
{
	char **v;
	size_t n = 0, cap = 8;
	const char *p = value != NULL ? value : "", *start;
	int level;

	v = pm_malloc(cap * sizeof(*v));
	for (;;) {
		while (*p && cfg_list_sep((unsigned char) *p)) {
			p++;
		}
		if (*p == 0) {
			break;
		}
		for (start = p, level = 0; *p; p++) {
			if (*p == '{') {
				level++;
			} else if (*p == '}' && level > 0) {
				level--;
			} else if (level == 0 &&
			    cfg_list_sep((unsigned char) *p)) {
				break;
			}
		}
		if (n + 1 >= cap) {
			cap *= 2;
			v = pm_realloc(v, cap * sizeof(*v));
		}
		v[n++] = pm_strndup(start, (size_t) (p - start));
	}
	v[n] = NULL;
	if (np != NULL) {
		*np = n;
	}
	return (v);
}

void
pm_cfg_list_free(char **list)
{
	char **p;

	if (list == NULL) {
		return;
	}
	for (p = list; *p != NULL; p++) {
		free(*p);
	}
	free(list);
}
