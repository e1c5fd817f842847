/*
 * NAME
 *	test_cfg_parse - reading main.cf, and which setting wins
 * DESCRIPTION
 *	pm_cfg's parsing helpers and pm_cfg_load(): one main.cf with every
 *	case (continuation lines, comments, CRLF, bare CR, NUL bytes,
 *	over-long physical and logical lines, lines without '=', bad names)
 *	and a table of lookups; the precedence of main.cf, the command line
 *	and POSTMESH_<name>; and pm_cfg_warn_unknown(). Warnings are read
 *	back through cfg_helper.h's output capture.
 */
#include <criterion/criterion.h>

#include "cfg_helper.h"

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
		{ "yes", 0, 1 },
		{ "YES", 0, 1 },
		{ "true", 0, 1 },
		{ "1", 0, 1 },
		{ "on", 0, 1 },
		{ "no", 0, 0 },
		{ "No", 0, 0 },
		{ "false", 0, 0 },
		{ "0", 0, 0 },
		{ "off", 0, 0 },
		{ "", PM_EINVAL, 0 },
		{ "maybe", PM_EINVAL, 0 },
		{ "yes ", PM_EINVAL, 0 },
		{ "2", PM_EINVAL, 0 },
		{ NULL, PM_EINVAL, 0 },
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
	snprintf(warn, sizeof(warn),
	    ", line %d: missing '=' after parameter "
	    "name: \"noequals here\"",
	    l_noeq);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	snprintf(warn, sizeof(warn), ", line %d: NUL byte", l_nul);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	snprintf(warn, sizeof(warn),
	    ", line %d: logical line longer than "
	    "65536",
	    l_long);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	snprintf(warn, sizeof(warn),
	    ", line %d: logical line longer than "
	    "65536",
	    l_longcont);
	cr_expect(strstr(out, warn) != NULL, "got:\n%s\nwant: %s", out, warn);
	snprintf(warn, sizeof(warn),
	    ", line %d: bad parameter name: "
	    "\"bad name\"",
	    l_bad);
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
	cr_expect(eq_or_null(got, "reloaded"),
	    "plain after reload: got %s, "
	    "want reloaded",
	    got ? got : "(null)");
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
	    "MAIL_CONFIG: got %s, want ViaMailConfig", pm_cfg_raw("mail_name"));
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
	                    "zz_table_only = fromfile\n",
	    0);
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
	cr_expect(strcmp(v, "x FromEnv") == 0,
	    "expansion uses env: got %s, "
	    "want \"x FromEnv\"",
	    v);
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
	cr_expect(strcmp(var, "tabdef") == 0,
	    "bound default: got %s, want "
	    "tabdef",
	    var);
	got = pm_cfg_raw("zz_table_only");
	cr_expect(eq_or_null(got, "tabdef"), "raw of bound: got %s", got);
	tmp_cleanup();
	pm_cfg_reset();
}

/* What the service table binds to. */
static char *b_str;

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
		"mail_name",
		"svc_param",
		"VERBOSE",
		"myhostname",
		"Upper",
		/* bound by smtpd only: one main.cf serves every role */
		"smtpd_tls_security_level",
		"smtpd_sasl_type",
	};
	const char *path;
	char *out;
	size_t i;
	cap c;

	path = write_maincf("myhostname = x.y.z\nfoo_unknown = bar\n"
	                    "mail_name = M\nsvc_param = 3\nhostile = a\033b\n"
	                    "smtpd_tls_security_level = may\n",
	    0);
	cr_assert(pm_cfg_load(path) == 0, "load failed");
	pm_cfg_set("set_unknown", "1");
	pm_cfg_set("smtpd_sasl_type", "dovecot");
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
	cr_expect(count_substr(out, "warning: ") == 4,
	    "got %d warnings, "
	    "want 4:\n%s",
	    count_substr(out, "warning: "), out);
	free(out);
	tmp_cleanup();
	pm_cfg_reset();
}
