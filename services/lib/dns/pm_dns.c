/*
 * NAME
 *	pm_dns - blocking, thread-safe DNS lookups on c-ares
 * DESCRIPTION
 *	See pm_dns.h. One c-ares channel per call: building a channel
 *	costs a few microseconds (and a read of /etc/resolv.conf when no
 *	dns_server is set), which is small next to a DNS round trip, and
 *	it makes every call independent of every other thread. The
 *	asynchronous variant will own one channel per event loop instead
 *	and share pm_dns_parse().
 *
 *	The reply is parsed here rather than with ares_parse_*_reply(), so
 *	that every type gets its TTL, CNAME chains are followed the same
 *	way for every type, and hostile packets are checked in one place.
 * LIMITS
 *	See pm_dns.h. At most PM_DNS_SERVERS_MAX servers in dns_server.
 * SECURITY
 *	See pm_dns.h.
 */
#include "pm_dns.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_util.h"

#include <arpa/inet.h>
#include <ares.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define PM_DNS_SERVERS_MAX 16
#define PM_DNS_C_IN 1
#define PM_DNS_CNAME 5

static pthread_once_t dns_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t dns_lock = PTHREAD_MUTEX_INITIALIZER;
static char *dns_servers_csv; /* normalised "a:p,[v6]:p"; "" = resolv.conf */
static int dns_servers_set;

static void
dns_library_init(void)
{
	int rc = ares_library_init(ARES_LIB_INIT_ALL);

	if (rc != ARES_SUCCESS) {
		pm_msg_warn("c-ares library init: %s", ares_strerror(rc));
	}
}

const char *
pm_dns_status_str(int status)
{
	switch (status) {
	case PM_DNS_OK:
		return ("success");
	case PM_DNS_NXDOMAIN:
		return ("Host not found");
	case PM_DNS_NODATA:
		return ("No data record of requested type");
	case PM_DNS_RETRY:
		return ("Host not found, try again");
	case PM_DNS_INVAL:
		return ("Malformed name or DNS server reply");
	default:
		return ("unknown DNS status");
	}
}

int
pm_dns_name_valid(const char *name)
{
	size_t len = strlen(name);
	size_t label = 0;
	const unsigned char *p;

	if (len > 0 && name[len - 1] == '.') {
		len--;
	}
	if (len == 0 || len > PM_DNS_NAME_MAX) {
		return (0);
	}
	for (p = (const unsigned char *) name;
	     p < (const unsigned char *) name + len; p++) {
		if (*p == '.') {
			if (label == 0) {
				return (0);
			}
			label = 0;
			continue;
		}
		if (!isalnum(*p) && *p != '-' && *p != '_') {
			return (0);
		}
		if (++label > 63) {
			return (0);
		}
	}
	return (1);
}

int
pm_dns_reverse_name(const char *addr, char *buf, size_t size)
{
	unsigned char a[16];
	static const char hex[] = "0123456789abcdef";
	size_t off = 0;
	int i;
	int n;

	if (inet_pton(AF_INET, addr, a) == 1) {
		n = snprintf(buf, size, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2],
		    a[1], a[0]);
		return (n < 0 || (size_t) n >= size ? PM_ETOOBIG : 0);
	}
	if (inet_pton(AF_INET6, addr, a) != 1) {
		return (PM_EINVAL);
	}
	if (size < 32 * 2 + sizeof("ip6.arpa")) {
		return (PM_ETOOBIG);
	}
	for (i = 15; i >= 0; i--) {
		buf[off++] = hex[a[i] & 0xf];
		buf[off++] = '.';
		buf[off++] = hex[a[i] >> 4];
		buf[off++] = '.';
	}
	memcpy(buf + off, "ip6.arpa", sizeof("ip6.arpa"));
	return (0);
}

/*
 * One dns_server item into "addr:port" or "[v6]:port" appended to out.
 */
