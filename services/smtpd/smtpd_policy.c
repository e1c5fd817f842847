/*
 * NAME
 *	smtpd_policy - check_policy_service: Postfix's policy delegation
 * DESCRIPTION
 *	"check_policy_service inet:host:port" (or "unix:/path") in an
 *	smtpd restriction list sends the policy server one request in
 *	Postfix's SMTPD_POLICY_README protocol: "name=value" lines
 *	(request=smtpd_access_policy, protocol_state, protocol_name,
 *	helo_name, queue_id, sender, recipient, recipient_count,
 *	client_address, client_name, reverse_client_name, client_port,
 *	instance, sasl_method, sasl_username, sasl_sender, size,
 *	encryption_protocol, encryption_cipher, encryption_keysize,
 *	ccert_*, etrn_domain, stress, policy_context, ...) ended by an
 *	empty line, and reads "action=..." plus an empty line. The action
 *	is applied as an access(5) table result (pm__access_table_result:
 *	OK, DUNNO, REJECT text, DEFER text, DEFER_IF_PERMIT, 4xx/5xx text,
 *	HOLD, DISCARD, INFO, WARN, restriction names; PREPEND, FILTER,
 *	REDIRECT, BCC and HANGUP are logged and ignored). The instance
 *	attribute is the queue id (the same for every recipient of one
 *	message); attributes smtpd does not know are sent empty.
 *
 *	Connections are kept per check thread and reused for the next
 *	request to the same server, until smtpd_policy_service_max_idle
 *	(idle), smtpd_policy_service_max_ttl (age) or
 *	smtpd_policy_service_request_limit (requests; 0: no limit) says
 *	to close them (checked when the connection is next wanted). A
 *	reused connection that fails is retried once on a new one. A
 *	server that cannot be reached, does not answer within
 *	smtpd_policy_service_timeout, or answers something malformed gets
 *	"warning: problem talking to server host:port: reason" and
 *	smtpd_policy_service_default_action is applied instead.
 * LIMITS
 *	A request is at most POLICY_REQUEST_MAX bytes (long values are
 *	cut), a reply line POLICY_LINE_MAX bytes, a reply POLICY_ATTR_MAX
 *	attributes; POLICY_CONN_MAX connections per thread; every
 *	connect, write and read shares one smtpd_policy_service_timeout.
 * SECURITY
 *	Values sent come from the client (syntax-checked by smtpd) and
 *	are made printable, so no value can end a line early. The reply
 *	comes from a server the operator named, yet is parsed with every
 *	limit above; its text is made printable before it is logged or
 *	sent to the client.
 */
#include "smtpd_access.h"
#include "smtpd_access_priv.h"
#include "pm_cfg.h"
#include "pm_log.h"
#include "pm_metrics.h"
#include "pm_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define POLICY_REQUEST_MAX 32768 /* > 28 attributes * POLICY_VALUE_MAX */
#define POLICY_VALUE_MAX 1024
#define POLICY_LINE_MAX 2048
#define POLICY_ATTR_MAX 100
#define POLICY_CONN_MAX 8
#define POLICY_ENDPOINT_MAX 256

struct smtpd_policy {
	char endpoint[POLICY_ENDPOINT_MAX]; /* as written after "inet:" */
	int is_unix;
	char host[POLICY_ENDPOINT_MAX];
	char port[16];
	long timeout_ms;
	long max_idle_ms;
	long max_ttl_ms;
	long request_limit;
	char *default_action;
};

/* One kept connection of a check thread. */
typedef struct policy_conn {
	char endpoint[POLICY_ENDPOINT_MAX + 8];
	int fd; /* -1: free slot */
	int64_t born_ms;
	int64_t used_ms;
	long requests;
	char buf[POLICY_LINE_MAX + 1]; /* read-ahead */
	size_t len;
} policy_conn;

static __thread policy_conn policy_conns[POLICY_CONN_MAX];
static __thread int policy_conns_init;

/* postmesh_smtpd_policy_requests_total{outcome=...} */
enum { OUT_DUNNO, OUT_OK, OUT_REJECT, OUT_DEFER, OUT_OTHER, OUT_ERROR, OUT_N };
static const char *const policy_outcomes[OUT_N] = { "dunno", "ok", "reject",
	"defer", "other", "error" };
static pm_metric *policy_metrics[OUT_N];
static pthread_once_t policy_metrics_once = PTHREAD_ONCE_INIT;

