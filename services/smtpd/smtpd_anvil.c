/*
 * NAME
 *	smtpd_anvil - client limits shared by every smtpd replica
 * DESCRIPTION
 *	See smtpd_anvil.h. Replies and warnings are Postfix's:
 *	  421 4.7.0 <myhostname> Error: too many connections from <addr>
 *	  421 4.7.0 <myhostname> Error: too many new TLS sessions from <addr>
 *	  450 4.7.0 Error: too many messages from <addr>
 *	  450 4.7.0 Error: too many recipients from <addr>
 *	  warning: Connection concurrency limit exceeded: N from name[addr]
 *	  for service smtp (and "Connection rate", "Message delivery
 *	  request rate", "Recipient address rate", "New TLS session rate").
 *
 *	Connections: the connect check (smtpd_anvil_check_connect, on the
 *	check pool) calls pm_anvil_connect() once: concurrency and rate in
 *	one script. A connection that was let in (or could not be counted:
 *	Redis down) joins the list of live connections; the background
 *	thread renews their leases every third of
 *	smtpd_client_connection_lease_time, in one round trip per batch,
 *	and drops the leases of closed connections as soon as they close.
 *	A renewal re-adds a lease that Redis lost (restart), so live
 *	connections count again after an outage. A killed smtpd's
 *	connections count for at most one lease time (at least two thirds
 *	of it) after its last renewal.
 *
 *	Message, recipient, new TLS session and AUTH rates are fixed
 *	windows of anvil_rate_time_unit (pm_anvil_take: check and count in
 *	one step; a refused attempt is not counted). New TLS sessions are
 *	counted after a handshake that was not a resumption, as Postfix
 *	does, and the client is then told 421 (the check runs on the pool
 *	when the session is idle: always after STARTTLS; with
 *	smtpd_tls_wrappermode after the connect check).
 *
 *	Redis down: every check lets the client in (pm_anvil warns once).
 * LIMITS
 *	See smtpd_anvil.h; the member name of a connection is at most
 *	SMTPD_ANVIL_MEMBER_MAX bytes.
 * SECURITY
 *	See smtpd_anvil.h.
 */
#include "smtpd_anvil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_server_queue.h"
#include "pm_table.h"
#include "smtpd_params.h"
#include "smtpd_session.h"
#include "smtpd_tls.h"

#define SMTPD_ANVIL_DROPS 4096
#define SMTPD_ANVIL_MEMBER_MAX 224

/* A live connection (registered by a check thread, dropped by the loop). */
typedef struct smtpd_anvil_conn {
	struct smtpd_anvil_conn *prev, *next;
	char *client;
	char member[SMTPD_ANVIL_MEMBER_MAX];
} smtpd_anvil_conn;

static pm_anvil *anvil_check; /* check and AUTH threads */
static pm_anvil *anvil_bg;    /* the lease thread */
static pm_netlist *anvil_exceptions;
static pm_metric *anvil_m[SMTPD_ANVIL_KINDS];
static char anvil_instance[PM_INSTANCE_NAME_MAX + 64];
static unsigned long long anvil_seq;

/* Live connections and closed ones to drop: the lease thread's work. */
static pthread_mutex_t anvil_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t anvil_cv = PTHREAD_COND_INITIALIZER;
static smtpd_anvil_conn *anvil_live;
static size_t anvil_nlive;
static char *anvil_drop_client[SMTPD_ANVIL_DROPS];
static char *anvil_drop_member[SMTPD_ANVIL_DROPS];
static size_t anvil_ndrop;
static int anvil_stopping;
static int anvil_bg_running;
static pthread_t anvil_bg_thr;

static const char *const anvil_labels[SMTPD_ANVIL_KINDS] = {
	"connection_count",
	"connection_rate",
	"message_rate",
	"recipient_rate",
	"new_tls_session_rate",
	"auth_rate",
};

/* The window counter names ("what" of pm_anvil). */
static const char *const anvil_what[SMTPD_ANVIL_KINDS] = {
	"live",
	"connect",
	"mail",
	"rcpt",
	"newtls",
	"auth",
};

/* The session whose cst a check function got (smtpd_check_async). */
#define SESSION_OF(st) \
	((smtpd_session *) ((char *) (st) -offsetof(smtpd_session, cst)))

int
smtpd_anvil_exempt(const char *client)
{
	return (anvil_exceptions != NULL &&
	    pm_netlist_match(anvil_exceptions, client) == 1);
}

