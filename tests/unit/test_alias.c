/*
 * NAME
 *	test_alias - unit tests for pm_alias (aliases(5) and :include:)
 * DESCRIPTION
 *	Tables of values and files with the wanted targets or errors
 *	("line N: reason"), including hostile input: NUL bytes, bare CR,
 *	control characters, unbalanced quotes and brackets, over-long lines
 *	and targets, too many targets, a file over the size limit.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm_alias.h"
#include "pm_util.h"

/* "kind:value" of each target, joined by " | "; "\" marks noalias. */
static char *
render(const pm_alias_list *l)
{
	pm_buf b;
	size_t i;

	pm_buf_init(&b, 0);
	for (i = 0; i < l->n; i++) {
		pm_buf_printf(&b, "%s%s:%s%s", i ? " | " : "",
		    pm_alias_kind_name(l->v[i].kind),
		    l->v[i].noalias ? "\\" : "", l->v[i].value);
	}
	return (pm_buf_steal(&b, NULL));
}

struct split_case {
	const char *value;
	const char *want; /* rendered targets, or "error: reason" */
};

static const struct split_case split_cases[] = {
	{ "root", "address:root" },
	{ "a, b@example.com,c",
	    "address:a | address:b@example.com | address:c" },
	{ "<u@example.com>", "address:u@example.com" },
	{ "\\root", "address:\\root" },
	{ "\"john doe\"@example.com", "address:\"john doe\"@example.com" },
	{ "\"john doe\"", "address:\"john doe\"" },
	{ "\"a,b\"@example.com, c", "address:\"a,b\"@example.com | address:c" },
	{ "u@[IPv6:2001:db8::1]", "address:u@[IPv6:2001:db8::1]" },
	{ "|/usr/bin/vacation root", "command:/usr/bin/vacation root" },
	{ "\"|/bin/cmd -a, -b\", x", "command:/bin/cmd -a, -b | address:x" },
	{ "\"|/bin/say \\\"hi\\\"\"", "command:/bin/say \"hi\"" },
	{ "| /bin/cmd", "command:/bin/cmd" },
	{ "/var/log/all-mail", "file:/var/log/all-mail" },
	{ "/home/u/Maildir/", "file:/home/u/Maildir/" },
	{ "\"/var/a file\"", "file:/var/a file" },
	{ ":include:/etc/mail/staff", "include:/etc/mail/staff" },
	{ ":INCLUDE: /etc/mail/staff", "include:/etc/mail/staff" },
	{ "\":include:/etc/mail/a b\"", "include:/etc/mail/a b" },
	{ "a,,b, ,", "address:a | address:b" },
	{ "", "" },
	{ "   ", "" },
	/* Hostile and wrong. */
	{ "\"unterminated", "error: unbalanced quote" },
	{ "\"a\\\"", "error: unbalanced quote" },
	{ "<a@b", "error: unbalanced '<>' or '[]'" },
	{ "a@b>", "error: unbalanced '<>' or '[]'" },
	{ "<<a@b>>", "error: unbalanced '<>' or '[]'" },
	{ "a@[1.2.3.4", "error: unbalanced '<>' or '[]'" },
	{ "<>", "error: empty address" },
	{ "john doe", "error: unquoted white space in address" },
	{ "/var/a file", "error: unquoted white space in file name" },
	{ "|", "error: empty |command" },
	{ "\"|  \"", "error: empty |command" },
	{ ":include:", "error: :include: needs an absolute path" },
	{ ":include:etc/x", "error: :include: needs an absolute path" },
	{ "root: admin", "error: unquoted ':' in address" },
	{ "a\rb", "error: control character" },
	{ "a\033b", "error: control character" },
	{ "\\", "error: empty address" },
};

Test(alias, split)
{
	size_t i;

	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		const struct split_case *c = &split_cases[i];
		pm_alias_list l = { 0 };
		const char *err = NULL;
		char *got;
		int rc = pm_alias_split(c->value, &l, &err);

		got = rc == 0 ? render(&l) : pm_asprintf("error: %s", err);
		cr_expect_str_eq(got, c->want,
		    "value \"%s\": got \"%s\", want \"%s\"", c->value, got,
		    c->want);
		free(got);
		pm_alias_list_free(&l);
	}
}

