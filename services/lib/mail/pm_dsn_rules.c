/*
 * NAME
 *	pm_dsn_rules - who gets a notice, NOTIFY, status codes
 * SUMMARY
 *	#include "pm_dsn.h"
 * DESCRIPTION
 *	The small decisions of pm_dsn.h kept apart from the notice writer
 *	(pm_dsn.c): pm_dsn_route() (double bounce rules),
 *	pm_dsn_wanted() (RFC 3461 NOTIFY), pm_dsn_qualify(),
 *	pm_dsn_status_valid() and pm_dsn_split() (Postfix's dsn_split).
 * LIMITS
 *	Status codes are at most 15 bytes: [245].N{1,3}.N{1,3}.
 * SECURITY
 *	Inputs are untrusted strings; nothing is read past their NUL.
 */
#include "pm_dsn.h"

#include <stdio.h>
#include <string.h>

int
pm_dsn_route(int kind, const char *sender, const char *double_bounce_addr)
{
	if (sender == NULL) {
		sender = "";
	}
	if (double_bounce_addr != NULL && *double_bounce_addr != 0 &&
	    pm_strcaseeq(sender, double_bounce_addr)) {
		return (PM_DSN_DISCARD);
	}
	if (*sender == 0) {
		/* Postfix sends only failures of a bounce, to postmaster. */
		return (kind == PM_NOTICE_FAILED ? PM_DSN_TO_POSTMASTER :
		                                   PM_DSN_DISCARD);
	}
	return (PM_DSN_TO_SENDER);
}

int
pm_dsn_wanted(int kind, unsigned notify)
{
	if (notify & PM_NOTIFY_NEVER) {
		return (0);
	}
	switch (kind) {
	case PM_NOTICE_FAILED:
		return (notify == 0 || (notify & PM_NOTIFY_FAILURE) != 0);
	case PM_NOTICE_DELAYED:
		return (notify == 0 || (notify & PM_NOTIFY_DELAY) != 0);
	case PM_NOTICE_DELIVERED:
	case PM_NOTICE_RELAYED:
		return ((notify & PM_NOTIFY_SUCCESS) != 0);
	default:
		return (0);
	}
}

char *
pm_dsn_qualify(const char *addr, const char *origin)
{
	if (addr == NULL) {
		addr = "";
	}
	if (*addr == 0 || strchr(addr, '@') != NULL || origin == NULL ||
	    *origin == 0) {
		return (pm_strdup(addr));
	}
	return (pm_asprintf("%s@%s", addr, origin));
}

size_t
pm_dsn_status_span(const char *p, size_t len)
{
	size_t i = 2, n;
	int part;

	if (len < 5 || (p[0] != '2' && p[0] != '4' && p[0] != '5') ||
	    p[1] != '.') {
		return (0);
	}
	for (part = 0; part < 2; part++) {
		for (n = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
			n++;
		}
		if (n < 1 || n > 3) {
			return (0);
		}
		if (part == 0) {
			if (i >= len || p[i] != '.') {
				return (0);
			}
			i++;
		}
	}
	if (i < len && p[i] != ' ' && p[i] != '\t') {
		return (0);
	}
	return (i);
}

int
pm_dsn_status_valid(const char *s)
{
	size_t len;

	if (s == NULL) {
		return (0);
	}
	len = strlen(s);
	return (len > 0 && pm_dsn_status_span(s, len) == len);
}

int
pm_dsn_status_match(int code, const char *dsn)
{
	return (code >= 200 && code <= 599 && pm_dsn_status_valid(dsn) &&
	    dsn[0] - '0' == code / 100);
}

void
pm_dsn_split(const char *text, const char *def, char dsn[16], const char **rest)
{
	char tok[16];
	size_t n;

	if (text == NULL) {
		text = "";
	}
	*rest = text;
	snprintf(dsn, 16, "%s", def);
	n = strcspn(text, " \t");
	if (n == 0 || n >= sizeof(tok)) {
		return;
	}
	memcpy(tok, text, n);
	tok[n] = 0;
	if (!pm_dsn_status_valid(tok)) {
		return;
	}
	snprintf(dsn, 16, "%c%s", def[0], tok + 1);
	for (text += n; *text == ' ' || *text == '\t'; text++) {
		/* skip white space */
	}
	*rest = text;
}
