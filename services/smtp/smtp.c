/*
 * NAME
 *	smtp - Postmesh SMTP and LMTP delivery agent
 * SUMMARY
 *	smtp [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Postfix's smtp(8)/lmtp(8) as one service serving the transports
 *	"smtp", "relay" and "lmtp" (lmtp mode: LHLO, one reply per
 *	recipient after the data, unix: and inet: endpoints). It pulls
 *	jobs from every qmgr with pm_agent (smtp_delivery_slots threads;
 *	each blocks on its own connection with poll() timeouts) and reads
 *	each message's content from the queue store by queue id.
 *
 *	One job (smtp_deliver): parse the nexthop; read the content; take
 *	an idle connection for the same nexthop from the connection cache
 *	if there is one (postmesh_smtp_connection_cache_total{result});
 *	else look up the addresses (MX, A/AAAA) and try them in order
 *	(next one on a connection failure or a 4xx greeting/EHLO, at most
 *	smtp_mx_address_limit addresses and smtp_mx_session_limit
 *	sessions), with STARTTLS as the TLS policy of the nexthop says
 *	(smtp_tls.c; the policy is part of the connection cache key, so a
 *	cached session always has the TLS the job needs); then one
 *	transaction (smtp_proto.c). As in Postfix,
 *	recipients that get a soft error (4xx to MAIL, RCPT, DATA or the
 *	end of data, a lost connection) on a server that is not the last
 *	one to try go to the next server. A healthy connection goes back
 *	to the cache afterwards. When no address could be reached the job
 *	reports dest_failed (qmgr's dead-site throttling). docs/smtp.md
 *	has the details.
 *
 *	A janitor thread closes cached connections idle for longer than
 *	smtp_connection_cache_time_limit, about once a second.
 * LIMITS
 *	See smtp_params.h; smtp_delivery_slots deliveries at once.
 * SECURITY
 *	Jobs are checked by pm_agent; everything from the network is
 *	bounded and made printable (smtp_conn.c, smtp_reply.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cleanup.pb-c.h"
#include "pm_msgflags.h"
#include "pm_agent.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "smtp_mime8.h"
#include "pm_qstore.h"
#include "pm_server.h"
#include "smtp.h"
#include "smtp_params.h"
#include "smtp_tls.h"
#include "smtp_tls_params.h"

char *var_smtp_metrics;
char *var_smtp_helo_name;
char *var_smtp_tcp_port;
char *var_lmtp_tcp_port;
char *var_smtp_discard_ehlo;
char *var_inet_protocols;
long var_smtp_slots;
long var_smtp_cache_limit;
long var_smtp_mx_addr_limit;
long var_smtp_mx_sess_limit;
long var_smtp_line_limit;
long var_mime_nest_limit;
long var_smtp_conn_tmout;
long var_smtp_helo_tmout;
long var_smtp_mail_tmout;
long var_smtp_rcpt_tmout;
long var_smtp_data0_tmout;
long var_smtp_data1_tmout;
long var_smtp_data2_tmout;
long var_smtp_quit_tmout;
long var_smtp_rset_tmout;
long var_smtp_cache_time;
long var_smtp_reuse_time;
int var_smtp_skip_5xx;

unsigned smtp_port_smtp;
unsigned smtp_port_lmtp;
int smtp_use_v4;
int smtp_use_v6;
char **smtp_discard_kw;

#define SMTP_BUF_KEEP (1024 * 1024) /* larger work buffers are freed */

typedef struct smtp_worker {
	smtp_msg m;
} smtp_worker;

static pthread_t janitor_tid;
static int janitor_started;
static pthread_mutex_t janitor_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t janitor_cv = PTHREAD_COND_INITIALIZER;
static int janitor_stop;