Test(alias, split_limits)
{
	pm_alias_list l = { 0 };
	const char *err = NULL;
	char *v;
	pm_buf b;
	int i;

	/* PM_ALIAS_TARGETS_MAX targets pass, one more fails. */
	pm_buf_init(&b, 0);
	for (i = 0; i < PM_ALIAS_TARGETS_MAX; i++) {
		pm_buf_printf(&b, "%su%d", i ? "," : "", i);
	}
	cr_assert_eq(pm_alias_split(b.data, &l, &err), 0, "got %s", err);
	cr_expect_eq(l.n, PM_ALIAS_TARGETS_MAX);
	pm_alias_list_free(&l);
	pm_buf_puts(&b, ",one-more");
	cr_expect_eq(pm_alias_split(b.data, &l, &err), PM_ETOOBIG);
	cr_expect_str_eq(err, "too many targets");
	cr_expect_eq(l.n, 0, "out untouched on error");
	pm_buf_free(&b);

	/* A target over PM_ALIAS_TARGET_MAX, an address over PM_ADDR_MAX. */
	v = pm_malloc(PM_ALIAS_TARGET_MAX + 3);
	v[0] = '|';
	memset(v + 1, 'x', PM_ALIAS_TARGET_MAX + 1);
	v[PM_ALIAS_TARGET_MAX + 2] = 0;
	cr_expect_eq(pm_alias_split(v, &l, &err), PM_ETOOBIG);
	cr_expect_str_eq(err, "target too long");
	memset(v, 'a', 400);
	v[400] = 0;
	cr_expect_eq(pm_alias_split(v, &l, &err), PM_ETOOBIG);
	cr_expect_str_eq(err, "address too long");
	free(v);

	/* 32000 quoted strings in one target: linear work, then refused. */
	v = pm_malloc(64001);
	for (i = 0; i < 64000; i++) {
		v[i] = '"';
	}
	v[64000] = 0;
	cr_expect_eq(pm_alias_split(v, &l, &err), PM_ETOOBIG);
	cr_expect_str_eq(err, "target too long");
	free(v);
}

/* Errors collected as "line N: reason" lines. */
static void
collect(void *arg, const char *path, int lineno, const char *msg)
{
	(void) path;
	pm_buf_printf(arg, "line %d: %s\n", lineno, msg);
}

struct file_case {
	const char *name;
	const char *data;
	size_t len;               /* 0: strlen(data) */
	const char *want_entries; /* "name=targets;" per entry */
	const char *want_errors;  /* collected errors */
};

static const struct file_case file_cases[] = {
	{ "basic",
	    "# comment\n"
	    "Root: admin\n"
	    "\n"
	    "postmaster: root\n",
	    0, "root@2=address:admin;postmaster@4=address:root;", "" },
	{ "continuation",
	    "staff: alice,\n"
	    "\tbob,\n"
	    "# a comment inside\n"
	    "\n"
	    "  \"|/usr/bin/log staff\",\n"
	    "  /var/log/staff, :include:/etc/staff\n"
	    "next: x\n",
	    0,
	    "staff@1=address:alice | address:bob | command:/usr/bin/log staff"
	    " | file:/var/log/staff | include:/etc/staff;next@7=address:x;",
	    "" },
	{ "quoted name", "\"Mail Admin\": root\n\"a\\\"b\" : c\n", 0,
	    "mail admin@1=address:root;a\"b@2=address:c;", "" },
	{ "crlf", "root: admin\r\nabuse: root\r\n", 0,
	    "root@1=address:admin;abuse@2=address:root;", "" },
	{ "no newline at end", "root: admin", 0, "root@1=address:admin;", "" },
	{ "errors",
	    "  leading: x\n"
	    "noval:\n"
	    "novalue\n"
	    "a b: c\n"
	    "u@dom: x\n"
	    "\"open: x\n"
	    "bad: \"x\n"
	    "ok: y\n"
	    "OK: z\n"
	    ": x\n"
	    "q\"x\": y\n"
	    "e: ,\n",
	    0, "ok@8=address:y;",
	    "line 1: continuation line without a \"name: value\" line before it\n"
	    "line 2: need name:value pair\n"
	    "line 3: need name:value pair\n"
	    "line 4: unquoted white space in name\n"
	    "line 5: name must be local (no '@')\n"
	    "line 6: unbalanced quote in name\n"
	    "line 7: unbalanced quote\n"
	    "line 9: duplicate entry: \"ok\" (the first one is kept)\n"
	    "line 10: need name:value pair\n"
	    "line 11: quote inside a name: quote the whole name\n"
	    "line 12: need name:value pair\n" },
	{ "NUL and bare CR", "a: x\0y\nb: y\nc: p\rq\n  r\nd: ok\n", 29,
	    "b@2=address:y;d@5=address:ok;",
	    "line 1: NUL byte\nline 3: control character\n" },
	{ "error in continuation", "a: x,\n y z\nb: ok\n", 0, "b@3=address:ok;",
	    "line 1: unquoted white space in address\n" },
	{ "empty", "", 0, "", "" },
	{ "only comments", "# x\n\n   \n#y", 0, "", "" },
};

