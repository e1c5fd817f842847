/*
 * NAME
 *	smtpd_tls - STARTTLS, implicit TLS and the TLS transport of smtpd
 * DESCRIPTION
 *	The transport: smtpd_conn_tls_start() stacks a
 *	bufferevent_openssl filter (server side) on the connection's
 *	socket bufferevent and makes it the connection's bufferevent,
 *	with the same read and write callbacks: the session goes on
 *	reading its input buffer, which now holds decrypted bytes. The
 *	filter's event callback reports the end of the handshake to the
 *	session (tls_done), then EOF and errors as the plain transport
 *	does. The filter's callbacks are deferred to the event loop, as
 *	the socket bufferevent's are: never run inside a call the session
 *	makes into libevent (reading, draining or writing). Freeing the
 *	filter frees the SSL and the socket bufferevent under it
 *	(BEV_OPT_CLOSE_ON_FREE). When the session closes, close_notify
 *	follows its last reply
 *	(smtpd_conn_tls_shutdown), as Postfix does; the session is freed
 *	once the socket's output is empty (c->flushed).
 *
 *	STARTTLS (RFC 3207, Postfix's replies): "220 2.0.0 Ready to start
 *	TLS" goes into the socket's output buffer in plaintext; then
 *	every input octet not yet read as a command, in libevent's buffer
 *	and in the kernel, is discarded (CVE-2011-0411: a client cannot
 *	have seen the 220 yet, so such input was injected before the
 *	handshake), then the filter is stacked. After the handshake the
 *	session forgets HELO/EHLO, a SASL login and the transaction
 *	(Postfix's smtpd_sasl_auth_reset): MAIL without a new
 *	EHLO gets 503 when smtpd_helo_required. "554 5.5.1 Error: TLS
 *	already active" for a second STARTTLS; "502 5.5.1 Error: command
 *	not implemented" when TLS is off.
 *
 *	smtpd_tls_wrappermode: the filter is stacked at connect, before
 *	the greeting, which is written into it and leaves once the
 *	handshake is done.
 *
 *	Logs (smtpd_tls_loglevel >= 1): "Anonymous TLS connection
 *	established from name[addr]: TLSv1.3 with cipher ... (256/256
 *	bits) key-exchange X25519" ("Trusted" or "Untrusted" for a client
 *	certificate, smtpd_tls_ask_ccert); always: "SSL_accept error from
 *	name[addr]: reason"; >= 2: the handshake states. s->tls_summary
 *	holds the summary, then after its NUL the Received: comment on
 *	the client certificate (one allocation per session).
 * LIMITS
 *	SMTPD_TLS_DISCARD_MAX octets discarded after STARTTLS (then the
 *	connection is dropped); smtpd_starttls_timeout per read or write
 *	of the handshake; TLS records buffered under the filter: 2 (the
 *	socket bufferevent's read high watermark); encrypted output in
 *	the socket's buffer: SMTPD_TLS_RAW_MAX (its write high watermark).
 * SECURITY
 *	Nothing read before the handshake is kept. The SSL of a session
 *	holds a reference to the context it started with: a reload
 *	replaces the context for new handshakes only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "pm_log.h"
#include "pm_tls.h"
#include "smtpd_anvil.h"
#include "smtpd_params.h"
#include "smtpd_tls.h"

/* Two TLS records of 16 KB plus overhead under the filter. */
#define SMTPD_TLS_RAW_MAX (2 * (16384 + 2048))

/* Why the last handshake failed (loop thread only). */
static char tls_fail_why[512];
static int tls_fail_version;

/* Transport. */

static int
tls_write(smtpd_conn *c, const void *p, size_t len)
{
	if (c->closed) {
		return (PM_ECLOSED);
	}
	return (bufferevent_write(c->bev, p, len) == 0 ? 0 : PM_EIO);
}

static int
tls_pending(smtpd_conn *c)
{
	/* Encrypted bytes under the filter are not commands yet. */
	return (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0);
}

static int
tls_start_again(smtpd_conn *c, void *ctx)
{
	(void) c;
	(void) ctx;
	return (PM_EINVAL);
}

static const smtpd_conn_io tls_io = {
	.name = "tls",
	.write = tls_write,
	.pending = tls_pending,
	.start_tls = tls_start_again,
};

