/*
 * NAME
 *	smtp_tls - STARTTLS in the smtp client, over the session's socket
 * DESCRIPTION
 *	Postfix's smtp(8) and lmtp(8) TLS. Each job gets a policy
 *	(smtp_tls_policy_for): smtp_tls_security_level, overridden per
 *	destination by smtp_tls_policy_maps (LMTP jobs: the lmtp_tls_*
 *	parameters of the same meaning; smtp_tls_cfg.c holds each
 *	protocol's settings, reference counted, replaced on SIGHUP; a
 *	connection keeps the settings it was made with). smtp.c attaches it to each
 *	new connection (smtp_tls_attach); after EHLO smtp_proto.c calls
 *	smtp_tls_starttls(), which does what the level asks:
 *	  none     no STARTTLS;
 *	  may      STARTTLS when offered, no certificate check; a failed
 *	           handshake makes the caller connect again to the same
 *	           address in plaintext (s->tls->fallback), as Postfix
 *	           does; not offered or refused: plaintext;
 *	  encrypt  TLS required ("TLS is required, but was not offered
 *	           by host ..." 4.7.4), no certificate check;
 *	  verify   as encrypt, and the chain must verify against
 *	           smtp_tls_CAfile/CApath with a name of
 *	           smtp_tls_verify_cert_match (default: the MX host name);
 *	  secure   as verify with smtp_tls_secure_cert_match (default:
 *	           the nexthop domain and its subdomains).
 *	Failures under encrypt and above defer with 4.7.x and let the
 *	caller try the next MX. Names are checked by OpenSSL
 *	(SSL_set1_host/SSL_add1_host, no partial wildcards, as Postfix).
 *	The handshake always completes with SSL_VERIFY_NONE and the
 *	verification result is judged afterwards, so that the log can
 *	say what was wrong ("server certificate verification failed for
 *	H[A]:P: num=62:hostname mismatch") and an unverified peer under
 *	may still gets encryption.
 *
 *	The SSL object lives on the session: reads and writes of
 *	smtp_conn.c go through smtp_tls_read/smtp_tls_write with the same
 *	poll() deadlines, and a session in the connection cache keeps
 *	its TLS (no new handshake on reuse). New connections resume a
 *	cached TLS session (smtp_tls_scache.c) of the same server, SNI
 *	name, policy and names to match. OpenSSL neither verifies nor
 *	checks names on resumption, so under verify and secure the
 *	certificate of every handshake, resumed or not, is checked
 *	against the job's names (a mismatch fails as in a full
 *	handshake, and the cached session is dropped).
 *
 *	Logs (smtp_tls_loglevel >= 1), as Postfix: "Verified TLS
 *	connection established to mx.example.com[192.0.2.1]:25: TLSv1.3
 *	with cipher ..." (Anonymous: no certificate; Untrusted: the
 *	chain did not verify; Trusted: it did, no name was required or
 *	the name did not match), and per delivery "QID: relay=H[A]:P,
 *	tls=Verified TLSv1.3 with cipher ..." or "tls=none (STARTTLS not
 *	offered)". Level 2 adds session reuse. Failures are logged at
 *	every level.
 *
 *	Metrics: postmesh_smtp_tls_handshakes_total{outcome="success|
 *	failure|fallback",protocol="TLSv1.3|...|none",level="may|..."}
 *	(a verification failure after a complete handshake counts as a
 *	failure with its protocol), postmesh_smtp_tls_sessions_resumed_total.
 * LIMITS
 *	smtp_starttls_timeout for the STARTTLS reply and the handshake;
 *	SMTP_TLS_CTX_MAX contexts kept per configuration (one per
 *	protocols/ciphers combination of the policies in use; more are
 *	built per connection).
 * SECURITY
 *	The server is untrusted: its certificate is judged only after
 *	the handshake, and nothing is sent after a failed verification
 *	but QUIT. Plaintext bytes read after the 220 reply to STARTTLS
 *	are discarded (no injection into the TLS session).
 */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pm_log.h"
