/*
 * NAME
 *	test_dns - unit tests for pm_dns (blocking c-ares lookups)
 * DESCRIPTION
 *	Lookups run against a real dnsmasq on a loopback port
 *	(dnsmasq_helper.h): MX order, A-only domains, NXDOMAIN versus
 *	NODATA, CNAME, AAAA, TXT, PTR, null MX, REFUSED as a temporary
 *	failure, many threads at once. Failures: no server, a server that
 *	never answers (the deadline holds), bad query names. The reply
 *	parser gets hand-built hostile packets (truncated, compression
 *	loops, lengths past the end, CNAME loops, too many records).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsmasq_helper.h"
#include "pm_dns.h"
#include "pm_util.h"

/* Records joined with ',' (TXT as is). */
static char *
join(const pm_dns_rr *rr, size_t n)
{
	pm_buf b;
	size_t i;

	pm_buf_init(&b, 0);
	for (i = 0; i < n; i++) {
		pm_buf_printf(&b, "%s%s", i ? "," : "", rr[i].data);
	}
	return (pm_buf_steal(&b, NULL));
}

struct lookup_case {
	const char *name;
	int type;
	int rc;
	int status;
	const char *want; /* joined data when rc == 0 */
};

static const struct lookup_case lookup_cases[] = {
	{ "example.test", PM_DNS_MX, 0, PM_DNS_OK,
	    "mx2.example.test,mx1.example.test" },
	{ "aonly.test", PM_DNS_A, 0, PM_DNS_OK, "127.0.0.3" },
	{ "aonly.test", PM_DNS_MX, PM_ENOENT, PM_DNS_NODATA, NULL },
	{ "nothere.test", PM_DNS_A, PM_ENOENT, PM_DNS_NXDOMAIN, NULL },
	{ "nothere.test", PM_DNS_MX, PM_ENOENT, PM_DNS_NXDOMAIN, NULL },
	{ "alias.test", PM_DNS_A, 0, PM_DNS_OK, "127.0.0.3" },
	{ "v6only.test", PM_DNS_AAAA, 0, PM_DNS_OK, "2001:db8::3" },
	{ "v6only.test", PM_DNS_A, PM_ENOENT, PM_DNS_NODATA, NULL },
	{ "txt.test", PM_DNS_TXT, 0, PM_DNS_OK, "v=spf1 -allsecond" },
	{ "127.0.0.3", PM_DNS_PTR, 0, PM_DNS_OK, "aonly.test" },
	{ "3.0.0.127.in-addr.arpa", PM_DNS_PTR, 0, PM_DNS_OK, "aonly.test" },
	{ "nullmx.test", PM_DNS_MX, 0, PM_DNS_OK, "" },
	{ "MX1.Example.TEST.", PM_DNS_A, 0, PM_DNS_OK, "127.0.0.2" },
	/* Outside the local zone dnsmasq has no upstream: REFUSED. */
	{ "outside.example", PM_DNS_A, PM_EAGAIN, PM_DNS_RETRY, NULL },
};

Test(dns, lookups_against_dnsmasq)
{
	test_dnsmasq d;
	pm_dns_rr *rr;
	size_t n;
	size_t i;
	size_t j;
	int status;
	int rc;
	char *got;

	cr_assert_eq(test_dnsmasq_start(&d), 0, "dnsmasq did not start");
	for (i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
		const struct lookup_case *c = &lookup_cases[i];

		rr = (pm_dns_rr *) &n; /* sentinel: untouched on failure */
		status = -1;
		rc = pm_dns_lookup_st(c->name, c->type, &rr, &n, 3000, &status);
		cr_expect_eq(rc, c->rc, "%s/%d: got rc %d, want %d", c->name,
		    c->type, rc, c->rc);
		cr_expect_eq(status, c->status, "%s/%d: got status %d, want %d",
		    c->name, c->type, status, c->status);
		if (rc != 0) {
			cr_expect_eq((void *) rr, (void *) &n,
			    "%s: out-parameter changed on failure", c->name);
			continue;
		}
		got = join(rr, n);
		cr_expect_str_eq(got, c->want, "%s/%d: got \"%s\", want \"%s\"",
		    c->name, c->type, got, c->want);
		for (j = 0; j < n; j++) {
			cr_expect_eq(rr[j].ttl, 300, "%s: got ttl %u, want 300",
			    c->name, rr[j].ttl);
			cr_expect_eq(rr[j].type, c->type, "%s: got type %d",
			    c->name, rr[j].type);
		}
		if (c->type == PM_DNS_MX && n == 2) {
			cr_expect(rr[0].pref == 5 && rr[1].pref == 10,
			    "MX prefs: got %u,%u, want 5,10", rr[0].pref,
			    rr[1].pref);
		}
		if (c->type == PM_DNS_A) {
			cr_expect(rr[0].family == AF_INET &&
			        rr[0].addr[0] == 127,
			    "%s: binary address not filled", c->name);
		}
		free(got);
		pm_dns_rr_free(rr, n);
	}
	/* A malformed server list leaves the working one in place. */
	cr_expect_eq(pm_dns_set_servers("127.0.0.1:99999"), PM_EINVAL,
	    "bad port accepted");
	rc = pm_dns_lookup("aonly.test", PM_DNS_A, &rr, &n, 3000);
	cr_expect_eq(rc, 0, "lookup after a rejected server list: got %d", rc);
	if (rc == 0) {
		pm_dns_rr_free(rr, n);
	}
	test_dnsmasq_stop(&d);
}