/* SMTPUTF8 is needed for a UTF-8 envelope, or UTF-8 headers when asked. */
static int
utf8_needed(const pm_job *j, const char *body, size_t len)
{
	const char *end;
	size_t i;

	if (pm_mime8_is_8bit(j->sender, strlen(j->sender))) {
		return (1);
	}
	for (i = 0; i < j->nrcpt; i++) {
		if (j->rcpt[i].status == PM_JOB_NONE &&
		    pm_mime8_is_8bit(j->rcpt[i].address,
		        strlen(j->rcpt[i].address))) {
			return (1);
		}
	}
	if ((j->flags & PM_MSG_SMTPUTF8) == 0) {
		return (0);
	}
	end = memmem(body, len, "\r\n\r\n", 4);
	if (end == NULL) {
		end = memmem(body, len, "\n\n", 2);
	}
	return (pm_mime8_is_8bit(body, end ? (size_t) (end - body) : len));
}

/* After a transaction: back to the cache, or closed. */
static void
sess_done(smtp_sess *s, const char *key)
{
	if (s->broken) {
		smtp_sess_close(s, 0);
		return;
	}
	snprintf(s->key, sizeof(s->key), "%s", key);
	smtp_cache_put(s);
}

/* "[ip]:port" (or "[path]") of a relay "host[ip]:port", for comparisons. */
static const char *
endpoint_of(const char *relay)
{
	const char *p = strchr(relay, '[');

	return (p != NULL ? p : relay);
}

static int
addr_is(const smtp_addr *a, const char *endpoint)
{
	char buf[sizeof(a->path) + INET6_ADDRSTRLEN + 16];

	if (a->family == AF_UNIX) {
		snprintf(buf, sizeof(buf), "[%s]", a->path);
	} else {
		snprintf(buf, sizeof(buf), "[%s]:%u", a->ip, a->port);
	}
	return (strcmp(buf, endpoint) == 0);
}

/*
 * After a transaction with a server that is not the last one to try
 * (Postfix's smtp_rcpt_fail() and smtp_bulk_fail() without
 * SMTP_MISC_FLAG_FINAL_SERVER): a recipient that got a soft error (a
 * 4xx to MAIL, RCPT, DATA or the end of data, a timeout, a lost
 * connection) gets no outcome yet but goes to the next server; the
 * reason is logged ("QID: host H[A] said: 450 ...", as Postfix does)
 * and kept in *last for when no server is left. A recipient that this
 * server settled (sent, bounced) keeps its outcome and this server as
 * its relay. Returns the number of recipients still to deliver.
 */
static size_t
keep_soft(pm_job *j, const smtp_sess *s, smtp_err *last)
{
	pm_job_rcpt *r;
	size_t i, left = 0;
	int logged = 0;

	for (i = 0; i < j->nrcpt; i++) {
		r = &j->rcpt[i];
		if (r->status == PM_JOB_DEFERRED) {
			if (!logged || strcmp(last->text, r->text) != 0) {
				pm_msg_info("%s: %s", j->queue_id, r->text);
				logged = 1;
			}
			last->status = PM_JOB_DEFERRED;
			snprintf(last->dsn, sizeof(last->dsn), "%s", r->dsn);
			snprintf(last->text, sizeof(last->text), "%s", r->text);
			r->status = PM_JOB_NONE;
			r->dsn[0] = r->text[0] = 0;
		} else if (r->status != PM_JOB_NONE && r->relay[0] == 0) {
			snprintf(r->relay, sizeof(r->relay), "%s", s->relay);
			pm_printable(r->relay);
		}
		left += r->status == PM_JOB_NONE;
	}
	return (left);
}

/*
 * Connect to a and say hello, with STARTTLS as pol says. Under "may"
 * a failed TLS handshake is tried again once on a new connection
 * without TLS, as Postfix does. 0 with *out; 1: the connection failed
 * (*last says why); 2: greeting, EHLO or TLS failed (*err, *soft).
 */
static int
open_session(const smtp_addr *a, const smtp_dest *d, int lmtp,
    const smtp_tls_policy *pol, pm_job *j, smtp_msg *m, smtp_sess **out,
    smtp_err *last, smtp_err *err, int *soft)
{
	smtp_sess *s;
	int plain = 0, fallback;

	for (;;) {
		if (smtp_connect(a, lmtp, var_smtp_conn_tmout, &s, last) != 0) {
			return (1);
		}
		smtp_tls_attach(s, pol, d, a, plain);
		snprintf(j->relay, sizeof(j->relay), "%s", s->relay);
		if (smtp_hello(s, m, err, soft) == 0) {
			*out = s;
			return (0);
		}
		fallback = s->tls != NULL && s->tls->fallback;
		smtp_sess_close(s, !s->broken);
		if (!fallback || plain) {
			return (2);
		}
		plain = 1;
	}
}

