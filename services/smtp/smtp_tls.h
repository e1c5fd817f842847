/*
 * NAME
 *	smtp_tls - internal interfaces of the smtp client's TLS
 * DESCRIPTION
 *	smtp_tls_policy.c  security levels, policy table entries
 *	                   ("verify match=a:b protocols=..."), the lookup
 *	                   keys of smtp_tls_policy_maps, the names a
 *	                   certificate must match, the connection cache
 *	                   key (pure but for pm_table)
 *	smtp_tls.c         contexts, STARTTLS and the handshake over the
 *	                   session's non-blocking socket with poll()
 *	                   deadlines, TLS reads and writes, the log lines,
 *	                   metrics
 *	smtp_tls_scache.c  TLS session resumption: SSL_SESSIONs kept per
 *	                   server and policy, bounded and expiring
 *	smtp_tls_cfg.c     one configuration per protocol (smtp_tls_*
 *	                   or lmtp_tls_* parameters: the same rules, only
 *	                   the prefix differs), reference counted and
 *	                   replaced on SIGHUP
 */
#ifndef SMTP_TLS_H
#define SMTP_TLS_H

#include <pthread.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "pm_table.h"
#include "smtp.h"

/* ---- smtp_tls_policy.c ---- */

#define SMTP_TLS_NONE 0
#define SMTP_TLS_MAY 1
#define SMTP_TLS_ENCRYPT 2
#define SMTP_TLS_VERIFY 3
#define SMTP_TLS_SECURE 4

#define SMTP_TLS_ATTR_MAX 256    /* one attribute value */
#define SMTP_TLS_NAMES_MAX 8     /* names a certificate may match */
#define SMTP_TLS_KEYS_MAX 16     /* policy lookup keys per nexthop */
#define SMTP_TLS_POLICY_MAX 1024 /* one policy table entry */

typedef struct smtp_tls_policy {
	int level;                          /* SMTP_TLS_* */
	char match[SMTP_TLS_ATTR_MAX];      /* "" = the level's parameter */
	char protocols[SMTP_TLS_ATTR_MAX];  /* "" = the level's parameter */
	char ciphers[32];                   /* "" = the level's parameter */
	char exclude[SMTP_TLS_ATTR_MAX];    /* "" = smtp_tls_exclude_ciphers */
	char servername[SMTP_TLS_ATTR_MAX]; /* "" = smtp_tls_servername */
	int has_servername;                 /* servername= was given */
	unsigned gen;                       /* the configuration's (keys) */
	struct smtp_tls_cfg *cfg; /* a reference (smtp_tls_policy_for) */
} smtp_tls_policy;

/* "none" .. "secure" -> SMTP_TLS_*; "" is none (Postfix); -1 if unknown. */
int smtp_tls_level_parse(const char *name);
const char *smtp_tls_level_name(int level);
/*
 * One policy table value: a level, then name=value attributes
 * (match, protocols, ciphers, exclude, servername). 0, or PM_EINVAL
 * with the reason in err; *p is untouched on failure.
 */
int smtp_tls_policy_parse(const char *text, smtp_tls_policy *p, char *err,
    size_t esize);
/*
 * The keys Postfix's smtp_tls_policy_maps are searched with, in
 * order: the nexthop as given ("[mx.example.com]:25", "example.com",
 * "example.com:587", an LMTP socket path "/run/dovecot/lmtp" without
 * "unix:", as Postfix's lmtp); for a nexthop not in brackets and not
 * a path also its domain
 * without the port, then its parent domains as ".example.com",
 * ".com". Returns the count (at most max).
 */
size_t smtp_tls_policy_keys(const char *nexthop,
    char (*keys)[PM_DNS_NAME_MAX + 8], size_t max);
/*
 * Look nexthop up: 0 with *p filled, PM_ENOENT, PM_EINVAL (a bad
 * entry: err says which key and why), or the table's error.
 */
int smtp_tls_policy_lookup(pm_tables *ts, const char *nexthop,
    smtp_tls_policy *p, char *err, size_t esize);
/*
 * Names a server certificate must match (one is enough): spec is a
 * list (separated by ':', ',' or white space) of "hostname" (the MX
 * or server name), "nexthop" (the nexthop domain), "dot-nexthop"
 * (its subdomains: ".nexthop"), or literal names (".example.com" =
 * any subdomain). Returns the count (at most max, duplicates once).
 */