#include "pm_tls.h"
#include "pm_util.h"
#include "smtp_params.h"
#include "smtp_tls.h"
#include "smtp_tls_params.h"

char *var_smtp_tls_level;
char *var_smtp_tls_policy;
char *var_smtp_tls_cafile;
char *var_smtp_tls_capath;
char *var_smtp_tls_sni;
char *var_smtp_tls_vfy_match;
char *var_smtp_tls_sec_match;
char *var_smtp_tls_protos;
char *var_smtp_tls_mand_protos;
char *var_smtp_tls_ciphers;
char *var_smtp_tls_mand_ciphers;
char *var_smtp_tls_excl_ciphers;
char *var_smtp_tls_chain;
long var_smtp_tls_loglevel;
long var_smtp_tls_scache_limit;
long var_smtp_starttls_tmout;
long var_smtp_tls_scache_tmout;
char *var_lmtp_tls_level;
char *var_lmtp_tls_policy;
char *var_lmtp_tls_cafile;
char *var_lmtp_tls_capath;
char *var_lmtp_tls_sni;
char *var_lmtp_tls_vfy_match;
char *var_lmtp_tls_sec_match;
char *var_lmtp_tls_protos;
char *var_lmtp_tls_mand_protos;
char *var_lmtp_tls_ciphers;
char *var_lmtp_tls_mand_ciphers;
char *var_lmtp_tls_excl_ciphers;
char *var_lmtp_tls_chain;
long var_lmtp_tls_loglevel;
long var_lmtp_starttls_tmout;

/* The TLS state of one connection: smtp_tls_sess and the resume key. */
typedef struct tls_conn {
	smtp_tls_sess t;
	char skey[SMTP_TLS_SKEY_MAX];
} tls_conn;

static int ex_index = -1;

/* Metrics: [outcome][protocol][level - 1]. */
#define N_OUT 3
#define N_PROTO 5
#define N_LEVEL 4
static const char *const out_names[N_OUT] = { "success", "failure",
	"fallback" };
static const char *const proto_names[N_PROTO] = { "TLSv1", "TLSv1.1", "TLSv1.2",
	"TLSv1.3", "none" };
static pm_metric *hs_metric[N_OUT][N_PROTO][N_LEVEL];
static pm_metric *resumed_metric;

#define OUT_SUCCESS 0
#define OUT_FAILURE 1
#define OUT_FALLBACK 2

static void
count_handshake(int outcome, const SSL *ssl, int level)
{
	const char *v = ssl != NULL && SSL_is_init_finished(ssl) ?
	    SSL_get_version(ssl) :
	    "none";
	int p;

	for (p = 0; p < N_PROTO - 1; p++) {
		if (strcmp(v, proto_names[p]) == 0) {
			break;
		}
	}
	if (level >= SMTP_TLS_MAY && level <= SMTP_TLS_SECURE &&
	    hs_metric[outcome][p][level - 1] != NULL) {
		pm_metric_inc(hs_metric[outcome][p][level - 1]);
	}
}

/* OpenSSL's new-session callback: keep the session for resumption. */
int
smtp_tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
	tls_conn *c = SSL_get_ex_data(ssl, ex_index);

	if (c == NULL || c->skey[0] == 0) {
		return (0);
	}
	smtp_tls_scache_put(c->skey, sess);
	return (1); /* the cache has the reference */
}

static const char *
eff_protocols(const smtp_tls_policy *p)
{
	return (p->protocols[0] ? p->protocols :
	                          p->cfg->v[p->level >= SMTP_TLS_ENCRYPT ?
	                                  SMTP_TLS_P_MAND_PROTOS :
	                                  SMTP_TLS_P_PROTOS]);
}

static const char *
eff_ciphers(const smtp_tls_policy *p)
{
	return (p->ciphers[0] ? p->ciphers :
	                        p->cfg->v[p->level >= SMTP_TLS_ENCRYPT ?
	                                SMTP_TLS_P_MAND_CIPHERS :
	                                SMTP_TLS_P_CIPHERS]);
}