/*
 * New connections, address after address, as Postfix's
 * smtp_connect_inet(): the next address after a connection failure or
 * a soft greeting/EHLO failure (not counted as a session), and after a
 * transaction that left soft-failed recipients (counted), until
 * smtp_mx_address_limit addresses or smtp_mx_session_limit sessions.
 * The last server to try (no address left, or the session limit
 * reached) gives every outcome as it comes. skip: the endpoint of a
 * cached session used for this job already (it counts as one address
 * and one session), or NULL; *last: the error to report when no
 * server is left.
 */
static void
deliver_fresh(pm_job *j, smtp_msg *m, const smtp_dest *d, int lmtp,
    const smtp_tls_policy *pol, const char *key, int64_t t0, const char *skip,
    smtp_err *last)
{
	size_t max = (size_t) var_smtp_mx_addr_limit, naddr = 0, i, k;
	smtp_addr *addrs = pm_calloc(max, sizeof(*addrs));
	smtp_err err;
	smtp_sess *s;
	long sessions = skip != NULL, tried = skip != NULL;
	int soft, final, dsn_all = skip != NULL ? j->dsn_passed : 1, rc;
	int setup = skip != NULL;

	if (smtp_resolve(d, lmtp, addrs, max, &naddr, &err) != 0) {
		if (skip == NULL) {
			pm_job_set_all(j, err.status, err.dsn, "%s", err.text);
			j->conn_ms = (unsigned) (pm_mono_ms() - t0);
			free(addrs);
			return;
		}
		naddr = 0; /* the error of the cached session stands */
	}
	for (i = 0; i < naddr; i++) {
		if (skip != NULL && addr_is(&addrs[i], skip)) {
			continue;
		}
		if (tried >= var_smtp_mx_addr_limit ||
		    sessions >= var_smtp_mx_sess_limit ||
		    pm_server_stopping()) {
			break;
		}
		tried++;
		for (k = i + 1;
		     k < naddr && skip != NULL && addr_is(&addrs[k], skip);
		     k++) {
			continue;
		}
		final = k >= naddr || tried >= var_smtp_mx_addr_limit;
		rc = open_session(&addrs[i], d, lmtp, pol, j, m, &s, last, &err,
		    &soft);
		if (rc == 1) {
			continue;
		}
		if (rc == 2) {
			*last = err;
			if (!soft) {
				break;
			}
			continue;
		}
		/* Postfix counts sessions past the handshake only */
		final = final || ++sessions >= var_smtp_mx_sess_limit;
		s->uses = 1;
		j->conn_use = 1;
		if (!setup) {
			j->conn_ms = (unsigned) (pm_mono_ms() - t0);
			setup = 1;
		}
		(void) smtp_xact(s, j, m, 0);
		smtp_tls_log_delivery(j, s);
		/* success notices are the peer's only if every peer took DSN */
		dsn_all = dsn_all && j->dsn_passed;
		j->dsn_passed = dsn_all;
		if (final || keep_soft(j, s, last) == 0) {
			sess_done(s, key);
			free(addrs);
			return;
		}
		sess_done(s, key);
	}
	pm_job_set_all(j, last->status, last->dsn, "%s", last->text);
	j->dest_failed = !setup && last->status == PM_JOB_DEFERRED;
	if (!setup) {
		j->conn_ms = (unsigned) (pm_mono_ms() - t0); /* all was setup */
	}
	free(addrs);
}

