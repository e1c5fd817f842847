/*
 * NAME
 *	smtpd_access - smtpd access restrictions: configuration and list driver
 * DESCRIPTION
 *	See smtpd_access.h. This file reads the parameters, parses the
 *	restriction lists and classes, and runs the lists of each SMTP
 *	stage in Postfix's order; smtpd_access_rules.c evaluates each
 *	restriction. Replies are built by pm__access_reply(), which also
 *	applies warn_if_reject and defer_if_reject and keeps the enhanced
 *	status code consistent with the reply code.
 * LIMITS
 *	See smtpd_access.h.
 * SECURITY
 *	See smtpd_access.h.
 */
#include "smtpd_access.h"
#include "smtpd_access_priv.h"
#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char *const list_params[PM__L_COUNT] = {
	"smtpd_client_restrictions",
	"smtpd_helo_restrictions",
	"smtpd_sender_restrictions",
	"smtpd_relay_restrictions",
	"smtpd_recipient_restrictions",
	"smtpd_data_restrictions",
};

static const struct {
	const char *name;
	int op;
	int needs_table;
} access_words[] = {
	{ "permit", PM__R_PERMIT, 0 },
	{ "reject", PM__R_REJECT, 0 },
	{ "defer", PM__R_DEFER, 0 },
	{ "defer_if_permit", PM__R_DEFER_IF_PERMIT, 0 },
	{ "defer_if_reject", PM__R_DEFER_IF_REJECT, 0 },
	{ "warn_if_reject", PM__R_WARN_IF_REJECT, 0 },
	/* smtpd enforces pipelining itself (smtpd_forbid_unauth_pipelining). */
	{ "reject_unauth_pipelining", PM__R_NOOP, 0 },
	{ "permit_mynetworks", PM__R_PERMIT_MYNETWORKS, 0 },
	{ "permit_sasl_authenticated", PM__R_PERMIT_SASL, 0 },
	{ "reject_unauth_destination", PM__R_REJECT_UNAUTH_DEST, 0 },
	{ "defer_unauth_destination", PM__R_DEFER_UNAUTH_DEST, 0 },
	{ "permit_auth_destination", PM__R_PERMIT_AUTH_DEST, 0 },
	{ "reject_unlisted_recipient", PM__R_REJECT_UNLISTED_RCPT, 0 },
	{ "check_recipient_maps", PM__R_REJECT_UNLISTED_RCPT, 0 },
	{ "reject_unlisted_sender", PM__R_REJECT_UNLISTED_SENDER, 0 },
	{ "reject_non_fqdn_sender", PM__R_NON_FQDN_SENDER, 0 },
	{ "reject_non_fqdn_recipient", PM__R_NON_FQDN_RCPT, 0 },
	{ "reject_non_fqdn_helo_hostname", PM__R_NON_FQDN_HELO, 0 },
	{ "reject_non_fqdn_hostname", PM__R_NON_FQDN_HELO, 0 },
	{ "reject_invalid_helo_hostname", PM__R_INVALID_HELO, 0 },
	{ "reject_invalid_hostname", PM__R_INVALID_HELO, 0 },
	{ "reject_unknown_helo_hostname", PM__R_UNKNOWN_HELO, 0 },
	{ "reject_unknown_hostname", PM__R_UNKNOWN_HELO, 0 },
	{ "reject_unknown_sender_domain", PM__R_UNKNOWN_SENDER_DOMAIN, 0 },
	{ "reject_unknown_recipient_domain", PM__R_UNKNOWN_RCPT_DOMAIN, 0 },
	{ "reject_unknown_client_hostname", PM__R_UNKNOWN_CLIENT, 0 },
	{ "reject_unknown_client", PM__R_UNKNOWN_CLIENT, 0 },
	{ "reject_unknown_reverse_client_hostname",
	    PM__R_UNKNOWN_REVERSE_CLIENT, 0 },
	{ "check_client_access", PM__R_CHECK_CLIENT, 1 },
	{ "check_helo_access", PM__R_CHECK_HELO, 1 },
	{ "check_sender_access", PM__R_CHECK_SENDER, 1 },
	{ "check_recipient_access", PM__R_CHECK_RCPT, 1 },
	{ "reject_sender_login_mismatch", PM__R_SENDER_LOGIN, 0 },
	{ "reject_authenticated_sender_login_mismatch", PM__R_AUTH_SENDER_LOGIN,
	    0 },
	{ "reject_unauthenticated_sender_login_mismatch",
	    PM__R_UNAUTH_SENDER_LOGIN, 0 },
	{ "reject_known_sender_login_mismatch", PM__R_KNOWN_SENDER_LOGIN, 0 },
	{ "reject_rbl_client", PM__R_RBL_CLIENT, PM__ARG_DNSXL },
	{ "reject_rhsbl_client", PM__R_RHSBL_CLIENT, PM__ARG_DNSXL },
	{ "reject_rhsbl_reverse_client", PM__R_RHSBL_REVERSE_CLIENT,
	    PM__ARG_DNSXL },
	{ "reject_rhsbl_helo", PM__R_RHSBL_HELO, PM__ARG_DNSXL },
	{ "reject_rhsbl_sender", PM__R_RHSBL_SENDER, PM__ARG_DNSXL },
	{ "reject_rhsbl_recipient", PM__R_RHSBL_RCPT, PM__ARG_DNSXL },
	{ "permit_dnswl_client", PM__R_DNSWL_CLIENT, PM__ARG_DNSXL },
	{ "permit_rhswl_client", PM__R_RHSWL_CLIENT, PM__ARG_DNSXL },
	{ "check_policy_service", PM__R_POLICY, PM__ARG_POLICY },

	{ "reject_unverified_recipient", PM__R_UNVERIFIED_RCPT, 0 },
	{ "reject_unverified_sender", PM__R_UNVERIFIED_SENDER, 0 },
	{ NULL, 0, 0 },
};

