/*
 * NAME
 *	smtpd_auth - the AUTH command (RFC 4954): SASL PLAIN and LOGIN
 * DESCRIPTION
 *	With smtpd_sasl_auth_enable = yes, EHLO advertises "AUTH PLAIN
 *	LOGIN" unless smtpd_tls_auth_only = yes and the session is not
 *	(yet) under TLS; AUTH is then answered "538 5.7.11 Encryption
 *	required for requested authentication mechanism", as Postfix does.
 *
 *	AUTH PLAIN [initial-response] and AUTH LOGIN [initial-response]
 *	are decoded here (the 334 dialogue: "334 " for PLAIN, "334
 *	VXNlcm5hbWU6" / "334 UGFzc3dvcmQ6" for LOGIN; "*" cancels with 501)
 *	into a user name and password, which the backend (pm_sasl.h,
 *	smtpd_sasl_type dovecot or crypt) checks on the AUTH thread pool
 *	(smtpd_sasl_threads, never on the event loop, and not on the check
 *	pool: a slow backend must not hold up other clients' connect,
 *	HELO, MAIL and RCPT checks). At most smtpd_sasl_queue_limit AUTHs
 *	wait for an AUTH thread; one more is answered "454 4.7.0 Temporary
 *	authentication failure" at once (counted as tempfail). An authorization identity (PLAIN's first
 *	field) other than the user itself is refused: Postmesh has no proxy
 *	authorization.
 *
 *	Replies and log lines are Postfix's: 235 2.7.0 Authentication
 *	successful; 535 5.7.8 Error: authentication failed: reason (and
 *	"warning: name[addr]: SASL PLAIN authentication failed: reason,
 *	sasl_username=user"); 454 4.7.0 Temporary authentication failure
 *	when the backend is unreachable; 503 5.5.1 after a successful AUTH,
 *	during a mail transaction or before EHLO; 504 5.5.4 for another
 *	mechanism. After success, the client= log line carries
 *	sasl_method= and sasl_username=, permit_sasl_authenticated
 *	applies, and cleanup stores the user name with the message.
 *
 *	Failed AUTHs are rate limited per client address across every
 *	smtpd replica (pm_anvil.h): once smtpd_client_auth_rate_limit
 *	failures were counted within the current anvil_rate_time_unit
 *	window (AUTHs in flight count until they end: check and count are
 *	one step, pm_anvil_take, so parallel connections get no extra
 *	tries; a success or a temporary failure gives its try back), AUTH
 *	is answered "450 4.7.1 Error: too many AUTH commands
 *	from addr" without asking the backend (Postfix counts every AUTH;
 *	counting failures lets a user who typed the password right go on
 *	while a guesser is stopped). 0 turns the limit off. A Redis outage
 *	lets AUTH through (pm_anvil warns once). The check is
 *	smtpd_anvil_rate (smtpd_anvil.h), shared with the other client
 *	limits: clients in smtpd_client_event_limit_exceptions are not
 *	limited (as in Postfix), and a hit counts in
 *	postmesh_smtpd_anvil_limit_hits_total{limit="auth_rate"} too.
 *
 *	SIGHUP (smtpd_auth_reload) opens the backend again from the
 *	current smtpd_sasl_type, smtpd_sasl_path, smtpd_sasl_password_maps,
 *	smtpd_sasl_service and smtpd_sasl_timeout (a crypt file is read
 *	again); checks in flight finish on the old one. A backend that does
 *	not open keeps the old one (logged). smtpd_sasl_auth_enable and the
 *	rate limit take a restart.
 *
 *	postmesh_smtpd_auth_total{outcome="success|failure|tempfail|
 *	ratelimit|protocol"} counts the outcomes; the disconnect line's
 *	auth=ok/total counts AUTH commands.
 * LIMITS
 *	Each response line is bounded by line_length_limit; decoded
 *	responses by PM_SASL_RESP_MAX, user names by PM_SASL_USER_MAX,
 *	passwords by PM_SASL_PASS_MAX; the dialogue by smtpd_timeout per
 *	line; AUTH checks by smtpd_sasl_threads running and
 *	smtpd_sasl_queue_limit waiting; a backend check by smtpd_sasl_timeout (Dovecot) or
 *	redis_timeout (Redis); the rate counters by
 *	smtpd_client_auth_rate_limit per anvil_rate_time_unit.
 * SECURITY
 *	Client responses are untrusted: strictly base64-decoded, user names
 *	without control characters. The password is never logged and is
 *	cleared from memory once checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_sasl.h"
#include "pm_server.h"
#include "pm_snap.h"
#include "smtpd_anvil.h"
#include "smtpd_params.h"
#include "smtpd_session.h"
#include "smtpd_tls.h"

enum {
	AUTH_NONE = 0,
	AUTH_PLAIN_RESP, /* 334 sent, PLAIN response next */
	AUTH_LOGIN_USER, /* 334 Username: sent */
	AUTH_LOGIN_PASS, /* 334 Password: sent */
	AUTH_BUSY,       /* backend check in flight */
};

