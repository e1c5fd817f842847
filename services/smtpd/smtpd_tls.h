/*
 * NAME
 *	smtpd_tls - TLS for smtpd: STARTTLS, implicit TLS, the contexts
 * SUMMARY
 *	#include "smtpd_tls.h"
 * DESCRIPTION
 *	smtpd_tls.c: the OpenSSL transport of smtpd_conn (io->start_tls
 *	stacks a bufferevent_openssl filter on the connection's socket
 *	bufferevent; the session keeps reading its input buffer and
 *	writing through smtpd_conn_write, unaware), the STARTTLS command,
 *	implicit TLS (smtpd_tls_wrappermode), the session reset after the
 *	handshake, the log lines and metrics.
 *	smtpd_tls_ctx.c: the parameters, the server SSL_CTX (pm_tls) and
 *	its replacement on SIGHUP.
 *	smtpd_tls_ticket.c: session ticket keys shared through Redis.
 *
 *	Parameters (Postfix names and defaults, except protocols):
 *	smtpd_tls_security_level ("" = none, may, encrypt),
 *	smtpd_tls_chain_files, smtpd_tls_cert_file, smtpd_tls_key_file,
 *	smtpd_tls_protocols and smtpd_tls_mandatory_protocols (Postmesh:
 *	">=TLSv1.2"; Postfix allows TLSv1 and TLSv1.1), smtpd_tls_ciphers,
 *	smtpd_tls_mandatory_ciphers, smtpd_tls_exclude_ciphers,
 *	smtpd_tls_loglevel, smtpd_tls_received_header,
 *	smtpd_tls_ask_ccert with smtpd_tls_CAfile/smtpd_tls_CApath (ask
 *	for a client certificate, never require one),
 *	smtpd_tls_wrappermode, smtpd_starttls_timeout,
 *	smtpd_tls_session_cache_timeout (ticket key rotation; 0 = no
 *	session tickets).
 * LIMITS
 *	smtpd_starttls_timeout bounds each read and write of a handshake;
 *	the whole handshake also counts against smtpd_timeout. Input
 *	discarded after STARTTLS: at most SMTPD_TLS_DISCARD_MAX octets
 *	(more: the connection is dropped).
 * SECURITY
 *	Plaintext that follows STARTTLS in the input (libevent's buffer
 *	and the kernel's) is discarded before the handshake
 *	(CVE-2011-0411). After the handshake the session forgets HELO
 *	and the transaction (RFC 3207 4.2).
 */
#ifndef SMTPD_TLS_H
#define SMTPD_TLS_H

#include <openssl/ssl.h>

#include "pm_qstore_ticket.h"
#include "smtpd_session.h"

#define VAR_SMTPD_TLS_LEVEL "smtpd_tls_security_level"
#define DEF_SMTPD_TLS_LEVEL ""
#define VAR_SMTPD_TLS_CHAIN_FILES "smtpd_tls_chain_files"
#define DEF_SMTPD_TLS_CHAIN_FILES ""
#define VAR_SMTPD_TLS_CERT_FILE "smtpd_tls_cert_file"
#define DEF_SMTPD_TLS_CERT_FILE ""
#define VAR_SMTPD_TLS_KEY_FILE "smtpd_tls_key_file"
#define DEF_SMTPD_TLS_KEY_FILE "$smtpd_tls_cert_file"
#define VAR_SMTPD_TLS_PROTOCOLS "smtpd_tls_protocols"
#define DEF_SMTPD_TLS_PROTOCOLS ">=TLSv1.2" /* Postfix: >=TLSv1 */
#define VAR_SMTPD_TLS_MAND_PROTO "smtpd_tls_mandatory_protocols"
#define DEF_SMTPD_TLS_MAND_PROTO ">=TLSv1.2" /* Postfix: >=TLSv1 */
#define VAR_SMTPD_TLS_CIPHERS "smtpd_tls_ciphers"
#define DEF_SMTPD_TLS_CIPHERS "medium"
#define VAR_SMTPD_TLS_MAND_CIPH "smtpd_tls_mandatory_ciphers"
#define DEF_SMTPD_TLS_MAND_CIPH "medium"
#define VAR_SMTPD_TLS_EXCL_CIPH "smtpd_tls_exclude_ciphers"
#define DEF_SMTPD_TLS_EXCL_CIPH ""
#define VAR_SMTPD_TLS_CA_FILE "smtpd_tls_CAfile"
#define DEF_SMTPD_TLS_CA_FILE ""
#define VAR_SMTPD_TLS_CA_PATH "smtpd_tls_CApath"
#define DEF_SMTPD_TLS_CA_PATH ""
#define VAR_SMTPD_TLS_ASK_CCERT "smtpd_tls_ask_ccert"
#define DEF_SMTPD_TLS_ASK_CCERT 0
#define VAR_SMTPD_TLS_LOGLEVEL "smtpd_tls_loglevel"
#define DEF_SMTPD_TLS_LOGLEVEL 1 /* Postmesh: 1 (Postfix: 0) */
#define VAR_SMTPD_TLS_RCVD_HDR "smtpd_tls_received_header"
#define DEF_SMTPD_TLS_RCVD_HDR 0
#define VAR_SMTPD_TLS_WRAPPER "smtpd_tls_wrappermode"
#define DEF_SMTPD_TLS_WRAPPER 0
#define VAR_SMTPD_STARTTLS_TMOUT "smtpd_starttls_timeout"
#define DEF_SMTPD_STARTTLS_TMOUT "300s"
#define VAR_SMTPD_TLS_SCACHE_TMOUT "smtpd_tls_session_cache_timeout"
#define DEF_SMTPD_TLS_SCACHE_TMOUT "3600s"

