/*
 * NAME
 *	pm_table_mailaddr - look a recipient up as a delivery agent does
 * SUMMARY
 *	#include "pm_table_mailaddr.h"
 *	rc = pm_tables_find_mailaddr(ts, "user+ext@dom", "+", &value);
 * DESCRIPTION
 *	Postfix's mail_addr_find() with the strategy of virtual(8)'s
 *	virtual_mailbox_maps, virtual_uid_maps and virtual_gid_maps:
 *	"user+ext@domain", then "user@domain" (the recipient_delimiter
 *	extension removed, when delim is non-empty and the local part
 *	has one), then "@domain". The full address is looked up in every
 *	table; the partial keys skip pattern tables (regexp:, pcre:,
 *	cidr:), as Postfix. Used by the virtual agent; the same order as
 *	rewrite's known-recipient check for the virtual mailbox class, so
 *	smtpd accepts at RCPT exactly whom the agent can deliver to.
 * LIMITS
 *	Addresses longer than PM_TABLE_MAILADDR_MAX are PM_EINVAL.
 * SECURITY
 *	The address comes from qmgr (checked by smtpd and rewrite); it
 *	must hold an '@' or the lookup is PM_EINVAL.
 */
#ifndef PM_TABLE_MAILADDR_H
#define PM_TABLE_MAILADDR_H

#include "pm_table.h"

#define PM_TABLE_MAILADDR_MAX 1024

/* 0 and *value (caller frees), PM_ENOENT, PM_EINVAL or a lookup error. */
int pm_tables_find_mailaddr(pm_tables *ts, const char *addr, const char *delim,
    char **value);

#endif
