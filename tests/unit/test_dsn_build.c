/*
 * NAME
 *	test_dsn_build - the RFC 3464 notices pm_dsn builds
 * DESCRIPTION
 *	Every notice built here is parsed back by dsn_helper.h's
 *	notice_parse() and checked, as are the delivery-status fields
 *	RFC 3464 requires (Reporting-MTA per message; Final-Recipient,
 *	Action, Status per recipient). Tables: each kind with each RET and
 *	size; hostile input (huge text, CR/LF in every field, bare
 *	CR/LF/NUL and 8-bit bytes in the original, the boundary inside the
 *	original, a truncated original, a small output limit); limits and
 *	SMTPUTF8; and the Diagnostic-Code field.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn_helper.h"

/* Notices of every kind, with RET and size variants. */
Test(dsn, kinds_and_ret)
{
	static const struct {
		int kind;
		int ret;
		size_t limit;
		const char *subject;
		const char *action;
		const char *status; /* from "4.1.1" or "5.1.1" input */
		const char *otype;  /* type of the third part */
		int body;           /* 1: body marker returned */
		const char *phrase; /* in the text part */
	} t[] = {
		{ PM_NOTICE_FAILED, PM_RET_UNSET, 50000,
		    "Undelivered Mail Returned to Sender", "failed", "5.1.1",
		    "message/rfc822", 1, "could not\r\nbe delivered to one" },
		{ PM_NOTICE_FAILED, PM_RET_FULL, 50000,
		    "Undelivered Mail Returned to Sender", "failed", "5.1.1",
		    "message/rfc822", 1, "It's attached below." },
		{ PM_NOTICE_FAILED, PM_RET_HDRS, 50000,
		    "Undelivered Mail Returned to Sender", "failed", "5.1.1",
		    "text/rfc822-headers", 0, "I'm sorry to have to inform" },
		{ PM_NOTICE_FAILED, PM_RET_FULL, 160,
		    "Undelivered Mail Returned to Sender", "failed", "5.1.1",
		    "text/rfc822-headers", 0,
		    "This is the mail system at "
		    "host " HOST "." },
		{ PM_NOTICE_DELAYED, PM_RET_FULL, 50000,
		    "Delayed Mail (still being retried)", "delayed", "4.1.1",
		    "text/rfc822-headers", 0,
		    "Your message could not be "
		    "delivered for 4 hours.\r\nIt will be retried until it "
		    "is 5 days old." },
		{ PM_NOTICE_DELIVERED, PM_RET_FULL, 50000,
		    "Successful Mail Delivery Report", "delivered", "2.1.1",
		    "text/rfc822-headers", 0, "successfully delivered" },
		{ PM_NOTICE_RELAYED, PM_RET_UNSET, 50000,
		    "Successful Mail Delivery Report", "relayed", "2.1.1",
		    "text/rfc822-headers", 0, "successfully delivered" },
	};
	pm_notice_rcpt r[2] = {
		{ "bob@example.com", "rfc822;Bob@Example.COM",
		    PM_NOTIFY_FAILURE | PM_NOTIFY_DELAY | PM_NOTIFY_SUCCESS,
		    "4.1.1",
		    "550 5.1.1 <bob@example."
		    "com>: Recipient address rejected: User unknown",
		    "mx.example.com[192.0.2.1]:25", NOW_US - 1000000 },
		{ "carol@example.com", "list@example.org",
		    PM_NOTIFY_FAILURE | PM_NOTIFY_DELAY | PM_NOTIFY_SUCCESS,
		    "bogus",
		    "connect to "
		    "mx.example.com: Connection refused",
		    "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pm_dsn_cfg c = cfg_default();
		pm_dsn_orig o = orig_default();
		pm_dsn_info info;
		pm_buf out;
		notice n;
		char *g[8], *v, want[64];
		int ng, err;

		c.bounce_size_limit = t[i].limit;
		o.ret = t[i].ret;
		pm_buf_init(&out, 1024 * 1024);
		err = pm_dsn_build(t[i].kind, PM_DSN_TO_SENDER, &o, r, 2, &c,
		    "alice@example.org", &out, &info);
		cr_assert(err == 0, "[%zu] got %d, want 0", i, err);
		cr_assert(info.nlisted == 2, "[%zu] listed %zu, want 2", i,
		    info.nlisted);
		cr_assert(info.body_type == PM_BODYTYPE_7BIT && !info.smtputf8,
		    "[%zu] body type %d", i, info.body_type);
		notice_parse(&out, &n);
		want_hdr(n.hdrs, "Subject", t[i].subject);
		want_hdr(n.hdrs, "To", "alice@example.org");
		want_hdr(n.parts[2].hdrs, "Content-Type", t[i].otype);
		cr_assert(info.full ==
		        (strcmp(t[i].otype, "message/rfc822") == 0),
		    "[%zu] full %d", i, info.full);
		cr_assert(strstr(n.parts[0].body, t[i].phrase) != NULL,
		    "[%zu] text part lacks \"%s\":\n%s", i, t[i].phrase,
		    n.parts[0].body);
		cr_assert(strstr(n.parts[0].body, "<bob@example.com>:") != NULL,
		    "[%zu] no recipient line", i);
		cr_assert((strstr(n.parts[2].body, "BODY-MARKER") != NULL) ==
		        t[i].body,
		    "[%zu] body returned: got %d, want %d", i, !t[i].body,
		    t[i].body);
		cr_assert(strstr(n.parts[2].body, "Subject: hello\r\n") != NULL,
		    "[%zu] original headers missing", i);

		ng = status_groups(&n.parts[1], g, 8);
		cr_assert(ng == 3, "[%zu] got %d status groups, want 3", i, ng);
		want_hdr(g[0], "Reporting-MTA", "dns; " HOST);
		want_hdr(g[0], "X-Postmesh-Queue-ID", QID);
		want_hdr(g[0], "X-Postmesh-Sender",
		    "rfc822; "
		    "alice@example.org");
		want_hdr(g[0], "Original-Envelope-Id", "ENV123");
		want_hdr(g[0], "Arrival-Date", NULL);
		want_hdr(g[1], "Final-Recipient", "rfc822; bob@example.com");
		want_hdr(g[1], "Original-Recipient",
		    "rfc822; "
		    "Bob@Example.COM");
		want_hdr(g[1], "Action", t[i].action);
		want_hdr(g[1], "Status", t[i].status);
		want_hdr(g[1], "Remote-MTA", "dns; mx.example.com");
		want_hdr(g[1], "Diagnostic-Code",
		    "smtp; 550 5.1.1 "
		    "<bob@example.com>: Recipient address rejected: User "
		    "unknown");
		want_hdr(g[1], "Last-Attempt-Date", NULL);
		want_hdr(g[2], "Final-Recipient", "rfc822; carol@example.com");
		want_hdr(g[2], "Original-Recipient",
		    "rfc822; "
		    "list@example.org");
		snprintf(want, sizeof(want), "%c.0.0", t[i].status[0]);
		want_hdr(g[2], "Status", want);
		v = hdr_get(g[2], "Remote-MTA");
		cr_assert(v == NULL, "[%zu] Remote-MTA without a host: %s", i,
		    v);
		want_hdr(g[2], "Diagnostic-Code",
		    "X-Postmesh; connect to "
		    "mx.example.com: Connection refused");
		v = hdr_get(g[1], "Will-Retry-Until");
		cr_assert((v != NULL) == (t[i].kind == PM_NOTICE_DELAYED),
		    "[%zu] Will-Retry-Until: %s", i, v ? v : "(none)");
		free(v);
		/* text: "expanded from" only for a different rfc822 orcpt */
		cr_assert(strstr(n.parts[0].body,
		              "<carol@example.com> "
		              "(expanded from <list@example.org>):") != NULL,
		    "[%zu] no expanded-from line", i);
		cr_assert(strstr(n.parts[0].body,
		              "<bob@example.com> "
		              "(expanded") == NULL,
		    "[%zu] orcpt of another case", i);
		groups_free(g, ng);
		notice_free(&n);
		pm_buf_free(&out);
	}
	LEAK_CHECK();
}

/* Hostile values in every field, hostile original content. */
Test(dsn, hostile)
{
	static const char evil_orig[] =
	    "Subject: bare\nX-Bare-CR: a\rb\r\nNul: a\0b\r\n\r\n"
	    "caf\xc3\xa9\nno final line end";
	static const struct {
		const char *content;
		size_t len; /* 0: strlen */
		int ret;
		int eight;       /* want an 8bit part */
		const char *in3; /* in the third part */
	} t[] = {
		{ evil_orig, sizeof(evil_orig) - 1, PM_RET_FULL, 1,
		    "caf\xc3\xa9\r\nno final line end\r\n" },
		{ evil_orig, sizeof(evil_orig) - 1, PM_RET_HDRS, 0,
		    "X-Bare-CR: a\r\nb\r\nNul: a b\r\n" },
		{ "Subject: no body, no line end", 0, PM_RET_HDRS, 0,
		    "Subject: no body, no line end\r\n" },
		{ "", 0, PM_RET_FULL, 0, "" },
		{ "Subject: \xff\r\n\r\nx\r\n", 0, PM_RET_HDRS, 1,
		    "Subject: \xff\r\n" },
	};
	char *huge = pm_malloc(200001), *inj;
	pm_notice_rcpt r[1];
	size_t i;

	memset(huge, 'x', 200000);
	for (i = 0; i < 200000; i += 37) {
		huge[i] = ' ';
	}
	huge[200000] = 0;
	inj = "550 bad\r\nX-Injected: yes\r\n\r\n--\nContent-Type: text/html"
	      "\r\n\xff\x01 end";
	for (i = 0; i < sizeof(t) * 2 / sizeof(t[0]); i++) {
		pm_dsn_cfg c = cfg_default();
		pm_dsn_orig o = orig_default();
		pm_dsn_info info;
		pm_buf out;
		notice n;
		char *g[4], *v;
		int ng, err, k = (int) (i % (sizeof(t) / sizeof(t[0])));

		r[0].address = "bob@x.test\r\nX-Injected: rcpt";
		r[0].orcpt = "rfc822;o@x.test\r\nX-Injected: orcpt";
		r[0].notify = 0;
		r[0].dsn = "5.1.1\r\nX-Injected: dsn";
		r[0].text = i < sizeof(t) / sizeof(t[0]) ? inj : huge;
		r[0].remote_mta = "mx\r\nX-Injected: mta[1.2.3.4]";
		r[0].last_attempt_us = 0;
		o.envid = "E\r\nX-Injected: envid";
		o.sender = "a\r\nX-Injected: sender@x.test";
		o.content = t[k].content;
		o.len = t[k].len > 0 ? t[k].len : strlen(t[k].content);
		o.ret = t[k].ret;
		pm_buf_init(&out, 0);
		err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, r, 1,
		    &c, o.sender, &out, &info);
		cr_assert(err == 0, "[%zu] got %d, want 0", i, err);
		notice_parse(&out, &n);
		cr_assert(!has_line(out.data, "X-Injected"),
		    "[%zu] injected "
		    "a line:\n%s",
		    i, out.data);
		cr_assert(!has_line(out.data, "Content-Type: text/html"),
		    "[%zu] injected a MIME header", i);
		cr_assert(info.body_type ==
		        (t[k].eight ? PM_BODYTYPE_8BITMIME : PM_BODYTYPE_7BIT),
		    "[%zu] body type %d", i, info.body_type);
		v = hdr_get(n.parts[2].hdrs, "Content-Transfer-Encoding");
		cr_assert((v != NULL && strcmp(v, "8bit") == 0) == t[k].eight,
		    "[%zu] part encoding %s", i, v ? v : "(none)");
		free(v);
		cr_assert(strstr(n.parts[2].body, t[k].in3) != NULL,
		    "[%zu] third part lacks \"%s\":\n%s", i, t[k].in3,
		    n.parts[2].body);
		/* the text and status parts are 7-bit */
		for (v = n.parts[0].body; *v; v++) {
			cr_assert((unsigned char) *v < 0x80, "[%zu] 8-bit text",
			    i);
		}
		ng = status_groups(&n.parts[1], g, 4);
		cr_assert(ng == 2, "[%zu] got %d groups, want 2", i, ng);
		want_hdr(g[1], "Status", "5.0.0");
		v = hdr_get(g[1], "Diagnostic-Code");
		cr_assert(v != NULL && strlen(v) <= PM_DSN_TEXT_MAX + 32,
		    "[%zu] Diagnostic-Code of %zu bytes", i, v ? strlen(v) : 0);
		for (char *p = v; *p; p++) {
			cr_assert((unsigned char) *p >= 0x20 &&
			        (unsigned char) *p < 0x7f,
			    "[%zu] control or 8-bit "
			    "byte in Diagnostic-Code",
			    i);
		}
		free(v);
		groups_free(g, ng);
		notice_free(&n);
		pm_buf_free(&out);
	}
	free(huge);
	LEAK_CHECK();
}