static const char *
eff_exclude(const smtp_tls_policy *p)
{
	return (p->exclude[0] ? p->exclude :
	                        p->cfg->v[SMTP_TLS_P_EXCL_CIPHERS]);
}

const char *
smtp_tls_match_spec(const smtp_tls_policy *p)
{
	if (p->match[0]) {
		return (p->match);
	}
	if (p->cfg == NULL || p->level < SMTP_TLS_VERIFY) {
		return ("");
	}
	return (p->cfg->v[p->level == SMTP_TLS_VERIFY ? SMTP_TLS_P_VFY_MATCH :
	                                                SMTP_TLS_P_SEC_MATCH]);
}

int
smtp_tls_init(void)
{
	char labels[128];
	int o, p, l;
	static const char *help = "SMTP client TLS handshakes";

	if (smtp_tls_cfg_load(0) != 0) {
		return (-1);
	}
	if (ex_index < 0) {
		ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	}
	smtp_tls_scache_init(var_smtp_tls_scache_limit,
	    var_smtp_tls_scache_tmout);
	for (o = 0; o < N_OUT; o++) {
		for (p = 0; p < N_PROTO; p++) {
			for (l = 0; l < N_LEVEL; l++) {
				snprintf(labels, sizeof(labels),
				    "outcome=\"%s\",protocol=\"%s\","
				    "level=\"%s\"",
				    out_names[o], proto_names[p],
				    smtp_tls_level_name(l + 1));
				hs_metric[o][p][l] = pm_metric_counter(
				    "smtp_tls_handshakes_total", help, labels);
			}
		}
	}
	resumed_metric = pm_metric_counter("smtp_tls_sessions_resumed_total",
	    "SMTP client TLS handshakes that resumed a cached session", NULL);
	return (0);
}

void
smtp_tls_fini(void)
{
	smtp_tls_cfg_drop(); /* connections are closed: the last references */
	smtp_tls_scache_flush();
}

int
smtp_tls_reload(void)
{
	if (smtp_tls_cfg_load(1) != 0) {
		return (-1);
	}
	/* sessions of the old settings are never resumed (keys): free them */
	smtp_tls_scache_flush();
	pm_msg_info("reload: smtp and lmtp client TLS settings read again; "
	            "new deliveries use them");
	return (0);
}

int
smtp_tls_policy_for(const char *nexthop, int lmtp, smtp_tls_policy *p,
    smtp_err *err)
{
	char why[sizeof(err->text)];
	smtp_tls_cfg *cfg = smtp_tls_cfg_current(lmtp);
	int rc = 0;

	memset(p, 0, sizeof(*p));
	if (cfg == NULL) {
		return (0); /* not initialized: level none */
	}
	p->level = cfg->level;
	if (lmtp &&
	    (strncmp(nexthop, "inet:", 5) == 0 ||
	        strncmp(nexthop, "unix:", 5) == 0)) {
		nexthop += 5; /* a socket: its bare path, as Postfix's lmtp */
	}
	if (cfg->maps != NULL) {
		rc = smtp_tls_policy_lookup(cfg->maps, nexthop, p, why,
		    sizeof(why));
	}
	if (rc != 0 && rc != PM_ENOENT) {
		pm_msg_warn("%s", why);
		err->status = PM_JOB_DEFERRED;
		snprintf(err->dsn, sizeof(err->dsn), "%s",
		    rc == PM_EINVAL ? "4.7.5" : "4.3.0");
		snprintf(err->text, sizeof(err->text), "%s", why);
		smtp_tls_cfg_unref(cfg);
		memset(p, 0, sizeof(*p));
		return (rc);
	}
	p->cfg = cfg;
	p->gen = cfg->gen;
	return (0);
}

void
smtp_tls_policy_release(smtp_tls_policy *p)
{
	smtp_tls_cfg_unref(p->cfg);
	p->cfg = NULL;
}

