/*
 * NAME
 *	rewrite_proto - request handling of the rewrite service
 * SUMMARY
 *	#include "rewrite.h"
 * DESCRIPTION
 *	rewrite_handler() runs on pm_rpc worker threads: it unpacks a
 *	RewriteRequest, runs pm_resolve_canon() (MSG_REWRITE_REWRITE) or
 *	pm_resolve_addr() (MSG_REWRITE_RESOLVE) and packs a RewriteReply
 *	(MSG_REWRITE_REPLY).
 *
 *	One resolver serves every worker (its tables are thread-safe and
 *	it never changes once built). rewrite_reload() builds a new one and
 *	swaps it in; a reference count keeps the old one alive until the
 *	requests that use it are done. A reload that fails (a table that no
 *	longer opens) keeps the old resolver and logs a warning.
 *
 *	Metrics: postmesh_rewrite_requests_total{type="resolve"|"rewrite"},
 *	postmesh_rewrite_errors_total{reason="malformed_request"|
 *	"bad_address"|"lookup"}.
 *
 *	With -v each request is logged as Postfix's trivial-rewrite does in
 *	verbose mode.
 * LIMITS
 *	A reply is bounded by pm_resolve (strings of at most
 *	PM_RESOLVE_ADDR_MAX bytes, table results likewise).
 * SECURITY
 *	The request is untrusted: unknown types, bodies that do not unpack
 *	and unknown rules are refused (MSG_ERROR with PM_EPROTO/PM_EINVAL);
 *	the address is checked by pm_resolve. Addresses are logged only
 *	through pm_printable().
 */
#include "rewrite.h"
#include "pm_log.h"
#include "pm_metrics.h"
#include "rewrite_resolve.h"
#include "pm_server.h"
#include "pm_snap.h"
#include "pm_util.h"

#include "common.pb-c.h"
#include "rewrite.pb-c.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void
rw_free(void *r)
{
	pm_resolve_free(r);
}

/* The resolver in use; a reload swaps in a new one (pm_snap). */
static pm_snap rw_cur = PM_SNAP_INIT(rw_free);

static pm_metric *m_req_resolve;
static pm_metric *m_req_rewrite;
static pm_metric *m_err_request;
static pm_metric *m_err_address;
static pm_metric *m_err_lookup;

int
rewrite_pre_init(void)
{
	const char *help = "Rewrite service requests";
	const char *ehelp = "Rewrite service errors";
	pm_resolve *r;
	char *err = NULL;

	m_req_resolve = pm_metric_counter("rewrite_requests_total", help,
	    "type=\"resolve\"");
	m_req_rewrite = pm_metric_counter("rewrite_requests_total", help,
	    "type=\"rewrite\"");
	m_err_request = pm_metric_counter("rewrite_errors_total", ehelp,
	    "reason=\"malformed_request\"");
	m_err_address = pm_metric_counter("rewrite_errors_total", ehelp,
	    "reason=\"bad_address\"");
	m_err_lookup = pm_metric_counter("rewrite_errors_total", ehelp,
	    "reason=\"lookup\"");

	if ((r = pm_resolve_new(&err)) == NULL) {
		pm_msg_fatal("%s", err != NULL ? err : "cannot initialize");
	}
	pm_snap_set(&rw_cur, r);
	return (0);
}

void
rewrite_reload(void)
{
	pm_resolve *r;
	char *err = NULL;

	if ((r = pm_resolve_new(&err)) == NULL) {
		pm_msg_warn("reload failed: %s; keeping the old configuration",
		    err != NULL ? err : "unknown error");
		free(err);
		pm_server_reload_failed();
		return;
	}
	pm_snap_set(&rw_cur, r);
	pm_msg_info("reload: tables reopened");
}

void
rewrite_fini(void)
{
	pm_snap_set(&rw_cur, NULL);
}

int
rewrite_ready(void)
{
	pm_snap_ref *h = pm_snap_get(&rw_cur);

	pm_snap_put(&rw_cur, h);
	return (h != NULL);
}

