/*
 * NAME
 *	test_cfg - unit tests of pm_cfg (main.cf, precedence, expansion,
 *	typed tables, lists, pm_params.c)
 * DESCRIPTION
 *	Table-driven. main.cf files are written to a temporary directory;
 *	warnings are read back by pointing fd 1 (where pm_log writes) at a
 *	temporary file. Fatal configuration errors run in a fork()ed child
 *	whose exit status and output are checked. Hostile input: NUL bytes,
 *	over-long physical and logical lines, CRLF, bare CR, lines without
 *	'=', bad names, reference loops, deep nesting, over-long results.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pm_cfg.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_util.h"

/* Output capture: fd 1 goes to an unlinked temporary file. */
typedef struct cap {
	int saved;
	int fd;
} cap;

static void
cap_start(cap *c)
{
	char tmpl[] = "/tmp/test_cfg_capXXXXXX";

	fflush(stdout);
	c->fd = mkstemp(tmpl);
	cr_assert(c->fd >= 0, "mkstemp failed");
	unlink(tmpl);
	c->saved = dup(1);
	cr_assert(dup2(c->fd, 1) == 1, "dup2 failed");
}

static char *
read_fd_all(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *buf = pm_malloc((size_t) size + 1);
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, (size_t) size);
	buf[n > 0 ? n : 0] = 0;
	return (buf);
}

static char *
cap_end(cap *c)
{
	char *out;

	fflush(stdout);
	dup2(c->saved, 1);
	close(c->saved);
	out = read_fd_all(c->fd);
	close(c->fd);
	return (out);
}

static int
count_substr(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return (n);
}

/* A temporary directory with one main.cf (len 0: strlen). */
static char tmp_dir[64];
static char tmp_file[128];

static const char *
write_maincf(const char *data, size_t len)
{
	FILE *fp;

	if (len == 0) {
		len = strlen(data);
	}
	if (tmp_dir[0] == 0) {
		snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test_cfg_XXXXXX");
		cr_assert(mkdtemp(tmp_dir) != NULL, "mkdtemp failed");
	}
	snprintf(tmp_file, sizeof(tmp_file), "%s/main.cf", tmp_dir);
	fp = fopen(tmp_file, "w");
	cr_assert(fp != NULL, "fopen %s failed", tmp_file);
	cr_assert(fwrite(data, 1, len, fp) == len, "short write");
	fclose(fp);
	return (tmp_file);
}

static void
tmp_cleanup(void)
{
	if (tmp_dir[0] != 0) {
		unlink(tmp_file);
		rmdir(tmp_dir);
	}
}

static int
eq_or_null(const char *a, const char *b)
{
	return ((a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0));
}

Test(cfg, parse_helpers)
{
	static const struct {
		const char *in;
		int rc;
		long want;
	} longs[] = {
		{ "0", 0, 0 },
		{ "10240000", 0, 10240000 },
		{ "-5", 0, -5 },
		{ "+7", 0, 7 },
		{ "9223372036854775807", 0, 9223372036854775807L },
		{ "9223372036854775808", PM_EINVAL, 0 },
		{ "-9223372036854775809", PM_EINVAL, 0 },
		{ "12abc", PM_EINVAL, 0 },
		{ "", PM_EINVAL, 0 },
		{ " 1", PM_EINVAL, 0 },
		{ "1 ", PM_EINVAL, 0 },
		{ "-", PM_EINVAL, 0 },
		{ "0x10", PM_EINVAL, 0 },
		{ "1e3", PM_EINVAL, 0 },
		{ "1\n", PM_EINVAL, 0 },
		{ NULL, PM_EINVAL, 0 },
	};
	static const struct {
		const char *in;
		char unit;
		int rc;
		long want;
	} times[] = {
		{ "0", 's', 0, 0 },
		{ "10s", 's', 0, 10 },
		{ "10", 's', 0, 10 },
		{ "10", 'm', 0, 600 },
		{ "2m", 's', 0, 120 },
		{ "1h", 's', 0, 3600 },
		{ "1d", 'h', 0, 86400 },
		{ "2w", 's', 0, 1209600 },
		{ "3600s", 'h', 0, 3600 },
		{ "10x", 's', PM_EINVAL, 0 },
		{ "10ss", 's', PM_EINVAL, 0 },
		{ "1h30m", 's', PM_EINVAL, 0 },
		{ "s", 's', PM_EINVAL, 0 },
		{ "", 's', PM_EINVAL, 0 },
		{ "-1", 's', PM_EINVAL, 0 },
		{ " 1", 's', PM_EINVAL, 0 },
		{ "1 s", 's', PM_EINVAL, 0 },
		{ "10", 'x', PM_EINVAL, 0 },
		{ "99999999999999999999", 's', PM_EINVAL, 0 },
		{ "9223372036854775807w", 's', PM_EINVAL, 0 },
		{ "15250284452471w", 's', 0, 9223372036854460800L },
		{ "15250284452472w", 's', PM_EINVAL, 0 },
		{ NULL, 's', PM_EINVAL, 0 },
	};
	static const struct {
		const char *in;
		int rc;
		int want;
	} bools[] = {
		{ "yes", 0, 1 }, { "YES", 0, 1 }, { "true", 0, 1 },
		{ "1", 0, 1 }, { "on", 0, 1 }, { "no", 0, 0 },
		{ "No", 0, 0 }, { "false", 0, 0 }, { "0", 0, 0 },
		{ "off", 0, 0 }, { "", PM_EINVAL, 0 },
		{ "maybe", PM_EINVAL, 0 }, { "yes ", PM_EINVAL, 0 },
		{ "2", PM_EINVAL, 0 }, { NULL, PM_EINVAL, 0 },
	};
	size_t i;
	long l;
	int b, rc;

	for (i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
		l = -4242;
		rc = pm_cfg_parse_long(longs[i].in, &l);
		cr_expect(rc == longs[i].rc,
		    "parse_long(%s): got rc %d, want %d", longs[i].in, rc,
		    longs[i].rc);
		cr_expect(rc != 0 || l == longs[i].want,
		    "parse_long(%s): got %ld, want %ld", longs[i].in, l,
		    longs[i].want);
		cr_expect(rc == 0 || l == -4242,
		    "parse_long(%s): output touched on failure", longs[i].in);
	}
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		l = -4242;
		rc = pm_cfg_parse_time(times[i].in, times[i].unit, &l);
		cr_expect(rc == times[i].rc,
		    "parse_time(%s, %c): got rc %d, want %d", times[i].in,
		    times[i].unit, rc, times[i].rc);
		cr_expect(rc != 0 || l == times[i].want,
		    "parse_time(%s, %c): got %ld, want %ld", times[i].in,
		    times[i].unit, l, times[i].want);
	}
	for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		b = -1;
		rc = pm_cfg_parse_bool(bools[i].in, &b);
		cr_expect(rc == bools[i].rc,
		    "parse_bool(%s): got rc %d, want %d", bools[i].in, rc,
		    bools[i].rc);
		cr_expect(rc != 0 || b == bools[i].want,
		    "parse_bool(%s): got %d, want %d", bools[i].in, b,
		    bools[i].want);
	}
}

