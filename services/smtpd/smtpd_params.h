/*
 * NAME
 *	smtpd_params - parameters of the SMTP server
 * DESCRIPTION
 *	Postfix names and defaults where Postfix has the parameter; the
 *	Postmesh-only ones (marked) bound the event loop and its helpers.
 *	smtpd.c binds them with pm_cfg tables; every other smtpd file
 *	reads the var_ variables after start.
 */
#ifndef SMTPD_PARAMS_H
#define SMTPD_PARAMS_H

#include "pm_mail_params.h"

/* Strings. */
#define VAR_SMTPD_BANNER "smtpd_banner"
#define DEF_SMTPD_BANNER "$myhostname ESMTP $mail_name"
#define VAR_SMTPD_LISTEN "smtpd_listen" /* Postmesh: host:port */
#define DEF_SMTPD_LISTEN "127.0.0.1:2525"
#define VAR_SMTPD_METRICS_LISTEN "smtpd_metrics_listen" /* Postmesh */
#define DEF_SMTPD_METRICS_LISTEN "http://127.0.0.1:9125"
#define VAR_SMTPD_FORBID_BARE_NL "smtpd_forbid_bare_newline"
#define DEF_SMTPD_FORBID_BARE_NL "normalize" /* normalize | yes | no */

/* Integers. */
#define VAR_SMTPD_RCPT_LIMIT "smtpd_recipient_limit"
#define DEF_SMTPD_RCPT_LIMIT 1000
#define VAR_SMTPD_HARD_ERLIM "smtpd_hard_error_limit"
#define DEF_SMTPD_HARD_ERLIM 20
#define VAR_SMTPD_SOFT_ERLIM "smtpd_soft_error_limit"
#define DEF_SMTPD_SOFT_ERLIM 10
#define VAR_SMTPD_JUNK_CMD "smtpd_junk_command_limit"
#define DEF_SMTPD_JUNK_CMD 100
#define VAR_SMTPD_MIN_DATA_RATE "smtpd_min_data_rate" /* bytes/s */
#define DEF_SMTPD_MIN_DATA_RATE 500
#define VAR_SMTPD_BACKLOG "smtpd_listen_backlog" /* Postmesh */
#define DEF_SMTPD_BACKLOG 1024
#define VAR_SMTPD_CHECK_THREADS "smtpd_check_threads" /* Postmesh */
#define DEF_SMTPD_CHECK_THREADS 16
#define VAR_SMTPD_SESSION_LIMIT "smtpd_session_limit" /* Postmesh */
#define DEF_SMTPD_SESSION_LIMIT 1000
#define VAR_SMTPD_CONTENT_MEM "smtpd_content_memory_limit" /* Postmesh */
#define DEF_SMTPD_CONTENT_MEM (256L * 1024 * 1024) /* bytes, all sessions */

/* Times (seconds). */
#define VAR_SMTPD_TMOUT "smtpd_timeout"
#define DEF_SMTPD_TMOUT "300s"
#define VAR_SMTPD_ERR_SLEEP "smtpd_error_sleep_time"
#define DEF_SMTPD_ERR_SLEEP "1s"
#define VAR_SMTPD_SHUTDOWN_GRACE "smtpd_shutdown_grace" /* Postmesh */
#define DEF_SMTPD_SHUTDOWN_GRACE "10s"
#define VAR_SMTPD_CLEANUP_TMOUT "smtpd_cleanup_timeout" /* Postmesh */
#define DEF_SMTPD_CLEANUP_TMOUT "60s"

/* Booleans. */
#define VAR_HELO_REQUIRED "smtpd_helo_required"
#define DEF_HELO_REQUIRED 1 /* Postmesh: yes */
#define VAR_SMTPD_FORBID_UNAUTH_PIPE "smtpd_forbid_unauth_pipelining"
#define DEF_SMTPD_FORBID_UNAUTH_PIPE 1
#define VAR_SMTPD_REQ_DEADLINE "smtpd_per_request_deadline"
#define DEF_SMTPD_REQ_DEADLINE 1 /* Postmesh: yes */
#define VAR_DISABLE_VRFY_CMD "disable_vrfy_command"
#define DEF_DISABLE_VRFY_CMD 0
#define VAR_STRICT_RFC821_ENV "strict_rfc821_envelopes"
#define DEF_STRICT_RFC821_ENV 0

