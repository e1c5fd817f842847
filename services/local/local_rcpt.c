/*
 * NAME
 *	local_rcpt - split a local recipient into user and extension
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	local_addr_split() is the first step of Postfix local(8)'s
 *	recipient handling: the local part folded to lower case, then cut
 *	at the first recipient_delimiter character (any of the set, as
 *	Postfix 2.11+) into user and extension. With owner_request_special
 *	a '-' is not a delimiter in "owner-xxx" and "xxx-request" names,
 *	so mailing-list companions keep their names. A delimiter as the
 *	first character never splits (Postfix: "+foo" has no user).
 * LIMITS
 *	LOCAL_NAME_MAX bytes of user, LOCAL_EXT_MAX of extension.
 * SECURITY
 *	The address is from qmgr or an alias table; a local part with NUL,
 *	'/' or none at all is refused (it would name a file).
 */
#include <string.h>

#include "local.h"

int
local_addr_split(local_addr *a, const char *address, const char *delims,
    int ownreq_special)
{
	const char *at = strrchr(address, '@');
	size_t len = at != NULL ? (size_t) (at - address) : strlen(address);
	size_t i, cut;
	const char *d = delims != NULL ? delims : "";
	char dc = 0;

	if (len == 0 || len >= sizeof(a->local)) {
		return (PM_EINVAL);
	}
	memcpy(a->local, address, len);
	a->local[len] = 0;
	if (strchr(a->local, '/') != NULL) {
		return (PM_EINVAL);
	}
	pm_lowercase(a->local);
	cut = len;
	if (*d != 0) {
		for (i = 1; i < len; i++) {
			if (strchr(d, a->local[i]) == NULL) {
				continue;
			}
			if (ownreq_special && a->local[i] == '-' &&
			    (strncmp(a->local, "owner-", 6) == 0 ||
			        (len > 8 &&
			            strcmp(a->local + len - 8, "-request") ==
			                0))) {
				continue;
			}
			cut = i;
			dc = a->local[i];
			break;
		}
	}
	if (cut > LOCAL_NAME_MAX || len - cut > LOCAL_EXT_MAX + 1) {
		return (PM_EINVAL);
	}
	memcpy(a->user, a->local, cut);
	a->user[cut] = 0;
	a->ext[0] = 0;
	if (cut < len) {
		memcpy(a->ext, a->local + cut + 1, len - cut - 1);
		a->ext[len - cut - 1] = 0;
	}
	a->delim = dc;
	a->domain = at != NULL ? at + 1 : NULL;
	return (0);
}
