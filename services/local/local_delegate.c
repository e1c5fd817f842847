/*
 * NAME
 *	local_delegate - mailbox_transport, fallback_transport, luser_relay
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	Postfix local(8)'s mailbox.c (delegation part) and unknown.c.
 *
 *	local_delegate_mailbox() runs where the mailbox would be written,
 *	after aliases and .forward, whether or not the user exists:
 *	mailbox_transport_maps (looked up with the user name, without
 *	extension), then mailbox_transport. local_deliver_unknown() runs
 *	for a user that does not exist: fallback_transport_maps,
 *	fallback_transport, then luser_relay; else a required alias
 *	(postmaster, MAILER-DAEMON) that is missing is discarded with a
 *	warning, and anything else bounces "5.1.1 unknown user: "x"".
 *
 *	A transport value is "transport:nexthop" or "transport" (then the
 *	nexthop is the job's, as Postfix's deliver_pass(); split by
 *	local_delegate_parse(), local_nexthop.c). Where Postfix
 *	hands the recipient to the other transport over a socket and
 *	waits, Postmesh records a redirect in the recipient's state;
 *	local.c reports it to qmgr as PM_JOB_REDIRECT and qmgr queues the
 *	recipient for that transport at once (qmgr_redirect.c). The
 *	target agent delivers, records and logs it (relay=... of lmtp);
 *	local logs nothing for it and counts it, once reported to qmgr
 *	(not when another target's deferral drops it), in
 *	postmesh_local_redirects_total{class="mailbox"|"fallback"};
 *	qmgr_redirects_total{result="accepted"|"refused"} says what qmgr
 *	did with it. A recipient whose failures went to an owner- alias
 *	(local_owner.c), or whose bounced targets local told the sender
 *	itself (local_fails.c), is reported with dsn_passed, so its
 *	target delivery sends no success notice either.
 *
 *	A redirect moves the recipient itself, so only a delivery to the
 *	recipient's own user can be redirected: a mailbox reached through
 *	"\other" in an alias of another name is deferred "4.3.5" (give the
 *	alias the address other@domain instead; it is then resubmitted).
 *	A probe (LOCAL_PROBE) that reached another user that way (aliases
 *	are followed in the agent for probes, local_alias.c) is not
 *	deferred: it is deliverable "delivers to transport:nexthop", as a
 *	real message would be resubmitted and passed on.
 *
 *	luser_relay is expanded with local_expand() ($user, $extension,
 *	$recipient, $domain, $local, $recipient_delimiter, $home is "")
 *	and the result is resubmitted through cleanup like an alias's
 *	address (local_forward.c), without extension propagation; it is
 *	an address even when it starts with '|' or '/' (Postfix).
 * LIMITS
 *	PM_QMGR_TRANSPORT_MAX bytes of a transport name and
 *	PM_QMGR_NEXTHOP_MAX of a nexthop; luser_relay expands to at most
 *	PM_ADDR_MAX bytes.
 * SECURITY
 *	Table values and parameters are operator data; the names are
 *	checked (no white space or control characters) before they leave.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "local_params.h"
#include "pm_addr.h"
#include "pm_log.h"
#include "pm_mail_params.h"
#include "pm_metrics.h"

static pm_tables *local_mbox_transp_maps;
static pm_tables *local_fbck_transp_maps;
static pm_metric *local_redirects_mailbox;
static pm_metric *local_redirects_fallback;

/*
 * Hand the recipient to spec (from param, for the class's metric):
 * recorded in s, reported by local.c.
 */
static void
redirect(local_state *s, const local_addr *a, const char *param,
    const char *spec, pm_metric *count)
{
	char tp[PM_QMGR_TRANSPORT_MAX + 1], nh[PM_QMGR_NEXTHOP_MAX + 1];

	if (local_delegate_parse(spec, s->m->job->nexthop, tp, sizeof(tp), nh,
	        sizeof(nh)) != 0) {
		pm_msg_warn("%s: bad %s value for %s: \"%s\"",
		    s->m->job->queue_id, param, a->user, spec);
		local_result(s, PM_JOB_DEFERRED, "4.3.5",
		    "mail system configuration error: bad %s value", param);
		return;
	}
	if ((s->top == NULL || strcmp(a->user, s->top->user) != 0) &&
	    LOCAL_PROBE(s)) {
		/* a probe followed an alias here: say where it would go */
		local_result(s, PM_JOB_SENT, "2.0.0", "delivers to %s%s%s", tp,
		    *nh ? ":" : "", nh);
		return;
	}
	if (s->top == NULL || strcmp(a->user, s->top->user) != 0) {
		local_result(s, PM_JOB_DEFERRED, "4.3.5",
		    "cannot pass the mailbox of %s, reached from %s, to %s "
		    "(%s): name the address in the alias",
		    a->user, s->rcpt, tp, param);
		return;
	}
	if (s->redirect) {
		/* the same user twice (\user in its own alias): once */
		if (strcmp(s->rd_transport, tp) != 0 ||
		    strcmp(s->rd_nexthop, nh) != 0) {
			local_result(s, PM_JOB_DEFERRED, "4.3.5",
			    "more than one transport for %s", s->rcpt);
		}
		return;
	}
	s->redirect = 1;
	snprintf(s->rd_transport, sizeof(s->rd_transport), "%s", tp);
	snprintf(s->rd_nexthop, sizeof(s->rd_nexthop), "%s", nh);
	s->rd_count = count; /* counted if reported (local.c) */
}

