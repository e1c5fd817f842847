/*
 * NAME
 *	test_smtpd_tls - unit tests for smtpd's TLS parts without a network:
 *	security levels, ticket key parsing, the refresh schedule, and
 *	session tickets across key rotation
 * DESCRIPTION
 *	The ticket test runs TLS 1.2 handshakes in memory (a BIO pair)
 *	between a server context with smtpd's ticket callback and a
 *	client that offers the session of the previous handshake: a
 *	ticket resumes while its key is current or previous, and never
 *	after that or without keys (a full handshake, no error).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "pm_qstore_ticket.h"
#include "pm_tls.h"
#include "smtpd_tls.h"

Test(smtpd_tls, level_parse)
{
	static const struct {
		const char *in;
		int want;
	} t[] = {
		{ "", SMTPD_TLS_NONE },
		{ "none", SMTPD_TLS_NONE },
		{ "may", SMTPD_TLS_MAY },
		{ "encrypt", SMTPD_TLS_ENCRYPT },
		{ "verify", PM_EINVAL },
		{ "MAY", PM_EINVAL },
		{ "may ", PM_EINVAL },
		{ "dane", PM_EINVAL },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = smtpd_tls_level_parse(t[i].in);

		cr_expect_eq(got, t[i].want, "\"%s\": got %d, want %d", t[i].in,
		    got, t[i].want);
	}
}

Test(smtpd_tls, key_parse)
{
	char hex[2 * PM_TICKET_KEY_LEN + 2];
	unsigned char out[PM_TICKET_KEY_LEN];
	size_t i;

	for (i = 0; i < 2 * PM_TICKET_KEY_LEN; i++) {
		hex[i] = "0123456789abcdefABCDEF"[i % 22];
	}
	hex[2 * PM_TICKET_KEY_LEN] = 0;
	cr_assert_eq(pm_ticket_key_parse(hex, strlen(hex), out), 0);
	cr_expect_eq(out[0], 0x01);
	cr_expect_eq(out[5], 0xab);
	cr_expect_eq(out[7], 0xef);
	cr_expect_eq(out[8], 0xAB);

	/* Bad input leaves out untouched. */
	memset(out, 0x5a, sizeof(out));
	cr_expect_eq(pm_ticket_key_parse(hex, strlen(hex) - 1, out), PM_EINVAL,
	    "short");
	hex[2 * PM_TICKET_KEY_LEN] = '0';
	hex[2 * PM_TICKET_KEY_LEN + 1] = 0;
	cr_expect_eq(pm_ticket_key_parse(hex, strlen(hex), out), PM_EINVAL,
	    "long");
	hex[2 * PM_TICKET_KEY_LEN] = 0;
	hex[7] = 'g';
	cr_expect_eq(pm_ticket_key_parse(hex, strlen(hex), out), PM_EINVAL,
	    "not hex");
	hex[7] = 0;
	cr_expect_eq(pm_ticket_key_parse(hex, 2 * PM_TICKET_KEY_LEN, out),
	    PM_EINVAL, "NUL");
	cr_expect_eq(pm_ticket_key_parse("", 0, out), PM_EINVAL, "empty");
	for (i = 0; i < sizeof(out); i++) {
		cr_assert_eq(out[i], 0x5a, "out changed at %zu", i);
	}
}

Test(smtpd_tls, refresh_wait)
{
	static const struct {
		long now, at, life;
		int ok;
		long want;
	} t[] = {
		{ 1000, 1000, 3600, 1, 60 }, /* long way to go: cap */
		{ 1000, 990, 20, 1, 10 },    /* due in 10 s */
		{ 1000, 980, 20, 1, 1 },     /* due now: soon again */
		{ 1000, 900, 20, 1, 1 },     /* overdue */
		{ 1000, 2000, 20, 1, 60 },   /* key from the future: cap */
		{ 0, 0, 3600, 0, 5 },        /* Redis away: retry */
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		long got = smtpd_tls_ticket_wait(t[i].now, t[i].at, t[i].life,
		    t[i].ok);

		cr_expect_eq(got, t[i].want, "case %zu: got %ld, want %ld", i,
		    got, t[i].want);
	}
}

/* Ticket handshakes. */

static char dir[] = "/tmp/pm_test_smtpd_tls.XXXXXX";

