/*
 * NAME
 *	smtpd_session - session life cycle, input loop, replies, limits
 * DESCRIPTION
 *	smtpd_session_new() wraps an accepted socket, logs "connect from",
 *	and runs the connect check on the pool; the greeting follows in
 *	smtpd_connect_done().
 *
 *	smtpd_session_drive() consumes buffered input while the session
 *	is in a reading phase: a command line at a time (PH_CMD), or
 *	content (PH_DATA, PH_BDAT). A command that needs blocking work
 *	starts it (smtpd_check_async, smtpd_queue_submit) and the loop
 *	stops until the wake event brings the result back.
 *
 *	Replies are collected in s->out and written when the command is
 *	done (smtpd_cmd_done). After smtpd_soft_error_limit errors, every
 *	reply is held for smtpd_error_sleep_time by the session timer (the
 *	loop never sleeps). smtpd_cmd_done() also enforces the pipelining
 *	rules (smtpd_forbid_unauth_pipelining), smtpd_hard_error_limit and
 *	a pending shutdown.
 *
 *	Deadlines (smtpd_timeout): with smtpd_per_request_deadline = yes,
 *	a command line must be complete within smtpd_timeout of its first
 *	byte, the wait between commands is at most smtpd_timeout, and a
 *	DATA/BDAT phase may last smtpd_timeout plus one second for each
 *	smtpd_min_data_rate bytes received; with "no", smtpd_timeout is
 *	the longest wait for any input. Work in flight on other threads
 *	does not count against the client.
 * LIMITS
 *	line_length_limit per command line (longer: 500 and the rest of
 *	the line is discarded); input buffered while busy: about two
 *	command lines, or SMTPD_DATA_CHUNK bytes of content; output
 *	waiting for a client that does not read: SMTPD_OUTPUT_MAX.
 * SECURITY
 *	Client text is logged only through pm_printable().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pm_dsn.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "smtpd_anvil.h"
#include "smtpd_params.h"
#include "smtpd_proxy.h"
#include "smtpd_session.h"
#include "smtpd_tls.h"

#define SMTPD_DATA_CHUNK (64 * 1024)
#define SMTPD_OUTPUT_MAX (256 * 1024)

static const char *const cmd_stat_names[CMD_COUNT] = {
	"helo",
	"ehlo",
	"starttls",
	"auth",
	"mail",
	"rcpt",
	"data",
	"bdat",
	"rset",
	"noop",
	"vrfy",
	"etrn",
	"quit",
	"help",
	"unknown",
};

static void session_timer_cb(evutil_socket_t fd, short what, void *arg);
static void session_wake_cb(evutil_socket_t fd, short what, void *arg);

/* Connection callbacks. */

static void
session_readable(void *arg)
{
	smtpd_session *s = arg;

	s->last_read_ms = pm_mono_ms();
	smtpd_session_drive(s);
}

static void
session_drained(void *arg)
{
	smtpd_session *s = arg;

	if (s->phase == PH_CLOSING) {
		/* Under TLS, encrypted output may still wait: c->flushed. */
		smtpd_conn_tls_shutdown(s->conn);
		if (smtpd_conn_output_len(s->conn) == 0) {
			smtpd_session_free(s);
		}
		return;
	}
	if (s->out_blocked) {
		s->out_blocked = 0;
		smtpd_session_drive(s);
	}
}

static void
session_closed(void *arg, int eof)
{
	smtpd_session *s = arg;

	(void) eof;
	s->eof = 1;
	if (s->phase == PH_PROXY) {
		smtpd_proxy_closed(s);
		return;
	}
	if (s->phase == PH_CLOSING) {
		smtpd_session_free(s);
		return;
	}
	/* Buffered input (e.g. "QUIT" before a half-close) is still read. */
	smtpd_session_drive(s);
}

static const smtpd_conn_cb session_conn_cb = {
	.readable = session_readable,
	.drained = session_drained,
	.closed = session_closed,
	.tls_done = smtpd_tls_done,
};

