/*
 * NAME
 *	pm_mailbox_priv - what pm_mailbox.c, pm_maildir.c and pm_mbox.c share
 * SUMMARY
 *	#include "pm_mailbox_priv.h"
 * DESCRIPTION
 *	One formatter writes the headers and the content of a message for
 *	both mailbox kinds, through pm__mbx_out: counting only (to check
 *	the size limit before anything is written) or writing to a file
 *	descriptor through a fixed buffer. Also the status setter, the
 *	errno to DSN mapping and "mkdir -p" for mailbox directories.
 * LIMITS
 *	PM_MBX_BUF bytes are buffered before a write(2).
 * SECURITY
 *	See pm_mailbox.h.
 */
#ifndef PM_MAILBOX_PRIV_H
#define PM_MAILBOX_PRIV_H

#include <stddef.h>

#include "pm_mailbox.h"

#define PM_MBX_BUF 65536
#define PM_MBX_PATH_MAX (4096 - 64)

typedef struct pm__mbx_out {
	int fd;          /* -1: count only */
	int err;         /* errno of the first failed write */
	long long total; /* bytes produced */
	size_t n;        /* bytes in buf */
	char buf[PM_MBX_BUF];
} pm__mbx_out;

/* Return-Path, Delivered-To, then the content; mbox: quoting, blank line. */
void pm__mailbox_format(pm__mbx_out *o, const pm_mailbox_msg *m, int mbox);
void pm__mbx_put(pm__mbx_out *o, const char *p, size_t len);
int pm__mbx_flush(pm__mbx_out *o);

void pm__mailbox_set(pm_mailbox_status *st, const char *dsn, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
/* The DSN of a failed write: EFBIG/EDQUOT 5.2.2, else 4.3.0. */
const char *pm__mailbox_errno_dsn(int err);
/* Create dir and its missing parents (mode 0700). 0 or -1 (errno). */
int pm__mailbox_mkdirs(const char *dir);

#endif
