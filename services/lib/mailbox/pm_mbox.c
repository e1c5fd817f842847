/*
 * NAME
 *	pm_mbox - append one message to an mbox file, locked
 * SUMMARY
 *	#include "pm_mailbox.h"
 *	pm_mbox_deliver(path, &msg, &opts, &status);
 * DESCRIPTION
 *	See pm_mailbox.h: open (O_APPEND, created if missing), lock
 *	(dotlock, then fcntl and/or flock, as Postfix's mbox_open()
 *	does), check that the path still names the opened file, check the
 *	size limit, append the From_ line and the message, fsync, unlock.
 *	A failed write truncates the file back to its size before.
 *
 *	The fcntl lock is an open file description lock (F_OFD_SETLK):
 *	a classic POSIX lock belongs to the process, so two worker
 *	threads of one agent would both "hold" it and interleave their
 *	messages; OFD locks exclude each other per open(), and on Linux
 *	they conflict with the classic fcntl locks mail readers take.
 * LIMITS
 *	opts.lock_wait_ms (retry every PM_MBOX_LOCK_STEP_MS),
 *	opts.stale_lock_s (default PM_MBOX_STALE_S, Postfix's
 *	stale_lock_time), opts.size_limit; PM_MBOX_REOPEN opens when the
 *	file is replaced while we wait for locks.
 * SECURITY
 *	O_NOFOLLOW; a regular file with one link only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pm_log.h"
#include "pm_mailbox_priv.h"
#include "pm_util.h"

#define PM_MBOX_LOCK_STEP_MS 100
#define PM_MBOX_STALE_S 500
#define PM_MBOX_REOPEN 3

static void mbox_from_line(pm__mbx_out *o, const pm_mailbox_msg *m, time_t now);

typedef struct mbox_ctx {
	const char *path;
	char lock[PM_MBX_PATH_MAX + 8];
	int fd;
	int dotlocked;
	char instance[200]; /* written into the dotlock */
	int64_t deadline;
} mbox_ctx;

/* Sleep one step unless the deadline has passed: 0 slept, -1 passed. */
static int
mbox_wait(const mbox_ctx *c)
{
	struct timespec ts = { 0, PM_MBOX_LOCK_STEP_MS * 1000000L };

	if (pm_mono_ms() >= c->deadline) {
		return (-1);
	}
	nanosleep(&ts, NULL);
	return (0);
}

/* This process: its pid and when it first took a lock (microseconds). */
static long long
mbox_incarnation(void)
{
	static long long inc;
	long long zero = 0, now = (long long) pm_now_us();

	__atomic_compare_exchange_n(&inc, &zero, now, 0, __ATOMIC_SEQ_CST,
	    __ATOMIC_SEQ_CST);
	return (__atomic_load_n(&inc, __ATOMIC_SEQ_CST));
}

/*
 * Is the lock file a dead holder's? Its content is "pid instance
 * incarnation". Only a holder of our own instance (the same host or
 * pod) can be checked: a pid that no longer runs, or our own pid from
 * an earlier incarnation (a restarted container has pid 1 again).
 */
