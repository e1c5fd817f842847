/*
 * NAME
 *	smtpd_check - smtpd access restrictions (smtpd_*_restrictions)
 * SUMMARY
 *	#include "smtpd_check.h"
 * DESCRIPTION
 *	A thin layer over smtpd_access (smtpd_access.[ch], where the
 *	evaluation logic lives and is unit-tested): it owns the rewrite
 *	service client used to classify addresses, sets the DNS servers
 *	(dns_server), and swaps the parsed configuration on reload while
 *	check threads may still use the old one (reference counted).
 *
 *	smtpd_check_init() is fatal on bad configuration: an unknown
 *	restriction name, a table that does not open, a bad reply code.
 *	(Postfix instead logs a warning and answers every request with
 *	"451 4.3.5 Server configuration error"; failing at start shows the
 *	mistake at once.) smtpd_check_reload() logs the error and keeps the
 *	old configuration.
 * LIMITS
 *	Each rewrite service call waits at most min(ipc_timeout, 10s): the
 *	rewrite service is local and fast, and an SMTP client should get
 *	"451 4.3.0 Temporary lookup failure" rather than wait. Each DNS
 *	lookup waits at most smtpd_dns_timeout.
 * SECURITY
 *	See smtpd_check.h and smtpd_access.h.
 */
#include "smtpd_check.h"

#include "smtpd_access.h"
#include "smtpd_verify.h"
#include "pm_snap.h"
#include "pm_common_params.h"
#include "pm_dns.h"
#include "pm_log.h"
#include "pm_server.h"
#include "pm_util.h"
#include "rewrite_clnt.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SMTPD_CHECK_REWRITE_TMOUT 10 /* seconds, at most */

_Static_assert(SMTPD_CHECK_TEXT_MAX == PM_ACCESS_TEXT_MAX,
    "smtpd_check and pm_access reply text sizes differ");

static void
check_free(void *a)
{
	pm_access_free(a);
}

static pm_snap check_cur = PM_SNAP_INIT(check_free);
static pm_rewrite_clnt *check_rewrite;

static int
check_resolve(void *arg, const char *address, int check_known, pm_resolved *out)
{
	/* Postfix's smtpd resolves in the "local" context as well. */
	return (pm_rewrite_resolve(arg, address, "local", check_known, out));
}

static pm_access *
check_build(char **err)
{
	pm_access *a;

	if (pm_dns_set_servers(var_dns_server ? var_dns_server : "") != 0) {
		*err = pm_asprintf("%s: malformed server list \"%s\"",
		    VAR_DNS_SERVER, var_dns_server);
		return (NULL);
	}
	if ((a = pm_access_new(check_resolve, check_rewrite, err)) != NULL) {
		pm_access_set_verify(a, smtpd_verify_cache(),
		    smtpd_verify_probe, NULL);
	}
	return (a);
}

void
smtpd_check_init(void)
{
	long secs = var_ipc_timeout;
	pm_access *a;
	char *err = NULL;

	if (secs <= 0 || secs > SMTPD_CHECK_REWRITE_TMOUT) {
		secs = SMTPD_CHECK_REWRITE_TMOUT;
	}
	if (check_rewrite == NULL) {
		check_rewrite =
		    pm_rewrite_clnt_new(var_rewrite_service, (int) secs * 1000);
		if (check_rewrite == NULL) {
			pm_msg_fatal("%s: cannot use \"%s\"",
			    VAR_REWRITE_SERVICE, var_rewrite_service);
		}
	}
	smtpd_verify_init();
	if ((a = check_build(&err)) == NULL) {
		pm_msg_fatal("%s", err);
	}
	pm_snap_set(&check_cur, a);
}

void
smtpd_check_reload(void)
{
	pm_access *a;
	char *err = NULL;

	if ((a = check_build(&err)) == NULL) {
		pm_msg_error("%s; keeping the previous restrictions", err);
		free(err);
		pm_server_reload_failed();
		return;
	}
	pm_snap_set(&check_cur, a);
}

static void
check_run(int stage, const smtpd_check_state *st, smtpd_check_result *res)
{
	pm_access_state ast;
	pm_access_result ares;
	pm_snap_ref *r;

	memset(res, 0, sizeof(*res));
	if ((r = pm_snap_get(&check_cur)) == NULL) {
		pm_msg_warn("smtpd_check: called before smtpd_check_init");
		res->code = 451;
		strcpy(res->dsn, "4.3.5");
		strcpy(res->text, "Server configuration error");
		return;
	}
	ast.client_addr = st->client_addr;
	ast.client_name = st->client_name;
	ast.helo = st->helo;
	ast.sender = st->sender;
	ast.recipient = st->recipient;
	ast.sasl_authenticated = st->sasl_authenticated;
	ast.sasl_username = st->sasl_username;
	ast.queue_id = st->queue_id;
	ast.protocol = st->protocol;
	ast.client_port = st->client_port;
	ast.sasl_method = st->sasl_method;
	ast.sasl_sender = st->sasl_sender;
	ast.tls_summary = st->tls_summary;
	ast.rcpt_count = st->rcpt_count;
	pm_access_check((pm_access *) r->obj, stage, &ast, &ares);
	pm_snap_put(&check_cur, r);
	res->code = ares.code;
	memcpy(res->dsn, ares.dsn, sizeof(res->dsn));
	memcpy(res->text, ares.text, sizeof(res->text));
	res->discard = ares.discard;
	res->hold = ares.hold;
}

void
smtpd_check_connect(const smtpd_check_state *st, smtpd_check_result *res)
{
	check_run(PM_ACCESS_CONNECT, st, res);
}

void
smtpd_check_helo(const smtpd_check_state *st, smtpd_check_result *res)
{
	check_run(PM_ACCESS_HELO, st, res);
}

void
smtpd_check_mail(const smtpd_check_state *st, smtpd_check_result *res)
{
	check_run(PM_ACCESS_MAIL, st, res);
}

void
smtpd_check_rcpt(const smtpd_check_state *st, smtpd_check_result *res)
{
	check_run(PM_ACCESS_RCPT, st, res);
}

void
smtpd_check_data(const smtpd_check_state *st, smtpd_check_result *res)
{
	check_run(PM_ACCESS_DATA, st, res);
}

int
smtpd_check_idle(void (*fn)(const smtpd_check_state *, smtpd_check_result *))
{
	pm_snap_ref *r;
	int stage, idle;

	/*
	 * The connect stage always takes the pool round trip: the greeting
	 * then goes out a little later, and a client that talks before it
	 * (smtpd_forbid_unauth_pipelining) is caught reliably rather than
	 * by the luck of timing. It happens once per session.
	 */
	if (fn == smtpd_check_helo) {
		stage = PM_ACCESS_HELO;
	} else if (fn == smtpd_check_mail) {
		stage = PM_ACCESS_MAIL;
	} else if (fn == smtpd_check_data) {
		stage = PM_ACCESS_DATA;
	} else {
		return (0);
	}
	if ((r = pm_snap_get(&check_cur)) == NULL) {
		return (0);
	}
	idle = pm_access_stage_idle((pm_access *) r->obj, stage);
	pm_snap_put(&check_cur, r);
	return (idle);
}

int
smtpd_check_mynetworks(const char *client_addr)
{
	pm_snap_ref *r;
	int match;

	if ((r = pm_snap_get(&check_cur)) == NULL) {
		return (0);
	}
	match = pm_access_mynetworks((pm_access *) r->obj, client_addr);
	pm_snap_put(&check_cur, r);
	return (match);
}
