/*
 * NAME
 *	smtpd_tls_ticket - TLS session ticket keys shared by smtpd replicas
 * DESCRIPTION
 *	Postfix's tlsmgr gives every smtpd of a host the same ticket
 *	keys; here the replicas share them through Redis
 *	(pm_qstore_ticket.h: hash pm:tls:ticket, current and previous
 *	key, rotated atomically by whichever replica finds the current
 *	one smtpd_tls_session_cache_timeout old).
 *
 *	A thread (never the event loop) asks Redis at start, then when
 *	the current key is due to rotate and at least every
 *	SMTPD_TICKET_REFRESH_MAX seconds; the keys it got are copied
 *	under a mutex into this process's key set. The OpenSSL ticket
 *	callback (SSL_CTX_set_tlsext_ticket_key_evp_cb, on the loop)
 *	encrypts new tickets with the current key (AES-256-CBC,
 *	HMAC-SHA256: OpenSSL's own ticket format) and decrypts tickets
 *	made with the current key, or with the previous one (the ticket
 *	is then renewed). An unknown key name means a full handshake.
 *
 *	Redis away: the keys already loaded go on being used (no
 *	rotation meanwhile), with one warning per outage; a process that
 *	never got keys issues no tickets and does full handshakes until
 *	Redis answers. Never an error for a client.
 * LIMITS
 *	One Redis call per refresh, bounded by redis_timeout; retried
 *	every SMTPD_TICKET_RETRY seconds while Redis is away.
 * SECURITY
 *	Keys are never logged and are wiped from stack copies.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "pm_log.h"
#include "pm_qstore_ticket.h"
#include "pm_server_queue.h"
#include "smtpd_tls.h"

#define SMTPD_TICKET_REFRESH_MAX 60 /* s */
#define SMTPD_TICKET_RETRY 5        /* s */

static pthread_mutex_t tk_mu = PTHREAD_MUTEX_INITIALIZER;
static pm_ticket_keys tk_keys; /* under tk_mu */
static int tk_have;            /* under tk_mu */

static pthread_t tk_tid;
static int tk_started;
static pthread_mutex_t tk_wait_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tk_cv;
static int tk_quit;

long
smtpd_tls_ticket_wait(int64_t now, int64_t at, long life, int ok)
{
	int64_t due;

	if (!ok) {
		return (SMTPD_TICKET_RETRY);
	}
	due = at + life - now; /* the next rotation */
	if (due < 1) {
		due = 1;
	}
	return (due < SMTPD_TICKET_REFRESH_MAX ? (long) due :
	                                         SMTPD_TICKET_REFRESH_MAX);
}

static int
tk_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ectx,
    EVP_MAC_CTX *hctx, int enc)
{
	static char digest[] = "SHA256";
	unsigned char key[PM_TICKET_KEY_LEN];
	OSSL_PARAM params[3];
	int which = 0;

	(void) ssl;
	pthread_mutex_lock(&tk_mu);
	if (tk_have) {
		if (enc || memcmp(name, tk_keys.cur, PM_TICKET_NAME_LEN) == 0) {
			memcpy(key, tk_keys.cur, sizeof(key));
			which = 1;
		} else if (tk_keys.have_prev &&
		    memcmp(name, tk_keys.prev, PM_TICKET_NAME_LEN) == 0) {
			memcpy(key, tk_keys.prev, sizeof(key));
			which = 2; /* good, but renew the ticket */
		}
	}
	pthread_mutex_unlock(&tk_mu);
	if (which == 0) {
		return (0); /* no ticket issued / full handshake */
	}
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    key + PM_TICKET_NAME_LEN, 32);
	params[1] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	if (enc) {
		memcpy(name, key, PM_TICKET_NAME_LEN);
		if (RAND_bytes(iv, 16) != 1 ||
		    EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL,
		        key + PM_TICKET_NAME_LEN + 32, iv) != 1) {
			which = -1;
		}
	} else if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL,
	               key + PM_TICKET_NAME_LEN + 32, iv) != 1) {
		which = -1;
	}
	if (which > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1) {
		which = -1;
	}
	OPENSSL_cleanse(key, sizeof(key));
	return (which);
}

