/*
 * NAME
 *	local_owner - owner- aliases: who hears about errors
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	aliases(5): when an alias "x" has an "owner-x" alias, delivery
 *	errors of x's expansion go to the owner instead of the sender.
 *	local_owner_of() finds that owner: owner-<name>@$myorigin, or,
 *	with expand_owner_alias, what owner-<name> expands to when that
 *	is one address. Forwarded addresses get it as their envelope
 *	sender (local_alias.c), so their errors reach it through the new
 *	message.
 *	A |command or /file target (and a Delivered-To loop) fails inside
 *	the agent, and a notice of the original message goes to its
 *	sender. Postfix's local(8) works around that (bounce_workaround.c):
 *	when owner_request_special is on and the recipient has an owner
 *	(owner-<local part>, then owner-<local part without extension>),
 *	a permanent failure of such a target is sent at once in a notice
 *	with that recipient to the owner (bounce_one), and the recipient
 *	is not bounced to the sender. Here:
 *	  - local_owner_take() is called by local_result() for a bounced
 *	    outcome while s->owner_scope is set (|command, /file, loop
 *	    check): with an owner it keeps the failure and returns 1, the
 *	    recipient's status is left as it was;
 *	  - local_owner_flush(), after the recipient's targets, asks the
 *	    bounce service for one failure notice to the owner listing
 *	    each kept failure (pm_bounce_notify_to; its queue id is derived
 *	    from the recipient's index, so a retry queues it once), logs
 *	    each failure as Postfix's bounce_one does ("to=<x@d>,
 *	    relay=local, ... status=bounced (reason)"), and adds "failure
 *	    notice to <owner>: QID" to the recipient's delivered text;
 *	    the recipient is then done with no notice to the sender: it is
 *	    recorded PM_RCPT_NOTIFIED (pm_agent_job.c), so qmgr sends no
 *	    success notice for it, NOTIFY=SUCCESS or not, also after a
 *	    takeover. The bounce service unreachable defers the recipient
 *	    (retried, with the same notice id); a notice refused for good
 *	    (PM_ENOENT), or a request that can never be made (PM_EINVAL:
 *	    e.g. an owner address too long for it; PM_EPROTO) gives the
 *	    failures back to the sender as an ordinary bounce.
 *	    As Postfix's bounce service, the owner's notice follows the
 *	    recipient's NOTIFY: with NOTIFY set and without FAILURE the
 *	    owner gets nothing (the bounce service says "not requested"),
 *	    and the recipient is done all the same.
 *	Temporary failures (4.x.x) defer as always.
 * LIMITS
 *	PM_BOUNCE_NOTICE_MAX failures per recipient are listed; more are
 *	counted and named in a warning. One alias_maps look-up per owner
 *	candidate, only when a failure needs it.
 * SECURITY
 *	Owner addresses are operator data (alias_maps); the bounce service
 *	checks them again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_clnt.h"
#include "local.h"
#include "local_params.h"
#include "pm_alias.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_log_dlv.h"

pm_bounce_clnt *local_bounce;

/* 0 and *owner (NULL: none), or a PM_E* lookup error. */
static int
owner_lookup(const local_state *s, const char *name, char **owner)
{
	pm_alias_list l = { 0 };
	const char *err;
	char *key, *value = NULL;
	int rc;

	*owner = NULL;
	if (s->maps == NULL || s->maps->alias == NULL ||
	    strncmp(name, "owner-", 6) == 0) {
		return (0);
	}
	key = pm_asprintf("owner-%s", name);
	rc = pm_tables_get(s->maps->alias, key, &value);
	if (rc == 0) {
		if (var_exp_own_alias && pm_alias_split(value, &l, &err) == 0 &&
		    l.n == 1 && l.v[0].kind == PM_ALIAS_ADDRESS) {
			*owner = strchr(l.v[0].value, '@') != NULL ?
			    pm_strdup(l.v[0].value) :
			    pm_asprintf("%s@%s", l.v[0].value, var_myorigin);
		} else {
			*owner = pm_asprintf("%s@%s", key, var_myorigin);
		}
		pm_alias_list_free(&l);
	}
	free(value);
	free(key);
	return (rc == PM_ENOENT ? 0 : rc);
}

char *
local_owner_of(const local_state *s, const char *name)
{
	char *owner;

	(void) owner_lookup(s, name, &owner);
	return (owner);
}

int
local_owner_take(local_state *s, const char *dsn, const char *text)
{
	int rc = 0;

	if (!var_ownreq_special || s->top == NULL) {
		return (0);
	}
	if (!s->owner_looked) {
		rc = owner_lookup(s, s->top->local, &s->owner);
		if (rc == 0 && s->owner == NULL && s->top->ext[0] != 0) {
			rc = owner_lookup(s, s->top->user, &s->owner);
		}
		s->owner_looked = rc == 0;
	}
	if (rc != 0) {
		s->owner_scope = 0; /* no recursion through local_result() */
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "alias database unavailable");
		s->owner_scope = 1;
		return (1);
	}
	if (s->owner == NULL) {
		return (0);
	}
	local_fails_add(&s->ofail, dsn, text);
	return (1);
}

void
local_owner_flush(local_state *s)
{
	pm_notice_result res;
	size_t i;
	int rc;

	if (s->ofail.n == 0) {
		goto out;
	}
	rc = local_fails_notify(s, &s->ofail, s->owner, &res);
	s->owner_scope = 0;
	if (rc == 0) {
		for (i = 0; i < s->ofail.n; i++) {
			local_fail_log(s, &s->ofail.v[i]);
		}
		local_result(s, PM_JOB_SENT, "2.0.0",
		    "failure notice to %s: %s", s->owner,
		    res.queue_id[0] ? res.queue_id : "not requested");
		s->r->notified = 1; /* done, and no success notice */
	} else if (rc == PM_ENOENT || rc == PM_EINVAL || rc == PM_EPROTO) {
		/* the owner can never get it: the sender does */
		pm_msg_warn("%s: to=<%s>: the notice to %s is refused (%s): "
		            "bouncing to the sender",
		    s->m->job->queue_id, s->rcpt, s->owner,
		    res.why[0] ? res.why : pm_strerror(rc));
		for (i = 0; i < s->ofail.n; i++) {
			local_result(s, PM_JOB_BOUNCED, s->ofail.v[i].dsn, "%s",
			    s->ofail.v[i].text);
		}
	} else {
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "cannot send the failure notice to %s: %s", s->owner,
		    pm_strerror(rc));
	}
out:
	local_fails_free(&s->ofail);
	free(s->owner);
	s->owner = NULL;
}
