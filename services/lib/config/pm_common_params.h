/*
 * NAME
 *	pm_common_params - parameters every service binds
 * DESCRIPTION
 *	Postfix names where the meaning is Postfix's; Postmesh additions
 *	(endpoints, Redis) follow the same style. pm_server_main() binds
 *	these before the service's own tables. Defaults are in pm_params.c.
 */
#ifndef PM_COMMON_PARAMS_H
#define PM_COMMON_PARAMS_H

#include "pm_cfg.h"

#define VAR_MYHOSTNAME "myhostname"
#define VAR_MYDOMAIN "mydomain"
#define VAR_MYORIGIN "myorigin"
#define VAR_MYDEST "mydestination"
#define VAR_MYNETWORKS "mynetworks"
#define VAR_RELAY_DOMAINS "relay_domains"
#define VAR_MAIL_NAME "mail_name"
/* Log tag before "/<service>", as Postfix: "postmesh/submission". */
#define VAR_SYSLOG_NAME "syslog_name"
/* Postmesh: this instance's stable name (Redis consumer name); one per
 * instance, e.g. the StatefulSet pod name. Default $myhostname. */
#define VAR_INSTANCE_NAME "service_instance_name"
#define PM_INSTANCE_NAME_MAX 128
#define VAR_REDIS_SERVER "redis_server"   /* host:port or unix:/path */
#define VAR_REDIS_TIMEOUT "redis_timeout" /* time */
#define VAR_REDIS_USER "redis_user"       /* ACL user, "" = default */
#define VAR_REDIS_PASSWORD_FILE \
	"redis_password_file" /* first line: password; "" = no AUTH */
/* Postmesh: Redis Sentinel (pm_qstore_sentinel.c); "" = redis_server. */
#define VAR_REDIS_SEN_SERVERS "redis_sentinel_servers" /* host:port list */
#define VAR_REDIS_SEN_MASTER "redis_sentinel_master"   /* monitored name */
#define VAR_REDIS_SEN_PASS_FILE \
	"redis_sentinel_password_file" /* "" = no AUTH to sentinels */
#define VAR_REDIS_SEN_TIMEOUT "redis_sentinel_timeout" /* per sentinel */
#define VAR_QUEUE_SHARDS "queue_shards"
#define VAR_BODY_STORE "queue_body_store"       /* redis | fs:/path */
#define VAR_QUEUE_DURABILITY "queue_durability" /* fsync | replica | none */
#define VAR_MSG_SIZE_LIMIT "message_size_limit"
#define VAR_CLEANUP_SERVICE "cleanup_service" /* nng URL(s) */
#define VAR_REWRITE_SERVICE "rewrite_service"
#define VAR_IPC_TIMEOUT "ipc_timeout" /* time */
/* Postmesh: host names in *_service lists are looked up again this often
 * (pm_rpc_disco.h). */
#define VAR_SERVICE_RESOLVE_INTERVAL "service_resolve_interval"
/* Postmesh: after SIGTERM a service with a listener answers /readyz 503
 * but goes on serving this long before it stops (pm_server.h). */
#define VAR_SERVICE_STOP_DELAY "service_stop_delay"
#define VAR_DNS_SERVER "dns_server" /* host[:port] list, "" = resolv.conf */
#define VAR_PCRE_MATCH_LIMIT \
	"pcre_match_limit" /* pcre: tables, see pm_table.h */
/* Internal mutual TLS for tls+tcp:// service URLs (pm_rpc_tls.h). */
#define VAR_INT_TLS_CA_FILE "internal_tls_ca_file"
#define VAR_INT_TLS_CERT_FILE "internal_tls_cert_file"
#define VAR_INT_TLS_KEY_FILE "internal_tls_key_file"    /* "" = in cert file */
#define VAR_INT_TLS_SRV_NAME "internal_tls_server_name" /* "" = unchecked */

extern char *var_myhostname;
extern char *var_mydomain;
extern char *var_myorigin;
extern char *var_mydest;
extern char *var_mynetworks;
extern char *var_relay_domains;
extern char *var_mail_name;
extern char *var_syslog_name;
extern char *var_instance_name;
extern char *var_redis_server;
extern long var_redis_timeout;
extern char *var_redis_user;
extern char *var_redis_password_file;
extern char *var_redis_sen_servers;
extern char *var_redis_sen_master;
extern char *var_redis_sen_pass_file;
extern long var_redis_sen_timeout;
extern long var_queue_shards;
extern char *var_body_store;
extern char *var_queue_durability;
extern long var_message_size_limit;
extern char *var_cleanup_service;
extern char *var_rewrite_service;
extern long var_ipc_timeout;
extern long var_service_resolve_interval;
extern long var_service_stop_delay;
extern char *var_dns_server;
extern long var_pcre_match_limit;
extern char *var_int_tls_ca_file;
extern char *var_int_tls_cert_file;
extern char *var_int_tls_key_file;
extern char *var_int_tls_srv_name;

/* Bind all of the above (pm_server_main calls it; tests may). */
void pm_common_params_bind(void);
/* Reload: bind again those named in only (pm_cfg_rebind()). */
int pm_common_params_rebind(const char *const *only, int check_only,
    char **errp);
/* The internal_tls_* names, NULL-terminated (rebound on SIGHUP). */
extern const char *const pm_common_tls_params[];

#endif