static void
policy_metrics_init(void)
{
	char labels[64];
	int i;

	for (i = 0; i < OUT_N; i++) {
		snprintf(labels, sizeof(labels), "outcome=\"%s\"",
		    policy_outcomes[i]);
		policy_metrics[i] =
		    pm_metric_counter("smtpd_policy_requests_total",
		        "check_policy_service requests by outcome (error: the "
		        "default action was applied)",
		        labels);
	}
}

static long
policy_time_param(const char *name, long min, long max, char **err)
{
	char *v = pm_cfg_get(name);
	long secs = -1;

	if (v == NULL || pm_cfg_parse_time(pm_trim(v), 's', &secs) != 0 ||
	    secs < min || secs > max) {
		*err = pm_asprintf("%s: bad time \"%s\" (want %lds..%lds)",
		    name, v ? v : "", min, max);
		secs = -1;
	}
	free(v);
	return (secs);
}

int
pm__access_policy_parse(pm__restr *r, const pm_access *a, const char *arg,
    char **err)
{
	struct smtpd_policy *p = pm_calloc(1, sizeof(*p));
	const char *spec = arg;
	const char *colon;
	char *v;
	long n;

	(void) a;
	pthread_once(&policy_metrics_once, policy_metrics_init);
	if (strlen(arg) >= sizeof(p->endpoint)) {
		*err = pm_asprintf("%s: endpoint too long", r->name);
		goto fail;
	}
	snprintf(p->endpoint, sizeof(p->endpoint), "%s", arg);
	if (strncmp(spec, "unix:", 5) == 0) {
		p->is_unix = 1;
		snprintf(p->host, sizeof(p->host), "%s", spec + 5);
		if (p->host[0] != '/' ||
		    strlen(p->host) >=
		        sizeof(((struct sockaddr_un *) 0)->sun_path)) {
			*err = pm_asprintf("%s: want unix:/absolute/path",
			    r->name);
			goto fail;
		}
	} else {
		if (strncmp(spec, "inet:", 5) == 0) {
			spec += 5;
		}
		if ((colon = strrchr(spec, ':')) == NULL || colon == spec ||
		    colon[1] == '\0' || strlen(colon + 1) >= sizeof(p->port)) {
			*err = pm_asprintf("%s: want inet:host:port or "
			                   "unix:/path",
			    r->name);
			goto fail;
		}
		snprintf(p->host, sizeof(p->host), "%.*s", (int) (colon - spec),
		    spec);
		snprintf(p->port, sizeof(p->port), "%s", colon + 1);
		/* [v6addr]:port */
		if (p->host[0] == '[' && p->host[strlen(p->host) - 1] == ']') {
			memmove(p->host, p->host + 1, strlen(p->host) - 2);
			p->host[strlen(p->host) - 2] = '\0';
		}
	}
	if ((n = policy_time_param("smtpd_policy_service_timeout", 1, 3600,
	         err)) < 0) {
		goto fail;
	}
	p->timeout_ms = n * 1000;
	if ((n = policy_time_param("smtpd_policy_service_max_idle", 1, 86400,
	         err)) < 0) {
		goto fail;
	}
	p->max_idle_ms = n * 1000;
	if ((n = policy_time_param("smtpd_policy_service_max_ttl", 1, 86400,
	         err)) < 0) {
		goto fail;
	}
	p->max_ttl_ms = n * 1000;
	v = pm_cfg_get("smtpd_policy_service_request_limit");
	if (v == NULL || pm_cfg_parse_long(pm_trim(v), &n) != 0 || n < 0 ||
	    n > 1000000000) {
		*err = pm_asprintf("smtpd_policy_service_request_limit: bad "
		                   "number \"%s\"",
		    v ? v : "");
		free(v);
		goto fail;
	}
	free(v);
	p->request_limit = n;
	v = pm_cfg_get("smtpd_policy_service_default_action");
	p->default_action = pm_cfg_expand(v ? pm_trim(v) : "");
	free(v);
	if (p->default_action[0] == '\0') {
		*err = pm_strdup("smtpd_policy_service_default_action: empty");
		free(p->default_action);
		goto fail;
	}
	r->policy = p;
	return (0);
fail:
	free(p);
	return (PM_EINVAL);
}

void
pm__access_policy_free(pm__restr *r)
{
	if (r->policy != NULL) {
		free(r->policy->default_action);
		free(r->policy);
		r->policy = NULL;
	}
}

static void
policy_close(policy_conn *pc)
{
	if (pc->fd >= 0) {
		close(pc->fd);
	}
	pc->fd = -1;
	pc->len = 0;
	pc->endpoint[0] = '\0';
}

