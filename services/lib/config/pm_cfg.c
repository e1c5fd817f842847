/*
 * NAME
 *	pm_cfg - parameter store, precedence, $name expansion, reporting
 * SUMMARY
 *	#include "pm_cfg.h"
 * DESCRIPTION
 *	See pm_cfg.h for the interface. Every parameter the process has
 *	heard of is one entry in a small hash table, holding each source
 *	of a value separately, so that the precedence is decided at lookup
 *	time:
 *
 *	    environment POSTMESH_<name>      (read at every lookup)
 *	    pm_cfg_set() (-o name=value)
 *	    main.cf
 *	    the default of a bound typed table
 *	    the library default (pm_params.c; myhostname and mydomain are
 *	    computed)
 *
 *	pm_cfg_set() beats main.cf whatever the order of the calls, so a
 *	command line "-o" always wins over the file, as with Postfix.
 *
 *	Expansion: "$name", "${name}", "$(name)"; "${name?text}" gives the
 *	expanded text when $name is non-empty, "${name:text}" when it is
 *	empty (Postfix's conditional forms; text may itself hold $refs and
 *	nested brackets); "$$" is a literal "$"; a "$" followed by anything
 *	else stays as it is. An undefined name, a reference loop or nesting
 *	deeper than 100 is warned about and expands to "". A result longer
 *	than 64 KiB is warned about and becomes "" (a truncated list could
 *	change meaning, e.g. lose a reject_* restriction); binding such a
 *	value is fatal.
 *
 *	Lifetime: strings handed out by pm_cfg_raw() stay valid until
 *	pm_cfg_reset(): a replaced value is parked, never freed early; so
 *	is the previous value of a variable bound twice (reload).
 *
 *	Thread safety: one recursive mutex guards everything; expansion
 *	runs under it. Callbacks of pm_cfg_walk() run without it.
 *
 *	The main.cf line reader, value parsers and list splitter are in
 *	pm_cfg_parse.c; the typed table binding in pm_cfg_bind.c.
 * LIMITS
 *	Logical lines up to 64 KiB (longer ones are warned about and
 *	skipped); expansion depth 100; expansion result 64 KiB.
 * SECURITY
 *	main.cf and the environment are operator input, trusted for
 *	meaning but not for form: NUL bytes, over-long lines, lines without
 *	"=" and bad names are warned about and skipped; logged text goes
 *	through pm_printable().
 */
#include "pm_cfg.h"
#include "pm_cfg_priv.h"
#include "pm_log.h"
#include "pm_util.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CFG_HASH_SIZE 256
#define CFG_ENV_PREFIX "POSTMESH_"
#define CFG_ENV_NAME_MAX 256
#define CFG_DEF_PATH "/etc/postmesh/main.cf"
#define CFG_DEF_DOMAIN "localdomain"

extern char **environ;

typedef pm__cfg_ent cfg_ent;

typedef struct cfg_grave {
	struct cfg_grave *next;
	char *s;
} cfg_grave;

/* Expansion state: the names being expanded, outermost first. */
typedef struct cfg_x {
	const char *stack[PM__CFG_DEPTH_MAX];
	int depth;
	int err;
} cfg_x;

pthread_mutex_t pm__cfg_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static cfg_ent *cfg_tab[CFG_HASH_SIZE];
static int cfg_inited;
static cfg_grave *cfg_graves; /* replaced strings, freed at reset */
static char *cfg_path;        /* main.cf last loaded */
static char *cfg_host;        /* computed myhostname */
static char *cfg_domain;      /* computed mydomain (latest) */
static char **cfg_track;      /* names looked up while tracking */
static size_t cfg_ntrack;
static int cfg_tracking;

static void cfg_expand_str(cfg_x *, pm_buf *, const char *, size_t);

void
pm__cfg_bury(char *s)
{
	cfg_grave *g;

	if (s == NULL) {
		return;
	}
	g = pm_malloc(sizeof(*g));
	g->s = s;
	g->next = cfg_graves;
	cfg_graves = g;
}

static unsigned
cfg_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++) {
		h = (h ^ (unsigned char) *s) * 16777619u;
	}
	return (h % CFG_HASH_SIZE);
}

cfg_ent *
pm__cfg_find(const char *name, int create)
{
	unsigned h = cfg_hash(name);
	cfg_ent *e;

	for (e = cfg_tab[h]; e != NULL; e = e->next) {
		if (strcmp(e->name, name) == 0) {
			return (e);
		}
	}
	if (!create) {
		return (NULL);
	}
	e = pm_calloc(1, sizeof(*e));
	e->name = pm_strdup(name);
	e->next = cfg_tab[h];
	cfg_tab[h] = e;
	return (e);
}

