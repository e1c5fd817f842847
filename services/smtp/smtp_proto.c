/*
 * NAME
 *	smtp_proto - greeting, EHLO/LHLO, and one mail transaction
 * DESCRIPTION
 *	smtp_hello(): the server greeting, then EHLO (LHLO for LMTP) with
 *	smtp_helo_name; an SMTP server that answers 5xx to EHLO gets HELO
 *	(no extensions then), then STARTTLS when the TLS policy asks for
 *	it (smtp_tls.c) and EHLO again over TLS. A 4xx anywhere here is
 *	"soft": the caller tries the next address. A 5xx greeting is soft too while
 *	smtp_skip_5xx_greeting is yes (Postfix's default).
 *
 *	smtp_xact(): one transaction for the job's recipients that have
 *	no outcome yet:
 *	- local checks against the server's extensions: SMTPUTF8 needed
 *	  but not offered: bounce 5.6.7; message larger than the server's
 *	  SIZE: bounce 5.3.4; 8-bit content and no 8BITMIME: the content
 *	  is converted to 7 bit (pm_mime8) once per job;
 *	- MAIL FROM (SIZE=, BODY=8BITMIME, SMTPUTF8, RET=, ENVID= as the
 *	  server offers them), RCPT TO per recipient (NOTIFY=, ORCPT= when
 *	  DSN is offered), DATA; with PIPELINING they go in groups of up
 *	  to SMTP_PIPE_BYTES and the replies are read in order (RFC 2920);
 *	  without it one at a time, stopping after a failed MAIL or when
 *	  no recipient was accepted;
 *	- each RCPT reply gives that recipient's outcome (2xx accepted,
 *	  4xx deferred, 5xx bounced); the reply to the end of data applies
 *	  to every accepted recipient (SMTP) or one reply per accepted
 *	  recipient in order (LMTP);
 *	- a transaction left open (MAIL accepted, no data sent) is closed
 *	  with RSET so that the connection can be reused;
 *	- an address verification probe (PM_MSG_PROBE) sends no DATA: the
 *	  RCPT reply is the recipient's outcome (2xx sent, i.e.
 *	  deliverable; 4xx deferred; 5xx bounced, i.e. undeliverable) and
 *	  the transaction is closed with RSET.
 *	Failures are worded as Postfix's: "host H[A] said: 550 ... (in
 *	reply to RCPT TO command)", "conversation with H[A] timed out
 *	while sending MAIL FROM" (4.4.2), "lost connection with H[A] while
 *	...", "... -- message may be sent more than once" after the end
 *	of data.
 *
 *	A reused connection that fails before its first reply (the server
 *	closed it, or answers 421) is reported as SMTP_XACT_STALE with no
 *	outcome set: the caller opens a new connection and starts again.
 * LIMITS
 *	smtp_helo_timeout, smtp_mail_timeout, smtp_rcpt_timeout,
 *	smtp_data_init_timeout, smtp_data_xfer_timeout (per write of up
 *	to SMTP_CHUNK octets), smtp_data_done_timeout, smtp_rset_timeout;
 *	smtp_line_length_limit for content lines.
 * SECURITY
 *	Addresses were checked by pm_agent (no control characters), so
 *	they cannot inject commands; server replies are made printable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.pb-c.h"
#include "pm_msgflags.h"
#include "common.pb-c.h"
#include "smtp_mime8.h"
#include "smtp.h"
#include "smtp_params.h"
#include "smtp_tls.h"

#define SMTP_PIPE_BYTES 16384
#define SMTP_CHUNK 65536

#define CMD_MAIL 1
#define CMD_RCPT 2
#define CMD_DATA 3

typedef struct smtp_cmd {
	int type;
	size_t off, len; /* in the command buffer */
	size_t rcpt;     /* CMD_RCPT: index in j->rcpt */
} smtp_cmd;

