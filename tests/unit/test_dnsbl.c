/*
 * NAME
 *	test_dnsbl - unit tests for pm_dnsbl (DNS list specs and lookups)
 * DESCRIPTION
 *	Site specs and lists (good and hostile: bad octets, ranges the
 *	wrong way round, too many alternatives, over-long specs, weights
 *	where none is allowed), query names for IPv4, IPv6, IPv4-mapped
 *	addresses and right-hand-side names (length limits), filter
 *	matching, and lookups against a real dnsmasq (dnsmasq_helper.h):
 *	hit with TXT, hit without TXT, miss, a filter that excludes the
 *	reply, a temporary failure.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsmasq_helper.h"
#include "pm_dnsbl.h"
#include "pm_util.h"

struct parse_case {
	const char *spec;
	int flags;
	int rc;
	const char *domain;
	const char *filter;
	int weight;
};

static const struct parse_case parse_cases[] = {
	{ "zen.spamhaus.org", 0, 0, "zen.spamhaus.org", "", 1 },
	{ "Zen.Spamhaus.ORG.", 0, 0, "zen.spamhaus.org", "", 1 },
	{ "bl.test=127.0.0.2", 0, 0, "bl.test", "127.0.0.2", 1 },
	{ "bl.test=127.0.0.[2..11]", 0, 0, "bl.test", "127.0.0.[2..11]", 1 },
	{ "wl.test=127.0.[0..255].[1;3;5..7]*-4", PM_DNSBL_F_WEIGHT, 0,
	    "wl.test", "127.0.[0..255].[1;3;5..7]", -4 },
	{ "bl.test*3", PM_DNSBL_F_WEIGHT, 0, "bl.test", "", 3 },
	{ "bl.test*+2", PM_DNSBL_F_WEIGHT, 0, "bl.test", "", 2 },
	/* Hostile or wrong. */
	{ "", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test*3", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test*", PM_DNSBL_F_WEIGHT, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test*x", PM_DNSBL_F_WEIGHT, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test*99999", PM_DNSBL_F_WEIGHT, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.2.5", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.256", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.0002", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.[5..2]", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.[2..]", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.[2", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.[]", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.[1;]", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.-1", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bl.test=127.0.0.[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17]", 0,
	    PM_ETOOBIG, NULL, NULL, 0 },
	{ "=127.0.0.2", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "nodot", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bad..domain.test", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "bad domain.test", 0, PM_EINVAL, NULL, NULL, 0 },
	{ "b\001d.test", 0, PM_EINVAL, NULL, NULL, 0 },
};

Test(dnsbl, site_parse)
{
	pm_dnsbl_site s;
	char err[256];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];

		memset(&s, 0x5a, sizeof(s));
		err[0] = '\0';
		rc = pm_dnsbl_site_parse(&s, c->spec, c->flags, err,
		    sizeof(err));
		cr_expect_eq(rc, c->rc, "\"%s\": got rc %d, want %d (%s)",
		    c->spec, rc, c->rc, err);
		if (rc != 0) {
			cr_expect(err[0] != '\0', "\"%s\": no reason", c->spec);
			cr_expect_eq(s.weight, 0x5a5a5a5a,
			    "\"%s\": site changed on failure", c->spec);
			continue;
		}
		cr_expect_str_eq(s.domain, c->domain, "\"%s\": got \"%s\"",
		    c->spec, s.domain);
		cr_expect_str_eq(s.filter, c->filter, "\"%s\": got \"%s\"",
		    c->spec, s.filter);
		cr_expect_eq(s.has_filter, c->filter[0] != '\0');
		cr_expect_eq(s.weight, c->weight, "\"%s\": got weight %d",
		    c->spec, s.weight);
	}
}

