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
 *	LMTP uses no TLS (level none): its peers are local mailbox
 *	servers; smtp_tls_* parameters apply to SMTP deliveries only.
 */
#ifndef SMTP_TLS_H
#define SMTP_TLS_H

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
 * "example.com:587"); for a nexthop not in brackets also its domain
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
	char endpoint[INET6_ADDRSTRLEN + 16];
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
/*
 * The policy for a job: smtp_tls_security_level, then
 * smtp_tls_policy_maps. 0, or an error in err (defer).
 */
int smtp_tls_policy_for(const char *nexthop, int lmtp, smtp_tls_policy *p,
    smtp_err *err);
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

/* ---- smtp_tls_scache.c ---- */

void smtp_tls_scache_init(long limit, long timeout);
/* A resumable session for key (a new reference), or NULL. */
SSL_SESSION *smtp_tls_scache_get(const char *key);
/* Keep sess under key (takes the reference); replaces an older one. */
void smtp_tls_scache_put(const char *key, SSL_SESSION *sess);
void smtp_tls_scache_drop(const char *key);
void smtp_tls_scache_flush(void);

#endif
