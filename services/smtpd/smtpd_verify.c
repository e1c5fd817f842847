/*
 * NAME
 *	smtpd_verify - smtpd's side of address verification: the cache
 *	and the probes
 * DESCRIPTION
 *	Postfix's smtpd asks verify(8), which sends probes through the
 *	queue. In Postmesh verify is a library (pm_verify.h): the cache is
 *	in Redis, which every smtpd replica reaches directly.
 *	smtpd_verify_init() opens it (one connection for the process,
 *	with a mutex: lookups are short) and smtpd_check.c hands it to
 *	every pm_access it builds, with smtpd_verify_probe() as the
 *	function that queues a probe.
 *
 *	smtpd_verify_probe() submits a probe through cleanup (the client
 *	smtpd uses for mail, given by smtpd_verify_set_cleanup()): envelope flag PM_MSG_PROBE, sender
 *	address_verify_sender ("<>" or "" for the null sender; default
 *	$double_bounce_sender, qualified by cleanup as any address), one
 *	recipient whose ORCPT is the address as asked (so qmgr records
 *	the outcome under it after cleanup's rewriting), a few header
 *	lines and no body. qmgr, the transport and
 *	relayhost route it as they would route mail; the smtp/lmtp agent
 *	stops after RCPT; qmgr records the outcome in the cache and sends
 *	no notice (qmgr_verify.c). Log: "verify: probe for <a> queued as
 *	QID".
 * LIMITS
 *	One cleanup call per probe, within smtpd_cleanup_timeout;
 *	addresses up to PM_ADDR_MAX.
 * SECURITY
 *	The address was checked by smtpd (RCPT/MAIL syntax); it goes into
 *	the probe's To: header only after pm_printable(), and cleanup
 *	checks the envelope again.
 */
#include "cleanup_clnt.h"
#include "pm_addr.h"
#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_msgflags.h"
#include "pm_server_queue.h"
#include "pm_util.h"
#include "pm_verify.h"
#include "smtpd_verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pm_verify *smtpd_vcache;
static pm_cleanup_clnt *smtpd_vclnt; /* smtpd's cleanup client */

void
smtpd_verify_set_cleanup(pm_cleanup_clnt *c)
{
	smtpd_vclnt = c;
}

void
smtpd_verify_init(void)
{
	pm_verify_cfg cfg;
	pm_qstore *qs;
	char *err = NULL;

	if (smtpd_vcache != NULL) {
		return;
	}
	if (pm_verify_cfg_read(&cfg, &err) != 0) {
		pm_msg_fatal("%s", err);
	}
	if ((qs = pm_server_qstore_open()) == NULL) {
		pm_msg_fatal("verify: cannot open the queue store");
	}
	smtpd_vcache = pm_verify_open(qs, &cfg);
}

pm_verify *
smtpd_verify_cache(void)
{
	return (smtpd_vcache);
}

int
smtpd_verify_probe(void *arg, const char *address)
{
	pm_submit_rcpt rcpt;
	pm_submit_result res;
	pm_submit sub;
	char *sender = pm_cfg_get("address_verify_sender");
	const char *snd;
	char to[PM_ADDR_MAX + 1];
	char *content, *orcpt;
	int rc = 0;

	(void) arg;
	if (smtpd_vclnt == NULL || strlen(address) > PM_ADDR_MAX) {
		free(sender);
		return (PM_ECONNREFUSED);
	}
	snd = sender != NULL ? pm_trim(sender) : "";
	if (strcmp(snd, "<>") == 0) {
		snd = "";
	}
	snprintf(to, sizeof(to), "%s", address);
	pm_printable(to);
	content = pm_asprintf("From: <%s>\r\nTo: <%s>\r\n"
	                      "Subject: address verification probe\r\n\r\n",
	    snd, to);
	/*
	 * The original recipient travels as the probe's ORCPT (whatever
	 * enable_original_recipient says): cleanup may rewrite the address
	 * (canonical, virtual_alias_maps, @$myorigin), and qmgr records
	 * the outcome under the address this smtpd looks up.
	 */
	orcpt = pm_asprintf("rfc822;%s", address);
	memset(&rcpt, 0, sizeof(rcpt));
	rcpt.address = address;
	rcpt.orcpt = orcpt;
	rcpt.notify = PM_NOTIFY_NEVER;
	memset(&sub, 0, sizeof(sub));
	sub.sender = snd;
	sub.rcpt = &rcpt;
	sub.nrcpt = 1;
	sub.content = content;
	sub.content_len = strlen(content);
	sub.flags = PM_MSG_PROBE;
	sub.protocol = "ESMTP";
	sub.client_name = "localhost";
	sub.client_addr = "127.0.0.1";
	sub.arrival_us = pm_now_us();
	pm_cleanup_submit(smtpd_vclnt, &sub, &res);
	if (res.code / 100 == 2) {
		pm_msg_info("%s: verify: probe for <%s> queued",
		    res.queue_id[0] ? res.queue_id : "NOQUEUE", to);
	} else {
		pm_msg_warn("verify: probe for <%s> refused: %u %s %s", to,
		    res.code, res.dsn, res.text);
		rc = PM_EAGAIN;
	}
	free(content);
	free(orcpt);
	free(sender);
	return (rc);
}
