/*
 * NAME
 *	test_table - unit tests for pm_table (all types, lists, netlists)
 * DESCRIPTION
 *	Table files are written into a mkdtemp() directory. Each test is a
 *	table of lookups with the wanted result; files include hostile
 *	lines (NUL bytes, over-long lines, bare CR, bad syntax) that must
 *	be skipped without harm.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm_table.h"
#include "pm_util.h"

#define NOTFOUND ((const char *) 1)

struct lookup {
	const char *key;
	const char *want; /* NOTFOUND: PM_ENOENT */
};

static char tmpdir[64];

static void
mkdir_tmp(void)
{
	strcpy(tmpdir, "/tmp/test_table.XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp failed");
}

static void
rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (tmpdir[0] != 0 && system(cmd) != 0) {
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

/* Write a file (content may hold NULs: len given) and return its path. */
static char *
write_file(const char *name, const char *data, size_t len)
{
	char *path = pm_asprintf("%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "cannot create %s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len, "short write");
	fclose(f);
	return (path);
}

static void
check_lookups(pm_table *t, const struct lookup *l, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char *v = NULL;
		int rc = pm_table_get(t, l[i].key, &v);

		if (l[i].want == NOTFOUND) {
			cr_expect_eq(rc, PM_ENOENT,
			    "%s \"%s\": got rc %d value \"%s\", want not found",
			    pm_table_name(t), l[i].key, rc, v ? v : "");
		} else {
			cr_expect(rc == 0 && strcmp(v, l[i].want) == 0,
			    "%s \"%s\": got rc %d \"%s\", want \"%s\"",
			    pm_table_name(t), l[i].key, rc, rc == 0 ? v : "",
			    l[i].want);
		}
		if (rc == 0) {
			free(v);
		}
	}
}

Test(table, inline_static_and_bad_specs)
{
	static const struct lookup in[] = {
		{ "a", "1" },
		{ "A", "1" },
		{ "b", "two" },
		{ "c", "value with, commas" },
		{ "d", "x=y" },
		{ "e", "" },
		{ "nosuch", NOTFOUND },
		{ "", NOTFOUND },
	};
	static const struct lookup st1[] = {
		{ "anything", "OK" },
		{ "", "OK" },
	};
	static const struct lookup st2[] = {
		{ "x", "text with spaces" },
	};
	static const char *bad[] = {
		"inline:{a}",
		"inline:a=b",
		"inline:{a=b",
		"inline:{ a = b }",
		"inline:{{a=b}",
		"inline:{=b}",
		"nosuch:x",
		"texthash",
		":x",
		"static:{x",
		"unix:group.byname",
		"Inline:{a=b}",
		"texthash:/nonexistent/file",
		"regexp:/nonexistent/file",
		"cidr:/nonexistent/file",
		NULL,
	};
	const char *err = NULL;
	pm_table *t;
	size_t i;

	t = pm_table_open("inline:{a=1, B=two, { c = value with, commas },"
	                  "{d=x=y} e=}",
	    &err);
	cr_assert_not_null(t, "inline: got NULL (%s), want a table", err);
	cr_expect_str_eq(pm_table_name(t),
	    "inline:{a=1, B=two, { c = value with, commas },{d=x=y} e=}",
	    "got name \"%s\"", pm_table_name(t));
	check_lookups(t, in, sizeof(in) / sizeof(in[0]));
	pm_table_close(t);

	t = pm_table_open("static:OK", &err);
	cr_assert_not_null(t, "static: got NULL (%s)", err);
	check_lookups(t, st1, 2);
	pm_table_close(t);
	t = pm_table_open("static:{ text with spaces }", &err);
	cr_assert_not_null(t, "static: got NULL (%s)", err);
	check_lookups(t, st2, 1);
	pm_table_close(t);

	for (i = 0; bad[i] != NULL; i++) {
		err = NULL;
		t = pm_table_open(bad[i], &err);
		cr_expect_null(t, "\"%s\": got a table, want NULL", bad[i]);
		cr_expect_not_null(err, "\"%s\": got no error text", bad[i]);
		pm_table_close(t);
	}
	cr_expect_null(pm_table_close(NULL), "close(NULL) not NULL");
}

