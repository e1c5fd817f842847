/*
 * NAME
 *	local - internal interfaces of the local delivery agent
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	local.c (wiring, one job) drives local_rcpt.c (address split),
 *	pm_loop (Delivered-To), local_user.c (user lookup),
 *	local_alias.c (alias_maps, :include:, .forward expansion),
 *	local_target.c (mailbox, /file, |command as the user),
 *	local_forward.c (addresses resubmitted through cleanup),
 *	local_owner.c (owner- aliases: failure notices to the owner) and
 *	local_priv.c (file system identity of a worker thread).
 *	A recipient's delivery is a local_state: what it expands to is
 *	delivered target by target and the outcome kept as the worst one
 *	(deferred > bounced > sent), with the texts of the delivered
 *	targets joined for the log ("delivered to maildir").
 * LIMITS
 *	LOCAL_NAME_MAX bytes of a user name, LOCAL_EXT_MAX of an
 *	extension; local_alias_recursion_limit and
 *	local_alias_expansion_limit per recipient.
 * SECURITY
 *	Addresses come from qmgr (checked by qmgr_clnt) and from alias
 *	tables, :include: and .forward files (operator and user data).
 */
#ifndef LOCAL_H
#define LOCAL_H

#include <stddef.h>
#include <sys/types.h>

#include "bounce_clnt.h"
#include "cleanup_clnt.h"
#include "pm_agent.h"
#include "pm_msgflags.h"
#include "pm_qstore.h"
#include "pm_table.h"
#include "pm_util.h"
#include "rewrite_clnt.h"

#define LOCAL_NAME_MAX 255
#define LOCAL_EXT_MAX 255
#define LOCAL_PATH_MAX 4096

/* ---- local_rcpt.c: recipient address parts ---- */

typedef struct local_addr {
	char local[2 * LOCAL_NAME_MAX + 2]; /* local part, lower case */
	char user[LOCAL_NAME_MAX + 1];      /* without the extension */
	char ext[LOCAL_EXT_MAX + 1];        /* "" when none */
	char delim;                         /* the delimiter found, or 0 */
	const char *domain;                 /* in the caller's address */
} local_addr;

/*
 * Split address (user+ext@domain) with the delimiters of delims (any
 * one char of it, as Postfix 2.11+), owner_request_special honoured.
 * 0, or PM_EINVAL (empty or over-long local part, NUL, '/').
 */
int local_addr_split(local_addr *a, const char *address, const char *delims,
    int ownreq_special);

/* ---- local_user.c ---- */

