/*
 * NAME
 *	test_pipe_stream - unit tests of the pipe agent's stdin stream
 *	(services/pipe/pipe_stream.c)
 * DESCRIPTION
 *	A message as queued (CRLF) -> what the command reads, for the
 *	flags F R O D . > B and eol, read in pieces of every size from 2
 *	bytes up (a line split across calls must come out the same); a
 *	last line without a line end; the Delivered-To loop check.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "pipe_argv.h"
#include "pipe_stream.h"
#include "pm_util.h"

static char *
drain(const pipe_stream_opts *o, const char *body, size_t cap)
{
	pipe_stream s;
	pm_buf b;
	char *buf = pm_malloc(cap);
	long n;
	int guard = 0;

	pipe_stream_init(&s, o, body, strlen(body));
	pm_buf_init(&b, 0);
	while ((n = pipe_stream_feed(&s, buf, cap)) > 0) {
		pm_buf_append(&b, buf, (size_t) n);
		cr_assert(++guard < 100000, "no end");
	}
	pipe_stream_free(&s);
	free(buf);
	return (pm_buf_steal(&b, NULL));
}

Test(pipe_stream, flags)
{
	static const char msg[] = "Subject: x\r\nFrom: a\r\n\r\n.dot\r\nFrom "
	                          "me\r\n..\r\n\r\nlast";
	static const struct {
		const char *flags, *eol, *want;
	} cases[] = {
		{ "", "\n",
		    "Subject: x\nFrom: a\n\n.dot\nFrom me\n..\n\nlast\n" },
		{ ".", "\n",
		    "Subject: x\nFrom: a\n\n..dot\nFrom me\n...\n\nlast\n" },
		{ ">", "\n",
		    "Subject: x\nFrom: a\n\n.dot\n>From me\n..\n\nlast\n" },
		{ "B", "\r\n",
		    "Subject: x\r\nFrom: a\r\n\r\n.dot\r\nFrom me\r\n..\r\n"
		    "\r\nlast\r\n\r\n" },
		{ "RDO", "\n",
		    "Return-Path: <s@x.test>\nX-Original-To: o@x.test\n"
		    "Delivered-To: r@x.test\n"
		    "Subject: x\nFrom: a\n\n.dot\nFrom me\n..\n\nlast\n" },
	};
	static const size_t caps[] = { 2, 3, 5, 7, 64, 65536 };
	pipe_stream_opts o;
	unsigned f;
	size_t i, c;
	char bad, *got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert(pipe_flags_parse(cases[i].flags, &f, &bad) == 0);
		for (c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
			memset(&o, 0, sizeof(o));
			o.flags = f;
			o.eol = cases[i].eol;
			o.sender = "s@x.test";
			o.recipient = "r@x.test";
			o.orig_rcpt = "o@x.test";
			got = drain(&o, msg, caps[c]);
			cr_expect(strcmp(got, cases[i].want) == 0,
			    "flags \"%s\" cap %zu: got \"%s\", want \"%s\"",
			    cases[i].flags, caps[c], got, cases[i].want);
			free(got);
		}
	}
}

Test(pipe_stream, from_line_and_blank)
{
	pipe_stream_opts o;
	char *got;

	memset(&o, 0, sizeof(o));
	o.flags = PIPE_F_FROM | PIPE_F_BLANK;
	o.sender = "";
	o.arrival_us = 0;
	setenv("TZ", "UTC", 1);
	got = drain(&o, "a\r\n\r\n", 64);
	/* ends with a blank line already: no second one */
	cr_expect(strcmp(got,
	              "From MAILER-DAEMON  Thu Jan  1 00:00:00 1970\n"
	              "a\n\n") == 0,
	    "got \"%s\"", got);
	free(got);
	/* CR/LF in an address never start a header line */
	o.flags = PIPE_F_RPATH;
	o.sender = "a\r\nX-Evil: 1@x";
	got = drain(&o, "b\r\n", 64);
	cr_expect(strcmp(got, "Return-Path: <a  X-Evil: 1@x>\nb\n") == 0,
	    "got \"%s\"", got);
	free(got);
}

Test(pipe_stream, delivered_to)
{
	static const char msg[] =
	    "Received: x\r\nDelivered-To:  R@X.test \r\n"
	    "Subject: y\r\n\r\nDelivered-To: b@x.test\r\n";

	cr_expect(pipe_stream_has_delivered(msg, strlen(msg), "r@x.test"));
	cr_expect(!pipe_stream_has_delivered(msg, strlen(msg), "b@x.test"),
	    "a body line is no header");
	cr_expect(!pipe_stream_has_delivered(msg, strlen(msg), "r@x"));
}
