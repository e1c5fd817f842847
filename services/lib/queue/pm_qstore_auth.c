/*
 * NAME
 *	pm_qstore_auth - the Redis credentials every queue connection sends
 * SUMMARY
 *	#include "pm_qstore.h"
 *	pm_qstore_set_auth(user, password);
 * DESCRIPTION
 *	hiredis 0.14 has no TLS and no connect options: authentication is
 *	the AUTH command, sent by pm__qs_conn() right after connect and
 *	before anything else (also before the queue_shards check), on
 *	every connection of the process: "AUTH user password" for an ACL
 *	user, "AUTH password" for the default user, nothing without a
 *	password.
 *
 *	The credentials are process-wide (set by pm_server from
 *	redis_user and redis_password_file, at start and on SIGHUP) and
 *	read at every connect, so a reload is used by the next connection
 *	and open connections stay as they are. A refusal (WRONGPASS, or
 *	an ERR when the server has no password) is logged once per
 *	outage (and at most every 10 s for the process) as "Redis at X
 *	refused our credentials (user U): <reply>"
 *	and the connection fails like any other: PM_EREDIS, tried again
 *	at the next call.
 * LIMITS
 *	One round trip per connect, bounded by redis_timeout.
 * SECURITY
 *	The password is never logged; copies made here are wiped before
 *	they are freed (hiredis's own output buffer is not).
 */
#include "pm_qstore_priv.h"
#include "pm_log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t auth_mu = PTHREAD_MUTEX_INITIALIZER;
static char *auth_user;        /* under auth_mu; NULL: the default user */
static char *auth_pass;        /* under auth_mu; NULL: no AUTH */
static int64_t auth_logged_us; /* under auth_mu: last refusal logged */

#define AUTH_LOG_GAP_US (10 * 1000000LL)

static char *
auth_wipe(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
	return (NULL);
}

void
pm_qstore_set_auth(const char *user, const char *password)
{
	char *u = NULL, *p = NULL;

	if (password != NULL && *password != 0) {
		p = pm_strdup(password);
		if (user != NULL && *user != 0) {
			u = pm_strdup(user);
		}
	}
	pthread_mutex_lock(&auth_mu);
	auth_user = auth_wipe(auth_user);
	auth_pass = auth_wipe(auth_pass);
	auth_user = u;
	auth_pass = p;
	auth_logged_us = 0; /* a refusal of these is news */
	pthread_mutex_unlock(&auth_mu);
}

int
pm__qs_auth(pm_qstore *qs, redisContext *c)
{
	const char *argv[3];
	char *user = NULL, *pass = NULL, *text;
	redisReply *r;
	sigset_t saved;
	int64_t now;
	int argc = 0, rc = 0, refused, log = 0;

	pthread_mutex_lock(&auth_mu);
	if (auth_pass != NULL) {
		pass = pm_strdup(auth_pass);
		user = auth_user != NULL ? pm_strdup(auth_user) : NULL;
	}
	pthread_mutex_unlock(&auth_mu);
	if (pass == NULL) {
		return (0);
	}
	argv[argc++] = "AUTH";
	if (user != NULL) {
		argv[argc++] = user;
	}
	argv[argc++] = pass;
	pm_sigpipe_block(&saved);
	r = redisCommandArgv(c, argc, argv, NULL);
	pm_sigpipe_restore(&saved);
	if (r == NULL) {
		(void) snprintf(qs->conn_err, sizeof(qs->conn_err),
		    "Redis at %s: AUTH: %s", qs->server, c->errstr);
		rc = -1;
	} else if (r->type != REDIS_REPLY_STATUS) {
		/* "WRONGPASS invalid username-password pair or user is
		 * disabled.": Redis's text never holds the password */
		text = r->type == REDIS_REPLY_ERROR ?
		    pm_printable_dup(r->str, r->len, 200) :
		    pm_strdup("unexpected reply type");
		(void) snprintf(qs->conn_err, sizeof(qs->conn_err),
		    "Redis at %s refused our credentials (user %s): %s",
		    qs->server, user != NULL ? user : "default", text);
		free(text);
		rc = -1;
	}
	refused = r != NULL && rc < 0;
	if (r != NULL) {
		freeReplyObject(r);
	}
	auth_wipe(pass);
	free(user);
	/*
	 * Once per outage and connection (a refusal even when the outage
	 * began otherwise: Redis restarted with a new ACL), and a refusal
	 * at most once per AUTH_LOG_GAP_US for the process: cleanup's
	 * workers each have a connection and would all say the same.
	 */
	if (rc < 0 && (refused ? !qs->auth_refused : !qs->down)) {
		now = pm_now_us();
		pthread_mutex_lock(&auth_mu);
		if (!refused || auth_logged_us == 0 ||
		    now - auth_logged_us >= AUTH_LOG_GAP_US) {
			log = 1;
			auth_logged_us = refused ? now : auth_logged_us;
		}
		pthread_mutex_unlock(&auth_mu);
		if (log) {
			pm_msg_warn("%s", qs->conn_err);
		}
	}
	qs->auth_refused = refused;
	return (rc);
}
