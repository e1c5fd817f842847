/*
 * NAME
 *	local_target - the final writes: mailbox, /file, |command
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	local_deliver_mailbox() is Postfix local(8)'s mailbox delivery,
 *	in its order:
 *	  - mailbox_command set: run it as the user (pm_command) with the
 *	    message on stdin ("delivered to command: ...");
 *	  - mailbox_transport set: refused at start (local.c), see
 *	    docs/delivery.md;
 *	  - home_mailbox set and the user has a home: home/home_mailbox, a
 *	    maildir when it ends in '/' ("delivered to maildir"), else an
 *	    mbox file ("delivered to mailbox"), written as the user;
 *	  - else mail_spool_directory/user, an mbox. As Postfix, the spool
 *	    is written with the agent's own privileges (the spool is not
 *	    writable by users, and its dotlocks live there); a missing
 *	    mailbox is created mode 0600 owned by the user first (made
 *	    under a temporary name and linked into place), and an
 *	    existing one must be owned by the user (else defer 4.2.0
 *	    "destination ... is not owned by recipient", Postfix's
 *	    strict_mailbox_ownership) and be a regular file with one link
 *	    (else bounce 5.2.0).
 *	A mailbox that cannot be opened or created and a message that
 *	cannot be written are reported as Postfix's local(8) does: the
 *	status comes from pm_mailbox_errno_dsn() over "5.2.0" (open,
 *	create; also the maildir's tmp/ and new/ files) or "5.3.0"
 *	(write), so EAGAIN/ESTALE (4.2.0) and ENOSPC (4.3.0) defer,
 *	EDQUOT/EFBIG bounce 5.2.2 and anything else bounces; the text is
 *	prefixed "cannot update mailbox PATH for user NAME. ", "maildir
 *	delivery failed: " (with Postfix's two warnings on EACCES) or
 *	"cannot append message to file PATH: ". Lock contention defers
 *	4.2.0.
 *	local_deliver_file() appends to an mbox file (or a maildir when the
 *	name ends in '/') as the given identity: "delivered to file: /x".
 *	The same table applies: a file that cannot be opened bounces
 *	5.2.0. As in Postfix, no directory is created for a /file (a
 *	missing one is ENOENT: 5.2.0).
 *	local_deliver_command() splits the command at white space into an
 *	argument vector (no shell: '|' targets are argument vectors, see
 *	docs/delivery.md) and runs it as the given identity, in the home
 *	directory when there is one, with Postfix's environment (HOME,
 *	USER, LOGNAME, SHELL, SENDER, RECIPIENT, LOCAL, DOMAIN, EXTENSION,
 *	ORIGINAL_RECIPIENT, PATH, and, when the message has them, ENVID,
 *	CLIENT_ADDRESS, CLIENT_HOSTNAME, CLIENT_HELO, CLIENT_PROTOCOL,
 *	SASL_METHOD, SASL_SENDER, SASL_USERNAME; as Postfix, every byte of
 *	a value that is not in command_expansion_filter becomes '_');
 *	stdin is the message as Postfix pipes
 *	it: a From_ line, Return-Path:, Delivered-To:, then the content
 *	with LF line ends. Exit codes map through sysexits.h (pm_command).
 *	A permanent failure of either goes to the recipient's owner- alias
 *	when it has one (s->owner_scope, local_owner.c).
 *	For an address verification probe (LOCAL_PROBE) each of them stops
 *	after its checks and reports what it would do, writing and running
 *	nothing: "delivers to maildir", "delivers to mailbox" (no spool
 *	mailbox is created), "delivers to file: /x", "delivers to command:
 *	...", as Postfix's local(8) in verify mode.
 * LIMITS
 *	mailbox_size_limit per mailbox (mbox) or message (maildir) and per
 *	/file; command_time_limit per command; PM_COMMAND_MAX_ARGS
 *	arguments; mailbox locks as mailbox_delivery_lock, waited for at
 *	most LOCAL_LOCK_WAIT_MS.
 * SECURITY
 *	Files are written with the target's fsuid (local_priv), never as
 *	root except in the spool; commands run with the target's real uid
 *	(uid 0 refused: pm_command). Mail data reaches a command only on
 *	stdin and in the environment, never through a shell.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local.h"
#include "local_params.h"
#include "pm_command.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_mailbox.h"
#include "pm_mail_params.h"

#define LOCAL_LOCK_WAIT_MS 20000
#define LOCAL_CMD_ENV (12 + LOCAL_CENV_N)
#define LOCAL_SELF ((uid_t) -1)

int local_mbox_locks = PM_MBOX_LOCK_FCNTL | PM_MBOX_LOCK_DOTLOCK;

const char *const local_cenv_fields[LOCAL_CENV_N] = {
	"client_addr",
	"client_name",
	"helo",
	"protocol",
	"sasl_method",
	"sasl_sender",
	"sasl_username",
	"envid",
};
const char *const local_cenv_vars[LOCAL_CENV_N] = {
	"CLIENT_ADDRESS",
	"CLIENT_HOSTNAME",
	"CLIENT_HELO",
	"CLIENT_PROTOCOL",
	"SASL_METHOD",
	"SASL_SENDER",
	"SASL_USERNAME",
	"ENVID",
};

/*
 * Postfix's censoring of a command's environment: each byte of the
 * value (after the first '=') not in command_expansion_filter is '_'.
 */
