/*
 * NAME
 *	pm_showq - list the mail queue as Postfix's showq(8) does
 * SUMMARY
 *	#include "pm_showq.h"
 * DESCRIPTION
 *	pm_showq() walks the queue (pm_qa_walk, a page at a time) and
 *	reads its messages PM_QA_READ_BATCH per pipeline (pm_qa_read),
 *	writing either the mailq
 *	listing (postqueue -p, mailq):
 *
 *	  -Queue ID-          --Size-- ----Arrival Time---- -Sender/Recipient-------
 *	  QID*                    1234 Wed Dec  2 15:01:02  sender@example.com
 *	                                                    rcpt@example.org
 *
 *	  -- 1 Kbytes in 1 Request.
 *
 *	(queue id with "*" when active, "!" when on hold, else "#" when
 *	force-expired by postsuper -e/-f, as Postfix 3.5; a deferred
 *	recipient's reason in parentheses, right-aligned to column 76,
 *	printed when it differs from the one before; the recipients not
 *	done yet; "Mail queue is empty"), or one JSON object per line
 *	(postqueue -j) with queue_name, queue_id, arrival_time (seconds),
 *	message_size, forced_expire, sender and
 *	recipients [{address, delay_reason}].
 *
 *	Postmesh's queue ids have 19 characters, Postfix's short ones 10
 *	to 12: the id column is 20 wide (the headings are Postfix's
 *	short ones, padded), so `awk '{print $1}'` still finds the id.
 * LIMITS
 *	PM_QA_READ_BATCH messages in memory at a time (each up to 100000
 *	recipients); a page of PM_QA_PAGE ids.
 * SECURITY
 *	Addresses and reasons come from the network: valid UTF-8 is
 *	printed as is (SMTPUTF8), controls and invalid bytes become '?'
 *	in the listing; JSON strings are escaped.
 */
#include "pm_showq.h"
#include "pm_addr.h"
#include "pm_qadmin.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SQ_ID_WIDTH 20

static int
rcpt_open(const pm_qrcpt *r)
{
	return (r->status == NULL || strcmp(r->status, PM_RCPT_TODO) == 0 ||
	    strcmp(r->status, PM_RCPT_DEFERRED) == 0);
}

/* The reason shown for a recipient: the last reply of a deferral. */
static const char *
rcpt_reason(const pm_qrcpt *r)
{
	if (r->status != NULL && strcmp(r->status, PM_RCPT_DEFERRED) == 0 &&
	    r->text != NULL) {
		return (r->text);
	}
	return ("");
}

/* UTF-8 (SMTPUTF8 addresses) as is; a control or a byte that is no
 * valid UTF-8 is '?' (mailq) or escaped (JSON: \u00XX for controls,
 * U+FFFD for bad bytes). */
static void
put_str(FILE *out, const char *s, int json)
{
	const unsigned char *p = (const unsigned char *) s;
	size_t left = strlen(s), k;

	if (json) {
		fputc('"', out);
	}
	while (left > 0) {
		k = pm_utf8_seq(p, left);
		if (k > 1) {
			fwrite(p, 1, k, out);
		} else if (k == 0) {
			fputs(json ? "\\ufffd" : "?", out);
			k = 1;
		} else if (json && (*p == '"' || *p == '\\')) {
			fprintf(out, "\\%c", *p);
		} else if (*p < 0x20 || *p == 0x7f) {
			if (json) {
				fprintf(out, "\\u%04x", *p);
			} else {
				fputc('?', out);
			}
		} else {
			fputc(*p, out);
		}
		p += k;
		left -= k;
	}
	if (json) {
		fputc('"', out);
	}
}

static void
json_str(FILE *out, const char *s)
{
	put_str(out, s, 1);
}

static void
show_json(FILE *out, const char *queue, const pm_qmsg *m)
{
	size_t i, k = 0;

	fputs("{\"queue_name\": ", out);
	json_str(out, queue);
	fputs(", \"queue_id\": ", out);
	json_str(out, m->qid);
	fprintf(out,
	    ", \"arrival_time\": %lld, \"message_size\": %zu, "
	    "\"forced_expire\": %s, \"sender\": ",
	    (long long) (m->arrival_us / 1000000), m->size,
	    m->expire ? "true" : "false");
	json_str(out, m->sender);
	fputs(", \"recipients\": [", out);
	for (i = 0; i < m->nrcpt; i++) {
		if (!rcpt_open(&m->rcpt[i])) {
			continue;
		}
		fputs(k++ > 0 ? ", {\"address\": " : "{\"address\": ", out);
		json_str(out, m->rcpt[i].address);
		if (*rcpt_reason(&m->rcpt[i]) != 0) {
			fputs(", \"delay_reason\": ", out);
			json_str(out, rcpt_reason(&m->rcpt[i]));
		}
		fputc('}', out);
	}
	fputs("]}\n", out);
}