static const char *
cmd_name(int type)
{
	return (type == CMD_MAIL ? "MAIL FROM" :
	        type == CMD_RCPT ? "RCPT TO" :
	                           "DATA");
}

static long
cmd_timeout(int type)
{
	return (type == CMD_MAIL ? var_smtp_mail_tmout :
	        type == CMD_RCPT ? var_smtp_rcpt_tmout :
	                           var_smtp_data0_tmout);
}

/* Outcome class of a reply code (non-5xx failures are temporary). */
static int
code_status(int code)
{
	return (code / 100 == 2 ? PM_JOB_SENT :
	        code / 100 == 5 ? PM_JOB_BOUNCED :
	                          PM_JOB_DEFERRED);
}

/* A DSN of the status's class ("5.1.1" of a deferral becomes "4.1.1"). */
static void
dsn_of(const smtp_reply *r, int status, char *dsn, size_t size)
{
	snprintf(dsn, size, "%s", r->dsn[0] ? r->dsn : "4.0.0");
	dsn[0] = status == PM_JOB_SENT ? '2' :
	    status == PM_JOB_BOUNCED   ? '5' :
	                                 '4';
}

static void
io_err(smtp_err *e, const smtp_sess *s, int rc, const char *state)
{
	e->status = PM_JOB_DEFERRED;
	snprintf(e->dsn, sizeof(e->dsn), "4.4.2");
	if (rc == PM_ETIMEDOUT) {
		snprintf(e->text, sizeof(e->text),
		    "conversation with %s timed "
		    "out while %s",
		    s->hostip, state);
	} else if (rc == PM_EPROTO) {
		snprintf(e->dsn, sizeof(e->dsn), "4.5.0");
		snprintf(e->text, sizeof(e->text),
		    "conversation with %s: "
		    "reply too long while %s",
		    s->hostip, state);
	} else {
		snprintf(e->text, sizeof(e->text),
		    "lost connection with %s "
		    "while %s",
		    s->hostip, state);
	}
}

static void
io_fail(pm_job *j, const smtp_sess *s, int rc, const char *state)
{
	smtp_err e;

	io_err(&e, s, rc, state);
	pm_job_set_all(j, e.status, e.dsn, "%s", e.text);
}

/* pre + mid + post into dst; mid is cut so that post always fits. */
static void
text3(char *dst, size_t size, const char *pre, const char *mid,
    const char *post)
{
	size_t lp = strlen(pre), lm = strlen(mid), lt = strlen(post);

	if (lt + 1 > size) {
		lt = size - 1;
	}
	if (lp + lt + 1 > size) {
		lp = size > lt + 1 ? size - lt - 1 : 0;
	}
	if (lp + lm + lt + 1 > size) {
		lm = size - lt - 1 - lp;
	}
	memcpy(dst, pre, lp);
	memcpy(dst + lp, mid, lm);
	memcpy(dst + lp + lm, post, lt < size ? lt + 1 : 0);
	dst[size - 1] = 0;
}

/* "host H[A] said: 550 ... (in reply to X command)" */
static void
reply_err(smtp_err *e, const smtp_sess *s, const smtp_reply *r,
    const char *what, int status)
{
	char flat[400], pre[320], post[64];

	smtp_reply_flat(r, flat, sizeof(flat));
	e->status = status;
	dsn_of(r, status, e->dsn, sizeof(e->dsn));
	snprintf(pre, sizeof(pre), "host %.300s said: ", s->hostip);
	snprintf(post, sizeof(post), " (in reply to %.40s command)", what);
	text3(e->text, sizeof(e->text), pre, flat, post);
}

static void
reply_set(pm_job_rcpt *rc, const smtp_sess *s, const smtp_reply *r,
    const char *what)
{
	smtp_err e;
	char flat[400];

	if (code_status(r->code) == PM_JOB_SENT) {
		smtp_reply_flat(r, flat, sizeof(flat));
		pm_job_set(rc, PM_JOB_SENT, r->dsn, "%s", flat);
		return;
	}
	reply_err(&e, s, r, what, code_status(r->code));
	pm_job_set(rc, e.status, e.dsn, "%s", e.text);
}