int
pm__access_word(const pm_access *a, const char *word, int *op, size_t *cls,
    int *needs_table)
{
	size_t i;

	for (i = 0; access_words[i].name != NULL; i++) {
		if (pm_strcaseeq(word, access_words[i].name)) {
			*op = access_words[i].op;
			*cls = 0;
			*needs_table = access_words[i].needs_table;
			return (0);
		}
	}
	for (i = 0; a != NULL && i < a->nclasses; i++) {
		if (strcmp(word, a->class_names[i]) == 0) {
			*op = PM__R_CLASS;
			*cls = i;
			*needs_table = 0;
			return (0);
		}
	}
	return (PM_ENOENT);
}

/*
 * Effective value of a parameter. Every name used here has its Postfix
 * default in pm_params.c, the one table of defaults.
 */
static char *
access_param(const char *name)
{
	char *v;

	if ((v = pm_cfg_get(name)) != NULL) {
		return (v);
	}
	pm_msg_warn("parameter %s has no default in pm_params.c", name);
	return (pm_strdup(""));
}

static int
access_code(const char *name, int *code, char **err)
{
	char *v = access_param(name);
	long n;

	if (pm_cfg_parse_long(pm_trim(v), &n) != 0 || n < 400 || n > 599) {
		*err = pm_asprintf("%s: bad reply code \"%s\" (want 400..599)",
		    name, v);
		free(v);
		return (PM_EINVAL);
	}
	free(v);
	*code = (int) n;
	return (0);
}

static int
access_bool(const char *name, int *val, char **err)
{
	char *v = access_param(name);

	if (pm_cfg_parse_bool(pm_trim(v), val) != 0) {
		*err = pm_asprintf("%s: bad boolean \"%s\"", name, v);
		free(v);
		return (PM_EINVAL);
	}
	free(v);
	return (0);
}

