/*
 * NAME
 *	test_pipe_argv - unit tests of the pipe agent's flags, command
 *	template and macro expansion (services/pipe/pipe_argv.c)
 * DESCRIPTION
 *	Tables of template + job -> argument vector: one element per
 *	recipient for per-recipient macros, literal mail data (shell
 *	metacharacters, white space), q/h/u flags, the null sender,
 *	extensions; the conditional forms ${name?text}, ${name:text},
 *	${name?{a}:{b}} and { } grouping; refused templates (unknown
 *	macro, also in a branch, relative command, macro in argv[0],
 *	malformed, unbalanced { }); the argument count limit.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "pipe_argv.h"
#include "pm_command.h"
#include "pm_util.h"

/* The vector joined with "|". */
static char *
joined(char **v)
{
	pm_buf b;
	size_t i;

	pm_buf_init(&b, 0);
	for (i = 0; v[i] != NULL; i++) {
		pm_buf_printf(&b, "%s%s", i ? "|" : "", v[i]);
	}
	return (pm_buf_steal(&b, NULL));
}

Test(pipe_argv, expand)
{
	static const char *const two[] = { "a;b$(x)@Dom.Test",
		"User+Ext@EXAMPLE.test", NULL };
	static const char *const orig2[] = { "orig@x.test", "", NULL };
	static const char *const sp[] = { "\"John Doe\"@x.test", NULL };
	static const struct {
		const char *tmpl;
		const char *flags;
		const char *sender;
		const char *const *rcpt;
		const char *want;
	} cases[] = {
		{ "/bin/f -f ${sender} -- ${recipient}", "", "s@x.test", two,
		    "/bin/f|-f|s@x.test|--|a;b$(x)@Dom.Test|"
		    "User+Ext@EXAMPLE.test" },
		{ "/bin/f ${user} ${extension} ${mailbox} ${domain}", "", "",
		    two,
		    "/bin/f|a;b$(x)|User||Ext|a;b$(x)|User+Ext|Dom.Test|"
		    "EXAMPLE.test" },
		{ "/bin/f -f$sender x=${nexthop}/${queue_id}/${size} $$HOME",
		    "", "", two,
		    "/bin/f|-fMAILER-DAEMON|x=nh.Test/QID1/123|$HOME" },
		{ "/bin/f ${recipient}", "h", "", two,
		    "/bin/f|a;b$(x)@dom.test|User+Ext@example.test" },
		{ "/bin/f ${recipient} ${user} ${nexthop}", "uh", "", two,
		    "/bin/f|a;b$(x)@dom.test|user+ext@example.test|a;b$(x)|"
		    "user|nh.test" },
		{ "/bin/f ${recipient}", "q", "", two,
		    "/bin/f|\"a;b$(x)\"@Dom.Test|User+Ext@EXAMPLE.test" },
		{ "/bin/f ${recipient} ${sender}", "q", "a\"b c@x.test", sp,
		    "/bin/f|\"John Doe\"@x.test|\"a\\\"b c\"@x.test" },
		{ "/bin/f ${recipient} ${mailbox} ${user}", "", "", sp,
		    "/bin/f|John Doe@x.test|John Doe|John Doe" },
		{ "/bin/f ${original_recipient}", "", "", two,
		    "/bin/f|orig@x.test|User+Ext@EXAMPLE.test" },
		{ "/bin/f <${user}@${domain}>", "", "", two,
		    "/bin/f|<a;b$(x)@Dom.Test>|<User@EXAMPLE.test>" },
	};
	pipe_argv *t;
	pipe_vars v;
	char **out, *got, *err = NULL, bad;
	size_t i, n;
	int e;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert(pipe_argv_parse(cases[i].tmpl, &t, &err) == 0,
		    "%s: %s", cases[i].tmpl, err);
		memset(&v, 0, sizeof(v));
		cr_assert(pipe_flags_parse(cases[i].flags, &v.flags, &bad) ==
		    0);
		for (n = 0; cases[i].rcpt[n] != NULL; n++) {
		}
		v.sender = cases[i].sender;
		v.null_sender = "MAILER-DAEMON";
		v.nexthop = "nh.Test";
		v.queue_id = "QID1";
		v.size = 123;
		v.rcpt = cases[i].rcpt;
		v.orig = cases[i].rcpt == two ? orig2 : NULL;
		v.nrcpt = n;
		v.delim = "+";
		out = pipe_argv_expand(t, &v, &e);
		cr_assert(out != NULL, "case %zu: expand failed", i);
		got = joined(out);
		cr_expect(strcmp(got, cases[i].want) == 0,
		    "case %zu: got \"%s\", want \"%s\"", i, got, cases[i].want);
		free(got);
		pipe_argv_list_free(out);
		pipe_argv_free(t);
	}
}

