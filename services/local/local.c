/*
 * NAME
 *	local - Postmesh local delivery agent
 * SUMMARY
 *	local [-c config_dir] [-o name=value] [-v]
 * DESCRIPTION
 *	Postfix's local(8) as a pm_agent serving the transport "local"
 *	(local_transport = local:$myhostname): mail for the domains of
 *	mydestination. For each recipient of a job (local_alias.c):
 *	Delivered-To loop check, alias_maps (texthash:, redis: ...; with
 *	|command, /file, :include: and addresses, which are resubmitted
 *	through cleanup), the user from local_recipient_maps (local_user.c),
 *	optionally the user's .forward, then the mailbox: maildir or mbox
 *	(pm_mailbox) written as the user, or mailbox_command (pm_command);
 *	mailbox_transport(_maps) and, for users that do not exist,
 *	fallback_transport(_maps) hand the recipient to another transport
 *	through qmgr, and luser_relay forwards it (local_delegate.c).
 *	Each recipient gets one status for qmgr through pm_agent, which
 *	logs "QID: to=<u@d>, relay=local, delay=.., delays=.., dsn=2.0.0,
 *	status=sent (delivered to maildir)". docs/delivery.md ("## local")
 *	is the operator's page.
 *
 *	This file is the wiring: parameters, tables opened at start and
 *	again on SIGHUP (alias_maps, local_recipient_maps: a job holds the
 *	version it started with, pm_snap, so a reload never frees tables
 *	in use), the cleanup
 *	client for resubmissions, the bounce client for notices to owner-
 *	aliases (local_owner.c), and deliver(): read the content once per
 *	job, deliver recipient by recipient.
 * LIMITS
 *	local_delivery_slots jobs at once; the content is read whole
 *	(message_size_limit bounds it); see local_alias.c and
 *	local_target.c for the per-recipient limits.
 * SECURITY
 *	Runs as root to write as each user (local_priv.c: per-thread
 *	fsuid; commands in a child with setuid); without root every
 *	delivery has the agent's own identity. A root-owned target is
 *	never written for a recipient (uid 0 is refused as a user).
 */
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "local_params.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_mail_params.h"
#include "pm_mailbox.h"
#include "pm_metrics.h"
#include "pm_server.h"
#include "pm_server_queue.h"
#include "pm_snap.h"

char *var_local_metrics;
long var_local_slots;
char *var_alias_maps;
char *var_home_mailbox;
char *var_mail_spool_dir;
long var_mailbox_limit;
char *var_mailbox_command;
char *var_mailbox_transp;
char *var_mbox_transp_maps;
char *var_fallback_transp;
char *var_fbck_transp_maps;
char *var_luser_relay;
char *var_allow_commands;
char *var_allow_files;
char *var_forward_path;
char *var_prop_unmatch_ext;
int var_exp_own_alias;
int var_ownreq_special;
long var_command_maxtime;
char *var_cmd_exp_filter;
char *var_mailbox_lock;
char *var_default_privs;
long var_local_recursion;
long var_local_expansion;
long var_local_cleanup_tmout;

extern unsigned local_allow_commands;
extern unsigned local_allow_files;
extern unsigned local_prop_ext;
extern int local_mbox_locks;

/*
 * "alias, forward, include" into LOCAL_FROM_* bits; other words
 * (canonical, virtual: cleanup's) are ignored. -1 on a bad word when
 * strict.
 */
static int
local_classes(const char *value, int strict, unsigned *bits)
{
	char *copy = pm_strdup(value), *p, *save = NULL, *w;
	int rc = 0;

	*bits = 0;
	for (p = copy; (w = strtok_r(p, ", \t", &save)) != NULL; p = NULL) {
		if (strcmp(w, "alias") == 0) {
			*bits |= LOCAL_FROM_ALIAS;
		} else if (strcmp(w, "forward") == 0) {
			*bits |= LOCAL_FROM_FORWARD;
		} else if (strcmp(w, "include") == 0) {
			*bits |= LOCAL_FROM_INCLUDE;
		} else if (strict) {
			rc = -1;
		}
	}
	free(copy);
	return (rc);
}

static void
local_maps_free(void *obj)
{
	local_maps *mp = obj;

	if (mp != NULL) {
		pm_tables_close(mp->alias);
		pm_tables_close(mp->rcpt);
		free(mp);
	}
}