Test(table, texthash_file, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const char head[] =
	    "  leading white space: skipped with a warning\n"
	    "# comment\n"
	    "\n"
	    "Key1 value one\n"
	    "key2\tvalue\n"
	    "   continued   \n"
	    "# comment inside a text\n"
	    "    more\n"
	    "crlf\tvalue\r\n"
	    "key1 duplicate ignored\n"
	    "novalue\n"
	    "nul\0byte value\n"
	    "cr\rinside value\n"
	    "   #not a comment? no: a comment\n"
	    "User@Example.COM ok\n";
	static const struct lookup lk[] = {
		{ "key1", "value one" },
		{ "KEY1", "value one" },
		{ "key2", "value continued more" },
		{ "crlf", "value" },
		{ "novalue", NOTFOUND },
		{ "nul", NOTFOUND },
		{ "byte", NOTFOUND },
		{ "cr", "inside value" },
		{ "user@example.com", "ok" },
		{ "long", NOTFOUND },
		{ "after", "long" },
		{ "last", "no newline" },
		{ "", NOTFOUND },
	};
	pm_buf b;
	pm_table *t;
	const char *err = NULL;
	char *path, *spec, *big;

	pm_buf_init(&b, 0);
	pm_buf_append(&b, head, sizeof(head) - 1);
	/* A 70000-byte logical line is refused; the next one is fine. */
	big = pm_malloc(70001);
	memset(big, 'x', 70000);
	big[70000] = 0;
	pm_buf_printf(&b, "long %s\n", big);
	pm_buf_printf(&b, "after long\nlast no newline");
	path = write_file("th", b.data, b.len);
	spec = pm_asprintf("texthash:%s", path);
	t = pm_table_open(spec, &err);
	cr_assert_not_null(t, "got NULL (%s)", err);
	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	{
		char *v = NULL;
		int rc = pm_table_get(t, big, &v);

		cr_expect_eq(rc, PM_ENOENT, "70000-byte key: got %d", rc);
	}
	pm_table_close(t);
	free(spec);
	free(path);
	free(big);
	pm_buf_free(&b);

	/* Empty file: an empty table. */
	path = write_file("empty", "", 0);
	spec = pm_asprintf("texthash:%s", path);
	t = pm_table_open(spec, &err);
	cr_assert_not_null(t, "empty: got NULL (%s)", err);
	check_lookups(t, lk, 1 * 0);
	pm_table_close(t);
	free(spec);
	free(path);
}

