/*
 * NAME
 *	pm_qstore_sentinel - find the Redis master through Redis Sentinel
 * SUMMARY
 *	#include "pm_qstore.h"
 *	rc = pm_qstore_set_sentinels(servers, master, password, timeout_ms);
 *	const char *name = pm_qstore_server(qs);
 * DESCRIPTION
 *	With redis_sentinel_servers set, pm__qs_conn() does not connect to
 *	redis_server: every new connection of every pm_qstore first asks
 *	the sentinels, one after the other (the one that answered last
 *	first), "SENTINEL get-master-addr-by-name <redis_sentinel_master>",
 *	connects to the address the first one names, sends AUTH as always
 *	(pm_qstore_auth.c), and then asks that server ROLE: only a server
 *	that says "master" is used. During a failover a sentinel may still
 *	name the old primary, which may come back as a replica; writing to
 *	it would fail (READONLY) or, worse, read a stale queue: so a
 *	connection to anything but a master fails like an unreachable
 *	Redis and the next call asks the sentinels again.
 *
 *	Services follow a failover by themselves: a connection dropped by
 *	an I/O error or timeout is made again through the sentinels; one
 *	that Sentinel closed (CLIENT KILL, when it turns the old master
 *	into a replica) is found closed by pm__qs_conn() before it is
 *	used, and made again the same way; a -READONLY reply (the server
 *	was turned into a replica under an open connection) marks the
 *	connection stale (pm__qs_note_reply) and the next pm__qs_conn()
 *	drops it and asks again.
 *
 *	The settings are process-wide (pm_server_queue.c sets them from
 *	the parameters when the first store is opened) and copied at every
 *	lookup under a mutex. postmesh_redis_sentinel_lookups_total counts
 *	lookups by result: master (found and used), no_answer (no sentinel
 *	named one), not_master (ROLE refused the answer) and readonly
 *	(a -READONLY reply made a connection stale).
 * LIMITS
 *	PM_QS_SENTINELS_MAX sentinels; each is given redis_sentinel_timeout
 *	to connect and answer, so one lookup takes at most that times the
 *	number of sentinels. Host names up to QS_SEN_HOST_MAX bytes.
 * SECURITY
 *	A sentinel's answer is checked (two strings, a host without
 *	control characters, a port in 1..65535) before it is used, and
 *	then verified with ROLE on the server itself. The sentinel password
 *	is never logged; copies made here are wiped before they are freed.
 *	Sentinels are trusted like Redis (docs/operations.md): a
 *	sentinel that lies can point the services at any server that
 *	accepts their credentials.
 */
#include "pm_qstore_priv.h"
#include "pm_log.h"
#include "pm_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QS_SEN_HOST_MAX 256

typedef struct sen_addr {
	char *host;
	int port;
} sen_addr;

static pthread_mutex_t sen_mu = PTHREAD_MUTEX_INITIALIZER;
static sen_addr *sen_v;  /* under sen_mu */
static size_t sen_n;     /* under sen_mu; 0: no Sentinel */
static size_t sen_first; /* under sen_mu: the one that answered last */
static char *sen_master; /* under sen_mu */
static char *sen_pass;   /* under sen_mu; NULL: no AUTH */
static int sen_timeout_ms = 1000;

/* postmesh_redis_sentinel_lookups_total{result=...}, set with the list */
static pm_metric *sen_m_master;    /* a master found and used */
static pm_metric *sen_m_noanswer;  /* no sentinel named one */
static pm_metric *sen_m_notmaster; /* named, but ROLE said otherwise */
static pm_metric *sen_m_readonly;  /* -READONLY on an open connection */

static void
sen_metrics(void)
{
	static const char *name = "redis_sentinel_lookups_total";
	static const char *help = "Redis Sentinel master lookups, by result";

	sen_m_master = pm_metric_counter(name, help, "result=\"master\"");
	sen_m_noanswer = pm_metric_counter(name, help, "result=\"no_answer\"");
	sen_m_notmaster =
	    pm_metric_counter(name, help, "result=\"not_master\"");
	sen_m_readonly = pm_metric_counter(name, help, "result=\"readonly\"");
}

static void
sen_count(pm_metric *m)
{
	if (m != NULL) {
		pm_metric_inc(m);
	}
}

static char *
sen_wipe(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
	return (NULL);
}

static void
sen_free_list(sen_addr *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].host);
	}
	free(v);
}

