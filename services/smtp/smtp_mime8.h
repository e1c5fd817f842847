/*
 * NAME
 *	smtp_mime8 - 8BITMIME to 7bit conversion of a message (RFC 6152, 2045)
 * SUMMARY
 *	#include "smtp_mime8.h"
 * DESCRIPTION
 *	The SMTP client sends an 8-bit message to a server that does not
 *	offer 8BITMIME only after pm_mime8_to_7bit() has made it 7-bit, as
 *	Postfix's mime_state 8bit-to-7bit conversion does:
 *	- the header block of each MIME entity is copied as is, except
 *	  Content-Transfer-Encoding, which is rewritten where the encoding
 *	  changes (or added at the end of the entity's headers);
 *	- multipart types are walked recursively: preamble, delimiter lines and
 *	  epilogue are copied, every body part is converted by itself
 *	  (multipart/digest parts default to message/rfc822);
 *	- message/rfc822 is converted recursively (its own headers and
 *	  body); its label 8bit/binary becomes 7bit;
 *	- a leaf (any other type) whose body holds 8-bit octets (or that
 *	  is labelled binary) and that is not already quoted-printable or
 *	  base64 is encoded: quoted-printable for text types (and parts with no
 *	  or a malformed Content-Type, which RFC 2045 makes text/plain),
 *	  base64 for everything else; a 7-bit body labelled 8bit or binary
 *	  is only relabelled 7bit;
 *	- a message without MIME-Version whose body is 8-bit gets
 *	  "MIME-Version: 1.0" with its new Content-Transfer-Encoding.
 *	Headers that contain 8-bit octets cannot be converted without
 *	changing their meaning and are left as they are (as Postfix does).
 *	Quoted-printable output lines are at most 76 octets; a soft line
 *	break never leaves a line that starts with "-" (encoded =2D), so
 *	no encoded line can look like a MIME boundary; trailing white
 *	space, bare CR and bare LF are encoded. Decoding every converted
 *	part gives back its original octets exactly.
 *
 *	Line ends of the input may be CRLF or LF; the output keeps those of
 *	copied lines and uses CRLF for new ones (the SMTP client turns any
 *	line end into CRLF when it sends).
 * LIMITS
 *	nesting_limit (mime_nesting_limit, Postfix default 100) bounds the
 *	recursion: an entity deeper than that is copied unchanged.
 *	header_size_limit bounds the logical headers examined. A boundary
 *	longer than PM_MIME8_BOUNDARY_MAX (RFC 2046: 70) is not used (the
 *	entity is copied unchanged). out's limit bounds the result
 *	(PM_ETOOBIG).
 * SECURITY
 *	The content is untrusted: unterminated multiparts, missing or
 *	malformed boundaries, NUL octets, bare CR/LF, truncated headers and
 *	absurd nesting are all handled without reading past len.
 */
#ifndef PM_MIME8_H
#define PM_MIME8_H

#include <stddef.h>

#include "pm_util.h"

#define PM_MIME8_NESTING_DEF 100
#define PM_MIME8_BOUNDARY_MAX 70

/* 1 if any octet of data is >= 0x80, else 0. */
int pm_mime8_is_8bit(const void *data, size_t len);

/*
 * Append the 7-bit form of the message content (header + body) to
 * out. Returns 0 or PM_ETOOBIG (out's limit; out is then partial).
 */
int pm_mime8_to_7bit(const void *content, size_t len, pm_buf *out,
    int nesting_limit, size_t header_size_limit);

/* The encoders used above (exposed for tests). */
int pm_mime8_qp_encode(const void *data, size_t len, pm_buf *out);
int pm_mime8_base64_encode(const void *data, size_t len, pm_buf *out);

#endif
