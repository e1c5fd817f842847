/*
 * NAME
 *	smtpd_data - DATA and BDAT (CHUNKING)
 * DESCRIPTION
 *	DATA: state checks, smtpd_check_data on the pool, then "354" and
 *	the content phase: smtpd_data_step() feeds whatever input is
 *	buffered to pm_smtp_data (end only at <CRLF>.<CRLF>, bare CR/LF
 *	normalized, dot-unstuffing) until the end of data, then the
 *	message goes to cleanup (smtpd_queue.c).
 *
 *	BDAT n [LAST]: exactly n octets follow the command line, read
 *	binary-safe by smtpd_bdat_step() (CR/LF normalized, no dot
 *	handling). A chunk without a valid transaction is read and
 *	thrown away to stay in sync, then refused (503). Each non-LAST
 *	chunk is answered "250 2.0.0 Ok: n bytes"; LAST submits. A size
 *	that does not parse, or a single chunk larger than
 *	message_size_limit, ends the session (the octet stream can no
 *	longer be followed).
 *
 *	The Received: header is written into the content buffer when the
 *	content phase starts; the content limit applies to what follows.
 *
 *	Content memory: before content is stored, the session reserves
 *	room for it in smtpd_content_budget, SMTPD_CONTENT_STEP bytes at a
 *	time. When the budget has no room, the content stored so far is
 *	freed and its reservation given back at once, the rest is read
 *	and discarded to stay in sync, and the end of data (or the BDAT
 *	chunk) is answered "451 4.3.1 Insufficient system storage", as
 *	Postfix says when it is short of queue space. The reservation is
 *	kept while cleanup works on the message (the request in flight
 *	holds the content; smtpd_queue.c frees the buffer once it is
 *	packed) and given back at the end of the transaction
 *	(smtpd_content_drop() from smtpd_mail_reset()).
 * LIMITS
 *	message_size_limit: content past it is read and discarded, then
 *	"552 5.3.4 Error: message file too big".
 *	smtpd_content_memory_limit: content bytes held by all sessions.
 * SECURITY
 *	Content is never interpreted beyond the line structure needed to
 *	find its end.
 */
#include <stdlib.h>
#include <string.h>

#include "cleanup.pb-c.h"
#include "pm_msgflags.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "smtpd_params.h"
#include "smtpd_session.h"

#define SMTPD_RECEIVED_MAX 4096
/* Reservations grow by this much; input is stored half of it at a time. */
#define SMTPD_CONTENT_STEP (64 * 1024)

/* Have room reserved for need content bytes: 0, or -1 (budget full). */
static int
content_reserve(smtpd_session *s, size_t need)
{
	size_t before = s->content_held;

	if (pm_budget_hold(&smtpd_content_budget, &s->content_held, need,
	        SMTPD_CONTENT_STEP) != 0) {
		return (-1);
	}
	pm_metric_gauge_add(smtpd_m_content,
	    (int64_t) (s->content_held - before));
	return (0);
}

static void
content_release(smtpd_session *s)
{
	pm_metric_gauge_add(smtpd_m_content, -(int64_t) s->content_held);
	pm_budget_drop(&smtpd_content_budget, &s->content_held);
}

void
smtpd_content_drop(smtpd_session *s)
{
	content_release(s);
	s->content_nomem = 0;
}

/* No room: free what is stored, count the rest only (451 at the end). */
static void
content_nomem(smtpd_session *s)
{
	s->content_nomem = 1;
	s->data.out = NULL;
	pm_buf_free(&s->content);
	content_release(s);
}

/* Room for len more input octets (a bare LF is stored as CRLF). */
static void
content_grow(smtpd_session *s, size_t len)
{
	if (s->data.out == NULL || s->data.too_big) {
		return;
	}
	if (content_reserve(s, s->content.len + 2 * len) != 0) {
		content_nomem(s);
	}
}