static void
rlist_free(pm__rlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		pm_tables_close(l->v[i].tables);
		pm__access_dnsbl_free(&l->v[i]);
		pm__access_policy_free(&l->v[i]);
		free(l->v[i].name);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
access_parse_list(pm_access *a, const char *param, const char *value,
    pm__rlist *out, char **err)
{
	char **items;
	size_t n;
	size_t i;
	pm__restr *r;
	const char *terr = NULL;
	int needs;
	int rc = 0;

	items = pm_cfg_list(value, &n);
	out->v = pm_calloc(n ? n : 1, sizeof(*out->v));
	for (i = 0; i < n; i++) {
		r = &out->v[out->n];
		if (pm__access_word(a, items[i], &r->op, &r->cls, &needs) !=
		    0) {
			*err = pm_asprintf("%s: unknown restriction \"%s\"",
			    param, items[i]);
			rc = PM_EINVAL;
			break;
		}
		r->name = pm_strdup(items[i]);
		out->n++;
		if (r->op == PM__R_NOOP) {
			pm_msg_warn("%s: \"%s\" is ignored: smtpd enforces it "
			            "itself",
			    param, items[i]);
		}
		if (!needs) {
			continue;
		}
		if (needs != PM__ARG_TABLE) {
			if (i + 1 >= n) {
				*err = pm_asprintf("%s: restriction \"%s\" "
				                   "needs an argument",
				    param, items[i]);
				rc = PM_EINVAL;
				break;
			}
			i++;
			free(r->name);
			r->name = pm_asprintf("%s %s", items[i - 1], items[i]);
			rc = needs == PM__ARG_DNSXL ?
			    pm__access_dnsbl_parse(r, items[i], err) :
			    pm__access_policy_parse(r, a, items[i], err);
			if (rc != 0) {
				break;
			}
			continue;
		}
		if (i + 1 >= n || strchr(items[i + 1], ':') == NULL) {
			*err = pm_asprintf("%s: restriction \"%s\" needs a "
			                   "type:name table",
			    param, items[i]);
			rc = PM_EINVAL;
			break;
		}
		i++;
		free(r->name);
		r->name = pm_asprintf("%s %s", items[i - 1], items[i]);
		if ((r->tables = pm_tables_open(items[i], &terr)) == NULL) {
			*err = pm_asprintf("%s: %s: %s", param, items[i],
			    terr ? terr : "cannot open table");
			rc = PM_EINVAL;
			break;
		}
	}
	pm_cfg_list_free(items);
	return (rc);
}

static int
access_parse_classes(pm_access *a, char **err)
{
	char *value = access_param("smtpd_restriction_classes");
	char **names;
	char *body;
	size_t n;
	size_t i;
	int op;
	size_t cls;
	int needs;
	int rc = 0;

	names = pm_cfg_list(value, &n);
	free(value);
	a->class_names = pm_calloc(n + 1, sizeof(char *));
	a->classes = pm_calloc(n ? n : 1, sizeof(pm__rlist));
	for (i = 0; i < n; i++) {
		if (pm__access_word(a, names[i], &op, &cls, &needs) == 0) {
			*err = pm_asprintf("smtpd_restriction_classes: \"%s\" "
			                   "is already a restriction or class",
			    names[i]);
			pm_cfg_list_free(names);
			return (PM_EINVAL);
		}
		a->class_names[i] = pm_strdup(names[i]);
		a->nclasses++;
	}
	pm_cfg_list_free(names);
	for (i = 0; i < a->nclasses && rc == 0; i++) {
		if ((body = pm_cfg_get(a->class_names[i])) == NULL) {
			*err = pm_asprintf("restriction class \"%s\" has no "
			                   "definition",
			    a->class_names[i]);
			return (PM_EINVAL);
		}
		rc = access_parse_list(a, a->class_names[i], body,
		    &a->classes[i], err);
		free(body);
	}
	return (rc);
}

/*
 * 1 if list l restricts relaying, as Postfix's has_required(): one of
 * reject_unauth_destination, defer_unauth_destination, reject, defer or
 * defer_if_permit, or a class that holds one, before any "permit" (which
 * ends the list). The restriction after warn_if_reject only warns: it
 * does not count.
 */
static int
access_restricts_relay(const pm_access *a, const pm__rlist *l, int depth)
{
	size_t i;
	int op;

	if (depth >= PM_ACCESS_DEPTH_MAX) {
		return (0);
	}
	for (i = 0; i < l->n; i++) {
		op = l->v[i].op;
		if (op == PM__R_WARN_IF_REJECT) {
			i++;
			continue;
		}
		if (op == PM__R_PERMIT) {
			return (0);
		}
		if (op == PM__R_REJECT_UNAUTH_DEST ||
		    op == PM__R_DEFER_UNAUTH_DEST || op == PM__R_REJECT ||
		    op == PM__R_DEFER || op == PM__R_DEFER_IF_PERMIT) {
			return (1);
		}
		if (op == PM__R_CLASS && l->v[i].cls < a->nclasses &&
		    access_restricts_relay(a, &a->classes[l->v[i].cls],
		        depth + 1)) {
			return (1);
		}
	}
	return (0);
}

/* Postfix refuses to run as an open relay, and so do we. */
static int
access_relay_guard(const pm_access *a, char **err)
{
	if (access_restricts_relay(a, &a->lists[PM__L_RELAY], 0) ||
	    access_restricts_relay(a, &a->lists[PM__L_RCPT], 0)) {
		return (0);
	}
	*err = pm_strdup(
	    "in parameter smtpd_relay_restrictions or "
	    "smtpd_recipient_restrictions, specify at least one working "
	    "instance of: reject_unauth_destination, "
	    "defer_unauth_destination, reject, defer or defer_if_permit "
	    "(as configured, smtpd_relay_restrictions and "
	    "smtpd_recipient_restrictions do not restrict relaying: this "
	    "server would be an open relay)");
	return (PM_EINVAL);
}

pm_access *
pm_access_new(pm_access_resolver fn, void *arg, char **err)
{
	static const struct {
		const char *name;
		size_t off;
	} codes[] = {
#define AC(n, f) { n, offsetof(pm_access, f) }
		AC("reject_code", reject_code),
		AC("defer_code", defer_code),
		AC("relay_domains_reject_code", relay_code),
		AC("access_map_reject_code", map_reject_code),
		AC("access_map_defer_code", map_defer_code),
		AC("unknown_local_recipient_reject_code", unk_local_code),
		AC("unknown_virtual_alias_reject_code", unk_alias_code),
		AC("unknown_virtual_mailbox_reject_code", unk_mailbox_code),
		AC("unknown_relay_recipient_reject_code", unk_relay_code),
		AC("unknown_address_reject_code", unk_addr_code),
		AC("unknown_client_reject_code", unk_client_code),
		AC("unknown_hostname_reject_code", unk_host_code),
		AC("non_fqdn_reject_code", non_fqdn_code),
		AC("invalid_hostname_reject_code", bad_host_code),
#undef AC
	};
	pm_access *a = pm_calloc(1, sizeof(*a));
	const char *nerr = NULL;
	char *v;
	char **par;
	size_t i;
	long secs;

	*err = NULL;
	a->resolve = fn;
	a->resolve_arg = arg;
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (access_code(codes[i].name,
		        (int *) ((char *) a + codes[i].off), err) != 0) {
			goto fail;
		}
	}
	if (access_bool("smtpd_delay_reject", &a->delay_reject, err) != 0 ||
	    access_bool("smtpd_reject_unlisted_recipient", &a->unlisted_rcpt,
	        err) != 0 ||
	    access_bool("smtpd_reject_unlisted_sender", &a->unlisted_sender,
	        err) != 0) {
		goto fail;
	}
	v = access_param("smtpd_dns_timeout");
	if (pm_cfg_parse_time(pm_trim(v), 's', &secs) != 0 || secs < 1 ||
	    secs > 3600) {
		*err = pm_asprintf("smtpd_dns_timeout: bad time \"%s\" "
		                   "(want 1s..3600s)",
		    v);
		free(v);
		goto fail;
	}
	free(v);
	a->dns_timeout_ms = (int) secs * 1000;
	if (access_code("maps_rbl_reject_code", &a->rbl_code, err) != 0) {
		goto fail;
	}
	a->rbl_reply = access_param("default_rbl_reply");
	v = access_param("rbl_reply_maps");
	if (*pm_trim(v) != 0 &&
	    (a->rbl_maps = pm_tables_open(v, &nerr)) == NULL) {
		*err = pm_asprintf("rbl_reply_maps: %s: %s", v,
		    nerr ? nerr : "cannot open table");
		free(v);
		goto fail;
	}
	free(v);
	a->null_key = access_param("smtpd_null_access_lookup_key");
	v = access_param("parent_domain_matches_subdomains");
	par = pm_cfg_list(v, NULL);
	free(v);
	for (i = 0; par[i] != NULL; i++) {
		if (strcmp(par[i], "smtpd_access_maps") == 0) {
			a->parent_style = 1;
		}
	}
	pm_cfg_list_free(par);
	v = access_param("mynetworks");
	a->mynetworks = pm_netlist_parse(v, &nerr);
	if (a->mynetworks == NULL) {
		*err = pm_asprintf("mynetworks: %s: %s", v,
		    nerr ? nerr : "bad network list");
		free(v);
		goto fail;
	}
	free(v);
	v = access_param("smtpd_sender_login_maps");
	if (*pm_trim(v) != 0 &&
	    (a->login_maps = pm_tables_open(v, &nerr)) == NULL) {
		*err = pm_asprintf("smtpd_sender_login_maps: %s: %s", v,
		    nerr ? nerr : "cannot open table");
		free(v);
		goto fail;
	}
	free(v);
	if (pm__access_verify_new(&a->verify, err) != 0) {
		goto fail;
	}
	if (access_parse_classes(a, err) != 0) {
		goto fail;
	}
	for (i = 0; i < PM__L_COUNT; i++) {
		v = access_param(list_params[i]);
		if (access_parse_list(a, list_params[i], v, &a->lists[i],
		        err) != 0) {
			free(v);
			goto fail;
		}
		free(v);
	}
	if (access_relay_guard(a, err) != 0) {
		goto fail;
	}
	return (a);
fail:
	if (*err == NULL) {
		*err = pm_strdup("bad smtpd restriction configuration");
	}
	pm_access_free(a);
	return (NULL);
}

