/*
 * NAME
 *	smtp_resolve - from a nexthop to the addresses to try
 * DESCRIPTION
 *	As Postfix's smtp_addr.c, with pm_dns (c-ares; dns_server):
 *	- a domain: MX lookup; MX hosts by preference, equal ones in
 *	  random order; this host and less preferred MX hosts dropped;
 *	  each MX host's A and/or AAAA records (inet_protocols), until
 *	  smtp_mx_address_limit addresses. No MX record (NODATA): the
 *	  domain's own A/AAAA records. A null MX (RFC 7505): bounce
 *	  5.1.10. NXDOMAIN: bounce 5.4.4 "Host or domain name not found";
 *	  a temporary DNS failure: defer 4.4.3;
 *	- a host ([host], host:port, LMTP): its A/AAAA records, or the
 *	  address itself; "localhost" is the loopback address without a
 *	  lookup;
 *	- a unix-domain socket (LMTP): the path.
 *	When no MX host has an address, the error is temporary if any
 *	lookup failed temporarily, else permanent.
 * LIMITS
 *	max addresses (smtp_mx_address_limit); DNS timeouts are pm_dns's.
 * SECURITY
 *	Host names from DNS are checked by pm_dns (printable, valid).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "pm_common_params.h"
#include "smtp.h"

static unsigned
resolve_rnd(unsigned n)
{
	return (arc4random_uniform(n));
}

static void err_set(smtp_err *e, int status, const char *dsn, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
err_set(smtp_err *e, int status, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	snprintf(e->dsn, sizeof(e->dsn), "%s", dsn);
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	pm_printable(e->text);
}

/* The worst DNS outcome so far, for the error text. */
typedef struct dns_fail {
	int status; /* PM_DNS_*: RETRY beats the others */
	char name[PM_DNS_NAME_MAX + 1];
	const char *type;
} dns_fail;

static void
fail_note(dns_fail *f, int st, const char *name, const char *type)
{
	if (f->status == 0 ||
	    (st == PM_DNS_RETRY && f->status != PM_DNS_RETRY) ||
	    st == PM_DNS_INVAL) {
		f->status = st;
		snprintf(f->name, sizeof(f->name), "%s", name);
		f->type = type;
	}
}

static void
fail_err(const dns_fail *f, smtp_err *e)
{
	if (f->status == PM_DNS_RETRY || f->status == PM_DNS_INVAL) {
		err_set(e, PM_JOB_DEFERRED, "4.4.3",
		    "Host or domain name not "
		    "found. Name service error for name=%s type=%s: Host not "
		    "found, try again",
		    f->name, f->type);
	} else {
		err_set(e, PM_JOB_BOUNCED, "5.4.4",
		    "Host or domain name not "
		    "found. Name service error for name=%s type=%s: Host not "
		    "found",
		    f->name, f->type);
	}
}

static void
add_addr(smtp_addr *out, size_t max, size_t *n, const char *host, int family,
    const unsigned char *addr, unsigned port)
{
	smtp_addr *a;

	if (*n >= max) {
		return;
	}
	a = &out[(*n)++];
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "%s", host);
	a->family = family;
	memcpy(a->addr, addr, family == AF_INET ? 4 : 16);
	inet_ntop(family, addr, a->ip, sizeof(a->ip));
	a->port = port;
}

/* The addresses of one host name or address. */
static void
host_addrs(const char *host, unsigned port, smtp_addr *out, size_t max,
    size_t *n, dns_fail *fail)
{
	static const unsigned char lo4[4] = { 127, 0, 0, 1 };
	static const unsigned char lo6[16] = { [15] = 1 };
	unsigned char buf[16];
	pm_dns_rr *rrs;
	size_t nrr, i;
	int t, st, type;

	if (inet_pton(AF_INET, host, buf) == 1) {
		add_addr(out, max, n, host, AF_INET, buf, port);
		return;
	}
	if (inet_pton(AF_INET6, host, buf) == 1) {
		add_addr(out, max, n, host, AF_INET6, buf, port);
		return;
	}
	if (pm_strcaseeq(host, "localhost")) {
		if (smtp_use_v4) {
			add_addr(out, max, n, host, AF_INET, lo4, port);
		} else {
			add_addr(out, max, n, host, AF_INET6, lo6, port);
		}
		return;
	}
	for (t = 0; t < 2 && *n < max; t++) {
		type = t == 0 ? PM_DNS_A : PM_DNS_AAAA;
		if ((type == PM_DNS_A && !smtp_use_v4) ||
		    (type == PM_DNS_AAAA && !smtp_use_v6)) {
			continue;
		}
		st = PM_DNS_OK;
		if (pm_dns_lookup_st(host, type, &rrs, &nrr, 0, &st) != 0) {
			fail_note(fail, st, host,
			    type == PM_DNS_A ? "A" : "AAAA");
			continue;
		}
		for (i = 0; i < nrr; i++) {
			if (rrs[i].family == AF_INET ||
			    rrs[i].family == AF_INET6) {
				add_addr(out, max, n, host, rrs[i].family,
				    rrs[i].addr, port);
			}
		}
		pm_dns_rr_free(rrs, nrr);
	}
}

