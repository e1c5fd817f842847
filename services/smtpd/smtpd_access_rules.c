/*
 * NAME
 *	smtpd_access_rules - evaluation of one smtpd restriction
 * DESCRIPTION
 *	pm__access_eval_item() evaluates one restriction of a list for
 *	the current pm__actx (see smtpd_access_priv.h) and returns PM__DUNNO
 *	(no decision), PM__OK (permit: ends this list) or PM__REJECT (the
 *	reply is in c->res). Reply wording, codes and enhanced status
 *	codes follow Postfix's smtpd_check.c, e.g.
 *	  554 5.7.1 <a@b>: Relay access denied
 *	  504 5.5.2 <a>: Sender address rejected: need fully-qualified address
 *	  450 4.1.8 <a@b>: Sender address rejected: Domain not found
 *	  554 5.7.1 <name[addr]>: Client host rejected: Access denied
 *
 *	check_*_access and access table results are in smtpd_access_table.c.
 * LIMITS
 *	Each DNS lookup waits at most smtpd_dns_timeout; a domain check
 *	makes at most three (MX, A, AAAA).
 * SECURITY
 *	Names and addresses are client data that smtpd has syntax-checked;
 *	DNS query names are checked again by pm_dns; replies are made
 *	printable by pm__access_reply().
 */
#include "smtpd_access.h"
#include "smtpd_access_priv.h"
#include "pm_dns.h"
#include "pm_log.h"
#include "rewrite_clnt.h"
#include "pm_util.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define HOST_FOUND 0
#define HOST_NOTFOUND 1
#define HOST_TEMP 2
#define HOST_INVAL 3
#define HOST_NULLMX 4

void
pm__access_kind(const pm__actx *c, int kind, const char **name,
    const char **cls)
{
	const pm_access_state *st = c->st;

	switch (kind) {
	case PM__L_CLIENT:
		*name = c->namaddr;
		*cls = "Client host";
		break;
	case PM__L_HELO:
		*name = st->helo ? st->helo : "";
		*cls = "Helo command";
		break;
	case PM__L_SENDER:
		*name = st->sender ? st->sender : "";
		*cls = "Sender address";
		break;
	case PM__L_DATA:
		*name = "DATA";
		*cls = "Data command";
		break;
	default:
		*name = st->recipient ? st->recipient : "";
		*cls = "Recipient address";
		break;
	}
}

int
pm__access_server_error(pm__actx *c)
{
	return (pm__access_reply(c, 451, "4.3.5",
	    "Server configuration error"));
}

int
pm__access_is_ip(const char *s)
{
	unsigned char buf[16];

	return (inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1);
}

char *
pm__access_nodot(const char *s)
{
	size_t len = strlen(s);

	if (len > 1 && s[len - 1] == '.' && s[len - 2] != '.') {
		len--;
	}
	return (pm_strndup(s, len));
}

/*
 * Resolve via the rewrite service. 0: *out is filled. Else the failure
 * was answered ("451 4.3.0 <addr>: Temporary lookup failure") and
 * *outcome holds the result to return.
 */
static int
rules_resolve(pm__actx *c, const char *addr, int check_known, pm_resolved *out,
    int *outcome)
{
	int rc = PM_ECONNREFUSED;

	memset(out, 0, sizeof(*out));
	if (c->a->resolve != NULL) {
		rc = c->a->resolve(c->a->resolve_arg, addr, check_known, out);
	}
	if (rc == 0 &&
	    (out->flags & (PM_RESOLVE_FAIL | PM_RESOLVE_ERROR)) == 0) {
		return (0);
	}
	if (rc == 0) {
		pm_resolved_free(out);
	}
	memset(out, 0, sizeof(*out));
	*outcome = pm__access_reply(c, 451, "4.3.0",
	    "<%s>: Temporary lookup failure", addr);
	return (-1);
}

