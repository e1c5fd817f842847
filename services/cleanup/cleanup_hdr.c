/*
 * NAME
 *	cleanup_hdr - cleanup header processing and content assembly
 * DESCRIPTION
 *	pm_cleanup_content() (see cleanup_proc.h): walks the primary header
 *	block with pm_hdr_iter, runs header_checks on each logical header,
 *	notes the headers that matter (From, Date, Message-ID, their
 *	Resent- forms, Received and Delivered-To for the hop count),
 *	removes drop_headers, then builds the output: missing headers
 *	first, kept headers next (their original bytes when untouched),
 *	the separator line, and the body (through body_checks).
 *
 *	Decisions (docs/cleanup.md): the hop count includes Delivered-To:
 *	and a message is refused when it exceeds hopcount_limit (554
 *	5.4.0 Error: too many hops); added headers go in front of the
 *	message (Postfix appends them to the header block) so that the
 *	client's bytes stay a suffix of the queued content; there is no
 *	header count limit: the header block is bounded by
 *	message_size_limit, each header by header_size_limit, and headers
 *	are processed one at a time (nothing per header is kept).
 * LIMITS
 *	header_size_limit, hopcount_limit (see cleanup_proc.h).
 * SECURITY
 *	Content is untrusted; see pm_msghdr.h.
 */
#include "cleanup_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_log.h"
#include "pm_msghdr.h"

/* Headers cleanup looks at. */
#define SEEN_FROM 0x01
#define SEEN_DATE 0x02
#define SEEN_MSGID 0x04
#define SEEN_RESENT_FROM 0x08
#define SEEN_RESENT_DATE 0x10
#define SEEN_RESENT_MSGID 0x20
#define SEEN_RESENT 0x40 /* any Resent- header: add Resent- forms */

static const struct {
	const char *name;
	unsigned seen;
} seen_names[] = {
	{ "From", SEEN_FROM },
	{ "Date", SEEN_DATE },
	{ "Message-ID", SEEN_MSGID },
	{ "Resent-From", SEEN_RESENT_FROM | SEEN_RESENT },
	{ "Resent-Date", SEEN_RESENT_DATE | SEEN_RESENT },
	{ "Resent-Message-ID", SEEN_RESENT_MSGID | SEEN_RESENT },
	{ "Resent-Sender", SEEN_RESENT },
	{ "Resent-To", SEEN_RESENT },
	{ "Resent-Cc", SEEN_RESENT },
	{ "Resent-Bcc", SEEN_RESENT },
	{ "Resent-Reply-To", SEEN_RESENT },
	{ NULL, 0 },
};

void
pm_cleanup_msg_init(pm_cleanup_msg *m)
{
	memset(m, 0, sizeof(*m));
	pm_buf_init(&m->out, 0);
}

void
pm_cleanup_msg_free(pm_cleanup_msg *m)
{
	pm_buf_free(&m->out);
}

static int
hdr_dropped(const pm_cleanup_cfg *cfg, const pm_hdr *h)
{
	size_t i;

	for (i = 0; cfg->drop_headers && cfg->drop_headers[i]; i++) {
		if (pm_hdr_is(h, cfg->drop_headers[i])) {
			return (1);
		}
	}
	return (0);
}

/* Remember the first Message-ID value for the log line. */
static void
hdr_note_msgid(pm_cleanup_msg *m, const pm_hdr *h)
{
	const char *v;
	size_t len;

	if (m->message_id[0]) {
		return;
	}
	v = pm_hdr_value(h, &len);
	while (len > 0 &&
	    (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\n' ||
	        v[len - 1] == '\r')) {
		len--;
	}
	if (len >= sizeof(m->message_id)) {
		len = sizeof(m->message_id) - 1;
	}
	memcpy(m->message_id, v, len);
	m->message_id[len] = 0;
	pm_printable(m->message_id);
	if (m->message_id[0] == 0) {
		snprintf(m->message_id, sizeof(m->message_id), "<>");
	}
}

/* Write the header to out: original bytes if untouched. */
static int
hdr_out(pm_buf *out, const pm_hdr *h)
{
	int err;

	if (h->normalized || h->truncated) {
		return (pm_hdr_write(out, h->text.data, h->text.len));
	}
	if ((err = pm_buf_append(out, h->raw, h->rawlen)) != 0) {
		return (err);
	}
	if (h->rawlen == 0 || h->raw[h->rawlen - 1] != '\n') {
		/* the content ended without a line end */
		return (pm_buf_append(out, "\r\n", 2));
	}
	return (0);
}

