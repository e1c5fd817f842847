/*
 * NAME
 *	pm_dnsbl - DNS block/allow list site specs, query names, lookups
 * DESCRIPTION
 *	See pm_dnsbl.h. The filter syntax is Postfix's ip_match(3)
 *	pattern as used by reject_rbl_client and postscreen_dnsbl_sites:
 *	an octet is "n" or "[...]" holding ";"-separated numbers and
 *	"n..m" ranges. Since a range holds dots, the filter is read one
 *	character at a time rather than split on ".".
 * LIMITS
 *	See pm_dnsbl.h.
 * SECURITY
 *	See pm_dnsbl.h.
 */
#include "pm_dnsbl.h"
#include "pm_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dnsbl_err(char *err, size_t errsize, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
dnsbl_err(char *err, size_t errsize, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errsize > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsize, fmt, ap);
		va_end(ap);
	}
	return (rc);
}

/* A decimal 0..255 at *pp (1 to 3 digits); advances *pp. -1 if none. */
static int
dnsbl_byte(const char **pp)
{
	const char *p = *pp;
	int v = 0;
	int n = 0;

	while (isdigit((unsigned char) *p) && n < 4) {
		v = v * 10 + (*p++ - '0');
		n++;
	}
	if (n == 0 || n > 3 || v > 255) {
		return (-1);
	}
	*pp = p;
	return (v);
}

/* One octet pattern at *pp into o; advances *pp. 0 or PM_E*. */
static int
dnsbl_octet(pm_dnsbl_octet *o, const char **pp)
{
	const char *p = *pp;
	int lo;
	int hi;

	o->nalt = 0;
	if (*p != '[') {
		if ((lo = dnsbl_byte(&p)) < 0) {
			return (PM_EINVAL);
		}
		o->alt[0].lo = o->alt[0].hi = (unsigned char) lo;
		o->nalt = 1;
		*pp = p;
		return (0);
	}
	p++;
	for (;;) {
		if ((lo = dnsbl_byte(&p)) < 0) {
			return (PM_EINVAL);
		}
		hi = lo;
		if (p[0] == '.' && p[1] == '.') {
			p += 2;
			if ((hi = dnsbl_byte(&p)) < 0 || hi < lo) {
				return (PM_EINVAL);
			}
		}
		if (o->nalt >= PM_DNSBL_ALT_MAX) {
			return (PM_ETOOBIG);
		}
		o->alt[o->nalt].lo = (unsigned char) lo;
		o->alt[o->nalt].hi = (unsigned char) hi;
		o->nalt++;
		if (*p == ']') {
			*pp = p + 1;
			return (0);
		}
		if (*p != ';') {
			return (PM_EINVAL);
		}
		p++;
	}
}

/* The filter text (4 octet patterns, nothing after) into site. */
static int
dnsbl_filter(pm_dnsbl_site *site, const char *f)
{
	const char *p = f;
	int i;
	int rc;

	for (i = 0; i < 4; i++) {
		if ((rc = dnsbl_octet(&site->octet[i], &p)) != 0) {
			return (rc);
		}
		if (i < 3 && *p++ != '.') {
			return (PM_EINVAL);
		}
	}
	return (*p == '\0' ? 0 : PM_EINVAL);
}