int
pm__access_auth_dest(pm__actx *c, const char *rcpt, int *outcome)
{
	pm_resolved rr;
	int ok;

	if (rules_resolve(c, rcpt, 0, &rr, outcome) != 0) {
		return (-1);
	}
	ok = (rr.flags & PM_RESOLVE_ROUTED) == 0 &&
	    (rr.addr_class == PM_CLASS_LOCAL ||
	        rr.addr_class == PM_CLASS_VIRTUAL_ALIAS ||
	        rr.addr_class == PM_CLASS_VIRTUAL_MAILBOX ||
	        rr.addr_class == PM_CLASS_RELAY);
	pm_resolved_free(&rr);
	return (ok);
}

int
pm__access_unlisted(pm__actx *c, const char *addr, int sender)
{
	const char *cls = sender ? "Sender address" : "Recipient address";
	const char *def = NULL;
	pm_resolved rr;
	int code = 0;
	int rc = PM__DUNNO;

	if (sender) {
		c->sender_checked = 1;
	} else {
		c->rcpt_checked = 1;
	}
	if (addr[0] == 0) {
		return (PM__DUNNO);
	}
	if (rules_resolve(c, addr, 1, &rr, &rc) != 0) {
		return (rc);
	}
	if (rr.flags & PM_RESOLVE_RELOCATED) {
		rc = pm__access_reply(c, 550, "5.1.6",
		    "<%s>: %s rejected: User has moved to %s", addr, cls,
		    rr.text && rr.text[0] ? rr.text : "an unknown address");
	} else if (rr.flags & PM_RESOLVE_UNKNOWN) {
		switch (rr.addr_class) {
		case PM_CLASS_LOCAL:
			code = c->a->unk_local_code;
			def = "User unknown in local recipient table";
			break;
		case PM_CLASS_VIRTUAL_ALIAS:
			code = c->a->unk_alias_code;
			def = "User unknown in virtual alias table";
			break;
		case PM_CLASS_VIRTUAL_MAILBOX:
			code = c->a->unk_mailbox_code;
			def = "User unknown in virtual mailbox table";
			break;
		case PM_CLASS_RELAY:
			code = c->a->unk_relay_code;
			def = "User unknown in relay recipient table";
			break;
		default:
			break;
		}
		if (code != 0) {
			rc = pm__access_reply(c, code,
			    sender ? "5.1.0" : "5.1.1", "<%s>: %s rejected: %s",
			    addr, cls, rr.text && rr.text[0] ? rr.text : def);
		}
	}
	pm_resolved_free(&rr);
	return (rc);
}

/* Does a host or mail domain exist: MX (if use_mx), then A, then AAAA. */
static int
rules_host(pm__actx *c, const char *name, int use_mx)
{
	static const int types[] = { PM_DNS_MX, PM_DNS_A, PM_DNS_AAAA };
	pm_dns_rr *rr;
	size_t n;
	size_t i;
	int temp = 0;
	int nullmx;
	int st;
	int rc;

	if (!pm_dns_name_valid(name)) {
		return (HOST_NOTFOUND);
	}
	for (i = use_mx ? 0 : 1; i < 3; i++) {
		rc = pm_dns_lookup_st(name, types[i], &rr, &n,
		    c->a->dns_timeout_ms, &st);
		if (rc == 0) {
			nullmx = types[i] == PM_DNS_MX && n == 1 &&
			    rr[0].data[0] == 0;
			pm_dns_rr_free(rr, n);
			return (nullmx ? HOST_NULLMX : HOST_FOUND);
		}
		if (st == PM_DNS_NXDOMAIN) {
			return (HOST_NOTFOUND);
		}
		if (st == PM_DNS_INVAL) {
			return (rc == PM_EINVAL ? HOST_NOTFOUND : HOST_INVAL);
		}
		if (st == PM_DNS_RETRY) {
			temp = 1;
		}
	}
	return (temp ? HOST_TEMP : HOST_NOTFOUND);
}

