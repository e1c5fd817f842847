/*
 * NAME
 *	smtpd - Postmesh SMTP server
 * SYNOPSIS
 *	smtpd [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Accepts SMTP connections on smtpd_listen ("host:port" or
 *	"[v6addr]:port"; an empty or "*" host means every address), many
 *	sessions per process on one libevent loop, and hands each received
 *	message to cleanup (cleanup_service). Access restrictions
 *	(smtpd_check.c) run on a thread pool of smtpd_check_threads
 *	threads, never on the loop. Metrics and health on
 *	smtpd_metrics_listen.
 *
 *	Stopping (SIGTERM): /readyz answers 503 and smtpd goes on
 *	accepting for service_stop_delay (pm_server.h); then the listener
 *	closes, idle sessions get "421 4.3.2 ... Service shutting down",
 *	sessions in a transaction may finish it for up to
 *	smtpd_shutdown_grace (and get the 421 after its reply); then the
 *	loop ends. A message handed to a cleanup that stops meanwhile is
 *	sent again to another cleanup (cleanup_clnt.h), not refused.
 *
 *	No reverse DNS lookup is made yet: the client name is "unknown"
 *	(postscreen and the DNS client come later).
 * LIMITS
 *	smtpd_session_limit sessions at once (the listener pauses at the
 *	limit: further clients wait in the smtpd_listen_backlog queue);
 *	see smtpd_params.h for the per-session limits. When accept() fails
 *	for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM) the
 *	listener pauses for 100 ms, doubling up to 1 s while it keeps
 *	failing, with one warning per pause: a listener left enabled would
 *	wake at once for the connection still queued, at 100% CPU.
 * SECURITY
 *	Talks to untrusted clients; every input is bounded (see
 *	smtpd_session.c). Runs as whatever user starts it.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/listener.h>
#include <event2/thread.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_server.h"
#include "smtpd_anvil.h"
#include "smtpd_params.h"
#include "smtpd_proxy.h"
#include "smtpd_session.h"
#include "smtpd_tls.h"
#include "smtpd_verify.h"

char *var_smtpd_banner;
char *var_smtpd_listen;
char *var_smtpd_metrics_listen;
char *var_smtpd_forbid_bare_nl;
long var_smtpd_rcpt_limit;
long var_smtpd_hard_erlim;
long var_smtpd_soft_erlim;
long var_smtpd_junk_cmd;
long var_smtpd_min_data_rate;
long var_smtpd_backlog;
long var_smtpd_check_threads;
long var_smtpd_session_limit;
long var_smtpd_content_mem;
long var_smtpd_tmout;
long var_smtpd_err_sleep;
long var_smtpd_shutdown_grace;
long var_smtpd_cleanup_tmout;
int var_helo_required;
int var_smtpd_forbid_unauth_pipe;
int var_smtpd_req_deadline;
int var_disable_vrfy_cmd;
int var_strict_rfc821_env;
int smtpd_bare_nl_reject;
int var_smtpd_sasl_enable;
int var_smtpd_tls_auth_only;
char *var_smtpd_sasl_type;
char *var_smtpd_sasl_path;
char *var_smtpd_sasl_passwd;
char *var_smtpd_sasl_service;
long var_smtpd_sasl_tmout;
long var_smtpd_sasl_threads;
long var_smtpd_sasl_qlimit;
long var_smtpd_cauth_limit;
long var_anvil_time_unit;
long var_smtpd_cconn_limit;
long var_smtpd_crate_limit;
long var_smtpd_cmail_limit;
long var_smtpd_crcpt_limit;
long var_smtpd_cntls_limit;
char *var_smtpd_hoggers;
long var_smtpd_cconn_lease;

struct event_base *smtpd_base;
smtpd_pool *smtpd_check_pool;
pm_cleanup_clnt *smtpd_cleanup;
int smtpd_stopping;
pm_metric *smtpd_m_sessions;
pm_metric *smtpd_m_active;
pm_metric *smtpd_m_cmds[CMD_COUNT];
pm_metric *smtpd_m_accepted;
pm_metric *smtpd_m_rejected[REJ_COUNT];
pm_metric *smtpd_m_content;
pm_budget smtpd_content_budget;

/* Pause of the listener after accept() ran out of resources. */
#define SMTPD_PAUSE_MIN_MS 100
#define SMTPD_PAUSE_MAX_MS 1000