int
pm_dnsbl_site_parse(pm_dnsbl_site *site, const char *spec, int flags, char *err,
    size_t errsize)
{
	pm_dnsbl_site s;
	char buf[PM_DNSBL_SPEC_MAX + 1];
	size_t len = strlen(spec);
	char *star;
	char *eq;
	char *ep;
	long w;
	int rc;

	if (len == 0) {
		return (dnsbl_err(err, errsize, PM_EINVAL, "empty site"));
	}
	if (len > PM_DNSBL_SPEC_MAX) {
		return (dnsbl_err(err, errsize, PM_ETOOBIG,
		    "site spec longer than %d bytes", PM_DNSBL_SPEC_MAX));
	}
	memcpy(buf, spec, len + 1);
	memset(&s, 0, sizeof(s));
	s.weight = 1;
	if ((star = strchr(buf, '*')) != NULL) {
		if ((flags & PM_DNSBL_F_WEIGHT) == 0) {
			return (dnsbl_err(err, errsize, PM_EINVAL,
			    "%s: a weight is not allowed here", spec));
		}
		*star++ = '\0';
		w = strtol(star, &ep, 10);
		if (*star == '\0' || isspace((unsigned char) *star) ||
		    *ep != '\0' || w < -PM_DNSBL_WEIGHT_MAX ||
		    w > PM_DNSBL_WEIGHT_MAX) {
			return (dnsbl_err(err, errsize, PM_EINVAL,
			    "%s: bad weight (an integer within +-%d)", spec,
			    PM_DNSBL_WEIGHT_MAX));
		}
		s.weight = (int) w;
	}
	if ((eq = strchr(buf, '=')) != NULL) {
		*eq++ = '\0';
		if (strlen(eq) > PM_DNSBL_FILTER_MAX) {
			return (dnsbl_err(err, errsize, PM_ETOOBIG,
			    "%s: filter longer than %d bytes", spec,
			    PM_DNSBL_FILTER_MAX));
		}
		if ((rc = dnsbl_filter(&s, eq)) != 0) {
			return (dnsbl_err(err, errsize, rc,
			    "%s: bad filter \"%s\" (four octets: n, [n..m] "
			    "or [a;b;n..m], at most %d alternatives each)",
			    spec, eq, PM_DNSBL_ALT_MAX));
		}
		memcpy(s.filter, eq, strlen(eq) + 1);
		s.has_filter = 1;
	}
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '.') {
		buf[--len] = '\0';
	}
	if (len == 0 || strchr(buf, '.') == NULL || !pm_dns_name_valid(buf)) {
		return (dnsbl_err(err, errsize, PM_EINVAL,
		    "%s: bad DNS list domain \"%s\"", spec, buf));
	}
	memcpy(s.domain, buf, len + 1);
	pm_lowercase(s.domain);
	*site = s;
	return (0);
}

int
pm_dnsbl_list_parse(pm_dnsbl_site **sites, size_t *nsites, const char *list,
    int flags, char *err, size_t errsize)
{
	static const char sep[] = ", \t\r\n";
	pm_dnsbl_site *v = NULL;
	char item[PM_DNSBL_SPEC_MAX + 1];
	const char *p = list;
	size_t n = 0;
	size_t len;
	int rc;

	for (;;) {
		p += strspn(p, sep);
		if (*p == '\0') {
			break;
		}
		len = strcspn(p, sep);
		if (len > PM_DNSBL_SPEC_MAX) {
			rc = dnsbl_err(err, errsize, PM_ETOOBIG,
			    "site spec longer than %d bytes",
			    PM_DNSBL_SPEC_MAX);
			goto out;
		}
		if (n >= PM_DNSBL_SITES_MAX) {
			rc = dnsbl_err(err, errsize, PM_ETOOBIG,
			    "more than %d DNS list sites", PM_DNSBL_SITES_MAX);
			goto out;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		p += len;
		if (v == NULL) {
			v = pm_calloc(PM_DNSBL_SITES_MAX, sizeof(*v));
		}
		if ((rc = pm_dnsbl_site_parse(&v[n], item, flags, err,
		         errsize)) != 0) {
			goto out;
		}
		n++;
	}
	if (n > 0 && n < PM_DNSBL_SITES_MAX) {
		v = pm_realloc(v, n * sizeof(*v));
	}
	*sites = v;
	*nsites = n;
	v = NULL;
	rc = 0;
out:
	free(v);
	return (rc);
}

/* buf = prefix + "." + domain, checked as a DNS name. */
static int
dnsbl_join(char *buf, size_t size, const char *prefix, const char *domain)
{
	size_t dlen = strlen(domain);
	int n;

	if (dlen > 0 && domain[dlen - 1] == '.') {
		dlen--;
	}
	n = snprintf(buf, size, "%s.%.*s", prefix, (int) dlen, domain);
	if (n < 0 || (size_t) n >= size) {
		return (PM_ETOOBIG);
	}
	if ((size_t) n > PM_DNS_NAME_MAX) {
		buf[0] = '\0';
		return (PM_ETOOBIG);
	}
	if (!pm_dns_name_valid(buf)) {
		buf[0] = '\0';
		return (PM_EINVAL);
	}
	return (0);
}

int
pm_dnsbl_query_addr(char *buf, size_t size, const char *addr,
    const char *domain)
{
	static const char hex[] = "0123456789abcdef";
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };
	char rev[32 * 2 + 1];
	unsigned char a[16];
	const unsigned char *v4 = NULL;
	size_t off = 0;
	int i;

	if (inet_pton(AF_INET, addr, a) == 1) {
		v4 = a;
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			v4 = a + 12;
		}
	} else {
		return (PM_EINVAL);
	}
	if (v4 != NULL) {
		snprintf(rev, sizeof(rev), "%u.%u.%u.%u", v4[3], v4[2], v4[1],
		    v4[0]);
	} else {
		for (i = 15; i >= 0; i--) {
			rev[off++] = hex[a[i] & 0xf];
			rev[off++] = '.';
			rev[off++] = hex[a[i] >> 4];
			rev[off++] = '.';
		}
		rev[off - 1] = '\0';
	}
	return (dnsbl_join(buf, size, rev, domain));
}

