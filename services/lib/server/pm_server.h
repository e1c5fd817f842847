/*
 * NAME
 *	pm_server - the common main() of every service
 * SUMMARY
 *	#include "pm_server.h"
 *	return (pm_server_main(&svc, argc, argv));
 * DESCRIPTION
 *	pm_server_main():
 *	1. parses the command line: -c config_dir (else $MAIL_CONFIG, else
 *	   /etc/postmesh), -o name=value (repeatable, overrides main.cf),
 *	   -v (verbose);
 *	2. loads main.cf, binds the common parameters (pm_common_params.h)
 *	   and the service's tables, warns about unknown names;
 *	3. starts logging as "postmesh/<name>" ("<syslog_name>/<name>"
 *	   with syslog_name, e.g. "postmesh/submission/smtpd") and logs
 *	   "daemon started";
 *	   configures internal TLS from internal_tls_* (pm_server_tls.c;
 *	   a file that cannot be used is fatal);
 *	4. calls pre_init() (may be NULL): open tables, check config;
 *	   with .queue set, opens the process's queue store and loads the
 *	   Redis Functions (pm_server_queue.h);
 *	5. starts the metrics/health HTTP server on the URL in the
 *	   parameter named by metrics_param (e.g. "smtpd_metrics_listen";
 *	   empty value = no HTTP server);
 *	6. if listen_param is set, starts the nng RPC server on that URL
 *	   with the value of workers_param worker threads and the handler;
 *	7. calls post_init() (may be NULL);
 *	8. if run is set, calls run() (a service with its own event loop,
 *	   like smtpd; it must return when pm_server_stopping() becomes
 *	   true or when woken by pm_server_on_stop); else waits for a signal;
 *	9. on SIGTERM/SIGINT: /readyz answers 503 at once. A service that
 *	   clients connect to (listen_param set, or .serves) then goes on
 *	   working for service_stop_delay (0 s by default), so that
 *	   Kubernetes takes it out of its Service and the clients' name
 *	   lookups (service_resolve_interval) drop it before it closes;
 *	   a second SIGTERM/SIGINT ends the delay. Then the stop:
 *	   pm_server_stopping() becomes true, the pm_server_on_stop()
 *	   callbacks run (smtpd closes its listener, agents stop
 *	   fetching, qmgr hands back), run() returns; the RPC server
 *	   stops (in-flight requests finish and their replies go out;
 *	   requests not yet taken are dropped with the connection, and a
 *	   client with pm_rpc_client_set_resend() sends them again to
 *	   another peer), fini() (may be NULL) is called, the queue store
 *	   closed, "daemon stopped" logged, 0 returned.
 *
 *	SIGHUP is Postfix's "postfix reload" (pm_server_reload.c): main.cf
 *	is read again (-o and POSTMESH_<name> still win); the parameters
 *	named in reload_params (of the service's tables and the common
 *	ones) are bound again, all checked first, none changed if one is
 *	bad; then reload() (if set) rebuilds what depends on them (tables,
 *	restrictions), reading the new values. Each changed parameter is
 *	logged: applied, or "changed; restart <service> to apply it" for
 *	one that is used only at start (listen addresses, thread counts,
 *	Redis, queue shards ...). The internal TLS files are read again at
 *	every SIGHUP (certificate rotation), for new connections.
 */
#ifndef PM_SERVER_H
#define PM_SERVER_H

#include <stddef.h>

#include "pm_cfg.h"
#include "pm_rpc.h"

typedef struct pm_service {
	const char *name;       /* "cleanup" */
	const pm_cfg_str *strs; /* tables, each may be NULL */
	const pm_cfg_int *ints;
	const pm_cfg_time *times;
	const pm_cfg_bool *bools;
	const char *listen_param;   /* nng URL parameter, or NULL */
	const char *workers_param;  /* int parameter: worker threads */
	const char *metrics_param;  /* HTTP URL parameter, or NULL */
	size_t recvmax;             /* RPC RECVMAXSZ; 0 = PM_RPC_CONTROL_MAX */
	size_t (*recvmax_fn)(void); /* if set, overrides recvmax after config */
	pm_rpc_handler handler;
	void *(*thread_init)(void);
	void (*thread_fini)(void *);
	int (*pre_init)(void); /* nonzero return: fatal */
	int (*post_init)(void);
	int (*run)(void);
	void (*fini)(void);
	void (*reload)(void);
	const char *const *reload_params; /* SIGHUP binds these again */
	int (*ready)(void);               /* for /readyz; NULL = always ready */
	int serves; /* 1: clients connect (no listen_param): stop delay */
	int queue;  /* 1: keep a queue store (pm_server_queue.h) */
} pm_service;

int pm_server_main(const pm_service *svc, int argc, char **argv);

/*
 * Called by a service's reload() that kept its old configuration (a
 * table that does not open, a bad restriction): the parameters only
 * reload() looked up are then logged as not applied.
 */
void pm_server_reload_failed(void);
/*
 * Called by a service's reload() that kept its old use of some of its
 * reload_params (bound again, but what reads them refused the new
 * values): names (NULL-terminated, static) are logged as not applied
 * and compared with the old values at the next reload. Implies
 * pm_server_reload_failed(); at most PM_SERVER_RELOAD_KEPT_MAX lists.
 */
#define PM_SERVER_RELOAD_KEPT_MAX 8
void pm_server_reload_kept(const char *const *names);

/* True once the stop began: SIGTERM/SIGINT plus service_stop_delay. */
int pm_server_stopping(void);
/*
 * Register a function called (from the signal-watching thread, not a
 * signal handler) when a stop is requested, e.g. to break an event loop.
 */
void pm_server_on_stop(void (*fn)(void *), void *arg);

#endif
