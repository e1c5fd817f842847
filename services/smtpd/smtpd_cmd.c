/*
 * NAME
 *	smtpd_cmd - SMTP command dispatch: EHLO HELO MAIL RCPT RSET NOOP
 *	QUIT HELP VRFY (DATA and BDAT are in smtpd_data.c)
 * DESCRIPTION
 *	smtpd_cmd_line() takes one command line (CRLF removed) and runs
 *	its handler. Handlers reply with smtpd_reply() and end with
 *	smtpd_cmd_done(), or start an access check on the pool
 *	(smtpd_check_async) whose continuation (xxx_done) replies later.
 *	Reply texts and log lines are Postfix's.
 *
 *	Postmesh decisions: HELP is answered (214); ETRN and EXPN are
 *	not advertised and answered as unknown commands; AUTH is in
 *	smtpd_auth.c, STARTTLS in smtpd_tls.c. With
 *	smtpd_tls_security_level = encrypt, commands other than HELO EHLO
 *	STARTTLS RSET NOOP QUIT get "530 5.7.0 Must issue a STARTTLS
 *	command first" before TLS, as in Postfix;
 *	CONNECT, GET and POST (and header-like lines) end the session as
 *	in Postfix (smtpd_forbidden_commands). The queue id is made when
 *	MAIL is accepted ("QID: client=..."); reject lines carry it only
 *	once a recipient was accepted, else "NOQUEUE", as Postfix logs.
 * LIMITS
 *	smtpd_recipient_limit accepted recipients per transaction;
 *	smtpd_junk_command_limit for HELO, EHLO, RSET, NOOP, VRFY, HELP;
 *	HELO names, ENVID and ORCPT: pm_envcheck.h.
 * SECURITY
 *	Addresses are parsed by pm_smtp_parse_path (strict syntax, UTF-8
 *	only with SMTPUTF8); all client text is printable-filtered before
 *	it is logged or echoed. HELO, ENVID, ORCPT, NOTIFY and addresses
 *	pass the pm_envcheck check cleanup applies, or get 501 here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.pb-c.h"
#include "pm_msgflags.h"
#include "common.pb-c.h"
#include "pm_addr.h"
#include "pm_common_params.h"
#include "pm_envcheck.h"
#include "pm_log.h"
#include "smtpd_anvil.h"
#include "smtpd_params.h"
#include "smtpd_session.h"
#include "smtpd_tls.h"

#define CF_LAST 1    /* must be the last command of a pipeline group */
#define CF_JUNK 2    /* counts against smtpd_junk_command_limit */
#define CF_PRE_TLS 4 /* allowed before STARTTLS under "encrypt" */

typedef struct smtpd_cmd_def {
	const char *name;
	int id;
	void (*fn)(smtpd_session *s, const char *arg);
	int flags;
} smtpd_cmd_def;

static void helo_cmd(smtpd_session *s, const char *arg);
static void mail_cmd(smtpd_session *s, const char *arg);
static void rcpt_cmd(smtpd_session *s, const char *arg);
static void rset_cmd(smtpd_session *s, const char *arg);
static void noop_cmd(smtpd_session *s, const char *arg);
static void quit_cmd(smtpd_session *s, const char *arg);
static void help_cmd(smtpd_session *s, const char *arg);
static void vrfy_cmd(smtpd_session *s, const char *arg);

static const smtpd_cmd_def cmd_table[] = {
	{ "EHLO", CMD_EHLO, helo_cmd, CF_LAST | CF_JUNK | CF_PRE_TLS },
	{ "HELO", CMD_HELO, helo_cmd, CF_LAST | CF_JUNK | CF_PRE_TLS },
	{ "STARTTLS", CMD_STARTTLS, smtpd_starttls_cmd, CF_LAST | CF_PRE_TLS },
	{ "MAIL", CMD_MAIL, mail_cmd, 0 },
	{ "RCPT", CMD_RCPT, rcpt_cmd, 0 },
	{ "DATA", CMD_DATA, smtpd_data_cmd, CF_LAST },
	{ "BDAT", CMD_BDAT, smtpd_bdat_cmd, 0 },
	{ "RSET", CMD_RSET, rset_cmd, CF_JUNK | CF_PRE_TLS },
	{ "NOOP", CMD_NOOP, noop_cmd, CF_LAST | CF_JUNK | CF_PRE_TLS },
	{ "VRFY", CMD_VRFY, vrfy_cmd, CF_LAST | CF_JUNK },
	{ "HELP", CMD_HELP, help_cmd, CF_JUNK },
	{ "QUIT", CMD_QUIT, quit_cmd, CF_LAST | CF_PRE_TLS },
	{ "AUTH", CMD_AUTH, smtpd_auth_cmd, CF_LAST },
	{ NULL, 0, NULL, 0 },
};

