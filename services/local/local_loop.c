/*
 * NAME
 *	local_loop - mail forwarding loop detection (Delivered-To)
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	Postfix local(8) prepends "Delivered-To: <recipient>" to what it
 *	delivers or forwards, and bounces a message whose primary headers
 *	already hold a Delivered-To: with the recipient it is about to
 *	deliver to ("5.4.6 mail forwarding loop for <rcpt>"): the message
 *	came back through an alias or .forward. local_loop_seen() is that
 *	test, on the content as queued.
 * LIMITS
 *	Headers as pm_hdr_iter with a 100 KiB logical-header cap; only the
 *	primary header block is read.
 * SECURITY
 *	The content is a peer's: parsed by pm_msghdr, never past len.
 */
#include <string.h>

#include "local.h"
#include "pm_msghdr.h"

#define LOCAL_HDR_LIMIT (100 * 1024)

int
local_loop_seen(const char *content, size_t len, const char *address)
{
	pm_hdr_iter it;
	pm_hdr h;
	const char *v;
	size_t vlen, alen = strlen(address);
	int found = 0;

	pm_hdr_iter_init(&it, content, len, LOCAL_HDR_LIMIT);
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