static void
smtp_deliver(void *ctx, pm_job *j)
{
	smtp_worker *w = ctx;
	smtp_msg *m = &w->m;
	int lmtp = strcmp(j->transport, "lmtp") == 0;
	int64_t t0 = pm_mono_ms();
	smtp_dest d;
	smtp_tls_policy pol;
	smtp_sess *s;
	smtp_err last = { PM_JOB_DEFERRED, "4.3.0", PM_JOB_STOPPING_TEXT };
	const char *why;
	char *body = NULL, key[1100], used[300], tkey[64];
	size_t len = 0;
	int rc;

	snprintf(j->relay, sizeof(j->relay), "none");
	if (smtp_nexthop_parse(j->nexthop, lmtp, &d, &why) != 0) {
		pm_job_set_all(j, PM_JOB_DEFERRED, "4.3.5",
		    "bad %s nexthop "
		    "\"%s\": %s",
		    lmtp ? "lmtp" : "smtp", j->nexthop, why);
		return;
	}
	if (smtp_tls_policy_for(j->nexthop, lmtp, &pol, &last) != 0) {
		pm_job_set_all(j, last.status, last.dsn, "%s", last.text);
		return;
	}
	if ((rc = pm_agent_body(j, &body, &len)) != 0) {
		pm_job_set_all(j, PM_JOB_DEFERRED, "4.3.0",
		    "cannot read the "
		    "message content: %s",
		    pm_strerror(rc));
		smtp_tls_policy_release(&pol);
		return;
	}
	m->body = body;
	m->len = len;
	m->eight = pm_mime8_is_8bit(body, len);
	m->utf8 = utf8_needed(j, body, len);
	m->converted = 0;
	/* the TLS policy first: a long nexthop must not cut it off */
	smtp_tls_cache_key(&pol, tkey, sizeof(tkey));
	snprintf(key, sizeof(key), "%s:%s:%s", lmtp ? "lmtp" : "smtp", tkey,
	    j->nexthop);

	while ((s = smtp_cache_get(key)) != NULL) {
		if (!smtp_tls_fits(s, &pol, smtp_tls_match_spec(&pol),
		        d.host)) {
			smtp_sess_close(s, 1); /* not reached: the key says */
			continue;
		}
		s->uses++;
		j->conn_use = s->uses;
		snprintf(j->relay, sizeof(j->relay), "%s", s->relay);
		j->conn_ms = (unsigned) (pm_mono_ms() - t0);
		if (smtp_xact(s, j, m, 1) == SMTP_XACT_STALE) {
			smtp_sess_close(s, 0);
			j->conn_use = 0;
			snprintf(j->relay, sizeof(j->relay), "none");
			continue;
		}
		smtp_cache_count(1);
		smtp_tls_log_delivery(j, s);
		snprintf(used, sizeof(used), "%s", endpoint_of(s->relay));
		/* not known to be the last server: soft failures move on */
		if (var_smtp_mx_sess_limit > 1 && keep_soft(j, s, &last) > 0) {
			sess_done(s, key);
			deliver_fresh(j, m, &d, lmtp, &pol, key, t0, used,
			    &last);
			goto out;
		}
		sess_done(s, key);
		goto out;
	}
	smtp_cache_count(0);
	deliver_fresh(j, m, &d, lmtp, &pol, key, t0, NULL, &last);

out:
	smtp_tls_policy_release(&pol);
	j->xfer_ms = (unsigned) (pm_mono_ms() - t0) - j->conn_ms;
	free(body);
	m->body = NULL;
	m->len = 0;
	if (m->conv.cap > SMTP_BUF_KEEP) {
		pm_buf_free(&m->conv);
		pm_buf_init(&m->conv, 0);
	}
	if (m->out.cap > SMTP_BUF_KEEP) {
		pm_buf_free(&m->out);
		pm_buf_init(&m->out, 0);
	}
}

static void *
smtp_thread_init(void)
{
	smtp_worker *w = pm_calloc(1, sizeof(*w));

	pm_buf_init(&w->m.conv, 0);
	pm_buf_init(&w->m.out, 0);
	smtp_reply_init(&w->m.rep);
	return (w);
}

static void
smtp_thread_fini(void *ctx)
{
	smtp_worker *w = ctx;

	if (w != NULL) {
		pm_buf_free(&w->m.conv);
		pm_buf_free(&w->m.out);
		smtp_reply_free(&w->m.rep);
		free(w);
	}
}

static const char *const smtp_transports[] = { "smtp", "relay", "lmtp", NULL };