/* main.cf parsing: one file with every case, then a table of lookups. */
Test(cfg, maincf_parse)
{
	static const struct {
		const char *name;
		const char *want; /* NULL: must not be set */
	} want[] = {
		{ "orphan", NULL },
		{ "plain", "value" },
		{ "spaced", "lots of   space" },
		{ "eq", "a=b=c" },
		{ "crlf", "windows" },
		{ "barecr", "a\rb" },
		{ "cont", "first second third" },
		{ "cont2", "x y" },
		{ "hash", "a # not a comment" },
		{ "empty", "" },
		{ "after_noeq", "ok" },
		{ "nul", NULL },
		{ "after_nul", "ok" },
		{ "long", NULL },
		{ "after_long", "ok" },
		{ "longcont", NULL },
		{ "after_longcont", "ok" },
		{ "bad", NULL },
		{ "dup", "two" },
		{ "mail_name", "FromFile" },
		{ "last", "no newline at end" },
	};
	pm_buf f;
	char *big, *out, warn[200];
	const char *path, *got;
	int line = 0, l_noeq, l_nul, l_long, l_longcont, l_bad, l_noname;
	size_t i;
	cap c;

	big = pm_malloc(70001);
	memset(big, 'x', 70000);
	big[70000] = 0;
	pm_buf_init(&f, 0);
#define L(s) (line++, pm_buf_puts(&f, s))
	L("  orphan = 1\n");
	L("# comment\n");
	L("\n");
	L("   # indented comment = no\n");
	L("plain = value\n");
	L("spaced    =    lots of   space   \t\n");
	L("eq = a=b=c\n");
	L("crlf = windows\r\n");
	L("barecr = a\rb\n");
	L("cont = first\n");
	L("  second\n");
	L("\tthird   \n");
	L("cont2 = x\n");
	L("# a comment inside a continued line\n");
	L("\n");
	L("  y\n");
	L("hash = a # not a comment\n");
	L("empty =\n");
	l_noeq = line + 1;
	L("noequals here\n");
	L("after_noeq = ok\n");
	l_nul = line + 1;
	line++;
	pm_buf_append(&f, "nul = a\0b\n", 10);
	L("after_nul = ok\n");
	l_long = line + 1;
	L("long = ");
	line--;
	L(big);
	line--;
	L("\n");
	L("after_long = ok\n");
	l_longcont = line + 1;
	L("longcont = start\n");
	L(" ");
	line--;
	L(big);
	line--;
	L("\n");
	L("after_longcont = ok\n");
	l_bad = line + 1;
	L("bad name = 1\n");
	l_noname = line + 1;
	L("= novalue\n");
	L("dup = one\n");
	L("dup = two\n");
	L("mail_name = FromFile\n");
	L("last = no newline at end");
#undef L
	path = write_maincf(f.data, f.len);

	cap_start(&c);
	cr_assert(pm_cfg_load(path) == 0, "pm_cfg_load failed");
	out = cap_end(&c);

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		got = pm_cfg_raw(want[i].name);
		cr_expect(eq_or_null(got, want[i].want),
		    "%s: got \"%s\", want \"%s\"", want[i].name,
		    got ? got : "(null)",
		    want[i].want ? want[i].want : "(null)");
	}
	cr_expect(strstr(out, ", line 1: continuation line without") != NULL,
	    "no warning for the orphan continuation line in:\n%s", out);
	snprintf(warn, sizeof(warn), ", line %d: missing '=' after parameter "
	    "name: \"noequals here\"", l_noeq);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	snprintf(warn, sizeof(warn), ", line %d: NUL byte", l_nul);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	snprintf(warn, sizeof(warn), ", line %d: logical line longer than "
	    "65536", l_long);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	snprintf(warn, sizeof(warn), ", line %d: logical line longer than "
	    "65536", l_longcont);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	snprintf(warn, sizeof(warn), ", line %d: bad parameter name: "
	    "\"bad name\"", l_bad);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	snprintf(warn, sizeof(warn), ", line %d: bad parameter name: \"\"",
	    l_noname);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	cr_expect(count_substr(out, "warning: ") == 7,
	    "got %d warnings, want 7:\n%s", count_substr(out, "warning: "),
	    out);
	cr_expect(count_substr(out, "\n") == count_substr(out, "warning: "),
	    "warnings not one per line:\n%s", out);
	free(out);

	/* A reload forgets what the previous file said. */
	path = write_maincf("plain = reloaded\n", 0);
	cr_assert(pm_cfg_load(path) == 0, "reload failed");
	got = pm_cfg_raw("plain");
	cr_expect(eq_or_null(got, "reloaded"), "plain after reload: got %s, "
	    "want reloaded", got ? got : "(null)");
	cr_expect(pm_cfg_raw("cont") == NULL, "cont survived the reload");

	/* Missing file: not an error; MAIL_CONFIG names the directory. */
	cap_start(&c);
	cr_expect(pm_cfg_load("/nonexistent/dir/main.cf") == 0,
	    "missing file must not be an error");
	out = cap_end(&c);
	cr_expect(strstr(out, "/nonexistent/dir/main.cf: not found") != NULL,
	    "got:\n%s\nwant a \"not found\" info line", out);
	free(out);
	cr_expect(eq_or_null(pm_cfg_raw("mail_name"), "Postmesh"),
	    "mail_name after missing file: got %s, want Postmesh",
	    pm_cfg_raw("mail_name"));
	write_maincf("mail_name = ViaMailConfig\n", 0);
	setenv("MAIL_CONFIG", tmp_dir, 1);
	cr_expect(pm_cfg_load(NULL) == 0, "load via MAIL_CONFIG failed");
	cr_expect(eq_or_null(pm_cfg_raw("mail_name"), "ViaMailConfig"),
	    "MAIL_CONFIG: got %s, want ViaMailConfig",
	    pm_cfg_raw("mail_name"));
	/* A directory is an error (read fails), not a crash. */
	cap_start(&c);
	cr_expect(pm_cfg_load(tmp_dir) == PM_EIO, "directory: want PM_EIO");
	free(cap_end(&c));

	tmp_cleanup();
	pm_buf_free(&f);
	free(big);
	pm_cfg_reset();
}