smtpd_session *
smtpd_session_new(evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
	smtpd_session *s = pm_calloc(1, sizeof(*s));

	s->conn =
	    smtpd_conn_new(smtpd_base, fd, sa, salen, &session_conn_cb, s);
	if (s->conn == NULL) {
		free(s);
		return (NULL);
	}
	s->timer = evtimer_new(smtpd_base, session_timer_cb, s);
	s->wake = event_new(smtpd_base, -1, 0, session_wake_cb, s);
	s->name = pm_strdup("unknown");
	s->addr = pm_strdup(s->conn->addr);
	s->port = pm_strdup(s->conn->port);
	s->loopback = s->conn->loopback;
	smtpd_session_client(s);
	s->protocol = "SMTP";
	s->cmd = -1;
	s->where = "CONNECT";
	s->next_phase = PH_CMD;
	pm_buf_init(&s->out, 0);
	pm_buf_init(&s->line, (size_t) var_line_limit + 2);
	pm_buf_init(&s->content, 0);
	smtpd_conn_set_input_limit(s->conn, 2 * ((size_t) var_line_limit + 2));
	pm_metric_inc(smtpd_m_sessions);
	pm_metric_gauge_add(smtpd_m_active, 1);
	if (smtpd_proxy_enabled()) {
		/* The real client first (smtpd_proxy.c); then the start. */
		smtpd_proxy_start(s);
		return (s);
	}
	smtpd_session_start(s);
	return (s);
}

/* namaddr and rfc_addr from name and addr. */
void
smtpd_session_client(smtpd_session *s)
{
	free(s->namaddr);
	free(s->rfc_addr);
	s->namaddr = pm_asprintf("%s[%s]", s->name, s->addr);
	s->rfc_addr = strchr(s->addr, ':') != NULL ?
	    pm_asprintf("IPv6:%s", s->addr) :
	    pm_strdup(s->addr);
}

/* The client is known: log it, implicit TLS, the connect check. */
void
smtpd_session_start(smtpd_session *s)
{
	pm_msg_info("connect from %s", s->namaddr);
	if (var_smtpd_tls_wrapper && smtpd_tls_wrap(s) != 0) {
		s->conn->closed = 1; /* the check ends it: "lost connection" */
		s->eof = 1;
	}
	s->phase = PH_CONNECT;
	smtpd_check_async(s, smtpd_anvil_check_connect,
	    smtpd_anvil_connect_done);
}

static void
session_stats(const smtpd_session *s, pm_buf *b)
{
	unsigned ok = 0;
	unsigned total = 0;
	int i;

	for (i = 0; i < CMD_COUNT; i++) {
		if (s->cmd_total[i] == 0) {
			continue;
		}
		ok += s->cmd_ok[i];
		total += s->cmd_total[i];
		if (s->cmd_ok[i] == s->cmd_total[i]) {
			pm_buf_printf(b, " %s=%u", cmd_stat_names[i],
			    s->cmd_total[i]);
		} else {
			pm_buf_printf(b, " %s=%u/%u", cmd_stat_names[i],
			    s->cmd_ok[i], s->cmd_total[i]);
		}
	}
	if (ok == total) {
		pm_buf_printf(b, " commands=%u", total);
	} else {
		pm_buf_printf(b, " commands=%u/%u", ok, total);
	}
}

/*
 * Release the connection now; the session itself only once no work is
 * in flight (a worker or cleanup callback still holds it).
 */
void
smtpd_session_free(smtpd_session *s)
{
	pm_buf stats;
	size_t i;

	if (s->conn != NULL) {
		pm_buf_init(&stats, 0);
		pm_buf_puts(&stats, "");
		session_stats(s, &stats);
		pm_msg_info("disconnect from %s%s", s->namaddr, stats.data);
		pm_buf_free(&stats);
		smtpd_conn_free(s->conn);
		s->conn = NULL;
		evtimer_del(s->timer);
		pm_metric_gauge_add(smtpd_m_active, -1);
	}
	s->phase = PH_CLOSING;
	if (s->cont != NULL) {
		s->dead = 1;
		return;
	}
	smtpd_mail_reset(s);
	smtpd_anvil_end(s);
	event_free(s->timer);
	event_free(s->wake);
	free(s->name);
	free(s->addr);
	free(s->port);
	free(s->namaddr);
	free(s->rfc_addr);
	free(s->access_denied);
	free(s->helo);
	smtpd_auth_free(s);

	free(s->tls_summary);
	free(s->tls_peer_cn);
	for (i = 0; i < s->nrcpt; i++) {
		free(s->rcpt[i].address);
		free(s->rcpt[i].orcpt);
	}
	free(s->rcpt);
	pm_buf_free(&s->out);
	pm_buf_free(&s->line);
	pm_buf_free(&s->content);
	smtpd_session_gone(s);
	free(s);
}

/* Replies. */

