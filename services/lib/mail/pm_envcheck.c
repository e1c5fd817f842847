/*
 * NAME
 *	pm_envcheck - the one check of envelope values a client gives smtpd
 *	and cleanup stores
 * SUMMARY
 *	#include "pm_envcheck.h"
 * DESCRIPTION
 *	See pm_envcheck.h. smtpd calls these at HELO/EHLO, MAIL and RCPT
 *	(a refusal is "501 5.5.4" there); cleanup_submit.c calls them on
 *	every request.
 * LIMITS
 *	See pm_envcheck.h.
 * SECURITY
 *	See pm_envcheck.h.
 */
#include "pm_envcheck.h"
#include "pm_msgflags.h"

#include <string.h>

#include "common.pb-c.h"
#include "pm_addr.h"

#define NOTIFY_NEVER ((unsigned) PM_NOTIFY_NEVER)
#define NOTIFY_ANY \
	((unsigned) (PM_NOTIFY_SUCCESS | PM_NOTIFY_FAILURE | PM_NOTIFY_DELAY))

const char *
pm_envcheck_text(const char *s, size_t max)
{
	const unsigned char *p;

	if (s == NULL) {
		return (NULL);
	}
	for (p = (const unsigned char *) s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			return ("control character");
		}
		if ((size_t) (p - (const unsigned char *) s) >= max) {
			return ("too long");
		}
	}
	return (NULL);
}

const char *
pm_envcheck_envid(const char *s)
{
	const unsigned char *p;
	const char *why;

	if ((why = pm_envcheck_text(s, PM_ENVID_MAX)) != NULL) {
		return (why);
	}
	for (p = (const unsigned char *) s; p != NULL && *p; p++) {
		if (*p >= 0x80) {
			return ("8-bit character");
		}
	}
	return (NULL);
}

const char *
pm_envcheck_orcpt(const char *s)
{
	return (pm_envcheck_text(s, PM_ORCPT_MAX));
}

const char *
pm_envcheck_helo(const char *s)
{
	return (pm_envcheck_text(s, PM_HELO_MAX));
}

const char *
pm_envcheck_addr(const char *s)
{
	return (pm_envcheck_text(s, PM_ADDR_MAX));
}

const char *
pm_envcheck_notify(unsigned bits)
{
	if (bits == 0 || bits == NOTIFY_NEVER) {
		return (NULL);
	}
	if ((bits & ~NOTIFY_ANY) != 0) {
		return ((bits & ~(NOTIFY_ANY | NOTIFY_NEVER)) != 0 ?
		        "unknown NOTIFY bit" :
		        "NEVER with other NOTIFY values");
	}
	return (NULL);
}