static int
mbox_lock_dead(const char *lock, const char *instance)
{
	char buf[256], inst[200];
	long long pid, inc;
	ssize_t n;
	int fd;

	if ((fd = open(lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		return (0);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return (0);
	}
	buf[n] = 0;
	if (sscanf(buf, "%lld %199s %lld", &pid, inst, &inc) != 3 ||
	    strcmp(inst, instance) != 0 || pid <= 0) {
		return (0);
	}
	if (pid == (long long) getpid()) {
		return (inc != mbox_incarnation());
	}
	return (kill((pid_t) pid, 0) != 0 && errno == ESRCH);
}

static int
mbox_dotlock(mbox_ctx *c, long stale, pm_mailbox_status *st)
{
	struct stat sb;
	char who[300];
	int fd, n;

	n = snprintf(who, sizeof(who), "%ld %s %lld\n", (long) getpid(),
	    c->instance, mbox_incarnation());
	for (;;) {
		fd = open(c->lock,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0) {
			if (write(fd, who, (size_t) n) != n) {
				pm_msg_warn("cannot write %s: %s", c->lock,
				    strerror(errno));
			}
			close(fd);
			c->dotlocked = 1;
			return (0);
		}
		if (errno != EEXIST) {
			pm__mailbox_set(st, "4.2.0",
			    "cannot create lock file %s: %s", c->lock,
			    strerror(errno));
			return (PM_EIO);
		}
		if (lstat(c->lock, &sb) == 0 &&
		    (time(NULL) - sb.st_mtime > stale ||
		        mbox_lock_dead(c->lock, c->instance))) {
			pm_msg_warn("removing stale lock file %s", c->lock);
			if (unlink(c->lock) == 0 || errno == ENOENT) {
				continue;
			}
		}
		if (mbox_wait(c) != 0) {
			pm__mailbox_set(st, "4.2.0",
			    "cannot lock %s: lock file %s is held by another "
			    "process",
			    c->path, c->lock);
			return (PM_EAGAIN);
		}
	}
}

/* fcntl (OFD) and/or flock on c->fd, retried until the deadline. */
static int
mbox_kernel_lock(mbox_ctx *c, int locks, pm_mailbox_status *st)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int done_fcntl = 0;

	for (;;) {
		if ((locks & PM_MBOX_LOCK_FCNTL) && !done_fcntl) {
			if (fcntl(c->fd, F_OFD_SETLK, &fl) == 0) {
				done_fcntl = 1;
			} else if (errno != EAGAIN && errno != EACCES) {
				break;
			}
		}
		if (done_fcntl || !(locks & PM_MBOX_LOCK_FCNTL)) {
			if (!(locks & PM_MBOX_LOCK_FLOCK) ||
			    flock(c->fd, LOCK_EX | LOCK_NB) == 0) {
				return (0);
			}
			if (errno != EWOULDBLOCK) {
				break;
			}
		}
		if (mbox_wait(c) != 0) {
			pm__mailbox_set(st, "4.2.0",
			    "cannot lock %s: held by another process", c->path);
			return (PM_EAGAIN);
		}
	}
	pm__mailbox_set(st, "4.2.0", "cannot lock %s: %s", c->path,
	    strerror(errno));
	return (PM_EIO);
}

static void
mbox_unlock(mbox_ctx *c)
{
	if (c->fd >= 0) {
		close(c->fd); /* releases the OFD and flock locks */
		c->fd = -1;
	}
	if (c->dotlocked) {
		unlink(c->lock);
		c->dotlocked = 0;
	}
}

/* Open and lock; 0 with c->fd locked, or an error with st set. */
static int
mbox_open_locked(mbox_ctx *c, const pm_mailbox_opts *o, pm_mailbox_status *st)
{
	int locks = o->locks ? o->locks : PM_MBOX_LOCK_FCNTL;
	long stale = o->stale_lock_s > 0 ? o->stale_lock_s : PM_MBOX_STALE_S;
	struct stat fsb, psb;
	int rc;

	for (int tries = 0; tries < PM_MBOX_REOPEN; tries++) {
		c->fd = open(c->path,
		    O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
		        O_NOCTTY | O_NONBLOCK,
		    0600);
		if (c->fd < 0) {
			/* Postfix's safe_open() text, mbox_open()'s DSN */
			pm__mailbox_fail(st, errno, pm__mailbox_open_dsn(o),
			    "cannot open file");
			return (PM_EIO);
		}
		if (fstat(c->fd, &fsb) != 0 || !S_ISREG(fsb.st_mode) ||
		    fsb.st_nlink != 1) {
			/* safe_open() refuses it with EPERM: the default */
			pm__mailbox_set(st, pm__mailbox_open_dsn(o),
			    "mailbox %s is not a regular file with one link",
			    c->path);
			st->err = EPERM;
			mbox_unlock(c);
			return (PM_EINVAL);
		}
		if ((locks & PM_MBOX_LOCK_DOTLOCK) &&
		    (rc = mbox_dotlock(c, stale, st)) != 0) {
			mbox_unlock(c);
			return (rc);
		}
		if ((rc = mbox_kernel_lock(c, locks, st)) != 0) {
			mbox_unlock(c);
			return (rc);
		}
		/* Replaced (or removed) by a mail reader while we waited? */
		if (lstat(c->path, &psb) == 0 && psb.st_dev == fsb.st_dev &&
		    psb.st_ino == fsb.st_ino) {
			return (0);
		}
		mbox_unlock(c);
	}
	pm__mailbox_set(st, "4.2.0", "cannot lock %s: the file keeps changing",
	    c->path);
	return (PM_EAGAIN);
}

/*
 * An earlier write of this delivery (ledger entry "start len date"):
 * 1 when the bytes at start are the whole message; 0 otherwise, after
 * cutting off a torn copy at the end of the file (*orig updated).
 */
static int
mbox_seen(const char *path, int fd, const char *entry, const pm_mailbox_msg *m,
    off_t *orig)
{
	long long start, len, when;
	pm__mbx_out o = { .fd = -1 };
	pm_buf want;
	char *got;
	off_t have;
	int rc = 0;

	if (sscanf(entry, "%lld %lld %lld", &start, &len, &when) != 3 ||
	    start < 0 || len <= 0 || start > *orig) {
		return (0);
	}
	have = *orig - (off_t) start;
	if (have > len) {
		have = (off_t) len;
	}
	pm_buf_init(&want, 0);
	o.mem = &want;
	mbox_from_line(&o, m, (time_t) when);
	pm__mailbox_format(&o, m, 1);
	if (o.err || (long long) want.len != len) {
		pm_buf_free(&want);
		return (0);
	}
	got = pm_malloc((size_t) have + 1);
	if (pread(fd, got, (size_t) have, (off_t) start) == (ssize_t) have &&
	    memcmp(got, want.data, (size_t) have) == 0) {
		if (have == len) {
			rc = 1;
		} else if ((off_t) start + have == *orig &&
		    ftruncate(fd, (off_t) start) == 0) {
			pm_msg_warn("%s: removed a torn copy of a message at "
			            "offset %lld",
			    path, start);
			*orig = (off_t) start;
		}
	}
	free(got);
	pm_buf_free(&want);
	return (rc);
}

/* The From_ line: white space in the sender becomes '_'. */
static void
mbox_from_line(pm__mbx_out *o, const pm_mailbox_msg *m, time_t now)
{
	const char *s = (m->sender && *m->sender) ? m->sender : "MAILER-DAEMON";
	char date[64];
	struct tm tm;

	pm__mbx_put(o, "From ", 5);
	for (; *s; s++) {
		unsigned char ch = (unsigned char) *s;
		char w = (ch <= 0x20 || ch == 0x7f) ? '_' : (char) ch;

		pm__mbx_put(o, &w, 1);
	}
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), " %a %b %e %H:%M:%S %Y\n", &tm);
	pm__mbx_put(o, date, strlen(date));
}

