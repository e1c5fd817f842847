/*
 * NAME
 *	pm_body - the message body store: Redis chunks or one file per id
 * DESCRIPTION
 *	See pm_body.h. The fs backend follows the usual recipe for a file
 *	that must survive a crash once a function returns: write a
 *	temporary file, fdatasync() it, give it its final name, fsync()
 *	the directory that holds the name. link(2) rather than rename(2)
 *	gives the final name, because link fails when the name exists, so
 *	a second enqueue of the same queue id can never replace the body
 *	of a queued message. File systems without hard links (some FUSE
 *	and SMB mounts) fall back to a check and rename(2).
 * LIMITS
 *	PM_BODY_SIZE_MAX for a body read back.
 * SECURITY
 *	Queue ids are checked (pm_qid_valid) before they become file
 *	names; files are created with mode 0600.
 */
#include "pm_body.h"
#include "pm_log.h"
#include "pm_qid.h"
#include "pm_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The id character that picks the subdirectory (see pm_body.h). */
#define BODY_SHARD_CHAR 10
#define BODY_SUBDIRS "0123456789BCDFGHJKLMNPQRSTVWXYZb"

struct pm_body {
	int kind;
	char *dir; /* fs: base directory, no trailing slash */
};

static unsigned long body_tmp_seq; /* temporary file names; atomic */

static int
fsync_path(const char *path)
{
	int fd, rc = 0, err = 0;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		return (-1);
	}
	if (fsync(fd) < 0) {
		err = errno;
		rc = -1;
	}
	(void) close(fd);
	errno = err;
	return (rc);
}

pm_body *
pm_body_open(const char *spec)
{
	pm_body *b;
	char *sub;
	const char *p;
	size_t n;

	if (spec == NULL || strcmp(spec, "redis") == 0) {
		b = pm_calloc(1, sizeof(*b));
		b->kind = PM_BODY_REDIS;
		return (b);
	}
	if (strncmp(spec, "fs:", 3) != 0 || spec[3] != '/') {
		pm_msg_error("queue_body_store: bad value \"%s\": want "
		             "\"redis\" or \"fs:/path\"",
		    spec);
		return (NULL);
	}
	n = strlen(spec + 3);
	while (n > 1 && spec[3 + n - 1] == '/') {
		n--;
	}
	if (n > PATH_MAX - 64) {
		pm_msg_error("queue_body_store: path too long");
		return (NULL);
	}
	b = pm_calloc(1, sizeof(*b));
	b->kind = PM_BODY_FS;
	b->dir = pm_strndup(spec + 3, n);
	if (mkdir(b->dir, 0700) < 0 && errno != EEXIST) {
		pm_msg_error("queue_body_store: mkdir %s: %m", b->dir);
		return (pm_body_free(b));
	}
	for (p = BODY_SUBDIRS; *p; p++) {
		sub = pm_asprintf("%s/%c", b->dir, *p);
		if (mkdir(sub, 0700) < 0 && errno != EEXIST) {
			pm_msg_error("queue_body_store: mkdir %s: %m", sub);
			free(sub);
			return (pm_body_free(b));
		}
		free(sub);
	}
	if (fsync_path(b->dir) < 0) {
		pm_msg_error("queue_body_store: fsync %s: %m", b->dir);
		return (pm_body_free(b));
	}
	return (b);
}

pm_body *
pm_body_free(pm_body *b)
{
	if (b != NULL) {
		free(b->dir);
		free(b);
	}
	return (NULL);
}

int
pm_body_kind(const pm_body *b)
{
	return (b->kind);
}

const char *
pm_body_kind_name(const pm_body *b)
{
	return (b->kind == PM_BODY_FS ? "fs" : "redis");
}

size_t
pm_body_redis_nchunks(size_t len, size_t chunk)
{
	if (chunk == 0) {
		chunk = PM_BODY_CHUNK_SIZE;
	}
	return (len / chunk + (len % chunk != 0));
}

