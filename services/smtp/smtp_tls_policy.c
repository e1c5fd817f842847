/*
 * NAME
 *	smtp_tls_policy - TLS security levels and smtp_tls_policy_maps
 * DESCRIPTION
 *	Postfix's smtp client TLS policy (postconf(5)
 *	smtp_tls_policy_maps): a level (none, may, encrypt, verify,
 *	secure) and optional attributes, e.g.
 *	  example.com            encrypt
 *	  [mx.example.com]:25    verify match=mx.example.com
 *	  .example.net           secure match=.example.net:example.net
 *	  [127.0.0.1]:2525       none
 *	Entries are split at white space and commas, so lists inside an
 *	attribute are separated by ':' (Postfix's syntax). Attributes:
 *	match= (names), protocols= ("!SSLv2:!SSLv3") and ciphers=
 *	(override smtp_tls_[mandatory_]protocols/ciphers),
 *	exclude=, servername=. Postfix's dane, dane-only and fingerprint
 *	levels are not implemented and are refused as unknown, so that a
 *	table written for Postfix defers rather than silently downgrades.
 *
 *	Lookup order (smtp_tls_policy_keys): the nexthop verbatim, then,
 *	for a nexthop not in brackets, the domain without a port and its
 *	parent domains with a leading dot, as Postfix does.
 *
 *	The connection cache key (smtp_tls_cache_key) holds the level
 *	and a hash of the attributes and the configuration generation, so a connection made under one
 *	policy never serves another; smtp_tls_fits() checks a cached
 *	connection against the job's policy once more, and at verify and
 *	secure its certificate against the job's names. The TLS session
 *	cache key (smtp_tls_session_key) adds the server, the SNI name
 *	and the resolved names to match, since OpenSSL does not check
 *	names again when it resumes a session; smtp_tls.c checks the
 *	certificate of every handshake with smtp_tls_cert_matches() too.
 *
 *	Used by smtp_tls.c and smtp.c; pure but for the table lookup, so
 *	the unit test calls it directly.
 * LIMITS
 *	SMTP_TLS_POLICY_MAX octets per entry, SMTP_TLS_ATTR_MAX per
 *	attribute, SMTP_TLS_NAMES_MAX names to match, SMTP_TLS_KEYS_MAX
 *	lookup keys (parents beyond that are not tried).
 * SECURITY
 *	Table values are operator input: a bad entry is an error that
 *	defers the mail (never a weaker level). Nexthops come from the
 *	queue manager, checked by pm_agent.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "pm_util.h"
#include "smtp_tls.h"

static const char *const level_names[] = { "none", "may", "encrypt", "verify",
	"secure" };

int
smtp_tls_level_parse(const char *name)
{
	size_t i;

	if (name == NULL || *name == 0) {
		return (SMTP_TLS_NONE);
	}
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (pm_strcaseeq(name, level_names[i])) {
			return ((int) i);
		}
	}
	return (-1);
}

const char *
smtp_tls_level_name(int level)
{
	if (level < 0 ||
	    (size_t) level >= sizeof(level_names) / sizeof(level_names[0])) {
		return ("unknown");
	}
	return (level_names[level]);
}

/* Copy an attribute value; PM_EINVAL when it does not fit or is empty. */
static int
attr_copy(char *dst, size_t size, const char *name, const char *val, char *err,
    size_t esize)
{
	size_t n = strlen(val);

	if (n == 0 || n >= size) {
		snprintf(err, esize, "%s attribute value %s", name,
		    n == 0 ? "is empty" : "is too long");
		return (PM_EINVAL);
	}
	memcpy(dst, val, n + 1);
	return (0);
}

/* Within an attribute value lists are ':'-separated (Postfix). */
static void
colons_to_spaces(char *s)
{
	for (; *s; s++) {
		if (*s == ':') {
			*s = ' ';
		}
	}
}