Test(cfg, precedence)
{
	static const pm_cfg_str strs[] = {
		{ "zz_table_only", "tabdef", NULL, 0, 0 },
		{ 0 },
	};
	pm_cfg_str t[2];
	char *var = NULL, *v;
	const char *path, *got;
	cap c;

	/* library default */
	cr_expect(eq_or_null(pm_cfg_raw("mail_name"), "Postmesh"),
	    "lib default: got %s, want Postmesh", pm_cfg_raw("mail_name"));
	cr_expect(eq_or_null(pm_cfg_raw("relayhost"), ""),
	    "relayhost: got %s, want empty", pm_cfg_raw("relayhost"));
	/* unknown */
	cr_expect(pm_cfg_raw("zz_nowhere") == NULL, "unknown raw not NULL");
	cr_expect(pm_cfg_get("zz_nowhere") == NULL, "unknown get not NULL");
	/* pm_cfg_set() before the file still beats the file */
	pm_cfg_set("smtpd_banner", "from set");
	path = write_maincf("mail_name = FromFile\nsmtpd_banner = file\n"
	    "zz_table_only = fromfile\n", 0);
	cr_assert(pm_cfg_load(path) == 0, "load failed");
	cr_expect(eq_or_null(pm_cfg_raw("mail_name"), "FromFile"),
	    "main.cf: got %s, want FromFile", pm_cfg_raw("mail_name"));
	cr_expect(eq_or_null(pm_cfg_raw("smtpd_banner"), "from set"),
	    "set before load: got %s, want \"from set\"",
	    pm_cfg_raw("smtpd_banner"));
	pm_cfg_set("mail_name", "FromSet");
	cr_expect(eq_or_null(pm_cfg_raw("mail_name"), "FromSet"),
	    "set: got %s, want FromSet", pm_cfg_raw("mail_name"));
	/* environment beats everything */
	setenv("POSTMESH_mail_name", "FromEnv", 1);
	cr_expect(eq_or_null(pm_cfg_raw("mail_name"), "FromEnv"),
	    "env: got %s, want FromEnv", pm_cfg_raw("mail_name"));
	v = pm_cfg_get("smtpd_banner");
	cr_expect(strcmp(v, "from set") == 0, "got %s", v);
	free(v);
	pm_cfg_set("smtpd_banner", "x $mail_name");
	v = pm_cfg_get("smtpd_banner");
	cr_expect(strcmp(v, "x FromEnv") == 0, "expansion uses env: got %s, "
	    "want \"x FromEnv\"", v);
	free(v);
	/* an empty environment value still overrides */
	setenv("POSTMESH_mail_name", "", 1);
	cr_expect(eq_or_null(pm_cfg_raw("mail_name"), ""),
	    "empty env: got %s, want empty", pm_cfg_raw("mail_name"));
	unsetenv("POSTMESH_mail_name");
	pm_cfg_set("mail_name", NULL);
	cr_expect(eq_or_null(pm_cfg_raw("mail_name"), "FromFile"),
	    "after unset: got %s, want FromFile", pm_cfg_raw("mail_name"));
	/* env-only name */
	setenv("POSTMESH_zz_env_only", "1", 1);
	cr_expect(eq_or_null(pm_cfg_raw("zz_env_only"), "1"),
	    "env only: got %s, want 1", pm_cfg_raw("zz_env_only"));
	/* typed table default beats the lib default, main.cf beats both */
	memcpy(t, strs, sizeof(t));
	t[0].var = &var;
	pm_cfg_bind_str(t);
	cr_expect(strcmp(var, "fromfile") == 0, "bound: got %s, want fromfile",
	    var);
	cap_start(&c);
	pm_cfg_load("/nonexistent/main.cf");
	free(cap_end(&c));
	pm_cfg_bind_str(t);
	cr_expect(strcmp(var, "tabdef") == 0, "bound default: got %s, want "
	    "tabdef", var);
	got = pm_cfg_raw("zz_table_only");
	cr_expect(eq_or_null(got, "tabdef"), "raw of bound: got %s", got);
	tmp_cleanup();
	pm_cfg_reset();
}