/* Called with the lock held by every entry point. */
void
pm__cfg_init(void)
{
	const pm_param_default *d;

	if (cfg_inited) {
		return;
	}
	cfg_inited = 1;
	for (d = pm_param_defaults; d->name != NULL; d++) {
		pm__cfg_find(d->name, 1)->lib_def = d->defval;
	}
}

int
pm__cfg_is_computed(const char *name)
{
	return (strcmp(name, "myhostname") == 0 ||
	    strcmp(name, "mydomain") == 0);
}

static int
cfg_hostname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253) {
		return (0);
	}
	for (; *s; s++) {
		if (!pm__cfg_namechar(*s) && *s != '-' && *s != '.') {
			return (0);
		}
	}
	return (1);
}

/*
 * myhostname: gethostname(); if that has no dot, the canonical name
 * from getaddrinfo(); if that has no dot either, append ".localdomain".
 */
static const char *
cfg_compute_host(void)
{
	char buf[256];
	struct addrinfo hints, *res = NULL;

	if (cfg_host != NULL) {
		return (cfg_host);
	}
	if (gethostname(buf, sizeof(buf)) != 0 || !cfg_hostname_ok(buf)) {
		snprintf(buf, sizeof(buf), "localhost");
	}
	buf[sizeof(buf) - 1] = 0;
	if (strchr(buf, '.') == NULL) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_CANONNAME;
		hints.ai_family = AF_UNSPEC;
		if (getaddrinfo(buf, NULL, &hints, &res) == 0) {
			if (res != NULL && res->ai_canonname != NULL &&
			    strchr(res->ai_canonname, '.') != NULL &&
			    cfg_hostname_ok(res->ai_canonname)) {
				cfg_host = pm_strdup(res->ai_canonname);
			}
			freeaddrinfo(res);
		}
	}
	if (cfg_host == NULL) {
		cfg_host = strchr(buf, '.') != NULL ?
		    pm_strdup(buf) :
		    pm_asprintf("%s.%s", buf, CFG_DEF_DOMAIN);
	}
	return (cfg_host);
}

static void cfg_expand_name(cfg_x *, pm_buf *, const char *, int);

/*
 * mydomain: the effective myhostname minus its first label, as Postfix:
 * "localdomain" when myhostname has fewer than two dots (a bare host
 * name, or a name that is itself a domain like "example.com").
 */
static const char *
cfg_compute_domain(cfg_x *x)
{
	cfg_x local;
	pm_buf b;
	const char *dot, *dom;

	if (x == NULL) {
		memset(&local, 0, sizeof(local));
		local.stack[local.depth++] = "mydomain";
		x = &local;
	}
	pm_buf_init(&b, PM__CFG_EXPAND_MAX);
	cfg_expand_name(x, &b, "myhostname", 0);
	if (b.data == NULL || (dot = strchr(b.data, '.')) == NULL ||
	    strchr(dot + 1, '.') == NULL) {
		dom = CFG_DEF_DOMAIN;
	} else {
		dom = dot + 1;
	}
	if (cfg_domain == NULL || strcmp(cfg_domain, dom) != 0) {
		pm__cfg_bury(cfg_domain);
		cfg_domain = pm_strdup(dom);
	}
	pm_buf_free(&b);
	return (cfg_domain);
}

/* The raw effective value of name, or NULL. x: expansion in progress. */
static const char *
cfg_raw_locked(const char *name, cfg_x *x)
{
	char env[sizeof(CFG_ENV_PREFIX) + CFG_ENV_NAME_MAX];
	const char *v;
	cfg_ent *e;

	if (strlen(name) < CFG_ENV_NAME_MAX && *name != 0) {
		snprintf(env, sizeof(env), "%s%s", CFG_ENV_PREFIX, name);
		if ((v = getenv(env)) != NULL) {
			return (v);
		}
	}
	if ((e = pm__cfg_find(name, 0)) == NULL) {
		return (NULL);
	}
	if (e->set_val != NULL) {
		return (e->set_val);
	}
	if (e->file_val != NULL) {
		return (e->file_val);
	}
	if (e->bound_def != NULL) {
		return (e->bound_def);
	}
	if (e->lib_def != NULL && strcmp(name, "myhostname") == 0) {
		return (cfg_compute_host());
	}
	if (e->lib_def != NULL && strcmp(name, "mydomain") == 0) {
		return (cfg_compute_domain(x));
	}
	return (e->lib_def);
}

