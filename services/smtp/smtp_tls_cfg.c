/*
 * NAME
 *	smtp_tls_cfg - the client TLS configuration of smtp and lmtp, and
 *	its replacement on SIGHUP
 * DESCRIPTION
 *	One rule for both protocols: a configuration is built from the
 *	smtp_tls_* parameters for SMTP deliveries and from the lmtp_tls_*
 *	parameters (Postfix's lmtp(8) names) for LMTP deliveries; the
 *	level, policy table, verification and contexts are then the same
 *	code (smtp_tls.c, smtp_tls_policy.c). A configuration holds
 *	copies of the values, the parsed security level, the opened
 *	policy table and the SSL_CTXs built for it.
 *
 *	Configurations are reference counted. A job takes a reference
 *	with its policy (smtp_tls_policy_for), a connection with TLS
 *	keeps one until it is closed. smtp_tls_cfg_load() builds new
 *	configurations for both protocols and, only if both are good,
 *	makes them current; the old ones are freed when the last job or
 *	connection using them lets go, so that a SIGHUP never frees a
 *	context or table in use. Each configuration has a new generation
 *	number, which is part of the connection and TLS session cache
 *	keys: new jobs use neither connections nor TLS sessions of the
 *	old settings (those expire from the caches as usual).
 * LIMITS
 *	SMTP_TLS_CTX_MAX contexts kept per configuration.
 * SECURITY
 *	Parameter values are operator input: a bad value or a table that
 *	does not open is fatal at start and keeps the running
 *	configuration on reload.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_log.h"
#include "pm_server.h"
#include "pm_tls.h"
#include "pm_util.h"
#include "smtp_tls.h"
#include "smtp_tls_params.h"

/* The bound parameters of each protocol, in SMTP_TLS_P_* order. */
static char **const vars[2][SMTP_TLS_P_N] = {
	{ &var_smtp_tls_level, &var_smtp_tls_policy, &var_smtp_tls_cafile,
	    &var_smtp_tls_capath, &var_smtp_tls_sni, &var_smtp_tls_vfy_match,
	    &var_smtp_tls_sec_match, &var_smtp_tls_protos,
	    &var_smtp_tls_mand_protos, &var_smtp_tls_ciphers,
	    &var_smtp_tls_mand_ciphers, &var_smtp_tls_excl_ciphers,
	    &var_smtp_tls_chain },
	{ &var_lmtp_tls_level, &var_lmtp_tls_policy, &var_lmtp_tls_cafile,
	    &var_lmtp_tls_capath, &var_lmtp_tls_sni, &var_lmtp_tls_vfy_match,
	    &var_lmtp_tls_sec_match, &var_lmtp_tls_protos,
	    &var_lmtp_tls_mand_protos, &var_lmtp_tls_ciphers,
	    &var_lmtp_tls_mand_ciphers, &var_lmtp_tls_excl_ciphers,
	    &var_lmtp_tls_chain },
};
static const char *const names[2][SMTP_TLS_P_N] = {
	{ VAR_SMTP_TLS_LEVEL, VAR_SMTP_TLS_POLICY, VAR_SMTP_TLS_CAFILE,
	    VAR_SMTP_TLS_CAPATH, VAR_SMTP_TLS_SNI, VAR_SMTP_TLS_VFY_MATCH,
	    VAR_SMTP_TLS_SEC_MATCH, VAR_SMTP_TLS_PROTOS,
	    VAR_SMTP_TLS_MAND_PROTOS, VAR_SMTP_TLS_CIPHERS,
	    VAR_SMTP_TLS_MAND_CIPHERS, VAR_SMTP_TLS_EXCL_CIPHERS,
	    VAR_SMTP_TLS_CHAIN },
	{ VAR_LMTP_TLS_LEVEL, VAR_LMTP_TLS_POLICY, VAR_LMTP_TLS_CAFILE,
	    VAR_LMTP_TLS_CAPATH, VAR_LMTP_TLS_SNI, VAR_LMTP_TLS_VFY_MATCH,
	    VAR_LMTP_TLS_SEC_MATCH, VAR_LMTP_TLS_PROTOS,
	    VAR_LMTP_TLS_MAND_PROTOS, VAR_LMTP_TLS_CIPHERS,
	    VAR_LMTP_TLS_MAND_CIPHERS, VAR_LMTP_TLS_EXCL_CIPHERS,
	    VAR_LMTP_TLS_CHAIN },
};

