/*
 * NAME
 *	pm_tls - OpenSSL contexts for SMTP TLS, built one way for smtpd
 *	and the smtp client
 * SUMMARY
 *	#include "pm_tls.h"
 * DESCRIPTION
 *	pm_tls_ctx_new() builds an SSL_CTX from a pm_tls_conf whose
 *	fields carry the values of Postfix-named parameters (smtpd_tls_*
 *	or smtp_tls_*): the protocol range, the cipher grade and
 *	exclusions, the key/certificate chains, the trust anchors. Every
 *	context gets the same hardening: no compression, no
 *	renegotiation, released idle buffers (SSL_MODE_RELEASE_BUFFERS:
 *	an idle TLS session keeps no 16 KB record buffers), server
 *	cipher preference on servers. What differs per connection (SNI,
 *	verification, session tickets) is the caller's.
 *
 *	Protocols, Postfix syntax: a list (commas and/or spaces) of
 *	names SSLv2 SSLv3 TLSv1 TLSv1.1 TLSv1.2 TLSv1.3, each either
 *	excluded ("!SSLv3"), included ("TLSv1.2"), or a bound
 *	(">=TLSv1.2", "<=TLSv1.3"). Inclusions, when present, name the
 *	only protocols allowed; exclusions and bounds then narrow that.
 *	The result must be a contiguous range that OpenSSL 3 supports
 *	(TLSv1 .. TLSv1.3): a list that leaves a hole or nothing is an
 *	error rather than a surprise.
 *
 *	Cipher grades (Postfix's names): "high", "medium" (Postfix's
 *	default), "null" (no encryption, for tests only), each a fixed
 *	OpenSSL cipher list without anonymous suites; exclusions
 *	(smtpd_tls_exclude_ciphers) are appended as "!name". TLSv1.3
 *	suites are OpenSSL's defaults and not affected, as in Postfix.
 *
 *	Chain files (smtpd_tls_chain_files): PEM files read in order;
 *	each private key is followed by its certificate, then that
 *	certificate's issuers. Several keys of different types (RSA
 *	and ECDSA) give the server one chain per type; OpenSSL picks
 *	the one the client supports. The legacy pair cert_file +
 *	key_file (smtpd_tls_cert_file, smtpd_tls_key_file) is used when
 *	no chain files are given; key_file empty means "in cert_file",
 *	where the key may come before or after the certificates.
 *
 *	pm_tls_summary() describes a finished handshake the way Postfix
 *	logs it: "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256
 *	bits) key-exchange X25519".
 * LIMITS
 *	PM_TLS_CHAIN_MAX keys per context, PM_TLS_CERTS_MAX certificates
 *	per chain, PM_TLS_PEM_MAX octets per chain file.
 * SECURITY
 *	Key files are read by the service at start and reload; errors
 *	name the file, never its content.
 */
#ifndef PM_TLS_H
#define PM_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#define PM_TLS_CHAIN_MAX 4
#define PM_TLS_CERTS_MAX 16
#define PM_TLS_PEM_MAX (1024 * 1024)

typedef struct pm_tls_conf {
	int server;                  /* 1: a server context */
	const char *chain_files;     /* list of PEM files, or "" */
	const char *cert_file;       /* legacy pair, or "" */
	const char *key_file;        /* "" = the key is in cert_file */
	const char *ca_file;         /* trust anchors, or "" */
	const char *ca_path;         /* hashed directory, or "" */
	const char *protocols;       /* Postfix syntax; "" = OpenSSL's */
	const char *ciphers;         /* high | medium | null; "" = medium */
	const char *exclude_ciphers; /* list of OpenSSL names, or "" */
} pm_tls_conf;

/*
 * A context, or NULL with the reason in err (which names the file or
 * the parameter value at fault, and OpenSSL's error).
 */
SSL_CTX *pm_tls_ctx_new(const pm_tls_conf *conf, char *err, size_t size);

/* Load the chains into ctx; PM_OK or PM_EINVAL with err. */
int pm_tls_load_chains(SSL_CTX *ctx, const pm_tls_conf *conf, char *err,
    size_t size);

/*
 * Protocol spec -> OpenSSL version range (TLS1_VERSION ...
 * TLS1_3_VERSION). PM_OK, or PM_EINVAL with err. "" gives 0, 0
 * (OpenSSL's defaults).
 */
int pm_tls_protocol_range(const char *spec, int *min, int *max, char *err,
    size_t size);

/* Grade + exclusions -> OpenSSL cipher list (into buf). */
int pm_tls_cipher_list(const char *grade, const char *exclude, char *buf,
    size_t size, char *err, size_t esize);

/* "TLSv1.3 with cipher X (256/256 bits) key-exchange X25519" */
void pm_tls_summary(const SSL *ssl, char *buf, size_t size);

/* The name of a protocol version ("TLSv1.3"), "unknown" otherwise. */
const char *pm_tls_version_name(int version);

/*
 * Drain OpenSSL's error queue of this thread into buf (printable,
 * "; "-separated, the last few errors); "no OpenSSL error" if empty.
 */
const char *pm_tls_errors(char *buf, size_t size);

#endif
