/*
 * NAME
 *	smtpd_tls_ctx - smtpd's TLS parameters, server context, metrics
 * DESCRIPTION
 *	smtpd_tls_init() (start, before the loop) decodes
 *	smtpd_tls_security_level and builds the server SSL_CTX with
 *	pm_tls from the smtpd_tls_* parameters: the mandatory protocols
 *	and ciphers for "encrypt" and for wrappermode (TLS is then
 *	required, as Postfix does), the others for "may". Chain files
 *	(smtpd_tls_chain_files: RSA and ECDSA chains in one context)
 *	win over the legacy cert_file/key_file pair. No OpenSSL session
 *	cache: resumption is by session tickets only, whose keys are
 *	shared by all replicas through Redis (smtpd_tls_ticket.c);
 *	smtpd_tls_session_cache_timeout = 0 turns tickets off. With
 *	smtpd_tls_ask_ccert the server asks for a client certificate
 *	(names the CAs of smtpd_tls_CAfile) and accepts any answer; the
 *	verdict (smtpd_tls_CAfile/CApath) is in the logs and the header.
 *
 *	A certificate that cannot be used at start is fatal, except with
 *	level "may" and no certificate configured at all: then TLS is
 *	off with a warning (Postfix does the same).
 *
 *	smtpd_tls_reload() (SIGHUP, signal thread) builds a new context
 *	from the parameters just bound again and swaps it in under a
 *	mutex; handshakes already started keep theirs (each SSL holds a
 *	reference). A file that fails keeps the old context, with an
 *	error line.
 *
 *	Metrics: postmesh_smtpd_tls_handshakes_total{outcome, protocol}
 *	(outcome success|failure; protocol TLSv1 .. TLSv1.3 or unknown:
 *	for a failure, the version the client offered) and
 *	postmesh_smtpd_tls_resumed_total (successful handshakes that
 *	resumed a session from a ticket).
 * LIMITS
 *	Ten handshake label sets, registered at start.
 * SECURITY
 *	Key files are read at start and on SIGHUP only; errors name the
 *	file, not its content.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/ssl.h>

#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_server.h"
#include "pm_tls.h"
#include "smtpd_tls.h"

char *var_smtpd_tls_level;
char *var_smtpd_tls_chain_files;
char *var_smtpd_tls_cert_file;
char *var_smtpd_tls_key_file;
char *var_smtpd_tls_protocols;
char *var_smtpd_tls_mand_proto;
char *var_smtpd_tls_ciphers;
char *var_smtpd_tls_mand_ciph;
char *var_smtpd_tls_excl_ciph;
char *var_smtpd_tls_ca_file;
char *var_smtpd_tls_ca_path;
int var_smtpd_tls_ask_ccert;
long var_smtpd_tls_loglevel;
int var_smtpd_tls_rcvd_hdr;
int var_smtpd_tls_wrapper;
long var_smtpd_starttls_tmout;
long var_smtpd_tls_scache_tmout;

int smtpd_tls_level;

static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *ctx_cur; /* under ctx_mu */

#define NPROTO 5
static const char *const proto_names[NPROTO] = {
	"TLSv1",
	"TLSv1.1",
	"TLSv1.2",
	"TLSv1.3",
	"unknown",
};
static pm_metric *m_handshakes[2][NPROTO];
static pm_metric *m_resumed;

int
smtpd_tls_level_parse(const char *s)
{
	if (*s == 0 || strcmp(s, "none") == 0) {
		return (SMTPD_TLS_NONE);
	}
	if (strcmp(s, "may") == 0) {
		return (SMTPD_TLS_MAY);
	}
	if (strcmp(s, "encrypt") == 0) {
		return (SMTPD_TLS_ENCRYPT);
	}
	return (PM_EINVAL);
}

static int
proto_index(int version)
{
	switch (version) {
	case TLS1_VERSION:
		return (0);
	case TLS1_1_VERSION:
		return (1);
	case TLS1_2_VERSION:
		return (2);
	case TLS1_3_VERSION:
		return (3);
	default:
		return (4);
	}
}

void
smtpd_tls_count(int ok, int version, int resumed)
{
	pm_metric_inc(m_handshakes[ok ? 0 : 1][proto_index(version)]);
	if (ok && resumed) {
		pm_metric_inc(m_resumed);
	}
}

static void
metrics_init(void)
{
	char lab[64];
	int i, j;

	for (i = 0; i < 2; i++) {
		for (j = 0; j < NPROTO; j++) {
			snprintf(lab, sizeof(lab),
			    "outcome=\"%s\",protocol=\"%s\"",
			    i == 0 ? "success" : "failure", proto_names[j]);
			m_handshakes[i][j] =
			    pm_metric_counter("smtpd_tls_handshakes_total",
			        "TLS handshakes, by outcome and protocol.",
			        lab);
		}
	}
	m_resumed = pm_metric_counter("smtpd_tls_resumed_total",
	    "TLS handshakes that resumed a session (ticket).", NULL);
}

static int
verify_any(int ok, X509_STORE_CTX *store)
{
	(void) ok;
	(void) store;
	return (1); /* SSL_get_verify_result() keeps the verdict */
}

