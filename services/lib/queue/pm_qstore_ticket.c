/*
 * NAME
 *	pm_qstore_ticket - TLS session ticket keys shared through Redis
 * DESCRIPTION
 *	See pm_qstore_ticket.h. One EVAL per call: the script is small and
 *	called about once a minute per process, so it is not loaded as a
 *	Redis Function (nothing to reload after a Redis restart).
 * LIMITS
 *	One round trip, bounded by redis_timeout.
 * SECURITY
 *	The reply is checked for shape (hex of the exact length, numbers)
 *	before use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_qstore_priv.h"
#include "pm_qstore_ticket.h"
#include "pm_util.h"

/* KEYS[1] the hash; ARGV[1] lifetime (s); ARGV[2] candidate (hex). */
static const char ticket_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1])\n"
    "local life = tonumber(ARGV[1])\n"
    "local h = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'at')\n"
    "local cur, prev, at = h[1], h[2], tonumber(h[3])\n"
    "if not cur or not at or now - at >= life or at > now + 60 then\n"
    "  prev = cur or ''\n"
    "  cur = ARGV[2]\n"
    "  at = now\n"
    "  redis.call('HSET', KEYS[1], 'cur', cur, 'prev', prev, 'at', at)\n"
    "  redis.call('EXPIRE', KEYS[1], 2 * life + 60)\n"
    "end\n"
    "return {cur, prev or '', tostring(at), tostring(now)}\n";

static int
hexval(int c)
{
	if (c >= '0' && c <= '9') {
		return (c - '0');
	}
	if (c >= 'a' && c <= 'f') {
		return (c - 'a' + 10);
	}
	if (c >= 'A' && c <= 'F') {
		return (c - 'A' + 10);
	}
	return (-1);
}

int
pm_ticket_key_parse(const char *hex, size_t len,
    unsigned char out[PM_TICKET_KEY_LEN])
{
	unsigned char tmp[PM_TICKET_KEY_LEN];
	size_t i;
	int hi, lo;

	if (len != 2 * PM_TICKET_KEY_LEN) {
		return (PM_EINVAL);
	}
	for (i = 0; i < PM_TICKET_KEY_LEN; i++) {
		hi = hexval((unsigned char) hex[2 * i]);
		lo = hexval((unsigned char) hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			return (PM_EINVAL);
		}
		tmp[i] = (unsigned char) (hi << 4 | lo);
	}
	memcpy(out, tmp, sizeof(tmp));
	return (0);
}

static int
reply_num(const redisReply *r, int64_t *v)
{
	char buf[32], *end;
	long long n;

	if (!pm__qs_is_str(r) || r->len == 0 || r->len >= sizeof(buf)) {
		return (PM_EPROTO);
	}
	memcpy(buf, r->str, r->len);
	buf[r->len] = 0;
	n = strtoll(buf, &end, 10);
	if (*end != 0 || n < 0) {
		return (PM_EPROTO);
	}
	*v = n;
	return (0);
}

int
pm_qstore_ticket_keys(pm_qstore *qs, long lifetime,
    const unsigned char candidate[PM_TICKET_KEY_LEN], pm_ticket_keys *out)
{
	static const char digits[] = "0123456789abcdef";
	char hex[2 * PM_TICKET_KEY_LEN + 1], life[32];
	const char *argv[6];
	redisReply *r = NULL;
	pm_ticket_keys k;
	size_t i;
	int rc;

	for (i = 0; i < PM_TICKET_KEY_LEN; i++) {
		hex[2 * i] = digits[candidate[i] >> 4];
		hex[2 * i + 1] = digits[candidate[i] & 15];
	}
	hex[sizeof(hex) - 1] = 0;
	snprintf(life, sizeof(life), "%ld", lifetime);
	argv[0] = "EVAL";
	argv[1] = ticket_lua;
	argv[2] = "1";
	argv[3] = PM_TICKET_KEY;
	argv[4] = life;
	argv[5] = hex;
	rc = pm__qs_call(qs, 6, argv, NULL, 0, &r);
	memset(hex, 0, sizeof(hex));
	if (rc < 0) {
		return (rc);
	}
	memset(&k, 0, sizeof(k));
	rc = PM_EPROTO;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
	    !pm__qs_is_str(r->element[0]) || !pm__qs_is_str(r->element[1])) {
		if (r != NULL && r->type == REDIS_REPLY_ERROR) {
			rc = PM_EREDIS;
		}
		goto out;
	}
	if (pm_ticket_key_parse(r->element[0]->str, r->element[0]->len,
	        k.cur) != 0 ||
	    reply_num(r->element[2], &k.at) != 0 ||
	    reply_num(r->element[3], &k.now) != 0) {
		goto out;
	}
	if (r->element[1]->len > 0) {
		if (pm_ticket_key_parse(r->element[1]->str, r->element[1]->len,
		        k.prev) != 0) {
			goto out;
		}
		k.have_prev = 1;
	}
	*out = k;
	rc = 0;
out:
	memset(&k, 0, sizeof(k));
	freeReplyObject(r);
	return (rc);
}
