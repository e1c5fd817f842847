/*
 * NAME
 *	pm_util - errors, memory, bounded buffers and small helpers
 * DESCRIPTION
 *	See pm_util.h. Allocation failures are fatal: a service that cannot
 *	allocate a few bytes cannot answer anybody correctly either, and
 *	Postfix's mymalloc() makes the same choice.
 */
#include "pm_util.h"
#include "pm_log.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *
pm_strerror(int err)
{
	switch (err) {
	case PM_OK:
		return ("success");
	case PM_EINVAL:
		return ("invalid argument or input");
	case PM_ENOMEM:
		return ("out of memory");
	case PM_ETIMEDOUT:
		return ("timed out");
	case PM_EIO:
		return ("I/O error");
	case PM_ENOENT:
		return ("not found");
	case PM_ETOOBIG:
		return ("over a size or count limit");
	case PM_EREDIS:
		return ("Redis error");
	case PM_ECLOSED:
		return ("closed");
	case PM_EPROTO:
		return ("protocol error");
	case PM_EFULL:
		return ("store full");
	case PM_EEXIST:
		return ("already exists");
	case PM_EAGAIN:
		return ("try again");
	case PM_ECONNREFUSED:
		return ("no peer reachable");
	case PM_ELOST:
		return ("lease lost");
	default:
		return ("unknown error");
	}
}

void *
pm_malloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (p == NULL) {
		pm_panic("pm_malloc: out of memory (%zu bytes)", len);
	}
	return (p);
}

void *
pm_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL) {
		pm_panic("pm_calloc: out of memory (%zu x %zu)", n, size);
	}
	return (p);
}

void *
pm_realloc(void *ptr, size_t len)
{
	void *p = realloc(ptr, len ? len : 1);

	if (p == NULL) {
		pm_panic("pm_realloc: out of memory (%zu bytes)", len);
	}
	return (p);
}

char *
pm_strdup(const char *s)
{
	return (pm_strndup(s, strlen(s)));
}

char *
pm_strndup(const char *s, size_t len)
{
	size_t n = strnlen(s, len);
	char *p = pm_malloc(n + 1);

	memcpy(p, s, n);
	p[n] = 0;
	return (p);
}

char *
pm_vasprintf(const char *fmt, va_list ap)
{
	char *p = NULL;

	if (vasprintf(&p, fmt, ap) < 0) {
		pm_panic("pm_vasprintf: out of memory");
	}
	return (p);
}

char *
pm_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = pm_vasprintf(fmt, ap);
	va_end(ap);
	return (p);
}

void
pm_buf_init(pm_buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit ? limit : SIZE_MAX - 1;
}

void
pm_buf_free(pm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
pm_buf_reset(pm_buf *b)
{
	b->len = 0;
	if (b->data != NULL) {
		b->data[0] = 0;
	}
}

static int
buf_reserve(pm_buf *b, size_t add)
{
	size_t need, cap;

	if (add > b->limit || b->len > b->limit - add) {
		return (PM_ETOOBIG);
	}
	need = b->len + add + 1;
	if (need <= b->cap) {
		return (0);
	}
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	}
	b->data = pm_realloc(b->data, cap);
	b->cap = cap;
	return (0);
}

int
pm_buf_append(pm_buf *b, const void *p, size_t len)
{
	int rc;

	if ((rc = buf_reserve(b, len)) != 0) {
		return (rc);
	}
	if (len > 0) {
		memcpy(b->data + b->len, p, len);
	}
	b->len += len;
	b->data[b->len] = 0;
	return (0);
}

int
pm_buf_puts(pm_buf *b, const char *s)
{
	return (pm_buf_append(b, s, strlen(s)));
}

int
pm_buf_printf(pm_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int rc;

	va_start(ap, fmt);
	s = pm_vasprintf(fmt, ap);
	va_end(ap);
	rc = pm_buf_puts(b, s);
	free(s);
	return (rc);
}

char *
pm_buf_steal(pm_buf *b, size_t *lenp)
{
	char *p;

	if (b->data == NULL) {
		b->data = pm_malloc(1);
		b->data[0] = 0;
	}
	p = b->data;
	if (lenp != NULL) {
		*lenp = b->len;
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return (p);
}

char *
pm_printable(char *s)
{
	unsigned char *p;

	for (p = (unsigned char *) s; *p; p++) {
		if (*p < 0x20 || *p > 0x7e) {
			*p = '?';
		}
	}
	return (s);
}

char *
pm_printable_dup(const char *s, size_t len, size_t max)
{
	size_t n = len < max ? len : max;
	char *p = pm_malloc(n + 1);
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char) s[i];
		p[i] = (c < 0x20 || c > 0x7e) ? '?' : (char) c;
	}
	p[n] = 0;
	return (p);
}

int
pm_strcaseeq(const char *a, const char *b)
{
	return (strcasecmp(a, b) == 0);
}

int
pm_strncaseeq(const char *a, const char *b, size_t n)
{
	return (strncasecmp(a, b, n) == 0);
}

char *
pm_lowercase(char *s)
{
	char *p;

	for (p = s; *p; p++) {
		if (*p >= 'A' && *p <= 'Z') {
			*p = (char) (*p - 'A' + 'a');
		}
	}
	return (s);
}

char *
pm_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
		s++;
	}
	e = s + strlen(s);
	while (e > s &&
	    (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) {
		*--e = 0;
	}
	return (s);
}

int64_t
pm_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

int64_t
pm_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void
pm_sigpipe_block(sigset_t *saved)
{
	sigset_t pipe;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, saved);
}

void
pm_sigpipe_restore(const sigset_t *saved)
{
	static const struct timespec now = { 0, 0 };
	sigset_t pipe, pending;

	if (!sigismember(saved, SIGPIPE)) {
		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		if (sigpending(&pending) == 0 &&
		    sigismember(&pending, SIGPIPE)) {
			(void) sigtimedwait(&pipe, NULL, &now);
		}
	}
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}