Test(cfg, expansion)
{
	static const struct {
		const char *name, *value;
	} params[] = {
		{ "a", "A" },
		{ "b", "$a" },
		{ "e", "$$a" },
		{ "empty", "" },
		{ "viaempty", "$empty" },
		{ "loop1", "x$loop2" },
		{ "loop2", "y$loop1" },
		{ "self", "<$self>" },
		{ "cond", "${a?[$b]}${empty:<none>}" },
	};
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "$a", "A" },
		{ "${a}", "A" },
		{ "$(a)", "A" },
		{ "$b", "A" },
		{ "x$a.y", "xA.y" },
		{ "${a}x", "Ax" },
		{ "$ax", "" },
		{ "x${a}${b}$(a)$a", "xAAAA" },
		{ "$$", "$" },
		{ "$$a", "$a" },
		{ "$$$a", "$A" },
		{ "$e", "$a" },
		{ "a$", "a$" },
		{ "$ a", "$ a" },
		{ "$-", "$-" },
		{ "${a?yes}", "yes" },
		{ "${empty?yes}", "" },
		{ "${viaempty?yes}", "" },
		{ "${a:no}", "" },
		{ "${empty:no}", "no" },
		{ "${zz_undef?yes}", "" },
		{ "${zz_undef:fallback $a}", "fallback A" },
		{ "${a?{nested}}", "{nested}" },
		{ "$(a?(p))", "(p)" },
		{ "${a?$(b)}", "A" },
		{ "$cond", "[A]<none>" },
		{ "${a", "${a" },
		{ "${a?unterminated", "${a?unterminated" },
		{ "${}", "${}" },
		{ "${a b}", "${a b}" },
		{ "$(a}", "$(a}" },
		{ "$loop1", "xy" },
		{ "$self", "<>" },
		{ "", "" },
	};
	char name[16], *v, *out;
	size_t i;
	cap c;

	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		pm_cfg_set(params[i].name, params[i].value);
	}
	cap_start(&c);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = pm_cfg_expand(cases[i].in);
		cr_expect(strcmp(v, cases[i].want) == 0,
		    "expand(\"%s\"): got \"%s\", want \"%s\"", cases[i].in, v,
		    cases[i].want);
		free(v);
	}
	out = cap_end(&c);
	cr_expect(strstr(out, "recursive expansion of $loop1") != NULL,
	    "no loop warning in:\n%s", out);
	cr_expect(strstr(out, "undefined parameter: $ax") != NULL,
	    "no undefined warning in:\n%s", out);
	cr_expect(strstr(out, "undefined parameter: $zz_undef") == NULL,
	    "a conditional test must not warn:\n%s", out);
	free(out);

	/* a loop through pm_cfg_get: each name sees the loop once */
	cap_start(&c);
	v = pm_cfg_get("loop1");
	out = cap_end(&c);
	cr_expect(strcmp(v, "xy") == 0, "get(loop1): got %s, want xy", v);
	cr_expect(count_substr(out, "recursive expansion") == 1,
	    "get(loop1): got warnings:\n%s\nwant one", out);
	free(v);
	free(out);

	/* depth: p0 -> p1 -> ... -> p149 = "end" */
	for (i = 0; i < 150; i++) {
		char val[16];

		snprintf(name, sizeof(name), "p%zu", i);
		snprintf(val, sizeof(val), "$p%zu", i + 1);
		pm_cfg_set(name, i == 149 ? "end" : val);
	}
	cap_start(&c);
	v = pm_cfg_get("p50"); /* 100 levels: allowed */
	cr_expect(strcmp(v, "end") == 0, "p50: got \"%s\", want end", v);
	free(v);
	v = pm_cfg_get("p49"); /* 101 levels: cut */
	cr_expect(strcmp(v, "") == 0, "p49: got \"%s\", want \"\"", v);
	free(v);
	out = cap_end(&c);
	cr_expect(strstr(out, "nested deeper than 100") != NULL,
	    "no depth warning in:\n%s", out);
	free(out);

	/* result limit: 40000 bytes fine, 80000 over 64 KiB -> "" */
	v = pm_malloc(40001);
	memset(v, 'z', 40000);
	v[40000] = 0;
	pm_cfg_set("big", v);
	free(v);
	pm_cfg_set("big2", "$big$big");
	v = pm_cfg_get("big");
	cr_expect(strlen(v) == 40000, "big: got %zu bytes, want 40000",
	    strlen(v));
	free(v);
	cap_start(&c);
	v = pm_cfg_get("big2");
	out = cap_end(&c);
	cr_expect(strcmp(v, "") == 0, "big2: got %zu bytes, want 0",
	    strlen(v));
	cr_expect(strstr(out, "longer than 65536") != NULL,
	    "no overflow warning in:\n%s", out);
	free(v);
	free(out);
	pm_cfg_reset();
}

Test(cfg, computed_defaults)
{
	static const struct {
		const char *myhostname; /* set, or NULL */
		const char *env_mydomain;
		const char *param, *want;
	} cases[] = {
		{ "mail.example.com", NULL, "mydomain", "example.com" },
		{ "mail.example.com", NULL, "myorigin", "mail.example.com" },
		{ "mail.example.com", NULL, "mydestination",
		    "mail.example.com, localhost.example.com, localhost" },
		{ "mail.example.com", NULL, "smtpd_banner",
		    "mail.example.com ESMTP Postmesh" },
		{ "mail.example.com", NULL, "local_transport",
		    "local:mail.example.com" },
		{ "a.b.c.example", NULL, "mydomain", "b.c.example" },
		/* Postfix: a host name that is itself a domain */
		{ "example.com", NULL, "mydomain", "localdomain" },
		{ "bare", NULL, "mydomain", "localdomain" },
		{ "host.$mydomain", NULL, "myhostname", "host.localdomain" },
		{ "x", "env.example", "mydomain", "env.example" },
		{ "${mydomain}", "d.example", "mydestination",
		    "d.example, localhost.d.example, localhost" },
	};
	char host[256], *h, *d, *v, *dot;
	size_t i;
	cap c;

	h = pm_cfg_get("myhostname");
	d = pm_cfg_get("mydomain");
	cr_assert(h != NULL && d != NULL, "no computed defaults");
	cr_expect(strchr(h, '.') != NULL, "myhostname %s has no dot", h);
	gethostname(host, sizeof(host));
	host[sizeof(host) - 1] = 0;
	if (strchr(host, '.') != NULL) {
		cr_expect(strcmp(h, host) == 0, "myhostname: got %s, want %s",
		    h, host);
	} else {
		cr_expect(strncmp(h, host, strlen(host)) == 0 &&
		    h[strlen(host)] == '.', "myhostname: got %s, want %s.*",
		    h, host);
	}
	dot = strchr(h, '.');
	if (strchr(dot + 1, '.') != NULL) {
		cr_expect(strcmp(d, dot + 1) == 0, "mydomain: got %s, want %s",
		    d, dot + 1);
	} else {
		cr_expect(strcmp(d, "localdomain") == 0, "mydomain: got %s, "
		    "want localdomain", d);
	}
	cr_expect(eq_or_null(pm_cfg_raw("myhostname"), h), "raw myhostname "
	    "differs from get: %s", pm_cfg_raw("myhostname"));
	free(h);
	free(d);

	cap_start(&c);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_cfg_set("myhostname", cases[i].myhostname);
		if (cases[i].env_mydomain != NULL) {
			setenv("POSTMESH_mydomain", cases[i].env_mydomain, 1);
		} else {
			unsetenv("POSTMESH_mydomain");
		}
		v = pm_cfg_get(cases[i].param);
		cr_expect(strcmp(v, cases[i].want) == 0,
		    "myhostname=%s: %s: got \"%s\", want \"%s\"",
		    cases[i].myhostname, cases[i].param, v, cases[i].want);
		free(v);
	}
	free(cap_end(&c));
	unsetenv("POSTMESH_mydomain");
	pm_cfg_reset();
}

