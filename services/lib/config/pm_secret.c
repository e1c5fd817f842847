/*
 * NAME
 *	pm_secret - read a credential from a file (a Kubernetes Secret)
 * DESCRIPTION
 *	See pm_secret.h.
 * LIMITS
 *	PM_SECRET_MAX bytes.
 * SECURITY
 *	The file's content never reaches a log line; buffers that held it
 *	are wiped (explicit_bzero) before they are freed.
 */
#include "pm_secret.h"
#include "pm_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
pm_secret_free(char *secret)
{
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	return (NULL);
}

/* Others may read it, or a group this process is not in (a Kubernetes
 * Secret mounted 0440 under fsGroup belongs to the pod's own group). */
static int
secret_exposed(const struct stat *st)
{
	gid_t groups[PM_SECRET_MAX_GROUPS];
	int n, i;

	if (st->st_mode & S_IROTH)
		return (1);
	if ((st->st_mode & S_IRGRP) == 0 || st->st_gid == getegid())
		return (0);
	n = getgroups(PM_SECRET_MAX_GROUPS, groups);
	for (i = 0; i < n; i++)
		if (groups[i] == st->st_gid)
			return (0);
	return (1);
}

int
pm_secret_read(char **secret, int *exposed, const char *path, char *why,
    size_t whylen)
{
	char buf[PM_SECRET_MAX + 1];
	struct stat st;
	size_t len = 0, n;
	ssize_t got;
	char *eol;
	int fd, rc = 0;

	/* O_NONBLOCK: opening a FIFO must not hang; refused below. */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		snprintf(why, whylen, "cannot open %s: %s", path,
		    strerror(errno));
		return (PM_EIO);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", path);
		(void) close(fd);
		return (PM_EINVAL);
	}
	while (len < sizeof(buf)) {
		got = read(fd, buf + len, sizeof(buf) - len);
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got < 0) {
			snprintf(why, whylen, "cannot read %s: %s", path,
			    strerror(errno));
			rc = PM_EIO;
			goto out;
		}
		if (got == 0) {
			break;
		}
		len += (size_t) got;
	}
	if ((eol = memchr(buf, '\n', len)) != NULL) {
		n = (size_t) (eol - buf);
	} else if (len > PM_SECRET_MAX) {
		snprintf(why, whylen,
		    "%s: the first line is longer than %d "
		    "bytes",
		    path, PM_SECRET_MAX);
		rc = PM_ETOOBIG;
		goto out;
	} else {
		n = len; /* no newline at the end: the whole file */
	}
	if (n > 0 && buf[n - 1] == '\r') {
		n--;
	}
	if (n == 0) {
		snprintf(why, whylen, "%s: the first line is empty", path);
		rc = PM_EINVAL;
		goto out;
	}
	if (memchr(buf, 0, n) != NULL) {
		snprintf(why, whylen, "%s: the first line holds a NUL byte",
		    path);
		rc = PM_EINVAL;
		goto out;
	}
	*secret = pm_strndup(buf, n);
	*exposed = secret_exposed(&st);

out:
	explicit_bzero(buf, sizeof(buf));
	(void) close(fd);
	return (rc);
}
