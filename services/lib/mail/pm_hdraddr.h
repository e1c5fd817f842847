/*
 * NAME
 *	pm_hdraddr - the addresses of an RFC 5322 address-list header value
 * SUMMARY
 *	#include "pm_hdraddr.h"
 * DESCRIPTION
 *	pm_hdr_addrs() appends to *list the addresses in the value of a
 *	To:, Cc:, Bcc: (or Resent-) header, as Postfix's tok822 parser
 *	finds them for sendmail -t: "Name <a@b>" gives a@b, a bare a@b is
 *	taken as is, comments "(...)" and white space outside quoted
 *	strings are dropped, a group "name: a@b, c@d;" gives its members
 *	(an empty group "undisclosed-recipients:;" gives nothing), a
 *	source route "<@relay:a@b>" gives a@b. Quoted strings keep their
 *	quotes ("john doe"@example.com). A bare local part (no @) is
 *	returned as is: cleanup qualifies it with $myorigin.
 * LIMITS
 *	An address longer than PM_ADDR_MAX is skipped (returned count of
 *	skipped addresses); the caller bounds the header (header_size_limit).
 * SECURITY
 *	The value is untrusted: unbalanced quotes, comments and brackets end
 *	at the end of the value; control characters are dropped, also
 *	when quoted ("a\\<TAB>b" gives "ab"), so that every address
 *	returned passes pm_envcheck_addr().
 */
#ifndef PM_HDRADDR_H
#define PM_HDRADDR_H

#include <stddef.h>

typedef struct pm_addr_list {
	char **addr; /* malloc'ed strings */
	size_t n;
	size_t cap;
} pm_addr_list;

/* Returns the number of addresses skipped as too long. */
size_t pm_hdr_addrs(const char *value, size_t len, pm_addr_list *list);
void pm_addr_list_free(pm_addr_list *list);

#endif
