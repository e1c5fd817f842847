/*
 * NAME
 *	pm_mailbox - the message formatter both mailbox writers share
 * SUMMARY
 *	#include "pm_mailbox_priv.h"
 * DESCRIPTION
 *	pm__mailbox_format() writes "Return-Path: <sender>",
 *	"Delivered-To: recipient" and the content with LF line ends (and,
 *	for an mbox, "From " lines quoted and one empty line after) to a
 *	pm__mbx_out, which counts only (fd -1) or writes through a
 *	buffer. pm_maildir.c and pm_mbox.c run it twice: once to learn
 *	the size (the limit is checked before anything is written), once
 *	to write. Also the helpers both writers use and
 *	pm_mbox_lock_parse().
 * LIMITS
 *	PM_MBX_BUF bytes buffered per write(2).
 * SECURITY
 *	Control characters in the sender and the recipient are written as
 *	'?': a header line cannot be injected through them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pm_mailbox_priv.h"
#include "pm_util.h"

void
pm__mbx_put(pm__mbx_out *o, const char *p, size_t len)
{
	o->total += (long long) len;
	if (o->mem != NULL) {
		if (pm_buf_append(o->mem, p, len) != 0) {
			o->err = EFBIG;
		}
		return;
	}
	if (o->fd < 0 || o->err) {
		return;
	}
	while (len > 0) {
		size_t room = sizeof(o->buf) - o->n;
		size_t k = len < room ? len : room;

		memcpy(o->buf + o->n, p, k);
		o->n += k;
		p += k;
		len -= k;
		if (o->n == sizeof(o->buf) && pm__mbx_flush(o) != 0) {
			return;
		}
	}
}

int
pm__mbx_flush(pm__mbx_out *o)
{
	size_t off = 0;

	if (o->fd < 0 || o->err) {
		return (o->err ? -1 : 0);
	}
	while (off < o->n) {
		ssize_t w = write(o->fd, o->buf + off, o->n - off);

		if (w < 0) {
			if (errno == EINTR) {
				continue;
			}
			o->err = errno;
			return (-1);
		}
		off += (size_t) w;
	}
	o->n = 0;
	return (0);
}

/* A header value from the envelope: control characters become '?'. */
static void
mbx_put_value(pm__mbx_out *o, const char *s)
{
	for (; *s; s++) {
		char c = ((unsigned char) *s < 0x20 || *s == 0x7f) ? '?' : *s;

		pm__mbx_put(o, &c, 1);
	}
}

void
pm__mailbox_format(pm__mbx_out *o, const pm_mailbox_msg *m, int mbox)
{
	const char *p = m->data, *end = m->data + m->len;

	pm__mbx_put(o, "Return-Path: <", 14);
	mbx_put_value(o, m->sender ? m->sender : "");
	pm__mbx_put(o, ">\nDelivered-To: ", 16);
	mbx_put_value(o, m->recipient ? m->recipient : "");
	pm__mbx_put(o, "\n", 1);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t) (end - p));
		const char *eol = nl ? nl : end;

		/* mboxo, as Postfix: only "From " itself is quoted. */
		if (mbox && end - p >= 5 && memcmp(p, "From ", 5) == 0) {
			pm__mbx_put(o, ">", 1);
		}
		/* CRLF becomes LF; the last line gets its LF. */
		if (eol > p && eol[-1] == '\r') {
			pm__mbx_put(o, p, (size_t) (eol - 1 - p));
		} else {
			pm__mbx_put(o, p, (size_t) (eol - p));
		}
		pm__mbx_put(o, "\n", 1);
		p = nl ? nl + 1 : end;
	}
	if (mbox) {
		pm__mbx_put(o, "\n", 1);
	}
}

void
pm__mailbox_set(pm_mailbox_status *st, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	snprintf(st->dsn, sizeof(st->dsn), "%s", dsn);
	st->err = 0;
	va_start(ap, fmt);
	vsnprintf(st->text, sizeof(st->text), fmt, ap);
	va_end(ap);
}

void
pm__mailbox_fail(pm_mailbox_status *st, int err, const char *def,
    const char *fmt, ...)
{
	va_list ap;
	size_t n;

	snprintf(st->dsn, sizeof(st->dsn), "%s",
	    pm_mailbox_errno_dsn(err, def));
	va_start(ap, fmt);
	vsnprintf(st->text, sizeof(st->text), fmt, ap);
	va_end(ap);
	n = strlen(st->text);
	snprintf(st->text + n, sizeof(st->text) - n, ": %s", strerror(err));
	st->err = err;
}

const char *
pm__mailbox_open_dsn(const pm_mailbox_opts *o)
{
	return (o->open_dsn != NULL ? o->open_dsn : "4.2.0");
}

const char *
pm_mailbox_errno_dsn(int err, const char *def)
{
	if (err == EAGAIN || err == ESTALE) {
		return ("4.2.0");
	}
	if (err == ENOSPC) {
		return ("4.3.0");
	}
	if (err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS ||
	    err == EINTR) {
		/* the agent's own process, not the mailbox (Postmesh) */
		return ("4.3.0");
	}
	if (err == EDQUOT || err == EFBIG) {
		return ("5.2.2");
	}
	return (def);
}

int
pm__mailbox_mkdirs(const char *dir)
{
	char path[PM_MBX_PATH_MAX + 1];
	size_t len = strlen(dir);
	struct stat sb;

	if (len == 0 || len > PM_MBX_PATH_MAX) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if (stat(dir, &sb) == 0) {
		return (S_ISDIR(sb.st_mode) ? 0 : (errno = ENOTDIR, -1));
	}
	memcpy(path, dir, len + 1);
	for (char *s = path + 1; *s; s++) {
		if (*s != '/') {
			continue;
		}
		*s = 0;
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			return (-1);
		}
		*s = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		return (-1);
	}
	return (0);
}

int
pm_mbox_lock_parse(const char *value, int *locks)
{
	static const struct {
		const char *name;
		int bit;
	} words[] = {
		{ "fcntl", PM_MBOX_LOCK_FCNTL },
		{ "dotlock", PM_MBOX_LOCK_DOTLOCK },
		{ "flock", PM_MBOX_LOCK_FLOCK },
	};
	int bits = 0;
	const char *p = value ? value : "";

	while (*p) {
		size_t n;
		size_t i;

		p += strspn(p, " ,\t");
		if ((n = strcspn(p, " ,\t")) == 0) {
			break;
		}
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			if (strlen(words[i].name) == n &&
			    strncmp(p, words[i].name, n) == 0) {
				break;
			}
		}
		if (i == sizeof(words) / sizeof(words[0])) {
			return (PM_EINVAL);
		}
		bits |= words[i].bit;
		p += n;
	}
	if (bits == 0) {
		return (PM_EINVAL);
	}
	*locks = bits;
	return (0);
}
