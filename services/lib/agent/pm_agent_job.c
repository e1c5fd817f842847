/*
 * NAME
 *	pm_agent_job - delivery jobs: checked in, finished, reported
 * DESCRIPTION
 *	pm__agent_job_new() copies a DeliveryJob received from qmgr into a
 *	pm_job after checking every field; a job that fails a check is
 *	kept only to be reported back as deferred (so qmgr is not left
 *	waiting), without being delivered.
 *
 *	pm__agent_finish() runs after deliver(): each recipient's outcome
 *	goes to Redis with pm_qstore_rcpt_cas() (compare-and-set: a
 *	recipient already sent or bounced is never changed, and a second
 *	"sent" for it is counted as a duplicate delivery), is logged in
 *	Postfix's format and counted; then the DoneRequest is packed.
 *	When Redis says the recipient was final already, the stored
 *	status, DSN and text are what is logged and reported to qmgr,
 *	with a warning naming this attempt's own outcome: qmgr never
 *	sends a bounce for mail that was delivered, and the log never
 *	says "sent" for a recipient whose sender was told it bounced.
 *
 *	Log line (Postfix's smtp/lmtp "to=" record):
 *	  QID: to=<rcpt>, orig_to=<queued>, relay=host[ip]:port,
 *	  conn_use=N, delay=T, delays=a/b/c/d, dsn=X.Y.Z, status=S (text)
 *	orig_to only when it differs, conn_use only for a reused
 *	connection; a = arrival..qmgr took the message, b = that..deliver()
 *	started (time in qmgr and in the agent's queue, as Postfix's "b"
 *	includes the transfer to the agent), c = connection setup, d =
 *	transmission. Times as Postfix prints them: 0.06, 2.5, 27.
 * LIMITS
 *	Strings from qmgr: AGENT_*_MAX (pm_agent_priv.h), PM_ADDR_MAX for
 *	addresses; 1..PM_AGENT_MAX_RCPT recipients with distinct indexes
 *	below AGENT_RCPT_INDEX_MAX.
 * SECURITY
 *	qmgr is another role and not trusted: strings must be NUL-free
 *	(checked on the wire, since protobuf-c cuts at a NUL silently) and
 *	free of control characters (an address with CR/LF would inject SMTP
 *	commands); the queue id must be valid before it is used in a key.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.pb-c.h"
#include "pm_dsn.h"
#include "pm_log_dlv.h"
#include "pm_addr.h"
#include "pm_agent_priv.h"
#include "pm_body.h"
#include "pm_log.h"
#include "pm_qid.h"
#include "pm_smtp_data.h"

/* ---- checks ---- */

static int
wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	int shift;
	uint8_t b;

	for (shift = 0; *p < end && shift < 64; shift += 7) {
		b = *(*p)++;
		x |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = x;
			return (1);
		}
	}
	return (0);
}

int
pm__agent_wire_ok(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len, int depth)
{
	const uint8_t *p = buf, *end = buf + len;
	const ProtobufCFieldDescriptor *f;
	uint64_t key, l;

	if (depth > 8) {
		return (0);
	}
	while (p < end) {
		if (!wire_varint(&p, end, &key)) {
			return (0);
		}
		switch (key & 7) {
		case 0:
			if (!wire_varint(&p, end, &l)) {
				return (0);
			}
			break;
		case 1:
			if (end - p < 8) {
				return (0);
			}
			p += 8;
			break;
		case 5:
			if (end - p < 4) {
				return (0);
			}
			p += 4;
			break;
		case 2:
			if (!wire_varint(&p, end, &l) ||
			    l > (uint64_t) (end - p)) {
				return (0);
			}
			f = (key >> 3) <= 0x1fffffff ?
			    protobuf_c_message_descriptor_get_field(d,
			    (unsigned) (key >> 3)) : NULL;
			if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
			    memchr(p, 0, (size_t) l) != NULL) {
				return (0);
			}
			if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    !pm__agent_wire_ok(f->descriptor, p, (size_t) l,
			    depth + 1)) {
				return (0);
			}
			p += l;
			break;
		default:
			return (0);
		}
	}
	return (1);
}