/*
 * header_checks for one header. Returns 1 to keep the header, 0 to
 * drop it (IGNORE) or when processing stops (m->status).
 */
static int
hdr_check(const pm_cleanup_cfg *cfg, pm_cleanup_msg *m, pm_hdr *h, pm_buf *out)
{
	const char *key = pm_hdr_key(h), *text;
	pm_check_act act;
	char *val = NULL;
	int err, keep = 1;

	err = pm_tables_get(cfg->header_checks, key, &val);
	if (err == PM_ENOENT) {
		return (1);
	}
	if (err != 0) {
		pm_msg_warn("%s: header_checks map lookup problem -- "
		            "message not accepted, try again later",
		    m->qid);
		m->status = PM_CLEANUP_DEFER;
		return (0);
	}
	act = pm__cleanup_act(m, PM__CLEANUP_CTX_HEADER, "header_checks",
	    h->text.data, h->text.len, val, &text);
	switch (act) {
	case PM_CHECK_IGNORE:
		keep = 0;
		break;
	case PM_CHECK_PREPEND:
		if (pm_hdr_write(out, text, strlen(text)) != 0) {
			m->status = PM_CLEANUP_DEFER;
			keep = 0;
		}
		break;
	case PM_CHECK_REPLACE:
		pm_buf_reset(&h->text);
		pm_buf_puts(&h->text, text);
		h->namelen = pm_hdr_namelen(text, strlen(text));
		h->normalized = 1;
		break;
	default:
		break;
	}
	free(val);
	return (keep && m->status == PM_CLEANUP_QUEUE);
}

/* Note what the header is; count hops. */
static unsigned
hdr_classify(pm_cleanup_msg *m, const pm_hdr *h)
{
	int i;

	if (pm_hdr_is(h, "Received") || pm_hdr_is(h, "Delivered-To")) {
		m->hops++;
	}
	for (i = 0; seen_names[i].name; i++) {
		if (pm_hdr_is(h, seen_names[i].name)) {
			if (seen_names[i].seen & SEEN_MSGID) {
				hdr_note_msgid(m, h);
			}
			return (seen_names[i].seen);
		}
	}
	return (0);
}

/*
 * The From: value: "sender", or with a full name (sendmail -F) "Full
 * Name <sender>" as Postfix's hfrom_format = standard; a name with
 * RFC 5322 specials is sent as a quoted string.
 */
static int
hdr_from_value(pm_buf *out, const char *pfx, const char *name, const char *addr)
{
	const char *p;
	int special = 0;

	if (name == NULL || *name == 0) {
		return (pm_buf_printf(out, "%sFrom: %s\r\n", pfx, addr));
	}
	for (p = name; *p; p++) {
		if (strchr("()<>@,;:\\\".[]", *p) != NULL) {
			special = 1;
		}
	}
	if (!special) {
		return (pm_buf_printf(out, "%sFrom: %s <%s>\r\n", pfx, name,
		    addr));
	}
	if (pm_buf_printf(out, "%sFrom: \"", pfx) != 0) {
		return (-1);
	}
	for (p = name; *p; p++) {
		if ((*p == '"' || *p == '\\') &&
		    pm_buf_append(out, "\\", 1) != 0) {
			return (-1);
		}
		if (pm_buf_append(out, p, 1) != 0) {
			return (-1);
		}
	}
	return (pm_buf_printf(out, "\" <%s>\r\n", addr));
}

