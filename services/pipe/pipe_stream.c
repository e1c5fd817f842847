/*
 * NAME
 *	pipe_stream - what the pipe agent writes to the command's stdin
 * DESCRIPTION
 *	See pipe_stream.h. The prepended lines are built at init; the
 *	message is then copied line by line into the caller's buffer,
 *	with the line ends replaced and the quoting applied at the start
 *	of each line. A line longer than the buffer takes several calls.
 * LIMITS
 *	See pipe_stream.h.
 * SECURITY
 *	See pipe_stream.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipe_argv.h"
#include "pipe_stream.h"
#include "pm_util.h"

/* An address for a header line: no CR, LF or NUL. */
static void
pipe_stream_addr(pm_buf *b, const char *a)
{
	for (; *a != 0; a++) {
		(void) pm_buf_append(b, (*a == '\r' || *a == '\n') ? " " : a,
		    1);
	}
}

void
pipe_stream_init(pipe_stream *s, const pipe_stream_opts *o, const char *body,
    size_t len)
{
	const char *eol = o->eol ? o->eol : "\n";
	char date[32], *lower;
	struct tm tm;
	time_t t;
	pm_buf b;

	memset(s, 0, sizeof(*s));
	pm_buf_init(&b, PIPE_STREAM_PREFIX_MAX);
	if (o->flags & PIPE_F_FROM) {
		t = (time_t) (o->arrival_us / 1000000);
		localtime_r(&t, &tm);
		strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
		(void) pm_buf_puts(&b, "From ");
		pipe_stream_addr(&b, *o->sender ? o->sender : "MAILER-DAEMON");
		(void) pm_buf_printf(&b, "  %s%s", date, eol);
	}
	if (o->flags & PIPE_F_RPATH) {
		(void) pm_buf_puts(&b, "Return-Path: <");
		pipe_stream_addr(&b, o->sender);
		(void) pm_buf_printf(&b, ">%s", eol);
	}
	if ((o->flags & PIPE_F_ORCPT) && o->orig_rcpt != NULL) {
		(void) pm_buf_puts(&b, "X-Original-To: ");
		pipe_stream_addr(&b, o->orig_rcpt);
		(void) pm_buf_puts(&b, eol);
	}
	if ((o->flags & PIPE_F_DELIV) && o->recipient != NULL) {
		/* lower case, as Postfix writes it */
		lower = pm_lowercase(pm_strdup(o->recipient));
		(void) pm_buf_puts(&b, "Delivered-To: ");
		pipe_stream_addr(&b, lower);
		free(lower);
		(void) pm_buf_puts(&b, eol);
	}
	s->prefix = pm_buf_steal(&b, &s->plen);
	s->body = body;
	s->len = len;
	s->eol = eol;
	s->eol_len = strlen(eol);
	s->flags = o->flags;
	s->bol = 1;
}

void
pipe_stream_free(pipe_stream *s)
{
	free(s->prefix);
	s->prefix = NULL;
}

/* Start the line at s->pos: find its end, write the quoting. */
static size_t
pipe_stream_line(pipe_stream *s, char *buf)
{
	const char *p = s->body + s->pos;
	const char *nl = memchr(p, '\n', s->len - s->pos);
	size_t n = 0;

	if (nl != NULL) {
		s->next = (size_t) (nl - s->body) + 1;
		s->cur_end = (size_t) (nl - s->body);
		if (s->cur_end > s->pos && s->body[s->cur_end - 1] == '\r') {
			s->cur_end--;
		}
	} else {
		s->next = s->cur_end = s->len;
	}
	s->last_empty = s->cur_end == s->pos;
	if ((s->flags & PIPE_F_DOT) && !s->last_empty && *p == '.') {
		buf[n++] = '.';
	}
	if ((s->flags & PIPE_F_GTFROM) && s->cur_end - s->pos >= 5 &&
	    memcmp(p, "From ", 5) == 0) {
		buf[n++] = '>';
	}
	s->bol = 0;
	return (n);
}

long
pipe_stream_feed(void *ctx, char *buf, size_t cap)
{
	pipe_stream *s = ctx;
	size_t n = 0, k;

	if (s->ppos < s->plen) {
		k = s->plen - s->ppos < cap ? s->plen - s->ppos : cap;
		memcpy(buf, s->prefix + s->ppos, k);
		s->ppos += k;
		return ((long) k);
	}
	while (n < cap) {
		if (s->eol_due) {
			if (cap - n < s->eol_len) {
				break;
			}
			memcpy(buf + n, s->eol, s->eol_len);
			n += s->eol_len;
			s->eol_due = 0;
			s->bol = 1;
			continue;
		}
		if (s->pos >= s->len) {
			if (!s->ended && (s->flags & PIPE_F_BLANK) &&
			    !s->last_empty) {
				if (cap - n < s->eol_len) {
					break;
				}
				memcpy(buf + n, s->eol, s->eol_len);
				n += s->eol_len;
			}
			s->ended = 1;
			break;
		}
		if (s->bol) {
			if (cap - n < 2) {
				break;
			}
			n += pipe_stream_line(s, buf + n);
		}
		k = s->cur_end - s->pos;
		if (k > cap - n) {
			k = cap - n;
		}
		memcpy(buf + n, s->body + s->pos, k);
		s->pos += k;
		n += k;
		if (s->pos == s->cur_end) {
			s->pos = s->next;
			s->eol_due = 1;
		}
	}
	return ((long) n);
}

int
pipe_stream_has_delivered(const char *body, size_t len, const char *rcpt)
{
	static const char name[] = "delivered-to:";
	size_t pos = 0, end, vlen, rlen = strlen(rcpt);
	const char *nl, *v;

	while (pos < len) {
		nl = memchr(body + pos, '\n', len - pos);
		end = nl ? (size_t) (nl - body) : len;
		if (end > pos && body[end - 1] == '\r') {
			end--;
		}
		if (end == pos) {
			break; /* the end of the header block */
		}
		if (end - pos > sizeof(name) - 1 &&
		    pm_strncaseeq(body + pos, name, sizeof(name) - 1)) {
			v = body + pos + sizeof(name) - 1;
			vlen = end - (size_t) (v - body);
			while (vlen > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vlen--;
			}
			while (vlen > 0 &&
			    (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
				vlen--;
			}
			if (vlen == rlen && pm_strncaseeq(v, rcpt, rlen)) {
				return (1);
			}
		}
		pos = nl ? (size_t) (nl - body) + 1 : len;
	}
	return (0);
}