extern char *var_smtpd_tls_level;
extern char *var_smtpd_tls_chain_files;
extern char *var_smtpd_tls_cert_file;
extern char *var_smtpd_tls_key_file;
extern char *var_smtpd_tls_protocols;
extern char *var_smtpd_tls_mand_proto;
extern char *var_smtpd_tls_ciphers;
extern char *var_smtpd_tls_mand_ciph;
extern char *var_smtpd_tls_excl_ciph;
extern char *var_smtpd_tls_ca_file;
extern char *var_smtpd_tls_ca_path;
extern int var_smtpd_tls_ask_ccert;
extern long var_smtpd_tls_loglevel;
extern int var_smtpd_tls_rcvd_hdr;
extern int var_smtpd_tls_wrapper;
extern long var_smtpd_starttls_tmout;
extern long var_smtpd_tls_scache_tmout;

/* Table entries for smtpd.c's main() (one line in each table). */
/* clang-format off */
#define SMTPD_TLS_CFG_STRS \
	{ VAR_SMTPD_TLS_LEVEL, DEF_SMTPD_TLS_LEVEL, &var_smtpd_tls_level, 0, 16 }, \
	{ VAR_SMTPD_TLS_CHAIN_FILES, DEF_SMTPD_TLS_CHAIN_FILES, \
	    &var_smtpd_tls_chain_files, 0, 4096 }, \
	{ VAR_SMTPD_TLS_CERT_FILE, DEF_SMTPD_TLS_CERT_FILE, \
	    &var_smtpd_tls_cert_file, 0, 1024 }, \
	{ VAR_SMTPD_TLS_KEY_FILE, DEF_SMTPD_TLS_KEY_FILE, \
	    &var_smtpd_tls_key_file, 0, 1024 }, \
	{ VAR_SMTPD_TLS_PROTOCOLS, DEF_SMTPD_TLS_PROTOCOLS, \
	    &var_smtpd_tls_protocols, 0, 256 }, \
	{ VAR_SMTPD_TLS_MAND_PROTO, DEF_SMTPD_TLS_MAND_PROTO, \
	    &var_smtpd_tls_mand_proto, 0, 256 }, \
	{ VAR_SMTPD_TLS_CIPHERS, DEF_SMTPD_TLS_CIPHERS, \
	    &var_smtpd_tls_ciphers, 0, 16 }, \
	{ VAR_SMTPD_TLS_MAND_CIPH, DEF_SMTPD_TLS_MAND_CIPH, \
	    &var_smtpd_tls_mand_ciph, 0, 16 }, \
	{ VAR_SMTPD_TLS_EXCL_CIPH, DEF_SMTPD_TLS_EXCL_CIPH, \
	    &var_smtpd_tls_excl_ciph, 0, 512 }, \
	{ VAR_SMTPD_TLS_CA_FILE, DEF_SMTPD_TLS_CA_FILE, \
	    &var_smtpd_tls_ca_file, 0, 1024 }, \
	{ VAR_SMTPD_TLS_CA_PATH, DEF_SMTPD_TLS_CA_PATH, \
	    &var_smtpd_tls_ca_path, 0, 1024 }
#define SMTPD_TLS_CFG_INTS \
	{ VAR_SMTPD_TLS_LOGLEVEL, DEF_SMTPD_TLS_LOGLEVEL, \
	    &var_smtpd_tls_loglevel, 0, 4 }
#define SMTPD_TLS_CFG_TIMES \
	{ VAR_SMTPD_STARTTLS_TMOUT, DEF_SMTPD_STARTTLS_TMOUT, \
	    &var_smtpd_starttls_tmout, 's', 1, 3600 }, \
	{ VAR_SMTPD_TLS_SCACHE_TMOUT, DEF_SMTPD_TLS_SCACHE_TMOUT, \
	    &var_smtpd_tls_scache_tmout, 's', 0, 604800 }