/* Set up the content buffer with the Received: header in it. */
static void
content_open(smtpd_session *s, int mode)
{
	size_t limit = (size_t) var_message_size_limit;

	pm_buf_free(&s->content);
	smtpd_content_drop(s);
	pm_buf_init(&s->content, limit + SMTPD_RECEIVED_MAX);
	if (smtpd_received(&s->content, s, pm_now_us()) != 0) {
		/* Only with absurd HELO names: drop the header, go on. */
		pm_buf_reset(&s->content);
	}
	pm_smtp_data_init(&s->data, mode, &s->content, limit, s->line_crlf);
	s->content_open = 1;
	if (content_reserve(s, s->content.len) != 0) {
		content_nomem(s);
	}
}

/* DATA. */

static void
data_go(smtpd_session *s)
{
	smtpd_check_result *r = &s->cres;

	if (r->code != 0) {
		smtpd_reply_ext(s, r->code, r->dsn, r->text);
		smtpd_log_action(s, "reject", "DATA", r->code, r->dsn, r->text);
		smtpd_reject_count(REJ_DATA);
		smtpd_cmd_done(s);
		return;
	}
	if (r->hold) {
		s->flags |= PM_MSG_HOLD;
		smtpd_log_action(s, "hold", "DATA", 0, NULL, r->text);
	}
	if (r->discard) {
		s->discard = 1;
		smtpd_log_action(s, "discard", "DATA", 0, NULL, r->text);
	}
	content_open(s, PM_SMTP_DATA_DOT);
	smtpd_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	/* The final reply decides whether DATA counts as ok. */
	s->cmd = -1;
	s->next_phase = PH_DATA;
	smtpd_cmd_done(s);
}

void
smtpd_data_cmd(smtpd_session *s, const char *arg)
{
	if (*arg != 0) {
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 501, "5.5.4", "Syntax: DATA");
	} else if (s->sender == NULL) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 503, "5.5.1", "Error: need RCPT command");
	} else if (s->bdat_active) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 503, "5.5.1", "Error: DATA after BDAT");
	} else if (s->nrcpt == 0) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 554, "5.5.1", "Error: no valid recipients");
	} else {
		smtpd_check_async(s, smtpd_check_data, data_go);
		return;
	}
	smtpd_cmd_done(s);
}

/* End of content (DATA "." or BDAT LAST): refuse or queue. */
static void
content_end(smtpd_session *s)
{
	s->where = "END-OF-MESSAGE";
	s->phase = PH_CMD;
	s->next_phase = PH_CMD;
	if (s->data.too_big) {
		smtpd_reply(s, 552, "5.3.4", "Error: message file too big");
		smtpd_log_action(s, "reject", "END-OF-MESSAGE", 552, "5.3.4",
		    "Error: message file too big");
		smtpd_reject_count(REJ_SIZE);
		smtpd_mail_reset(s);
		smtpd_cmd_done(s);
		return;
	}
	if (s->content_nomem) {
		/* Not a size problem: the client may try again later. */
		smtpd_reply(s, 451, "4.3.1", "Insufficient system storage");
		smtpd_log_action(s, "reject", "END-OF-MESSAGE", 451, "4.3.1",
		    "Insufficient system storage");
		smtpd_reject_count(REJ_STORAGE);
		smtpd_mail_reset(s);
		smtpd_cmd_done(s);
		return;
	}
	if (s->discard) {
		pm_metric_inc(smtpd_m_accepted);
		smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s", s->qid);
		smtpd_mail_reset(s);
		smtpd_cmd_done(s);
		return;
	}
	smtpd_queue_submit(s);
}

static int
bare_nl_check(smtpd_session *s)
{
	if (smtpd_bare_nl_reject && s->data.bare_lf > 0) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 521, "5.5.2", "%s Error: bare <LF> received",
		    var_myhostname);
		smtpd_close(s, NULL);
		return (-1);
	}
	return (0);
}

/*
 * Feed at most max octets of input to the content state machine, at
 * most half a reservation step at a time, each after its reservation.
 */