Test(table, regexp_file, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const char rx[] = " /^leading-space/ skipped\n"
	                         "/^user@example\\.com$/ OK\n"
	                         "/^(.*)@sub\\.example\\.com$/ 550 no $1\n"
	                         "/^(.*)\\+(.*)@x\\.example$/ ${2}-$(1)-$$\n"
	                         "!/@/ no at sign\n"
	                         "if /@if\\.example$/\n"
	                         "/^a@/ A in if\n"
	                         "IF !/^b@/\n"
	                         "/^c@/ C in nested\n"
	                         "endif\n"
	                         "ENDIF\n"
	                         "/^a@/ A outside\n"
	                         "/CaseSensitive/i case\n"
	                         "/^bad(/ broken regex\n"
	                         "/^x(y)@/ $2 out of range\n"
	                         "!/^(n)@/ $1 in negative\n"
	                         "/foo/q unknown flag\n"
	                         "/^m1/!/^m1x/ m1 not m1x\n"
	                         "endif\n"
	                         "/a\\/b/ slash\n"
	                         "/^multi@/ line one\n"
	                         "  line two\n"
	                         "/^nul\0@/ nul\n"
	                         "/^cr\r@/ cr\n"
	                         "/unterminated result\n"
	                         "|^pipe@| pipe delimiter\n"
	                         "/^(e)(m)?pty@/ [$2]\n"
	                         "/^x(y)@/ X\n"
	                         "if /^never/\n"
	                         "/./ missing endif swallows\n";
	static const struct lookup lk[] = {
		{ "user@example.com", "OK" },
		{ "USER@EXAMPLE.COM", "OK" },
		{ "joe@sub.example.com", "550 no joe" },
		{ "u+ext@x.example", "ext-u-$" },
		{ "plain", "no at sign" },
		{ "", "no at sign" },
		{ "leading-space@x", NOTFOUND },
		{ "a@if.example", "A in if" },
		{ "c@if.example", "C in nested" },
		{ "b@if.example", NOTFOUND },
		{ "a@other.example", "A outside" },
		{ "CaseSensitive@x", "case" },
		{ "casesensitive@x", NOTFOUND },
		{ "bad(@x", NOTFOUND },
		{ "xy@x", "X" },
		{ "m1@z", "m1 not m1x" },
		{ "m1x@z", NOTFOUND },
		{ "a/b@z", "slash" },
		{ "multi@z", "line one line two" },
		{ "nul@z", NOTFOUND },
		{ "pipe@z", "pipe delimiter" },
		{ "e@z", NOTFOUND },
		{ "epty@z", "[]" },
		{ "empty@z", "[m]" },
		{ "never@z", "missing endif swallows" },
		{ "zzz@z", NOTFOUND },
		{ "line\r\n@if.example", NOTFOUND },
	};
	static const char pcre[] = "/^\\d+@(\\w+)\\.example$/ digits $1\n"
	                           "/^[\\d.]+$/ dotted\n"
	                           "/^\\D+$/ non-digits\n"
	                           "/^(?i)x/ pcre only\n";
	static const struct lookup plk[] = {
		{ "123@foo.example", "digits foo" },
		{ "1.2.3", "dotted" },
		{ "1\\2", NOTFOUND },
		{ "abc@", "non-digits" },
	};
	pm_table *t;
	const char *err = NULL;
	char *path, *spec, *key, *v = NULL;
	int rc;

	path = write_file("rx", rx, sizeof(rx) - 1);
	spec = pm_asprintf("regexp:%s", path);
	t = pm_table_open(spec, &err);
	cr_assert_not_null(t, "got NULL (%s)", err);
	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	/* A huge key: $1 copies it, still bounded. */
	key = pm_malloc(200001);
	memset(key, 'q', 200000);
	strcpy(key + 200000 - strlen("@sub.example.com"), "@sub.example.com");
	rc = pm_table_get(t, key, &v);
	cr_expect(rc == 0 && strlen(v) == 200000 - 16 + 7,
	    "huge key: got rc %d len %zu, want %d", rc, rc == 0 ? strlen(v) : 0,
	    200000 - 16 + 7);
	if (rc == 0) {
		free(v);
	}
	free(key);
	pm_table_close(t);
	free(spec);
	free(path);

	path = write_file("pcre", pcre, sizeof(pcre) - 1);
	spec = pm_asprintf("pcre:%s", path);
	t = pm_table_open(spec, &err);
	cr_assert_not_null(t, "pcre: got NULL (%s)", err);
	check_lookups(t, plk, sizeof(plk) / sizeof(plk[0]));
	pm_table_close(t);
	free(spec);
	free(path);
}

Test(table, cidr_file, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const char cf[] = "# cidr\n"
	                         "192.0.2.0/24 NET24\n"
	                         "192.0.2.1 HOST\n"
	                         "10.0.0.1/8 host bits: skipped\n"
	                         "[2001:db8::]/32 V6\n"
	                         "if 203.0.113.0/24\n"
	                         "203.0.113.5 FIVE\n"
	                         "endif\n"
	                         "::ffff:100.64.0.0/106 MAPPED\n"
	                         "bad.address X\n"
	                         "1.2.3.4/33 X\n"
	                         "1.2.3.4/-1 X\n"
	                         "1.2.3.4/ X\n"
	                         "1.2.3.0/24\n"
	                         "0.0.0.0/0x X\n"
	                         "endif\n"
	                         "[::1] LOOP6\n"
	                         "127.0.0.1\0 NUL\n"
	                         "!198.51.100.0/24 NOT\n";
	static const struct lookup lk[] = {
		{ "192.0.2.1", "NET24" },
		{ "192.0.2.255", "NET24" },
		{ "2001:db8::5", "V6" },
		{ "[2001:db8::5]", "V6" },
		{ "2001:DB8:0:0::ffff", "V6" },
		{ "::ffff:192.0.2.9", "NET24" },
		{ "203.0.113.5", "FIVE" },
		{ "203.0.113.6", "NOT" },
		{ "198.51.100.7", NOTFOUND },
		{ "100.64.1.1", "MAPPED" },
		{ "::1", "LOOP6" },
		{ "127.0.0.1", "NOT" },
		{ "10.1.2.3", "NOT" },
		{ "garbage", NOTFOUND },
		{ "", NOTFOUND },
		{ "192.0.2.1\n", NOTFOUND },
		{ "192.0.2.1/24", NOTFOUND },
		{ "192.0.2.01", NOTFOUND },
		{ "[192.0.2.1", NOTFOUND },
		{ "fe80::1%eth0", NOTFOUND },
	};
	pm_table *t;
	const char *err = NULL;
	char *path, *spec;

	path = write_file("cidr", cf, sizeof(cf) - 1);
	spec = pm_asprintf("cidr:%s", path);
	t = pm_table_open(spec, &err);
	cr_assert_not_null(t, "got NULL (%s)", err);
	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	pm_table_close(t);
	free(spec);
	free(path);
}