static struct evconnlistener *smtpd_listener;
static struct event *smtpd_resume_ev; /* ends an accept() pause */
static int smtpd_accept_paused;
static long smtpd_pause_ms; /* last pause; 0 after an accept */
static struct event *smtpd_stop_ev;
static struct event *smtpd_grace_ev;
static smtpd_session *smtpd_sessions;
static long smtpd_nsessions;

static const char *const cmd_labels[CMD_COUNT] = {
	"HELO",
	"EHLO",
	"STARTTLS",
	"AUTH",
	"MAIL",
	"RCPT",
	"DATA",
	"BDAT",
	"RSET",
	"NOOP",
	"VRFY",
	"ETRN",
	"QUIT",
	"HELP",
	"UNKNOWN",
};
static const char *const rej_labels[REJ_COUNT] = {
	"relay",
	"recipient",
	"sender",
	"client",
	"helo",
	"data",
	"size",
	"syntax",
	"limit",
	"protocol",
	"cleanup",
	"storage",
};

static void
smtpd_metrics_init(void)
{
	char lab[64];
	int i;

	smtpd_m_sessions = pm_metric_counter("smtpd_sessions_total",
	    "SMTP sessions accepted.", NULL);
	smtpd_m_active = pm_metric_gauge("smtpd_sessions_active",
	    "SMTP sessions open now.", NULL);
	for (i = 0; i < CMD_COUNT; i++) {
		snprintf(lab, sizeof(lab), "command=\"%s\"", cmd_labels[i]);
		smtpd_m_cmds[i] = pm_metric_counter("smtpd_commands_total",
		    "SMTP commands received, by command.", lab);
	}
	smtpd_m_accepted = pm_metric_counter("smtpd_messages_accepted_total",
	    "Messages queued by cleanup.", NULL);
	smtpd_m_content = pm_metric_gauge("smtpd_content_memory_bytes",
	    "Message content bytes reserved (smtpd_content_memory_limit).",
	    NULL);
	for (i = 0; i < REJ_COUNT; i++) {
		snprintf(lab, sizeof(lab), "reason=\"%s\"", rej_labels[i]);
		smtpd_m_rejected[i] =
		    pm_metric_counter("smtpd_messages_rejected_total",
		        "Rejected commands and messages, by reason.", lab);
	}
}

/* Sessions list; called by smtpd_session_free(). */

void
smtpd_session_gone(smtpd_session *s)
{
	if (s->prev != NULL) {
		s->prev->next = s->next;
	} else if (smtpd_sessions == s) {
		smtpd_sessions = s->next;
	}
	if (s->next != NULL) {
		s->next->prev = s->prev;
	}
	smtpd_nsessions--;
	if (smtpd_stopping) {
		if (smtpd_nsessions <= 0) {
			event_base_loopbreak(smtpd_base);
		}
	} else if (smtpd_listener != NULL && !smtpd_accept_paused &&
	    smtpd_nsessions == var_smtpd_session_limit - 1) {
		evconnlistener_enable(smtpd_listener);
	}
}

static void
smtpd_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	smtpd_session *s;

	(void) arg;
	smtpd_pause_ms = 0;
	if (smtpd_stopping) {
		evutil_closesocket(fd);
		return;
	}
	if ((s = smtpd_session_new(fd, sa, salen)) == NULL) {
		return;
	}
	s->next = smtpd_sessions;
	if (smtpd_sessions != NULL) {
		smtpd_sessions->prev = s;
	}
	smtpd_sessions = s;
	if (++smtpd_nsessions >= var_smtpd_session_limit) {
		pm_msg_warn("session limit %ld reached: not accepting for now",
		    var_smtpd_session_limit);
		evconnlistener_disable(l);
	}
}

static void
smtpd_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	(void) arg;
	smtpd_accept_paused = 0;
	if (smtpd_listener != NULL && !smtpd_stopping &&
	    smtpd_nsessions < var_smtpd_session_limit) {
		evconnlistener_enable(smtpd_listener);
	}
}

