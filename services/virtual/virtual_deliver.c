/*
 * NAME
 *	virtual_deliver - deliver to one virtual mailbox as its owner
 * SUMMARY
 *	#include "virtual.h"
 *	virtual_deliver_rcpt(&cfg, job, rcpt, data, len);
 * DESCRIPTION
 *	As Postfix's virtual(8) deliver_recipient() and deliver_mailbox()
 *	(which have no Delivered-To: loop test; only local(8), pipe's
 *	flag D and smtp/lmtp have one): the recipient is looked
 *	up in virtual_mailbox_maps (user+ext@domain, user@domain, @domain:
 *	pm_tables_find_mailaddr()); not found: bounce 5.1.1 "User unknown
 *	in virtual mailbox table". The result, relative to
 *	virtual_mailbox_base, names a maildir (trailing "/") or an mbox
 *	file. The owner comes from virtual_uid_maps and virtual_gid_maps
 *	(same lookup order; "static:1234" is the usual value). Then the
 *	message is written with pm_maildir_deliver()/pm_mbox_deliver()
 *	while this thread's file system uid and gid are the owner's.
 *	A failure is reported as Postfix's virtual(8) does: the status
 *	comes from pm_mailbox_errno_dsn() over "4.2.0" (the mailbox or a
 *	maildir file cannot be opened or created: defer, as the mailbox
 *	location is the administrator's) or "5.3.0" (the message cannot be
 *	written: bounce), so ENOSPC defers 4.3.0 and EDQUOT/EFBIG bounce
 *	5.2.2 either way; the text is prefixed "delivery failed to
 *	mailbox PATH: " or "maildir delivery failed: " (with Postfix's two
 *	warnings on EACCES).
 *	An address verification probe (PM_MSG_PROBE) goes through the
 *	look-ups (an unknown user is undeliverable, a bad uid or path
 *	defers) and stops before the write: "delivers to maildir" or
 *	"delivers to mailbox", as Postfix's virtual(8) in verify mode
 *	(no mailbox size check: nothing is written).
 *
 *	Privileges: the agent is multithreaded (virtual_delivery_slots
 *	workers). setuid()/setgid() would change every thread (glibc
 *	broadcasts them), and fork() per delivery in a threaded process
 *	is costly and fragile. Linux's setfsuid()/setfsgid() change only
 *	the calling thread's file system ids (glibc does not broadcast
 *	them), which are what the kernel checks and records for file
 *	access and creation; setting a non-zero fsuid also drops the
 *	thread's file capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER, ...),
 *	so the writer can do no more than the owner could. Each worker
 *	drops its supplementary groups once (raw setgroups syscall, which
 *	is per thread too; glibc's setgroups() is process-wide) so root's
 *	groups never count. After each recipient the ids go back to the
 *	process's; a failure to switch back is a bug (pm_panic). Nothing
 *	else runs in the thread while it wears the owner's ids, and no
 *	code of the owner's runs at all (no command, no .forward).
 * LIMITS
 *	virtual_minimum_uid (uid below it: defer 4.3.5), gid must be > 0,
 *	virtual_mailbox_limit (5.2.2), deliver_lock_attempts x
 *	deliver_lock_delay (mbox lock wait, 4.2.0), stale_lock_time.
 * SECURITY
 *	The recipient comes from qmgr; table results are operator data
 *	(virtual_path() refuses ".." and control characters). A process
 *	that is not root can only deliver as its own uid/gid: the switch
 *	is verified and a failure defers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pm_log.h"
#include "pm_mailbox.h"
#include "pm_msgflags.h"
#include "pm_table_mailaddr.h"
#include "pm_util.h"
#include "virtual.h"

void
virtual_thread_creds(void)
{
	if (geteuid() == 0 && syscall(SYS_setgroups, 0, NULL) != 0) {
		pm_msg_warn("cannot drop supplementary groups: %s",
		    strerror(errno));
	}
}

/* This thread's fsuid/fsgid; 0 or -1 (nothing changed). */
static int
virtual_become(uid_t uid, gid_t gid)
{
	gid_t old_gid = (gid_t) setfsgid((gid_t) -1);

	setfsgid(gid);
	if ((gid_t) setfsgid((gid_t) -1) != gid) {
		return (-1);
	}
	setfsuid(uid);
	if ((uid_t) setfsuid((uid_t) -1) != uid) {
		setfsgid(old_gid);
		return (-1);
	}
	return (0);
}

static void
virtual_unbecome(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();

	setfsuid(uid);
	setfsgid(gid);
	if ((uid_t) setfsuid((uid_t) -1) != uid ||
	    (gid_t) setfsgid((gid_t) -1) != gid) {
		pm_panic("virtual: cannot restore file system uid/gid");
	}
}

