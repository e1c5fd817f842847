/*
 * NAME
 *	smtp_tls_params - TLS parameters of the smtp and lmtp client
 * DESCRIPTION
 *	Postfix names and defaults (postconf(5)); Postmesh additions and
 *	differences are marked. smtp.c binds them (its main() tables);
 *	smtp_tls.c uses them. pm_params.c has the same defaults.
 *	lmtp_tls_* mirror smtp_tls_* for LMTP deliveries, as in Postfix's
 *	lmtp(8); the session cache (smtp_tls_session_cache_*) is shared.
 */
#ifndef SMTP_TLS_PARAMS_H
#define SMTP_TLS_PARAMS_H

#define VAR_SMTP_TLS_LEVEL "smtp_tls_security_level"
#define DEF_SMTP_TLS_LEVEL ""
#define VAR_SMTP_TLS_POLICY "smtp_tls_policy_maps"
#define DEF_SMTP_TLS_POLICY ""
#define VAR_SMTP_TLS_CAFILE "smtp_tls_CAfile"
#define DEF_SMTP_TLS_CAFILE ""
#define VAR_SMTP_TLS_CAPATH "smtp_tls_CApath"
#define DEF_SMTP_TLS_CAPATH ""
#define VAR_SMTP_TLS_SNI "smtp_tls_servername"
#define DEF_SMTP_TLS_SNI ""
#define VAR_SMTP_TLS_VFY_MATCH "smtp_tls_verify_cert_match"
#define DEF_SMTP_TLS_VFY_MATCH "hostname"
#define VAR_SMTP_TLS_SEC_MATCH "smtp_tls_secure_cert_match"
#define DEF_SMTP_TLS_SEC_MATCH "nexthop, dot-nexthop"
#define VAR_SMTP_TLS_PROTOS "smtp_tls_protocols"
#define DEF_SMTP_TLS_PROTOS ">=TLSv1"
#define VAR_SMTP_TLS_MAND_PROTOS "smtp_tls_mandatory_protocols"
#define DEF_SMTP_TLS_MAND_PROTOS ">=TLSv1"
#define VAR_SMTP_TLS_CIPHERS "smtp_tls_ciphers"
#define DEF_SMTP_TLS_CIPHERS "medium"
#define VAR_SMTP_TLS_MAND_CIPHERS "smtp_tls_mandatory_ciphers"
#define DEF_SMTP_TLS_MAND_CIPHERS "medium"
#define VAR_SMTP_TLS_EXCL_CIPHERS "smtp_tls_exclude_ciphers"
#define DEF_SMTP_TLS_EXCL_CIPHERS ""
#define VAR_SMTP_TLS_CHAIN "smtp_tls_chain_files"
#define DEF_SMTP_TLS_CHAIN ""

/* Postmesh logs a summary per handshake by default (Postfix: 0). */
#define VAR_SMTP_TLS_LOGLEVEL "smtp_tls_loglevel"
#define DEF_SMTP_TLS_LOGLEVEL 1
/* Postmesh: sessions kept for resumption (Postfix: tlsmgr's database). */
#define VAR_SMTP_TLS_SCACHE_LIMIT "smtp_tls_session_cache_limit"
#define DEF_SMTP_TLS_SCACHE_LIMIT 1000

#define VAR_SMTP_STARTTLS_TMOUT "smtp_starttls_timeout"
#define DEF_SMTP_STARTTLS_TMOUT "300s"
#define VAR_SMTP_TLS_SCACHE_TMOUT "smtp_tls_session_cache_timeout"
#define DEF_SMTP_TLS_SCACHE_TMOUT "3600s"


/* LMTP: the same parameters with Postfix's lmtp_ names and defaults. */
#define VAR_LMTP_TLS_LEVEL "lmtp_tls_security_level"
#define VAR_LMTP_TLS_POLICY "lmtp_tls_policy_maps"
#define VAR_LMTP_TLS_CAFILE "lmtp_tls_CAfile"
#define VAR_LMTP_TLS_CAPATH "lmtp_tls_CApath"
#define VAR_LMTP_TLS_SNI "lmtp_tls_servername"
#define VAR_LMTP_TLS_VFY_MATCH "lmtp_tls_verify_cert_match"
#define VAR_LMTP_TLS_SEC_MATCH "lmtp_tls_secure_cert_match"
#define DEF_LMTP_TLS_SEC_MATCH "nexthop"
#define VAR_LMTP_TLS_PROTOS "lmtp_tls_protocols"
#define VAR_LMTP_TLS_MAND_PROTOS "lmtp_tls_mandatory_protocols"
#define VAR_LMTP_TLS_CIPHERS "lmtp_tls_ciphers"
#define VAR_LMTP_TLS_MAND_CIPHERS "lmtp_tls_mandatory_ciphers"
#define VAR_LMTP_TLS_EXCL_CIPHERS "lmtp_tls_exclude_ciphers"
#define VAR_LMTP_TLS_CHAIN "lmtp_tls_chain_files"
#define VAR_LMTP_TLS_LOGLEVEL "lmtp_tls_loglevel"
#define VAR_LMTP_STARTTLS_TMOUT "lmtp_starttls_timeout"

extern char *var_smtp_tls_level;
extern char *var_smtp_tls_policy;
extern char *var_smtp_tls_cafile;
extern char *var_smtp_tls_capath;
extern char *var_smtp_tls_sni;
extern char *var_smtp_tls_vfy_match;
extern char *var_smtp_tls_sec_match;
extern char *var_smtp_tls_protos;
extern char *var_smtp_tls_mand_protos;
extern char *var_smtp_tls_ciphers;
extern char *var_smtp_tls_mand_ciphers;
extern char *var_smtp_tls_excl_ciphers;
extern char *var_smtp_tls_chain;
extern long var_smtp_tls_loglevel;
extern long var_smtp_tls_scache_limit;
extern long var_smtp_starttls_tmout;
extern long var_smtp_tls_scache_tmout;

extern char *var_lmtp_tls_level;
extern char *var_lmtp_tls_policy;
extern char *var_lmtp_tls_cafile;
extern char *var_lmtp_tls_capath;
extern char *var_lmtp_tls_sni;
extern char *var_lmtp_tls_vfy_match;
extern char *var_lmtp_tls_sec_match;
extern char *var_lmtp_tls_protos;
extern char *var_lmtp_tls_mand_protos;
extern char *var_lmtp_tls_ciphers;
extern char *var_lmtp_tls_mand_ciphers;
extern char *var_lmtp_tls_excl_ciphers;
extern char *var_lmtp_tls_chain;
extern long var_lmtp_tls_loglevel;
extern long var_lmtp_starttls_tmout;

#endif
