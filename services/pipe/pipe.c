/*
 * NAME
 *	pipe - Postmesh pipe delivery agent
 * SUMMARY
 *	pipe [-c config_dir] [-o name=value] [-v]
 *	pipe -o pipe_transport=myfilter \
 *	    -o "pipe_argv=/usr/bin/filter -f ${sender} -- ${recipient}" \
 *	    -o pipe_flags=FRq -o pipe_user=nobody
 * DESCRIPTION
 *	Postfix's pipe(8) as a pm_agent. Postmesh has no master.cf: one
 *	pipe instance serves ONE transport (pipe_transport) and takes the
 *	master.cf arguments as parameters (pipe_params.h). For each job
 *	(the recipients qmgr groups, at most
 *	<transport>_destination_recipient_limit) it runs the command once
 *	(pm_command: execve of the expanded argument vector, never a
 *	shell) as pipe_user, with the message on stdin (pipe_stream: the
 *	F R O D lines, the . > B quoting, eol), and every recipient of the
 *	job gets the command's outcome: exit 0 "delivered via <transport>
 *	service (<output>)", else the sysexits.h mapping with the output
 *	as the diagnostic (EX_TEMPFAIL defers, EX_NOUSER bounces 5.1.1,
 *	the time limit defers "Command time limit exceeded" ...).
 *	Before running: a message over pipe_size_limit bounces 5.2.3
 *	"message too large"; with flag D, a message that already has
 *	"Delivered-To: <recipient>" bounces 5.4.6 "mail forwarding loop";
 *	flags D and O need one recipient per job (else 4.3.5, as Postfix).
 *	An address verification probe (PM_MSG_PROBE) is checked against
 *	the size limit only; the command is not run and every recipient
 *	is "delivers to command: <argv[0]>" (Postfix's verify mode).
 *	relay=<transport> in the log. pm_agent does the rest (fetching,
 *	status in Redis, logging, metrics postmesh_pipe_*).
 * LIMITS
 *	pipe_delivery_slots commands at once; pipe_time_limit per command;
 *	pipe_output_limit bytes of output kept; see pipe_argv.h and
 *	pm_command.h.
 * SECURITY
 *	Configuration is trusted (checked at start: an absolute command,
 *	known macros and flags, a pipe_user that is not root); the job is
 *	not: addresses become literal arguments, the content goes to
 *	stdin only. The command runs without privileges, in its own
 *	process group, with only export_environment.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipe_argv.h"
#include "pipe_params.h"
#include "pipe_stream.h"
#include "pm_agent.h"
#include "pm_cfg.h"
#include "pm_command.h"
#include "pm_log.h"
#include "pm_msgflags.h"
#include "pm_server.h"

char *var_pipe_metrics;
long var_pipe_slots;
char *var_pipe_transport;
char *var_pipe_argv;
char *var_pipe_flags;
char *var_pipe_user;
long var_pipe_size_limit;
long var_pipe_time_limit;
char *var_pipe_eol;
char *var_pipe_null_sender;
char *var_pipe_directory;
long var_pipe_output_limit;
char *var_export_environ;

static struct {
	pipe_argv *argv;
	unsigned flags;
	uid_t uid;
	gid_t gid;
	char *eol;
	char *delim; /* recipient_delimiter */
	char **envp;
} pp;

