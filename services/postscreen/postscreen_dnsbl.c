/*
 * NAME
 *	postscreen_dnsbl - DNSBL lookups on the event loop, and the score
 * DESCRIPTION
 *	postscreen_dnsbl_sites is parsed by pm_dnsbl_list_parse (Postfix
 *	syntax "domain[=filter][*weight]", negative weights for allow
 *	lists). psc_dnsbl_start() sends one A query per site at once, on
 *	one c-ares channel (pm_dns_channel_new) whose sockets and timer
 *	are libevent events: no thread, no blocking. Each answer is
 *	parsed by pm_dns_parse and matched by pm_dnsbl_match_rrs; a
 *	listed client adds the site's weight to its score and counts in
 *	postmesh_postscreen_dnsbl_hits_total{site="domain"}. The site
 *	with the largest weight among the hits is the one named in the
 *	reply; postscreen_dnsbl_reply_map (looked up with the domain) may
 *	give it another name, as in Postfix. The smallest TTL of the
 *	matching records bounds how long the DNSBL pass is cached.
 *	Answers after the verdict (postscreen_dnsbl_timeout) are ignored.
 *	At SIGHUP psc_dnsbl_build() parses the lists again on the signal
 *	thread and psc_dnsbl_install() swaps them in on the loop, the only
 *	thread that reads them; a query in flight keeps a copy of its site
 *	(domain, filter, weight), so its answer is scored as sent.
 * LIMITS
 *	PM_DNSBL_SITES_MAX sites; PSC_DNS_SOCKS_MAX sockets of c-ares at
 *	once; each query within postscreen_dnsbl_timeout.
 * SECURITY
 *	Answers come from the network: parsed by pm_dns (bounded); only
 *	the A records' match and TTL are used.
 */
#include <arpa/nameser.h>
#include <stdlib.h>
#include <string.h>

#include "pm_dns.h"
#include "pm_dnsbl.h"
#include "pm_log.h"
#include "pm_server.h"
#include "pm_table.h"
#include "pm_util.h"
#include "postscreen.h"

#define PSC_DNS_SOCKS_MAX 64

/* A query holds what its answer needs: a reload may replace the list. */
typedef struct psc_dq {
	psc_conn *conn;
	pm_dnsbl_site site; /* copy: domain, filter, weight */
	pm_metric *hits;    /* registry metrics are never freed */
	char qname[PM_DNS_NAME_MAX + 1];
} psc_dq;

/* postscreen_dnsbl_sites and _reply_map: replaced whole at SIGHUP. */
typedef struct psc_dconf {
	pm_dnsbl_site *sites;
	size_t nsites;
	pm_metric **hits;
	pm_tables *reply_map;
} psc_dconf;

typedef struct psc_dsock {
	ares_socket_t fd;
	struct event *ev;
} psc_dsock;

static ares_channel psc_ch;
static int psc_ch_ok;
static struct event *psc_dns_timer;
static psc_dsock psc_dsocks[PSC_DNS_SOCKS_MAX];
static int psc_ndsocks;
static psc_dconf *psc_dc; /* the loop's */

static void
psc_dns_reschedule(void)
{
	struct timeval tv;

	if (ares_timeout(psc_ch, NULL, &tv) != NULL) {
		evtimer_add(psc_dns_timer, &tv);
	} else {
		evtimer_del(psc_dns_timer);
	}
}

static void
psc_dns_io_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) arg;
	ares_process_fd(psc_ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	psc_dns_reschedule();
}

static void
psc_dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	(void) arg;
	ares_process_fd(psc_ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	psc_dns_reschedule();
}

