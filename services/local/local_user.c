/*
 * NAME
 *	local_user - who a local recipient is: uid, gid, home directory
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	Postfix local(8) knows users from the password file only. In a
 *	container there is no such file worth the name, so Postmesh takes
 *	them from local_recipient_maps, the table smtpd already consults
 *	(reject_unlisted_recipient), looked up with the user name (the
 *	local part without extension, lower case):
 *	  - value "uid:gid:home" (home may be empty): that identity, e.g. a
 *	    texthash:/etc/postmesh/users line "alice 1000:1000:/home/alice";
 *	  - any other value (inline:{alice=alice}, unix:passwd.byname,
 *	    whose value is the key): the password entry of that name
 *	    (getpwnam_r) when there is one, else default_privs with no
 *	    home directory (mail then goes to mail_spool_directory);
 *	  - no entry: unknown user.
 *	An empty local_recipient_maps means the password file alone.
 *	default_privs (a name or a number) is resolved once at start.
 * LIMITS
 *	getpwnam_r buffers up to 1 MiB; names up to LOCAL_NAME_MAX.
 * SECURITY
 *	Table values are operator data; uid 0 is refused for a recipient
 *	from a table ("uid:gid" with uid 0 would write as root: the
 *	recipient is deferred with "user lookup failure"), and a password
 *	entry with uid 0 (root) is delivered as default_privs, as
 *	Postfix does for root's commands and files.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"

uid_t local_nobody_uid = 65534;
gid_t local_nobody_gid = 65534;

int
local_user_parse(const char *value, local_user *u)
{
	char *end;
	unsigned long uid, gid;
	const char *p = value;

	if (*p < '0' || *p > '9') {
		return (PM_EINVAL);
	}
	errno = 0;
	uid = strtoul(p, &end, 10);
	if (errno != 0 || *end != ':' || uid > 0x7fffffffUL) {
		return (PM_EINVAL);
	}
	p = end + 1;
	if (*p < '0' || *p > '9') {
		return (PM_EINVAL);
	}
	gid = strtoul(p, &end, 10);
	if (errno != 0 || (*end != ':' && *end != 0) || gid > 0x7fffffffUL) {
		return (PM_EINVAL);
	}
	p = *end == ':' ? end + 1 : end;
	if (strlen(p) >= sizeof(u->home) || (*p != 0 && *p != '/')) {
		return (PM_EINVAL);
	}
	u->uid = (uid_t) uid;
	u->gid = (gid_t) gid;
	strcpy(u->home, p);
	return (0);
}

/* getpwnam_r: 0, PM_ENOENT, PM_EIO; root as default_privs if map_root. */
static int
user_passwd(const char *name, local_user *u, int map_root)
{
	struct passwd pw, *res = NULL;
	char stackbuf[4096], *buf = stackbuf;
	size_t size = sizeof(stackbuf);
	int rc;

	for (;;) {
		rc = getpwnam_r(name, &pw, buf, size, &res);
		if (rc != ERANGE || size >= 1024 * 1024) {
			break;
		}
		size *= 4;
		if (buf != stackbuf) {
			free(buf);
		}
		buf = pm_malloc(size);
	}
	if (rc == 0 && res != NULL) {
		u->uid = pw.pw_uid;
		u->gid = pw.pw_gid;
		if (u->uid == 0 && map_root) {
			/* Postfix: never deliver as root; default_privs */
			u->uid = local_nobody_uid;
			u->gid = local_nobody_gid;
		}
		snprintf(u->home, sizeof(u->home), "%s",
		    pw.pw_dir != NULL ? pw.pw_dir : "");
		rc = 0;
	} else if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF ||
	    rc == EPERM) {
		rc = PM_ENOENT;
	} else {
		rc = PM_EIO;
	}
	if (buf != stackbuf) {
		free(buf);
	}
	return (rc);
}

int
local_user_find(pm_tables *maps, const char *name, local_user *u)
{
	char *value = NULL;
	int rc;

	if (strlen(name) >= sizeof(u->name)) {
		return (PM_ENOENT);
	}
	memset(u, 0, sizeof(*u));
	strcpy(u->name, name);
	if (maps == NULL || pm_tables_count(maps) == 0) {
		return (user_passwd(name, u, 1));
	}
	if ((rc = pm_tables_get(maps, name, &value)) != 0) {
		return (rc);
	}
	if (local_user_parse(value, u) == 0) {
		rc = u->uid == 0 ? PM_EINVAL : 0;
	} else if ((rc = user_passwd(name, u, 1)) == PM_ENOENT) {
		u->uid = local_nobody_uid;
		u->gid = local_nobody_gid;
		u->home[0] = 0;
		rc = 0;
	}
	free(value);
	return (rc);
}

int
local_privs_init(const char *spec)
{
	local_user u;
	char *end;
	unsigned long id;

	if (*spec >= '0' && *spec <= '9') {
		id = strtoul(spec, &end, 10);
		if (*end != 0 || id == 0 || id > 0x7fffffffUL) {
			return (PM_EINVAL);
		}
		local_nobody_uid = (uid_t) id;
		local_nobody_gid = (gid_t) id;
		return (0);
	}
	if (user_passwd(spec, &u, 0) != 0 || u.uid == 0) {
		return (PM_EINVAL);
	}
	local_nobody_uid = u.uid;
	local_nobody_gid = u.gid;
	return (0);
}