/* One list item: host:port, [v6]:port, host (port 26379). */
static int
sen_parse_one(const char *item, sen_addr *a)
{
	pm_qstore tmp;
	char spec[QS_SEN_HOST_MAX + 16];
	const char *rb = strrchr(item, ']');
	int has_port;

	if (strncmp(item, "unix:", 5) == 0 || strlen(item) >= QS_SEN_HOST_MAX) {
		return (PM_EINVAL);
	}
	has_port = rb != NULL ? rb[1] == ':' : strchr(item, ':') != NULL;
	(void) snprintf(spec, sizeof(spec), "%s%s", item,
	    has_port ? "" : ":26379");
	memset(&tmp, 0, sizeof(tmp));
	if (pm__qs_parse_server(&tmp, spec) < 0) {
		free(tmp.host);
		return (PM_EINVAL);
	}
	a->host = tmp.host;
	a->port = tmp.port;
	return (0);
}

int
pm_qstore_set_sentinels(const char *servers, const char *master,
    const char *password, int timeout_ms)
{
	sen_addr *v = NULL;
	size_t n = 0;
	char *copy, *item, *save = NULL;
	int rc = 0;

	if (servers == NULL || *servers == 0) {
		pthread_mutex_lock(&sen_mu);
		sen_free_list(sen_v, sen_n);
		sen_v = NULL;
		sen_n = 0;
		pthread_mutex_unlock(&sen_mu);
		return (0);
	}
	if (master == NULL || *master == 0 || timeout_ms < 1) {
		return (PM_EINVAL);
	}
	copy = pm_strdup(servers);
	v = pm_calloc(PM_QS_SENTINELS_MAX, sizeof(*v));
	for (item = strtok_r(copy, ", \t", &save); item != NULL;
	     item = strtok_r(NULL, ", \t", &save)) {
		if (n == PM_QS_SENTINELS_MAX ||
		    sen_parse_one(item, &v[n]) < 0) {
			rc = PM_EINVAL;
			break;
		}
		n++;
	}
	free(copy);
	if (rc != 0 || n == 0) {
		sen_free_list(v, n);
		return (PM_EINVAL);
	}
	sen_metrics(); /* registered once: the same metrics again */
	pthread_mutex_lock(&sen_mu);
	sen_free_list(sen_v, sen_n);
	sen_v = v;
	sen_n = n;
	sen_first = 0;
	free(sen_master);
	sen_master = pm_strdup(master);
	sen_pass = sen_wipe(sen_pass);
	if (password != NULL && *password != 0) {
		sen_pass = pm_strdup(password);
	}
	sen_timeout_ms = timeout_ms;
	pthread_mutex_unlock(&sen_mu);
	return (0);
}

int
pm__qs_sentinel_on(void)
{
	int on;

	pthread_mutex_lock(&sen_mu);
	on = sen_n > 0;
	pthread_mutex_unlock(&sen_mu);
	return (on);
}

/*
 * Ask one sentinel. Returns 0 with host/port set, or -1 with err set.
 */
static int
sen_ask(const sen_addr *s, const char *master, const char *pass, int tmo_ms,
    char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
	struct timeval tv = { tmo_ms / 1000, (tmo_ms % 1000) * 1000 };
	const char *argv[3];
	redisContext *c;
	redisReply *r = NULL;
	sigset_t saved;
	char *ep;
	long p;
	int rc = -1;

	c = redisConnectWithTimeout(s->host, s->port, tv);
	if (c == NULL || c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
		(void) snprintf(err, errlen, "sentinel %s:%d: %s", s->host,
		    s->port, c ? c->errstr : "cannot allocate context");
		goto out;
	}
	pm_sigpipe_block(&saved);
	if (pass != NULL) {
		argv[0] = "AUTH";
		argv[1] = pass;
		r = redisCommandArgv(c, 2, argv, NULL);
		if (r == NULL || r->type != REDIS_REPLY_STATUS) {
			(void) snprintf(err, errlen,
			    "sentinel %s:%d refused our password "
			    "(redis_sentinel_password_file): %s",
			    s->host, s->port,
			    r == NULL ? c->errstr :
			        r->type == REDIS_REPLY_ERROR ?
			                r->str :
			                "unexpected reply");
			pm_sigpipe_restore(&saved);
			goto out;
		}
		freeReplyObject(r);
	}
	argv[0] = "SENTINEL";
	argv[1] = "get-master-addr-by-name";
	argv[2] = master;
	r = redisCommandArgv(c, 3, argv, NULL);
	pm_sigpipe_restore(&saved);
	if (r == NULL) {
		(void) snprintf(err, errlen, "sentinel %s:%d: %s", s->host,
		    s->port, c->errstr);
	} else if (r->type == REDIS_REPLY_NIL) {
		(void) snprintf(err, errlen,
		    "sentinel %s:%d does not monitor a master named %s",
		    s->host, s->port, master);
	} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len == 0 || r->element[0]->len >= hostlen ||
	    memchr(r->element[0]->str, 0, r->element[0]->len) != NULL) {
		(void) snprintf(err, errlen, "sentinel %s:%d: %s", s->host,
		    s->port,
		    r->type == REDIS_REPLY_ERROR ? r->str :
		                                   "unexpected answer");
	} else {
		p = strtol(r->element[1]->str, &ep, 10);
		if (*ep != 0 || p < 1 || p > 65535) {
			(void) snprintf(err, errlen,
			    "sentinel %s:%d: bad port in its answer", s->host,
			    s->port);
		} else {
			memcpy(host, r->element[0]->str, r->element[0]->len);
			host[r->element[0]->len] = 0;
			*port = (int) p;
			rc = 0;
		}
	}

