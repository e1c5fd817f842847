/*
 * NAME
 *	pm_cfg_edit - change main.cf in place (postconf -e, -X, -#)
 * SUMMARY
 *	#include "pm_cfg_edit.h"
 * DESCRIPTION
 *	See pm_cfg_edit.h. The copy is streamed line by line; the state is
 *	only "the current logical line is one being edited".
 * LIMITS
 *	See pm_cfg_edit.h.
 * SECURITY
 *	See pm_cfg_edit.h.
 */
#include "pm_cfg_edit.h"
#include "pm_cfg_priv.h"
#include "pm_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define EDIT_LOCK_TRIES 100 /* lock won on a file renamed away: retry */

const char *
pm_cfg_edit_check(const char *name, const char *value)
{
	const char *p;

	if (name == NULL || *name == 0) {
		return ("missing parameter name");
	}
	for (p = name; *p; p++) {
		if (!pm__cfg_namechar((unsigned char) *p)) {
			return ("bad parameter name");
		}
	}
	if (value != NULL && strpbrk(value, "\r\n") != NULL) {
		return ("accepts no multi-line input");
	}
	return (NULL);
}

/*
 * Open and lock <path>.tmp. The lock is valid only if the locked file
 * is still the one at that name (an editor before us may have renamed
 * it over main.cf while we waited).
 */
static int
edit_lock_tmp(const char *tmp)
{
	struct stat a, b;
	int fd, i;

	for (i = 0; i < EDIT_LOCK_TRIES; i++) {
		if ((fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) <
		    0) {
			return (-1);
		}
		if (flock(fd, LOCK_EX) == 0 && fstat(fd, &a) == 0 &&
		    stat(tmp, &b) == 0 && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino) {
			return (fd);
		}
		close(fd);
	}
	errno = EAGAIN;
	return (-1);
}

/* The rename is durable once the directory is on disk too. */
static int
edit_sync_dir(const char *path)
{
	char *dir = pm_strdup(path), *slash = strrchr(dir, '/');
	int fd, rc;

	if (slash == NULL) {
		strcpy(dir, ".");
	} else if (slash == dir) {
		slash[1] = 0;
	} else {
		*slash = 0;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		free(dir);
		return (-1);
	}
	rc = fsync(fd);
	close(fd);
	free(dir);
	return (rc);
}

/*
 * The copy gets main.cf's owner and group (root editing a root:postmesh
 * 0640 main.cf must not leave it unreadable to the services) and its
 * permission bits. Only root may give a file away: EPERM otherwise is
 * not an error (the caller could not have done better).
 */
static int
edit_same_owner(int fd, const struct stat *st)
{
	if (fchown(fd, st->st_uid, st->st_gid) != 0 && errno != EPERM) {
		return (-1);
	}
	return (fchmod(fd, st->st_mode & 07777));
}

static pm_cfg_edit_op *
edit_find(pm_cfg_edit_op *ops, size_t n, const char *line)
{
	size_t len = strcspn(line, " \t\r\n="), i;

	for (i = 0; i < n; i++) {
		if (strlen(ops[i].name) == len &&
		    strncmp(ops[i].name, line, len) == 0) {
			return (&ops[i]);
		}
	}
	return (NULL);
}

/* Write one line; *eol tells whether the output ends with a newline. */
static void
edit_put(FILE *dst, const char *prefix, const char *line, size_t len, int *eol)
{
	fputs(prefix, dst);
	fwrite(line, 1, len, dst);
	*eol = line[len - 1] == '\n';
}

/* Copy src to dst, editing; 0 or PM_ETOOBIG. */
static int
edit_copy(FILE *src, FILE *dst, pm_cfg_edit_op *ops, size_t n, int mode,
    int *eol)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	size_t len;
	const char *p;
	pm_cfg_edit_op *op;
	int editing = 0, rc = 0;

	*eol = 1;
	while ((got = getline(&line, &cap, src)) > 0) {
		if ((len = (size_t) got) > PM__CFG_LINE_MAX) {
			rc = PM_ETOOBIG;
			break;
		}
		for (p = line; pm__cfg_space((unsigned char) *p); p++) {
			;
		}
		if (*p == '#' || *p == 0) {
			edit_put(dst, "", line, len, eol); /* comment, blank */
		} else if (p > line) {
			/* continuation: of the definition being edited? */
			if (!editing) {
				edit_put(dst, "", line, len, eol);
			} else if (mode == PM_CFG_EDIT_COMMENT) {
				edit_put(dst, "#", line, len, eol);
			}
		} else if ((op = edit_find(ops, n, line)) == NULL) {
			editing = 0;
			edit_put(dst, "", line, len, eol);
		} else {
			editing = 1;
			op->found++;
			if (mode == PM_CFG_EDIT_SET) {
				fprintf(dst, "%s =%s%s\n", op->name,
				    *op->value ? " " : "", op->value);
				*eol = 1;
			} else if (mode == PM_CFG_EDIT_COMMENT) {
				edit_put(dst, "#", line, len, eol);
			}
		}
	}
	free(line);
	return (rc);
}