static void
cfg_append(cfg_x *x, pm_buf *out, const char *s, size_t len)
{
	if (x->err == 0 && pm_buf_append(out, s, len) != 0) {
		x->err = PM_ETOOBIG;
	}
}

/* Append the expanded value of name; quiet: no warning if undefined. */
static void
cfg_expand_name(cfg_x *x, pm_buf *out, const char *name, int quiet)
{
	const char *raw;
	int i;

	if (x->err != 0) {
		return;
	}
	for (i = 0; i < x->depth; i++) {
		if (strcmp(x->stack[i], name) == 0) {
			pm_msg_warn("parameter %s: recursive expansion of $%s, "
			            "using empty value",
			    x->stack[0], name);
			return;
		}
	}
	if (x->depth >= PM__CFG_DEPTH_MAX) {
		pm_msg_warn("parameter %s: expansion nested deeper than %d "
		            "at $%s, using empty value",
		    x->stack[0], PM__CFG_DEPTH_MAX, name);
		return;
	}
	x->stack[x->depth++] = name;
	if ((raw = cfg_raw_locked(name, x)) == NULL) {
		if (!quiet) {
			pm_msg_warn("undefined parameter: $%s, using empty "
			            "value",
			    name);
		}
	} else {
		cfg_expand_str(x, out, raw, strlen(raw));
	}
	x->depth--;
}

/*
 * s[i] is '{' or '(' after a '$'. Expand ${name}, ${name?text} or
 * ${name:text}; return the index after the group. A malformed group
 * is warned about and its "$" kept literally (returns i).
 */
static size_t
cfg_expand_group(cfg_x *x, pm_buf *out, const char *s, size_t len, size_t i)
{
	char open = s[i], close = open == '{' ? '}' : ')', op;
	size_t p = i + 1, vstart;
	int level = 1, nonempty;
	char *name;
	pm_buf tmp;

	while (p < len && pm__cfg_namechar((unsigned char) s[p])) {
		p++;
	}
	if (p == i + 1 || p >= len ||
	    (s[p] != close && s[p] != '?' && s[p] != ':')) {
		goto bad;
	}
	name = pm_strndup(s + i + 1, p - i - 1);
	if (s[p] == close) {
		cfg_expand_name(x, out, name, 0);
		free(name);
		return (p + 1);
	}
	op = s[p++];
	for (vstart = p; p < len; p++) {
		if (s[p] == open) {
			level++;
		} else if (s[p] == close && --level == 0) {
			break;
		}
	}
	if (p >= len) {
		free(name);
		goto bad;
	}
	pm_buf_init(&tmp, PM__CFG_EXPAND_MAX);
	cfg_expand_name(x, &tmp, name, 1);
	nonempty = tmp.len > 0;
	pm_buf_free(&tmp);
	free(name);
	if ((op == '?' && nonempty) || (op == ':' && !nonempty)) {
		cfg_expand_str(x, out, s + vstart, p - vstart);
	}
	return (p + 1);

bad:
	pm_msg_warn("parameter %s: malformed $%c reference in \"%.*s\"",
	    x->depth > 0 ? x->stack[0] : "(value)", open,
	    (int) (len < 100 ? len : 100), s);
	cfg_append(x, out, "$", 1);
	return (i);
}

static void
cfg_expand_str(cfg_x *x, pm_buf *out, const char *s, size_t len)
{
	size_t i = 0, start;
	char *name;

	while (i < len && x->err == 0) {
		for (start = i; i < len && s[i] != '$'; i++) {
			;
		}
		cfg_append(x, out, s + start, i - start);
		if (i++ >= len) {
			break;
		}
		if (i < len && s[i] == '$') {
			cfg_append(x, out, "$", 1);
			i++;
		} else if (i < len && (s[i] == '{' || s[i] == '(')) {
			i = cfg_expand_group(x, out, s, len, i);
		} else if (i < len && pm__cfg_namechar((unsigned char) s[i])) {
			for (start = i;
			     i < len && pm__cfg_namechar((unsigned char) s[i]);
			     i++) {
				;
			}
			name = pm_strndup(s + start, i - start);
			cfg_expand_name(x, out, name, 0);
			free(name);
		} else {
			cfg_append(x, out, "$", 1);
		}
	}
}