static int
dns_server_item(const char *item, pm_buf *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	const char *port = NULL;
	const char *end;
	size_t hlen;
	int v6 = 0;
	long pnum = 53;
	char *ep;

	if (item[0] == '[') {
		if ((end = strchr(item, ']')) == NULL) {
			return (PM_EINVAL);
		}
		hlen = (size_t) (end - item - 1);
		if (end[1] == ':') {
			port = end + 2;
		} else if (end[1] != 0) {
			return (PM_EINVAL);
		}
		item++;
		v6 = 1;
	} else if ((end = strchr(item, ':')) != NULL &&
	    strchr(end + 1, ':') != NULL) {
		hlen = strlen(item); /* bare IPv6 address, no port */
		v6 = 1;
	} else if (end != NULL) {
		hlen = (size_t) (end - item);
		port = end + 1;
	} else {
		hlen = strlen(item);
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		return (PM_EINVAL);
	}
	memcpy(host, item, hlen);
	host[hlen] = 0;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1) {
		return (PM_EINVAL);
	}
	if (port != NULL) {
		if (!isdigit((unsigned char) port[0])) {
			return (PM_EINVAL);
		}
		errno = 0;
		pnum = strtol(port, &ep, 10);
		if (errno != 0 || *ep != 0 || pnum < 1 || pnum > 65535) {
			return (PM_EINVAL);
		}
	}
	return (pm_buf_printf(out, "%s%s%s%s:%ld", out->len ? "," : "",
	    v6 ? "[" : "", host, v6 ? "]" : "", pnum));
}

static int
dns_servers_parse(const char *spec, char **csv)
{
	pm_buf out;
	const char *p = spec;
	const char *start;
	char *item;
	int count = 0;
	int rc = 0;

	pm_buf_init(&out, 4096);
	for (;;) {
		while (*p == ',' || isspace((unsigned char) *p)) {
			p++;
		}
		if (*p == 0) {
			break;
		}
		start = p;
		while (*p && *p != ',' && !isspace((unsigned char) *p)) {
			p++;
		}
		if (++count > PM_DNS_SERVERS_MAX) {
			rc = PM_ETOOBIG;
			break;
		}
		item = pm_strndup(start, (size_t) (p - start));
		rc = dns_server_item(item, &out);
		free(item);
		if (rc != 0) {
			break;
		}
	}
	if (rc != 0) {
		pm_buf_free(&out);
		return (rc == PM_ETOOBIG ? rc : PM_EINVAL);
	}
	*csv = pm_buf_steal(&out, NULL);
	return (0);
}

int
pm_dns_set_servers(const char *spec)
{
	char *csv;
	int rc;

	if ((rc = dns_servers_parse(spec ? spec : "", &csv)) != 0) {
		return (PM_EINVAL);
	}
	pthread_mutex_lock(&dns_lock);
	free(dns_servers_csv);
	dns_servers_csv = csv;
	dns_servers_set = 1;
	pthread_mutex_unlock(&dns_lock);
	return (0);
}

/* A copy of the current server list (first use: dns_server). */
static char *
dns_servers_get(void)
{
	char *csv = NULL;
	char *copy;

	pthread_mutex_lock(&dns_lock);
	if (!dns_servers_set) {
		if (var_dns_server != NULL &&
		    dns_servers_parse(var_dns_server, &csv) != 0) {
			pm_msg_warn("malformed %s value \"%s\": using "
			            "/etc/resolv.conf",
			    VAR_DNS_SERVER, var_dns_server);
		}
		dns_servers_csv = csv ? csv : pm_strdup("");
		dns_servers_set = 1;
	}
	copy = pm_strdup(dns_servers_csv);
	pthread_mutex_unlock(&dns_lock);
	return (copy);
}

/*
 * The one place that builds a configured channel (pm_dns.h).
 * timeout_ms is the whole budget of one query.
 */
