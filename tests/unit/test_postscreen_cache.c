/*
 * NAME
 *	test_postscreen_cache - postscreen cache entry text
 * DESCRIPTION
 *	psc_cache_parse() and psc_cache_format() (postscreen_cache_entry.c):
 *	round trip, and hostile entries refused.
 */
#include <criterion/criterion.h>

#include "pm_util.h"
#include "postscreen.h"

Test(postscreen_cache, round_trip)
{
	char buf[64];
	long g = -1, d = -1;

	cr_assert_eq(psc_cache_format(buf, sizeof(buf), 1700000000, 0), 0);
	cr_assert_str_eq(buf, "greet=1700000000;dnsbl=0");
	cr_assert_eq(psc_cache_parse(buf, &g, &d), 0);
	cr_assert_eq(g, 1700000000, "got %ld, want 1700000000", g);
	cr_assert_eq(d, 0, "got %ld, want 0", d);
}

Test(postscreen_cache, too_small)
{
	char buf[8];

	cr_assert_eq(psc_cache_format(buf, sizeof(buf), 1, 2), PM_ETOOBIG);
}

Test(postscreen_cache, hostile)
{
	static const char *const bad[] = {
		"",
		"greet=1",
		"greet=1;dnsbl=",
		"greet=1;dnsbl=2;x",
		"greet=-1;dnsbl=2",
		"greet=1;dnsbl=-2",
		"dnsbl=1;greet=2",
		"greet=1;dnsbl=2 ",
		"GREET=1;DNSBL=2",
		NULL,
	};
	long g = 7, d = 7;
	int i;

	for (i = 0; bad[i] != NULL; i++) {
		cr_assert_eq(psc_cache_parse(bad[i], &g, &d), PM_EINVAL,
		    "\"%s\" accepted", bad[i]);
		cr_assert_eq(g, 7, "out-parameter changed for \"%s\"", bad[i]);
	}
}
