/*
 * NAME
 *	smtp_stuff - message content as it goes on the wire after DATA
 * DESCRIPTION
 *	RFC 5321 4.5.2 transparency and 2.3.8 line ends, with Postfix's
 *	smtp_line_length_limit:
 *	- every line ends in CRLF: a CR not followed by LF, and an LF not
 *	  preceded by CR, each become CRLF (never a bare CR or LF on the
 *	  wire, so a peer can never see an end of data that we did not
 *	  mean: no SMTP smuggling through us);
 *	- a line that starts with "." gets another "." in front;
 *	- a line longer than the limit (smtp_line_length_limit, 998
 *	  by default: 1,000 octets with CRLF) is broken as Postfix's
 *	  smtp_text_out() does, header and body alike: after every
 *	  "limit" octets that are followed by more of the same line,
 *	  CRLF SPACE; the SPACE counts on the next piece, so every
 *	  piece is at most "limit" octets. A header piece is thus a
 *	  continuation line of the same header, and no piece but the
 *	  first can start with "." (nothing to stuff). A line of
 *	  exactly "limit" octets is not broken. The doubled dot of a
 *	  line that starts with "." is not counted (RFC 5321
 *	  4.5.3.1.6: "not counting the leading dot duplicated for
 *	  transparency"), as in Postfix;
 *	- smtp_stuff_end() closes an open last line and adds ".\r\n".
 *	The state (pending CR, beginning of line, column) carries across
 *	calls, so the output is the same however the content is split.
 *	Runs of ordinary octets are copied in one append.
 * LIMITS
 *	The caller's pm_buf limit; the caller flushes it to the socket
 *	as it fills.
 * SECURITY
 *	The content is untrusted (any octets, NULs included).
 */
#include <string.h>

#include "smtp.h"

void
smtp_stuff_init(smtp_stuff *st, size_t line_limit)
{
	st->bol = 1;
	st->cr = 0;
	st->col = 0;
	/*
	 * A limit of 1 would leave no room after the SPACE of a break,
	 * and no progress: 2 is the smallest limit that works.
	 */
	st->limit = line_limit == 1 ? 2 : line_limit;
}

static int
stuff_eol(smtp_stuff *st, pm_buf *out)
{
	st->bol = 1;
	st->col = 0;
	return (pm_buf_append(out, "\r\n", 2));
}

int
smtp_stuff_feed(smtp_stuff *st, const void *data, size_t len, pm_buf *out)
{
	const char *p = data;
	size_t i = 0, j, room;
	int err = 0;
	char c;

	while (i < len && err == 0) {
		c = p[i];
		if (st->cr) {
			/* CR then anything: one line end (CRLF, or bare CR) */
			st->cr = 0;
			err = stuff_eol(st, out);
			if (c == '\n') {
				i++;
			}
			continue;
		}
		if (c == '\r') {
			st->cr = 1;
			i++;
			continue;
		}
		if (c == '\n') {
			err = stuff_eol(st, out);
			i++;
			continue;
		}
		if (st->bol) {
			st->bol = 0;
			/*
			 * The doubled dot is not counted (RFC 5321
			 * 4.5.3.1.6, and Postfix's smtp_text_out()).
			 */
			if (c == '.') {
				err = pm_buf_append(out, ".", 1);
			}
		}
		if (st->limit > 0 && st->col >= st->limit) {
			err = err ? err : pm_buf_append(out, "\r\n ", 3);
			st->col = 1;
			continue;
		}
		room = st->limit > 0 ? st->limit - st->col : len - i;
		for (j = i;
		     j < len && j - i < room && p[j] != '\r' && p[j] != '\n';
		     j++) {
			/* a run of ordinary octets */
		}
		if (err == 0) {
			err = pm_buf_append(out, p + i, j - i);
		}
		st->col += j - i;
		i = j;
	}
	return (err);
}

int
smtp_stuff_end(smtp_stuff *st, pm_buf *out)
{
	int err = 0;

	if (st->cr || !st->bol) {
		st->cr = 0;
		err = stuff_eol(st, out);
	}
	if (err == 0) {
		err = pm_buf_append(out, ".\r\n", 3);
	}
	return (err);
}