size_t
pm__agent_wire_jobs(const uint8_t *buf, size_t len, unsigned char *ok,
    size_t max)
{
	const uint8_t *p = buf, *end = buf + len;
	uint64_t key, l;
	size_t n = 0;

	while (p < end && n < max) {
		if (!wire_varint(&p, end, &key) || (key & 7) != 2 ||
		    !wire_varint(&p, end, &l) || l > (uint64_t) (end - p)) {
			break; /* FetchReply has one field: jobs */
		}
		if ((key >> 3) == 1) {
			ok[n++] = (unsigned char) pm__agent_wire_ok(
			    &pm__delivery_job__descriptor, p, (size_t) l, 0);
		}
		p += l;
	}
	return (n);
}

/* 0 if s has at most max bytes and no control characters. */
static int
str_bad(const char *s, size_t max, int empty_ok)
{
	const unsigned char *p;

	if (s == NULL) {
		return (!empty_ok);
	}
	if (*s == 0) {
		return (!empty_ok);
	}
	if (strlen(s) > max) {
		return (1);
	}
	for (p = (const unsigned char *) s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			return (1);
		}
	}
	return (0);
}

static char *
dup_ok(const char *s, size_t max, int empty_ok, const char **why,
    const char *what)
{
	if (str_bad(s, max, empty_ok)) {
		if (*why == NULL) {
			*why = what;
		}
		return (pm_strdup(""));
	}
	return (pm_strdup(s != NULL ? s : ""));
}

static int
cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;

	return (x < y ? -1 : x > y);
}

agent_job *
pm__agent_job_new(const Pm__DeliveryJob *d, int wire_ok, const pm_agent *a,
    int qmgr, int nshards)
{
	agent_job *aj;
	pm_job *j;
	pm_job_rcpt *r;
	const Pm__JobRcpt *dr;
	const char *why = NULL;
	unsigned *idx;
	size_t i, n;
	int served = 0;
	char *p;

	if (str_bad(d->job_id, AGENT_JOB_ID_MAX, 0)) {
		p = pm_printable_dup(d->job_id ? d->job_id : "",
		    strlen(d->job_id ? d->job_id : ""), 64);
		pm_msg_warn("invalid delivery request from qmgr: bad job id "
		    "\"%s\"; dropped", p);
		free(p);
		return (NULL);
	}
	aj = pm_calloc(1, sizeof(*aj));
	aj->qmgr = qmgr;
	j = &aj->job;
	j->job_id = pm_strdup(d->job_id);
	if (!pm_qid_valid(d->queue_id ? d->queue_id : "")) {
		why = "queue id";
	}
	j->queue_id = pm_strdup(why == NULL ? d->queue_id : "");
	j->transport = dup_ok(d->transport, AGENT_TRANSPORT_MAX, 0, &why,
	    "transport");
	for (i = 0; a->transports[i] != NULL; i++) {
		served |= strcmp(a->transports[i], j->transport) == 0;
	}
	if (!served && why == NULL) {
		why = "transport not served by this agent";
	}
	j->nexthop = dup_ok(d->nexthop, AGENT_NEXTHOP_MAX, 1, &why,
	    "nexthop");
	j->sender = dup_ok(d->sender, PM_ADDR_MAX, 1, &why, "sender");
	j->idempotency_key = dup_ok(d->idempotency_key, AGENT_KEY_MAX, 1,
	    &why, "idempotency key");
	j->dsn_envid = dup_ok(d->dsn_envid, AGENT_ENVID_MAX, 1, &why,
	    "envid");
	n = d->n_rcpt;
	if (n == 0 || n > PM_AGENT_MAX_RCPT) {
		why = why ? why : "recipient count";
		n = n > PM_AGENT_MAX_RCPT ? 0 : n;
	}
	j->nrcpt = n;
	j->rcpt = pm_calloc(n > 0 ? n : 1, sizeof(*j->rcpt));
	idx = pm_calloc(n > 0 ? n : 1, sizeof(*idx));
	for (i = 0; i < n; i++) {
		r = &j->rcpt[i];
		dr = d->rcpt[i];
		if (dr == NULL) {
			why = why ? why : "recipient";
			r->address = pm_strdup("");
			r->orcpt = pm_strdup("");
			r->queued_address = pm_strdup("");
			continue;
		}
		r->index = dr->index;
		idx[i] = dr->index;
		if (dr->index >= AGENT_RCPT_INDEX_MAX && why == NULL) {
			why = "recipient index";
		}
		r->address = dup_ok(dr->address, PM_ADDR_MAX, 0, &why,
		    "recipient address");
		r->orcpt = dup_ok(dr->orcpt, AGENT_ORCPT_MAX, 1, &why,
		    "original recipient");
		r->queued_address = dup_ok(dr->queued_address, PM_ADDR_MAX, 1,
		    &why, "queued address");
		r->notify = dr->notify;
		if (dr->notify > 15 && why == NULL) {
			why = "notify";
		}
	}
	qsort(idx, n, sizeof(*idx), cmp_uint);
	for (i = 1; i < n; i++) {
		if (idx[i] == idx[i - 1] && why == NULL) {
			why = "duplicate recipient index";
		}
	}
	free(idx);
	j->attempt = d->attempt;
	j->body_type = (int) d->body_type;
	j->dsn_ret = (int) d->dsn_ret;
	j->flags = d->flags;
	j->size = d->size;
	j->arrival_us = d->arrival_us;
	j->shard = d->shard;
	j->active_us = d->active_us;
	j->dispatch_us = d->dispatch_us;
	if (why == NULL && (d->body_type > 3 || d->dsn_ret > 2)) {
		why = "body type or RET";
	}
	if (why == NULL && d->size > PM_BODY_SIZE_MAX) {
		why = "size";
	}
	if (why == NULL && (d->shard < 0 || d->shard >= nshards)) {
		why = "shard";
	}
	if (!wire_ok) {
		why = "NUL in a string";
	}
	snprintf(j->relay, sizeof(j->relay), "none");
	aj->invalid = why;
	if (why != NULL) {
		pm_msg_warn("%s: invalid delivery request %s from qmgr: %s",
		    *j->queue_id ? j->queue_id : "NOQUEUE", j->job_id, why);
	}
	return (aj);
}