int
pm_dns_channel_new(ares_channel *chp, int timeout_ms,
    ares_sock_state_cb sock_state_cb, void *cb_arg)
{
	struct ares_options opts;
	ares_channel ch;
	char *csv;
	int rc;

	pthread_once(&dns_once, dns_library_init);
	memset(&opts, 0, sizeof(opts));
	/* c-ares doubles the wait per round: t + 2t + 4t > timeout. */
	opts.timeout = timeout_ms / 4 > 50 ? timeout_ms / 4 : 50;
	opts.tries = 3;
	opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = cb_arg;
	rc = ares_init_options(&ch, &opts,
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
	        (sock_state_cb != NULL ? ARES_OPT_SOCK_STATE_CB : 0));
	if (rc != ARES_SUCCESS) {
		pm_msg_warn("c-ares channel init: %s", ares_strerror(rc));
		return (PM_EAGAIN);
	}
	csv = dns_servers_get();
	if (*csv != 0 &&
	    (rc = ares_set_servers_ports_csv(ch, csv)) != ARES_SUCCESS) {
		pm_msg_warn("c-ares: cannot set %s \"%s\": %s", VAR_DNS_SERVER,
		    csv, ares_strerror(rc));
		free(csv);
		ares_destroy(ch);
		return (PM_EAGAIN);
	}
	free(csv);
	*chp = ch;
	return (0);
}

/*
 * Reply parsing.
 */
typedef struct dns_raw {
	char *owner;
	int type;
	unsigned ttl;
	size_t rdoff;
	size_t rdlen;
} dns_raw;

static void
dns_lower_nodot(char *s)
{
	size_t len;

	pm_lowercase(s);
	len = strlen(s);
	if (len > 0 && s[len - 1] == '.') {
		s[len - 1] = 0;
	}
}

static int
dns_expand(const unsigned char *p, const unsigned char *abuf, size_t alen,
    char **name, long *enclen)
{
	char *s;

	if (ares_expand_name(p, abuf, (int) alen, &s, enclen) != ARES_SUCCESS) {
		return (PM_EPROTO);
	}
	*name = pm_strdup(s);
	ares_free_string(s);
	dns_lower_nodot(*name);
	return (0);
}

/* A host name as it may appear in MX or PTR data: printable, no escapes. */
static int
dns_host_ok(const char *s)
{
	for (; *s; s++) {
		if (*s <= ' ' || *s > '~' || *s == '\\') {
			return (0);
		}
	}
	return (1);
}

static int
dns_rr_fill(pm_dns_rr *rr, const dns_raw *raw, const unsigned char *abuf,
    size_t alen)
{
	const unsigned char *rd = abuf + raw->rdoff;
	char text[INET6_ADDRSTRLEN];
	pm_buf txt;
	size_t off;
	size_t slen;
	long enclen;
	char *host;

	memset(rr, 0, sizeof(*rr));
	rr->type = raw->type;
	rr->ttl = raw->ttl;
	switch (raw->type) {
	case PM_DNS_A:
	case PM_DNS_AAAA:
		if (raw->rdlen != (raw->type == PM_DNS_A ? 4u : 16u)) {
			return (PM_EPROTO);
		}
		rr->family = raw->type == PM_DNS_A ? AF_INET : AF_INET6;
		memcpy(rr->addr, rd, raw->rdlen);
		if (inet_ntop(rr->family, rr->addr, text, sizeof(text)) ==
		    NULL) {
			return (PM_EPROTO);
		}
		rr->data = pm_strdup(text);
		break;
	case PM_DNS_MX:
	case PM_DNS_PTR:
		off = raw->type == PM_DNS_MX ? 2 : 0;
		if (raw->rdlen < off + 1) {
			return (PM_EPROTO);
		}
		if (dns_expand(rd + off, abuf, alen, &host, &enclen) != 0) {
			return (PM_EPROTO);
		}
		if ((size_t) enclen > raw->rdlen - off || !dns_host_ok(host) ||
		    strlen(host) > PM_DNS_NAME_MAX) {
			free(host);
			return (PM_EPROTO);
		}
		if (raw->type == PM_DNS_MX) {
			rr->pref = (unsigned) rd[0] << 8 | rd[1];
		}
		rr->data = host;
		break;
	case PM_DNS_TXT:
		pm_buf_init(&txt, PM_DNS_TXT_MAX);
		for (off = 0; off < raw->rdlen; off += 1 + slen) {
			slen = rd[off];
			if (off + 1 + slen > raw->rdlen) {
				pm_buf_free(&txt);
				return (PM_EPROTO);
			}
			/* Over PM_DNS_TXT_MAX: the rest is dropped. */
			(void) pm_buf_append(&txt, rd + off + 1, slen);
		}
		rr->data = pm_buf_steal(&txt, &rr->len);
		return (0);
	default:
		return (PM_EINVAL);
	}
	rr->len = strlen(rr->data);
	return (0);
}

