/*
 * NAME
 *	pm_mailbox - write one message into a maildir or an mbox file
 * SUMMARY
 *	#include "pm_mailbox.h"
 *	pm_mailbox_msg m = { .sender = "a@b", .recipient = "u@d",
 *	    .data = body, .len = len };
 *	pm_mailbox_opts o = { .size_limit = 51200000, .lock_wait_ms =
 *	    20000, .locks = PM_MBOX_LOCK_FCNTL | PM_MBOX_LOCK_DOTLOCK };
 *	pm_mailbox_status st;
 *	if (pm_maildir_deliver("/var/mail/d/u/", &m, &o, &st) == 0) ...
 *	if (pm_mbox_deliver("/var/mail/d/v", &m, &o, &st) == 0) ...
 * DESCRIPTION
 *	The final write of the local and virtual delivery agents. The
 *	caller reads the message from the body store (pm_agent_body())
 *	and passes it as one buffer; it runs as the mailbox owner already
 *	(setfsuid/setfsgid or a child process): these functions do no
 *	privilege changes.
 *
 *	Both write "Return-Path: <sender>" and "Delivered-To: recipient"
 *	before the content, and write Unix line ends: the queue keeps
 *	CRLF lines, a mailbox file has LF lines (CRLF becomes LF; a bare
 *	CR is kept; a missing final line end is added). The content is
 *	otherwise written as it is.
 *
 *	Missing directories on the way to the maildir or to the mbox
 *	file are created (mode 0700, as the caller's file system uid), as
 *	Postfix's virtual(8) does.
 *
 *	pm_maildir_deliver(dir): dir is the maildir (with or without a
 *	trailing "/"); tmp/, new/ and cur/ are created when missing. The message is written to tmp/<name>, fsync()ed, linked
 *	to new/<name> (link(2): an existing name is never replaced; on
 *	EEXIST another name is tried), tmp/<name> is removed and new/ is
 *	fsync()ed: when it returns 0 the message survives a crash. The
 *	name is "<sec>.M<usec>P<pid>Q<counter>.<instance>,S=<size>": the
 *	instance (opts.instance, default the host name; '/' and ':'
 *	written as \057 and \072 as the maildir convention says) makes it
 *	unique across replicas that share a volume, pid and a process
 *	counter within one. On any failure nothing is left behind (tmp/
 *	and new/ names are removed).
 *
 *	pm_mbox_deliver(path): the file is opened (created mode 0600 if
 *	missing; O_NOFOLLOW, and it must be a regular file with one
 *	link), locked as opts.locks says (PM_MBOX_LOCK_DOTLOCK: path.lock
 *	created with O_EXCL holding "pid instance incarnation"; one older
 *	than opts.stale_lock_s is removed, and so is one whose holder is
 *	of our instance and gone (a dead pid, or our pid of an earlier
 *	incarnation: a killed agent restarted in its container); then PM_MBOX_LOCK_FCNTL: a whole-file write lock, an
 *	open-file-description lock (F_OFD_SETLK) so that two threads of
 *	one agent exclude each other too, and which conflicts with the
 *	classic fcntl locks of other programs; PM_MBOX_LOCK_FLOCK:
 *	flock(2)), retried every 100 ms for at most opts.lock_wait_ms.
 *	Then it appends "From <sender> <date>" (MAILER-DAEMON for the
 *	null sender; asctime(3) date of opts.now or now), the headers and
 *	the content with lines that start with "From " written as
 *	">From " (mboxo, as Postfix), and one empty line; fsync(); the
 *	locks are released. On a failure after the first byte the file
 *	is truncated back to its size before the delivery.
 *
 *	Crash safety (opts.delivery_id, e.g. "<queue id>.<recipient
 *	index>", [A-Za-z0-9._-] only): an agent killed after the write but
 *	before it recorded the recipient gets the recipient again. Each
 *	mailbox keeps a small ledger of recent delivery ids (maildir:
 *	tmp/.postmesh-ledger; mbox: <path>.postmesh), written before the
 *	message becomes visible. An id found there whose message is in
 *	the mailbox (maildir: new/<name> or cur/<name>:...; mbox: the very
 *	bytes at the recorded offset) is not written again (0, "delivered
 *	to ..."); an mbox that ends in a torn copy of it (a crash in mid
 *	write) is truncated back first. See pm_mailbox_ledger.c. An mbox
 *	ledger the owner may not create (EACCES, EPERM, EROFS: a spool
 *	directory without write access) is warned about and skipped.
 *
 *	Both return 0 (st: "2.0.0", "delivered to maildir" / "delivered
 *	to mailbox") or a negative PM_E* with st set to a Postfix-style
 *	DSN status and text, and st.err to the errno of the failure (0
 *	when none). The class of st.dsn says what the caller reports: 4
 *	defer, 5 bounce. As Postfix (mbox_open(), local/maildir.c,
 *	virtual/maildir.c, mail_copy()), one table maps an errno to the
 *	status, pm_mailbox_errno_dsn(): the mailbox cannot be opened or
 *	created (mbox open, maildir directories, tmp/ file, link into
 *	new/; also an mbox that is not a regular file with one link):
 *	"cannot open file: ..." / "create maildir file ...: ..." with
 *	the table over opts.open_dsn; the message cannot be written
 *	(write, fsync, close): "error writing message: ..." with the
 *	table over "5.3.0". Lock contention stays "4.2.0" ("cannot lock
 *	..."), a ledger that cannot be written "4.3.0". The caller puts
 *	its Postfix prefix before the text ("cannot update mailbox %s for
 *	user %s. ", "maildir delivery failed: ", ...).
 * LIMITS
 *	opts.size_limit (mailbox_size_limit, virtual_mailbox_limit): the
 *	size of the mbox file after the delivery, or of one maildir file;
 *	0 = no limit. Over it: 5.2.2 "mailbox full", nothing written. A
 *	write that fails with EFBIG (RLIMIT_FSIZE) or EDQUOT is 5.2.2 too
 *	(as Postfix's mbox_dsn(); the caller should ignore SIGXFSZ);
 *	ENOSPC is 4.3.0, other write errors 5.3.0.
 *	opts.lock_wait_ms bounds the wait for locks (4.2.0 after it).
 *	Paths longer than PATH_MAX - 64 are refused (5.3.5).
 * SECURITY
 *	sender and recipient come from qmgr: control characters in them
 *	are written as '?', so they cannot start a header line; in the
 *	From_ line white space becomes '_'. The content is not trusted
 *	and not interpreted beyond line ends and "From " quoting. Files
 *	are opened with O_NOFOLLOW; an mbox must be a regular file with
 *	one link (a hard link to another file is refused: opts.open_dsn). After
 *	the locks are taken the path is checked to still name the opened
 *	file (a mail reader may have replaced it meanwhile): if not, it
 *	is opened and locked again.
 */
