/*
 * NAME
 *	local_nexthop - split a "transport:nexthop" delegation value
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	local_delegate_parse() reads a value of mailbox_transport,
 *	fallback_transport or their _maps as Postfix's deliver_pass()
 *	does: the transport up to the first ':', the nexthop after it;
 *	without a nexthop (or with an empty one) the job's own nexthop.
 *	A pure function, for local_delegate.c and the unit tests.
 * LIMITS
 *	PM_QMGR_TRANSPORT_MAX bytes of a transport name,
 *	PM_QMGR_NEXTHOP_MAX of a nexthop, and the caller's buffers.
 * SECURITY
 *	Values are operator data, but what is returned goes to qmgr:
 *	printable ASCII without spaces only.
 */
#include <ctype.h>
#include <string.h>

#include "local.h"

/* Printable ASCII, no space: what a transport or nexthop may hold. */
static int
token_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char) s[i] <= 0x20 ||
		    (unsigned char) s[i] >= 0x7f) {
			return (0);
		}
	}
	return (1);
}

int
local_delegate_parse(const char *spec, const char *def_nexthop, char *tp,
    size_t tpsize, char *nh, size_t nhsize)
{
	const char *end, *colon;
	size_t tlen, nlen;

	while (isspace((unsigned char) *spec)) {
		spec++;
	}
	end = spec + strlen(spec);
	while (end > spec && isspace((unsigned char) end[-1])) {
		end--;
	}
	colon = memchr(spec, ':', (size_t) (end - spec));
	tlen = (size_t) ((colon != NULL ? colon : end) - spec);
	if (colon != NULL && colon + 1 < end) {
		nlen = (size_t) (end - colon - 1);
	} else {
		/* "transport" or "transport:": the job's own nexthop */
		colon = NULL;
		nlen = def_nexthop != NULL ? strlen(def_nexthop) : 0;
	}
	if (tlen == 0 || tlen > PM_QMGR_TRANSPORT_MAX || tlen >= tpsize ||
	    nlen > PM_QMGR_NEXTHOP_MAX || nlen >= nhsize ||
	    !token_ok(spec, tlen) ||
	    !token_ok(colon != NULL ? colon + 1 : def_nexthop, nlen)) {
		return (PM_EINVAL);
	}
	memcpy(tp, spec, tlen);
	tp[tlen] = 0;
	if (nlen > 0) {
		memcpy(nh, colon != NULL ? colon + 1 : def_nexthop, nlen);
	}
	nh[nlen] = 0;
	return (0);
}