/* Lease thread. */

static void
anvil_renew_round(int renew)
{
	const char **clients, **members;
	smtpd_anvil_conn *c;
	size_t n = 0, ndrop, i, cap;

	/* Called and returns with anvil_mu held. */
	cap = anvil_ndrop + (renew ? anvil_nlive : 0);
	if (cap == 0) {
		return;
	}
	clients = pm_calloc(cap, sizeof(*clients));
	members = pm_calloc(cap, sizeof(*members));
	for (i = 0; i < anvil_ndrop; i++) {
		clients[n] = anvil_drop_client[i];
		members[n++] = anvil_drop_member[i];
	}
	ndrop = anvil_ndrop;
	anvil_ndrop = 0;
	for (c = anvil_live; renew && c != NULL; c = c->next) {
		clients[n] = pm_strdup(c->client);
		members[n++] = pm_strdup(c->member);
	}
	pthread_mutex_unlock(&anvil_mu);
	(void) pm_anvil_renew(anvil_bg, n, clients, members, ndrop,
	    var_smtpd_cconn_lease);
	for (i = 0; i < n; i++) {
		free((char *) clients[i]);
		free((char *) members[i]);
	}
	free(clients);
	free(members);
	pthread_mutex_lock(&anvil_mu);
}

static void *
anvil_bg_main(void *arg)
{
	long period_ms = var_smtpd_cconn_lease * 1000 / 3;
	int64_t next = pm_mono_ms() + period_ms;
	struct timespec ts;
	int64_t now;

	(void) arg;
	pthread_mutex_lock(&anvil_mu);
	for (;;) {
		now = pm_mono_ms();
		if (anvil_ndrop == 0 && now < next && !anvil_stopping) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (next - now) / 1000;
			ts.tv_nsec += ((next - now) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			(void) pthread_cond_timedwait(&anvil_cv, &anvil_mu,
			    &ts);
			continue;
		}
		if (now >= next) {
			next = now + period_ms;
			anvil_renew_round(1);
		} else {
			anvil_renew_round(0);
		}
		if (anvil_stopping && anvil_ndrop == 0) {
			break;
		}
	}
	pthread_mutex_unlock(&anvil_mu);
	return (NULL);
}

void
smtpd_anvil_init(void)
{
	const char *err = NULL;
	pthread_condattr_t ca;
	char lab[64];
	pm_qstore *qs;
	int i;

	for (i = 0; i < SMTPD_ANVIL_KINDS; i++) {
		snprintf(lab, sizeof(lab), "limit=\"%s\"", anvil_labels[i]);
		anvil_m[i] = pm_metric_counter("smtpd_anvil_limit_hits_total",
		    "Clients refused by a smtpd_client_*_limit.", lab);
	}
	if (var_smtpd_cconn_limit <= 0 && var_smtpd_crate_limit <= 0 &&
	    var_smtpd_cmail_limit <= 0 && var_smtpd_crcpt_limit <= 0 &&
	    var_smtpd_cntls_limit <= 0 && var_smtpd_cauth_limit <= 0) {
		return;
	}
	if ((anvil_exceptions = pm_netlist_parse(var_smtpd_hoggers, &err)) ==
	    NULL) {
		pm_msg_fatal("%s: %s", VAR_SMTPD_HOGGERS,
		    err ? err : "malformed list");
	}
	if ((qs = pm_server_qstore_open()) == NULL) {
		pm_msg_fatal("client limits: cannot use %s", VAR_REDIS_SERVER);
	}
	anvil_check = pm_anvil_open(qs, var_anvil_time_unit);
	if ((qs = pm_server_qstore_open()) == NULL) {
		pm_msg_fatal("client limits: cannot use %s", VAR_REDIS_SERVER);
	}
	anvil_bg = pm_anvil_open(qs, var_anvil_time_unit);
	snprintf(anvil_instance, sizeof(anvil_instance), "%.128s/%ld/%llx",
	    var_instance_name, (long) getpid(),
	    (unsigned long long) pm_now_us());
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&anvil_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (var_smtpd_cconn_limit > 0) {
		if (pthread_create(&anvil_bg_thr, NULL, anvil_bg_main, NULL) !=
		    0) {
			pm_msg_fatal("client limits: cannot start a thread");
		}
		anvil_bg_running = 1;
	}
}