Test(dnsbl, site_parse_limits)
{
	pm_dnsbl_site s;
	char spec[PM_DNSBL_SPEC_MAX + 16];
	char err[256];
	int rc;

	memset(spec, 'a', sizeof(spec) - 1);
	spec[sizeof(spec) - 1] = '\0';
	rc = pm_dnsbl_site_parse(&s, spec, 0, err, sizeof(err));
	cr_expect_eq(rc, PM_ETOOBIG, "long spec: got %d", rc);
	/* 16 alternatives is the limit, not over it. */
	rc = pm_dnsbl_site_parse(&s,
	    "bl.test=127.0.0.[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16]", 0, NULL,
	    0);
	cr_expect_eq(rc, 0, "16 alternatives: got %d", rc);
	/* A label over 63 bytes. */
	memset(spec, 'a', 70);
	memcpy(spec + 70, ".test", 6);
	cr_expect_eq(pm_dnsbl_site_parse(&s, spec, 0, NULL, 0), PM_EINVAL);
}

Test(dnsbl, list_parse)
{
	pm_dnsbl_site *v = (pm_dnsbl_site *) &v;
	pm_buf b;
	size_t n = 99;
	char err[256];
	int rc;
	int i;

	rc = pm_dnsbl_list_parse(&v, &n,
	    " a.test=127.0.0.2*2, b.test\tc.test=127.0.0.[1..3]*-1 ,,",
	    PM_DNSBL_F_WEIGHT, err, sizeof(err));
	cr_assert_eq(rc, 0, "got %d (%s)", rc, err);
	cr_assert_eq(n, 3, "got %zu sites, want 3", n);
	cr_expect_str_eq(v[0].domain, "a.test");
	cr_expect_eq(v[0].weight, 2);
	cr_expect_str_eq(v[1].domain, "b.test");
	cr_expect_eq(v[1].has_filter, 0);
	cr_expect_str_eq(v[2].filter, "127.0.0.[1..3]");
	cr_expect_eq(v[2].weight, -1);
	free(v);

	rc = pm_dnsbl_list_parse(&v, &n, " ,\t ", 0, err, sizeof(err));
	cr_expect(rc == 0 && v == NULL && n == 0, "empty list: rc %d n %zu", rc,
	    n);

	v = (pm_dnsbl_site *) &v;
	n = 99;
	rc = pm_dnsbl_list_parse(&v, &n, "a.test, b.test=1.2.3", 0, err,
	    sizeof(err));
	cr_expect_eq(rc, PM_EINVAL, "bad item: got %d", rc);
	cr_expect(v == (pm_dnsbl_site *) &v && n == 99, "changed on error");
	cr_expect(strstr(err, "b.test=1.2.3") != NULL, "reason: %s", err);

	pm_buf_init(&b, 0);
	for (i = 0; i <= PM_DNSBL_SITES_MAX; i++) {
		pm_buf_printf(&b, "s%d.test ", i);
	}
	rc = pm_dnsbl_list_parse(&v, &n, b.data, 0, err, sizeof(err));
	cr_expect_eq(rc, PM_ETOOBIG, "too many sites: got %d", rc);
	pm_buf_free(&b);
}

struct query_case {
	const char *in;
	const char *domain;
	int rhs;
	int rc;
	const char *want;
};

static const struct query_case query_cases[] = {
	{ "127.0.0.2", "bl.test", 0, 0, "2.0.0.127.bl.test" },
	{ "192.0.2.10", "zen.example.", 0, 0, "10.2.0.192.zen.example" },
	{ "::ffff:192.0.2.10", "bl.test", 0, 0, "10.2.0.192.bl.test" },
	{ "2001:db8::1", "bl.test", 0, 0,
	    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
	    "bl.test" },
	{ "not-an-address", "bl.test", 0, PM_EINVAL, NULL },
	{ "127.0.0.2 ", "bl.test", 0, PM_EINVAL, NULL },
	{ "example.com", "rhs.test", 1, 0, "example.com.rhs.test" },
	{ "example.com.", "rhs.test", 1, 0, "example.com.rhs.test" },
	{ "", "rhs.test", 1, PM_EINVAL, NULL },
	{ "bad name.com", "rhs.test", 1, PM_EINVAL, NULL },
	{ "a..b", "rhs.test", 1, PM_EINVAL, NULL },
	{ "[192.0.2.1]", "rhs.test", 1, PM_EINVAL, NULL },
};