void
smtpd_tls_ticket_use(SSL_CTX *ctx)
{
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tk_cb);
}

int
smtpd_tls_ticket_set(const pm_ticket_keys *k)
{
	int changed;

	pthread_mutex_lock(&tk_mu);
	if (k == NULL) {
		changed = tk_have;
		OPENSSL_cleanse(&tk_keys, sizeof(tk_keys));
		tk_have = 0;
	} else {
		changed = !tk_have ?
		    2 :
		    memcmp(tk_keys.cur, k->cur, sizeof(k->cur)) != 0;
		tk_keys = *k;
		tk_have = 1;
	}
	pthread_mutex_unlock(&tk_mu);
	return (changed);
}

/* One refresh: 0, or the error. */
static int
tk_refresh(pm_qstore *qs, pm_ticket_keys *k)
{
	unsigned char cand[PM_TICKET_KEY_LEN];
	int rc, changed, first;

	if (RAND_bytes(cand, sizeof(cand)) != 1) {
		return (PM_EIO);
	}
	rc = pm_qstore_ticket_keys(qs, var_smtpd_tls_scache_tmout, cand, k);
	OPENSSL_cleanse(cand, sizeof(cand));
	if (rc != 0) {
		return (rc);
	}
	changed = smtpd_tls_ticket_set(k);
	first = changed == 2;
	if (changed) {
		pm_msg_info("TLS session ticket keys %s from Redis (%s %lds)",
		    first ? "loaded" : "rotated", VAR_SMTPD_TLS_SCACHE_TMOUT,
		    var_smtpd_tls_scache_tmout);
	}
	return (0);
}

static void *
tk_main(void *arg)
{
	pm_ticket_keys k;
	struct timespec ts;
	pm_qstore *qs;
	int rc, down = 0;
	long wait;

	(void) arg;
	if ((qs = pm_server_qstore_open()) == NULL) {
		pm_msg_error("TLS session tickets: cannot use Redis (see "
		             "above): full handshakes only");
		return (NULL);
	}
	pthread_mutex_lock(&tk_wait_mu);
	while (!tk_quit) {
		pthread_mutex_unlock(&tk_wait_mu);
		memset(&k, 0, sizeof(k));
		rc = tk_refresh(qs, &k);
		if (rc != 0 && !down) {
			pm_msg_warn("TLS session ticket keys: Redis at %s: %s; "
			            "%s",
			    pm_qstore_server(qs), pm_strerror(rc),
			    tk_have ? "keeping the keys in use" :
			              "no session tickets until it answers");
		} else if (rc == 0 && down) {
			pm_msg_info("TLS session ticket keys: Redis answers "
			            "again");
		}
		down = rc != 0;
		wait = smtpd_tls_ticket_wait(k.now, k.at,
		    var_smtpd_tls_scache_tmout, rc == 0);
		OPENSSL_cleanse(&k, sizeof(k));
		pthread_mutex_lock(&tk_wait_mu);
		if (tk_quit) {
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait;
		pthread_cond_timedwait(&tk_cv, &tk_wait_mu, &ts);
	}
	pthread_mutex_unlock(&tk_wait_mu);
	pm_qstore_close(qs);
	return (NULL);
}

void
smtpd_tls_ticket_start(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&tk_cv, &ca);
	pthread_condattr_destroy(&ca);
	tk_started = pthread_create(&tk_tid, NULL, tk_main, NULL) == 0;
	if (!tk_started) {
		pm_msg_warn("TLS session tickets: cannot start the key thread");
	}
}

void
smtpd_tls_ticket_stop(void)
{
	if (!tk_started) {
		return;
	}
	pthread_mutex_lock(&tk_wait_mu);
	tk_quit = 1;
	pthread_cond_broadcast(&tk_cv);
	pthread_mutex_unlock(&tk_wait_mu);
	pthread_join(tk_tid, NULL);
	tk_started = 0;
	(void) smtpd_tls_ticket_set(NULL);
}
