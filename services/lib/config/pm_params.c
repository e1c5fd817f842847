/*
 * NAME
 *	pm_params - built-in defaults of every library-known parameter
 * SUMMARY
 *	#include "pm_cfg.h"
 *	extern const pm_param_default pm_param_defaults[];
 * DESCRIPTION
 *	One {name, default-string} pair per parameter, terminated by
 *	{NULL, NULL}. pm_cfg uses the table when nothing else (environment,
 *	main.cf, -o, or the default of a bound typed table) gives a value,
 *	so that "$name" expands to something sensible in every service,
 *	and postconf can print every parameter.
 *
 *	Values are Postfix's defaults (3.x), except where Postmesh differs
 *	on purpose (marked "Postmesh"). Service-specific parameters (worker
 *	counts, queue manager windows) live with their service's table; a
 *	typed table default that disagrees with an entry here is warned
 *	about at bind time, so the two never silently drift apart.
 *
 *	myhostname and mydomain are computed by pm_cfg.c (see pm_cfg.h);
 *	their empty strings here are placeholders.
 * LIMITS
 *	None; this is data.
 * SECURITY
 *	The defaults never trust a network beyond loopback (mynetworks) and
 *	relay nothing beyond local and listed domains.
 */
#include "pm_cfg.h"
#include "pm_mail_params.h"

#include <stddef.h>

