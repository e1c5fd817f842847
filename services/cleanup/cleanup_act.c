/*
 * NAME
 *	cleanup_act - header_checks/body_checks actions and their logging
 * DESCRIPTION
 *	pm_check_parse() splits a table result into action and text.
 *	pm__cleanup_act() carries out an action as Postfix's cleanup_act():
 *	  REJECT [text]  reject; text may start with a DSN code ("4.7.1
 *	                 try later" gives 451 4.7.1), default 550 5.7.1
 *	                 "Error: message content rejected";
 *	  DISCARD [text] accept (250) but do not queue;
 *	  HOLD [text]    queue on hold (logged once);
 *	  WARN/INFO      log only;
 *	  IGNORE, PREPEND, REPLACE  returned to the caller, which edits the
 *	                 content (PREPEND/REPLACE text must be a header in
 *	                 header_checks);
 *	  OK, DUNNO      nothing.
 *	pm__cleanup_act_log() writes the Postfix log line.
 *	pm_canon_classes() parses canonical_classes.
 * LIMITS
 *	Reply text is cut to fit pm_cleanup_msg.text; logged content to
 *	200 bytes, as Postfix.
 * SECURITY
 *	Message content is untrusted and always logged through
 *	pm_printable; table results are operator input, made printable
 *	before they go into an SMTP reply.
 */
#include "cleanup_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_msghdr.h"

static const struct {
	const char *name;
	pm_check_act act;
} check_names[] = {
	{ "REJECT", PM_CHECK_REJECT },
	{ "DISCARD", PM_CHECK_DISCARD },
	{ "HOLD", PM_CHECK_HOLD },
	{ "WARN", PM_CHECK_WARN },
	{ "INFO", PM_CHECK_INFO },
	{ "IGNORE", PM_CHECK_IGNORE },
	{ "PREPEND", PM_CHECK_PREPEND },
	{ "REPLACE", PM_CHECK_REPLACE },
	{ "DUNNO", PM_CHECK_DUNNO },
	{ "OK", PM_CHECK_DUNNO },
	{ NULL, PM_CHECK_UNKNOWN },
};

pm_check_act
pm_check_parse(const char *value, const char **text)
{
	size_t n = strcspn(value, " \t");
	const char *t = value + n;
	int i;

	while (*t == ' ' || *t == '\t') {
		t++;
	}
	*text = t;
	for (i = 0; check_names[i].name != NULL; i++) {
		if (strlen(check_names[i].name) == n &&
		    pm_strncaseeq(value, check_names[i].name, n)) {
			return (check_names[i].act);
		}
	}
	return (PM_CHECK_UNKNOWN);
}

void
pm__cleanup_act_log(const pm_cleanup_msg *m, const char *action,
    const char *ctx, const char *content, size_t clen, const char *text)
{
	char *c = pm_printable_dup(content, clen, 200);
	char *s = pm_printable_dup(m->sender ? m->sender : "",
	    strlen(m->sender ? m->sender : ""), 400);
	char *r =
	    m->rcpt ? pm_printable_dup(m->rcpt, strlen(m->rcpt), 400) : NULL;
	char *pr = m->protocol && *m->protocol ?
	    pm_printable_dup(m->protocol, strlen(m->protocol), 40) :
	    NULL;
	char *h = m->helo && *m->helo ?
	    pm_printable_dup(m->helo, strlen(m->helo), 300) :
	    NULL;
	char *t =
	    text && *text ? pm_printable_dup(text, strlen(text), 600) : NULL;

	pm_msg_info("%s: %s: %s %s from %s; from=<%s>%s%s%s%s%s%s%s%s%s%s",
	    m->qid, action, ctx, c, m->origin ? m->origin : "local", s,
	    r ? " to=<" : "", r ? r : "", r ? ">" : "", pr ? " proto=" : "",
	    pr ? pr : "", h ? " helo=<" : "", h ? h : "", h ? ">" : "",
	    t ? ": " : "", t ? t : "");
	free(c);
	free(s);
	free(r);
	free(pr);
	free(h);
	free(t);
}

/* "4.7.1 text" -> dsn "4.7.1", *rest "text"; 0 if text has no DSN. */
static int
check_dsn(const char *text, char *dsn, size_t size, const char **rest)
{
	const char *p = text;
	int part, digits;

	if (*p < '2' || *p > '5' || p[1] != '.') {
		return (0);
	}
	p += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; *p >= '0' && *p <= '9'; p++) {
			digits++;
		}
		if (digits < 1 || digits > 3) {
			return (0);
		}
		if (part == 0 && *p++ != '.') {
			return (0);
		}
	}
	if (*p != 0 && *p != ' ' && *p != '\t') {
		return (0);
	}
	snprintf(dsn, size, "%.*s", (int) (p - text), text);
	while (*p == ' ' || *p == '\t') {
		p++;
	}
	*rest = p;
	return (1);
}

