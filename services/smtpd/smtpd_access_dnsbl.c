/*
 * NAME
 *	smtpd_access_dnsbl - reject_rbl_client, reject_rhsbl_*, permit_dnswl_client
 * DESCRIPTION
 *	The DNS list restrictions of Postfix's smtpd_check.c, each with a
 *	"domain[=filter]" argument (pm_dnsbl syntax):
 *	  reject_rbl_client            client address, reversed
 *	  reject_rhsbl_client          client host name (verified)
 *	  reject_rhsbl_reverse_client  client host name, unverified (PTR)
 *	  reject_rhsbl_helo            HELO name
 *	  reject_rhsbl_sender          sender domain
 *	  reject_rhsbl_recipient       recipient domain
 *	  permit_dnswl_client          client address: permit when listed
 *	  permit_rhswl_client          client host name: permit when listed
 *	A listed client is refused with maps_rbl_reject_code and the
 *	template of rbl_reply_maps (looked up by the list domain) or
 *	default_rbl_reply, with Postfix's macros expanded: $rbl_code,
 *	$rbl_domain, $rbl_reason (the TXT record), $rbl_class, $rbl_what,
 *	$rbl_txt, $client_address, $client_name, $helo_name, $sender,
 *	$recipient, and the forms ${name?text} and ${name:text}. The
 *	expanded text is "code [x.y.z] text"; the enhanced code defaults
 *	to 5.7.1 (4.7.1 for a 4xx code).
 *
 *	As in Postfix, a DNS temporary failure is no match: a warning is
 *	logged and evaluation goes on. permit_dnswl_client and
 *	permit_rhswl_client never override reject_unauth_destination: in
 *	smtpd_relay_restrictions and smtpd_recipient_restrictions they
 *	permit only mail for this server's own or relay domains.
 * LIMITS
 *	Each lookup (A, then TXT) waits at most smtpd_dns_timeout; the
 *	expanded reply is cut at PM_ACCESS_TEXT_MAX. Nothing is cached
 *	between calls: a restriction evaluated again (next recipient)
 *	asks the DNS again, whose resolver caches.
 * SECURITY
 *	Names come from the client (checked by pm_dnsbl before a query);
 *	TXT text comes from the network: pm_dnsbl makes it printable and
 *	cuts it, and macro values are inserted, never expanded again.
 */
#include "smtpd_access.h"
#include "smtpd_access_priv.h"
#include "pm_addr.h"
#include "pm_dnsbl.h"
#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNSBL_MACRO_MAX 32 /* bytes in a macro name */

int
pm__access_dnsbl_parse(pm__restr *r, const char *arg, char **err)
{
	pm_dnsbl_site *site = pm_calloc(1, sizeof(*site));
	char why[256];
	char *labels;

	if (pm_dnsbl_site_parse(site, arg, 0, why, sizeof(why)) != 0) {
		*err = pm_asprintf("%s: %s", r->name, why);
		free(site);
		return (PM_EINVAL);
	}
	r->site = site;
	/* One label per configured domain: the set is bounded by main.cf. */
	labels = pm_asprintf("domain=\"%s\"", site->domain);
	r->hits = pm_metric_counter("smtpd_rbl_hits_total",
	    "DNS list lookups that found the client listed, by list domain",
	    labels);
	free(labels);
	return (0);
}

void
pm__access_dnsbl_free(pm__restr *r)
{
	free(r->site);
	r->site = NULL;
}

typedef struct dnsbl_vars {
	const pm__actx *c;
	const char *code;
	const char *domain;
	const char *reason;
	const char *cls;
	const char *what;
} dnsbl_vars;

static const char *
dnsbl_var(const dnsbl_vars *v, const char *name)
{
	const pm_access_state *st = v->c->st;

	if (strcmp(name, "rbl_code") == 0) {
		return (v->code);
	} else if (strcmp(name, "rbl_domain") == 0) {
		return (v->domain);
	} else if (strcmp(name, "rbl_reason") == 0 ||
	    strcmp(name, "rbl_txt") == 0) {
		return (v->reason);
	} else if (strcmp(name, "rbl_class") == 0) {
		return (v->cls);
	} else if (strcmp(name, "rbl_what") == 0) {
		return (v->what);
	} else if (strcmp(name, "client_address") == 0) {
		return (st->client_addr ? st->client_addr : "");
	} else if (strcmp(name, "client_name") == 0) {
		return (st->client_name ? st->client_name : "");
	} else if (strcmp(name, "helo_name") == 0) {
		return (st->helo ? st->helo : "");
	} else if (strcmp(name, "sender") == 0) {
		return (st->sender ? st->sender : "");
	} else if (strcmp(name, "recipient") == 0) {
		return (st->recipient ? st->recipient : "");
	}
	pm_msg_warn("rbl reply template: unknown macro $%s", name);
	return ("");
}

