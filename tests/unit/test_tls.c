/*
 * NAME
 *	test_tls - unit tests for pm_tls: protocol lists, cipher grades,
 *	chain files (RSA and ECDSA), handshake summaries
 * DESCRIPTION
 *	Keys and certificates are made by the openssl command in a
 *	temporary directory at the start of each chain test. Handshakes
 *	run in memory (a BIO pair between a server and a client SSL), so
 *	the chain a client gets is the one OpenSSL picked from the
 *	context: an ECDSA-only client must get the ECDSA leaf, an
 *	RSA-only client the RSA leaf.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "pm_tls.h"
#include "pm_util.h"

static char dir[] = "/tmp/pm_test_tls.XXXXXX";

static void
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "command failed: %s", cmd);
}

static void
make_certs(void)
{
	cr_assert_not_null(mkdtemp(dir));
	sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
	   "-subj /CN=rsa.test -keyout rsa.key -out rsa.crt 2>/dev/null",
	    dir);
	sh("cd %s && openssl req -x509 -newkey ec -pkeyopt "
	   "ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=ec.test "
	   "-keyout ec.key -out ec.crt 2>/dev/null",
	    dir);
	sh("cd %s && cat rsa.key rsa.crt ec.key ec.crt > both.pem && "
	   "cat rsa.crt rsa.key > certfirst.pem && "
	   "cat rsa.key ec.crt > mismatch.pem && cat rsa.key > keyonly.pem",
	    dir);
}

static void
rm_certs(void)
{
	sh("rm -rf %s", dir);
}

static char *
path(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return (buf[i]);
}

Test(tls_proto, ranges)
{
	static const struct {
		const char *spec;
		int min, max; /* -1: error */
	} t[] = {
		{ "", 0, 0 },
		{ " , ", 0, 0 },
		{ ">=TLSv1.2", TLS1_2_VERSION, TLS1_3_VERSION },
		{ "!SSLv2, !SSLv3", TLS1_VERSION, TLS1_3_VERSION },
		{ "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", TLS1_2_VERSION,
		    TLS1_3_VERSION },
		{ "TLSv1.2", TLS1_2_VERSION, TLS1_2_VERSION },
		{ "TLSv1.2 TLSv1.3", TLS1_2_VERSION, TLS1_3_VERSION },
		{ "<=TLSv1.2, >=TLSv1.2", TLS1_2_VERSION, TLS1_2_VERSION },
		{ ">=tlsv1.1", TLS1_1_VERSION, TLS1_3_VERSION },
		{ "!TLSv1.2", -1, -1 }, /* gap between 1.1 and 1.3 */
		{ "TLSv1.4", -1, -1 },  /* unknown */
		{ "SSLv3", -1, -1 },    /* nothing OpenSSL 3 supports */
		{ "!TLSv1.3, >=TLSv1.3", -1, -1 },
		{ "=TLSv1.2", -1, -1 },
	};
	size_t i;
	char err[256];
	int min, max, rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err[0] = 0;
		rc = pm_tls_protocol_range(t[i].spec, &min, &max, err,
		    sizeof(err));
		if (t[i].min < 0) {
			cr_expect_eq(rc, PM_EINVAL, "\"%s\" accepted",
			    t[i].spec);
			cr_expect_neq(err[0], 0, "\"%s\": no reason",
			    t[i].spec);
		} else {
			cr_expect_eq(rc, PM_OK, "\"%s\": %s", t[i].spec, err);
			cr_expect_eq(min, t[i].min, "\"%s\" min %x", t[i].spec,
			    min);
			cr_expect_eq(max, t[i].max, "\"%s\" max %x", t[i].spec,
			    max);
		}
	}
	cr_expect_str_eq(pm_tls_version_name(TLS1_3_VERSION), "TLSv1.3");
	cr_expect_str_eq(pm_tls_version_name(12345), "unknown");
}

Test(tls_proto, ciphers)
{
	char buf[256], err[256];

	cr_assert_eq(pm_tls_cipher_list("high", "", buf, sizeof(buf), err,
	                 sizeof(err)),
	    PM_OK);
	cr_expect_str_eq(buf, "HIGH:!aNULL:!eNULL:@STRENGTH");
	cr_assert_eq(pm_tls_cipher_list("", NULL, buf, sizeof(buf), err,
	                 sizeof(err)),
	    PM_OK);
	cr_expect_str_eq(buf, "HIGH:MEDIUM:!aNULL:!eNULL:@STRENGTH");
	cr_assert_eq(pm_tls_cipher_list("medium", "RC4, aNULL SEED", buf,
	                 sizeof(buf), err, sizeof(err)),
	    PM_OK);
	cr_expect_str_eq(buf,
	    "HIGH:MEDIUM:!aNULL:!eNULL:@STRENGTH:!RC4:!aNULL:!SEED");
	cr_expect_eq(pm_tls_cipher_list("export", "", buf, sizeof(buf), err,
	                 sizeof(err)),
	    PM_EINVAL);
	cr_expect_eq(pm_tls_cipher_list("high", "A:B", buf, sizeof(buf), err,
	                 sizeof(err)),
	    PM_EINVAL);
	cr_expect_eq(pm_tls_cipher_list("high", "ABCDEFGHIJ", buf, 30, err,
	                 sizeof(err)),
	    PM_ETOOBIG);
}