/* Wait for fd to be ready for ev until deadline: 0, or PM_ETIMEDOUT. */
static int
policy_wait(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int rc;

	for (;;) {
		if ((left = deadline - pm_mono_ms()) <= 0) {
			return (PM_ETIMEDOUT);
		}
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int) (left > 1000000 ? 1000000 : left));
		if (rc > 0) {
			return (0);
		}
		if (rc < 0 && errno != EINTR) {
			return (PM_EIO);
		}
	}
}

/* A new connection: fd >= 0, or -1 with *why set. */
static int
policy_connect(const struct smtpd_policy *p, int64_t deadline, const char **why)
{
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	struct addrinfo *ai;
	struct sockaddr_un sun;
	socklen_t elen = sizeof(int);
	int err = ECONNREFUSED;
	int fd = -1;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (p->is_unix) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, p->host, strlen(p->host));
	} else if ((rc = getaddrinfo(p->host, p->port, &hints, &res)) != 0) {
		*why = gai_strerror(rc);
		return (-1);
	}
	for (ai = res; p->is_unix || ai != NULL; ai = ai ? ai->ai_next : NULL) {
		fd = socket(p->is_unix ? AF_UNIX : ai->ai_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
		} else if (connect(fd,
		               p->is_unix ? (struct sockaddr *) &sun :
		                            ai->ai_addr,
		               p->is_unix ? (socklen_t) sizeof(sun) :
		                            ai->ai_addrlen) == 0) {
			break;
		} else if (errno != EINPROGRESS) {
			err = errno;
		} else if (policy_wait(fd, POLLOUT, deadline) != 0) {
			err = ETIMEDOUT;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) ==
		        0 &&
		    err == 0) {
			break;
		}
		if (fd >= 0) {
			close(fd);
			fd = -1;
		}
		if (p->is_unix || err == ETIMEDOUT) {
			break;
		}
	}
	if (res != NULL) {
		freeaddrinfo(res);
	}
	if (fd < 0) {
		*why = strerror(err);
	}
	return (fd);
}

/* The thread's connection for p (reused or new), or NULL with *why. */
static policy_conn *
policy_get(const struct smtpd_policy *p, int64_t deadline, int *reused,
    const char **why)
{
	policy_conn *pc = NULL;
	policy_conn *oldest = NULL;
	struct pollfd pfd;
	int64_t now = pm_mono_ms();
	int i;

	if (!policy_conns_init) {
		for (i = 0; i < POLICY_CONN_MAX; i++) {
			policy_conns[i].fd = -1;
		}
		policy_conns_init = 1;
	}
	*reused = 0;
	for (i = 0; i < POLICY_CONN_MAX; i++) {
		policy_conn *c = &policy_conns[i];

		if (c->fd >= 0 && strcmp(c->endpoint, p->endpoint) == 0) {
			pc = c;
			break;
		}
		if (c->fd < 0 && oldest == NULL) {
			oldest = c;
		}
	}
	if (pc != NULL) {
		pfd.fd = pc->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* Readable while idle: closed by the server (or junk). */
		if (now - pc->used_ms > p->max_idle_ms ||
		    now - pc->born_ms > p->max_ttl_ms ||
		    (p->request_limit > 0 &&
		        pc->requests >= p->request_limit) ||
		    poll(&pfd, 1, 0) != 0 || pc->len > 0) {
			policy_close(pc);
		} else {
			*reused = 1;
			return (pc);
		}
	}
	if (pc == NULL) {
		pc = oldest;
	}
	if (pc == NULL) {
		/* All slots busy with other servers: the least recently used. */
		pc = &policy_conns[0];
		for (i = 1; i < POLICY_CONN_MAX; i++) {
			if (policy_conns[i].used_ms < pc->used_ms) {
				pc = &policy_conns[i];
			}
		}
		policy_close(pc);
	}
	if ((pc->fd = policy_connect(p, deadline, why)) < 0) {
		return (NULL);
	}
	snprintf(pc->endpoint, sizeof(pc->endpoint), "%s", p->endpoint);
	pc->born_ms = pc->used_ms = now;
	pc->requests = 0;
	pc->len = 0;
	return (pc);
}

static int
policy_write(policy_conn *pc, const char *data, size_t len, int64_t deadline)
{
	ssize_t n;

	while (len > 0) {
		n = send(pc->fd, data, len, MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			len -= (size_t) n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (policy_wait(pc->fd, POLLOUT, deadline) != 0) {
				return (PM_ETIMEDOUT);
			}
			continue;
		}
		return (PM_EIO);
	}
	return (0);
}