typedef struct local_user {
	char name[LOCAL_NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	char home[LOCAL_PATH_MAX]; /* "" = no home directory */
} local_user;

/*
 * Look the user up: local_recipient_maps (value "uid:gid:home" taken
 * as is; any other value: getpwnam_r, else default_privs with no home),
 * or getpwnam_r when the list is empty. 0, PM_ENOENT (unknown), or
 * another PM_E* (lookup failed: defer).
 */
int local_user_find(pm_tables *maps, const char *name, local_user *u);
/* Parse "uid:gid:home" (home may be empty). 0 or PM_EINVAL. */
int local_user_parse(const char *value, local_user *u);
/* uid/gid of default_privs (name or number), resolved at start. */
int local_privs_init(const char *spec);
extern uid_t local_nobody_uid;
extern gid_t local_nobody_gid;

/* ---- local_priv.c ---- */

/*
 * Switch the calling thread's file system identity to uid/gid
 * (setfsuid/setfsgid: per thread on Linux), and back to the process's
 * own. A no-op when not root. 0 or PM_EIO.
 */
int local_priv_set(uid_t uid, gid_t gid);
void local_priv_restore(void);
int local_priv_root(void);

/* ---- the state of one recipient's delivery ---- */

#define LOCAL_FROM_ALIAS 1u   /* target came from an alias */
#define LOCAL_FROM_FORWARD 2u /* from a .forward file */
#define LOCAL_FROM_INCLUDE 4u /* from an :include: file */

/*
 * The message's client attributes a command gets in its environment
 * (CLIENT_ADDRESS ...): local_cenv_fields[i] is the envelope field
 * read with the content, local_cenv_vars[i] the variable (local_target.c).
 */
#define LOCAL_CENV_N 8
extern const char *const local_cenv_fields[LOCAL_CENV_N];
extern const char *const local_cenv_vars[LOCAL_CENV_N];

typedef struct local_msg {
	pm_job *job;
	const char *content; /* as queued: CRLF line ends */
	size_t len;
	char *cenv[LOCAL_CENV_N]; /* "" when the message has none */
} local_msg;

typedef struct local_fwd {
	char *sender; /* envelope sender of the resubmission */
	char **rcpt;
	size_t nrcpt;
	size_t cap;
} local_fwd;

typedef struct local_fail {
	char dsn[16];
	char text[512];
} local_fail;

/* Failures of one recipient's targets kept for one notice. */
typedef struct local_fails {
	local_fail *v;
	size_t n;
	size_t cap;
	unsigned more; /* past PM_BOUNCE_NOTICE_MAX */
} local_fails;

/* The tables of one configuration (local.c swaps them on SIGHUP). */
typedef struct local_maps {
	pm_tables *alias; /* alias_maps */
	pm_tables *rcpt;  /* local_recipient_maps */
} local_maps;

typedef struct local_state {
	local_msg *m;
	const local_maps *maps; /* held for the whole job (pm_snap) */
	pm_job_rcpt *r;
	const char *rcpt;   /* the recipient being delivered (Delivered-To) */
	const char *sender; /* return address for forwards (or owner-) */
	unsigned ntargets;  /* targets so far */
	int status;         /* worst so far: PM_JOB_* */
	char dsn[16];
	char why[512];  /* failure text */
	pm_buf done;    /* "delivered to maildir; forwarded as ..." */
	local_fwd *fwd; /* one resubmission per distinct sender */
	size_t nfwd;
	char *seen[64]; /* include files and aliases on the current path */
	size_t nseen;
	int retry;    /* an earlier attempt at this recipient began */
	char tag[80]; /* maildir instance part: host-qid-index */
	/* local_owner.c: failures of |command, /file, loop to owner- */
	const local_addr *top; /* the recipient's parts (owner look-up) */
	int owner_scope;       /* a bounce now may go to the owner */
	int owner_looked;
	char *owner; /* NULL: none (or not looked up yet) */
	local_fails ofail;
	local_fails bfail; /* bounces not taken by the owner (local_fails.c) */
	int redirect;      /* pass it to rd_transport (local_delegate) */
	char rd_transport[PM_QMGR_TRANSPORT_MAX + 1];
	char rd_nexthop[PM_QMGR_NEXTHOP_MAX + 1];
	struct pm_metric *rd_count; /* counted once reported (local.c) */
	int rw_failed; /* probe: rewrite failed once, no more calls */
} local_state;

/*
 * An address verification probe (PM_MSG_PROBE): as Postfix's local(8)
 * with DEL_REQ_TRACE_ONLY, aliases, :include: and .forward still
 * expand, but each final target only reports what it would do
 * ("delivers to mailbox", "forwards to x"): nothing is written, run or
 * resubmitted, and no owner- alias hears of a failure.
 */
#define LOCAL_PROBE(s) (((s)->m->job->flags & PM_MSG_PROBE) != 0)

/* Record one target's outcome (text printable, bounded). */
void local_result(local_state *s, int status, const char *dsn, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/* ---- local_target.c ---- */

/* The user's mailbox: maildir, mbox, or mailbox_command. */
void local_deliver_mailbox(local_state *s, const local_user *u,
    const local_addr *a);
/* "/file" as uid/gid (mbox format). */
void local_deliver_file(local_state *s, const char *path, uid_t uid, gid_t gid);
/*
 * "|command" as uid/gid, argument vector split on white space; with
 * xu (mailbox_command) each argument is expanded by local_expand().
 */
void local_deliver_command(local_state *s, const char *cmd, uid_t uid,
    gid_t gid, const char *home, const local_addr *a, const local_user *xu);

/* ---- local_once.c ---- */

/*
 * Mark the start of an attempt at (job, rcpt) in Redis and fill
 * s->retry and s->tag; qs may be NULL (then every attempt counts as a
 * retry). local_once_found(): 1 if the maildir dir already holds a
 * message named with s->tag (delivered by an attempt that died before
 * its status reached Redis).
 */
void local_once_begin(local_state *s, pm_qstore *qs);
int local_once_found(const local_state *s, const char *dir);

/* ---- local_forward.c ---- */

extern pm_cleanup_clnt *local_cleanup;
/* The resolver, for probes (local_alias.c: which addresses are ours). */
extern pm_rewrite_clnt *local_rewrite;

/* Queue addr for resubmission with sender. */
void local_forward_add(local_state *s, const char *sender, const char *addr);
/* Resubmit what was queued (one message per sender). */
void local_forward_flush(local_state *s);

/* ---- local_owner.c ---- */

extern pm_bounce_clnt *local_bounce;

/*
 * The owner of alias name (owner-name@$myorigin, or its one-address
 * expansion with expand_owner_alias), or NULL (new string).
 */
char *local_owner_of(const local_state *s, const char *name);
/*
 * A bounced outcome inside s->owner_scope: 1 if the recipient's owner
 * takes it (kept for local_owner_flush, or a lookup error recorded as
 * a deferral), 0 if it is the sender's.
 */
int local_owner_take(local_state *s, const char *dsn, const char *text);
/* Send the kept failures to the owner; frees the owner state. */
void local_owner_flush(local_state *s);

/* ---- local_fails.c ---- */

/* Keep one failure (at most PM_BOUNCE_NOTICE_MAX, then counted). */
void local_fails_add(local_fails *f, const char *dsn, const char *text);
void local_fails_free(local_fails *f);
/*
 * Ask for one failure notice listing f's failures of s's recipient,
 * to notify_to (NULL: the sender); as pm_bounce_notify_to().
 */
int local_fails_notify(const local_state *s, const local_fails *f,
    const char *notify_to, pm_notice_result *res);
/* Postfix's bounce_one log line (status=bounced) for one failure. */
void local_fail_log(const local_state *s, const local_fail *f);
/*
 * A redirected recipient whose other targets bounced (s->status
 * PM_JOB_BOUNCED, s->bfail): send their failure notice to the sender
 * now, log them, and leave the recipient to be redirected with no
 * success notice; the bounce service not reachable defers it.
 */
void local_fails_flush(local_state *s);

/* ---- local_expand.c ---- */

/*
 * Append template to out with $home, $user, $extension,
 * $recipient_delimiter, $domain, $local, $recipient, $sender,
 * $mailbox (also ${name}, $(name), and $$ for '$') expanded for
 * the recipient, as Postfix local(8) does for forward_path and
 * mailbox_command. Returns 0, or -1 for an unknown name or, when
 * strict_ext, an empty $extension/$recipient_delimiter (Postfix skips
 * such a forward_path item) or output over out's limit.
 */
int local_expand(const char *template, const local_state *s,
    const local_user *u, const local_addr *a, int strict_ext, pm_buf *out);

/* ---- local_delegate.c ---- */

/*
 * Split "transport:nexthop" (white space around it trimmed); no or an
 * empty nexthop gives def_nexthop (may be NULL: ""). Both must be
 * printable ASCII without spaces, the transport 1..PM_QMGR_TRANSPORT_
 * MAX bytes, the nexthop at most PM_QMGR_NEXTHOP_MAX, and fit tp/nh.
 * 0, or PM_EINVAL (tp and nh untouched or partly written).
 */
int local_delegate_parse(const char *spec, const char *def_nexthop, char *tp,
    size_t tpsize, char *nh, size_t nhsize);
/*
 * mailbox_transport_maps, mailbox_transport: 1 when one applies (the
 * recipient is redirected, or deferred), 0 to deliver the mailbox here.
 */
int local_delegate_mailbox(local_state *s, const local_addr *a);
/* A user that does not exist: fallback_transport(_maps), luser_relay. */
void local_deliver_unknown(local_state *s, const local_addr *a);
/* Tables and metrics at start (0 or -1, logged); fini at stop. */
int local_delegate_init(void);
void local_delegate_fini(void);

/* ---- local_alias.c ---- */

/* Deliver one recipient from the top (loop check, aliases, user). */
void local_deliver_rcpt(local_state *s, const char *address);

#endif