int
pm_body_redis_append(redisContext *c, const char *key, const void *data,
    size_t len, size_t chunk, long long ttl_ms)
{
	const char *argv[6];
	size_t argl[6];
	size_t off, n;
	char ttl[32];
	sigset_t saved;
	int ncmd = 0, done = 0, wrc, i;

	if (chunk == 0) {
		chunk = PM_BODY_CHUNK_SIZE;
	}
	(void) snprintf(ttl, sizeof(ttl), "%lld", ttl_ms);
	argv[0] = "FCALL";
	argv[1] = "pm_body_append";
	argv[2] = "1";
	argv[3] = key;
	argv[4] = ttl;
	for (i = 0; i < 5; i++) {
		argl[i] = strlen(argv[i]);
	}
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		argv[5] = (const char *) data + off;
		argl[5] = n;
		if (redisAppendCommandArgv(c, 6, argv, argl) != REDIS_OK) {
			return (ncmd > 0 ? PM_EIO : PM_EREDIS);
		}
		ncmd++;
		/*
		 * A body of several chunks is sent chunk by chunk: hiredis
		 * would otherwise keep a copy of all of it in its output
		 * buffer until the pipeline is read (content memory, issue 6
		 * j). One chunk or less waits for the pipeline as before.
		 */
		if (len <= chunk) {
			continue;
		}
		pm_sigpipe_block(&saved);
		do {
			wrc = redisBufferWrite(c, &done);
		} while (wrc == REDIS_OK && !done);
		pm_sigpipe_restore(&saved);
		if (wrc != REDIS_OK) {
			return (PM_EIO);
		}
	}
	return (ncmd);
}

int
pm_body_redis_join(const redisReply *r, size_t want, char **data, size_t *len)
{
	size_t i, total = 0;
	char *buf, *p;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
		return (PM_EREDIS);
	}
	for (i = 0; i < r->elements; i++) {
		if (r->element[i] == NULL ||
		    r->element[i]->type != REDIS_REPLY_STRING) {
			return (PM_EREDIS);
		}
		if (r->element[i]->len > want - total) {
			return (PM_EIO);
		}
		total += r->element[i]->len;
	}
	if (total != want) {
		return (PM_EIO);
	}
	buf = p = pm_malloc(total + 1);
	for (i = 0; i < r->elements; i++) {
		memcpy(p, r->element[i]->str, r->element[i]->len);
		p += r->element[i]->len;
	}
	*p = 0;
	*data = buf;
	*len = total;
	return (0);
}

/* <dir>/<c> and <dir>/<c>/<qid>; NULL for a bad id. */
static int
body_paths(pm_body *b, const char *qid, char **subdir, char **file)
{
	if (b->kind != PM_BODY_FS || !pm_qid_valid(qid)) {
		return (PM_EINVAL);
	}
	*subdir = pm_asprintf("%s/%c", b->dir, qid[BODY_SHARD_CHAR]);
	*file = pm_asprintf("%s/%s", *subdir, qid);
	return (0);
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return (-1);
		}
		p += n;
		len -= (size_t) n;
	}
	return (0);
}

/* Create and durably write the temporary file; its name in *tmpp. */
static int
body_write_tmp(const char *subdir, const char *qid, const void *data,
    size_t len, char **tmpp)
{
	unsigned long seq;
	char *tmp;
	int fd;

	seq = __atomic_fetch_add(&body_tmp_seq, 1, __ATOMIC_RELAXED);
	tmp = pm_asprintf("%s/.%s.%ld.%lu.tmp", subdir, qid, (long) getpid(),
	    seq);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* Left by a crashed process whose pid came back. */
		(void) unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0) {
		pm_msg_warn("%s: create %s: %m", qid, tmp);
		free(tmp);
		return (PM_EIO);
	}
	if (write_all(fd, data, len) < 0 || fdatasync(fd) < 0) {
		pm_msg_warn("%s: write %s: %m", qid, tmp);
		(void) close(fd);
		(void) unlink(tmp);
		free(tmp);
		return (PM_EIO);
	}
	if (close(fd) < 0) {
		pm_msg_warn("%s: close %s: %m", qid, tmp);
		(void) unlink(tmp);
		free(tmp);
		return (PM_EIO);
	}
	*tmpp = tmp;
	return (0);
}