static void
command_env_censor(char *var)
{
	char *p = strchr(var, '=');

	for (p = p != NULL ? p + 1 : var; *p != 0; p++) {
		if (strchr(var_cmd_exp_filter, *p) == NULL) {
			*p = '_';
		}
	}
}

/* file: a /file target (a failed open bounces, as Postfix's file.c) */
static void
mailbox_opts(local_state *s, int file, pm_mailbox_opts *o)
{
	memset(o, 0, sizeof(*o));
	(void) file;
	o->open_dsn = "5.2.0"; /* local(8)'s mbox_open() and maildir.c */
	o->no_mkdirs = file;
	o->size_limit = var_mailbox_limit;
	o->lock_wait_ms = LOCAL_LOCK_WAIT_MS;
	o->locks = local_mbox_locks;
	o->instance = s->tag[0] ? s->tag : NULL; /* local_once.c */
}

static void
mailbox_msg(local_state *s, pm_mailbox_msg *m)
{
	m->sender = s->m->job->sender;
	m->recipient = s->rcpt;
	m->data = s->m->content;
	m->len = s->m->len;
}

/*
 * The DSN of a mailbox error err: pm_mailbox_errno_dsn() over def, but
 * EACCES and EPERM defer "4.2.0" when the agent worked with its own
 * identity (self: the spool mailbox and its chown, or any target of an
 * agent that is not root, or root with its capabilities dropped): the
 * deployment is at fault, not the recipient, and the mail stays queued
 * (Postmesh; Postfix bounces 5.2.0). With the recipient's identity
 * (their own home mailbox, maildir or file) they bounce as Postfix.
 */
static const char *
box_dsn(int err, int self, const char *def)
{
	if (self && (err == EACCES || err == EPERM)) {
		return ("4.2.0");
	}
	return (pm_mailbox_errno_dsn(err, def));
}

/*
 * A failed write as Postfix's local(8) reports it: the class of the
 * status (pm_mailbox_errno_dsn, box_dsn when self) says defer or
 * bounce, the text gets local's prefix (user: the mailbox's owner;
 * NULL for a /file).
 */
static void
write_failed(local_state *s, const char *path, int maildir, const char *user,
    uid_t uid, gid_t gid, int self, pm_mailbox_status *st)
{
	int how;

	if (self && st->err != 0) {
		snprintf(st->dsn, sizeof(st->dsn), "%s",
		    box_dsn(st->err, 1, st->dsn));
	}
	how = st->dsn[0] == '5' ? PM_JOB_BOUNCED : PM_JOB_DEFERRED;

	if (maildir) {
		if (st->err == EACCES) {
			pm_msg_warn("maildir access problem for UID/GID=%u/%u: "
			            "%s",
			    (unsigned) uid, (unsigned) gid, st->text);
			pm_msg_warn("perhaps you need to create the maildirs "
			            "in advance");
		}
		local_result(s, how, st->dsn, "maildir delivery failed: %s",
		    st->text);
	} else if (user != NULL) {
		local_result(s, how, st->dsn,
		    "cannot update mailbox %s for user %s. %s", path, user,
		    st->text);
	} else {
		local_result(s, how, st->dsn,
		    "cannot append message to file %s: %s", path, st->text);
	}
}

/*
 * Write one maildir or mbox as uid/gid (LOCAL_SELF: the agent's own
 * identity); what = log text; user = the owner of a mailbox (NULL: a
 * /file target).
 */
