/*
 * NAME
 *	test_sasl - pm_sasl: base64, PLAIN decoding, the crypt table, the
 *	Dovecot line parser and the Dovecot client against hostile peers
 * DESCRIPTION
 *	Tables of input and want, hostile input first: bad base64 (white
 *	space, bad padding, non-canonical bits, over-long), PLAIN responses
 *	with missing fields, NUL in the password, controls in the name;
 *	crypt table lines and hashes made here with crypt_gensalt_rn()
 *	(SHA-512 and yescrypt); Dovecot lines with controls and too many
 *	fields. The Dovecot client talks to a UNIX socket served by a
 *	thread of this test that plays a scripted (or silent, or flooding)
 *	auth server: the answers OK / FAIL / FAIL temp, an over-long line
 *	and silence must give OK / FAIL / TEMP within the timeout; the
 *	AUTH request must carry service, rip, secured and the PLAIN
 *	response. Real Dovecot: tests/integration/test_submission.py.
 */
#include "pm_sasl.h"
#include "pm_sasl_priv.h"
#include "pm_util.h"

#include <criterion/criterion.h>

#include <crypt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

Test(sasl, b64_decode_table)
{
	static const struct {
		const char *in;
		int rc;
		const char *want;
		size_t wantlen;
	} cases[] = {
		{ "", 0, "", 0 }, { "YQ==", 0, "a", 1 }, { "YWI=", 0, "ab", 2 },
		{ "YWJj", 0, "abc", 3 },
		{ "AGFsaWNlAHB3", 0, "\0alice\0pw", 9 },
		{ "YQ", PM_EINVAL, NULL, 0 },       /* no padding */
		{ "YQ=", PM_EINVAL, NULL, 0 },      /* short */
		{ "Y===", PM_EINVAL, NULL, 0 },     /* three pads */
		{ "=YWJ", PM_EINVAL, NULL, 0 },     /* pad first */
		{ "YQ==YWJj", PM_EINVAL, NULL, 0 }, /* pad inside */
		{ "YR==", PM_EINVAL, NULL, 0 },     /* non-canonical bits */
		{ "YWJ=", PM_EINVAL, NULL, 0 },     /* non-canonical bits */
		{ "YW Jj", PM_EINVAL, NULL, 0 },    /* space */
		{ "YWJj\r\n", PM_EINVAL, NULL, 0 }, /* line end */
		{ "YW-j", PM_EINVAL, NULL, 0 },     /* base64url */
		{ "YW\x80j", PM_EINVAL, NULL, 0 },  /* 8-bit */
		{ "YWJjZGVmZ2hpamtsbW5vcHFy", PM_ETOOBIG, NULL, 0 }, /* > 16 */
	};
	unsigned char out[16];
	size_t i, n;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = 99;
		rc = pm_sasl_b64_decode(cases[i].in, strlen(cases[i].in), out,
		    sizeof(out), &n);
		cr_expect_eq(rc, cases[i].rc, "\"%s\": got %d, want %d",
		    cases[i].in, rc, cases[i].rc);
		if (rc == 0 && cases[i].rc == 0) {
			cr_expect_eq(n, cases[i].wantlen, "\"%s\": got len %zu",
			    cases[i].in, n);
			cr_expect(memcmp(out, cases[i].want, n) == 0, "\"%s\"",
			    cases[i].in);
		}
	}
	/* A NUL inside the input (len counts it): refused. */
	cr_expect_eq(pm_sasl_b64_decode("YW\0j", 4, out, sizeof(out), &n),
	    PM_EINVAL);
}

Test(sasl, b64_round_trip)
{
	unsigned char in[300];
	unsigned char back[300];
	char enc[404];
	size_t len, n;

	for (len = 0; len < sizeof(in); len++) {
		in[len] = (unsigned char) (len * 7 + 3);
	}
	for (len = 0; len < sizeof(in); len += 1 + len / 4) {
		pm_sasl_b64_encode(in, len, enc);
		cr_assert_eq(strlen(enc), 4 * ((len + 2) / 3));
		cr_assert_eq(pm_sasl_b64_decode(enc, strlen(enc), back,
		                 sizeof(back), &n),
		    0, "len %zu", len);
		cr_assert_eq(n, len);
		cr_assert(memcmp(in, back, len) == 0);
	}
}