/*
 * Parameters whose value is a template with macros of their own
 * ($rbl_code, ...), never expanded as main.cf parameters: Postfix's
 * "raw" parameters.
 */
static const char *const cfg_raw_params[] = {
	"default_rbl_reply",
	"forward_path",    /* local: $home, $user, $extension ... */
	"luser_relay",     /* local: $user, $extension ... */
	"mailbox_command", /* local: the same, per recipient */
	"pipe_argv",       /* pipe's own ${sender} ... (services/pipe) */
	NULL,
};

static int
cfg_is_raw(const char *name)
{
	size_t i;

	for (i = 0; cfg_raw_params[i] != NULL; i++) {
		if (strcmp(name, cfg_raw_params[i]) == 0) {
			return (1);
		}
	}
	return (0);
}

/*
 * Expanded value of name (a new string), or NULL if unknown. *errp gets
 * PM_ETOOBIG when the result was over the limit (then it is "").
 */
char *
pm__cfg_get_locked(const char *name, int *errp)
{
	const char *raw;
	cfg_x x;
	pm_buf b;

	*errp = 0;
	if (cfg_tracking) {
		cfg_track = pm_realloc(cfg_track,
		    (cfg_ntrack + 2) * sizeof(*cfg_track));
		cfg_track[cfg_ntrack++] = pm_strdup(name);
		cfg_track[cfg_ntrack] = NULL;
	}
	if ((raw = cfg_raw_locked(name, NULL)) == NULL) {
		return (NULL);
	}
	if (cfg_is_raw(name)) {
		return (pm_strdup(raw));
	}
	memset(&x, 0, sizeof(x));
	pm_buf_init(&b, PM__CFG_EXPAND_MAX);
	cfg_expand_name(&x, &b, name, 0);
	if (x.err != 0) {
		pm_msg_warn("parameter %s: value longer than %d bytes after "
		            "expansion, using empty value",
		    name, PM__CFG_EXPAND_MAX);
		pm_buf_reset(&b);
		*errp = x.err;
	}
	return (pm_buf_steal(&b, NULL));
}

const char *
pm_cfg_raw(const char *name)
{
	const char *v;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	v = cfg_raw_locked(name, NULL);
	pthread_mutex_unlock(&pm__cfg_lock);
	return (v);
}

char *
pm_cfg_get(const char *name)
{
	char *v;
	int err;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	v = pm__cfg_get_locked(name, &err);
	pthread_mutex_unlock(&pm__cfg_lock);
	return (v);
}

char *
pm_cfg_expand(const char *value)
{
	cfg_x x;
	pm_buf b;

	if (value == NULL) {
		return (pm_strdup(""));
	}
	memset(&x, 0, sizeof(x));
	pm_buf_init(&b, PM__CFG_EXPAND_MAX);
	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	cfg_expand_str(&x, &b, value, strlen(value));
	if (x.err != 0) {
		pm_msg_warn("value longer than %d bytes after expansion, "
		            "using empty value",
		    PM__CFG_EXPAND_MAX);
		pm_buf_reset(&b);
	}
	pthread_mutex_unlock(&pm__cfg_lock);
	return (pm_buf_steal(&b, NULL));
}

void
pm_cfg_track_begin(void)
{
	pthread_mutex_lock(&pm__cfg_lock);
	cfg_tracking = 1;
	pthread_mutex_unlock(&pm__cfg_lock);
}

char **
pm_cfg_track_end(void)
{
	char **v;

	pthread_mutex_lock(&pm__cfg_lock);
	cfg_tracking = 0;
	v = cfg_track != NULL ? cfg_track : pm_calloc(1, sizeof(*v));
	cfg_track = NULL;
	cfg_ntrack = 0;
	pthread_mutex_unlock(&pm__cfg_lock);
	return (v);
}

void
pm_cfg_set(const char *name, const char *value)
{
	cfg_ent *e;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	e = pm__cfg_find(name, 1);
	pm__cfg_bury(e->set_val);
	e->set_val = value != NULL ? pm_strdup(value) : NULL;
	pthread_mutex_unlock(&pm__cfg_lock);
}