static pthread_mutex_t cur_mu = PTHREAD_MUTEX_INITIALIZER;
static smtp_tls_cfg *cur[2]; /* under cur_mu */
static unsigned last_gen;    /* signal thread (and start) only */

const char *
smtp_tls_cfg_name(int lmtp, int param)
{
	return (names[lmtp != 0][param]);
}

static SSL_CTX *
ctx_build(smtp_tls_cfg *c, const char *protocols, const char *ciphers,
    const char *exclude, char *err, size_t esize)
{
	pm_tls_conf conf = {
		.server = 0,
		.chain_files = c->v[SMTP_TLS_P_CHAIN],
		.cert_file = "",
		.key_file = "",
		.ca_file = c->v[SMTP_TLS_P_CAFILE],
		.ca_path = c->v[SMTP_TLS_P_CAPATH],
		.protocols = protocols,
		.ciphers = ciphers,
		.exclude_ciphers = exclude,
	};
	SSL_CTX *ctx = pm_tls_ctx_new(&conf, err, esize);

	if (ctx != NULL) {
		SSL_CTX_set_session_cache_mode(ctx,
		    SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, smtp_tls_new_session);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return (ctx);
}

SSL_CTX *
smtp_tls_cfg_ctx(smtp_tls_cfg *c, const char *protocols, const char *ciphers,
    const char *exclude, char *err, size_t esize)
{
	char key[sizeof(c->ctxs[0].key)];
	SSL_CTX *ctx = NULL;
	int i;

	snprintf(key, sizeof(key), "%s|%s|%s", protocols, ciphers, exclude);
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->nctx; i++) {
		if (strcmp(c->ctxs[i].key, key) == 0) {
			ctx = c->ctxs[i].ctx;
			SSL_CTX_up_ref(ctx);
			break;
		}
	}
	if (ctx == NULL &&
	    (ctx = ctx_build(c, protocols, ciphers, exclude, err, esize)) !=
	        NULL &&
	    c->nctx < SMTP_TLS_CTX_MAX) {
		memcpy(c->ctxs[c->nctx].key, key, sizeof(key));
		c->ctxs[c->nctx++].ctx = ctx;
		SSL_CTX_up_ref(ctx);
	}
	pthread_mutex_unlock(&c->mu);
	return (ctx);
}