static void
smtpd_accept_error(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv;

	(void) arg;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		/* That connection is gone; the next one may do. */
		pm_msg_warn("accept: %s", evutil_socket_error_to_string(err));
		return;
	}
	/* Out of resources: the connection stays queued; wait. */
	smtpd_pause_ms =
	    smtpd_pause_ms == 0 ? SMTPD_PAUSE_MIN_MS : smtpd_pause_ms * 2;
	if (smtpd_pause_ms > SMTPD_PAUSE_MAX_MS) {
		smtpd_pause_ms = SMTPD_PAUSE_MAX_MS;
	}
	pm_msg_warn("accept: %s: pausing new connections for %ld ms "
	            "(%ld sessions)",
	    evutil_socket_error_to_string(err), smtpd_pause_ms,
	    smtpd_nsessions);
	evconnlistener_disable(l);
	smtpd_accept_paused = 1;
	tv.tv_sec = smtpd_pause_ms / 1000;
	tv.tv_usec = (smtpd_pause_ms % 1000) * 1000;
	evtimer_add(smtpd_resume_ev, &tv);
}

/* Stopping: see DESCRIPTION. */

static void
smtpd_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	smtpd_session *s;
	smtpd_session *next;

	(void) fd;
	(void) what;
	(void) arg;
	for (s = smtpd_sessions; s != NULL; s = next) {
		next = s->next;
		if (s->phase != PH_CLOSING && s->cont == NULL) {
			smtpd_shutdown_idle(s);
		}
	}
	event_base_loopbreak(smtpd_base);
}

static void
smtpd_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { var_smtpd_shutdown_grace, 0 };
	smtpd_session *s;
	smtpd_session *next;

	(void) fd;
	(void) what;
	(void) arg;
	if (smtpd_stopping) {
		return;
	}
	smtpd_stopping = 1;
	pm_msg_info("stopping: %ld sessions, grace %lds", smtpd_nsessions,
	    var_smtpd_shutdown_grace);
	if (smtpd_listener != NULL) {
		evconnlistener_free(smtpd_listener);
		smtpd_listener = NULL;
	}
	for (s = smtpd_sessions; s != NULL; s = next) {
		next = s->next;
		if (smtpd_session_idle(s)) {
			smtpd_shutdown_idle(s);
		}
	}
	if (smtpd_nsessions <= 0) {
		event_base_loopbreak(smtpd_base);
		return;
	}
	smtpd_grace_ev = evtimer_new(smtpd_base, smtpd_grace_cb, NULL);
	evtimer_add(smtpd_grace_ev, &tv);
}

static void
smtpd_on_stop(void *arg)
{
	(void) arg;
	/* Signal thread: event_active is thread-safe with evthread. */
	event_active(smtpd_stop_ev, 0, 0);
}

/* Start-up. */

static void
smtpd_listen_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *port;
	const char *colon;
	struct addrinfo hints;
	struct addrinfo *res;
	int rc;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (rb == NULL || rb[1] != ':' || (size_t) (rb - spec) > 255) {
			pm_msg_fatal("%s: bad address: %s", VAR_SMTPD_LISTEN,
			    spec);
		}
		snprintf(host, sizeof(host), "%.*s", (int) (rb - spec - 1),
		    spec + 1);
		port = rb + 2;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL ||
		    (size_t) (colon - spec) > 255) {
			pm_msg_fatal("%s: expected host:port, got: %s",
			    VAR_SMTPD_LISTEN, spec);
		}
		snprintf(host, sizeof(host), "%.*s", (int) (colon - spec),
		    spec);
		port = colon + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] == 0 || strcmp(host, "*") == 0 ? NULL : host,
	    port, &hints, &res);
	if (rc != 0) {
		pm_msg_fatal("%s: %s: %s", VAR_SMTPD_LISTEN, spec,
		    gai_strerror(rc));
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
}

static int
smtpd_pre_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(var_smtpd_forbid_bare_nl, "yes") == 0) {
		smtpd_bare_nl_reject = 1;
	} else if (strcmp(var_smtpd_forbid_bare_nl, "normalize") != 0 &&
	    strcmp(var_smtpd_forbid_bare_nl, "no") != 0) {
		pm_msg_fatal("%s: expected normalize, yes or no, got: %s",
		    VAR_SMTPD_FORBID_BARE_NL, var_smtpd_forbid_bare_nl);
	}
	if (var_smtpd_soft_erlim > var_smtpd_hard_erlim) {
		pm_msg_warn("%s (%ld) is above %s (%ld)", VAR_SMTPD_SOFT_ERLIM,
		    var_smtpd_soft_erlim, VAR_SMTPD_HARD_ERLIM,
		    var_smtpd_hard_erlim);
	}
	if (var_smtpd_content_mem < var_message_size_limit) {
		pm_msg_warn("%s (%ld) is below %s (%ld): messages near the "
		            "size limit can never be received",
		    VAR_SMTPD_CONTENT_MEM, var_smtpd_content_mem,
		    VAR_MSG_SIZE_LIMIT, var_message_size_limit);
	}
	pm_budget_init(&smtpd_content_budget, (size_t) var_smtpd_content_mem);
	if (evthread_use_pthreads() != 0) {
		pm_msg_fatal("evthread_use_pthreads failed");
	}
	smtpd_metrics_init();
	smtpd_proxy_init();
	smtpd_check_init();
	smtpd_anvil_init();
	smtpd_auth_init();

	smtpd_tls_init();
	return (0);
}