static char *b_str, *b_str2;
static long b_int, b_neg, b_time, b_time_m;
static int b_yes, b_no;

Test(cfg, bind_good)
{
	static const pm_cfg_str strs[] = {
		{ "t_str", "def", &b_str, 1, 10 },
		{ "t_str2", "$t_str-$mail_name", &b_str2, 0, 0 },
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ "t_int", 5, &b_int, 1, 100 },
		{ "t_neg", 0, &b_neg, -10, 10 },
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		{ "t_time", "300s", &b_time, 's', 1, 0 },
		{ "t_time_m", "5", &b_time_m, 'm', 0, 3600 },
		{ 0 },
	};
	static const pm_cfg_bool bools[] = {
		{ "t_yes", 0, &b_yes },
		{ "t_no", 1, &b_no },
		{ 0 },
	};
	char *old;

	/* defaults */
	pm_cfg_bind_str(strs);
	pm_cfg_bind_int(ints);
	pm_cfg_bind_time(times);
	pm_cfg_bind_bool(bools);
	cr_expect(strcmp(b_str, "def") == 0, "t_str: got %s, want def", b_str);
	cr_expect(strcmp(b_str2, "def-Postmesh") == 0, "t_str2: got %s",
	    b_str2);
	cr_expect(b_int == 5, "t_int: got %ld, want 5", b_int);
	cr_expect(b_time == 300, "t_time: got %ld, want 300", b_time);
	cr_expect(b_time_m == 300, "t_time_m: got %ld, want 300", b_time_m);
	cr_expect(b_yes == 0 && b_no == 1, "bools: got %d %d, want 0 1",
	    b_yes, b_no);

	/* configured values; binding again frees the old string */
	pm_cfg_set("t_str", "0123456789");
	pm_cfg_set("t_int", "100");
	pm_cfg_set("t_neg", "-10");
	pm_cfg_set("t_time", "2h");
	pm_cfg_set("t_time_m", "60");
	pm_cfg_set("t_yes", "On");
	setenv("POSTMESH_t_no", "false", 1);
	old = b_str;
	pm_cfg_bind_str(strs);
	pm_cfg_bind_int(ints);
	pm_cfg_bind_time(times);
	pm_cfg_bind_bool(bools);
	cr_expect(b_str != old, "rebinding kept the old pointer");
	cr_expect(strcmp(b_str, "0123456789") == 0, "t_str: got %s", b_str);
	cr_expect(strcmp(b_str2, "0123456789-Postmesh") == 0, "t_str2: got %s",
	    b_str2);
	cr_expect(b_int == 100, "t_int: got %ld, want 100", b_int);
	cr_expect(b_neg == -10, "t_neg: got %ld, want -10", b_neg);
	cr_expect(b_time == 7200, "t_time: got %ld, want 7200", b_time);
	cr_expect(b_time_m == 3600, "t_time_m: got %ld, want 3600", b_time_m);
	cr_expect(b_yes == 1 && b_no == 0, "bools: got %d %d, want 1 0",
	    b_yes, b_no);
	unsetenv("POSTMESH_t_no");
	pm_cfg_reset();
}