/* Outcomes (metric labels); RES_* of a check. */
enum {
	OUT_SUCCESS = 0,
	OUT_FAILURE,
	OUT_TEMPFAIL,
	OUT_RATELIMIT,
	OUT_PROTOCOL,
	OUT_COUNT,
};

struct smtpd_auth {
	int step;
	const char *mech; /* "PLAIN" or "LOGIN" */
	char user[PM_SASL_USER_MAX + 1];
	char pass[PM_SASL_PASS_MAX + 1];
	char resp[PM_SASL_RESP_MAX + 1]; /* decoded response */
	int outcome;                     /* OUT_* */
	long long count;                 /* failures counted (rate limit) */
	pm_anvil_slot slot;              /* this attempt, while in flight */
	char reason[256];
};

/* The backend and what a check thread needs besides it. */
typedef struct auth_backend {
	pm_sasl *sa;
	char *service; /* smtpd_sasl_service */
} auth_backend;

static void
backend_free(void *arg)
{
	auth_backend *b = arg;

	pm_sasl_close(b->sa);
	free(b->service);
	free(b);
}

static pm_snap auth_cur = PM_SNAP_INIT(backend_free);
static smtpd_pool *auth_pool;
static pm_metric *auth_m[OUT_COUNT];

static const char *const out_labels[OUT_COUNT] = {
	"success",
	"failure",
	"tempfail",
	"ratelimit",
	"protocol",
};

/* A backend from the current parameters, or NULL and *err. */
static auth_backend *
backend_open(char **err)
{
	auth_backend *b;
	pm_sasl_opts o;
	const char *path;
	pm_sasl *sa;

	memset(&o, 0, sizeof(o));
	o.timeout_ms = (int) var_smtpd_sasl_tmout * 1000;
	o.line_max = (size_t) var_line_limit + 2;
	if (o.line_max < 4096) {
		o.line_max = 4096;
	}
	path = strcmp(var_smtpd_sasl_type, "crypt") == 0 ?
	    var_smtpd_sasl_passwd :
	    var_smtpd_sasl_path;
	if ((sa = pm_sasl_open(var_smtpd_sasl_type, path, &o, err)) == NULL) {
		return (NULL);
	}
	b = pm_calloc(1, sizeof(*b));
	b->sa = sa;
	b->service = pm_strdup(var_smtpd_sasl_service);
	return (b);
}

void
smtpd_auth_reload(void)
{
	auth_backend *b;
	char *err = NULL;

	if (!var_smtpd_sasl_enable) {
		return;
	}
	if ((b = backend_open(&err)) == NULL) {
		pm_msg_error("%s = %s: %s; keeping the previous SASL backend",
		    VAR_SMTPD_SASL_TYPE, var_smtpd_sasl_type, err);
		free(err);
		pm_server_reload_failed();
		return;
	}
	pm_snap_set(&auth_cur, b);
}