static void
write_box(local_state *s, const char *path, int maildir, const char *user,
    uid_t uid, gid_t gid, const char *what)
{
	int file = user == NULL;
	pm_mailbox_status st;
	pm_mailbox_opts o;
	pm_mailbox_msg m;
	int rc;

	mailbox_opts(s, file, &o);
	mailbox_msg(s, &m);
	if (uid != LOCAL_SELF && local_priv_set(uid, gid) != 0) {
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "cannot switch to uid %u", (unsigned) uid);
		return;
	}
	if (maildir && s->retry && local_once_found(s, path)) {
		local_priv_restore();
		pm_msg_info("%s: %s: already in maildir %s (an earlier attempt "
		            "wrote it)",
		    s->m->job->queue_id, s->rcpt, path);
		local_result(s, PM_JOB_SENT, "2.0.0", "%s", what);
		return;
	}
	rc = maildir ? pm_maildir_deliver(path, &m, &o, &st) :
	               pm_mbox_deliver(path, &m, &o, &st);
	local_priv_restore();
	if (rc == 0) {
		local_result(s, PM_JOB_SENT, "2.0.0", "%s", what);
	} else {
		write_failed(s, path, maildir, user,
		    uid == LOCAL_SELF ? getuid() : uid,
		    gid == LOCAL_SELF ? getgid() : gid,
		    uid == LOCAL_SELF || !local_priv_root(), &st);
	}
}

/*
 * The spool mailbox cannot be made or looked at: mbox_open()'s "5.2.0",
 * with the agent's own identity (box_dsn).
 */
static void
spool_failed(local_state *s, const char *path, const local_user *u, int err)
{
	const char *dsn = box_dsn(err, 1, "5.2.0");

	local_result(s, dsn[0] == '5' ? PM_JOB_BOUNCED : PM_JOB_DEFERRED, dsn,
	    "cannot update mailbox %s for user %s. cannot open file: %s", path,
	    u->name, strerror(err));
}

/*
 * The spool mailbox: create it owned by the user, or check the one
 * that is there. A new mailbox is made under a temporary name, given
 * to the user, then linked into place, so a concurrent delivery never
 * sees a root-owned mailbox. 0, or a result recorded and -1.
 */
static int
spool_prepare(local_state *s, const char *path, const local_user *u)
{
	char tmp[LOCAL_PATH_MAX + 100];
	struct stat st;
	int fd, err = 0;

	if (!local_priv_root()) {
		return (0);
	}
	if (lstat(path, &st) != 0 && errno == ENOENT) {
		snprintf(tmp, sizeof(tmp), "%s.%s.new", path, s->tag);
		(void) unlink(tmp);
		fd = open(tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 || fchown(fd, u->uid, u->gid) != 0 ||
		    (link(tmp, path) != 0 && errno != EEXIST)) {
			err = errno;
		}
		if (fd >= 0) {
			close(fd);
			(void) unlink(tmp);
		}
		if (err != 0) {
			spool_failed(s, path, u, err);
			return (-1);
		}
	}
	if (lstat(path, &st) != 0) {
		spool_failed(s, path, u, errno);
		return (-1);
	}
	if (st.st_uid != u->uid && S_ISREG(st.st_mode)) {
		/* Postfix's strict_mailbox_ownership: defer */
		pm_msg_warn("mailbox %s is owned by uid %u, not by %s", path,
		    (unsigned) st.st_uid, u->name);
		local_result(s, PM_JOB_DEFERRED, "4.2.0",
		    "cannot update mailbox %s for user %s. destination %s is "
		    "not owned by recipient",
		    path, u->name, path);
		return (-1);
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		local_result(s, PM_JOB_BOUNCED, "5.2.0",
		    "cannot update mailbox %s for user %s. destination %s is "
		    "not a regular file with one link",
		    path, u->name, path);
		return (-1);
	}
	return (0);
}