void
smtpd_anvil_stop(void)
{
	if (anvil_bg_running) {
		pthread_mutex_lock(&anvil_mu);
		anvil_stopping = 1;
		pthread_cond_signal(&anvil_cv);
		pthread_mutex_unlock(&anvil_mu);
		pthread_join(anvil_bg_thr, NULL);
		anvil_bg_running = 0;
	}
	anvil_check = pm_anvil_close(anvil_check);
	anvil_bg = pm_anvil_close(anvil_bg);
	anvil_exceptions = pm_netlist_free(anvil_exceptions);
}

/* Rates. */

int
smtpd_anvil_rate(int kind, const char *client, long limit, pm_anvil_slot *slot)
{
	memset(slot, 0, sizeof(*slot));
	if (anvil_check == NULL || limit <= 0 || smtpd_anvil_exempt(client)) {
		return (0);
	}
	/* Redis down: the slot is not held, and the client goes on. */
	if (pm_anvil_take(anvil_check, anvil_what[kind], client, limit, slot) !=
	        0 ||
	    slot->held) {
		return (0);
	}
	pm_metric_inc(anvil_m[kind]);
	return (1);
}

void
smtpd_anvil_release(pm_anvil_slot *slot)
{
	if (anvil_check != NULL) {
		(void) pm_anvil_release(anvil_check, slot);
	}
}