/* reject_unknown_sender_domain, reject_unknown_recipient_domain. */
static int
rules_unknown_domain(pm__actx *c, const char *addr, int sender)
{
	const char *cls = sender ? "Sender address" : "Recipient address";
	const char *dsn = sender ? "4.1.8" : "4.1.2";
	const char *at;
	pm_resolved rr;
	char *canon;
	char *dom;
	int rc = PM__DUNNO;

	if (c->a->resolve != NULL) {
		if (rules_resolve(c, addr, 0, &rr, &rc) != 0) {
			return (rc);
		}
		if (rr.addr_class == PM_CLASS_LOCAL ||
		    rr.addr_class == PM_CLASS_VIRTUAL_ALIAS ||
		    rr.addr_class == PM_CLASS_VIRTUAL_MAILBOX) {
			pm_resolved_free(&rr);
			return (PM__DUNNO); /* final destination: no DNS */
		}
		canon =
		    pm_strdup(rr.address && rr.address[0] ? rr.address : addr);
		pm_resolved_free(&rr);
	} else {
		canon = pm_strdup(addr); /* no resolver: the domain as given */
	}
	at = pm_addr_domain(canon);
	if (at == NULL || at[1] == 0 || at[1] == '[') {
		free(canon);
		return (PM__DUNNO);
	}
	dom = pm__access_nodot(at + 1);
	switch (rules_host(c, dom, 1)) {
	case HOST_FOUND:
		break;
	case HOST_NULLMX:
		rc = pm__access_reply(c, sender ? 550 : 556,
		    sender ? "5.7.27" : "5.1.10",
		    "<%s>: %s rejected: Domain %s does not accept mail (nullMX)",
		    addr, cls, dom);
		break;
	case HOST_TEMP:
		pm__access_defer_if(c, 1, 450, dsn,
		    "<%s>: %s rejected: Domain not found", addr, cls);
		break;
	case HOST_INVAL:
		rc = pm__access_reply(c, c->a->unk_addr_code, dsn,
		    "<%s>: %s rejected: Malformed DNS server reply", addr, cls);
		break;
	default:
		rc = pm__access_reply(c, c->a->unk_addr_code, dsn,
		    "<%s>: %s rejected: Domain not found", addr, cls);
		break;
	}
	free(dom);
	free(canon);
	return (rc);
}

static int
rules_unknown_helo(pm__actx *c, const char *helo)
{
	char *name;
	int rc = PM__DUNNO;

	if (helo[0] == '[' || pm__access_is_ip(helo)) {
		return (PM__DUNNO);
	}
	name = pm__access_nodot(helo);
	switch (rules_host(c, name, 1)) {
	case HOST_FOUND:
	case HOST_NULLMX:
		break;
	case HOST_TEMP:
		pm__access_defer_if(c, 1, 450, "4.7.1",
		    "<%s>: Helo command rejected: Host not found", helo);
		break;
	default:
		rc = pm__access_reply(c, c->a->unk_host_code, "4.7.1",
		    "<%s>: Helo command rejected: Host not found", helo);
		break;
	}
	free(name);
	return (rc);
}

static int
rules_unknown_client(pm__actx *c, int reverse)
{
	const pm_access_state *st = c->st;
	const char *what = reverse ? "reverse hostname" : "hostname";
	pm_dns_rr *rr;
	size_t n;
	int status;
	int rc;

	if (st->client_addr == NULL) {
		return (PM__DUNNO);
	}
	if (st->client_name != NULL &&
	    !pm_strcaseeq(st->client_name, "unknown")) {
		return (PM__DUNNO);
	}
	if (reverse) {
		/* smtpd gives the verified name only: ask for the PTR. */
		rc = pm_dns_lookup_st(st->client_addr, PM_DNS_PTR, &rr, &n,
		    c->a->dns_timeout_ms, &status);
		if (rc == 0) {
			pm_dns_rr_free(rr, n);
			return (PM__DUNNO);
		}
		if (status == PM_DNS_RETRY) {
			pm__access_defer_if(c, 1, 450, "4.7.25",
			    "Client host rejected: cannot find your %s, [%s]",
			    what, st->client_addr);
			return (PM__DUNNO);
		}
	}
	return (pm__access_reply(c, c->a->unk_client_code, "4.7.25",
	    "Client host rejected: cannot find your %s, [%s]", what,
	    st->client_addr));
}

