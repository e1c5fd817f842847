/*
 * NAME
 *	pm_msgread - read a message from a local program (sendmail -i/-t)
 * DESCRIPTION
 *	See pm_msgread.h. The stream is read one piece at a time (up to a
 *	LF or line_limit bytes); a piece knows whether it starts a line and
 *	whether it ends one, which is all the dot and From_ rules need.
 */
#include "pm_msgread.h"

#include <stdlib.h>
#include <string.h>

/*
 * Read one piece into buf (at most limit bytes). *lf is set when the
 * piece ended at a LF (the LF, and a CR before it, are not stored).
 * Returns the length, or -1 at the end of input with nothing read.
 */
static long
read_piece(FILE *in, char *buf, size_t limit, int *lf)
{
	size_t len = 0;
	int c;

	*lf = 0;
	while (len < limit) {
		if ((c = getc_unlocked(in)) == EOF) {
			return (len == 0 ? -1 : (long) len);
		}
		if (c == '\n') {
			*lf = 1;
			break;
		}
		buf[len++] = (char) c;
	}
	if (!*lf && len > 0 && buf[len - 1] == '\r') {
		/* A CR at the piece limit: its LF may be next. */
		if ((c = getc_unlocked(in)) == '\n') {
			*lf = 1;
		} else if (c != EOF) {
			ungetc(c, in);
		}
	}
	if (*lf && len > 0 && buf[len - 1] == '\r') {
		len--;
	}
	return ((long) len);
}

int
pm_msgread(FILE *in, const pm_msgread_opts *o, pm_buf *out)
{
	size_t limit = o->line_limit > 2 ? o->line_limit : 2;
	char *buf = pm_malloc(limit);
	int lf, bol = 1, first = 1, skip = 0, err = 0;
	long len;

	while ((len = read_piece(in, buf, limit, &lf)) >= 0) {
		if (bol && first && len >= 5 && memcmp(buf, "From ", 5) == 0) {
			skip = 1; /* the whole mbox From_ line */
		}
		first = 0;
		if (bol && !skip && o->dot_ends && len == 1 && buf[0] == '.' &&
		    (lf || feof(in))) {
			break;
		}
		if (!skip &&
		    (pm_buf_append(out, buf, (size_t) len) != 0 ||
		        (lf && pm_buf_append(out, "\r\n", 2) != 0))) {
			err = PM_ETOOBIG;
			break;
		}
		if (lf) {
			skip = 0;
		}
		bol = lf;
		if (o->size_limit > 0 && out->len > o->size_limit) {
			err = PM_ETOOBIG;
			break;
		}
	}
	if (err == 0 && ferror(in)) {
		err = PM_EIO;
	}
	if (err == 0 && !bol && pm_buf_append(out, "\r\n", 2) != 0) {
		err = PM_ETOOBIG;
	}
	if (err == 0 && o->size_limit > 0 && out->len > o->size_limit) {
		err = PM_ETOOBIG;
	}
	free(buf);
	return (err);
}