/* Commands that are not SMTP: a web client or proxy probe. */
static const char *const forbidden_cmds[] = { "CONNECT", "GET", "POST", NULL };

/* Unknown commands that still end a pipeline group (RFC 2920 3.1). */
static const char *const last_unknown[] = {
	"EXPN",
	"TURN",
	"AUTH",
	"ETRN",
	NULL,
};

static int
in_list(const char *const *list, const char *verb)
{
	for (; *list != NULL; list++) {
		if (strcmp(*list, verb) == 0) {
			return (1);
		}
	}
	return (0);
}

/* White space trimmed copy of an argument. */
static char *
arg_dup(const char *arg)
{
	size_t n;

	while (*arg == ' ' || *arg == '\t') {
		arg++;
	}
	n = strlen(arg);
	while (n > 0 && (arg[n - 1] == ' ' || arg[n - 1] == '\t')) {
		n--;
	}
	return (pm_strndup(arg, n));
}

static int
has_8bit(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char) *s >= 0x80) {
			return (1);
		}
	}
	return (0);
}

void
smtpd_mail_reset(smtpd_session *s)
{
	size_t i;

	free(s->sender);
	s->sender = NULL;
	free(s->dsn_envid);
	s->dsn_envid = NULL;
	free(s->sasl_sender);
	s->sasl_sender = NULL;
	for (i = 0; i < s->nrcpt; i++) {
		free(s->rcpt[i].address);
		free(s->rcpt[i].orcpt);
	}
	s->nrcpt = 0;
	free(s->pending_rcpt);
	s->pending_rcpt = NULL;
	free(s->pending_orcpt);
	s->pending_orcpt = NULL;
	s->pending_notify = 0;
	s->qid[0] = 0;
	s->arrival_us = 0;
	s->body_type = 0;
	s->dsn_ret = 0;
	s->smtputf8 = 0;
	s->flags = 0;
	s->discard = 0;
	pm_buf_free(&s->content);
	smtpd_content_drop(s);
	s->content_open = 0;
	s->bdat_active = 0;
	s->bdat_discard = 0;
	s->bdat_last = 0;
	s->bdat_left = 0;
}

/* The connect check is done: greet, or refuse. */
void
smtpd_connect_done(smtpd_session *s)
{
	smtpd_check_result *r = &s->cres;

	s->cmd = -1;
	s->cmd_last = 1;
	s->where = "CONNECT";
	if (smtpd_stopping) {
		smtpd_reply(s, 421, "4.3.2", "%s Service shutting down",
		    var_myhostname);
		smtpd_close(s, NULL);
		return;
	}
	if (r->code != 0) {
		/* Postfix: the client may only QUIT after this. */
		smtpd_reply_ext(s, r->code, r->dsn, r->text);
		smtpd_log_action(s, "reject", "CONNECT", r->code, r->dsn,
		    r->text);
		smtpd_reject_count(REJ_CLIENT);
		s->access_denied = pm_strdup(r->text);
	} else {
		smtpd_reply(s, 220, NULL, "%s", var_smtpd_banner);
	}
	smtpd_cmd_done(s);
}

/* HELO and EHLO. */

static void
helo_done(smtpd_session *s)
{
	smtpd_check_result *r = &s->cres;

	if (r->code != 0) {
		smtpd_reply_ext(s, r->code, r->dsn, r->text);
		smtpd_log_action(s, "reject", s->where, r->code, r->dsn,
		    r->text);
		smtpd_reject_count(REJ_HELO);
		free(s->helo);
		s->helo = NULL;
		s->esmtp = 0;
		s->protocol = "SMTP";
		smtpd_cmd_done(s);
		return;
	}
	if (s->cmd == CMD_EHLO) {
		s->esmtp = 1;
		s->protocol = "ESMTP";
		smtpd_reply(s, 250, NULL,
		    "%s\nPIPELINING\nSIZE %ld\n%s%s%s"
		    "ENHANCEDSTATUSCODES\n8BITMIME\nDSN\nSMTPUTF8\nCHUNKING",
		    var_myhostname, var_message_size_limit,
		    var_disable_vrfy_cmd ? "" : "VRFY\n",
		    smtpd_tls_offer(s) ? "STARTTLS\n" : "", smtpd_auth_ehlo(s));
	} else {
		s->esmtp = 0;
		s->protocol = "SMTP";
		smtpd_reply(s, 250, NULL, "%s", var_myhostname);
	}
	smtpd_cmd_done(s);
}

