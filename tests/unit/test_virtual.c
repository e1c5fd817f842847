/*
 * NAME
 *	test_virtual - unit tests of the virtual agent's pure parts
 * DESCRIPTION
 *	virtual_path(): base + table result, trailing "/" = maildir,
 *	".." and control characters refused, length bounded.
 *	virtual_id_parse(): decimal uid/gid values with a minimum.
 *	pm_tables_find_mailaddr(): user+ext@domain, user@domain, @domain
 *	(Postfix's virtual(8) lookup order), pattern tables only with the
 *	full address.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "pm_table_mailaddr.h"
#include "pm_util.h"
#include "virtual.h"

Test(virtual, path)
{
	static const struct {
		const char *base, *rel;
		int rc;
		const char *want;
		int maildir;
	} t[] = {
		{ "/var/mail/vhosts", "one.test/alice/", 0,
		    "/var/mail/vhosts/one.test/alice/", 1 },
		{ "/var/mail/vhosts/", "two.test/bob", 0,
		    "/var/mail/vhosts/two.test/bob", 0 },
		{ "/v", " d/u/ ", 0, "/v/d/u/", 1 },
		{ "/v", "/abs/x", 0, "/v/abs/x", 0 }, /* stays under base */
		{ "/v", "", PM_EINVAL, NULL, 0 },
		{ "/v", "/", PM_EINVAL, NULL, 0 },
		{ "/v", "..", PM_EINVAL, NULL, 0 },
		{ "/v", "d/../../etc/passwd", PM_EINVAL, NULL, 0 },
		{ "/v", "d/u/..", PM_EINVAL, NULL, 0 },
		{ "/v", "d/..u/", 0, "/v/d/..u/", 1 },
		{ "/v", "d/u\nx", PM_EINVAL, NULL, 0 },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *why = NULL;
		int md = -1;
		int rc = virtual_path(t[i].base, t[i].rel, out, sizeof(out),
		    &md, &why);

		cr_assert_eq(rc, t[i].rc, "%s: got %d, want %d", t[i].rel, rc,
		    t[i].rc);
		if (rc == 0) {
			cr_assert_str_eq(out, t[i].want);
			cr_assert_eq(md, t[i].maildir, "%s", t[i].rel);
		} else {
			cr_assert_not_null(why);
		}
	}
	/* too long */
	{
		char rel[200];
		const char *why;
		int md;

		memset(rel, 'a', sizeof(rel) - 1);
		rel[sizeof(rel) - 1] = 0;
		cr_assert_eq(virtual_path("/v", rel, out, sizeof(out), &md,
		                 &why),
		    PM_EINVAL);
	}
}

Test(virtual, id_parse)
{
	static const struct {
		const char *in;
		long min;
		int rc;
		long want;
	} t[] = {
		{ "1234", 100, 0, 1234 },
		{ " 1234 ", 100, 0, 1234 },
		{ "99", 100, PM_EINVAL, 0 },
		{ "0", 1, PM_EINVAL, 0 },
		{ "-5", 1, PM_EINVAL, 0 },
		{ "12x", 1, PM_EINVAL, 0 },
		{ "", 1, PM_EINVAL, 0 },
		{ "99999999999", 1, PM_EINVAL, 0 },
		{ "nobody", 1, PM_EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		long id = -1;
		int rc = virtual_id_parse(t[i].in, t[i].min, &id);

		cr_assert_eq(rc, t[i].rc, "\"%s\": got %d", t[i].in, rc);
		cr_assert_eq(id, rc == 0 ? t[i].want : -1, "\"%s\"", t[i].in);
	}
}

Test(virtual, find_mailaddr)
{
	static const struct {
		const char *addr, *delim;
		int rc;
		const char *want;
	} t[] = {
		{ "alice@one.test", "+", 0, "full" },
		{ "alice+x@one.test", "+", 0, "full-ext" },
		{ "alice+y@one.test", "+", 0, "full" }, /* extension dropped */
		{ "alice+y@one.test", "", 0, "catch" }, /* no delimiter */
		{ "bob@one.test", "+", 0, "catch" },    /* @domain */
		{ "bob@two.test", "+", PM_ENOENT, NULL },
		{ "+x@two.test", "+", PM_ENOENT, NULL }, /* not at position 0 */
		{ "nodomain", "+", PM_EINVAL, NULL },
		{ "pat@re.test", "+", 0, "re" }, /* full key: pattern ok */
		{ "pat+z@re.test", "+", 0, "re" },
		{ "zz@re.test", "+", PM_ENOENT, NULL }, /* "@re.test": no */
	};
	const char *err = NULL;
	pm_tables *ts = pm_tables_open("inline:{ alice@one.test=full, "
	                               "alice+x@one.test=full-ext, "
	                               "@one.test=catch }",
	    &err);
	pm_tables *re;
	char path[] = "/tmp/pm_vre_XXXXXX";
	int fd = mkstemp(path);

	cr_assert_not_null(ts, "%s", err);
	cr_assert(fd >= 0);
	{
		static const char rx[] = "/^pat(\\+.*)?@re\\.test$/ re\n"
		                         "/^@re\\.test$/ at\n";

		cr_assert(write(fd, rx, sizeof(rx) - 1) ==
		    (ssize_t) sizeof(rx) - 1);
	}
	close(fd);
	{
		char spec[64];

		snprintf(spec, sizeof(spec), "inline:{ x=y }, regexp:%s", path);
		re = pm_tables_open(spec, &err);
		cr_assert_not_null(re, "%s", err);
	}
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pm_tables *use = strstr(t[i].addr, "re.test") ? re : ts;
		char *v = NULL;
		int rc =
		    pm_tables_find_mailaddr(use, t[i].addr, t[i].delim, &v);

		cr_assert_eq(rc, t[i].rc, "%s: got %d, want %d", t[i].addr, rc,
		    t[i].rc);
		if (rc == 0) {
			cr_assert_str_eq(v, t[i].want, "%s", t[i].addr);
		}
		free(v);
	}
	unlink(path);
	pm_tables_close(ts);
	pm_tables_close(re);
}