/* The tables in use; SIGHUP swaps in new ones, a job keeps its own. */
static pm_snap local_maps_cur = PM_SNAP_INIT(local_maps_free);

/* Open alias_maps and local_recipient_maps; NULL after an error. */
static local_maps *
local_maps_new(void)
{
	local_maps *mp = pm_calloc(1, sizeof(*mp));
	const char *err = NULL;

	if ((mp->alias = pm_tables_open(var_alias_maps, &err)) == NULL) {
		pm_msg_error("%s = %s: %s", VAR_ALIAS_MAPS, var_alias_maps,
		    err ? err : "error");
	} else if ((mp->rcpt = pm_tables_open(var_local_rcpt_maps, &err)) ==
	    NULL) {
		pm_msg_error("%s = %s: %s", VAR_LOCAL_RCPT_MAPS,
		    var_local_rcpt_maps, err ? err : "error");
	} else {
		return (mp);
	}
	local_maps_free(mp);
	return (NULL);
}

static void
local_reload(void)
{
	local_maps *mp = local_maps_new();

	if (mp == NULL) {
		pm_msg_warn("reload failed; keeping the old tables");
		pm_server_reload_failed();
		return;
	}
	pm_snap_set(&local_maps_cur, mp);
	pm_msg_info("reload: tables reopened");
}

static void *
local_thread_init(void)
{
	return (pm_server_qstore_must());
}

static void
local_thread_fini(void *ctx)
{
	if (ctx != NULL) {
		pm_qstore_close(ctx);
	}
}

static void
local_deliver(void *ctx, pm_job *job)
{
	local_msg m;
	local_state s;
	pm_snap_ref *ref;
	char *data = NULL;
	size_t len = 0, i;
	int rc;

	strcpy(job->relay, "local");
	job->conn_ms = job->xfer_ms = 0;
	job->dest_failed = 0;
	memset(&m, 0, sizeof(m));
	if ((rc = pm_agent_body_env(job, local_cenv_fields, LOCAL_CENV_N,
	         m.cenv, &data, &len)) != 0) {
		pm_job_set_all(job, PM_JOB_DEFERRED, "4.3.0",
		    "cannot read the message content: %s", pm_strerror(rc));
		return;
	}
	m.job = job;
	m.content = data;
	m.len = len;
	ref = pm_snap_get(&local_maps_cur);
	for (i = 0; i < job->nrcpt; i++) {
		if (job->rcpt[i].status != PM_JOB_NONE) {
			continue;
		}
		memset(&s, 0, sizeof(s));
		s.m = &m;
		s.maps = ref->obj;
		s.r = &job->rcpt[i];
		s.rcpt = job->rcpt[i].address;
		s.sender = job->sender;
		s.status = PM_JOB_SENT;
		pm_buf_init(&s.done, 0);
		local_once_begin(&s, ctx);
		local_deliver_rcpt(&s, s.rcpt);
		if (s.nfwd > 0) {
			local_forward_flush(&s);
		}
		local_owner_flush(&s);
		/* bounces of a redirected recipient: told now, then passed */
		local_fails_flush(&s);
		if (s.status != PM_JOB_SENT) {
			/* a deferral drops the redirect: the retry redoes it */
			pm_job_set(s.r, s.status, s.dsn, "%s", s.why);
		} else if (s.redirect) {
			/* qmgr passes it on; the other targets are done */
			if (s.done.len > 0) {
				pm_msg_info(
				    "%s: to=<%s>: %.*s; mailbox delivery "
				    "passed to %s",
				    job->queue_id, s.rcpt, (int) s.done.len,
				    s.done.data, s.rd_transport);
			}
			if (pm_job_redirect(s.r, s.rd_transport,
			        s.rd_nexthop) != 0) {
				pm_job_set(s.r, PM_JOB_DEFERRED, "4.3.5",
				    "cannot pass to %s", s.rd_transport);
			} else {
				pm_metric_inc(s.rd_count);
			}
		} else if (s.done.len > 0) {
			pm_buf_append(&s.done, "", 1);
			pm_job_set(s.r, PM_JOB_SENT, "2.0.0", "%s",
			    s.done.data);
		} else {
			pm_job_set(s.r, PM_JOB_SENT, "2.0.0",
			    "alias expanded to nothing");
		}
		while (s.nseen > 0) {
			free(s.seen[--s.nseen]);
		}
		pm_buf_free(&s.done);
	}
	pm_snap_put(&local_maps_cur, ref);
	free(data);
	for (i = 0; i < LOCAL_CENV_N; i++) {
		free(m.cenv[i]);
	}
}