static void
reply_add(smtpd_session *s, int code, const char *dsn, const char *text,
    int internal)
{
	int rc;

	/* Postfix sleeps before any reply once the soft limit is hit. */
	if (code != 421 && code != 221 && var_smtpd_err_sleep > 0 &&
	    s->error_count >= (unsigned) var_smtpd_soft_erlim) {
		s->delay = 1;
	}
	if (code >= 400) {
		s->cmd_failed = 1;
		s->error_count++;
	}
	rc = pm_smtp_reply_format(&s->out, code, dsn, text);
	if (internal) {
		PM_ASSERT(rc == 0);
	} else if (rc != 0) {
		pm_msg_warn("bad reply %d %s from a module, replaced", code,
		    dsn ? dsn : "-");
		(void) pm_smtp_reply_format(&s->out, 451, "4.3.0",
		    "Error: internal error");
	}
}

void
smtpd_reply(smtpd_session *s, int code, const char *dsn, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = pm_vasprintf(fmt, ap);
	va_end(ap);
	reply_add(s, code, dsn, text, 1);
	free(text);
}

void
smtpd_reply_ext(smtpd_session *s, int code, const char *dsn, const char *text)
{
	char fixed[16];

	if (code < 200 || code > 599 || code / 100 == 3) {
		code = 451;
		dsn = "4.3.0";
		text = "Error: internal error";
	} else if (!pm_dsn_status_match(code, dsn)) {
		snprintf(fixed, sizeof(fixed), "%d.0.0", code / 100);
		dsn = fixed;
	}
	if (code == 421) {
		/* Postfix: a 421 from a restriction ends the session. */
		s->close_after = 1;
	}
	reply_add(s, code, dsn, text, 0);
}

static void
flush_out(smtpd_session *s)
{
	if (s->out.len > 0 && s->conn != NULL) {
		(void) smtpd_conn_write(s->conn, s->out.data, s->out.len);
	}
	pm_buf_reset(&s->out);
}

/* Logging. */

void
smtpd_log_action(smtpd_session *s, const char *action, const char *what,
    int code, const char *dsn, const char *text)
{
	pm_buf b;
	char *t;

	pm_buf_init(&b, 0);
	t = pm_printable_dup(text, strlen(text), PM_SMTP_REPLY_TEXT_MAX);
	pm_buf_printf(&b, "%s: %s: %s from %s: ",
	    s->sender != NULL && s->nrcpt > 0 ? s->qid : "NOQUEUE", action,
	    what, s->namaddr);
	if (code != 0) {
		pm_buf_printf(&b, "%d %s ", code, dsn != NULL ? dsn : "");
	}
	pm_buf_printf(&b, "%s;", t);
	free(t);
	if (s->sender != NULL) {
		t = pm_printable_dup(s->sender, strlen(s->sender), 400);
		pm_buf_printf(&b, " from=<%s>", t);
		free(t);
	}
	if (s->pending_rcpt != NULL) {
		t = pm_printable_dup(s->pending_rcpt, strlen(s->pending_rcpt),
		    400);
		pm_buf_printf(&b, " to=<%s>", t);
		free(t);
	}
	pm_buf_printf(&b, " proto=%s", s->protocol);
	if (s->helo != NULL) {
		t = pm_printable_dup(s->helo, strlen(s->helo), 300);
		pm_buf_printf(&b, " helo=<%s>", t);
		free(t);
	}
	pm_msg_info("%s", b.data);
	pm_buf_free(&b);
}

void
smtpd_reject_count(int reason)
{
	if (reason >= 0 && reason < REJ_COUNT) {
		pm_metric_inc(smtpd_m_rejected[reason]);
	}
}

/* Deadlines. */

static int64_t
session_deadline(const smtpd_session *s)
{
	int64_t t = (int64_t) var_smtpd_tmout * 1000;
	int64_t base;

	if (!var_smtpd_req_deadline) {
		base = s->last_read_ms > s->idle_start_ms ? s->last_read_ms :
		                                            s->idle_start_ms;
		return (base + t);
	}
	if (s->phase == PH_DATA || s->phase == PH_BDAT) {
		int64_t extra = 0;

		if (var_smtpd_min_data_rate > 0) {
			extra = (int64_t) (s->data_bytes * 1000 /
			    (uint64_t) var_smtpd_min_data_rate);
		}
		return (s->data_start_ms + t + extra);
	}
	return ((s->line_start_ms ? s->line_start_ms : s->idle_start_ms) + t);
}