void
pm__agent_job_free(agent_job *aj)
{
	pm_job *j;
	size_t i;

	if (aj == NULL) {
		return;
	}
	j = &aj->job;
	for (i = 0; i < j->nrcpt; i++) {
		free((char *) j->rcpt[i].address);
		free((char *) j->rcpt[i].orcpt);
		free((char *) j->rcpt[i].queued_address);
	}
	free(j->rcpt);
	free((char *) j->job_id);
	free((char *) j->queue_id);
	free((char *) j->transport);
	free((char *) j->nexthop);
	free((char *) j->sender);
	free((char *) j->idempotency_key);
	free((char *) j->dsn_envid);
	free(aj);
}

/* ---- outcomes ---- */

static void
job_vset(pm_job_rcpt *r, int status, const char *dsn, const char *fmt,
    va_list ap)
{
	r->status = status;
	snprintf(r->dsn, sizeof(r->dsn), "%s", dsn ? dsn : "");
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	pm_printable(r->text);
}

void
pm_job_set(pm_job_rcpt *r, int status, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	job_vset(r, status, dsn, fmt, ap);
	va_end(ap);
}

void
pm_job_set_all(pm_job *j, int status, const char *dsn, const char *fmt, ...)
{
	va_list ap;
	size_t i;

	for (i = 0; i < j->nrcpt; i++) {
		if (j->rcpt[i].status == PM_JOB_NONE) {
			va_start(ap, fmt);
			job_vset(&j->rcpt[i], status, dsn, fmt, ap);
			va_end(ap);
		}
	}
}

