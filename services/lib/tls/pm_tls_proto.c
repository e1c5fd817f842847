/*
 * NAME
 *	pm_tls_proto - Postfix protocol lists and cipher grades for OpenSSL
 * DESCRIPTION
 *	See pm_tls.h: pm_tls_protocol_range(), pm_tls_cipher_list(),
 *	pm_tls_version_name(). Pure functions of their arguments.
 * LIMITS
 *	Protocol and cipher names of at most 63 octets; the cipher list
 *	must fit the caller's buffer.
 * SECURITY
 *	Values come from main.cf (trusted), but are still checked
 *	strictly: an unknown name is an error, never ignored.
 */
#include <stdio.h>
#include <string.h>

#include "pm_tls.h"
#include "pm_util.h"

/* Indexes into the protocol table, oldest first. */
static const struct {
	const char *name;
	int version; /* 0: not supported by OpenSSL 3 */
} protos[] = {
	{ "SSLv2", 0 },
	{ "SSLv3", 0 },
	{ "TLSv1", TLS1_VERSION },
	{ "TLSv1.1", TLS1_1_VERSION },
	{ "TLSv1.2", TLS1_2_VERSION },
	{ "TLSv1.3", TLS1_3_VERSION },
};
#define NPROTOS (sizeof(protos) / sizeof(protos[0]))

static int
proto_index(const char *name)
{
	size_t i;

	for (i = 0; i < NPROTOS; i++) {
		if (strcasecmp(name, protos[i].name) == 0) {
			return ((int) i);
		}
	}
	return (-1);
}

const char *
pm_tls_version_name(int version)
{
	size_t i;

	for (i = 0; i < NPROTOS; i++) {
		if (protos[i].version != 0 && protos[i].version == version) {
			return (protos[i].name);
		}
	}
	return ("unknown");
}

/* Next token of a comma/space list into tok; 0 at the end. */
static int
next_token(const char **p, char *tok, size_t size)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ',' || *s == ' ' || *s == '\t') {
		s++;
	}
	if (*s == 0) {
		*p = s;
		return (0);
	}
	while (*s != 0 && *s != ',' && *s != ' ' && *s != '\t') {
		if (n + 1 >= size) {
			return (-1);
		}
		tok[n++] = *s++;
	}
	tok[n] = 0;
	*p = s;
	return (1);
}

int
pm_tls_protocol_range(const char *spec, int *min, int *max, char *err,
    size_t size)
{
	int allowed[NPROTOS], included[NPROTOS];
	int any_include = 0, lo = -1, hi = -1, ntok = 0, rc, idx;
	char tok[64];
	const char *p = spec, *name;
	size_t i;

	*min = *max = 0;
	for (i = 0; i < NPROTOS; i++) {
		allowed[i] = 1;
		included[i] = 0;
	}
	while ((rc = next_token(&p, tok, sizeof(tok))) > 0) {
		ntok++;
		name = tok;
		if (tok[0] == '!') {
			name = tok + 1;
		} else if (strncmp(tok, ">=", 2) == 0 ||
		    strncmp(tok, "<=", 2) == 0) {
			name = tok + 2;
		}
		if ((idx = proto_index(name)) < 0) {
			snprintf(err, size, "unknown TLS protocol \"%s\"",
			    pm_printable(tok));
			return (PM_EINVAL);
		}
		if (tok[0] == '!') {
			allowed[idx] = 0;
		} else if (tok[0] == '>') {
			for (i = 0; i < (size_t) idx; i++) {
				allowed[i] = 0;
			}
		} else if (tok[0] == '<') {
			for (i = (size_t) idx + 1; i < NPROTOS; i++) {
				allowed[i] = 0;
			}
		} else {
			included[idx] = 1;
			any_include = 1;
		}
	}
	if (rc < 0) {
		snprintf(err, size, "TLS protocol name too long in \"%.200s\"",
		    spec);
		return (PM_EINVAL);
	}
	if (ntok == 0) {
		return (PM_OK);
	}
	for (i = 0; i < NPROTOS; i++) {
		int on = allowed[i] && (!any_include || included[i]) &&
		    protos[i].version != 0;

		if (!on) {
			continue;
		}
		if (hi >= 0 && (size_t) hi + 1 != i) {
			snprintf(err, size,
			    "TLS protocols \"%.200s\" leave a gap (%s is off "
			    "between %s and %s)",
			    spec, protos[hi + 1].name, protos[lo].name,
			    protos[i].name);
			return (PM_EINVAL);
		}
		if (lo < 0) {
			lo = (int) i;
		}
		hi = (int) i;
	}
	if (lo < 0) {
		snprintf(err, size,
		    "TLS protocols \"%.200s\" allow no protocol", spec);
		return (PM_EINVAL);
	}
	*min = protos[lo].version;
	*max = protos[hi].version;
	return (PM_OK);
}

int
pm_tls_cipher_list(const char *grade, const char *exclude, char *buf,
    size_t size, char *err, size_t esize)
{
	const char *base, *p = exclude == NULL ? "" : exclude;
	char tok[64];
	size_t len;
	int rc, n;

	if (grade == NULL || *grade == 0 || strcasecmp(grade, "medium") == 0) {
		base = "HIGH:MEDIUM:!aNULL:!eNULL:@STRENGTH";
	} else if (strcasecmp(grade, "high") == 0) {
		base = "HIGH:!aNULL:!eNULL:@STRENGTH";
	} else if (strcasecmp(grade, "null") == 0) {
		base = "eNULL:!aNULL";
	} else {
		snprintf(err, esize,
		    "unknown TLS cipher grade \"%.64s\" (high, medium, null)",
		    grade);
		return (PM_EINVAL);
	}
	n = snprintf(buf, size, "%s", base);
	if (n < 0 || (size_t) n >= size) {
		snprintf(err, esize, "cipher list too long");
		return (PM_ETOOBIG);
	}
	len = (size_t) n;
	while ((rc = next_token(&p, tok, sizeof(tok))) > 0) {
		if (strspn(tok,
		        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
		        "tuvwxyz0123456789-_+.") != strlen(tok)) {
			snprintf(err, esize, "bad cipher name \"%s\"",
			    pm_printable(tok));
			return (PM_EINVAL);
		}
		n = snprintf(buf + len, size - len, ":!%s", tok);
		if (n < 0 || (size_t) n >= size - len) {
			snprintf(err, esize, "cipher list too long");
			return (PM_ETOOBIG);
		}
		len += (size_t) n;
	}
	if (rc < 0) {
		snprintf(err, esize, "cipher name too long in \"%.200s\"",
		    exclude);
		return (PM_EINVAL);
	}
	return (PM_OK);
}