static size_t
feed_input(smtpd_session *s, struct evbuffer *in, size_t max)
{
	struct evbuffer_iovec v[16];
	size_t used = 0;
	int n;
	int i;

	n = evbuffer_peek(in, (ev_ssize_t) max, NULL, v, 16);
	if (n > 16) {
		n = 16;
	}
	for (i = 0; i < n && used < max && !s->data.done; i++) {
		const char *p = v[i].iov_base;
		size_t len = v[i].iov_len;
		size_t piece, got;

		if (len > max - used) {
			len = max - used;
		}
		for (got = 0; len > 0 && !s->data.done; len -= got) {
			piece = len < SMTPD_CONTENT_STEP / 2 ?
			    len :
			    SMTPD_CONTENT_STEP / 2;
			content_grow(s, piece);
			got = pm_smtp_data_feed(&s->data, p, piece);
			used += got;
			p += got;
			if (got < piece) {
				break;
			}
		}
	}
	evbuffer_drain(in, used);
	s->data_bytes += used;
	return (used);
}

int
smtpd_data_step(smtpd_session *s)
{
	struct evbuffer *in = smtpd_conn_input(s->conn);
	size_t len = evbuffer_get_length(in);

	if (len == 0) {
		return (0);
	}
	(void) feed_input(s, in, len);
	if (bare_nl_check(s) != 0) {
		return (1);
	}
	if (!s->data.done) {
		/* More iovecs than one peek covers: go round again. */
		return (evbuffer_get_length(in) > 0);
	}
	s->cmd = CMD_DATA;
	s->cmd_last = 0;
	content_end(s);
	return (1);
}

/* BDAT. */

void
smtpd_bdat_cmd(smtpd_session *s, const char *arg)
{
	size_t size;
	int last;

	if (pm_smtp_parse_bdat(arg, &size, &last) != 0) {
		smtpd_reject_count(REJ_SYNTAX);
		smtpd_reply(s, 501, "5.5.4", "Syntax: BDAT count [LAST]");
		/* The octet count is unknown: the stream cannot be followed. */
		s->close_after = 1;
		smtpd_cmd_done(s);
		return;
	}
	if (size > (size_t) var_message_size_limit) {
		smtpd_reject_count(REJ_SIZE);
		smtpd_reply(s, 552, "5.3.4",
		    "Message size exceeds fixed limit");
		s->close_after = 1;
		smtpd_cmd_done(s);
		return;
	}
	s->bdat_size = size;
	s->bdat_left = size;
	s->bdat_last = last;
	if (s->sender == NULL || s->nrcpt == 0) {
		s->bdat_discard = 1;
	} else {
		s->bdat_discard = 0;
		if (!s->bdat_active) {
			s->bdat_active = 1;
			content_open(s, PM_SMTP_DATA_BDAT);
		}
	}
	/* No reply until the chunk is read. */
	smtpd_enter_phase(s, PH_BDAT);
}

static void
bdat_chunk_done(smtpd_session *s)
{
	s->phase = PH_CMD;
	s->cmd = CMD_BDAT;
	s->cmd_last = 0;
	if (s->bdat_discard) {
		s->bdat_discard = 0;
		smtpd_reject_count(REJ_PROTOCOL);
		if (s->sender == NULL) {
			smtpd_reply(s, 503, "5.5.1",
			    "Error: need MAIL command");
		} else {
			smtpd_reply(s, 503, "5.5.1",
			    "Error: need RCPT command");
		}
		smtpd_cmd_done(s);
		return;
	}
	if (!s->bdat_last) {
		if (s->data.too_big || s->content_nomem) {
			/* Refuse now; later chunks find no transaction. */
			content_end(s);
			return;
		}
		smtpd_reply(s, 250, "2.0.0", "Ok: %zu bytes", s->bdat_size);
		smtpd_cmd_done(s);
		return;
	}
	pm_smtp_data_finish(&s->data);
	content_end(s);
}

int
smtpd_bdat_step(smtpd_session *s)
{
	struct evbuffer *in = smtpd_conn_input(s->conn);
	size_t len = evbuffer_get_length(in);
	size_t take;

	if (s->bdat_left > 0) {
		if (len == 0) {
			return (0);
		}
		take = len < s->bdat_left ? len : s->bdat_left;
		if (s->bdat_discard) {
			evbuffer_drain(in, take);
			s->data_bytes += take;
		} else {
			take = feed_input(s, in, take);
			if (bare_nl_check(s) != 0) {
				return (1);
			}
		}
		s->bdat_left -= take;
		if (s->bdat_left > 0) {
			return (evbuffer_get_length(in) > 0);
		}
	}
	bdat_chunk_done(s);
	return (1);
}