static void
helo_cmd(smtpd_session *s, const char *arg)
{
	char *name = arg_dup(arg);

	if (*name == 0 || strpbrk(name, " \t") != NULL ||
	    pm_envcheck_helo(name) != NULL) {
		free(name);
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 501, "5.5.4", "Syntax: %s hostname",
		    s->cmd == CMD_EHLO ? "EHLO" : "HELO");
		smtpd_cmd_done(s);
		return;
	}
	/* A new HELO/EHLO resets the session state (RFC 5321 4.1.4). */
	smtpd_mail_reset(s);
	free(s->helo);
	s->helo = name;
	smtpd_check_async(s, smtpd_check_helo, helo_done);
}

/* MAIL FROM. */

static void
mail_done(smtpd_session *s)
{
	smtpd_check_result *r = &s->cres;

	if (r->code != 0) {
		smtpd_reply_ext(s, r->code, r->dsn, r->text);
		smtpd_log_action(s, "reject", "MAIL", r->code, r->dsn, r->text);
		smtpd_reject_count(REJ_SENDER);
		smtpd_mail_reset(s);
		smtpd_cmd_done(s);
		return;
	}
	pm_qid_new(s->qid);
	s->arrival_us = pm_now_us();
	if (s->sasl_username != NULL) {
		char *u = pm_printable_dup(s->sasl_username,
		    strlen(s->sasl_username), 300);

		pm_msg_info("%s: client=%s, sasl_method=%s, sasl_username=%s",
		    s->qid, s->namaddr, s->sasl_method, u);
		free(u);
	} else {
		pm_msg_info("%s: client=%s", s->qid, s->namaddr);
	}
	if (r->hold) {
		s->flags |= PM_MSG_HOLD;
		smtpd_log_action(s, "hold", "MAIL", 0, NULL, r->text);
	}
	if (r->discard) {
		s->discard = 1;
		smtpd_log_action(s, "discard", "MAIL", 0, NULL, r->text);
	}
	smtpd_reply(s, 250, "2.1.0", "Ok");
	smtpd_cmd_done(s);
}

static void
mail_cmd(smtpd_session *s, const char *arg)
{
	pm_smtp_path p;
	const char *why = NULL;

	if (var_helo_required && s->helo == NULL) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		smtpd_cmd_done(s);
		return;
	}
	if (s->sender != NULL) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		smtpd_cmd_done(s);
		return;
	}
	if (!pm_strncaseeq(arg, "FROM:", 5)) {
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
		smtpd_cmd_done(s);
		return;
	}
	arg += 5;
	if (pm_smtp_parse_path(arg, strlen(arg), 1, !var_strict_rfc821_env, &p,
	        &why) != 0) {
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 501, "5.1.7", "Bad sender address syntax");
		smtpd_cmd_done(s);
		return;
	}
	smtpd_mail_reset(s);
	if (smtpd_mail_params(s, &p) != 0) {
		pm_smtp_path_free(&p);
		smtpd_mail_reset(s);
		smtpd_cmd_done(s);
		return;
	}
	if (!s->smtputf8 && has_8bit(p.address)) {
		pm_smtp_path_free(&p);
		smtpd_mail_reset(s);
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 553, "5.6.7",
		    "Must declare SMTPUTF8 to send unicode address");
		smtpd_cmd_done(s);
		return;
	}
	if (s->smtputf8) {
		s->flags |= PM_MSG_SMTPUTF8;
	}
	s->sender = p.null ? pm_strdup("") : pm_strdup(p.address);
	pm_smtp_path_free(&p);
	smtpd_check_async(s, smtpd_anvil_mail_fn(s), mail_done);
}

/* RCPT TO. */

static void
rcpt_done(smtpd_session *s)
{
	smtpd_check_result *r = &s->cres;
	smtpd_rcpt *rc;

	if (r->code != 0) {
		smtpd_reply_ext(s, r->code, r->dsn, r->text);
		smtpd_log_action(s, "reject", "RCPT", r->code, r->dsn, r->text);
		smtpd_reject_count(strstr(r->text, "Relay access denied") ?
		        REJ_RELAY :
		        REJ_RECIPIENT);
		goto out;
	}
	if (s->nrcpt == s->rcpt_cap) {
		s->rcpt_cap = s->rcpt_cap ? 2 * s->rcpt_cap : 4;
		s->rcpt = pm_realloc(s->rcpt, s->rcpt_cap * sizeof(*s->rcpt));
	}
	rc = &s->rcpt[s->nrcpt++];
	rc->address = s->pending_rcpt;
	rc->orcpt = s->pending_orcpt;
	rc->notify = s->pending_notify;
	if (r->hold) {
		s->flags |= PM_MSG_HOLD;
		smtpd_log_action(s, "hold", "RCPT", 0, NULL, r->text);
	}
	if (r->discard) {
		s->discard = 1;
		smtpd_log_action(s, "discard", "RCPT", 0, NULL, r->text);
	}
	s->pending_rcpt = NULL;
	s->pending_orcpt = NULL;
	smtpd_reply(s, 250, "2.1.5", "Ok");
out:
	free(s->pending_rcpt);
	s->pending_rcpt = NULL;
	free(s->pending_orcpt);
	s->pending_orcpt = NULL;
	s->pending_notify = 0;
	smtpd_cmd_done(s);
}

