/*
 * NAME
 *	qmgr_redirect_rule - may an agent's redirect be followed?
 * SUMMARY
 *	#include "qmgr.h"
 * DESCRIPTION
 *	The rules of qmgr_redirect.c as pure functions (unit tested):
 *	qmgr_redirect_from_ok() says whether a job of a transport may
 *	redirect at all: only the local agent's transport ("local", the
 *	one transport local fetches for, services/local/local.c), as in
 *	Postfix only local(8) hands mail to mailbox_transport or
 *	fallback_transport; qmgr_redirect_refused() refuses a redirect
 *	from any other transport, one to the reporting agent's own
 *	transport (so to "local"), a bad transport name, and a recipient
 *	redirected more than limit times in a pass; qmgr_redirect_name_ok() checks a name from an
 *	agent (printable ASCII, no space, at most max bytes).
 * LIMITS
 *	PM_QMGR_TRANSPORT_MAX bytes of a transport name.
 * SECURITY
 *	Names come from agents (another role): checked before use.
 */
#include "qmgr.h"

#include <string.h>

#include "qmgr_clnt.h"

int
qmgr_redirect_name_ok(const char *s, size_t max, int may_be_empty)
{
	size_t n = strlen(s);

	if ((n == 0 && !may_be_empty) || n > max) {
		return (0);
	}
	for (; *s; s++) {
		if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f) {
			return (0);
		}
	}
	return (1);
}

int
qmgr_redirect_from_ok(const char *from)
{
	return (strcmp(from, QMGR_REDIRECT_FROM) == 0);
}

const char *
qmgr_redirect_refused(const char *from, const char *to, unsigned redirects,
    long limit)
{
	if (!qmgr_redirect_from_ok(from)) {
		return ("only the local delivery agent redirects");
	}
	if (!qmgr_redirect_name_ok(to, PM_QMGR_TRANSPORT_MAX, 0)) {
		return ("bad transport name");
	}
	if (strcmp(to, from) == 0) {
		return ("delivery loop (its own transport)");
	}
	if (limit >= 0 && redirects > (unsigned long) limit) {
		return ("delivery loop (more than qmgr_redirect_limit "
		        "redirects)");
	}
	return (NULL);
}