static const char *const local_transports[] = { "local", NULL };

static const pm_agent local_agent = {
	.name = "local",
	.transports = local_transports,
	.slots_param = VAR_LOCAL_SLOTS,
	.thread_init = local_thread_init,
	.thread_fini = local_thread_fini,
	.deliver = local_deliver,
};

static int
local_pre_init(void)
{
	unsigned ignore;

	if (local_delegate_init() != 0) {
		return (-1);
	}
	if (local_classes(var_allow_commands, 1, &local_allow_commands) ||
	    local_classes(var_allow_files, 1, &local_allow_files)) {
		pm_msg_error("%s, %s: only alias, forward, include",
		    VAR_ALLOW_COMMANDS, VAR_ALLOW_FILES);
		return (-1);
	}
	(void) local_classes(var_prop_unmatch_ext, 0, &local_prop_ext);
	local_prop_ext &= LOCAL_FROM_ALIAS | LOCAL_FROM_FORWARD;
	(void) ignore;
	if (pm_mbox_lock_parse(var_mailbox_lock, &local_mbox_locks) != 0) {
		pm_msg_error("bad %s = %s", VAR_MAILBOX_LOCK, var_mailbox_lock);
		return (-1);
	}
	if (local_privs_init(var_default_privs) != 0) {
		pm_msg_error("%s = %s: no such user (or root)",
		    VAR_DEFAULT_PRIVS, var_default_privs);
		return (-1);
	}
	if (!local_priv_root()) {
		pm_msg_warn("not running as root: every delivery runs as "
		            "uid %u",
		    (unsigned) getuid());
	}
	/* a write over RLIMIT_FSIZE must fail with EFBIG, not kill us */
	signal(SIGXFSZ, SIG_IGN);
	local_maps *mp = local_maps_new();
	if (mp == NULL) {
		return (-1);
	}
	pm_snap_set(&local_maps_cur, mp);
	local_cleanup = pm_cleanup_clnt_new(var_cleanup_service,
	    (size_t) var_message_size_limit,
	    (int) (var_local_cleanup_tmout * 1000));
	if (local_cleanup == NULL) {
		pm_msg_error("cannot use %s = %s", VAR_CLEANUP_SERVICE,
		    var_cleanup_service);
		return (-1);
	}
	local_rewrite = pm_rewrite_clnt_new(var_rewrite_service,
	    (int) (var_local_cleanup_tmout * 1000));
	if (local_rewrite == NULL) {
		pm_msg_error("cannot use %s = %s", VAR_REWRITE_SERVICE,
		    var_rewrite_service);
		return (-1);
	}
	local_bounce = pm_bounce_clnt_new(var_bounce_service,
	    (int) (var_local_cleanup_tmout * 1000));
	if (local_bounce == NULL) {
		pm_msg_error("cannot use %s = %s", VAR_BOUNCE_SERVICE,
		    var_bounce_service);
		return (-1);
	}
	return (0);
}

static void
local_fini(void)
{
	pm_cleanup_clnt_free(local_cleanup);
	local_cleanup = NULL;
	pm_bounce_clnt_free(local_bounce);
	local_bounce = NULL;
	pm_rewrite_clnt_free(local_rewrite);
	local_rewrite = NULL;
	pm_snap_set(&local_maps_cur, NULL);
	local_delegate_fini();
}