static char *
render_file(const pm_alias_file *f)
{
	pm_buf b;
	size_t i;
	char *t;

	pm_buf_init(&b, 0);
	for (i = 0; i < f->n; i++) {
		t = render(&f->v[i].targets);
		pm_buf_printf(&b, "%s@%d=%s;", f->v[i].name, f->v[i].lineno, t);
		free(t);
	}
	return (pm_buf_steal(&b, NULL));
}

Test(alias, parse)
{
	size_t i, nerr;

	for (i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
		const struct file_case *c = &file_cases[i];
		size_t len = c->len ? c->len : strlen(c->data);
		pm_alias_file f;
		char *got, *errs;
		pm_buf eb;
		const char *p;

		pm_buf_init(&eb, 0);
		cr_assert_eq(pm_alias_parse("t", c->data, len, &f, collect,
		                 &eb),
		    0);
		got = render_file(&f);
		errs = pm_buf_steal(&eb, NULL);
		cr_expect_str_eq(got, c->want_entries,
		    "%s: got \"%s\", want \"%s\"", c->name, got,
		    c->want_entries);
		cr_expect_str_eq(errs, c->want_errors,
		    "%s: errors got \"%s\", want \"%s\"", c->name, errs,
		    c->want_errors);
		for (nerr = 0, p = c->want_errors; *p; p++) {
			nerr += *p == '\n';
		}
		cr_expect_eq(f.nerrors, nerr, "%s: nerrors got %zu, want %zu",
		    c->name, f.nerrors, nerr);
		free(got);
		free(errs);
		pm_alias_file_free(&f);
	}
}

Test(alias, value_and_find)
{
	static const char data[] = "staff: a,\n  \"|/bin/x y\",\n\t/f\n";
	pm_alias_file f;

	cr_assert_eq(pm_alias_parse("t", data, strlen(data), &f, NULL, NULL),
	    0);
	cr_assert_eq(f.n, 1);
	/* The value text re-splits to the same targets. */
	cr_expect_str_eq(f.v[0].value, "a, \"|/bin/x y\", /f");
	cr_expect_not_null(pm_alias_file_find(&f, "STAFF"));
	cr_expect_null(pm_alias_file_find(&f, "nobody"));
	pm_alias_file_free(&f);
}

Test(alias, long_line)
{
	size_t len = PM_ALIAS_LINE_MAX + 2000, i;
	char *data = pm_malloc(len + 128);
	pm_alias_file f;
	pm_buf eb;

	/* A logical line over the limit, built from continuation lines. */
	memcpy(data, "big: a", 6);
	for (i = 6; i < len; i += 100) {
		/* 100-byte targets: the line limit comes before the count. */
		memcpy(data + i, ",\n ", 3);
		memset(data + i + 3, 'b', 97);
	}
	strcpy(data + i, "\nsmall: ok\n");
	pm_buf_init(&eb, 0);
	cr_assert_eq(pm_alias_parse("t", data, strlen(data), &f, collect, &eb),
	    0);
	cr_expect_eq(f.n, 1);
	cr_expect_str_eq(f.v[0].name, "small");
	cr_expect_str_eq(eb.data, "line 1: line too long\n", "got %s", eb.data);
	pm_buf_free(&eb);
	pm_alias_file_free(&f);
	free(data);
}