void
smtp_tls_attach(smtp_sess *s, const smtp_tls_policy *p, const smtp_dest *d,
    const smtp_addr *a, int plain_only)
{
	tls_conn *c;

	if (p->level == SMTP_TLS_NONE) {
		return; /* also over an LMTP unix socket, as Postfix's lmtp */
	}
	c = pm_calloc(1, sizeof(*c));
	c->t.pol = *p;
	smtp_tls_cfg_ref(p->cfg); /* held until smtp_tls_close */
	c->t.plain_only = plain_only;
	snprintf(c->t.host, sizeof(c->t.host), "%s", a->host);
	snprintf(c->t.nexthop, sizeof(c->t.nexthop), "%s", d->host);
	if (a->family == AF_UNIX) {
		snprintf(c->t.endpoint, sizeof(c->t.endpoint), "unix:%s",
		    a->path);
	} else {
		snprintf(c->t.endpoint, sizeof(c->t.endpoint), "[%s]:%u", a->ip,
		    a->port);
	}
	s->tls = &c->t;
}

/* The SNI name, or NULL. */
static const char *
sni_name(const smtp_tls_sess *t)
{
	const char *v = t->pol.has_servername ? t->pol.servername :
	                                        t->pol.cfg->v[SMTP_TLS_P_SNI];
	struct in6_addr a6;

	if (*v == 0) {
		return (NULL);
	}
	if (pm_strcaseeq(v, "hostname")) {
		v = t->host;
	} else if (pm_strcaseeq(v, "nexthop")) {
		v = t->nexthop;
	}
	if (*v == 0 || inet_pton(AF_INET, v, &a6) == 1 ||
	    inet_pton(AF_INET6, v, &a6) == 1) {
		return (NULL); /* RFC 6066: no literal addresses */
	}
	return (v);
}

static void
tls_err(smtp_err *e, int status, const char *dsn, const char *fmt,
    const char *arg)
{
	e->status = status;
	snprintf(e->dsn, sizeof(e->dsn), "%s", dsn);
	snprintf(e->text, sizeof(e->text), fmt, arg);
	pm_printable(e->text);
}

/* SSL_connect until done or the deadline; why gets the reason. */
static int
handshake(smtp_sess *s, SSL *ssl, int64_t deadline, char *why, size_t wsize)
{
	char ebuf[400];
	int rc, e;

	for (;;) {
		ERR_clear_error();
		rc = SSL_connect(ssl);
		if (rc == 1) {
			return (0);
		}
		e = SSL_get_error(ssl, rc);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (smtp_poll_fd(s->fd,
			        e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
			        deadline) != 0) {
				snprintf(why, wsize, "timed out");
				return (PM_ETIMEDOUT);
			}
			continue;
		}
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			snprintf(why, wsize, "lost connection");
		} else {
			snprintf(why, wsize, "%s",
			    pm_tls_errors(ebuf, sizeof(ebuf)));
		}
		pm_printable(why);
		return (PM_EPROTO);
	}
}

