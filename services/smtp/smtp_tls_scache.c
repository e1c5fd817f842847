/*
 * NAME
 *	smtp_tls_scache - TLS sessions of the smtp client, for resumption
 * DESCRIPTION
 *	Postfix's smtp client keeps TLS sessions in tlsmgr's cache so
 *	that a new connection to the same server resumes the session (an
 *	abbreviated handshake). Here the cache is in the process: one
 *	SSL_SESSION per key, where the key (smtp_tls.c) names the server
 *	address, the SNI name and everything of the policy that a
 *	handshake depends on (level, names to match, protocols,
 *	ciphers), so a session made under one policy never serves
 *	another. OpenSSL hands over sessions through its new-session
 *	callback (TLS 1.3 tickets arrive after the handshake); a session
 *	is given out while it is younger than
 *	smtp_tls_session_cache_timeout and OpenSSL says it is
 *	resumable.
 * LIMITS
 *	smtp_tls_session_cache_limit entries (the oldest goes first);
 *	smtp_tls_session_cache_timeout seconds per entry (0: no cache).
 * SECURITY
 *	Sessions hold key material of past connections and live only
 *	in this process's memory.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pm_util.h"
#include "smtp_tls.h"

typedef struct scache_ent {
	char *key;
	SSL_SESSION *sess;
	int64_t added_ms;
	struct scache_ent *next; /* newest first */
} scache_ent;

static pthread_mutex_t scache_mu = PTHREAD_MUTEX_INITIALIZER;
static scache_ent *scache_head;
static long scache_n;
static long scache_limit;
static long scache_timeout; /* seconds */

static void
ent_free(scache_ent *e)
{
	SSL_SESSION_free(e->sess);
	free(e->key);
	free(e);
}

void
smtp_tls_scache_init(long limit, long timeout)
{
	scache_limit = limit;
	scache_timeout = timeout;
}

/* Unlink the entry for key (locked); returns it or NULL. */
static scache_ent *
unlink_key(const char *key)
{
	scache_ent **pp, *e;

	for (pp = &scache_head; (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->key, key) == 0) {
			*pp = e->next;
			scache_n--;
			return (e);
		}
	}
	return (NULL);
}

SSL_SESSION *
smtp_tls_scache_get(const char *key)
{
	scache_ent *e, *old = NULL;
	SSL_SESSION *s = NULL;

	if (scache_timeout <= 0 || scache_limit <= 0) {
		return (NULL);
	}
	pthread_mutex_lock(&scache_mu);
	for (e = scache_head; e != NULL; e = e->next) {
		if (strcmp(e->key, key) != 0) {
			continue;
		}
		if (pm_mono_ms() - e->added_ms > scache_timeout * 1000 ||
		    !SSL_SESSION_is_resumable(e->sess)) {
			old = unlink_key(key);
		} else {
			s = e->sess;
			SSL_SESSION_up_ref(s);
		}
		break;
	}
	pthread_mutex_unlock(&scache_mu);
	if (old != NULL) {
		ent_free(old);
	}
	return (s);
}

void
smtp_tls_scache_put(const char *key, SSL_SESSION *sess)
{
	scache_ent *e, *old, *last = NULL, **pp;

	if (scache_timeout <= 0 || scache_limit <= 0) {
		SSL_SESSION_free(sess);
		return;
	}
	e = pm_calloc(1, sizeof(*e));
	e->key = pm_strdup(key);
	e->sess = sess;
	e->added_ms = pm_mono_ms();
	pthread_mutex_lock(&scache_mu);
	old = unlink_key(key);
	if (scache_n >= scache_limit && scache_head != NULL) {
		for (pp = &scache_head; (*pp)->next != NULL;
		     pp = &(*pp)->next) {
			/* walk to the oldest */
		}
		last = *pp;
		*pp = NULL;
		scache_n--;
	}
	e->next = scache_head;
	scache_head = e;
	scache_n++;
	pthread_mutex_unlock(&scache_mu);
	if (old != NULL) {
		ent_free(old);
	}
	if (last != NULL) {
		ent_free(last);
	}
}

void
smtp_tls_scache_drop(const char *key)
{
	scache_ent *e;

	pthread_mutex_lock(&scache_mu);
	e = unlink_key(key);
	pthread_mutex_unlock(&scache_mu);
	if (e != NULL) {
		ent_free(e);
	}
}

void
smtp_tls_scache_flush(void)
{
	scache_ent *e, *next;

	pthread_mutex_lock(&scache_mu);
	e = scache_head;
	scache_head = NULL;
	scache_n = 0;
	pthread_mutex_unlock(&scache_mu);
	for (; e != NULL; e = next) {
		next = e->next;
		ent_free(e);
	}
}
