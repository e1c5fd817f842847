/*
 * NAME
 *	pm_rpc_disco - follow the addresses a service list resolves to
 * SUMMARY
 *	#include "pm_rpc_disco.h"
 * DESCRIPTION
 *	See pm_rpc_disco.h for the contract. Implementation notes:
 *
 *	A pm_disco holds its sources (the URLs of the list, split once)
 *	and, per source, the address set it gave last time; the addresses
 *	held are the union of those sets, kept in `cur` with the caller's
 *	data per address. A refresh resolves every name source into a new
 *	set (a failed name keeps its last set), builds the new union, and
 *	calls del() for cur - new, then add() for new - cur.
 *
 *	Every pm_disco with at least one name is on a process-wide list
 *	walked by one detached thread every interval. The thread takes a
 *	reference under disco_mu, resolves without any lock (getaddrinfo
 *	may take seconds), then applies the difference under the object's
 *	own mutex unless pm_disco_free() marked it dead meanwhile; the last
 *	reference frees it.
 * LIMITS
 *	PM_DISCO_MAX_ADDRS addresses per list; DISCO_MAX_SOURCES URLs per
 *	list; the interval 1 s .. 1 h.
 * SECURITY
 *	Operator URLs and DNS answers; getaddrinfo's results are numeric
 *	addresses formatted here (never text from DNS in a URL).
 */
#include "pm_rpc_disco.h"
#include "pm_log.h"
#include "pm_util.h"

#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define DISCO_MAX_SOURCES 64

typedef struct disco_src {
	char *url;
	char scheme[32];
	char host[256];
	char port[16];
	int resolve;       /* a name: looked up every interval */
	pm_disco_set last; /* the addresses it gave last time */
	int failing;       /* the last lookup failed (logged once) */
} disco_src;

struct pm_disco {
	struct pm_disco *next; /* under disco_mu */
	int refs;              /* under disco_mu */
	char *param;
	pm_disco_add_fn add;
	pm_disco_del_fn del;
	void *arg;
	disco_src *src;
	size_t nsrc;
	int names;          /* some source is a name */
	pthread_mutex_t mu; /* cur, data, dead; callbacks run under it */
	pm_disco_set cur;   /* addresses held (their callbacks were run) */
	void **data;        /* per cur entry, the add() result */
	int dead;
	int add_failed; /* add() failed during the first lookup */
};

static pthread_mutex_t disco_mu = PTHREAD_MUTEX_INITIALIZER;
static pm_disco *disco_list; /* under disco_mu */
static int disco_thread_on;  /* under disco_mu */
static atomic_long disco_interval = DEF_SERVICE_RESOLVE_INTERVAL;

void
pm_disco_set_interval(long seconds)
{
	if (seconds < 1) {
		seconds = 1;
	} else if (seconds > 3600) {
		seconds = 3600;
	}
	atomic_store(&disco_interval, seconds);
}

/*
 * Pure helpers.
 */
static int
disco_scheme_resolves(const char *scheme)
{
	static const char *const s[] = { "tcp", "tcp4", "tcp6", "tls+tcp",
		"tls+tcp4", "tls+tcp6", NULL };
	int i;

	for (i = 0; s[i] != NULL; i++) {
		if (strcmp(scheme, s[i]) == 0) {
			return (1);
		}
	}
	return (0);
}

static int
disco_numeric(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1);
}

int
pm_disco_split(const char *url, char *scheme, size_t slen, char *host,
    size_t hlen, char *port, size_t plen, int *resolve)
{
	const char *sep, *h, *hend, *p;
	size_t n;

	if (url == NULL || (sep = strstr(url, "://")) == NULL ||
	    (n = (size_t) (sep - url)) == 0 || n >= slen) {
		return (PM_EINVAL);
	}
	memcpy(scheme, url, n);
	scheme[n] = 0;
	*host = *port = 0;
	*resolve = 0;
	if (!disco_scheme_resolves(scheme)) {
		return (0); /* ipc://, inproc://: the URL itself */
	}
	h = sep + 3;
	if (*h == '[') {
		if ((hend = strchr(h, ']')) == NULL || hend[1] != ':') {
			return (PM_EINVAL);
		}
		h++;
		p = hend + 2;
	} else {
		if ((hend = strrchr(h, ':')) == NULL ||
		    memchr(h, ':', (size_t) (hend - h)) != NULL) {
			return (PM_EINVAL); /* no port, or bare IPv6 */
		}
		p = hend + 1;
	}
	n = (size_t) (hend - h);
	if (n == 0 || n >= hlen || *p == 0 || strlen(p) >= plen ||
	    strspn(p, "0123456789") != strlen(p)) {
		return (PM_EINVAL);
	}
	memcpy(host, h, n);
	host[n] = 0;
	if (strcspn(host, "/?#@ \t") != n) {
		return (PM_EINVAL);
	}
	strcpy(port, p);
	*resolve = !disco_numeric(host);
	return (0);
}

