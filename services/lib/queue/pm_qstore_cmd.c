/*
 * NAME
 *	pm_qstore_cmd - one small command or script on the store's Redis,
 *	its reply as strings
 * DESCRIPTION
 *	For the caches next to the queue (pm_verify: HMGET of a cache
 *	entry, the scripts that write one): pm_qstore_strs() runs one
 *	command (argv, argc words) on the store's connection, with its
 *	connection rules (redis_server, credentials, Sentinel, reconnect,
 *	redis_timeout), and gives the reply:
 *	- an integer in *num (num may be NULL);
 *	- a status ("OK") as *num = 1, a nil as *num = 0;
 *	- a string as out[0], or an array's elements as out[0..nout-1]
 *	  (new strings, NULL for nil elements; elements past nout are
 *	  ignored; *num = the number of elements).
 *	out[] is set to NULL first; the caller frees what is not NULL.
 *	A pm_qstore is one connection: callers serialize (a mutex).
 * LIMITS
 *	One round trip, bounded by redis_timeout; a string longer than
 *	PM_QS_STRS_MAX bytes gives PM_ETOOBIG (nothing returned).
 * SECURITY
 *	Reply types are checked; an error reply or an array element of
 *	another type gives PM_EREDIS.
 */
#include "pm_qstore_priv.h"

#include <stdlib.h>
#include <string.h>

#define PM_QS_STRS_MAX 65536

static int
strs_one(const redisReply *r, char **out)
{
	if (r->type == REDIS_REPLY_NIL) {
		*out = NULL;
		return (0);
	}
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS) {
		return (PM_EREDIS);
	}
	if (r->len > PM_QS_STRS_MAX) {
		return (PM_ETOOBIG);
	}
	*out = pm_strndup(r->str, r->len);
	return (0);
}

int
pm_qstore_strs(pm_qstore *qs, int argc, const char **argv, char **out,
    size_t nout, long long *num)
{
	redisReply *r = NULL;
	size_t i;
	int rc;

	for (i = 0; i < nout; i++) {
		out[i] = NULL;
	}
	if ((rc = pm__qs_call(qs, argc, argv, NULL, 0, &r)) != 0) {
		return (rc);
	}
	switch (r->type) {
	case REDIS_REPLY_INTEGER:
		if (num != NULL) {
			*num = r->integer;
		}
		break;
	case REDIS_REPLY_STATUS:
	case REDIS_REPLY_NIL:
		if (num != NULL) {
			*num = r->type == REDIS_REPLY_STATUS;
		}
		break;
	case REDIS_REPLY_STRING:
		if (nout > 0) {
			rc = strs_one(r, &out[0]);
		}
		if (num != NULL) {
			*num = 1;
		}
		break;
	case REDIS_REPLY_ARRAY:
		for (i = 0; rc == 0 && i < r->elements && i < nout; i++) {
			rc = strs_one(r->element[i], &out[i]);
		}
		if (num != NULL) {
			*num = (long long) r->elements;
		}
		break;
	default:
		rc = PM_EREDIS;
		break;
	}
	freeReplyObject(r);
	if (rc != 0) {
		for (i = 0; i < nout; i++) {
			free(out[i]);
			out[i] = NULL;
		}
	}
	return (rc);
}