pm_access *
pm_access_free(pm_access *a)
{
	size_t i;

	if (a == NULL) {
		return (NULL);
	}
	for (i = 0; i < PM__L_COUNT; i++) {
		rlist_free(&a->lists[i]);
	}
	for (i = 0; i < a->nclasses; i++) {
		rlist_free(&a->classes[i]);
		free(a->class_names[i]);
	}
	free(a->classes);
	free(a->class_names);
	pm_netlist_free(a->mynetworks);
	pm_tables_close(a->login_maps);
	pm_tables_close(a->rbl_maps);
	free(a->rbl_reply);

	pm__access_verify_free(a->verify);
	free(a->null_key);
	free(a);
	return (NULL);
}

int
pm_access_mynetworks(const pm_access *a, const char *addr)
{
	return (a != NULL && addr != NULL &&
	    pm_netlist_match(a->mynetworks, addr) == 1);
}

const char *
pm__access_stage_name(int stage)
{
	static const char *const names[] = { "CONNECT", "HELO", "MAIL", "RCPT",
		"DATA" };

	return (stage >= 0 && stage <= PM_ACCESS_DATA ? names[stage] : "?");
}

/* Postfix's "NOQUEUE: reject_warning: RCPT from name[addr]: ..." line. */
void
pm__access_log(pm__actx *c, const char *what, const char *text)
{
	const pm_access_state *st = c->st;
	char *from = pm_printable_dup(st->sender ? st->sender : "",
	    strlen(st->sender ? st->sender : ""), PM_ADDR_MAX);
	char *to = pm_printable_dup(st->recipient ? st->recipient : "",
	    strlen(st->recipient ? st->recipient : ""), PM_ADDR_MAX);
	char *helo = pm_printable_dup(st->helo ? st->helo : "",
	    strlen(st->helo ? st->helo : ""), PM_ADDR_MAX);
	char *qid = pm_printable_dup(st->queue_id ? st->queue_id : "NOQUEUE",
	    strlen(st->queue_id ? st->queue_id : "NOQUEUE"), 64);
	char *t = pm_printable_dup(text, strlen(text), PM_ACCESS_TEXT_MAX);

	pm_msg_info("%s: %s: %s from %s: %s; from=<%s> to=<%s> helo=<%s>", qid,
	    what, pm__access_stage_name(c->stage), c->namaddr, t, from, to,
	    helo);
	free(from);
	free(to);
	free(helo);
	free(qid);
	free(t);
}