static char *
b64(const char *s, size_t len)
{
	char *out = pm_malloc(4 * ((len + 2) / 3) + 1);

	pm_sasl_b64_encode(s, len, out);
	return (out);
}

#define RAW(s) s, sizeof(s) - 1

Test(sasl, plain_decode_table)
{
	static const struct {
		const char *raw;
		size_t len;
		int rc;
		const char *z, *c, *p;
	} cases[] = {
		{ RAW("\0alice\0secret"), 0, "", "alice", "secret" },
		{ RAW("alice\0alice\0secret"), 0, "alice", "alice", "secret" },
		{ RAW("\0alice\0"), 0, "", "alice", "" }, /* empty password */
		{ RAW("\0alice\0p w:\xc3\xa9"), 0, "", "alice",
		    "p w:\xc3\xa9" },
		{ RAW("alice\0secret"), PM_EINVAL, NULL, NULL,
		    NULL }, /* two fields */
		{ RAW("\0\0secret"), PM_EINVAL, NULL, NULL,
		    NULL }, /* empty user */
		{ RAW("\0alice\0sec\0ret"), PM_EINVAL, NULL, NULL,
		    NULL }, /* NUL in pw */
		{ RAW("\0al\rice\0secret"), PM_EINVAL, NULL, NULL,
		    NULL }, /* control */
		{ RAW("\0al\x7fice\0secret"), PM_EINVAL, NULL, NULL,
		    NULL }, /* DEL */
		{ RAW("a\nb\0alice\0secret"), PM_EINVAL, NULL, NULL,
		    NULL }, /* authzid LF */
		{ RAW("\0alice"), PM_EINVAL, NULL, NULL,
		    NULL }, /* no password */
		{ RAW(""), PM_EINVAL, NULL, NULL, NULL },
		{ RAW("secret"), PM_EINVAL, NULL, NULL, NULL },
	};
	char buf[PM_SASL_RESP_MAX + 1];
	const char *z, *c, *p;
	size_t i;
	char *enc;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enc = b64(cases[i].raw, cases[i].len);
		rc = pm_sasl_plain_decode(enc, buf, &z, &c, &p);
		cr_expect_eq(rc, cases[i].rc, "case %zu: got %d, want %d", i,
		    rc, cases[i].rc);
		if (rc == 0 && cases[i].rc == 0) {
			cr_expect_str_eq(z, cases[i].z, "case %zu", i);
			cr_expect_str_eq(c, cases[i].c, "case %zu", i);
			cr_expect_str_eq(p, cases[i].p, "case %zu", i);
		}
		free(enc);
	}
	cr_expect_eq(pm_sasl_plain_decode("not base64!", buf, &z, &c, &p),
	    PM_EINVAL);
}

Test(sasl, plain_decode_limits)
{
	char buf[PM_SASL_RESP_MAX + 1];
	char raw[PM_SASL_RESP_MAX + 10];
	const char *z, *c, *p;
	char *enc;

	/* A user name over PM_SASL_USER_MAX. */
	memset(raw, 'u', sizeof(raw));
	raw[0] = 0;
	raw[PM_SASL_USER_MAX + 2] = 0;
	enc = b64(raw, PM_SASL_USER_MAX + 6);
	cr_expect_eq(pm_sasl_plain_decode(enc, buf, &z, &c, &p), PM_EINVAL);
	free(enc);
	/* Decoded over PM_SASL_RESP_MAX. */
	raw[0] = 0;
	raw[10] = 0;
	enc = b64(raw, PM_SASL_RESP_MAX + 3);
	cr_expect_eq(pm_sasl_plain_decode(enc, buf, &z, &c, &p), PM_ETOOBIG);
	free(enc);
	cr_expect(pm_sasl_user_ok("alice", 5));
	cr_expect(!pm_sasl_user_ok("", 0));
	cr_expect(!pm_sasl_user_ok("a\tb", 3));
}

/* Dovecot lines. */

