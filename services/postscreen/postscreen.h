/*
 * NAME
 *	postscreen - shared declarations of the postscreen service
 * DESCRIPTION
 *	One psc_conn per client connection, on one libevent loop
 *	(postscreen.c). postscreen_conn.c runs the tests and decides;
 *	postscreen_access.c is postscreen_access_list;
 *	postscreen_cache.c keeps results in Redis; postscreen_dnsbl.c
 *	does the DNSBL lookups; postscreen_smtp.c is the dialogue of a
 *	client refused with "enforce"; postscreen_relay.c hands a passing
 *	client to an smtpd (PROXY v2 header, then bytes both ways).
 * LIMITS
 *	See postscreen_params.h. A connection costs its psc_conn (a few
 *	hundred bytes), one bufferevent, one timer; a proxied one a
 *	second bufferevent and up to postscreen_relay_buffer_size bytes
 *	buffered per direction.
 * SECURITY
 *	Clients are untrusted: their text is logged through
 *	pm_printable(), lines are bounded by line_length_limit.
 */
#ifndef POSTSCREEN_H
#define POSTSCREEN_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "pm_metrics.h"
#include "postscreen_params.h"

/* Test and verdict actions (postscreen_*_action). */
#define PSC_ACT_IGNORE 0
#define PSC_ACT_ENFORCE 1
#define PSC_ACT_DROP 2

/* Connection states. */
#define PSC_ST_CACHE 0   /* waiting for the cache lookup */
#define PSC_ST_TESTS 1   /* greet wait and DNSBL lookups */
#define PSC_ST_SMTP 2    /* refused client: enforce dialogue */
#define PSC_ST_CONNECT 3 /* connecting to an smtpd */
#define PSC_ST_RELAY 4   /* proxying */
#define PSC_ST_CLOSING 5 /* last reply being written */

/* The two sides of a proxied connection (relay_eof, relay_shut). */
#define PSC_R_CLIENT 0x1
#define PSC_R_SMTPD 0x2

/* Failed tests (psc_conn.fail). */
#define PSC_F_DENY 0x1
#define PSC_F_PREGR 0x2
#define PSC_F_DNSBL 0x4

/* Verdict counter labels (postmesh_postscreen_connections_total). */
enum {
	PSC_V_PASS_NEW,
	PSC_V_PASS_OLD,
	PSC_V_ALLOWLISTED,
	PSC_V_DENYLISTED,
	PSC_V_PREGREET,
	PSC_V_DNSBL,
	PSC_V_PASS_IGNORED,
	PSC_V_LIMIT,
	PSC_V_COUNT
};

#define PSC_ADDR_MAX INET6_ADDRSTRLEN
#define PSC_DNSBL_NAME_MAX 256

typedef struct psc_conn {
	struct psc_conn *prev, *next; /* every connection (postscreen.c) */
	struct bufferevent *bev;      /* the client; NULL once closed */
	struct bufferevent *up;       /* the smtpd, once handing off */
	struct event *timer;          /* greet wait, deadlines, timeouts */
	int state;                    /* PSC_ST_* */
	int closed;                   /* client gone; freed when refs 0 */
	int refs;                     /* cache and DNS requests in flight */
	int counted_pre;              /* holds a pre-queue slot */
	int counted_client;           /* counts in its address's total */
	char addr[PSC_ADDR_MAX];
	unsigned port;
	char laddr[PSC_ADDR_MAX];
	unsigned lport;
	struct timeval start;

	/* Tests. */
	unsigned fail;      /* PSC_F_* seen */
	int banner_sent;    /* "220-" written */
	int greet_todo;     /* pregreet test runs now */
	int greet_done;     /* greet wait over (or test not run) */
	int dnsbl_todo;     /* DNSBL lookups run now */
	int dns_pending;    /* answers still awaited */
	int dns_late;       /* verdict given: answers ignored */
	int dns_extended;   /* waiting past the greet wait */
	int acl_done;       /* access list checked */
	int dnsbl_allow;    /* passed by postscreen_dnsbl_allowlist_threshold */
	long dnsbl_score;   /* sum of weights of listed sites */
	long dnsbl_best;    /* weight of the site named in replies */
	unsigned dnsbl_ttl; /* smallest TTL seen (0: none) */
	char dnsbl_name[PSC_DNSBL_NAME_MAX]; /* site named in replies */
	long greet_exp, dnsbl_exp;           /* cached expiry times */

	/* Enforce dialogue (postscreen_smtp.c). */
	int esmtp;
	int ncmds;
	char *helo;
	char *sender;
	char *reply;     /* RCPT reply text (owned) */
	int disc_logged; /* "DISCONNECT" logged */

	/* Hand-off (postscreen_relay.c). */
	int try_count;
	int smtpd_idx;
	int relay_active;    /* bytes moved since the idle timer was set */
	unsigned relay_eof;  /* PSC_R_*: sides that sent their end */
	unsigned relay_shut; /* PSC_R_*: sides whose writing we shut */
} psc_conn;