void
pm_dns_rr_free(pm_dns_rr *rrs, size_t nrr)
{
	size_t i;

	if (rrs == NULL) {
		return;
	}
	for (i = 0; i < nrr; i++) {
		free(rrs[i].data);
	}
	free(rrs);
}

static void
dns_raw_free(dns_raw *raw, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(raw[i].owner);
	}
	free(raw);
}

/* Read the answer section into raw records (owner names expanded). */
static int
dns_read_answers(const unsigned char *abuf, size_t alen, dns_raw **rawp,
    size_t *nrawp)
{
	unsigned qdcount = (unsigned) abuf[4] << 8 | abuf[5];
	unsigned ancount = (unsigned) abuf[6] << 8 | abuf[7];
	const unsigned char *p = abuf + 12;
	const unsigned char *end = abuf + alen;
	dns_raw *raw;
	size_t nraw = 0;
	long enclen;
	char *name;
	unsigned i;
	int rclass;

	for (i = 0; i < qdcount; i++) {
		if (p >= end ||
		    dns_expand(p, abuf, alen, &name, &enclen) != 0) {
			return (PM_EPROTO);
		}
		free(name);
		if ((size_t) (end - p) < (size_t) enclen + 4) {
			return (PM_EPROTO);
		}
		p += enclen + 4;
	}
	if (ancount > 2 * PM_DNS_RR_MAX) {
		ancount =
		    2 * PM_DNS_RR_MAX; /* CNAMEs + records; rest ignored */
	}
	raw = pm_calloc(ancount ? ancount : 1, sizeof(*raw));
	for (i = 0; i < ancount; i++) {
		if (p >= end ||
		    dns_expand(p, abuf, alen, &name, &enclen) != 0) {
			dns_raw_free(raw, nraw);
			return (PM_EPROTO);
		}
		if ((size_t) (end - p) < (size_t) enclen + 10) {
			free(name);
			dns_raw_free(raw, nraw);
			return (PM_EPROTO);
		}
		p += enclen;
		raw[nraw].owner = name;
		raw[nraw].type = p[0] << 8 | p[1];
		rclass = p[2] << 8 | p[3];
		raw[nraw].ttl = (unsigned) p[4] << 24 | (unsigned) p[5] << 16 |
		    (unsigned) p[6] << 8 | p[7];
		if (raw[nraw].ttl > 0x7fffffffu) {
			raw[nraw].ttl = 0; /* RFC 2181 8 */
		}
		raw[nraw].rdlen = (size_t) (p[8] << 8 | p[9]);
		p += 10;
		if ((size_t) (end - p) < raw[nraw].rdlen) {
			dns_raw_free(raw, nraw + 1);
			return (PM_EPROTO);
		}
		raw[nraw].rdoff = (size_t) (p - abuf);
		p += raw[nraw].rdlen;
		if (rclass != PM_DNS_C_IN) {
			free(raw[nraw].owner); /* only class IN matters */
			continue;
		}
		nraw++;
	}
	*rawp = raw;
	*nrawp = nraw;
	return (0);
}