/* One reply line into line (without the newline). 0 or PM_E*. */
static int
policy_read_line(policy_conn *pc, char *line, size_t size, int64_t deadline)
{
	char *nl;
	size_t n;
	ssize_t got;
	int rc;

	for (;;) {
		if ((nl = memchr(pc->buf, '\n', pc->len)) != NULL) {
			n = (size_t) (nl - pc->buf);
			if (n >= size) {
				return (PM_ETOOBIG);
			}
			memcpy(line, pc->buf, n);
			line[n] = '\0';
			if (n > 0 && line[n - 1] == '\r') {
				line[n - 1] = '\0';
			}
			memmove(pc->buf, nl + 1, pc->len - n - 1);
			pc->len -= n + 1;
			return (0);
		}
		if (pc->len >= POLICY_LINE_MAX) {
			return (PM_ETOOBIG);
		}
		got = recv(pc->fd, pc->buf + pc->len, POLICY_LINE_MAX - pc->len,
		    0);
		if (got > 0) {
			pc->len += (size_t) got;
			continue;
		}
		if (got == 0) {
			return (PM_ECLOSED);
		}
		if (errno == EINTR) {
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			return (PM_EIO);
		}
		if ((rc = policy_wait(pc->fd, POLLIN, deadline)) != 0) {
			return (rc);
		}
	}
}

static void
policy_attr(pm_buf *b, const char *name, const char *value)
{
	char *v = pm_printable_dup(value ? value : "",
	    strlen(value ? value : ""), POLICY_VALUE_MAX);

	pm_buf_printf(b, "%s=%s\n", name, v);
	free(v);
}

/* "TLSv1.3 with cipher NAME (256/256 bits)" -> protocol, cipher, bits. */
void
pm__policy_tls(const char *sum, char *proto, size_t proto_size, char *cipher,
    size_t cipher_size, char *bits, size_t bits_size)
{
	const char *p;

	proto[0] = cipher[0] = bits[0] = '\0';
	if (sum == NULL) {
		return;
	}
	snprintf(proto, proto_size, "%.*s", (int) strcspn(sum, " "), sum);
	if ((p = strstr(sum, " with cipher ")) != NULL) {
		p += strlen(" with cipher ");
		snprintf(cipher, cipher_size, "%.*s", (int) strcspn(p, " "), p);
		if ((p = strchr(p, '(')) != NULL) {
			snprintf(bits, bits_size, "%.*s",
			    (int) strcspn(p + 1, "/)"), p + 1);
		}
	}
}

static void
policy_request(pm_buf *b, const pm__actx *c)
{
	const pm_access_state *st = c->st;
	char proto[64];
	char cipher[128];
	char bits[16];
	char count[16];

	pm__policy_tls(st->tls_summary, proto, sizeof(proto), cipher,
	    sizeof(cipher), bits, sizeof(bits));
	snprintf(count, sizeof(count), "%u", st->rcpt_count);
	policy_attr(b, "request", "smtpd_access_policy");
	policy_attr(b, "protocol_state", pm__access_stage_name(c->stage));
	policy_attr(b, "protocol_name", st->protocol ? st->protocol : "SMTP");
	policy_attr(b, "helo_name", st->helo);
	policy_attr(b, "queue_id", st->queue_id);
	policy_attr(b, "sender", st->sender);
	policy_attr(b, "recipient", st->recipient);
	policy_attr(b, "recipient_count", count);
	policy_attr(b, "client_address", st->client_addr);
	policy_attr(b, "client_name", st->client_name);
	policy_attr(b, "client_port", st->client_port);
	policy_attr(b, "reverse_client_name", st->client_name);
	policy_attr(b, "instance", st->queue_id);
	policy_attr(b, "sasl_method", st->sasl_method);
	policy_attr(b, "sasl_username", st->sasl_username);
	policy_attr(b, "sasl_sender", st->sasl_sender);
	policy_attr(b, "size", "0");
	policy_attr(b, "ccert_subject", "");
	policy_attr(b, "ccert_issuer", "");
	policy_attr(b, "ccert_fingerprint", "");
	policy_attr(b, "ccert_pubkey_fingerprint", "");
	policy_attr(b, "encryption_protocol", proto);
	policy_attr(b, "encryption_cipher", cipher);
	policy_attr(b, "encryption_keysize", bits[0] ? bits : "0");
	policy_attr(b, "etrn_domain", "");
	policy_attr(b, "stress", "");
	policy_attr(b, "policy_context", "");
	pm_buf_puts(b, "\n");
}

