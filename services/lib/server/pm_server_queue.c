/*
 * NAME
 *	pm_server_queue - the queue store connection every Redis role shares
 * DESCRIPTION
 *	See pm_server_queue.h.
 *	The Redis credentials (redis_user, redis_password_file) are read
 *	when the process opens its first store, so roles without Redis
 *	(rewrite; smtpd only for its TLS session ticket keys,
 *	smtpd_tls_ticket.c) never need the secret, and again on SIGHUP
 *	(pm__server_queue_reload()); pm_qstore sends them on every later
 *	connection. A file that cannot be read at start fails the open
 *	(the service stops: bad configuration); at a reload it keeps the
 *	credentials in use. The sentinels (redis_sentinel_*) are handed
 *	to pm_qstore at the same first open, and only then (start-only).
 * LIMITS
 *	One process-wide store, serialised by one mutex (readiness probes
 *	and the service's own rare uses).
 * SECURITY
 *	The password is read from a file only (pm_secret), never logged.
 */
#include "pm_server_queue.h"

#include <pthread.h>
#include <stdlib.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_secret.h"
#include "pm_server.h"
#include "pm_util.h"

static pthread_mutex_t queue_mu = PTHREAD_MUTEX_INITIALIZER;
static pm_qstore *queue_qs;

static pthread_mutex_t auth_mu = PTHREAD_MUTEX_INITIALIZER;
static int auth_loaded; /* under auth_mu: credentials handed to pm_qstore */

/*
 * Read redis_password_file and hand the credentials to pm_qstore.
 * Returns 0 or -1 (logged; the credentials in use stay). auth_mu held.
 */
static int
server_auth_load(const char *when)
{
	char why[512], *pass = NULL;
	int exposed = 0;

	if (*var_redis_password_file == 0) {
		pm_qstore_set_auth(NULL, NULL);
		return (0);
	}
	if (pm_secret_read(&pass, &exposed, var_redis_password_file, why,
	        sizeof(why)) != 0) {
		pm_msg_error("%s%s = %s: %s", when, VAR_REDIS_PASSWORD_FILE,
		    var_redis_password_file, why);
		return (-1);
	}
	if (exposed) {
		pm_msg_warn("%s = %s can be read by others or by a group "
		            "this process is not in: make it mode 0400 or 0600 "
		            "(Kubernetes: defaultMode 0440 with fsGroup)",
		    VAR_REDIS_PASSWORD_FILE, var_redis_password_file);
	}
	pm_qstore_set_auth(var_redis_user, pass);
	pass = pm_secret_free(pass);
	pm_msg_info("%sRedis at %s: user %s, password from %s", when,
	    *var_redis_sen_servers ? var_redis_sen_master : var_redis_server,
	    *var_redis_user ? var_redis_user : "default",
	    var_redis_password_file);
	return (0);
}

/*
 * redis_sentinel_*: hand the sentinels to pm_qstore (at the first open,
 * auth_mu held). Returns 0 or -1 (logged: bad configuration).
 */
static int
server_sentinel_load(void)
{
	char why[512], *pass = NULL;
	int exposed = 0, rc;

	if (*var_redis_sen_servers == 0) {
		return (0);
	}
	if (*var_redis_sen_pass_file != 0) {
		if (pm_secret_read(&pass, &exposed, var_redis_sen_pass_file,
		        why, sizeof(why)) != 0) {
			pm_msg_error("%s = %s: %s", VAR_REDIS_SEN_PASS_FILE,
			    var_redis_sen_pass_file, why);
			return (-1);
		}
		if (exposed) {
			pm_msg_warn(
			    "%s = %s can be read by others or by a "
			    "group this process is not in: make it mode "
			    "0400 or 0600",
			    VAR_REDIS_SEN_PASS_FILE, var_redis_sen_pass_file);
		}
	}
	rc = pm_qstore_set_sentinels(var_redis_sen_servers,
	    var_redis_sen_master, pass, (int) (var_redis_sen_timeout * 1000));
	pass = pm_secret_free(pass);
	if (rc != 0) {
		pm_msg_error("bad %s value \"%s\": want a list of at most "
		             "16 host:port",
		    VAR_REDIS_SEN_SERVERS, var_redis_sen_servers);
		return (-1);
	}
	pm_msg_info("Redis master %s from the sentinels %s (%s is not used)",
	    var_redis_sen_master, var_redis_sen_servers, VAR_REDIS_SERVER);
	return (0);
}