void
local_deliver_mailbox(local_state *s, const local_user *u, const local_addr *a)
{
	char path[LOCAL_PATH_MAX];
	size_t hl = strlen(var_home_mailbox);

	if (*var_mailbox_command != 0) {
		local_deliver_command(s, var_mailbox_command, u->uid, u->gid,
		    u->home, a, u);
		return;
	}
	if (hl > 0 && u->home[0] != 0) {
		if (snprintf(path, sizeof(path), "%s/%s", u->home,
		        var_home_mailbox) >= (int) sizeof(path)) {
			local_result(s, PM_JOB_BOUNCED, "5.3.5",
			    "mailbox path too long");
			return;
		}
		if (LOCAL_PROBE(s)) {
			local_result(s, PM_JOB_SENT, "2.0.0", "delivers to %s",
			    var_home_mailbox[hl - 1] == '/' ? "maildir" :
			                                      "mailbox");
			return;
		}
		if (var_home_mailbox[hl - 1] == '/') {
			write_box(s, path, 1, u->name, u->uid, u->gid,
			    "delivered to maildir");
		} else {
			write_box(s, path, 0, u->name, u->uid, u->gid,
			    "delivered to mailbox");
		}
		return;
	}
	if (snprintf(path, sizeof(path), "%s/%s", var_mail_spool_dir,
	        u->name) >= (int) sizeof(path)) {
		local_result(s, PM_JOB_BOUNCED, "5.3.5",
		    "mailbox path too long");
		return;
	}
	if (LOCAL_PROBE(s)) {
		/* no mailbox is created for a probe */
		local_result(s, PM_JOB_SENT, "2.0.0", "delivers to mailbox");
		return;
	}
	if (spool_prepare(s, path, u) != 0) {
		return;
	}
	/* the spool with the agent's privileges, as Postfix */
	write_box(s, path, 0, u->name, LOCAL_SELF, LOCAL_SELF,
	    "delivered to mailbox");
}

void
local_deliver_file(local_state *s, const char *path, uid_t uid, gid_t gid)
{
	size_t len = strlen(path);
	char *what;

	s->owner_scope = 1; /* a bounce goes to an owner- (local_owner.c) */
	if (len == 0 || path[0] != '/') {
		local_result(s, PM_JOB_BOUNCED, "5.3.5", "bad file name");
		s->owner_scope = 0;
		return;
	}
	if (LOCAL_PROBE(s)) {
		local_result(s, PM_JOB_SENT, "2.0.0", "delivers to file: %s",
		    path);
		s->owner_scope = 0;
		return;
	}
	what = pm_asprintf("delivered to file: %s", path);
	if (path[len - 1] == '/') {
		write_box(s, path, 1, NULL, uid, gid, "delivered to maildir");
	} else {
		write_box(s, path, 0, NULL, uid, gid, what);
	}
	free(what);
	s->owner_scope = 0;
}

/* The message as local(8) pipes it: From_, Return-Path, Delivered-To. */
static void
command_input(local_state *s, pm_buf *in)
{
	const char *p = s->m->content, *end = p + s->m->len, *nl;
	const char *sender = s->m->job->sender;
	char date[32];
	time_t now = time(NULL);
	struct tm tm;

	asctime_r(gmtime_r(&now, &tm), date);
	date[strcspn(date, "\n")] = 0;
	pm_buf_printf(in, "From %s  %s\n", *sender ? sender : "MAILER-DAEMON",
	    date);
	pm_buf_printf(in, "Return-Path: <%s>\nDelivered-To: %s\n", sender,
	    s->rcpt);
	while (p < end) {
		nl = memchr(p, '\n', (size_t) (end - p));
		if (nl == NULL) {
			pm_buf_append(in, p, (size_t) (end - p));
			pm_buf_puts(in, "\n");
			break;
		}
		pm_buf_append(in, p,
		    (size_t) (nl - p) - (nl > p && nl[-1] == '\r'));
		pm_buf_puts(in, "\n");
		p = nl + 1;
	}
}

/* Split at white space; argv and its strings live in *store. */
static char **
command_argv(const char *cmd, char **store)
{
	char **argv;
	char *p, *save = NULL, *tok;
	size_t n = 0, cap = 8;

	*store = pm_strdup(cmd);
	argv = pm_calloc(cap, sizeof(*argv));
	for (p = *store; (tok = strtok_r(p, " \t\r\n", &save)) != NULL;
	     p = NULL) {
		if (n + 1 >= cap) {
			if (cap >= PM_COMMAND_MAX_ARGS) {
				break;
			}
			cap *= 2;
			argv = pm_realloc(argv, cap * sizeof(*argv));
		}
		argv[n++] = tok;
	}
	argv[n] = NULL;
	return (argv);
}

/* Expand each argument of argv in place (new strings in *own). */
static int
command_expand(char **argv, local_state *s, const local_user *u,
    const local_addr *a, char ***own)
{
	size_t n = 0, i;
	pm_buf b;

	while (argv[n] != NULL) {
		n++;
	}
	*own = pm_calloc(n + 1, sizeof(**own));
	for (i = 0; i < n; i++) {
		if (strchr(argv[i], '$') == NULL) {
			continue;
		}
		pm_buf_init(&b, LOCAL_PATH_MAX);
		if (local_expand(argv[i], s, u, a, 0, &b) != 0 ||
		    pm_buf_append(&b, "", 1) != 0) {
			pm_buf_free(&b);
			return (-1);
		}
		argv[i] = (*own)[i] = pm_buf_steal(&b, NULL);
	}
	return (0);
}