void
pm_cfg_reset(void)
{
	cfg_ent *e, *next;
	cfg_grave *g;
	int i;

	pthread_mutex_lock(&pm__cfg_lock);
	for (i = 0; i < CFG_HASH_SIZE; i++) {
		for (e = cfg_tab[i]; e != NULL; e = next) {
			next = e->next;
			free(e->name);
			free(e->file_val);
			free(e->set_val);
			free(e->bound_def);
			free(e);
		}
		cfg_tab[i] = NULL;
	}
	while ((g = cfg_graves) != NULL) {
		cfg_graves = g->next;
		free(g->s);
		free(g);
	}
	free(cfg_path);
	free(cfg_host);
	free(cfg_domain);
	cfg_path = cfg_host = cfg_domain = NULL;
	cfg_inited = 0;
	/* cfg_owned stays: bound variables still point at those values. */
	pthread_mutex_unlock(&pm__cfg_lock);
}

/* pm__cfg_read() callback: a main.cf line, lock held. */
static void
cfg_store(const char *name, const char *value)
{
	cfg_ent *e = pm__cfg_find(name, 1);

	pm__cfg_bury(e->file_val);
	e->file_val = pm_strdup(value);
}

char *
pm_cfg_main_path(const char *config_dir)
{
	const char *mc;

	if (config_dir != NULL) {
		return (pm_asprintf("%s/main.cf", config_dir));
	}
	if ((mc = getenv("MAIL_CONFIG")) != NULL && *mc != 0) {
		return (pm_asprintf("%s/main.cf", mc));
	}
	return (pm_strdup(CFG_DEF_PATH));
}

int
pm_cfg_load(const char *path)
{
	char *tmp = NULL;
	FILE *fp;
	cfg_ent *e;
	int i, rc;

	if (path == NULL) {
		path = tmp = pm_cfg_main_path(NULL);
	}
	fp = fopen(path, "re");
	if (fp == NULL && errno != ENOENT) {
		pm_msg_error("open %s: %s", path, strerror(errno));
		free(tmp);
		return (PM_EIO);
	}
	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	/* A reload replaces everything main.cf said before. */
	for (i = 0; i < CFG_HASH_SIZE; i++) {
		for (e = cfg_tab[i]; e != NULL; e = e->next) {
			pm__cfg_bury(e->file_val);
			e->file_val = NULL;
		}
	}
	pm__cfg_bury(cfg_path);
	cfg_path = pm_strdup(path);
	if (fp == NULL) {
		pm_msg_info("%s: not found, using built-in defaults and "
		            "environment",
		    path);
		rc = 0;
	} else {
		rc = pm__cfg_read(fp, path, cfg_store);
		fclose(fp);
	}
	pthread_mutex_unlock(&pm__cfg_lock);
	free(tmp);
	return (rc);
}

/* Reporting. */

static int
cfg_ent_cmp(const void *a, const void *b)
{
	return (strcmp((*(cfg_ent *const *) a)->name,
	    (*(cfg_ent *const *) b)->name));
}

/* Entries (known == 1: known ones, 0: unknown ones), sorted by name. */
static cfg_ent **
cfg_collect(int known, size_t *np)
{
	cfg_ent **v = NULL, *e;
	size_t n = 0, cap = 0;
	int i;

	for (i = 0; i < CFG_HASH_SIZE; i++) {
		for (e = cfg_tab[i]; e != NULL; e = e->next) {
			if ((e->lib_def != NULL || e->bound) != known) {
				continue;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 128;
				v = pm_realloc(v, cap * sizeof(*v));
			}
			v[n++] = e;
		}
	}
	if (n > 0) {
		qsort(v, n, sizeof(*v), cfg_ent_cmp);
	}
	*np = n;
	return (v);
}

/*
 * Every parameter some Postmesh service knows: the names of
 * docs/configuration.md (generated from the binaries' -d output and
 * checked against them by test_docs), embedded at build time. One
 * main.cf serves every role, so smtpd_tls_security_level in cleanup's
 * main.cf is not a typo, and only a name NO service knows is warned
 * about, as postconf does.
 */
static const char *const cfg_all_names[] = {
#include "pm_param_names.h"
	NULL,
};

static int
cfg_known_elsewhere(const char *name)
{
	size_t i;

	for (i = 0; cfg_all_names[i] != NULL; i++) {
		if (strcmp(cfg_all_names[i], name) == 0) {
			return (1);
		}
	}
	return (0);
}

static void
cfg_warn_unused(const char *where, const char *name, const char *value)
{
	char *show;

	if (cfg_known_elsewhere(name)) {
		return;
	}
	show = pm_printable_dup(value, strlen(value), 200);

	pm_msg_warn("%s: unused parameter: %s=%s", where, name, show);
	free(show);
}

