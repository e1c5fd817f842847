/*
 * NAME
 *	test_smtp_tls_policy - unit tests for the smtp client's TLS policy
 * DESCRIPTION
 *	services/smtp/smtp_tls_policy.c (linked from libsmtp.a): level
 *	names; policy table entries, good and hostile (unknown levels
 *	such as Postfix's dane, unknown attributes, values without '=',
 *	empty and over-long values, control octets); the lookup keys of a
 *	nexthop in Postfix's order (verbatim, domain without port, parent
 *	domains as ".example.com"; bracketed nexthops verbatim only); a
 *	lookup through an inline: table where a more specific key wins
 *	and a bad entry is an error, never a weaker level; the names a
 *	certificate must match for "hostname", "nexthop", "dot-nexthop"
 *	and literals; a certificate (made here, with subjectAltNames)
 *	against names; the TLS session cache key (names and SNI in it);
 *	a cached verified connection only for jobs whose names its
 *	certificate has.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "pm_table.h"
#include "pm_util.h"
#include "smtp_tls.h"

Test(smtp_tls_policy, levels)
{
	static const struct {
		const char *in;
		int want;
	} cases[] = {
		{ "", SMTP_TLS_NONE },
		{ "none", SMTP_TLS_NONE },
		{ "may", SMTP_TLS_MAY },
		{ "MAY", SMTP_TLS_MAY },
		{ "encrypt", SMTP_TLS_ENCRYPT },
		{ "verify", SMTP_TLS_VERIFY },
		{ "secure", SMTP_TLS_SECURE },
		{ "dane", -1 },
		{ "fingerprint", -1 },
		{ "mayy", -1 },
		{ "may ", -1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = smtp_tls_level_parse(cases[i].in);

		cr_expect_eq(got, cases[i].want, "\"%s\": got %d, want %d",
		    cases[i].in, got, cases[i].want);
	}
	cr_expect_str_eq(smtp_tls_level_name(SMTP_TLS_VERIFY), "verify");
	cr_expect_str_eq(smtp_tls_level_name(9), "unknown");
	cr_expect_eq(smtp_tls_level_parse(NULL), SMTP_TLS_NONE);
}

Test(smtp_tls_policy, parse_table)
{
	static const struct {
		const char *in;
		int rc;
		int level;
		const char *match, *protocols, *ciphers, *sni;
		int has_sni;
	} cases[] = {
		{ "encrypt", 0, SMTP_TLS_ENCRYPT, "", "", "", "", 0 },
		{ "  verify   match=mx.example.com ", 0, SMTP_TLS_VERIFY,
		    "mx.example.com", "", "", "", 0 },
		{ "secure match=.example.net:example.net protocols=>=TLSv1.2 "
		  "ciphers=high",
		    0, SMTP_TLS_SECURE, ".example.net:example.net", ">=TLSv1.2",
		    "high", "", 0 },
		{ "may, protocols=!SSLv3", 0, SMTP_TLS_MAY, "", "!SSLv3", "",
		    "", 0 },
		{ "encrypt protocols=!SSLv2:!SSLv3:!TLSv1", 0, SMTP_TLS_ENCRYPT,
		    "", "!SSLv2 !SSLv3 !TLSv1", "", "", 0 },
		{ "verify servername=hostname", 0, SMTP_TLS_VERIFY, "", "", "",
		    "hostname", 1 },
		{ "encrypt servername=", 0, SMTP_TLS_ENCRYPT, "", "", "", "",
		    1 },
		{ "none", 0, SMTP_TLS_NONE, "", "", "", "", 0 },
		{ "dane", PM_EINVAL, -1, "", "", "", "", 0 },
		{ "dane-only match=x", PM_EINVAL, -1, "", "", "", "", 0 },
		{ "", PM_EINVAL, -1, "", "", "", "", 0 },
		{ "   ", PM_EINVAL, -1, "", "", "", "", 0 },
		{ "verify match", PM_EINVAL, -1, "", "", "", "", 0 },
		{ "verify match=", PM_EINVAL, -1, "", "", "", "", 0 },
		{ "verify tafile=/x", PM_EINVAL, -1, "", "", "", "", 0 },
		{ "verify ciphers=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		    PM_EINVAL, -1, "", "", "", "", 0 },
		{ "ver\001ify", PM_EINVAL, -1, "", "", "", "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smtp_tls_policy p;
		char err[200] = "";
		int rc;

		memset(&p, 0x55, sizeof(p));
		rc = smtp_tls_policy_parse(cases[i].in, &p, err, sizeof(err));
		cr_expect_eq(rc, cases[i].rc, "\"%s\": got %d, want %d (%s)",
		    cases[i].in, rc, cases[i].rc, err);
		if (rc != 0) {
			size_t k;

			cr_expect_neq(err[0], 0, "\"%s\": no reason",
			    cases[i].in);
			for (k = 0; err[k]; k++) {
				cr_expect((unsigned char) err[k] >= 32,
				    "\"%s\": reason not printable",
				    cases[i].in);
			}
			/* untouched on failure */
			cr_expect_eq(p.level, 0x55555555);
			continue;
		}
		cr_expect_eq(p.level, cases[i].level, "\"%s\": level %d",
		    cases[i].in, p.level);
		cr_expect_str_eq(p.match, cases[i].match, "\"%s\"",
		    cases[i].in);
		cr_expect_str_eq(p.protocols, cases[i].protocols, "\"%s\"",
		    cases[i].in);
		cr_expect_str_eq(p.ciphers, cases[i].ciphers, "\"%s\"",
		    cases[i].in);
		cr_expect_str_eq(p.servername, cases[i].sni, "\"%s\"",
		    cases[i].in);
		cr_expect_eq(p.has_servername, cases[i].has_sni, "\"%s\"",
		    cases[i].in);
	}
}

