/*
 * NAME
 *	pm_envcheck - the one check of envelope values a client gives smtpd
 *	and cleanup stores
 * SUMMARY
 *	#include "pm_envcheck.h"
 * DESCRIPTION
 *	smtpd takes the HELO name, the ENVID, each ORCPT and NOTIFY, and
 *	the addresses from the client; cleanup checks them again in every
 *	request, because other roles are not trusted. Both call these
 *	functions, so smtpd never answers 250 to a value that cleanup then
 *	refuses ("451 4.3.0 Error: internal protocol error" at the end of
 *	DATA, which the client would retry for ever).
 *
 *	Each function returns NULL when the value is acceptable, else a
 *	static reason ("control character", "too long", ...) for a log
 *	line. A NULL value is acceptable (absent).
 *
 *	pm_envcheck_text(): at most max octets, no C0 control character
 *	and no DEL; 8-bit octets pass (UTF-8 is checked by the SMTP
 *	parser, with SMTPUTF8).
 *	pm_envcheck_envid(): decoded ENVID (RFC 3461 4.4): printable
 *	US-ASCII (0x20..0x7e) only, at most PM_ENVID_MAX octets.
 *	pm_envcheck_orcpt(): an ORCPT as smtpd stores it, "type;decoded",
 *	as pm_envcheck_text() with PM_ORCPT_MAX (RFC 3461 4.2).
 *	pm_envcheck_helo(): pm_envcheck_text() with PM_HELO_MAX.
 *	pm_envcheck_addr(): pm_envcheck_text() with PM_ADDR_MAX.
 *	pm_envcheck_notify(): NOTIFY bits (PM__NOTIFY__*): 0 (not given),
 *	NEVER alone, or any of SUCCESS, FAILURE, DELAY (RFC 3461 4.1).
 * LIMITS
 *	PM_ENVID_MAX, PM_ORCPT_MAX, PM_HELO_MAX, PM_ADDR_MAX.
 * SECURITY
 *	Input is hostile; values are NUL-terminated strings (a NUL inside
 *	is refused earlier, by the SMTP parser or protobuf-c's string
 *	check), read once, never written.
 */
#ifndef PM_ENVCHECK_H
#define PM_ENVCHECK_H

#include <stddef.h>

#define PM_ENVID_MAX 100 /* RFC 3461 4.4 */
#define PM_ORCPT_MAX 500 /* RFC 3461 4.2 */
#define PM_HELO_MAX 255  /* a domain name; [IPv6:...] is shorter */

const char *pm_envcheck_text(const char *s, size_t max);
const char *pm_envcheck_envid(const char *s);
const char *pm_envcheck_orcpt(const char *s);
const char *pm_envcheck_helo(const char *s);
const char *pm_envcheck_addr(const char *s);
const char *pm_envcheck_notify(unsigned bits);

#endif