/* Set the names a certificate must match; 0 or -1 (none to match). */
static int
set_names(SSL *ssl, char (*names)[PM_DNS_NAME_MAX + 2], size_t n)
{
	size_t i;

	if (n == 0) {
		return (-1);
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	for (i = 0; i < n; i++) {
		if ((i == 0 ? SSL_set1_host(ssl, names[i]) :
		              SSL_add1_host(ssl, names[i])) != 1) {
			return (-1);
		}
	}
	return (0);
}

/* The handshake and its judgement; 0, or err (and t->fallback). */
static int
tls_start(smtp_sess *s, tls_conn *c, smtp_err *err, int *soft)
{
	smtp_tls_sess *t = &c->t;
	int level = t->pol.level, rc;
	char why[400];
	char names[SMTP_TLS_NAMES_MAX][PM_DNS_NAME_MAX + 2];
	size_t n = 0;
	const char *sni;
	SSL_SESSION *cached;
	X509 *peer;
	long vr;
	SSL_CTX *ctx;

	*soft = 1;
	ctx = smtp_tls_cfg_ctx(t->pol.cfg, eff_protocols(&t->pol),
	    eff_ciphers(&t->pol), eff_exclude(&t->pol), why, sizeof(why));
	if (ctx == NULL) {
		pm_msg_warn("TLS policy for %s: %s", s->relay, why);
		tls_err(err, PM_JOB_DEFERRED, "4.7.5",
		    "Cannot start TLS: bad TLS settings for %s", s->hostip);
		s->broken = 1;
		return (PM_EINVAL);
	}
	t->ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	if (t->ssl == NULL || SSL_set_fd(t->ssl, s->fd) != 1) {
		tls_err(err, PM_JOB_DEFERRED, "4.7.5", "%s",
		    "Cannot start TLS: out of resources");
		s->broken = 1;
		return (PM_ENOMEM);
	}
	if ((sni = sni_name(t)) != NULL) {
		SSL_set_tlsext_host_name(t->ssl, sni);
	}
	if (level >= SMTP_TLS_VERIFY) {
		n = smtp_tls_match_names(smtp_tls_match_spec(&t->pol), t->host,
		    t->nexthop, names, SMTP_TLS_NAMES_MAX);
	}
	if (level >= SMTP_TLS_VERIFY && set_names(t->ssl, names, n) != 0) {
		tls_err(err, PM_JOB_DEFERRED, "4.7.5",
		    "TLS policy for %s has no valid names to match", s->hostip);
		s->broken = 1;
		return (PM_EINVAL);
	}
	/* names too: OpenSSL does not check them on resumption */
	(void) smtp_tls_session_key(t->endpoint, sni ? sni : "", &t->pol, names,
	    n, c->skey, sizeof(c->skey));
	SSL_set_ex_data(t->ssl, ex_index, c);
	if (c->skey[0] != 0 &&
	    (cached = smtp_tls_scache_get(c->skey)) != NULL) {
		SSL_set_session(t->ssl, cached);
		SSL_SESSION_free(cached);
	}
	/* no plaintext read past the 220 may reach the TLS session */
	s->ipos = s->ilen = 0;
	rc = handshake(s, t->ssl,
	    pm_mono_ms() + t->pol.cfg->starttls_tmout * 1000, why, sizeof(why));
	if (rc != 0) {
		pm_msg_warn("TLS handshake with %s failed: %s", s->relay, why);
		count_handshake(level == SMTP_TLS_MAY ? OUT_FALLBACK :
		                                        OUT_FAILURE,
		    t->ssl, level);
		smtp_tls_scache_drop(c->skey);
		c->skey[0] = 0;
		SSL_free(t->ssl);
		t->ssl = NULL;
		s->broken = 1; /* the stream is in an unknown state */
		t->fallback = level == SMTP_TLS_MAY;
		if (t->fallback) {
			pm_msg_info("%s: Cannot start TLS: handshake failure; "
			            "trying again without TLS",
			    s->relay);
		}
		tls_err(err, PM_JOB_DEFERRED, "4.7.5", "%s",
		    "Cannot start TLS: handshake failure");
		return (rc);
	}
	t->resumed = SSL_session_reused(t->ssl);
	pm_tls_summary(t->ssl, t->summary, sizeof(t->summary));
	peer = SSL_get0_peer_certificate(t->ssl);
	vr = SSL_get_verify_result(t->ssl);
	/*
	 * A resumed session keeps the result of its first handshake and
	 * OpenSSL checks no name: check this job's names on every
	 * handshake, as Postfix does.
	 */
	if (level >= SMTP_TLS_VERIFY && peer != NULL && vr == X509_V_OK &&
	    !smtp_tls_cert_matches(peer, names, n)) {
		vr = X509_V_ERR_HOSTNAME_MISMATCH;
	}
	t->peer = peer;
	if (peer == NULL) {
		t->trust = "Anonymous";
	} else if (vr == X509_V_OK) {
		t->trust = level >= SMTP_TLS_VERIFY ? "Verified" : "Trusted";
	} else if (vr == X509_V_ERR_HOSTNAME_MISMATCH) {
		t->trust = "Trusted";
	} else {
		t->trust = "Untrusted";
	}
	if (level >= SMTP_TLS_VERIFY && strcmp(t->trust, "Verified") != 0) {
		if (peer == NULL) {
			pm_msg_info("server certificate verification failed "
			            "for %s: no certificate",
			    s->relay);
		} else {
			pm_msg_info("server certificate verification failed "
			            "for %s: num=%ld:%s",
			    s->relay, vr, X509_verify_cert_error_string(vr));
		}
		count_handshake(OUT_FAILURE, t->ssl, level);
		smtp_tls_scache_drop(c->skey);
		c->skey[0] = 0;
		tls_err(err, PM_JOB_DEFERRED, "4.7.5", "%s",
		    strcmp(t->trust, "Trusted") == 0 ?
		        "Server certificate not verified" :
		        "Server certificate not trusted");
		return (PM_EPROTO); /* the caller says QUIT over TLS */
	}
	count_handshake(OUT_SUCCESS, t->ssl, level);
	if (t->resumed && resumed_metric != NULL) {
		pm_metric_inc(resumed_metric);
	}
	if (t->pol.cfg->loglevel >= 2 && t->resumed) {
		pm_msg_info("%s: reusing a cached TLS session", s->relay);
	}
	if (t->pol.cfg->loglevel >= 1) {
		pm_msg_info("%s TLS connection established to %s: %s", t->trust,
		    s->relay, t->summary);
	}
	return (0);
}

int
smtp_tls_starttls(smtp_sess *s, smtp_msg *m, smtp_err *err, int *soft)
{
	smtp_tls_sess *t = s->tls;
	char flat[400];
	int level, rc;

	if (t == NULL || t->ssl != NULL || t->pol.level == SMTP_TLS_NONE) {
		return (0);
	}
	level = t->pol.level;
	*soft = 1;
	if (t->plain_only) {
		snprintf(t->why, sizeof(t->why), "TLS handshake failed");
		return (0);
	}
	if (!s->feat.starttls) {
		if (level == SMTP_TLS_MAY) {
			snprintf(t->why, sizeof(t->why),
			    "STARTTLS not offered");
			return (0);
		}
		tls_err(err, PM_JOB_DEFERRED, "4.7.4",
		    "TLS is required, but was not offered by host %s",
		    s->hostip);
		return (PM_EPROTO);
	}
	if ((rc = smtp_write(s, "STARTTLS\r\n", 10,
	         t->pol.cfg->starttls_tmout)) != 0 ||
	    (rc = smtp_read_reply(s, &m->rep, t->pol.cfg->starttls_tmout)) !=
	        0) {
		tls_err(err, PM_JOB_DEFERRED, "4.4.2",
		    "lost connection with %s while performing the STARTTLS "
		    "handshake",
		    s->hostip);
		if (rc == PM_ETIMEDOUT) {
			tls_err(err, PM_JOB_DEFERRED, "4.4.2",
			    "conversation with %s timed out while performing "
			    "the STARTTLS handshake",
			    s->hostip);
		}
		return (rc);
	}
	if (m->rep.code != 220) {
		smtp_reply_flat(&m->rep, flat, sizeof(flat));
		pm_printable(flat);
		if (level == SMTP_TLS_MAY && !s->broken) {
			/* a 421 (broken) ends the session at every level */
			pm_msg_info("host %s refused to start TLS: %s",
			    s->relay, flat);
			snprintf(t->why, sizeof(t->why), "STARTTLS refused");
			return (0);
		}
		err->status = PM_JOB_DEFERRED;
		snprintf(err->dsn, sizeof(err->dsn), "4.7.5");
		if (level == SMTP_TLS_MAY) {
			snprintf(err->text, sizeof(err->text),
			    "host %.300s refused to start TLS: %.150s",
			    s->hostip, flat);
		} else {
			snprintf(err->text, sizeof(err->text),
			    "TLS is required, but host %.300s refused to "
			    "start TLS: %.150s",
			    s->hostip, flat);
		}
		return (PM_EPROTO);
	}
	if ((rc = tls_start(s, (tls_conn *) t, err, soft)) != 0) {
		return (rc);
	}
	memset(&s->feat, 0, sizeof(s->feat)); /* forget the plaintext EHLO */
	return (SMTP_TLS_STARTED);
}

int
smtp_tls_write(smtp_sess *s, const void *data, size_t len, int64_t deadline)
{
	SSL *ssl = s->tls->ssl;
	const char *p = data;
	size_t w;
	int rc, e;

	while (len > 0) {
		ERR_clear_error();
		if (SSL_write_ex(ssl, p, len, &w) == 1) {
			p += w;
			len -= w;
			continue;
		}
		e = SSL_get_error(ssl, 0);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			ERR_clear_error();
			return (PM_ECLOSED);
		}
		rc = smtp_poll_fd(s->fd,
		    e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (rc != 0) {
			return (rc);
		}
	}
	return (0);
}

int
smtp_tls_read(smtp_sess *s, void *buf, size_t len, int64_t deadline,
    size_t *got)
{
	SSL *ssl = s->tls->ssl;
	int rc, e;

	for (;;) {
		ERR_clear_error();
		if (SSL_read_ex(ssl, buf, len, got) == 1) {
			return (0);
		}
		e = SSL_get_error(ssl, 0);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			ERR_clear_error();
			return (PM_ECLOSED); /* close_notify, reset, or junk */
		}
		rc = smtp_poll_fd(s->fd,
		    e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
		if (rc != 0) {
			return (rc);
		}
	}
}

int
smtp_tls_idle_dead(smtp_sess *s)
{
	SSL *ssl = s->tls->ssl;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	char b[64];
	size_t got;
	int i;

	if (SSL_pending(ssl) > 0) {
		return (1);
	}
	/* records that are no data (a late session ticket) are fine */
	for (i = 0; i < 4; i++) {
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 0) {
			return (0);
		}
		ERR_clear_error();
		if (SSL_read_ex(ssl, b, sizeof(b), &got) == 1) {
			return (1); /* data while idle: out of sync */
		}
		if (SSL_get_error(ssl, 0) != SSL_ERROR_WANT_READ) {
			ERR_clear_error();
			return (1);
		}
	}
	return (1);
}

