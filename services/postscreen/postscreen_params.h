/*
 * NAME
 *	postscreen_params - parameters of postscreen
 * DESCRIPTION
 *	Postfix postscreen(8) names and defaults where Postfix has the
 *	parameter; the Postmesh-only ones (marked) say where passing
 *	clients go and bound the proxy. postscreen.c binds them; the
 *	other postscreen files read the var_ variables after start.
 */
#ifndef POSTSCREEN_PARAMS_H
#define POSTSCREEN_PARAMS_H

#include "pm_mail_params.h"

/* Strings. */
#define VAR_PSC_LISTEN "postscreen_listen" /* Postmesh: host:port */
#define DEF_PSC_LISTEN "127.0.0.1:2500"
#define VAR_PSC_METRICS_LISTEN "postscreen_metrics_listen" /* Postmesh */
#define DEF_PSC_METRICS_LISTEN "http://127.0.0.1:9130"
/* Postmesh: smtpd addresses (host:port list) clients are proxied to. */
#define VAR_PSC_SMTPD_SERVICE "postscreen_smtpd_service"
#define DEF_PSC_SMTPD_SERVICE "127.0.0.1:2525"
#define VAR_PSC_ACL "postscreen_access_list"
#define DEF_PSC_ACL "permit_mynetworks"
/* Postfix 3.6 name; the old one is its default, as in Postfix. */
#define VAR_PSC_BLIST_ACTION "postscreen_denylist_action"
#define DEF_PSC_BLIST_ACTION "$postscreen_blacklist_action"
#define VAR_PSC_BLIST_ACTION_OLD "postscreen_blacklist_action"
#define DEF_PSC_BLIST_ACTION_OLD "ignore"
#define VAR_PSC_GREET_BANNER "postscreen_greet_banner"
#define DEF_PSC_GREET_BANNER "$smtpd_banner"
#define VAR_PSC_GREET_ACTION "postscreen_greet_action"
#define DEF_PSC_GREET_ACTION "ignore"
#define VAR_PSC_DNSBL_SITES "postscreen_dnsbl_sites"
#define DEF_PSC_DNSBL_SITES ""
#define VAR_PSC_DNSBL_ACTION "postscreen_dnsbl_action"
#define DEF_PSC_DNSBL_ACTION "ignore"
#define VAR_PSC_DNSBL_REPLY "postscreen_dnsbl_reply_map"
#define DEF_PSC_DNSBL_REPLY ""

/* Integers. */
#define VAR_PSC_DNSBL_THRESH "postscreen_dnsbl_threshold"
#define DEF_PSC_DNSBL_THRESH 1
#define VAR_PSC_DNSBL_ALTHRESH "postscreen_dnsbl_allowlist_threshold"
#define DEF_PSC_DNSBL_ALTHRESH 0
#define VAR_PSC_CCONN_LIMIT "postscreen_client_connection_count_limit"
#define DEF_PSC_CCONN_LIMIT 50 /* $smtpd_client_connection_count_limit */
#define VAR_PSC_PRE_QLIMIT "postscreen_pre_queue_limit"
#define DEF_PSC_PRE_QLIMIT 1000 /* Postfix: $default_process_limit */
/* Postmesh: every connection, tested and proxied. */
#define VAR_PSC_CONN_LIMIT "postscreen_connection_limit"
#define DEF_PSC_CONN_LIMIT 10000
#define VAR_PSC_CMD_COUNT "postscreen_command_count_limit"
#define DEF_PSC_CMD_COUNT 20
#define VAR_PSC_BACKLOG "postscreen_listen_backlog" /* Postmesh */
#define DEF_PSC_BACKLOG 1024
/* Postmesh: bytes buffered per direction of a proxied connection. */
#define VAR_PSC_RELAY_BUF "postscreen_relay_buffer_size"
#define DEF_PSC_RELAY_BUF 65536

/* Times (seconds). */
#define VAR_PSC_GREET_WAIT "postscreen_greet_wait"
#define DEF_PSC_GREET_WAIT "6s"
#define VAR_PSC_GREET_TTL "postscreen_greet_ttl"
#define DEF_PSC_GREET_TTL "1d"
#define VAR_PSC_DNSBL_TMOUT "postscreen_dnsbl_timeout"
#define DEF_PSC_DNSBL_TMOUT "10s"
#define VAR_PSC_DNSBL_MIN_TTL "postscreen_dnsbl_min_ttl"
#define DEF_PSC_DNSBL_MIN_TTL "60s"
#define VAR_PSC_DNSBL_MAX_TTL "postscreen_dnsbl_max_ttl"
#define DEF_PSC_DNSBL_MAX_TTL "1h"
#define VAR_PSC_CMD_TIME "postscreen_command_time_limit"
#define DEF_PSC_CMD_TIME "300s"
/* Postmesh: connecting to an smtpd; and a proxied connection idle. */
#define VAR_PSC_CONNECT_TMOUT "postscreen_smtpd_connect_timeout"
#define DEF_PSC_CONNECT_TMOUT "5s"
#define VAR_PSC_RELAY_TMOUT "postscreen_relay_timeout"
#define DEF_PSC_RELAY_TMOUT "600s"
/* Postmesh: waiting for the Redis cache; pause after a Redis failure. */
#define VAR_PSC_CACHE_TMOUT "postscreen_cache_timeout"
#define DEF_PSC_CACHE_TMOUT "1s"
#define VAR_PSC_CACHE_RETRY "postscreen_cache_retry_delay"
#define DEF_PSC_CACHE_RETRY "5s"

extern char *var_psc_listen;
extern char *var_psc_metrics_listen;
extern char *var_psc_smtpd_service;
extern char *var_psc_acl;
extern char *var_psc_blist_action;
extern char *var_psc_blist_action_old;
extern char *var_psc_greet_banner;
extern char *var_psc_greet_action;
extern char *var_psc_dnsbl_sites;
extern char *var_psc_dnsbl_action;
extern char *var_psc_dnsbl_reply;
extern long var_psc_dnsbl_thresh;
extern long var_psc_dnsbl_althresh;
extern long var_psc_cconn_limit;
extern long var_psc_pre_qlimit;
extern long var_psc_conn_limit;
extern long var_psc_cmd_count;
extern long var_psc_backlog;
extern long var_psc_relay_buf;
extern long var_psc_greet_wait;
extern long var_psc_greet_ttl;
extern long var_psc_dnsbl_tmout;
extern long var_psc_dnsbl_min_ttl;
extern long var_psc_dnsbl_max_ttl;
extern long var_psc_cmd_time;
extern long var_psc_connect_tmout;
extern long var_psc_relay_tmout;
extern long var_psc_cache_tmout;
extern long var_psc_cache_retry;

#endif
