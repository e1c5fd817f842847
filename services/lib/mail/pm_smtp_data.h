/*
 * NAME
 *	pm_smtp_data - SMTP server content state machine and reply format
 * SUMMARY
 *	#include "pm_smtp_data.h"
 * DESCRIPTION
 *	pm_smtp_data_*() turn the bytes a client sends after DATA (or in
 *	BDAT chunks) into the message content as queued: CRLF line ends,
 *	not dot-stuffed. It is a pure function of the byte stream: the
 *	result does not depend on how the stream is split into chunks, so
 *	smtpd can feed whatever its socket delivered.
 *
 *	DATA mode (PM_SMTP_DATA_DOT):
 *	- only <CR><LF>.<CR><LF> ends the data: the "." must be the whole
 *	  line, the line before must end in a real CRLF (or the DATA
 *	  command line itself, see pm_smtp_data_init()) and the "." must
 *	  be followed by a real CRLF. "\n.\r\n", "\r\n.\n", "\n.\n",
 *	  "\r.\r", "\r\n.\r" and the like never end the data;
 *	- a bare LF is taken as a line end and stored as CRLF
 *	  (smtpd_forbid_bare_newline = normalize); a bare CR (not followed
 *	  by LF) is removed: no stray CR or LF is ever stored;
 *	- a line whose first octet is "." loses that dot (RFC 5321 4.5.2
 *	  dot-unstuffing; ".." is stored as ".");
 *	- pm_smtp_data_feed() consumes bytes up to and including the
 *	  end-of-data line and no further: what follows is the next
 *	  (pipelined) command.
 *	BDAT mode (PM_SMTP_DATA_BDAT): the same CR/LF normalization, no
 *	dot handling, no end marker: the caller feeds exactly the chunk
 *	octets and calls pm_smtp_data_finish() after the LAST chunk (a CR
 *	pending at the very end is a bare CR and is dropped).
 *
 *	Size: every stored octet is counted in size, also past the limit;
 *	once size exceeds limit, too_big is set and nothing more is stored
 *	(the caller keeps feeding to the end, then answers 552).
 *
 *	pm_smtp_reply_format() formats a (possibly multi-line) SMTP reply
 *	and enforces that the enhanced status code matches the reply code.
 *	pm_smtp_parse_bdat() parses the argument of BDAT.
 * LIMITS
 *	limit (message_size_limit) bounds the stored content; reply text
 *	lines are cut at PM_SMTP_REPLY_TEXT_MAX octets (RFC 5321 4.5.3.1.5).
 * SECURITY
 *	All input is hostile: any octet sequence, split anywhere, is
 *	handled; NUL octets in content are stored as given (cleanup
 *	decides), reply text is made printable.
 */
#ifndef PM_SMTP_DATA_H
#define PM_SMTP_DATA_H

#include <stddef.h>

#include "pm_util.h"

#define PM_SMTP_DATA_DOT 1  /* DATA: ends with <CRLF>.<CRLF> */
#define PM_SMTP_DATA_BDAT 2 /* BDAT: raw chunks */

typedef struct pm_smtp_data {
	int mode;         /* PM_SMTP_DATA_DOT or PM_SMTP_DATA_BDAT */
	int state;        /* internal */
	size_t limit;     /* max stored octets; 0 = no limit */
	size_t size;      /* stored octets, counted past the limit too */
	size_t received;  /* raw octets consumed */
	int too_big;      /* size > limit (or out refused an append) */
	int done;         /* DOT: end-of-data seen */
	unsigned bare_lf; /* bare LFs stored as CRLF */
	unsigned bare_cr; /* bare CRs removed */
	pm_buf *out;      /* content is appended here; NULL: count only */
} pm_smtp_data;

/*
 * Start a message. after_crlf: the DATA command line ended in a real
 * CRLF (then an immediate ".\r\n" is an empty message); ignored in BDAT
 * mode. out is kept (not owned) and may be NULL.
 */
void pm_smtp_data_init(pm_smtp_data *d, int mode, pm_buf *out, size_t limit,
    int after_crlf);
/* Feed octets; returns how many were consumed (all unless done). */
size_t pm_smtp_data_feed(pm_smtp_data *d, const void *buf, size_t len);
/* End of BDAT LAST: a pending CR is dropped. */
void pm_smtp_data_finish(pm_smtp_data *d);

#define PM_SMTP_REPLY_TEXT_MAX 480

/*
 * Append a reply to out: text is split at '\n' into lines, each sent
 * as "CODE-DSN line\r\n", the last as "CODE DSN line\r\n". Other
 * control octets and non-ASCII are replaced with '?'; a line is cut at
 * PM_SMTP_REPLY_TEXT_MAX. dsn may be NULL only for 220 (greeting), 250
 * (HELO/EHLO), 334 (AUTH challenge) and 354, which carry none (RFC
 * 2034, RFC 3463 has no class 3). Returns 0, or PM_EINVAL (code not 200-599, dsn missing,
 * malformed or of another class) and out is unchanged, or PM_ETOOBIG.
 */
int pm_smtp_reply_format(pm_buf *out, int code, const char *dsn,
    const char *text);

/*
 * BDAT argument: "<size>" or "<size> LAST" (LAST case-insensitive,
 * one or more spaces). size is 1-20 digits and must fit size_t.
 * Returns 0 or PM_EINVAL.
 */
int pm_smtp_parse_bdat(const char *arg, size_t *size, int *last);

#endif
