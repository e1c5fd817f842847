/*
 * NAME
 *	smtpd_received - the Received: header smtpd prepends
 * DESCRIPTION
 *	Postfix's format:
 *
 *	Received: from HELO (NAME [ADDR])
 *		(using TLSv1.3 with cipher ... (256/256 bits) ...)
 *		(No client certificate requested)
 *		by MYHOSTNAME (MAIL_NAME) with PROTO id QID
 *		for <RCPT>; Wed, 25 Nov 2026 16:49:31 +0000 (UTC)
 *
 *	"for <RCPT>" only with exactly one recipient; otherwise the date
 *	follows "id QID;" on its own continuation line. Without HELO the
 *	client name stands in for it. ADDR is "IPv6:..." for IPv6. The
 *	date is local time with its offset and zone name (RFC 5322). The
 *	"(using" lines only with TLS and smtpd_tls_received_header = yes;
 *	with TLS and EHLO the protocol is ESMTPS.
 * LIMITS
 *	HELO and recipient are cut to 255 and 320 octets.
 * SECURITY
 *	HELO and recipient come from the client: non-printable octets are
 *	replaced (the recipient keeps its UTF-8 with SMTPUTF8, which
 *	pm_addr validated); a header line never holds a bare CR or LF.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pm_addr.h"
#include "pm_common_params.h"
#include "smtpd_session.h"
#include "smtpd_tls.h"

int
smtpd_received(pm_buf *b, const smtpd_session *s, int64_t now_us)
{
	time_t t = (time_t) (now_us / 1000000);
	struct tm tm;
	char date[80];
	char *helo;
	char *rcpt = NULL;
	int rc;

	localtime_r(&t, &tm);
	if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z (%Z)",
	        &tm) == 0) {
		date[0] = 0;
	}
	helo = s->helo != NULL ?
	    pm_printable_dup(s->helo, strlen(s->helo), 255) :
	    pm_strdup(s->name);
	rc = pm_buf_printf(b, "Received: from %s (%s [%s])\r\n", helo, s->name,
	    s->rfc_addr);
	if (rc == 0) {
		rc = smtpd_tls_received(b, s);
	}
	if (rc == 0) {
		/* RFC 3848: ESMTPS with TLS, ESMTPA after AUTH, ESMTPSA. */
		rc = pm_buf_printf(b, "\tby %s (%s) with %s%s%s id %s",
		    var_myhostname, var_mail_name, s->protocol,
		    s->tls && s->esmtp ? "S" : "",
		    s->sasl_username != NULL && s->esmtp ? "A" : "", s->qid);
	}
	if (rc == 0 && s->nrcpt == 1) {
		const char *a = s->rcpt[0].address;

		if (s->smtputf8 && strlen(a) <= PM_ADDR_MAX) {
			rcpt = pm_strdup(a);
		} else {
			rcpt = pm_printable_dup(a, strlen(a), PM_ADDR_MAX);
		}
		rc = pm_buf_printf(b, "\r\n\tfor <%s>; %s\r\n", rcpt, date);
	} else if (rc == 0) {
		rc = pm_buf_printf(b, ";\r\n\t%s\r\n", date);
	}
	free(rcpt);
	free(helo);
	return (rc);
}
