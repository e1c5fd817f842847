/*
 * NAME
 *	test_qmgr_redirect - unit tests of qmgr's redirect rules
 * DESCRIPTION
 *	qmgr_redirect_refused(): a redirect (RCPT_REDIRECT from an agent)
 *	to another transport is followed when the agent is local's; one
 *	from any other transport, one to the agent's own
 *	transport, to "local", past the limit, or with a hostile name is
 *	refused with a reason. qmgr_redirect_name_ok(): printable ASCII
 *	without spaces, bounded, empty only when allowed.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "qmgr.h"
#include "qmgr_clnt.h"

Test(qmgr_redirect, refused)
{
	static const struct {
		const char *from, *to;
		unsigned n;
		long limit;
		const char *want; /* substring of the reason, NULL: followed */
	} t[] = {
		{ "local", "lmtp", 1, 2, NULL },
		{ "local", "dovecot", 2, 2, NULL },
		{ "local", "lmtp", 3, 2, "more than qmgr_redirect_limit" },
		{ "local", "local", 1, 2, "its own transport" },
		{ "local2", "lmtp", 1, 2, "only the local delivery agent" },
		{ "virtual", "virtual", 1, 2, "only the local delivery agent" },
		{ "smtp", "lmtp", 1, 2, "only the local delivery agent" },
		{ "pipe", "lmtp", 1, 2, "only the local delivery agent" },
		{ "local", "", 1, 2, "bad transport name" },
		{ "local", "lm tp", 1, 2, "bad transport name" },
		{ "local", "lmtp\r\nX", 1, 2, "bad transport name" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *why = qmgr_redirect_refused(t[i].from, t[i].to,
		    t[i].n, t[i].limit);

		if (t[i].want == NULL) {
			cr_expect_null(why, "%s -> %s: got \"%s\", want none",
			    t[i].from, t[i].to, why);
		} else {
			cr_expect(why != NULL && strstr(why, t[i].want) != NULL,
			    "%s -> %s (%u): got \"%s\", want \"%s\"", t[i].from,
			    t[i].to, t[i].n, why ? why : "(none)", t[i].want);
		}
	}
}

Test(qmgr_redirect, names)
{
	char big[PM_QMGR_TRANSPORT_MAX + 2];

	cr_expect(qmgr_redirect_name_ok("inet:127.0.0.1:24", 1024, 0));
	cr_expect(qmgr_redirect_name_ok("", 1024, 1));
	cr_expect(!qmgr_redirect_name_ok("", 1024, 0));
	cr_expect(!qmgr_redirect_name_ok("a b", 1024, 1));
	cr_expect(!qmgr_redirect_name_ok("a\x7f", 1024, 1));
	cr_expect(!qmgr_redirect_name_ok("\xc3\xa9", 1024, 1));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cr_expect(!qmgr_redirect_name_ok(big, PM_QMGR_TRANSPORT_MAX, 0));
	cr_expect(qmgr_redirect_refused("local", big, 1, 2) != NULL);
}