static void
act_reject(pm_cleanup_msg *m, const char *map, const char *text)
{
	const char *rest = text;

	if (*text && check_dsn(text, m->dsn, sizeof(m->dsn), &rest)) {
		if (m->dsn[0] != '4' && m->dsn[0] != '5') {
			pm_msg_warn("bad DSN action in %s map: %s -- need "
			            "4.x.x or 5.x.x",
			    map, text);
			m->dsn[0] = '4';
		}
	} else {
		snprintf(m->dsn, sizeof(m->dsn), "5.7.1");
	}
	snprintf(m->text, sizeof(m->text), "%s",
	    *rest ? rest : "Error: message content rejected");
	pm_printable(m->text);
	m->code = m->dsn[0] == '4' ? 451 : 550;
	m->status = PM_CLEANUP_REJECT;
}

pm_check_act
pm__cleanup_act(pm_cleanup_msg *m, const char *ctx, const char *map,
    const char *content, size_t clen, const char *value, const char **text)
{
	pm_check_act act = pm_check_parse(value, text);
	const char *t = *text;
	char logtext[sizeof(m->text) + 32];
	int header = strcmp(ctx, PM__CLEANUP_CTX_HEADER) == 0;

	switch (act) {
	case PM_CHECK_REJECT:
		act_reject(m, map, t);
		snprintf(logtext, sizeof(logtext), "%s %s", m->dsn, m->text);
		pm__cleanup_act_log(m, "reject", ctx, content, clen, logtext);
		return (PM_CHECK_DUNNO);
	case PM_CHECK_DISCARD:
		pm__cleanup_act_log(m, "discard", ctx, content, clen, t);
		m->status = PM_CLEANUP_DISCARD;
		return (PM_CHECK_DUNNO);
	case PM_CHECK_HOLD:
		if (!m->hold) {
			pm__cleanup_act_log(m, "hold", ctx, content, clen, t);
			m->hold = 1;
		}
		return (PM_CHECK_DUNNO);
	case PM_CHECK_WARN:
		pm__cleanup_act_log(m, "warning", ctx, content, clen, t);
		return (PM_CHECK_DUNNO);
	case PM_CHECK_INFO:
		pm__cleanup_act_log(m, "info", ctx, content, clen, t);
		return (PM_CHECK_DUNNO);
	case PM_CHECK_PREPEND:
	case PM_CHECK_REPLACE:
		if (*t == 0) {
			pm_msg_warn("%s action without text in %s map",
			    act == PM_CHECK_PREPEND ? "PREPEND" : "REPLACE",
			    map);
			return (PM_CHECK_DUNNO);
		}
		if (header && pm_hdr_namelen(t, strlen(t)) == 0) {
			pm_msg_warn("bad %s header text \"%s\" in %s map -- "
			            "need \"headername: headervalue\"",
			    act == PM_CHECK_PREPEND ? "PREPEND" : "REPLACE", t,
			    map);
			return (PM_CHECK_DUNNO);
		}
		pm__cleanup_act_log(m,
		    act == PM_CHECK_PREPEND ? "prepend" : "replace", ctx,
		    content, clen, t);
		return (act);
	case PM_CHECK_IGNORE:
		return (act);
	case PM_CHECK_DUNNO:
		return (act);
	case PM_CHECK_UNKNOWN:
	default:
		pm_msg_warn("unknown command in %s map: %s", map, value);
		return (PM_CHECK_DUNNO);
	}
}

unsigned
pm_canon_classes(const char *spec)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "envelope_sender", PM_CANON_ENV_SENDER },
		{ "envelope_recipient", PM_CANON_ENV_RCPT },
		{ "header_sender", PM_CANON_HDR_SENDER },
		{ "header_recipient", PM_CANON_HDR_RCPT },
		{ NULL, 0 },
	};
	char **list = pm_cfg_list(spec ? spec : "", NULL);
	unsigned bits = 0;
	size_t i;
	int j;

	for (i = 0; list && list[i]; i++) {
		for (j = 0; names[j].name; j++) {
			if (pm_strcaseeq(list[i], names[j].name)) {
				bits |= names[j].bit;
				break;
			}
		}
		if (names[j].name == NULL) {
			pm_msg_warn("unknown canonical_classes value \"%s\"",
			    list[i]);
		}
	}
	pm_cfg_list_free(list);
	return (bits);
}