void
smtp_tls_close(smtp_sess *s, int quit)
{
	tls_conn *c = (tls_conn *) s->tls;
	size_t w;

	if (c == NULL) {
		return;
	}
	if (c->t.ssl != NULL) {
		if (quit && !s->broken) {
			/* without waiting, as the plaintext QUIT */
			(void) SSL_write_ex(c->t.ssl, "QUIT\r\n", 6, &w);
			(void) SSL_shutdown(c->t.ssl);
		}
		ERR_clear_error();
		SSL_free(c->t.ssl);
	}
	smtp_tls_cfg_unref(c->t.pol.cfg);
	free(c);
	s->tls = NULL;
}

void
smtp_tls_log_delivery(const pm_job *j, const smtp_sess *s)
{
	const smtp_tls_sess *t = s->tls;

	if (t == NULL || t->pol.cfg->loglevel < 1) {
		return;
	}
	if (t->ssl != NULL) {
		pm_msg_info("%s: relay=%s, tls=%s %s%s", j->queue_id, s->relay,
		    t->trust, t->summary,
		    s->uses > 1 ? ", cached connection" : "");
	} else {
		pm_msg_info("%s: relay=%s, tls=none (%s)", j->queue_id,
		    s->relay, t->why[0] ? t->why : "no TLS");
	}
}
