/*
 * NAME
 *	pm_addr - RFC 5321 command, path and address parsing
 * SUMMARY
 *	#include "pm_addr.h"
 * DESCRIPTION
 *	See pm_addr.h. smtpd calls pm_smtp_parse_cmd() on every command
 *	line and pm_smtp_parse_path() on the argument of MAIL FROM: and
 *	RCPT TO:; cleanup and the restriction code use pm_addr_domain*().
 *
 *	The parser works in one pass over (arg, len) and allocates only
 *	once the whole input was accepted, so a failure leaves *out as it
 *	was. Before any syntax is looked at, the whole argument is checked
 *	for NUL bytes, control characters (a bare CR or LF included) and,
 *	with SMTPUTF8, for valid UTF-8; without SMTPUTF8 any 8-bit byte is
 *	refused. The scanners below can then treat a byte >= 0x80 as one
 *	piece of an already validated UTF-8 character. An accepted address
 *	also passes pm_envcheck_addr(), cleanup's check of every address.
 *
 *	Tolerance, as Postfix smtpd: white space after the colon; an
 *	unqualified address ("<postmaster>"); dots anywhere in an unquoted
 *	local part ("a..b", "a.", as some mobile carriers use); hyphens and
 *	underscores anywhere in a domain label. Not tolerated: empty domain
 *	labels ("a@b..c", "a@b.c."), an address literal that is not a valid
 *	IPv4 or "IPv6:" address.
 *
 *	pm_addr_domain() returns a pointer to the '@' (not to the domain
 *	after it), or NULL when the address has no '@' outside quotes.
 *	pm_smtp_parse_cmd() skips all white space between verb and
 *	argument, as Postfix's tokenizer does. pm_xtext_decode() accepts
 *	lower-case hex digits too, and refuses "+00" (it would cut the
 *	string).
 * LIMITS
 *	PM_ADDR_MAX octets per address (64 local part, 255 domain, 63 per
 *	label); the source route is bounded by PM_ADDR_MAX as well;
 *	PM_ESMTP_PARAMS_MAX ESMTP parameters, PM_ESMTP_KEY_MAX octets per
 *	parameter keyword.
 * SECURITY
 *	Every input here comes from an SMTP client and is hostile. Nothing
 *	is read past len; NUL bytes are an error, never a terminator.
 */
#include "pm_addr.h"
#include "pm_envcheck.h"
#include "pm_util.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PM_LOCAL_MAX 64
#define PM_DOMAIN_MAX 255
#define PM_LABEL_MAX 63
#define PM_ESMTP_KEY_MAX 64
#define PM_LITERAL_MAX 64 /* "IPv6:" + longest IPv6 text, with room */

static const char why_nul[] = "NUL character in input";
static const char why_ctrl[] = "control character in input";
static const char why_8bit[] = "Must declare SMTPUTF8 to send unicode address";
static const char why_utf8[] = "invalid UTF-8";
static const char why_empty[] = "missing address";
static const char why_lt[] = "missing '<'";
static const char why_gt[] = "missing '>'";
static const char why_syntax[] = "bad address syntax";
static const char why_quote[] = "unbalanced quote";
static const char why_local[] = "local part too long";
static const char why_domain[] = "bad domain";
static const char why_domlen[] = "domain name too long";
static const char why_literal[] = "bad address literal";
static const char why_route[] = "bad source route";
static const char why_toolong[] = "address too long";
static const char why_param[] = "bad parameter";
static const char why_nparam[] = "too many parameters";

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if bad. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t need, i;

	if (s[0] < 0x80) {
		return (1);
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return (0);
	}
	if (n < need) {
		return (0);
	}
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return (0);
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates, beyond U+10FFFF. */
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
		return (0);
	}
	return (need);
}

size_t
pm_utf8_seq(const unsigned char *s, size_t n)
{
	return (n == 0 ? 0 : utf8_seq(s, n));
}

/* Check the raw bytes once: NUL, controls, 8-bit / UTF-8. */
static const char *
check_bytes(const unsigned char *s, size_t len, int utf8)
{
	size_t i, n;

	for (i = 0; i < len; i++) {
		if (s[i] == 0) {
			return (why_nul);
		}
	}
	for (i = 0; i < len; i += n) {
		n = 1;
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
			return (why_ctrl);
		}
		if (s[i] >= 0x80) {
			if (!utf8) {
				return (why_8bit);
			}
			if ((n = utf8_seq(s + i, len - i)) == 0) {
				return (why_utf8);
			}
		}
	}
	return (NULL);
}

