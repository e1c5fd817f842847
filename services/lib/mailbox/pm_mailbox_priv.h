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
#include "pm_util.h"

#define PM_MBX_BUF 65536
#define PM_MBX_PATH_MAX (4096 - 64)

typedef struct pm__mbx_out {
	int fd;          /* -1: count only (or into mem) */
	pm_buf *mem;     /* when set (fd -1): the bytes go here */
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
/* st for errno err, the table over def: "<fmt...>: <strerror(err)>". */
void pm__mailbox_fail(pm_mailbox_status *st, int err, const char *def,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* opts.open_dsn or its default "4.2.0". */
const char *pm__mailbox_open_dsn(const pm_mailbox_opts *o);
/* The delivery ledger (pm_mailbox_ledger.c). */
#define PM_LEDGER_MAX 65536
#define PM_LEDGER_LINE 256
int pm__ledger_find(const char *ledger, const char *id, char *val,
    size_t vsize);
int pm__ledger_add(const char *ledger, const char *id, const char *val);
/* A usable delivery id: 1..128 bytes of [A-Za-z0-9._-]. */
int pm__ledger_id_ok(const char *id);

/* Create dir and its missing parents (mode 0700). 0 or -1 (errno). */
int pm__mailbox_mkdirs(const char *dir);

#endif