/* dsn "X.Y.Z" (checked) with X made equal to the reply class. */
static void
access_dsn(char *out, size_t size, const char *dsn, int code)
{
	const char *p = dsn;
	int parts = 0;
	int digits;

	for (;;) {
		for (digits = 0; isdigit((unsigned char) *p) && digits < 3;
		     p++) {
			digits++;
		}
		if (digits == 0 || (parts == 0 && digits != 1)) {
			break;
		}
		if (++parts == 3 || *p != '.') {
			break;
		}
		p++;
	}
	if (parts != 3 || *p != 0 || strlen(dsn) >= size) {
		dsn = "0.0.0";
	}
	snprintf(out, size, "%s", dsn);
	out[0] = (char) ('0' + code / 100);
}

static void
access_format(pm_access_result *r, int code, const char *dsn, const char *fmt,
    va_list ap)
{
	memset(r, 0, sizeof(*r));
	r->code = code;
	access_dsn(r->dsn, sizeof(r->dsn), dsn, code);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	pm_printable(r->text);
}

static void
access_warn_reply(pm__actx *c, const pm_access_result *r)
{
	char line[PM_ACCESS_TEXT_MAX + 32];

	snprintf(line, sizeof(line), "%d %s %s", r->code, r->dsn, r->text);
	pm__access_log(c, "reject_warning", line);
}

