/*
 * NAME
 *	virtual - Postmesh virtual mailbox delivery agent
 * SUMMARY
 *	virtual [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Postfix's virtual(8) as a pm_agent: it serves the transport
 *	"virtual" (virtual_transport, where rewrite sends the domains of
 *	virtual_mailbox_domains) and delivers each recipient to the
 *	maildir or mbox file that virtual_mailbox_maps names under
 *	virtual_mailbox_base, as the uid/gid of virtual_uid_maps and
 *	virtual_gid_maps (virtual_deliver.c says how, per thread). Many
 *	domains on one host: the tables decide, the agent knows no domain.
 *	Logs "relay=virtual, ..., status=sent (delivered to maildir)" or
 *	"(delivered to mailbox)"; pm_agent does the fetching, the status
 *	reports, the log lines and the metrics. SIGHUP opens
 *	virtual_mailbox_maps, virtual_uid_maps and virtual_gid_maps anew
 *	(pm_snap: a job keeps the tables it started with, the old ones
 *	are closed when the last such job ends).
 * LIMITS
 *	virtual_delivery_slots workers; virtual_mailbox_limit bytes per
 *	mbox file or maildir file (0 = none); lock wait
 *	deliver_lock_attempts x deliver_lock_delay; stale_lock_time.
 * SECURITY
 *	Runs as root to switch file system ids per delivery (or as the
 *	one uid that owns every mailbox). SIGXFSZ is ignored, so a write
 *	over RLIMIT_FSIZE fails (5.2.2) instead of killing the agent.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "pm_agent.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_mail_params.h"
#include "pm_mailbox.h"
#include "pm_server.h"
#include "pm_snap.h"
#include "virtual.h"
#include "virtual_params.h"

char *var_virtual_metrics;
long var_virtual_slots;
char *var_virt_mailbox_base;
char *var_virt_uid_maps;
char *var_virt_gid_maps;
char *var_virt_mailbox_lock;
long var_virt_minimum_uid;
long var_virt_mailbox_limit;

static virtual_cfg vcfg; /* the settings; its tables are in vmaps_cur */

static void
virtual_maps_free(void *obj)
{
	virtual_cfg *c = obj;

	if (c != NULL) {
		pm_tables_close(c->mailbox_maps);
		pm_tables_close(c->uid_maps);
		pm_tables_close(c->gid_maps);
		free(c);
	}
}

/* vcfg with its tables; SIGHUP swaps in new ones, a job keeps its own. */
static pm_snap vmaps_cur = PM_SNAP_INIT(virtual_maps_free);

static pm_tables *
virtual_tables(const char *param, const char *spec, int *failed)
{
	const char *err = NULL;
	pm_tables *ts = pm_tables_open(spec ? spec : "", &err);

	if (ts == NULL) {
		pm_msg_error("%s: %s", param, err ? err : "cannot open");
		*failed = 1;
	}
	return (ts);
}

/* A copy of vcfg with the tables opened anew; NULL after an error. */
static virtual_cfg *
virtual_maps_new(void)
{
	virtual_cfg *c = pm_malloc(sizeof(*c));
	int failed = 0;

	*c = vcfg;
	c->mailbox_maps = virtual_tables(VAR_VIRT_MAILBOX_MAPS,
	    var_virt_mailbox_maps, &failed);
	c->uid_maps =
	    virtual_tables(VAR_VIRT_UID_MAPS, var_virt_uid_maps, &failed);
	c->gid_maps =
	    virtual_tables(VAR_VIRT_GID_MAPS, var_virt_gid_maps, &failed);
	if (failed) {
		virtual_maps_free(c);
		return (NULL);
	}
	return (c);
}

static void
virtual_reload(void)
{
	virtual_cfg *c = virtual_maps_new();

	if (c == NULL) {
		pm_msg_warn("reload failed; keeping the old tables");
		pm_server_reload_failed();
		return;
	}
	pm_snap_set(&vmaps_cur, c);
	pm_msg_info("reload: tables reopened");
}

static void
virtual_fini(void)
{
	pm_snap_set(&vmaps_cur, NULL);
}

