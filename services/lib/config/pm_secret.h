/*
 * NAME
 *	pm_secret - read a credential from a file (a Kubernetes Secret)
 * SUMMARY
 *	#include "pm_secret.h"
 *	rc = pm_secret_read(&secret, &exposed, path, why, whylen);
 * DESCRIPTION
 *	A credential (the Redis password of redis_password_file) comes
 *	from a file, never from main.cf, the environment or a command
 *	line, where ps, logs and `postconf` would show it. Under
 *	Kubernetes the file is a mounted Secret (a symbolic link into
 *	..data/: it is followed).
 *
 *	pm_secret_read() reads the first line of path: the text up to the
 *	first LF, without a CR before it. A file with nothing on its first
 *	line, a NUL byte, or more than PM_SECRET_MAX bytes is refused, as
 *	is anything but a regular file (a FIFO would block the reader).
 *	*secret gets a new string; free it with pm_secret_free(), which
 *	wipes it first. *exposed is set when the file can be read by
 *	others, or by a group the process is not a member of (its
 *	effective group or one of its supplementary groups, at most
 *	PM_SECRET_MAX_GROUPS looked at): the caller warns, as Postfix
 *	warns about secret files others can read; it is not refused,
 *	since a Kubernetes Secret is mode 0644 unless defaultMode says
 *	otherwise. A Secret mounted 0440 under the pod's fsGroup (the
 *	Helm chart's choice: a non-root user can read nothing stricter)
 *	is not exposed. On failure why gets a line for the log (it never holds
 *	file content) and the out-parameters are untouched.
 * LIMITS
 *	PM_SECRET_MAX bytes read.
 * SECURITY
 *	The content is never logged or put in why. Copies made here are
 *	wiped before they are freed.
 */
#ifndef PM_SECRET_H
#define PM_SECRET_H

#include <stddef.h>

#define PM_SECRET_MAX 4096
#define PM_SECRET_MAX_GROUPS 64

/* 0, PM_EIO (cannot open or read), PM_EINVAL (empty, NUL, not a file),
 * PM_ETOOBIG. */
int pm_secret_read(char **secret, int *exposed, const char *path, char *why,
    size_t whylen);

/* Wipe and free; NULL is fine; returns NULL. */
char *pm_secret_free(char *secret);

#endif