/* Bad values at bind time are fatal: run each in a child. */
Test(cfg, bind_fatal)
{
	static const struct {
		char kind; /* s i t b */
		const char *value;
		int exit;
		const char *want;
	} cases[] = {
		{ 'i', "42", 0, "" },
		{ 'i', "12abc", 1, "fatal: bad numerical configuration: t_int "
		    "= 12abc" },
		{ 'i', "99999999999999999999", 1, "bad numerical" },
		{ 'i', "", 1, "bad numerical configuration: t_int = " },
		{ 'i', "5", 1, "fatal: invalid t_int parameter value 5 < 10" },
		{ 'i', "1001", 1, "invalid t_int parameter value 1001 > 1000" },
		{ 'i', "$t_ref", 1,
		    "bad numerical configuration: t_int = abc" },
		{ 't', "90s", 0, "" },
		{ 't', "10x", 1, "fatal: invalid time value: t_time = 10x" },
		{ 't', "-1", 1, "invalid time value" },
		{ 't', "1h", 1, "invalid t_time parameter value 3600 > 600" },
		{ 't', "0", 1, "invalid t_time parameter value 0 < 1" },
		{ 'b', "maybe", 1, "fatal: bad boolean configuration: t_bool = "
		    "maybe" },
		{ 'b', "no", 0, "" },
		{ 's', "", 1, "fatal: bad string length 0 < 1: t_str = " },
		{ 's', "toolong", 1,
		    "bad string length 7 > 3: t_str = toolong" },
		{ 's', "a\001b", 1, "bad string length 3 > 2: t_str2 = a?b" },
		{ 's', "ok", 0, "" },
	};
	size_t i;
	int status, fd;
	pid_t pid;
	char tmpl[64], *out;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(tmpl, sizeof(tmpl), "/tmp/test_cfg_fatalXXXXXX");
		fd = mkstemp(tmpl);
		cr_assert(fd >= 0, "mkstemp");
		unlink(tmpl);
		fflush(stdout);
		pid = fork();
		cr_assert(pid >= 0, "fork");
		if (pid == 0) {
			static long l;
			static int b;
			static char *s;
			pm_cfg_int ti[] = { { "t_int", 10, &l, 10, 1000 },
				{ 0 } };
			pm_cfg_time tt[] = { { "t_time", "60s", &l, 's', 1,
				600 }, { 0 } };
			pm_cfg_bool tb[] = { { "t_bool", 1, &b }, { 0 } };
			pm_cfg_str ts[] = { { "t_str", "x", &s, 1, 3 },
				{ 0 } };
			pm_cfg_str ts2[] = { { "t_str2", "x", &s, 0, 2 },
				{ 0 } };

			/* stderr too: LSan notes about the parent's threads */
			dup2(fd, 1);
			dup2(fd, 2);
			pm_cfg_set("t_ref", "abc");
			switch (cases[i].kind) {
			case 'i':
				pm_cfg_set("t_int", cases[i].value);
				pm_cfg_bind_int(ti);
				break;
			case 't':
				pm_cfg_set("t_time", cases[i].value);
				pm_cfg_bind_time(tt);
				break;
			case 'b':
				pm_cfg_set("t_bool", cases[i].value);
				pm_cfg_bind_bool(tb);
				break;
			default:
				pm_cfg_set(cases[i].value[0] == 'a' ?
				    "t_str2" : "t_str", cases[i].value);
				pm_cfg_bind_str(cases[i].value[0] == 'a' ?
				    ts2 : ts);
				break;
			}
			fflush(stdout);
			_exit(0);
		}
		cr_assert(waitpid(pid, &status, 0) == pid, "waitpid");
		out = read_fd_all(fd);
		close(fd);
		cr_expect(WIFEXITED(status) &&
		    WEXITSTATUS(status) == cases[i].exit,
		    "%c %s: got status 0x%x, want exit %d", cases[i].kind,
		    cases[i].value, status, cases[i].exit);
		cr_expect(strstr(out, cases[i].want) != NULL,
		    "%c %s: got \"%s\", want \"%s\"", cases[i].kind,
		    cases[i].value, out, cases[i].want);
		if (cases[i].exit == 0) {
			cr_expect(out[0] == 0, "%c %s: unexpected output %s",
			    cases[i].kind, cases[i].value, out);
		}
		free(out);
	}
}