void
pm__agent_metrics_init(agent_metrics *m, const char *name)
{
	char n1[96], n2[96], n3[96];

	snprintf(n1, sizeof(n1), "%s_deliveries_total", name);
	snprintf(n2, sizeof(n2), "%s_duplicate_deliveries_total", name);
	snprintf(n3, sizeof(n3), "%s_delivery_seconds", name);
	m->sent = pm_metric_counter(n1, "Recipients handled, by outcome",
	    "status=\"sent\"");
	m->deferred = pm_metric_counter(n1, "Recipients handled, by outcome",
	    "status=\"deferred\"");
	m->bounced = pm_metric_counter(n1, "Recipients handled, by outcome",
	    "status=\"bounced\"");
	m->duplicate = pm_metric_counter(n2, "Recipients delivered again "
	    "though Redis had them final already", NULL);
	{
		static const double b[] = { 0.005, 0.01, 0.025, 0.05, 0.1,
		    0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };

		m->seconds = pm_metric_histogram(n3, "Time of one delivery "
		    "attempt (one job), in seconds", NULL, b,
		    sizeof(b) / sizeof(b[0]));
	}
}

static const char *
status_name(int st)
{
	return (st == PM_JOB_SENT ? PM_RCPT_SENT : st == PM_JOB_BOUNCED ?
	    PM_RCPT_BOUNCED : PM_RCPT_DEFERRED);
}

/* Make the outcome consistent: a status, a DSN of its class, a text. */
static void
rcpt_normalize(pm_job_rcpt *r)
{
	int code;

	if (r->status != PM_JOB_SENT && r->status != PM_JOB_BOUNCED &&
	    r->status != PM_JOB_DEFERRED) {
		r->status = PM_JOB_DEFERRED;
		if (r->text[0] == 0) {
			snprintf(r->text, sizeof(r->text), "delivery status "
			    "unknown");
		}
	}
	code = r->status == PM_JOB_SENT ? 250 : r->status == PM_JOB_BOUNCED ?
	    550 : 450;
	if (!pm_dsn_status_match(code, r->dsn)) {
		snprintf(r->dsn, sizeof(r->dsn), "%d.0.0", code / 100);
	}
	r->text[sizeof(r->text) - 1] = 0;
	pm_printable(r->text);
}

/*
 * Write the outcome to Redis (compare-and-set). If the recipient was
 * final already (an earlier attempt, another agent), what Redis holds
 * is the truth qmgr and the log must see: r takes the stored status,
 * DSN and text, and *own_sent says whether this attempt delivered.
 */
static void
rcpt_record(agent_metrics *m, pm_qstore *qs, agent_job *aj, pm_job_rcpt *r,
    int *recorded)
{
	pm_job *j = &aj->job;
	pm_qrcpt_final f;
	int rc, own = r->status;

	*recorded = 0;
	if (qs == NULL || aj->invalid != NULL) {
		return;
	}
	rc = pm_qstore_rcpt_cas(qs, j->queue_id, r->index,
	    status_name(r->status), r->dsn, r->text, &f);
	if (rc == 0) {
		*recorded = 1;
		if (f.changed || f.status[0] == 0) {
			if (own == PM_JOB_SENT && !f.changed) {
				pm_msg_warn("%s: to=<%s>: recipient was final "
				    "in the queue already: delivered more than "
				    "once", j->queue_id, r->address);
				pm_metric_inc(m->duplicate);
			}
			return;
		}
		r->status = strcmp(f.status, PM_RCPT_SENT) == 0 ?
		    PM_JOB_SENT : PM_JOB_BOUNCED;
		pm_msg_warn("%s: to=<%s>: recipient was final in the queue "
		    "already (%s); this attempt's outcome (%s, %s %s) is not "
		    "used%s", j->queue_id, r->address, f.status,
		    status_name(own), r->dsn, r->text, own == PM_JOB_SENT ?
		    ": delivered more than once" : "");
		if (own == PM_JOB_SENT) {
			pm_metric_inc(m->duplicate);
		}
		snprintf(r->dsn, sizeof(r->dsn), "%.15s", f.dsn);
		snprintf(r->text, sizeof(r->text), "%s", f.text);
		rcpt_normalize(r);
	} else if (rc == PM_ENOENT) {
		pm_msg_warn("%s: cannot record the status of <%s>: message "
		    "no longer queued", j->queue_id, r->address);
	} else {
		pm_msg_warn("%s: cannot record the status of <%s>: %s",
		    j->queue_id, r->address, pm_strerror(rc));
	}
}