static void
tls_fail_note(smtpd_conn *c, short what)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	unsigned long e;
	size_t len = 0;
	int n;

	tls_fail_version = ssl != NULL ? SSL_client_version(ssl) : 0;
	tls_fail_why[0] = 0;
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		n = snprintf(tls_fail_why + len, sizeof(tls_fail_why) - len,
		    "%s%s", len ? "; " : "", one);
		if (n < 0 || (size_t) n >= sizeof(tls_fail_why) - len) {
			break;
		}
		len += (size_t) n;
	}
	if (tls_fail_why[0] != 0) {
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		snprintf(tls_fail_why, sizeof(tls_fail_why),
		    "timeout (%s %lds)", VAR_SMTPD_STARTTLS_TMOUT,
		    var_smtpd_starttls_tmout);
	} else if (what & BEV_EVENT_EOF) {
		snprintf(tls_fail_why, sizeof(tls_fail_why), "lost connection");
	} else {
		snprintf(tls_fail_why, sizeof(tls_fail_why), "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	}
}

/* The handshake finished: tell the session once (it resets its state). */
static void
tls_connected(smtpd_conn *c)
{
	if (c->tls != 1) {
		return;
	}
	c->tls = 2;
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->cb.tls_done(c->arg, 1);
}

/*
 * Decrypted input. libevent 2.1 reads the application data that came
 * with the client's Finished (a TLSv1.3 client sends its EHLO in the
 * same flight) and runs this callback BEFORE it reports
 * BEV_EVENT_CONNECTED: the session must first forget what it knew
 * before TLS, or the reset would wipe the EHLO it just answered.
 */
static bufferevent_data_cb tls_plain_read_cb;

static void
tls_read_cb(struct bufferevent *bev, void *arg)
{
	smtpd_conn *c = arg;

	if (c->tls == 1) {
		tls_connected(c);
	}
	if (!c->closed && tls_plain_read_cb != NULL) {
		tls_plain_read_cb(bev, arg);
	}
}

static void
tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
	smtpd_conn *c = arg;

	(void) bev;
	if (what & BEV_EVENT_CONNECTED) {
		tls_connected(c);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) ||
	    c->closed) {
		return;
	}
	if (c->tls == 1) {
		tls_fail_note(c, what);
		c->tls = 0;
		c->cb.tls_done(c->arg, 0);
	}
	c->closed = 1;
	c->cb.closed(c->arg, (what & BEV_EVENT_EOF) != 0);
}

/* The socket's output (encrypted records) changed: all gone? */
static void
raw_out_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	smtpd_conn *c = arg;

	if (c->flushed != NULL && info->n_deleted > 0 &&
	    evbuffer_get_length(b) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		event_active(c->flushed, EV_TIMEOUT, 1);
	}
}

static void
tls_info_cb(const SSL *ssl, int where, int ret)
{
	smtpd_conn *c = SSL_get_app_data(ssl);
	smtpd_session *s;

	if (c == NULL || var_smtpd_tls_loglevel < 2) {
		return;
	}
	s = c->arg;
	if (where & SSL_CB_LOOP) {
		pm_msg_info("%s: SSL_accept:%s", s->namaddr,
		    SSL_state_string_long(ssl));
	} else if (where & SSL_CB_ALERT) {
		pm_msg_info("%s: SSL3 alert %s:%s:%s", s->namaddr,
		    (where & SSL_CB_READ) ? "read" : "write",
		    SSL_alert_type_string_long(ret),
		    SSL_alert_desc_string_long(ret));
	}
}

int
smtpd_conn_tls_start(smtpd_conn *c, void *vctx)
{
	SSL_CTX *ctx = vctx;
	bufferevent_data_cb rcb, wcb;
	struct evbuffer_cb_entry *ocb;
	struct bufferevent *f;
	struct timeval tv;
	SSL *ssl;

	if (c->closed || c->tls) {
		return (PM_EINVAL);
	}
	if ((ssl = SSL_new(ctx)) == NULL) {
		pm_msg_warn("SSL_new: %s",
		    pm_tls_errors(tls_fail_why, sizeof(tls_fail_why)));
		return (PM_ENOMEM);
	}
	SSL_set_app_data(ssl, c);
	if (var_smtpd_tls_loglevel >= 2) {
		SSL_set_info_callback(ssl, tls_info_cb);
	}
	bufferevent_getcb(c->bev, &rcb, &wcb, NULL, NULL);
	ocb = evbuffer_add_cb(bufferevent_get_output(c->bev), raw_out_cb, c);
	if (ocb == NULL) {
		SSL_free(ssl);
		return (PM_ENOMEM);
	}
	/*
	 * On failure libevent frees ssl (BEV_OPT_CLOSE_ON_FREE). Deferred
	 * callbacks: libevent 2.1's filter reads the next TLS record inside
	 * our evbuffer_drain() (input below the high watermark: unsuspend,
	 * be_openssl_enable, consider_reading) or writes inside
	 * bufferevent_write(), and would run the session's callbacks there,
	 * re-entering it in the middle of a command line. The socket
	 * bufferevent never does that; deferred, neither does the filter.
	 */
	f = bufferevent_openssl_filter_new(bufferevent_get_base(c->bev), c->bev,
	    ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (f == NULL) {
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), ocb);
		pm_msg_warn("bufferevent_openssl_filter_new failed for %s",
		    c->addr);
		return (PM_ENOMEM);
	}
	/* Clients often close without close_notify: that is EOF. */
	bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
	bufferevent_setwatermark(c->bev, EV_READ, 0, SMTPD_TLS_RAW_MAX);
	/*
	 * Encrypted output waits in the filter's output above this, so the
	 * filter's write callback (the session's "drained") comes once the
	 * socket took it: the session's output bound sees both buffers.
	 */
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, SMTPD_TLS_RAW_MAX);
	tls_plain_read_cb = rcb;
	bufferevent_setcb(f, tls_read_cb, wcb, tls_event_cb, c);
	c->raw_cb = ocb;
	c->bev = f;
	c->io = &tls_io;
	c->tls = 1;
	tv.tv_sec = var_smtpd_starttls_tmout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(f, &tv, &tv);
	bufferevent_enable(f, EV_READ | EV_WRITE);
	return (0);
}