/* The boundary changes when the original holds it; limits; SMTPUTF8. */
Test(dsn, boundary_limits_utf8)
{
	pm_notice_rcpt r = { "bob@x.test", "", 0, "5.1.1", "550 no", "", 0 };
	pm_dsn_cfg c = cfg_default();
	pm_dsn_orig o = orig_default();
	pm_dsn_info info;
	pm_buf out;
	notice n;
	char content[512], bnd[128];
	int err;

	snprintf(bnd, sizeof(bnd), "%s.%lld/%s", NQID, NOW_US / 1000000, HOST);
	snprintf(content, sizeof(content),
	    "Subject: trap\r\n\r\n--%s\r\n"
	    "Content-Type: text/plain\r\n\r\nfake part\r\n--%s--\r\n",
	    bnd, bnd);
	o.content = content;
	o.len = strlen(content);
	pm_buf_init(&out, 0);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    "alice@example.org", &out, &info);
	cr_assert(err == 0, "got %d, want 0", err);
	notice_parse(&out, &n);
	cr_assert(strcmp(n.boundary, bnd) != 0, "boundary %s kept", bnd);
	cr_assert(strstr(n.parts[2].body, "fake part") != NULL,
	    "original "
	    "content lost");
	notice_free(&n);

	/* a long host name: the boundary is cut to 70 characters */
	c.myhostname = "a-very-long-host-name.with.many.labels.example."
	               "example.example.example.net";
	pm_buf_reset(&out);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    "alice@example.org", &out, &info);
	cr_assert(err == 0, "got %d, want 0", err);
	notice_parse(&out, &n);
	notice_free(&n);
	c = cfg_default();

	/* the caller's limit */
	pm_buf_free(&out);
	pm_buf_init(&out, 600);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    "alice@example.org", &out, &info);
	cr_assert(err == PM_ETOOBIG, "got %d, want %d", err, PM_ETOOBIG);
	pm_buf_free(&out);

	/* bad arguments */
	pm_buf_init(&out, 0);
	err = pm_dsn_build(5, PM_DSN_TO_SENDER, &o, &r, 1, &c, "a@b", &out,
	    &info);
	cr_assert(err == PM_EINVAL, "kind 5: got %d", err);
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_DISCARD, &o, &r, 1, &c,
	    "a@b", &out, &info);
	cr_assert(err == PM_EINVAL, "route discard: got %d", err);
	cr_assert(out.len == 0, "wrote %zu bytes on error", out.len);

	/* a UTF-8 sender: kept in To: for SMTPUTF8 mail only */
	o = orig_default();
	o.sender = "j\xc3\xb6rg@example.org";
	o.flags = PM_MSG_SMTPUTF8;
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    o.sender, &out, &info);
	cr_assert(err == 0 && info.smtputf8 == 1, "got %d/%d, want 0/1", err,
	    info.smtputf8);
	cr_assert(strstr(out.data, "\r\nTo: j\xc3\xb6rg@example.org\r\n") !=
	        NULL,
	    "UTF-8 To: missing");
	pm_buf_reset(&out);
	o.flags = 0;
	err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r, 1, &c,
	    o.sender, &out, &info);
	cr_assert(err == 0 && info.smtputf8 == 0, "got %d/%d, want 0/0", err,
	    info.smtputf8);
	notice_parse(&out, &n);
	want_hdr(n.hdrs, "To", "j??rg@example.org");
	notice_free(&n);
	pm_buf_free(&out);
	LEAK_CHECK();
}