void
smtpd_auth_init(void)
{
	auth_backend *b;
	char lab[64];
	char *err = NULL;
	int i;

	for (i = 0; i < OUT_COUNT; i++) {
		snprintf(lab, sizeof(lab), "outcome=\"%s\"", out_labels[i]);
		auth_m[i] = pm_metric_counter("smtpd_auth_total",
		    "AUTH commands by outcome.", lab);
	}
	if (!var_smtpd_sasl_enable) {
		return;
	}
	if ((b = backend_open(&err)) == NULL) {
		pm_msg_fatal("%s = %s: %s", VAR_SMTPD_SASL_TYPE,
		    var_smtpd_sasl_type, err);
	}
	pm_snap_set(&auth_cur, b);
	auth_pool = smtpd_pool_new((int) var_smtpd_sasl_threads,
	    (int) var_smtpd_sasl_qlimit);
}

void
smtpd_auth_stop(void)
{
	smtpd_pool_stop(auth_pool);
	auth_pool = NULL;
}

/* Mandatory TLS implies smtpd_tls_auth_only (Postfix). */
static int
auth_offered(const smtpd_session *s)
{
	return (var_smtpd_sasl_enable &&
	    (s->tls ||
	        (!var_smtpd_tls_auth_only &&
	            smtpd_tls_level != SMTPD_TLS_ENCRYPT)));
}

const char *
smtpd_auth_ehlo(const smtpd_session *s)
{
	return (auth_offered(s) ? "AUTH PLAIN LOGIN\n" : "");
}

void
smtpd_auth_free(smtpd_session *s)
{
	if (s->auth != NULL) {
		explicit_bzero(s->auth, sizeof(*s->auth));
		free(s->auth);
		s->auth = NULL;
	}
	free(s->sasl_method);
	s->sasl_method = NULL;
	free(s->sasl_username);
	s->sasl_username = NULL;
}

/* End the dialogue (the state holds secrets: cleared). */
static void
auth_end(smtpd_session *s)
{
	if (s->auth != NULL) {
		explicit_bzero(s->auth, sizeof(*s->auth));
		free(s->auth);
		s->auth = NULL;
	}
}

void
smtpd_auth_abort(smtpd_session *s)
{
	if (s->auth != NULL && s->auth->step != AUTH_BUSY) {
		pm_metric_inc(auth_m[OUT_PROTOCOL]);
		auth_end(s);
	}
}

static void
auth_protocol_error(smtpd_session *s, int code, const char *dsn,
    const char *text)
{
	pm_metric_inc(auth_m[OUT_PROTOCOL]);
	smtpd_reject_count(REJ_PROTOCOL);
	smtpd_reply(s, code, dsn, "%s", text);
	auth_end(s);
	smtpd_cmd_done(s);
}

/* A 334 challenge: the command goes on with the next line. */
static void
auth_challenge(smtpd_session *s, int step, const char *text)
{
	s->auth->step = step;
	smtpd_reply(s, 334, NULL, "%s", text);
	/* Counted once, when the dialogue ends. */
	s->cmd = -1;
	smtpd_cmd_done(s);
}

/* Work (check thread). */

