/*
 * NAME
 *	smtpd_esmtp - ESMTP parameters of MAIL and RCPT
 * DESCRIPTION
 *	smtpd_mail_params() checks and applies SIZE, BODY, SMTPUTF8, RET
 *	and ENVID of a MAIL command (RFC 1870, 6152, 6531, 3461): 0, or -1
 *	after it gave the reply (501/552/555 5.5.4, as Postfix).
 *	smtpd_parse_notify() parses NOTIFY= into PM_NOTIFY_* bits;
 *	smtpd_parse_orcpt() decodes ORCPT=type;xtext into "type;decoded"
 *	(new string) or NULL. Called by smtpd_cmd.c.
 * LIMITS
 *	SIZE: 20 digits, at most message_size_limit; ENVID and ORCPT:
 *	pm_envcheck.h; ORCPT address types of 32 characters.
 * SECURITY
 *	Values come from the client: each passes the pm_envcheck check
 *	cleanup applies (one rule, one function), or is refused here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pm_msgflags.h"
#include "pm_addr.h"
#include "pm_common_params.h"
#include "pm_envcheck.h"
#include "smtpd_params.h"
#include "smtpd_session.h"

static int
parse_size(const char *v, unsigned long long *out)
{
	char *end;

	if (v == NULL || *v < '0' || *v > '9' || strlen(v) > 20) {
		return (PM_EINVAL);
	}
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno != 0 || *end != 0) {
		return (PM_EINVAL);
	}
	return (0);
}

int
smtpd_mail_params(smtpd_session *s, const pm_smtp_path *p)
{
	size_t i;

	for (i = 0; i < p->nparams; i++) {
		const char *k = p->params[i].key;
		const char *v = p->params[i].value;
		unsigned long long size;

		if (strcmp(k, "SIZE") == 0) {
			if (parse_size(v, &size) != 0) {
				smtpd_reject_count(REJ_SYNTAX);
				smtpd_reply(s, 501, "5.5.4",
				    "Bad message size syntax");
				return (-1);
			}
			if (size >
			    (unsigned long long) var_message_size_limit) {
				smtpd_reject_count(REJ_SIZE);
				smtpd_reply(s, 552, "5.3.4",
				    "Message size exceeds fixed limit");
				return (-1);
			}
		} else if (strcmp(k, "BODY") == 0) {
			if (v != NULL && pm_strcaseeq(v, "7BIT")) {
				s->body_type = PM_BODYTYPE_7BIT;
			} else if (v != NULL && pm_strcaseeq(v, "8BITMIME")) {
				s->body_type = PM_BODYTYPE_8BITMIME;
			} else {
				smtpd_reject_count(REJ_SYNTAX);
				smtpd_reply(s, 501, "5.5.4",
				    "Unsupported BODY parameter");
				return (-1);
			}
		} else if (strcmp(k, "SMTPUTF8") == 0) {
			if (v != NULL) {
				smtpd_reject_count(REJ_SYNTAX);
				smtpd_reply(s, 501, "5.5.4",
				    "Bad SMTPUTF8 parameter syntax");
				return (-1);
			}
			s->smtputf8 = 1;
		} else if (strcmp(k, "RET") == 0) {
			if (v != NULL && pm_strcaseeq(v, "FULL")) {
				s->dsn_ret = PM_RET_FULL;
			} else if (v != NULL && pm_strcaseeq(v, "HDRS")) {
				s->dsn_ret = PM_RET_HDRS;
			} else {
				smtpd_reject_count(REJ_SYNTAX);
				smtpd_reply(s, 501, "5.5.4",
				    "Bad RET parameter syntax");
				return (-1);
			}
		} else if (strcmp(k, "ENVID") == 0) {
			char *d = v != NULL ? pm_xtext_decode(v) : NULL;

			if (d == NULL || pm_envcheck_envid(d) != NULL) {
				free(d);
				smtpd_reject_count(REJ_SYNTAX);
				smtpd_reply(s, 501, "5.5.4",
				    "Bad ENVID parameter syntax");
				return (-1);
			}
			free(s->dsn_envid);
			s->dsn_envid = d;
		} else if (strcmp(k, "AUTH") == 0) {
			/*
			 * RFC 4954 5: kept as sasl_sender (pipe's
			 * ${sasl_sender}), as Postfix, unless it is <>.
			 */
			char *d = v != NULL ? pm_xtext_decode(v) : NULL;

			if (d == NULL || pm_envcheck_addr(d) != NULL) {
				free(d);
				smtpd_reject_count(REJ_SYNTAX);
				smtpd_reply(s, 501, "5.5.4",
				    "Bad AUTH parameter value");
				return (-1);
			}
			free(s->sasl_sender);
			s->sasl_sender = NULL;
			if (strcmp(d, "<>") != 0) {
				s->sasl_sender = d;
			} else {
				free(d);
			}
		} else {
			char *pk = pm_printable_dup(k, strlen(k), 64);

			smtpd_reject_count(REJ_SYNTAX);
			smtpd_reply(s, 555, "5.5.4", "Unsupported option: %s",
			    pk);
			free(pk);
			return (-1);
		}
	}
	return (0);
}

int
smtpd_parse_notify(const char *v, unsigned *out)
{
	char *copy;
	char *tok;
	char *save = NULL;
	unsigned bits = 0;

	if (v == NULL || *v == 0) {
		return (PM_EINVAL);
	}
	copy = pm_strdup(v);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (pm_strcaseeq(tok, "NEVER")) {
			bits |= PM_NOTIFY_NEVER;
		} else if (pm_strcaseeq(tok, "SUCCESS")) {
			bits |= PM_NOTIFY_SUCCESS;
		} else if (pm_strcaseeq(tok, "FAILURE")) {
			bits |= PM_NOTIFY_FAILURE;
		} else if (pm_strcaseeq(tok, "DELAY")) {
			bits |= PM_NOTIFY_DELAY;
		} else {
			free(copy);
			return (PM_EINVAL);
		}
	}
	free(copy);
	/* NEVER must stand alone (RFC 3461 4.1); ",," is malformed. */
	if (bits == 0 || pm_envcheck_notify(bits) != NULL ||
	    strstr(v, ",,") != NULL || v[0] == ',' || v[strlen(v) - 1] == ',') {
		return (PM_EINVAL);
	}
	*out = bits;
	return (0);
}

char *
smtpd_parse_orcpt(const char *v)
{
	const char *semi;
	char *dec;
	char *res;
	size_t i;

	if (v == NULL || (semi = strchr(v, ';')) == NULL || semi == v ||
	    semi - v > 32) {
		return (NULL);
	}
	for (i = 0; v + i < semi; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '-')) {
			return (NULL);
		}
	}
	if ((dec = pm_xtext_decode(semi + 1)) == NULL || *dec == 0) {
		free(dec);
		return (NULL);
	}
	res = pm_asprintf("%.*s;%s", (int) (semi - v), v, dec);
	free(dec);
	if (pm_envcheck_orcpt(res) != NULL) {
		free(res);
		return (NULL);
	}
	return (res);
}