static const pm_agent smtp_agent = {
	.name = "smtp",
	.transports = smtp_transports,
	.slots_param = VAR_SMTP_SLOTS,
	.thread_init = smtp_thread_init,
	.thread_fini = smtp_thread_fini,
	.deliver = smtp_deliver,
};

static void *
janitor_main(void *arg)
{
	struct timespec ts;

	(void) arg;
	pthread_mutex_lock(&janitor_mu);
	while (!janitor_stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		(void) pthread_cond_timedwait(&janitor_cv, &janitor_mu, &ts);
		pthread_mutex_unlock(&janitor_mu);
		smtp_cache_expire(0);
		pthread_mutex_lock(&janitor_mu);
	}
	pthread_mutex_unlock(&janitor_mu);
	return (NULL);
}

static void
janitor_wake(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&janitor_mu);
	janitor_stop = 1;
	pthread_cond_broadcast(&janitor_cv);
	pthread_mutex_unlock(&janitor_mu);
}

static int
smtp_pre_init(void)
{
	char **p, **list;
	static const char *help = "SMTP client connection cache lookups";

	if ((smtp_port_smtp = smtp_port_parse(var_smtp_tcp_port)) == 0 ||
	    (smtp_port_lmtp = smtp_port_parse(var_lmtp_tcp_port)) == 0) {
		pm_msg_error("bad %s = %s or %s = %s", VAR_SMTP_TCP_PORT,
		    var_smtp_tcp_port, VAR_LMTP_TCP_PORT, var_lmtp_tcp_port);
		return (-1);
	}
	list = pm_cfg_list(var_inet_protocols, NULL);
	for (p = list; p && *p; p++) {
		if (pm_strcaseeq(*p, "all")) {
			smtp_use_v4 = smtp_use_v6 = 1;
		} else if (pm_strcaseeq(*p, "ipv4")) {
			smtp_use_v4 = 1;
		} else if (pm_strcaseeq(*p, "ipv6")) {
			smtp_use_v6 = 1;
		} else {
			pm_msg_error("bad %s value: %s", VAR_INET_PROTOCOLS,
			    *p);
			pm_cfg_list_free(list);
			return (-1);
		}
	}
	pm_cfg_list_free(list);
	if (!smtp_use_v4 && !smtp_use_v6) {
		smtp_use_v4 = 1;
	}
	smtp_discard_kw = pm_cfg_list(var_smtp_discard_ehlo, NULL);
	for (p = smtp_discard_kw; p && *p; p++) {
		pm_lowercase(*p);
	}
	if (pm_dns_set_servers(var_dns_server) != 0) {
		pm_msg_error("bad %s = %s", VAR_DNS_SERVER, var_dns_server);
		return (-1);
	}
	if (smtp_tls_init() != 0) {
		return (-1);
	}
	smtp_cache_init(pm_metric_counter("smtp_connection_cache_total", help,
	                    "result=\"hit\""),
	    pm_metric_counter("smtp_connection_cache_total", help,
	        "result=\"miss\""));
	return (0);
}

static int
smtp_post_init(void)
{
	pm_server_on_stop(janitor_wake, NULL);
	if (pthread_create(&janitor_tid, NULL, janitor_main, NULL) != 0) {
		pm_msg_error("cannot create the connection cache thread");
		return (-1);
	}
	janitor_started = 1;
	return (0);
}

static int
smtp_run(void)
{
	return (pm_agent_run(&smtp_agent));
}

