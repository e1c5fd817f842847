/*
 * NAME
 *	pm_maildir - deliver one message into a maildir
 * SUMMARY
 *	#include "pm_mailbox.h"
 *	pm_maildir_deliver(dir, &msg, &opts, &status);
 * DESCRIPTION
 *	See pm_mailbox.h: tmp/<name>, fsync, link to new/<name>, unlink
 *	tmp/<name>, fsync new/. Called by the local and virtual agents
 *	as the mailbox owner.
 * LIMITS
 *	opts.size_limit bounds the file; PM_MAILDIR_TRIES names are tried
 *	when link(2) finds one taken; the instance name is cut at 64
 *	bytes.
 * SECURITY
 *	Files are created with O_EXCL | O_NOFOLLOW, mode 0600. The
 *	instance name is made safe for a file name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "pm_mailbox_priv.h"
#include "pm_util.h"

#define PM_MAILDIR_TRIES 10

static unsigned long maildir_counter;

/* The instance part of a name: '/' and ':' as \057 and \072. */
static void
maildir_instance(const char *in, char *out, size_t size)
{
	char host[256];
	size_t n = 0;

	if (in == NULL || *in == 0) {
		if (gethostname(host, sizeof(host)) != 0) {
			strcpy(host, "localhost");
		}
		host[sizeof(host) - 1] = 0;
		in = host;
	}
	for (; *in && n + 5 < size && n < 64; in++) {
		unsigned char c = (unsigned char) *in;

		if (c == '/' || c == ':') {
			n += (size_t) snprintf(out + n, size - n, "\\%03o", c);
		} else if (c <= 0x20 || c >= 0x7f) {
			out[n++] = '_';
		} else {
			out[n++] = (char) c;
		}
	}
	out[n] = 0;
}

/* Is the message new/<name> (or, read since, cur/<name>:...) there? */
static int
maildir_has(const char *base, const char *name)
{
	char path[PM_MBX_PATH_MAX + 300];
	size_t len = strlen(name);
	struct dirent *e;
	struct stat sb;
	DIR *d;
	int found = 0;

	snprintf(path, sizeof(path), "%s/new/%s", base, name);
	if (lstat(path, &sb) == 0) {
		return (1);
	}
	snprintf(path, sizeof(path), "%s/cur", base);
	if ((d = opendir(path)) == NULL) {
		return (0);
	}
	while (!found && (e = readdir(d)) != NULL) {
		found = strncmp(e->d_name, name, len) == 0 &&
		    (e->d_name[len] == 0 || e->d_name[len] == ':');
	}
	closedir(d);
	return (found);
}

/* Write the whole message to fd and fsync it; 0 or an errno. */
static int
maildir_write(int fd, const pm_mailbox_msg *m)
{
	pm__mbx_out *o = pm_calloc(1, sizeof(*o));
	int err;

	o->fd = fd;
	o->err = 0;
	o->total = 0;
	o->n = 0;
	pm__mailbox_format(o, m, 0);
	pm__mbx_flush(o);
	err = o->err;
	free(o);
	if (err == 0 && fsync(fd) != 0) {
		err = errno;
	}
	return (err);
}

