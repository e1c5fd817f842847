/*
 * NAME
 *	local_alias - one recipient from the top: loop, aliases, .forward
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	local_deliver_rcpt() is Postfix local(8)'s recipient.c, alias.c,
 *	dotforward.c and token.c in one place:
 *	  1. the address is split (local_rcpt.c); a Delivered-To: header
 *	     equal to it bounces the recipient "5.4.6 mail forwarding loop
 *	     for <rcpt>";
 *	  2. alias_maps is searched with the local part (user+ext), then
 *	     with the user alone; a value is split into targets by
 *	     pm_alias_split() (the one aliases(5) parser) and each target
 *	     is delivered (expand() below). An "owner-<alias>" entry makes
 *	     owner-<alias>@$myorigin (or, with expand_owner_alias, what it
 *	     expands to when that is one address) the envelope sender of
 *	     what the alias forwards, so errors go to the list owner; a
 *	     |command or /file target that fails for good (and a loop)
 *	     is reported to the owner too (local_owner.c);
 *	  3. no alias: the user (local_user.c); unknown: see 5.;
 *	  4. forward_path set and the user has a home: the first .forward
 *	     file that exists is expanded like an alias value with the
 *	     user's identity; the user's own name in it (or \user) means
 *	     the mailbox. The file must be a regular file owned by the user
 *	     or root and not writable by group or others, else it is
 *	     ignored with a warning (Postfix's owner checks);
 *	  5. mailbox_transport_maps, mailbox_transport (for users that
 *	     exist or not, as Postfix), then for a user that does not
 *	     exist fallback_transport_maps, fallback_transport,
 *	     luser_relay, else "5.1.1 unknown user: "x"" (Postfix's text;
 *	     local_delegate.c); the mailbox (local_target.c).
 *	Targets: an address is resubmitted (local_forward.c) with the
 *	extension appended when propagate_unmatched_extensions has "alias"
 *	or "forward" and the entry matched without it; the alias's own
 *	name (or \name) means that user's mailbox (no second alias
 *	lookup); |command and /file need "alias", "forward" or "include"
 *	in allow_mail_to_commands / allow_mail_to_files for where they
 *	came from ("5.7.1 mail to command is restricted"), and run as
 *	default_privs (aliases), the owner of the :include: file unless
 *	root, or the user (.forward); :include: files are read with
 *	pm_alias_include_load() as that identity.
 *	An address verification probe (LOCAL_PROBE) expands the same way,
 *	but an address target is not resubmitted: probe_address() asks
 *	rewrite where it goes and follows one that is this agent's
 *	(Postfix's in-process recursion), any other "forwards to" it.
 *	After one resolver failure the recipient's other address targets
 *	are deferred without asking (one local_cleanup_timeout per
 *	recipient, not one per address).
 * LIMITS
 *	local_alias_recursion_limit levels of :include: and .forward
 *	nesting ("5.4.6 alias database loop for x" past it) and an
 *	:include: file met again on the same path is the same loop;
 *	local_alias_expansion_limit targets per recipient ("5.3.5 alias
 *	expansion limit exceeded for x").
 * SECURITY
 *	Alias values are operator data, :include: and .forward files may
 *	be users': their commands and files run only as allowed above,
 *	never as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "local_params.h"
#include "pm_alias.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_loop.h"
#include "pm_mail_params.h"

#define LOCAL_FORWARD_MAX (64 * 1024)

unsigned local_allow_commands; /* LOCAL_FROM_* bits */
unsigned local_allow_files;
unsigned local_prop_ext; /* LOCAL_FROM_ALIAS | LOCAL_FROM_FORWARD */

typedef struct local_ctx {
	const char *name; /* alias name or user being expanded */
	unsigned from;    /* LOCAL_FROM_* */
	uid_t uid;
	gid_t gid;
	const char *home;
	const char *sender; /* for forwarded addresses */
	const char *ext;    /* to append to addresses, or NULL */
	char delim;
	const local_addr *a; /* the recipient (commands' environment) */
} local_ctx;

static void expand(local_state *s, const pm_alias_list *l, const local_ctx *c,
    int level);
static void user_deliver(local_state *s, const local_addr *a, int level,
    int noforward);
static void probe_address(local_state *s, const char *addr, int level);