void
smtpd_conn_tls_unlink(smtpd_conn *c)
{
	struct bufferevent *raw;

	if (c->raw_cb == NULL ||
	    (raw = bufferevent_get_underlying(c->bev)) == NULL) {
		return;
	}
	/*
	 * The socket bufferevent outlives the filter until libevent
	 * finalizes it (the BIO holds a reference): it must not call back
	 * into c, nor write or read any more.
	 */
	evbuffer_remove_cb_entry(bufferevent_get_output(raw), c->raw_cb);
	c->raw_cb = NULL;
	c->flushed = NULL;
	bufferevent_disable(raw, EV_READ | EV_WRITE);
}

void
smtpd_conn_tls_shutdown(smtpd_conn *c)
{
	SSL *ssl;

	if (c == NULL || c->tls != 2 || c->closed ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) != 0 ||
	    (ssl = bufferevent_openssl_get_ssl(c->bev)) == NULL ||
	    (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
		return;
	}
	/* The alert goes into the socket's output, after the replies. */
	ERR_clear_error();
	(void) SSL_shutdown(ssl);
	ERR_clear_error();
}

/*
 * Drop the plaintext that followed STARTTLS: libevent's input buffer,
 * then whatever the kernel holds. The count, or PM_ETOOBIG.
 */
static ssize_t
discard_plaintext(smtpd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t total = evbuffer_get_length(in);
	char buf[4096];
	ssize_t n;

	evbuffer_drain(in, total);
	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;
		}
		total += (size_t) n;
		if (total > SMTPD_TLS_DISCARD_MAX) {
			return (PM_ETOOBIG);
		}
	}
	return ((ssize_t) total);
}

/* Session side. */

int
smtpd_tls_offer(const smtpd_session *s)
{
	return (smtpd_tls_level != SMTPD_TLS_NONE && !s->tls &&
	    s->conn != NULL && !s->conn->tls);
}

int
smtpd_tls_required(const smtpd_session *s)
{
	return (smtpd_tls_level == SMTPD_TLS_ENCRYPT && !s->tls);
}

void
smtpd_starttls_cmd(smtpd_session *s, const char *arg)
{
	SSL_CTX *ctx;
	ssize_t n;
	int rc;

	if (*arg != 0) {
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		smtpd_cmd_done(s);
		return;
	}
	if (s->tls || s->conn->tls) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 554, "5.5.1", "Error: TLS already active");
		smtpd_cmd_done(s);
		return;
	}
	if (smtpd_tls_level == SMTPD_TLS_NONE) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 502, "5.5.1", "Error: command not implemented");
		smtpd_cmd_done(s);
		return;
	}
	if ((ctx = smtpd_tls_ctx_get()) == NULL) {
		smtpd_reply(s, 454, "4.7.0",
		    "TLS not available due to local problem");
		smtpd_cmd_done(s);
		return;
	}
	smtpd_reply(s, 220, "2.0.0", "Ready to start TLS");
	(void) smtpd_conn_write(s->conn, s->out.data, s->out.len);
	pm_buf_reset(&s->out);
	if ((n = discard_plaintext(s->conn)) != 0) {
		pm_msg_info("%s plaintext octets after STARTTLS from %s "
		            "discarded",
		    n < 0 ? "too many" : "some", s->namaddr);
	}
	rc = n < 0 ? n : s->conn->io->start_tls(s->conn, ctx);
	SSL_CTX_free(ctx);
	if (rc != 0) {
		s->cmd_failed = 1;
		smtpd_close(s, "TLS startup failed");
		return;
	}
	smtpd_cmd_done(s);
}