#ifndef PM_MAILBOX_H
#define PM_MAILBOX_H

#include <stddef.h>
#include <time.h>

#define PM_MBOX_LOCK_FCNTL 0x1
#define PM_MBOX_LOCK_DOTLOCK 0x2
#define PM_MBOX_LOCK_FLOCK 0x4

/* The DSN when the write did not happen; "2.0.0" when it did. */
typedef struct pm_mailbox_status {
	char dsn[16];
	char text[512];
	int err;   /* the errno behind a failure, 0 = none */
	int again; /* 0 returned: an earlier write of delivery_id was found */
} pm_mailbox_status;

typedef struct pm_mailbox_msg {
	const char *sender;    /* envelope sender, "" = null sender */
	const char *recipient; /* Delivered-To: value */
	const char *data;      /* the message as queued (CRLF or LF lines) */
	size_t len;
} pm_mailbox_msg;

typedef struct pm_mailbox_opts {
	long long size_limit;    /* bytes, 0 = none */
	long lock_wait_ms;       /* mbox: total lock wait */
	int locks;               /* mbox: PM_MBOX_LOCK_* (0 = fcntl) */
	long stale_lock_s;       /* mbox: dotlock age that is stale; 0 = 500 */
	const char *instance;    /* maildir name part; NULL = host name */
	time_t now;              /* mbox From_ date; 0 = time(NULL) */
	const char *delivery_id; /* ledger key ("<qid>.<rcpt>"); NULL = none */
	/*
	 * The DSN of a mailbox that cannot be opened or created, as the
	 * def_dsn of Postfix's mbox_open() and maildir code, mapped by
	 * pm_mailbox_errno_dsn(): local(8) "5.2.0" (bounce), NULL =
	 * "4.2.0" (virtual(8): defer).
	 */
	const char *open_dsn;
	int no_mkdirs; /* mbox: a missing parent directory is an open error */
} pm_mailbox_opts;

/*
 * Postfix's mbox_dsn(): the DSN of a mailbox error err, def for most.
 * EAGAIN and ESTALE are "4.2.0" (try again), ENOSPC "4.3.0" (the
 * system is full), EDQUOT and EFBIG "5.2.2" (the mailbox is full).
 * Postmesh adds EMFILE, ENFILE, ENOMEM, ENOBUFS and EINTR "4.3.0": the
 * long-lived threaded agent's own resources, not the mailbox's fault.
 * The one errno table of both mailbox writers and of the local and
 * virtual agents; def is the open_dsn for an open or create error,
 * PM_MAILBOX_WRITE_DSN for a write error.
 */
#define PM_MAILBOX_WRITE_DSN "5.3.0"
const char *pm_mailbox_errno_dsn(int err, const char *def);

int pm_maildir_deliver(const char *dir, const pm_mailbox_msg *m,
    const pm_mailbox_opts *o, pm_mailbox_status *st);
int pm_mbox_deliver(const char *path, const pm_mailbox_msg *m,
    const pm_mailbox_opts *o, pm_mailbox_status *st);

/*
 * Parse a mailbox_delivery_lock / virtual_mailbox_lock value ("fcntl,
 * dotlock", "flock"; separators space, comma, tab) into PM_MBOX_LOCK_*
 * bits. Returns PM_EINVAL on an unknown word or an empty list.
 */
int pm_mbox_lock_parse(const char *value, int *locks);

#endif
