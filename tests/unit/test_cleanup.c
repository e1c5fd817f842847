/*
 * NAME
 *	test_cleanup - unit tests for cleanup's header parsing, content
 *	processing, address rewriting and the cleanup client stub
 * DESCRIPTION
 *	Tables of input and want: pm_msghdr (logical headers, folding,
 *	end of the header block, header_size_limit, hostile bytes),
 *	pm_cleanup_content (drop_headers, missing headers, hop count,
 *	header_checks and body_checks actions from regexp files written
 *	to a temporary directory), pm_cleanup_sender/rcpts (canonical
 *	maps, virtual alias expansion and its limits, duplicates,
 *	original recipient) with inline: tables and a fake canonical-form
 *	callback. The client stub is tested in test_cleanup_clnt.c.
 */
#include "cleanup_clnt.h"
#include "cleanup_proc.h"
#include "pm_msghdr.h"
#include "pm_table.h"
#include "pm_util.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() \
	cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "leaks found")
#else
#define LEAK_CHECK()
#endif

#define L(s) s, sizeof(s) - 1

/* ---------------------------------------------------------------- */
/* pm_msghdr                                                         */

struct hdr_case {
	const char *in;
	size_t len;
	size_t limit;
	const char *want;  /* header keys joined with '|' */
	const char *trunc; /* one '0'/'1' per header */
	const char *body;  /* what is left after the header block */
	int blank;
};