/* RFC 5322 atext; bytes >= 0x80 were validated as UTF-8 by the caller. */
static int
is_atext(unsigned char c, int utf8)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9')) {
		return (1);
	}
	if (c >= 0x80) {
		return (utf8);
	}
	return (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
is_label_char(unsigned char c, int utf8)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_') {
		return (1);
	}
	return (c >= 0x80 && utf8);
}

/*
 * Local part at s: quoted-string or (tolerant) dot-atom. Sets *used to
 * its length; the caller checks what follows.
 */
static const char *
scan_local(const unsigned char *s, size_t len, int utf8, size_t *used)
{
	size_t i = 0;

	if (len > 0 && s[0] == '"') {
		for (i = 1;; i++) {
			if (i >= len) {
				return (why_quote);
			}
			if (s[i] == '"') {
				i++;
				break;
			}
			if (s[i] == '\\') {
				if (++i >= len) {
					return (why_quote);
				}
				if (s[i] < 0x20 || s[i] == 0x7f) {
					return (why_ctrl);
				}
			} else if (s[i] < 0x20 || s[i] == 0x7f) {
				return (why_ctrl);
			} else if (s[i] >= 0x80 && !utf8) {
				return (why_8bit);
			}
		}
	} else {
		while (i < len && (is_atext(s[i], utf8) || s[i] == '.')) {
			i++;
		}
		if (i == 0) {
			return (why_syntax);
		}
	}
	if (i > PM_LOCAL_MAX) {
		return (why_local);
	}
	*used = i;
	return (NULL);
}

/* "[1.2.3.4]" or "[IPv6:2001:db8::1]" at s. */
static const char *
scan_literal(const unsigned char *s, size_t len, size_t *used)
{
	char buf[PM_LITERAL_MAX + 1];
	unsigned char bin[16];
	const unsigned char *end;
	size_t n;

	end = memchr(s, ']', len);
	if (end == NULL) {
		return (why_literal);
	}
	n = (size_t) (end - s) - 1;
	if (n == 0 || n > PM_LITERAL_MAX) {
		return (why_literal);
	}
	memcpy(buf, s + 1, n);
	buf[n] = 0;
	if (n > 5 && strncasecmp(buf, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, buf + 5, bin) != 1) {
			return (why_literal);
		}
	} else if (inet_pton(AF_INET, buf, bin) != 1) {
		return (why_literal);
	}
	*used = n + 2;
	return (NULL);
}

/*
 * Domain at s: address literal or dot-separated labels. Stops at the
 * first byte that cannot continue the domain; the caller checks it.
 */
static const char *
scan_domain(const unsigned char *s, size_t len, int utf8, size_t *used)
{
	size_t i = 0, start;

	if (len > 0 && s[0] == '[') {
		return (scan_literal(s, len, used));
	}
	for (;;) {
		start = i;
		while (i < len && is_label_char(s[i], utf8)) {
			i++;
		}
		if (i == start || i - start > PM_LABEL_MAX) {
			return (why_domain);
		}
		if (i < len && s[i] == '.') {
			i++;
			continue;
		}
		break;
	}
	if (i > PM_DOMAIN_MAX) {
		return (why_domlen);
	}
	*used = i;
	return (NULL);
}

/* "@a,@b:" source route at s (s[0] == '@'); *used includes the ':'. */
static const char *
scan_route(const unsigned char *s, size_t len, int utf8, size_t *used)
{
	size_t i = 0, n;

	for (;;) {
		if (i >= len || s[i] != '@') {
			return (why_route);
		}
		i++;
		if (scan_domain(s + i, len - i, utf8, &n) != NULL) {
			return (why_route);
		}
		i += n;
		if (i > PM_ADDR_MAX) {
			return (why_toolong);
		}
		if (i < len && s[i] == ',') {
			i++;
			continue;
		}
		if (i < len && s[i] == ':') {
			*used = i + 1;
			return (NULL);
		}
		return (why_route);
	}
}

/* Mailbox "local[@domain]" at s; *used is its length. */
static const char *
scan_mailbox(const unsigned char *s, size_t len, int utf8, size_t *used)
{
	const char *why;
	size_t i, n;

	if ((why = scan_local(s, len, utf8, &i)) != NULL) {
		return (why);
	}
	if (i < len && s[i] == '@') {
		i++;
		if ((why = scan_domain(s + i, len - i, utf8, &n)) != NULL) {
			return (why);
		}
		i += n;
	}
	if (i > PM_ADDR_MAX) {
		return (why_toolong);
	}
	*used = i;
	return (NULL);
}

static int
is_sp(unsigned char c)
{
	return (c == ' ' || c == '\t');
}