/* Give tmp the name file; see the DESCRIPTION for link vs rename. */
static int
body_name(const char *qid, const char *tmp, const char *file, int replace)
{
	if (!replace) {
		if (link(tmp, file) == 0) {
			(void) unlink(tmp);
			return (0);
		}
		if (errno == EEXIST) {
			(void) unlink(tmp);
			return (PM_EEXIST);
		}
		if (errno != EPERM && errno != ENOTSUP && errno != ENOSYS &&
		    errno != EOPNOTSUPP && errno != EMLINK) {
			pm_msg_warn("%s: link %s: %m", qid, file);
			(void) unlink(tmp);
			return (PM_EIO);
		}
		/* No hard links here: check, then rename (not atomic). */
		if (access(file, F_OK) == 0) {
			(void) unlink(tmp);
			return (PM_EEXIST);
		}
	}
	if (rename(tmp, file) < 0) {
		pm_msg_warn("%s: rename %s: %m", qid, file);
		(void) unlink(tmp);
		return (PM_EIO);
	}
	return (0);
}

int
pm_body_fs_put(pm_body *b, const char *qid, const void *data, size_t len,
    int replace)
{
	char *subdir = NULL, *file = NULL, *tmp = NULL;
	int rc;

	if ((rc = body_paths(b, qid, &subdir, &file)) < 0) {
		return (rc);
	}
	if ((rc = body_write_tmp(subdir, qid, data, len, &tmp)) < 0) {
		goto out;
	}
	if ((rc = body_name(qid, tmp, file, replace)) < 0) {
		goto out;
	}
	if (fsync_path(subdir) < 0) {
		pm_msg_warn("%s: fsync %s: %m", qid, subdir);
		(void) unlink(file);
		rc = PM_EIO;
	}
out:
	free(tmp);
	free(subdir);
	free(file);
	return (rc);
}

static int
read_all(int fd, char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return (-1);
		}
		p += n;
		len -= (size_t) n;
	}
	return (0);
}

int
pm_body_fs_get(pm_body *b, const char *qid, size_t want, char **data,
    size_t *len)
{
	char *subdir = NULL, *file = NULL, *buf = NULL;
	struct stat st;
	int fd = -1, rc;
	char extra;

	if ((rc = body_paths(b, qid, &subdir, &file)) < 0) {
		return (rc);
	}
	if (want > PM_BODY_SIZE_MAX) {
		rc = PM_ETOOBIG;
		goto out;
	}
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = (errno == ENOENT ? PM_ENOENT : PM_EIO);
		pm_msg_warn("%s: open %s: %m", qid, file);
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		pm_msg_warn("%s: %s: not a regular file", qid, file);
		rc = PM_EIO;
		goto out;
	}
	if ((unsigned long long) st.st_size != want) {
		pm_msg_warn("%s: %s: corrupt body: size %lld, want %zu", qid,
		    file, (long long) st.st_size, want);
		rc = PM_EIO;
		goto out;
	}
	buf = pm_malloc(want + 1);
	if (read_all(fd, buf, want) < 0 || read(fd, &extra, 1) != 0) {
		pm_msg_warn("%s: read %s: short or changed file", qid, file);
		rc = PM_EIO;
		goto out;
	}
	buf[want] = 0;
	*data = buf;
	*len = want;
	buf = NULL;
	rc = 0;
out:
	if (fd >= 0) {
		(void) close(fd);
	}
	free(buf);
	free(subdir);
	free(file);
	return (rc);
}

int
pm_body_fs_delete(pm_body *b, const char *qid)
{
	char *subdir = NULL, *file = NULL;
	int rc;

	if ((rc = body_paths(b, qid, &subdir, &file)) < 0) {
		return (rc);
	}
	if (unlink(file) < 0 && errno != ENOENT) {
		pm_msg_warn("%s: unlink %s: %m", qid, file);
		rc = PM_EIO;
	}
	free(subdir);
	free(file);
	return (rc);
}

int
pm_body_fs_exists(pm_body *b, const char *qid)
{
	char *subdir = NULL, *file = NULL;
	int rc;

	if ((rc = body_paths(b, qid, &subdir, &file)) < 0) {
		return (rc);
	}
	if (access(file, F_OK) == 0) {
		rc = 1;
	} else {
		rc = (errno == ENOENT ? 0 : PM_EIO);
	}
	free(subdir);
	free(file);
	return (rc);
}
