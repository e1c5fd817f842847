/*
 * NAME
 *	pm_mailbox_ledger - remember recent deliveries into one mailbox
 * SUMMARY
 *	#include "pm_mailbox_priv.h"
 * DESCRIPTION
 *	A delivery agent killed after it wrote a message but before it
 *	recorded the recipient as delivered gets the same recipient again
 *	(qmgr gives the dead agent's jobs out again). To write it only
 *	once, pm_maildir_deliver() and pm_mbox_deliver() keep, per mailbox,
 *	a small ledger of "<delivery id> <where>" lines, written before
 *	the message becomes visible (maildir: before link(2) into new/;
 *	mbox: before the append, under the lock), and look the id up
 *	first: if the earlier write completed, it is not repeated.
 *	pm__ledger_find() searches the ledger and its previous
 *	generation; pm__ledger_add() appends one line with one write(2)
 *	(O_APPEND: writers do not interleave) and starts a new generation
 *	(rename to <ledger>.old) past PM_LEDGER_MAX bytes.
 * LIMITS
 *	PM_LEDGER_MAX bytes per generation (about a thousand deliveries:
 *	a redelivery after a crash comes within seconds); ids and values
 *	up to PM_LEDGER_LINE bytes.
 * SECURITY
 *	The ledger is written as the mailbox owner, opened O_NOFOLLOW.
 *	Its content is only compared with ids, never trusted otherwise:
 *	a match is checked against the mailbox itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pm_mailbox_priv.h"
#include "pm_util.h"

/* 1 found (val set), 0 not found, in one file. */
static int
ledger_find1(const char *path, const char *id, char *val, size_t vsize)
{
	char *buf, *p, *nl;
	size_t idlen = strlen(id);
	ssize_t n;
	int fd, found = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		return (0);
	}
	buf = pm_malloc(PM_LEDGER_MAX * 2 + 1);
	n = read(fd, buf, PM_LEDGER_MAX * 2);
	close(fd);
	if (n <= 0) {
		free(buf);
		return (0);
	}
	buf[n] = 0;
	/* the last entry wins: search every line */
	for (p = buf; p < buf + n; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL) {
			break; /* a torn last line */
		}
		if ((size_t) (nl - p) > idlen && strncmp(p, id, idlen) == 0 &&
		    p[idlen] == ' ') {
			size_t vlen = (size_t) (nl - p) - idlen - 1;

			if (vlen < vsize) {
				memcpy(val, p + idlen + 1, vlen);
				val[vlen] = 0;
				found = 1;
			}
		}
	}
	free(buf);
	return (found);
}

int
pm__ledger_find(const char *ledger, const char *id, char *val, size_t vsize)
{
	char old[PM_MBX_PATH_MAX + 16];

	if (ledger_find1(ledger, id, val, vsize)) {
		return (1);
	}
	snprintf(old, sizeof(old), "%s.old", ledger);
	return (ledger_find1(old, id, val, vsize));
}

int
pm__ledger_add(const char *ledger, const char *id, const char *val)
{
	char line[PM_LEDGER_LINE * 2 + 4];
	char old[PM_MBX_PATH_MAX + 16];
	struct stat sb;
	int fd, n, err = 0;

	n = snprintf(line, sizeof(line), "%s %s\n", id, val);
	if (n < 0 || (size_t) n >= sizeof(line)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	fd = open(ledger,
	    O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		return (-1);
	}
	if (write(fd, line, (size_t) n) != n) {
		err = errno ? errno : EIO;
	}
	if (err == 0 && fstat(fd, &sb) == 0 && sb.st_size > PM_LEDGER_MAX) {
		snprintf(old, sizeof(old), "%s.old", ledger);
		(void) rename(ledger, old); /* the next add starts a new one */
	}
	close(fd);
	if (err != 0) {
		errno = err;
		return (-1);
	}
	return (0);
}

int
pm__ledger_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 128) {
		return (0);
	}
	return (strspn(id,
	            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	            "0123456789._-") == n);
}
