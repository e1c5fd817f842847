/*
 * NAME
 *	rewrite_clnt - client stub of the rewrite (trivial-rewrite) service
 * SUMMARY
 *	#include "rewrite_clnt.h"
 * DESCRIPTION
 *	See rewrite_clnt.h. pm_rewrite_resolve() sends MSG_REWRITE_RESOLVE,
 *	pm_rewrite_canon() MSG_REWRITE_REWRITE (RewriteRequest ->
 *	RewriteReply, rewrite.proto) over pm_rpc, and caches the answers.
 *
 *	Cache: a hash table with an LRU list, at most rewrite_cache_size
 *	entries (default 10000; 0 turns the cache off), each valid for
 *	rewrite_cache_ttl (default 60s; 0 turns it off). The parameters are
 *	read with pm_cfg_get() when the client is made. The key is the
 *	request type, check_known, the rule and the address, so a
 *	check_known answer never stands in for a plain one. Answers with
 *	RESOLVE_FLAG_ERROR (temporary failures) are not cached.
 *
 *	pm_rewrite_canon() returns PM_EINVAL when the service says the
 *	address is malformed (RESOLVE_FLAG_FAIL) and PM_EAGAIN on a
 *	temporary failure (RESOLVE_FLAG_ERROR).
 *
 *	pm_resolved_free() releases the members of a result.
 * LIMITS
 *	Addresses longer than PM_RESOLVE_ADDR_MAX are answered locally as
 *	malformed (RESOLVE_FLAG_FAIL) without a request. Replies are at most
 *	PM_RPC_CONTROL_MAX bytes, each string at most RW_STR_MAX bytes.
 * SECURITY
 *	Replies are untrusted: the type, the enum and flag values and the
 *	string lengths are checked (PM_EPROTO otherwise).
 */
#include "rewrite_clnt.h"
#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_smap.h"
#include "pm_rpc.h"
#include "pm_util.h"

#include "common.pb-c.h"
#include "rewrite.pb-c.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RW_STR_MAX 4096
#define RW_DEF_CACHE_SIZE 10000
#define RW_MAX_CACHE_SIZE 1000000
#define RW_DEF_CACHE_TTL 60
#define RW_MAX_CACHE_TTL 86400

typedef struct rw_entry {
	struct rw_entry *prev; /* LRU list, head = most recently used */
	struct rw_entry *next;
	char *key;
	int64_t expires; /* pm_mono_ms() */
	pm_resolved val;
} rw_entry;

struct pm_rewrite_clnt {
	pm_rpc_client *rpc;
	int timeout_ms;
	pthread_mutex_t mu;
	size_t max;
	size_t count;
	int64_t ttl_ms;
	pm_smap *map; /* key -> rw_entry */
	rw_entry *head;
	rw_entry *tail;
	pm_metric *hits;
	pm_metric *misses;
};

void
pm_resolved_free(pm_resolved *r)
{
	if (r == NULL) {
		return;
	}
	free(r->address);
	free(r->transport);
	free(r->nexthop);
	free(r->recipient);
	free(r->text);
	r->address = r->transport = r->nexthop = r->recipient = r->text = NULL;
}

static void
rw_copy(pm_resolved *dst, const pm_resolved *src)
{
	dst->address = pm_strdup(src->address);
	dst->addr_class = src->addr_class;
	dst->transport = pm_strdup(src->transport);
	dst->nexthop = pm_strdup(src->nexthop);
	dst->recipient = pm_strdup(src->recipient);
	dst->flags = src->flags;
	dst->text = pm_strdup(src->text);
}

/* An int parameter read at client creation; default when unset or bad. */
static long
rw_param(const char *name, long def, long max, int is_time)
{
	char *s = pm_cfg_get(name);
	long v = def;

	if (s != NULL && *s != 0) {
		if ((is_time ? pm_cfg_parse_time(s, 's', &v) :
		               pm_cfg_parse_long(s, &v)) != 0 ||
		    v < 0 || v > max) {
			pm_msg_warn("bad %s value \"%s\": using %ld", name,
			    pm_printable(s), def);
			v = def;
		}
	}
	free(s);
	return (v);
}