Test(pipe_argv, client)
{
	static const char *const one[] = { "u@x.test", NULL };
	pipe_argv *t;
	pipe_vars v;
	char **out, *got, *err = NULL;
	int e;

	cr_assert(pipe_argv_parse("/bin/f ${client_address} "
	                          "${client_hostname} ${client_port} "
	                          "${client_protocol} ${client_helo} "
	                          "m=${sasl_method} u=${sasl_username} "
	                          "s=$(sasl_sender) $(recipient)",
	              &t, &err) == 0,
	    "%s", err);
	memset(&v, 0, sizeof(v));
	v.sender = "";
	v.null_sender = "MAILER-DAEMON";
	v.rcpt = one;
	v.nrcpt = 1;
	v.delim = "";
	v.client_address = "192.0.2.7";
	v.client_hostname = "Host.Example";
	v.client_port = "40123";
	v.client_protocol = "ESMTPA";
	v.client_helo = "helo;$(rm)";
	v.sasl_method = "PLAIN";
	v.sasl_username = "Alice";
	v.sasl_sender = "a b@x.test";
	out = pipe_argv_expand(t, &v, &e);
	cr_assert(out != NULL);
	got = joined(out);
	cr_expect_str_eq(got,
	    "/bin/f|192.0.2.7|Host.Example|40123|ESMTPA|helo;$(rm)|m=PLAIN|"
	    "u=Alice|s=a b@x.test|u@x.test");
	free(got);
	pipe_argv_list_free(out);

	/* not known (sendmail, no AUTH): empty strings */
	v.client_address = v.client_hostname = v.client_port = NULL;
	v.client_protocol = v.client_helo = NULL;
	v.sasl_method = v.sasl_username = v.sasl_sender = NULL;
	out = pipe_argv_expand(t, &v, &e);
	cr_assert(out != NULL);
	got = joined(out);
	cr_expect_str_eq(got, "/bin/f||||||m=|u=|s=|u@x.test");
	free(got);
	pipe_argv_list_free(out);
	pipe_argv_free(t);
}

/* Expand tmpl for rcpt (delimiter "+", sender s@x.test, no client). */
static char *
expand_str(const char *tmpl, const char *const *rcpt, const char *helo)
{
	pipe_argv *t;
	pipe_vars v;
	char **out, *got, *err = NULL;
	size_t n;
	int e;

	cr_assert(pipe_argv_parse(tmpl, &t, &err) == 0, "%s: %s", tmpl, err);
	for (n = 0; rcpt[n] != NULL; n++) {
	}
	memset(&v, 0, sizeof(v));
	v.sender = "s@x.test";
	v.null_sender = "MAILER-DAEMON";
	v.nexthop = "nh";
	v.rcpt = rcpt;
	v.nrcpt = n;
	v.delim = "+";
	v.client_helo = helo;
	out = pipe_argv_expand(t, &v, &e);
	cr_assert(out != NULL, "%s: expand failed", tmpl);
	got = joined(out);
	pipe_argv_list_free(out);
	pipe_argv_free(t);
	return (got);
}

/* ${name?value}, ${name:value} and their {} forms (mac_expand(3)). */
Test(pipe_argv, conditional)
{
	static const char *const two[] = { "ann+news@x.test", "bob@x.test",
		NULL };
	static const struct {
		const char *tmpl;
		const char *helo;
		const char *want;
	} cases[] = {
		/* per recipient: the condition decides per argument */
		{ "/bin/f ${extension?-e${extension}}", NULL,
		    "/bin/f|-enews|" },
		{ "/bin/f ${extension:none}", NULL, "/bin/f||none" },
		{ "/bin/f ${extension?{x=$extension}:{plain $user}}", NULL,
		    "/bin/f|x=news|plain bob" },
		{ "/bin/f ${extension?{ x }:y}", NULL, "/bin/f| x |y" },
		{ "/bin/f ${extension?a:b}", NULL, "/bin/f|a:b|" },
		{ "/bin/f $(extension:{dflt})", NULL, "/bin/f||dflt" },
		/* a per-recipient name only in a branch still repeats */
		{ "/bin/f ${client_helo?{$recipient}:{-}}", NULL,
		    "/bin/f|-|-" },
		{ "/bin/f ${client_helo?{$recipient}:{-}}", "h.test",
		    "/bin/f|ann+news@x.test|bob@x.test" },
		/* once per command, nested, $$ inside */
		{ "/bin/f ${client_helo?-h ${client_helo}} ${sender:x}",
		    "h.test", "/bin/f|-h h.test|" },
		{ "/bin/f ${client_helo?-h ${client_helo}}", "", "/bin/f|" },
		{ "/bin/f ${client_helo:${nexthop?{n=$$$nexthop}}}", NULL,
		    "/bin/f|n=$nh" },
		/* { } grouping: one argument with spaces */
		{ "/bin/f { -o a b } {x} { } -z", NULL, "/bin/f|-o a b|x||-z" },
		{ "/bin/f { to ${recipient} }", NULL,
		    "/bin/f|to ann+news@x.test|to bob@x.test" },
		{ "/bin/f ${client_helo?{a b}:{c d}}", NULL, "/bin/f|c d" },
		{ "/bin/f a}b", NULL, "/bin/f|a}b" },
	};
	size_t i;
	char *got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = expand_str(cases[i].tmpl, two, cases[i].helo);
		cr_expect(strcmp(got, cases[i].want) == 0,
		    "case %zu (%s): got \"%s\", want \"%s\"", i, cases[i].tmpl,
		    got, cases[i].want);
		free(got);
	}
}