/*
 * One exchange on one connection: 0 with *action (new string), or PM_E*
 * with *why.
 */
static int
policy_exchange(policy_conn *pc, const pm_buf *req, int64_t deadline,
    char **action, const char **why)
{
	char line[POLICY_LINE_MAX + 1];
	char *act = NULL;
	int nattr = 0;
	int rc;

	if ((rc = policy_write(pc, req->data, req->len, deadline)) != 0) {
		*why =
		    rc == PM_ETIMEDOUT ? "Connection timed out" : "write error";
		return (rc);
	}
	for (;;) {
		if ((rc = policy_read_line(pc, line, sizeof(line), deadline)) !=
		    0) {
			*why = rc == PM_ETIMEDOUT ? "Connection timed out" :
			    rc == PM_ETOOBIG      ? "reply line too long" :
			    rc == PM_ECLOSED ? "Connection closed by server" :
			                       "read error";
			break;
		}
		if (line[0] == '\0') {
			break;
		}
		if (++nattr > POLICY_ATTR_MAX) {
			*why = "too many reply attributes";
			rc = PM_ETOOBIG;
			break;
		}
		if (strchr(line, '=') == NULL) {
			*why = "malformed reply attribute";
			rc = PM_EPROTO;
			break;
		}
		if (strncmp(line, "action=", 7) == 0 && act == NULL) {
			act = pm_strdup(pm_trim(line + 7));
		}
	}
	if (rc == 0 && (act == NULL || act[0] == '\0')) {
		*why = "missing action attribute";
		rc = PM_EPROTO;
	}
	if (rc != 0) {
		free(act);
		return (rc);
	}
	*action = act;
	return (0);
}

static int
policy_outcome(const char *action)
{
	size_t n = strcspn(action, " \t");

	if (n == 5 && pm_strncaseeq(action, "DUNNO", 5)) {
		return (OUT_DUNNO);
	}
	if ((n == 2 && pm_strncaseeq(action, "OK", 2)) ||
	    (n == 6 && pm_strncaseeq(action, "PERMIT", 6))) {
		return (OUT_OK);
	}
	if ((n == 6 && pm_strncaseeq(action, "REJECT", 6)) ||
	    action[0] == '5') {
		return (OUT_REJECT);
	}
	if (pm_strncaseeq(action, "DEFER", 5) || action[0] == '4') {
		return (OUT_DEFER);
	}
	return (OUT_OTHER);
}

int
pm__access_policy(pm__actx *c, const pm__restr *r, int kind)
{
	const struct smtpd_policy *p = r->policy;
	const char *rname;
	const char *rcls;
	const char *why = "unknown error";
	policy_conn *pc;
	pm_buf req;
	char *action = NULL;
	char *t;
	int64_t deadline;
	int reused;
	int attempt;
	int rc = PM_EIO;

	if (p == NULL) {
		return (PM__DUNNO);
	}
	pm__access_kind(c, kind, &rname, &rcls);
	pm_buf_init(&req, POLICY_REQUEST_MAX);
	policy_request(&req, c);
	deadline = pm_mono_ms() + p->timeout_ms;
	for (attempt = 0; attempt < 2; attempt++) {
		if ((pc = policy_get(p, deadline, &reused, &why)) == NULL) {
			rc = PM_ECONNREFUSED;
			break;
		}
		rc = policy_exchange(pc, &req, deadline, &action, &why);
		if (rc == 0) {
			pc->used_ms = pm_mono_ms();
			pc->requests++;
			break;
		}
		policy_close(pc);
		/* Only a kept connection that went stale earns a retry. */
		if (!reused || rc == PM_ETIMEDOUT || rc == PM_ETOOBIG ||
		    rc == PM_EPROTO) {
			break;
		}
	}
	pm_buf_free(&req);
	if (rc != 0) {
		pm_msg_warn("problem talking to server %s: %s",
		    strncmp(p->endpoint, "inet:", 5) == 0 ? p->endpoint + 5 :
		                                            p->endpoint,
		    why);
		pm_metric_inc(policy_metrics[OUT_ERROR]);
		return (pm__access_table_result(c, r->name, p->default_action,
		    rname, rcls, kind));
	}
	t = pm_printable(action);
	pm_metric_inc(policy_metrics[policy_outcome(t)]);
	rc = pm__access_table_result(c, r->name, t, rname, rcls, kind);
	free(action);
	return (rc);
}
