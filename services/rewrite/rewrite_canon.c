/*
 * NAME
 *	rewrite_canon - canonical address form (trivial-rewrite "rewrite")
 * SUMMARY
 *	#include "rewrite_int.h"
 * DESCRIPTION
 *	pm__resolve_canon() turns an address into user@fully.qualified.domain
 *	as Postfix's trivial-rewrite does for the "local" and "remote" rule
 *	sets, and as its resolver loop does before it picks a class:
 *
 *	- "@a,@b:user@dom" loses the source route (RESOLVE_ROUTED);
 *	- without '@': "site!user" becomes "user@site" (swap_bangpath),
 *	  else "user%dom" becomes "user@dom" (allow_percent_hack), else
 *	  "@$myorigin" (rule local) or "@$mydomain" (rule remote) is added;
 *	- one trailing dot of the domain is removed, the domain is lower
 *	  cased (the local part is kept as given), and a domain without a
 *	  dot gets ".$mydomain" when append_dot_mydomain = yes;
 *	- when the domain is local (mydestination etc.) and the local part
 *	  still holds a routing operator ('@' always, '%' with the percent
 *	  hack, '!' with swap_bangpath), the local domain is stripped and
 *	  the rest is rewritten again: "user%other@mydomain" becomes
 *	  "user@other". A routing operator that is left sets ROUTED, so
 *	  smtpd can refuse relaying through a backup MX (Postfix does so);
 *	- resolve_dequoted_address = yes (default, as Postfix): operators
 *	  inside a quoted local part count too. A local address whose
 *	  local part hides one ("user@other"@$mydomain, "user%other"@...
 *	  with the percent hack, "other!user"@... with swap_bangpath) loses
 *	  its local domain and the local part is unquoted (Postfix's
 *	  internal form; '%' or '!' turned into '@' as above) and quoted
 *	  again where it needs it ("john doe@other" -> "john doe"@other),
 *	  then rewritten again. With "no" a quoted local part is opaque
 *	  to this loop: "user@other"@$mydomain is a local user;
 *	- whatever the settings, a result whose local part holds '@', '%'
 *	  or '!', quoted or not, is ROUTED: Postfix checks the unquoted
 *	  form, so "victim@elsewhere"@relay-domain is never relayed for a
 *	  client that may not relay.
 *	Called by rewrite_resolve.c; the caller owns *out.
 * LIMITS
 *	PM_RESOLVE_ADDR_MAX bytes of input; PM_RESOLVE_LOOP_MAX rewrites.
 * SECURITY
 *	Input is hostile: control characters (CR, LF, NUL cannot arrive in a
 *	C string), unbalanced quotes, a trailing backslash, white space or
 *	RFC 5322 specials outside quotes, empty local parts or domains and
 *	bad domain names give RESOLVE_FAIL with a static reason.
 */
#include "rewrite_int.h"
#include "pm_util.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/*
 * Offset of ch outside quoted strings and quoted pairs (the first or the
 * last one), or -1.
 */
static ssize_t
rs_find(const char *s, size_t len, int ch, int last)
{
	ssize_t found = -1;
	int quoted = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == '"') {
			quoted = !quoted;
			continue;
		}
		if (!quoted && s[i] == ch) {
			found = (ssize_t) i;
			if (!last) {
				break;
			}
		}
	}
	return (found);
}

const char *
pm__resolve_at(const char *addr)
{
	ssize_t at = rs_find(addr, strlen(addr), '@', 1);

	return (at < 0 ? NULL : addr + at);
}

/* Control characters, unbalanced quotes, trailing backslash. */
static const char *
rs_check_chars(const char *s)
{
	int quoted = 0;
	const unsigned char *p;

	for (p = (const unsigned char *) s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			return ("malformed address: control character");
		}
		if (*p == '\\') {
			if (p[1] == 0) {
				return ("malformed address: "
				        "trailing backslash");
			}
			p++;
			if (*p < 0x20 || *p == 0x7f) {
				return ("malformed address: control character");
			}
			continue;
		}
		if (*p == '"') {
			quoted = !quoted;
		}
	}
	return (quoted ? "malformed address: unbalanced quote" : NULL);
}

/* Local part: no white space or specials outside quotes. */
static int
rs_local_ok(const char *s, size_t len)
{
	int quoted = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == '"') {
			quoted = !quoted;
			continue;
		}
		if (!quoted && strchr(" \t<>(),;:[]", s[i]) != NULL) {
			return (0);
		}
	}
	return (1);
}