Test(msghdr, parse)
{
	static const struct hdr_case cases[] = {
		{ L("Subject: hi\r\nTo: a@b\r\n\r\nbody\r\n"), 1000,
		    "Subject: hi|To: a@b", "00", "body\r\n", 1 },
		{ L("Subject: a\r\n b\r\n\tc\r\nX: y\r\n\r\n"), 1000,
		    "Subject: a\n b\n\tc|X: y", "00", "", 1 },
		{ L("A: 1\nB: 2\n\nbody"), 1000, "A: 1|B: 2", "00", "body", 1 },
		{ L("A: 1\r\nnot a header\r\nmore\r\n"), 1000, "A: 1", "0",
		    "not a header\r\nmore\r\n", 0 },
		{ L(" cont\r\nA: 1\r\n"), 1000, "", "", " cont\r\nA: 1\r\n",
		    0 },
		{ L("Subject : hi\r\n\r\n"), 1000, "Subject: hi", "0", "", 1 },
		{ L("S\xc3\xa9: x\r\n\r\n"), 1000, "", "",
		    "S\xc3\xa9: x\r\n\r\n", 0 },
		{ L("A: x\0y\r\n\r\n"), 1000, "A: x y", "0", "", 1 },
		{ L("A: 1"), 1000, "A: 1", "0", "", 0 },
		{ L("Subject: 0123456789abcdef\r\n more\r\nB: 2\r\n\r\nz"), 16,
		    "Subject: 0123456|B: 2", "10", "z", 1 },
		{ L("A: x\ry\r\n\r\n"), 1000, "A: x\ry", "0", "", 1 },
		{ L(""), 1000, "", "", "", 0 },
		{ L(": x\r\n"), 1000, "", "", ": x\r\n", 0 },
		{ L("Na me: x\r\n"), 1000, "", "", "Na me: x\r\n", 0 },
		{ L("A:\r\n\r\n"), 1000, "A:", "0", "", 1 },
		{ L("A: 1\r\n\r\n\r\nB: 2\r\n"), 1000, "A: 1", "0",
		    "\r\nB: 2\r\n", 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hdr_case *c = &cases[i];
		pm_hdr_iter it;
		pm_hdr h;
		pm_buf got, tr;
		size_t blen;

		pm_buf_init(&got, 0);
		pm_buf_init(&tr, 0);
		pm_hdr_init(&h);
		pm_hdr_iter_init(&it, c->in, c->len, c->limit);
		while (pm_hdr_next(&it, &h)) {
			if (got.len) {
				pm_buf_puts(&got, "|");
			}
			pm_buf_puts(&got, pm_hdr_key(&h));
			pm_buf_puts(&tr, h.truncated ? "1" : "0");
			cr_assert(h.raw >= c->in &&
			        h.raw + h.rawlen <= c->in + c->len,
			    "case %zu: raw outside input", i);
		}
		blen = (size_t) (it.end - it.p);
		pm_buf_puts(&got, "");
		pm_buf_puts(&tr, "");
		cr_assert_str_eq(got.data, c->want,
		    "case %zu: got \"%s\", want \"%s\"", i, got.data, c->want);
		cr_assert_str_eq(tr.data, c->trunc,
		    "case %zu: truncated got %s, want %s", i, tr.data,
		    c->trunc);
		cr_assert(blen == strlen(c->body) &&
		        memcmp(it.p, c->body, blen) == 0,
		    "case %zu: body got \"%.*s\", want \"%s\"", i, (int) blen,
		    it.p, c->body);
		cr_assert_eq(it.blank, c->blank,
		    "case %zu: blank got %d, "
		    "want %d",
		    i, it.blank, c->blank);
		cr_assert_eq(pm_hdr_next(&it, &h), 0, "case %zu: not done", i);
		pm_hdr_free(&h);
		pm_buf_free(&got);
		pm_buf_free(&tr);
	}
	LEAK_CHECK();
}

Test(msghdr, helpers)
{
	static const struct {
		const char *in, *want;
	} quote[] = {
		{ "user@example.org", "user@example.org" },
		{ "first.last@x", "first.last@x" },
		{ "a b@x", "\"a b\"@x" },
		{ "\"q r\"@x", "\"q r\"@x" },
		{ "a\"b@x", "\"a\\\"b\"@x" },
		{ "MAILER-DAEMON", "MAILER-DAEMON" },
		{ ".a@x", "\".a\"@x" },
		{ "a..b@x", "\"a..b\"@x" },
		{ "@x", "\"\"@x" },
		{ "b\\s@x", "\"b\\\\s\"@x" },
	};
	static const struct {
		const char *line;
		size_t want;
	} names[] = {
		{ "Subject: x", 7 },
		{ "Subject : x", 7 },
		{ "Subject\t: x", 7 },
		{ "X-A-B:", 5 },
		{ ":", 0 },
		{ " A: x", 0 },
		{ "A B: x", 0 },
		{ "A", 0 },
		{ "A\x01: x", 0 },
		{ "A\x80: x", 0 },
		{ "", 0 },
	};
	char date[128], *q;
	size_t i;

	for (i = 0; i < sizeof(quote) / sizeof(quote[0]); i++) {
		q = pm_quote_822_local(quote[i].in);
		cr_assert_str_eq(q, quote[i].want, "quote %s: got %s, want %s",
		    quote[i].in, q, quote[i].want);
		free(q);
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cr_assert_eq(pm_hdr_namelen(names[i].line,
		                 strlen(names[i].line)),
		    names[i].want, "namelen \"%s\": got %zu, want %zu",
		    names[i].line,
		    pm_hdr_namelen(names[i].line, strlen(names[i].line)),
		    names[i].want);
	}
	setenv("TZ", "UTC", 1);
	tzset();
	pm_mail_date(0, date, sizeof(date));
	cr_assert_str_eq(date, "Thu,  1 Jan 1970 00:00:00 +0000 (UTC)",
	    "date: got \"%s\"", date);
	pm_mail_date(1764089371, date, sizeof(date));
	cr_assert_str_eq(date, "Tue, 25 Nov 2025 16:49:31 +0000 (UTC)",
	    "date: got \"%s\"", date);
	LEAK_CHECK();
}

/* ---------------------------------------------------------------- */
/* pm_cleanup_content                                                */

static char tmpdir[64];

static void
mk_tmp(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pm_test_cleanup_XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void
rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

static pm_tables *
regexp_tables(const char *name, const char *text)
{
	char path[128], *spec;
	const char *err = NULL;
	pm_tables *ts;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	cr_assert_not_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
	spec = pm_asprintf("regexp:%s", path);
	ts = pm_tables_open(spec, &err);
	cr_assert_not_null(ts, "%s: %s", spec, err ? err : "?");
	free(spec);
	return (ts);
}

static char *drop_list[] = { "bcc", "content-length", "resent-bcc",
	"return-path", NULL };

static void
content_cfg(pm_cleanup_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->header_size_limit = 102400;
	cfg->hopcount_limit = 3;
	cfg->drop_headers = drop_list;
	cfg->myhostname = "mx.example";
	cfg->body_checks_size_limit = 51200;
	cfg->line_length_limit = 2048;
}

static void
msg_setup(pm_cleanup_msg *m, const char *sender, int add, int filter)
{
	pm_cleanup_msg_init(m);
	m->qid = "QID";
	m->sender = sender;
	m->rcpt = "r@example.org";
	m->origin = "client.example[192.0.2.1]";
	m->protocol = "ESMTP";
	m->helo = "client.example";
	m->add_missing = add;
	m->filter = filter;
	m->arrival = 0;
	m->now = 0;
}

#define ADDED \
	"Message-Id: <19700101000000.QID@mx.example>\r\n" \
	"Date: Thu,  1 Jan 1970 00:00:00 +0000 (UTC)\r\n"

struct content_case {
	const char *in;
	size_t len;
	const char *sender;
	int add;
	int status;
	const char *want; /* whole output for QUEUE */
	const char *msgid;
};

Test(content, headers)
{
	static const struct content_case cases[] = {
		{ L("Subject: x\r\nBcc: b@x\r\nReturn-Path: <a>\r\n"
		    "Content-Length: 3\r\n\r\nbody\r\n"),
		    "s@example.org", 0, PM_CLEANUP_QUEUE,
		    "Subject: x\r\n\r\nbody\r\n", "" },
		{ L("Subject: x\r\n\r\nb\r\n"), "s@example.org", 1,
		    PM_CLEANUP_QUEUE,
		    ADDED "From: s@example.org\r\n"
		          "Subject: x\r\n\r\nb\r\n",
		    "<19700101000000.QID@mx.example>" },
		{ L("From: a\r\nDate: d\r\nMessage-ID:  <m@x> \r\n\r\n"),
		    "s@example.org", 1, PM_CLEANUP_QUEUE,
		    "From: a\r\nDate: d\r\nMessage-ID:  <m@x> \r\n\r\n",
		    "<m@x>" },
		{ L("hello\r\n"), "", 1, PM_CLEANUP_QUEUE,
		    ADDED "From: MAILER-DAEMON\r\n\r\nhello\r\n",
		    "<19700101000000.QID@mx.example>" },
		{ L("Resent-To: x@y\r\nFrom: a\r\nDate: d\r\n"
		    "Message-ID: <m>\r\n\r\n"),
		    "s@example.org", 1, PM_CLEANUP_QUEUE,
		    "Resent-Message-Id: <19700101000000.QID@mx.example>\r\n"
		    "Resent-Date: Thu,  1 Jan 1970 00:00:00 +0000 (UTC)\r\n"
		    "Resent-From: s@example.org\r\n"
		    "Resent-To: x@y\r\nFrom: a\r\nDate: d\r\n"
		    "Message-ID: <m>\r\n\r\n",
		    "<m>" },
		{ L("Received: 1\r\nReceived: 2\r\nDelivered-To: 3\r\n"
		    "Received: 4\r\n\r\n"),
		    "s@example.org", 0, PM_CLEANUP_REJECT, NULL, NULL },
		{ L("Received: 1\r\nReceived: 2\r\nDelivered-To: 3\r\n\r\n"),
		    "s@example.org", 0, PM_CLEANUP_QUEUE,
		    "Received: 1\r\nReceived: 2\r\nDelivered-To: 3\r\n\r\n",
		    "" },
		{ L("Date: d\r\nMessage-Id: <i>\r\n\r\n"), "a b@example.org", 1,
		    PM_CLEANUP_QUEUE,
		    "From: \"a b\"@example.org\r\n"
		    "Date: d\r\nMessage-Id: <i>\r\n\r\n",
		    "<i>" },
		{ L("A: 1\r\nbody\r\n"), "s@x", 0, PM_CLEANUP_QUEUE,
		    "A: 1\r\n\r\nbody\r\n", "" },
		{ L("A: 1\nB: 2\n folded\n\nbody\n"), "s@x", 0,
		    PM_CLEANUP_QUEUE, "A: 1\r\nB: 2\r\n folded\r\n\r\nbody\n",
		    "" },
		{ L("Subject : x\r\n\r\n"), "s@x", 0, PM_CLEANUP_QUEUE,
		    "Subject: x\r\n\r\n", "" },
		{ L("A: 1"), "s@x", 0, PM_CLEANUP_QUEUE, "A: 1\r\n", "" },
		{ L(""), "s@x", 0, PM_CLEANUP_QUEUE, "", "" },
		{ L("X: a\0b\r\n\r\nc\0d"), "s@x", 0, PM_CLEANUP_QUEUE, NULL,
		    "" },
	};
	pm_cleanup_cfg cfg;
	pm_cleanup_msg m;
	size_t i;

	setenv("TZ", "UTC", 1);
	tzset();
	content_cfg(&cfg);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct content_case *c = &cases[i];

		msg_setup(&m, c->sender, c->add, 1);
		cr_assert_eq(pm_cleanup_content(&cfg, &m, c->in, c->len), 0);
		cr_assert_eq(m.status, c->status,
		    "case %zu: status got %d, "
		    "want %d",
		    i, m.status, c->status);
		if (c->status == PM_CLEANUP_REJECT) {
			cr_assert(m.code == 554 &&
			        strcmp(m.dsn, "5.4.0") == 0 &&
			        strcmp(m.text, "Error: too many hops") == 0,
			    "case %zu: got %u %s %s", i, m.code, m.dsn, m.text);
			cr_assert_eq(m.out.len, 0, "case %zu: output kept", i);
		} else if (c->want != NULL) {
			cr_assert(m.out.len == strlen(c->want) &&
			        memcmp(m.out.data, c->want, m.out.len) == 0,
			    "case %zu: got\n%s\nwant\n%s", i, m.out.data,
			    c->want);
		} else {
			/* NUL bytes pass through unchanged */
			cr_assert(m.out.len == c->len &&
			        memcmp(m.out.data, c->in, c->len) == 0,
			    "case %zu: content changed", i);
		}
		if (c->msgid != NULL) {
			cr_assert_str_eq(m.message_id, c->msgid,
			    "case %zu: message-id got %s, want %s", i,
			    m.message_id, c->msgid);
		}
		pm_cleanup_msg_free(&m);
	}

	/* always_add_missing_headers without a local submission */
	cfg.always_add_missing_headers = 1;
	msg_setup(&m, "s@example.org", 0, 1);
	pm_cleanup_content(&cfg, &m, L("X: 1\r\n\r\n"));
	cr_assert_str_eq(m.out.data,
	    ADDED "From: s@example.org\r\n"
	          "X: 1\r\n\r\n",
	    "always_add: got\n%s", m.out.data);
	pm_cleanup_msg_free(&m);
	cfg.always_add_missing_headers = 0;

	/* sendmail -F: "Name <sender>", a name with specials quoted */
	msg_setup(&m, "s@example.org", 1, 1);
	m.full_name = "Jane Doe";
	pm_cleanup_content(&cfg, &m, L("X: 1\r\n\r\n"));
	cr_assert_str_eq(m.out.data,
	    ADDED "From: Jane Doe <s@example.org>\r\nX: 1\r\n\r\n",
	    "full name: got\n%s", m.out.data);
	pm_cleanup_msg_free(&m);
	msg_setup(&m, "s@example.org", 1, 1);
	m.full_name = "Doe, \"J\\\"";
	pm_cleanup_content(&cfg, &m, L("X: 1\r\n\r\n"));
	cr_assert_str_eq(m.out.data,
	    ADDED "From: \"Doe, \\\"J\\\\\\\"\" <s@example.org>\r\n"
	          "X: 1\r\n\r\n",
	    "quoted full name: got\n%s", m.out.data);
	pm_cleanup_msg_free(&m);
	/* no full name for the null sender */
	msg_setup(&m, "", 1, 1);
	m.full_name = "Jane Doe";
	pm_cleanup_content(&cfg, &m, L("X: 1\r\n\r\n"));
	cr_assert_str_eq(m.out.data,
	    ADDED "From: MAILER-DAEMON\r\nX: 1\r\n\r\n", "null sender: got\n%s",
	    m.out.data);
	pm_cleanup_msg_free(&m);

	/* header_size_limit: the rest of the header is cut */
	cfg.header_size_limit = 20;
	msg_setup(&m, "s@x", 0, 1);
	pm_cleanup_content(&cfg, &m,
	    L("Subject: 0123456789abcdefghij\r\n more\r\nB: 2\r\n\r\nx"));
	cr_assert_str_eq(m.out.data, "Subject: 0123456789a\r\nB: 2\r\n\r\nx",
	    "limit: got\n%s", m.out.data);
	pm_cleanup_msg_free(&m);
	LEAK_CHECK();
}

static const char hdr_rules[] =
    "/^Subject: reject-me/ REJECT\n"
    "/^Subject: reject-dsn/ REJECT 4.7.1 try later\n"
    "/^Subject: reject-bad-dsn/ REJECT 2.0.0 odd\n"
    "/^Subject: reject-text/ REJECT go away\n"
    "/^Subject: discard/ DISCARD no thanks\n"
    "/^Subject: hold/ HOLD held for review\n"
    "/^Subject: folded[[:space:]]+line2/ REJECT folded matched\n"
    "/^Subject: hidden-after-nul/ REJECT nul\n"
    "/^X-Drop:/ IGNORE\n"
    "/^X-Prepend:/ PREPEND X-Added: yes\n"
    "/^X-Replace:/ REPLACE X-Replaced: done\n"
    "/^X-Warn:/ WARN noted\n"
    "/^X-Info:/ INFO noted\n"
    "/^X-Bad-Prepend:/ PREPEND not a header\n"
    "/^X-Empty-Prepend:/ PREPEND\n"
    "/^X-Unknown:/ FROBNICATE now\n"
    "/^X-Ok:/ OK\n"
    "/^Message-ID:.*ignored/ IGNORE\n";

static const char body_rules[] = "/^body-reject/ REJECT 5.7.0 bad body\n"
                                 "/^body-ignore/ IGNORE\n"
                                 "/^body-prepend/ PREPEND inserted line\n"
                                 "/^body-replace/ REPLACE replaced line\n"
                                 "/^body-discard/ DISCARD\n"
                                 "/^body-hold/ HOLD\n"
                                 "/^hidden/ REJECT hidden found\n"
                                 "/secret/ REJECT secret found\n";

struct check_case {
	const char *in;
	size_t len;
	int filter;
	int status;
	int hold;
	unsigned code;
	const char *dsn;
	const char *text;
	const char *want; /* whole output for QUEUE, or NULL */
};

Test(content, checks, .init = mk_tmp, .fini = rm_tmp)
{
	static char filler[200];
	static const struct check_case cases[] = {
		{ L("Subject: reject-me\r\n\r\n"), 1, PM_CLEANUP_REJECT, 0, 550,
		    "5.7.1", "Error: message content rejected", NULL },
		{ L("Subject: reject-dsn\r\n\r\n"), 1, PM_CLEANUP_REJECT, 0,
		    451, "4.7.1", "try later", NULL },
		{ L("Subject: reject-bad-dsn\r\n\r\n"), 1, PM_CLEANUP_REJECT, 0,
		    451, "4.0.0", "odd", NULL },
		{ L("Subject: reject-text\r\n\r\n"), 1, PM_CLEANUP_REJECT, 0,
		    550, "5.7.1", "go away", NULL },
		{ L("Subject: reject-me\r\n\r\n"), 0, PM_CLEANUP_QUEUE, 0, 0,
		    NULL, NULL, "Subject: reject-me\r\n\r\n" },
		{ L("Subject: discard\r\n\r\n"), 1, PM_CLEANUP_DISCARD, 0, 0,
		    NULL, NULL, NULL },
		{ L("Subject: hold\r\nX: 1\r\n\r\nb\r\n"), 1, PM_CLEANUP_QUEUE,
		    1, 0, NULL, NULL, "Subject: hold\r\nX: 1\r\n\r\nb\r\n" },
		{ L("Subject: folded\r\n line2\r\n\r\n"), 1, PM_CLEANUP_REJECT,
		    0, 550, "5.7.1", "folded matched", NULL },
		{ L("X-Ok: x\0\r\nSubject: hidden-after-nul\r\n\r\n"), 1,
		    PM_CLEANUP_REJECT, 0, 550, "5.7.1", "nul", NULL },
		{ L("A: 1\r\nX-Drop: 2\r\n x\r\nB: 3\r\n\r\n"), 1,
		    PM_CLEANUP_QUEUE, 0, 0, NULL, NULL,
		    "A: 1\r\nB: 3\r\n\r\n" },
		{ L("X-Prepend: 1\r\n\r\n"), 1, PM_CLEANUP_QUEUE, 0, 0, NULL,
		    NULL, "X-Added: yes\r\nX-Prepend: 1\r\n\r\n" },
		{ L("X-Replace: 1\r\n folded\r\n\r\n"), 1, PM_CLEANUP_QUEUE, 0,
		    0, NULL, NULL, "X-Replaced: done\r\n\r\n" },
		{ L("X-Warn: 1\r\nX-Info: 2\r\nX-Bad-Prepend: 3\r\n"
		    "X-Empty-Prepend: 4\r\nX-Unknown: 5\r\n\r\n"),
		    1, PM_CLEANUP_QUEUE, 0, 0, NULL, NULL,
		    "X-Warn: 1\r\nX-Info: 2\r\nX-Bad-Prepend: 3\r\n"
		    "X-Empty-Prepend: 4\r\nX-Unknown: 5\r\n\r\n" },
		{ L("S: 1\r\n\r\nok\r\nbody-reject now\r\n"), 1,
		    PM_CLEANUP_REJECT, 0, 550, "5.7.0", "bad body", NULL },
		{ L("S: 1\r\n\r\na\r\nbody-ignore\r\nbody-prepend x\r\n"
		    "body-replace y\nz"),
		    1, PM_CLEANUP_QUEUE, 0, 0, NULL, NULL,
		    "S: 1\r\n\r\na\r\ninserted line\r\nbody-prepend x"
		    "\r\nreplaced line\r\nz" },
		{ L("S: 1\r\n\r\nbody-discard\r\n"), 1, PM_CLEANUP_DISCARD, 0,
		    0, NULL, NULL, NULL },
		{ L("S: 1\r\n\r\nbody-hold\r\nbody-hold\r\n"), 1,
		    PM_CLEANUP_QUEUE, 1, 0, NULL, NULL,
		    "S: 1\r\n\r\nbody-hold\r\nbody-hold\r\n" },
		{ L("S: 1\r\n\r\nx\0secret\r\n"), 1, PM_CLEANUP_REJECT, 0, 550,
		    "5.7.1", "secret found", NULL },
		/* a long line is matched in line_length_limit pieces (32) */
		{ L("S: 1\r\n\r\n0123456789012345678901234567890hidden\r\n"), 1,
		    PM_CLEANUP_QUEUE, 0, 0, NULL, NULL, NULL },
		{ L("S: 1\r\n\r\n01234567890123456789012345678901hidden\r\n"),
		    1, PM_CLEANUP_REJECT, 0, 550, "5.7.1", "hidden found",
		    NULL },
		/* no separator line: the first line is body, checked */
		{ L("S: 1\r\nhidden\r\n"), 1, PM_CLEANUP_REJECT, 0, 550,
		    "5.7.1", "hidden found", NULL },
		{ L("Message-ID: <ignored>\r\n\r\n"), 1, PM_CLEANUP_QUEUE, 0, 0,
		    NULL, NULL, "\r\n" },
	};
	pm_cleanup_cfg cfg;
	pm_cleanup_msg m;
	pm_buf big;
	size_t i;

	content_cfg(&cfg);
	cfg.header_checks = regexp_tables("header_checks", hdr_rules);
	cfg.body_checks = regexp_tables("body_checks", body_rules);
	cfg.line_length_limit = 32;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct check_case *c = &cases[i];

		msg_setup(&m, "s@example.org", 0, c->filter);
		cr_assert_eq(pm_cleanup_content(&cfg, &m, c->in, c->len), 0);
		cr_assert_eq(m.status, c->status,
		    "case %zu: status got %d, "
		    "want %d",
		    i, m.status, c->status);
		cr_assert_eq(m.hold, c->hold,
		    "case %zu: hold got %d, want "
		    "%d",
		    i, m.hold, c->hold);
		if (c->status == PM_CLEANUP_REJECT) {
			cr_assert(m.code == c->code &&
			        strcmp(m.dsn, c->dsn) == 0 &&
			        strcmp(m.text, c->text) == 0,
			    "case %zu: got %u %s %s, want %u %s %s", i, m.code,
			    m.dsn, m.text, c->code, c->dsn, c->text);
		}
		if (c->status != PM_CLEANUP_QUEUE) {
			cr_assert_eq(m.out.len, 0, "case %zu: output kept", i);
		} else if (c->want != NULL) {
			cr_assert(m.out.len == strlen(c->want) &&
			        memcmp(m.out.data, c->want, m.out.len) == 0,
			    "case %zu: got\n%s\nwant\n%s", i, m.out.data,
			    c->want);
		} else {
			cr_assert(m.out.len == c->len &&
			        memcmp(m.out.data, c->in, c->len) == 0,
			    "case %zu: content changed", i);
		}
		pm_cleanup_msg_free(&m);
	}

	/* body_checks_size_limit: lines starting past it are not checked */
	memset(filler, 'f', sizeof(filler) - 3);
	memcpy(filler + sizeof(filler) - 3, "\r\n", 3);
	cfg.body_checks_size_limit = 64;
	pm_buf_init(&big, 0);
	pm_buf_puts(&big, "S: 1\r\n\r\n");
	pm_buf_puts(&big, filler);
	pm_buf_puts(&big, "hidden\r\n");
	msg_setup(&m, "s@x", 0, 1);
	pm_cleanup_content(&cfg, &m, big.data, big.len);
	cr_assert_eq(m.status, PM_CLEANUP_QUEUE,
	    "past the size limit: got "
	    "%d",
	    m.status);
	cr_assert(m.out.len == big.len &&
	        memcmp(m.out.data, big.data, big.len) == 0,
	    "past the size limit: content changed");
	pm_cleanup_msg_free(&m);
	cfg.body_checks_size_limit = 0;
	msg_setup(&m, "s@x", 0, 1);
	pm_cleanup_content(&cfg, &m, big.data, big.len);
	cr_assert_eq(m.status, PM_CLEANUP_REJECT, "no size limit: got %d",
	    m.status);
	pm_cleanup_msg_free(&m);
	pm_buf_free(&big);

	pm_tables_close(cfg.header_checks);
	pm_tables_close(cfg.body_checks);
	LEAK_CHECK();
}