int
pm_dnsbl_query_name(char *buf, size_t size, const char *name,
    const char *domain)
{
	char n[PM_DNS_NAME_MAX + 2];
	size_t len = strlen(name);

	if (len > 0 && name[len - 1] == '.') {
		len--;
	}
	if (len == 0) {
		return (PM_EINVAL);
	}
	if (len > PM_DNS_NAME_MAX) {
		return (PM_ETOOBIG);
	}
	memcpy(n, name, len);
	n[len] = '\0';
	if (!pm_dns_name_valid(n)) {
		return (PM_EINVAL);
	}
	return (dnsbl_join(buf, size, n, domain));
}

static int
dnsbl_match_bytes(const pm_dnsbl_site *site, const unsigned char *b)
{
	const pm_dnsbl_octet *o;
	unsigned j;
	int i;

	if (!site->has_filter) {
		return (1);
	}
	for (i = 0; i < 4; i++) {
		o = &site->octet[i];
		for (j = 0; j < o->nalt; j++) {
			if (b[i] >= o->alt[j].lo && b[i] <= o->alt[j].hi) {
				break;
			}
		}
		if (j == o->nalt) {
			return (0);
		}
	}
	return (1);
}

int
pm_dnsbl_match(const pm_dnsbl_site *site, const char *a)
{
	unsigned char b[4];

	if (a == NULL || inet_pton(AF_INET, a, b) != 1) {
		return (0);
	}
	return (dnsbl_match_bytes(site, b));
}

int
pm_dnsbl_match_rrs(const pm_dnsbl_site *site, const pm_dns_rr *rrs, size_t nrr)
{
	size_t i;

	for (i = 0; i < nrr && i < PM_DNS_RR_MAX; i++) {
		if (rrs[i].type == PM_DNS_A && rrs[i].family == AF_INET &&
		    dnsbl_match_bytes(site, rrs[i].addr)) {
			return ((int) i);
		}
	}
	return (-1);
}

int
pm_dnsbl_lookup(pm_dnsbl_result *res, const pm_dnsbl_site *site,
    const char *qname, int timeout_ms)
{
	pm_dns_rr *rrs = NULL;
	pm_dns_rr *txt = NULL;
	size_t nrr = 0;
	size_t ntxt = 0;
	int64_t deadline;
	int64_t left;
	char *t;
	int idx;
	int rc;

	if (!pm_dns_name_valid(qname)) {
		return (PM_EINVAL);
	}
	if (timeout_ms <= 0) {
		timeout_ms = PM_DNS_TIMEOUT_DEF;
	}
	deadline = pm_mono_ms() + timeout_ms;
	rc = pm_dns_lookup(qname, PM_DNS_A, &rrs, &nrr, timeout_ms);
	if (rc == PM_ENOENT) {
		return (PM_DNSBL_MISS);
	}
	if (rc != 0) {
		return (rc == PM_EINVAL ? PM_EINVAL : PM_EAGAIN);
	}
	if ((idx = pm_dnsbl_match_rrs(site, rrs, nrr)) < 0) {
		rc = PM_DNSBL_MISS;
		goto out;
	}
	memset(res, 0, sizeof(*res));
	inet_ntop(AF_INET, rrs[idx].addr, res->a, sizeof(res->a));
	res->ttl = rrs[idx].ttl;
	/* The reason text is a courtesy: a failed TXT lookup is no error. */
	left = deadline - pm_mono_ms();
	if (left > 0 &&
	    pm_dns_lookup(qname, PM_DNS_TXT, &txt, &ntxt, (int) left) == 0 &&
	    ntxt > 0) {
		t = pm_printable_dup(txt[0].data, txt[0].len, PM_DNSBL_TXT_MAX);
		snprintf(res->txt, sizeof(res->txt), "%s", t);
		free(t);
	}
	rc = PM_DNSBL_HIT;
out:
	pm_dns_rr_free(rrs, nrr);
	pm_dns_rr_free(txt, ntxt);
	return (rc);
}
