/*
 * NAME
 *	smtp_nexthop - nexthop forms and MX ordering
 * DESCRIPTION
 *	smtp_nexthop_parse() reads the nexthop qmgr gives with a job (the
 *	transport_maps or relayhost value, or the recipient's domain):
 *	  smtp:  domain            MX lookup, then A/AAAA
 *	         [host]            no MX; host is a name or an address
 *	         [host]:port       the same on another port
 *	         host:port         taken as [host]:port
 *	  lmtp:  unix:/path        a unix-domain socket
 *	         inet:host[:port], inet:[host][:port], [host][:port],
 *	         host[:port]       TCP, never MX (Postfix's LMTP forms)
 *	"[ipv6:2001:db8::1]" is the same as "[2001:db8::1]"; a bare IPv6
 *	address needs the brackets. Ports are numbers or "smtp"/"lmtp".
 *
 *	smtp_mx_sort() orders MX records by preference and shuffles the
 *	ones of equal preference (RFC 5321 5.1), so that equal MX hosts
 *	share the load. smtp_mx_trim_self() drops this host and every
 *	less preferred MX (a backup MX must not send mail to itself or
 *	its own backups: Postfix's "mail for X loops back to myself").
 * LIMITS
 *	A host name is at most PM_DNS_NAME_MAX octets; a socket path fits
 *	sun_path.
 * SECURITY
 *	The nexthop comes from qmgr (checked for controls) and from the
 *	operator's tables; host names are checked with pm_dns_name_valid.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

unsigned
smtp_port_parse(const char *s)
{
	unsigned long n = 0;
	size_t i;

	if (strcmp(s, "smtp") == 0) {
		return (25);
	}
	if (strcmp(s, "lmtp") == 0) {
		return (24);
	}
	if (*s == 0 || strlen(s) > 5) {
		return (0);
	}
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return (0);
		}
		n = n * 10 + (unsigned long) (s[i] - '0');
	}
	return (n >= 1 && n <= 65535 ? (unsigned) n : 0);
}

static int
is_ip(const char *s)
{
	unsigned char buf[16];

	return (inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1);
}

/* "host" or "[host]" with an optional ":port"; into d. */
static int
parse_hostport(const char *s, int allow_mx, smtp_dest *d, const char **why)
{
	const char *end, *colon = NULL, *h;
	size_t hlen;
	int bracket = 0;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL) {
			*why = "missing ]";
			return (PM_EINVAL);
		}
		h = s + 1;
		hlen = (size_t) (end - h);
		if (hlen > 5 && pm_strncaseeq(h, "ipv6:", 5)) {
			h += 5;
			hlen -= 5;
		}
		if (end[1] == ':') {
			colon = end + 1;
		} else if (end[1] != 0) {
			*why = "junk after ]";
			return (PM_EINVAL);
		}
		bracket = 1;
	} else {
		h = s;
		if ((colon = strchr(s, ':')) != NULL &&
		    strchr(colon + 1, ':')) {
			*why = "IPv6 address without []";
			return (PM_EINVAL);
		}
		hlen = colon ? (size_t) (colon - s) : strlen(s);
	}
	if (hlen == 0 || hlen > PM_DNS_NAME_MAX) {
		*why = hlen == 0 ? "empty host" : "host name too long";
		return (PM_EINVAL);
	}
	memcpy(d->host, h, hlen);
	d->host[hlen] = 0;
	d->port = 0;
	if (colon != NULL && (d->port = smtp_port_parse(colon + 1)) == 0) {
		*why = "bad port";
		return (PM_EINVAL);
	}
	d->literal = is_ip(d->host);
	if (!d->literal && !pm_dns_name_valid(d->host)) {
		*why = "bad host name";
		return (PM_EINVAL);
	}
	/* an address is never looked up as MX */
	d->kind = allow_mx && !bracket && colon == NULL && !d->literal ?
	    SMTP_DEST_DOMAIN :
	    SMTP_DEST_HOST;
	return (0);
}

int
smtp_nexthop_parse(const char *nexthop, int lmtp, smtp_dest *d,
    const char **why)
{
	const char *s = nexthop;

	memset(d, 0, sizeof(*d));
	*why = NULL;
	if (s == NULL || *s == 0) {
		*why = "empty nexthop";
		return (PM_EINVAL);
	}
	if (lmtp && strncmp(s, "unix:", 5) == 0) {
		s += 5;
		if (*s == 0 || strlen(s) >= sizeof(((smtp_addr *) 0)->path)) {
			*why = *s == 0 ? "empty socket path" :
			                 "socket path too long";
			return (PM_EINVAL);
		}
		d->kind = SMTP_DEST_UNIX;
		snprintf(d->host, sizeof(d->host), "%s", s);
		return (0);
	}
	if (lmtp && strncmp(s, "inet:", 5) == 0) {
		s += 5;
	}
	return (parse_hostport(s, !lmtp, d, why));
}

void
smtp_mx_sort(pm_dns_rr *rr, size_t n, unsigned (*rnd)(unsigned))
{
	size_t i, j, k, start;
	pm_dns_rr t;

	/* insertion sort: stable, n is small */
	for (i = 1; i < n; i++) {
		t = rr[i];
		for (j = i; j > 0 && rr[j - 1].pref > t.pref; j--) {
			rr[j] = rr[j - 1];
		}
		rr[j] = t;
	}
	/* Fisher-Yates within each run of equal preference */
	for (start = 0; start < n; start = i) {
		for (i = start + 1; i < n && rr[i].pref == rr[start].pref;
		     i++) {
			/* run */
		}
		for (j = i - 1; j > start; j--) {
			k = start + rnd((unsigned) (j - start + 1));
			t = rr[j];
			rr[j] = rr[k];
			rr[k] = t;
		}
	}
}

static int
same_host(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.') {
		la--;
	}
	if (lb > 0 && b[lb - 1] == '.') {
		lb--;
	}
	return (la == lb && la > 0 && pm_strncaseeq(a, b, la));
}

size_t
smtp_mx_trim_self(pm_dns_rr *rr, size_t n, const char *myhostname, int *self)
{
	size_t i, keep;

	*self = 0;
	for (i = 0; i < n; i++) {
		if (myhostname != NULL && rr[i].data != NULL &&
		    same_host(rr[i].data, myhostname)) {
			*self = 1;
			break;
		}
	}
	if (!*self) {
		return (n);
	}
	for (keep = 0; keep < n && rr[keep].pref < rr[i].pref; keep++) {
		/* the records are sorted */
	}
	return (keep);
}