int
pm__access_reply(pm__actx *c, int code, const char *dsn, const char *fmt, ...)
{
	pm_access_result r;
	va_list ap;

	va_start(ap, fmt);
	access_format(&r, code, dsn, fmt, ap);
	va_end(ap);
	if (c->warn_active) {
		access_warn_reply(c, &r);
		return (PM__DUNNO);
	}
	if (c->dir && r.code >= 500) {
		r = c->dir_res; /* defer_if_reject turns this into 4xx */
	}
	c->res->code = r.code;
	memcpy(c->res->dsn, r.dsn, sizeof(r.dsn));
	memcpy(c->res->text, r.text, sizeof(r.text));
	return (PM__REJECT);
}

void
pm__access_defer_if(pm__actx *c, int permit, int code, const char *dsn,
    const char *fmt, ...)
{
	pm_access_result r;
	va_list ap;

	va_start(ap, fmt);
	access_format(&r, code, dsn, fmt, ap);
	va_end(ap);
	if (c->warn_active) {
		access_warn_reply(c, &r);
	} else if (permit && !c->dip) {
		c->dip = 1;
		c->dip_res = r;
	} else if (!permit && !c->dir) {
		c->dir = 1;
		c->dir_res = r;
	}
}

int
pm__access_eval_list(pm__actx *c, const pm__restr *v, size_t n, int kind)
{
	size_t i;
	int saved;
	int rc;

	for (i = 0; i < n; i++) {
		if (v[i].op == PM__R_WARN_IF_REJECT) {
			c->warn_next = 1;
			continue;
		}
		saved = c->warn_active;
		c->warn_active |= c->warn_next;
		c->warn_next = 0;
		rc = pm__access_eval_item(c, &v[i], kind);
		c->warn_active = saved;
		if (rc != PM__DUNNO) {
			c->warn_next = 0;
			return (rc);
		}
	}
	c->warn_next = 0; /* a trailing warn_if_reject ends with its list */
	return (PM__DUNNO);
}