int
pm_mbox_deliver(const char *path, const pm_mailbox_msg *m,
    const pm_mailbox_opts *opts, pm_mailbox_status *st)
{
	mbox_ctx c = { .path = path, .fd = -1 };
	time_t now = opts->now ? opts->now : time(NULL);
	pm__mbx_out *o;
	struct stat sb;
	char dir[PM_MBX_PATH_MAX + 1];
	const char *slash;
	const char *id = opts->delivery_id;
	char ledger[PM_MBX_PATH_MAX + 16], entry[PM_LEDGER_LINE];
	int rc, err;
	off_t orig;

	st->again = 0;
	if (id != NULL && !pm__ledger_id_ok(id)) {
		id = NULL;
	}
	if (strlen(path) == 0 || strlen(path) > PM_MBX_PATH_MAX) {
		pm__mailbox_set(st, "5.3.5", "mailbox path too long or empty");
		return (PM_EINVAL);
	}
	snprintf(c.lock, sizeof(c.lock), "%s.lock", path);
	if (opts->instance != NULL && *opts->instance &&
	    strcspn(opts->instance, " \t\r\n") == strlen(opts->instance)) {
		snprintf(c.instance, sizeof(c.instance), "%s", opts->instance);
	} else if (gethostname(c.instance, sizeof(c.instance) - 1) != 0 ||
	    strcspn(c.instance, " \t\r\n") != strlen(c.instance)) {
		strcpy(c.instance, "localhost");
	}
	if (!opts->no_mkdirs && (slash = strrchr(path, '/')) != NULL &&
	    slash > path) {
		memcpy(dir, path, (size_t) (slash - path));
		dir[slash - path] = 0;
		if (pm__mailbox_mkdirs(dir) != 0) {
			pm__mailbox_fail(st, errno, pm__mailbox_open_dsn(opts),
			    "cannot create directory %s", dir);
			return (PM_EIO);
		}
	}
	o = pm_calloc(1, sizeof(*o));
	o->fd = -1;
	mbox_from_line(o, m, now);
	pm__mailbox_format(o, m, 1);
	c.deadline =
	    pm_mono_ms() + (opts->lock_wait_ms > 0 ? opts->lock_wait_ms : 0);
	if ((rc = mbox_open_locked(&c, opts, st)) != 0) {
		goto out;
	}
	if (fstat(c.fd, &sb) != 0) {
		pm__mailbox_fail(st, errno, pm__mailbox_open_dsn(opts),
		    "cannot stat %s", path);
		rc = PM_EIO;
		goto out;
	}
	orig = sb.st_size;
	snprintf(ledger, sizeof(ledger), "%s.postmesh", path);
	if (id != NULL && pm__ledger_find(ledger, id, entry, sizeof(entry)) &&
	    mbox_seen(path, c.fd, entry, m, &orig)) {
		pm__mailbox_set(st, "2.0.0", "delivered to mailbox");
		st->again = 1;
		rc = 0;
		goto out;
	}
	if (opts->size_limit > 0 &&
	    (long long) orig + o->total > opts->size_limit) {
		pm__mailbox_set(st, "5.2.2",
		    "mailbox full: %s has %lld bytes, a message of %lld bytes "
		    "would exceed the size limit of %lld bytes",
		    path, (long long) orig, o->total, opts->size_limit);
		rc = PM_ETOOBIG;
		goto out;
	}
	if (id != NULL) {
		snprintf(entry, sizeof(entry), "%lld %lld %lld",
		    (long long) orig, o->total, (long long) now);
		if (pm__ledger_add(ledger, id, entry) != 0) {
			err = errno;
			/*
			 * A spool directory the owner may not write in
			 * (/var/mail without dotlock): deliver without
			 * the ledger, as Postfix would. Disk full: defer.
			 */
			if (err != EACCES && err != EPERM && err != EROFS) {
				pm__mailbox_set(st, "4.3.0",
				    "cannot update %s: %s", ledger,
				    strerror(err));
				rc = PM_EIO;
				goto out;
			}
			pm_msg_warn("cannot update %s: %s: delivering without "
			            "duplicate protection",
			    ledger, strerror(err));
		}
	}
	o->fd = c.fd;
	o->total = 0;
	mbox_from_line(o, m, now);
	pm__mailbox_format(o, m, 1);
	pm__mbx_flush(o);
	err = o->err;
	if (err == 0 && fsync(c.fd) != 0) {
		err = errno;
	}
	if (err != 0) {
		/* mail_copy(): the table over 5.3.0 */
		pm__mailbox_fail(st, err, PM_MAILBOX_WRITE_DSN,
		    "error writing message");
		/* No partial message: back to the size before. */
		if (ftruncate(c.fd, orig) != 0) {
			pm_msg_error(
			    "cannot truncate %s back to %lld bytes: %s", path,
			    (long long) orig, strerror(errno));
			/*
			 * A torn copy stays: defer whatever the errno, so
			 * the retry's ledger entry cuts it, rather than
			 * bounce and leave it (Postmesh).
			 */
			snprintf(st->dsn, sizeof(st->dsn), "4.3.0");
		}
		rc = PM_EIO;
		goto out;
	}
	pm__mailbox_set(st, "2.0.0", "delivered to mailbox");
	rc = 0;
out:
	mbox_unlock(&c);
	free(o);
	return (rc);
}