size_t smtp_tls_match_names(const char *spec, const char *hostname,
    const char *nexthop, char (*names)[PM_DNS_NAME_MAX + 2], size_t max);
/*
 * Does cert match one of the n names? X509_check_host with the flags
 * of the full handshake (SSL_set1_host: no partial wildcards;
 * ".example.com" = any subdomain). 1 or 0 (no cert or no names: 0).
 */
int smtp_tls_cert_matches(X509 *cert, char (*names)[PM_DNS_NAME_MAX + 2],
    size_t n);

/* The TLS session cache key: endpoint, SNI, policy, names (lowercase). */
#define SMTP_TLS_SKEY_MAX \
	(INET6_ADDRSTRLEN + 16 + PM_DNS_NAME_MAX + 64 + \
	    SMTP_TLS_NAMES_MAX * (PM_DNS_NAME_MAX + 3) + 16)
/*
 * The key a TLS session is cached and resumed under:
 * "endpoint|sni|tls=<level>:<hash>|name1:name2..." with the names the
 * certificate had to match (the resolved names, not the spec: a
 * resumed session is not verified again by OpenSSL). 0, or PM_EINVAL
 * when it does not fit (then no session is kept or resumed).
 */
int smtp_tls_session_key(const char *endpoint, const char *sni,
    const smtp_tls_policy *p, char (*names)[PM_DNS_NAME_MAX + 2], size_t n,
    char *key, size_t size);

/* ---- smtp_tls.c ---- */

typedef struct smtp_tls_sess {
	smtp_tls_policy pol;
	char host[PM_DNS_NAME_MAX + 1];    /* MX or server name */
	char nexthop[PM_DNS_NAME_MAX + 1]; /* nexthop domain or host */
	/* "[ip]:port" or "unix:" and the socket path (smtp_addr.path) */
	char endpoint[sizeof(((smtp_addr *) 0)->path) + 8];
	SSL *ssl;          /* NULL: plaintext so far */
	X509 *peer;        /* the server's certificate (ssl's) or NULL */
	int fallback;      /* may: the handshake failed, retry plaintext */
	int plain_only;    /* this connection is the plaintext retry */
	int resumed;       /* the handshake resumed a cached session */
	const char *trust; /* "Anonymous", "Untrusted", "Trusted", "Verified" */
	char summary[200]; /* "TLSv1.3 with cipher ..." */
	char why[64];      /* plaintext under may: why ("not offered") */
} smtp_tls_sess;

/*
 * What a cached connection must share with a job (smtp_tls_policy.c):
 * "tls=none" or "tls=<level>:<hash of the attributes>" (into key).
 */
void smtp_tls_cache_key(const smtp_tls_policy *p, char *key, size_t size);
/*
 * May a cached connection (s->tls, NULL = none) serve this policy?
 * At verify and secure its certificate must also match the job's
 * names: spec (smtp_tls_match_spec) for the connection's host and
 * the job's nexthop domain.
 */
int smtp_tls_fits(const smtp_sess *s, const smtp_tls_policy *p,
    const char *spec, const char *nexthop);

#define SMTP_TLS_STARTED 1 /* smtp_tls_starttls(): say EHLO again */

/* Parameters, contexts, policy maps, metrics; -1 on bad configuration. */
int smtp_tls_init(void);
void smtp_tls_fini(void);
/* SIGHUP: new contexts and tables for new jobs; -1: the old ones stay. */
int smtp_tls_reload(void);
/*
 * The policy for a job: smtp_tls_security_level (lmtp:
 * lmtp_tls_security_level), then smtp_tls_policy_maps (lmtp_...).
 * 0 with a reference to the configuration in p->cfg (give it back
 * with smtp_tls_policy_release), or an error in err (defer).
 */
int smtp_tls_policy_for(const char *nexthop, int lmtp, smtp_tls_policy *p,
    smtp_err *err);
void smtp_tls_policy_release(smtp_tls_policy *p);
/* The names spec of a policy: match=, else the level's parameter. */
const char *smtp_tls_match_spec(const smtp_tls_policy *p);
/* Give a new connection its policy (none: nothing is attached). */
void smtp_tls_attach(smtp_sess *s, const smtp_tls_policy *p, const smtp_dest *d,
    const smtp_addr *a, int plain_only);