static void
rcpt_cmd(smtpd_session *s, const char *arg)
{
	pm_smtp_path p;
	const char *why = NULL;
	unsigned notify = 0;
	char *orcpt = NULL;
	size_t i;

	if (s->sender == NULL) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 503, "5.5.1", "Error: need MAIL command");
		smtpd_cmd_done(s);
		return;
	}
	if (s->nrcpt >= (size_t) var_smtpd_rcpt_limit) {
		smtpd_reject_count(REJ_LIMIT);
		smtpd_reply(s, 452, "4.5.3", "Error: too many recipients");
		smtpd_cmd_done(s);
		return;
	}
	if (!pm_strncaseeq(arg, "TO:", 3)) {
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");
		smtpd_cmd_done(s);
		return;
	}
	arg += 3;
	if (pm_smtp_parse_path(arg, strlen(arg), 1, !var_strict_rfc821_env, &p,
	        &why) != 0) {
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 501, "5.1.3", "Bad recipient address syntax");
		smtpd_cmd_done(s);
		return;
	}
	if (p.null || *p.address == 0) {
		pm_smtp_path_free(&p);
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 501, "5.1.3", "Bad recipient address syntax");
		smtpd_cmd_done(s);
		return;
	}
	if (!s->smtputf8 && has_8bit(p.address)) {
		pm_smtp_path_free(&p);
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 553, "5.6.7",
		    "Must declare SMTPUTF8 to send unicode address");
		smtpd_cmd_done(s);
		return;
	}
	for (i = 0; i < p.nparams; i++) {
		const char *k = p.params[i].key;
		const char *v = p.params[i].value;

		if (strcmp(k, "NOTIFY") == 0) {
			if (smtpd_parse_notify(v, &notify) != 0) {
				smtpd_reply(s, 501, "5.5.4",
				    "Error: Bad NOTIFY parameter syntax");
				goto bad;
			}
		} else if (strcmp(k, "ORCPT") == 0) {
			free(orcpt);
			if ((orcpt = smtpd_parse_orcpt(v)) == NULL) {
				smtpd_reply(s, 501, "5.5.4",
				    "Error: Bad ORCPT parameter syntax");
				goto bad;
			}
		} else {
			char *pk = pm_printable_dup(k, strlen(k), 64);

			smtpd_reply(s, 555, "5.5.4", "Unsupported option: %s",
			    pk);
			free(pk);
			goto bad;
		}
	}
	s->pending_rcpt = pm_strdup(p.address);
	s->pending_orcpt = orcpt;
	s->pending_notify = notify;
	pm_smtp_path_free(&p);
	smtpd_check_async(s, smtpd_anvil_rcpt_fn(s), rcpt_done);
	return;

bad:
	free(orcpt);
	pm_smtp_path_free(&p);
	smtpd_reject_count(REJ_SYNTAX);
	smtpd_cmd_done(s);
}

/* Simple commands. */

static void
rset_cmd(smtpd_session *s, const char *arg)
{
	if (*arg != 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: RSET");
	} else {
		smtpd_mail_reset(s);
		smtpd_reply(s, 250, "2.0.0", "Ok");
	}
	smtpd_cmd_done(s);
}

static void
noop_cmd(smtpd_session *s, const char *arg)
{
	(void) arg;
	smtpd_reply(s, 250, "2.0.0", "Ok");
	smtpd_cmd_done(s);
}

static void
quit_cmd(smtpd_session *s, const char *arg)
{
	(void) arg;
	smtpd_reply(s, 221, "2.0.0", "Bye");
	s->close_after = 1;
	smtpd_cmd_done(s);
}