/* One "KEY[=VALUE]" token at s, ending at white space or len. */
static const char *
scan_param(const unsigned char *s, size_t len, int utf8, size_t *keylen,
    size_t *used)
{
	size_t i = 0, v;

	while (i < len &&
	    ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	        (s[i] >= '0' && s[i] <= '9') || (s[i] == '-' && i > 0))) {
		i++;
	}
	if (i == 0 || i > PM_ESMTP_KEY_MAX) {
		return (why_param);
	}
	*keylen = i;
	if (i < len && s[i] == '=') {
		v = ++i;
		while (i < len && s[i] > 0x20 && s[i] != '=' && s[i] != 0x7f &&
		    (s[i] < 0x80 || utf8)) {
			i++;
		}
		if (i == v) {
			return (why_param);
		}
	}
	if (i < len && !is_sp(s[i])) {
		return (why_param);
	}
	*used = i;
	return (NULL);
}

int
pm_smtp_parse_path(const char *arg, size_t len, int utf8, int allow_bare,
    pm_smtp_path *out, const char **why)
{
	const unsigned char *s = (const unsigned char *) arg;
	struct {
		size_t key, keylen, val, vallen;
	} tok[PM_ESMTP_PARAMS_MAX];
	size_t i = 0, n, addr = 0, addrlen = 0, ntok = 0, k, keylen;
	int bracket = 0, null = 0;
	const char *err;
	pm_smtp_path p;

	if (arg == NULL || out == NULL) {
		err = why_empty;
		goto bad;
	}
	if ((err = check_bytes(s, len, utf8)) != NULL) {
		goto bad;
	}
	while (i < len && is_sp(s[i])) {
		i++;
	}
	if (i >= len) {
		err = why_empty;
		goto bad;
	}
	if (s[i] == '<') {
		bracket = 1;
		i++;
	} else if (!allow_bare) {
		err = why_lt;
		goto bad;
	}
	if (bracket && i < len && s[i] == '>') {
		null = 1;
		i++;
	} else {
		if (i < len && s[i] == '@') {
			err = scan_route(s + i, len - i, utf8, &n);
			if (err != NULL) {
				goto bad;
			}
			i += n;
		}
		if ((err = scan_mailbox(s + i, len - i, utf8, &n)) != NULL) {
			goto bad;
		}
		addr = i;
		addrlen = n;
		i += n;
		if (bracket) {
			if (i >= len) {
				err = why_gt;
				goto bad;
			}
			if (s[i] != '>') {
				/* "<a@b c>", "<a@b!>": the domain stopped. */
				err = memchr(s + addr, '@', addrlen) != NULL ?
				    why_domain :
				    why_syntax;
				goto bad;
			}
			i++;
		}
	}
	if (i < len && !is_sp(s[i])) {
		err = why_syntax;
		goto bad;
	}
	for (;;) {
		while (i < len && is_sp(s[i])) {
			i++;
		}
		if (i >= len) {
			break;
		}
		if (ntok >= PM_ESMTP_PARAMS_MAX) {
			err = why_nparam;
			goto bad;
		}
		err = scan_param(s + i, len - i, utf8, &keylen, &n);
		if (err != NULL) {
			goto bad;
		}
		tok[ntok].key = i;
		tok[ntok].keylen = keylen;
		tok[ntok].val = i + keylen + 1;
		tok[ntok].vallen = n > keylen ? n - keylen - 1 : 0;
		ntok++;
		i += n;
	}

	/* Accepted: now build the result. */
	memset(&p, 0, sizeof(p));
	p.null = null;
	p.address = pm_strndup(arg + addr, addrlen);
	/* What cleanup checks every address with: the two never differ. */
	if ((err = pm_envcheck_addr(p.address)) != NULL) {
		free(p.address);
		goto bad;
	}
	for (k = 0; k < ntok; k++) {
		p.params[k].key = pm_strndup(arg + tok[k].key, tok[k].keylen);
		for (n = 0; n < tok[k].keylen; n++) {
			char c = p.params[k].key[n];

			if (c >= 'a' && c <= 'z') {
				p.params[k].key[n] = (char) (c - 'a' + 'A');
			}
		}
		if (tok[k].vallen > 0) {
			p.params[k].value =
			    pm_strndup(arg + tok[k].val, tok[k].vallen);
		}
	}
	p.nparams = ntok;
	*out = p;
	return (0);

bad:
	if (why != NULL) {
		*why = err;
	}
	return (PM_EINVAL);
}

void
pm_smtp_path_free(pm_smtp_path *p)
{
	size_t i;

	if (p == NULL) {
		return;
	}
	free(p->address);
	for (i = 0; i < p->nparams && i < PM_ESMTP_PARAMS_MAX; i++) {
		free(p->params[i].key);
		free(p->params[i].value);
	}
	memset(p, 0, sizeof(*p));
}