Test(smtp_tls_policy, overlong_entry)
{
	char big[SMTP_TLS_POLICY_MAX + 10], err[200];
	smtp_tls_policy p;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	memcpy(big, "verify match=", 13);
	cr_expect_eq(smtp_tls_policy_parse(big, &p, err, sizeof(err)),
	    PM_EINVAL);
	big[300] = 0; /* fits the entry, not the attribute */
	cr_expect_eq(smtp_tls_policy_parse(big, &p, err, sizeof(err)),
	    PM_EINVAL);
}

Test(smtp_tls_policy, keys_in_postfix_order)
{
	static const struct {
		const char *nexthop;
		const char *want[6];
	} cases[] = {
		{ "example.com", { "example.com", ".com" } },
		{ "mx.sub.example.com",
		    { "mx.sub.example.com", ".sub.example.com", ".example.com",
		        ".com" } },
		{ "example.com:587",
		    { "example.com:587", "example.com", ".com" } },
		{ "[mx.example.com]", { "[mx.example.com]" } },
		{ "[mx.example.com]:25", { "[mx.example.com]:25" } },
		{ "[192.0.2.1]:2525", { "[192.0.2.1]:2525" } },
		{ "localhost", { "localhost" } },
		{ "trailing.", { "trailing." } },
		/* an LMTP socket path: verbatim, no ":" or "." splitting */
		{ "/run/dovecot/lmtp", { "/run/dovecot/lmtp" } },
		{ "/var/x.y:z/lmtp.sock", { "/var/x.y:z/lmtp.sock" } },
	};
	char keys[SMTP_TLS_KEYS_MAX][PM_DNS_NAME_MAX + 8];
	size_t i, k, n, want;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = smtp_tls_policy_keys(cases[i].nexthop, keys,
		    SMTP_TLS_KEYS_MAX);
		for (want = 0; want < 6 && cases[i].want[want]; want++) {
			/* count */
		}
		cr_expect_eq(n, want, "%s: got %zu keys, want %zu",
		    cases[i].nexthop, n, want);
		for (k = 0; k < n && k < want; k++) {
			cr_expect_str_eq(keys[k], cases[i].want[k],
			    "%s: key %zu", cases[i].nexthop, k);
		}
	}
	/* bounded: a name of many labels gives at most max keys */
	n = smtp_tls_policy_keys("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t",
	    keys, 4);
	cr_expect_eq(n, 4);
}