extern struct event_base *psc_base;
extern int psc_stopping;
extern pm_metric *psc_m_verdict[PSC_V_COUNT];
extern pm_metric *psc_m_active;
extern pm_metric *psc_m_handoff_fail;
extern int psc_greet_action, psc_dnsbl_action, psc_blist_action;

/* postscreen.c */
void psc_conn_gone(psc_conn *c);
void psc_conn_handed_off(psc_conn *c);

/* postscreen_conn.c */
psc_conn *psc_conn_new(evutil_socket_t fd, const struct sockaddr *sa,
    int salen);
void psc_conn_close(psc_conn *c);
void psc_conn_event_cb(struct bufferevent *bev, short what, void *arg);
void psc_conn_unref(psc_conn *c);
void psc_log_disconnect(psc_conn *c);
void psc_conn_free(psc_conn *c);
void psc_verdict(int v);
void psc_cache_done(psc_conn *c, int rc, const char *value);
void psc_tests_progress(psc_conn *c);
void psc_write_close(psc_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void psc_timer_set(psc_conn *c, long seconds, long usec,
    void (*cb)(evutil_socket_t, short, void *));
int psc_action_parse(const char *name, const char *value);

/* postscreen_access.c */
#define PSC_ACL_DUNNO 0
#define PSC_ACL_PERMIT 1
#define PSC_ACL_REJECT 2
void psc_access_init(void);
void *psc_access_build(void);
void psc_access_install(void *new_acl);
void psc_access_discard(void *acl);
void psc_access_stop(void);
int psc_access_check(const char *addr);

/* postscreen_cache.c */
void psc_cache_init(void);
void psc_cache_stop(void);
void psc_cache_lookup(psc_conn *c);
void psc_cache_update(psc_conn *c, int greet_pass, int dnsbl_pass);
int psc_cache_parse(const char *value, long *greet_exp, long *dnsbl_exp);
int psc_cache_format(char *buf, size_t size, long greet_exp, long dnsbl_exp);

/* postscreen_dnsbl.c */
void psc_dnsbl_init(void);
void *psc_dnsbl_build(void);
void psc_dnsbl_install(void *new_dc);
void psc_dnsbl_discard(void *dc);
void psc_dnsbl_stop(void);
int psc_dnsbl_enabled(void);
void psc_dnsbl_start(psc_conn *c);
const char *psc_dnsbl_reply_name(const char *site, char *buf, size_t size);

/* postscreen_smtp.c */
void psc_smtp_start(psc_conn *c);

/* postscreen_relay.c */
void psc_hostport(const char *param, const char *spec, int passive,
    struct sockaddr_storage *ss, socklen_t *len);
void psc_relay_init(void);
void psc_relay_start(psc_conn *c);

#endif