static void *
thread_main(void *arg)
{
	static const char *const names[] = { "aonly.test", "alias.test",
		"mx1.example.test" };
	static const char *const want[] = { "127.0.0.3", "127.0.0.3",
		"127.0.0.2" };
	long *bad = arg;
	pm_dns_rr *rr;
	size_t n;
	int i;

	for (i = 0; i < 25; i++) {
		if (pm_dns_lookup(names[i % 3], PM_DNS_A, &rr, &n, 5000) != 0) {
			(*bad)++;
			continue;
		}
		if (n != 1 || strcmp(rr[0].data, want[i % 3]) != 0) {
			(*bad)++;
		}
		pm_dns_rr_free(rr, n);
	}
	return (NULL);
}

Test(dns, many_threads)
{
	test_dnsmasq d;
	pthread_t t[8];
	long bad[8] = { 0 };
	int i;

	cr_assert_eq(test_dnsmasq_start(&d), 0, "dnsmasq did not start");
	for (i = 0; i < 8; i++) {
		cr_assert_eq(pthread_create(&t[i], NULL, thread_main, &bad[i]),
		    0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(bad[i], 0,
		    "thread %d: got %ld bad answers, want 0", i, bad[i]);
	}
	test_dnsmasq_stop(&d);
}

Test(dns, failures_and_bad_names)
{
	static const char *const bad_names[] = { "", ".", "a..b", "a b", "a\tb",
		"a\r\nb", "\xff.test", "a\\b.test", "x@y.test", "-a.test\x01",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.t",
		NULL };
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char server[32];
	char longname[300];
	pm_dns_rr *rr;
	size_t n;
	int64_t t0;
	int64_t dt;
	int status;
	int rc;
	int fd;
	int i;

	/* Bad names and types never reach the network. */
	cr_assert_eq(pm_dns_set_servers("127.0.0.1:9"), 0);
	for (i = 0; bad_names[i] != NULL; i++) {
		rc = pm_dns_lookup_st(bad_names[i], PM_DNS_A, &rr, &n, 1000,
		    &status);
		cr_expect_eq(rc, PM_EINVAL, "name %d: got %d, want PM_EINVAL",
		    i, rc);
		cr_expect_eq(status, PM_DNS_INVAL, "name %d: got status %d", i,
		    status);
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	for (i = 60; i < 290; i += 61) {
		longname[i] = '.';
	}
	cr_expect_eq(pm_dns_lookup(longname, PM_DNS_A, &rr, &n, 1000),
	    PM_EINVAL, "299-byte name accepted");
	cr_expect_eq(pm_dns_lookup("a.test", 99, &rr, &n, 1000), PM_EINVAL,
	    "type 99 accepted");

	/* Nobody listens: a quick temporary failure. */
	snprintf(server, sizeof(server), "127.0.0.1:%d", test_dnsmasq_port());
	cr_assert_eq(pm_dns_set_servers(server), 0);
	t0 = pm_mono_ms();
	rc = pm_dns_lookup_st("a.test", PM_DNS_A, &rr, &n, 2000, &status);
	dt = pm_mono_ms() - t0;
	cr_expect_eq(rc, PM_EAGAIN, "closed port: got %d, want PM_EAGAIN", rc);
	cr_expect_eq(status, PM_DNS_RETRY, "closed port: got status %d",
	    status);
	cr_expect_lt(dt, 2500, "closed port took %lld ms", (long long) dt);

	/* A server that never answers: the deadline holds. */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
	snprintf(server, sizeof(server), "127.0.0.1:%d", ntohs(sin.sin_port));
	cr_assert_eq(pm_dns_set_servers(server), 0);
	t0 = pm_mono_ms();
	rc = pm_dns_lookup("a.test", PM_DNS_MX, &rr, &n, 400);
	dt = pm_mono_ms() - t0;
	cr_expect_eq(rc, PM_EAGAIN, "silent server: got %d, want PM_EAGAIN",
	    rc);
	cr_expect(dt >= 350 && dt < 1500,
	    "silent server: took %lld ms, "
	    "want about 400",
	    (long long) dt);
	close(fd);
}

Test(dns, server_lists_and_reverse_names)
{
	static const struct {
		const char *spec;
		int rc;
	} specs[] = {
		{ "", 0 },
		{ "127.0.0.1", 0 },
		{ "127.0.0.1:53", 0 },
		{ "[::1]:5353", 0 },
		{ "::1", 0 },
		{ "[::1]", 0 },
		{ " 1.2.3.4, 5.6.7.8:54\t[2001:db8::1] ", 0 },
		{ "localhost", PM_EINVAL },
		{ "1.2.3.4:0", PM_EINVAL },
		{ "1.2.3.4:65536", PM_EINVAL },
		{ "1.2.3.4:", PM_EINVAL },
		{ "1.2.3.4:5x", PM_EINVAL },
		{ "1.2.3.4:-1", PM_EINVAL },
		{ "[::1", PM_EINVAL },
		{ "[::1]x", PM_EINVAL },
		{ "[1.2.3.4]:53", PM_EINVAL },
		{ "1.2.3", PM_EINVAL },
		{ "256.1.1.1", PM_EINVAL },
		{ "1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 1.1.1.7 "
		  "1.1.1.8 1.1.1.9 1.1.1.10 1.1.1.11 1.1.1.12 1.1.1.13 "
		  "1.1.1.14 1.1.1.15 1.1.1.16 1.1.1.17",
		    PM_EINVAL },
	};
	static const struct {
		const char *addr;
		const char *want; /* NULL: PM_EINVAL */
	} revs[] = {
		{ "192.0.2.1", "1.2.0.192.in-addr.arpa" },
		{ "2001:db8::1",
		    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
		    "0.8.b.d.0.1.0.0.2.ip6.arpa" },
		{ "example.com", NULL },
		{ "1.2.3", NULL },
		{ "", NULL },
	};
	char buf[128];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		rc = pm_dns_set_servers(specs[i].spec);
		cr_expect_eq(rc, specs[i].rc, "\"%s\": got %d, want %d",
		    specs[i].spec, rc, specs[i].rc);
	}
	for (i = 0; i < sizeof(revs) / sizeof(revs[0]); i++) {
		rc = pm_dns_reverse_name(revs[i].addr, buf, sizeof(buf));
		if (revs[i].want == NULL) {
			cr_expect_eq(rc, PM_EINVAL,
			    "%s: got %d, want PM_EINVAL", revs[i].addr, rc);
		} else {
			cr_expect_eq(rc, 0, "%s: got %d", revs[i].addr, rc);
			cr_expect_str_eq(buf, revs[i].want, "%s: got %s",
			    revs[i].addr, buf);
		}
	}
	cr_expect_eq(pm_dns_reverse_name("2001:db8::1", buf, 40), PM_ETOOBIG,
	    "short buffer accepted");
	cr_expect_eq(pm_dns_reverse_name("192.0.2.1", buf, 10), PM_ETOOBIG,
	    "short buffer accepted");
}

/*
 * Hand-built replies.
 */
typedef struct pkt {
	unsigned char b[70000];
	size_t len;
} pkt;

static void
put(pkt *p, const void *d, size_t n)
{
	memcpy(p->b + p->len, d, n);
	p->len += n;
}

static void
put16(pkt *p, unsigned v)
{
	unsigned char b[2] = { (unsigned char) (v >> 8), (unsigned char) v };

	put(p, b, 2);
}

static void
put32(pkt *p, unsigned v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

static void
put_name(pkt *p, const char *name)
{
	const char *dot;
	size_t n;

	while (*name) {
		dot = strchr(name, '.');
		n = dot ? (size_t) (dot - name) : strlen(name);
		p->b[p->len++] = (unsigned char) n;
		put(p, name, n);
		name += n + (dot ? 1 : 0);
	}
	p->b[p->len++] = 0;
}

/* Header + question for qname/type; rcode in the flags. */
static void
start(pkt *p, const char *qname, int type, unsigned rcode, unsigned ancount)
{
	p->len = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | rcode);
	put16(p, 1);
	put16(p, ancount);
	put16(p, 0);
	put16(p, 0);
	put_name(p, qname);
	put16(p, (unsigned) type);
	put16(p, 1);
}

static void
rr_head(pkt *p, const char *owner, int type, unsigned cls, unsigned ttl,
    unsigned rdlen)
{
	put_name(p, owner);
	put16(p, (unsigned) type);
	put16(p, cls);
	put32(p, ttl);
	put16(p, rdlen);
}

static void
rr_a(pkt *p, const char *owner, const unsigned char *ip, unsigned ttl)
{
	rr_head(p, owner, PM_DNS_A, 1, ttl, 4);
	put(p, ip, 4);
}

static void
rr_name(pkt *p, const char *owner, int type, unsigned pref, const char *target)
{
	pkt t;

	t.len = 0;
	if (type == PM_DNS_MX) {
		put16(&t, pref);
	}
	put_name(&t, target);
	rr_head(p, owner, type, 1, 60, (unsigned) t.len);
	put(p, t.b, t.len);
}

Test(dns, parse_hostile_replies)
{
	static const unsigned char ip[4] = { 192, 0, 2, 1 };
	static pkt p;
	pm_dns_rr *rr;
	size_t n;
	int status;
	int rc;
	int i;

	/* A valid answer first, so the builder is known to be right. */
	start(&p, "h.test", PM_DNS_A, 0, 1);
	rr_a(&p, "h.test", ip, 0x80000001u);
	rc = pm_dns_parse("h.test", PM_DNS_A, p.b, p.len, &rr, &n, &status);
	cr_assert_eq(rc, 0, "valid A: got %d", rc);
	cr_expect_str_eq(rr[0].data, "192.0.2.1");
	cr_expect_eq(rr[0].ttl, 0, "ttl with the high bit: got %u, want 0",
	    rr[0].ttl);
	pm_dns_rr_free(rr, n);

	/* Truncated anywhere: a protocol error, never a crash. */
	for (i = 0; i < (int) p.len; i++) {
		rc = pm_dns_parse("h.test", PM_DNS_A, p.b, (size_t) i, &rr, &n,
		    &status);
		cr_expect_eq(rc, PM_EPROTO, "truncated at %d: got %d", i, rc);
	}
	cr_expect_eq(pm_dns_parse("h.test", PM_DNS_A, p.b, 70000, &rr, &n,
	                 &status),
	    PM_EPROTO, "over-long reply accepted");

	/* rdlength past the end. */
	start(&p, "h.test", PM_DNS_A, 0, 1);
	rr_head(&p, "h.test", PM_DNS_A, 1, 60, 400);
	put(&p, ip, 4);
	cr_expect_eq(pm_dns_parse("h.test", PM_DNS_A, p.b, p.len, &rr, &n,
	                 &status),
	    PM_EPROTO, "rdlength past the end accepted");

	/* A record of 3 bytes. */
	start(&p, "h.test", PM_DNS_A, 0, 1);
	rr_head(&p, "h.test", PM_DNS_A, 1, 60, 3);
	put(&p, ip, 3);
	cr_expect_eq(pm_dns_parse("h.test", PM_DNS_A, p.b, p.len, &rr, &n,
	                 &status),
	    PM_EPROTO, "3-byte A accepted");

	/* Owner name that points at itself (compression loop). */
	start(&p, "h.test", PM_DNS_A, 0, 1);
	put16(&p, 0xc000 | (unsigned) p.len);
	put16(&p, PM_DNS_A);
	put16(&p, 1);
	put32(&p, 60);
	put16(&p, 4);
	put(&p, ip, 4);
	cr_expect_eq(pm_dns_parse("h.test", PM_DNS_A, p.b, p.len, &rr, &n,
	                 &status),
	    PM_EPROTO, "compression loop accepted");

	/* MX target pointer past the end. */
	start(&p, "m.test", PM_DNS_MX, 0, 1);
	rr_head(&p, "m.test", PM_DNS_MX, 1, 60, 4);
	put16(&p, 10);
	put16(&p, 0xc000 | 0x3fff);
	cr_expect_eq(pm_dns_parse("m.test", PM_DNS_MX, p.b, p.len, &rr, &n,
	                 &status),
	    PM_EPROTO, "MX pointer past the end accepted");

	/* MX host with a control character. */
	start(&p, "m.test", PM_DNS_MX, 0, 1);
	rr_name(&p, "m.test", PM_DNS_MX, 10, "bad\001host.test");
	cr_expect_eq(pm_dns_parse("m.test", PM_DNS_MX, p.b, p.len, &rr, &n,
	                 &status),
	    PM_EPROTO, "MX host with a control char accepted");

	/* TXT string length past rdlength. */
	start(&p, "t.test", PM_DNS_TXT, 0, 1);
	rr_head(&p, "t.test", PM_DNS_TXT, 1, 60, 3);
	put(&p,
	    "\x09"
	    "ab",
	    3);
	cr_expect_eq(pm_dns_parse("t.test", PM_DNS_TXT, p.b, p.len, &rr, &n,
	                 &status),
	    PM_EPROTO, "TXT overrun accepted");

	/* CNAME loop: ends, no data. */
	start(&p, "a.test", PM_DNS_A, 0, 3);
	rr_name(&p, "a.test", 5, 0, "b.test");
	rr_name(&p, "b.test", 5, 0, "a.test");
	rr_a(&p, "c.test", ip, 60);
	rc = pm_dns_parse("a.test", PM_DNS_A, p.b, p.len, &rr, &n, &status);
	cr_expect(rc == PM_ENOENT && status == PM_DNS_NODATA,
	    "CNAME loop: got %d/%d, want PM_ENOENT/NODATA", rc, status);

	/* Records for another name, or class CH, do not count. */
	start(&p, "a.test", PM_DNS_A, 0, 2);
	rr_a(&p, "other.test", ip, 60);
	rr_head(&p, "a.test", PM_DNS_A, 3, 60, 4);
	put(&p, ip, 4);
	rc = pm_dns_parse("a.test", PM_DNS_A, p.b, p.len, &rr, &n, &status);
	cr_expect(rc == PM_ENOENT && status == PM_DNS_NODATA,
	    "foreign records: got %d/%d, want PM_ENOENT/NODATA", rc, status);

	/* Reply codes. */
	start(&p, "a.test", PM_DNS_A, 3, 0);
	rc = pm_dns_parse("a.test", PM_DNS_A, p.b, p.len, &rr, &n, &status);
	cr_expect(rc == PM_ENOENT && status == PM_DNS_NXDOMAIN,
	    "rcode 3: got %d/%d", rc, status);
	start(&p, "a.test", PM_DNS_A, 2, 0);
	rc = pm_dns_parse("a.test", PM_DNS_A, p.b, p.len, &rr, &n, &status);
	cr_expect(rc == PM_EAGAIN && status == PM_DNS_RETRY,
	    "rcode 2: got %d/%d", rc, status);

	/* Too many records: capped. */
	start(&p, "a.test", PM_DNS_A, 0, 300);
	for (i = 0; i < 300; i++) {
		rr_a(&p, "a.test", ip, 60);
	}
	rc = pm_dns_parse("a.test", PM_DNS_A, p.b, p.len, &rr, &n, &status);
	cr_assert_eq(rc, 0, "300 records: got %d", rc);
	cr_expect_eq(n, PM_DNS_RR_MAX, "got %zu records, want %d", n,
	    PM_DNS_RR_MAX);
	pm_dns_rr_free(rr, n);

	/* A huge TXT record: cut at PM_DNS_TXT_MAX. */
	start(&p, "t.test", PM_DNS_TXT, 0, 1);
	rr_head(&p, "t.test", PM_DNS_TXT, 1, 60, 40 * 256);
	for (i = 0; i < 40; i++) {
		p.b[p.len++] = 255;
		memset(p.b + p.len, 'x', 255);
		p.len += 255;
	}
	rc = pm_dns_parse("t.test", PM_DNS_TXT, p.b, p.len, &rr, &n, &status);
	cr_assert_eq(rc, 0, "huge TXT: got %d", rc);
	cr_expect(rr[0].len > 0 && rr[0].len <= PM_DNS_TXT_MAX,
	    "huge TXT: got %zu bytes", rr[0].len);
	pm_dns_rr_free(rr, n);

	/* MX: sorted by preference, stable for equal ones. */
	start(&p, "m.test", PM_DNS_MX, 0, 4);
	rr_name(&p, "m.test", PM_DNS_MX, 20, "c.test");
	rr_name(&p, "m.test", PM_DNS_MX, 10, "a.test");
	rr_name(&p, "m.test", PM_DNS_MX, 20, "d.test");
	rr_name(&p, "m.test", PM_DNS_MX, 10, "b.test");
	rc = pm_dns_parse("m.test", PM_DNS_MX, p.b, p.len, &rr, &n, &status);
	cr_assert_eq(rc, 0, "MX: got %d", rc);
	{
		char *got = join(rr, n);

		cr_expect_str_eq(got, "a.test,b.test,c.test,d.test",
		    "MX order: got %s", got);
		free(got);
	}
	pm_dns_rr_free(rr, n);
}
