/*
 * NAME
 *	test_secret - pm_secret_read(): a credential from a file
 * DESCRIPTION
 *	A table of file contents and modes: the first line without its CR
 *	LF; empty, NUL, over-long first lines refused; group or world
 *	readable files flagged (not refused); a missing file, a directory
 *	and a FIFO refused without blocking; a symbolic link (a Kubernetes
 *	Secret) followed. The reason never holds the content.
 * SECURITY
 *	Test code only.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pm_secret.h"
#include "pm_util.h"

static char dir[64];

static void
setup(void)
{
	strcpy(dir, "/tmp/pm_secret.XXXXXX");
	cr_assert(mkdtemp(dir) != NULL);
}

static void
teardown(void)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void) system(cmd);
}

TestSuite(secret, .init = setup, .fini = teardown);

static void
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0, "create %s", path);
	cr_assert(write(fd, data, len) == (ssize_t) len);
	close(fd);
	cr_assert(chmod(path, mode) == 0);
}

/* A group this process is not in (the tests run as root: chown works). */
#define FOREIGN_GID 54321
#define OWN_GID ((gid_t) -2)

Test(secret, contents)
{
	static const struct {
		const char *data;
		size_t len;
		mode_t mode;
		int want;
		const char *secret;
		int exposed;
		gid_t gid; /* 0: as created */
	} cases[] = {
		{ "pa55word\n", 9, 0600, 0, "pa55word", 0, 0 },
		{ "pa55word", 8, 0400, 0, "pa55word", 0, 0 },
		{ "pa55word\r\n", 10, 0600, 0, "pa55word", 0, 0 },
		{ "first\nsecond\n", 13, 0600, 0, "first", 0, 0 },
		{ "with space \t\n", 13, 0600, 0, "with space \t", 0, 0 },
		{ "pa55word\n", 9, 0640, 0, "pa55word", 1, FOREIGN_GID },
		{ "pa55word\n", 9, 0440, 0, "pa55word", 0, OWN_GID },
		{ "pa55word\n", 9, 0444, 0, "pa55word", 1, OWN_GID },
		{ "pa55word\n", 9, 0644, 0, "pa55word", 1, 0 },
		{ "pa55word\n", 9, 0604, 0, "pa55word", 1, 0 },
		{ "", 0, 0600, PM_EINVAL, NULL, 0, 0 },
		{ "\n", 1, 0600, PM_EINVAL, NULL, 0, 0 },
		{ "\r\nlater\n", 8, 0600, PM_EINVAL, NULL, 0, 0 },
		{ "pa\0ss\n", 6, 0600, PM_EINVAL, NULL, 0, 0 },
	};
	char path[128], why[256], *got;
	size_t i;
	int rc, exposed;

	snprintf(path, sizeof(path), "%s/password", dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(path, cases[i].data, cases[i].len, cases[i].mode);
		if (cases[i].gid != 0) {
			gid_t g =
			    cases[i].gid == OWN_GID ? getegid() : cases[i].gid;
			cr_assert(chown(path, (uid_t) -1, g) == 0, "chown");
		}
		got = NULL;
		exposed = -1;
		why[0] = 0;
		rc = pm_secret_read(&got, &exposed, path, why, sizeof(why));
		cr_expect_eq(rc, cases[i].want,
		    "case %zu: got %d (%s), want %d", i, rc, why,
		    cases[i].want);
		if (cases[i].want != 0) {
			cr_expect(got == NULL && exposed == -1,
			    "case %zu: out-parameters touched on failure", i);
			cr_expect(why[0] != 0, "case %zu: no reason", i);
			continue;
		}
		cr_expect(got != NULL && strcmp(got, cases[i].secret) == 0,
		    "case %zu: got \"%s\", want \"%s\"", i,
		    got ? got : "(null)", cases[i].secret);
		cr_expect_eq(exposed, cases[i].exposed,
		    "case %zu: exposed: got %d, want %d", i, exposed,
		    cases[i].exposed);
		pm_secret_free(got);
	}
}

Test(secret, size_limit)
{
	char path[128], why[256], *big, *got = NULL;
	int exposed = 0;

	snprintf(path, sizeof(path), "%s/big", dir);
	big = pm_malloc(PM_SECRET_MAX + 2);
	memset(big, 'x', PM_SECRET_MAX + 1);
	/* exactly the limit, then a newline: accepted */
	big[PM_SECRET_MAX] = '\n';
	write_file(path, big, PM_SECRET_MAX + 1, 0600);
	cr_expect_eq(pm_secret_read(&got, &exposed, path, why, sizeof(why)), 0,
	    "%s", why);
	cr_expect(got != NULL && strlen(got) == PM_SECRET_MAX);
	got = pm_secret_free(got);
	/* one byte more on the first line: refused, and not in why */
	big[PM_SECRET_MAX] = 'x';
	write_file(path, big, PM_SECRET_MAX + 1, 0600);
	cr_expect_eq(pm_secret_read(&got, &exposed, path, why, sizeof(why)),
	    PM_ETOOBIG);
	cr_expect(got == NULL);
	cr_expect(strstr(why, "xxxx") == NULL, "content in why: %s", why);
	free(big);
}

Test(secret, not_a_file, .timeout = 10)
{
	char path[128], link[128], why[256], *got = NULL;
	int exposed = 0;

	snprintf(path, sizeof(path), "%s/missing", dir);
	cr_expect_eq(pm_secret_read(&got, &exposed, path, why, sizeof(why)),
	    PM_EIO);
	cr_expect(strstr(why, "No such file") != NULL, "got %s", why);
	cr_expect_eq(pm_secret_read(&got, &exposed, dir, why, sizeof(why)),
	    PM_EINVAL, "a directory");
	snprintf(path, sizeof(path), "%s/fifo", dir);
	cr_assert(mkfifo(path, 0600) == 0);
	cr_expect_eq(pm_secret_read(&got, &exposed, path, why, sizeof(why)),
	    PM_EINVAL, "a FIFO (and no hang)");
	cr_expect(got == NULL);
	/* a Kubernetes Secret: password -> ..data/password */
	snprintf(path, sizeof(path), "%s/real", dir);
	write_file(path, "k8s\n", 4, 0400);
	snprintf(link, sizeof(link), "%s/link", dir);
	cr_assert(symlink(path, link) == 0);
	cr_expect_eq(pm_secret_read(&got, &exposed, link, why, sizeof(why)), 0,
	    "%s", why);
	cr_expect(got != NULL && strcmp(got, "k8s") == 0);
	cr_expect_eq(exposed, 0, "the target's mode counts, not the link's");
	pm_secret_free(got);
}