/* pm_params.c holds what the brief promises, and nothing conflicts. */
Test(cfg, params_table)
{
	static const struct {
		const char *name, *defval;
	} want[] = {
		{ "myorigin", "$myhostname" },
		{ "mydestination",
		    "$myhostname, localhost.$mydomain, localhost" },
		{ "mynetworks", "127.0.0.1/32 [::1]/128" },
		{ "relay_domains", "" },
		{ "mail_name", "Postmesh" },
		{ "smtpd_banner", "$myhostname ESMTP $mail_name" },
		{ "inet_interfaces", "all" },
		{ "redis_server", "127.0.0.1:6379" },
		{ "redis_timeout", "10s" },
		{ "queue_shards", "1" },
		{ "queue_body_store", "redis" },
		{ "queue_durability", "fsync" },
		{ "message_size_limit", "10240000" },
		{ "cleanup_service", "tcp://127.0.0.1:10025" },
		{ "cleanup_listen", "tcp://127.0.0.1:10025" },
		{ "rewrite_service", "tcp://127.0.0.1:10010" },
		{ "rewrite_listen", "tcp://127.0.0.1:10010" },
		{ "ipc_timeout", "3600s" },
		{ "dns_server", "" },
		{ "smtpd_listen", "127.0.0.1:2525" },
		{ "smtpd_metrics_listen", "http://127.0.0.1:9125" },
		{ "cleanup_metrics_listen", "http://127.0.0.1:9126" },
		{ "rewrite_metrics_listen", "http://127.0.0.1:9110" },
		{ "local_recipient_maps", "unix:passwd.byname $alias_maps" },
		{ "alias_maps", "" },
		{ "virtual_alias_maps", "" },
		{ "virtual_alias_domains", "$virtual_alias_maps" },
		{ "virtual_mailbox_domains", "" },
		{ "virtual_mailbox_maps", "" },
		{ "relay_recipient_maps", "" },
		{ "relayhost", "" },
		{ "relay_transport", "relay" },
		{ "default_transport", "smtp" },
		{ "local_transport", "local:$myhostname" },
		{ "virtual_transport", "virtual" },
		{ "transport_maps", "" },
		{ "relocated_maps", "" },
		{ "canonical_maps", "" },
		{ "sender_canonical_maps", "" },
		{ "recipient_canonical_maps", "" },
		{ "header_checks", "" },
		{ "body_checks", "" },
		{ "hopcount_limit", "50" },
		{ "header_size_limit", "102400" },
		{ "drop_headers",
		    "bcc, content-length, resent-bcc, return-path" },
		{ "line_length_limit", "2048" },
		{ "smtpd_recipient_limit", "1000" },
		{ "smtpd_timeout", "300s" },
		{ "smtpd_hard_error_limit", "20" },
		{ "smtpd_soft_error_limit", "10" },
		{ "smtpd_error_sleep_time", "1s" },
		{ "smtpd_junk_command_limit", "100" },
		{ "smtpd_helo_required", "yes" },
		{ "smtpd_delay_reject", "yes" },
		{ "smtpd_client_restrictions", "" },
		{ "smtpd_helo_restrictions", "" },
		{ "smtpd_sender_restrictions", "" },
		{ "smtpd_relay_restrictions", "permit_mynetworks, "
		    "permit_sasl_authenticated, reject_unauth_destination" },
		{ "smtpd_recipient_restrictions", "" },
		{ "smtpd_data_restrictions", "" },
		{ "smtpd_reject_unlisted_recipient", "yes" },
		{ "smtpd_reject_unlisted_sender", "no" },
		{ "smtpd_forbid_bare_newline", "normalize" },
		{ "smtpd_forbid_unauth_pipelining", "yes" },
		{ "smtpd_per_request_deadline", "yes" },
		{ "smtpd_min_data_rate", "500" },
		{ "unknown_local_recipient_reject_code", "550" },
		{ "unknown_relay_recipient_reject_code", "550" },
		{ "unknown_virtual_alias_reject_code", "550" },
		{ "relay_domains_reject_code", "554" },
		{ "access_map_reject_code", "554" },
		{ "unknown_address_reject_code", "450" },
		{ "disable_vrfy_command", "no" },
		{ "smtpd_null_access_lookup_key", "<>" },
		{ "parent_domain_matches_subdomains", "debug_peer_list,"
		    "fast_flush_domains,mynetworks,permit_mx_backup_networks,"
		    "qmqpd_authorized_clients,relay_domains,"
		    "smtpd_access_maps" },
		{ "virtual_alias_expansion_limit", "1000" },
		{ "virtual_alias_recursion_limit", "1000" },
		{ "canonical_classes", "envelope_sender, envelope_recipient, "
		    "header_sender, header_recipient" },
		{ "propagate_unmatched_extensions", "canonical, virtual" },
		{ "recipient_delimiter", "" },
		{ "append_dot_mydomain", "no" },
		{ "swap_bangpath", "yes" },
		{ "allow_percent_hack", "yes" },
		{ "always_add_missing_headers", "no" },
		{ "enable_original_recipient", "yes" },
	};
	static const pm_cfg_int conflict[] = {
		{ "hopcount_limit", 49, &b_int, 1, 0 },
		{ 0 },
	};
	static const pm_cfg_time same_time[] = {
		{ "ipc_timeout", "1h", &b_time, 's', 1, 0 },
		{ 0 },
	};
	static const pm_cfg_str nodef[] = {
		{ "zz_no_default", NULL, &b_str, 0, 0 },
		{ 0 },
	};
	const pm_param_default *p, *q;
	size_t i;
	char *out, *v;
	cap c;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		for (p = pm_param_defaults; p->name != NULL; p++) {
			if (strcmp(p->name, want[i].name) == 0) {
				break;
			}
		}
		cr_expect(p->name != NULL, "%s: missing from pm_params.c",
		    want[i].name);
		cr_expect(p->name == NULL || strcmp(p->defval,
		    want[i].defval) == 0, "%s: got \"%s\", want \"%s\"",
		    want[i].name, p->defval, want[i].defval);
	}
	for (p = pm_param_defaults; p->name != NULL; p++) {
		cr_expect(p->defval != NULL, "%s: NULL default", p->name);
		for (q = p + 1; q->name != NULL; q++) {
			cr_expect(strcmp(p->name, q->name) != 0,
			    "%s: listed twice", p->name);
		}
		/* every default expands without a warning */
	}
	cap_start(&c);
	for (p = pm_param_defaults; p->name != NULL; p++) {
		v = pm_cfg_get(p->name);
		cr_expect(v != NULL, "%s: get returned NULL", p->name);
		free(v);
	}
	pm_common_params_bind();
	pm_cfg_bind_time(same_time);
	out = cap_end(&c);
	cr_expect(strstr(out, "warning") == NULL,
	    "defaults or common tables warn:\n%s", out);
	free(out);

	/* the conflict check can fail */
	cap_start(&c);
	pm_cfg_bind_int(conflict);
	pm_cfg_bind_str(nodef);
	out = cap_end(&c);
	cr_expect(strstr(out, "parameter hopcount_limit: table default \"49\" "
	    "differs from the library default \"50\"") != NULL,
	    "no conflict warning in:\n%s", out);
	cr_expect(b_int == 49, "table default not used: got %ld", b_int);
	cr_expect(strstr(out, "zz_no_default: no default") != NULL,
	    "no missing-default warning in:\n%s", out);
	free(out);
	pm_cfg_reset();
}

Test(cfg, warn_unknown)
{
	static const pm_cfg_str strs[] = {
		{ "svc_param", "d", &b_str, 0, 0 },
		{ 0 },
	};
	static const char *want[] = {
		": unused parameter: foo_unknown=bar",
		"main.cf: unused parameter: hostile=a?b",
		"command line: unused parameter: set_unknown=1",
		"environment: unused parameter: env_unknown=2",
	};
	static const char *never[] = {
		"mail_name", "svc_param", "VERBOSE", "myhostname", "Upper",
	};
	const char *path;
	char *out;
	size_t i;
	cap c;

	path = write_maincf("myhostname = x.y.z\nfoo_unknown = bar\n"
	    "mail_name = M\nsvc_param = 3\nhostile = a\033b\n", 0);
	cr_assert(pm_cfg_load(path) == 0, "load failed");
	pm_cfg_set("set_unknown", "1");
	setenv("POSTMESH_env_unknown", "2", 1);
	setenv("POSTMESH_VERBOSE_X", "1", 1);
	setenv("POSTMESH_Upper", "1", 1);
	pm_cfg_bind_str(strs);
	cap_start(&c);
	pm_cfg_warn_unknown();
	out = cap_end(&c);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_expect(strstr(out, want[i]) != NULL, "got:\n%s\nwant: %s",
		    out, want[i]);
	}
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		cr_expect(strstr(out, never[i]) == NULL,
		    "got:\n%s\nmust not mention %s", out, never[i]);
	}
	cr_expect(count_substr(out, "warning: ") == 4, "got %d warnings, "
	    "want 4:\n%s", count_substr(out, "warning: "), out);
	free(out);
	tmp_cleanup();
	pm_cfg_reset();
}

