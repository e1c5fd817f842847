/*
 * NAME
 *	pipe_stream - what the pipe agent writes to the command's stdin
 * SUMMARY
 *	#include "pipe_stream.h"
 *	pipe_stream_init(&s, &opts, body, len); req.feed = pipe_stream_feed;
 * DESCRIPTION
 *	Pure code (tests/unit/test_pipe_stream.c). The message as queued
 *	(CRLF lines), written as Postfix's pipe(8) writes it, streamed in
 *	pieces to pm_command (no second copy of the message):
 *	  F  "From <sender> <arrival, asctime>" first (MAILER-DAEMON for <>)
 *	  R  "Return-Path: <sender>"
 *	  O  "X-Original-To: <original recipient>"
 *	  D  "Delivered-To: <recipient>" (in lower case, as Postfix)
 *	then the message with each line end made opts->eol ("\n" by
 *	default), with:
 *	  .  a line that starts with "." gets another "."
 *	  >  a line that starts with "From " gets ">"
 *	  B  a blank line at the end unless the message ends with one.
 *	A last line without a line end gets one.
 *
 *	pipe_stream_has_delivered() says whether the message's header
 *	block already has "Delivered-To: <rcpt>" (the D flag's loop
 *	check: Postfix bounces it 5.4.6 "mail forwarding loop").
 * LIMITS
 *	The prepended lines are cut at PIPE_STREAM_PREFIX_MAX bytes.
 * SECURITY
 *	The addresses are mail data: CR, LF and NUL in them become spaces
 *	(they can never start a header line).
 */
#ifndef PIPE_STREAM_H
#define PIPE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#define PIPE_STREAM_PREFIX_MAX 4096

typedef struct pipe_stream_opts {
	unsigned flags;        /* PIPE_F_* (pipe_argv.h) */
	const char *eol;       /* "\n" */
	const char *sender;    /* "" for <> */
	const char *recipient; /* D */
	const char *orig_rcpt; /* O */
	int64_t arrival_us;    /* F */
} pipe_stream_opts;

typedef struct pipe_stream {
	char *prefix;
	size_t plen, ppos;
	const char *body;
	size_t len, pos;
	size_t cur_end, next; /* the current line's content end, next line */
	const char *eol;
	size_t eol_len;
	unsigned flags;
	int bol;        /* at the start of a line */
	int eol_due;    /* the line's content is out, its end is not */
	int last_empty; /* the last line written was empty */
	int ended;      /* B done, or not wanted */
} pipe_stream;

void pipe_stream_init(pipe_stream *s, const pipe_stream_opts *o,
    const char *body, size_t len);
void pipe_stream_free(pipe_stream *s);
/* pm_command's feed(): up to cap bytes into buf; 0 at the end. */
long pipe_stream_feed(void *ctx, char *buf, size_t cap);

int pipe_stream_has_delivered(const char *body, size_t len, const char *rcpt);

#endif