extern char *var_smtpd_banner;
extern char *var_smtpd_listen;
extern char *var_smtpd_metrics_listen;
extern char *var_smtpd_forbid_bare_nl;
extern long var_smtpd_rcpt_limit;
extern long var_smtpd_hard_erlim;
extern long var_smtpd_soft_erlim;
extern long var_smtpd_junk_cmd;
extern long var_smtpd_min_data_rate;
extern long var_smtpd_backlog;
extern long var_smtpd_check_threads;
extern long var_smtpd_session_limit;
extern long var_smtpd_content_mem;
extern long var_smtpd_tmout;
extern long var_smtpd_err_sleep;
extern long var_smtpd_shutdown_grace;
extern long var_smtpd_cleanup_tmout;
extern int var_helo_required;
extern int var_smtpd_forbid_unauth_pipe;
extern int var_smtpd_req_deadline;
extern int var_disable_vrfy_cmd;
extern int var_strict_rfc821_env;

/* Derived at start from smtpd_forbid_bare_newline: 1 = "yes" (reject). */
extern int smtpd_bare_nl_reject;

/* SASL AUTH (smtpd_auth.c). */
#define VAR_SMTPD_SASL_ENABLE "smtpd_sasl_auth_enable"
#define DEF_SMTPD_SASL_ENABLE 0
#define VAR_SMTPD_TLS_AUTH_ONLY "smtpd_tls_auth_only"
#define DEF_SMTPD_TLS_AUTH_ONLY 0
#define VAR_SMTPD_SASL_TYPE "smtpd_sasl_type" /* dovecot | crypt */
#define DEF_SMTPD_SASL_TYPE "dovecot"         /* Postfix: cyrus */
#define VAR_SMTPD_SASL_PATH "smtpd_sasl_path"
#define DEF_SMTPD_SASL_PATH "private/auth"               /* Postfix: smtpd */
#define VAR_SMTPD_SASL_PASSWD "smtpd_sasl_password_maps" /* Postmesh */
#define DEF_SMTPD_SASL_PASSWD ""
#define VAR_SMTPD_SASL_SERVICE "smtpd_sasl_service"
#define DEF_SMTPD_SASL_SERVICE "smtp"
#define VAR_SMTPD_SASL_TMOUT "smtpd_sasl_timeout" /* Postmesh */
#define DEF_SMTPD_SASL_TMOUT "10s"
#define VAR_SMTPD_SASL_THREADS "smtpd_sasl_threads" /* Postmesh */
#define DEF_SMTPD_SASL_THREADS 4
#define VAR_SMTPD_SASL_QLIMIT "smtpd_sasl_queue_limit" /* Postmesh */
#define DEF_SMTPD_SASL_QLIMIT 64
#define VAR_SMTPD_CAUTH_LIMIT "smtpd_client_auth_rate_limit"
#define DEF_SMTPD_CAUTH_LIMIT 0
#define VAR_ANVIL_TIME_UNIT "anvil_rate_time_unit"
#define DEF_ANVIL_TIME_UNIT "60s"

extern int var_smtpd_sasl_enable;
extern int var_smtpd_tls_auth_only;
extern char *var_smtpd_sasl_type;
extern char *var_smtpd_sasl_path;
extern char *var_smtpd_sasl_passwd;
extern char *var_smtpd_sasl_service;
extern long var_smtpd_sasl_tmout;
extern long var_smtpd_sasl_threads;
extern long var_smtpd_sasl_qlimit;
extern long var_smtpd_cauth_limit;
extern long var_anvil_time_unit;

/* Client limits shared through Redis (smtpd_anvil.c). */
#define VAR_SMTPD_CCONN_LIMIT "smtpd_client_connection_count_limit"
#define DEF_SMTPD_CCONN_LIMIT 50
#define VAR_SMTPD_CRATE_LIMIT "smtpd_client_connection_rate_limit"
#define DEF_SMTPD_CRATE_LIMIT 0
#define VAR_SMTPD_CMAIL_LIMIT "smtpd_client_message_rate_limit"
#define DEF_SMTPD_CMAIL_LIMIT 0
#define VAR_SMTPD_CRCPT_LIMIT "smtpd_client_recipient_rate_limit"
#define DEF_SMTPD_CRCPT_LIMIT 0
#define VAR_SMTPD_CNTLS_LIMIT "smtpd_client_new_tls_session_rate_limit"
#define DEF_SMTPD_CNTLS_LIMIT 0
#define VAR_SMTPD_HOGGERS "smtpd_client_event_limit_exceptions"
#define DEF_SMTPD_HOGGERS \
	"${smtpd_client_connection_limit_exceptions:$mynetworks}"
#define VAR_SMTPD_CCONN_LEASE \
	"smtpd_client_connection_lease_time" /* Postmesh */
#define DEF_SMTPD_CCONN_LEASE "15s"

extern long var_smtpd_cconn_limit;
extern long var_smtpd_crate_limit;
extern long var_smtpd_cmail_limit;
extern long var_smtpd_crcpt_limit;
extern long var_smtpd_cntls_limit;
extern char *var_smtpd_hoggers;
extern long var_smtpd_cconn_lease;

#endif