static void
auth_work(void *arg)
{
	smtpd_session *s = arg;
	struct smtpd_auth *a = s->auth;
	pm_sasl_info info;
	pm_snap_ref *r;
	auth_backend *b;
	int rc;

	/* Redis down: the slot is not held, and AUTH goes on. */
	if (smtpd_anvil_rate(SMTPD_ANVIL_AUTH_RATE, s->addr,
	        var_smtpd_cauth_limit, &a->slot)) {
		a->count = a->slot.count;
		a->outcome = OUT_RATELIMIT;
		goto out;
	}
	if ((r = pm_snap_get(&auth_cur)) == NULL) {
		snprintf(a->reason, sizeof(a->reason), "no SASL backend");
		a->outcome = OUT_TEMPFAIL;
		goto release;
	}
	b = r->obj;
	memset(&info, 0, sizeof(info));
	info.client_addr = s->addr;
	info.service = b->service;
	info.secured = s->tls;
	/* Dovecot's user= replaces the client's name (as in Postfix). */
	info.authname = a->user;
	info.authname_size = sizeof(a->user);
	rc = pm_sasl_verify(b->sa, a->mech, a->user, a->pass, &info, a->reason,
	    sizeof(a->reason));
	pm_snap_put(&auth_cur, r);
	if (rc == PM_SASL_OK) {
		a->outcome = OUT_SUCCESS;
	} else if (rc == PM_SASL_TEMP) {
		a->outcome = OUT_TEMPFAIL;
	} else {
		/* The try taken stays counted. */
		a->outcome = OUT_FAILURE;
		a->count = a->slot.count;
		goto out;
	}
release:
	/* Only failures count. */
	smtpd_anvil_release(&a->slot);
out:
	explicit_bzero(a->pass, sizeof(a->pass));
	explicit_bzero(a->resp, sizeof(a->resp));
}

/* Loop thread: the check is done. */
static void
auth_done(smtpd_session *s)
{
	struct smtpd_auth *a = s->auth;
	char *user = pm_printable_dup(a->user, strlen(a->user), 300);
	char *why = pm_printable_dup(a->reason, strlen(a->reason), 300);

	s->cmd = CMD_AUTH;
	s->where = "AUTH";
	s->cmd_last = 1;
	pm_metric_inc(auth_m[a->outcome]);
	switch (a->outcome) {
	case OUT_SUCCESS:
		s->sasl_method = pm_strdup(a->mech);
		s->sasl_username = pm_strdup(a->user);
		smtpd_reply(s, 235, "2.7.0", "Authentication successful");
		break;
	case OUT_RATELIMIT:
		pm_msg_warn("Authentication command rate limit exceeded: %lld "
		            "from %s for service smtpd",
		    a->count, s->namaddr);
		smtpd_reject_count(REJ_LIMIT);
		smtpd_reply(s, 450, "4.7.1",
		    "Error: too many AUTH commands from %s", s->addr);
		break;
	case OUT_TEMPFAIL:
		pm_msg_warn("%s: SASL %s authentication failed: %s, "
		            "sasl_username=%s",
		    s->namaddr, a->mech, why, user);
		smtpd_reply(s, 454, "4.7.0",
		    "Temporary authentication failure: %s", why);
		break;
	default:
		pm_msg_warn("%s: SASL %s authentication failed: %s, "
		            "sasl_username=%s",
		    s->namaddr, a->mech, why, user);
		smtpd_reply(s, 535, "5.7.8", "Error: authentication failed: %s",
		    why);
		break;
	}
	free(user);
	free(why);
	auth_end(s);
	smtpd_cmd_done(s);
}

static void
auth_submit(smtpd_session *s)
{
	s->auth->step = AUTH_BUSY;
	s->cmd = CMD_AUTH;
	s->where = "AUTH";
	s->cont = auth_done;
	s->phase = PH_BUSY;
	evtimer_del(s->timer);
	s->job.work = auth_work;
	s->job.arg = s;
	s->job.done = s->wake;
	s->job.cancelled = 0;
	if (smtpd_pool_submit(auth_pool, &s->job) != 0) {
		/*
		 * Not queued: answered at once, through the same wake-up
		 * path as a finished check (as smtpd_check_async does when
		 * there is nothing to check).
		 */
		pm_msg_warn("%s: AUTH queue full (%s = %ld, %s = %ld)",
		    s->namaddr, VAR_SMTPD_SASL_THREADS, var_smtpd_sasl_threads,
		    VAR_SMTPD_SASL_QLIMIT, var_smtpd_sasl_qlimit);
		explicit_bzero(s->auth->pass, sizeof(s->auth->pass));
		explicit_bzero(s->auth->resp, sizeof(s->auth->resp));
		snprintf(s->auth->reason, sizeof(s->auth->reason),
		    "server busy");
		s->auth->outcome = OUT_TEMPFAIL;
		event_active(s->wake, 0, 0);
	}
}