static void
timer_arm_ms(smtpd_session *s, int64_t ms)
{
	struct timeval tv;

	if (ms < 0) {
		ms = 0;
	}
	tv.tv_sec = (time_t) (ms / 1000);
	tv.tv_usec = (suseconds_t) ((ms % 1000) * 1000);
	evtimer_add(s->timer, &tv);
}

void
smtpd_set_deadline(smtpd_session *s)
{
	if (s->phase == PH_CMD || s->phase == PH_DATA || s->phase == PH_BDAT) {
		timer_arm_ms(s, session_deadline(s) - pm_mono_ms());
	} else if (s->phase == PH_BUSY || s->phase == PH_CONNECT) {
		evtimer_del(s->timer);
	}
}

/* Closing. */

void
smtpd_close(smtpd_session *s, const char *reason)
{
	if (s->phase == PH_CLOSING) {
		return;
	}
	if (reason != NULL && s->where != NULL &&
	    (strcmp(s->where, "END-OF-MESSAGE") != 0 ||
	        strcmp(reason, "lost connection") != 0)) {
		if (s->phase == PH_DATA || s->phase == PH_BDAT) {
			pm_msg_info("%s after %s (%llu bytes) from %s", reason,
			    s->where, (unsigned long long) s->data_bytes,
			    s->namaddr);
		} else {
			pm_msg_info("%s after %s from %s", reason, s->where,
			    s->namaddr);
		}
	}
	flush_out(s);
	s->phase = PH_CLOSING;
	if (s->conn != NULL) {
		smtpd_conn_read(s->conn, 0);
		s->conn->flushed = s->timer;
	}
	/* The timer frees the session once the output is gone (or late). */
	s->idle_start_ms = pm_mono_ms();
	timer_arm_ms(s, 0);
}

static void
session_timeout(smtpd_session *s)
{
	smtpd_reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
	    var_myhostname);
	smtpd_close(s, "timeout");
}

static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	smtpd_session *s = arg;
	int64_t now = pm_mono_ms();
	int64_t left;

	(void) fd;
	(void) what;
	switch (s->phase) {
	case PH_CLOSING:
		if (s->conn == NULL || s->conn->closed ||
		    smtpd_conn_output_len(s->conn) == 0 ||
		    now >=
		        s->idle_start_ms + (int64_t) var_smtpd_tmout * 1000) {
			smtpd_session_free(s);
		} else {
			timer_arm_ms(s,
			    s->idle_start_ms +
			        (int64_t) var_smtpd_tmout * 1000 - now);
		}
		return;
	case PH_PROXY:
		smtpd_proxy_timer(s);
		return;
	case PH_DELAY:
		s->delay = 0;
		s->phase = PH_CMD;
		smtpd_cmd_done(s);
		smtpd_session_drive(s);
		return;
	case PH_CMD:
	case PH_DATA:
	case PH_BDAT:
		left = session_deadline(s) - now;
		if (left > 0) {
			timer_arm_ms(s, left);
			return;
		}
		session_timeout(s);
		return;
	default:
		return;
	}
}

/* Work on other threads. */

static void
check_work(void *arg)
{
	smtpd_session *s = arg;

	s->check_fn(&s->cst, &s->cres);
}

void
smtpd_check_async(smtpd_session *s,
    void (*fn)(const smtpd_check_state *, smtpd_check_result *),
    smtpd_cont cont)
{
	memset(&s->cst, 0, sizeof(s->cst));
	memset(&s->cres, 0, sizeof(s->cres));
	s->cst.client_addr = s->addr;
	s->cst.client_name = s->name;
	s->cst.helo = s->helo;
	s->cst.sender = s->sender;
	s->cst.recipient = s->pending_rcpt;
	s->cst.sasl_authenticated = s->sasl_username != NULL;
	s->cst.sasl_username = s->sasl_username;
	s->cst.queue_id = s->sender != NULL ? s->qid : NULL;
	s->cst.protocol = s->protocol;
	s->cst.client_port = s->port;
	s->cst.sasl_method = s->sasl_method;
	s->cst.sasl_sender = s->sasl_sender;
	s->cst.tls_summary = s->tls_summary;
	s->cst.rcpt_count = (unsigned) s->nrcpt;
	s->check_fn = fn;
	s->cont = cont;
	s->phase = PH_BUSY;
	evtimer_del(s->timer);
	s->job.work = check_work;
	s->job.arg = s;
	s->job.done = s->wake;
	if (smtpd_check_idle(fn)) {
		/*
		 * Nothing to evaluate at this stage (the usual case before
		 * RCPT with smtpd_delay_reject = yes): continue on the loop,
		 * through the same wake-up path, without a thread hand-off.
		 */
		s->job.cancelled = 0;
		event_active(s->wake, 0, 0);
		return;
	}
	smtpd_pool_submit(smtpd_check_pool, &s->job);
}