Test(sasl, dovecot_parse_table)
{
	static const struct {
		const char *line;
		int rc;
		const char *cmd;
		int nargs;
	} cases[] = {
		{ "OK\t1\tuser=alice", 0, "OK", 2 },
		{ "FAIL\t7\tuser=bob\ttemp", 0, "FAIL", 3 },
		{ "DONE", 0, "DONE", 0 },
		{ "MECH\tPLAIN\tplaintext", 0, "MECH", 2 },
		{ "CONT\t3\t", 0, "CONT", 2 },
		{ "", PM_EPROTO, NULL, 0 },
		{ "\tOK", PM_EPROTO, NULL, 0 },
		{ "OK\t1\r", PM_EPROTO, NULL, 0 },
		{ "OK\t1\x1b[2J", PM_EPROTO, NULL, 0 },
	};
	pm__dove_line l;
	char buf[256];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].line);
		rc = pm__dove_parse(buf, &l);
		cr_expect_eq(rc, cases[i].rc, "\"%s\": got %d", cases[i].line,
		    rc);
		if (rc == 0) {
			cr_expect_str_eq(l.cmd, cases[i].cmd);
			cr_expect_eq(l.nargs, cases[i].nargs, "\"%s\": %d args",
			    cases[i].line, l.nargs);
		}
	}
	/* Too many fields. */
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "OK");
	for (i = 0; i <= PM__DOVE_ARGS_MAX; i++) {
		strcat(buf, "\tx");
	}
	cr_expect_eq(pm__dove_parse(buf, &l), PM_EPROTO);
	/* Named arguments. */
	snprintf(buf, sizeof(buf), "FAIL\t7\tuser=bob\ttemp\treason=a\001tb");
	cr_assert_eq(pm__dove_parse(buf, &l), 0);
	cr_expect_str_eq(pm__dove_arg(&l, 1, "user"), "bob");
	cr_expect_str_eq(pm__dove_arg(&l, 1, "temp"), "");
	cr_expect_null(pm__dove_arg(&l, 1, "us"));
	cr_expect_null(pm__dove_arg(&l, 1, "7"));
	cr_assert_eq(pm__dove_unescape((char *) pm__dove_arg(&l, 1, "reason")),
	    0);
	cr_expect_str_eq(pm__dove_arg(&l, 1, "reason"), "a\tb");
	snprintf(buf, sizeof(buf), "x\001");
	cr_expect_eq(pm__dove_unescape(buf), PM_EPROTO);
	snprintf(buf, sizeof(buf), "x\001z");
	cr_expect_eq(pm__dove_unescape(buf), PM_EPROTO);
}

/* The crypt table. */

static char *
make_hash(const char *pw, const char *prefix)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	memset(&cd, 0, sizeof(cd));
	cr_assert_not_null(crypt_gensalt_rn(prefix, 0, NULL, 0, salt,
	    sizeof(salt)));
	return (pm_strdup(crypt_r(pw, salt, &cd)));
}

Test(sasl, crypt_line_and_check)
{
	static const struct {
		const char *line;
		int rc;
		const char *user, *hash;
	} cases[] = {
		{ "alice:$6$s$h", 0, "alice", "$6$s$h" },
		{ "alice:{SHA512-CRYPT}$6$s$h::::x", 0, "alice", "$6$s$h" },
		{ "bob:$y$j9T$s$h:1000:1000::/home", 0, "bob", "$y$j9T$s$h" },
		{ ":$6$s$h", PM_EINVAL, NULL, NULL },
		{ "alice", PM_EINVAL, NULL, NULL },
		{ "alice:", PM_EINVAL, NULL, NULL },
		{ "alice:{PLAIN}", PM_EINVAL, NULL, NULL },
		{ "al\x01ice:$6$s$h", PM_EINVAL, NULL, NULL },
	};
	char buf[128];
	char *u, *h;
	char *sha, *yes;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].line);
		rc = pm__crypt_parse_line(buf, &u, &h);
		cr_expect_eq(rc, cases[i].rc, "\"%s\": got %d", cases[i].line,
		    rc);
		if (rc == 0) {
			cr_expect_str_eq(u, cases[i].user);
			cr_expect_str_eq(h, cases[i].hash);
		}
	}
	cr_expect(pm__crypt_scheme_ok("$6$x"));
	cr_expect(pm__crypt_scheme_ok("$y$x"));
	cr_expect(!pm__crypt_scheme_ok("$1$x"));
	cr_expect(!pm__crypt_scheme_ok("abDES"));
	cr_expect(!pm__crypt_scheme_ok("*"));
	sha = make_hash("pw-sha", "$6$");
	yes = make_hash("pw-yes", "$y$");
	cr_expect_eq(pm__crypt_check("pw-sha", sha), PM_SASL_OK);
	cr_expect_eq(pm__crypt_check("pw-Sha", sha), PM_SASL_FAIL);
	cr_expect_eq(pm__crypt_check("", sha), PM_SASL_FAIL);
	cr_expect_eq(pm__crypt_check("pw-yes", yes), PM_SASL_OK);
	cr_expect_eq(pm__crypt_check("pw-sha", yes), PM_SASL_FAIL);
	/* Broken hashes never match (crypt gives "*0"). */
	cr_expect_eq(pm__crypt_check("x", "*0"), PM_SASL_FAIL);
	cr_expect_eq(pm__crypt_check("x", "$6$"), PM_SASL_FAIL);
	free(sha);
	free(yes);
}