/* Missing Message-Id:, Date:, From: (or their Resent- forms). */
static int
hdr_add_missing(const pm_cleanup_cfg *cfg, pm_cleanup_msg *m, unsigned seen,
    pm_buf *out)
{
	int resent = (seen & SEEN_RESENT) != 0;
	const char *pfx = resent ? "Resent-" : "";
	char stamp[32], date[128], *from;
	struct tm tm;
	int err = 0;

	if (!(seen & (resent ? SEEN_RESENT_MSGID : SEEN_MSGID))) {
		gmtime_r(&m->now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
		err |= pm_buf_printf(out, "%sMessage-Id: <%s.%s@%s>\r\n", pfx,
		    stamp, m->qid,
		    cfg->myhostname ? cfg->myhostname : "localhost");
		if (!resent) {
			snprintf(m->message_id, sizeof(m->message_id),
			    "<%s.%s@%s>", stamp, m->qid,
			    cfg->myhostname ? cfg->myhostname : "localhost");
			pm_printable(m->message_id);
		}
	}
	if (!(seen & (resent ? SEEN_RESENT_DATE : SEEN_DATE))) {
		pm_mail_date(m->arrival, date, sizeof(date));
		err |= pm_buf_printf(out, "%sDate: %s\r\n", pfx, date);
	}
	if (!(seen & (resent ? SEEN_RESENT_FROM : SEEN_FROM))) {
		from = pm_quote_822_local(m->sender && *m->sender ?
		        m->sender :
		        "MAILER-DAEMON");
		err |= hdr_from_value(out, pfx,
		           m->sender && *m->sender ? m->full_name : NULL,
		           from) != 0;
		free(from);
	}
	return (err ? PM_ETOOBIG : 0);
}

int
pm_cleanup_content(const pm_cleanup_cfg *cfg, pm_cleanup_msg *m,
    const void *content, size_t len)
{
	pm_hdr_iter it;
	pm_hdr h;
	pm_buf hdrs;
	unsigned seen = 0;
	int checks, err = 0;
	const char *body;
	size_t bodylen;
	char hops[64];

	m->status = PM_CLEANUP_QUEUE;
	m->hold = 0;
	m->hops = 0;
	m->message_id[0] = 0;
	pm_buf_reset(&m->out);
	pm_buf_init(&hdrs, 0);
	pm_hdr_init(&h);
	checks = m->filter && cfg->header_checks &&
	    pm_tables_count(cfg->header_checks) > 0;

	pm_hdr_iter_init(&it, content, len, cfg->header_size_limit);
	while (pm_hdr_next(&it, &h)) {
		if (h.truncated) {
			pm_msg_warn("%s: message header length exceeds safety "
			            "limit: %.*s from %s",
			    m->qid, (int) (h.namelen < 100 ? h.namelen : 100),
			    h.text.data, m->origin ? m->origin : "local");
		}
		if (checks && !hdr_check(cfg, m, &h, &hdrs)) {
			if (m->status != PM_CLEANUP_QUEUE) {
				goto out;
			}
			continue;
		}
		seen |= hdr_classify(m, &h);
		if (hdr_dropped(cfg, &h)) {
			continue;
		}
		if ((err = hdr_out(&hdrs, &h)) != 0) {
			goto out;
		}
	}

	if (cfg->hopcount_limit > 0 && m->hops > (size_t) cfg->hopcount_limit) {
		m->status = PM_CLEANUP_REJECT;
		m->code = 554;
		snprintf(m->dsn, sizeof(m->dsn), "5.4.0");
		snprintf(m->text, sizeof(m->text), "Error: too many hops");
		snprintf(hops, sizeof(hops), "%zu > hopcount_limit %ld",
		    m->hops, cfg->hopcount_limit);
		pm__cleanup_act_log(m, "reject", "hopcount", hops, strlen(hops),
		    "5.4.0 Error: too many hops");
		goto out;
	}
	if ((m->add_missing || cfg->always_add_missing_headers) &&
	    (err = hdr_add_missing(cfg, m, seen, &m->out)) != 0) {
		goto out;
	}
	if ((err = pm_buf_append(&m->out, hdrs.data, hdrs.len)) != 0) {
		goto out;
	}
	body = it.p;
	bodylen = (size_t) (it.end - it.p);
	if (it.blank || bodylen > 0) {
		/* Postfix writes a separator even when the client did not */
		if ((err = pm_buf_append(&m->out, "\r\n", 2)) != 0) {
			goto out;
		}
	}
	if (m->filter && cfg->body_checks &&
	    pm_tables_count(cfg->body_checks) > 0) {
		err = pm__cleanup_body(cfg, m, body, bodylen);
	} else {
		err = pm_buf_append(&m->out, body, bodylen);
	}

out:
	pm_hdr_free(&h);
	pm_buf_free(&hdrs);
	if (err != 0) {
		pm_buf_reset(&m->out);
		return (PM_ETOOBIG);
	}
	if (m->status != PM_CLEANUP_QUEUE) {
		pm_buf_reset(&m->out);
	}
	return (0);
}