static int
smtpd_post_init(void)
{
	struct sockaddr_storage ss;
	socklen_t len;

	smtpd_base = event_base_new();
	if (smtpd_base == NULL) {
		pm_msg_fatal("event_base_new failed");
	}
	smtpd_cleanup = pm_cleanup_clnt_new(var_cleanup_service,
	    (size_t) var_message_size_limit,
	    (int) (var_smtpd_cleanup_tmout * 1000));
	if (smtpd_cleanup == NULL) {
		pm_msg_fatal("cannot create cleanup client for %s",
		    var_cleanup_service);
	}
	smtpd_verify_set_cleanup(smtpd_cleanup);
	smtpd_check_pool = smtpd_pool_new((int) var_smtpd_check_threads, -1);
	smtpd_listen_addr(var_smtpd_listen, &ss, &len);
	smtpd_listener = evconnlistener_new_bind(smtpd_base, smtpd_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    (int) var_smtpd_backlog, (struct sockaddr *) &ss, (int) len);
	if (smtpd_listener == NULL) {
		pm_msg_fatal("cannot listen on %s: %m", var_smtpd_listen);
	}
	evconnlistener_set_error_cb(smtpd_listener, smtpd_accept_error);
	smtpd_resume_ev = evtimer_new(smtpd_base, smtpd_accept_resume, NULL);
	smtpd_stop_ev = event_new(smtpd_base, -1, 0, smtpd_stop_cb, NULL);
	pm_server_on_stop(smtpd_on_stop, NULL);
	pm_msg_info("listening on %s", var_smtpd_listen);
	return (0);
}

static int
smtpd_run(void)
{
	smtpd_session *s;

	if (pm_server_stopping()) {
		event_active(smtpd_stop_ev, 0, 0);
	}
	event_base_dispatch(smtpd_base);

	/* Loop ended: release what is left. */
	if (smtpd_listener != NULL) {
		evconnlistener_free(smtpd_listener);
		smtpd_listener = NULL;
	}
	smtpd_pool_stop(smtpd_check_pool);
	smtpd_check_pool = NULL;
	smtpd_auth_stop();
	pm_cleanup_clnt_free(smtpd_cleanup);
	smtpd_cleanup = NULL;
	/* Deliver the wake-ups of work that just ended. */
	event_base_loop(smtpd_base, EVLOOP_NONBLOCK);
	while ((s = smtpd_sessions) != NULL) {
		s->cont = NULL;
		smtpd_session_free(s);
	}
	smtpd_anvil_stop();
	if (smtpd_grace_ev != NULL) {
		event_free(smtpd_grace_ev);
	}
	event_free(smtpd_resume_ev);
	event_free(smtpd_stop_ev);
	event_base_free(smtpd_base);
	smtpd_base = NULL;
	smtpd_tls_fini();
	return (0);
}

