/*
 * NAME
 *	pm_msgread - read a message from a local program (sendmail -i/-t)
 * SUMMARY
 *	#include "pm_msgread.h"
 * DESCRIPTION
 *	pm_msgread() reads a message from a stream, as Postfix's sendmail(1)
 *	copies its standard input, into the content cleanup takes (CRLF
 *	line ends, not dot-stuffed):
 *	  - a line ends at LF; a CR before the LF is removed (Postfix's
 *	    sendmail_fix_line_endings = always), and the line is stored
 *	    with CRLF; a last line without LF gets CRLF too;
 *	  - a leading "From " line (an mbox envelope) is dropped;
 *	  - with dot_ends (the default, not -i / -oi), a line with a lone
 *	    "." ends the message; other dots are data (no unstuffing);
 *	  - a line longer than line_limit is read in pieces of that size
 *	    (Postfix's line_length_limit records): the pieces stay one
 *	    line, and only the first piece starts a line (so a "." piece
 *	    in the middle of a long line ends nothing).
 * LIMITS
 *	At most size_limit bytes of stored content (0: no limit): more
 *	gives PM_ETOOBIG and reading stops. line_limit bytes of buffer.
 * SECURITY
 *	Any bytes are accepted (NUL, 8-bit, bare CR inside a line).
 * DIAGNOSTICS
 *	0, PM_ETOOBIG, or PM_EIO on a read error.
 */
#ifndef PM_MSGREAD_H
#define PM_MSGREAD_H

#include <stddef.h>
#include <stdio.h>

#include "pm_util.h"

typedef struct pm_msgread_opts {
	int dot_ends;      /* a lone "." line ends the message */
	size_t line_limit; /* line_length_limit (>= 2) */
	size_t size_limit; /* message_size_limit, 0 = none */
} pm_msgread_opts;

int pm_msgread(FILE *in, const pm_msgread_opts *o, pm_buf *out);

#endif
