/*
 * NAME
 *	pm_server - the common main() of every service
 * SUMMARY
 *	#include "pm_server.h"
 *	return (pm_server_main(&svc, argc, argv));
 * DESCRIPTION
 *	See pm_server.h for the sequence. Implementation notes:
 *
 *	Signals: SIGTERM, SIGINT, SIGHUP and SIGPIPE are blocked at the top
 *	of pm_server_main(), before any thread exists (nng starts its own
 *	threads on first use), so every thread inherits the mask; SIGPIPE is
 *	also ignored (a write to a closed socket gets EPIPE). One thread
 *	takes the signals with sigwait() and does the work in normal thread
 *	context: SIGHUP re-reads main.cf and calls reload()
 *	(pm__server_reload(); one that arrives before post_init() is done
 *	waits until then); SIGTERM/SIGINT set the unready flag (/readyz
 *	503), wait service_stop_delay in sigtimedwait() (a second
 *	SIGTERM/SIGINT ends the wait; SIGHUP is ignored by then), then set
 *	the stopping flag, call the pm_server_on_stop() callbacks, and
 *	wake main.
 *
 *	Stopping: after the wake-up (or after run() returns) main tells the
 *	signal thread to quit and joins it (so on_stop callbacks are done),
 *	stops the RPC server (running handlers finish), calls fini(), stops
 *	the HTTP server and logs "daemon stopped".
 *
 *	Memory: blocks of SERVER_MMAP_MIN bytes and more (message content)
 *	are mmap()ed by malloc and go back to the system when freed. glibc
 *	would otherwise raise that threshold after the first large free
 *	and keep the freed content of many messages in its arenas, so the
 *	RSS of smtpd and cleanup would not follow their content budget.
 * LIMITS
 *	At most SERVER_MAX_ON_STOP stop callbacks (a bug past that).
 *	service_stop_delay 0 .. 600 s (pm_common_params.c).
 * SECURITY
 *	The command line and main.cf are operator input; a bad value there
 *	is fatal at start, as in Postfix.
 */
#include "pm_server.h"
#include "pm_server_queue.h"
#include "pm_server_priv.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_rpc.h"
#include "pm_rpc_disco.h"
#include "pm_table.h"

#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef PM_VERSION
#define PM_VERSION "0.1"
#endif

#define SERVER_MAX_ON_STOP 32
#define SERVER_DEF_WORKERS 8
#define SERVER_DEF_CONFIG_DIR "/etc/postmesh"
#define SERVER_MMAP_MIN (256 * 1024) /* malloc M_MMAP_THRESHOLD */

static atomic_int srv_unready;  /* SIGTERM/SIGINT arrived: /readyz 503 */
static atomic_int srv_stopping; /* ... and the stop delay is over */
static atomic_int srv_sig_quit; /* main tells the signal thread */
static sigset_t srv_sigs;
static const pm_service *srv_svc;
static const char *srv_config_dir;
static char *srv_cfpath; /* -c dir/main.cf, or NULL: the default */

static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t srv_cv = PTHREAD_COND_INITIALIZER;
static int srv_wake;           /* under srv_mu */
static int srv_initialized;    /* under srv_mu: post_init() done */
static int srv_reload_pending; /* under srv_mu: SIGHUP while starting */
static struct {
	void (*fn)(void *);
	void *arg;
} srv_on_stop[SERVER_MAX_ON_STOP];
static int srv_non_stop; /* under srv_mu */

int
pm_server_stopping(void)
{
	return (atomic_load(&srv_stopping));
}

void
pm_server_on_stop(void (*fn)(void *), void *arg)
{
	int already;

	PM_ASSERT(fn != NULL);
	pthread_mutex_lock(&srv_mu);
	if (srv_non_stop >= SERVER_MAX_ON_STOP) {
		pthread_mutex_unlock(&srv_mu);
		pm_panic("pm_server_on_stop: more than %d callbacks",
		    SERVER_MAX_ON_STOP);
	}
	srv_on_stop[srv_non_stop].fn = fn;
	srv_on_stop[srv_non_stop].arg = arg;
	srv_non_stop++;
	already = atomic_load(&srv_stopping);
	pthread_mutex_unlock(&srv_mu);
	/* Registered after the stop began: it must not be missed. */
	if (already) {
		fn(arg);
	}
}