#define SMTPD_TLS_CFG_BOOLS \
	{ VAR_SMTPD_TLS_RCVD_HDR, DEF_SMTPD_TLS_RCVD_HDR, \
	    &var_smtpd_tls_rcvd_hdr }, \
	{ VAR_SMTPD_TLS_WRAPPER, DEF_SMTPD_TLS_WRAPPER, &var_smtpd_tls_wrapper }, \
	{ VAR_SMTPD_TLS_ASK_CCERT, DEF_SMTPD_TLS_ASK_CCERT, \
	    &var_smtpd_tls_ask_ccert }
/*
 * Bound again on SIGHUP (the certificates and keys are read again,
 * into a new context for new handshakes). The level, wrappermode and
 * the ticket lifetime need a restart.
 */
#define SMTPD_TLS_RELOAD_PARAMS \
	VAR_SMTPD_TLS_CHAIN_FILES, VAR_SMTPD_TLS_CERT_FILE, \
	    VAR_SMTPD_TLS_KEY_FILE, VAR_SMTPD_TLS_PROTOCOLS, \
	    VAR_SMTPD_TLS_MAND_PROTO, VAR_SMTPD_TLS_CIPHERS, \
	    VAR_SMTPD_TLS_MAND_CIPH, VAR_SMTPD_TLS_EXCL_CIPH, \
	    VAR_SMTPD_TLS_LOGLEVEL, VAR_SMTPD_TLS_RCVD_HDR, \
	    VAR_SMTPD_STARTTLS_TMOUT, VAR_SMTPD_TLS_CA_FILE, \
	    VAR_SMTPD_TLS_CA_PATH, VAR_SMTPD_TLS_ASK_CCERT
/* clang-format on */

/* Security levels. */
enum { SMTPD_TLS_NONE = 0, SMTPD_TLS_MAY, SMTPD_TLS_ENCRYPT };

#define SMTPD_TLS_DISCARD_MAX (256 * 1024)

/* smtpd_tls_ctx.c */
extern int smtpd_tls_level; /* SMTPD_TLS_*, decoded at start */
/* Start: decode the level, build the context (fatal if unusable). */
void smtpd_tls_init(void);
/* SIGHUP (signal thread): a new context for new handshakes. */
void smtpd_tls_reload(void);
/* Stop: the ticket thread, the context. */
void smtpd_tls_fini(void);
/* A reference to the current context (SSL_CTX_free it), or NULL. */
SSL_CTX *smtpd_tls_ctx_get(void);
/* Parse a level: SMTPD_TLS_* or PM_EINVAL. */
int smtpd_tls_level_parse(const char *s);
/* Metrics: one handshake ended; version = SSL version or 0. */
void smtpd_tls_count(int ok, int version, int resumed);

/* smtpd_tls_ticket.c */
/* Start the key refresh thread (smtpd_tls_session_cache_timeout > 0). */
void smtpd_tls_ticket_start(void);
/* Give ctx the ticket callback (every new context). */
void smtpd_tls_ticket_use(SSL_CTX *ctx);
void smtpd_tls_ticket_stop(void);
/*
 * Install keys (k NULL: forget them). 0 unchanged, 1 a new current
 * key, 2 the first keys. The refresh thread's; tests call it too.
 */
int smtpd_tls_ticket_set(const pm_ticket_keys *k);
/* Seconds until the next refresh: pure, for tests. */
long smtpd_tls_ticket_wait(int64_t now, int64_t at, long life, int ok);

/* smtpd_tls.c */
/* The transport (smtpd_conn.c's io->start_tls of the plain transport). */
int smtpd_conn_tls_start(smtpd_conn *c, void *ctx);
/* Closing: send close_notify once the last reply is encrypted. */
void smtpd_conn_tls_shutdown(smtpd_conn *c);
/* Before the filter is freed: detach c from the socket bufferevent. */
void smtpd_conn_tls_unlink(smtpd_conn *c);
/* EHLO may offer STARTTLS. */
int smtpd_tls_offer(const smtpd_session *s);
/* MAIL, RCPT ... must get "530 5.7.0 Must issue a STARTTLS command first". */
int smtpd_tls_required(const smtpd_session *s);
void smtpd_starttls_cmd(smtpd_session *s, const char *arg);
/* Implicit TLS (wrappermode): start the handshake at connect. */
int smtpd_tls_wrap(smtpd_session *s);
/* Connection callback: a handshake ended (ok) or failed. */
void smtpd_tls_done(void *arg, int ok);
/* The Received: header's "(using ...)" lines, if any. */
int smtpd_tls_received(pm_buf *b, const smtpd_session *s);

#endif
