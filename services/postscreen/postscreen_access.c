/*
 * NAME
 *	postscreen_access - postscreen_access_list
 * DESCRIPTION
 *	As Postfix: a list, separated by commas or white space, of
 *	"permit_mynetworks" (the client is in mynetworks: permit) and
 *	lookup tables ("cidr:/etc/postmesh/postscreen_access.cidr", or
 *	any pm_table type) looked up with the client address, whose
 *	result is "permit", "reject" or "dunno" (case-insensitive; any
 *	other result is warned about and taken as dunno). The first
 *	permit or reject decides; nothing found is dunno.
 *	At SIGHUP psc_access_build() opens everything again on the signal
 *	thread (a list that does not open keeps the old one) and
 *	psc_access_install() puts it in place on the event loop, the
 *	only thread that reads the list (postscreen.c).
 * LIMITS
 *	The tables' own (pm_table.h).
 * SECURITY
 *	The list is operator input; the key is the client's numeric
 *	address.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_server.h"
#include "pm_table.h"
#include "pm_util.h"
#include "postscreen.h"

#define PSC_ACL_ITEMS_MAX 64

typedef struct psc_acl {
	int n;
	pm_netlist *mynet;                   /* for permit_mynetworks */
	pm_table *tables[PSC_ACL_ITEMS_MAX]; /* NULL: permit_mynetworks */
} psc_acl;

static psc_acl *psc_acl_cur;

static psc_acl *
psc_acl_free(psc_acl *a)
{
	int i;

	if (a == NULL) {
		return (NULL);
	}
	for (i = 0; i < a->n; i++) {
		pm_table_close(a->tables[i]);
	}
	pm_netlist_free(a->mynet);
	free(a);
	return (NULL);
}

static psc_acl *
psc_acl_open(const char *spec, const char **err)
{
	psc_acl *a = pm_calloc(1, sizeof(*a));
	char *copy = pm_strdup(spec);
	char *save = NULL;
	char *item;

	*err = NULL;
	for (item = strtok_r(copy, ", \t\r\n", &save); item != NULL;
	     item = strtok_r(NULL, ", \t\r\n", &save)) {
		if (a->n >= PSC_ACL_ITEMS_MAX) {
			*err = "too many items";
			break;
		}
		if (strcasecmp(item, "permit_mynetworks") == 0) {
			if (a->mynet == NULL &&
			    (a->mynet = pm_netlist_parse(var_mynetworks,
			         err)) == NULL) {
				break;
			}
			a->tables[a->n++] = NULL;
		} else if (strchr(item, ':') != NULL) {
			if ((a->tables[a->n] = pm_table_open(item, err)) ==
			    NULL) {
				break;
			}
			a->n++;
		} else {
			*err = "expected permit_mynetworks or type:table";
			break;
		}
	}
	free(copy);
	if (*err != NULL) {
		return (psc_acl_free(a));
	}
	return (a);
}

void
psc_access_init(void)
{
	const char *err;

	if ((psc_acl_cur = psc_acl_open(var_psc_acl, &err)) == NULL) {
		pm_msg_fatal("%s = %s: %s", VAR_PSC_ACL, var_psc_acl, err);
	}
}

/* Signal thread: the new list, or NULL (the old one stays). */
void *
psc_access_build(void)
{
	const char *err;
	psc_acl *a;

	if ((a = psc_acl_open(var_psc_acl, &err)) == NULL) {
		pm_msg_warn("%s = %s: %s; keeping the old list", VAR_PSC_ACL,
		    var_psc_acl, err);
		pm_server_reload_failed();
	}
	return (a);
}

/* On the loop: the list built by psc_access_build() replaces the old. */
void
psc_access_install(void *new_acl)
{
	if (new_acl != NULL) {
		psc_acl_free(psc_acl_cur);
		psc_acl_cur = new_acl;
	}
}

void
psc_access_discard(void *acl)
{
	psc_acl_free(acl);
}

void
psc_access_stop(void)
{
	psc_acl_cur = psc_acl_free(psc_acl_cur);
}

int
psc_access_check(const char *addr)
{
	psc_acl *a = psc_acl_cur;
	char *value;
	int i;
	int rc;

	for (i = 0; i < a->n; i++) {
		if (a->tables[i] == NULL) {
			if (pm_netlist_match(a->mynet, addr)) {
				return (PSC_ACL_PERMIT);
			}
			continue;
		}
		value = NULL;
		rc = pm_table_get(a->tables[i], addr, &value);
		if (rc == PM_ENOENT) {
			continue;
		}
		if (rc != 0) {
			pm_msg_warn("%s: %s: lookup of %s failed: %s",
			    VAR_PSC_ACL, pm_table_name(a->tables[i]), addr,
			    pm_strerror(rc));
			continue;
		}
		rc = PSC_ACL_DUNNO;
		if (strncasecmp(value, "permit", 6) == 0 &&
		    (value[6] == 0 || value[6] == ' ')) {
			rc = PSC_ACL_PERMIT;
		} else if (strncasecmp(value, "reject", 6) == 0 &&
		    (value[6] == 0 || value[6] == ' ')) {
			rc = PSC_ACL_REJECT;
		} else if (strcasecmp(value, "dunno") != 0) {
			pm_msg_warn("%s: %s: unknown result \"%s\" for %s: "
			            "taken as dunno",
			    VAR_PSC_ACL, pm_table_name(a->tables[i]),
			    pm_printable(value), addr);
		}
		free(value);
		if (rc != PSC_ACL_DUNNO) {
			return (rc);
		}
	}
	return (PSC_ACL_DUNNO);
}