/* Address literal "[1.2.3.4]" or "[ipv6:...]" (domain already lower case). */
static int
rs_literal_ok(const char *d, size_t len)
{
	char buf[64];
	unsigned char bin[16];

	if (len < 3 || d[len - 1] != ']' || len - 2 >= sizeof(buf)) {
		return (0);
	}
	memcpy(buf, d + 1, len - 2);
	buf[len - 2] = 0;
	if (strncmp(buf, "ipv6:", 5) == 0) {
		return (inet_pton(AF_INET6, buf + 5, bin) == 1);
	}
	return (inet_pton(AF_INET, buf, bin) == 1);
}

/*
 * Host name: labels of 1..63 letters, digits, '-' or '_' (or UTF-8
 * bytes, for SMTPUTF8), no label starting or ending with '-', at most
 * 255 bytes, and not all-numeric (Postfix valid_hostname()).
 */
static int
rs_domain_ok(const char *d)
{
	size_t len = strlen(d), label = 0, i;
	int numeric = 1;
	unsigned char c, prev = '.';

	if (len == 0 || len > 255) {
		return (0);
	}
	if (d[0] == '[') {
		return (rs_literal_ok(d, len));
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char) d[i];
		if (c == '.') {
			if (label == 0 || prev == '-') {
				return (0);
			}
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c >= 0x80 ||
		    (c == '-' && label > 0)) {
			if (++label > 63) {
				return (0);
			}
			if (!(c >= '0' && c <= '9')) {
				numeric = 0;
			}
		} else {
			return (0);
		}
		prev = c;
	}
	if (label == 0 || prev == '-' || numeric) {
		return (0);
	}
	return (1);
}

/*
 * A routing operator anywhere in s[0..len), quoted or not: '@', and '%'
 * and '!' when pct and bang say so.
 */
static int
rs_any_op(const char *s, size_t len, int pct, int bang)
{
	return (memchr(s, '@', len) != NULL ||
	    (pct && memchr(s, '%', len) != NULL) ||
	    (bang && memchr(s, '!', len) != NULL));
}

/*
 * The local part local[0..len) unquoted (Postfix's internal form), its
 * operator applied as the unquoted loop would ('%' -> '@', "site!user"
 * -> "user@site") and the new local part quoted where it needs it.
 * NULL if no operator can be applied.
 */
static char *
rs_crack(pm_resolve *r, const char *local, size_t len)
{
	char *s = pm_malloc(len + 1), *p, *out;
	size_t i, o = 0, n;
	int quote = 0;
	pm_buf b;

	for (i = 0; i < len; i++) {
		if (local[i] == '"') {
			continue;
		}
		if (local[i] == '\\' && i + 1 < len) {
			i++;
		}
		s[o++] = local[i];
	}
	s[o] = 0;
	if ((p = strrchr(s, '@')) == NULL) {
		if (r->percent_hack && (p = strrchr(s, '%')) != NULL && p > s &&
		    p[1] != 0) {
			*p = '@';
		} else if (r->swap_bangpath && (p = strchr(s, '!')) != NULL &&
		    p > s && p[1] != 0) {
			out = pm_asprintf("%s@%.*s", p + 1, (int) (p - s), s);
			free(s);
			s = out;
			p = strrchr(s, '@');
		} else {
			free(s);
			return (NULL);
		}
	}
	n = (size_t) (p - s);
	for (i = 0; i < n; i++) {
		if (strchr(" \t<>(),;:[]\"\\", s[i]) != NULL) {
			quote = 1;
		}
	}
	if (!quote) {
		return (s);
	}
	pm_buf_init(&b, 0);
	pm_buf_puts(&b, "\"");
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			pm_buf_puts(&b, "\\");
		}
		pm_buf_append(&b, s + i, 1);
	}
	pm_buf_puts(&b, "\"");
	pm_buf_puts(&b, p);
	out = pm_strndup(b.data, b.len);
	pm_buf_free(&b);
	free(s);
	return (out);
}

/* Replace *cur with a new string. */
static void
rs_set(char **cur, char *next)
{
	free(*cur);
	*cur = next;
}

