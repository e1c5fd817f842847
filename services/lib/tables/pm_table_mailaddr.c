/*
 * NAME
 *	pm_table_mailaddr - user+ext@domain, user@domain, @domain lookups
 * SUMMARY
 *	#include "pm_table_mailaddr.h"
 * DESCRIPTION
 *	See pm_table_mailaddr.h.
 * LIMITS
 *	PM_TABLE_MAILADDR_MAX bytes of address.
 * SECURITY
 *	Keys are built from a bounded, NUL-free address.
 */
#include <stdlib.h>
#include <string.h>

#include "pm_table_mailaddr.h"
#include "pm_util.h"

int
pm_tables_find_mailaddr(pm_tables *ts, const char *addr, const char *delim,
    char **value)
{
	const char *at;
	char *key;
	size_t len, llen, blen;
	int rc;

	if (ts == NULL) {
		return (PM_ENOENT);
	}
	len = strlen(addr);
	if (len > PM_TABLE_MAILADDR_MAX || (at = strrchr(addr, '@')) == NULL) {
		return (PM_EINVAL);
	}
	if ((rc = pm_tables_get(ts, addr, value)) != PM_ENOENT) {
		return (rc);
	}
	llen = (size_t) (at - addr);
	blen = llen;
	if (delim != NULL && *delim) {
		/* the first delimiter after the first character, as Postfix */
		for (size_t i = 1; i < llen; i++) {
			if (strchr(delim, addr[i]) != NULL) {
				blen = i;
				break;
			}
		}
	}
	if (blen < llen) {
		key = pm_asprintf("%.*s%s", (int) blen, addr, at);
		rc = pm_tables_get_fixed(ts, key, value);
		free(key);
		if (rc != PM_ENOENT) {
			return (rc);
		}
	}
	return (pm_tables_get_fixed(ts, at, value));
}