int
pm_disco_format(const char *scheme, const char *numhost, const char *port,
    char *out, size_t len)
{
	int n;

	n = snprintf(out, len,
	    strchr(numhost, ':') != NULL ? "%s://[%s]:%s" : "%s://%s:%s",
	    scheme, numhost, port);
	return (n < 0 || (size_t) n >= len ? PM_ETOOBIG : 0);
}

/* Index where url is or would go (binary search). */
static size_t
disco_set_pos(const pm_disco_set *s, const char *url, int *found)
{
	size_t lo = 0, hi = s->n, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(s->v[mid], url)) == 0) {
			*found = 1;
			return (mid);
		}
		if (c < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return (lo);
}

int
pm_disco_set_add(pm_disco_set *s, const char *url, size_t max)
{
	size_t i;
	int found;

	i = disco_set_pos(s, url, &found);
	if (found || s->n >= max) {
		return (0);
	}
	s->v = pm_realloc(s->v, (s->n + 1) * sizeof(*s->v));
	memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
	s->v[i] = pm_strdup(url);
	s->n++;
	return (1);
}

int
pm_disco_set_has(const pm_disco_set *s, const char *url)
{
	int found;

	(void) disco_set_pos(s, url, &found);
	return (found);
}

void
pm_disco_set_clear(pm_disco_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->v[i]);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void
pm_disco_set_minus(const pm_disco_set *a, const pm_disco_set *b,
    void (*fn)(void *arg, const char *url), void *arg)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		if (!pm_disco_set_has(b, a->v[i])) {
			fn(arg, a->v[i]);
		}
	}
}

int
pm_disco_resolve(const char *scheme, const char *host, const char *port,
    pm_disco_set *out, const char **why)
{
	struct addrinfo hints, *res = NULL, *ai;
	char num[INET6_ADDRSTRLEN], url[PM_DISCO_URL_MAX];
	size_t sl = strlen(scheme);
	int rv;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	hints.ai_family = scheme[sl - 1] == '4' ? AF_INET :
	    scheme[sl - 1] == '6'               ? AF_INET6 :
	                                          AF_UNSPEC;
	if ((rv = getaddrinfo(host, port, &hints, &res)) != 0) {
		*why = gai_strerror(rv);
		return (PM_EAGAIN);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, num, sizeof(num),
		        NULL, 0, NI_NUMERICHOST) != 0 ||
		    strchr(num, '%') != NULL || /* scoped: not for nng */
		    pm_disco_format(scheme, num, port, url, sizeof(url)) != 0) {
			continue;
		}
		(void) pm_disco_set_add(out, url, PM_DISCO_MAX_ADDRS);
	}
	freeaddrinfo(res);
	if (out->n == 0) {
		*why = "no usable address";
		return (PM_EAGAIN);
	}
	return (0);
}

/*
 * The following state.
 */
typedef struct disco_apply {
	pm_disco *d;
	const pm_disco_set *next;
} disco_apply;

static void
disco_drop(void *arg, const char *url)
{
	disco_apply *ap = arg;
	pm_disco *d = ap->d;
	size_t i;
	int found;

	i = disco_set_pos(&d->cur, url, &found);
	PM_ASSERT(found);
	d->del(d->arg, url, d->data[i]);
	pm_msg_info("%s: %s: address gone, dropped", d->param, url);
	free(d->cur.v[i]);
	memmove(&d->cur.v[i], &d->cur.v[i + 1],
	    (d->cur.n - i - 1) * sizeof(*d->cur.v));
	memmove(&d->data[i], &d->data[i + 1],
	    (d->cur.n - i - 1) * sizeof(*d->data));
	d->cur.n--;
}