int
smtp_tls_policy_parse(const char *text, smtp_tls_policy *out, char *err,
    size_t esize)
{
	char buf[SMTP_TLS_POLICY_MAX], *tok, *save = NULL, *eq;
	smtp_tls_policy p;
	size_t n = strlen(text);
	int first = 1;

	if (n >= sizeof(buf)) {
		snprintf(err, esize, "policy is longer than %d octets",
		    SMTP_TLS_POLICY_MAX - 1);
		return (PM_EINVAL);
	}
	memcpy(buf, text, n + 1);
	memset(&p, 0, sizeof(p));
	p.level = -1;
	for (tok = strtok_r(buf, " \t\r\n,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t\r\n,", &save)) {
		if (first) {
			first = 0;
			if ((p.level = smtp_tls_level_parse(tok)) < 0) {
				snprintf(err, esize,
				    "unknown or unsupported TLS security "
				    "level \"%.64s\"",
				    tok);
				pm_printable(err);
				return (PM_EINVAL);
			}
			continue;
		}
		if ((eq = strchr(tok, '=')) == NULL) {
			snprintf(err, esize, "attribute \"%.64s\" has no value",
			    tok);
			pm_printable(err);
			return (PM_EINVAL);
		}
		*eq++ = 0;
		if (pm_strcaseeq(tok, "match")) {
			if (attr_copy(p.match, sizeof(p.match), tok, eq, err,
			        esize) != 0) {
				return (PM_EINVAL);
			}
		} else if (pm_strcaseeq(tok, "protocols")) {
			if (attr_copy(p.protocols, sizeof(p.protocols), tok, eq,
			        err, esize) != 0) {
				return (PM_EINVAL);
			}
			colons_to_spaces(p.protocols);
		} else if (pm_strcaseeq(tok, "ciphers")) {
			if (attr_copy(p.ciphers, sizeof(p.ciphers), tok, eq,
			        err, esize) != 0) {
				return (PM_EINVAL);
			}
		} else if (pm_strcaseeq(tok, "exclude")) {
			if (attr_copy(p.exclude, sizeof(p.exclude), tok, eq,
			        err, esize) != 0) {
				return (PM_EINVAL);
			}
			colons_to_spaces(p.exclude);
		} else if (pm_strcaseeq(tok, "servername")) {
			/* servername= with no value: no SNI */
			if (*eq != 0 &&
			    attr_copy(p.servername, sizeof(p.servername), tok,
			        eq, err, esize) != 0) {
				return (PM_EINVAL);
			}
			p.has_servername = 1;
		} else {
			snprintf(err, esize, "unknown attribute \"%.64s\"",
			    tok);
			pm_printable(err);
			return (PM_EINVAL);
		}
	}
	if (first) {
		snprintf(err, esize, "empty policy");
		return (PM_EINVAL);
	}
	*out = p;
	return (0);
}

/* Add a key if there is room; returns the new count. */
static size_t
key_add(char (*keys)[PM_DNS_NAME_MAX + 8], size_t n, size_t max, const char *s,
    size_t len)
{
	if (n >= max || len == 0 || len >= PM_DNS_NAME_MAX + 8) {
		return (n);
	}
	memcpy(keys[n], s, len);
	keys[n][len] = 0;
	return (n + 1);
}

size_t
smtp_tls_policy_keys(const char *nexthop, char (*keys)[PM_DNS_NAME_MAX + 8],
    size_t max)
{
	size_t n = 0, dlen;
	const char *colon, *dot;

	n = key_add(keys, n, max, nexthop, strlen(nexthop));
	if (*nexthop == '[' || *nexthop == '/') {
		/* no MX lookup, or an LMTP socket path: verbatim only */
		return (n);
	}
	colon = strchr(nexthop, ':');
	dlen = colon ? (size_t) (colon - nexthop) : strlen(nexthop);
	if (colon != NULL) {
		n = key_add(keys, n, max, nexthop, dlen);
	}
	for (dot = memchr(nexthop, '.', dlen);
	     dot != NULL && dot + 1 < nexthop + dlen;
	     dot = memchr(dot + 1, '.', (size_t) (nexthop + dlen - dot - 1))) {
		n = key_add(keys, n, max, dot, (size_t) (nexthop + dlen - dot));
	}
	return (n);
}

int
smtp_tls_policy_lookup(pm_tables *ts, const char *nexthop, smtp_tls_policy *p,
    char *err, size_t esize)
{
	char keys[SMTP_TLS_KEYS_MAX][PM_DNS_NAME_MAX + 8], why[200];
	char *val = NULL;
	size_t n, i;
	int rc = PM_ENOENT;

	if (ts == NULL || pm_tables_count(ts) == 0) {
		return (PM_ENOENT);
	}
	n = smtp_tls_policy_keys(nexthop, keys, SMTP_TLS_KEYS_MAX);
	for (i = 0; i < n; i++) {
		rc = pm_tables_get(ts, keys[i], &val);
		if (rc == PM_ENOENT) {
			continue;
		}
		if (rc != 0) {
			snprintf(err, esize, "TLS policy lookup for %.300s: %s",
			    keys[i], pm_strerror(rc));
			return (rc);
		}
		rc = smtp_tls_policy_parse(val, p, why, sizeof(why));
		if (rc != 0) {
			snprintf(err, esize,
			    "TLS policy lookup for %.300s: "
			    "invalid policy: %s",
			    keys[i], why);
		}
		free(val);
		return (rc);
	}
	return (PM_ENOENT);
}

/* Add name unless there or full; returns the new count. */
static size_t
name_add(char (*names)[PM_DNS_NAME_MAX + 2], size_t n, size_t max,
    const char *pre, const char *s, size_t len)
{
	size_t pl = strlen(pre), i;

	if (n >= max || len == 0 || pl + len >= PM_DNS_NAME_MAX + 2) {
		return (n);
	}
	memcpy(names[n], pre, pl);
	memcpy(names[n] + pl, s, len);
	names[n][pl + len] = 0;
	for (i = 0; i < n; i++) {
		if (pm_strcaseeq(names[i], names[n])) {
			return (n);
		}
	}
	return (n + 1);
}