struct include_case {
	const char *data;
	const char *want;
	const char *want_errors;
};

static const struct include_case include_cases[] = {
	{ "alice\nbob, carol\n# c\n\n  \"|/bin/x a\"\n/var/f\n:include:/x\n",
	    "address:alice | address:bob | address:carol | command:/bin/x a"
	    " | file:/var/f | include:/x",
	    "" },
	{ "root: admin\nok\n\"open\n", "address:ok",
	    "line 1: unquoted ':' in address\nline 3: unbalanced quote\n" },
	{ "", "", "" },
};

Test(alias, include)
{
	size_t i, nerr;

	for (i = 0; i < sizeof(include_cases) / sizeof(include_cases[0]); i++) {
		const struct include_case *c = &include_cases[i];
		pm_alias_list l;
		pm_buf eb;
		char *got;

		pm_buf_init(&eb, 0);
		cr_assert_eq(pm_alias_include_parse("inc", c->data,
		                 strlen(c->data), &l, &nerr, collect, &eb),
		    0);
		got = render(&l);
		cr_expect_str_eq(got, c->want, "got \"%s\", want \"%s\"", got,
		    c->want);
		cr_expect_str_eq(eb.data ? eb.data : "", c->want_errors,
		    "errors got \"%s\"", eb.data ? eb.data : "");
		free(got);
		pm_buf_free(&eb);
		pm_alias_list_free(&l);
	}
}

Test(alias, include_too_many)
{
	pm_alias_list l;
	size_t nerr;
	pm_buf b;
	int i;

	/* 600 + 600 targets: the second line would pass the limit. */
	pm_buf_init(&b, 0);
	for (i = 0; i < 1200; i++) {
		pm_buf_printf(&b, "u%d%s", i, i == 599 ? "\n" : ",");
	}
	cr_assert_eq(pm_alias_include_parse("inc", b.data, b.len, &l, &nerr,
	                 NULL, NULL),
	    0);
	cr_expect_eq(l.n, 600);
	cr_expect_eq(nerr, 1);
	pm_alias_list_free(&l);
	pm_buf_free(&b);
}

Test(alias, load_files)
{
	char dir[] = "/tmp/test_alias.XXXXXX", *path, *big;
	pm_alias_file f;
	pm_alias_list l;
	size_t nerr;
	pm_buf eb;
	FILE *fp;
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	path = pm_asprintf("%s/aliases", dir);
	fp = fopen(path, "w");
	fputs("root: admin, :include:/x\n", fp);
	fclose(fp);
	cr_assert_eq(pm_alias_load(path, &f, NULL, NULL), 0);
	cr_expect_eq(f.n, 1);
	pm_alias_file_free(&f);
	cr_expect_eq(pm_alias_include_load(path, &l, &nerr, NULL, NULL), 0);
	cr_expect_eq(nerr, 1, "a name: line in an include file is an error");
	pm_alias_list_free(&l);

	/* Missing, a directory, and one byte over the size limit. */
	pm_buf_init(&eb, 0);
	cr_expect_eq(pm_alias_load("/nonexistent/aliases", &f, collect, &eb),
	    PM_ENOENT);
	cr_expect_eq(pm_alias_load(dir, &f, collect, &eb), PM_EIO);
	big = pm_asprintf("%s/big", dir);
	fd = open(big, O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, PM_ALIAS_FILE_MAX + 1), 0);
	close(fd);
	cr_expect_eq(pm_alias_load(big, &f, collect, &eb), PM_ETOOBIG);
	cr_expect_not_null(strstr(eb.data, "line 0: file too large"), "got %s",
	    eb.data);
	unlink(big);
	unlink(path);
	rmdir(dir);
	free(big);
	free(path);
	pm_buf_free(&eb);
}
