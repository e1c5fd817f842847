/*
 * NAME
 *	pm_loop - mail forwarding loop detection (Delivered-To)
 * DESCRIPTION
 *	See pm_loop.h: pm_loop_seen() walks the primary header block with
 *	pm_hdr_iter and compares each Delivered-To: value, trailing white
 *	space trimmed, with the address, ignoring case.
 * LIMITS
 *	PM_LOOP_HDR_LIMIT bytes of one logical header.
 * SECURITY
 *	The content is a peer's: parsed by pm_msghdr, never past len.
 */
#include <string.h>

#include "pm_loop.h"
#include "pm_msghdr.h"
#include "pm_util.h"

int
pm_loop_seen(const char *content, size_t len, const char *address)
{
	pm_hdr_iter it;
	pm_hdr h;
	const char *v;
	size_t vlen, alen = strlen(address);
	int found = 0;

	pm_hdr_iter_init(&it, content, len, PM_LOOP_HDR_LIMIT);
	pm_hdr_init(&h);
	while (!found && pm_hdr_next(&it, &h)) {
		if (!pm_hdr_is(&h, "Delivered-To")) {
			continue;
		}
		v = pm_hdr_value(&h, &vlen);
		while (vlen > 0 &&
		    (v[vlen - 1] == ' ' || v[vlen - 1] == '\t' ||
		        v[vlen - 1] == '\r' || v[vlen - 1] == '\n')) {
			vlen--;
		}
		if (vlen == alen && pm_strncaseeq(v, address, alen)) {
			found = 1;
		}
	}
	pm_hdr_free(&h);
	return (found);
}