Test(sasl, crypt_file_table)
{
	char path[] = "/tmp/test_sasl_XXXXXX";
	pm_sasl_opts o = { 1000, 4096 };
	pm_sasl_info info = { "192.0.2.1", "smtp", 0, NULL, 0 };
	char *sha = make_hash("alice-pw", "$6$");
	char *yes = make_hash("bob-pw", "$y$");
	char reason[128];
	char *err = NULL;
	pm_sasl *sa;
	FILE *f;
	int fd;

	fd = mkstemp(path);
	cr_assert(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f,
	    "# users\nalice:%s\nbob:{YESCRYPT}%s:1:1::\n"
	    "old:$1$abc$def\nbroken line\n\nzed:%s\n",
	    sha, yes, sha);
	fclose(f);
	sa = pm_sasl_open("crypt", path, &o, &err);
	cr_assert_not_null(sa, "open: %s", err);
	cr_expect_eq(pm_sasl_verify(sa, "PLAIN", "alice", "alice-pw", &info,
	                 reason, sizeof(reason)),
	    PM_SASL_OK);
	cr_expect_eq(pm_sasl_verify(sa, "LOGIN", "bob", "bob-pw", &info, reason,
	                 sizeof(reason)),
	    PM_SASL_OK);
	cr_expect_eq(pm_sasl_verify(sa, "PLAIN", "zed", "alice-pw", &info,
	                 reason, sizeof(reason)),
	    PM_SASL_OK);
	cr_expect_eq(pm_sasl_verify(sa, "PLAIN", "alice", "bob-pw", &info,
	                 reason, sizeof(reason)),
	    PM_SASL_FAIL);
	cr_expect_str_eq(reason, "authentication failure");
	cr_expect_eq(pm_sasl_verify(sa, "PLAIN", "Alice", "alice-pw", &info,
	                 reason, sizeof(reason)),
	    PM_SASL_FAIL);
	cr_expect_eq(pm_sasl_verify(sa, "PLAIN", "old", "x", &info, reason,
	                 sizeof(reason)),
	    PM_SASL_FAIL);
	cr_expect_eq(pm_sasl_verify(sa, "PLAIN", "nobody", "x", &info, reason,
	                 sizeof(reason)),
	    PM_SASL_FAIL);
	cr_expect_eq(pm_sasl_verify(sa, "PLAIN", "al\nice", "alice-pw", &info,
	                 reason, sizeof(reason)),
	    PM_SASL_FAIL);
	pm_sasl_close(sa);
	unlink(path);
	free(sha);
	free(yes);
}

Test(sasl, open_errors)
{
	static const struct {
		const char *type, *path, *want;
	} cases[] = {
		{ "cyrus", "smtpd", "unsupported SASL server implementation" },
		{ "crypt", "relative/file", "want /path" },
		{ "crypt", "/nonexistent/sasl_passwd", "/nonexistent" },
		{ "crypt", "redis:", "needs a key name" },
		{ "dovecot", "", "empty" },
	};
	pm_sasl_opts o = { 1000, 4096 };
	char *err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = NULL;
		cr_expect_null(pm_sasl_open(cases[i].type, cases[i].path, &o,
		    &err));
		cr_assert_not_null(err, "%s:%s", cases[i].type, cases[i].path);
		cr_expect(strstr(err, cases[i].want) != NULL,
		    "%s:%s: got \"%s\", want \"%s\"", cases[i].type,
		    cases[i].path, err, cases[i].want);
		free(err);
	}
}