/*
 * After EHLO: STARTTLS as the policy says. 0 (go on in plaintext),
 * SMTP_TLS_STARTED (TLS is up: EHLO again), or an error with err and
 * *soft set (s->tls->fallback when a plaintext retry is allowed).
 */
int smtp_tls_starttls(smtp_sess *s, smtp_msg *m, smtp_err *err, int *soft);
/* I/O on an established session; as smtp_write and recv. */
int smtp_tls_write(smtp_sess *s, const void *data, size_t len,
    int64_t deadline);
int smtp_tls_read(smtp_sess *s, void *buf, size_t len, int64_t deadline,
    size_t *got);
/* Idle in the cache: did the server close or send data? (not locked) */
int smtp_tls_idle_dead(smtp_sess *s);
/* Before close(): QUIT and close_notify without waiting, then free. */
void smtp_tls_close(smtp_sess *s, int quit);
/* One line per delivery: the TLS (or plaintext) of this transaction. */
void smtp_tls_log_delivery(const pm_job *j, const smtp_sess *s);

/* ---- smtp_tls_cfg.c ---- */

/* The parameters of a configuration (suffix of smtp_ or lmtp_). */
enum {
	SMTP_TLS_P_LEVEL,
	SMTP_TLS_P_POLICY,
	SMTP_TLS_P_CAFILE,
	SMTP_TLS_P_CAPATH,
	SMTP_TLS_P_SNI,
	SMTP_TLS_P_VFY_MATCH,
	SMTP_TLS_P_SEC_MATCH,
	SMTP_TLS_P_PROTOS,
	SMTP_TLS_P_MAND_PROTOS,
	SMTP_TLS_P_CIPHERS,
	SMTP_TLS_P_MAND_CIPHERS,
	SMTP_TLS_P_EXCL_CIPHERS,
	SMTP_TLS_P_CHAIN,
	SMTP_TLS_P_N
};

#define SMTP_TLS_CTX_MAX 16

/* One protocol's client TLS settings; read-only but for ctxs. */
typedef struct smtp_tls_cfg {
	int lmtp;              /* 1: lmtp_tls_* */
	unsigned gen;          /* new at every load */
	int refs;              /* atomic */
	int level;             /* *_tls_security_level */
	char *v[SMTP_TLS_P_N]; /* copies of the values */
	long loglevel;         /* *_tls_loglevel */
	long starttls_tmout;   /* *_starttls_timeout, seconds */
	pm_tables *maps;       /* *_tls_policy_maps, or NULL */
	pthread_mutex_t mu;    /* ctxs */
	struct {
		char key[3 * SMTP_TLS_ATTR_MAX + 8];
		SSL_CTX *ctx;
	} ctxs[SMTP_TLS_CTX_MAX]; /* one per protocols/ciphers in use */
	int nctx;
} smtp_tls_cfg;

/* "smtp_tls_CAfile" or "lmtp_tls_CAfile" for SMTP_TLS_P_CAFILE. */
const char *smtp_tls_cfg_name(int lmtp, int param);
/*
 * Build both protocols' configurations from the bound parameters and
 * make them current; -1 (logged; on reload the old ones stay).
 */
int smtp_tls_cfg_load(int reload);
/* The current configuration (a new reference), NULL before load. */
smtp_tls_cfg *smtp_tls_cfg_current(int lmtp);
smtp_tls_cfg *smtp_tls_cfg_ref(smtp_tls_cfg *c);
/* Let go; the last reference frees the contexts and the table. */
void smtp_tls_cfg_unref(smtp_tls_cfg *c);
/* At exit: drop the current configurations. */
void smtp_tls_cfg_drop(void);
/* A context of c for these settings (a reference to free), or NULL. */
SSL_CTX *smtp_tls_cfg_ctx(smtp_tls_cfg *c, const char *protocols,
    const char *ciphers, const char *exclude, char *err, size_t esize);
/* OpenSSL's new-session callback (smtp_tls.c). */
int smtp_tls_new_session(SSL *ssl, SSL_SESSION *sess);

/* ---- smtp_tls_scache.c ---- */

void smtp_tls_scache_init(long limit, long timeout);
/* A resumable session for key (a new reference), or NULL. */
SSL_SESSION *smtp_tls_scache_get(const char *key);
/* Keep sess under key (takes the reference); replaces an older one. */
void smtp_tls_scache_put(const char *key, SSL_SESSION *sess);
void smtp_tls_scache_drop(const char *key);
void smtp_tls_scache_flush(void);

#endif