/* Stop requested: flag, callbacks (each once), wake main. */
static void
server_request_stop(void)
{
	void (*fns[SERVER_MAX_ON_STOP])(void *);
	void *args[SERVER_MAX_ON_STOP];
	int i, n;

	pthread_mutex_lock(&srv_mu);
	atomic_store(&srv_stopping, 1);
	n = srv_non_stop;
	for (i = 0; i < n; i++) {
		fns[i] = srv_on_stop[i].fn;
		args[i] = srv_on_stop[i].arg;
	}
	pthread_mutex_unlock(&srv_mu);
	for (i = 0; i < n; i++) {
		fns[i](args[i]);
	}
	pthread_mutex_lock(&srv_mu);
	srv_wake = 1;
	pthread_cond_broadcast(&srv_cv);
	pthread_mutex_unlock(&srv_mu);
}

/*
 * After SIGTERM/SIGINT, a service that clients connect to serves on,
 * unready, for service_stop_delay (see pm_server.h). Returns -1 when
 * main asked the signal thread to quit meanwhile.
 */
static int
server_stop_delay(void)
{
	const pm_service *svc = srv_svc;
	int64_t end, left;
	struct timespec ts;
	int sig;

	if (var_service_stop_delay <= 0 ||
	    (svc->listen_param == NULL && !svc->serves)) {
		return (0);
	}
	pm_msg_info("not ready; stopping in %lds (%s)", var_service_stop_delay,
	    VAR_SERVICE_STOP_DELAY);
	end = pm_mono_ms() + var_service_stop_delay * 1000;
	while ((left = end - pm_mono_ms()) > 0) {
		ts.tv_sec = (time_t) (left / 1000);
		ts.tv_nsec = (long) (left % 1000) * 1000000;
		if ((sig = sigtimedwait(&srv_sigs, NULL, &ts)) < 0) {
			continue; /* EAGAIN: time is up; EINTR */
		}
		if (atomic_load(&srv_sig_quit)) {
			return (-1);
		}
		if (sig == SIGTERM || sig == SIGINT) {
			pm_msg_info("signal %d: stopping now", sig);
			break;
		}
	}
	return (0);
}

static void *
server_sig_main(void *arg)
{
	int sig;

	(void) arg;
	for (;;) {
		if (sigwait(&srv_sigs, &sig) != 0) {
			continue;
		}
		if (atomic_load(&srv_sig_quit)) {
			break;
		}
		switch (sig) {
		case SIGHUP:
			if (atomic_load(&srv_stopping)) {
				break;
			}
			/* While starting: done as soon as started. */
			pthread_mutex_lock(&srv_mu);
			if (!srv_initialized) {
				srv_reload_pending = 1;
				pthread_mutex_unlock(&srv_mu);
				break;
			}
			pthread_mutex_unlock(&srv_mu);
			pm_msg_info("reload -- version %s, configuration %s",
			    PM_VERSION, srv_config_dir);
			pm__server_reload(srv_svc, srv_cfpath);
			break;
		case SIGTERM:
		case SIGINT:
			if (atomic_load(&srv_stopping)) {
				break;
			}
			pm_msg_info("terminating on signal %d", sig);
			atomic_store(&srv_unready, 1);
			if (server_stop_delay() < 0) {
				return (NULL); /* main is stopping already */
			}
			server_request_stop();
			break;
		default: /* SIGPIPE: ignored */
			break;
		}
	}
	return (NULL);
}

/* -d: "name = default" lines, as postconf -d prints them. */
static void
server_print_default(const char *name, const char *defval, const char *value,
    void *arg)
{
	(void) value;
	(void) arg;
	printf("%s = %s\n", name, defval != NULL ? defval : "");
}

static void
server_usage(const char *argv0)
{
	pm_msg_fatal("usage: %s [-c config_dir] [-o name=value] [-v] [-d]",
	    argv0);
}

/* An int parameter by name, as its bound table made it. */
static long
server_param_long(const char *name)
{
	char *v = pm_cfg_get(name);
	long n;

	if (v == NULL) {
		pm_msg_fatal("parameter %s is not defined", name);
	}
	if (pm_cfg_parse_long(v, &n) != 0) {
		pm_msg_fatal("bad numerical configuration: %s = %s", name, v);
	}
	free(v);
	return (n);
}

