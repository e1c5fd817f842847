/*
 * NAME
 *	test_util - unit tests of pm_util (pm_buf limits, printable, trim,
 *	small string helpers, error strings)
 * DESCRIPTION
 *	Table-driven. pm_buf: appends up to and past the limit, huge
 *	lengths that would overflow size_t arithmetic, binary data with
 *	NUL bytes, reset and steal. pm_printable: control bytes, bare CR
 *	and LF, DEL, 8-bit bytes, embedded NUL (the _dup form). The
 *	SIGPIPE guard around writes to a closed socket.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pm_util.h"

Test(util, buf_limits)
{
	static const struct {
		const char *data;
		size_t len; /* 0: strlen */
		int rc;
		const char *want; /* content after the step */
	} steps[] = {
		{ "12345", 0, 0, "12345" },
		{ "678901", 0, PM_ETOOBIG, "12345" },
		{ "", 0, 0, "12345" },
		{ "67890", 0, 0, "1234567890" },
		{ "", 0, 0, "1234567890" },
		{ "x", 0, PM_ETOOBIG, "1234567890" },
	};
	pm_buf b;
	size_t i, len;
	int rc;
	char *p, big[1000];

	pm_buf_init(&b, 10);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		len = steps[i].len ? steps[i].len : strlen(steps[i].data);
		rc = pm_buf_append(&b, steps[i].data, len);
		cr_expect(rc == steps[i].rc, "step %zu: got rc %d, want %d", i,
		    rc, steps[i].rc);
		cr_expect(b.len == strlen(steps[i].want) && b.data != NULL &&
		        strcmp(b.data, steps[i].want) == 0,
		    "step %zu: got \"%s\" (%zu), want \"%s\"", i,
		    b.data ? b.data : "(null)", b.len, steps[i].want);
	}
	/* printf and puts over the limit leave the buffer unchanged */
	cr_expect(pm_buf_printf(&b, "%d", 7) == PM_ETOOBIG,
	    "printf over limit");
	cr_expect(pm_buf_puts(&b, "y") == PM_ETOOBIG, "puts over limit");
	cr_expect(b.len == 10 && strcmp(b.data, "1234567890") == 0,
	    "after overflows: got \"%s\"", b.data);
	/* lengths that would wrap size_t must fail without reading p */
	cr_expect(pm_buf_append(&b, "z", SIZE_MAX) == PM_ETOOBIG,
	    "SIZE_MAX append");
	cr_expect(pm_buf_append(&b, "z", SIZE_MAX - 5) == PM_ETOOBIG,
	    "SIZE_MAX-5 append");
	/* reset keeps the limit */
	pm_buf_reset(&b);
	cr_expect(b.len == 0 && b.data[0] == 0, "reset: got len %zu", b.len);
	cr_expect(pm_buf_append(&b, "0123456789", 10) == 0, "after reset");
	cr_expect(pm_buf_append(&b, "a", 1) == PM_ETOOBIG, "limit after reset");
	pm_buf_free(&b);
	cr_expect(b.data == NULL && b.len == 0, "free: buffer not empty");

	/* binary data with NUL bytes; always NUL-terminated */
	pm_buf_init(&b, 0);
	cr_expect(pm_buf_append(&b, "a\0b", 3) == 0, "binary append");
	cr_expect(b.len == 3 && memcmp(b.data, "a\0b", 4) == 0,
	    "binary: got len %zu", b.len);
	/* limit 0 is unlimited: grow well past the first capacity */
	memset(big, 'q', sizeof(big));
	for (i = 0; i < 1000; i++) {
		cr_assert(pm_buf_append(&b, big, sizeof(big)) == 0,
		    "unlimited append %zu failed", i);
	}
	cr_expect(b.len == 3 + 1000 * sizeof(big) && b.data[b.len] == 0,
	    "unlimited: got len %zu", b.len);
	cr_expect(pm_buf_append(&b, "z", SIZE_MAX) == PM_ETOOBIG,
	    "SIZE_MAX append on an unlimited buffer");
	p = pm_buf_steal(&b, &len);
	cr_expect(len == 3 + 1000 * sizeof(big) && p[len] == 0,
	    "steal: got len %zu", len);
	cr_expect(b.data == NULL && b.len == 0, "steal left data behind");
	free(p);
	/* steal from an empty buffer gives "" */
	p = pm_buf_steal(&b, &len);
	cr_expect(p != NULL && p[0] == 0 && len == 0, "empty steal");
	free(p);
	/* a stolen buffer is reusable */
	cr_expect(pm_buf_printf(&b, "%s-%d", "x", 42) == 0 &&
	        strcmp(b.data, "x-42") == 0,
	    "reuse: got %s", b.data);
	pm_buf_free(&b);
	/* limit exactly 1 */
	pm_buf_init(&b, 1);
	cr_expect(pm_buf_append(&b, "ab", 2) == PM_ETOOBIG, "limit 1, 2 bytes");
	cr_expect(pm_buf_append(&b, "a", 1) == 0, "limit 1, 1 byte");
	cr_expect(pm_buf_append(&b, "b", 1) == PM_ETOOBIG, "limit 1, full");
	pm_buf_free(&b);
}