Test(cfg, list)
{
	static const struct {
		const char *in;
		const char *want; /* items joined with '|' */
		size_t n;
	} cases[] = {
		{ NULL, "", 0 },
		{ "", "", 0 },
		{ " ,\t, \r\n", "", 0 },
		{ "a", "a", 1 },
		{ "a,b c\t d", "a|b|c|d", 4 },
		{ " , ,a,, ", "a", 1 },
		{ "inline:{a=b, c=d}, static:x", "inline:{a=b, c=d}|static:x",
		    2 },
		{ "{ a b }", "{ a b }", 1 },
		{ "x{a,{b c}}y z", "x{a,{b c}}y|z", 2 },
		{ "unterminated:{a, b", "unterminated:{a, b", 1 },
		{ "a}b, c", "a}b|c", 2 },
		{ "a\r\nb", "a|b", 2 },
		{ "permit_mynetworks, permit_sasl_authenticated, "
		    "reject_unauth_destination", "permit_mynetworks|"
		    "permit_sasl_authenticated|reject_unauth_destination", 3 },
	};
	char **v;
	size_t i, j, n;
	pm_buf b;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = 999;
		v = pm_cfg_list(cases[i].in, &n);
		pm_buf_init(&b, 0);
		pm_buf_puts(&b, "");
		for (j = 0; v[j] != NULL; j++) {
			pm_buf_printf(&b, "%s%s", j ? "|" : "", v[j]);
		}
		cr_expect(n == cases[i].n && j == n,
		    "list(%s): got %zu items (%zu), want %zu", cases[i].in, n,
		    j, cases[i].n);
		cr_expect(strcmp(b.data, cases[i].want) == 0,
		    "list(%s): got \"%s\", want \"%s\"", cases[i].in, b.data,
		    cases[i].want);
		pm_buf_free(&b);
		pm_cfg_list_free(v);
	}
	/* many items */
	pm_buf_init(&b, 0);
	for (i = 0; i < 5000; i++) {
		pm_buf_printf(&b, "i%zu, ", i);
	}
	v = pm_cfg_list(b.data, NULL);
	for (n = 0; v[n] != NULL; n++) {
		;
	}
	cr_expect(n == 5000 && strcmp(v[4999], "i4999") == 0,
	    "5000 items: got %zu", n);
	pm_cfg_list_free(v);
	pm_cfg_list_free(NULL);
	pm_buf_free(&b);
}

typedef struct walk_st {
	int n;
	int sorted;
	char last[128];
	int saw_custom, saw_host;
	char custom_def[64], custom_val[64];
} walk_st;

static void
walk_fn(const char *name, const char *defval, const char *value, void *arg)
{
	walk_st *w = arg;

	if (w->n > 0 && strcmp(w->last, name) >= 0) {
		w->sorted = 0;
	}
	snprintf(w->last, sizeof(w->last), "%s", name);
	w->n++;
	if (strcmp(name, "zz_walk") == 0) {
		w->saw_custom = 1;
		snprintf(w->custom_def, sizeof(w->custom_def), "%s", defval);
		snprintf(w->custom_val, sizeof(w->custom_val), "%s", value);
	}
	if (strcmp(name, "myhostname") == 0 && strchr(defval, '.') != NULL &&
	    strcmp(value, "walk.example") == 0) {
		w->saw_host = 1;
	}
	/* a callback may call back into pm_cfg */
	free(pm_cfg_get("mail_name"));
}

Test(cfg, walk)
{
	static const pm_cfg_str strs[] = {
		{ "zz_walk", "dflt", &b_str, 0, 0 },
		{ 0 },
	};
	walk_st w;
	int nlib = 0;
	const pm_param_default *p;

	for (p = pm_param_defaults; p->name != NULL; p++) {
		nlib++;
	}
	pm_cfg_set("zz_walk", "v-$mail_name");
	pm_cfg_set("zz_unknown_not_walked", "1");
	pm_cfg_set("myhostname", "walk.example");
	pm_cfg_bind_str(strs);
	memset(&w, 0, sizeof(w));
	w.sorted = 1;
	pm_cfg_walk(walk_fn, &w);
	cr_expect(w.n == nlib + 1, "got %d parameters, want %d", w.n, nlib + 1);
	cr_expect(w.sorted, "not in name order");
	cr_expect(w.saw_custom && strcmp(w.custom_def, "dflt") == 0 &&
	    strcmp(w.custom_val, "v-Postmesh") == 0,
	    "zz_walk: got def=%s value=%s, want dflt v-Postmesh",
	    w.custom_def, w.custom_val);
	cr_expect(w.saw_host, "myhostname: computed default or value wrong");
	pm_cfg_reset();
}

static void *
thread_reader(void *arg)
{
	const char *want = arg;
	char *v;
	long bad = 0;
	int i;

	for (i = 0; i < 3000; i++) {
		v = pm_cfg_get("mydestination");
		if (v == NULL || strcmp(v, want) != 0) {
			bad++;
		}
		free(v);
		if (pm_cfg_raw("mail_name") == NULL) {
			bad++;
		}
		v = pm_cfg_expand("$myorigin/$mydomain");
		if (strcmp(v, "t.example.org/example.org") != 0) {
			bad++;
		}
		free(v);
	}
	return ((void *) bad);
}

Test(cfg, threads)
{
	pthread_t t[8];
	const char *want = "t.example.org, localhost.example.org, localhost";
	void *bad;
	long total = 0;
	int i;

	pm_cfg_set("myhostname", "t.example.org");
	for (i = 0; i < 8; i++) {
		pthread_create(&t[i], NULL, thread_reader, (void *) want);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], &bad);
		total += (long) bad;
	}
	cr_expect(total == 0, "got %ld wrong reads, want 0", total);
	pm_cfg_reset();
}