Test(table, lookup_addr_order, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const struct {
		const char *addr;
		int parent;
		const char *want;
	} cases[] = {
		{ "user@sub.example.com", 0, "full" },
		{ "x@sub2.example.com", 0, "dom" },
		{ "x@deep.sub3.example.com", 0, "dotparent" },
		{ "x@DEEP.Sub3.Example.COM", 0, "dotparent" },
		{ "x@a.example.org", 0, NOTFOUND },
		{ "x@a.example.org", 1, "parent" },
		{ "x@example.org", 0, "parent" },
		{ "user@example.org", 0, "parent" },
		{ "user@other.net", 0, "local" },
		{ "user", 0, "local" },
		{ "user@", 0, "local" },
		{ "\"q@x\"@sub2.example.com", 0, "dom" },
		{ "x@[192.0.2.1]", 1, NOTFOUND },
		{ "x@host.", 1, NOTFOUND },
		{ "", 0, NOTFOUND },
		{ "@", 0, NOTFOUND },
		{ "x@.", 1, NOTFOUND },
		{ "x@..", 1, NOTFOUND },
		{ "rx@anything.test", 0, "regexp full" },
		{ "q@regexp.example", 0, "inline domain" },
		{ "u@two.example", 0, "second table, full key" },
	};
	static const char rx[] =
	    "/^rx@/ regexp full\n"
	    "/^regexp\\.example$/ regexp must not see the domain\n"
	    "/^q@$/ regexp must not see user@\n";
	pm_tables *ts;
	const char *err = NULL;
	char *path, *spec, *v;
	size_t i;
	int rc;

	path = write_file("rx", rx, sizeof(rx) - 1);
	spec = pm_asprintf(
	    "inline:{ user@sub.example.com=full, sub2.example.com=dom,"
	    " .example.com=dotparent, example.org=parent, user@=local,"
	    " {regexp.example=inline domain}, {two.example=first table} }"
	    " regexp:%s, inline:{{u@two.example=second table, full key}}",
	    path);
	ts = pm_tables_open(spec, &err);
	cr_assert_not_null(ts, "got NULL (%s)", err);
	cr_expect_eq(pm_tables_count(ts), 3, "got %zu tables, want 3",
	    pm_tables_count(ts));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = NULL;
		rc = pm_table_lookup_addr(ts, cases[i].addr, cases[i].parent,
		    &v);
		if (cases[i].want == NOTFOUND) {
			cr_expect_eq(rc, PM_ENOENT,
			    "\"%s\": got %d \"%s\", "
			    "want not found",
			    cases[i].addr, rc, v ? v : "");
		} else {
			cr_expect(rc == 0 && strcmp(v, cases[i].want) == 0,
			    "\"%s\" parent=%d: got %d \"%s\", want \"%s\"",
			    cases[i].addr, cases[i].parent, rc,
			    rc == 0 ? v : "", cases[i].want);
		}
		if (rc == 0) {
			free(v);
		}
	}
	/* Plain list lookups: first table wins. */
	rc = pm_tables_get(ts, "two.example", &v);
	cr_expect(rc == 0 && strcmp(v, "first table") == 0,
	    "tables_get: got %d", rc);
	if (rc == 0) {
		free(v);
	}
	/* Partial keys: pm_tables_get sees regexp:, _fixed does not. */
	rc = pm_tables_get(ts, "rx@", &v);
	cr_expect(rc == 0 && strcmp(v, "regexp full") == 0,
	    "tables_get rx@: got %d, want \"regexp full\"", rc);
	if (rc == 0) {
		free(v);
	}
	rc = pm_tables_get_fixed(ts, "rx@", &v);
	cr_expect_eq(rc, PM_ENOENT,
	    "tables_get_fixed rx@: got %d \"%s\", "
	    "want not found",
	    rc, rc == 0 ? v : "");
	if (rc == 0) {
		free(v);
	}
	rc = pm_tables_get_fixed(ts, "user@", &v);
	cr_expect(rc == 0 && strcmp(v, "local") == 0,
	    "tables_get_fixed user@: got %d, want \"local\"", rc);
	if (rc == 0) {
		free(v);
	}
	pm_tables_close(ts);
	free(spec);
	free(path);

	ts = pm_tables_open("", &err);
	cr_assert_not_null(ts, "empty list: got NULL");
	cr_expect_eq(pm_tables_count(ts), 0, "empty list: got %zu tables",
	    pm_tables_count(ts));
	cr_expect_eq(pm_table_lookup_addr(ts, "a@b", 1, &v), PM_ENOENT,
	    "empty list lookup: got a match");
	pm_tables_close(ts);
	cr_expect_null(pm_tables_open("inline:{a=b", &err),
	    "unbalanced: got a list");
	cr_expect_null(pm_tables_open("static:x, bogus", &err),
	    "bogus: got a list");
	cr_expect_null(pm_tables_open("static:x }", &err),
	    "stray brace: got a list");
}