int
smtp_hello(smtp_sess *s, smtp_msg *m, smtp_err *err, int *soft)
{
	const char *verb = s->lmtp ? "LHLO" : "EHLO";
	char state[64], cmd[600];
	int rc, st;

	*soft = 1;
	if ((rc = smtp_read_reply(s, &m->rep, var_smtp_helo_tmout)) != 0) {
		io_err(err, s, rc, "receiving the initial server greeting");
		return (rc);
	}
	if (m->rep.code / 100 != 2) {
		char flat[400], pre[340];

		st = m->rep.code / 100 == 5 && !var_smtp_skip_5xx ?
		    PM_JOB_BOUNCED :
		    PM_JOB_DEFERRED;
		smtp_reply_flat(&m->rep, flat, sizeof(flat));
		err->status = st;
		dsn_of(&m->rep, st, err->dsn, sizeof(err->dsn));
		snprintf(pre, sizeof(pre),
		    "host %.300s refused to talk to me: ", s->hostip);
		text3(err->text, sizeof(err->text), pre, flat, "");
		*soft = st == PM_JOB_DEFERRED;
		return (PM_EPROTO);
	}
	for (;;) {
		snprintf(state, sizeof(state), "performing the %s handshake",
		    verb);
		snprintf(cmd, sizeof(cmd), "%s %s\r\n", verb,
		    var_smtp_helo_name);
		if ((rc = smtp_write(s, cmd, strlen(cmd),
		         var_smtp_helo_tmout)) != 0 ||
		    (rc = smtp_read_reply(s, &m->rep, var_smtp_helo_tmout)) !=
		        0) {
			io_err(err, s, rc, state);
			return (rc);
		}
		if (m->rep.code / 100 == 2) {
			if (*verb == 'H') {
				memset(&s->feat, 0, sizeof(s->feat));
			} else {
				smtp_ehlo_parse(&m->rep, smtp_discard_kw,
				    &s->feat);
			}
			/* STARTTLS as the TLS policy says, then EHLO again */
			rc = smtp_tls_starttls(s, m, err, soft);
			if (rc == SMTP_TLS_STARTED) {
				verb = s->lmtp ? "LHLO" : "EHLO";
				continue;
			}
			return (rc);
		}
		if (*verb == 'E' && m->rep.code / 100 == 5) {
			verb = "HELO";
			continue;
		}
		st = m->rep.code / 100 == 5 ? PM_JOB_BOUNCED : PM_JOB_DEFERRED;
		reply_err(err, s, &m->rep, verb, st);
		*soft = st == PM_JOB_DEFERRED;
		return (PM_EPROTO);
	}
}

