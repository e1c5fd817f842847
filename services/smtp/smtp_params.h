/*
 * NAME
 *	smtp_params - parameters of the smtp/lmtp delivery agent
 * DESCRIPTION
 *	Postfix names and defaults where Postfix has the parameter
 *	(smtp(8), postconf(5)); Postmesh additions are marked. Every time
 *	parameter accepts a unit suffix (tests use seconds). LMTP uses the
 *	smtp_* timeouts and names too (Postfix has lmtp_* copies), except
 *	lmtp_tcp_port. pm_params.c has the same defaults.
 */
#ifndef SMTP_PARAMS_H
#define SMTP_PARAMS_H

#include "pm_mail_params.h"

/* Strings. */
#define VAR_SMTP_METRICS "smtp_metrics_listen" /* Postmesh */
#define VAR_SMTP_HELO_NAME "smtp_helo_name"
#define VAR_SMTP_TCP_PORT "smtp_tcp_port"
#define VAR_LMTP_TCP_PORT "lmtp_tcp_port"
#define VAR_SMTP_DISCARD_EHLO "smtp_discard_ehlo_keywords"
#define VAR_INET_PROTOCOLS "inet_protocols"

/* Integers. */
#define VAR_SMTP_SLOTS "smtp_delivery_slots" /* Postmesh */
#define DEF_SMTP_SLOTS 50
#define VAR_SMTP_CACHE_LIMIT "smtp_connection_cache_limit" /* Postmesh */
#define DEF_SMTP_CACHE_LIMIT 100
#define VAR_SMTP_MX_ADDR_LIMIT "smtp_mx_address_limit"
#define DEF_SMTP_MX_ADDR_LIMIT 5
#define VAR_SMTP_MX_SESS_LIMIT "smtp_mx_session_limit"
#define DEF_SMTP_MX_SESS_LIMIT 2
#define VAR_SMTP_LINE_LIMIT "smtp_line_length_limit"
#define DEF_SMTP_LINE_LIMIT 998
#define VAR_MIME_NEST_LIMIT "mime_nesting_limit"
#define DEF_MIME_NEST_LIMIT 100

/* Times (seconds). */
#define VAR_SMTP_CONN_TMOUT "smtp_connect_timeout"
#define DEF_SMTP_CONN_TMOUT "30s"
#define VAR_SMTP_HELO_TMOUT "smtp_helo_timeout"
#define DEF_SMTP_HELO_TMOUT "300s"
#define VAR_SMTP_MAIL_TMOUT "smtp_mail_timeout"
#define DEF_SMTP_MAIL_TMOUT "300s"
#define VAR_SMTP_RCPT_TMOUT "smtp_rcpt_timeout"
#define DEF_SMTP_RCPT_TMOUT "300s"
#define VAR_SMTP_DATA0_TMOUT "smtp_data_init_timeout"
#define DEF_SMTP_DATA0_TMOUT "120s"
#define VAR_SMTP_DATA1_TMOUT "smtp_data_xfer_timeout"
#define DEF_SMTP_DATA1_TMOUT "180s"
#define VAR_SMTP_DATA2_TMOUT "smtp_data_done_timeout"
#define DEF_SMTP_DATA2_TMOUT "600s"
#define VAR_SMTP_QUIT_TMOUT "smtp_quit_timeout"
#define DEF_SMTP_QUIT_TMOUT "300s"
#define VAR_SMTP_RSET_TMOUT "smtp_rset_timeout"
#define DEF_SMTP_RSET_TMOUT "20s"
#define VAR_SMTP_CACHE_TIME "smtp_connection_cache_time_limit"
#define DEF_SMTP_CACHE_TIME "2s"
#define VAR_SMTP_REUSE_TIME "smtp_connection_reuse_time_limit"
#define DEF_SMTP_REUSE_TIME "300s"

/* Booleans. */
#define VAR_SMTP_SKIP_5XX "smtp_skip_5xx_greeting"
#define DEF_SMTP_SKIP_5XX 1

extern char *var_smtp_metrics;
extern char *var_smtp_helo_name;
extern char *var_smtp_tcp_port;
extern char *var_lmtp_tcp_port;
extern char *var_smtp_discard_ehlo;
extern char *var_inet_protocols;
extern long var_smtp_slots;
extern long var_smtp_cache_limit;
extern long var_smtp_mx_addr_limit;
extern long var_smtp_mx_sess_limit;
extern long var_smtp_line_limit;
extern long var_mime_nest_limit;
extern long var_smtp_conn_tmout;
extern long var_smtp_helo_tmout;
extern long var_smtp_mail_tmout;
extern long var_smtp_rcpt_tmout;
extern long var_smtp_data0_tmout;
extern long var_smtp_data1_tmout;
extern long var_smtp_data2_tmout;
extern long var_smtp_quit_tmout;
extern long var_smtp_rset_tmout;
extern long var_smtp_cache_time;
extern long var_smtp_reuse_time;
extern int var_smtp_skip_5xx;

#endif