/*
 * Expand $name, ${name}, ${name?text}, ${name:text} and $$ of tmpl into
 * out (bounded). The text of ?/: may hold macros again (one level of
 * braces deep is enough for Postfix's templates); values are copied as
 * they are.
 */
static void
dnsbl_expand(pm_buf *out, const char *tmpl, const dnsbl_vars *v, int depth)
{
	char name[DNSBL_MACRO_MAX + 1];
	const char *p = tmpl;
	const char *val;
	const char *end;
	char *sub;
	size_t n;
	int op;
	int level;

	while (*p != '\0') {
		if (*p != '$') {
			n = strcspn(p, "$");
			pm_buf_append(out, p, n);
			p += n;
			continue;
		}
		p++;
		if (*p == '$') {
			pm_buf_append(out, "$", 1);
			p++;
			continue;
		}
		if (*p == '{' || *p == '(') {
			int close = *p == '{' ? '}' : ')';

			p++;
			n = strspn(p,
			    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789_");
			op = p[n];
			/* The end of this macro: matching close brace. */
			for (end = p + n, level = 1; *end != '\0'; end++) {
				if (*end == '{' || *end == '(') {
					level++;
				} else if ((*end == '}' || *end == ')') &&
				    --level == 0) {
					break;
				}
			}
			if (*end != close || n == 0 || n > DNSBL_MACRO_MAX ||
			    (op != close && op != '?' && op != ':')) {
				pm_msg_warn("rbl reply template: bad macro "
				            "near \"$%.20s\"",
				    p - 1);
				pm_buf_puts(out, p - 2);
				return;
			}
			memcpy(name, p, n);
			name[n] = '\0';
			val = dnsbl_var(v, name);
			if (op == close) {
				pm_buf_puts(out, val);
			} else if ((op == '?') == (val[0] != '\0') &&
			    depth < 4) {
				sub = pm_strndup(p + n + 1,
				    (size_t) (end - (p + n + 1)));
				dnsbl_expand(out, sub, v, depth + 1);
				free(sub);
			}
			p = end + 1;
			continue;
		}
		n = strspn(p,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
		    "WXYZ0123456789_");
		if (n == 0 || n > DNSBL_MACRO_MAX) {
			pm_buf_append(out, "$", 1);
			continue;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		pm_buf_puts(out, dnsbl_var(v, name));
		p += n;
	}
}

/* Build and set the reply for a listed name. */
static int
dnsbl_reject(pm__actx *c, const pm__restr *r, const char *cls, const char *what,
    const pm_dnsbl_result *res)
{
	dnsbl_vars v;
	pm_buf out;
	char code[8];
	char dsn[16];
	char *tmpl = NULL;
	const char *p;
	const char *text;
	int rc;
	int n;

	snprintf(code, sizeof(code), "%d", c->a->rbl_code);
	v.c = c;
	v.code = code;
	v.domain = r->site->domain;
	v.reason = res->txt;
	v.cls = cls;
	v.what = what;
	if (c->a->rbl_maps != NULL &&
	    (rc = pm_tables_get(c->a->rbl_maps, r->site->domain, &tmpl)) != 0 &&
	    rc != PM_ENOENT) {
		pm_msg_warn("rbl_reply_maps lookup error for \"%s\": %s",
		    r->site->domain, pm_strerror(rc));
		return (pm__access_server_error(c));
	}
	pm_buf_init(&out, PM_ACCESS_TEXT_MAX * 2);
	dnsbl_expand(&out, tmpl != NULL ? tmpl : c->a->rbl_reply, &v, 0);
	free(tmpl);
	/* "code [x.y.z] text" */
	p = out.data != NULL ? out.data : "";
	if ((p[0] != '4' && p[0] != '5') || !isdigit((unsigned char) p[1]) ||
	    !isdigit((unsigned char) p[2]) || (p[3] != ' ' && p[3] != '\0')) {
		pm_msg_warn("rbl reply for %s: bad SMTP code in \"%.40s\"",
		    r->site->domain, p);
		pm_buf_free(&out);
		return (pm__access_server_error(c));
	}
	n = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	text = p + 3;
	while (*text == ' ') {
		text++;
	}
	snprintf(dsn, sizeof(dsn), "%c.7.1", p[0]);
	if (isdigit((unsigned char) text[0]) && text[1] == '.') {
		size_t dl = strcspn(text, " ");

		if (dl < sizeof(dsn)) {
			memcpy(dsn, text, dl);
			dsn[dl] = '\0';
			text += dl;
			while (*text == ' ') {
				text++;
			}
		}
	}
	rc = pm__access_reply(c, n, dsn, "%s", text);
	pm_buf_free(&out);
	return (rc);
}

/* The unverified client name: the verified one, else the PTR. */
static char *
dnsbl_reverse_name(const pm__actx *c)
{
	const pm_access_state *st = c->st;
	pm_dns_rr *rr;
	size_t n;
	char *name = NULL;

	if (st->client_name != NULL &&
	    !pm_strcaseeq(st->client_name, "unknown")) {
		return (pm_strdup(st->client_name));
	}
	if (st->client_addr != NULL &&
	    pm_dns_lookup(st->client_addr, PM_DNS_PTR, &rr, &n,
	        c->a->dns_timeout_ms) == 0) {
		name = pm_strdup(rr[0].data);
		pm_dns_rr_free(rr, n);
	}
	return (name);
}

/* The name to look up, its reply class and "what" text; NULL: skip. */
static char *
dnsbl_subject(pm__actx *c, const pm__restr *r, const char **cls)
{
	const pm_access_state *st = c->st;
	const char *addr = NULL;
	const char *at;

	switch (r->op) {
	case PM__R_RBL_CLIENT:
	case PM__R_DNSWL_CLIENT:
		*cls = "Client host";
		return (st->client_addr ? pm_strdup(st->client_addr) : NULL);
	case PM__R_RHSBL_CLIENT:
	case PM__R_RHSWL_CLIENT:
		*cls = "Client host";
		if (st->client_name == NULL ||
		    pm_strcaseeq(st->client_name, "unknown")) {
			return (NULL);
		}
		return (pm__access_nodot(st->client_name));
	case PM__R_RHSBL_REVERSE_CLIENT:
		*cls = "Unverified Client host";
		return (dnsbl_reverse_name(c));
	case PM__R_RHSBL_HELO:
		*cls = "Helo command";
		if (st->helo == NULL || st->helo[0] == '[' ||
		    pm__access_is_ip(st->helo)) {
			return (NULL);
		}
		return (pm__access_nodot(st->helo));
	case PM__R_RHSBL_SENDER:
		*cls = "Sender address";
		addr = st->sender;
		break;
	default:
		*cls = "Recipient address";
		addr = st->recipient;
		break;
	}
	if (addr == NULL || addr[0] == '\0' ||
	    (at = pm_addr_domain(addr)) == NULL || at[1] == '\0' ||
	    at[1] == '[') {
		return (NULL);
	}
	return (pm__access_nodot(at + 1));
}

int
pm__access_dnsbl(pm__actx *c, const pm__restr *r, int kind)
{
	pm_dnsbl_result res;
	char qname[PM_DNS_NAME_MAX + 1];
	const char *cls = "";
	const char *qid = c->st->queue_id ? c->st->queue_id : "NOQUEUE";
	char *subj;
	int allow = r->op == PM__R_DNSWL_CLIENT || r->op == PM__R_RHSWL_CLIENT;
	int outcome = PM__DUNNO;
	int rc;

	if (r->site == NULL || (subj = dnsbl_subject(c, r, &cls)) == NULL) {
		return (PM__DUNNO);
	}
	rc = r->op == PM__R_RBL_CLIENT || r->op == PM__R_DNSWL_CLIENT ?
	    pm_dnsbl_query_addr(qname, sizeof(qname), subj, r->site->domain) :
	    pm_dnsbl_query_name(qname, sizeof(qname), subj, r->site->domain);
	if (rc != 0) {
		free(subj); /* too long or not a DNS name: cannot be listed */
		return (PM__DUNNO);
	}
	rc = pm_dnsbl_lookup(&res, r->site, qname, c->a->dns_timeout_ms);
	if (rc == PM_EAGAIN) {
		pm_msg_warn("%s: %s: %s lookup error: temporary DNS failure "
		            "for %s; treated as not listed",
		    qid, r->site->domain, allow ? "DNSWL" : "RBL", qname);
	}
	if (rc != PM_DNSBL_HIT) {
		free(subj);
		return (PM__DUNNO);
	}
	pm_metric_inc(r->hits);
	if (allow) {
		free(subj);
		/* Never an open relay: permit only what is ours to accept. */
		if ((kind == PM__L_RELAY || kind == PM__L_RCPT) &&
		    c->st->recipient != NULL) {
			rc =
			    pm__access_auth_dest(c, c->st->recipient, &outcome);
			if (rc < 0) {
				return (outcome);
			}
			if (rc == 0) {
				return (PM__DUNNO);
			}
		}
		return (PM__OK);
	}
	rc = dnsbl_reject(c, r, cls, subj, &res);
	free(subj);
	return (rc);
}