Test(table, netlist, .init = mkdir_tmp, .fini = rm_tmp)
{
	static const struct {
		const char *addr;
		int want;
	} cases[] = {
		{ "127.0.0.1", 1 },
		{ "127.255.255.254", 1 },
		{ "::1", 1 },
		{ "[::1]", 1 },
		{ "::2", 0 },
		{ "10.0.0.5", 0 },
		{ "10.0.0.6", 1 },
		{ "10.0.1.6", 0 },
		{ "10.0.0.1", 1 },
		{ "2001:db8::1", 1 },
		{ "2001:db9::1", 0 },
		{ "::ffff:127.0.0.1", 1 },
		{ "::ffff:10.0.0.5", 0 },
		{ "172.16.5.5", 1 },
		{ "::ffff:172.31.0.1", 1 },
		{ "192.0.2.77", 1 },
		{ "192.0.2.78", 0 },
		{ "192.0.2.79", 0 },
		{ "198.51.100.1", 1 },
		{ "garbage", 0 },
		{ "", 0 },
		{ "127.0.0.1\r\n", 0 },
		{ "127.0.0.1 ", 0 },
	};
	static const char *bad[] = {
		"10.0.0.1/24",
		"10.0.0.0/33",
		"hostname.example",
		"1.2.3.4/",
		"[::1",
		"inline:{a",
		"!",
		"[::1]/129",
		"1.2.3",
		"nosuch:x",
		"2001:db8::/129",
		"cidr:/nonexistent",
		"127.0.0.1 !x",
		NULL,
	};
	static const char cf[] = "172.16.0.0/12 ok\n";
	static const char lf[] = "# list file\n198.51.100.0/24, \n";
	pm_netlist *nl;
	const char *err = NULL;
	char *cpath, *lpath, *spec;
	size_t i;

	cpath = write_file("cidr", cf, sizeof(cf) - 1);
	lpath = write_file("list", lf, sizeof(lf) - 1);
	spec = pm_asprintf(
	    "127.0.0.0/8 [::1]/128, !10.0.0.5 10.0.0.0/24\n"
	    "2001:db8::/32 cidr:%s inline:{192.0.2.77=OK, 192.0.2.78=DUNNO,"
	    " 192.0.2.79=reject} %s",
	    cpath, lpath);
	nl = pm_netlist_parse(spec, &err);
	cr_assert_not_null(nl, "got NULL (%s)", err);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = pm_netlist_match(nl, cases[i].addr);

		cr_expect_eq(got, cases[i].want, "\"%s\": got %d, want %d",
		    cases[i].addr, got, cases[i].want);
	}
	cr_expect_eq(pm_netlist_match(nl, NULL), 0, "NULL: got a match");
	pm_netlist_free(nl);
	free(spec);

	nl = pm_netlist_parse("", &err);
	cr_assert_not_null(nl, "empty: got NULL");
	cr_expect_eq(pm_netlist_match(nl, "127.0.0.1"), 0,
	    "empty list: got a match");
	pm_netlist_free(nl);

	for (i = 0; bad[i] != NULL; i++) {
		err = NULL;
		nl = pm_netlist_parse(bad[i], &err);
		cr_expect_null(nl, "\"%s\": got a list, want NULL", bad[i]);
		cr_expect_not_null(err, "\"%s\": got no error text", bad[i]);
		pm_netlist_free(nl);
	}
	free(cpath);
	free(lpath);
}

