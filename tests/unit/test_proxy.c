/*
 * NAME
 *	test_proxy - unit tests for pm_proxy (PROXY protocol v1 and v2)
 * DESCRIPTION
 *	Tables of headers and the expected verdict, good and hostile:
 *	garbage, bare CR/LF, NUL, over-long, truncated, split feeds (byte
 *	by byte), UNKNOWN/LOCAL, IPv6, TLVs, build -> parse round trip.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>

#include "pm_proxy.h"
#include "pm_util.h"

#define L(s) s, sizeof(s) - 1 /* keeps embedded NULs */

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"

struct pcase {
	const char *in;
	size_t len;
	int rc;
	size_t hlen; /* DONE: header length */
	int local;
	const char *src, *dst;
	unsigned sport, dport;
	const char *why; /* BAD: expected reason (substring) */
};

static const struct pcase cases[] = {
	/* v1 */
	{ L("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n"), PM_PROXY_DONE,
	    44, 0, "192.0.2.1", "198.51.100.2", 56324, 25, NULL },
	{ L("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\nEHLO x\r\n"),
	    PM_PROXY_DONE, 44, 0, "192.0.2.1", "198.51.100.2", 56324, 25,
	    NULL },
	{ L("PROXY TCP6 2001:DB8::1 2001:db8:0:0::2 65535 0\r\n"),
	    PM_PROXY_DONE, 48, 0, "2001:db8::1", "2001:db8::2", 65535, 0,
	    NULL },
	{ L("PROXY UNKNOWN\r\n"), PM_PROXY_DONE, 15, 1, "", "", 0, 0, NULL },
	{ L("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), PM_PROXY_DONE, 35, 1, "",
	    "", 0, 0, NULL },
	{ L("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r"), PM_PROXY_MORE, 0,
	    0, NULL, NULL, 0, 0, NULL },
	{ L("PROX"), PM_PROXY_MORE, 0, 0, NULL, NULL, 0, 0, NULL },
	{ L(""), PM_PROXY_MORE, 0, 0, NULL, NULL, 0, 0, NULL },
	{ L("EHLO example.com\r\n"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "not a PROXY" },
	{ L("G"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0, "not a PROXY" },
	{ L("proxy TCP4 1.2.3.4 1.2.3.5 1 2\r\n"), PM_PROXY_BAD, 0, 0, NULL,
	    NULL, 0, 0, "not a PROXY" },
	{ L("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\n"), PM_PROXY_BAD, 0, 0,
	    NULL, NULL, 0, 0, "CRLF" },
	{ L("PROXY TCP4 192.0.2.1\r198.51.100.2 56324 25\r\n"), PM_PROXY_BAD, 0,
	    0, NULL, NULL, 0, 0, "bare CR" },
	{ L("PROXY TCP4 192.0.2.1\0 198.51.100.2 56324 25\r\n"), PM_PROXY_BAD,
	    0, 0, NULL, NULL, 0, 0, "non-printable" },
	{ L("PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n"), PM_PROXY_BAD, 0, 0,
	    NULL, NULL, 0, 0, "too few" },
	{ L("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25 9\r\n"), PM_PROXY_BAD,
	    0, 0, NULL, NULL, 0, 0, "too many" },
	{ L("PROXY TCP4  192.0.2.1 198.51.100.2 56324 25\r\n"), PM_PROXY_BAD, 0,
	    0, NULL, NULL, 0, 0, "empty field" },
	{ L("PROXY TCP4 192.0.2.256 198.51.100.2 56324 25\r\n"), PM_PROXY_BAD,
	    0, 0, NULL, NULL, 0, 0, "bad address" },
	{ L("PROXY TCP4 2001:db8::1 198.51.100.2 56324 25\r\n"), PM_PROXY_BAD,
	    0, 0, NULL, NULL, 0, 0, "bad address" },
	{ L("PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n"), PM_PROXY_BAD, 0, 0,
	    NULL, NULL, 0, 0, "bad address" },
	{ L("PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n"), PM_PROXY_BAD, 0,
	    0, NULL, NULL, 0, 0, "bad port" },
	{ L("PROXY TCP4 192.0.2.1 198.51.100.2 -1 25\r\n"), PM_PROXY_BAD, 0, 0,
	    NULL, NULL, 0, 0, "bad port" },
	{ L("PROXY TCP4 192.0.2.1 198.51.100.2 1 0x19\r\n"), PM_PROXY_BAD, 0, 0,
	    NULL, NULL, 0, 0, "bad port" },
	{ L("PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n"), PM_PROXY_BAD, 0, 0,
	    NULL, NULL, 0, 0, "unknown protocol" },
	{ L("PROXY \r\n"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0, "empty" },
	/* v2: TCP4 192.0.2.1:56324 -> 198.51.100.2:25 */
	{ L(V2SIG "\x21\x11\x00\x0c"
	          "\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x00\x19"),
	    PM_PROXY_DONE, 28, 0, "192.0.2.1", "198.51.100.2", 56324, 25,
	    NULL },
	/* same with a TLV (PP2_TYPE_AUTHORITY "mx") that is skipped */
	{ L(V2SIG "\x21\x11\x00\x11"
	          "\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x00\x19"
	          "\x02\x00\x02mxEHLO"),
	    PM_PROXY_DONE, 33, 0, "192.0.2.1", "198.51.100.2", 56324, 25,
	    NULL },
	/* TCP6 2001:db8::1:443 -> ::1:587 */
	{ L(V2SIG "\x21\x21\x00\x24"
	          "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"
	          "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01"
	          "\x01\xbb\x02\x4b"),
	    PM_PROXY_DONE, 52, 0, "2001:db8::1", "::1", 443, 587, NULL },
	/* LOCAL (health check), with an address block that is ignored */
	{ L(V2SIG "\x20\x00\x00\x00"), PM_PROXY_DONE, 16, 1, "", "", 0, 0,
	    NULL },
	{ L(V2SIG "\x20\x11\x00\x0c"
	          "\xc0\x00\x02\x01\xc6\x33\x64\x02\xdc\x04\x00\x19"),
	    PM_PROXY_DONE, 28, 1, "", "", 0, 0, NULL },
	/* PROXY with UNSPEC family: keep the socket addresses */
	{ L(V2SIG "\x21\x00\x00\x00"), PM_PROXY_DONE, 16, 1, "", "", 0, 0,
	    NULL },
	{ L(V2SIG "\x21\x11\x00\x0c\xc0\x00"), PM_PROXY_MORE, 0, 0, NULL, NULL,
	    0, 0, NULL },
	{ L(V2SIG "\x21\x11\x00"), PM_PROXY_MORE, 0, 0, NULL, NULL, 0, 0,
	    NULL },
	{ L("\r\n\r\n\0\r\nQUIT"), PM_PROXY_MORE, 0, 0, NULL, NULL, 0, 0,
	    NULL },
	{ L("\r\n\r\nX"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0, "not a PROXY" },
	{ L("\r\nEHLO x\r\n"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "not a PROXY" },
	{ L(V2SIG "\x11\x11\x00\x0c"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "version" },
	{ L(V2SIG "\x22\x11\x00\x0c"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "command" },
	{ L(V2SIG "\x21\x12\x00\x0c"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "family" },
	{ L(V2SIG "\x21\x31\x00\xd8"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "family" },
	{ L(V2SIG "\x21\x11\x00\x0b"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "too short" },
	{ L(V2SIG "\x21\x21\x00\x0c"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "too short" },
	/* announced length over the limit: refused before it arrives */
	{ L(V2SIG "\x21\x11\x02\x09"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "too long" },
	{ L(V2SIG "\x21\x11\xff\xff"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "too long" },
	{ L(V2SIG "\x20\x00\x02\x09"), PM_PROXY_BAD, 0, 0, NULL, NULL, 0, 0,
	    "too long" },
};

static void
check_done(const struct pcase *c, int rc, const pm_proxy_result *r,
    const char *why, const char *how)
{
	cr_assert_eq(rc, c->rc, "%s case %.40s: got rc %d (%s), want %d", how,
	    c->in, rc, rc == PM_PROXY_BAD ? why : "", c->rc);
	if (rc == PM_PROXY_BAD && c->why != NULL) {
		cr_assert(strstr(why, c->why) != NULL,
		    "%s case %.40s: got why \"%s\", want \"%s\"", how, c->in,
		    why, c->why);
	}
	if (rc != PM_PROXY_DONE) {
		return;
	}
	cr_assert_eq(r->len, c->hlen, "%s %.40s: got len %zu, want %zu", how,
	    c->in, r->len, c->hlen);
	cr_assert_eq(r->local, c->local, "%s %.40s: got local %d", how, c->in,
	    r->local);
	cr_assert_str_eq(r->src_addr, c->src, "%s: got src %s, want %s", how,
	    r->src_addr, c->src);
	cr_assert_str_eq(r->dst_addr, c->dst, "%s: got dst %s, want %s", how,
	    r->dst_addr, c->dst);
	cr_assert_eq(r->src_port, c->sport, "%s: got sport %u, want %u", how,
	    r->src_port, c->sport);
	cr_assert_eq(r->dst_port, c->dport, "%s: got dport %u, want %u", how,
	    r->dst_port, c->dport);
	if (!c->local) {
		cr_assert(r->family == AF_INET || r->family == AF_INET6);
	}
}

Test(proxy, parse_table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];
		pm_proxy_result r;
		const char *why = "";
		int rc = pm_proxy_parse(c->in, c->len, &r, &why);

		check_done(c, rc, &r, why, "parse");
	}
}

/* The same cases fed one byte at a time: the verdict is the same. */
Test(proxy, feed_byte_by_byte)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];
		pm_proxy p;
		pm_proxy_result r;
		const char *why = "";
		size_t used = 0, total = 0, k;
		int rc = PM_PROXY_MORE;

		pm_proxy_init(&p);
		for (k = 0; k < c->len && rc == PM_PROXY_MORE; k++) {
			rc = pm_proxy_feed(&p, c->in + k, 1, &used, &r, &why);
			if (rc != PM_PROXY_BAD) {
				total += used;
			}
		}
		check_done(c, rc, &r, why, "bytewise");
		if (rc == PM_PROXY_DONE) {
			cr_assert_eq(total, c->hlen,
			    "bytewise used %zu, want %zu", total, c->hlen);
			/* A header is done at its last byte, no later. */
			cr_assert_eq(k, c->hlen);
		}
	}
}

/* Fed in two chunks split at every point: used tells the header part. */
Test(proxy, feed_split_chunks)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];

		for (size_t cut = 0; cut <= c->len; cut++) {
			pm_proxy p;
			pm_proxy_result r;
			const char *why = "";
			size_t u1 = 0, u2 = 0;
			int rc;

			pm_proxy_init(&p);
			rc = pm_proxy_feed(&p, c->in, cut, &u1, &r, &why);
			if (rc == PM_PROXY_MORE) {
				cr_assert_eq(u1, cut);
				rc = pm_proxy_feed(&p, c->in + cut,
				    c->len - cut, &u2, &r, &why);
			}
			check_done(c, rc, &r, why, "split");
			if (rc == PM_PROXY_DONE) {
				cr_assert_eq(u1 + u2, c->hlen,
				    "split at %zu: used %zu+%zu, want %zu", cut,
				    u1, u2, c->hlen);
			}
		}
	}
}

Test(proxy, v1_over_long)
{
	char line[300];
	pm_proxy_result r;
	const char *why = "";
	int rc;

	/* 106 bytes without LF: still may end at byte 107 */
	memset(line, 'A', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	rc = pm_proxy_parse(line, PM_PROXY_V1_MAX - 1, &r, &why);
	cr_assert_eq(rc, PM_PROXY_MORE);
	/* exactly 107 with CRLF: accepted */
	memcpy(line + PM_PROXY_V1_MAX - 2, "\r\n", 2);
	rc = pm_proxy_parse(line, PM_PROXY_V1_MAX, &r, &why);
	cr_assert_eq(rc, PM_PROXY_DONE, "107 bytes: got %d (%s)", rc, why);
	cr_assert_eq(r.len, PM_PROXY_V1_MAX);
	/* 108: refused once 107 bytes without LF are seen */
	memset(line, 'A', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + PM_PROXY_V1_MAX - 1, "\r\n", 2);
	rc = pm_proxy_parse(line, PM_PROXY_V1_MAX, &r, &why);
	cr_assert_eq(rc, PM_PROXY_BAD);
	cr_assert(strstr(why, "too long") != NULL, "got %s", why);
	rc = pm_proxy_parse(line, sizeof(line), &r, &why);
	cr_assert_eq(rc, PM_PROXY_BAD);
}

/* v2 at the limit: accepted; one more byte announced: refused. */
Test(proxy, v2_limit)
{
	unsigned char h[PM_PROXY_MAX_LEN + 8];
	size_t plen = PM_PROXY_MAX_LEN - PM_PROXY_V2_FIXED;
	pm_proxy_result r;
	pm_proxy p;
	const char *why = "";
	size_t used;
	int rc;

	memset(h, 0, sizeof(h));
	memcpy(h, V2SIG, 12);
	h[12] = 0x21;
	h[13] = 0x11;
	h[14] = (unsigned char) (plen >> 8);
	h[15] = (unsigned char) plen;
	memcpy(h + 16, "\x7f\x00\x00\x01\x7f\x00\x00\x02\x00\x01\x00\x02", 12);
	rc = pm_proxy_parse(h, PM_PROXY_MAX_LEN, &r, &why);
	cr_assert_eq(rc, PM_PROXY_DONE, "got %d (%s)", rc, why);
	cr_assert_eq(r.len, PM_PROXY_MAX_LEN);
	cr_assert_str_eq(r.src_addr, "127.0.0.1");
	pm_proxy_init(&p);
	rc = pm_proxy_feed(&p, h, sizeof(h), &used, &r, &why);
	cr_assert_eq(rc, PM_PROXY_DONE);
	cr_assert_eq(used, PM_PROXY_MAX_LEN);
	plen++;
	h[14] = (unsigned char) (plen >> 8);
	h[15] = (unsigned char) plen;
	rc = pm_proxy_parse(h, 16, &r, &why);
	cr_assert_eq(rc, PM_PROXY_BAD);
	pm_proxy_init(&p);
	rc = pm_proxy_feed(&p, h, sizeof(h), &used, &r, &why);
	cr_assert_eq(rc, PM_PROXY_BAD);
}

Test(proxy, build_round_trip)
{
	static const struct {
		const char *src, *dst, *want_src, *want_dst;
		unsigned sp, dp;
		int len;
	} t[] = {
		{ "192.0.2.1", "198.51.100.2", "192.0.2.1", "198.51.100.2",
		    56324, 25, 28 },
		{ "0.0.0.0", "255.255.255.255", "0.0.0.0", "255.255.255.255", 0,
		    65535, 28 },
		{ "2001:DB8::1", "::1", "2001:db8::1", "::1", 443, 587, 52 },
		{ "::ffff:192.0.2.1", "::ffff:127.0.0.1", "::ffff:192.0.2.1",
		    "::ffff:127.0.0.1", 1, 2, 52 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unsigned char buf[64];
		pm_proxy_result r;
		const char *why = "";
		int n = pm_proxy_v2_build(buf, sizeof(buf), t[i].src, t[i].sp,
		    t[i].dst, t[i].dp);
		int rc;

		cr_assert_eq(n, t[i].len, "build %s: got %d, want %d", t[i].src,
		    n, t[i].len);
		rc = pm_proxy_parse(buf, (size_t) n, &r, &why);
		cr_assert_eq(rc, PM_PROXY_DONE, "got %d (%s)", rc, why);
		cr_assert_eq(r.version, 2);
		cr_assert_eq(r.len, (size_t) n);
		cr_assert_eq(r.local, 0);
		cr_assert_str_eq(r.src_addr, t[i].want_src);
		cr_assert_str_eq(r.dst_addr, t[i].want_dst);
		cr_assert_eq(r.src_port, t[i].sp);
		cr_assert_eq(r.dst_port, t[i].dp);
		/* truncated copy: need more, never done */
		for (int k = 0; k < n; k++) {
			rc = pm_proxy_parse(buf, (size_t) k, &r, &why);
			cr_assert_eq(rc, PM_PROXY_MORE, "prefix %d: got %d", k,
			    rc);
		}
	}
}

Test(proxy, build_refuses)
{
	unsigned char buf[64];

	cr_assert_eq(pm_proxy_v2_build(buf, sizeof(buf), "192.0.2.1", 1,
	                 "2001:db8::1", 2),
	    PM_EINVAL);
	cr_assert_eq(pm_proxy_v2_build(buf, sizeof(buf), "example.com", 1,
	                 "192.0.2.1", 2),
	    PM_EINVAL);
	cr_assert_eq(pm_proxy_v2_build(buf, sizeof(buf), "192.0.2.1", 65536,
	                 "192.0.2.2", 2),
	    PM_EINVAL);
	cr_assert_eq(pm_proxy_v2_build(buf, sizeof(buf), NULL, 1, "192.0.2.2",
	                 2),
	    PM_EINVAL);
	cr_assert_eq(pm_proxy_v2_build(buf, 27, "192.0.2.1", 1, "192.0.2.2", 2),
	    PM_ETOOBIG);
	cr_assert_eq(pm_proxy_v2_build(buf, 51, "::1", 1, "::2", 2),
	    PM_ETOOBIG);
}

Test(proxy, v1_versions_and_garbage_bytes)
{
	/* Every first byte that starts neither version is refused at once. */
	for (int b = 0; b < 256; b++) {
		unsigned char c = (unsigned char) b;
		pm_proxy_result r;
		const char *why = "";
		int rc = pm_proxy_parse(&c, 1, &r, &why);

		if (c == 'P' || c == '\r') {
			cr_assert_eq(rc, PM_PROXY_MORE);
		} else {
			cr_assert_eq(rc, PM_PROXY_BAD, "byte %d: got %d", b,
			    rc);
		}
	}
	{
		pm_proxy_result r;
		int rc = pm_proxy_parse(L("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
		    &r, NULL);

		cr_assert_eq(rc, PM_PROXY_DONE);
		cr_assert_eq(r.version, 1);
		cr_assert_eq(r.family, AF_INET);
	}
}