void
local_result(local_state *s, int status, const char *dsn, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	int worse;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pm_printable(text);
	if (status == PM_JOB_BOUNCED && s->owner_scope && !LOCAL_PROBE(s) &&
	    local_owner_take(s, dsn, text)) {
		return; /* the owner- alias hears of it (local_owner.c) */
	}
	if (status == PM_JOB_SENT) {
		if (s->done.len > 0) {
			pm_buf_puts(&s->done, "; ");
		}
		pm_buf_puts(&s->done, text);
		return;
	}
	if (status == PM_JOB_BOUNCED) {
		local_fails_add(&s->bfail, dsn, text); /* local_fails.c */
	}
	/* deferred beats bounced beats sent: keep the first worst */
	worse = s->status == PM_JOB_SENT ||
	    (s->status == PM_JOB_BOUNCED && status == PM_JOB_DEFERRED);
	if (worse) {
		s->status = status;
		snprintf(s->dsn, sizeof(s->dsn), "%s", dsn);
		snprintf(s->why, sizeof(s->why), "%s", text);
	}
}

/* 1 if key is on the current expansion path, else pushes it. */
static int
path_push(local_state *s, const char *key)
{
	size_t i;

	for (i = 0; i < s->nseen; i++) {
		if (strcmp(s->seen[i], key) == 0) {
			return (1);
		}
	}
	if (s->nseen < sizeof(s->seen) / sizeof(s->seen[0])) {
		s->seen[s->nseen++] = pm_strdup(key);
	}
	return (0);
}

static void
path_pop(local_state *s)
{
	if (s->nseen > 0) {
		free(s->seen[--s->nseen]);
	}
}

/* The address with the extension appended to its local part. */
static char *
with_ext(const char *addr, char delim, const char *ext)
{
	const char *at = strrchr(addr, '@');

	if (ext == NULL || *ext == 0 || delim == 0) {
		return (pm_strdup(addr));
	}
	if (at == NULL) {
		return (pm_asprintf("%s%c%s", addr, delim, ext));
	}
	return (pm_asprintf("%.*s%c%s%s", (int) (at - addr), addr, delim, ext,
	    at));
}

/* 1 if addr names the entry being expanded itself (its own mailbox). */
static int
is_self(const local_ctx *c, const pm_alias_target *t)
{
	const char *v = t->value;
	const char *at = strrchr(v, '@');
	size_t n = at != NULL ? (size_t) (at - v) : strlen(v);

	if (at != NULL &&
	    (c->a->domain == NULL || !pm_strcaseeq(at + 1, c->a->domain))) {
		return (0);
	}
	return (strlen(c->name) == n && pm_strncaseeq(v, c->name, n));
}

static void
include_deliver(local_state *s, const char *path, const local_ctx *c, int level)
{
	pm_alias_list l = { 0 };
	local_ctx ic = *c;
	struct stat st;
	size_t nerr = 0;
	char *key;
	int rc;

	if (!(c->from &
	        (LOCAL_FROM_ALIAS | LOCAL_FROM_FORWARD | LOCAL_FROM_INCLUDE))) {
		local_result(s, PM_JOB_BOUNCED, "5.7.1",
		    ":include: is not allowed here");
		return;
	}
	key = pm_asprintf(":include:%s", path);
	if (level >= var_local_recursion || path_push(s, key)) {
		local_result(s, PM_JOB_BOUNCED, "5.4.6",
		    "alias database loop for %s", path);
		free(key);
		return;
	}
	free(key);
	if (local_priv_set(c->uid, c->gid) != 0) {
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "cannot switch to uid %u", (unsigned) c->uid);
		path_pop(s);
		return;
	}
	rc = stat(path, &st);
	if (rc == 0) {
		rc = pm_alias_include_load(path, &l, &nerr, NULL, NULL);
	} else {
		rc = errno == ENOENT ? PM_ENOENT : PM_EIO;
	}
	local_priv_restore();
	if (rc != 0) {
		local_result(s,
		    rc == PM_ENOENT ? PM_JOB_BOUNCED : PM_JOB_DEFERRED,
		    rc == PM_ENOENT ? "5.3.5" : "4.3.0",
		    "cannot open include file %s: %s", path, pm_strerror(rc));
		path_pop(s);
		return;
	}
	ic.from = LOCAL_FROM_INCLUDE;
	if (st.st_uid != 0) {
		/* Postfix: the owner's identity, unless root */
		ic.uid = st.st_uid;
		ic.gid = st.st_gid;
	}
	expand(s, &l, &ic, level + 1);
	pm_alias_list_free(&l);
	path_pop(s);
}