/* Diagnostic-Code: the SMTP reply of a remote MTA, else X-Postmesh. */
Test(dsn, diagnostic)
{
	static const struct {
		const char *text;
		const char *remote;
		const char *want;
	} t[] = {
		{ "550 5.1.1 User unknown", "mx[192.0.2.1]:25",
		    "smtp; 550 5.1.1 User unknown" },
		{ "host mx[192.0.2.1] said: 550 5.1.1 User unknown (in reply "
		  "to RCPT TO command)",
		    "mx[192.0.2.1]:25", "smtp; 550 5.1.1 User unknown" },
		{ "host mx[192.0.2.1] said: 451-4.3.0 try later", "",
		    "smtp; 451-4.3.0 try later" },
		{ "550 local text that looks like a reply", "",
		    "X-Postmesh; 550 local text that looks like a reply" },
		{ "host x said: no code here", "mx",
		    "X-Postmesh; host x said: no code here" },
		{ "User unknown in virtual alias table", "",
		    "X-Postmesh; User unknown in virtual alias table" },
		{ "55", "mx", "X-Postmesh; 55" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		pm_notice_rcpt r = { "a@x.test", "", 0, "5.1.1", t[i].text,
			t[i].remote, 0 };
		pm_dsn_cfg c = cfg_default();
		pm_dsn_orig o = orig_default();
		pm_dsn_info info;
		pm_buf out;
		notice n;
		char *g[4];
		int ng, err;

		pm_buf_init(&out, 0);
		err = pm_dsn_build(PM_NOTICE_FAILED, PM_DSN_TO_SENDER, &o, &r,
		    1, &c, "alice@example.org", &out, &info);
		cr_assert(err == 0, "[%zu] got %d, want 0", i, err);
		notice_parse(&out, &n);
		ng = status_groups(&n.parts[1], g, 4);
		cr_assert(ng == 2, "[%zu] got %d groups, want 2", i, ng);
		want_hdr(g[1], "Diagnostic-Code", t[i].want);
		cr_assert(strstr(n.parts[0].body, "said: host") == NULL,
		    "[%zu] text part says \"host\" twice", i);
		groups_free(g, ng);
		notice_free(&n);
		pm_buf_free(&out);
	}
	LEAK_CHECK();
}