/* A scripted auth server on a UNIX socket. */

#define HANDSHAKE \
	"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n" \
	"SPID\t1\nCUID\t1\nCOOKIE\t0123\nDONE\n"

typedef struct peer {
	char path[108];
	int lfd;
	const char *hello; /* handshake to send, NULL: none */
	const char *reply; /* after the AUTH line ("%u" = id), NULL: none */
	int flood;         /* send a line longer than any limit */
	char request[1024];
	pthread_t thr;
} peer;

static int
read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	char c;

	while (n + 1 < size && read(fd, &c, 1) == 1) {
		if (c == '\n') {
			buf[n] = 0;
			return (0);
		}
		buf[n++] = c;
	}
	return (-1);
}

static void *
peer_main(void *arg)
{
	peer *p = arg;
	char line[1024];
	char big[20000];
	int fd = accept(p->lfd, NULL, NULL);
	unsigned id;

	if (fd < 0) {
		return (NULL);
	}
	if (read_line(fd, line, sizeof(line)) == 0 &&
	    read_line(fd, line, sizeof(line)) == 0) {
		if (p->flood) {
			memset(big, 'x', sizeof(big));
			(void) !write(fd, big, sizeof(big));
		} else if (p->hello != NULL) {
			(void) !write(fd, p->hello, strlen(p->hello));
			if (read_line(fd, p->request, sizeof(p->request)) ==
			        0 &&
			    p->reply != NULL &&
			    sscanf(p->request, "AUTH\t%u", &id) == 1) {
				snprintf(line, sizeof(line), p->reply, id);
				(void) !write(fd, line, strlen(line));
			}
		}
	}
	/* Hold the connection until the client gives up. */
	while (read(fd, line, sizeof(line)) > 0) {
		;
	}
	close(fd);
	return (NULL);
}

static void
peer_start(peer *p)
{
	struct sockaddr_un sun;

	snprintf(p->path, sizeof(p->path), "/tmp/test_sasl_%d.sock", getpid());
	unlink(p->path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, p->path);
	p->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(bind(p->lfd, (struct sockaddr *) &sun, sizeof(sun)) == 0);
	cr_assert(listen(p->lfd, 4) == 0);
	pthread_create(&p->thr, NULL, peer_main, p);
}

static void
peer_stop(peer *p)
{
	pthread_join(p->thr, NULL);
	close(p->lfd);
	unlink(p->path);
}

static int
dove_try(peer *p, const pm_sasl_info *info, char *reason, size_t size,
    int64_t *ms)
{
	pm_sasl_opts o = { 500, 4096 };
	char *err = NULL;
	pm_sasl *sa;
	int64_t t0;
	int rc;

	peer_start(p);
	sa = pm_sasl_open("dovecot", p->path, &o, &err);
	cr_assert_not_null(sa, "%s", err);
	t0 = pm_mono_ms();
	rc = pm_sasl_verify(sa, "PLAIN", "alice", "s3cret", info, reason, size);
	*ms = pm_mono_ms() - t0;
	pm_sasl_close(sa); /* closes the connection: the peer ends */
	peer_stop(p);
	return (rc);
}