static const pm_esmtp_param *
find_param(const pm_smtp_path *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->nparams && i < PM_ESMTP_PARAMS_MAX; i++) {
		if (pm_strcaseeq(p->params[i].key, key)) {
			return (&p->params[i]);
		}
	}
	return (NULL);
}

const char *
pm_smtp_param(const pm_smtp_path *p, const char *key)
{
	const pm_esmtp_param *e = find_param(p, key);

	return (e != NULL ? e->value : NULL);
}

int
pm_smtp_has_param(const pm_smtp_path *p, const char *key)
{
	return (find_param(p, key) != NULL);
}

const char *
pm_addr_domain(const char *address)
{
	const char *at = NULL, *s;
	int quoted = 0;

	if (address == NULL) {
		return (NULL);
	}
	for (s = address; *s; s++) {
		if (quoted && *s == '\\' && s[1] != 0) {
			s++;
		} else if (*s == '"') {
			quoted = !quoted;
		} else if (*s == '@' && !quoted) {
			at = s;
		}
	}
	return (at);
}

int
pm_addr_domain_valid(const char *domain, int utf8)
{
	size_t len, n;

	if (domain == NULL || (len = strlen(domain)) == 0) {
		return (0);
	}
	if (check_bytes((const unsigned char *) domain, len, utf8) != NULL) {
		return (0);
	}
	if (scan_domain((const unsigned char *) domain, len, utf8, &n) !=
	    NULL) {
		return (0);
	}
	return (n == len);
}

int
pm_addr_domain_fqdn(const char *domain)
{
	if (!pm_addr_domain_valid(domain, 1) || domain[0] == '[') {
		return (0);
	}
	return (strchr(domain, '.') != NULL);
}

int
pm_smtp_parse_cmd(const char *line, size_t len, char *verb, size_t verbsize,
    const char **arg)
{
	size_t i = 0, start, n;

	if (line == NULL || verb == NULL || verbsize == 0 ||
	    memchr(line, 0, len) != NULL) {
		return (PM_EINVAL);
	}
	while (i < len && is_sp((unsigned char) line[i])) {
		i++;
	}
	start = i;
	while (i < len &&
	    ((line[i] >= 'a' && line[i] <= 'z') ||
	        (line[i] >= 'A' && line[i] <= 'Z'))) {
		i++;
	}
	n = i - start;
	if (n == 0 || n > verbsize - 1) {
		return (PM_EINVAL);
	}
	if (i < len && !is_sp((unsigned char) line[i])) {
		return (PM_EINVAL);
	}
	for (size_t k = 0; k < n; k++) {
		char c = line[start + k];

		verb[k] = (c >= 'a' && c <= 'z') ? (char) (c - 'a' + 'A') : c;
	}
	verb[n] = 0;
	/* Postfix splits on white space: "MAIL  FROM:" works too. */
	while (i < len && is_sp((unsigned char) line[i])) {
		i++;
	}
	if (arg != NULL) {
		*arg = i < len ? line + i : "";
	}
	return (0);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9') {
		return (c - '0');
	}
	if (c >= 'A' && c <= 'F') {
		return (c - 'A' + 10);
	}
	if (c >= 'a' && c <= 'f') {
		return (c - 'a' + 10);
	}
	return (-1);
}

char *
pm_xtext_decode(const char *s)
{
	const unsigned char *p;
	char *out, *o;
	int hi, lo;

	if (s == NULL) {
		return (NULL);
	}
	out = o = pm_malloc(strlen(s) + 1);
	for (p = (const unsigned char *) s; *p; p++) {
		if (*p < 33 || *p > 126 || *p == '=') {
			goto bad;
		}
		if (*p != '+') {
			*o++ = (char) *p;
			continue;
		}
		if ((hi = hexval(p[1])) < 0 || (lo = hexval(p[2])) < 0) {
			goto bad;
		}
		if (hi == 0 && lo == 0) {
			goto bad; /* "+00" would cut the string */
		}
		*o++ = (char) (hi * 16 + lo);
		p += 2;
	}
	*o = 0;
	return (out);

bad:
	free(out);
	return (NULL);
}

char *
pm_xtext_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t n = 0;
	char *out, *o;

	if (s == NULL) {
		return (NULL);
	}
	for (p = (const unsigned char *) s; *p; p++) {
		n += (*p < 33 || *p > 126 || *p == '+' || *p == '=') ? 3 : 1;
	}
	out = o = pm_malloc(n + 1);
	for (p = (const unsigned char *) s; *p; p++) {
		if (*p < 33 || *p > 126 || *p == '+' || *p == '=') {
			*o++ = '+';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		} else {
			*o++ = (char) *p;
		}
	}
	*o = 0;
	return (out);
}