static void
session_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	smtpd_session *s = arg;
	smtpd_cont cont = s->cont;

	(void) fd;
	(void) what;
	s->cont = NULL;
	s->cleanup_busy = 0;
	if (s->dead || s->conn == NULL) {
		smtpd_session_free(s);
		return;
	}
	if (s->job.cancelled) {
		s->job.cancelled = 0;
		smtpd_reply(s, 421, "4.3.2", "%s Service shutting down",
		    var_myhostname);
		smtpd_close(s, NULL);
		return;
	}
	/* Force text termination: the module is another engineer's. */
	s->cres.dsn[sizeof(s->cres.dsn) - 1] = 0;
	s->cres.text[sizeof(s->cres.text) - 1] = 0;
	s->phase = PH_CMD;
	cont(s);
	smtpd_session_drive(s);
}

/* End of a command: write replies, enforce limits, go on. */

static void
cmd_finish(smtpd_session *s)
{
	struct evbuffer *in;
	char peek[101];
	ssize_t n;
	char *p;

	flush_out(s);
	if (s->cmd >= 0 && s->cmd < CMD_COUNT) {
		s->cmd_total[s->cmd]++;
		if (!s->cmd_failed) {
			s->cmd_ok[s->cmd]++;
		}
	}
	s->cmd_failed = 0;
	if (s->close_after || s->phase == PH_CLOSING) {
		if (s->cmd == CMD_QUIT && var_smtpd_forbid_unauth_pipe &&
		    s->conn != NULL && smtpd_conn_pending(s->conn)) {
			pm_msg_info("improper command pipelining after QUIT "
			            "from %s",
			    s->namaddr);
		}
		smtpd_close(s, NULL);
		return;
	}
	/*
	 * Mid-AUTH (a 334 was sent) the next line is a SASL response: the
	 * client may have sent it already (Postfix reads it inside the
	 * AUTH command). Input after AUTH may hold credentials: not logged.
	 */
	if (var_smtpd_forbid_unauth_pipe && (s->cmd_last || !s->esmtp) &&
	    s->auth == NULL && smtpd_conn_pending(s->conn)) {
		if (s->cmd == CMD_AUTH) {
			pm_msg_info("improper command pipelining after %s from "
			            "%s",
			    s->where, s->namaddr);
		} else {
			in = smtpd_conn_input(s->conn);
			n = evbuffer_copyout(in, peek, sizeof(peek) - 1);
			if (n < 0) {
				n = 0;
			}
			p = pm_printable_dup(peek, (size_t) n, 100);
			pm_msg_info("improper command pipelining after %s "
			            "from %s: %s",
			    s->where, s->namaddr, p);
			free(p);
		}
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 554, "5.5.0",
		    "Error: SMTP protocol synchronization");
		smtpd_close(s, NULL);
		return;
	}
	if (s->error_count >= (unsigned) var_smtpd_hard_erlim) {
		smtpd_reject_count(REJ_LIMIT);
		smtpd_reply(s, 421, "4.7.0", "%s Error: too many errors",
		    var_myhostname);
		smtpd_close(s, "too many errors");
		return;
	}
	if (smtpd_stopping && s->next_phase == PH_CMD && s->sender == NULL) {
		smtpd_reply(s, 421, "4.3.2", "%s Service shutting down",
		    var_myhostname);
		smtpd_close(s, NULL);
		return;
	}
	smtpd_enter_phase(s, s->next_phase);
	s->next_phase = PH_CMD;
}

void
smtpd_enter_phase(smtpd_session *s, int phase)
{
	s->phase = phase;
	s->line_start_ms = 0;
	s->idle_start_ms = pm_mono_ms();
	if (phase == PH_DATA || phase == PH_BDAT) {
		s->data_start_ms = s->idle_start_ms;
		s->data_bytes = 0;
		smtpd_conn_set_input_limit(s->conn, SMTPD_DATA_CHUNK);
	} else {
		smtpd_conn_set_input_limit(s->conn,
		    2 * ((size_t) var_line_limit + 2));
	}
	smtpd_set_deadline(s);
}