static int
rules_non_fqdn_addr(pm__actx *c, const char *addr, const char *cls)
{
	const char *at = pm_addr_domain(addr);
	char *dom;
	int ok;

	if (at != NULL && at[1] == '[') {
		return (PM__DUNNO);
	}
	dom = pm__access_nodot(at != NULL ? at + 1 : "");
	ok = dom[0] != 0 && pm_addr_domain_fqdn(dom);
	free(dom);
	if (ok) {
		return (PM__DUNNO);
	}
	return (pm__access_reply(c, c->a->non_fqdn_code, "4.5.2",
	    "<%s>: %s rejected: need fully-qualified address", addr, cls));
}

static int
rules_helo_syntax(pm__actx *c, const char *helo, int need_fqdn)
{
	char *name;
	int ok;

	if (need_fqdn && helo[0] == '[') {
		return (PM__DUNNO); /* address literals are fine */
	}
	name = pm__access_nodot(helo);
	if (need_fqdn) {
		ok = name[0] != 0 && pm_addr_domain_fqdn(name);
	} else {
		ok = name[0] != 0 &&
		    (pm_addr_domain_valid(name, 1) || pm__access_is_ip(name));
	}
	free(name);
	if (ok) {
		return (PM__DUNNO);
	}
	if (need_fqdn) {
		return (pm__access_reply(c, c->a->non_fqdn_code, "4.5.2",
		    "<%s>: Helo command rejected: need fully-qualified "
		    "hostname",
		    helo));
	}
	return (pm__access_reply(c, c->a->bad_host_code, "4.5.2",
	    "<%s>: Helo command rejected: Invalid name", helo));
}

