/*
 * NAME
 *	pipe_argv - the pipe agent's flags, command template and expansion
 * SUMMARY
 *	#include "pipe_argv.h"
 * DESCRIPTION
 *	Pure code (unit-tested by tests/unit/test_pipe_argv.c).
 *
 *	pipe_flags_parse() reads Postfix's flags= letters (PIPE_F_*).
 *
 *	pipe_argv_parse() splits pipe_argv at white space into elements
 *	(white space inside balanced {} does not split; an element
 *	written "{ text }" is the text, without the braces and the white
 *	space next to them, Postfix 3.0's grouping) and checks every
 *	macro: ${name} or $name, "$$" is a "$", and mac_expand(3)'s
 *	conditional forms ${name?text} (text when the value is not
 *	empty), ${name:text} (text when it is empty), ${name?{text}},
 *	${name:{text}}, ${name?{text1}:{text2}} and ${name?{text1}:text2};
 *	the text may hold macros. Every name, in every branch, must be
 *	known (an unknown one is refused at start). Names:
 *	sender, nexthop, queue_id, size, the client_* and sasl_* ones
 *	(once per command), and the per-recipient recipient,
 *	original_recipient, user, extension, mailbox, domain. argv[0]
 *	must be an absolute path without macros.
 *
 *	pipe_argv_expand() builds the argument vector of one command, as
 *	Postfix's pipe(8) does: an element that holds a per-recipient
 *	macro is repeated once per recipient; every other element is
 *	expanded once (a per-recipient name anywhere in the element,
 *	also in a condition or a branch not taken, makes it one per
 *	recipient, as Postfix's scan does). Expansion never splits or joins elements: a
 *	recipient "a b;c$(x)@d" is one literal argument. Addresses are
 *	expanded in Postfix's internal (unquoted) form: "a b"@d is
 *	a b@d, unless flag q quotes it again.
 *	  ${sender}     the envelope sender (null_sender when it is <>)
 *	  ${recipient}  the recipient address
 *	  ${original_recipient}  as received (DSN ORCPT), else ${recipient}
 *	  ${mailbox}    the recipient's local part
 *	  ${user}       the local part without the extension
 *	  ${extension}  the extension (after a recipient_delimiter char)
 *	  ${domain}     the recipient's domain
 *	  ${nexthop}    the nexthop of the transport_maps result
 *	  ${size}       the message size (bytes)
 *	  ${queue_id}   the queue id
 *	  ${client_address} ${client_hostname} ${client_port}
 *	  ${client_protocol} ${client_helo}  the SMTP client of the
 *	                message (client_addr, client_name, ... of the
 *	                queued envelope), "" when unknown (sendmail)
 *	  ${sasl_method} ${sasl_username}  its SMTP AUTH, "" if none
 *	  ${sasl_sender} the MAIL FROM AUTH= address, "" if none
 *	The older form $(name) is read as ${name}, as Postfix does.
 *	Flags: q quotes the local parts of ${sender}, ${recipient} and
 *	${original_recipient} as RFC 5321 requires ("a b"@d); h folds
 *	their domains and ${domain}, ${nexthop} to lower case; u folds
 *	their local parts and ${mailbox}, ${user}, ${extension}.
 *
 *	pipe_addr_split() splits an address at its last "@" into the
 *	local part, user, extension and domain.
 * LIMITS
 *	PIPE_ARGV_MAX elements in the template, conditionals nested
 *	PIPE_MACRO_DEPTH deep; the expanded vector
 *	at most PM_COMMAND_MAX_ARGS elements and PIPE_ARG_LEN_MAX bytes
 *	per element (more: PM_ETOOBIG, the caller defers).
 * SECURITY
 *	Addresses are mail data: they become arguments as they are (no
 *	shell ever sees them). Operators should put "--" before
 *	recipient arguments of commands that take options.
 */
#ifndef PIPE_ARGV_H
#define PIPE_ARGV_H

#include <stddef.h>
#include <stdint.h>

#define PIPE_F_FROM 0x001   /* F: From_ line */
#define PIPE_F_RPATH 0x002  /* R: Return-Path: */
#define PIPE_F_DELIV 0x004  /* D: Delivered-To: (and loop check) */
#define PIPE_F_ORCPT 0x008  /* O: X-Original-To: */
#define PIPE_F_FINAL 0x010  /* X: final delivery */
#define PIPE_F_QUOTE 0x020  /* q: quote local parts */
#define PIPE_F_FOLDH 0x040  /* h: fold domains to lower case */
#define PIPE_F_FOLDU 0x080  /* u: fold local parts to lower case */
#define PIPE_F_DOT 0x100    /* .: double a leading dot */
#define PIPE_F_GTFROM 0x200 /* >: ">From " quoting */
#define PIPE_F_BLANK 0x400  /* B: blank line at the end */

#define PIPE_ARGV_MAX 256
#define PIPE_ARG_LEN_MAX 4096
#define PIPE_MACRO_DEPTH 16 /* conditionals nested in conditionals */

/* 0, or PM_EINVAL with *bad the unknown letter. */
int pipe_flags_parse(const char *s, unsigned *flags, char *bad);

typedef struct pipe_argv pipe_argv;

/* 0 and *out, or PM_EINVAL and *err (free it). */
int pipe_argv_parse(const char *spec, pipe_argv **out, char **err);
pipe_argv *pipe_argv_free(pipe_argv *t);
/* Number of template elements; element i (tests, logs). */
size_t pipe_argv_count(const pipe_argv *t);
const char *pipe_argv_elem(const pipe_argv *t, size_t i);

typedef struct pipe_vars {
	const char *sender;      /* "" for <>: null_sender is used */
	const char *null_sender; /* "MAILER-DAEMON" */
	const char *nexthop;
	const char *queue_id;
	uint64_t size;
	const char *const *rcpt; /* nrcpt addresses */
	const char *const *orig; /* nrcpt original recipients (may be NULL) */
	size_t nrcpt;
	const char *delim; /* recipient_delimiter characters, "" none */
	unsigned flags;
	/* the message's client (NULL: ""), expanded as they are */
	const char *client_address;
	const char *client_hostname;
	const char *client_port;
	const char *client_protocol;
	const char *client_helo;
	const char *sasl_method;
	const char *sasl_username;
	const char *sasl_sender;
} pipe_vars;

/*
 * The argument vector (NULL-terminated, free with pipe_argv_list_free)
 * or NULL with *err set (PM_ETOOBIG: too many or too long arguments).
 */
char **pipe_argv_expand(const pipe_argv *t, const pipe_vars *v, int *err);
char **pipe_argv_list_free(char **list);

typedef struct pipe_addr {
	char *local; /* mailbox: everything before the last "@" */
	char *user;  /* local without the extension */
	char *ext;   /* "" when none */
	char *domain;
} pipe_addr;

void pipe_addr_split(const char *addr, const char *delim, pipe_addr *a);
void pipe_addr_free(pipe_addr *a);

/*
 * Postfix's internal form: a quoted local part ("a b"@d, as Postmesh
 * stores it) without its quotes and quoted pairs (a b@d).
 */
char *pipe_addr_unquote(const char *addr);

/* The address with its local part quoted when RFC 5321 requires it. */
char *pipe_addr_quote(const char *addr);

#endif