Test(dnsbl, query_names)
{
	char buf[PM_DNS_NAME_MAX + 1];
	char name[300];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
		const struct query_case *c = &query_cases[i];

		buf[0] = '\0';
		rc = c->rhs ?
		    pm_dnsbl_query_name(buf, sizeof(buf), c->in, c->domain) :
		    pm_dnsbl_query_addr(buf, sizeof(buf), c->in, c->domain);
		cr_expect_eq(rc, c->rc, "\"%s\": got rc %d, want %d", c->in, rc,
		    c->rc);
		if (rc == 0) {
			cr_expect_str_eq(buf, c->want,
			    "\"%s\": got \"%s\", want \"%s\"", c->in, buf,
			    c->want);
		}
	}
	/* name.domain past 253 bytes (each part valid on its own). */
	for (i = 0; i < 4; i++) {
		memset(name + i * 61, 'a', 60);
		name[i * 61 + 60] = '.';
	}
	memcpy(name + 244, "x.com", 6); /* 249 bytes */
	rc = pm_dnsbl_query_name(buf, sizeof(buf), name, "rhs.test");
	cr_expect_eq(rc, PM_ETOOBIG, "long name: got %d", rc);
	rc = pm_dnsbl_query_name(buf, sizeof(buf), name, "a.b");
	cr_expect_eq(rc, 0, "253 bytes: got %d", rc);
	cr_expect_eq(strlen(buf), 253);
	/* A buffer too small for the name. */
	rc = pm_dnsbl_query_addr(buf, 10, "127.0.0.2", "bl.test");
	cr_expect_eq(rc, PM_ETOOBIG, "small buffer: got %d", rc);
}

struct match_case {
	const char *spec;
	const char *a;
	int want;
};

static const struct match_case match_cases[] = {
	{ "bl.test", "127.0.0.2", 1 },
	{ "bl.test", "10.1.2.3", 1 }, /* Postfix: no filter, any reply */
	{ "bl.test", "garbage", 0 },
	{ "bl.test", NULL, 0 },
	{ "bl.test=127.0.0.2", "127.0.0.2", 1 },
	{ "bl.test=127.0.0.2", "127.0.0.3", 0 },
	{ "bl.test=127.0.0.[2..11]", "127.0.0.11", 1 },
	{ "bl.test=127.0.0.[2..11]", "127.0.0.12", 0 },
	{ "bl.test=127.0.0.[2..11]", "127.0.1.2", 0 },
	{ "bl.test=127.0.[0..255].[1;3;5..7]", "127.0.9.3", 1 },
	{ "bl.test=127.0.[0..255].[1;3;5..7]", "127.0.9.4", 0 },
	{ "bl.test=127.0.[0..255].[1;3;5..7]", "127.0.9.6", 1 },
	{ "bl.test=127.0.[0..255].[1;3;5..7]", "128.0.9.6", 0 },
	{ "bl.test=[0..255].[0..255].[0..255].[0..255]", "1.2.3.4", 1 },
};