static void
show_text(FILE *out, unsigned queue, const pm_qmsg *m)
{
	char id[SQ_ID_WIDTH + 2], when[32];
	const char *why, *prev = NULL;
	time_t t = (time_t) (m->arrival_us / 1000000);
	struct tm tm;
	size_t i;
	int pad;

	(void) snprintf(id, sizeof(id), "%s%s", m->qid,
	    queue == PM_QA_ACTIVE   ? "*" :
	        queue == PM_QA_HOLD ? "!" :
	        m->expire           ? "#" :
	                              "");
	localtime_r(&t, &tm);
	/* asctime's first 20 characters: "Wed Dec  2 15:01:02 " */
	(void) strftime(when, sizeof(when), "%a %b %e %H:%M:%S ", &tm);
	fprintf(out, "%-*s %7zu %20.20s ", SQ_ID_WIDTH, id, m->size, when);
	put_str(out, *m->sender ? m->sender : "MAILER-DAEMON", 0);
	fputc('\n', out);
	for (i = 0; i < m->nrcpt; i++) {
		if (!rcpt_open(&m->rcpt[i])) {
			continue;
		}
		why = rcpt_reason(&m->rcpt[i]);
		if (prev == NULL ? *why != 0 : strcmp(prev, why) != 0) {
			prev = why;
			why = *why ? why : "reason unavailable";
			pad = 76 - (int) strlen(why);
			fprintf(out, "%*s(", pad > 0 ? pad : 0, "");
			put_str(out, why, 0);
			fputs(")\n", out);
		}
		fprintf(out, "%-*s %7s %-20s ", SQ_ID_WIDTH, "", "", "");
		put_str(out, m->rcpt[i].address, 0);
		fputc('\n', out);
	}
}

/* One message: its listing, counted. */
static void
show_one(FILE *out, int json, const pm_qa_item *it, const pm_qmsg *m,
    unsigned long long *bytes, unsigned long long *count)
{
	if (json) {
		show_json(out, pm_qa_queue_name(it->queue), m);
	} else {
		if (*count == 0) {
			fprintf(out, "%-*s %7s %-20s %s\n", SQ_ID_WIDTH,
			    "-Queue ID-", "--Size--", "----Arrival Time----",
			    "-Sender/Recipient-------");
		} else {
			fputc('\n', out);
		}
		show_text(out, it->queue, m);
	}
	*bytes += m->size;
	(*count)++;
}

int
pm_showq(pm_qstore *qs, int nshards, FILE *out, int json)
{
	pm_qa_walk *w = pm_qa_walk_new(qs, nshards, PM_QA_ALL);
	const pm_qa_item *items;
	unsigned long long bytes = 0, count = 0;
	pm_qmsg *m[PM_QA_READ_BATCH];
	size_t n, i, k, batch;
	int rc;

	while ((rc = pm_qa_walk_next(w, &items, &n)) == 0 && n > 0) {
		for (i = 0; i < n && rc == 0; i += batch) {
			batch =
			    n - i < PM_QA_READ_BATCH ? n - i : PM_QA_READ_BATCH;
			if ((rc = pm_qa_read(qs, items + i, batch, m)) < 0) {
				break;
			}
			for (k = 0; k < batch; k++) {
				if (m[k] != NULL) { /* else gone meanwhile */
					show_one(out, json, &items[i + k], m[k],
					    &bytes, &count);
					pm_qmsg_free(m[k]);
				}
			}
		}
		if (rc < 0) {
			break;
		}
		fflush(out);
	}
	pm_qa_walk_free(w);
	if (rc < 0) {
		return (rc);
	}
	if (!json) {
		if (count == 0) {
			fputs("Mail queue is empty\n", out);
		} else {
			fprintf(out, "\n-- %llu Kbytes in %llu Request%s.\n",
			    bytes / 1024, count, count == 1 ? "" : "s");
		}
	}
	return (fflush(out) == 0 ? 0 : PM_EIO);
}
