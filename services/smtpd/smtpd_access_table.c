/*
 * NAME
 *	smtpd_access_table - check_*_access restrictions and access(5) results
 * DESCRIPTION
 *	pm__access_check_table() looks the client (name and parent
 *	domains, then address and shorter networks), the HELO name, the
 *	sender or the recipient up in the table of a check_*_access
 *	restriction, in Postfix's order, and interprets the result as
 *	access(5) says: OK, RELAY, all-numeric, DUNNO, REJECT, DEFER,
 *	DEFER_IF_PERMIT, DEFER_IF_REJECT, "4NN text", "5NN text" (an
 *	optional enhanced status code leads the text), HOLD, DISCARD, INFO,
 *	WARN, and restriction names (including restriction classes). The
 *	null sender is looked up as smtpd_null_access_lookup_key.
 *	FILTER, REDIRECT, BCC, PREPEND and HANGUP are not supported yet:
 *	warned about and ignored, as Postfix does where it cannot delegate
 *	an action. A table lookup error answers "451 4.3.5 Server
 *	configuration error" with a warning, as Postfix does.
 * LIMITS
 *	Restriction names in table results nest PM_ACCESS_DEPTH_MAX deep.
 * SECURITY
 *	Lookup keys are client data that smtpd has syntax-checked; table
 *	results are operator data, parsed defensively.
 *	Deviation: parent domains and shortened network addresses are
 *	looked up as full keys (regexp: tables see them too), where Postfix
 *	hides partial keys from regexp tables.
 */
#include "smtpd_access.h"
#include "smtpd_access_priv.h"
#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Host name, then parent domains (Postfix check_domain_access). */
static int
table_lookup_domain(pm__actx *c, pm_tables *ts, const char *domain,
    char **value)
{
	char *name = pm__access_nodot(domain);
	const char *p;
	int rc;

	rc = pm_tables_get(ts, name, value);
	if (rc == PM_ENOENT && name[0] != '[' && !pm__access_is_ip(name)) {
		for (p = strchr(name, '.'); p != NULL && p[1] != 0;
		     p = strchr(p + 1, '.')) {
			rc = pm_tables_get(ts, c->a->parent_style ? p + 1 : p,
			    value);
			if (rc != PM_ENOENT) {
				break;
			}
		}
	}
	free(name);
	return (rc);
}

/* Address, then shorter networks: 1.2.3.4, 1.2.3, 1.2, 1. */
static int
table_lookup_ip(pm_tables *ts, const char *addr, char **value)
{
	char *key = pm_strdup(addr);
	int delim = strchr(addr, ':') != NULL ? ':' : '.';
	char *p;
	int rc;

	for (;;) {
		if ((rc = pm_tables_get(ts, key, value)) != PM_ENOENT) {
			break;
		}
		if ((p = strrchr(key, delim)) == NULL || p == key) {
			break;
		}
		*p = 0;
	}
	free(key);
	return (rc);
}

/* "5.7.1 text": copy a valid leading enhanced code; return the text. */
static const char *
table_dsn_split(const char *text, char *dsn, size_t size, const char *def)
{
	const char *p = text;
	int parts;
	int digits;

	snprintf(dsn, size, "%s", def);
	if (*p != '2' && *p != '4' && *p != '5') {
		return (text);
	}
	for (parts = 0; parts < 3; parts++) {
		for (digits = 0; isdigit((unsigned char) *p); p++) {
			digits++;
		}
		if (digits == 0 || digits > 3 || (parts == 0 && digits != 1)) {
			return (text);
		}
		if (parts < 2 && *p++ != '.') {
			return (text);
		}
	}
	if (*p != 0 && *p != ' ' && *p != '\t') {
		return (text);
	}
	if ((size_t) (p - text) < size) {
		memcpy(dsn, text, (size_t) (p - text));
		dsn[p - text] = 0;
	}
	while (*p == ' ' || *p == '\t') {
		p++;
	}
	return (p);
}

static int
table_words(pm__actx *c, const char *table, const char *value, int kind)
{
	char **items;
	pm__restr *v;
	size_t n;
	size_t i;
	int needs;
	int rc;

	if (c->depth >= PM_ACCESS_DEPTH_MAX) {
		pm_msg_warn("access table %s entry \"%s\" causes unreasonable "
		            "recursion",
		    table, value);
		return (pm__access_server_error(c));
	}
	items = pm_cfg_list(value, &n);
	if (n == 0) {
		pm_msg_warn("access table %s entry has empty value", table);
		pm_cfg_list_free(items);
		return (PM__OK);
	}
	v = pm_calloc(n, sizeof(*v));
	for (i = 0; i < n; i++) {
		v[i].name = items[i];
		if (pm__access_word(c->a, items[i], &v[i].op, &v[i].cls,
		        &needs) != 0 ||
		    needs) {
			pm_msg_warn(
			    "access table %s: unknown smtpd restriction: "
			    "\"%s\"",
			    table, items[i]);
			free(v);
			pm_cfg_list_free(items);
			return (pm__access_server_error(c));
		}
	}
	c->depth++;
	rc = pm__access_eval_list(c, v, n, kind);
	c->depth--;
	free(v);
	pm_cfg_list_free(items);
	return (rc);
}