/* ---------------------------------------------------------------- */
/* pm_cleanup_sender, pm_cleanup_rcpts                               */

static int canon_calls;

/* Append @example.org to unqualified addresses; "fail@x" fails. */
static int
fake_canon(void *arg, const char *addr, char **out)
{
	(void) arg;
	canon_calls++;
	if (strcmp(addr, "fail@x") == 0) {
		return (PM_EAGAIN);
	}
	*out = strchr(addr, '@') ? pm_strdup(addr) :
	                           pm_asprintf("%s@example.org", addr);
	return (0);
}

static pm_tables *
inline_tables(const char *spec)
{
	const char *err = NULL;
	pm_tables *ts = pm_tables_open(spec, &err);

	cr_assert_not_null(ts, "%s: %s", spec, err ? err : "?");
	return (ts);
}

static char *local_list[] = { "example.org", NULL };

struct rcpt_case {
	const char *in[3]; /* addresses, NULL-terminated */
	unsigned notify[3];
	const char *orcpt0; /* ORCPT of the first input */
	int err;
	const char *want; /* "addr orcpt|addr orcpt" */
};

Test(addr, rewrite)
{
	static const struct rcpt_case cases[] = {
		{ { "old@example.org" }, { 0 }, NULL, 0,
		    "new@example.org rfc822;old@example.org" },
		{ { "joe@olddomain.org" }, { 0 }, NULL, 0,
		    "joe@newdomain.org rfc822;joe@olddomain.org" },
		{ { "bob@example.org" }, { 0 }, NULL, 0,
		    "robert@example.org rfc822;bob@example.org" },
		{ { "bob@other.org" }, { 0 }, NULL, 0, "bob@other.org " },
		{ { "loop1@x" }, { 0 }, NULL, PM_ETOOBIG, NULL },
		{ { "fail@x" }, { 0 }, NULL, PM_EAGAIN, NULL },
		{ { "plain" }, { 0 }, NULL, 0,
		    "plain@example.org rfc822;plain" },
		{ { "list@example.org" }, { 0 }, NULL, 0,
		    "a1@example.org rfc822;list@example.org|"
		    "b@example.org rfc822;list@example.org|"
		    "list@example.org " },
		{ { "self@example.org" }, { 0 }, NULL, 0,
		    "self@example.org |other@example.org "
		    "rfc822;self@example.org" },
		{ { "big@x" }, { 0 }, NULL, 0,
		    "m1@x rfc822;big@x|m2@x rfc822;big@x|m3@x rfc822;big@x" },
		{ { "deep0@x" }, { 0 }, NULL, 0, "deep3@x rfc822;deep0@x" },
		{ { "a@example.org", "a@example.org" }, { 0, 0 }, NULL, 0,
		    "a1@example.org rfc822;a@example.org" },
		{ { "C@Example.org", "c@example.org" }, { 0, 0 }, NULL, 0,
		    "C@Example.org " },
		{ { "c@example.org", "c@example.org" }, { 2, 4 }, NULL, 0,
		    "c@example.org |c@example.org " },
		{ { "unq@example.org" }, { 0 }, NULL, 0,
		    "local@example.org rfc822;unq@example.org" },
		{ { "joe@alias.org" }, { 0 }, NULL, 0,
		    "joe@real.org rfc822;joe@alias.org" },
		{ { "a@example.org" }, { 0 }, "rfc822;given@x", 0,
		    "a1@example.org rfc822;given@x" },
		{ { "toolong@x" }, { 0 }, NULL, PM_ETOOBIG, NULL },
		{ { "c@example.org", "fail@x" }, { 0, 0 }, NULL, PM_EAGAIN,
		    NULL },
	};
	pm_cleanup_cfg cfg;
	pm_submit_rcpt in[3];
	pm_qrcpt *out;
	size_t nout, n, i, j;
	pm_buf got;
	char *s, *longval;
	int err;

	memset(&cfg, 0, sizeof(cfg));
	longval = pm_asprintf("inline:{ { toolong@x = %0400d@x }, "
	                      "old@example.org=new@example.org, "
	                      "@olddomain.org=@newdomain.org, loop1@x=loop2@x, "
	                      "loop2@x=loop1@x, bob=robert@example.org, "
	                      "s@example.org=sender@example.org }",
	    0);
	cfg.canonical_maps = inline_tables(longval);
	free(longval);
	cfg.sender_canonical_maps = inline_tables(
	    "inline:{ canon-me@example.org=canon-me@example.org }");
	cfg.virtual_alias_maps = inline_tables(
	    "inline:{ "
	    "{ list@example.org = a@example.org, b@example.org, "
	    "list@example.org }, a@example.org=a1@example.org, "
	    "{ self@example.org = self@example.org other@example.org }, "
	    "deep0@x=deep1@x, deep1@x=deep2@x, deep2@x=deep3@x, "
	    "deep3@x=deep4@x, { big@x = m1@x, m2@x, m3@x, m4@x, m5@x }, "
	    "unq@example.org=local, @alias.org=@real.org }");
	cfg.canonical_classes = pm_canon_classes("envelope_sender, "
	                                         "envelope_recipient");
	cfg.virtual_alias_recursion_limit = 3;
	cfg.virtual_alias_expansion_limit = 3;
	cfg.total_recipient_limit = 100;
	cfg.enable_original_recipient = 1;
	cfg.local_domains = local_list;
	cfg.canon = fake_canon;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcpt_case *c = &cases[i];

		for (n = 0; n < 3 && c->in[n]; n++) {
			in[n].address = c->in[n];
			in[n].orcpt = n == 0 && c->orcpt0 ? c->orcpt0 : "";
			in[n].notify = c->notify[n];
		}
		err = pm_cleanup_rcpts(&cfg, "QID", in, n, &out, &nout);
		cr_assert_eq(err, c->err, "case %zu (%s): err got %d, want %d",
		    i, c->in[0], err, c->err);
		if (err != 0) {
			continue;
		}
		pm_buf_init(&got, 0);
		for (j = 0; j < nout; j++) {
			pm_buf_printf(&got, "%s%s %s", j ? "|" : "",
			    out[j].address, out[j].orcpt);
			cr_assert_str_eq(out[j].status, PM_RCPT_TODO);
		}
		cr_assert_str_eq(got.data, c->want,
		    "case %zu: got \"%s\", "
		    "want \"%s\"",
		    i, got.data, c->want);
		pm_buf_free(&got);
		pm_cleanup_rcpts_free(out, nout);
	}

	/* total_recipient_limit; enable_original_recipient = no */
	cfg.total_recipient_limit = 2;
	cfg.enable_original_recipient = 0;
	in[0].address = "big@x";
	in[0].orcpt = "";
	in[0].notify = 0;
	cr_assert_eq(pm_cleanup_rcpts(&cfg, "QID", in, 1, &out, &nout), 0);
	cr_assert_eq(nout, 2, "total limit: got %zu, want 2", nout);
	cr_assert_str_eq(out[1].orcpt, "",
	    "orcpt kept without "
	    "enable_original_recipient: %s",
	    out[1].orcpt);
	pm_cleanup_rcpts_free(out, nout);

	/* sender: null sender untouched; maps by class */
	static const struct {
		const char *in;
		unsigned classes;
		int err;
		const char *want;
	} snd[] = {
		{ "", PM_CANON_ENV_SENDER, 0, "" },
		{ "s@example.org", PM_CANON_ENV_SENDER, 0,
		    "sender@example.org" },
		{ "s@example.org", PM_CANON_ENV_RCPT, 0, "s@example.org" },
		{ "canon-me@example.org", PM_CANON_ENV_SENDER, 0,
		    "canon-me@example.org" },
		{ "plain", 0, 0, "plain@example.org" },
		{ "fail@x", 0, PM_EAGAIN, NULL },
		{ "loop1@x", PM_CANON_ENV_SENDER, PM_ETOOBIG, NULL },
	};
	for (i = 0; i < sizeof(snd) / sizeof(snd[0]); i++) {
		canon_calls = 0;
		cfg.canonical_classes = snd[i].classes;
		err = pm_cleanup_sender(&cfg, "QID", snd[i].in, &s);
		cr_assert_eq(err, snd[i].err, "sender %s: err got %d, want %d",
		    snd[i].in, err, snd[i].err);
		if (err == 0) {
			cr_assert_str_eq(s, snd[i].want,
			    "sender %s: got %s, "
			    "want %s",
			    snd[i].in, s, snd[i].want);
			free(s);
		}
		if (*snd[i].in == 0) {
			cr_assert_eq(canon_calls, 0, "null sender rewritten");
		}
	}
	pm_tables_close(cfg.canonical_maps);
	pm_tables_close(cfg.sender_canonical_maps);
	pm_tables_close(cfg.virtual_alias_maps);
	LEAK_CHECK();
}

