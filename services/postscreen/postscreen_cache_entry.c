/*
 * NAME
 *	postscreen_cache_entry - the text of a postscreen cache entry
 * DESCRIPTION
 *	"greet=<t>;dnsbl=<t>": the Unix time until which the pregreet and
 *	the DNSBL test count as passed (0: not passed). psc_cache_parse()
 *	reads it (PM_EINVAL if it is anything else), psc_cache_format()
 *	writes it (PM_ETOOBIG if buf is too small). Used by
 *	postscreen_cache.c; no other dependency, for the unit test.
 * LIMITS
 *	Times are longs; negative ones are refused.
 * SECURITY
 *	The entry comes from Redis: parsed strictly, whole string.
 */
#include <stdio.h>

#include "pm_util.h"
#include "postscreen.h"

int
psc_cache_parse(const char *value, long *greet_exp, long *dnsbl_exp)
{
	long g, d;
	int end = 0;

	if (sscanf(value, "greet=%ld;dnsbl=%ld%n", &g, &d, &end) != 2 ||
	    value[end] != 0 || g < 0 || d < 0) {
		return (PM_EINVAL);
	}
	*greet_exp = g;
	*dnsbl_exp = d;
	return (0);
}

int
psc_cache_format(char *buf, size_t size, long greet_exp, long dnsbl_exp)
{
	int n =
	    snprintf(buf, size, "greet=%ld;dnsbl=%ld", greet_exp, dnsbl_exp);

	return (n < 0 || (size_t) n >= size ? PM_ETOOBIG : 0);
}