/* c-ares tells which sockets to watch. */
static void
psc_dns_sock_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	int i;

	(void) data;
	for (i = 0; i < psc_ndsocks && psc_dsocks[i].fd != fd; i++) {
	}
	if (!readable && !writable) {
		if (i < psc_ndsocks) {
			event_free(psc_dsocks[i].ev);
			psc_dsocks[i] = psc_dsocks[--psc_ndsocks];
		}
		return;
	}
	if (i == psc_ndsocks) {
		if (psc_ndsocks >= PSC_DNS_SOCKS_MAX) {
			pm_msg_warn("c-ares: more than %d sockets",
			    PSC_DNS_SOCKS_MAX);
			return; /* its queries time out */
		}
		psc_dsocks[i].fd = fd;
		psc_dsocks[i].ev = NULL;
		psc_ndsocks++;
	}
	if (psc_dsocks[i].ev != NULL) {
		event_free(psc_dsocks[i].ev);
	}
	psc_dsocks[i].ev = event_new(psc_base, fd,
	    (short) ((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0) |
	        EV_PERSIST),
	    psc_dns_io_cb, NULL);
	event_add(psc_dsocks[i].ev, NULL);
}

static void
psc_dconf_free(psc_dconf *dc)
{
	if (dc == NULL) {
		return;
	}
	free(dc->sites);
	free(dc->hits);
	pm_tables_close(dc->reply_map);
	free(dc);
}

/* The lists of the current parameters; NULL (warned) if bad. */
static psc_dconf *
psc_dconf_load(int at_start)
{
	pm_dnsbl_site *sites = NULL;
	size_t n = 0;
	char err[256];
	const char *terr;
	pm_tables *map;
	psc_dconf *dc;
	size_t i;

	if (pm_dnsbl_list_parse(&sites, &n, var_psc_dnsbl_sites,
	        PM_DNSBL_F_WEIGHT, err, sizeof(err)) != 0) {
		if (at_start) {
			pm_msg_fatal("%s: %s", VAR_PSC_DNSBL_SITES, err);
		}
		pm_msg_warn("%s: %s; keeping the old list", VAR_PSC_DNSBL_SITES,
		    err);
		pm_server_reload_failed();
		return (NULL);
	}
	if ((map = pm_tables_open(var_psc_dnsbl_reply, &terr)) == NULL) {
		if (at_start) {
			pm_msg_fatal("%s: %s", VAR_PSC_DNSBL_REPLY, terr);
		}
		pm_msg_warn("%s: %s; keeping the old map", VAR_PSC_DNSBL_REPLY,
		    terr);
		pm_server_reload_failed();
		free(sites);
		return (NULL);
	}
	dc = pm_calloc(1, sizeof(*dc));
	dc->sites = sites;
	dc->nsites = n;
	dc->reply_map = map;
	dc->hits = pm_calloc(n + 1, sizeof(*dc->hits));
	for (i = 0; i < n; i++) {
		char lab[PM_DNS_NAME_MAX + 16];

		snprintf(lab, sizeof(lab), "site=\"%s\"", sites[i].domain);
		dc->hits[i] = pm_metric_counter("postscreen_dnsbl_hits_total",
		    "Clients listed, by DNSBL site.", lab);
	}
	return (dc);
}

void
psc_dnsbl_init(void)
{
	psc_dc = psc_dconf_load(1);
	psc_dns_timer = evtimer_new(psc_base, psc_dns_timer_cb, NULL);
	if (pm_dns_channel_new(&psc_ch, (int) var_psc_dnsbl_tmout * 1000,
	        psc_dns_sock_cb, NULL) != 0) {
		pm_msg_fatal("cannot make a DNS resolver channel");
	}
	psc_ch_ok = 1;
}

/* Signal thread: the new lists, or NULL (the old ones stay). */
void *
psc_dnsbl_build(void)
{
	return (psc_dconf_load(0));
}

/*
 * On the loop: the new lists replace the old ones. Queries in flight
 * carry a copy of their site and are scored with it.
 */
void
psc_dnsbl_install(void *new_dc)
{
	if (new_dc != NULL) {
		psc_dconf_free(psc_dc);
		psc_dc = new_dc;
	}
}

void
psc_dnsbl_discard(void *dc)
{
	psc_dconf_free(dc);
}

