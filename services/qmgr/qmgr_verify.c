/*
 * NAME
 *	qmgr_verify - address verification probes: outcomes to the cache
 * DESCRIPTION
 *	A probe (PM_MSG_PROBE, queued by smtpd for reject_unverified_*) is
 *	scheduled and delivered like any message, so transport_maps and
 *	relayhost apply; the smtp/lmtp agent stops after RCPT. qmgr is the
 *	one place that sees every recipient's outcome, whichever agent
 *	gave it (smtp, lmtp, error, discard) or whether qmgr decided it
 *	itself (unknown user from the resolver, expiry), so the verify
 *	cache is written here, at the end of each delivery pass
 *	(qmgr_msg.c): sent -> deliverable, bounced -> undeliverable,
 *	deferred -> deferred, each with the reason text (pm_verify.h).
 *	As Postfix's verify_append(), the outcome is recorded under the
 *	original recipient (the probe's ORCPT, set by smtpd: the address
 *	smtpd looks up) and also under the final address when cleanup
 *	rewrote it (virtual_alias_maps, canonical_maps, @$myorigin).
 *
 *	qmgr_verify_init() reads the verify parameters and opens the
 *	cache (fatal on bad parameters). qmgr_verify_probe() says whether
 *	a message is a probe: probes get no bounce, delay or success
 *	notice, and live address_verify_probe_lifetime
 *	(qmgr_verify_lifetime()) instead of maximal_queue_lifetime.
 *	Metric: postmesh_qmgr_verify_probes_total{result=deliverable|
 *	undeliverable|deferred}.
 * LIMITS
 *	One or two Redis round trips per probe recipient.
 * SECURITY
 *	Reasons come from remote servers: pm_verify makes them printable.
 */
#include "qmgr.h"

#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_msgflags.h"
#include "pm_server.h"
#include "pm_server_queue.h"
#include "pm_verify.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pm_verify *qv;
static long qv_lifetime = 3 * 3600;
static pm_metric *qv_m[3];

void
qmgr_verify_init(void)
{
	static const char *nm = "qmgr_verify_probes_total";
	static const char *help = "Address verification probe outcomes "
	                          "recorded in the verify cache";
	pm_verify_cfg cfg;
	pm_qstore *qs;
	char *err = NULL, *v;

	if (pm_verify_cfg_read(&cfg, &err) != 0) {
		pm_msg_fatal("%s", err);
	}
	v = pm_cfg_get("address_verify_probe_lifetime");
	if (v == NULL ||
	    pm_cfg_parse_time(pm_trim(v), 's', &qv_lifetime) != 0 ||
	    qv_lifetime < 1 || qv_lifetime > 100L * 86400) {
		pm_msg_fatal("address_verify_probe_lifetime: bad time \"%s\" "
		             "(want 1s..100d)",
		    v ? v : "");
	}
	free(v);
	if ((qs = pm_server_qstore_open()) == NULL) {
		pm_msg_fatal("verify: cannot open the queue store");
	}
	qv = pm_verify_open(qs, &cfg);
	qv_m[0] = pm_metric_counter(nm, help, "result=\"deliverable\"");
	qv_m[1] = pm_metric_counter(nm, help, "result=\"undeliverable\"");
	qv_m[2] = pm_metric_counter(nm, help, "result=\"deferred\"");
}

int
qmgr_verify_probe(const qmgr_msg *msg)
{
	return ((msg->m->flags & PM_MSG_PROBE) != 0);
}

long
qmgr_verify_lifetime(void)
{
	return (qv_lifetime);
}

/* The address of an "rfc822;addr" ORCPT, or NULL. */
static const char *
verify_orcpt_addr(const char *orcpt)
{
	if (orcpt == NULL || strncasecmp(orcpt, "rfc822;", 7) != 0 ||
	    orcpt[7] == 0) {
		return (NULL);
	}
	return (orcpt + 7);
}

static void
verify_record_one(const qmgr_msg *msg, const char *addr, int st,
    const char *text)
{
	int rc = pm_verify_update(qv, addr, st, text);

	if (rc != 0) {
		pm_msg_warn("%s: cannot record the verify result of <%s>: %s",
		    msg->e.qid, addr, pm_strerror(rc));
		return;
	}
	pm_metric_inc(qv_m[st == PM_VERIFY_DELIVERABLE ? 0 :
	        st == PM_VERIFY_UNDELIVERABLE          ? 1 :
	                                                 2]);
}

void
qmgr_verify_record(const qmgr_msg *msg)
{
	const qmgr_rcpt *r;
	const char *addr, *orig;
	size_t i;
	int st;

	if (!qmgr_verify_probe(msg) || qv == NULL) {
		return;
	}
	for (i = 0; i < msg->m->nrcpt; i++) {
		r = &msg->r[i];
		st = r->state == QR_SENT   ? PM_VERIFY_DELIVERABLE :
		    r->state == QR_BOUNCED ? PM_VERIFY_UNDELIVERABLE :
		                             PM_VERIFY_DEFERRED;
		addr = msg->m->rcpt[i].address;
		orig = verify_orcpt_addr(msg->m->rcpt[i].orcpt);
		if (orig != NULL) {
			verify_record_one(msg, orig, st,
			    r->text ? r->text : "");
		}
		if (orig == NULL || strcasecmp(orig, addr) != 0) {
			verify_record_one(msg, addr, st,
			    r->text ? r->text : "");
		}
	}
}