Test(smtp_tls_policy, lookup_order)
{
	const char *why = NULL;
	pm_tables *ts = pm_tables_open(
	    "inline:{ example.com=encrypt, .example.com=secure, "
	    "{ [mx.example.com]:25 = verify match=mx.example.com }, "
	    "bad.test=dane, .org=may, { plain.test = none }, "
	    "/run/dovecot/lmtp=encrypt }",
	    &why);
	static const struct {
		const char *nexthop;
		int rc;
		int level;
		const char *match;
	} cases[] = {
		{ "example.com", 0, SMTP_TLS_ENCRYPT, "" },
		{ "EXAMPLE.com", 0, SMTP_TLS_ENCRYPT, "" },
		{ "sub.example.com", 0, SMTP_TLS_SECURE, "" },
		{ "a.b.example.com", 0, SMTP_TLS_SECURE, "" },
		{ "example.com:587", 0, SMTP_TLS_ENCRYPT, "" },
		{ "[mx.example.com]:25", 0, SMTP_TLS_VERIFY, "mx.example.com" },
		/* brackets: no parent domain lookups */
		{ "[mx.example.com]", PM_ENOENT, -1, "" },
		{ "[other.example.com]:25", PM_ENOENT, -1, "" },
		{ "example.org", 0, SMTP_TLS_MAY, "" },
		{ "plain.test", 0, SMTP_TLS_NONE, "" },
		{ "nothing.test", PM_ENOENT, -1, "" },
		{ "bad.test", PM_EINVAL, -1, "" },
		/* an LMTP socket path (without unix:): verbatim only */
		{ "/run/dovecot/lmtp", 0, SMTP_TLS_ENCRYPT, "" },
		{ "/run/other/lmtp", PM_ENOENT, -1, "" },
		{ "/run/dot.example.com", PM_ENOENT, -1, "" },
	};
	size_t i;

	cr_assert_not_null(ts, "%s", why ? why : "");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smtp_tls_policy p;
		char err[300] = "";
		int rc;

		memset(&p, 0, sizeof(p));
		rc = smtp_tls_policy_lookup(ts, cases[i].nexthop, &p, err,
		    sizeof(err));
		cr_expect_eq(rc, cases[i].rc, "%s: got %d, want %d (%s)",
		    cases[i].nexthop, rc, cases[i].rc, err);
		if (rc == PM_EINVAL) {
			cr_expect(strstr(err, "bad.test") != NULL, "%s", err);
		}
		if (rc != 0) {
			continue;
		}
		cr_expect_eq(p.level, cases[i].level, "%s: level %d, want %d",
		    cases[i].nexthop, p.level, cases[i].level);
		cr_expect_str_eq(p.match, cases[i].match, "%s",
		    cases[i].nexthop);
	}
	pm_tables_close(ts);
	/* no tables: nothing found */
	{
		smtp_tls_policy p;
		char err[100];

		cr_expect_eq(smtp_tls_policy_lookup(NULL, "example.com", &p,
		                 err, sizeof(err)),
		    PM_ENOENT);
	}
}

Test(smtp_tls_policy, match_names)
{
	static const struct {
		const char *spec;
		const char *want[5];
	} cases[] = {
		{ "hostname", { "mx1.example.com" } },
		{ "nexthop, dot-nexthop", { "example.com", ".example.com" } },
		{ "nexthop:dot-nexthop", { "example.com", ".example.com" } },
		{ "hostname nexthop hostname",
		    { "mx1.example.com", "example.com" } },
		{ "mx.other.test:.other.test",
		    { "mx.other.test", ".other.test" } },
		{ "HOSTNAME", { "mx1.example.com" } },
		{ "", { NULL } },
		{ " : , ", { NULL } },
	};
	char names[SMTP_TLS_NAMES_MAX][PM_DNS_NAME_MAX + 2];
	size_t i, k, n, want;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = smtp_tls_match_names(cases[i].spec, "mx1.example.com",
		    "example.com", names, SMTP_TLS_NAMES_MAX);
		for (want = 0; want < 5 && cases[i].want[want]; want++) {
			/* count */
		}
		cr_expect_eq(n, want, "\"%s\": got %zu names, want %zu",
		    cases[i].spec, n, want);
		for (k = 0; k < n && k < want; k++) {
			cr_expect_str_eq(names[k], cases[i].want[k],
			    "\"%s\": name %zu", cases[i].spec, k);
		}
	}
	/* bounded */
	n = smtp_tls_match_names("a:b:c:d:e:f:g:h:i:j:k", "h", "n", names,
	    SMTP_TLS_NAMES_MAX);
	cr_expect_eq(n, SMTP_TLS_NAMES_MAX);
}

