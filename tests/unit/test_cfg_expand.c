/*
 * NAME
 *	test_cfg_expand - $name expansion, computed defaults and lists
 * DESCRIPTION
 *	pm_cfg_expand(): references, ${name?x} and ${name:x}, reference
 *	loops, deep nesting and over-long results; the computed defaults
 *	(myhostname, mydomain, myorigin, mydestination); and pm_cfg's list
 *	splitting. Table-driven; warnings are read back through
 *	cfg_helper.h's output capture.
 */
#include <criterion/criterion.h>

#include "cfg_helper.h"

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
	cr_expect(strcmp(v, "") == 0, "big2: got %zu bytes, want 0", strlen(v));
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
		        h[strlen(host)] == '.',
		    "myhostname: got %s, want %s.*", h, host);
	}
	dot = strchr(h, '.');
	if (strchr(dot + 1, '.') != NULL) {
		cr_expect(strcmp(d, dot + 1) == 0, "mydomain: got %s, want %s",
		    d, dot + 1);
	} else {
		cr_expect(strcmp(d, "localdomain") == 0,
		    "mydomain: got %s, "
		    "want localdomain",
		    d);
	}
	cr_expect(eq_or_null(pm_cfg_raw("myhostname"), h),
	    "raw myhostname "
	    "differs from get: %s",
	    pm_cfg_raw("myhostname"));
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
		  "reject_unauth_destination",
		    "permit_mynetworks|"
		    "permit_sasl_authenticated|reject_unauth_destination",
		    3 },
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