static void
smtpd_reload(void)
{
	smtpd_check_reload();
	smtpd_auth_reload();

	smtpd_tls_reload();
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_SMTPD_BANNER, DEF_SMTPD_BANNER, &var_smtpd_banner, 1, 0 },
		{ VAR_SMTPD_LISTEN, DEF_SMTPD_LISTEN, &var_smtpd_listen, 1,
		    300 },
		{ VAR_SMTPD_METRICS_LISTEN, DEF_SMTPD_METRICS_LISTEN,
		    &var_smtpd_metrics_listen, 0, 300 },
		{ VAR_SMTPD_FORBID_BARE_NL, DEF_SMTPD_FORBID_BARE_NL,
		    &var_smtpd_forbid_bare_nl, 1, 16 },
		{ VAR_SMTPD_SASL_TYPE, DEF_SMTPD_SASL_TYPE,
		    &var_smtpd_sasl_type, 1, 32 },
		{ VAR_SMTPD_SASL_PATH, DEF_SMTPD_SASL_PATH,
		    &var_smtpd_sasl_path, 0, 300 },
		{ VAR_SMTPD_SASL_PASSWD, DEF_SMTPD_SASL_PASSWD,
		    &var_smtpd_sasl_passwd, 0, 1000 },
		{ VAR_SMTPD_SASL_SERVICE, DEF_SMTPD_SASL_SERVICE,
		    &var_smtpd_sasl_service, 1, 64 },

		{ VAR_SMTPD_HOGGERS, DEF_SMTPD_HOGGERS, &var_smtpd_hoggers, 0,
		    0 },

		SMTPD_TLS_CFG_STRS,
		SMTPD_PROXY_CFG_STRS,
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		PM_CFG_LINE_LIMIT,
		{ VAR_SMTPD_RCPT_LIMIT, DEF_SMTPD_RCPT_LIMIT,
		    &var_smtpd_rcpt_limit, 1, 1000000 },
		{ VAR_SMTPD_HARD_ERLIM, DEF_SMTPD_HARD_ERLIM,
		    &var_smtpd_hard_erlim, 1, 100000 },
		{ VAR_SMTPD_SOFT_ERLIM, DEF_SMTPD_SOFT_ERLIM,
		    &var_smtpd_soft_erlim, 1, 100000 },
		{ VAR_SMTPD_JUNK_CMD, DEF_SMTPD_JUNK_CMD, &var_smtpd_junk_cmd,
		    1, 1000000 },
		{ VAR_SMTPD_MIN_DATA_RATE, DEF_SMTPD_MIN_DATA_RATE,
		    &var_smtpd_min_data_rate, 1, 0 },
		{ VAR_SMTPD_BACKLOG, DEF_SMTPD_BACKLOG, &var_smtpd_backlog, 1,
		    65535 },
		{ VAR_SMTPD_CHECK_THREADS, DEF_SMTPD_CHECK_THREADS,
		    &var_smtpd_check_threads, 1, 1024 },
		{ VAR_SMTPD_SESSION_LIMIT, DEF_SMTPD_SESSION_LIMIT,
		    &var_smtpd_session_limit, 1, 1000000 },
		{ VAR_SMTPD_CONTENT_MEM, DEF_SMTPD_CONTENT_MEM,
		    &var_smtpd_content_mem, 1024 * 1024, 0 },
		{ VAR_SMTPD_CAUTH_LIMIT, DEF_SMTPD_CAUTH_LIMIT,
		    &var_smtpd_cauth_limit, 0, 1000000 },
		{ VAR_SMTPD_SASL_THREADS, DEF_SMTPD_SASL_THREADS,
		    &var_smtpd_sasl_threads, 1, 64 },
		{ VAR_SMTPD_SASL_QLIMIT, DEF_SMTPD_SASL_QLIMIT,
		    &var_smtpd_sasl_qlimit, 0, 100000 },

		{ VAR_SMTPD_CCONN_LIMIT, DEF_SMTPD_CCONN_LIMIT,
		    &var_smtpd_cconn_limit, 0, 1000000 },
		{ VAR_SMTPD_CRATE_LIMIT, DEF_SMTPD_CRATE_LIMIT,
		    &var_smtpd_crate_limit, 0, 1000000 },
		{ VAR_SMTPD_CMAIL_LIMIT, DEF_SMTPD_CMAIL_LIMIT,
		    &var_smtpd_cmail_limit, 0, 1000000 },
		{ VAR_SMTPD_CRCPT_LIMIT, DEF_SMTPD_CRCPT_LIMIT,
		    &var_smtpd_crcpt_limit, 0, 1000000 },
		{ VAR_SMTPD_CNTLS_LIMIT, DEF_SMTPD_CNTLS_LIMIT,
		    &var_smtpd_cntls_limit, 0, 1000000 },

		SMTPD_TLS_CFG_INTS,
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		{ VAR_SMTPD_TMOUT, DEF_SMTPD_TMOUT, &var_smtpd_tmout, 's', 1,
		    86400 },
		{ VAR_SMTPD_ERR_SLEEP, DEF_SMTPD_ERR_SLEEP,
		    &var_smtpd_err_sleep, 's', 0, 3600 },
		{ VAR_SMTPD_SHUTDOWN_GRACE, DEF_SMTPD_SHUTDOWN_GRACE,
		    &var_smtpd_shutdown_grace, 's', 0, 3600 },
		{ VAR_SMTPD_CLEANUP_TMOUT, DEF_SMTPD_CLEANUP_TMOUT,
		    &var_smtpd_cleanup_tmout, 's', 1, 3600 },
		{ VAR_SMTPD_SASL_TMOUT, DEF_SMTPD_SASL_TMOUT,
		    &var_smtpd_sasl_tmout, 's', 1, 300 },
		{ VAR_ANVIL_TIME_UNIT, DEF_ANVIL_TIME_UNIT,
		    &var_anvil_time_unit, 's', 1, 86400 },

		{ VAR_SMTPD_CCONN_LEASE, DEF_SMTPD_CCONN_LEASE,
		    &var_smtpd_cconn_lease, 's', 3, 3600 },

		SMTPD_TLS_CFG_TIMES,
		SMTPD_PROXY_CFG_TIMES,
		{ 0 },
	};
	static const pm_cfg_bool bools[] = {
		{ VAR_HELO_REQUIRED, DEF_HELO_REQUIRED, &var_helo_required },
		{ VAR_SMTPD_FORBID_UNAUTH_PIPE, DEF_SMTPD_FORBID_UNAUTH_PIPE,
		    &var_smtpd_forbid_unauth_pipe },
		{ VAR_SMTPD_REQ_DEADLINE, DEF_SMTPD_REQ_DEADLINE,
		    &var_smtpd_req_deadline },
		{ VAR_DISABLE_VRFY_CMD, DEF_DISABLE_VRFY_CMD,
		    &var_disable_vrfy_cmd },
		{ VAR_STRICT_RFC821_ENV, DEF_STRICT_RFC821_ENV,
		    &var_strict_rfc821_env },
		{ VAR_SMTPD_SASL_ENABLE, DEF_SMTPD_SASL_ENABLE,
		    &var_smtpd_sasl_enable },
		{ VAR_SMTPD_TLS_AUTH_ONLY, DEF_SMTPD_TLS_AUTH_ONLY,
		    &var_smtpd_tls_auth_only },

		SMTPD_TLS_CFG_BOOLS,
		{ 0 },
	};
	/*
	 * Bound again on SIGHUP: read per session or per command. The
	 * restrictions, mynetworks, relay_domains ... are read again by
	 * smtpd_check_reload() itself. Not here (restart): listen address,
	 * backlog, check threads, session limit, shutdown grace,
	 * smtpd_forbid_bare_newline (decoded at start), and
	 * message_size_limit (the cleanup client's request limit is set
	 * from it at start; cleanup's own receive limit too).
	 */
	static const char *const reload_params[] = {
		VAR_SMTPD_BANNER,
		VAR_LINE_LIMIT,
		VAR_SMTPD_RCPT_LIMIT,
		VAR_SMTPD_HARD_ERLIM,
		VAR_SMTPD_SOFT_ERLIM,
		VAR_SMTPD_JUNK_CMD,
		VAR_SMTPD_MIN_DATA_RATE,
		VAR_SMTPD_TMOUT,
		VAR_SMTPD_ERR_SLEEP,
		VAR_HELO_REQUIRED,
		VAR_SMTPD_FORBID_UNAUTH_PIPE,
		VAR_SMTPD_REQ_DEADLINE,
		VAR_DISABLE_VRFY_CMD,
		VAR_STRICT_RFC821_ENV,
		VAR_DNS_SERVER,
		VAR_SMTPD_TLS_AUTH_ONLY,
		VAR_SMTPD_SASL_TYPE,
		VAR_SMTPD_SASL_PATH,
		VAR_SMTPD_SASL_PASSWD,
		VAR_SMTPD_SASL_SERVICE,
		VAR_SMTPD_SASL_TMOUT,

		SMTPD_TLS_RELOAD_PARAMS,
		NULL,
	};
	static const pm_service svc = {
		.name = "smtpd",
		.strs = strs,
		.ints = ints,
		.times = times,
		.bools = bools,
		.metrics_param = VAR_SMTPD_METRICS_LISTEN,
		.pre_init = smtpd_pre_init,
		.post_init = smtpd_post_init,
		.run = smtpd_run,
		.reload = smtpd_reload,
		.reload_params = reload_params,
		.serves = 1, /* SMTP clients: service_stop_delay applies */
	};

	return (pm_server_main(&svc, argc, argv));
}