int
pm__access_eval_item(pm__actx *c, const pm__restr *r, int kind)
{
	const pm_access_state *st = c->st;
	const pm_access *a = c->a;
	const char *rname;
	const char *rcls;
	int outcome = PM__DUNNO;
	int rc;

	pm__access_kind(c, kind, &rname, &rcls);
	switch (r->op) {
	case PM__R_PERMIT:
		return (PM__OK);
	case PM__R_REJECT:
		return (pm__access_reply(c, a->reject_code, "5.7.1",
		    "<%s>: %s rejected: Access denied", rname, rcls));
	case PM__R_DEFER:
		return (pm__access_reply(c, a->defer_code, "4.7.1",
		    "<%s>: %s rejected: Try again later", rname, rcls));
	case PM__R_DEFER_IF_PERMIT:
	case PM__R_DEFER_IF_REJECT:
		pm__access_defer_if(c, r->op == PM__R_DEFER_IF_PERMIT,
		    a->defer_code, "4.7.1", "<%s>: %s rejected: %s requested",
		    rname, rcls,
		    r->op == PM__R_DEFER_IF_PERMIT ? "defer_if_permit" :
		                                     "defer_if_reject");
		return (PM__DUNNO);
	case PM__R_NOOP:
	case PM__R_WARN_IF_REJECT:
		return (PM__DUNNO);
	case PM__R_PERMIT_MYNETWORKS:
		return (pm_access_mynetworks(a, st->client_addr) ? PM__OK :
		                                                   PM__DUNNO);
	case PM__R_PERMIT_SASL:
		return (st->sasl_authenticated ? PM__OK : PM__DUNNO);
	case PM__R_REJECT_UNAUTH_DEST:
	case PM__R_DEFER_UNAUTH_DEST:
	case PM__R_PERMIT_AUTH_DEST:
		if (st->recipient == NULL) {
			return (PM__DUNNO);
		}
		if ((rc = pm__access_auth_dest(c, st->recipient, &outcome)) <
		    0) {
			return (outcome);
		}
		if (r->op == PM__R_PERMIT_AUTH_DEST) {
			return (rc ? PM__OK : PM__DUNNO);
		}
		if (rc) {
			return (PM__DUNNO);
		}
		return (pm__access_reply(c,
		    r->op == PM__R_REJECT_UNAUTH_DEST ? a->relay_code :
		                                        a->defer_code,
		    r->op == PM__R_REJECT_UNAUTH_DEST ? "5.7.1" : "4.7.1",
		    "<%s>: Relay access denied", st->recipient));
	case PM__R_REJECT_UNLISTED_RCPT:
		if (st->recipient == NULL || c->rcpt_checked) {
			return (PM__DUNNO);
		}
		return (pm__access_unlisted(c, st->recipient, 0));
	case PM__R_REJECT_UNLISTED_SENDER:
		if (st->sender == NULL || c->sender_checked) {
			return (PM__DUNNO);
		}
		return (pm__access_unlisted(c, st->sender, 1));
	case PM__R_NON_FQDN_SENDER:
		if (st->sender == NULL || st->sender[0] == 0) {
			return (PM__DUNNO);
		}
		return (rules_non_fqdn_addr(c, st->sender, "Sender address"));
	case PM__R_NON_FQDN_RCPT:
		if (st->recipient == NULL || st->recipient[0] == 0) {
			return (PM__DUNNO);
		}
		return (rules_non_fqdn_addr(c, st->recipient,
		    "Recipient address"));
	case PM__R_NON_FQDN_HELO:
	case PM__R_INVALID_HELO:
		if (st->helo == NULL) {
			return (PM__DUNNO);
		}
		return (rules_helo_syntax(c, st->helo,
		    r->op == PM__R_NON_FQDN_HELO));
	case PM__R_UNKNOWN_HELO:
		if (st->helo == NULL) {
			return (PM__DUNNO);
		}
		return (rules_unknown_helo(c, st->helo));
	case PM__R_UNKNOWN_SENDER_DOMAIN:
		if (st->sender == NULL || st->sender[0] == 0) {
			return (PM__DUNNO);
		}
		return (rules_unknown_domain(c, st->sender, 1));
	case PM__R_UNKNOWN_RCPT_DOMAIN:
		if (st->recipient == NULL || st->recipient[0] == 0) {
			return (PM__DUNNO);
		}
		return (rules_unknown_domain(c, st->recipient, 0));
	case PM__R_UNKNOWN_CLIENT:
	case PM__R_UNKNOWN_REVERSE_CLIENT:
		return (rules_unknown_client(c,
		    r->op == PM__R_UNKNOWN_REVERSE_CLIENT));
	case PM__R_CHECK_CLIENT:
	case PM__R_CHECK_HELO:
	case PM__R_CHECK_SENDER:
	case PM__R_CHECK_RCPT:
		return (pm__access_check_table(c, r, kind));
	case PM__R_SENDER_LOGIN:
	case PM__R_AUTH_SENDER_LOGIN:
	case PM__R_UNAUTH_SENDER_LOGIN:
	case PM__R_KNOWN_SENDER_LOGIN:
		return (pm__access_login_mismatch(c, r->op));
	case PM__R_RBL_CLIENT:
	case PM__R_RHSBL_CLIENT:
	case PM__R_RHSBL_REVERSE_CLIENT:
	case PM__R_RHSBL_HELO:
	case PM__R_RHSBL_SENDER:
	case PM__R_RHSBL_RCPT:
	case PM__R_DNSWL_CLIENT:
	case PM__R_RHSWL_CLIENT:
		return (pm__access_dnsbl(c, r, kind));
	case PM__R_POLICY:
		return (pm__access_policy(c, r, kind));

	case PM__R_UNVERIFIED_RCPT:
	case PM__R_UNVERIFIED_SENDER:
		if ((r->op == PM__R_UNVERIFIED_RCPT ? st->recipient :
		                                      st->sender) == NULL) {
			return (PM__DUNNO);
		}
		return (pm__access_verify(c, r->op == PM__R_UNVERIFIED_SENDER));
	case PM__R_CLASS:
		if (c->depth >= PM_ACCESS_DEPTH_MAX) {
			pm_msg_warn("restriction class %s causes unreasonable "
			            "recursion",
			    r->name);
			return (pm__access_server_error(c));
		}
		c->depth++;
		rc = pm__access_eval_list(c, a->classes[r->cls].v,
		    a->classes[r->cls].n, kind);
		c->depth--;
		return (rc);
	default:
		pm_msg_warn("unexpected restriction %s", r->name);
		return (pm__access_server_error(c));
	}
}
