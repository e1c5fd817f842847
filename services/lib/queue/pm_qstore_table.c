/*
 * NAME
 *	pm_qstore_table - lookup-table keys on the queue store's Redis
 * DESCRIPTION
 *	See pm_qstore_table.h. The replace script runs SET for each pair
 *	first, then walks SCAN MATCH <escaped prefix>* inside the same
 *	script: Redis runs a script alone, so the whole change is one step
 *	for every reader and for a second postalias.
 * LIMITS
 *	PM_QS_TABLE_* in pm_qstore_table.h; SCAN COUNT 1000 per step.
 * SECURITY
 *	The prefix is a glob pattern only after escaping (\ before each of
 *	* ? [ ] \), so "a*" cannot match "ab".
 */
#include "pm_qstore_table.h"
#include "pm_log.h"
#include "pm_qstore_priv.h"

#include <stdlib.h>
#include <string.h>

int
pm_qstore_get(pm_qstore *qs, const char *key, size_t max, char **value)
{
	const char *argv[2] = { "GET", key };
	redisReply *r = NULL;
	int rc;

	if ((rc = pm__qs_call(qs, 2, argv, NULL, 0, &r)) != 0) {
		return (PM_EREDIS);
	}
	if (r->type == REDIS_REPLY_NIL) {
		rc = PM_ENOENT;
	} else if (r->type == REDIS_REPLY_ERROR) {
		rc = PM_EREDIS;
	} else if (r->type != REDIS_REPLY_STRING ||
	    memchr(r->str, 0, r->len) != NULL) {
		rc = PM_EPROTO;
	} else if (r->len > max) {
		rc = PM_ETOOBIG;
	} else {
		*value = pm_strndup(r->str, r->len);
	}
	freeReplyObject(r);
	return (rc);
}

/* prefix with glob characters escaped, then "*". */
static char *
match_pattern(const char *prefix)
{
	char *out = pm_malloc(2 * strlen(prefix) + 2), *o = out;

	for (; *prefix; prefix++) {
		if (strchr("*?[]\\", *prefix) != NULL) {
			*o++ = '\\';
		}
		*o++ = *prefix;
	}
	*o++ = '*';
	*o = 0;
	return (out);
}

int
pm_qstore_table_replace(pm_qstore *qs, const char *prefix, size_t n,
    char *const *names, char *const *values, long long *removed)
{
	static const char script[] =
	    "local p = ARGV[1] "
	    "local keep = {} "
	    "for i = 3, #ARGV, 2 do "
	    "  keep[p .. ARGV[i]] = true "
	    "  redis.call('SET', p .. ARGV[i], ARGV[i + 1]) "
	    "end "
	    "local cur, gone = '0', 0 "
	    "repeat "
	    "  local r = redis.call('SCAN', cur, 'MATCH', ARGV[2], "
	    "      'COUNT', 1000) "
	    "  cur = r[1] "
	    "  for _, k in ipairs(r[2]) do "
	    "    if not keep[k] then redis.call('DEL', k) gone = gone + 1 end "
	    "  end "
	    "until cur == '0' "
	    "return gone";
	const char **argv;
	char *pattern;
	redisReply *r = NULL;
	size_t i, argc;
	int rc;

	if (prefix == NULL || *prefix == 0 || n > PM_QS_TABLE_ENTRIES_MAX) {
		return (PM_EINVAL);
	}
	for (i = 0; i < n; i++) {
		if (strlen(values[i]) > PM_QS_TABLE_VALUE_MAX) {
			return (PM_EINVAL);
		}
	}
	pattern = match_pattern(prefix);
	argc = 5 + 2 * n;
	argv = pm_malloc(argc * sizeof(*argv));
	argv[0] = "EVAL";
	argv[1] = script;
	argv[2] = "0";
	argv[3] = prefix;
	argv[4] = pattern;
	for (i = 0; i < n; i++) {
		argv[5 + 2 * i] = names[i];
		argv[6 + 2 * i] = values[i];
	}
	rc = pm__qs_call(qs, (int) argc, argv, NULL, 0, &r);
	free(argv);
	free(pattern);
	if (rc != 0) {
		return (PM_EREDIS);
	}
	if (r->type == REDIS_REPLY_INTEGER) {
		if (removed != NULL) {
			*removed = r->integer;
		}
	} else {
		if (r->type == REDIS_REPLY_ERROR) {
			char *t = pm_printable_dup(r->str, r->len, 200);

			pm_msg_warn("redis table %s: %s", prefix, t);
			free(t);
		}
		rc = PM_EREDIS;
	}
	freeReplyObject(r);
	return (rc);
}
