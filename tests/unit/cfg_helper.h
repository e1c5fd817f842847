/*
 * NAME
 *	cfg_helper - fixtures of the pm_cfg tests
 * SUMMARY
 *	#include "cfg_helper.h"
 * DESCRIPTION
 *	For the test_cfg_*.c files: output capture (cap_start() points
 *	fd 1, where pm_log writes, at an unlinked temporary file; cap_end()
 *	puts it back and returns what was written), count_substr(),
 *	write_maincf() (one main.cf in a temporary directory; tmp_cleanup()
 *	removes both) and eq_or_null().
 * LIMITS
 *	One main.cf at a time per test binary.
 * SECURITY
 *	Test code only.
 */
#ifndef CFG_HELPER_H
#define CFG_HELPER_H

#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pm_cfg.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_util.h"

/* Output capture: fd 1 goes to an unlinked temporary file. */
typedef struct cap {
	int saved;
	int fd;
} cap;

static inline void
cap_start(cap *c)
{
	char tmpl[] = "/tmp/test_cfg_capXXXXXX";

	fflush(stdout);
	c->fd = mkstemp(tmpl);
	cr_assert(c->fd >= 0, "mkstemp failed");
	unlink(tmpl);
	c->saved = dup(1);
	cr_assert(dup2(c->fd, 1) == 1, "dup2 failed");
}

static inline char *
read_fd_all(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *buf = pm_malloc((size_t) size + 1);
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, (size_t) size);
	buf[n > 0 ? n : 0] = 0;
	return (buf);
}

static inline char *
cap_end(cap *c)
{
	char *out;

	fflush(stdout);
	dup2(c->saved, 1);
	close(c->saved);
	out = read_fd_all(c->fd);
	close(c->fd);
	return (out);
}

static inline int
count_substr(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return (n);
}

/* A temporary directory with one main.cf (len 0: strlen). */
static char tmp_dir[64];
static char tmp_file[128];

static inline const char *
write_maincf(const char *data, size_t len)
{
	FILE *fp;

	if (len == 0) {
		len = strlen(data);
	}
	if (tmp_dir[0] == 0) {
		snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/test_cfg_XXXXXX");
		cr_assert(mkdtemp(tmp_dir) != NULL, "mkdtemp failed");
	}
	snprintf(tmp_file, sizeof(tmp_file), "%s/main.cf", tmp_dir);
	fp = fopen(tmp_file, "w");
	cr_assert(fp != NULL, "fopen %s failed", tmp_file);
	cr_assert(fwrite(data, 1, len, fp) == len, "short write");
	fclose(fp);
	return (tmp_file);
}

static inline void
tmp_cleanup(void)
{
	if (tmp_dir[0] != 0) {
		unlink(tmp_file);
		rmdir(tmp_dir);
	}
}

static inline int
eq_or_null(const char *a, const char *b)
{
	return ((a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0));
}

#endif