static void
disco_take(void *arg, const char *url)
{
	disco_apply *ap = arg;
	pm_disco *d = ap->d;
	void *data = NULL;
	size_t i;
	int found;

	if (d->add(d->arg, url, &data) != 0) {
		d->add_failed = 1;
		return; /* logged by add(); tried again next time */
	}
	(void) pm_disco_set_add(&d->cur, url, PM_DISCO_MAX_ADDRS);
	i = disco_set_pos(&d->cur, url, &found);
	d->data = pm_realloc(d->data, d->cur.n * sizeof(*d->data));
	memmove(&d->data[i + 1], &d->data[i],
	    (d->cur.n - i - 1) * sizeof(*d->data));
	d->data[i] = data;
	if (d->names) {
		pm_msg_info("%s: %s: address added, dialing", d->param, url);
	}
}

/* Resolve every name; fill next[] (one set per source). No lock. */
static void
disco_lookup(pm_disco *d, pm_disco_set *next, int *ok)
{
	const char *why = NULL;
	size_t i;

	for (i = 0; i < d->nsrc; i++) {
		disco_src *s = &d->src[i];

		ok[i] = 1;
		if (!s->resolve) {
			continue;
		}
		if (pm_disco_resolve(s->scheme, s->host, s->port, &next[i],
		        &why) != 0) {
			ok[i] = 0;
			if (!s->failing) {
				pm_msg_warn(
				    "%s: cannot resolve %s: %s; "
				    "keeping its %zu address(es), trying "
				    "again every %lds",
				    d->param, s->host, why, s->last.n,
				    atomic_load(&disco_interval));
			}
		} else if (s->failing) {
			pm_msg_info("%s: %s resolves again", d->param, s->host);
		}
	}
}

/* Apply a lookup's result; under d->mu. */
static void
disco_update(pm_disco *d, pm_disco_set *next, const int *ok)
{
	pm_disco_set all = { 0 };
	disco_apply ap = { d, &all };
	size_t i, j;

	for (i = 0; i < d->nsrc; i++) {
		disco_src *s = &d->src[i];

		if (!s->resolve) {
			(void) pm_disco_set_add(&all, s->url,
			    PM_DISCO_MAX_ADDRS);
			continue;
		}
		s->failing = !ok[i];
		if (ok[i]) {
			pm_disco_set_clear(&s->last);
			s->last = next[i];
			memset(&next[i], 0, sizeof(next[i]));
		}
		for (j = 0; j < s->last.n; j++) {
			if (!pm_disco_set_add(&all, s->last.v[j],
			        PM_DISCO_MAX_ADDRS) &&
			    all.n >= PM_DISCO_MAX_ADDRS &&
			    !pm_disco_set_has(&all, s->last.v[j])) {
				pm_msg_warn("%s: more than %d addresses; "
				            "ignoring %s",
				    d->param, PM_DISCO_MAX_ADDRS, s->last.v[j]);
			}
		}
	}
	/* snapshot of cur: disco_drop edits cur while we walk */
	{
		pm_disco_set old = { 0 };

		for (i = 0; i < d->cur.n; i++) {
			(void) pm_disco_set_add(&old, d->cur.v[i], SIZE_MAX);
		}
		pm_disco_set_minus(&old, &all, disco_drop, &ap);
		pm_disco_set_clear(&old);
	}
	pm_disco_set_minus(&all, &d->cur, disco_take, &ap);
	pm_disco_set_clear(&all);
}

static void
disco_refresh(pm_disco *d)
{
	pm_disco_set *next = pm_calloc(d->nsrc, sizeof(*next));
	int *ok = pm_calloc(d->nsrc, sizeof(*ok));
	size_t i;

	disco_lookup(d, next, ok);
	pthread_mutex_lock(&d->mu);
	if (!d->dead) {
		disco_update(d, next, ok);
	}
	pthread_mutex_unlock(&d->mu);
	for (i = 0; i < d->nsrc; i++) {
		pm_disco_set_clear(&next[i]);
	}
	free(next);
	free(ok);
}

static void
disco_destroy(pm_disco *d)
{
	size_t i;

	for (i = 0; i < d->nsrc; i++) {
		free(d->src[i].url);
		pm_disco_set_clear(&d->src[i].last);
	}
	pm_disco_set_clear(&d->cur);
	pthread_mutex_destroy(&d->mu);
	free(d->src);
	free(d->data);
	free(d->param);
	free(d);
}