/* Handshake srv with a client limited to sigalgs (NULL: any). */
static SSL *
handshake(SSL_CTX *srv, const char *client_sigalgs, SSL **server_out)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *c, *s;
	BIO *cb, *sb;
	int i, rc, done_c = 0, done_s = 0;

	cr_assert_not_null(cctx);
	if (client_sigalgs != NULL) {
		cr_assert_eq(SSL_CTX_set1_sigalgs_list(cctx, client_sigalgs),
		    1);
	}
	c = SSL_new(cctx);
	s = SSL_new(srv);
	SSL_CTX_free(cctx);
	cr_assert_eq(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (i = 0; i < 100 && !(done_c && done_s); i++) {
		if (!done_c) {
			rc = SSL_do_handshake(c);
			done_c = rc == 1;
		}
		if (!done_s) {
			rc = SSL_do_handshake(s);
			done_s = rc == 1;
		}
	}
	cr_assert(done_c && done_s, "handshake did not finish");
	*server_out = s;
	return (c);
}

static char *
peer_cn(SSL *c)
{
	static char cn[128];
	X509 *x = SSL_get1_peer_certificate(c);

	cr_assert_not_null(x);
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
	    sizeof(cn));
	X509_free(x);
	return (cn);
}

Test(tls_chain, rsa_and_ecdsa, .init = make_certs, .fini = rm_certs)
{
	pm_tls_conf conf = { .server = 1, .chain_files = path("both.pem") };
	char err[512], sum[256];
	SSL_CTX *ctx = pm_tls_ctx_new(&conf, err, sizeof(err));
	SSL *c, *s;

	cr_assert_not_null(ctx, "%s", err);
	c = handshake(ctx, "ECDSA+SHA256", &s);
	cr_expect_str_eq(peer_cn(c), "ec.test");
	pm_tls_summary(c, sum, sizeof(sum));
	cr_expect(strncmp(sum, "TLSv1.3 with cipher TLS_", 24) == 0, "%s", sum);
	cr_expect(strstr(sum, " bits) key-exchange X25519") != NULL, "%s", sum);
	SSL_free(c);
	SSL_free(s);
	c = handshake(ctx, "RSA-PSS+SHA256:RSA+SHA256", &s);
	cr_expect_str_eq(peer_cn(c), "rsa.test");
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(ctx);
}

Test(tls_chain, protocols_apply, .init = make_certs, .fini = rm_certs)
{
	pm_tls_conf conf = { .server = 1,
		.chain_files = path("both.pem"),
		.protocols = "<=TLSv1.2" };
	char err[512], sum[256];
	SSL_CTX *ctx = pm_tls_ctx_new(&conf, err, sizeof(err));
	SSL *c, *s;

	cr_assert_not_null(ctx, "%s", err);
	c = handshake(ctx, NULL, &s);
	pm_tls_summary(s, sum, sizeof(sum));
	cr_expect(strncmp(sum, "TLSv1.2 with cipher ECDHE-", 26) == 0, "%s",
	    sum);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(ctx);
}

Test(tls_chain, legacy_pair, .init = make_certs, .fini = rm_certs)
{
	pm_tls_conf conf = { .server = 1,
		.cert_file = path("rsa.crt"),
		.key_file = path("rsa.key") };
	char err[512];
	SSL_CTX *ctx = pm_tls_ctx_new(&conf, err, sizeof(err));
	SSL *c, *s;

	cr_assert_not_null(ctx, "%s", err);
	c = handshake(ctx, NULL, &s);
	cr_expect_str_eq(peer_cn(c), "rsa.test");
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(ctx);
}

Test(tls_chain, legacy_one_file_cert_first, .init = make_certs,
    .fini = rm_certs)
{
	pm_tls_conf conf = { .server = 1, .cert_file = path("certfirst.pem") };
	pm_tls_conf two = { .server = 1, .cert_file = path("both.pem") };
	char err[512];
	SSL_CTX *ctx = pm_tls_ctx_new(&conf, err, sizeof(err));
	SSL *c, *s;

	cr_assert_not_null(ctx, "%s", err);
	c = handshake(ctx, NULL, &s);
	cr_expect_str_eq(peer_cn(c), "rsa.test");
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(ctx);
	/* One chain only through cert_file: two keys are an error. */
	cr_expect_null(pm_tls_ctx_new(&two, err, sizeof(err)));
	cr_expect(strstr(err, "more than one private key") != NULL, "%s", err);
}

Test(tls_chain, bad_files, .init = make_certs, .fini = rm_certs)
{
	static const struct {
		const char *file;
		const char *why;
	} t[] = {
		{ "certfirst.pem", "certificate before any private key" },
		{ "mismatch.pem", "do not go together" },
		{ "keyonly.pem", "without a certificate" },
		{ "missing.pem", "cannot open" },
	};
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pm_tls_conf conf = { .server = 1,
			.chain_files = path(t[i].file) };

		err[0] = 0;
		cr_expect_null(pm_tls_ctx_new(&conf, err, sizeof(err)), "%s",
		    t[i].file);
		cr_expect(strstr(err, t[i].why) != NULL, "%s: %s", t[i].file,
		    err);
		cr_expect(strstr(err, t[i].file) != NULL, "%s: %s", t[i].file,
		    err);
	}
}