static void
rcpt_log(const agent_job *aj, const pm_job_rcpt *r, int64_t now)
{
	const pm_job *j = &aj->job;
	int64_t start = aj->start_us ? aj->start_us : now;
	pm_log_dlv d = { 0 };

	d.qid = j->queue_id;
	d.to = r->address;
	d.orig_to = r->queued_address;
	d.relay = r->relay[0] != 0 ? r->relay : j->relay;
	d.conn_use = j->conn_use;
	d.delay_us = now - j->arrival_us;
	d.delays_us[0] = j->active_us - j->arrival_us;
	d.delays_us[1] = start - j->active_us;
	d.delays_us[2] = (int64_t) j->conn_ms * 1000;
	d.delays_us[3] = (int64_t) j->xfer_ms * 1000;
	d.dsn = r->dsn;
	d.status = status_name(r->status);
	d.text = r->text;
	pm_log_dlv_info(&d);
}

void
pm__agent_finish(const pm_agent *a, agent_metrics *m, pm_qstore *qs,
    agent_job *aj, pm_buf *out)
{
	pm_job *j = &aj->job;
	Pm__DoneRequest dr = PM__DONE_REQUEST__INIT;
	Pm__RcptResult *res, **resp;
	int64_t now = pm_now_us();
	size_t i, len;
	int recorded, own_sent;

	(void) a;
	if (aj->invalid != NULL) {
		pm_job_set_all(j, PM_JOB_DEFERRED, "4.3.5",
		    "invalid delivery request: %s", aj->invalid);
	}
	j->relay[sizeof(j->relay) - 1] = 0;
	pm_printable(j->relay);
	res = pm_calloc(j->nrcpt > 0 ? j->nrcpt : 1, sizeof(*res));
	resp = pm_calloc(j->nrcpt > 0 ? j->nrcpt : 1, sizeof(*resp));
	for (i = 0; i < j->nrcpt; i++) {
		pm_job_rcpt *r = &j->rcpt[i];

		rcpt_normalize(r);
		own_sent = r->status == PM_JOB_SENT;
		rcpt_record(m, qs, aj, r, &recorded);
		rcpt_log(aj, r, now);
		pm_metric_inc(r->status == PM_JOB_SENT ? m->sent :
		    r->status == PM_JOB_BOUNCED ? m->bounced : m->deferred);
		pm__rcpt_result__init(&res[i]);
		res[i].index = r->index;
		res[i].status = r->status == PM_JOB_SENT ?
		    PM__RCPT_STATUS__RCPT_SENT : r->status == PM_JOB_BOUNCED ?
		    PM__RCPT_STATUS__RCPT_BOUNCED :
		    PM__RCPT_STATUS__RCPT_DEFERRED;
		res[i].dsn = r->dsn;
		res[i].text = r->text;
		res[i].recorded = recorded;
		res[i].dsn_passed = j->dsn_passed && own_sent &&
		    r->status == PM_JOB_SENT;
		resp[i] = &res[i];
	}
	if (aj->start_us != 0) {
		pm_metric_observe(m->seconds, (double) (now - aj->start_us) /
		    1e6);
	}
	dr.job_id = (char *) j->job_id;
	dr.queue_id = (char *) j->queue_id;
	dr.n_results = j->nrcpt;
	dr.results = resp;
	dr.relay = j->relay;
	dr.conn_ms = j->conn_ms;
	dr.xfer_ms = j->xfer_ms;
	dr.dest_failed = j->dest_failed != 0;
	len = pm__done_request__get_packed_size(&dr);
	pm_buf_reset(out);
	{
		char *tmp = pm_malloc(len > 0 ? len : 1);

		pm__done_request__pack(&dr, (uint8_t *) tmp);
		if (pm_buf_append(out, tmp, len) != 0) {
			pm_msg_warn("%s: done report too large", j->queue_id);
		}
		free(tmp);
	}
	free(resp);
	free(res);
}
