/*
 * NAME
 *	pm_msghdr - message header block parsing (RFC 5322), Postfix style
 * SUMMARY
 *	#include "pm_msghdr.h"
 * DESCRIPTION
 *	pm_hdr_iter walks the primary header block of a message (content
 *	with CRLF or LF line ends) one logical header at a time, as
 *	Postfix's mime_state/is_header do:
 *	  - a header starts with a name of printable ASCII other than ':'
 *	    and white space, optional SP/TAB, then ':' (the obsolete
 *	    "Name : value" form is normalised to "Name: value");
 *	  - a line that starts with SP or TAB continues the header;
 *	  - an empty line ends the block (it is consumed: the body starts
 *	    after it);
 *	  - any other line (no colon, a continuation line with no header
 *	    before it, NUL or 8-bit in the name) also ends the block, and
 *	    that line is the first body line; Postfix then writes one empty
 *	    line between header and body, so the caller does too
 *	    (pm_hdr_iter.blank == 0);
 *	  - the end of the content ends the block.
 *	The text of a logical header is "Name: value" with the physical
 *	lines joined by "\n" (CR of a CRLF removed, bare CR kept), which is
 *	what header_checks patterns see, as in Postfix.
 *
 *	pm_hdr_write() appends a header text to a buffer with CRLF line
 *	ends. pm_mail_date() formats an RFC 5322 date as Postfix's
 *	mail_date(). pm_quote_822_local() quotes the local part of an
 *	address for use in a header, as Postfix's quote_822_local().
 * LIMITS
 *	A logical header longer than the caller's header_size_limit is cut
 *	at that many bytes; the rest of it is skipped (whole continuation
 *	lines included) and pm_hdr.truncated is set.
 * SECURITY
 *	The content is untrusted: NUL bytes, bare CR, 8-bit bytes, missing
 *	final line end and over-long lines are all handled without reading
 *	past len. Header texts may contain NUL bytes (in the value);
 *	callers that need C strings use pm_hdr_key().
 */
#ifndef PM_MSGHDR_H
#define PM_MSGHDR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "pm_util.h"

typedef struct pm_hdr_iter {
	const char *p;   /* cursor: start of the next unread line */
	const char *end; /* end of content */
	size_t limit;    /* header_size_limit */
	int done;        /* header block ended */
	int blank;       /* 1 if an empty line ended the block */
} pm_hdr_iter;

typedef struct pm_hdr {
	pm_buf text;     /* "Name: value\n\tmore" (no final line end) */
	size_t namelen;  /* length of Name in text */
	const char *raw; /* original bytes, line ends included */
	size_t rawlen;
	int normalized; /* text differs from raw (space before colon) */
	int truncated;  /* cut at the header size limit */
} pm_hdr;

void pm_hdr_iter_init(pm_hdr_iter *it, const void *content, size_t len,
    size_t header_size_limit);
/* h->text must have been initialised with pm_buf_init(). */
void pm_hdr_init(pm_hdr *h);
void pm_hdr_free(pm_hdr *h);

/*
 * Next logical header into h: returns 1, or 0 at the end of the header
 * block (then it->p is the start of the body and it->blank tells
 * whether an empty separator line was consumed).
 */
int pm_hdr_next(pm_hdr_iter *it, pm_hdr *h);

/*
 * Length of the header name at the start of a line (before optional
 * white space and ':'), or 0 if the line does not start a header.
 * Postfix's is_header_buf().
 */
size_t pm_hdr_namelen(const char *line, size_t len);

/* 1 if the header's name equals name (ASCII case-insensitive). */
int pm_hdr_is(const pm_hdr *h, const char *name);
/* The value: after the colon and leading white space. */
const char *pm_hdr_value(const pm_hdr *h, size_t *len);

/*
 * The header text as a C string for table lookups: NUL bytes in the
 * text become spaces (a regexp would stop at a NUL and miss the rest).
 * Returns a pointer into h->text (modified in place).
 */
const char *pm_hdr_key(pm_hdr *h);

/* Append text (lines separated by "\n") to b with CRLF line ends. */
int pm_hdr_write(pm_buf *b, const char *text, size_t len);

/* "Tue, 25 Nov 2025 16:49:31 +0100 (CET)" in local time. */
void pm_mail_date(time_t when, char *buf, size_t size);

/*
 * Quote the local part of address as RFC 5322 requires in a header
 * (a local part that is not a dot-atom is put in double quotes, with
 * '"' and '\' escaped). Returns a new string.
 */
char *pm_quote_822_local(const char *address);

#endif