/*
 * The connection cache key and smtp_tls_fits(): a plaintext connection
 * never serves a job that requires TLS, and a TLS connection never
 * serves another policy (smtp_tls.c).
 */
Test(smtp_tls_policy, cache_key_and_fits)
{
	smtp_tls_policy none, may, enc, ver, ver2, ver3;
	char k[6][64];
	smtp_sess s;
	smtp_tls_sess t;
	size_t i, j;

	memset(&none, 0, sizeof(none));
	may = enc = ver = ver2 = ver3 = none;
	may.level = SMTP_TLS_MAY;
	enc.level = SMTP_TLS_ENCRYPT;
	ver.level = ver2.level = ver3.level = SMTP_TLS_VERIFY;
	snprintf(ver2.match, sizeof(ver2.match), "mx.example.com");
	snprintf(ver3.protocols, sizeof(ver3.protocols), ">=TLSv1.2");
	smtp_tls_cache_key(&none, k[0], sizeof(k[0]));
	smtp_tls_cache_key(&may, k[1], sizeof(k[1]));
	smtp_tls_cache_key(&enc, k[2], sizeof(k[2]));
	smtp_tls_cache_key(&ver, k[3], sizeof(k[3]));
	smtp_tls_cache_key(&ver2, k[4], sizeof(k[4]));
	smtp_tls_cache_key(&ver3, k[5], sizeof(k[5]));
	cr_expect_str_eq(k[0], "tls=none");
	cr_expect(strncmp(k[3], "tls=verify:", 11) == 0, "%s", k[3]);
	for (i = 0; i < 6; i++) {
		for (j = i + 1; j < 6; j++) {
			cr_expect_str_neq(k[i], k[j], "keys %zu and %zu", i, j);
		}
	}
	/* the same policy gives the same key */
	{
		char again[64];
		smtp_tls_policy copy = ver2;

		smtp_tls_cache_key(&copy, again, sizeof(again));
		cr_expect_str_eq(again, k[4]);
	}
	/* settings read again (SIGHUP): connections and sessions of the
	 * old generation serve no new job */
	{
		char newer[64], skey[2][SMTP_TLS_SKEY_MAX];
		smtp_tls_policy reloaded = ver2;

		reloaded.gen = ver2.gen + 2;
		smtp_tls_cache_key(&reloaded, newer, sizeof(newer));
		cr_expect_str_neq(newer, k[4]);
		cr_expect(strncmp(newer, "tls=verify:", 11) == 0, "%s", newer);
		cr_expect(smtp_tls_session_key("[192.0.2.1]:25", "", &ver2,
		              NULL, 0, skey[0], sizeof(skey[0])) == 0);
		cr_expect(smtp_tls_session_key("[192.0.2.1]:25", "", &reloaded,
		              NULL, 0, skey[1], sizeof(skey[1])) == 0);
		cr_expect_str_neq(skey[0], skey[1]);
	}

	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	/* a connection without TLS state (level none) */
	cr_expect(smtp_tls_fits(&s, &none, "", "n"));
	cr_expect(!smtp_tls_fits(&s, &may, "", "n"));
	cr_expect(!smtp_tls_fits(&s, &enc, "", "n"));
	/* plaintext under may: only for may */
	t.pol = may;
	s.tls = &t;
	cr_expect(smtp_tls_fits(&s, &may, "", "n"));
	cr_expect(!smtp_tls_fits(&s, &enc, "", "n"));
	cr_expect(!smtp_tls_fits(&s, &none, "", "n"));
	/* an encrypt-level session without TLS up never fits encrypt */
	t.pol = enc;
	cr_expect(!smtp_tls_fits(&s, &enc, "", "n"));
	t.ssl = (SSL *) &t; /* only compared with NULL */
	cr_expect(smtp_tls_fits(&s, &enc, "", "n"));
	cr_expect(!smtp_tls_fits(&s, &ver, "hostname", "n"));
	/* verify: only a verified session (names: test cert_names) */
	t.pol = ver;
	t.trust = "Trusted";
	cr_expect(!smtp_tls_fits(&s, &ver, "hostname", "n"));
}