static void anvil_reply(smtpd_check_result *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
anvil_reply(smtpd_check_result *res, int code, const char *fmt, ...)
{
	va_list ap;

	memset(res, 0, sizeof(*res));
	res->code = code;
	snprintf(res->dsn, sizeof(res->dsn), "%d.7.0", code / 100);
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
}

/* Connections (check thread). */

void
smtpd_anvil_check_connect(const smtpd_check_state *st, smtpd_check_result *res)
{
	smtpd_session *s = SESSION_OF(st);
	const char *addr = st->client_addr;
	long long count = 0, rate = 0;
	smtpd_anvil_conn *c;
	unsigned long long seq;
	int verdict = PM_ANVIL_OK;

	if (anvil_check == NULL ||
	    (var_smtpd_cconn_limit <= 0 && var_smtpd_crate_limit <= 0) ||
	    smtpd_anvil_exempt(addr)) {
		smtpd_check_connect(st, res);
		return;
	}
	seq = __atomic_add_fetch(&anvil_seq, 1, __ATOMIC_RELAXED);
	c = pm_calloc(1, sizeof(*c));
	c->client = pm_strdup(addr);
	snprintf(c->member, sizeof(c->member), "%s:%llu", anvil_instance, seq);
	if (pm_anvil_connect(anvil_check, addr, c->member,
	        var_smtpd_cconn_lease, var_smtpd_cconn_limit,
	        var_smtpd_crate_limit, &verdict, &count, &rate) == 0 &&
	    verdict != PM_ANVIL_OK) {
		if (verdict == PM_ANVIL_COUNT) {
			pm_msg_warn("Connection concurrency limit exceeded: "
			            "%lld from %s[%s] for service smtp",
			    count, st->client_name, addr);
			pm_metric_inc(anvil_m[SMTPD_ANVIL_CONN_COUNT]);
		} else {
			pm_msg_warn("Connection rate limit exceeded: %lld from "
			            "%s[%s] for service smtp",
			    rate, st->client_name, addr);
			pm_metric_inc(anvil_m[SMTPD_ANVIL_CONN_RATE]);
		}
		anvil_reply(res, 421, "%s Error: too many connections from %s",
		    var_myhostname, addr);
		free(c->client);
		free(c);
		return;
	}
	/* Taken, or Redis down: a renewal adds it once Redis answers. */
	if (var_smtpd_cconn_limit > 0) {
		pthread_mutex_lock(&anvil_mu);
		c->next = anvil_live;
		if (anvil_live != NULL) {
			anvil_live->prev = c;
		}
		anvil_live = c;
		anvil_nlive++;
		pthread_mutex_unlock(&anvil_mu);
		s->anvil = c;
	} else {
		free(c->client);
		free(c);
	}
	smtpd_check_connect(st, res);
}

void
smtpd_anvil_end(smtpd_session *s)
{
	smtpd_anvil_conn *c = s->anvil;

	if (c == NULL) {
		return;
	}
	s->anvil = NULL;
	pthread_mutex_lock(&anvil_mu);
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		anvil_live = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	anvil_nlive--;
	if (anvil_ndrop < SMTPD_ANVIL_DROPS) {
		anvil_drop_client[anvil_ndrop] = c->client;
		anvil_drop_member[anvil_ndrop] = pm_strdup(c->member);
		anvil_ndrop++;
		pthread_cond_signal(&anvil_cv);
	} else {
		/* Its lease ends by itself. */
		free(c->client);
	}
	pthread_mutex_unlock(&anvil_mu);
	free(c);
}

/* Messages and recipients (check thread). */

static void
anvil_check_mail(const smtpd_check_state *st, smtpd_check_result *res)
{
	pm_anvil_slot slot;

	if (smtpd_anvil_rate(SMTPD_ANVIL_MSG_RATE, st->client_addr,
	        var_smtpd_cmail_limit, &slot)) {
		pm_msg_warn("Message delivery request rate limit exceeded: "
		            "%lld from %s[%s] for service smtp",
		    slot.count + 1, st->client_name, st->client_addr);
		anvil_reply(res, 450, "Error: too many messages from %s",
		    st->client_addr);
		return;
	}
	smtpd_check_mail(st, res);
}

static void
anvil_check_rcpt(const smtpd_check_state *st, smtpd_check_result *res)
{
	pm_anvil_slot slot;

	if (smtpd_anvil_rate(SMTPD_ANVIL_RCPT_RATE, st->client_addr,
	        var_smtpd_crcpt_limit, &slot)) {
		pm_msg_warn("Recipient address rate limit exceeded: %lld from "
		            "%s[%s] for service smtp",
		    slot.count + 1, st->client_name, st->client_addr);
		anvil_reply(res, 450, "Error: too many recipients from %s",
		    st->client_addr);
		return;
	}
	smtpd_check_rcpt(st, res);
}

void (*smtpd_anvil_mail_fn(const smtpd_session *s))(const smtpd_check_state *,
    smtpd_check_result *)
{
	if (anvil_check != NULL && var_smtpd_cmail_limit > 0 &&
	    !smtpd_anvil_exempt(s->addr)) {
		return (anvil_check_mail);
	}
	return (smtpd_check_mail);
}

void (*smtpd_anvil_rcpt_fn(const smtpd_session *s))(const smtpd_check_state *,
    smtpd_check_result *)
{
	if (anvil_check != NULL && var_smtpd_crcpt_limit > 0 &&
	    !smtpd_anvil_exempt(s->addr)) {
		return (anvil_check_rcpt);
	}
	return (smtpd_check_rcpt);
}

/* New TLS sessions. */

static void
anvil_check_tls(const smtpd_check_state *st, smtpd_check_result *res)
{
	pm_anvil_slot slot;

	memset(res, 0, sizeof(*res));
	if (smtpd_anvil_rate(SMTPD_ANVIL_TLS_RATE, st->client_addr,
	        var_smtpd_cntls_limit, &slot)) {
		pm_msg_warn("New TLS session rate limit exceeded: %lld from "
		            "%s[%s] for service smtp",
		    slot.count + 1, st->client_name, st->client_addr);
		anvil_reply(res, 421,
		    "%s Error: too many new TLS sessions from %s",
		    var_myhostname, st->client_addr);
	}
}

static void
anvil_tls_checked(smtpd_session *s)
{
	if (s->cres.code != 0) {
		smtpd_reply(s, s->cres.code, s->cres.dsn, "%s", s->cres.text);
		smtpd_close(s, NULL);
		return;
	}
	smtpd_set_deadline(s);
}

/* Start the check if the session is idle; else it stays due. */
static void
anvil_tls_start(smtpd_session *s)
{
	if (s->phase == PH_CMD && s->cont == NULL && !s->close_after &&
	    s->conn != NULL) {
		s->anvil_tls_due = 0;
		smtpd_check_async(s, anvil_check_tls, anvil_tls_checked);
	}
}

void
smtpd_anvil_tls_done(smtpd_session *s, int reused)
{
	if (reused || anvil_check == NULL || var_smtpd_cntls_limit <= 0 ||
	    smtpd_anvil_exempt(s->addr)) {
		return;
	}
	s->anvil_tls_due = 1;
	anvil_tls_start(s);
}

void
smtpd_anvil_connect_done(smtpd_session *s)
{
	smtpd_connect_done(s);
	if (s->anvil_tls_due) {
		anvil_tls_start(s);
	}
}
