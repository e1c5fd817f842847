/*
 * NAME
 *	postscreen - Postmesh's front door: keeps bots away from smtpd
 * SYNOPSIS
 *	postscreen [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	As Postfix's postscreen(8): accepts SMTP connections on
 *	postscreen_listen, many thousands per process on one libevent
 *	loop, checks postscreen_access_list, looks the client up in the
 *	cache shared by every replica (Redis, pm:cache:psc:<addr>), runs
 *	the pregreet test (postscreen_greet_wait) and the DNSBL lookups
 *	(postscreen_dnsbl_sites) at once, and hands a client that passes
 *	to an smtpd of postscreen_smtpd_service. The hand-off is a proxy:
 *	postscreen connects to the smtpd, sends a PROXY protocol v2 header
 *	with the client's address (smtpd_upstream_proxy_protocol =
 *	haproxy on the smtpd side) and relays bytes both ways; Postfix
 *	passes the socket itself to a local smtpd instead. Metrics and
 *	health on postscreen_metrics_listen.
 *
 *	Stopping (SIGTERM): the listener closes, clients still under test
 *	get "421 4.3.2 Service shutting down", proxied connections are
 *	left to end (smtpd stops them) for up to postscreen_relay_timeout.
 * LIMITS
 *	postscreen_connection_limit connections at once (the listener
 *	pauses there), postscreen_pre_queue_limit of them still under
 *	test ("421 4.3.2 All server ports are busy" beyond),
 *	postscreen_client_connection_count_limit from one address under
 *	test or in the enforce dialogue, as Postfix: a connection handed
 *	to an smtpd no longer counts ("421 4.7.0 Error: too many
 *	connections" beyond; 0 = no limit).
 * SECURITY
 *	Talks to untrusted clients; see postscreen.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/listener.h>
#include <event2/thread.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_server.h"
#include "pm_smap.h"
#include "postscreen.h"

char *var_psc_listen;
char *var_psc_metrics_listen;
char *var_psc_smtpd_service;
char *var_psc_acl;
char *var_psc_blist_action;
char *var_psc_blist_action_old;
char *var_psc_greet_banner;
char *var_psc_greet_action;
char *var_psc_dnsbl_sites;
char *var_psc_dnsbl_action;
char *var_psc_dnsbl_reply;
long var_psc_dnsbl_thresh;
long var_psc_dnsbl_althresh;
long var_psc_cconn_limit;
long var_psc_pre_qlimit;
long var_psc_conn_limit;
long var_psc_cmd_count;
long var_psc_backlog;
long var_psc_relay_buf;
long var_psc_greet_wait;
long var_psc_greet_ttl;
long var_psc_dnsbl_tmout;
long var_psc_dnsbl_min_ttl;
long var_psc_dnsbl_max_ttl;
long var_psc_cmd_time;
long var_psc_connect_tmout;
long var_psc_relay_tmout;
long var_psc_cache_tmout;
long var_psc_cache_retry;

struct event_base *psc_base;
int psc_stopping;
pm_metric *psc_m_verdict[PSC_V_COUNT];
pm_metric *psc_m_active;
pm_metric *psc_m_handoff_fail;
int psc_greet_action, psc_dnsbl_action, psc_blist_action;

static struct evconnlistener *psc_listener;
static struct event *psc_resume_ev;
static struct event *psc_stop_ev;
static struct event *psc_grace_ev;
static psc_conn *psc_conns;
static long psc_nconns;
static long psc_npre;           /* connections still under test */
static pm_smap *psc_per_client; /* address -> connections (intptr_t) */

/*
 * SIGHUP: psc_reload() runs on pm_server's signal thread; it builds the
 * new lists there and leaves them here for psc_reload_cb(), which puts
 * them in place on the loop, the only thread that uses them.
 */
typedef struct psc_pending {
	int greet_action, dnsbl_action, blist_action;
	void *acl;   /* NULL: keep the old access list */
	void *dconf; /* NULL: keep the old DNSBL lists */
} psc_pending;

static pthread_mutex_t psc_reload_mu = PTHREAD_MUTEX_INITIALIZER;
static psc_pending *psc_reload_next; /* under psc_reload_mu */
static int psc_reload_open;          /* under psc_reload_mu: loop runs */
static struct event *psc_reload_ev;

static const char *const verdict_labels[PSC_V_COUNT] = {
	"pass_new",
	"pass_old",
	"allowlisted",
	"denylisted",
	"pregreet",
	"dnsbl",
	"pass_ignored",
	"limit",
};

