/*
 * NAME
 *	smtpd_access_login - reject_sender_login_mismatch and its variants
 * DESCRIPTION
 *	Postfix's smtpd_sender_login_maps restrictions (smtpd_check.c
 *	reject_auth_sender_login_mismatch / reject_unauth_sender_login_
 *	mismatch). The owners of the MAIL FROM address are looked up in
 *	smtpd_sender_login_maps with the full address, then "@domain"; the
 *	result lists SASL login names (comma or space separated), compared
 *	case-insensitively with the client's login.
 *	  authenticated:   reject when the login is not an owner (an
 *	                   address with no owner too, except for
 *	                   reject_known_sender_login_mismatch):
 *	                   "553 5.7.1 <addr>: Sender address rejected: not
 *	                   owned by user X".
 *	  unauthenticated: reject when the address has an owner:
 *	                   "553 5.7.1 <addr>: Sender address rejected: not
 *	                   logged in".
 *	reject_sender_login_mismatch and reject_known_... do both. The
 *	null sender is never checked. A lookup error answers 451 4.3.0.
 * LIMITS
 *	An owner list is read up to its first 100 names.
 * SECURITY
 *	The sender was syntax-checked by pm_addr; the login name has no
 *	control characters (pm_sasl_user_ok); both only compared and
 *	echoed.
 */
#include "smtpd_access_priv.h"
#include "pm_log.h"
#include "pm_util.h"

#include <stdlib.h>
#include <string.h>

#define LOGIN_OWNERS_MAX 100

/* Owners of sender: 0 and *owners (new string), PM_ENOENT, or error. */
static int
login_owners(const pm_access *a, const char *sender, char **owners)
{
	const char *at;
	int rc;

	if (a->login_maps == NULL) {
		return (PM_ENOENT);
	}
	rc = pm_tables_get(a->login_maps, sender, owners);
	if (rc == PM_ENOENT && (at = strrchr(sender, '@')) != NULL) {
		rc = pm_tables_get(a->login_maps, at, owners);
	}
	return (rc);
}

static int
login_owned_by(char *owners, const char *user)
{
	char *save = NULL;
	char *name;
	int n = 0;

	for (name = strtok_r(owners, ", \t", &save);
	     name != NULL && n < LOGIN_OWNERS_MAX;
	     name = strtok_r(NULL, ", \t", &save), n++) {
		if (pm_strcaseeq(name, user)) {
			return (1);
		}
	}
	return (0);
}

int
pm__access_login_mismatch(pm__actx *c, int op)
{
	const pm_access_state *st = c->st;
	const char *user = st->sasl_authenticated ? st->sasl_username : NULL;
	char *owners = NULL;
	int rc;
	int owned;

	if (st->sender == NULL || *st->sender == 0) {
		return (PM__DUNNO);
	}
	if (user == NULL && op == PM__R_AUTH_SENDER_LOGIN) {
		return (PM__DUNNO);
	}
	if (user != NULL && op == PM__R_UNAUTH_SENDER_LOGIN) {
		return (PM__DUNNO);
	}
	rc = login_owners(c->a, st->sender, &owners);
	if (rc != 0 && rc != PM_ENOENT) {
		pm_msg_warn("smtpd_sender_login_maps: lookup of %s failed: %s",
		    st->sender, pm_strerror(rc));
		return (pm__access_reply(c, 451, "4.3.0",
		    "<%s>: Sender address rejected: Temporary lookup failure",
		    st->sender));
	}
	if (user == NULL) {
		free(owners);
		if (rc == PM_ENOENT) {
			return (PM__DUNNO);
		}
		return (pm__access_reply(c, 553, "5.7.1",
		    "<%s>: Sender address rejected: not logged in",
		    st->sender));
	}
	if (rc == PM_ENOENT && op == PM__R_KNOWN_SENDER_LOGIN) {
		return (PM__DUNNO);
	}
	owned = rc == 0 && login_owned_by(owners, user);
	free(owners);
	if (owned) {
		return (PM__DUNNO);
	}
	return (pm__access_reply(c, 553, "5.7.1",
	    "<%s>: Sender address rejected: not owned by user %s", st->sender,
	    user));
}
