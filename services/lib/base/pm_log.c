/*
 * NAME
 *	pm_log - logging to stdout in Postfix's line format
 * DESCRIPTION
 *	See pm_log.h. The syslog-like time stamp and "host prog[pid]:" make
 *	the lines readable by pflogsumm and other Postfix log tools; an
 *	operator command (pm_log_command) writes "prog: text" to stderr.
 */
#include "pm_log.h"
#include "pm_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int pm_msg_verbose;
static char log_prog[64] = "postmesh";
static char log_host[256];
static int log_command; /* pm_log_command(): "prog: text" on stderr */

/*
 * The host name as syslog shows it: the short name. (A separate helper:
 * pm_log_format() used to call pm_log_init(log_prog), an snprintf()
 * from log_prog into itself, which wiped the program name.)
 */
static void
log_host_init(void)
{
	char *dot;

	if (log_host[0] != 0) {
		return;
	}
	if (gethostname(log_host, sizeof(log_host)) != 0) {
		snprintf(log_host, sizeof(log_host), "localhost");
	}
	log_host[sizeof(log_host) - 1] = 0;
	if ((dot = strchr(log_host, '.')) != NULL) {
		*dot = 0;
	}
}

void
pm_log_init(const char *progname)
{
	if (progname != log_prog) {
		snprintf(log_prog, sizeof(log_prog), "%s", progname);
	}
	log_host_init();
	if (getenv("POSTMESH_VERBOSE") != NULL) {
		pm_msg_verbose = 1;
	}
}

void
pm_log_command(const char *progname)
{
	pm_log_init(progname);
	log_command = 1;
}

void
pm_log_set_hostname(const char *hostname)
{
	char *dot;

	snprintf(log_host, sizeof(log_host), "%s", hostname);
	/* syslog shows the short name */
	if ((dot = strchr(log_host, '.')) != NULL) {
		*dot = 0;
	}
}

int
pm_log_format(char *buf, int size, const char *prefix, const char *text)
{
	struct tm tm;
	time_t now = time(NULL);
	char stamp[32];
	int n, i;

	if (size <= 0) {
		return (0);
	}
	if (log_command) {
		n = snprintf(buf, (size_t) size, "%s: %s%s", log_prog, prefix,
		    text);
	} else {
		log_host_init();
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		n = snprintf(buf, (size_t) size, "%s %s %s[%d]: %s%s", stamp,
		    log_host, log_prog, (int) getpid(), prefix, text);
	}
	if (n < 0) {
		buf[0] = 0;
		n = 0;
	} else if (n >= size) {
		n = size - 1;
	}
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n' || buf[i] == '\r') {
			buf[i] = ' ';
		}
	}
	return (n);
}

void
pm_msg_vlog(const char *prefix, const char *fmt, va_list ap)
{
	char text[PM_LOG_LINE_MAX];
	char line[PM_LOG_LINE_MAX + 400];
	int n;
	ssize_t w;

	vsnprintf(text, sizeof(text), fmt, ap);
	n = pm_log_format(line, (int) sizeof(line) - 1, prefix, text);
	line[n++] = '\n';
	w = write(log_command ? 2 : 1, line, (size_t) n);
	(void) w;
}

#define PM_LOG_FN(fn, prefix) \
	void fn(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		pm_msg_vlog(prefix, fmt, ap); \
		va_end(ap); \
	}

PM_LOG_FN(pm_msg_info, "")
PM_LOG_FN(pm_msg_warn, "warning: ")
PM_LOG_FN(pm_msg_error, "error: ")

void
pm_msg_debug(const char *fmt, ...)
{
	va_list ap;

	if (!pm_msg_verbose) {
		return;
	}
	va_start(ap, fmt);
	pm_msg_vlog("debug: ", fmt, ap);
	va_end(ap);
}

void
pm_msg_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pm_msg_vlog("fatal: ", fmt, ap);
	va_end(ap);
	exit(1);
}

void
pm_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pm_msg_vlog("panic: ", fmt, ap);
	va_end(ap);
	abort();
}