pm_rewrite_clnt *
pm_rewrite_clnt_new(const char *urls, int timeout_ms)
{
	pm_rewrite_clnt *c = pm_calloc(1, sizeof(*c));

	if ((c->rpc = pm_rpc_client_open("rewrite", urls,
	         PM_RPC_CONTROL_MAX)) == NULL) {
		free(c);
		return (NULL);
	}
	/* Lookups are safe to repeat: one lost with a stopping rewrite
	 * goes again to another (pm_rpc_client_set_resend). */
	pm_rpc_client_set_resend(c->rpc, 1);
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	pthread_mutex_init(&c->mu, NULL);
	c->max = (size_t) rw_param("rewrite_cache_size", RW_DEF_CACHE_SIZE,
	    RW_MAX_CACHE_SIZE, 0);
	c->ttl_ms = 1000 *
	    (int64_t) rw_param("rewrite_cache_ttl", RW_DEF_CACHE_TTL,
	        RW_MAX_CACHE_TTL, 1);
	if (c->ttl_ms == 0) {
		c->max = 0;
	}
	c->map = pm_smap_new();
	c->hits = pm_metric_counter("rewrite_client_cache_total",
	    "Rewrite client cache lookups", "result=\"hit\"");
	c->misses = pm_metric_counter("rewrite_client_cache_total",
	    "Rewrite client cache lookups", "result=\"miss\"");
	return (c);
}

static void
rw_entry_free(rw_entry *e)
{
	free(e->key);
	pm_resolved_free(&e->val);
	free(e);
}

void
pm_rewrite_clnt_free(pm_rewrite_clnt *c)
{
	rw_entry *e, *next;

	if (c == NULL) {
		return;
	}
	pm_rpc_client_free(c->rpc);
	for (e = c->head; e != NULL; e = next) {
		next = e->next;
		rw_entry_free(e);
	}
	pm_smap_free(c->map);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void
rw_unlink(pm_rewrite_clnt *c, rw_entry *e)
{
	(void) pm_smap_del(c->map, e->key);
	if (e->prev != NULL) {
		e->prev->next = e->next;
	} else {
		c->head = e->next;
	}
	if (e->next != NULL) {
		e->next->prev = e->prev;
	} else {
		c->tail = e->prev;
	}
	c->count--;
}

static void
rw_push_front(pm_rewrite_clnt *c, rw_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL) {
		c->head->prev = e;
	} else {
		c->tail = e;
	}
	c->head = e;
}

static int
rw_cache_get(pm_rewrite_clnt *c, const char *key, pm_resolved *out)
{
	rw_entry *e;
	int hit = 0;

	if (c->max == 0) {
		return (0);
	}
	pthread_mutex_lock(&c->mu);
	if ((e = pm_smap_get(c->map, key)) != NULL) {
		if (e->expires <= pm_mono_ms()) {
			rw_unlink(c, e);
			rw_entry_free(e);
		} else {
			/* most recently used to the front */
			if (e != c->head) {
				e->prev->next = e->next;
				if (e->next != NULL) {
					e->next->prev = e->prev;
				} else {
					c->tail = e->prev;
				}
				rw_push_front(c, e);
			}
			rw_copy(out, &e->val);
			hit = 1;
		}
	}
	pthread_mutex_unlock(&c->mu);
	pm_metric_inc(hit ? c->hits : c->misses);
	return (hit);
}

static void
rw_cache_put(pm_rewrite_clnt *c, const char *key, const pm_resolved *val)
{
	rw_entry *e, *old;

	if (c->max == 0 || (val->flags & PM_RESOLVE_ERROR)) {
		return;
	}
	e = pm_calloc(1, sizeof(*e));
	e->key = pm_strdup(key);
	e->expires = pm_mono_ms() + c->ttl_ms;
	rw_copy(&e->val, val);

	pthread_mutex_lock(&c->mu);
	if ((old = pm_smap_get(c->map, key)) != NULL) {
		rw_unlink(c, old);
		rw_entry_free(old);
	}
	while (c->count >= c->max && c->tail != NULL) {
		old = c->tail;
		rw_unlink(c, old);
		rw_entry_free(old);
	}
	(void) pm_smap_put(c->map, e->key, e);
	rw_push_front(c, e);
	c->count++;
	pthread_mutex_unlock(&c->mu);
}

static int
rw_str_ok(const char *s)
{
	return (s != NULL && strlen(s) <= RW_STR_MAX);
}

