/*
 * NAME
 *	test_smtp_nexthop - unit tests for nexthop forms and MX ordering
 * DESCRIPTION
 *	services/smtp/smtp_nexthop.c is compiled in. Nexthop forms of
 *	smtp and lmtp, good and hostile (missing brackets, bad ports,
 *	bare IPv6, over-long names and paths, control octets); MX records
 *	sorted by preference with equal ones shuffled (every order of
 *	three equal records must show up); the "loops back to myself"
 *	trimming.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

Test(smtp_nexthop, parse_table)
{
	static const struct {
		const char *in;
		int lmtp;
		int rc;
		int kind;
		const char *host;
		unsigned port;
		int literal;
	} cases[] = {
		{ "example.com", 0, 0, SMTP_DEST_DOMAIN, "example.com", 0, 0 },
		{ "[example.com]", 0, 0, SMTP_DEST_HOST, "example.com", 0, 0 },
		{ "[example.com]:2525", 0, 0, SMTP_DEST_HOST, "example.com",
		    2525, 0 },
		{ "example.com:2525", 0, 0, SMTP_DEST_HOST, "example.com", 2525,
		    0 },
		{ "example.com:smtp", 0, 0, SMTP_DEST_HOST, "example.com", 25,
		    0 },
		{ "[192.0.2.1]", 0, 0, SMTP_DEST_HOST, "192.0.2.1", 0, 1 },
		{ "192.0.2.1", 0, 0, SMTP_DEST_HOST, "192.0.2.1", 0, 1 },
		{ "[127.0.0.1]:10025", 0, 0, SMTP_DEST_HOST, "127.0.0.1", 10025,
		    1 },
		{ "[ipv6:2001:db8::1]:25", 0, 0, SMTP_DEST_HOST, "2001:db8::1",
		    25, 1 },
		{ "[2001:db8::1]", 0, 0, SMTP_DEST_HOST, "2001:db8::1", 0, 1 },
		{ "2001:db8::1", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "[example.com", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "[example.com]x", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "[]", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "example.com:0", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "example.com:65536", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "example.com:", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "example.com:25x", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "bad_host!", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "bad\r\nhost", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "unix:/x", 0, PM_EINVAL, 0, NULL, 0, 0 },
		{ "unix:/run/dovecot/lmtp", 1, 0, SMTP_DEST_UNIX,
		    "/run/dovecot/lmtp", 0, 0 },
		{ "unix:", 1, PM_EINVAL, 0, NULL, 0, 0 },
		{ "inet:mail.example:24", 1, 0, SMTP_DEST_HOST, "mail.example",
		    24, 0 },
		{ "inet:[127.0.0.1]:2424", 1, 0, SMTP_DEST_HOST, "127.0.0.1",
		    2424, 1 },
		{ "[127.0.0.1]:2424", 1, 0, SMTP_DEST_HOST, "127.0.0.1", 2424,
		    1 },
		{ "mail.example", 1, 0, SMTP_DEST_HOST, "mail.example", 0, 0 },
		{ "inet:", 1, PM_EINVAL, 0, NULL, 0, 0 },
	};
	size_t i;
	smtp_dest d;
	const char *why;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = smtp_nexthop_parse(cases[i].in, cases[i].lmtp, &d, &why);
		cr_assert_eq(rc, cases[i].rc, "%s: got rc %d, want %d",
		    cases[i].in, rc, cases[i].rc);
		if (rc != 0) {
			cr_assert(why != NULL, "%s: want a reason",
			    cases[i].in);
			continue;
		}
		cr_assert_eq(d.kind, cases[i].kind, "%s: got kind %d, want %d",
		    cases[i].in, d.kind, cases[i].kind);
		cr_assert_str_eq(d.host, cases[i].host, "%s: got host %s",
		    cases[i].in, d.host);
		cr_assert_eq(d.port, cases[i].port, "%s: got port %u, want %u",
		    cases[i].in, d.port, cases[i].port);
		cr_assert_eq(d.literal, cases[i].literal, "%s: got literal %d",
		    cases[i].in, d.literal);
	}
}

Test(smtp_nexthop, hostile_lengths)
{
	char buf[1200];
	smtp_dest d;
	const char *why;

	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = 0;
	cr_assert_eq(smtp_nexthop_parse(buf, 0, &d, &why), PM_EINVAL);
	buf[0] = '[';
	cr_assert_eq(smtp_nexthop_parse(buf, 0, &d, &why), PM_EINVAL);
	memcpy(buf, "unix:/", 6);
	cr_assert_eq(smtp_nexthop_parse(buf, 1, &d, &why), PM_EINVAL);
	cr_assert_str_eq(why, "socket path too long");
	cr_assert_eq(smtp_nexthop_parse(NULL, 0, &d, &why), PM_EINVAL);
	cr_assert_eq(smtp_port_parse("123456"), 0);
	cr_assert_eq(smtp_port_parse("lmtp"), 24);
	cr_assert_eq(smtp_port_parse("-1"), 0);
}

static unsigned
rnd(unsigned n)
{
	return ((unsigned) random() % n);
}

static pm_dns_rr *
mx_make(const unsigned *pref, const char *const *names, size_t n)
{
	pm_dns_rr *rr = pm_calloc(n, sizeof(*rr));
	size_t i;

	for (i = 0; i < n; i++) {
		rr[i].type = PM_DNS_MX;
		rr[i].pref = pref[i];
		rr[i].data = pm_strdup(names[i]);
		rr[i].len = strlen(names[i]);
	}
	return (rr);
}

Test(smtp_nexthop, mx_order)
{
	static const unsigned pref[] = { 10, 5, 10, 5, 20, 5 };
	static const char *const names[] = { "c", "a", "d", "b", "e", "x" };
	int seen[6] = { 0 };
	pm_dns_rr *rr;
	size_t i;
	int n, sum, perm;

	srandom(7);
	for (n = 0; n < 600; n++) {
		rr = mx_make(pref, names, 6);
		smtp_mx_sort(rr, 6, rnd);
		for (i = 1, sum = 0; i < 6; i++) {
			cr_assert(rr[i - 1].pref <= rr[i].pref,
			    "got pref %u "
			    "before %u",
			    rr[i - 1].pref, rr[i].pref);
		}
		for (i = 0; i < 6; i++) {
			sum += rr[i].data[0];
		}
		cr_assert_eq(sum, 'c' + 'a' + 'd' + 'b' + 'e' + 'x',
		    "got records lost or duplicated");
		cr_assert_str_eq(rr[5].data, "e");
		/* which order of the three preference-5 records */
		perm = (rr[0].data[0] == 'a'        ? 0 :
		               rr[0].data[0] == 'b' ? 2 :
		                                      4) +
		    (rr[1].data[0] < rr[2].data[0] ? 0 : 1);
		seen[perm]++;
		pm_dns_rr_free(rr, 6);
	}
	for (i = 0; i < 6; i++) {
		cr_assert(seen[i] > 0,
		    "order %zu of equal MX hosts never "
		    "seen in 600 sorts",
		    i);
	}
}

Test(smtp_nexthop, mx_trim_self)
{
	static const unsigned pref[] = { 5, 10, 10, 20 };
	static const char *const names[] = { "mx1.example", "me.example",
		"mx2.example", "mx3.example" };
	pm_dns_rr *rr = mx_make(pref, names, 4);
	int self;

	cr_assert_eq(smtp_mx_trim_self(rr, 4, "ME.example.", &self), 1);
	cr_assert_eq(self, 1);
	cr_assert_eq(smtp_mx_trim_self(rr, 4, "other.example", &self), 4);
	cr_assert_eq(self, 0);
	cr_assert_eq(smtp_mx_trim_self(rr + 1, 1, "me.example", &self), 0);
	cr_assert_eq(self, 1);
	cr_assert_eq(smtp_mx_trim_self(rr, 4, "", &self), 4);
	cr_assert_eq(smtp_mx_trim_self(rr, 4, NULL, &self), 4);
	pm_dns_rr_free(rr, 4);
}