/* MAIL FROM, the RCPTs still to do, DATA, into buf and cmds. */
static size_t
build_cmds(const smtp_sess *s, const pm_job *j, const smtp_msg *m, pm_buf *buf,
    smtp_cmd *cmds)
{
	const smtp_features *f = &s->feat;
	const pm_job_rcpt *r;
	const char *semi;
	size_t i, n = 0;

	pm_buf_reset(buf);
	cmds[n].type = CMD_MAIL;
	cmds[n].off = buf->len;
	pm_buf_printf(buf, "MAIL FROM:<%s>", j->sender);
	if (f->size) {
		pm_buf_printf(buf, " SIZE=%zu", m->len);
	}
	if (f->eightbitmime &&
	    (m->eight || j->body_type == PM_BODYTYPE_8BITMIME)) {
		pm_buf_puts(buf, " BODY=8BITMIME");
	}
	if (f->smtputf8 && (m->utf8 || (j->flags & PM_MSG_SMTPUTF8))) {
		pm_buf_puts(buf, " SMTPUTF8");
	}
	if (f->dsn && j->dsn_ret == PM_RET_FULL) {
		pm_buf_puts(buf, " RET=FULL");
	} else if (f->dsn && j->dsn_ret == PM_RET_HDRS) {
		pm_buf_puts(buf, " RET=HDRS");
	}
	if (f->dsn && j->dsn_envid[0] != 0) {
		pm_buf_puts(buf, " ENVID=");
		smtp_xtext(buf, j->dsn_envid);
	}
	pm_buf_puts(buf, "\r\n");
	cmds[n].len = buf->len - cmds[n].off;
	n++;
	for (i = 0; i < j->nrcpt; i++) {
		r = &j->rcpt[i];
		if (r->status != PM_JOB_NONE) {
			continue;
		}
		cmds[n].type = CMD_RCPT;
		cmds[n].rcpt = i;
		cmds[n].off = buf->len;
		pm_buf_printf(buf, "RCPT TO:<%s>", r->address);
		if (f->dsn && (r->notify & PM_NOTIFY_NEVER)) {
			pm_buf_puts(buf, " NOTIFY=NEVER");
		} else if (f->dsn && r->notify != 0) {
			pm_buf_printf(buf, " NOTIFY=%s%s%s%s%s",
			    r->notify & PM_NOTIFY_SUCCESS ? "SUCCESS" : "",
			    (r->notify & PM_NOTIFY_SUCCESS) &&
			            (r->notify & 12) ?
			        "," :
			        "",
			    r->notify & PM_NOTIFY_FAILURE ? "FAILURE" : "",
			    (r->notify & PM_NOTIFY_FAILURE) &&
			            (r->notify & PM_NOTIFY_DELAY) ?
			        "," :
			        "",
			    r->notify & PM_NOTIFY_DELAY ? "DELAY" : "");
		}
		if (f->dsn && r->orcpt[0] != 0 &&
		    (semi = strchr(r->orcpt, ';')) != NULL) {
			pm_buf_printf(buf, " ORCPT=%.*s;",
			    (int) (semi - r->orcpt), r->orcpt);
			smtp_xtext(buf, semi + 1);
		} else if (f->dsn && r->queued_address[0] != 0 &&
		    !pm_mime8_is_8bit(r->queued_address,
		        strlen(r->queued_address))) {
			pm_buf_puts(buf, " ORCPT=rfc822;");
			smtp_xtext(buf, r->queued_address);
		}
		pm_buf_puts(buf, "\r\n");
		cmds[n].len = buf->len - cmds[n].off;
		n++;
	}
	if (j->flags & PM_MSG_PROBE) {
		return (n); /* a verify probe stops after RCPT */
	}
	cmds[n].type = CMD_DATA;
	cmds[n].off = buf->len;
	pm_buf_puts(buf, "DATA\r\n");
	cmds[n].len = buf->len - cmds[n].off;
	return (n + 1);
}

