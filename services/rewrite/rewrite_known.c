/*
 * NAME
 *	rewrite_known - is a recipient known in its address class?
 * SUMMARY
 *	#include "rewrite_int.h"
 * DESCRIPTION
 *	pm__resolve_find() is Postfix's mail_addr_find(): it looks an
 *	address up in a table list as user+ext@domain, user@domain (without
 *	the recipient_delimiter extension), user+ext and user (local part,
 *	when asked), then @domain (when asked).
 *
 *	pm__resolve_known() answers check_known for smtpd's
 *	reject_unlisted_recipient, per class (as Postfix smtpd_check.c):
 *	- every class but default: a virtual_alias_maps entry for the
 *	  address makes it known (cleanup will rewrite it);
 *	- local: "postmaster" is always known (RFC 5321 4.5.1); an empty
 *	  local_recipient_maps makes every local part known; else the
 *	  address or its local part must be in local_recipient_maps;
 *	- virtual alias: virtual_alias_maps (address or @domain);
 *	- virtual mailbox: virtual_mailbox_maps (address or @domain);
 *	- relay: an empty relay_recipient_maps makes every address known,
 *	  else the address or @domain must be there;
 *	- default: known (the remote side decides).
 *	Unknown recipients get RESOLVE_UNKNOWN and Postfix's text ("User
 *	unknown in ... table"); a lookup error gets RESOLVE_ERROR and
 *	"Temporary lookup failure" (smtpd answers 451 4.3.0).
 * LIMITS
 *	Lookup keys are at most PM_RESOLVE_ADDR_MAX + 1 bytes (the address
 *	was bounded by rewrite_canon.c).
 * SECURITY
 *	The address is canonical and syntax-checked; table results are
 *	operator data.
 */
#include "rewrite_int.h"
#include "pm_util.h"

#include <stdlib.h>
#include <string.h>

/* Length of the local part without its extension (first delimiter). */
static size_t
rs_base_len(pm_resolve *r, const char *local, size_t len)
{
	size_t i;

	if (r->rcpt_delim[0] == 0) {
		return (len);
	}
	for (i = 1; i < len; i++) {
		if (strchr(r->rcpt_delim, local[i]) != NULL) {
			return (i);
		}
	}
	return (len);
}

int
pm__resolve_find(pm_resolve *r, pm_tables *ts, const char *param,
    const char *addr, int strategy, char **value)
{
	const char *at = pm__resolve_at(addr);
	size_t llen, blen;
	char *key;
	int rc = PM_ENOENT;

	if (ts == NULL || at == NULL) {
		return (PM_ENOENT);
	}
	llen = (size_t) (at - addr);
	blen = rs_base_len(r, addr, llen);

#define RS_TRY(k) \
	do { \
		key = (k); \
		rc = pm__resolve_get(ts, param, key, value); \
		free(key); \
		if (rc != PM_ENOENT) { \
			return (rc); \
		} \
	} while (0)

	if (strategy & PM__FIND_FULL) {
		RS_TRY(pm_strdup(addr));
	}
	if ((strategy & PM__FIND_NOEXT) && blen < llen) {
		RS_TRY(pm_asprintf("%.*s%s", (int) blen, addr, at));
	}
	if (strategy & PM__FIND_LOCALPART) {
		RS_TRY(pm_strndup(addr, llen));
		if (blen < llen) {
			RS_TRY(pm_strndup(addr, blen));
		}
	}
	if (strategy & PM__FIND_ATDOMAIN) {
		RS_TRY(pm_strdup(at));
	}
#undef RS_TRY
	return (rc);
}

/* 0 found, PM_ENOENT not found, other: error. */
static int
rs_in(pm_resolve *r, pm_tables *ts, const char *param, const char *addr,
    int strategy)
{
	char *v = NULL;
	int rc;

	rc = pm__resolve_find(r, ts, param, addr, strategy, &v);
	free(v);
	return (rc);
}

static void
rs_set_text(pm_resolved *res, const char *text)
{
	free(res->text);
	res->text = pm_strdup(text);
}

void
pm__resolve_known(pm_resolve *r, pm_resolved *res)
{
	const char *addr = res->recipient, *at = pm__resolve_at(addr);
	const char *unknown = NULL;
	size_t llen, blen;
	int rc = PM_ENOENT;

	if (at == NULL) {
		res->flags |= PM_RESOLVE_KNOWN;
		return;
	}
	llen = (size_t) (at - addr);
	blen = rs_base_len(r, addr, llen);

	/* Virtual aliases are expanded for every domain (cleanup). */
	if (res->addr_class != PM_CLASS_DEFAULT) {
		rc = rs_in(r, r->virt_alias_maps, VAR_VIRT_ALIAS_MAPS, addr,
		    PM__FIND_FULL | PM__FIND_NOEXT |
		        (res->addr_class == PM_CLASS_VIRTUAL_ALIAS ?
		                PM__FIND_ATDOMAIN :
		                0));
	}
	if (rc != PM_ENOENT) {
		goto done;
	}
	switch (res->addr_class) {
	case PM_CLASS_LOCAL:
		if ((llen == 10 && pm_strncaseeq(addr, "postmaster", 10)) ||
		    (blen == 10 && pm_strncaseeq(addr, "postmaster", 10)) ||
		    r->local_rcpt_maps == NULL) {
			rc = 0;
			break;
		}
		rc = rs_in(r, r->local_rcpt_maps, VAR_LOCAL_RCPT_MAPS, addr,
		    PM__FIND_FULL | PM__FIND_NOEXT | PM__FIND_LOCALPART);
		unknown = "User unknown in local recipient table";
		break;
	case PM_CLASS_VIRTUAL_ALIAS:
		unknown = "User unknown in virtual alias table";
		break;
	case PM_CLASS_VIRTUAL_MAILBOX:
		rc = rs_in(r, r->virt_mailbox_maps, VAR_VIRT_MAILBOX_MAPS, addr,
		    PM__FIND_FULL | PM__FIND_NOEXT | PM__FIND_ATDOMAIN);
		unknown = "User unknown in virtual mailbox table";
		break;
	case PM_CLASS_RELAY:
		if (r->relay_rcpt_maps == NULL) {
			rc = 0;
			break;
		}
		rc = rs_in(r, r->relay_rcpt_maps, VAR_RELAY_RCPT_MAPS, addr,
		    PM__FIND_FULL | PM__FIND_NOEXT | PM__FIND_ATDOMAIN);
		unknown = "User unknown in relay recipient table";
		break;
	default:
		rc = 0;
		break;
	}

done:
	if (rc == 0) {
		res->flags |= PM_RESOLVE_KNOWN;
	} else if (rc == PM_ENOENT) {
		res->flags |= PM_RESOLVE_UNKNOWN;
		rs_set_text(res, unknown != NULL ? unknown : "User unknown");
	} else {
		res->flags |= PM_RESOLVE_ERROR;
		rs_set_text(res, "Temporary lookup failure");
	}
}