Test(table, unix_passwd)
{
	static const struct lookup lk[] = {
		{ "root", "root" },
		{ "root@example.com", "root@example.com" },
		{ "ROOT@example.com", "ROOT@example.com" },
		{ "nosuchuser-pm-test", NOTFOUND },
		{ "nosuchuser-pm-test@example.com", NOTFOUND },
		{ "", NOTFOUND },
		{ "@example.com", NOTFOUND },
		{ "\"root\"@example.com", NOTFOUND },
		{ "+root", NOTFOUND },
		{ "../root", NOTFOUND },
	};
	const char *err = NULL;
	pm_table *t;
	char *v, *big;
	int rc;

	t = pm_table_open("unix:passwd.byname", &err);
	cr_assert_not_null(t, "got NULL (%s)", err);
	check_lookups(t, lk, sizeof(lk) / sizeof(lk[0]));
	big = pm_malloc(10001);
	memset(big, 'r', 10000);
	big[10000] = 0;
	rc = pm_table_get(t, big, &v);
	cr_expect_eq(rc, PM_ENOENT, "long name: got %d, want PM_ENOENT", rc);
	free(big);
	pm_table_close(t);
}

struct reader {
	pm_tables *ts;
	int errors;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	char *v;
	int i, rc;

	for (i = 0; i < 2000; i++) {
		rc = pm_tables_get(r->ts, "key", &v);
		if (rc != 0 ||
		    (strcmp(v, "old") != 0 && strcmp(v, "new") != 0)) {
			r->errors++;
		}
		if (rc == 0) {
			free(v);
		}
	}
	return (NULL);
}

Test(table, reload, .init = mkdir_tmp, .fini = rm_tmp)
{
	struct reader r[4];
	pthread_t th[4];
	pm_tables *ts;
	const char *err = NULL;
	char *path, *spec, *v = NULL;
	int rc, i;

	path = write_file("th", "key old\n", 8);
	spec = pm_asprintf("texthash:%s", path);
	ts = pm_tables_open(spec, &err);
	cr_assert_not_null(ts, "got NULL (%s)", err);
	for (i = 0; i < 4; i++) {
		r[i].ts = ts;
		r[i].errors = 0;
		pthread_create(&th[i], NULL, reader_main, &r[i]);
	}
	for (i = 0; i < 50; i++) {
		free(write_file("th", i % 2 ? "key old\n" : "key new\n", 8));
		rc = pm_tables_reload(ts);
		cr_expect_eq(rc, 0, "reload %d: got %d, want 0", i, rc);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(r[i].errors, 0, "reader %d: got %d errors", i,
		    r[i].errors);
	}
	free(write_file("th", "key new\n", 8));
	cr_expect_eq(pm_tables_reload(ts), 0, "reload failed");
	rc = pm_tables_get(ts, "key", &v);
	cr_expect(rc == 0 && strcmp(v, "new") == 0,
	    "after reload: got %d "
	    "\"%s\", want \"new\"",
	    rc, rc == 0 ? v : "");
	if (rc == 0) {
		free(v);
	}
	/* A failed reload keeps the old table. */
	unlink(path);
	rc = pm_tables_reload(ts);
	cr_expect_neq(rc, 0, "reload of a removed file: got 0, want error");
	rc = pm_tables_get(ts, "key", &v);
	cr_expect(rc == 0 && strcmp(v, "new") == 0,
	    "after failed reload: "
	    "got %d, want \"new\"",
	    rc);
	if (rc == 0) {
		free(v);
	}
	pm_tables_close(ts);
	free(spec);
	free(path);
}