static void
rw_log(uint32_t type, const Pm__RewriteRequest *m, const pm_resolved *res)
{
	char *in = pm_printable_dup(m->address, strlen(m->address), 512);
	char *out = pm_printable_dup(res->address, strlen(res->address), 512);
	char *rcpt =
	    pm_printable_dup(res->recipient, strlen(res->recipient), 512);
	char *text = pm_printable_dup(res->text, strlen(res->text), 512);

	if (type == PM__MSG_TYPE__MSG_REWRITE_REWRITE) {
		pm_msg_info("rewrite_addr: %s: <%s> -> <%s> flags=0x%x%s%s",
		    m->rule[0] ? m->rule : "local", in, out, res->flags,
		    text[0] ? " text=" : "", text);
	} else {
		pm_msg_info("resolve_addr: <%s> -> <%s> class=%s transport=%s "
		            "nexthop=%s recipient=<%s> flags=0x%x%s%s",
		    in, out, pm_resolve_class_name(res->addr_class),
		    res->transport, res->nexthop, rcpt, res->flags,
		    text[0] ? " text=" : "", text);
	}
	free(in);
	free(out);
	free(rcpt);
	free(text);
}

static int
rw_pack(const pm_resolved *res, pm_buf *rbuf)
{
	Pm__RewriteReply rep = PM__REWRITE_REPLY__INIT;
	uint8_t *buf;
	size_t len;
	int rc;

	rep.address = res->address;
	rep.addr_class = (Pm__AddrClass) res->addr_class;
	rep.transport = res->transport;
	rep.nexthop = res->nexthop;
	rep.recipient = res->recipient;
	rep.flags = res->flags;
	rep.text = res->text;
	len = pm__rewrite_reply__get_packed_size(&rep);
	buf = pm_malloc(len ? len : 1);
	pm__rewrite_reply__pack(&rep, buf);
	rc = pm_buf_append(rbuf, buf, len);
	free(buf);
	return (rc);
}

int
rewrite_handler(void *thread_ctx, uint32_t type, const uint8_t *req,
    size_t reqlen, uint32_t *rtype, pm_buf *rbuf)
{
	Pm__RewriteRequest *m;
	pm_resolved res;
	pm_snap_ref *h;
	int rc;

	(void) thread_ctx;
	if (type != PM__MSG_TYPE__MSG_REWRITE_RESOLVE &&
	    type != PM__MSG_TYPE__MSG_REWRITE_REWRITE) {
		pm_msg_warn("unexpected request type %u", type);
		pm_metric_inc(m_err_request);
		return (PM_EPROTO);
	}
	pm_metric_inc(type == PM__MSG_TYPE__MSG_REWRITE_RESOLVE ?
	        m_req_resolve :
	        m_req_rewrite);
	if ((m = pm__rewrite_request__unpack(NULL, reqlen, req)) == NULL ||
	    m->address == NULL || m->rule == NULL) {
		pm_msg_warn("malformed %s request",
		    type == PM__MSG_TYPE__MSG_REWRITE_RESOLVE ? "resolve" :
		                                                "rewrite");
		pm_metric_inc(m_err_request);
		if (m != NULL) {
			pm__rewrite_request__free_unpacked(m, NULL);
		}
		return (PM_EPROTO);
	}
	if ((h = pm_snap_get(&rw_cur)) == NULL) {
		pm__rewrite_request__free_unpacked(m, NULL);
		return (PM_EAGAIN);
	}
	memset(&res, 0, sizeof(res));
	if (type == PM__MSG_TYPE__MSG_REWRITE_RESOLVE) {
		rc = pm_resolve_addr((pm_resolve *) h->obj, m->address, m->rule,
		    m->check_known, &res);
	} else {
		rc = pm_resolve_canon((pm_resolve *) h->obj, m->address,
		    m->rule, &res);
	}
	pm_snap_put(&rw_cur, h);
	if (rc != 0) {
		char *rule = pm_printable_dup(m->rule, strlen(m->rule), 64);

		pm_msg_warn("unknown rewrite rule \"%s\"", rule);
		free(rule);
		pm_metric_inc(m_err_request);
		pm__rewrite_request__free_unpacked(m, NULL);
		return (rc);
	}
	if (res.flags & PM_RESOLVE_FAIL) {
		pm_metric_inc(m_err_address);
	}
	if (res.flags & PM_RESOLVE_ERROR) {
		pm_metric_inc(m_err_lookup);
	}
	if (pm_msg_verbose) {
		rw_log(type, m, &res);
	}
	pm__rewrite_request__free_unpacked(m, NULL);
	rc = rw_pack(&res, rbuf);
	pm_resolved_free(&res);
	if (rc == 0) {
		*rtype = PM__MSG_TYPE__MSG_REWRITE_REPLY;
	}
	return (rc);
}