static void
psc_metrics_init(void)
{
	char lab[64];
	int i;

	for (i = 0; i < PSC_V_COUNT; i++) {
		snprintf(lab, sizeof(lab), "verdict=\"%s\"", verdict_labels[i]);
		psc_m_verdict[i] =
		    pm_metric_counter("postscreen_connections_total",
		        "Client connections by verdict.", lab);
	}
	psc_m_active = pm_metric_gauge("postscreen_connections_active",
	    "Client connections open now (under test or proxied).", NULL);
	psc_m_handoff_fail =
	    pm_metric_counter("postscreen_handoff_failures_total",
	        "Passing clients that no smtpd took (421 sent).", NULL);
}

void
psc_verdict(int v)
{
	pm_metric_inc(psc_m_verdict[v]);
}

/* Per-client connection count. */

static long
psc_client_add(const char *addr, long d)
{
	long n = (long) (intptr_t) pm_smap_get(psc_per_client, addr) + d;

	if (n <= 0) {
		(void) pm_smap_del(psc_per_client, addr);
	} else {
		(void) pm_smap_put(psc_per_client, addr, (void *) (intptr_t) n);
	}
	return (n);
}

/* Called by psc_conn_free() when the client connection is closed. */
void
psc_conn_gone(psc_conn *c)
{
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else if (psc_conns == c) {
		psc_conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	c->prev = c->next = NULL;
	if (c->counted_client) {
		(void) psc_client_add(c->addr, -1);
		c->counted_client = 0;
	}
	if (c->counted_pre) {
		psc_npre--;
		c->counted_pre = 0;
	}
	psc_nconns--;
	pm_metric_gauge_add(psc_m_active, -1);
	if (psc_stopping) {
		if (psc_nconns <= 0) {
			event_base_loopbreak(psc_base);
		}
	} else if (psc_listener != NULL &&
	    psc_nconns == var_psc_conn_limit - 1) {
		evconnlistener_enable(psc_listener);
	}
}

/*
 * Leaving the test phase frees a pre-queue slot and, as in Postfix
 * (which counts only the connections postscreen itself holds), the
 * client's place in postscreen_client_connection_count_limit.
 */
void
psc_conn_handed_off(psc_conn *c)
{
	if (c->counted_client) {
		(void) psc_client_add(c->addr, -1);
		c->counted_client = 0;
	}
	if (c->counted_pre) {
		psc_npre--;
		c->counted_pre = 0;
	}
}

static void
psc_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	psc_conn *c;

	(void) arg;
	if (psc_stopping) {
		evutil_closesocket(fd);
		return;
	}
	if ((c = psc_conn_new(fd, sa, salen)) == NULL) {
		return;
	}
	c->next = psc_conns;
	if (psc_conns != NULL) {
		psc_conns->prev = c;
	}
	psc_conns = c;
	pm_metric_gauge_add(psc_m_active, 1);
	if (++psc_nconns >= var_psc_conn_limit) {
		pm_msg_warn("%s %ld reached: not accepting for now",
		    VAR_PSC_CONN_LIMIT, var_psc_conn_limit);
		evconnlistener_disable(l);
	}
	c->counted_pre = 1;
	psc_npre++;
	c->counted_client = 1;
	if (psc_client_add(c->addr, 1) > var_psc_cconn_limit &&
	    var_psc_cconn_limit > 0) {
		pm_msg_info("NOQUEUE: reject: CONNECT from [%s]:%u: too many "
		            "connections",
		    c->addr, c->port);
		psc_verdict(PSC_V_LIMIT);
		psc_write_close(c, "421 4.7.0 Error: too many connections\r\n");
		return;
	}
	if (psc_npre > var_psc_pre_qlimit) {
		pm_msg_info("NOQUEUE: reject: CONNECT from [%s]:%u: all server "
		            "ports busy",
		    c->addr, c->port);
		psc_verdict(PSC_V_LIMIT);
		psc_write_close(c, "421 4.3.2 All server ports are busy\r\n");
		return;
	}
	psc_tests_progress(c); /* access list, then the cache */
}

static void
psc_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	(void) arg;
	if (psc_listener != NULL && !psc_stopping &&
	    psc_nconns < var_psc_conn_limit) {
		evconnlistener_enable(psc_listener);
	}
}