static int
access_run(pm__actx *c, int kind)
{
	const pm__rlist *l = &c->a->lists[kind];

	c->warn_next = 0;
	return (pm__access_eval_list(c, l->v, l->n, kind) == PM__REJECT ?
	        PM__REJECT :
	        PM__DUNNO);
}

/* Client, helo and sender lists (and the implicit unlisted sender). */
static int
access_early(pm__actx *c, int first, int last)
{
	int kind;

	for (kind = first; kind <= last; kind++) {
		if (access_run(c, kind) == PM__REJECT) {
			return (PM__REJECT);
		}
	}
	if (last == PM__L_SENDER && c->a->unlisted_sender &&
	    !c->sender_checked && c->st->sender != NULL &&
	    c->st->sender[0] != 0) {
		return (pm__access_unlisted(c, c->st->sender, 1));
	}
	return (PM__DUNNO);
}

int
pm_access_stage_idle(const pm_access *a, int stage)
{
	switch (stage) {
	case PM_ACCESS_CONNECT:
		return (a->delay_reject || a->lists[PM__L_CLIENT].n == 0);
	case PM_ACCESS_HELO:
		return (a->delay_reject || a->lists[PM__L_HELO].n == 0);
	case PM_ACCESS_MAIL:
		return (a->delay_reject ||
		    (a->lists[PM__L_SENDER].n == 0 && !a->unlisted_sender));
	case PM_ACCESS_DATA:
		return (a->lists[PM__L_DATA].n == 0);
	default:
		return (0);
	}
}

void
pm_access_check(const pm_access *a, int stage, const pm_access_state *st,
    pm_access_result *res)
{
	pm__actx c;
	int rc = PM__DUNNO;
	int delay = a->delay_reject;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	c.a = a;
	c.st = st;
	c.res = res;
	c.stage = stage;
	snprintf(c.namaddr, sizeof(c.namaddr), "%.*s[%.*s]", PM_ADDR_MAX,
	    st->client_name ? st->client_name : "unknown", 64,
	    st->client_addr ? st->client_addr : "unknown");
	switch (stage) {
	case PM_ACCESS_CONNECT:
		if (!delay) {
			rc = access_early(&c, PM__L_CLIENT, PM__L_CLIENT);
		}
		break;
	case PM_ACCESS_HELO:
		if (!delay) {
			rc = access_early(&c, PM__L_HELO, PM__L_HELO);
		}
		break;
	case PM_ACCESS_MAIL:
		if (!delay) {
			rc = access_early(&c, PM__L_SENDER, PM__L_SENDER);
		}
		break;
	case PM_ACCESS_RCPT:
		if (delay) {
			rc = access_early(&c, PM__L_CLIENT, PM__L_SENDER);
		}
		if (rc != PM__REJECT) {
			rc = access_run(&c, PM__L_RELAY);
		}
		if (rc != PM__REJECT) {
			rc = access_run(&c, PM__L_RCPT);
		}
		if (rc != PM__REJECT && a->unlisted_rcpt && !c.rcpt_checked &&
		    st->recipient != NULL) {
			rc = pm__access_unlisted(&c, st->recipient, 0);
		}
		break;
	case PM_ACCESS_DATA:
		rc = access_run(&c, PM__L_DATA);
		break;
	default:
		break;
	}
	if (rc != PM__REJECT) {
		res->code = 0;
		res->dsn[0] = 0;
		res->text[0] = 0;
		if (c.dip) {
			res->code = c.dip_res.code;
			memcpy(res->dsn, c.dip_res.dsn, sizeof(res->dsn));
			memcpy(res->text, c.dip_res.text, sizeof(res->text));
		}
	}
}