int
pm_dns_parse(const char *qname, int type, const unsigned char *abuf,
    size_t alen, pm_dns_rr **rrs, size_t *nrr, int *status)
{
	dns_raw *raw = NULL;
	size_t nraw = 0;
	pm_dns_rr *out = NULL;
	size_t nout = 0;
	char *cur = NULL;
	long enclen;
	size_t i;
	size_t j;
	int links;
	int st = PM_DNS_INVAL;
	int rc;
	int rcode;
	pm_dns_rr tmp;

	if (alen < 12 || alen > 65535) {
		rc = PM_EPROTO;
		goto out;
	}
	rcode = abuf[3] & 0xf;
	if (rcode == 3) {
		st = PM_DNS_NXDOMAIN;
		rc = PM_ENOENT;
		goto out;
	} else if (rcode != 0) {
		st = PM_DNS_RETRY;
		rc = PM_EAGAIN;
		goto out;
	}
	if ((rc = dns_read_answers(abuf, alen, &raw, &nraw)) != 0) {
		goto out;
	}
	cur = pm_strdup(qname);
	dns_lower_nodot(cur);
	/* Follow the CNAME chain from the query name. */
	for (links = 0; links < PM_DNS_CNAME_MAX; links++) {
		for (i = 0; i < nraw; i++) {
			if (raw[i].type == PM_DNS_CNAME &&
			    strcmp(raw[i].owner, cur) == 0) {
				break;
			}
		}
		if (i == nraw || type == PM_DNS_CNAME) {
			break;
		}
		free(cur);
		if (dns_expand(abuf + raw[i].rdoff, abuf, alen, &cur,
		        &enclen) != 0 ||
		    (size_t) enclen > raw[i].rdlen) {
			cur = NULL;
			rc = PM_EPROTO;
			goto out;
		}
	}
	out = pm_calloc(nraw ? nraw : 1, sizeof(*out));
	for (i = 0; i < nraw && nout < PM_DNS_RR_MAX; i++) {
		if (raw[i].type != type || strcmp(raw[i].owner, cur) != 0) {
			continue;
		}
		if ((rc = dns_rr_fill(&out[nout], &raw[i], abuf, alen)) != 0) {
			goto out;
		}
		nout++;
	}
	if (nout == 0) {
		st = PM_DNS_NODATA;
		rc = PM_ENOENT;
		goto out;
	}
	if (type == PM_DNS_MX) {
		/* Stable insertion sort by preference (n is small). */
		for (i = 1; i < nout; i++) {
			tmp = out[i];
			for (j = i; j > 0 && out[j - 1].pref > tmp.pref; j--) {
				out[j] = out[j - 1];
			}
			out[j] = tmp;
		}
	}
	st = PM_DNS_OK;
	rc = 0;
	*rrs = out;
	*nrr = nout;
	out = NULL;
	nout = 0;
out:
	pm_dns_rr_free(out, nout);
	dns_raw_free(raw, nraw);
	free(cur);
	if (status != NULL) {
		*status = st;
	}
	return (rc);
}

/*
 * The blocking lookup.
 */
typedef struct dns_query {
	int done;
	int status;
	unsigned char *abuf;
	size_t alen;
} dns_query;

static void
dns_query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	dns_query *q = arg;

	(void) timeouts;
	if (q->done) {
		return;
	}
	q->done = 1;
	q->status = status;
	if (status == ARES_SUCCESS && abuf != NULL && alen > 0) {
		q->abuf = pm_malloc((size_t) alen);
		memcpy(q->abuf, abuf, (size_t) alen);
		q->alen = (size_t) alen;
	}
}