pm_qstore *
pm_server_qstore_open(void)
{
	pm_qstore *qs;
	int err = 0;

	/* Only roles that use Redis read the secret (smtpd: TLS tickets). */
	pthread_mutex_lock(&auth_mu);
	if (!auth_loaded) {
		err = server_auth_load("");
		if (err == 0) {
			err = server_sentinel_load();
		}
		auth_loaded = err == 0;
	}
	pthread_mutex_unlock(&auth_mu);
	if (err != 0) {
		return (NULL);
	}
	qs = pm_qstore_open(var_redis_server, (int) (var_redis_timeout * 1000),
	    var_body_store, (int) var_queue_shards);
	if (qs == NULL) {
		pm_msg_error("cannot use %s = %s, %s = %s", VAR_REDIS_SERVER,
		    var_redis_server, VAR_BODY_STORE, var_body_store);
	}
	return (qs);
}

pm_qstore *
pm_server_qstore_must(void)
{
	pm_qstore *qs = pm_server_qstore_open();

	if (qs == NULL) {
		pm_msg_fatal("cannot open the queue store");
	}
	return (qs);
}

void
pm__server_queue_reload(void)
{
	static const char *const names[] = { VAR_REDIS_USER,
		VAR_REDIS_PASSWORD_FILE, NULL };
	char *err = NULL;

	pthread_mutex_lock(&auth_mu);
	if (!auth_loaded) { /* this role has no Redis connection */
		pthread_mutex_unlock(&auth_mu);
		return;
	}
	if (pm_common_params_rebind(names, 1, &err) != 0) {
		pm_msg_error("reload: %s; keeping the Redis credentials", err);
		free(err);
		pm_server_reload_failed();
	} else {
		(void) pm_common_params_rebind(names, 0, &err);
		if (server_auth_load("reload: ") != 0) {
			pm_msg_error("reload: keeping the Redis credentials in "
			             "use");
			pm_server_reload_failed();
		}
	}
	pthread_mutex_unlock(&auth_mu);
}

void
pm__server_queue_start(void)
{
	pm_qstore *qs = pm_server_qstore_must();
	int err;

	pthread_mutex_lock(&queue_mu);
	queue_qs = qs;
	err = pm_qstore_load_functions(queue_qs);
	if (err != 0) { /* the server name may change: under queue_mu */
		pm_msg_warn("cannot load the queue functions into Redis at %s:"
		            " %s; will retry",
		    pm_qstore_server(qs), pm_strerror(err));
	}
	pthread_mutex_unlock(&queue_mu);
	pm__server_redis_start();
}

int
pm__server_queue_ready(void)
{
	int rc;

	pthread_mutex_lock(&queue_mu);
	rc = queue_qs != NULL ? pm_qstore_probe(queue_qs) : PM_EREDIS;
	pthread_mutex_unlock(&queue_mu);
	pm__server_redis_note(rc);
	return (rc == 0); /* down or loading: not ready */
}

pm_qstore *
pm_server_queue_lock(void)
{
	pthread_mutex_lock(&queue_mu);
	return (queue_qs);
}

void
pm_server_queue_unlock(void)
{
	pthread_mutex_unlock(&queue_mu);
}

void
pm__server_queue_stop(void)
{
	pm__server_redis_stop();
	pthread_mutex_lock(&queue_mu);
	queue_qs = pm_qstore_close(queue_qs);
	pthread_mutex_unlock(&queue_mu);
}