/* Drop a reference; under disco_mu. */
static void
disco_unref(pm_disco *d)
{
	if (--d->refs == 0) {
		disco_destroy(d);
	}
}

static void *
disco_main(void *arg)
{
	pm_disco **v = NULL, *d;
	size_t n, i, cap = 0;
	struct timespec ts;

	(void) arg;
	for (;;) {
		ts.tv_sec = (time_t) atomic_load(&disco_interval);
		ts.tv_nsec = 0;
		while (nanosleep(&ts, &ts) != 0) {
		}
		pthread_mutex_lock(&disco_mu);
		for (n = 0, d = disco_list; d != NULL; d = d->next) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				v = pm_realloc(v, cap * sizeof(*v));
			}
			d->refs++;
			v[n++] = d;
		}
		pthread_mutex_unlock(&disco_mu);
		for (i = 0; i < n; i++) {
			disco_refresh(v[i]);
		}
		pthread_mutex_lock(&disco_mu);
		for (i = 0; i < n; i++) {
			disco_unref(v[i]);
		}
		pthread_mutex_unlock(&disco_mu);
	}
	return (NULL);
}

pm_disco *
pm_disco_new(const char *param, const char *urls, pm_disco_add_fn add,
    pm_disco_del_fn del, void *arg)
{
	pm_disco *d;
	char *list, *url, *save = NULL;
	pthread_t tid;
	disco_src *s;

	PM_ASSERT(add != NULL && del != NULL);
	d = pm_calloc(1, sizeof(*d));
	d->param = pm_strdup(param != NULL ? param : "service");
	d->add = add;
	d->del = del;
	d->arg = arg;
	d->refs = 1;
	pthread_mutex_init(&d->mu, NULL);
	list = pm_strdup(urls != NULL ? urls : "");
	for (url = strtok_r(list, " \t\r\n,", &save); url != NULL;
	     url = strtok_r(NULL, " \t\r\n,", &save)) {
		if (d->nsrc == DISCO_MAX_SOURCES) {
			pm_msg_error("%s: more than %d URLs", d->param,
			    DISCO_MAX_SOURCES);
			goto fail;
		}
		d->src = pm_realloc(d->src, (d->nsrc + 1) * sizeof(*d->src));
		s = &d->src[d->nsrc++];
		memset(s, 0, sizeof(*s));
		s->url = pm_strdup(url);
		if (pm_disco_split(url, s->scheme, sizeof(s->scheme), s->host,
		        sizeof(s->host), s->port, sizeof(s->port),
		        &s->resolve) != 0) {
			pm_msg_error("%s: bad service address \"%s\": want "
			             "scheme://host:port",
			    d->param, pm_printable(url));
			goto fail;
		}
		d->names |= s->resolve;
	}
	if (d->nsrc == 0) {
		pm_msg_error("%s: no service address given", d->param);
		goto fail;
	}
	free(list);
	list = NULL;
	disco_refresh(d); /* the first lookup, in the caller's thread */
	if (d->add_failed) {
		/* a URL nng or TLS refuses: a configuration error */
		pm_disco_free(d);
		return (NULL);
	}
	if (d->names) {
		pthread_mutex_lock(&disco_mu);
		d->next = disco_list;
		disco_list = d;
		if (!disco_thread_on &&
		    pthread_create(&tid, NULL, disco_main, NULL) == 0) {
			pthread_detach(tid);
			disco_thread_on = 1;
		}
		pthread_mutex_unlock(&disco_mu);
	}
	return (d);

fail:
	free(list);
	disco_destroy(d);
	return (NULL);
}

size_t
pm_disco_count(pm_disco *d)
{
	size_t n;

	pthread_mutex_lock(&d->mu);
	n = d->cur.n;
	pthread_mutex_unlock(&d->mu);
	return (n);
}

void
pm_disco_free(pm_disco *d)
{
	pm_disco **pp;
	size_t i;

	if (d == NULL) {
		return;
	}
	pthread_mutex_lock(&disco_mu);
	for (pp = &disco_list; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	pthread_mutex_unlock(&disco_mu);
	pthread_mutex_lock(&d->mu);
	d->dead = 1;
	for (i = 0; i < d->cur.n; i++) {
		d->del(d->arg, d->cur.v[i], d->data[i]);
	}
	pthread_mutex_unlock(&d->mu);
	pthread_mutex_lock(&disco_mu);
	disco_unref(d);
	pthread_mutex_unlock(&disco_mu);
}