/* Check an unpacked reply and copy it out. */
static int
rw_take_reply(const Pm__RewriteReply *m, pm_resolved *out)
{
	if ((unsigned) m->addr_class > PM_CLASS_DEFAULT ||
	    (m->flags & ~PM_RESOLVE_ALL_FLAGS) != 0 || !rw_str_ok(m->address) ||
	    !rw_str_ok(m->transport) || !rw_str_ok(m->nexthop) ||
	    !rw_str_ok(m->recipient) || !rw_str_ok(m->text)) {
		return (PM_EPROTO);
	}
	out->address = pm_strdup(m->address);
	out->addr_class = (int) m->addr_class;
	out->transport = pm_strdup(m->transport);
	out->nexthop = pm_strdup(m->nexthop);
	out->recipient = pm_strdup(m->recipient);
	out->flags = m->flags;
	out->text = pm_strdup(m->text);
	return (0);
}

/* One request, through the cache. */
static int
rw_call(pm_rewrite_clnt *c, uint32_t type, const char *address,
    const char *rule, int check_known, pm_resolved *out)
{
	Pm__RewriteRequest req = PM__REWRITE_REQUEST__INIT;
	Pm__RewriteReply *rep;
	uint8_t *packed;
	size_t plen;
	uint32_t rtype = 0;
	pm_resolved res;
	pm_buf rbuf;
	char *key;
	int rc;

	memset(&res, 0, sizeof(res));
	if (c == NULL || address == NULL) {
		return (PM_EINVAL);
	}
	if (rule == NULL || *rule == 0) {
		rule = "local";
	}
	if (strcmp(rule, "local") != 0 && strcmp(rule, "remote") != 0) {
		return (PM_EINVAL);
	}
	if (strlen(address) > PM_RESOLVE_ADDR_MAX) {
		/* as the service would answer, without asking it */
		res.address = pm_strdup("");
		res.transport = pm_strdup("");
		res.nexthop = pm_strdup("");
		res.recipient = pm_strdup("");
		res.text = pm_strdup("malformed address: too long");
		res.flags = PM_RESOLVE_FAIL;
		*out = res;
		return (0);
	}
	key = pm_asprintf("%c%d%s\n%s",
	    type == PM__MSG_TYPE__MSG_REWRITE_RESOLVE ? 'R' : 'C',
	    check_known != 0, rule, address);
	if (rw_cache_get(c, key, &res)) {
		free(key);
		*out = res;
		return (0);
	}

	req.address = (char *) address;
	req.rule = (char *) rule;
	req.check_known = check_known != 0;
	plen = pm__rewrite_request__get_packed_size(&req);
	packed = pm_malloc(plen ? plen : 1);
	pm__rewrite_request__pack(&req, packed);
	pm_buf_init(&rbuf, PM_RPC_CONTROL_MAX);
	rc = pm_rpc_call(c->rpc, type, packed, plen, c->timeout_ms, &rtype,
	    &rbuf);
	free(packed);
	if (rc != 0) {
		goto out;
	}
	if (rtype != PM__MSG_TYPE__MSG_REWRITE_REPLY) {
		pm_msg_warn("rewrite service: unexpected reply type %u", rtype);
		rc = PM_EPROTO;
		goto out;
	}
	rep = pm__rewrite_reply__unpack(NULL, rbuf.len,
	    (const uint8_t *) rbuf.data);
	if (rep == NULL) {
		pm_msg_warn("rewrite service: malformed reply");
		rc = PM_EPROTO;
		goto out;
	}
	if ((rc = rw_take_reply(rep, &res)) != 0) {
		pm_msg_warn("rewrite service: bad reply contents");
	}
	pm__rewrite_reply__free_unpacked(rep, NULL);
	if (rc == 0) {
		rw_cache_put(c, key, &res);
		*out = res;
	}

out:
	pm_buf_free(&rbuf);
	free(key);
	return (rc);
}

int
pm_rewrite_resolve(pm_rewrite_clnt *c, const char *address, const char *rule,
    int check_known, pm_resolved *out)
{
	return (rw_call(c, PM__MSG_TYPE__MSG_REWRITE_RESOLVE, address, rule,
	    check_known, out));
}

int
pm_rewrite_canon(pm_rewrite_clnt *c, const char *address, const char *rule,
    char **out)
{
	pm_resolved r;
	int rc;

	memset(&r, 0, sizeof(r));
	rc =
	    rw_call(c, PM__MSG_TYPE__MSG_REWRITE_REWRITE, address, rule, 0, &r);
	if (rc == 0) {
		if (r.flags & PM_RESOLVE_FAIL) {
			rc = PM_EINVAL;
		} else if (r.flags & PM_RESOLVE_ERROR) {
			rc = PM_EAGAIN;
		} else {
			*out = r.address;
			r.address = NULL;
		}
	}
	pm_resolved_free(&r);
	return (rc);
}