Test(pipe_argv, refused)
{
	static const char *const bad[] = {
		"",
		"   ",
		"bin/f ${recipient}",
		"/bin/$sender",
		"/bin/f ${bogus}",
		"/bin/f ${recipient",
		"/bin/f ${}",
		"/bin/f $-x",
		"/bin/f ${client_addr}",
		"/bin/f $(recipient",
		"/bin/f $(bogus)",
		/* conditional forms and { } grouping */
		"/bin/f ${bogus?x}",
		"/bin/f ${bogus:x}",
		"/bin/f ${extension?${bogus}}",
		"/bin/f ${extension?{a}:{${nosuch}}}",
		"/bin/f ${extension?{a}junk}",
		"/bin/f ${extension:{a}junk}",
		"/bin/f ${extension?{a}:{b}junk}",
		"/bin/f ${extension?{a}",
		"/bin/f ${exten-sion?a}",
		"/bin/f { a b",
		"/bin/f {a}b",
		"{ /bin/f",
	};
	pipe_argv *t = NULL;
	char *err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		cr_expect(pipe_argv_parse(bad[i], &t, &err) == PM_EINVAL &&
		        err != NULL,
		    "\"%s\" accepted", bad[i]);
		free(err);
	}
}

Test(pipe_argv, flags)
{
	unsigned f = 0;
	char bad = 0;

	cr_expect(pipe_flags_parse("FRDOXqhu.>B", &f, &bad) == 0);
	cr_expect(f ==
	        (PIPE_F_FROM | PIPE_F_RPATH | PIPE_F_DELIV | PIPE_F_ORCPT |
	            PIPE_F_FINAL | PIPE_F_QUOTE | PIPE_F_FOLDH | PIPE_F_FOLDU |
	            PIPE_F_DOT | PIPE_F_GTFROM | PIPE_F_BLANK),
	    "got %#x", f);
	cr_expect(pipe_flags_parse("Fz", &f, &bad) == PM_EINVAL && bad == 'z',
	    "got bad '%c'", bad);
}

Test(pipe_argv, too_many)
{
	static const char *one[] = { "r@x.test" };
	const char **many = pm_calloc(PM_COMMAND_MAX_ARGS + 1, sizeof(*many));
	pipe_argv *t;
	pipe_vars v;
	char *err = NULL, **out;
	size_t i;
	int e = 0;

	for (i = 0; i <= PM_COMMAND_MAX_ARGS; i++) {
		many[i] = one[0];
	}
	cr_assert(pipe_argv_parse("/bin/f ${recipient}", &t, &err) == 0);
	memset(&v, 0, sizeof(v));
	v.sender = "";
	v.null_sender = "MAILER-DAEMON";
	v.rcpt = many;
	v.nrcpt = PM_COMMAND_MAX_ARGS;
	out = pipe_argv_expand(t, &v, &e);
	cr_expect(out == NULL && e == PM_ETOOBIG, "too many arguments");
	v.nrcpt = 3;
	out = pipe_argv_expand(t, &v, &e);
	cr_expect(out != NULL && out[3] != NULL && out[4] == NULL);
	pipe_argv_list_free(out);
	pipe_argv_free(t);
	free(many);
}

Test(pipe_argv, quote)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "plain.user@x", "plain.user@x" },
		{ ".lead@x", "\".lead\"@x" },
		{ "a..b@x", "\"a..b\"@x" },
		{ "a b@x", "\"a b\"@x" },
		{ "a\\b@x", "\"a\\\\b\"@x" },
		{ "\"@\"@x", "\"\\\"@\\\"\"@x" },
		{ "noat", "noat" },
		{ "@x", "@x" },
	};
	char *got, *back;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = pipe_addr_quote(cases[i].in);
		back = pipe_addr_unquote(got);
		cr_expect(strcmp(back, cases[i].in) == 0, "unquote %s: got %s",
		    got, back);
		free(back);
		cr_expect(strcmp(got, cases[i].want) == 0,
		    "%s: got %s, want %s", cases[i].in, got, cases[i].want);
		free(got);
	}
}