/* The smtp and lmtp client TLS parameters smtp_tls_reload() reads. */
#define SMTP_TLS_RELOAD_PARAMS \
	VAR_SMTP_TLS_LEVEL, VAR_SMTP_TLS_POLICY, VAR_SMTP_TLS_CAFILE, \
	    VAR_SMTP_TLS_CAPATH, VAR_SMTP_TLS_SNI, VAR_SMTP_TLS_VFY_MATCH, \
	    VAR_SMTP_TLS_SEC_MATCH, VAR_SMTP_TLS_PROTOS, \
	    VAR_SMTP_TLS_MAND_PROTOS, VAR_SMTP_TLS_CIPHERS, \
	    VAR_SMTP_TLS_MAND_CIPHERS, VAR_SMTP_TLS_EXCL_CIPHERS, \
	    VAR_SMTP_TLS_CHAIN, VAR_SMTP_TLS_LOGLEVEL, \
	    VAR_SMTP_STARTTLS_TMOUT, VAR_LMTP_TLS_LEVEL, VAR_LMTP_TLS_POLICY, \
	    VAR_LMTP_TLS_CAFILE, VAR_LMTP_TLS_CAPATH, VAR_LMTP_TLS_SNI, \
	    VAR_LMTP_TLS_VFY_MATCH, VAR_LMTP_TLS_SEC_MATCH, \
	    VAR_LMTP_TLS_PROTOS, VAR_LMTP_TLS_MAND_PROTOS, \
	    VAR_LMTP_TLS_CIPHERS, VAR_LMTP_TLS_MAND_CIPHERS, \
	    VAR_LMTP_TLS_EXCL_CIPHERS, VAR_LMTP_TLS_CHAIN, \
	    VAR_LMTP_TLS_LOGLEVEL, VAR_LMTP_STARTTLS_TMOUT

static const char *const smtp_dns_params[] = { VAR_DNS_SERVER, NULL };
static const char *const smtp_tls_params[] = { SMTP_TLS_RELOAD_PARAMS, NULL };

static void
smtp_reload(void)
{
	/* what was refused stays in use: not logged as applied */
	if (pm_dns_set_servers(var_dns_server) != 0) {
		pm_msg_warn("reload: bad %s; keeping the old servers",
		    VAR_DNS_SERVER);
		pm_server_reload_kept(smtp_dns_params);
	}
	if (smtp_tls_reload() != 0) {
		pm_server_reload_kept(smtp_tls_params);
	}
}