int
smtpd_tls_wrap(smtpd_session *s)
{
	SSL_CTX *ctx = smtpd_tls_ctx_get();
	int rc;

	if (ctx == NULL) {
		pm_msg_warn("%s: no TLS context for %s", VAR_SMTPD_TLS_WRAPPER,
		    s->namaddr);
		return (PM_EINVAL);
	}
	rc = s->conn->io->start_tls(s->conn, ctx);
	SSL_CTX_free(ctx);
	return (rc);
}

/* Peer text inside a header comment: printable, no quotes or parens. */
static void
comment_safe(char *p)
{
	for (pm_printable(p); *p; p++) {
		if (strchr("\"()\\", *p) != NULL) {
			*p = '?';
		}
	}
}

/*
 * The client certificate: "Anonymous" (none), "Trusted" (verified by
 * smtpd_tls_CAfile/CApath; s->tls_peer_cn set), "Untrusted"; the
 * Received: comment into rcvd.
 */
static const char *
peer_cert(smtpd_session *s, SSL *ssl, char *rcvd, size_t size)
{
	X509 *peer = SSL_get1_peer_certificate(ssl);
	char cn[256], issuer[256];
	int verified;

	if (peer == NULL) {
		snprintf(rcvd, size, "%s",
		    var_smtpd_tls_ask_ccert ?
		        "Client did not present a certificate" :
		        "No client certificate requested");
		return ("Anonymous");
	}
	verified = SSL_get_verify_result(ssl) == X509_V_OK;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
	        NID_commonName, cn, sizeof(cn)) < 0) {
		snprintf(cn, sizeof(cn), "unknown");
	}
	if (X509_NAME_get_text_by_NID(X509_get_issuer_name(peer),
	        NID_commonName, issuer, sizeof(issuer)) < 0) {
		snprintf(issuer, sizeof(issuer), "unknown");
	}
	X509_free(peer);
	comment_safe(cn);
	comment_safe(issuer);
	snprintf(rcvd, size, "Client CN \"%.100s\", Issuer \"%.100s\" (%s)", cn,
	    issuer, verified ? "verified OK" : "not verified");
	if (verified) {
		free(s->tls_peer_cn);
		s->tls_peer_cn = pm_strdup(cn);
		return ("Trusted");
	}
	return ("Untrusted");
}

void
smtpd_tls_done(void *arg, int ok)
{
	smtpd_session *s = arg;
	const char *trust;
	SSL *ssl;
	char sum[256], rcvd[300];

	if (!ok) {
		pm_msg_info("SSL_accept error from %s: %s", s->namaddr,
		    tls_fail_why);
		smtpd_tls_count(0, tls_fail_version, 0);
		if (s->cmd == CMD_STARTTLS && s->cmd_ok[CMD_STARTTLS] > 0) {
			s->cmd_ok[CMD_STARTTLS]--;
		}
		return;
	}
	ssl = bufferevent_openssl_get_ssl(s->conn->bev);
	pm_tls_summary(ssl, sum, sizeof(sum));
	trust = peer_cert(s, ssl, rcvd, sizeof(rcvd));
	s->tls = 1;
	free(s->tls_summary);
	/* "summary\0received comment": one allocation for both. */
	s->tls_summary = pm_malloc(strlen(sum) + strlen(rcvd) + 2);
	memcpy(s->tls_summary, sum, strlen(sum) + 1);
	memcpy(s->tls_summary + strlen(sum) + 1, rcvd, strlen(rcvd) + 1);
	if (var_smtpd_tls_loglevel >= 1) {
		pm_msg_info("%s TLS connection established from %s: %s", trust,
		    s->namaddr, sum);
	}
	smtpd_tls_count(1, SSL_version(ssl), SSL_session_reused(ssl));
	/* RFC 3207 4.2: discard all knowledge from the client. */
	smtpd_auth_free(s);
	smtpd_mail_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = 0;
	s->protocol = "SMTP";
	smtpd_anvil_tls_done(s, SSL_session_reused(ssl));
}

int
smtpd_tls_received(pm_buf *b, const smtpd_session *s)
{
	if (!var_smtpd_tls_rcvd_hdr || s->tls_summary == NULL) {
		return (0);
	}
	return (pm_buf_printf(b, "\t(using %s)\r\n\t(%s)\r\n", s->tls_summary,
	    s->tls_summary + strlen(s->tls_summary) + 1));
}