/* A certificate for these DNS names (not signed: only names matter). */
static X509 *
cert_for(const char *cn, const char *san)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	X509_EXTENSION *ext;
	X509V3_CTX ctx;

	cr_assert_not_null(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *) cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_NAME_free(name);
	if (san != NULL) {
		X509V3_set_ctx_nodb(&ctx);
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext =
		    X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
		cr_assert_not_null(ext, "%s", san);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	return (x);
}

/*
 * Certificate names as SSL_set1_host checks them: any one name; no
 * partial wildcards; ".example.com" matches subdomains only; the CN
 * only without DNS subjectAltNames.
 */
Test(smtp_tls_policy, cert_names)
{
	char names[SMTP_TLS_NAMES_MAX][PM_DNS_NAME_MAX + 2];
	X509 *good = cert_for("mx.good.test", "DNS:mx.good.test");
	X509 *wild = cert_for("x", "DNS:*.good.test, DNS:mx*.part.test");
	X509 *cn = cert_for("mx.cn.test", NULL);
	size_t n;

	n = smtp_tls_match_names("hostname", "mx.good.test", "good.test", names,
	    SMTP_TLS_NAMES_MAX);
	cr_expect(smtp_tls_cert_matches(good, names, n));
	n = smtp_tls_match_names("hostname", "MX.GOOD.TEST", "good.test", names,
	    SMTP_TLS_NAMES_MAX);
	cr_expect(smtp_tls_cert_matches(good, names, n));
	n = smtp_tls_match_names("hostname", "mx.bank.test", "bank.test", names,
	    SMTP_TLS_NAMES_MAX);
	cr_expect(!smtp_tls_cert_matches(good, names, n));
	/* one of several is enough */
	n = smtp_tls_match_names("nexthop:dot-nexthop", "mx.bank.test",
	    "good.test", names, SMTP_TLS_NAMES_MAX);
	cr_expect(smtp_tls_cert_matches(good, names, n));
	n = smtp_tls_match_names("nexthop", "mx.good.test", "good.test", names,
	    SMTP_TLS_NAMES_MAX);
	cr_expect(!smtp_tls_cert_matches(good, names, n));
	/* wildcards: whole labels only */
	n = smtp_tls_match_names("hostname", "a.good.test", "", names,
	    SMTP_TLS_NAMES_MAX);
	cr_expect(smtp_tls_cert_matches(wild, names, n));
	n = smtp_tls_match_names("hostname", "a.b.good.test", "", names,
	    SMTP_TLS_NAMES_MAX);
	cr_expect(!smtp_tls_cert_matches(wild, names, n));
	n = smtp_tls_match_names("hostname", "mx1.part.test", "", names,
	    SMTP_TLS_NAMES_MAX);
	cr_expect(!smtp_tls_cert_matches(wild, names, n));
	/* the CN when there is no DNS subjectAltName */
	n = smtp_tls_match_names("hostname", "mx.cn.test", "", names,
	    SMTP_TLS_NAMES_MAX);
	cr_expect(smtp_tls_cert_matches(cn, names, n));
	/* no names, no certificate: no match */
	cr_expect(!smtp_tls_cert_matches(good, names, 0));
	cr_expect(!smtp_tls_cert_matches(NULL, names, n));
	X509_free(good);
	X509_free(wild);
	X509_free(cn);
}

/*
 * The TLS session cache key holds the resolved names (and SNI), not
 * only the spec: two jobs with the same policy and server but other
 * names never share a session (REVIEW9 #2).
 */