static void
smtp_fini(void)
{
	janitor_wake(NULL);
	if (janitor_started) {
		pthread_join(janitor_tid, NULL);
		janitor_started = 0;
	}
	smtp_cache_expire(1);
	smtp_tls_fini();
	pm_cfg_list_free(smtp_discard_kw);
	smtp_discard_kw = NULL;
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_SMTP_METRICS, NULL, &var_smtp_metrics, 0, 1024 },
		{ VAR_SMTP_HELO_NAME, NULL, &var_smtp_helo_name, 1, 255 },
		{ VAR_SMTP_TCP_PORT, NULL, &var_smtp_tcp_port, 1, 16 },
		{ VAR_LMTP_TCP_PORT, NULL, &var_lmtp_tcp_port, 1, 16 },
		{ VAR_SMTP_DISCARD_EHLO, NULL, &var_smtp_discard_ehlo, 0, 0 },
		{ VAR_INET_PROTOCOLS, NULL, &var_inet_protocols, 1, 64 },
		{ VAR_SMTP_TLS_LEVEL, DEF_SMTP_TLS_LEVEL, &var_smtp_tls_level,
		    0, 64 },
		{ VAR_SMTP_TLS_POLICY, DEF_SMTP_TLS_POLICY,
		    &var_smtp_tls_policy, 0, 4096 },
		{ VAR_SMTP_TLS_CAFILE, DEF_SMTP_TLS_CAFILE,
		    &var_smtp_tls_cafile, 0, 1024 },
		{ VAR_SMTP_TLS_CAPATH, DEF_SMTP_TLS_CAPATH,
		    &var_smtp_tls_capath, 0, 1024 },
		{ VAR_SMTP_TLS_SNI, DEF_SMTP_TLS_SNI, &var_smtp_tls_sni, 0,
		    255 },
		{ VAR_SMTP_TLS_VFY_MATCH, DEF_SMTP_TLS_VFY_MATCH,
		    &var_smtp_tls_vfy_match, 0, 255 },
		{ VAR_SMTP_TLS_SEC_MATCH, DEF_SMTP_TLS_SEC_MATCH,
		    &var_smtp_tls_sec_match, 0, 255 },
		{ VAR_SMTP_TLS_PROTOS, DEF_SMTP_TLS_PROTOS,
		    &var_smtp_tls_protos, 0, 255 },
		{ VAR_SMTP_TLS_MAND_PROTOS, DEF_SMTP_TLS_MAND_PROTOS,
		    &var_smtp_tls_mand_protos, 0, 255 },
		{ VAR_SMTP_TLS_CIPHERS, DEF_SMTP_TLS_CIPHERS,
		    &var_smtp_tls_ciphers, 0, 31 },
		{ VAR_SMTP_TLS_MAND_CIPHERS, DEF_SMTP_TLS_MAND_CIPHERS,
		    &var_smtp_tls_mand_ciphers, 0, 31 },
		{ VAR_SMTP_TLS_EXCL_CIPHERS, DEF_SMTP_TLS_EXCL_CIPHERS,
		    &var_smtp_tls_excl_ciphers, 0, 255 },
		{ VAR_SMTP_TLS_CHAIN, DEF_SMTP_TLS_CHAIN, &var_smtp_tls_chain,
		    0, 4096 },
		/* lmtp(8): the same names and defaults, lmtp_ prefix */
		{ VAR_LMTP_TLS_LEVEL, DEF_SMTP_TLS_LEVEL, &var_lmtp_tls_level,
		    0, 64 },
		{ VAR_LMTP_TLS_POLICY, DEF_SMTP_TLS_POLICY,
		    &var_lmtp_tls_policy, 0, 4096 },
		{ VAR_LMTP_TLS_CAFILE, DEF_SMTP_TLS_CAFILE,
		    &var_lmtp_tls_cafile, 0, 1024 },
		{ VAR_LMTP_TLS_CAPATH, DEF_SMTP_TLS_CAPATH,
		    &var_lmtp_tls_capath, 0, 1024 },
		{ VAR_LMTP_TLS_SNI, DEF_SMTP_TLS_SNI, &var_lmtp_tls_sni, 0,
		    255 },
		{ VAR_LMTP_TLS_VFY_MATCH, DEF_SMTP_TLS_VFY_MATCH,
		    &var_lmtp_tls_vfy_match, 0, 255 },
		{ VAR_LMTP_TLS_SEC_MATCH, DEF_LMTP_TLS_SEC_MATCH,
		    &var_lmtp_tls_sec_match, 0, 255 },
		{ VAR_LMTP_TLS_PROTOS, DEF_SMTP_TLS_PROTOS,
		    &var_lmtp_tls_protos, 0, 255 },
		{ VAR_LMTP_TLS_MAND_PROTOS, DEF_SMTP_TLS_MAND_PROTOS,
		    &var_lmtp_tls_mand_protos, 0, 255 },
		{ VAR_LMTP_TLS_CIPHERS, DEF_SMTP_TLS_CIPHERS,
		    &var_lmtp_tls_ciphers, 0, 31 },
		{ VAR_LMTP_TLS_MAND_CIPHERS, DEF_SMTP_TLS_MAND_CIPHERS,
		    &var_lmtp_tls_mand_ciphers, 0, 31 },
		{ VAR_LMTP_TLS_EXCL_CIPHERS, DEF_SMTP_TLS_EXCL_CIPHERS,
		    &var_lmtp_tls_excl_ciphers, 0, 255 },
		{ VAR_LMTP_TLS_CHAIN, DEF_SMTP_TLS_CHAIN, &var_lmtp_tls_chain,
		    0, 4096 },
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_SMTP_SLOTS, DEF_SMTP_SLOTS, &var_smtp_slots, 1, 4096 },
		{ VAR_SMTP_CACHE_LIMIT, DEF_SMTP_CACHE_LIMIT,
		    &var_smtp_cache_limit, 0, 100000 },
		{ VAR_SMTP_MX_ADDR_LIMIT, DEF_SMTP_MX_ADDR_LIMIT,
		    &var_smtp_mx_addr_limit, 1, 100 },
		{ VAR_SMTP_MX_SESS_LIMIT, DEF_SMTP_MX_SESS_LIMIT,
		    &var_smtp_mx_sess_limit, 1, 100 },
		{ VAR_SMTP_LINE_LIMIT, DEF_SMTP_LINE_LIMIT,
		    &var_smtp_line_limit, 0, 1000000 },
		{ VAR_MIME_NEST_LIMIT, DEF_MIME_NEST_LIMIT,
		    &var_mime_nest_limit, 1, 10000 },
		PM_CFG_LINE_LIMIT,
		PM_CFG_HEADER_LIMIT,
		{ VAR_SMTP_TLS_LOGLEVEL, DEF_SMTP_TLS_LOGLEVEL,
		    &var_smtp_tls_loglevel, 0, 4 },
		{ VAR_LMTP_TLS_LOGLEVEL, DEF_SMTP_TLS_LOGLEVEL,
		    &var_lmtp_tls_loglevel, 0, 4 },
		{ VAR_SMTP_TLS_SCACHE_LIMIT, DEF_SMTP_TLS_SCACHE_LIMIT,
		    &var_smtp_tls_scache_limit, 0, 100000 },
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		{ VAR_SMTP_CONN_TMOUT, DEF_SMTP_CONN_TMOUT,
		    &var_smtp_conn_tmout, 's', 1, 3600 },
		{ VAR_SMTP_HELO_TMOUT, DEF_SMTP_HELO_TMOUT,
		    &var_smtp_helo_tmout, 's', 1, 3600 },
		{ VAR_SMTP_MAIL_TMOUT, DEF_SMTP_MAIL_TMOUT,
		    &var_smtp_mail_tmout, 's', 1, 3600 },
		{ VAR_SMTP_RCPT_TMOUT, DEF_SMTP_RCPT_TMOUT,
		    &var_smtp_rcpt_tmout, 's', 1, 3600 },
		{ VAR_SMTP_DATA0_TMOUT, DEF_SMTP_DATA0_TMOUT,
		    &var_smtp_data0_tmout, 's', 1, 3600 },
		{ VAR_SMTP_DATA1_TMOUT, DEF_SMTP_DATA1_TMOUT,
		    &var_smtp_data1_tmout, 's', 1, 3600 },
		{ VAR_SMTP_DATA2_TMOUT, DEF_SMTP_DATA2_TMOUT,
		    &var_smtp_data2_tmout, 's', 1, 3600 },
		{ VAR_SMTP_QUIT_TMOUT, DEF_SMTP_QUIT_TMOUT,
		    &var_smtp_quit_tmout, 's', 1, 3600 },
		{ VAR_SMTP_RSET_TMOUT, DEF_SMTP_RSET_TMOUT,
		    &var_smtp_rset_tmout, 's', 1, 3600 },
		{ VAR_SMTP_CACHE_TIME, DEF_SMTP_CACHE_TIME,
		    &var_smtp_cache_time, 's', 0, 3600 },
		{ VAR_SMTP_REUSE_TIME, DEF_SMTP_REUSE_TIME,
		    &var_smtp_reuse_time, 's', 1, 86400 },
		{ VAR_SMTP_STARTTLS_TMOUT, DEF_SMTP_STARTTLS_TMOUT,
		    &var_smtp_starttls_tmout, 's', 1, 3600 },
		{ VAR_LMTP_STARTTLS_TMOUT, DEF_SMTP_STARTTLS_TMOUT,
		    &var_lmtp_starttls_tmout, 's', 1, 3600 },
		{ VAR_SMTP_TLS_SCACHE_TMOUT, DEF_SMTP_TLS_SCACHE_TMOUT,
		    &var_smtp_tls_scache_tmout, 's', 0, 8640000 },
		{ 0 },
	};
	static const pm_cfg_bool bools[] = {
		{ VAR_SMTP_SKIP_5XX, DEF_SMTP_SKIP_5XX, &var_smtp_skip_5xx },
		{ 0 },
	};
	/* Bound again on SIGHUP; smtp_reload() applies them. */
	static const char *const reload_params[] = { VAR_DNS_SERVER,
		SMTP_TLS_RELOAD_PARAMS, NULL };
	static const pm_service svc = {
		.name = "smtp",
		.strs = strs,
		.ints = ints,
		.times = times,
		.bools = bools,
		.metrics_param = VAR_SMTP_METRICS,
		.pre_init = smtp_pre_init,
		.post_init = smtp_post_init,
		.run = smtp_run,
		.fini = smtp_fini,
		.reload = smtp_reload,
		.queue = 1,
		.reload_params = reload_params,
	};

	return (pm_server_main(&svc, argc, argv));
}