static int
local_run(void)
{
	return (pm_agent_run(&local_agent));
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_LOCAL_METRICS, NULL, &var_local_metrics, 0, 1024 },
		{ VAR_ALIAS_MAPS, NULL, &var_alias_maps, 0, 0 },
		PM_CFG_LOCAL_RCPT_MAPS,
		PM_CFG_RCPT_DELIM,
		PM_CFG_BOUNCE_SERVICE,
		{ VAR_HOME_MAILBOX, DEF_HOME_MAILBOX, &var_home_mailbox, 0,
		    1024 },
		{ VAR_MAIL_SPOOL_DIR, DEF_MAIL_SPOOL_DIR, &var_mail_spool_dir,
		    1, 1024 },
		{ VAR_MAILBOX_COMMAND, DEF_MAILBOX_COMMAND,
		    &var_mailbox_command, 0, 4096 },
		{ VAR_MAILBOX_TRANSP, DEF_MAILBOX_TRANSP, &var_mailbox_transp,
		    0, 1024 },
		{ VAR_MBOX_TRANSP_MAPS, DEF_MBOX_TRANSP_MAPS,
		    &var_mbox_transp_maps, 0, 0 },
		{ VAR_FALLBACK_TRANSP, DEF_FALLBACK_TRANSP,
		    &var_fallback_transp, 0, 1024 },
		{ VAR_FBCK_TRANSP_MAPS, DEF_FBCK_TRANSP_MAPS,
		    &var_fbck_transp_maps, 0, 0 },
		{ VAR_LUSER_RELAY, DEF_LUSER_RELAY, &var_luser_relay, 0, 1024 },
		{ VAR_ALLOW_COMMANDS, DEF_ALLOW_COMMANDS, &var_allow_commands,
		    0, 256 },
		{ VAR_ALLOW_FILES, DEF_ALLOW_FILES, &var_allow_files, 0, 256 },
		{ VAR_FORWARD_PATH, DEF_FORWARD_PATH, &var_forward_path, 0,
		    4096 },
		{ VAR_PROP_UNMATCH_EXT, DEF_PROP_UNMATCH_EXT,
		    &var_prop_unmatch_ext, 0, 256 },
		{ VAR_MAILBOX_LOCK, DEF_MAILBOX_LOCK, &var_mailbox_lock, 1,
		    256 },
		{ VAR_DEFAULT_PRIVS, DEF_DEFAULT_PRIVS, &var_default_privs, 1,
		    256 },
		{ VAR_CMD_EXP_FILTER, DEF_CMD_EXP_FILTER, &var_cmd_exp_filter,
		    0, 1024 },
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_LOCAL_SLOTS, DEF_LOCAL_SLOTS, &var_local_slots, 1, 1024 },
		{ VAR_MAILBOX_LIMIT, DEF_MAILBOX_LIMIT, &var_mailbox_limit, 0,
		    0 },
		{ VAR_LOCAL_RECURSION, DEF_LOCAL_RECURSION,
		    &var_local_recursion, 1, 1000 },
		{ VAR_LOCAL_EXPANSION, DEF_LOCAL_EXPANSION,
		    &var_local_expansion, 1, 100000 },
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		PM_CFG_MAX_QUEUE_TIME,
		{ VAR_COMMAND_MAXTIME, DEF_COMMAND_MAXTIME,
		    &var_command_maxtime, 's', 1, 86400 },
		{ VAR_LOCAL_CLEANUP_TMOUT, DEF_LOCAL_CLEANUP_TMOUT,
		    &var_local_cleanup_tmout, 's', 1, 3600 },
		{ 0 },
	};
	static const pm_cfg_bool bools[] = {
		{ VAR_EXP_OWN_ALIAS, DEF_EXP_OWN_ALIAS, &var_exp_own_alias },
		{ VAR_OWNREQ_SPECIAL, DEF_OWNREQ_SPECIAL, &var_ownreq_special },
		{ 0 },
	};
	/*
	 * Bound again on SIGHUP, then local_reload() opens the tables
	 * anew; jobs under way finish with the tables they started with
	 * (pm_snap). Every other parameter needs a restart.
	 */
	static const char *const reload_params[] = {
		VAR_ALIAS_MAPS,
		VAR_LOCAL_RCPT_MAPS,
		NULL,
	};
	static const pm_service svc = {
		.name = "local",
		.strs = strs,
		.ints = ints,
		.times = times,
		.bools = bools,
		.metrics_param = VAR_LOCAL_METRICS,
		.pre_init = local_pre_init,
		.run = local_run,
		.fini = local_fini,
		.reload = local_reload,
		.reload_params = reload_params,
		.queue = 1,
	};

	return (pm_server_main(&svc, argc, argv));
}