static void
psc_accept_error(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, 200000 };

	(void) arg;
	pm_msg_warn("accept: %s", evutil_socket_error_to_string(err));
	if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
		/* The connection stays queued: pause, do not spin. */
		evconnlistener_disable(l);
		evtimer_add(psc_resume_ev, &tv);
	}
}

/* Stopping. */

static void
psc_grace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	(void) arg;
	event_base_loopbreak(psc_base);
}

static void
psc_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { var_psc_relay_tmout, 0 };
	psc_conn *c;
	psc_conn *next;

	(void) fd;
	(void) what;
	(void) arg;
	if (psc_stopping) {
		return;
	}
	psc_stopping = 1;
	pm_msg_info("stopping: %ld connections", psc_nconns);
	if (psc_listener != NULL) {
		evconnlistener_free(psc_listener);
		psc_listener = NULL;
	}
	for (c = psc_conns; c != NULL; c = next) {
		next = c->next;
		if (c->state < PSC_ST_CONNECT) {
			psc_write_close(c,
			    "421 4.3.2 Service shutting down\r\n");
		}
	}
	if (psc_nconns <= 0) {
		event_base_loopbreak(psc_base);
		return;
	}
	psc_grace_ev = evtimer_new(psc_base, psc_grace_cb, NULL);
	evtimer_add(psc_grace_ev, &tv);
}

static void
psc_on_stop(void *arg)
{
	(void) arg;
	event_active(psc_stop_ev, 0, 0);
}

/* Start-up. */

int
psc_action_parse(const char *name, const char *value)
{
	if (strcasecmp(value, "ignore") == 0) {
		return (PSC_ACT_IGNORE);
	}
	if (strcasecmp(value, "enforce") == 0) {
		return (PSC_ACT_ENFORCE);
	}
	if (strcasecmp(value, "drop") == 0) {
		return (PSC_ACT_DROP);
	}
	pm_msg_fatal("%s: expected ignore, enforce or drop, got: %s", name,
	    value);
	return (PSC_ACT_IGNORE);
}

static void
psc_actions(int *greet, int *dnsbl, int *blist)
{
	*greet = psc_action_parse(VAR_PSC_GREET_ACTION, var_psc_greet_action);
	*dnsbl = psc_action_parse(VAR_PSC_DNSBL_ACTION, var_psc_dnsbl_action);
	*blist = psc_action_parse(VAR_PSC_BLIST_ACTION, var_psc_blist_action);
}

static void
psc_pending_free(psc_pending *p)
{
	if (p != NULL) {
		psc_access_discard(p->acl);
		psc_dnsbl_discard(p->dconf);
		free(p);
	}
}

/* On the loop: put what psc_reload() built in place. */
static void
psc_reload_cb(evutil_socket_t fd, short what, void *arg)
{
	psc_pending *p;

	(void) fd;
	(void) what;
	(void) arg;
	pthread_mutex_lock(&psc_reload_mu);
	p = psc_reload_next;
	psc_reload_next = NULL;
	pthread_mutex_unlock(&psc_reload_mu);
	if (p == NULL) {
		return;
	}
	psc_greet_action = p->greet_action;
	psc_dnsbl_action = p->dnsbl_action;
	psc_blist_action = p->blist_action;
	psc_access_install(p->acl);
	psc_dnsbl_install(p->dconf);
	p->acl = p->dconf = NULL;
	psc_pending_free(p);
}

/* The loop stops taking reloads (at exit). */
static void
psc_reload_close(void)
{
	pthread_mutex_lock(&psc_reload_mu);
	psc_reload_open = 0;
	psc_pending_free(psc_reload_next);
	psc_reload_next = NULL;
	pthread_mutex_unlock(&psc_reload_mu);
}

static int
psc_pre_init(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0) {
		pm_msg_fatal("evthread_use_pthreads failed");
	}
	psc_actions(&psc_greet_action, &psc_dnsbl_action, &psc_blist_action);
	psc_metrics_init();
	psc_per_client = pm_smap_new();
	psc_access_init();
	psc_relay_init();
	return (0);
}