static void
dns_wait(ares_channel ch, dns_query *q, int64_t deadline)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	struct pollfd pfd[ARES_GETSOCK_MAXNUM];
	struct timeval maxtv;
	struct timeval tvbuf;
	struct timeval *tv;
	int64_t left;
	unsigned bits;
	unsigned rd;
	unsigned wr;
	int n;
	int i;
	int ms;
	int rc;

	while (!q->done) {
		left = deadline - pm_mono_ms();
		if (left <= 0) {
			ares_cancel(ch); /* calls dns_query_cb: ECANCELLED */
			break;
		}
		/* c-ares's ARES_GETSOCK_* macros shift a signed 1 by 31. */
		bits = (unsigned) ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		for (n = 0, i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			rd = (bits >> i) & 1u;
			wr = (bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u;
			if (!rd && !wr) {
				continue;
			}
			pfd[n].fd = socks[i];
			pfd[n].events =
			    (short) ((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
			pfd[n].revents = 0;
			n++;
		}
		maxtv.tv_sec = left / 1000;
		maxtv.tv_usec = (left % 1000) * 1000;
		tv = ares_timeout(ch, &maxtv, &tvbuf);
		ms = (int) (tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
		rc = poll(pfd, (nfds_t) n, ms);
		if (rc < 0 && errno != EINTR) {
			pm_msg_warn("pm_dns: poll: %s", strerror(errno));
			ares_cancel(ch);
			break;
		}
		if (rc <= 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (i = 0; i < n && !q->done; i++) {
			if (pfd[i].revents == 0) {
				continue;
			}
			ares_process_fd(ch,
			    (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ?
			        pfd[i].fd :
			        ARES_SOCKET_BAD,
			    (pfd[i].revents & POLLOUT) ? pfd[i].fd :
			                                 ARES_SOCKET_BAD);
		}
	}
}

int
pm_dns_lookup_st(const char *name, int type, pm_dns_rr **rrs, size_t *nrr,
    int timeout_ms, int *status)
{
	char rev[80];
	const char *qname = name;
	ares_channel ch;
	dns_query q;
	int st = PM_DNS_INVAL;
	int rc;

	memset(&q, 0, sizeof(q));
	if (type != PM_DNS_A && type != PM_DNS_AAAA && type != PM_DNS_MX &&
	    type != PM_DNS_PTR && type != PM_DNS_TXT) {
		rc = PM_EINVAL;
		goto out;
	}
	if (type == PM_DNS_PTR &&
	    pm_dns_reverse_name(name, rev, sizeof(rev)) == 0) {
		qname = rev;
	}
	if (!pm_dns_name_valid(qname)) {
		rc = PM_EINVAL;
		goto out;
	}
	if (timeout_ms <= 0) {
		timeout_ms = PM_DNS_TIMEOUT_DEF;
	} else if (timeout_ms > PM_DNS_TIMEOUT_MAX) {
		timeout_ms = PM_DNS_TIMEOUT_MAX;
	}
	if ((rc = pm_dns_channel_new(&ch, timeout_ms, NULL, NULL)) != 0) {
		st = PM_DNS_RETRY;
		goto out;
	}
	ares_query(ch, qname, PM_DNS_C_IN, type, dns_query_cb, &q);
	dns_wait(ch, &q, pm_mono_ms() + timeout_ms);
	ares_destroy(ch);
	switch (q.done ? q.status : ARES_ETIMEOUT) {
	case ARES_SUCCESS:
		rc = pm_dns_parse(qname, type, q.abuf, q.alen, rrs, nrr, &st);
		break;
	case ARES_ENOTFOUND:
		st = PM_DNS_NXDOMAIN;
		rc = PM_ENOENT;
		break;
	case ARES_ENODATA:
		st = PM_DNS_NODATA;
		rc = PM_ENOENT;
		break;
	case ARES_EBADNAME:
		st = PM_DNS_INVAL;
		rc = PM_EINVAL;
		break;
	case ARES_EBADRESP:
		st = PM_DNS_INVAL;
		rc = PM_EPROTO;
		break;
	default: /* SERVFAIL, REFUSED, timeout, cancelled, network */
		st = PM_DNS_RETRY;
		rc = PM_EAGAIN;
		break;
	}
	free(q.abuf);
out:
	if (status != NULL) {
		*status = st;
	}
	return (rc);
}

int
pm_dns_lookup(const char *name, int type, pm_dns_rr **rrs, size_t *nrr,
    int timeout_ms)
{
	return (pm_dns_lookup_st(name, type, rrs, nrr, timeout_ms, NULL));
}