out:
	if (r != NULL) {
		freeReplyObject(r);
	}
	if (c != NULL) {
		redisFree(c);
	}
	pm_printable(err); /* peer text */
	return (rc);
}

/* The master's address from the first sentinel that knows it. */
static int
sen_lookup(pm_qstore *qs, char *host, size_t hostlen, int *port)
{
	sen_addr s;
	char err[200] = "", *master, *pass;
	size_t i, n, first;
	int tmo, rc = -1;

	pthread_mutex_lock(&sen_mu);
	n = sen_n;
	first = sen_first;
	master = pm_strdup(sen_master);
	pass = sen_pass != NULL ? pm_strdup(sen_pass) : NULL;
	tmo = sen_timeout_ms;
	pthread_mutex_unlock(&sen_mu);
	for (i = 0; i < n && rc < 0; i++) {
		pthread_mutex_lock(&sen_mu);
		if (sen_n != n) { /* replaced meanwhile: give up this round */
			pthread_mutex_unlock(&sen_mu);
			break;
		}
		s.host = pm_strdup(sen_v[(first + i) % n].host);
		s.port = sen_v[(first + i) % n].port;
		pthread_mutex_unlock(&sen_mu);
		rc = sen_ask(&s, master, pass, tmo, host, hostlen, port, err,
		    sizeof(err));
		free(s.host);
		if (rc == 0) {
			pthread_mutex_lock(&sen_mu);
			sen_first = (first + i) % n;
			pthread_mutex_unlock(&sen_mu);
		}
	}
	if (rc < 0) {
		(void) snprintf(qs->conn_err, sizeof(qs->conn_err),
		    "no sentinel named the Redis master %s: %s", master,
		    err[0] ? err : "no sentinel asked");
	}
	free(master);
	sen_wipe(pass);
	return (rc);
}

redisContext *
pm__qs_sentinel_connect(pm_qstore *qs, struct timeval tv)
{
	char host[QS_SEN_HOST_MAX], name[QS_SEN_HOST_MAX + 16];
	int port;

	if (sen_lookup(qs, host, sizeof(host), &port) < 0) {
		sen_count(sen_m_noanswer);
		if (!qs->down) {
			pm_msg_warn("%s", qs->conn_err);
		}
		return (NULL);
	}
	/* qs->server names the server in use, for every later log line */
	(void) snprintf(name, sizeof(name),
	    strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, port);
	if (strcmp(name, qs->server) != 0) {
		free(qs->server);
		qs->server = pm_strdup(name);
	}
	return (redisConnectWithTimeout(host, port, tv));
}

int
pm__qs_sentinel_role(pm_qstore *qs, redisContext *c)
{
	redisReply *r;
	sigset_t saved;
	int ok;

	if (!pm__qs_sentinel_on()) {
		return (0);
	}
	pm_sigpipe_block(&saved);
	r = redisCommand(c, "ROLE");
	pm_sigpipe_restore(&saved);
	ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "master") == 0;
	sen_count(ok ? sen_m_master : sen_m_notmaster);
	if (!ok) {
		(void) snprintf(qs->conn_err, sizeof(qs->conn_err),
		    "Redis at %s, named by the sentinels, is not the master "
		    "(ROLE: %s); asking the sentinels again",
		    qs->server,
		    r == NULL                        ? c->errstr :
		        r->type == REDIS_REPLY_ERROR ? r->str :
		        r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
		            r->element[0]->type == REDIS_REPLY_STRING ?
		                                       r->element[0]->str :
		                                       "unexpected reply");
		pm_printable(qs->conn_err);
		if (!qs->down) {
			pm_msg_warn("%s", qs->conn_err);
		}
	}
	if (r != NULL) {
		freeReplyObject(r);
	}
	return (ok ? 0 : -1);
}

const char *
pm_qstore_server(const pm_qstore *qs)
{
	return (qs->server);
}

void
pm__qs_note_reply(pm_qstore *qs, const redisReply *r)
{
	/* "-READONLY You can't write against a read only replica." */
	if (pm__qs_is_err(r, "READONLY")) {
		if (!qs->stale && pm__qs_sentinel_on()) {
			sen_count(sen_m_readonly);
		}
		qs->stale = 1;
	}
}