Test(smtp_tls_policy, session_key)
{
	char names[SMTP_TLS_NAMES_MAX][PM_DNS_NAME_MAX + 2];
	char ka[SMTP_TLS_SKEY_MAX], kb[SMTP_TLS_SKEY_MAX],
	    kc[SMTP_TLS_SKEY_MAX];
	char small[40];
	smtp_tls_policy ver;
	size_t n;

	memset(&ver, 0, sizeof(ver));
	ver.level = SMTP_TLS_VERIFY;
	n = smtp_tls_match_names("hostname", "mx.good.test", "atk.test", names,
	    SMTP_TLS_NAMES_MAX);
	cr_assert_eq(smtp_tls_session_key("[192.0.2.1]:25", "", &ver, names, n,
	                 ka, sizeof(ka)),
	    0);
	cr_expect(strstr(ka, "[192.0.2.1]:25||tls=verify:") == ka, "%s", ka);
	cr_expect(strstr(ka, "|mx.good.test") != NULL, "%s", ka);
	n = smtp_tls_match_names("hostname", "mx.bank.test", "bank.test", names,
	    SMTP_TLS_NAMES_MAX);
	cr_assert_eq(smtp_tls_session_key("[192.0.2.1]:25", "", &ver, names, n,
	                 kb, sizeof(kb)),
	    0);
	cr_expect_str_neq(ka, kb);
	/* the same names from another nexthop: the same key (resumes) */
	n = smtp_tls_match_names("hostname", "MX.good.test", "atk2.test", names,
	    SMTP_TLS_NAMES_MAX);
	cr_assert_eq(smtp_tls_session_key("[192.0.2.1]:25", "", &ver, names, n,
	                 kc, sizeof(kc)),
	    0);
	cr_expect_str_eq(ka, kc);
	/* SNI and address are part of it */
	cr_assert_eq(smtp_tls_session_key("[192.0.2.1]:25", "mx.good.test",
	                 &ver, names, n, kc, sizeof(kc)),
	    0);
	cr_expect_str_neq(ka, kc);
	cr_assert_eq(smtp_tls_session_key("[192.0.2.2]:25", "", &ver, names, n,
	                 kc, sizeof(kc)),
	    0);
	cr_expect_str_neq(ka, kc);
	/* the largest input fits */
	memset(names, 'a', sizeof(names));
	for (n = 0; n < SMTP_TLS_NAMES_MAX; n++) {
		names[n][0] = '.';
		names[n][PM_DNS_NAME_MAX + 1] = 0;
	}
	memset(kb, 'b', PM_DNS_NAME_MAX);
	kb[PM_DNS_NAME_MAX] = 0;
	cr_expect_eq(
	    smtp_tls_session_key(
	        "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535", kb,
	        &ver, names, SMTP_TLS_NAMES_MAX, ka, sizeof(ka)),
	    0);
	/* too long: no key, never a truncated one */
	cr_expect_eq(smtp_tls_session_key("[192.0.2.1]:25", "", &ver, names, 1,
	                 small, sizeof(small)),
	    PM_EINVAL);
	cr_expect_str_eq(small, "");
}

/*
 * A cached connection verified for one job serves another at verify
 * only when its certificate has that job's names.
 */
Test(smtp_tls_policy, fits_checks_names)
{
	smtp_tls_policy ver;
	smtp_sess s;
	smtp_tls_sess t;
	X509 *good = cert_for("mx.good.test", "DNS:mx.good.test");

	memset(&ver, 0, sizeof(ver));
	ver.level = SMTP_TLS_VERIFY;
	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	t.pol = ver;
	t.ssl = (SSL *) &t; /* only compared with NULL */
	t.trust = "Verified";
	snprintf(t.host, sizeof(t.host), "mx.good.test");
	s.tls = &t;
	cr_expect(!smtp_tls_fits(&s, &ver, "hostname", "good.test"),
	    "no certificate");
	t.peer = good;
	cr_expect(smtp_tls_fits(&s, &ver, "hostname", "good.test"));
	cr_expect(smtp_tls_fits(&s, &ver, "hostname", "other.test"));
	cr_expect(!smtp_tls_fits(&s, &ver, "nexthop", "bank.test"));
	cr_expect(smtp_tls_fits(&s, &ver, "nexthop:mx.good.test", "bank.test"));
	cr_expect(!smtp_tls_fits(&s, &ver, "", "bank.test"), "no names");
	X509_free(good);
}
