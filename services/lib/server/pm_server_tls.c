/*
 * NAME
 *	pm_server_tls - internal TLS set-up of every service
 * SUMMARY
 *	#include "pm_server_priv.h"
 * DESCRIPTION
 *	pm__server_tls_init() (pm_server_main, after the parameters are
 *	bound and before any listener or client exists) gives the
 *	internal_tls_* parameters to pm_rpc_tls_configure(); a file that
 *	cannot be used is fatal, as any bad configuration at start.
 *	Without them internal TLS is off, and a tls+tcp:// URL is fatal
 *	where the listener or client is made.
 *
 *	pm__server_tls_reload() (SIGHUP) binds the internal_tls_*
 *	parameters again and reads the files again, whether their names
 *	changed or not: rotation replaces a certificate at the same path
 *	(a Kubernetes Secret volume does). New connections use the new
 *	certificates; a file that cannot be used keeps the ones in use.
 *
 *	pm__server_tls_describe() logs, once per listener, whether peers
 *	of a service address are authenticated: `make run` listens on
 *	plain tcp:// on loopback, and says so.
 * LIMITS
 *	See pm_rpc_tls.h.
 * SECURITY
 *	Certificate and key contents are never logged; file names are.
 */
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_rpc_tls.h"
#include "pm_server_priv.h"

#include <stdlib.h>
#include <string.h>

/* Configure from the parameters' current values (not yet bound). */
static int
server_tls_apply(char **errp)
{
	char *v[4];
	pm_rpc_tls_files f;
	int i, rc;

	for (i = 0; i < 4; i++) {
		if ((v[i] = pm_cfg_get(pm_common_tls_params[i])) == NULL) {
			v[i] = pm_strdup("");
		}
	}
	f.ca_file = v[0];
	f.cert_file = v[1];
	f.key_file = v[2];
	f.server_name = v[3];
	rc = pm_rpc_tls_configure(&f, errp);
	for (i = 0; i < 4; i++) {
		free(v[i]);
	}
	return (rc);
}

void
pm__server_tls_init(void)
{
	char *err = NULL;

	if (server_tls_apply(&err) != 0) {
		pm_msg_fatal("%s", err);
	}
	if (pm_rpc_tls_enabled()) {
		pm_msg_info("internal TLS: CA %s, certificate %s%s%s",
		    var_int_tls_ca_file, var_int_tls_cert_file,
		    *var_int_tls_srv_name ? ", server name " : "",
		    var_int_tls_srv_name);
	}
}

int
pm__server_tls_reload(void)
{
	char *err = NULL;

	/* Bound only once the files proved usable. */
	if (pm_common_params_rebind(pm_common_tls_params, 1, &err) != 0 ||
	    server_tls_apply(&err) != 0 ||
	    pm_common_params_rebind(pm_common_tls_params, 0, &err) != 0) {
		pm_msg_error("reload: %s; keeping the internal TLS "
		             "certificates in use",
		    err);
		free(err);
		return (-1);
	}
	if (pm_rpc_tls_enabled()) {
		pm_msg_info("reload: internal TLS certificates read again "
		            "from %s and %s",
		    var_int_tls_ca_file, var_int_tls_cert_file);
	}
	return (0);
}

void
pm__server_tls_describe(const char *param, const char *url)
{
	if (pm_rpc_tls_url(url)) {
		pm_msg_info("%s = %s: peers must show a certificate from "
		            "internal_tls_ca_file",
		    param, url);
	} else if (strncmp(url, "tcp", 3) == 0) {
		pm_msg_info("%s = %s: plain TCP, peers are not "
		            "authenticated (use tls+tcp:// and "
		            "internal_tls_*, docs/security.md)",
		    param, url);
	}
}