static void
help_cmd(smtpd_session *s, const char *arg)
{
	(void) arg;
	smtpd_reply(s, 214, "2.0.0",
	    "Commands: EHLO HELO MAIL RCPT DATA "
	    "BDAT RSET NOOP %sHELP QUIT",
	    var_disable_vrfy_cmd ? "" : "VRFY ");
	smtpd_cmd_done(s);
}

static void
vrfy_cmd(smtpd_session *s, const char *arg)
{
	char *a;
	char *p;
	size_t n;

	if (var_disable_vrfy_cmd) {
		smtpd_reply(s, 502, "5.5.1", "VRFY command is disabled");
		smtpd_cmd_done(s);
		return;
	}
	a = arg_dup(arg);
	p = a;
	n = strlen(p);
	if (n >= 2 && p[0] == '<' && p[n - 1] == '>') {
		p[n - 1] = 0;
		p++;
	}
	if (*p == 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: VRFY address");
	} else {
		char *pr = pm_printable_dup(p, strlen(p), PM_ADDR_MAX);

		smtpd_reply(s, 252, "2.0.0", "%s", pr);
		free(pr);
	}
	free(a);
	smtpd_cmd_done(s);
}

/* Dispatch. */

static void
unknown_cmd(smtpd_session *s, int last)
{
	s->cmd = CMD_UNKNOWN;
	s->where = "UNKNOWN";
	s->cmd_last = last;
	pm_metric_inc(smtpd_m_cmds[CMD_UNKNOWN]);
	smtpd_reject_count(REJ_PROTOCOL);
	smtpd_reply(s, 502, "5.5.2", "Error: command not recognized");
	smtpd_cmd_done(s);
}

static void
forbidden_cmd(smtpd_session *s, const char *line, size_t len)
{
	char *p = pm_printable_dup(line, len, 100);

	pm_msg_warn("non-SMTP command from %s: %s", s->namaddr, p);
	free(p);
	s->cmd = CMD_UNKNOWN;
	smtpd_reject_count(REJ_PROTOCOL);
	smtpd_reply(s, 221, "2.7.0",
	    "Error: I can break rules, too. "
	    "Goodbye.");
	s->close_after = 1;
	smtpd_cmd_done(s);
}

void
smtpd_cmd_line(smtpd_session *s, char *line, size_t len)
{
	const smtpd_cmd_def *d;
	const char *arg = "";
	char verb[16];
	size_t i;

	s->cmd_failed = 0;
	if (s->auth != NULL && smtpd_auth_line(s, line, len)) {
		return;
	}
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++) {
		;
	}
	if (i == len || memchr(line, 0, len) != NULL) {
		s->cmd = CMD_UNKNOWN;
		s->where = "UNKNOWN";
		s->cmd_last = 0;
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 500, "5.5.2", "Error: bad syntax");
		smtpd_cmd_done(s);
		return;
	}
	if (pm_smtp_parse_cmd(line, len, verb, sizeof(verb), &arg) != 0) {
		/* "Subject: x", "From: y": message content as commands. */
		const char *sp = strpbrk(line + i, " \t");
		const char *colon = strchr(line + i, ':');

		if (colon != NULL && (sp == NULL || colon < sp)) {
			forbidden_cmd(s, line, len);
		} else {
			unknown_cmd(s, 0);
		}
		return;
	}
	if (in_list(forbidden_cmds, verb)) {
		forbidden_cmd(s, line, len);
		return;
	}
	for (d = cmd_table; d->name != NULL; d++) {
		if (strcmp(d->name, verb) == 0) {
			break;
		}
	}
	if (d->name == NULL) {
		unknown_cmd(s, in_list(last_unknown, verb));
		return;
	}
	pm_metric_inc(smtpd_m_cmds[d->id]);
	s->cmd = d->id;
	s->where = d->name;
	s->cmd_last = (d->flags & CF_LAST) != 0;
	if ((d->flags & CF_JUNK) &&
	    ++s->junk_count > (unsigned) var_smtpd_junk_cmd) {
		smtpd_reject_count(REJ_LIMIT);
		smtpd_reply(s, 421, "4.7.0", "%s Error: too many errors",
		    var_myhostname);
		smtpd_close(s, "too many errors");
		return;
	}
	if (s->access_denied != NULL && d->id != CMD_QUIT) {
		smtpd_reject_count(REJ_CLIENT);
		smtpd_reply(s, 503, "5.7.0", "Error: access denied for %s",
		    s->namaddr);
		smtpd_cmd_done(s);
		return;
	}
	if (!(d->flags & CF_PRE_TLS) && smtpd_tls_required(s)) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 530, "5.7.0",
		    "Must issue a STARTTLS command first");
		smtpd_cmd_done(s);
		return;
	}
	d->fn(s, arg);
}