void
smtpd_cmd_done(smtpd_session *s)
{
	if (s->delay && s->phase != PH_CLOSING && !s->close_after) {
		s->delay = 0;
		s->phase = PH_DELAY;
		timer_arm_ms(s, (int64_t) var_smtpd_err_sleep * 1000);
		return;
	}
	s->delay = 0;
	cmd_finish(s);
}

int
smtpd_session_idle(const smtpd_session *s)
{
	return (s->phase == PH_CMD && s->sender == NULL);
}

void
smtpd_shutdown_idle(smtpd_session *s)
{
	smtpd_reply(s, 421, "4.3.2", "%s Service shutting down",
	    var_myhostname);
	smtpd_close(s, NULL);
}

/* Input. */

static void
line_too_long(smtpd_session *s)
{
	s->cmd = -1;
	s->cmd_last = 0;
	smtpd_auth_abort(s);
	smtpd_reply(s, 500, "5.5.0", "Error: line too long");
	smtpd_cmd_done(s);
}

/* One command line: 1 if one was handled, 0 if more input is needed. */
static int
cmd_step(smtpd_session *s)
{
	struct evbuffer *in = smtpd_conn_input(s->conn);
	size_t len = evbuffer_get_length(in);
	size_t limit = (size_t) var_line_limit;
	struct evbuffer_ptr p;
	struct evbuffer_ptr end;
	size_t n;
	int crlf;

	if (len == 0) {
		return (0);
	}
	if (s->discard_line) {
		p = evbuffer_search(in, "\n", 1, NULL);
		if (p.pos < 0) {
			evbuffer_drain(in, len);
			return (0);
		}
		evbuffer_drain(in, (size_t) p.pos + 1);
		s->discard_line = 0;
		s->line_start_ms = 0;
		return (1);
	}
	if (len > limit + 2) {
		evbuffer_ptr_set(in, &end, limit + 2, EVBUFFER_PTR_SET);
		p = evbuffer_search_range(in, "\n", 1, NULL, &end);
	} else {
		p = evbuffer_search(in, "\n", 1, NULL);
	}
	if (p.pos < 0) {
		if (len > limit + 1) {
			/* Drop the line; its end may be buffered already. */
			p = evbuffer_search(in, "\n", 1, NULL);
			if (p.pos >= 0) {
				evbuffer_drain(in, (size_t) p.pos + 1);
			} else {
				evbuffer_drain(in, len);
				s->discard_line = 1;
			}
			line_too_long(s);
			return (1);
		}
		if (s->line_start_ms == 0) {
			s->line_start_ms = pm_mono_ms();
			smtpd_set_deadline(s);
		}
		return (0);
	}
	n = (size_t) p.pos;
	pm_buf_reset(&s->line);
	if (n > limit + 1) {
		evbuffer_drain(in, n + 1);
		line_too_long(s);
		return (1);
	}
	if (pm_buf_append(&s->line, evbuffer_pullup(in, (ev_ssize_t) n + 1),
	        n + 1) != 0) {
		pm_panic("command line buffer too small");
	}
	evbuffer_drain(in, n + 1);
	crlf = n > 0 && s->line.data[n - 1] == '\r';
	if (crlf) {
		n--;
	}
	if (n > limit) {
		line_too_long(s);
		return (1);
	}
	s->line.data[n] = 0;
	s->line.len = n;
	s->line_crlf = crlf;
	s->line_start_ms = 0;
	if (!crlf && smtpd_bare_nl_reject) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 521, "5.5.2", "%s Error: bare <LF> received",
		    var_myhostname);
		smtpd_close(s, NULL);
		return (1);
	}
	smtpd_cmd_line(s, s->line.data, n);
	return (1);
}

void
smtpd_session_drive(smtpd_session *s)
{
	int progress = 1;

	while (progress) {
		if (s->conn == NULL || s->out_blocked) {
			return;
		}
		if (smtpd_conn_output_len(s->conn) > SMTPD_OUTPUT_MAX) {
			s->out_blocked = 1;
			return;
		}
		switch (s->phase) {
		case PH_CMD:
			progress = cmd_step(s);
			break;
		case PH_DATA:
			progress = smtpd_data_step(s);
			break;
		case PH_BDAT:
			progress = smtpd_bdat_step(s);
			break;
		default:
			return;
		}
	}
	/* Waiting for input. */
	if (s->eof) {
		smtpd_close(s, "lost connection");
	}
}