static SSL_CTX *
ctx_build(char *err, size_t size)
{
	static const unsigned char sid_ctx[] = "postmesh-smtpd";
	int mand =
	    smtpd_tls_level == SMTPD_TLS_ENCRYPT || var_smtpd_tls_wrapper;
	pm_tls_conf conf;
	SSL_CTX *ctx;

	memset(&conf, 0, sizeof(conf));
	conf.server = 1;
	conf.chain_files = var_smtpd_tls_chain_files;
	conf.cert_file =
	    *var_smtpd_tls_chain_files ? "" : var_smtpd_tls_cert_file;
	conf.key_file =
	    *var_smtpd_tls_chain_files ? "" : var_smtpd_tls_key_file;
	conf.protocols =
	    mand ? var_smtpd_tls_mand_proto : var_smtpd_tls_protocols;
	conf.ciphers = mand ? var_smtpd_tls_mand_ciph : var_smtpd_tls_ciphers;
	conf.exclude_ciphers = var_smtpd_tls_excl_ciph;
	conf.ca_file = var_smtpd_tls_ca_file;
	conf.ca_path = var_smtpd_tls_ca_path;
	if ((ctx = pm_tls_ctx_new(&conf, err, size)) == NULL) {
		return (NULL);
	}
	if (var_smtpd_tls_ask_ccert) {
		/* Ask, never require: the verdict is logged, not enforced. */
		SSL_CTX_set_verify(ctx,
		    SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, verify_any);
		if (*var_smtpd_tls_ca_file != 0) {
			STACK_OF(X509_NAME) *names =
			    SSL_load_client_CA_file(var_smtpd_tls_ca_file);

			if (names != NULL) {
				SSL_CTX_set_client_CA_list(ctx, names);
			}
		}
	}
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (var_smtpd_tls_scache_tmout > 0) {
		SSL_CTX_set_timeout(ctx, var_smtpd_tls_scache_tmout);
		SSL_CTX_set_num_tickets(ctx, 1);
		smtpd_tls_ticket_use(ctx);
	} else {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	return (ctx);
}

static int
have_cert(void)
{
	return (*var_smtpd_tls_chain_files != 0 ||
	    *var_smtpd_tls_cert_file != 0);
}

void
smtpd_tls_init(void)
{
	char err[512];
	SSL_CTX *ctx;
	int level;

	metrics_init();
	if ((level = smtpd_tls_level_parse(var_smtpd_tls_level)) < 0) {
		pm_msg_fatal("%s: expected none, may or encrypt, got: %s",
		    VAR_SMTPD_TLS_LEVEL, var_smtpd_tls_level);
	}
	smtpd_tls_level = level;
	if (level == SMTPD_TLS_NONE && !var_smtpd_tls_wrapper) {
		return;
	}
	if (level == SMTPD_TLS_MAY && !var_smtpd_tls_wrapper && !have_cert()) {
		pm_msg_warn("%s = may but neither %s nor %s is set: "
		            "TLS is not offered",
		    VAR_SMTPD_TLS_LEVEL, VAR_SMTPD_TLS_CHAIN_FILES,
		    VAR_SMTPD_TLS_CERT_FILE);
		smtpd_tls_level = SMTPD_TLS_NONE;
		return;
	}
	if (!have_cert()) {
		pm_msg_fatal("%s or %s is needed for %s",
		    VAR_SMTPD_TLS_CHAIN_FILES, VAR_SMTPD_TLS_CERT_FILE,
		    var_smtpd_tls_wrapper ? VAR_SMTPD_TLS_WRAPPER :
		                            VAR_SMTPD_TLS_LEVEL);
	}
	if ((ctx = ctx_build(err, sizeof(err))) == NULL) {
		pm_msg_fatal("smtpd TLS: %s", err);
	}
	ctx_cur = ctx;
	if (var_smtpd_tls_wrapper && smtpd_tls_level == SMTPD_TLS_NONE) {
		smtpd_tls_level = SMTPD_TLS_ENCRYPT;
	}
	if (var_smtpd_tls_scache_tmout > 0) {
		smtpd_tls_ticket_start();
	}
}

SSL_CTX *
smtpd_tls_ctx_get(void)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&ctx_mu);
	ctx = ctx_cur;
	if (ctx != NULL) {
		SSL_CTX_up_ref(ctx);
	}
	pthread_mutex_unlock(&ctx_mu);
	return (ctx);
}

void
smtpd_tls_reload(void)
{
	char err[512];
	SSL_CTX *ctx, *old;

	pthread_mutex_lock(&ctx_mu);
	old = ctx_cur;
	pthread_mutex_unlock(&ctx_mu);
	if (old == NULL) {
		return; /* TLS off: the level needs a restart */
	}
	if ((ctx = ctx_build(err, sizeof(err))) == NULL) {
		pm_msg_error("reload: smtpd TLS: %s; keeping the certificates "
		             "and keys in use",
		    err);
		pm_server_reload_failed();
		return;
	}
	pthread_mutex_lock(&ctx_mu);
	old = ctx_cur;
	ctx_cur = ctx;
	pthread_mutex_unlock(&ctx_mu);
	SSL_CTX_free(old);
	pm_msg_info("reload: smtpd TLS certificates and keys read again");
}

void
smtpd_tls_fini(void)
{
	smtpd_tls_ticket_stop();
	pthread_mutex_lock(&ctx_mu);
	SSL_CTX_free(ctx_cur);
	ctx_cur = NULL;
	pthread_mutex_unlock(&ctx_mu);
}