int
pm_maildir_deliver(const char *dir, const pm_mailbox_msg *m,
    const pm_mailbox_opts *opts, pm_mailbox_status *st)
{
	char base[PM_MBX_PATH_MAX + 1], sub[PM_MBX_PATH_MAX + 16];
	char tmp[PM_MBX_PATH_MAX + 256], dst[PM_MBX_PATH_MAX + 256];
	char inst[80], ledger[PM_MBX_PATH_MAX + 32], seen[PM_LEDGER_LINE];
	const char *id = opts->delivery_id;
	static const char *const subs[] = { "tmp", "new", "cur" };
	pm__mbx_out count = { .fd = -1 };
	size_t len = strlen(dir);
	int fd, err, dfd;

	st->again = 0;
	while (len > 1 && dir[len - 1] == '/') {
		len--;
	}
	if (len == 0 || len > PM_MBX_PATH_MAX) {
		pm__mailbox_set(st, "5.3.5", "maildir path too long or empty");
		return (PM_EINVAL);
	}
	memcpy(base, dir, len);
	base[len] = 0;
	pm__mailbox_format(&count, m, 0);
	if (opts->size_limit > 0 && count.total > opts->size_limit) {
		pm__mailbox_set(st, "5.2.2",
		    "mailbox full: message of %lld bytes over the size limit "
		    "of %lld bytes for maildir %s",
		    count.total, opts->size_limit, base);
		return (PM_ETOOBIG);
	}
	for (size_t i = 0; i < 3; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", base, subs[i]);
		if (pm__mailbox_mkdirs(sub) != 0) {
			pm__mailbox_fail(st, errno, pm__mailbox_open_dsn(opts),
			    "create maildir directory %s", sub);
			return (PM_EIO);
		}
	}
	if (id != NULL && !pm__ledger_id_ok(id)) {
		id = NULL;
	}
	snprintf(ledger, sizeof(ledger), "%s/tmp/.postmesh-ledger", base);
	if (id != NULL && pm__ledger_find(ledger, id, seen, sizeof(seen)) &&
	    maildir_has(base, seen)) {
		pm__mailbox_set(st, "2.0.0", "delivered to maildir");
		st->again = 1;
		return (0);
	}
	maildir_instance(opts->instance, inst, sizeof(inst));
	for (int tries = 0; tries < PM_MAILDIR_TRIES; tries++) {
		struct timeval tv;
		char name[200];
		unsigned long q =
		    __atomic_fetch_add(&maildir_counter, 1, __ATOMIC_RELAXED);

		gettimeofday(&tv, NULL);
		snprintf(name, sizeof(name), "%lld.M%ldP%ldQ%lu.%s,S=%lld",
		    (long long) tv.tv_sec, (long) tv.tv_usec, (long) getpid(),
		    q, inst, count.total);
		snprintf(tmp, sizeof(tmp), "%s/tmp/%s", base, name);
		snprintf(dst, sizeof(dst), "%s/new/%s", base, name);
		fd = open(tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == EEXIST) {
				continue;
			}
			pm__mailbox_fail(st, errno, pm__mailbox_open_dsn(opts),
			    "create maildir file %s", tmp);
			return (PM_EIO);
		}
		err = maildir_write(fd, m);
		if (close(fd) != 0 && err == 0) {
			err = errno;
		}
		if (err != 0) {
			unlink(tmp);
			/* mail_copy(): the table over 5.3.0 */
			pm__mailbox_fail(st, err, PM_MAILBOX_WRITE_DSN,
			    "error writing message");
			return (PM_EIO);
		}
		/* before it is visible: a crash after the link finds it */
		if (id != NULL && pm__ledger_add(ledger, id, name) != 0) {
			err = errno;
			unlink(tmp);
			pm__mailbox_set(st, "4.3.0", "cannot update %s: %s",
			    ledger, strerror(err));
			return (PM_EIO);
		}
		if (link(tmp, dst) != 0) {
			err = errno;
			unlink(tmp);
			if (err == EEXIST) {
				continue;
			}
			pm__mailbox_fail(st, err, pm__mailbox_open_dsn(opts),
			    "create maildir file %s", dst);
			return (PM_EIO);
		}
		unlink(tmp);
		snprintf(sub, sizeof(sub), "%s/new", base);
		if ((dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		    fsync(dfd) != 0) {
			/* Not known to be durable: take it back, defer. */
			err = errno;
			unlink(dst);
			if (dfd >= 0) {
				close(dfd);
			}
			pm__mailbox_set(st, "4.3.0", "cannot fsync %s: %s", sub,
			    strerror(err));
			return (PM_EIO);
		}
		close(dfd);
		pm__mailbox_set(st, "2.0.0", "delivered to maildir");
		return (0);
	}
	pm__mailbox_set(st, "4.2.0", "cannot find a unique file name in %s/tmp",
	    base);
	return (PM_EEXIST);
}
