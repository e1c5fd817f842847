/*
 * NAME
 *	test_cfg_defaults - the library's table of parameter defaults
 * DESCRIPTION
 *	Compares a table of the defaults the brief promises with
 *	pm_param_defaults (services/lib/config/pm_params.c), and checks
 *	that a service table's default that differs from the library's is
 *	reported and that a parameter without any default is warned about.
 */
#include <criterion/criterion.h>

#include "cfg_helper.h"

/* What the service tables in params_table bind to. */
static char *b_str;
static long b_int, b_time;

/* pm_params.c holds what the brief promises, and nothing conflicts. */
Test(cfg, params_table)
{
	static const struct {
		const char *name, *defval;
	} want[] = {
		{ "myorigin", "$myhostname" },
		{ "mydestination",
		    "$myhostname, localhost.$mydomain, localhost" },
		{ "mynetworks", "127.0.0.1/32 [::1]/128" },
		{ "relay_domains", "" },
		{ "mail_name", "Postmesh" },
		{ "smtpd_banner", "$myhostname ESMTP $mail_name" },
		{ "inet_interfaces", "all" },
		{ "redis_server", "127.0.0.1:6379" },
		{ "redis_timeout", "10s" },
		{ "queue_shards", "1" },
		{ "queue_body_store", "redis" },
		{ "queue_durability", "fsync" },
		{ "message_size_limit", "10240000" },
		{ "cleanup_service", "tcp://127.0.0.1:10025" },
		{ "cleanup_listen", "tcp://127.0.0.1:10025" },
		{ "rewrite_service", "tcp://127.0.0.1:10010" },
		{ "rewrite_listen", "tcp://127.0.0.1:10010" },
		{ "ipc_timeout", "3600s" },
		{ "dns_server", "" },
		{ "smtpd_listen", "127.0.0.1:2525" },
		{ "smtpd_metrics_listen", "http://127.0.0.1:9125" },
		{ "cleanup_metrics_listen", "http://127.0.0.1:9126" },
		{ "rewrite_metrics_listen", "http://127.0.0.1:9110" },
		{ "local_recipient_maps", "unix:passwd.byname $alias_maps" },
		{ "alias_maps", "" },
		{ "virtual_alias_maps", "" },
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
		{ "hopcount_limit", "50" },
		{ "header_size_limit", "102400" },
		{ "drop_headers",
		    "bcc, content-length, resent-bcc, return-path" },
		{ "line_length_limit", "2048" },
		{ "smtpd_recipient_limit", "1000" },
		{ "smtpd_timeout", "300s" },
		{ "smtpd_hard_error_limit", "20" },
		{ "smtpd_soft_error_limit", "10" },
		{ "smtpd_error_sleep_time", "1s" },
		{ "smtpd_junk_command_limit", "100" },
		{ "smtpd_helo_required", "yes" },
		{ "smtpd_delay_reject", "yes" },
		{ "smtpd_client_restrictions", "" },
		{ "smtpd_helo_restrictions", "" },
		{ "smtpd_sender_restrictions", "" },
		{ "smtpd_relay_restrictions",
		    "permit_mynetworks, "
		    "permit_sasl_authenticated, reject_unauth_destination" },
		{ "smtpd_recipient_restrictions", "" },
		{ "smtpd_data_restrictions", "" },
		{ "smtpd_reject_unlisted_recipient", "yes" },
		{ "smtpd_reject_unlisted_sender", "no" },
		{ "smtpd_forbid_bare_newline", "normalize" },
		{ "smtpd_forbid_unauth_pipelining", "yes" },
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
		    "debug_peer_list,"
		    "fast_flush_domains,mynetworks,permit_mx_backup_networks,"
		    "qmqpd_authorized_clients,relay_domains,"
		    "smtpd_access_maps" },
		{ "virtual_alias_expansion_limit", "1000" },
		{ "virtual_alias_recursion_limit", "1000" },
		{ "canonical_classes",
		    "envelope_sender, envelope_recipient, "
		    "header_sender, header_recipient" },
		{ "propagate_unmatched_extensions", "canonical, virtual" },
		{ "recipient_delimiter", "" },
		{ "append_dot_mydomain", "no" },
		{ "swap_bangpath", "yes" },
		{ "allow_percent_hack", "yes" },
		{ "always_add_missing_headers", "no" },
		{ "enable_original_recipient", "yes" },
	};
	static const pm_cfg_int conflict[] = {
		{ "hopcount_limit", 49, &b_int, 1, 0 },
		{ 0 },
	};
	static const pm_cfg_time same_time[] = {
		{ "ipc_timeout", "1h", &b_time, 's', 1, 0 },
		{ 0 },
	};
	static const pm_cfg_str nodef[] = {
		{ "zz_no_default", NULL, &b_str, 0, 0 },
		{ 0 },
	};
	const pm_param_default *p, *q;
	size_t i;
	char *out, *v;
	cap c;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		for (p = pm_param_defaults; p->name != NULL; p++) {
			if (strcmp(p->name, want[i].name) == 0) {
				break;
			}
		}
		cr_expect(p->name != NULL, "%s: missing from pm_params.c",
		    want[i].name);
		cr_expect(p->name == NULL ||
		        strcmp(p->defval, want[i].defval) == 0,
		    "%s: got \"%s\", want \"%s\"", want[i].name, p->defval,
		    want[i].defval);
	}
	for (p = pm_param_defaults; p->name != NULL; p++) {
		cr_expect(p->defval != NULL, "%s: NULL default", p->name);
		for (q = p + 1; q->name != NULL; q++) {
			cr_expect(strcmp(p->name, q->name) != 0,
			    "%s: listed twice", p->name);
		}
		/* every default expands without a warning */
	}
	cap_start(&c);
	for (p = pm_param_defaults; p->name != NULL; p++) {
		v = pm_cfg_get(p->name);
		cr_expect(v != NULL, "%s: get returned NULL", p->name);
		free(v);
	}
	pm_common_params_bind();
	pm_cfg_bind_time(same_time);
	out = cap_end(&c);
	cr_expect(strstr(out, "warning") == NULL,
	    "defaults or common tables warn:\n%s", out);
	free(out);

	/* the conflict check can fail */
	cap_start(&c);
	pm_cfg_bind_int(conflict);
	pm_cfg_bind_str(nodef);
	out = cap_end(&c);
	cr_expect(strstr(out,
	              "parameter hopcount_limit: table default \"49\" "
	              "differs from the library default \"50\"") != NULL,
	    "no conflict warning in:\n%s", out);
	cr_expect(b_int == 49, "table default not used: got %ld", b_int);
	cr_expect(strstr(out, "zz_no_default: no default") != NULL,
	    "no missing-default warning in:\n%s", out);
	free(out);
	pm_cfg_reset();
}