const pm_param_default pm_param_defaults[] = {
	/* Identity: computed in pm_cfg.c (placeholders). */
	{ "myhostname", "" },
	{ "mydomain", "" },
	{ "myorigin", "$myhostname" },
	{ "mydestination", "$myhostname, localhost.$mydomain, localhost" },
	/* Postmesh: never trust pod or node networks by default. */
	{ "mynetworks", "127.0.0.1/32 [::1]/128" },
	/* Postmesh: empty, the Postfix 3.x compatible default. */
	{ "relay_domains", "" },
	{ "mail_name", "Postmesh" },
	/* Postfix: "postfix"; master.cf entries set e.g.
	 * "postfix/submission". Logs say "<syslog_name>/<service>". */
	{ "syslog_name", "postmesh" },
	/* Postmesh: each instance's own stable name (its Redis consumer
	 * name); under Kubernetes the StatefulSet pod name. */
	{ "service_instance_name", "$myhostname" },
	{ "smtpd_banner", "$myhostname ESMTP $mail_name" },
	{ "inet_interfaces", "all" },

	/* Postmesh: queue store and service endpoints. */
	{ "redis_server", "127.0.0.1:6379" },
	{ "cache_redis_server", "$redis_server" },
	{ "redis_timeout", "10s" },
	/* Postmesh: after a failed call, the caches that fail open (anvil,
	 * verify) do not try Redis again for this long (pm_breaker.h). */
	{ "redis_cache_retry_delay", "1s" },
	/* Redis ACL user ("": default) and password file ("": no AUTH). */
	{ "redis_user", "" },
	{ "redis_password_file", "" },
	/* Redis Sentinel: sentinels to ask for the master ("": none, use
	 * redis_server), the master's name (Debian's sentinel.conf says
	 * mymaster), their password file, the wait for each one. */
	{ "redis_sentinel_servers", "" },
	{ "redis_sentinel_master", "mymaster" },
	{ "redis_sentinel_password_file", "" },
	{ "redis_sentinel_timeout", "1s" },
	{ "queue_shards", "1" },
	{ "queue_body_store", "redis" },
	{ "queue_durability", "fsync" },
	{ "message_size_limit", "10240000" },
	{ "cleanup_service", "tcp://127.0.0.1:10025" },
	{ "cleanup_listen", "tcp://127.0.0.1:10025" },
	{ "rewrite_service", "tcp://127.0.0.1:10010" },
	{ "rewrite_listen", "tcp://127.0.0.1:10010" },
	{ "ipc_timeout", "3600s" },
	/* Postmesh: how long sendmail(1) waits for cleanup (no local spool) */
	{ "sendmail_cleanup_timeout", "60s" },
	/* how often a host name in a *_service list is looked up again */
	{ "service_resolve_interval", "5s" },
	/* Postmesh: after SIGTERM, serve this long while unready (0: the
	 * stop begins at once; the Helm chart sets it) */
	{ "service_stop_delay", "0s" },
	{ "dns_server", "" },
	{ "smtpd_listen", "127.0.0.1:2525" },
	{ "smtpd_metrics_listen", "http://127.0.0.1:9125" },
	{ "cleanup_metrics_listen", "http://127.0.0.1:9126" },
	{ "rewrite_metrics_listen", "http://127.0.0.1:9110" },

	/* Address classes and lookup tables. */
	{ "local_recipient_maps", "unix:passwd.byname $alias_maps" },
	{ "alias_maps", "" },
	/* Postfix: hash:/etc/aliases. Postmesh: the tables alias_maps
	 * names, so there is one default; newaliases checks texthash:
	 * files and loads redis: tables (see docs/delivery.md). */
	{ "alias_database", "$alias_maps" },
	{ VAR_VIRT_ALIAS_MAPS, "" },
	{ "virtual_alias_domains", "$virtual_alias_maps" },
	{ "virtual_mailbox_domains", "" },
	{ "virtual_mailbox_maps", "" },
	{ "relay_recipient_maps", "" },
	{ "relayhost", "" },
	{ "relay_transport", "relay" },
	{ "default_transport", "smtp" },
	{ "local_transport", "local:$myhostname" },
	{ "virtual_transport", "virtual" },
	{ "transport_maps", "" },
	{ "relocated_maps", "" },
	{ "canonical_maps", "" },
	{ "sender_canonical_maps", "" },
	{ "recipient_canonical_maps", "" },
	{ "header_checks", "" },
	{ "body_checks", "" },
	/* Postmesh: Postfix has no such parameter; PCRE2's own default. */
	{ "pcre_match_limit", "10000000" },

	/* Message content limits. */
	{ "hopcount_limit", "50" },
	{ VAR_HEADER_LIMIT, PM_PARAM_STR(DEF_HEADER_LIMIT) },
	{ "drop_headers", "bcc, content-length, resent-bcc, return-path" },
	{ VAR_LINE_LIMIT, PM_PARAM_STR(DEF_LINE_LIMIT) },

	/* SMTP server. */
	{ "smtpd_recipient_limit", "1000" },
	{ "smtpd_timeout", "300s" },
	{ "smtpd_hard_error_limit", "20" },
	{ "smtpd_soft_error_limit", "10" },
	{ "smtpd_error_sleep_time", "1s" },
	{ "smtpd_junk_command_limit", "100" },
	/* Postmesh: HELO required by default. */
	{ "smtpd_helo_required", "yes" },
	{ "smtpd_delay_reject", "yes" },
	{ "smtpd_client_restrictions", "" },
	{ "smtpd_helo_restrictions", "" },
	{ "smtpd_sender_restrictions", "" },
	{ "smtpd_relay_restrictions",
	    "permit_mynetworks, permit_sasl_authenticated, "
	    "reject_unauth_destination" },
	{ "smtpd_recipient_restrictions", "" },
	{ "smtpd_data_restrictions", "" },
	{ "smtpd_reject_unlisted_recipient", "yes" },
	{ "smtpd_reject_unlisted_sender", "no" },
	{ "smtpd_forbid_bare_newline", "normalize" },
	{ "smtpd_forbid_unauth_pipelining", "yes" },
	/* Postmesh: per-request deadlines on by default. */
	{ "smtpd_per_request_deadline", "yes" },
	{ "smtpd_min_data_rate", "500" },
	{ "unknown_local_recipient_reject_code", "550" },
	{ "unknown_relay_recipient_reject_code", "550" },
	{ "unknown_virtual_alias_reject_code", "550" },
	{ "relay_domains_reject_code", "554" },
	{ "access_map_reject_code", "554" },
	{ "unknown_address_reject_code", "450" },
	{ "disable_vrfy_command", "no" },
	{ "smtpd_null_access_lookup_key", "<>" },
	{ "parent_domain_matches_subdomains",
	    "debug_peer_list,fast_flush_domains,mynetworks,"
	    "permit_mx_backup_networks,qmqpd_authorized_clients,"
	    "relay_domains,smtpd_access_maps" },

	/* Address rewriting (cleanup, trivial-rewrite). */
	{ "virtual_alias_expansion_limit", "1000" },
	{ "virtual_alias_recursion_limit", "1000" },
	{ "canonical_classes",
	    "envelope_sender, envelope_recipient, header_sender, "
	    "header_recipient" },
	{ "propagate_unmatched_extensions", "canonical, virtual" },
	{ "recipient_delimiter", "" },
	{ "append_dot_mydomain", "no" },
	{ "swap_bangpath", "yes" },
	{ "allow_percent_hack", "yes" },
	{ "resolve_dequoted_address", "yes" },
	{ "always_add_missing_headers", "no" },
	{ "enable_original_recipient", "yes" },

	/* smtpd restrictions (smtpd_access.c) and the rewrite client cache. */
	{ "smtpd_restriction_classes", "" },
	/* sender address -> SASL logins that may use it (smtpd_auth.c). */
	{ "smtpd_sender_login_maps", "" },
	/* Postmesh: the AUTH thread pool and its queue (smtpd_auth.c). */
	{ "smtpd_sasl_threads", "4" },
	{ "smtpd_sasl_queue_limit", "64" },
	{ "smtpd_dns_timeout", "10s" },
	{ "reject_code", "554" },
	{ "defer_code", "450" },
	{ "access_map_defer_code", "450" },
	{ "unknown_virtual_mailbox_reject_code", "550" },
	{ "unknown_client_reject_code", "450" },
	{ "unknown_hostname_reject_code", "450" },
	{ "non_fqdn_reject_code", "504" },
	{ "invalid_hostname_reject_code", "501" },
	{ "rewrite_cache_size", "10000" },
	{ "rewrite_cache_ttl", "60s" },
	/* DNS lists (smtpd_access_dnsbl.c). */
	{ "maps_rbl_reject_code", "554" },
	{ "default_rbl_reply",
	    "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked "
	    "using $rbl_domain${rbl_reason?; $rbl_reason}" },
	{ "rbl_reply_maps", "" },
	/* check_policy_service (smtpd_policy.c). */
	{ "smtpd_policy_service_timeout", "100s" },
	{ "smtpd_policy_service_max_idle", "300s" },
	{ "smtpd_policy_service_max_ttl", "1000s" },
	{ "smtpd_policy_service_request_limit", "0" },
	{ "smtpd_policy_service_default_action",
	    "451 4.3.5 Server configuration problem" },

	/* bounce service, error and discard agents (issue 3). */
	{ "bounce_service", "tcp://127.0.0.1:10040" },
	{ "bounce_listen", "tcp://127.0.0.1:10040" },
	{ "bounce_metrics_listen", "http://127.0.0.1:9140" },
	{ "bounce_size_limit", "50000" },
	{ "double_bounce_sender", "double-bounce" },
	{ "2bounce_notice_recipient", "postmaster" },
	{ "bounce_notice_recipient", "postmaster" },
	{ "error_metrics_listen", "http://127.0.0.1:9132" },
	{ "discard_metrics_listen", "http://127.0.0.1:9133" },
	{ "local_metrics_listen", "http://127.0.0.1:9134" },
	/* pipe agent (issue 11). */
	{ "pipe_metrics_listen", "http://127.0.0.1:9136" },

	/* qmgr (issue 3): queue manager, scheduling, retries. */
	{ "qmgr_listen", "tcp://127.0.0.1:10030" },
	{ "qmgr_service", "tcp://127.0.0.1:10030" },
	{ "qmgr_metrics_listen", "http://127.0.0.1:9130" },
	{ "qmgr_workers", "32" },
	{ "qmgr_consumer_name", "$service_instance_name" },
	{ "qmgr_intake_threads", "2" },
	{ "qmgr_message_active_limit", "20000" },
	{ "qmgr_message_recipient_limit", "20000" },
	{ "bounce_notice_recipient_limit", "400" },
	{ "qmgr_lease_time", "30s" },
	{ "qmgr_transport_wait", "30s" },
	{ "qmgr_fetch_wait_limit", "5s" },
	{ "qmgr_job_timeout", "1200s" },
	{ "qmgr_ipc_timeout", "60s" },
	{ "qmgr_stop_grace", "10s" },
	{ "minimal_backoff_time", "300s" },
	{ "maximal_backoff_time", "4000s" },
	{ "queue_run_delay", "300s" },
	{ VAR_MAX_QUEUE_TIME, DEF_MAX_QUEUE_TIME },
	{ "bounce_queue_lifetime", "5d" },
	{ VAR_DELAY_WARN_TIME, DEF_DELAY_WARN_TIME },
	{ "default_destination_recipient_limit", "50" },
	{ "default_destination_concurrency_limit", "20" },
	{ "initial_destination_concurrency", "5" },
	{ "default_destination_concurrency_failed_cohort_limit", "1" },
	{ "smtp_destination_concurrency_limit",
	    "$default_destination_concurrency_limit" },
	{ "smtp_destination_recipient_limit",
	    "$default_destination_recipient_limit" },
	{ "relay_destination_concurrency_limit",
	    "$default_destination_concurrency_limit" },
	{ "relay_destination_recipient_limit",
	    "$default_destination_recipient_limit" },
	{ "lmtp_destination_concurrency_limit",
	    "$default_destination_concurrency_limit" },
	{ "lmtp_destination_recipient_limit",
	    "$default_destination_recipient_limit" },
	{ "local_destination_concurrency_limit", "2" },
	{ "local_destination_recipient_limit", "1" },
	{ "virtual_destination_concurrency_limit",
	    "$default_destination_concurrency_limit" },
	{ "virtual_destination_recipient_limit",
	    "$default_destination_recipient_limit" },

	/* Delivery agents (pm_agent) and the smtp/lmtp client (issue 3). */
	{ "agent_fetch_wait", "5s" },
	{ "agent_stop_grace", "30s" },
	{ "agent_done_timeout", "10s" },
	{ "agent_queue_read_wait", "20s" },
	{ "smtp_metrics_listen", "http://127.0.0.1:9131" },
	/* virtual agent (issue 11): Postfix virtual(8) defaults. */
	{ "virtual_metrics_listen", "http://127.0.0.1:9135" },
	{ "virtual_mailbox_base", "" },
	{ "virtual_uid_maps", "" },
	{ "virtual_gid_maps", "" },
	{ "virtual_minimum_uid", "100" },
	{ "virtual_mailbox_limit", "51200000" },
	{ "virtual_mailbox_lock", "fcntl, dotlock" },
	{ VAR_LOCK_ATTEMPTS, PM_PARAM_STR(DEF_LOCK_ATTEMPTS) },
	{ VAR_LOCK_DELAY, DEF_LOCK_DELAY },
	{ VAR_STALE_LOCK_TIME, DEF_STALE_LOCK_TIME },
	{ "smtp_delivery_slots", "50" },
	{ "smtp_connect_timeout", "30s" },
	{ "smtp_helo_timeout", "300s" },
	{ "smtp_mail_timeout", "300s" },
	{ "smtp_rcpt_timeout", "300s" },
	{ "smtp_data_init_timeout", "120s" },
	{ "smtp_data_xfer_timeout", "180s" },
	{ "smtp_data_done_timeout", "600s" },
	{ "smtp_quit_timeout", "300s" },
	{ "smtp_rset_timeout", "20s" },
	{ "smtp_connection_cache_time_limit", "2s" },
	{ "smtp_connection_reuse_time_limit", "300s" },
	{ "smtp_connection_cache_limit", "100" },
	{ "smtp_helo_name", "$myhostname" },
	{ "smtp_tcp_port", "25" },
	{ "lmtp_tcp_port", "24" },
	{ "smtp_mx_address_limit", "5" },
	{ "smtp_mx_session_limit", "2" },
	{ "smtp_skip_5xx_greeting", "yes" },
	{ "smtp_line_length_limit", "998" },
	{ "smtp_discard_ehlo_keywords", "" },
	{ "inet_protocols", "all" },
	{ "mime_nesting_limit", "100" },
	/* The smtp client's TLS (issue 9; smtp_tls_params.h). */
	{ "smtp_tls_security_level", "" },
	{ "smtp_tls_policy_maps", "" },
	{ "smtp_tls_CAfile", "" },
	{ "smtp_tls_CApath", "" },
	{ "smtp_tls_servername", "" },
	{ "smtp_tls_verify_cert_match", "hostname" },
	{ "smtp_tls_secure_cert_match", "nexthop, dot-nexthop" },
	{ "smtp_tls_protocols", ">=TLSv1" },
	{ "smtp_tls_mandatory_protocols", ">=TLSv1" },
	{ "smtp_tls_ciphers", "medium" },
	{ "smtp_tls_mandatory_ciphers", "medium" },
	{ "smtp_tls_exclude_ciphers", "" },
	{ "smtp_tls_chain_files", "" },
	{ "smtp_tls_loglevel", "1" }, /* Postmesh: a line per handshake */
	{ "smtp_tls_session_cache_limit", "1000" }, /* Postmesh */
	{ "smtp_starttls_timeout", "300s" },
	{ "smtp_tls_session_cache_timeout", "3600s" },
	/* lmtp(8)'s TLS: Postfix's lmtp_ names and defaults. */
	{ "lmtp_tls_security_level", "" },
	{ "lmtp_tls_policy_maps", "" },
	{ "lmtp_tls_CAfile", "" },
	{ "lmtp_tls_CApath", "" },
	{ "lmtp_tls_servername", "" },
	{ "lmtp_tls_verify_cert_match", "hostname" },
	{ "lmtp_tls_secure_cert_match", "nexthop" },
	{ "lmtp_tls_protocols", ">=TLSv1" },
	{ "lmtp_tls_mandatory_protocols", ">=TLSv1" },
	{ "lmtp_tls_ciphers", "medium" },
	{ "lmtp_tls_mandatory_ciphers", "medium" },
	{ "lmtp_tls_exclude_ciphers", "" },
	{ "lmtp_tls_chain_files", "" },
	{ "lmtp_tls_loglevel", "1" }, /* Postmesh: a line per handshake */
	{ "lmtp_starttls_timeout", "300s" },

	/* Address verification (issue 10; pm_verify.h, smtpd_access_verify.c). */
	{ "address_verify_positive_expire_time", "31d" },
	{ "address_verify_positive_refresh_time", "7d" },
	{ "address_verify_negative_expire_time", "3d" },
	{ "address_verify_negative_refresh_time", "3h" },
	{ "address_verify_negative_cache", "yes" },
	/* Postmesh: Postfix's verify(8) hard-codes PROBE_TTL 1000s. */
	{ "address_verify_probe_ttl", "1000s" },
	/* Postmesh: how long a probe stays queued (then undeliverable). */
	{ "address_verify_probe_lifetime", "3h" },
	{ "address_verify_poll_count", "3" },
	{ "address_verify_poll_delay", "3s" },
	/* Postmesh: how many check threads may poll for a verify result at
	 * one time; 0: a quarter of smtpd_check_threads (at least 1). */
	{ "address_verify_poll_limit", "0" },
	{ "address_verify_sender", "$double_bounce_sender" },
	{ "unverified_recipient_reject_code", "450" },
	{ "unverified_sender_reject_code", "450" },
	{ "unverified_recipient_defer_code", "450" },
	{ "unverified_sender_defer_code", "450" },
	{ "unverified_recipient_reject_reason", "" },
	{ "unverified_sender_reject_reason", "" },
	{ "reject_tempfail_action", "defer_if_permit" },
	{ "unverified_recipient_tempfail_action", "$reject_tempfail_action" },
	{ "unverified_sender_tempfail_action", "$reject_tempfail_action" },

	{ NULL, NULL },
};
