/*
 * NAME
 *	local_forward - resubmit alias and .forward addresses through cleanup
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	An address target of an alias, :include: file or .forward file is
 *	mailed on as a new message, as Postfix local(8)'s forward.c does:
 *	the original content with "Delivered-To: <recipient>" prepended
 *	(what loop detection finds when the message comes back), the
 *	original sender or the owner- alias as the envelope sender, one
 *	message per distinct sender with every address of that sender as
 *	its recipients, through cleanup like any other mail (canonical and
 *	virtual rewriting, then the queue).
 *	Postmesh also resubmits addresses in local domains, where Postfix
 *	recurses in-process: one path for every address, and an alias
 *	loop (a -> b -> a) ends as a bounce "mail forwarding loop" when
 *	the message comes back to a, instead of being dropped as a
 *	duplicate.
 *	Idempotent: the new message's queue id is derived from (queue id,
 *	recipient index, group) with pm_qid_derive(), and cleanup keeps a
 *	queue id refused for keep_id_secs after the message is gone, so a
 *	recipient delivered again (agent killed before its status reached
 *	Redis, or deferred by another target) forwards the same message
 *	once. The log text is "forwarded as <new queue id>".
 *	A probe is never resubmitted (Postfix forwards no probe): each
 *	address is recorded "forwards to <address>".
 * LIMITS
 *	local_alias_expansion_limit addresses per recipient; each cleanup
 *	call waits local_cleanup_timeout; the content plus header is at
 *	most message_size_limit (cleanup's limit).
 * SECURITY
 *	Addresses come from operator tables and users' .forward files;
 *	cleanup checks them as any submission.
 */
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "local_params.h"
#include "pm_log.h"
#include "pm_mail_params.h"
#include "pm_msgflags.h"
#include "pm_qid.h"

#define LOCAL_FWD_KIND 0x10cU  /* pm_qid_derive kind: not a notice kind */
#define LOCAL_FWD_GROUPS 1000U /* parts per recipient index */
#define LOCAL_KEEP_ID_MAX (365L * 86400)

pm_cleanup_clnt *local_cleanup;
pm_rewrite_clnt *local_rewrite;

void
local_forward_add(local_state *s, const char *sender, const char *addr)
{
	local_fwd *f = NULL;
	size_t i;

	for (i = 0; i < s->nfwd; i++) {
		if (strcmp(s->fwd[i].sender, sender) == 0) {
			f = &s->fwd[i];
			break;
		}
	}
	if (f == NULL) {
		s->fwd = pm_realloc(s->fwd, (s->nfwd + 1) * sizeof(*s->fwd));
		f = &s->fwd[s->nfwd++];
		memset(f, 0, sizeof(*f));
		f->sender = pm_strdup(sender);
	}
	for (i = 0; i < f->nrcpt; i++) {
		if (pm_strcaseeq(f->rcpt[i], addr)) {
			return; /* a duplicate, as Postfix's been_here() */
		}
	}
	if (f->nrcpt == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 4;
		f->rcpt = pm_realloc(f->rcpt, f->cap * sizeof(*f->rcpt));
	}
	f->rcpt[f->nrcpt++] = pm_strdup(addr);
}

static unsigned
keep_id_secs(void)
{
	long secs = var_max_queue_time + 86400;

	return ((unsigned) (secs > LOCAL_KEEP_ID_MAX ? LOCAL_KEEP_ID_MAX :
	                                               secs));
}

/* Submit group g; records the outcome in s. */
static void
forward_one(local_state *s, size_t g)
{
	local_fwd *f = &s->fwd[g];
	pm_job *j = s->m->job;
	pm_submit_rcpt *rv = pm_calloc(f->nrcpt, sizeof(*rv));
	pm_submit_result res;
	pm_submit sub;
	pm_buf content;
	char qid[PM_QID_LEN + 1];
	size_t i;

	if (LOCAL_PROBE(s)) {
		/* Postfix: a probe is not forwarded; the address counts */
		for (i = 0; i < f->nrcpt; i++) {
			local_result(s, PM_JOB_SENT, "2.0.0", "forwards to %s",
			    f->rcpt[i]);
		}
		free(rv);
		return;
	}
	if (pm_qid_derive(qid, j->queue_id, LOCAL_FWD_KIND,
	        s->r->index * LOCAL_FWD_GROUPS + (unsigned) g) != 0) {
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "cannot derive a queue id for forwarding");
		free(rv);
		return;
	}
	pm_buf_init(&content, 0);
	pm_buf_printf(&content, "Delivered-To: %s\r\n", s->rcpt);
	pm_buf_append(&content, s->m->content, s->m->len);
	for (i = 0; i < f->nrcpt; i++) {
		rv[i].address = f->rcpt[i];
		rv[i].orcpt = "";
	}
	memset(&sub, 0, sizeof(sub));
	sub.queue_id = qid;
	sub.sender = f->sender;
	sub.rcpt = rv;
	sub.nrcpt = f->nrcpt;
	sub.content = content.data;
	sub.content_len = content.len;
	sub.flags = j->flags & PM_MSG_SMTPUTF8;
	sub.body_type = j->body_type;
	sub.dsn_ret = j->dsn_ret;
	sub.dsn_envid = j->dsn_envid;
	sub.protocol = "local";
	sub.arrival_us = pm_now_us();
	sub.keep_id_secs = keep_id_secs();
	pm_cleanup_submit(local_cleanup, &sub, &res);
	if (res.code == 250) {
		local_result(s, PM_JOB_SENT, "2.0.0", "forwarded as %s",
		    res.queue_id[0] ? res.queue_id : qid);
	} else {
		local_result(s,
		    res.code >= 500 && res.code < 600 ? PM_JOB_BOUNCED :
		                                        PM_JOB_DEFERRED,
		    res.code >= 500 && res.code < 600 ? "5.3.0" : "4.3.0",
		    "cannot forward: cleanup said: %u %s %.200s", res.code,
		    res.dsn, res.text);
	}
	pm_buf_free(&content);
	free(rv);
}

void
local_forward_flush(local_state *s)
{
	size_t g, i;

	for (g = 0; g < s->nfwd; g++) {
		forward_one(s, g);
		for (i = 0; i < s->fwd[g].nrcpt; i++) {
			free(s->fwd[g].rcpt[i]);
		}
		free(s->fwd[g].rcpt);
		free(s->fwd[g].sender);
	}
	free(s->fwd);
	s->fwd = NULL;
	s->nfwd = 0;
}