void
pm__resolve_canon(pm_resolve *r, const char *addr, int remote, char **out,
    unsigned *flags, const char **why)
{
	char *cur = NULL, *dom, *next;
	size_t len = strlen(addr), dlen;
	ssize_t at, op;
	int loop, rc, plain;

	*out = NULL;
	*flags = 0;
	*why = NULL;

	if (len > PM_RESOLVE_ADDR_MAX) {
		*why = "malformed address: too long";
		goto fail;
	}
	if (len == 0) {
		*out = pm_strdup("");
		return;
	}
	if ((*why = rs_check_chars(addr)) != NULL) {
		goto fail;
	}
	cur = pm_strdup(addr);

	/* "@a,@b:user@dom": strip the source route. */
	if (cur[0] == '@') {
		if ((op = rs_find(cur, len, ':', 0)) < 0) {
			*why = "malformed address: empty local part";
			goto fail;
		}
		rs_set(&cur, pm_strdup(cur + op + 1));
		*flags |= PM_RESOLVE_ROUTED;
		if (cur[0] == 0) {
			*why = "malformed address: nothing after source "
			       "route";
			goto fail;
		}
	}

	for (loop = 0;; loop++) {
		if (loop >= PM_RESOLVE_LOOP_MAX) {
			*why = "malformed address: too many routing operators";
			goto fail;
		}
		len = strlen(cur);
		if ((at = rs_find(cur, len, '@', 1)) < 0) {
			if (r->swap_bangpath &&
			    (op = rs_find(cur, len, '!', 0)) > 0 &&
			    cur[op + 1] != 0) {
				/* site!user -> user@site */
				rs_set(&cur,
				    pm_asprintf("%s@%.*s", cur + op + 1,
				        (int) op, cur));
				*flags |= PM_RESOLVE_ROUTED;
				continue;
			}
			if (r->percent_hack &&
			    (op = rs_find(cur, len, '%', 1)) > 0 &&
			    cur[op + 1] != 0) {
				/* user%domain -> user@domain */
				cur[op] = '@';
				*flags |= PM_RESOLVE_ROUTED;
				continue;
			}
			rs_set(&cur,
			    pm_asprintf("%s@%s", cur,
			        remote ? r->mydomain : r->myorigin));
			at = rs_find(cur, strlen(cur), '@', 1);
		}
		if (at == 0) {
			*why = "malformed address: empty local part";
			goto fail;
		}
		if (!rs_local_ok(cur, (size_t) at)) {
			*why = "malformed address: bad local part";
			goto fail;
		}
		dom = cur + at + 1;
		dlen = strlen(dom);
		/* Trailing dot, but not dot-dot or "@." (as Postfix). */
		if (dlen > 1 && dom[dlen - 1] == '.' && dom[dlen - 2] != '.') {
			dom[--dlen] = 0;
		}
		if (dlen == 0) {
			*why = "malformed address: empty domain";
			goto fail;
		}
		pm_lowercase(dom);
		if (r->append_dot && dom[0] != '[' &&
		    strchr(dom, '.') == NULL && r->mydomain[0] != 0) {
			rs_set(&cur, pm_asprintf("%s.%s", cur, r->mydomain));
			dom = cur + at + 1;
		}
		if (!rs_domain_ok(dom)) {
			*why = "malformed address: bad domain name";
			goto fail;
		}

		/*
		 * A routing operator left in the local part of a local
		 * address (outside quotes, or with resolve_dequoted_address
		 * inside them too): strip the local domain and rewrite
		 * again.
		 */
		plain = rs_find(cur, (size_t) at, '@', 0) >= 0 ||
		    (r->percent_hack &&
		        rs_find(cur, (size_t) at, '%', 0) >= 0) ||
		    (r->swap_bangpath &&
		        rs_find(cur, (size_t) at, '!', 0) >= 0);
		if (!plain &&
		    !(r->resolve_dequoted &&
		        rs_any_op(cur, (size_t) at, r->percent_hack,
		            r->swap_bangpath))) {
			break;
		}
		if ((rc = pm__resolve_is_local(r, dom)) < 0) {
			*flags |= PM_RESOLVE_ERROR;
			*why = "Temporary lookup failure";
			free(cur);
			return;
		}
		if (rc == 0) {
			break;
		}
		if (plain) {
			rs_set(&cur, pm_strndup(cur, (size_t) at));
		} else if ((next = rs_crack(r, cur, (size_t) at)) != NULL) {
			rs_set(&cur, next);
			if (strlen(cur) > PM_RESOLVE_ADDR_MAX) {
				*why = "malformed address: too long";
				goto fail;
			}
		} else {
			break;
		}
		*flags |= PM_RESOLVE_ROUTED;
	}

	/*
	 * Routing operators that remain, quoted or not, whatever our own
	 * settings (Postfix looks at the unquoted form).
	 */
	at = rs_find(cur, strlen(cur), '@', 1);
	if (rs_any_op(cur, (size_t) at, 1, 1)) {
		*flags |= PM_RESOLVE_ROUTED;
	}
	*out = cur;
	return;

fail:
	free(cur);
	*flags = PM_RESOLVE_FAIL;
}