Test(sasl, dovecot_client_table)
{
	static const struct {
		const char *desc;
		const char *hello;
		const char *reply;
		int flood;
		int want;
		const char *reason;
	} cases[] = {
		{ "ok", HANDSHAKE, "OK\t%u\tuser=alice\n", 0, PM_SASL_OK, "" },
		{ "fail", HANDSHAKE, "FAIL\t%u\tuser=alice\n", 0, PM_SASL_FAIL,
		    "authentication failure" },
		{ "fail with reason", HANDSHAKE,
		    "FAIL\t%u\treason=Account\001tlocked\n", 0, PM_SASL_FAIL,
		    "Account?locked" },
		{ "temp", HANDSHAKE, "FAIL\t%u\tuser=alice\ttemp\n", 0,
		    PM_SASL_TEMP, "Temporary authentication failure" },
		{ "other id then ours", HANDSHAKE, "OK\t999\nFAIL\t%u\n", 0,
		    PM_SASL_FAIL, "authentication failure" },
		{ "CONT", HANDSHAKE, "CONT\t%u\t\n", 0, PM_SASL_TEMP, NULL },
		{ "no PLAIN", "VERSION\t1\t2\nMECH\tLOGIN\nDONE\n", NULL, 0,
		    PM_SASL_TEMP, NULL },
		{ "version 2", "VERSION\t2\t0\nMECH\tPLAIN\nDONE\n", NULL, 0,
		    PM_SASL_TEMP, NULL },
		{ "silent after AUTH", HANDSHAKE, NULL, 0, PM_SASL_TEMP, NULL },
		{ "silent", NULL, NULL, 0, PM_SASL_TEMP, NULL },
		{ "flood", NULL, NULL, 1, PM_SASL_TEMP, NULL },
	};
	pm_sasl_info info = { "192.0.2.7", "smtp", 1, NULL, 0 };
	char reason[256];
	int64_t ms;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		peer p;

		memset(&p, 0, sizeof(p));
		p.hello = cases[i].hello;
		p.reply = cases[i].reply;
		p.flood = cases[i].flood;
		rc = dove_try(&p, &info, reason, sizeof(reason), &ms);
		cr_expect_eq(rc, cases[i].want, "%s: got %d (%s), want %d",
		    cases[i].desc, rc, reason, cases[i].want);
		cr_expect(ms < 3000, "%s: took %lld ms", cases[i].desc,
		    (long long) ms);
		if (cases[i].reason != NULL) {
			cr_expect_str_eq(reason, cases[i].reason, "%s",
			    cases[i].desc);
		}
		if (i == 0) {
			/* The request Postfix's xsasl_dovecot sends. */
			cr_expect_str_eq(p.request,
			    "AUTH\t1\tPLAIN\tservice=smtp\tnologin\t"
			    "rip=192.0.2.7\tsecured\tresp=AGFsaWNlAHMzY3JldA==");
		}
		cr_expect(strstr(reason, "s3cret") == NULL, "%s: leaks",
		    cases[i].desc);
	}
}

Test(sasl, dovecot_unreachable)
{
	pm_sasl_opts o = { 500, 4096 };
	char reason[256];
	char *err = NULL;
	pm_sasl *sa;

	sa = pm_sasl_open("dovecot", "/nonexistent/auth", &o, &err);
	cr_assert_not_null(sa);
	cr_expect_eq(pm_sasl_verify(sa, "PLAIN", "a", "b", NULL, reason,
	                 sizeof(reason)),
	    PM_SASL_TEMP);
	cr_expect(strstr(reason, "connect to /nonexistent/auth failed") != NULL,
	    "got %s", reason);
	pm_sasl_close(sa);
	sa = pm_sasl_open("dovecot", "inet:127.0.0.1:1", &o, &err);
	cr_expect_eq(pm_sasl_verify(sa, "PLAIN", "a", "b", NULL, reason,
	                 sizeof(reason)),
	    PM_SASL_TEMP);
	pm_sasl_close(sa);
}

Test(sasl, crypt_dummy_follows_table)
{
	char *y1 = make_hash("a", "$y$");
	char *y2 = make_hash("b", "$y$");
	char *s6 = make_hash("c", "$6$");
	const char *r6[] = { "$6$rounds=20000$abcdefgh$xyz",
		"$6$rounds=20000$ijklmnop$xyz", "$6$qrstuvwx$xyz" };
	const char *t[3];
	char *d;

	cr_assert_eq(pm__crypt_params_len("$6$salt$hash"), 3);
	cr_assert_eq(pm__crypt_params_len("$6$rounds=9$salt$hash"), 12);
	cr_assert_eq(pm__crypt_params_len("nodollar"), 0);
	t[0] = s6;
	t[1] = y1;
	t[2] = y2;
	d = pm__crypt_dummy(t, 3);
	cr_assert_not_null(d);
	/* yescrypt with the table's parameters, another salt */
	cr_assert_eq(strncmp(d, y1, pm__crypt_params_len(y1)), 0, "%s", d);
	cr_assert_str_neq(d, y1);
	cr_assert_eq(strlen(d), strlen(y1));
	free(d);
	d = pm__crypt_dummy(r6, 3);
	cr_assert_not_null(d);
	cr_assert_eq(strncmp(d, "$6$rounds=20000$", 16), 0, "%s", d);
	free(d);
	cr_assert_null(pm__crypt_dummy(t, 0));
	free(y1);
	free(y2);
	free(s6);
}