static int
psc_post_init(void)
{
	struct sockaddr_storage ss;
	socklen_t len;

	psc_base = event_base_new();
	if (psc_base == NULL) {
		pm_msg_fatal("event_base_new failed");
	}
	psc_dnsbl_init();
	psc_cache_init();
	psc_hostport(VAR_PSC_LISTEN, var_psc_listen, 1, &ss, &len);
	psc_listener = evconnlistener_new_bind(psc_base, psc_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    (int) var_psc_backlog, (struct sockaddr *) &ss, (int) len);
	if (psc_listener == NULL) {
		pm_msg_fatal("cannot listen on %s: %m", var_psc_listen);
	}
	evconnlistener_set_error_cb(psc_listener, psc_accept_error);
	psc_resume_ev = evtimer_new(psc_base, psc_accept_resume, NULL);
	psc_stop_ev = event_new(psc_base, -1, 0, psc_stop_cb, NULL);
	psc_reload_ev = event_new(psc_base, -1, 0, psc_reload_cb, NULL);
	pthread_mutex_lock(&psc_reload_mu);
	psc_reload_open = 1;
	pthread_mutex_unlock(&psc_reload_mu);
	pm_server_on_stop(psc_on_stop, NULL);
	pm_msg_info("listening on %s", var_psc_listen);
	return (0);
}

static int
psc_run(void)
{
	psc_conn *c;

	if (pm_server_stopping()) {
		event_active(psc_stop_ev, 0, 0);
	}
	event_base_dispatch(psc_base);

	psc_reload_close();
	if (psc_listener != NULL) {
		evconnlistener_free(psc_listener);
		psc_listener = NULL;
	}
	while ((c = psc_conns) != NULL) {
		psc_conn_close(c);
	}
	/* Requests in flight complete (and free what they hold). */
	psc_cache_stop();
	psc_dnsbl_stop();
	if (psc_grace_ev != NULL) {
		event_free(psc_grace_ev);
	}
	event_free(psc_resume_ev);
	event_free(psc_stop_ev);
	event_free(psc_reload_ev);
	psc_access_stop();
	event_base_free(psc_base);
	psc_base = NULL;
	pm_smap_free(psc_per_client);
	return (0);
}

