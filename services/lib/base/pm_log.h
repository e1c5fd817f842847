/*
 * NAME
 *	pm_log - logging to stdout in Postfix's line format
 * SUMMARY
 *	#include "pm_log.h"
 * DESCRIPTION
 *	Every service logs one line per event to stdout, as Postfix does
 *	with maillog_file = /dev/stdout:
 *
 *	    Nov 25 16:49:31 myhost postmesh/smtpd[123]: 4Hx2..: client=...
 *
 *	A line about a message starts with its queue id (the caller puts it
 *	first in the format). pm_msg_warn() prefixes "warning: ",
 *	pm_msg_error() "error: ", pm_msg_fatal() "fatal: " and exits 1,
 *	pm_panic() "panic: " and aborts. Lines are written with one write(2)
 *	so lines from threads never interleave.
 * LIMITS
 *	A line is cut at PM_LOG_LINE_MAX bytes.
 * SECURITY
 *	Callers pass peer text through pm_printable() first; pm_log also
 *	replaces newlines in the final line so one event stays one line.
 */
#ifndef PM_LOG_H
#define PM_LOG_H

#include <stdarg.h>

#define PM_LOG_LINE_MAX 4096

/* progname like "postmesh/smtpd"; hostname is taken from the system. */
void pm_log_init(const char *progname);
/*
 * Operator commands (postconf): lines "progname: warning: text" on
 * stderr, as Postfix's commands print them, instead of log lines on
 * stdout (where the command's output goes).
 */
void pm_log_command(const char *progname);
void pm_log_set_hostname(const char *hostname);
extern int pm_msg_verbose;

void pm_msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pm_msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pm_msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pm_msg_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void pm_msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pm_msg_vlog(const char *prefix, const char *fmt, va_list ap);

/* Format one log line into buf (for tests); returns its length. */
int pm_log_format(char *buf, int size, const char *prefix, const char *text);

#endif
