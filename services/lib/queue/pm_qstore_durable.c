/*
 * NAME
 *	pm_qstore_durable - is Redis as durable as queue_durability says?
 * SUMMARY
 *	#include "pm_qstore.h"
 *	int pm_qstore_durable(qs, mode, min_replicas, why, whylen)
 * DESCRIPTION
 *	Asks the Redis server of qs, in one pipeline: PING, CONFIG GET
 *	appendonly, CONFIG GET appendfsync and (mode "replica") INFO
 *	replication, and compares with what queue_durability promises:
 *
 *	  fsync    appendonly yes and appendfsync always: a write is on
 *	           the disk before Redis answers, so before the 250;
 *	  replica  the same, and at least min_replicas connected replicas
 *	           (connected_slaves) for the WAIT of every enqueue;
 *	  none     no promise: only PING.
 *
 *	The answer of a Redis that replays its append-only file after a
 *	restart is "-LOADING": that is "cannot ask" (PM_EREDIS), as is a
 *	CONFIG command refused by an ACL or renamed away; the caller
 *	refuses mail until it can tell.
 *
 *	Called by cleanup at start, from its /readyz and every
 *	queue_durability_check_interval (someone may CONFIG SET the
 *	server at run time). why gets one line for the log, e.g.
 *	"Redis has appendfsync everysec".
 * LIMITS
 *	One pipeline of at most four commands, each bounded by the
 *	store's redis_timeout.
 * SECURITY
 *	Redis replies are checked for type before use.
 */
#include "pm_qstore.h"
#include "pm_qstore_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUR_NCMD 4

/* The value of a CONFIG GET reply ([name, value]), or NULL. */
static const char *
dur_config_value(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[1]->type != REDIS_REPLY_STRING) {
		return (NULL);
	}
	return (r->element[1]->str);
}

/* connected_slaves from INFO replication text; -1 if absent. */
static long
dur_connected_replicas(const redisReply *r)
{
	const char *p;

	if (r == NULL || r->type != REDIS_REPLY_STRING ||
	    (p = strstr(r->str, "connected_slaves:")) == NULL) {
		return (-1);
	}
	return (strtol(p + strlen("connected_slaves:"), NULL, 10));
}

/* An error reply as text for why (made printable at the end). */
static void
dur_reply_error(const redisReply *r, const char *what, char *why, size_t whylen)
{
	const char *s = r != NULL && r->type == REDIS_REPLY_ERROR && r->str ?
	    r->str :
	    "unexpected reply";

	snprintf(why, whylen, "%s: %s", what, s);
}

int
pm_qstore_durable(pm_qstore *qs, const char *mode, int min_replicas, char *why,
    size_t whylen)
{
	const char *ping[] = { "PING" };
	const char *aof[] = { "CONFIG", "GET", "appendonly" };
	const char *fsync[] = { "CONFIG", "GET", "appendfsync" };
	const char *info[] = { "INFO", "replication" };
	redisReply *rv[DUR_NCMD] = { NULL };
	const char *ao, *af;
	size_t n = 1;
	long nrep;
	int rc = PM_EREDIS, replica = strcmp(mode, "replica") == 0;

	snprintf(why, whylen, "%s", "");
	if (pm__qs_conn(qs) == NULL) {
		/* not reachable, or refused our credentials */
		snprintf(why, whylen, "%s", qs->conn_err);
		return (PM_EREDIS);
	}
	if (pm__qs_appendv(qs, 1, ping) < 0) {
		snprintf(why, whylen, "Redis at %s is not reachable",
		    qs->server);
		return (PM_EREDIS);
	}
	if (strcmp(mode, "none") != 0) {
		if (pm__qs_appendv(qs, 3, aof) < 0 ||
		    pm__qs_appendv(qs, 3, fsync) < 0 ||
		    (replica && pm__qs_appendv(qs, 2, info) < 0)) {
			snprintf(why, whylen, "Redis at %s is not reachable",
			    qs->server);
			return (PM_EREDIS);
		}
		n = replica ? 4 : 3;
	}
	if (pm__qs_read(qs, rv, n) < 0) {
		snprintf(why, whylen, "Redis at %s is not reachable",
		    qs->server);
		return (PM_EREDIS);
	}
	if (rv[0]->type != REDIS_REPLY_STATUS ||
	    strcmp(rv[0]->str, "PONG") != 0) {
		/* "-LOADING Redis is loading the dataset in memory" */
		dur_reply_error(rv[0], "PING", why, whylen);
		goto out;
	}
	if (n == 1) {
		rc = 0;
		goto out;
	}
	if ((ao = dur_config_value(rv[1])) == NULL) {
		dur_reply_error(rv[1], "CONFIG GET appendonly", why, whylen);
		goto out;
	}
	if ((af = dur_config_value(rv[2])) == NULL) {
		dur_reply_error(rv[2], "CONFIG GET appendfsync", why, whylen);
		goto out;
	}
	rc = PM_EAGAIN;
	if (strcmp(ao, "yes") != 0) {
		snprintf(why, whylen, "Redis has appendonly %s", ao);
		goto out;
	}
	if (strcmp(af, "always") != 0) {
		snprintf(why, whylen, "Redis has appendfsync %s", af);
		goto out;
	}
	if (replica) {
		if ((nrep = dur_connected_replicas(rv[3])) < 0) {
			rc = PM_EREDIS;
			dur_reply_error(rv[3], "INFO replication", why, whylen);
			goto out;
		}
		if (nrep < min_replicas) {
			snprintf(why, whylen,
			    "Redis has %ld connected "
			    "replicas, want at least %d",
			    nrep, min_replicas);
			goto out;
		}
	}
	rc = 0;

out:
	pm__qs_free_replies(rv, n);
	pm_printable(why); /* Redis text */
	return (rc);
}
