/*
 * NAME
 *	pm_util - errors, memory, bounded buffers and small helpers
 * SUMMARY
 *	#include "pm_util.h"
 * DESCRIPTION
 *	The base every libpostmesh module and service builds on:
 *	- PM_E* error codes (0 is success, errors are negative) and
 *	  pm_strerror();
 *	- pm_malloc() and friends, which never return NULL (they panic);
 *	- pm_buf, a growable byte buffer with a hard size limit, always
 *	  NUL-terminated so it can be used as a C string;
 *	- pm_printable(), which makes peer text safe to log;
 *	- time helpers.
 * LIMITS
 *	pm_buf enforces the limit given at pm_buf_init(); appends past it
 *	fail with PM_ETOOBIG and leave the buffer unchanged.
 * SECURITY
 *	None of these trust their input beyond the lengths passed.
 */
#ifndef PM_UTIL_H
#define PM_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define PM_OK 0
#define PM_EINVAL (-1)        /* bad argument or malformed input */
#define PM_ENOMEM (-2)        /* allocation failed (rarely returned) */
#define PM_ETIMEDOUT (-3)     /* deadline passed */
#define PM_EIO (-4)           /* system call failed */
#define PM_ENOENT (-5)        /* not found */
#define PM_ETOOBIG (-6)       /* over a size or count limit */
#define PM_EREDIS (-7)        /* Redis unreachable or returned an error */
#define PM_ECLOSED (-8)       /* peer or object closed */
#define PM_EPROTO (-9)        /* protocol violation by a peer */
#define PM_EFULL (-10)        /* store full (Redis OOM / noeviction) */
#define PM_EEXIST (-11)       /* already exists */
#define PM_EAGAIN (-12)       /* try again later */
#define PM_ECONNREFUSED (-13) /* no peer reachable */
#define PM_ELOST (-14)        /* lease lost: another owner has it now */

const char *pm_strerror(int err);

/* Bugs: never for bad input. */
void pm_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
#define PM_ASSERT(x) \
	do { \
		if (!(x)) { \
			pm_panic("%s:%d: assertion failed: %s", __FILE__, \
			    __LINE__, #x); \
		} \
	} while (0)

void *pm_malloc(size_t len);
void *pm_calloc(size_t n, size_t size);
void *pm_realloc(void *ptr, size_t len);
char *pm_strdup(const char *s);
char *pm_strndup(const char *s, size_t len);
char *pm_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *pm_vasprintf(const char *fmt, va_list ap);

/* Growable buffer with a hard limit; data is always NUL-terminated. */
typedef struct pm_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t limit; /* maximal len; 0 = SIZE_MAX */
} pm_buf;

void pm_buf_init(pm_buf *b, size_t limit);
void pm_buf_free(pm_buf *b);  /* releases data; b may be reused after init */
void pm_buf_reset(pm_buf *b); /* len = 0, keeps memory */
int pm_buf_append(pm_buf *b, const void *p, size_t len);
int pm_buf_puts(pm_buf *b, const char *s);
int pm_buf_printf(pm_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Take ownership of the data (NUL-terminated); b is left empty. */
char *pm_buf_steal(pm_buf *b, size_t *lenp);

/*
 * Replace every byte that is not printable ASCII (0x20-0x7e) with '?',
 * in place; returns s. Use on all peer text before it is logged.
 */
char *pm_printable(char *s);

/*
 * Around writes to a socket whose peer may be gone (hiredis writes with
 * write(2)): SIGPIPE blocked in this thread, and one raised meanwhile
 * discarded, so a library call fails with EPIPE instead of killing a
 * process that does not ignore SIGPIPE (the services do).
 */
#include <signal.h>
void pm_sigpipe_block(sigset_t *saved);
void pm_sigpipe_restore(const sigset_t *saved);
/* Same into a new string of at most max bytes of input. */
char *pm_printable_dup(const char *s, size_t len, size_t max);

/* Case-insensitive ASCII compare helpers. */
int pm_strcaseeq(const char *a, const char *b);
int pm_strncaseeq(const char *a, const char *b, size_t n);
/* Lower-case ASCII in place; returns s. */
char *pm_lowercase(char *s);
/* Trim leading and trailing white space in place; returns start. */
char *pm_trim(char *s);

/* Wall clock in microseconds since the epoch; monotonic in ms. */
int64_t pm_now_us(void);
int64_t pm_mono_ms(void);

#endif
