/*
 * NAME
 *	local_priv - write files as the recipient (per-thread fsuid)
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	Mailboxes and /file targets are written with the recipient's
 *	identity, as Postfix local(8) does with set_eugid(). Postmesh
 *	delivers on several worker threads of one process, so it cannot
 *	change the process's uid; it changes the thread's file system
 *	identity instead: setfsuid()/setfsgid() are per thread on Linux
 *	(glibc does not broadcast them to the other threads, unlike
 *	setuid()), and a non-zero fsuid drops the file system capabilities
 *	(CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_FOWNER) of that thread only. So
 *	open(), link(), rename(), mkdir() and the dotlock are checked and
 *	owned as the user. Supplementary groups are not set (they are
 *	process-wide): a mailbox needs the user's primary group at most.
 *	Commands run in a child that sets its real uid (pm_command).
 *	Not root (a container run as the service user): every delivery
 *	runs with the process's own identity, and local_priv_set() is a
 *	no-op.
 * LIMITS
 *	None.
 * SECURITY
 *	local_priv_set() checks that the switch took (setfsuid returns the
 *	old value: asked again, it must return the new one) and refuses
 *	uid 0 as a target identity.
 */
#include <sys/fsuid.h>
#include <unistd.h>

#include "local.h"

int
local_priv_root(void)
{
	return (geteuid() == 0);
}

int
local_priv_set(uid_t uid, gid_t gid)
{
	if (!local_priv_root()) {
		return (0);
	}
	if (uid == 0) {
		return (PM_EIO);
	}
	(void) setfsgid(gid);
	(void) setfsuid(uid);
	if ((uid_t) setfsuid(uid) != uid || (gid_t) setfsgid(gid) != gid) {
		local_priv_restore();
		return (PM_EIO);
	}
	return (0);
}

void
local_priv_restore(void)
{
	if (local_priv_root()) {
		(void) setfsuid(0);
		(void) setfsgid(0);
	}
}