static void
psc_reload(void)
{
	psc_pending *p = pm_calloc(1, sizeof(*p));

	psc_actions(&p->greet_action, &p->dnsbl_action, &p->blist_action);
	p->acl = psc_access_build();
	p->dconf = psc_dnsbl_build();
	pthread_mutex_lock(&psc_reload_mu);
	if (psc_reload_open) {
		psc_pending_free(psc_reload_next); /* never installed */
		psc_reload_next = p;
		p = NULL;
		event_active(psc_reload_ev, 0, 0);
	}
	pthread_mutex_unlock(&psc_reload_mu);
	psc_pending_free(p);
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_PSC_LISTEN, DEF_PSC_LISTEN, &var_psc_listen, 1, 300 },
		{ VAR_PSC_METRICS_LISTEN, DEF_PSC_METRICS_LISTEN,
		    &var_psc_metrics_listen, 0, 300 },
		{ VAR_PSC_SMTPD_SERVICE, DEF_PSC_SMTPD_SERVICE,
		    &var_psc_smtpd_service, 1, 4000 },
		{ VAR_PSC_ACL, DEF_PSC_ACL, &var_psc_acl, 0, 0 },
		{ VAR_PSC_BLIST_ACTION_OLD, DEF_PSC_BLIST_ACTION_OLD,
		    &var_psc_blist_action_old, 1, 16 },
		{ VAR_PSC_BLIST_ACTION, DEF_PSC_BLIST_ACTION,
		    &var_psc_blist_action, 1, 16 },
		{ VAR_PSC_GREET_BANNER, DEF_PSC_GREET_BANNER,
		    &var_psc_greet_banner, 1, 500 },
		{ VAR_PSC_GREET_ACTION, DEF_PSC_GREET_ACTION,
		    &var_psc_greet_action, 1, 16 },
		{ VAR_PSC_DNSBL_SITES, DEF_PSC_DNSBL_SITES,
		    &var_psc_dnsbl_sites, 0, 0 },
		{ VAR_PSC_DNSBL_ACTION, DEF_PSC_DNSBL_ACTION,
		    &var_psc_dnsbl_action, 1, 16 },
		{ VAR_PSC_DNSBL_REPLY, DEF_PSC_DNSBL_REPLY,
		    &var_psc_dnsbl_reply, 0, 0 },
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		PM_CFG_LINE_LIMIT,
		{ VAR_PSC_DNSBL_THRESH, DEF_PSC_DNSBL_THRESH,
		    &var_psc_dnsbl_thresh, 1, 100000 },
		{ VAR_PSC_DNSBL_ALTHRESH, DEF_PSC_DNSBL_ALTHRESH,
		    &var_psc_dnsbl_althresh, -100000, 0 },
		{ VAR_PSC_CCONN_LIMIT, DEF_PSC_CCONN_LIMIT,
		    &var_psc_cconn_limit, 0, 1000000 },
		{ VAR_PSC_PRE_QLIMIT, DEF_PSC_PRE_QLIMIT, &var_psc_pre_qlimit,
		    1, 1000000 },
		{ VAR_PSC_CONN_LIMIT, DEF_PSC_CONN_LIMIT, &var_psc_conn_limit,
		    1, 1000000 },
		{ VAR_PSC_CMD_COUNT, DEF_PSC_CMD_COUNT, &var_psc_cmd_count, 1,
		    1000 },
		{ VAR_PSC_BACKLOG, DEF_PSC_BACKLOG, &var_psc_backlog, 1,
		    65535 },
		{ VAR_PSC_RELAY_BUF, DEF_PSC_RELAY_BUF, &var_psc_relay_buf,
		    4096, 16 * 1024 * 1024 },
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		{ VAR_PSC_GREET_WAIT, DEF_PSC_GREET_WAIT, &var_psc_greet_wait,
		    's', 0, 3600 },
		{ VAR_PSC_GREET_TTL, DEF_PSC_GREET_TTL, &var_psc_greet_ttl, 's',
		    1, 365 * 86400 },
		{ VAR_PSC_DNSBL_TMOUT, DEF_PSC_DNSBL_TMOUT,
		    &var_psc_dnsbl_tmout, 's', 1, 600 },
		{ VAR_PSC_DNSBL_MIN_TTL, DEF_PSC_DNSBL_MIN_TTL,
		    &var_psc_dnsbl_min_ttl, 's', 1, 365 * 86400 },
		{ VAR_PSC_DNSBL_MAX_TTL, DEF_PSC_DNSBL_MAX_TTL,
		    &var_psc_dnsbl_max_ttl, 's', 1, 365 * 86400 },
		{ VAR_PSC_CMD_TIME, DEF_PSC_CMD_TIME, &var_psc_cmd_time, 's', 1,
		    86400 },
		{ VAR_PSC_CONNECT_TMOUT, DEF_PSC_CONNECT_TMOUT,
		    &var_psc_connect_tmout, 's', 1, 600 },
		{ VAR_PSC_RELAY_TMOUT, DEF_PSC_RELAY_TMOUT,
		    &var_psc_relay_tmout, 's', 1, 86400 },
		{ VAR_PSC_CACHE_TMOUT, DEF_PSC_CACHE_TMOUT,
		    &var_psc_cache_tmout, 's', 1, 600 },
		{ VAR_PSC_CACHE_RETRY, DEF_PSC_CACHE_RETRY,
		    &var_psc_cache_retry, 's', 1, 3600 },
		{ 0 },
	};
	/* Read per connection: applied at SIGHUP. The rest: restart. */
	static const char *const reload_params[] = {
		VAR_PSC_ACL,
		VAR_PSC_BLIST_ACTION_OLD,
		VAR_PSC_BLIST_ACTION,
		VAR_PSC_GREET_BANNER,
		VAR_PSC_GREET_ACTION,
		VAR_PSC_DNSBL_SITES,
		VAR_PSC_DNSBL_ACTION,
		VAR_PSC_DNSBL_REPLY,
		VAR_PSC_DNSBL_THRESH,
		VAR_PSC_DNSBL_ALTHRESH,
		VAR_PSC_CCONN_LIMIT,
		VAR_PSC_PRE_QLIMIT,
		VAR_PSC_CMD_COUNT,
		VAR_LINE_LIMIT,
		VAR_PSC_GREET_WAIT,
		VAR_PSC_GREET_TTL,
		VAR_PSC_DNSBL_MIN_TTL,
		VAR_PSC_DNSBL_MAX_TTL,
		VAR_PSC_CMD_TIME,
		VAR_PSC_CONNECT_TMOUT,
		VAR_PSC_RELAY_TMOUT,
		VAR_PSC_CACHE_TMOUT,
		VAR_PSC_CACHE_RETRY,
		VAR_MYNETWORKS,
		NULL,
	};
	static const pm_service svc = {
		.name = "postscreen",
		.strs = strs,
		.ints = ints,
		.times = times,
		.metrics_param = VAR_PSC_METRICS_LISTEN,
		.pre_init = psc_pre_init,
		.post_init = psc_post_init,
		.run = psc_run,
		.reload = psc_reload,
		.reload_params = reload_params,
		.serves = 1,
	};

	return (pm_server_main(&svc, argc, argv));
}