void
local_deliver_command(local_state *s, const char *cmd, uid_t uid, gid_t gid,
    const char *home, const local_addr *a, const local_user *xu)
{
	char **own = NULL;
	char *env[LOCAL_CMD_ENV + 1], *store, **argv;
	const char *name = a != NULL ? a->user : "nobody";
	pm_command_req req;
	pm_command_res res;
	struct stat hs;
	size_t n = 0, i;
	pm_buf in;
	uid_t ruid = local_priv_root() ? uid : getuid();
	gid_t rgid = local_priv_root() ? gid : getgid();

	s->owner_scope = 1; /* a bounce goes to an owner- (local_owner.c) */
	argv = command_argv(cmd, &store);
	if (xu != NULL && a != NULL &&
	    command_expand(argv, s, xu, a, &own) != 0) {
		local_result(s, PM_JOB_BOUNCED, "5.3.5",
		    "cannot expand command: %s", cmd);
		goto out;
	}
	if (argv[0] == NULL || argv[0][0] != '/') {
		local_result(s, PM_JOB_BOUNCED, "5.3.5",
		    "command must start with an absolute path: %s", cmd);
		goto out;
	}
	if (LOCAL_PROBE(s)) {
		local_result(s, PM_JOB_SENT, "2.0.0", "delivers to command: %s",
		    cmd);
		goto out;
	}
	env[n++] = pm_asprintf("HOME=%s", home != NULL && *home ? home : "/");
	env[n++] = pm_asprintf("USER=%s", name);
	env[n++] = pm_asprintf("LOGNAME=%s", name);
	env[n++] = pm_strdup("SHELL=/bin/sh");
	env[n++] = pm_strdup("PATH=/usr/bin:/bin");
	env[n++] = pm_asprintf("SENDER=%s", s->m->job->sender);
	env[n++] = pm_asprintf("RECIPIENT=%s", s->rcpt);
	env[n++] = pm_asprintf("ORIGINAL_RECIPIENT=%s",
	    s->r->queued_address ? s->r->queued_address : s->rcpt);
	if (a != NULL) {
		env[n++] = pm_asprintf("LOCAL=%s", a->local);
		env[n++] = pm_asprintf("DOMAIN=%s",
		    a->domain != NULL ? a->domain : "");
		env[n++] = pm_asprintf("EXTENSION=%s", a->ext);
	}
	for (i = 0; i < LOCAL_CENV_N; i++) {
		if (s->m->cenv[i] != NULL && *s->m->cenv[i] != 0) {
			env[n++] = pm_asprintf("%s=%s", local_cenv_vars[i],
			    s->m->cenv[i]);
		}
	}
	for (i = 0; i < n; i++) {
		command_env_censor(env[i]);
	}
	env[n] = NULL;
	pm_buf_init(&in, 0);
	command_input(s, &in);
	memset(&req, 0, sizeof(req));
	req.argv = (const char *const *) argv;
	req.envp = (const char *const *) env;
	req.uid = ruid;
	req.gid = rgid;
	req.allow_root = !local_priv_root(); /* only a non-root agent's own */
	req.cwd = home != NULL && *home && stat(home, &hs) == 0 &&
	        S_ISDIR(hs.st_mode) ?
	    home :
	    NULL;
	req.time_limit = (int) var_command_maxtime;
	req.data = in.data;
	req.len = in.len;
	(void) pm_command_run(&req, &res);
	if (res.outcome == PM_COMMAND_OK) {
		local_result(s, PM_JOB_SENT, "2.0.0",
		    "delivered to command: %s", cmd);
	} else {
		local_result(s,
		    res.outcome == PM_COMMAND_BOUNCE ? PM_JOB_BOUNCED :
		                                       PM_JOB_DEFERRED,
		    res.dsn, "%s", res.text);
	}
	pm_buf_free(&in);
	for (i = 0; i < n; i++) {
		free(env[i]);
	}
out:
	for (i = 0; own != NULL && argv[i] != NULL; i++) {
		free(own[i]);
	}
	free(own);
	free(argv);
	free(store);
	s->owner_scope = 0;
}
