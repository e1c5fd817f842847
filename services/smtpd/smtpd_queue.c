/*
 * NAME
 *	smtpd_queue - hand a received message to cleanup
 * DESCRIPTION
 *	smtpd_queue_submit() builds a pm_submit from the session (envelope,
 *	content with the Received: header, client attributes) and starts
 *	pm_cleanup_submit_async(). The callback runs on an nng thread: it
 *	only copies the result into the session and wakes the loop, where
 *	queue_done() passes cleanup's answer on verbatim (code, enhanced
 *	status, text: "250 2.0.0 Ok: queued as QID", or 451 4.3.0 when
 *	cleanup or Redis failed).
 *
 *	Flags: SUBMIT_LOCAL when the client address is a loopback address
 *	(Postfix local_header_rewrite_clients = permit_inet_interfaces),
 *	SUBMIT_SMTPUTF8 and SUBMIT_HOLD as set during the transaction.
 *	Content memory: once the request is packed (the content copied
 *	once, into the nng message) the content buffer is freed; the
 *	session's reservation stays until cleanup answers. The copy made
 *	while packing is not reserved: the event loop packs one message at
 *	a time, so it adds at most one message to smtpd's memory.
 * LIMITS
 *	cleanup_clnt refuses content over message_size_limit plus its
 *	envelope allowance before sending (552 5.3.4).
 * SECURITY
 *	cleanup's reply text comes from another role: it is made printable
 *	and its status code checked by smtpd_reply_ext().
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.pb-c.h"
#include "pm_msgflags.h"
#include "pm_log.h"
#include "smtpd_session.h"

static void
queue_done(smtpd_session *s)
{
	pm_submit_result *r = &s->sres;

	r->dsn[sizeof(r->dsn) - 1] = 0;
	r->text[sizeof(r->text) - 1] = 0;
	if (r->code >= 200 && r->code <= 299) {
		pm_metric_inc(smtpd_m_accepted);
	} else {
		smtpd_log_action(s, "reject", "END-OF-MESSAGE", (int) r->code,
		    r->dsn, r->text);
		smtpd_reject_count(r->code == 552    ? REJ_SIZE :
		        strcmp(r->dsn, "4.3.1") == 0 ? REJ_STORAGE :
		                                       REJ_CLEANUP);
	}
	smtpd_reply_ext(s, (int) r->code, r->dsn, r->text);
	smtpd_mail_reset(s);
	smtpd_cmd_done(s);
}

void
smtpd_queue_cb(void *arg, const pm_submit_result *res)
{
	smtpd_session *s = arg;

	s->sres = *res;
	event_active(s->wake, 0, 0);
}

void
smtpd_queue_submit(smtpd_session *s)
{
	pm_submit sub;
	pm_submit_rcpt *rcpt;
	size_t i;
	int rc;

	rcpt = pm_calloc(s->nrcpt, sizeof(*rcpt));
	for (i = 0; i < s->nrcpt; i++) {
		rcpt[i].address = s->rcpt[i].address;
		rcpt[i].orcpt =
		    s->rcpt[i].orcpt != NULL ? s->rcpt[i].orcpt : "";
		rcpt[i].notify = s->rcpt[i].notify;
	}
	memset(&sub, 0, sizeof(sub));
	sub.queue_id = s->qid;
	sub.sender = s->sender;
	sub.rcpt = rcpt;
	sub.nrcpt = s->nrcpt;
	sub.content = s->content.data != NULL ? s->content.data : "";
	sub.content_len = s->content.len;
	sub.flags = s->flags;
	if (s->loopback) {
		sub.flags |= PM_MSG_LOCAL;
	}
	sub.body_type = s->body_type;
	sub.dsn_ret = s->dsn_ret;
	sub.dsn_envid = s->dsn_envid != NULL ? s->dsn_envid : "";
	sub.client_name = s->name;
	sub.client_addr = s->addr;
	sub.client_port = s->port;
	sub.helo_name = s->helo != NULL ? s->helo : "";
	sub.protocol = s->protocol;
	sub.sasl_username = s->sasl_username != NULL ? s->sasl_username : "";
	sub.sasl_method = s->sasl_method != NULL ? s->sasl_method : "";
	sub.sasl_sender = s->sasl_sender != NULL ? s->sasl_sender : "";
	sub.arrival_us = s->arrival_us;

	memset(&s->sres, 0, sizeof(s->sres));
	s->cont = queue_done;
	s->cleanup_busy = 1;
	s->phase = PH_BUSY;
	smtpd_set_deadline(s);
	rc = pm_cleanup_submit_async(smtpd_cleanup, &sub, smtpd_queue_cb, s);
	free(rcpt);
	if (rc == 0) {
		/*
		 * The request holds its own copy until cleanup answers: free
		 * ours, keep the reservation (smtpd_mail_reset() drops it).
		 */
		pm_buf_free(&s->content);
		return;
	}
	/* Not started: the callback never comes. */
	s->cont = NULL;
	s->cleanup_busy = 0;
	s->phase = PH_CMD;
	if (rc == PM_ETOOBIG) {
		s->sres.code = 552;
		snprintf(s->sres.dsn, sizeof(s->sres.dsn), "5.3.4");
		snprintf(s->sres.text, sizeof(s->sres.text),
		    "Error: message file too big");
	} else {
		pm_msg_warn("%s: cannot submit to cleanup: %s", s->qid,
		    pm_strerror(rc));
		s->sres.code = 451;
		snprintf(s->sres.dsn, sizeof(s->sres.dsn), "4.3.0");
		snprintf(s->sres.text, sizeof(s->sres.text),
		    "Error: queue file write error");
	}
	queue_done(s);
}