void
pm_cfg_warn_unknown(void)
{
	cfg_ent **v, *e;
	size_t n, i, len;
	char **ep, *name;
	const char *p, *s;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	v = cfg_collect(0, &n);
	for (i = 0; i < n; i++) {
		if (v[i]->file_val != NULL) {
			cfg_warn_unused(cfg_path ? cfg_path : "main.cf",
			    v[i]->name, v[i]->file_val);
		}
		if (v[i]->set_val != NULL) {
			cfg_warn_unused("command line", v[i]->name,
			    v[i]->set_val);
		}
	}
	free(v);
	/*
	 * POSTMESH_<name> with a parameter-like (lower case) name that
	 * nothing knows is most likely a typo. Upper-case names such as
	 * POSTMESH_VERBOSE are other settings, not parameters.
	 */
	for (ep = environ; ep != NULL && *ep != NULL; ep++) {
		if (strncmp(*ep, CFG_ENV_PREFIX, strlen(CFG_ENV_PREFIX)) != 0) {
			continue;
		}
		s = *ep + strlen(CFG_ENV_PREFIX);
		for (p = s; *p && *p != '=' &&
		     ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		         *p == '_');
		     p++) {
			;
		}
		if (*p != '=' || p == s) {
			continue;
		}
		len = (size_t) (p - s);
		name = pm_strndup(s, len);
		e = pm__cfg_find(name, 0);
		if (e == NULL || (e->lib_def == NULL && !e->bound)) {
			cfg_warn_unused("environment", name, p + 1);
		}
		free(name);
	}
	pthread_mutex_unlock(&pm__cfg_lock);
}

void
pm_cfg_walk(void (*fn)(const char *name, const char *defval, const char *value,
                void *arg),
    void *arg)
{
	cfg_ent **v;
	char **names, **defs, *value;
	const char *d;
	size_t n, i;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	v = cfg_collect(1, &n);
	names = pm_calloc(n + 1, sizeof(*names));
	defs = pm_calloc(n + 1, sizeof(*defs));
	for (i = 0; i < n; i++) {
		names[i] = pm_strdup(v[i]->name);
		if (v[i]->bound_def != NULL) {
			d = v[i]->bound_def;
		} else if (strcmp(v[i]->name, "myhostname") == 0) {
			d = cfg_compute_host();
		} else if (strcmp(v[i]->name, "mydomain") == 0) {
			d = cfg_compute_domain(NULL);
		} else {
			d = v[i]->lib_def != NULL ? v[i]->lib_def : "";
		}
		defs[i] = pm_strdup(d);
	}
	free(v);
	pthread_mutex_unlock(&pm__cfg_lock);
	for (i = 0; i < n; i++) {
		value = pm_cfg_get(names[i]);
		fn(names[i], defs[i], value != NULL ? value : "", arg);
		free(value);
		free(names[i]);
		free(defs[i]);
	}
	free(names);
	free(defs);
}

int
pm_cfg_known(const char *name)
{
	cfg_ent *e;
	int known;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	e = pm__cfg_find(name, 0);
	known = e != NULL && (e->lib_def != NULL || e->bound);
	pthread_mutex_unlock(&pm__cfg_lock);
	return (known);
}

typedef struct cfg_fileset {
	char *name;
	char *value;
	int known;
} cfg_fileset;

static int
cfg_fileset_cmp(const void *a, const void *b)
{
	return (strcmp(((const cfg_fileset *) a)->name,
	    ((const cfg_fileset *) b)->name));
}

void
pm_cfg_walk_file(void (*fn)(const char *name, const char *value, int known,
                     void *arg),
    void *arg)
{
	cfg_fileset *v = NULL;
	size_t n = 0, cap = 0, i;
	cfg_ent *e;
	int h;

	pthread_mutex_lock(&pm__cfg_lock);
	pm__cfg_init();
	for (h = 0; h < CFG_HASH_SIZE; h++) {
		for (e = cfg_tab[h]; e != NULL; e = e->next) {
			if (e->file_val == NULL) {
				continue;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				v = pm_realloc(v, cap * sizeof(*v));
			}
			v[n].name = pm_strdup(e->name);
			v[n].value = pm_strdup(e->file_val);
			v[n++].known = e->lib_def != NULL || e->bound;
		}
	}
	pthread_mutex_unlock(&pm__cfg_lock);
	if (n > 0) {
		qsort(v, n, sizeof(*v), cfg_fileset_cmp);
	}
	for (i = 0; i < n; i++) {
		fn(v[i].name, v[i].value, v[i].known, arg);
		free(v[i].name);
		free(v[i].value);
	}
	free(v);
}