/* The content, the end of data, and the final reply or replies. */
static void
send_content(smtp_sess *s, pm_job *j, smtp_msg *m, const smtp_cmd *cmds,
    size_t ncmd, const unsigned char *acc)
{
	const char *src = m->converted ? m->conv.data : m->body;
	size_t len = m->converted ? m->conv.len : m->len, off = 0, n, k;
	smtp_stuff st;
	int rc;
	static const char *eod = "sending end of data -- message may be "
	                         "sent more than once";

	smtp_stuff_init(&st, (size_t) var_smtp_line_limit);
	do {
		n = len - off < SMTP_CHUNK ? len - off : SMTP_CHUNK;
		pm_buf_reset(&m->out);
		(void) smtp_stuff_feed(&st, src + off, n, &m->out);
		off += n;
		if (off == len) {
			(void) smtp_stuff_end(&st, &m->out);
		}
		if ((rc = smtp_write(s, m->out.data, m->out.len,
		         var_smtp_data1_tmout)) != 0) {
			io_fail(j, s, rc,
			    off == len ? eod : "sending message body");
			return;
		}
	} while (off < len);

	for (k = 0; k < ncmd; k++) {
		if (cmds[k].type != CMD_RCPT || !acc[k]) {
			continue;
		}
		if ((rc = smtp_read_reply(s, &m->rep, var_smtp_data2_tmout)) !=
		    0) {
			io_fail(j, s, rc, eod);
			return;
		}
		if (!s->lmtp) {
			/* one reply for every accepted recipient */
			for (; k < ncmd; k++) {
				if (cmds[k].type == CMD_RCPT && acc[k]) {
					reply_set(&j->rcpt[cmds[k].rcpt], s,
					    &m->rep, "end of DATA");
				}
			}
			break;
		}
		reply_set(&j->rcpt[cmds[k].rcpt], s, &m->rep, "end of DATA");
		if (m->rep.code == 421) {
			break;
		}
	}
	if (!s->broken) {
		s->in_txn = 0;
	}
	/* 421 after some LMTP replies: the rest is deferred */
	if (s->broken) {
		io_fail(j, s, PM_ECLOSED, eod);
	}
}

static int
checks(smtp_sess *s, pm_job *j, smtp_msg *m)
{
	int rc;

	if (m->utf8 && !s->feat.smtputf8) {
		pm_job_set_all(j, PM_JOB_BOUNCED, "5.6.7",
		    "SMTPUTF8 is "
		    "required, but was not offered by host %s",
		    s->hostip);
		return (-1);
	}
	if (s->feat.size && s->feat.size_max > 0 && m->len > s->feat.size_max) {
		pm_job_set_all(j, PM_JOB_BOUNCED, "5.3.4",
		    "message size %zu "
		    "exceeds size limit %llu of server %s",
		    m->len, s->feat.size_max, s->hostip);
		return (-1);
	}
	if (m->eight && !s->feat.eightbitmime && !m->converted) {
		pm_buf_reset(&m->conv);
		rc = pm_mime8_to_7bit(m->body, m->len, &m->conv,
		    (int) var_mime_nest_limit, (size_t) var_header_limit);
		if (rc != 0) {
			pm_job_set_all(j, PM_JOB_DEFERRED, "4.3.0",
			    "cannot "
			    "convert 8-bit message to 7-bit: %s",
			    pm_strerror(rc));
			return (-1);
		}
		m->converted = 1;
	}
	return (0);
}

/* Close an open transaction (RSET) so the connection can be reused. */
static void
xact_reset(smtp_sess *s, smtp_msg *m)
{
	if (s->broken || !s->in_txn) {
		return;
	}
	if (smtp_write(s, "RSET\r\n", 6, var_smtp_rset_tmout) != 0 ||
	    smtp_read_reply(s, &m->rep, var_smtp_rset_tmout) != 0 ||
	    m->rep.code / 100 != 2) {
		s->broken = 1;
	}
	s->in_txn = 0;
}

