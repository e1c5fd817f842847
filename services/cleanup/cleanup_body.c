/*
 * NAME
 *	cleanup_body - body_checks, as Postfix's cleanup_body_callback
 * DESCRIPTION
 *	Every body line that starts within body_checks_size_limit bytes of
 *	the body start is looked up in body_checks (without its line end);
 *	a line longer than line_length_limit is looked up in pieces of
 *	that size, as Postfix sees such a line as several records, and the
 *	first piece that matches decides. Actions as in cleanup_proc.h:
 *	IGNORE removes the line, PREPEND inserts a line before it, REPLACE
 *	replaces it. Lines are copied with their original line ends; the
 *	body past the size limit is copied in one piece.
 * LIMITS
 *	body_checks_size_limit, line_length_limit (bounded regexp work per
 *	lookup).
 * SECURITY
 *	Body bytes are untrusted: NUL bytes become spaces in the lookup
 *	key only; the stored body is unchanged.
 */
#include "cleanup_priv.h"

#include <stdlib.h>
#include <string.h>

#include "pm_log.h"

/* Look up one piece of a line; returns the action for the line. */
static pm_check_act
body_lookup(const pm_cleanup_cfg *cfg, pm_cleanup_msg *m, pm_buf *key,
    const char *line, size_t len, char **val, const char **text)
{
	pm_check_act act;
	size_t i;
	int err;

	pm_buf_reset(key);
	if (pm_buf_append(key, line, len) != 0) {
		return (PM_CHECK_DUNNO);
	}
	for (i = 0; i < key->len; i++) {
		if (key->data[i] == 0) {
			key->data[i] = ' ';
		}
	}
	err = pm_tables_get(cfg->body_checks, key->data, val);
	if (err == PM_ENOENT) {
		return (PM_CHECK_DUNNO);
	}
	if (err != 0) {
		pm_msg_warn("%s: body_checks map lookup problem -- "
		            "message not accepted, try again later",
		    m->qid);
		m->status = PM_CLEANUP_DEFER;
		return (PM_CHECK_DUNNO);
	}
	act = pm__cleanup_act(m, PM__CLEANUP_CTX_BODY, "body_checks", line, len,
	    *val, text);
	return (act);
}

int
pm__cleanup_body(const pm_cleanup_cfg *cfg, pm_cleanup_msg *m, const char *body,
    size_t len)
{
	const char *p = body, *end = body + len, *nl, *next;
	size_t linelen, off, piece, step;
	pm_check_act act;
	const char *text = "";
	char *val;
	pm_buf key;
	int err = 0;

	step = cfg->line_length_limit > 0 ? cfg->line_length_limit : 2048;
	pm_buf_init(&key, 0);
	while (p < end && m->status == PM_CLEANUP_QUEUE) {
		if (cfg->body_checks_size_limit > 0 &&
		    (size_t) (p - body) >= cfg->body_checks_size_limit) {
			break;
		}
		nl = memchr(p, '\n', (size_t) (end - p));
		next = nl ? nl + 1 : end;
		linelen = (size_t) ((nl ? nl : end) - p);
		if (linelen > 0 && nl != NULL && p[linelen - 1] == '\r') {
			linelen--;
		}
		act = PM_CHECK_DUNNO;
		val = NULL;
		for (off = 0; act == PM_CHECK_DUNNO && val == NULL &&
		     m->status == PM_CLEANUP_QUEUE;
		     off += piece) {
			piece = linelen - off < step ? linelen - off : step;
			act = body_lookup(cfg, m, &key, p + off, piece, &val,
			    &text);
			if (off + piece >= linelen) {
				break;
			}
		}
		if (act == PM_CHECK_PREPEND || act == PM_CHECK_REPLACE) {
			if ((err = pm_buf_puts(&m->out, text)) != 0 ||
			    (err = pm_buf_append(&m->out, "\r\n", 2)) != 0) {
				free(val);
				break;
			}
		}
		if (act != PM_CHECK_IGNORE && act != PM_CHECK_REPLACE &&
		    (err = pm_buf_append(&m->out, p, (size_t) (next - p))) !=
		        0) {
			free(val);
			break;
		}
		free(val);
		p = next;
	}
	if (err == 0 && p < end && m->status == PM_CLEANUP_QUEUE) {
		err = pm_buf_append(&m->out, p, (size_t) (end - p));
	}
	pm_buf_free(&key);
	return (err ? PM_ETOOBIG : 0);
}