/*
 * A table (keyed by the user name) then a parameter: 1 when one of
 * them applied (redirected or deferred), else 0.
 */
static int
delegate(local_state *s, const local_addr *a, pm_tables *maps,
    const char *maps_param, const char *value, const char *param,
    pm_metric *count)
{
	char *found = NULL;
	int rc;

	if (maps != NULL && pm_tables_count(maps) > 0) {
		rc = pm_tables_get(maps, a->user, &found);
		if (rc == 0) {
			redirect(s, a, maps_param, found, count);
			free(found);
			return (1);
		}
		if (rc != PM_ENOENT) {
			pm_msg_warn("%s: %s lookup of %s: %s",
			    s->m->job->queue_id, maps_param, a->user,
			    pm_strerror(rc));
			local_result(s, PM_JOB_DEFERRED, "4.3.0",
			    "table lookup failure");
			return (1);
		}
	}
	if (*value != 0) {
		redirect(s, a, param, value, count);
		return (1);
	}
	return (0);
}

int
local_delegate_mailbox(local_state *s, const local_addr *a)
{
	return (delegate(s, a, local_mbox_transp_maps, VAR_MBOX_TRANSP_MAPS,
	    var_mailbox_transp, VAR_MAILBOX_TRANSP, local_redirects_mailbox));
}

/* luser_relay: the expanded address, resubmitted through cleanup. */
static void
luser_relay(local_state *s, const local_addr *a)
{
	local_user u;
	pm_buf out;

	memset(&u, 0, sizeof(u));
	snprintf(u.name, sizeof(u.name), "%s", a->user);
	pm_buf_init(&out, PM_ADDR_MAX);
	if (local_expand(var_luser_relay, s, &u, a, 0, &out) != 0 ||
	    out.len == 0 || pm_buf_append(&out, "", 1) != 0) {
		pm_msg_warn("%s: cannot expand %s = %s for %s",
		    s->m->job->queue_id, VAR_LUSER_RELAY, var_luser_relay,
		    a->user);
		local_result(s, PM_JOB_DEFERRED, "4.3.5",
		    "mail system configuration error: bad %s", VAR_LUSER_RELAY);
	} else {
		local_forward_add(s, s->sender, out.data);
	}
	pm_buf_free(&out);
}

void
local_deliver_unknown(local_state *s, const local_addr *a)
{
	if (delegate(s, a, local_fbck_transp_maps, VAR_FBCK_TRANSP_MAPS,
	        var_fallback_transp, VAR_FALLBACK_TRANSP,
	        local_redirects_fallback)) {
		return;
	}
	if (*var_luser_relay != 0) {
		luser_relay(s, a);
		return;
	}
	if (pm_strcaseeq(a->local, "postmaster") ||
	    pm_strcaseeq(a->local, "MAILER-DAEMON")) {
		/* Postfix: a required alias is missing; do not bounce */
		pm_msg_warn("required alias not found: %s", a->local);
		local_result(s, PM_JOB_SENT, "2.0.0", "discarded");
		return;
	}
	local_result(s, PM_JOB_BOUNCED, "5.1.1", "unknown user: \"%s\"",
	    a->user);
}

int
local_delegate_init(void)
{
	static const char help[] = "Recipients handed to another transport "
	                           "(mailbox_transport, fallback_transport)";
	const char *err = NULL;

	local_mbox_transp_maps = pm_tables_open(var_mbox_transp_maps, &err);
	if (local_mbox_transp_maps == NULL) {
		pm_msg_error("%s = %s: %s", VAR_MBOX_TRANSP_MAPS,
		    var_mbox_transp_maps, err ? err : "error");
		return (-1);
	}
	local_fbck_transp_maps = pm_tables_open(var_fbck_transp_maps, &err);
	if (local_fbck_transp_maps == NULL) {
		pm_msg_error("%s = %s: %s", VAR_FBCK_TRANSP_MAPS,
		    var_fbck_transp_maps, err ? err : "error");
		return (-1);
	}
	local_redirects_mailbox = pm_metric_counter("local_redirects_total",
	    help, "class=\"mailbox\"");
	local_redirects_fallback = pm_metric_counter("local_redirects_total",
	    help, "class=\"fallback\"");
	return (0);
}

void
local_delegate_fini(void)
{
	local_mbox_transp_maps = pm_tables_close(local_mbox_transp_maps);
	local_fbck_transp_maps = pm_tables_close(local_fbck_transp_maps);
}
