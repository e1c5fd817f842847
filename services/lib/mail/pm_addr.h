/*
 * NAME
 *	pm_addr - RFC 5321 command, path and address parsing
 * SUMMARY
 *	#include "pm_addr.h"
 * DESCRIPTION
 *	pm_smtp_parse_path() parses the argument of MAIL FROM: / RCPT TO:
 *	(the text after the colon), as a strict but tolerant Postfix smtpd
 *	would:
 *	  - optional white space after the colon (Postfix accepts it);
 *	  - "<>" is the null path (MAIL only: *null = 1);
 *	  - "<@a,@b:user@dom>" source routes are stripped (RFC 5321 4.1.1.3);
 *	  - local parts: dot-atom or quoted-string with quoted-pairs;
 *	    the stored address keeps the quoted form as given
 *	    ("a b"@x stays "a b"@x);
 *	  - domain: dot-separated labels of letters/digits/hyphens, or an
 *	    address literal [1.2.3.4] / [IPv6:...]; with SMTPUTF8 also UTF-8
 *	    bytes (valid UTF-8 only) in local part and domain;
 *	  - the address must be inside <>; a bare address without <> is
 *	    refused (Postfix strict_rfc821_envelopes = no accepts it: we
 *	    accept it too when allow_bare is 1);
 *	  - then ESMTP parameters "KEY=VALUE" or "KEY", separated by spaces.
 *	pm_smtp_parse_cmd() splits a command line into verb and argument.
 *	pm_xtext_decode() decodes ORCPT/ENVID xtext (RFC 3461).
 * LIMITS
 *	A path longer than PM_ADDR_MAX (a local part over 64 or a domain
 *	over 255 octets) is refused; at most PM_ESMTP_PARAMS_MAX parameters.
 * SECURITY
 *	Input is hostile: NUL bytes, control characters, unbalanced quotes
 *	or brackets, over-long input all give PM_EINVAL with a reason, never
 *	a crash. Results are new strings owned by the caller.
 */
#ifndef PM_ADDR_H
#define PM_ADDR_H

#include <stddef.h>

#define PM_ADDR_MAX 320 /* 64 + 1 + 255 */
#define PM_ESMTP_PARAMS_MAX 16

typedef struct pm_esmtp_param {
	char *key;   /* upper-cased */
	char *value; /* NULL when the parameter has no "=" */
} pm_esmtp_param;

typedef struct pm_smtp_path {
	char *address; /* without <>, source route removed; "" for <> */
	int null;      /* 1 for <> */
	size_t nparams;
	pm_esmtp_param params[PM_ESMTP_PARAMS_MAX];
} pm_smtp_path;

/*
 * Parse "  <user@dom> SIZE=123 BODY=8BITMIME". len is the length of arg
 * (arg may contain NULs: they are an error). utf8: allow UTF-8.
 * On error returns PM_EINVAL and sets *why to a static reason text such
 * as "Syntax error in parameters" suitable after "501 5.1.7 Bad ...".
 */
int pm_smtp_parse_path(const char *arg, size_t len, int utf8, int allow_bare,
    pm_smtp_path *out, const char **why);
void pm_smtp_path_free(pm_smtp_path *p);
/* Value of an ESMTP parameter (key case-insensitive), NULL if absent or no value. */
const char *pm_smtp_param(const pm_smtp_path *p, const char *key);
int pm_smtp_has_param(const pm_smtp_path *p, const char *key);

/* Split address at the last '@' outside quotes: *at points to it or NULL. */
const char *pm_addr_domain(const char *address);
/* 1 if the domain is a syntactically valid FQDN (has a dot, labels ok). */
int pm_addr_domain_fqdn(const char *domain);
/* 1 if s is a valid domain name or address literal. */
int pm_addr_domain_valid(const char *domain, int utf8);

/*
 * Command line split: verb (upper-cased into verb[], at most verbsize-1
 * chars) and pointer to the argument (after one space, may be "").
 * Returns PM_EINVAL for an empty line, NUL bytes or a verb with
 * non-letters.
 */
int pm_smtp_parse_cmd(const char *line, size_t len, char *verb, size_t verbsize,
    const char **arg);

/* xtext decode (RFC 3461 4): new string, or NULL if malformed. */
char *pm_xtext_decode(const char *s);
/* Length of the valid UTF-8 sequence at s (at most n bytes): 1 for
 * ASCII, 0 for a bad or cut sequence. */
size_t pm_utf8_seq(const unsigned char *s, size_t n);
/* xtext encode: new string. */
char *pm_xtext_encode(const char *s);

#endif