Test(util, printable)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "" },
		{ "plain text 123 ~!", "plain text 123 ~!" },
		{ "a\r\nb", "a??b" },
		{ "bare\rcr", "bare?cr" },
		{ "bare\nlf", "bare?lf" },
		{ "\t", "?" },
		{ "\x1b[31mred", "?[31mred" },
		{ "del\x7f", "del?" },
		{ "caf\xc3\xa9", "caf??" },
		{ "\xff\x80", "??" },
		{ " ", " " },
	};
	static const struct {
		const char *in;
		size_t len, max;
		const char *want;
	} dups[] = {
		{ "a\0b", 3, 100, "a?b" },
		{ "abcdef", 6, 3, "abc" },
		{ "abc", 3, 0, "" },
		{ "\r\n", 2, 10, "??" },
		{ "", 0, 10, "" },
	};
	char *s, *r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = pm_strdup(cases[i].in);
		r = pm_printable(s);
		cr_expect(r == s, "printable must work in place");
		cr_expect(strcmp(s, cases[i].want) == 0,
		    "printable(case %zu): got \"%s\", want \"%s\"", i, s,
		    cases[i].want);
		free(s);
	}
	for (i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
		s = pm_printable_dup(dups[i].in, dups[i].len, dups[i].max);
		cr_expect(strcmp(s, dups[i].want) == 0,
		    "printable_dup(case %zu): got \"%s\", want \"%s\"", i, s,
		    dups[i].want);
		free(s);
	}
}

Test(util, strings)
{
	static const struct {
		const char *in, *want;
	} trims[] = {
		{ "", "" },
		{ "a", "a" },
		{ "  a b  ", "a b" },
		{ "\r\n", "" },
		{ "\tx\r\n", "x" },
		{ " \t \r\n ", "" },
		{ "x  \r", "x" },
		{ "a\r\nb", "a\r\nb" },
	};
	static const struct {
		const char *a, *b;
		int eq;
	} cases[] = {
		{ "Example.COM", "example.com", 1 },
		{ "", "", 1 },
		{ "a", "", 0 },
		{ "abc", "abd", 0 },
	};
	static const int codes[] = {
		PM_OK,
		PM_EINVAL,
		PM_ENOMEM,
		PM_ETIMEDOUT,
		PM_EIO,
		PM_ENOENT,
		PM_ETOOBIG,
		PM_EREDIS,
		PM_ECLOSED,
		PM_EPROTO,
		PM_EFULL,
		PM_EEXIST,
		PM_EAGAIN,
		PM_ECONNREFUSED,
	};
	char *s, *t;
	size_t i, j, n = sizeof(codes) / sizeof(codes[0]);
	int64_t m1, m2;

	for (i = 0; i < sizeof(trims) / sizeof(trims[0]); i++) {
		s = pm_strdup(trims[i].in);
		t = pm_trim(s);
		cr_expect(strcmp(t, trims[i].want) == 0,
		    "trim(case %zu): got \"%s\", want \"%s\"", i, t,
		    trims[i].want);
		cr_expect(t >= s && t <= s + strlen(trims[i].in),
		    "trim(case %zu): result outside the input", i);
		free(s);
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect(pm_strcaseeq(cases[i].a, cases[i].b) == cases[i].eq,
		    "strcaseeq(%s, %s): got %d, want %d", cases[i].a,
		    cases[i].b, !cases[i].eq, cases[i].eq);
	}
	cr_expect(pm_strncaseeq("ABCdef", "abcXYZ", 3), "strncaseeq prefix");
	cr_expect(!pm_strncaseeq("ABCdef", "abcXYZ", 4), "strncaseeq 4");
	s = pm_strdup("MiXeD-Case.Example 9");
	cr_expect(strcmp(pm_lowercase(s), "mixed-case.example 9") == 0,
	    "lowercase: got %s", s);
	free(s);
	/* strndup stops at NUL or len */
	s = pm_strndup("abc", 10);
	cr_expect(strcmp(s, "abc") == 0, "strndup short: got %s", s);
	free(s);
	s = pm_strndup("abcdef", 2);
	cr_expect(strcmp(s, "ab") == 0, "strndup cut: got %s", s);
	free(s);
	s = pm_asprintf("%s=%d", "n", 5);
	cr_expect(strcmp(s, "n=5") == 0, "asprintf: got %s", s);
	free(s);
	/* every error has its own message */
	for (i = 0; i < n; i++) {
		cr_expect(strcmp(pm_strerror(codes[i]), "unknown error") != 0,
		    "code %d has no message", codes[i]);
		for (j = i + 1; j < n; j++) {
			cr_expect(strcmp(pm_strerror(codes[i]),
			              pm_strerror(codes[j])) != 0,
			    "codes %d and %d share \"%s\"", codes[i], codes[j],
			    pm_strerror(codes[i]));
		}
	}
	cr_expect(strcmp(pm_strerror(-9999), "unknown error") == 0,
	    "unknown code: got %s", pm_strerror(-9999));
	/* clocks move forward */
	cr_expect(pm_now_us() > 1600000000LL * 1000000, "pm_now_us too small");
	m1 = pm_mono_ms();
	m2 = pm_mono_ms();
	cr_expect(m1 <= m2, "pm_mono_ms went back: %lld then %lld",
	    (long long) m1, (long long) m2);
}

/*
 * A write to a socket whose peer is gone, between pm_sigpipe_block and
 * pm_sigpipe_restore, fails with EPIPE and leaves no SIGPIPE behind
 * (the default action would kill the test process).
 */
Test(util, sigpipe_guard)
{
	sigset_t saved, pending;
	int sv[2];
	ssize_t n;

	signal(SIGPIPE, SIG_DFL);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	pm_sigpipe_block(&saved);
	n = write(sv[0], "x", 1);
	cr_expect_eq(n, -1, "write got %zd, want -1", n);
	cr_expect_eq(errno, EPIPE, "errno got %d, want EPIPE", errno);
	pm_sigpipe_restore(&saved);
	cr_assert_eq(sigpending(&pending), 0);
	cr_expect(!sigismember(&pending, SIGPIPE), "SIGPIPE still pending");
	close(sv[0]);
}
