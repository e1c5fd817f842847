/*
 * NAME
 *	pm_common_params - parameters every service binds
 * DESCRIPTION
 *	See pm_common_params.h. The default strings live in pm_params.c
 *	(NULL defval here means "the lib default").
 */
#include "pm_common_params.h"

char *var_myhostname;
char *var_mydomain;
char *var_myorigin;
char *var_mydest;
char *var_mynetworks;
char *var_relay_domains;
char *var_mail_name;
char *var_syslog_name;
char *var_instance_name;
char *var_redis_server;
long var_redis_timeout;
char *var_redis_user;
char *var_redis_password_file;
char *var_redis_sen_servers;
char *var_redis_sen_master;
char *var_redis_sen_pass_file;
long var_redis_sen_timeout;
long var_queue_shards;
char *var_body_store;
char *var_queue_durability;
long var_message_size_limit;
char *var_cleanup_service;
char *var_rewrite_service;
long var_ipc_timeout;
long var_service_resolve_interval;
long var_service_stop_delay;
char *var_dns_server;
long var_pcre_match_limit;
char *var_int_tls_ca_file;
char *var_int_tls_cert_file;
char *var_int_tls_key_file;
char *var_int_tls_srv_name;

const char *const pm_common_tls_params[] = {
	VAR_INT_TLS_CA_FILE,
	VAR_INT_TLS_CERT_FILE,
	VAR_INT_TLS_KEY_FILE,
	VAR_INT_TLS_SRV_NAME,
	NULL,
};

static const pm_cfg_str common_strs[] = {
	{ VAR_MYHOSTNAME, NULL, &var_myhostname, 1, 255 },
	{ VAR_MYDOMAIN, NULL, &var_mydomain, 1, 255 },
	{ VAR_MYORIGIN, NULL, &var_myorigin, 1, 255 },
	{ VAR_MYDEST, NULL, &var_mydest, 0, 0 },
	{ VAR_MYNETWORKS, NULL, &var_mynetworks, 0, 0 },
	{ VAR_RELAY_DOMAINS, NULL, &var_relay_domains, 0, 0 },
	{ VAR_MAIL_NAME, NULL, &var_mail_name, 1, 64 },
	{ VAR_SYSLOG_NAME, NULL, &var_syslog_name, 1, 64 },
	{ VAR_INSTANCE_NAME, NULL, &var_instance_name, 1,
	    PM_INSTANCE_NAME_MAX },
	{ VAR_REDIS_SERVER, NULL, &var_redis_server, 1, 1024 },
	{ VAR_REDIS_USER, NULL, &var_redis_user, 0, 128 },
	{ VAR_REDIS_PASSWORD_FILE, NULL, &var_redis_password_file, 0, 1024 },
	{ VAR_REDIS_SEN_SERVERS, NULL, &var_redis_sen_servers, 0, 1024 },
	{ VAR_REDIS_SEN_MASTER, NULL, &var_redis_sen_master, 1, 128 },
	{ VAR_REDIS_SEN_PASS_FILE, NULL, &var_redis_sen_pass_file, 0, 1024 },
	{ VAR_BODY_STORE, NULL, &var_body_store, 1, 1024 },
	{ VAR_QUEUE_DURABILITY, NULL, &var_queue_durability, 1, 16 },
	{ VAR_CLEANUP_SERVICE, NULL, &var_cleanup_service, 1, 0 },
	{ VAR_REWRITE_SERVICE, NULL, &var_rewrite_service, 1, 0 },
	{ VAR_DNS_SERVER, NULL, &var_dns_server, 0, 1024 },
	{ VAR_INT_TLS_CA_FILE, "", &var_int_tls_ca_file, 0, 1024 },
	{ VAR_INT_TLS_CERT_FILE, "", &var_int_tls_cert_file, 0, 1024 },
	{ VAR_INT_TLS_KEY_FILE, "", &var_int_tls_key_file, 0, 1024 },
	{ VAR_INT_TLS_SRV_NAME, "", &var_int_tls_srv_name, 0, 255 },
	{ 0 },
};
static const pm_cfg_int common_ints[] = {
	{ VAR_QUEUE_SHARDS, 1, &var_queue_shards, 1, 1024 },
	{ VAR_MSG_SIZE_LIMIT, 10240000, &var_message_size_limit, 1024,
	    1024L * 1024 * 1024 },
	{ VAR_PCRE_MATCH_LIMIT, 10000000, &var_pcre_match_limit, 1000,
	    4294967295L },
	{ 0 },
};
static const pm_cfg_time common_times[] = {
	{ VAR_REDIS_TIMEOUT, "10s", &var_redis_timeout, 's', 1, 3600 },
	{ VAR_REDIS_SEN_TIMEOUT, "1s", &var_redis_sen_timeout, 's', 1, 60 },
	{ VAR_IPC_TIMEOUT, "3600s", &var_ipc_timeout, 's', 1, 86400 },
	{ VAR_SERVICE_RESOLVE_INTERVAL, "5s", &var_service_resolve_interval,
	    's', 1, 3600 },
	{ VAR_SERVICE_STOP_DELAY, "0s", &var_service_stop_delay, 's', 0, 600 },
	{ 0 },
};

void
pm_common_params_bind(void)
{
	pm_cfg_bind_str(common_strs);
	pm_cfg_bind_int(common_ints);
	pm_cfg_bind_time(common_times);
}

int
pm_common_params_rebind(const char *const *only, int check_only, char **errp)
{
	return (pm_cfg_rebind(common_strs, common_ints, common_times, NULL,
	    only, check_only, errp));
}