/* Decoding. */

/* Base64 of one response into a->resp; -1 after replying 501. */
static int
auth_decode(smtpd_session *s, const char *b64, size_t *n, const char *which)
{
	size_t len = strlen(b64);
	int rc = PM_ETOOBIG;

	if (len <= 4 * ((PM_SASL_RESP_MAX + 2) / 3)) {
		rc = pm_sasl_b64_decode(b64, len,
		    (unsigned char *) s->auth->resp, PM_SASL_RESP_MAX, n);
	}
	if (rc != 0) {
		char text[80];

		snprintf(text, sizeof(text),
		    "Invalid base64 data in %s "
		    "response",
		    which);
		auth_protocol_error(s, 501, "5.5.2", text);
		return (-1);
	}
	s->auth->resp[*n] = 0;
	return (0);
}

/* Bad decoded content (a field with NUL, an empty user): 535. */
static void
auth_bad_data(smtpd_session *s)
{
	pm_msg_warn("%s: SASL %s authentication failed: malformed response",
	    s->namaddr, s->auth->mech);
	pm_metric_inc(auth_m[OUT_FAILURE]);
	smtpd_reply(s, 535, "5.7.8",
	    "Error: authentication failed: malformed response");
	auth_end(s);
	smtpd_cmd_done(s);
}

static void
auth_plain(smtpd_session *s, const char *b64, const char *which)
{
	struct smtpd_auth *a = s->auth;
	const char *z;
	const char *c;
	const char *p;
	size_t n;
	int rc;

	rc = pm_sasl_plain_decode(b64, a->resp, &z, &c, &p);
	if (rc != 0) {
		/* Tell bad base64 (501) from bad content (535). */
		if (auth_decode(s, b64, &n, which) == 0) {
			auth_bad_data(s);
		}
		return;
	}
	if (*z != 0 && strcmp(z, c) != 0) {
		pm_msg_warn("%s: SASL PLAIN authentication failed: "
		            "authorization identity differs from the user",
		    s->namaddr);
		pm_metric_inc(auth_m[OUT_FAILURE]);
		smtpd_reply(s, 535, "5.7.8",
		    "Error: authentication failed: authorization identity "
		    "not permitted");
		auth_end(s);
		smtpd_cmd_done(s);
		return;
	}
	snprintf(a->user, sizeof(a->user), "%s", c);
	snprintf(a->pass, sizeof(a->pass), "%s", p);
	explicit_bzero(a->resp, sizeof(a->resp));
	auth_submit(s);
}

/* LOGIN user or password: decoded into dst; -1 after a reply. */
static int
auth_login_field(smtpd_session *s, const char *b64, char *dst, size_t size,
    int is_user, const char *which)
{
	size_t n;

	if (auth_decode(s, b64, &n, which) != 0) {
		return (-1);
	}
	if (n >= size || memchr(s->auth->resp, 0, n) != NULL ||
	    (is_user && !pm_sasl_user_ok(s->auth->resp, n))) {
		auth_bad_data(s);
		return (-1);
	}
	memcpy(dst, s->auth->resp, n + 1);
	explicit_bzero(s->auth->resp, n);
	return (0);
}

/* The command. */

