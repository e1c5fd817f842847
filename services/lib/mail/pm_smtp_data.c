/*
 * NAME
 *	pm_smtp_data - SMTP server content state machine and reply format
 * DESCRIPTION
 *	See pm_smtp_data.h. The state machine keeps only a few bits of
 *	state between calls (where in a line it is, whether a CR or a
 *	candidate end-of-data "." is pending), so any split of the input
 *	gives the same content. Runs of ordinary octets are appended in
 *	one call, so the cost per message is a few appends per line.
 * SECURITY
 *	Client input: any octets, split anywhere.
 */
#include <string.h>

#include "pm_smtp_data.h"
#include "pm_dsn.h"

/*
 * States. BOL_CRLF: at a line start after a real CRLF (a "." here may
 * start the end marker). BOL_LF: at a line start after a bare LF. MID:
 * inside a line. CR: a CR is pending (CRLF if an LF follows, else it
 * is dropped). DOT: "." seen at BOL_CRLF. DOT_CR: ".\r" seen at BOL_CRLF.
 */
enum {
	ST_BOL_CRLF = 0,
	ST_BOL_LF,
	ST_MID,
	ST_CR,
	ST_DOT,
	ST_DOT_CR,
};

static void
data_emit(pm_smtp_data *d, const char *p, size_t n)
{
	d->size += n;
	if (d->too_big) {
		return;
	}
	if (d->limit != 0 && d->size > d->limit) {
		d->too_big = 1;
		return;
	}
	if (d->out != NULL && pm_buf_append(d->out, p, n) != 0) {
		d->too_big = 1;
	}
}

void
pm_smtp_data_init(pm_smtp_data *d, int mode, pm_buf *out, size_t limit,
    int after_crlf)
{
	memset(d, 0, sizeof(*d));
	d->mode = mode;
	d->out = out;
	d->limit = limit;
	if (mode == PM_SMTP_DATA_DOT && !after_crlf) {
		d->state = ST_BOL_LF;
	} else {
		d->state = ST_BOL_CRLF;
	}
}

size_t
pm_smtp_data_feed(pm_smtp_data *d, const void *buf, size_t len)
{
	const char *p = buf;
	size_t i = 0;
	size_t j;
	int dot = (d->mode == PM_SMTP_DATA_DOT);

	while (i < len && !d->done) {
		char c = p[i];

		switch (d->state) {
		case ST_BOL_CRLF:
			if (dot && c == '.') {
				d->state = ST_DOT;
				i++;
			} else {
				d->state = ST_MID;
			}
			break;
		case ST_BOL_LF:
			if (dot && c == '.') {
				/* Unstuffed; never an end marker. */
				i++;
			}
			d->state = ST_MID;
			break;
		case ST_DOT:
			if (c == '\r') {
				d->state = ST_DOT_CR;
				i++;
			} else {
				/* The dot is unstuffed; c is content. */
				d->state = ST_MID;
			}
			break;
		case ST_DOT_CR:
			if (c == '\n') {
				i++;
				d->done = 1;
			} else {
				/* Dot unstuffed, bare CR dropped. */
				d->bare_cr++;
				d->state = ST_MID;
			}
			break;
		case ST_CR:
			if (c == '\n') {
				data_emit(d, "\r\n", 2);
				d->state = ST_BOL_CRLF;
				i++;
			} else {
				d->bare_cr++;
				d->state = ST_MID;
			}
			break;
		case ST_MID:
		default:
			if (c == '\r') {
				d->state = ST_CR;
				i++;
			} else if (c == '\n') {
				data_emit(d, "\r\n", 2);
				d->bare_lf++;
				d->state = ST_BOL_LF;
				i++;
			} else {
				for (j = i + 1; j < len; j++) {
					if (p[j] == '\r' || p[j] == '\n') {
						break;
					}
				}
				data_emit(d, p + i, j - i);
				i = j;
			}
			break;
		}
	}
	d->received += i;
	return (i);
}

void
pm_smtp_data_finish(pm_smtp_data *d)
{
	if (d->state == ST_CR || d->state == ST_DOT_CR) {
		d->bare_cr++;
	}
	d->state = ST_BOL_CRLF;
}

int
pm_smtp_reply_format(pm_buf *out, int code, const char *dsn, const char *text)
{
	size_t mark = out->len;
	const char *line = text != NULL ? text : "";
	const char *nl;
	size_t n;
	size_t k;
	char tmp[PM_SMTP_REPLY_TEXT_MAX];

	if (code < 200 || code > 599) {
		return (PM_EINVAL);
	}
	if (dsn == NULL) {
		/* 334: the AUTH challenge has no status code. */
		if (code != 220 && code != 250 && code != 334 && code != 354) {
			return (PM_EINVAL);
		}
	} else if (!pm_dsn_status_match(code, dsn)) {
		return (PM_EINVAL);
	}
	for (;;) {
		nl = strchr(line, '\n');
		n = nl != NULL ? (size_t) (nl - line) : strlen(line);
		if (n > sizeof(tmp)) {
			n = sizeof(tmp);
		}
		for (k = 0; k < n; k++) {
			unsigned char c = (unsigned char) line[k];

			tmp[k] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
		}
		if (pm_buf_printf(out, "%d%c", code, nl != NULL ? '-' : ' ') !=
		        0 ||
		    (dsn != NULL && pm_buf_printf(out, "%s ", dsn) != 0) ||
		    pm_buf_append(out, tmp, n) != 0 ||
		    pm_buf_append(out, "\r\n", 2) != 0) {
			out->len = mark;
			if (out->data != NULL) {
				out->data[mark] = 0;
			}
			return (PM_ETOOBIG);
		}
		if (nl == NULL) {
			break;
		}
		line = nl + 1;
	}
	return (0);
}

int
pm_smtp_parse_bdat(const char *arg, size_t *size, int *last)
{
	const char *p = arg;
	size_t n = 0;
	size_t digits = 0;
	int is_last = 0;

	if (p == NULL) {
		return (PM_EINVAL);
	}
	while (*p >= '0' && *p <= '9') {
		size_t d = (size_t) (*p - '0');

		if (++digits > 20 || n > (SIZE_MAX - d) / 10) {
			return (PM_EINVAL);
		}
		n = n * 10 + d;
		p++;
	}
	if (digits == 0) {
		return (PM_EINVAL);
	}
	if (*p == ' ') {
		while (*p == ' ') {
			p++;
		}
		if (!pm_strncaseeq(p, "LAST", 4)) {
			return (PM_EINVAL);
		}
		p += 4;
		while (*p == ' ') {
			p++;
		}
		is_last = 1;
	}
	if (*p != 0) {
		return (PM_EINVAL);
	}
	*size = n;
	*last = is_last;
	return (0);
}