int
pm_cfg_edit(const char *cfpath, pm_cfg_edit_op *ops, size_t n, int mode,
    char **errp)
{
	char *path, *tmp;
	FILE *src = NULL, *dst = NULL;
	struct stat st;
	const char *why;
	size_t i;
	int fd = -1, eol, rc;

	*errp = NULL;
	/*
	 * A symbolic link (main.cf -> ..data/main.cf, as a Kubernetes
	 * ConfigMap mounts it) stays one: its target is edited, in the
	 * target's directory.
	 */
	if ((path = realpath(cfpath, NULL)) == NULL) {
		*errp = pm_asprintf("open %s for reading: %s", cfpath,
		    strerror(errno));
		return (PM_EIO);
	}
	tmp = pm_asprintf("%s.tmp", path);
	for (i = 0; i < n; i++) {
		ops[i].found = 0;
		why = pm_cfg_edit_check(ops[i].name,
		    mode == PM_CFG_EDIT_SET ? ops[i].value : NULL);
		if (why == NULL && mode == PM_CFG_EDIT_SET &&
		    ops[i].value == NULL) {
			why = "missing value";
		}
		if (why != NULL) {
			*errp = pm_asprintf("%s: \"%s\"", why,
			    ops[i].name ? ops[i].name : "");
			free(tmp);
			free(path);
			return (PM_EINVAL);
		}
	}
	if ((fd = edit_lock_tmp(tmp)) < 0) {
		*errp = pm_asprintf("open %s: %s", tmp, strerror(errno));
		free(tmp);
		free(path);
		return (PM_EIO);
	}
	if ((src = fopen(path, "re")) == NULL || fstat(fileno(src), &st) != 0) {
		*errp = pm_asprintf("open %s for reading: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (ftruncate(fd, 0) != 0 || edit_same_owner(fd, &st) != 0 ||
	    (dst = fdopen(fd, "w")) == NULL) {
		*errp = pm_asprintf("write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1; /* dst owns it; the lock goes with its close */
	if ((rc = edit_copy(src, dst, ops, n, mode, &eol)) != 0) {
		*errp = pm_asprintf("%s: a line longer than %d bytes: not "
		                    "changed",
		    path, PM__CFG_LINE_MAX);
		unlink(tmp);
		fclose(src);
		fclose(dst);
		free(tmp);
		free(path);
		return (rc);
	}
	if (ferror(src)) {
		*errp = pm_asprintf("read %s: %s", path, strerror(errno));
		goto fail;
	}
	for (i = 0; mode == PM_CFG_EDIT_SET && i < n; i++) {
		if (ops[i].found == 0) {
			fprintf(dst, "%s%s =%s%s\n", eol ? "" : "\n",
			    ops[i].name, *ops[i].value ? " " : "",
			    ops[i].value);
			eol = 1;
		}
	}
	if (fflush(dst) != 0 || fsync(fileno(dst)) != 0 ||
	    rename(tmp, path) != 0) {
		*errp = pm_asprintf("write %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (edit_sync_dir(path) != 0) {
		*errp = pm_asprintf("sync the directory of %s: %s", path,
		    strerror(errno));
		rc = PM_EIO; /* renamed: not undone, but maybe not durable */
	}
	fclose(src);
	fclose(dst); /* after the rename: the lock held until main.cf is new */
	free(tmp);
	free(path);
	return (rc);

fail:
	unlink(tmp);
	if (src != NULL) {
		fclose(src);
	}
	if (dst != NULL) {
		fclose(dst);
	}
	if (fd >= 0) {
		close(fd);
	}
	free(tmp);
	free(path);
	return (PM_EIO);
}