int
pm__access_table_result(pm__actx *c, const char *table, const char *value,
    const char *rname, const char *rcls, int kind)
{
	size_t cmdlen = strcspn(value, " \t");
	const char *text = value + cmdlen;
	char dsn[16];
	char defdsn[8];
	char what[16];
	char *msg;
	size_t i;

	while (*text == ' ' || *text == '\t') {
		text++;
	}
#define CMD(s) (cmdlen == sizeof(s) - 1 && pm_strncaseeq(value, s, cmdlen))
	if (CMD("DUNNO")) {
		return (PM__DUNNO);
	}
	if (CMD("OK") || CMD("RELAY")) {
		return (PM__OK);
	}
	if (CMD("REJECT") || CMD("DEFER")) {
		text = table_dsn_split(text, dsn, sizeof(dsn),
		    CMD("REJECT") ? "5.7.1" : "4.7.1");
		return (pm__access_reply(c,
		    CMD("REJECT") ? c->a->map_reject_code :
		                    c->a->map_defer_code,
		    dsn, "<%s>: %s rejected: %s", rname, rcls,
		    *text ? text : "Access denied"));
	}
	if (CMD("DEFER_IF_PERMIT") || CMD("DEFER_IF_REJECT")) {
		text = table_dsn_split(text, dsn, sizeof(dsn), "4.7.1");
		pm__access_defer_if(c, CMD("DEFER_IF_PERMIT"),
		    c->a->map_defer_code, dsn, "<%s>: %s rejected: %s", rname,
		    rcls, *text ? text : "Service unavailable");
		return (PM__DUNNO);
	}
	if (CMD("INFO") || CMD("WARN") || CMD("HOLD") || CMD("DISCARD")) {
		snprintf(what, sizeof(what), "%.*s", (int) cmdlen, value);
		pm_lowercase(what);
		/* Postfix logs INFO/WARN text as is, HOLD/DISCARD with names. */
		if (CMD("INFO") || CMD("WARN")) {
			msg = pm_strdup(text);
		} else {
			msg = pm_asprintf("<%s>: %s %s", rname, rcls,
			    *text           ? text :
			        CMD("HOLD") ? "triggers HOLD action" :
			                      "triggers DISCARD action");
		}
		pm__access_log(c, what, msg);
		free(msg);
		if (CMD("HOLD")) {
			c->res->hold = 1;
		} else if (CMD("DISCARD")) {
			c->res->discard = 1;
			return (PM__OK);
		}
		return (PM__DUNNO);
	}
	if (CMD("FILTER") || CMD("REDIRECT") || CMD("BCC") || CMD("PREPEND") ||
	    CMD("HANGUP")) {
		pm_msg_warn("access table %s: action %.*s is not supported; "
		            "ignored",
		    table, (int) cmdlen, value);
		return (PM__DUNNO);
	}
#undef CMD
	for (i = 0; value[i] != 0 && isdigit((unsigned char) value[i]); i++) {
		continue;
	}
	if (i > 0 && value[i] == 0) {
		return (PM__OK); /* all-numeric: OK (pop-before-smtp) */
	}
	if (cmdlen == 3 && *text && (value[0] == '4' || value[0] == '5') &&
	    isdigit((unsigned char) value[1]) &&
	    isdigit((unsigned char) value[2])) {
		snprintf(defdsn, sizeof(defdsn), "%c.7.1", value[0]);
		text = table_dsn_split(text, dsn, sizeof(dsn), defdsn);
		return (pm__access_reply(c, atoi(value), dsn,
		    "<%s>: %s rejected: %s", rname, rcls,
		    *text ? text : "Access denied"));
	}
	if (strchr(value, ':') != NULL) {
		pm_msg_warn("access table %s has entry with lookup table: %s",
		    table, value);
		return (pm__access_server_error(c));
	}
	return (table_words(c, table, value, kind));
}

int
pm__access_check_table(pm__actx *c, const pm__restr *r, int kind)
{
	const pm_access_state *st = c->st;
	const char *rname = NULL;
	const char *rcls = NULL;
	const char *key = NULL;
	char *value = NULL;
	int rc = PM_ENOENT;

	switch (r->op) {
	case PM__R_CHECK_CLIENT:
		if ((key = st->client_addr) == NULL) {
			return (PM__DUNNO);
		}
		rname = c->namaddr;
		rcls = "Client host";
		if (st->client_name != NULL) {
			rc = table_lookup_domain(c, r->tables, st->client_name,
			    &value);
		}
		if (rc == PM_ENOENT) {
			rc = table_lookup_ip(r->tables, key, &value);
		}
		break;
	case PM__R_CHECK_HELO:
		if ((key = rname = st->helo) == NULL) {
			return (PM__DUNNO);
		}
		rcls = "Helo command";
		rc = table_lookup_domain(c, r->tables, key, &value);
		break;
	case PM__R_CHECK_SENDER:
	case PM__R_CHECK_RCPT:
		key = rname =
		    r->op == PM__R_CHECK_SENDER ? st->sender : st->recipient;
		if (key == NULL) {
			return (PM__DUNNO);
		}
		rcls = r->op == PM__R_CHECK_SENDER ? "Sender address" :
		                                     "Recipient address";
		if (key[0] == 0) {
			rc = pm_tables_get(r->tables, c->a->null_key, &value);
		} else {
			rc = pm_table_lookup_addr(r->tables, key,
			    c->a->parent_style, &value);
		}
		break;
	default:
		return (PM__DUNNO);
	}
	(void) kind;
	if (rc == PM_ENOENT) {
		return (PM__DUNNO);
	}
	if (rc != 0) {
		pm_msg_warn("%s: %s lookup error for \"%s\": %s",
		    st->queue_id ? st->queue_id : "NOQUEUE", r->name, key,
		    pm_strerror(rc));
		return (pm__access_table_result(c, r->name,
		    "451 4.3.5 Server configuration error", rname, rcls, kind));
	}
	rc = pm__access_table_result(c, r->name, value, rname, rcls, kind);
	free(value);
	return (rc);
}