static void
auth_cmd(smtpd_session *s, const char *arg)
{
	char mech[16];
	const char *init = NULL;
	const char *sp;
	size_t n;

	if (!var_smtpd_sasl_enable) {
		smtpd_reject_count(REJ_PROTOCOL);
		smtpd_reply(s, 503, "5.5.1",
		    "Error: authentication not enabled");
		smtpd_cmd_done(s);
		return;
	}
	if (!s->esmtp) {
		auth_protocol_error(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (!auth_offered(s)) {
		auth_protocol_error(s, 538, "5.7.11",
		    "Encryption required for requested authentication "
		    "mechanism");
		return;
	}
	if (s->sasl_username != NULL) {
		auth_protocol_error(s, 503, "5.5.1",
		    "Error: already authenticated");
		return;
	}
	if (s->sender != NULL) {
		auth_protocol_error(s, 503, "5.5.1",
		    "Error: MAIL transaction in progress");
		return;
	}
	while (*arg == ' ') {
		arg++;
	}
	sp = strchr(arg, ' ');
	n = sp != NULL ? (size_t) (sp - arg) : strlen(arg);
	if (n == 0) {
		auth_protocol_error(s, 501, "5.5.4", "Syntax: AUTH mechanism");
		return;
	}
	if (sp != NULL) {
		init = sp + 1;
		if (*init == 0 || strchr(init, ' ') != NULL) {
			auth_protocol_error(s, 501, "5.5.4",
			    "Syntax: AUTH mechanism [initial-response]");
			return;
		}
	}
	snprintf(mech, sizeof(mech), "%.*s", (int) (n < 15 ? n : 15), arg);
	s->auth = pm_calloc(1, sizeof(*s->auth));
	if (n == 5 && pm_strcaseeq(mech, "PLAIN")) {
		s->auth->mech = "PLAIN";
	} else if (n == 5 && pm_strcaseeq(mech, "LOGIN")) {
		s->auth->mech = "LOGIN";
	} else {
		auth_protocol_error(s, 504, "5.5.4",
		    "Unsupported authentication mechanism");
		return;
	}
	/* "=" is an empty initial response (RFC 4954 4). */
	if (init != NULL && strcmp(init, "=") == 0) {
		init = "";
	}
	if (s->auth->mech[0] == 'P') {
		if (init == NULL) {
			auth_challenge(s, AUTH_PLAIN_RESP, "");
		} else {
			auth_plain(s, init, "initial");
		}
		return;
	}
	if (init == NULL) {
		auth_challenge(s, AUTH_LOGIN_USER, "VXNlcm5hbWU6");
	} else if (auth_login_field(s, init, s->auth->user,
	               sizeof(s->auth->user), 1, "initial") == 0) {
		auth_challenge(s, AUTH_LOGIN_PASS, "UGFzc3dvcmQ6");
	}
}

void
smtpd_auth_cmd(smtpd_session *s, const char *arg)
{
	auth_cmd(s, arg);
	/* The line may hold an initial response: credentials. */
	explicit_bzero(s->line.data, s->line.len);
}

static void
auth_line(smtpd_session *s, char *line, size_t len)
{
	struct smtpd_auth *a = s->auth;

	s->cmd = CMD_AUTH;
	s->where = "AUTH";
	s->cmd_last = 1;
	if (memchr(line, 0, len) != NULL) {
		auth_protocol_error(s, 501, "5.5.2",
		    "Invalid base64 data in continued response");
		return;
	}
	if (strcmp(line, "*") == 0) {
		auth_protocol_error(s, 501, "5.7.0", "Authentication aborted");
		return;
	}
	switch (a->step) {
	case AUTH_PLAIN_RESP:
		auth_plain(s, line, "continued");
		break;
	case AUTH_LOGIN_USER:
		if (auth_login_field(s, line, a->user, sizeof(a->user), 1,
		        "continued") == 0) {
			auth_challenge(s, AUTH_LOGIN_PASS, "UGFzc3dvcmQ6");
		}
		break;
	case AUTH_LOGIN_PASS:
		if (auth_login_field(s, line, a->pass, sizeof(a->pass), 0,
		        "continued") == 0) {
			auth_submit(s);
		}
		break;
	}
}

int
smtpd_auth_line(smtpd_session *s, char *line, size_t len)
{
	struct smtpd_auth *a = s->auth;

	if (a == NULL || a->step == AUTH_NONE || a->step == AUTH_BUSY) {
		return (0);
	}
	auth_line(s, line, len);
	/* A decoded response: credentials, cleared. */
	explicit_bzero(line, len);
	return (1);
}