Test(dnsbl, match)
{
	pm_dnsbl_site s;
	pm_dns_rr rr[2];
	size_t i;
	int got;

	for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];

		cr_assert_eq(pm_dnsbl_site_parse(&s, c->spec, 0, NULL, 0), 0);
		got = pm_dnsbl_match(&s, c->a);
		cr_expect_eq(got, c->want, "%s vs %s: got %d, want %d", c->spec,
		    c->a ? c->a : "(null)", got, c->want);
	}
	memset(rr, 0, sizeof(rr));
	rr[0].type = rr[1].type = PM_DNS_A;
	rr[0].family = rr[1].family = AF_INET;
	memcpy(rr[0].addr, "\x7f\x00\x00\x0a", 4);
	memcpy(rr[1].addr, "\x7f\x00\x00\x02", 4);
	cr_assert_eq(pm_dnsbl_site_parse(&s, "bl.test=127.0.0.2", 0, NULL, 0),
	    0);
	cr_expect_eq(pm_dnsbl_match_rrs(&s, rr, 2), 1);
	cr_expect_eq(pm_dnsbl_match_rrs(&s, rr, 1), -1);
	cr_expect_eq(pm_dnsbl_match_rrs(&s, rr, 0), -1);
}

struct lookup_case {
	const char *spec;
	const char *qname;
	int rc;
	const char *a;
	const char *txt;
};

static const struct lookup_case lookup_cases[] = {
	{ "bl.test", "2.0.0.127.bl.test", PM_DNSBL_HIT, "127.0.0.2",
	    "Listed; see x.test" },
	{ "bl.test", "10.0.0.127.bl.test", PM_DNSBL_HIT, "127.0.0.10", "" },
	{ "bl.test", "3.0.0.127.bl.test", PM_DNSBL_MISS, NULL, NULL },
	{ "bl.test=127.0.0.[3..9]", "2.0.0.127.bl.test", PM_DNSBL_MISS, NULL,
	    NULL },
	{ "bl.test=127.0.0.[3..10]", "10.0.0.127.bl.test", PM_DNSBL_HIT,
	    "127.0.0.10", "" },
	{ "rhs.test", "spam.example.rhs.test", PM_DNSBL_HIT, "127.0.0.2",
	    "spam domain" },
	{ "rhs.test", "ham.example.rhs.test", PM_DNSBL_MISS, NULL, NULL },
	/* dnsmasq refuses names outside .test: a temporary failure. */
	{ "bl.example", "2.0.0.127.bl.example", PM_EAGAIN, NULL, NULL },
	{ "bl.test", "bad name.bl.test", PM_EINVAL, NULL, NULL },
};

Test(dnsbl, lookup_against_dnsmasq)
{
	test_dnsmasq d;
	pm_dnsbl_site s;
	pm_dnsbl_result res;
	size_t i;
	int rc;

	cr_assert_eq(test_dnsmasq_start(&d), 0, "dnsmasq did not start");
	for (i = 0; i < sizeof(lookup_cases) / sizeof(lookup_cases[0]); i++) {
		const struct lookup_case *c = &lookup_cases[i];

		cr_assert_eq(pm_dnsbl_site_parse(&s, c->spec, 0, NULL, 0), 0);
		memset(&res, 0, sizeof(res));
		rc = pm_dnsbl_lookup(&res, &s, c->qname, 3000);
		cr_expect_eq(rc, c->rc, "%s in %s: got %d, want %d", c->qname,
		    c->spec, rc, c->rc);
		if (rc != PM_DNSBL_HIT || c->rc != PM_DNSBL_HIT) {
			continue;
		}
		cr_expect_str_eq(res.a, c->a, "%s: got A %s, want %s", c->qname,
		    res.a, c->a);
		cr_expect_str_eq(res.txt, c->txt,
		    "%s: got TXT \"%s\", want "
		    "\"%s\"",
		    c->qname, res.txt, c->txt);
		cr_expect_eq(res.ttl, 300, "%s: got ttl %u", c->qname, res.ttl);
	}
	test_dnsmasq_stop(&d);
	/* No server at all: a temporary failure within the deadline. */
	cr_assert_eq(pm_dnsbl_site_parse(&s, "bl.test", 0, NULL, 0), 0);
	rc = pm_dnsbl_lookup(&res, &s, "2.0.0.127.bl.test", 500);
	cr_expect_eq(rc, PM_EAGAIN, "server gone: got %d", rc);
}