static void
expand(local_state *s, const pm_alias_list *l, const local_ctx *c, int level)
{
	const pm_alias_target *t;
	local_addr self;
	char *addr;
	size_t i;

	for (i = 0; i < l->n; i++) {
		t = &l->v[i];
		if (++s->ntargets > (unsigned) var_local_expansion) {
			local_result(s, PM_JOB_BOUNCED, "5.3.5",
			    "alias expansion limit exceeded for %s", c->name);
			return;
		}
		switch (t->kind) {
		case PM_ALIAS_COMMAND:
			if (!(local_allow_commands & c->from)) {
				local_result(s, PM_JOB_BOUNCED, "5.7.1",
				    "mail to command is restricted");
			} else {
				local_deliver_command(s, t->value, c->uid,
				    c->gid, c->home, c->a, NULL);
			}
			break;
		case PM_ALIAS_FILE:
			if (!(local_allow_files & c->from)) {
				local_result(s, PM_JOB_BOUNCED, "5.7.1",
				    "mail to file is restricted");
			} else {
				local_deliver_file(s, t->value, c->uid, c->gid);
			}
			break;
		case PM_ALIAS_INCLUDE:
			include_deliver(s, t->value, c, level);
			break;
		case PM_ALIAS_ADDRESS:
			if ((t->noalias || is_self(c, t)) &&
			    local_addr_split(&self,
			        t->noalias ? t->value : c->name, var_rcpt_delim,
			        var_ownreq_special) == 0) {
				self.domain = c->a->domain;
				user_deliver(s, &self, level + 1,
				    c->from == LOCAL_FROM_FORWARD);
				break;
			}
			addr = with_ext(t->value, c->delim, c->ext);
			if (LOCAL_PROBE(s)) {
				probe_address(s, addr, level);
			} else {
				local_forward_add(s, c->sender, addr);
			}
			free(addr);
			break;
		default:
			local_result(s, PM_JOB_BOUNCED, "5.3.5",
			    "bad alias target");
			break;
		}
	}
}

/* alias_maps: 1 when the name was an alias (delivered), else 0. */
static int
alias_deliver(local_state *s, const local_addr *a, int level)
{
	pm_alias_list l = { 0 };
	local_ctx c;
	const char *err, *name = a->local;
	char *value = NULL, *owner;
	int rc;

	if (s->maps->alias == NULL || pm_tables_count(s->maps->alias) == 0) {
		return (0);
	}
	rc = pm_tables_get(s->maps->alias, name, &value);
	if (rc == PM_ENOENT && a->ext[0] != 0) {
		name = a->user;
		rc = pm_tables_get(s->maps->alias, name, &value);
	}
	if (rc == PM_ENOENT) {
		return (0);
	}
	if (rc != 0) {
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "alias_maps lookup failure for %s: %s", name,
		    pm_strerror(rc));
		return (1);
	}
	if (pm_alias_split(value, &l, &err) != 0) {
		pm_msg_warn("%s: alias %s: %s", s->m->job->queue_id, name, err);
		local_result(s, PM_JOB_DEFERRED, "4.3.5",
		    "bad alias_maps entry for %s: %s", name, err);
		free(value);
		return (1);
	}
	owner = local_owner_of(s, name);
	memset(&c, 0, sizeof(c));
	c.name = name;
	c.from = LOCAL_FROM_ALIAS;
	c.uid = local_nobody_uid;
	c.gid = local_nobody_gid;
	c.home = NULL;
	c.sender = owner != NULL ? owner : s->sender;
	c.ext = (local_prop_ext & LOCAL_FROM_ALIAS) && name == a->user ?
	    a->ext :
	    NULL;
	c.delim = a->delim;
	c.a = a;
	expand(s, &l, &c, level);
	pm_alias_list_free(&l);
	free(owner);
	free(value);
	return (1);
}

/* Expand path as a .forward: 1 if it existed (delivered), else 0. */
static int
forward_file(local_state *s, const char *path, const local_user *u,
    const local_addr *a, int level)
{
	pm_alias_list l = { 0 };
	struct stat st;
	local_ctx c;
	size_t nerr = 0;
	int fd, rc;

	if (local_priv_set(u->uid, u->gid) != 0) {
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "cannot switch to uid %u", (unsigned) u->uid);
		return (1);
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = errno;
		local_priv_restore();
		if (rc == ENOENT || rc == ENOTDIR || rc == EACCES) {
			return (0);
		}
		local_result(s, PM_JOB_DEFERRED, "4.3.0", "cannot open %s: %s",
		    path, strerror(rc));
		return (1);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != u->uid && st.st_uid != 0) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
	    st.st_size > LOCAL_FORWARD_MAX) {
		close(fd);
		local_priv_restore();
		pm_msg_warn("%s: ignoring %s: not a regular file owned by %s "
		            "and writable by it alone, or too large",
		    s->m->job->queue_id, path, u->name);
		return (0);
	}
	close(fd);
	rc = pm_alias_include_load(path, &l, &nerr, NULL, NULL);
	local_priv_restore();
	if (rc != 0) {
		return (0);
	}
	memset(&c, 0, sizeof(c));
	c.name = u->name;
	c.from = LOCAL_FROM_FORWARD;
	c.uid = u->uid;
	c.gid = u->gid;
	c.home = u->home;
	c.sender = s->sender;
	c.ext = (local_prop_ext & LOCAL_FROM_FORWARD) ? a->ext : NULL;
	c.delim = a->delim;
	c.a = a;
	expand(s, &l, &c, level + 1);
	pm_alias_list_free(&l);
	return (1);
}