static int
domain_addrs(const smtp_dest *d, unsigned port, smtp_addr *out, size_t max,
    size_t *n, smtp_err *err)
{
	pm_dns_rr *mx;
	size_t nmx, i, keep;
	dns_fail fail = { 0 };
	int st = PM_DNS_OK, self;

	if (pm_dns_lookup_st(d->host, PM_DNS_MX, &mx, &nmx, 0, &st) != 0) {
		if (st == PM_DNS_NODATA) {
			/* no MX: the domain itself (RFC 5321 5.1) */
			host_addrs(d->host, port, out, max, n, &fail);
			if (*n == 0) {
				fail_err(&fail, err);
				return (PM_ENOENT);
			}
			return (0);
		}
		fail_note(&fail,
		    st == PM_DNS_NXDOMAIN ? PM_DNS_NXDOMAIN : PM_DNS_RETRY,
		    d->host, "MX");
		fail_err(&fail, err);
		return (PM_ENOENT);
	}
	for (i = 0; i < nmx; i++) {
		if (mx[i].data == NULL || mx[i].data[0] == 0) {
			err_set(err, PM_JOB_BOUNCED, "5.1.10",
			    "Domain %s does "
			    "not accept mail (nullMX)",
			    d->host);
			pm_dns_rr_free(mx, nmx);
			return (PM_ENOENT);
		}
	}
	smtp_mx_sort(mx, nmx, resolve_rnd);
	keep = smtp_mx_trim_self(mx, nmx, var_myhostname, &self);
	if (self && keep == 0) {
		err_set(err, PM_JOB_BOUNCED, "5.4.6",
		    "mail for %s loops back "
		    "to myself",
		    d->host);
		pm_dns_rr_free(mx, nmx);
		return (PM_ENOENT);
	}
	for (i = 0; i < keep && *n < max; i++) {
		host_addrs(mx[i].data, port, out, max, n, &fail);
	}
	pm_dns_rr_free(mx, nmx);
	if (*n == 0) {
		fail_err(&fail, err);
		return (PM_ENOENT);
	}
	return (0);
}

int
smtp_resolve(const smtp_dest *d, int lmtp, smtp_addr *out, size_t max,
    size_t *n, smtp_err *err)
{
	unsigned port = d->port ? d->port :
	    lmtp                ? smtp_port_lmtp :
	                          smtp_port_smtp;
	dns_fail fail = { 0 };

	*n = 0;
	if (max == 0) {
		max = 1;
	}
	switch (d->kind) {
	case SMTP_DEST_UNIX:
		memset(&out[0], 0, sizeof(out[0]));
		out[0].family = AF_UNIX;
		snprintf(out[0].path, sizeof(out[0].path), "%.*s",
		    (int) sizeof(out[0].path) - 1, d->host);
		snprintf(out[0].ip, sizeof(out[0].ip), "%.*s",
		    (int) sizeof(out[0].ip) - 1, d->host);
		snprintf(out[0].host, sizeof(out[0].host), "%s",
		    var_myhostname ? var_myhostname : "localhost");
		*n = 1;
		return (0);
	case SMTP_DEST_DOMAIN:
		return (domain_addrs(d, port, out, max, n, err));
	default:
		host_addrs(d->host, port, out, max, n, &fail);
		if (*n == 0) {
			fail_err(&fail, err);
			return (PM_ENOENT);
		}
		return (0);
	}
}