static SSL_CTX *
server_ctx(void)
{
	char chain[256], err[512];
	pm_tls_conf conf;
	SSL_CTX *ctx;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(chain, sizeof(chain),
	    "cd %s && openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=mx.test "
	    "-keyout k.pem -out c.pem 2>/dev/null && cat k.pem c.pem > "
	    "chain.pem",
	    dir);
	cr_assert_eq(system(chain), 0);
	snprintf(chain, sizeof(chain), "%s/chain.pem", dir);
	memset(&conf, 0, sizeof(conf));
	conf.server = 1;
	conf.chain_files = chain;
	conf.protocols = ">=TLSv1.2";
	ctx = pm_tls_ctx_new(&conf, err, sizeof(err));
	cr_assert_not_null(ctx, "%s", err);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(ctx, 3600);
	smtpd_tls_ticket_use(ctx);
	snprintf(chain, sizeof(chain), "rm -rf %s", dir);
	cr_assert_eq(system(chain), 0);
	return (ctx);
}

/* One handshake; 1 if the session was resumed. *out: the new session. */
static int
handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *in, SSL_SESSION **out)
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	BIO *bs, *bc;
	int i, reused;

	cr_assert(BIO_new_bio_pair(&bs, 0, &bc, 0) == 1);
	SSL_set_bio(s, bs, bs);
	SSL_set_bio(c, bc, bc);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	if (in != NULL) {
		cr_assert(SSL_set_session(c, in) == 1);
	}
	for (i = 0;
	     i < 50 && !(SSL_is_init_finished(s) && SSL_is_init_finished(c));
	     i++) {
		(void) SSL_do_handshake(c);
		(void) SSL_do_handshake(s);
	}
	cr_assert(SSL_is_init_finished(s) && SSL_is_init_finished(c),
	    "handshake did not finish");
	reused = SSL_session_reused(s);
	cr_assert_eq(reused, SSL_session_reused(c));
	if (out != NULL) {
		*out = SSL_get1_session(c);
	}
	/* A session freed without shutdown is marked not resumable. */
	(void) SSL_shutdown(c);
	(void) SSL_shutdown(s);
	SSL_free(s);
	SSL_free(c);
	return (reused);
}

static void
fill(pm_ticket_keys *k, int cur, int prev)
{
	memset(k, 0, sizeof(*k));
	memset(k->cur, cur, sizeof(k->cur));
	if (prev != 0) {
		memset(k->prev, prev, sizeof(k->prev));
		k->have_prev = 1;
	}
}

Test(smtpd_tls, tickets_across_rotation)
{
	SSL_CTX *sctx = server_ctx();
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_SESSION *s1 = NULL, *s2 = NULL, *s3 = NULL;
	pm_ticket_keys k;

	/* TLS 1.2: the ticket comes within the handshake. */
	cr_assert(SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION) == 1);
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);

	/* No keys: full handshakes, no ticket, no error. */
	(void) smtpd_tls_ticket_set(NULL);
	cr_expect_eq(handshake(sctx, cctx, NULL, &s1), 0);
	cr_expect_eq(SSL_SESSION_has_ticket(s1), 0, "ticket without keys");
	SSL_SESSION_free(s1);

	/* Keys K1: a ticket that resumes. */
	fill(&k, 0x11, 0);
	cr_expect_eq(smtpd_tls_ticket_set(&k), 2);
	cr_expect_eq(smtpd_tls_ticket_set(&k), 0);
	cr_assert_eq(handshake(sctx, cctx, NULL, &s1), 0);
	cr_assert(SSL_SESSION_has_ticket(s1));
	cr_expect_eq(handshake(sctx, cctx, s1, NULL), 1, "K1 ticket, K1 cur");

	/* Rotated (K2 cur, K1 prev): still resumes, and is renewed. */
	fill(&k, 0x22, 0x11);
	cr_expect_eq(smtpd_tls_ticket_set(&k), 1);
	cr_expect_eq(handshake(sctx, cctx, s1, &s2), 1, "K1 ticket, K1 prev");
	cr_expect_eq(handshake(sctx, cctx, s2, &s3), 1, "renewed under K2");

	/* Rotated again (K3, K2): the K1 ticket is dead, K2's lives. */
	fill(&k, 0x33, 0x22);
	(void) smtpd_tls_ticket_set(&k);
	cr_expect_eq(handshake(sctx, cctx, s1, NULL), 0, "K1 ticket after 2");
	cr_expect_eq(handshake(sctx, cctx, s3, NULL), 1, "K2 ticket, K2 prev");

	/* Keys forgotten: nothing resumes. */
	(void) smtpd_tls_ticket_set(NULL);
	cr_expect_eq(handshake(sctx, cctx, s3, NULL), 0, "no keys");

	SSL_SESSION_free(s1);
	SSL_SESSION_free(s2);
	SSL_SESSION_free(s3);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
}