static void
cfg_free(smtp_tls_cfg *c)
{
	int i;

	for (i = 0; i < c->nctx; i++) {
		SSL_CTX_free(c->ctxs[i].ctx);
	}
	for (i = 0; i < SMTP_TLS_P_N; i++) {
		free(c->v[i]);
	}
	(void) pm_tables_close(c->maps);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

smtp_tls_cfg *
smtp_tls_cfg_ref(smtp_tls_cfg *c)
{
	if (c != NULL) {
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	}
	return (c);
}

void
smtp_tls_cfg_unref(smtp_tls_cfg *c)
{
	if (c != NULL &&
	    __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		cfg_free(c);
	}
}

/* One protocol's configuration from the bound values; NULL with err. */
static smtp_tls_cfg *
cfg_new(int lmtp, unsigned gen, char *err, size_t esize)
{
	smtp_tls_cfg *c = pm_calloc(1, sizeof(*c));
	const char *why = NULL;
	char e[400];
	SSL_CTX *ctx;
	int i, mand;

	lmtp = lmtp != 0;
	c->lmtp = lmtp;
	c->gen = gen;
	c->refs = 1;
	pthread_mutex_init(&c->mu, NULL);
	for (i = 0; i < SMTP_TLS_P_N; i++) {
		c->v[i] = pm_strdup(*vars[lmtp][i] ? *vars[lmtp][i] : "");
	}
	c->loglevel = lmtp ? var_lmtp_tls_loglevel : var_smtp_tls_loglevel;
	c->starttls_tmout =
	    lmtp ? var_lmtp_starttls_tmout : var_smtp_starttls_tmout;
	if ((c->level = smtp_tls_level_parse(c->v[SMTP_TLS_P_LEVEL])) < 0) {
		snprintf(err, esize, "unknown or unsupported %s value: %s",
		    names[lmtp][SMTP_TLS_P_LEVEL], c->v[SMTP_TLS_P_LEVEL]);
		goto bad;
	}
	if (*c->v[SMTP_TLS_P_POLICY] != 0 &&
	    (c->maps = pm_tables_open(c->v[SMTP_TLS_P_POLICY], &why)) == NULL) {
		snprintf(err, esize, "%s = %s: %s",
		    names[lmtp][SMTP_TLS_P_POLICY], c->v[SMTP_TLS_P_POLICY],
		    why);
		goto bad;
	}
	/* the two contexts of the parameters: bad values fail here */
	for (mand = 0; mand < 2; mand++) {
		int pp = mand ? SMTP_TLS_P_MAND_PROTOS : SMTP_TLS_P_PROTOS;
		int cp = mand ? SMTP_TLS_P_MAND_CIPHERS : SMTP_TLS_P_CIPHERS;

		if ((ctx = smtp_tls_cfg_ctx(c, c->v[pp], c->v[cp],
		         c->v[SMTP_TLS_P_EXCL_CIPHERS], e, sizeof(e))) ==
		    NULL) {
			snprintf(err, esize, "%s client TLS (%s, %s): %s",
			    lmtp ? "lmtp" : "smtp", names[lmtp][pp],
			    names[lmtp][cp], e);
			goto bad;
		}
		SSL_CTX_free(ctx);
	}
	return (c);

bad:
	cfg_free(c);
	return (NULL);
}

smtp_tls_cfg *
smtp_tls_cfg_current(int lmtp)
{
	smtp_tls_cfg *c;

	pthread_mutex_lock(&cur_mu);
	c = smtp_tls_cfg_ref(cur[lmtp != 0]);
	pthread_mutex_unlock(&cur_mu);
	return (c);
}

int
smtp_tls_cfg_load(int reload)
{
	smtp_tls_cfg *n[2] = { NULL, NULL }, *old[2];
	char err[800];
	int p;

	for (p = 0; p < 2; p++) {
		if ((n[p] = cfg_new(p, last_gen + 1 + (unsigned) p, err,
		         sizeof(err))) == NULL) {
			smtp_tls_cfg_unref(n[0]);
			if (reload) {
				pm_msg_error("reload: %s; keeping the smtp and "
				             "lmtp client TLS settings in use",
				    err);
			} else {
				pm_msg_error("%s", err);
			}
			return (-1);
		}
	}
	last_gen += 2;
	pthread_mutex_lock(&cur_mu);
	for (p = 0; p < 2; p++) {
		old[p] = cur[p];
		cur[p] = n[p];
	}
	pthread_mutex_unlock(&cur_mu);
	for (p = 0; p < 2; p++) {
		smtp_tls_cfg_unref(old[p]); /* freed with its last user */
	}
	return (0);
}

void
smtp_tls_cfg_drop(void)
{
	smtp_tls_cfg *old[2];
	int p;

	pthread_mutex_lock(&cur_mu);
	for (p = 0; p < 2; p++) {
		old[p] = cur[p];
		cur[p] = NULL;
	}
	pthread_mutex_unlock(&cur_mu);
	for (p = 0; p < 2; p++) {
		smtp_tls_cfg_unref(old[p]);
	}
}