static pm_rpc_server *
server_rpc_start(const pm_service *svc)
{
	pm_rpc_server *rpc;
	char *url = pm_cfg_get(svc->listen_param);
	long workers = SERVER_DEF_WORKERS;
	size_t recvmax = svc->recvmax ? svc->recvmax : PM_RPC_CONTROL_MAX;

	if (url == NULL || *url == 0) {
		pm_msg_fatal("parameter %s: empty service address",
		    svc->listen_param);
	}
	if (svc->handler == NULL) {
		pm_panic("service %s: listen_param without a handler",
		    svc->name);
	}
	if (svc->workers_param != NULL) {
		workers = server_param_long(svc->workers_param);
		if (workers < 1) {
			pm_msg_fatal("parameter %s: must be at least 1",
			    svc->workers_param);
		}
	}
	if (svc->recvmax_fn != NULL) {
		recvmax = svc->recvmax_fn();
	}
	rpc = pm_rpc_server_start(url, (int) workers, recvmax, svc->handler,
	    svc->thread_init, svc->thread_fini);
	if (rpc == NULL) {
		pm_msg_fatal("cannot serve %s = %s", svc->listen_param, url);
	}
	pm__server_tls_describe(svc->listen_param, url);
	if (pm_msg_verbose) {
		pm_msg_debug("listening on %s, %ld workers, recvmax %zu", url,
		    workers, recvmax);
	}
	free(url);
	return (rpc);
}

/*
 * /readyz: initialized (post_init() opened the listeners: /readyz is
 * served before that, and a 200 then sent clients to a port not yet
 * open), not stopping, the queue store answers (if kept) and the
 * service is ready.
 */
static int
server_ready(void)
{
	int initialized;

	pthread_mutex_lock(&srv_mu);
	initialized = srv_initialized;
	pthread_mutex_unlock(&srv_mu);
	if (!initialized) {
		return (0);
	}
	if (atomic_load(&srv_unready) || atomic_load(&srv_stopping)) {
		return (0); /* stopping: take us out of the Service */
	}
	if (srv_svc->queue && !pm__server_queue_ready()) {
		return (0);
	}
	return (srv_svc->ready == NULL || srv_svc->ready());
}