int
smtp_xact(smtp_sess *s, pm_job *j, smtp_msg *m, int reused)
{
	smtp_cmd *cmds;
	unsigned char *acc;
	pm_buf buf;
	size_t ncmd, k = 0, sent = 0, g, bytes, nacc = 0;
	int rc, mail_failed = 0, first = 1, ret = SMTP_XACT_DONE;
	int pipe = s->feat.pipelining;
	smtp_err e;
	char state[64];

	if (checks(s, j, m) != 0) {
		return (SMTP_XACT_DONE);
	}
	cmds = pm_calloc(j->nrcpt + 2, sizeof(*cmds));
	acc = pm_calloc(j->nrcpt + 2, 1);
	pm_buf_init(&buf, 0);
	ncmd = build_cmds(s, j, m, &buf, cmds);
	if (ncmd <= ((j->flags & PM_MSG_PROBE) ? 1u : 2u)) {
		goto out; /* no recipient left */
	}
	/* A peer that offers DSN gets the parameters and owns the notices. */
	j->dsn_passed = s->feat.dsn ? 1 : 0;
	while (k < ncmd) {
		if (k == sent) {
			if (!pipe &&
			    (mail_failed ||
			        (cmds[k].type == CMD_DATA && nacc == 0))) {
				break;
			}
			for (g = k, bytes = 0; g < ncmd &&
			     (g == k ||
			         (pipe &&
			             bytes + cmds[g].len <= SMTP_PIPE_BYTES));
			     g++) {
				bytes += cmds[g].len;
			}
			rc = smtp_write(s, buf.data + cmds[k].off, bytes,
			    cmd_timeout(cmds[k].type));
			if (rc != 0) {
				snprintf(state, sizeof(state), "sending %s",
				    cmd_name(cmds[k].type));
				goto io_error;
			}
			sent = g;
		}
		rc = smtp_read_reply(s, &m->rep, cmd_timeout(cmds[k].type));
		if (rc != 0) {
			snprintf(state, sizeof(state), "sending %s",
			    cmd_name(cmds[k].type));
			goto io_error;
		}
		if (first && reused && m->rep.code == 421) {
			ret = SMTP_XACT_STALE;
			goto out;
		}
		first = 0;
		switch (cmds[k].type) {
		case CMD_MAIL:
			if (m->rep.code / 100 == 2) {
				s->in_txn = 1;
			} else {
				mail_failed = 1;
				reply_err(&e, s, &m->rep, "MAIL FROM",
				    code_status(m->rep.code));
				pm_job_set_all(j, e.status, e.dsn, "%s",
				    e.text);
			}
			break;
		case CMD_RCPT:
			if (mail_failed) {
				break;
			}
			if (m->rep.code / 100 == 2 &&
			    (j->flags & PM_MSG_PROBE)) {
				/* probe: the RCPT reply is the outcome */
				reply_set(&j->rcpt[cmds[k].rcpt], s, &m->rep,
				    "RCPT TO");
			} else if (m->rep.code / 100 == 2) {
				acc[k] = 1;
				nacc++;
			} else {
				reply_set(&j->rcpt[cmds[k].rcpt], s, &m->rep,
				    "RCPT TO");
			}
			break;
		default:
			if (m->rep.code == 354) {
				if (mail_failed || nacc == 0) {
					/* no recipient: send nothing */
					(void) smtp_write(s, ".\r\n", 3,
					    var_smtp_data1_tmout);
					(void) smtp_read_reply(s, &m->rep,
					    var_smtp_data2_tmout);
					s->in_txn = 0;
				} else {
					send_content(s, j, m, cmds, ncmd, acc);
				}
			} else if (!mail_failed && nacc > 0) {
				reply_err(&e, s, &m->rep, "DATA",
				    code_status(m->rep.code) == PM_JOB_SENT ?
				        PM_JOB_DEFERRED :
				        code_status(m->rep.code));
				pm_job_set_all(j, e.status, e.dsn, "%s",
				    e.text);
			}
			break;
		}
		if (m->rep.code == 421 || s->broken) {
			/* the server leaves: the rest waits for next time */
			s->broken = 1; /* and the connection is not cached */
			reply_err(&e, s, &m->rep, cmd_name(cmds[k].type),
			    PM_JOB_DEFERRED);
			pm_job_set_all(j, e.status, e.dsn, "%s", e.text);
			goto out;
		}
		k++;
	}
	xact_reset(s, m);
	goto out;

io_error:
	if (first && reused && rc == PM_ECLOSED) {
		ret = SMTP_XACT_STALE;
	} else {
		io_fail(j, s, rc, state);
	}
out:
	free(acc);
	free(cmds);
	pm_buf_free(&buf);
	return (ret);
}