/* A uid or gid lookup: 0, or the recipient's status is set. */
static int
virtual_id(const virtual_cfg *cfg, pm_tables *ts, const char *param,
    pm_job_rcpt *r, long min, long *id)
{
	char *v = NULL;
	int rc;

	rc = pm_tables_find_mailaddr(ts, r->address, cfg->rcpt_delim, &v);
	if (rc == PM_ENOENT) {
		pm_msg_warn("recipient %s: not found in %s", r->address, param);
		pm_job_set(r, PM_JOB_DEFERRED, "4.3.5",
		    "mail system configuration error");
		return (-1);
	}
	if (rc != 0) {
		pm_job_set(r, PM_JOB_DEFERRED, "4.3.0",
		    "%s: temporary lookup failure", param);
		return (-1);
	}
	if (virtual_id_parse(v, min, id) != 0) {
		pm_msg_warn("recipient %s: bad %s result \"%s\" (minimum %ld)",
		    r->address, param, pm_printable(v), min);
		pm_job_set(r, PM_JOB_DEFERRED, "4.3.5",
		    "mail system configuration error");
		free(v);
		return (-1);
	}
	free(v);
	return (0);
}

void
virtual_deliver_rcpt(const virtual_cfg *cfg, const pm_job *j, pm_job_rcpt *r,
    const char *data, size_t len)
{
	pm_mailbox_msg m = { j->sender, r->address, data, len };
	pm_mailbox_opts o = {
		.size_limit = cfg->size_limit,
		.lock_wait_ms = cfg->lock_wait_ms,
		.locks = cfg->locks,
		.stale_lock_s = cfg->stale_lock_s,
		.instance = cfg->instance,
		.open_dsn = "4.2.0", /* virtual(8)'s mbox_open(), maildir.c */
	};
	pm_mailbox_status st;
	char path[VIRTUAL_PATH_MAX + 1], id[160];
	const char *why;
	char *rel = NULL;
	long uid, gid;
	int rc, maildir;

	/* the ledger key: this recipient of this message, any attempt */
	snprintf(id, sizeof(id), "%s.%u", j->queue_id, r->index);
	o.delivery_id = id;
	rc = pm_tables_find_mailaddr(cfg->mailbox_maps, r->address,
	    cfg->rcpt_delim, &rel);
	if (rc == PM_ENOENT) {
		pm_job_set(r, PM_JOB_BOUNCED, "5.1.1",
		    "User unknown in virtual mailbox table");
		return;
	}
	if (rc == PM_EINVAL) {
		pm_job_set(r, PM_JOB_BOUNCED, "5.1.3", "bad address syntax");
		return;
	}
	if (rc != 0) {
		pm_job_set(r, PM_JOB_DEFERRED, "4.3.0",
		    "virtual_mailbox_maps: temporary lookup failure");
		return;
	}
	rc = virtual_path(cfg->base, rel, path, sizeof(path), &maildir, &why);
	if (rc != 0) {
		pm_msg_warn("recipient %s: bad virtual_mailbox_maps result: %s",
		    r->address, why);
		pm_job_set(r, PM_JOB_DEFERRED, "4.3.5",
		    "mail system configuration error");
		free(rel);
		return;
	}
	free(rel);
	if (virtual_id(cfg, cfg->uid_maps, "virtual_uid_maps", r,
	        cfg->minimum_uid, &uid) != 0 ||
	    virtual_id(cfg, cfg->gid_maps, "virtual_gid_maps", r, 1, &gid) !=
	        0) {
		return;
	}
	if (j->flags & PM_MSG_PROBE) {
		/* Postfix's verify mode: what it would do, nothing written */
		pm_job_set(r, PM_JOB_SENT, "2.0.0", "delivers to %s",
		    maildir ? "maildir" : "mailbox");
		return;
	}
	if (virtual_become((uid_t) uid, (gid_t) gid) != 0) {
		pm_msg_warn("recipient %s: cannot switch to uid %ld gid %ld "
		            "(not root?)",
		    r->address, uid, gid);
		pm_job_set(r, PM_JOB_DEFERRED, "4.3.0",
		    "cannot switch to the mailbox owner");
		return;
	}
	if (maildir) {
		rc = pm_maildir_deliver(path, &m, &o, &st);
	} else {
		rc = pm_mbox_deliver(path, &m, &o, &st);
	}
	virtual_unbecome();
	if (rc == 0) {
		if (st.again) {
			pm_msg_info("%s: to=<%s>: found in %s from an earlier "
			            "attempt: not written again",
			    j->queue_id, r->address, path);
		}
		pm_job_set(r, PM_JOB_SENT, "2.0.0", "%s", st.text);
	} else if (maildir) {
		/* Postfix's virtual/maildir.c: warn on EACCES */
		if (st.err == EACCES) {
			pm_msg_warn(
			    "maildir access problem for UID/GID=%ld/%ld: "
			    "%s",
			    uid, gid, st.text);
			pm_msg_warn("perhaps you need to create the maildirs "
			            "in advance");
		}
		pm_job_set(r,
		    st.dsn[0] == '5' ? PM_JOB_BOUNCED : PM_JOB_DEFERRED, st.dsn,
		    "maildir delivery failed: %s", st.text);
	} else {
		pm_job_set(r,
		    st.dsn[0] == '5' ? PM_JOB_BOUNCED : PM_JOB_DEFERRED, st.dsn,
		    "delivery failed to mailbox %s: %s", path, st.text);
	}
}