Test(check, parse)
{
	static const struct {
		const char *in;
		pm_check_act act;
		const char *text;
	} cases[] = {
		{ "REJECT", PM_CHECK_REJECT, "" },
		{ "reject  spam here", PM_CHECK_REJECT, "spam here" },
		{ "DISCARD\tx", PM_CHECK_DISCARD, "x" },
		{ "hold", PM_CHECK_HOLD, "" },
		{ "WARN w", PM_CHECK_WARN, "w" },
		{ "INFO i", PM_CHECK_INFO, "i" },
		{ "IGNORE", PM_CHECK_IGNORE, "" },
		{ "PREPEND X: y", PM_CHECK_PREPEND, "X: y" },
		{ "REPLACE X: z", PM_CHECK_REPLACE, "X: z" },
		{ "OK", PM_CHECK_DUNNO, "" },
		{ "DUNNO", PM_CHECK_DUNNO, "" },
		{ "REJECTX", PM_CHECK_UNKNOWN, "" },
		{ "FILTER smtp:x", PM_CHECK_UNKNOWN, "smtp:x" },
		{ "", PM_CHECK_UNKNOWN, "" },
	};
	const char *text;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pm_check_act act = pm_check_parse(cases[i].in, &text);

		cr_assert_eq(act, cases[i].act, "\"%s\": got %d, want %d",
		    cases[i].in, act, cases[i].act);
		cr_assert_str_eq(text, cases[i].text,
		    "\"%s\": text got "
		    "\"%s\", want \"%s\"",
		    cases[i].in, text, cases[i].text);
	}
	cr_assert_eq(pm_canon_classes("envelope_sender, header_recipient, "
	                              "bogus"),
	    PM_CANON_ENV_SENDER | PM_CANON_HDR_RCPT);
}