static int
virtual_init(void)
{
	virtual_cfg *c;
	int locks;

	signal(SIGXFSZ, SIG_IGN);
	if (pm_mbox_lock_parse(var_virt_mailbox_lock, &locks) != 0) {
		pm_msg_fatal("%s: bad value \"%s\" (fcntl, dotlock, flock)",
		    VAR_VIRT_MAILBOX_LOCK, var_virt_mailbox_lock);
	}
	if (var_virt_mailbox_base == NULL || *var_virt_mailbox_base != '/') {
		pm_msg_warn("%s is not an absolute path: every delivery "
		            "will be deferred",
		    VAR_VIRT_MAILBOX_BASE);
	}
	if (var_virt_mailbox_limit > 0 &&
	    var_virt_mailbox_limit < var_message_size_limit) {
		pm_msg_warn("%s (%ld) is smaller than %s (%ld)",
		    VAR_VIRT_MAILBOX_LIMIT, var_virt_mailbox_limit,
		    VAR_MSG_SIZE_LIMIT, var_message_size_limit);
	}
	vcfg.base = var_virt_mailbox_base ? var_virt_mailbox_base : "";
	vcfg.rcpt_delim = var_rcpt_delim ? var_rcpt_delim : "";
	vcfg.instance = var_instance_name;
	vcfg.minimum_uid = var_virt_minimum_uid;
	vcfg.size_limit = var_virt_mailbox_limit;
	vcfg.locks = locks;
	vcfg.lock_wait_ms = var_lock_attempts * var_lock_delay * 1000;
	vcfg.stale_lock_s = var_stale_lock_time;
	if ((c = virtual_maps_new()) == NULL) {
		pm_msg_fatal("cannot open the tables");
	}
	pm_snap_set(&vmaps_cur, c);
	return (0);
}

static void *
virtual_thread_init(void)
{
	virtual_thread_creds();
	return (NULL);
}

static void
virtual_deliver(void *ctx, pm_job *job)
{
	pm_snap_ref *ref;
	char *body = NULL;
	size_t len = 0;
	int rc;

	(void) ctx;
	strcpy(job->relay, "virtual");
	job->conn_ms = 0;
	job->dest_failed = 0;
	if (vcfg.base[0] != '/') {
		pm_job_set_all(job, PM_JOB_DEFERRED, "4.3.5",
		    "mail system configuration error");
		return;
	}
	if ((rc = pm_agent_body(job, &body, &len)) != 0) {
		pm_job_set_all(job, PM_JOB_DEFERRED, "4.3.0",
		    "cannot read the message content: %s", pm_strerror(rc));
		return;
	}
	ref = pm_snap_get(&vmaps_cur);
	for (size_t i = 0; i < job->nrcpt; i++) {
		pm_job_rcpt *r = &job->rcpt[i];
		int64_t t0 = pm_mono_ms();

		if (r->status != PM_JOB_NONE) {
			continue;
		}
		virtual_deliver_rcpt(ref->obj, job, r, body, len);
		job->xfer_ms += (unsigned) (pm_mono_ms() - t0);
	}
	pm_snap_put(&vmaps_cur, ref);
	free(body);
}

static const char *const virtual_transports[] = { "virtual", NULL };

static const pm_agent virtual_agent = {
	.name = "virtual",
	.transports = virtual_transports,
	.slots_param = VAR_VIRTUAL_SLOTS,
	.thread_init = virtual_thread_init,
	.deliver = virtual_deliver,
};

static int
virtual_run(void)
{
	return (pm_agent_run(&virtual_agent));
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_VIRTUAL_METRICS, NULL, &var_virtual_metrics, 0, 1024 },
		{ VAR_VIRT_MAILBOX_BASE, NULL, &var_virt_mailbox_base, 0,
		    VIRTUAL_PATH_MAX / 2 },
		PM_CFG_VIRT_MAILBOX_MAPS,
		{ VAR_VIRT_UID_MAPS, NULL, &var_virt_uid_maps, 0, 0 },
		{ VAR_VIRT_GID_MAPS, NULL, &var_virt_gid_maps, 0, 0 },
		{ VAR_VIRT_MAILBOX_LOCK, NULL, &var_virt_mailbox_lock, 1, 100 },
		PM_CFG_RCPT_DELIM,
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_VIRTUAL_SLOTS, DEF_VIRTUAL_SLOTS, &var_virtual_slots, 1,
		    1024 },
		{ VAR_VIRT_MINIMUM_UID, DEF_VIRT_MINIMUM_UID,
		    &var_virt_minimum_uid, 1, 0x7fffffff },
		{ VAR_VIRT_MAILBOX_LIMIT, DEF_VIRT_MAILBOX_LIMIT,
		    &var_virt_mailbox_limit, 0, 0x7fffffffL },
		PM_CFG_LOCK_ATTEMPTS,
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		PM_CFG_LOCK_DELAY,
		PM_CFG_STALE_LOCK_TIME,
		{ 0 },
	};
	/*
	 * Bound again on SIGHUP, then virtual_reload() opens the tables
	 * anew; jobs under way finish with the ones they started with
	 * (pm_snap). Every other parameter needs a restart.
	 */
	static const char *const reload_params[] = {
		VAR_VIRT_MAILBOX_MAPS,
		VAR_VIRT_UID_MAPS,
		VAR_VIRT_GID_MAPS,
		NULL,
	};
	static const pm_service svc = {
		.name = "virtual",
		.strs = strs,
		.ints = ints,
		.times = times,
		.metrics_param = VAR_VIRTUAL_METRICS,
		.post_init = virtual_init,
		.run = virtual_run,
		.fini = virtual_fini,
		.reload = virtual_reload,
		.reload_params = reload_params,
		.queue = 1,
	};

	return (pm_server_main(&svc, argc, argv));
}