size_t
smtp_tls_match_names(const char *spec, const char *hostname,
    const char *nexthop, char (*names)[PM_DNS_NAME_MAX + 2], size_t max)
{
	const char *p = spec, *e;
	size_t n = 0, len;

	while (*p != 0) {
		p += strspn(p, ":, \t");
		e = p + strcspn(p, ":, \t");
		len = (size_t) (e - p);
		if (len == 8 && strncasecmp(p, "hostname", 8) == 0) {
			n = name_add(names, n, max, "", hostname,
			    strlen(hostname));
		} else if (len == 7 && strncasecmp(p, "nexthop", 7) == 0) {
			n = name_add(names, n, max, "", nexthop,
			    strlen(nexthop));
		} else if (len == 11 &&
		    strncasecmp(p, "dot-nexthop", 11) == 0) {
			n = name_add(names, n, max, ".", nexthop,
			    strlen(nexthop));
		} else if (len > 0) {
			n = name_add(names, n, max, "", p, len);
		}
		p = e;
	}
	return (n);
}

/*
 * FNV-1a over the policy's attributes and the generation of the
 * configuration it was made under: after a reload neither cached
 * connections nor TLS sessions of the old settings serve new jobs.
 */
static unsigned long long
policy_hash(const smtp_tls_policy *p)
{
	const char *parts[] = { p->match, p->protocols, p->ciphers, p->exclude,
		p->servername, p->has_servername ? "1" : "0" };
	unsigned long long h = 1469598103934665603ULL;
	size_t i;
	const char *c;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		for (c = parts[i]; *c; c++) {
			h = (h ^ (unsigned char) *c) * 1099511628211ULL;
		}
		h = (h ^ 0xff) * 1099511628211ULL; /* separator */
	}
	for (i = 0; i < sizeof(p->gen); i++) {
		h = (h ^ ((p->gen >> (8 * i)) & 0xff)) * 1099511628211ULL;
	}
	return (h);
}

void
smtp_tls_cache_key(const smtp_tls_policy *p, char *key, size_t size)
{
	if (p->level == SMTP_TLS_NONE) {
		snprintf(key, size, "tls=none");
	} else {
		snprintf(key, size, "tls=%s:%016llx",
		    smtp_tls_level_name(p->level), policy_hash(p));
	}
}

int
smtp_tls_cert_matches(X509 *cert, char (*names)[PM_DNS_NAME_MAX + 2], size_t n)
{
	size_t i;

	for (i = 0; cert != NULL && i < n; i++) {
		if (X509_check_host(cert, names[i], 0,
		        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1) {
			return (1);
		}
	}
	return (0);
}

int
smtp_tls_session_key(const char *endpoint, const char *sni,
    const smtp_tls_policy *p, char (*names)[PM_DNS_NAME_MAX + 2], size_t n,
    char *key, size_t size)
{
	char pkey[64];
	size_t len, i;
	int w;
	char *c;

	smtp_tls_cache_key(p, pkey, sizeof(pkey));
	w = snprintf(key, size, "%s|%s|%s|", endpoint, sni, pkey);
	if (w < 0 || (size_t) w >= size) {
		goto toolong;
	}
	len = (size_t) w;
	for (i = 0; i < n; i++) {
		w = snprintf(key + len, size - len, "%s%s", i ? ":" : "",
		    names[i]);
		if (w < 0 || (size_t) w >= size - len) {
			goto toolong;
		}
		for (c = key + len; *c; c++) {
			*c = (char) tolower((unsigned char) *c);
		}
		len += (size_t) w;
	}
	return (0);

toolong:
	if (size > 0) {
		key[0] = 0;
	}
	return (PM_EINVAL);
}

int
smtp_tls_fits(const smtp_sess *s, const smtp_tls_policy *p, const char *spec,
    const char *nexthop)
{
	char names[SMTP_TLS_NAMES_MAX][PM_DNS_NAME_MAX + 2];
	size_t n;

	int level = s->tls != NULL ? s->tls->pol.level : SMTP_TLS_NONE;

	if (level != p->level) {
		return (0);
	}
	if (p->level >= SMTP_TLS_ENCRYPT && s->tls->ssl == NULL) {
		return (0);
	}
	if (p->level >= SMTP_TLS_VERIFY &&
	    strcmp(s->tls->trust, "Verified") != 0) {
		return (0);
	}
	if (p->level >= SMTP_TLS_VERIFY) {
		/* verified for its own job: the names of this one */
		n = smtp_tls_match_names(spec, s->tls->host, nexthop, names,
		    SMTP_TLS_NAMES_MAX);
		if (!smtp_tls_cert_matches(s->tls->peer, names, n)) {
			return (0);
		}
	}
	return (1);
}