/* "\n", "\r\n": C-style escapes of eol= */
static char *
pipe_unescape(const char *s)
{
	char *out = pm_malloc(strlen(s) + 1), *o = out;

	for (; *s != 0; s++) {
		if (*s == '\\' && s[1] != 0) {
			s++;
			*o++ = *s == 'n' ? '\n' :
			    *s == 'r'    ? '\r' :
			    *s == 't'    ? '\t' :
			                   *s;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
	return (out);
}

/* user=name[:group], or numeric ids (containers without passwd). */
static void
pipe_user_init(void)
{
	char *spec = pm_strdup(var_pipe_user), *group, *end;
	struct passwd *pw;
	struct group *gr;
	long v;

	if (*spec == 0) {
		pm_msg_fatal("%s is required (user= of Postfix's pipe): the "
		             "command never runs as the agent's user",
		    VAR_PIPE_USER);
	}
	if ((group = strchr(spec, ':')) != NULL) {
		*group++ = 0;
	}
	if ((pw = getpwnam(spec)) != NULL) {
		pp.uid = pw->pw_uid;
		pp.gid = pw->pw_gid;
	} else if ((v = strtol(spec, &end, 10)) >= 0 && *end == 0 &&
	    end != spec) {
		pp.uid = (uid_t) v;
		pp.gid = (gid_t) v;
	} else {
		pm_msg_fatal("%s: unknown user \"%s\"", VAR_PIPE_USER, spec);
	}
	if (group != NULL) {
		if ((gr = getgrnam(group)) != NULL) {
			pp.gid = gr->gr_gid;
		} else if ((v = strtol(group, &end, 10)) >= 0 && *end == 0 &&
		    end != group) {
			pp.gid = (gid_t) v;
		} else {
			pm_msg_fatal("%s: unknown group \"%s\"", VAR_PIPE_USER,
			    group);
		}
	}
	if (pp.uid == 0 || pp.gid == 0) {
		pm_msg_fatal("%s: \"%s\" has root privileges: refused",
		    VAR_PIPE_USER, var_pipe_user);
	}
	free(spec);
}

/* export_environment: names (value from here) or name=value. */
static void
pipe_env_init(void)
{
	char *list = pm_strdup(var_export_environ), *tok, *save = NULL;
	const char *val;
	size_t n = 0;

	pp.envp = pm_calloc(PM_COMMAND_MAX_ENV + 1, sizeof(*pp.envp));
	for (tok = strtok_r(list, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save)) {
		if (n == PM_COMMAND_MAX_ENV) {
			pm_msg_fatal("%s: more than %d names",
			    VAR_EXPORT_ENVIRON, PM_COMMAND_MAX_ENV);
		}
		if (strchr(tok, '=') != NULL) {
			pp.envp[n++] = pm_strdup(tok);
		} else if ((val = getenv(tok)) != NULL) {
			pp.envp[n++] = pm_asprintf("%s=%s", tok, val);
		}
	}
	free(list);
}

static int
pipe_init(void)
{
	char *err = NULL, bad = 0;

	if (pipe_argv_parse(var_pipe_argv, &pp.argv, &err) != 0) {
		pm_msg_fatal("%s: %s", VAR_PIPE_ARGV, err);
	}
	if (pipe_flags_parse(var_pipe_flags, &pp.flags, &bad) != 0) {
		pm_msg_fatal("%s: unknown flag \"%c\"", VAR_PIPE_FLAGS, bad);
	}
	if (*var_pipe_transport == 0 ||
	    strlen(var_pipe_transport) >= PM_QMGR_TRANSPORT_MAX) {
		pm_msg_fatal("%s: bad transport name \"%s\"",
		    VAR_PIPE_TRANSPORT, var_pipe_transport);
	}
	pipe_user_init();
	pipe_env_init();
	pp.eol = pipe_unescape(var_pipe_eol);
	pp.delim = pm_cfg_get("recipient_delimiter");
	if (pp.delim == NULL) {
		pp.delim = pm_strdup("");
	}
	pm_msg_info("transport %s: command %s, user %ld:%ld, flags \"%s\"",
	    var_pipe_transport, pipe_argv_elem(pp.argv, 0), (long) pp.uid,
	    (long) pp.gid, var_pipe_flags);
	return (0);
}

/*
 * The envelope fields of the client macros, read with the body (one
 * Redis read per job): the order of pipe_env_set().
 */
static const char *const pipe_env_names[] = {
	"client_addr",
	"client_name",
	"client_port",
	"protocol",
	"helo",
	"sasl_method",
	"sasl_username",
	"sasl_sender",
};
#define PIPE_ENV_N (sizeof(pipe_env_names) / sizeof(pipe_env_names[0]))

static void
pipe_env_set(pipe_vars *v, char *const *env)
{
	v->client_address = env[0];
	v->client_hostname = env[1];
	v->client_port = env[2];
	v->client_protocol = env[3];
	v->client_helo = env[4];
	v->sasl_method = env[5];
	v->sasl_username = env[6];
	v->sasl_sender = env[7];
}

/* The original recipient: the DSN ORCPT when rfc822 (xtext decoded). */
static char *
pipe_orig_rcpt(const pm_job_rcpt *r)
{
	const char *o = r->orcpt, *p;
	char *out, *w;
	unsigned v;

	if (o == NULL || !pm_strncaseeq(o, "rfc822;", 7)) {
		return (pm_strdup(r->queued_address && *r->queued_address ?
		        r->queued_address :
		        r->address));
	}
	out = w = pm_malloc(strlen(o) + 1);
	for (p = o + 7; *p != 0; p++) {
		if (*p == '+' && isxdigit((unsigned char) p[1]) &&
		    isxdigit((unsigned char) p[2]) &&
		    sscanf(p + 1, "%2x", &v) == 1 && v > 0x20 && v < 0x7f) {
			*w++ = (char) v;
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = 0;
	if (*out == 0) {
		free(out);
		return (pm_strdup(r->address));
	}
	return (out);
}

static void
pipe_deliver(void *ctx, pm_job *j)
{
	const char **rcpt = NULL, **orig = NULL;
	char **argv = NULL, *body = NULL, *env[PIPE_ENV_N] = { 0 };
	size_t len = 0, i;
	pm_command_req req;
	pm_command_res res;
	pipe_stream_opts so;
	pipe_stream st;
	pipe_vars v;
	int64_t t0;
	int rc, err = 0;

	(void) ctx;
	snprintf(j->relay, sizeof(j->relay), "%s", var_pipe_transport);
	j->conn_ms = j->xfer_ms = 0;
	j->dest_failed = 0;
	if (var_pipe_size_limit > 0 &&
	    j->size > (uint64_t) var_pipe_size_limit) {
		pm_job_set_all(j, PM_JOB_BOUNCED, "5.2.3", "message too large");
		return;
	}
	if (j->flags & PM_MSG_PROBE) {
		/* Postfix's verify mode: the command is not run */
		pm_job_set_all(j, PM_JOB_SENT, "2.0.0",
		    "delivers to command: %s", pipe_argv_elem(pp.argv, 0));
		return;
	}
	if ((pp.flags & (PIPE_F_DELIV | PIPE_F_ORCPT)) && j->nrcpt > 1) {
		pm_job_set_all(j, PM_JOB_DEFERRED, "4.3.5",
		    "mail system configuration error: flags D and O need "
		    "%s_destination_recipient_limit = 1",
		    var_pipe_transport);
		return;
	}
	if ((rc = pm_agent_body_env(j, pipe_env_names, PIPE_ENV_N, env, &body,
	         &len)) != 0) {
		pm_job_set_all(j, PM_JOB_DEFERRED, "4.3.0",
		    "cannot read the message content: %s", pm_strerror(rc));
		return;
	}
	if (var_pipe_size_limit > 0 && len > (size_t) var_pipe_size_limit) {
		pm_job_set_all(j, PM_JOB_BOUNCED, "5.2.3", "message too large");
		goto out;
	}
	if ((pp.flags & PIPE_F_DELIV) &&
	    pipe_stream_has_delivered(body, len, j->rcpt[0].address)) {
		pm_job_set_all(j, PM_JOB_BOUNCED, "5.4.6",
		    "mail forwarding loop for %s", j->rcpt[0].address);
		goto out;
	}
	rcpt = pm_calloc(j->nrcpt, sizeof(*rcpt));
	orig = pm_calloc(j->nrcpt, sizeof(*orig));
	for (i = 0; i < j->nrcpt; i++) {
		rcpt[i] = j->rcpt[i].address;
		orig[i] = pipe_orig_rcpt(&j->rcpt[i]);
	}
	memset(&v, 0, sizeof(v));
	v.sender = j->sender;
	v.null_sender = var_pipe_null_sender;
	v.nexthop = j->nexthop;
	v.queue_id = j->queue_id;
	v.size = j->size ? j->size : len;
	v.rcpt = rcpt;
	v.orig = orig;
	v.nrcpt = j->nrcpt;
	v.delim = pp.delim;
	v.flags = pp.flags;
	pipe_env_set(&v, env);
	if ((argv = pipe_argv_expand(pp.argv, &v, &err)) == NULL) {
		pm_job_set_all(j, PM_JOB_DEFERRED, "4.3.5",
		    "mail system configuration error: command line too "
		    "long: %s",
		    pm_strerror(err));
		goto out;
	}
	memset(&so, 0, sizeof(so));
	so.flags = pp.flags;
	so.eol = pp.eol;
	so.sender = j->sender;
	so.recipient = j->rcpt[0].address;
	so.orig_rcpt = orig[0];
	so.arrival_us = j->arrival_us;
	pipe_stream_init(&st, &so, body, len);

	memset(&req, 0, sizeof(req));
	req.argv = (const char *const *) argv;
	req.envp = (const char *const *) pp.envp;
	req.uid = pp.uid;
	req.gid = pp.gid;
	req.cwd = var_pipe_directory;
	req.time_limit = (int) var_pipe_time_limit;
	req.output_limit = (size_t) var_pipe_output_limit;
	req.feed = pipe_stream_feed;
	req.feed_ctx = &st;
	t0 = pm_mono_ms();
	(void) pm_command_run(&req, &res);
	j->xfer_ms = (unsigned) (pm_mono_ms() - t0);
	pipe_stream_free(&st);
	switch (res.outcome) {
	case PM_COMMAND_OK:
		/* Postfix: "relayed", unless flag X (final delivery) */
		j->dsn_action =
		    (pp.flags & PIPE_F_FINAL) ? "delivered" : "relayed";
		pm_job_set_all(j, PM_JOB_SENT, "2.0.0",
		    "delivered via %s service%s%s%s", var_pipe_transport,
		    *res.output ? " (" : "", res.output,
		    *res.output ? ")" : "");
		break;
	case PM_COMMAND_BOUNCE:
		pm_job_set_all(j, PM_JOB_BOUNCED, res.dsn, "%s", res.text);
		break;
	default:
		pm_job_set_all(j, PM_JOB_DEFERRED, res.dsn, "%s", res.text);
		break;
	}
out:
	if (orig != NULL) {
		for (i = 0; i < j->nrcpt; i++) {
			free((char *) orig[i]);
		}
	}
	free(orig);
	free(rcpt);
	pipe_argv_list_free(argv);
	free(body);
	for (i = 0; i < PIPE_ENV_N; i++) {
		free(env[i]);
	}
}

static int
pipe_run(void)
{
	const char *transports[] = { var_pipe_transport, NULL };
	pm_agent agent = {
		.name = "pipe",
		.transports = transports,
		.slots_param = VAR_PIPE_SLOTS,
		.deliver = pipe_deliver,
		/* as each job says it (pipe_deliver), for qmgr's keeping */
		.dsn_action =
		    (pp.flags & PIPE_F_FINAL) ? "delivered" : "relayed",
	};

	return (pm_agent_run(&agent));
}

int
main(int argc, char **argv)
{
	static const pm_cfg_str strs[] = {
		{ VAR_PIPE_METRICS, NULL, &var_pipe_metrics, 0, 1024 },
		{ VAR_PIPE_TRANSPORT, DEF_PIPE_TRANSPORT, &var_pipe_transport,
		    1, PM_QMGR_TRANSPORT_MAX - 1 },
		{ VAR_PIPE_ARGV, DEF_PIPE_ARGV, &var_pipe_argv, 0, 0 },
		{ VAR_PIPE_FLAGS, DEF_PIPE_FLAGS, &var_pipe_flags, 0, 64 },
		{ VAR_PIPE_USER, DEF_PIPE_USER, &var_pipe_user, 0, 256 },
		{ VAR_PIPE_EOL, DEF_PIPE_EOL, &var_pipe_eol, 1, 16 },
		{ VAR_PIPE_NULL_SENDER, DEF_PIPE_NULL_SENDER,
		    &var_pipe_null_sender, 0, 256 },
		{ VAR_PIPE_DIRECTORY, DEF_PIPE_DIRECTORY, &var_pipe_directory,
		    1, 4096 },
		{ VAR_EXPORT_ENVIRON, DEF_EXPORT_ENVIRON, &var_export_environ,
		    0, 0 },
		{ 0 },
	};
	static const pm_cfg_int ints[] = {
		{ VAR_PIPE_SLOTS, DEF_PIPE_SLOTS, &var_pipe_slots, 1, 1024 },
		{ VAR_PIPE_SIZE_LIMIT, DEF_PIPE_SIZE_LIMIT,
		    &var_pipe_size_limit, 0, 0 },
		{ VAR_PIPE_OUTPUT_LIMIT, DEF_PIPE_OUTPUT_LIMIT,
		    &var_pipe_output_limit, 64, 1024L * 1024 },
		{ 0 },
	};
	static const pm_cfg_time times[] = {
		{ VAR_PIPE_TIME_LIMIT, DEF_PIPE_TIME_LIMIT,
		    &var_pipe_time_limit, 's', 1, 86400 },
		{ 0 },
	};
	static const pm_service svc = {
		.name = "pipe",
		.strs = strs,
		.ints = ints,
		.times = times,
		.metrics_param = VAR_PIPE_METRICS,
		.post_init = pipe_init,
		.run = pipe_run,
		.queue = 1,
	};

	return (pm_server_main(&svc, argc, argv));
}