/*
 * forward_path: the first item (comma or white space separated) whose
 * expansion (local_expand) works and names an existing file.
 */
static int
dotforward(local_state *s, const local_user *u, const local_addr *a, int level)
{
	char *list = pm_strdup(var_forward_path), *p, *save = NULL, *item;
	pm_buf path;
	int done = 0;

	pm_buf_init(&path, LOCAL_PATH_MAX);
	for (p = list; !done && (item = strtok_r(p, ", \t", &save)) != NULL;
	     p = NULL) {
		pm_buf_reset(&path);
		if (local_expand(item, s, u, a, 1, &path) != 0 ||
		    path.len == 0 || pm_buf_append(&path, "", 1) != 0) {
			continue;
		}
		done = forward_file(s, path.data, u, a, level);
	}
	pm_buf_free(&path);
	free(list);
	return (done);
}

static void
user_deliver(local_state *s, const local_addr *a, int level, int noforward)
{
	local_user u;
	int rc;

	rc = local_user_find(s->maps->rcpt, a->user, &u);
	if (rc != 0 && rc != PM_ENOENT) {
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "user lookup failure for %s: %s", a->user, pm_strerror(rc));
		return;
	}
	if (rc == 0 && !noforward && *var_forward_path != 0 && u.home[0] != 0 &&
	    level < var_local_recursion && dotforward(s, &u, a, level)) {
		return;
	}
	/* Postfix: mailbox_transport(_maps) whether or not the user exists */
	if (local_delegate_mailbox(s, a)) {
		return;
	}
	if (rc == PM_ENOENT) {
		local_deliver_unknown(s, a);
		return;
	}
	local_deliver_mailbox(s, &u, a);
}

/*
 * An address target of a probe. Where the address resolves to this
 * agent (class local, transport "local") it is followed here, as
 * Postfix's local(8) recurses into local addresses in verify mode, so
 * an alias to an unknown user reports that user unknown; any other
 * address "forwards to" it, as Postfix says, and nothing is
 * resubmitted.
 */
static void
probe_address(local_state *s, const char *addr, int level)
{
	pm_resolved res;
	local_addr a;
	const char *at;
	char *key;
	int rc;

	memset(&res, 0, sizeof(res));
	if (s->rw_failed) {
		/* one timeout per recipient, not one per address target */
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "address resolver failure");
		return;
	}
	rc = pm_rewrite_resolve(local_rewrite, addr, "local", 0, &res);
	if (rc != 0 || (res.flags & PM_RESOLVE_ERROR)) {
		s->rw_failed = 1;
		local_result(s, PM_JOB_DEFERRED, "4.3.0",
		    "address resolver failure");
		goto out;
	}
	if ((res.flags & PM_RESOLVE_FAIL) || res.addr_class != PM_CLASS_LOCAL ||
	    res.transport == NULL || strcmp(res.transport, "local") != 0 ||
	    res.recipient == NULL ||
	    local_addr_split(&a, res.recipient, var_rcpt_delim,
	        var_ownreq_special) != 0) {
		local_result(s, PM_JOB_SENT, "2.0.0", "forwards to %s", addr);
		goto out;
	}
	at = strrchr(res.recipient, '@');
	a.domain = at != NULL ? at + 1 : NULL;
	key = pm_asprintf("address:%s", a.local);
	if (level + 1 >= var_local_recursion || path_push(s, key)) {
		local_result(s, PM_JOB_BOUNCED, "5.4.6",
		    "alias database loop for %s", addr);
		free(key);
		goto out;
	}
	free(key);
	if (!alias_deliver(s, &a, level + 1)) {
		user_deliver(s, &a, level + 1, 0);
	}
	path_pop(s);
out:
	pm_resolved_free(&res);
}

void
local_deliver_rcpt(local_state *s, const char *address)
{
	local_addr a;

	if (local_addr_split(&a, address, var_rcpt_delim, var_ownreq_special) !=
	    0) {
		local_result(s, PM_JOB_BOUNCED, "5.1.3",
		    "bad recipient address syntax: %s", address);
		return;
	}
	s->top = &a;
	if (pm_loop_seen(s->m->content, s->m->len, address)) {
		s->owner_scope = 1;
		local_result(s, PM_JOB_BOUNCED, "5.4.6",
		    "mail forwarding loop for %s", address);
		s->owner_scope = 0;
		s->top = NULL;
		return;
	}
	if (!alias_deliver(s, &a, 0)) {
		user_deliver(s, &a, 0, 0);
	}
	s->top = NULL;
}
