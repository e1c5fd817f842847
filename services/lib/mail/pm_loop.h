/*
 * NAME
 *	pm_loop - mail forwarding loop detection (Delivered-To)
 * SUMMARY
 *	#include "pm_loop.h"
 * DESCRIPTION
 *	Postfix's local(8) prepends "Delivered-To: <recipient>" to what it
 *	delivers or forwards, and bounces a message whose primary headers
 *	already hold a Delivered-To: equal to the recipient it is about to
 *	deliver to ("5.4.6 mail forwarding loop for <rcpt>"): the message
 *	came back through an alias or a .forward. pm_loop_seen() is that
 *	test, used by the local agent. (virtual(8) prepends Delivered-To:
 *	but does not test it, as Postfix.)
 * LIMITS
 *	Headers as pm_hdr_iter with a PM_LOOP_HDR_LIMIT logical-header cap;
 *	only the primary header block is read.
 * SECURITY
 *	The content is a peer's: parsed by pm_msghdr, never past len.
 */
#ifndef PM_LOOP_H
#define PM_LOOP_H

#include <stddef.h>

#define PM_LOOP_HDR_LIMIT (100 * 1024)

/*
 * 1 if the message's primary header block has a Delivered-To: header
 * equal (case-insensitively, trailing white space trimmed) to address.
 */
int pm_loop_seen(const char *content, size_t len, const char *address);

#endif