int
pm_server_main(const pm_service *svc, int argc, char **argv)
{
	struct sigaction sa;
	pm_rpc_server *rpc = NULL;
	pthread_t sig_tid;
	char *progname, *cfpath = NULL, *eq, *v;
	const char *cdir = NULL;
	char **opts;
	int nopts = 0, i, ch, rc = 0, dflag = 0;

	/* 0. Before any thread: large blocks are mmap()ed (see above). */
	(void) mallopt(M_MMAP_THRESHOLD, SERVER_MMAP_MIN);
	/* Signals go to the signal thread only. */
	sigemptyset(&srv_sigs);
	sigaddset(&srv_sigs, SIGTERM);
	sigaddset(&srv_sigs, SIGINT);
	sigaddset(&srv_sigs, SIGHUP);
	sigaddset(&srv_sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &srv_sigs, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	PM_ASSERT(svc != NULL && svc->name != NULL);
	srv_svc = svc;
	progname = pm_asprintf("postmesh/%s", svc->name);
	pm_log_init(progname);

	/* 1. Command line. */
	opts = pm_calloc((size_t) argc + 1, sizeof(*opts));
	optind = 1;
	while ((ch = getopt(argc, argv, "c:o:vd")) != -1) {
		switch (ch) {
		case 'd':
			dflag = 1;
			break;
		case 'c':
			cdir = optarg;
			break;
		case 'o':
			if ((eq = strchr(optarg, '=')) == NULL ||
			    eq == optarg) {
				pm_msg_fatal("bad -o argument: %s, want "
				             "name=value",
				    optarg);
			}
			opts[nopts++] = optarg;
			break;
		case 'v':
			pm_msg_verbose++;
			break;
		default:
			server_usage(argv[0]);
		}
	}
	if (optind < argc) {
		server_usage(argv[0]);
	}

	/* 2. Configuration: main.cf, -o overrides, tables. */
	if (cdir != NULL) {
		/* As Postfix's -c: later lookups and children see it. */
		setenv("MAIL_CONFIG", cdir, 1);
		cfpath = pm_asprintf("%s/main.cf", cdir);
	} else if ((cdir = getenv("MAIL_CONFIG")) == NULL || *cdir == 0) {
		cdir = SERVER_DEF_CONFIG_DIR;
	}
	srv_config_dir = cdir;
	if (pm_cfg_load(cfpath) != 0) {
		pm_msg_fatal("cannot read configuration in %s", cdir);
	}
	srv_cfpath = cfpath; /* read again on SIGHUP */
	for (i = 0; i < nopts; i++) {
		v = pm_strdup(opts[i]);
		eq = strchr(v, '=');
		*eq = 0;
		pm_cfg_set(pm_trim(v), pm_trim(eq + 1));
		free(v);
	}
	free(opts);
	pm_common_params_bind();
	if (strcmp(var_syslog_name, "postmesh") != 0) {
		/* -o syslog_name=postmesh/submission: a second smtpd. */
		free(progname);
		progname = pm_asprintf("%s/%s", var_syslog_name, svc->name);
		pm_log_init(progname);
	}
	if (svc->strs != NULL) {
		pm_cfg_bind_str(svc->strs);
	}
	if (svc->ints != NULL) {
		pm_cfg_bind_int(svc->ints);
	}
	if (svc->times != NULL) {
		pm_cfg_bind_time(svc->times);
	}
	if (svc->bools != NULL) {
		pm_cfg_bind_bool(svc->bools);
	}
	if (dflag) {
		/* As postconf -d: every parameter this service knows. */
		pm_cfg_walk(server_print_default, NULL);
		fflush(stdout);
		exit(0);
	}
	pm_cfg_warn_unknown();
	/* Before post_init() opens any table. */
	pm_table_set_pcre_match_limit((unsigned long) var_pcre_match_limit);
	pm__server_reload_init();
	/* Before any listener or client: tls+tcp:// needs it. */
	pm__server_tls_init();
	/* Before any client: metric names and the lookup interval. */
	pm_rpc_set_role(svc->name);
	pm_disco_set_interval(var_service_resolve_interval);

	/* 3. Logging with the configured host name. */
	pm_log_set_hostname(var_myhostname);
	pm_msg_info("daemon started -- version %s, configuration %s",
	    PM_VERSION, cdir);
	if (pthread_create(&sig_tid, NULL, server_sig_main, NULL) != 0) {
		pm_msg_fatal("cannot create the signal thread");
	}

	/* 4. Service checks. */
	if (svc->pre_init != NULL && svc->pre_init() != 0) {
		pm_msg_fatal("%s: initialization failed", svc->name);
	}
	if (svc->queue) {
		pm__server_queue_start();
	}

	/* 5. /metrics, /healthz, /readyz. */
	if (svc->metrics_param != NULL) {
		v = pm_cfg_get(svc->metrics_param);
		if (v != NULL && *v != 0 &&
		    pm_http_start(v, server_ready) != 0) {
			pm_msg_fatal("cannot serve %s = %s", svc->metrics_param,
			    v);
		}
		free(v);
	}

	/* 6. The RPC endpoint. */
	if (svc->listen_param != NULL) {
		rpc = server_rpc_start(svc);
	}

	/* 7. */
	if (svc->post_init != NULL && svc->post_init() != 0) {
		pm_msg_fatal("%s: initialization failed", svc->name);
	}
	pthread_mutex_lock(&srv_mu);
	srv_initialized = 1;
	if (srv_reload_pending) {
		srv_reload_pending = 0;
		pthread_kill(sig_tid, SIGHUP); /* handled as if it came now */
	}
	pthread_mutex_unlock(&srv_mu);

	/* 8. Run, or wait for a stop. */
	if (svc->run != NULL) {
		rc = svc->run();
	} else {
		pthread_mutex_lock(&srv_mu);
		while (!srv_wake) {
			pthread_cond_wait(&srv_cv, &srv_mu);
		}
		pthread_mutex_unlock(&srv_mu);
	}

	/* 9. Stop: signal thread first, so its callbacks are done. */
	atomic_store(&srv_stopping, 1);
	atomic_store(&srv_sig_quit, 1);
	pthread_kill(sig_tid, SIGTERM);
	pthread_join(sig_tid, NULL);
	pm_rpc_server_stop(rpc);
	if (svc->fini != NULL) {
		svc->fini();
	}
	if (svc->queue) {
		pm__server_queue_stop();
	}
	pm_http_stop();
	pm_msg_info("daemon stopped");
	free(progname);
	free(srv_cfpath);
	srv_cfpath = NULL;
	return (rc);
}