void
psc_dnsbl_stop(void)
{
	if (psc_ch_ok) {
		ares_destroy(psc_ch); /* queries end: ARES_EDESTRUCTION */
		psc_ch_ok = 0;
	}
	while (psc_ndsocks > 0) {
		event_free(psc_dsocks[--psc_ndsocks].ev);
	}
	if (psc_dns_timer != NULL) {
		event_free(psc_dns_timer);
		psc_dns_timer = NULL;
	}
	psc_dconf_free(psc_dc);
	psc_dc = NULL;
}

int
psc_dnsbl_enabled(void)
{
	return (psc_dc != NULL && psc_dc->nsites > 0);
}

const char *
psc_dnsbl_reply_name(const char *site, char *buf, size_t size)
{
	char *value = NULL;

	pm_tables *map = psc_dc != NULL ? psc_dc->reply_map : NULL;

	if (map != NULL && pm_tables_count(map) > 0 &&
	    pm_tables_get(map, site, &value) == 0) {
		snprintf(buf, size, "%s", value);
		free(value);
		pm_printable(buf);
	} else {
		snprintf(buf, size, "%s", site);
	}
	return (buf);
}

static void
psc_dns_answer(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	psc_dq *q = arg;
	psc_conn *c = q->conn;
	pm_dns_rr *rrs = NULL;
	size_t nrr = 0;
	int st;
	int idx;

	(void) timeouts;
	if (status == ARES_SUCCESS && !c->closed && !c->dns_late &&
	    pm_dns_parse(q->qname, PM_DNS_A, abuf, (size_t) alen, &rrs, &nrr,
	        &st) == 0) {
		const pm_dnsbl_site *s = &q->site;

		if ((idx = pm_dnsbl_match_rrs(s, rrs, nrr)) >= 0) {
			c->dnsbl_score += s->weight;
			pm_metric_inc(q->hits);
			if (c->dnsbl_name[0] == 0 ||
			    s->weight > c->dnsbl_best) {
				c->dnsbl_best = s->weight;
				snprintf(c->dnsbl_name, sizeof(c->dnsbl_name),
				    "%s", s->domain);
			}
			if (c->dnsbl_ttl == 0 || rrs[idx].ttl < c->dnsbl_ttl) {
				c->dnsbl_ttl =
				    rrs[idx].ttl > 0 ? rrs[idx].ttl : 1;
			}
		}
		pm_dns_rr_free(rrs, nrr);
	} else if (status != ARES_SUCCESS && status != ARES_ENOTFOUND &&
	    status != ARES_ENODATA && status != ARES_EDESTRUCTION &&
	    !c->closed) {
		pm_msg_info("DNSBL lookup %s for [%s]:%u: %s", q->qname,
		    c->addr, c->port, ares_strerror(status));
	}
	free(q);
	c->dns_pending--;
	if (!c->closed && !c->dns_late && c->dns_pending == 0) {
		psc_tests_progress(c);
	}
	psc_conn_unref(c);
}

void
psc_dnsbl_start(psc_conn *c)
{
	size_t i;
	psc_dq *q;

	/* A guard count: an answer given at once must not end the test. */
	c->dns_pending = 1;
	c->refs++;
	for (i = 0; psc_dc != NULL && i < psc_dc->nsites; i++) {
		q = pm_calloc(1, sizeof(*q));
		q->conn = c;
		q->site = psc_dc->sites[i];
		q->hits = psc_dc->hits[i];
		if (pm_dnsbl_query_addr(q->qname, sizeof(q->qname), c->addr,
		        q->site.domain) != 0) {
			free(q);
			continue;
		}
		c->dns_pending++;
		c->refs++;
		ares_query(psc_ch, q->qname, ns_c_in, ns_t_a, psc_dns_answer,
		    q);
	}
	psc_dns_reschedule();
	c->dns_pending--;
	psc_conn_unref(c);
	if (!c->closed && c->dns_pending == 0) {
		psc_tests_progress(c);
	}
}
