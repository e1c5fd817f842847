/*
 * NAME
 *	sendmail - Postfix-compatible sendmail(1): submit mail from programs
 * SUMMARY
 *	sendmail [options] [recipient ...]
 *	mailq (= sendmail -bp), newaliases (= sendmail -bi)
 * DESCRIPTION
 *	As Postfix's sendmail(1), but Postmesh has no maildrop directory
 *	(no postdrop, no pickup): the message is read from standard input
 *	(pm_msgread: LF or CRLF lines, a lone "." ends it unless -i/-oi,
 *	a leading mbox "From " line dropped) and handed to the cleanup
 *	service over nng (cleanup_service), with the same CleanupSubmit
 *	smtpd and local's forwarding send. sendmail exits 0 only when
 *	cleanup answered 250: the message is queued in Redis.
 *
 *	Like Postfix's pickup, the content starts with
 *	  Received: by $myhostname ($mail_name, from userid N)
 *	        id QID; date
 *	and the request carries the uid (cleanup logs "QID: uid=N
 *	from=<sender>") and the SUBMIT_LOCAL flag (cleanup adds a missing
 *	Message-Id:, Date: and From:, the latter with the full name).
 *	The envelope sender is -f/-r, else the login name of the real uid,
 *	which cleanup qualifies with @$myorigin.
 *
 *	Options, as Postfix's: -t (recipients from To:, Cc:, Bcc:, or from
 *	the Resent- forms when the message has Resent- headers, added to
 *	the command-line ones; cleanup removes Bcc: with drop_headers),
 *	-f/-r sender, -F full name (default $NAME, then the GECOS name),
 *	-i/-oi, -N notify, -R ret, -V envid, -B body type, -C config,
 *	-bm (default), -bp (exec postqueue -p), -bi/-I (exec newaliases),
 *	-q (exec postqueue -f; -qRsite: -s site; -qIqid: -i qid;
 *	-qinterval ignored). Ignored, as Postfix: -G -L -O -U -c -e -h -m
 *	-n -p -v -x -X and other -o options. Invoked as mailq or
 *	newaliases it acts as -bp / -bi.
 * LIMITS
 *	message_size_limit bytes of content, line_length_limit bytes per
 *	read piece, header_size_limit per header for -t; each cleanup call
 *	waits sendmail_cleanup_timeout.
 * SECURITY
 *	Runs with the caller's privileges (no set-uid/set-gid: there is no
 *	spool to protect); the uid cleanup logs is the real uid. Anyone who
 *	can reach cleanup_service can submit mail, as with smtpd.
 * DIAGNOSTICS
 *	"sendmail: fatal: user(uid): reason" on stderr; "sendmail:
 *	warning: ..." for a header address -t skips (too long, control
 *	character): the other recipients get the message. Exit 0 queued;
 *	64 (EX_USAGE) bad options or no recipients; 65 (EX_DATAERR) a
 *	bad command-line recipient; 69 (EX_UNAVAILABLE) -t found no
 *	recipient (as Postfix, where cleanup finds it), refused (5xx: e.g.
 *	"message file too big"), unsupported mode; 71 (EX_OSERR) no login name; 74
 *	(EX_IOERR) read error; 75 (EX_TEMPFAIL) cleanup unreachable or
 *	answering 4xx: the mail is NOT accepted (no local spool).
 */
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cleanup_clnt.h"
#include "pm_addr.h"
#include "pm_common_params.h"
#include "pm_envcheck.h"
#include "pm_hdraddr.h"
#include "pm_log.h"
#include "pm_mail_params.h"
#include "pm_msgflags.h"
#include "pm_msghdr.h"
#include "pm_msgread.h"
#include "pm_qid.h"

#define VAR_SM_CLEANUP_TMOUT "sendmail_cleanup_timeout"
#define DEF_SM_CLEANUP_TMOUT "60s"
#define SM_FULLNAME_MAX 256

static long var_sm_cleanup_tmout;

typedef struct sm_opts {
	const char *config_dir;
	const char *sender; /* NULL: the login name */
	const char *full_name;
	const char *envid;
	unsigned notify;
	int dsn_ret;
	int body_type;
	int dot_ends;
	int extract;
} sm_opts;

static char *who = "unknown"; /* "user(uid)" for messages */

static void __attribute__((noreturn, format(printf, 2, 3)))
sm_fatal(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sendmail: fatal: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void __attribute__((format(printf, 1, 2))) sm_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sendmail: warning: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Run a sibling command of this binary (postqueue, newaliases). */
static void __attribute__((noreturn))
sm_exec(const char *opt, const char *cmd, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 64], *slash;
	struct stat sp, ss;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = 0;
			snprintf(path, sizeof(path), "%s/%s", self, cmd);
			/* not ourselves (a mailq/newaliases link to sendmail) */
			if (access(path, X_OK) == 0 && stat(path, &sp) == 0 &&
			    stat("/proc/self/exe", &ss) == 0 &&
			    (sp.st_dev != ss.st_dev ||
			        sp.st_ino != ss.st_ino)) {
				argv[0] = (char *) cmd;
				execv(path, argv);
				sm_fatal(EX_OSERR, "execute %s: %m", path);
			}
		}
	}
	sm_fatal(EX_UNAVAILABLE,
	    "%s is not supported: no %s command next to sendmail", opt, cmd);
}

static unsigned
sm_parse_notify(const char *arg)
{
	char *copy = pm_strdup(arg), *tok, *save = NULL;
	unsigned bits = 0;

	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		if (strcasecmp(tok, "never") == 0) {
			bits |= PM_NOTIFY_NEVER;
		} else if (strcasecmp(tok, "success") == 0) {
			bits |= PM_NOTIFY_SUCCESS;
		} else if (strcasecmp(tok, "failure") == 0) {
			bits |= PM_NOTIFY_FAILURE;
		} else if (strcasecmp(tok, "delay") == 0) {
			bits |= PM_NOTIFY_DELAY;
		} else {
			sm_fatal(EX_USAGE, "bad -N option value: %s", arg);
		}
	}
	free(copy);
	if (bits == 0 ||
	    ((bits & PM_NOTIFY_NEVER) && bits != PM_NOTIFY_NEVER)) {
		sm_fatal(EX_USAGE, "bad -N option value: %s", arg);
	}
	return (bits);
}

/* -F, else $NAME, else the GECOS name ("&" is the capitalised login). */
static char *
sm_full_name(const char *given, const struct passwd *pw)
{
	const char *g, *env = getenv("NAME");
	pm_buf b;
	char c;

	if (given != NULL) {
		return (pm_strndup(given, strnlen(given, SM_FULLNAME_MAX)));
	}
	if (env != NULL && *env) {
		return (pm_strndup(env, strnlen(env, SM_FULLNAME_MAX)));
	}
	if (pw == NULL || pw->pw_gecos == NULL) {
		return (pm_strdup(""));
	}
	pm_buf_init(&b, SM_FULLNAME_MAX);
	for (g = pw->pw_gecos; *g && *g != ','; g++) {
		if (*g == '&' && pw->pw_name[0]) {
			c = pw->pw_name[0];
			if (c >= 'a' && c <= 'z') {
				c = (char) (c - 'a' + 'A');
			}
			pm_buf_append(&b, &c, 1);
			pm_buf_puts(&b, pw->pw_name + 1);
		} else {
			pm_buf_append(&b, g, 1);
		}
	}
	pm_buf_append(&b, "", 1);
	return (pm_buf_steal(&b, NULL));
}

/* A name or address with control characters cannot go into a header. */
static char *
sm_clean(char *s)
{
	char *p;

	for (p = s; *p; p++) {
		if ((unsigned char) *p < ' ' || *p == 0x7f) {
			*p = ' ';
		}
	}
	return (s);
}

/* Move the addresses of from to the end of to. */
static void
sm_list_move(pm_addr_list *to, pm_addr_list *from)
{
	size_t i;

	for (i = 0; i < from->n; i++) {
		if (to->n == to->cap) {
			to->cap = to->cap ? 2 * to->cap : 8;
			to->addr =
			    pm_realloc(to->addr, to->cap * sizeof(*to->addr));
		}
		to->addr[to->n++] = from->addr[i];
	}
	from->n = 0;
	pm_addr_list_free(from);
}

/*
 * -t: recipients from To:, Cc:, Bcc:, or from Resent-To:, Resent-Cc:,
 * Resent-Bcc: when the message has any Resent- header (Postfix's
 * cleanup extraction rule).
 */
static size_t
sm_extract(const pm_buf *content, pm_addr_list *out)
{
	pm_addr_list plain = { 0 }, resent = { 0 };
	pm_hdr_iter it;
	pm_hdr h;
	const char *v;
	size_t vlen;
	size_t skip_plain = 0, skip_resent = 0;
	int has_resent = 0;

	pm_hdr_iter_init(&it, content->data, content->len,
	    (size_t) var_header_limit);
	pm_hdr_init(&h);
	while (pm_hdr_next(&it, &h)) {
		if (h.namelen > 7 &&
		    strncasecmp(h.text.data, "resent-", 7) == 0) {
			has_resent = 1;
		}
		if (pm_hdr_is(&h, "to") || pm_hdr_is(&h, "cc") ||
		    pm_hdr_is(&h, "bcc")) {
			v = pm_hdr_value(&h, &vlen);
			skip_plain += pm_hdr_addrs(v, vlen, &plain);
		} else if (pm_hdr_is(&h, "resent-to") ||
		    pm_hdr_is(&h, "resent-cc") || pm_hdr_is(&h, "resent-bcc")) {
			v = pm_hdr_value(&h, &vlen);
			skip_resent += pm_hdr_addrs(v, vlen, &resent);
		}
	}
	pm_hdr_free(&h);
	sm_list_move(out, has_resent ? &resent : &plain);
	pm_addr_list_free(&plain);
	pm_addr_list_free(&resent);
	return (has_resent ? skip_resent : skip_plain);
}

/*
 * Drop the header addresses that cannot go into an envelope, with a
 * warning each: the other recipients still get the message.
 */
static void
sm_extract_check(pm_addr_list *l, size_t too_long)
{
	const char *why;
	size_t i, n = 0;

	if (too_long > 0) {
		sm_warn("skipped %zu recipient address(es) longer than %d "
		        "bytes in the message header",
		    too_long, PM_ADDR_MAX);
	}
	for (i = 0; i < l->n; i++) {
		if ((why = pm_envcheck_addr(l->addr[i])) != NULL) {
			sm_warn("skipped recipient address in the message "
			        "header: %s: %s",
			    why, sm_clean(l->addr[i]));
			free(l->addr[i]);
		} else {
			l->addr[n++] = l->addr[i];
		}
	}
	l->n = n;
}

/* -C: a directory or a file in it; the directory (malloc'ed). */
static char *
sm_config_dir(const char *config)
{
	struct stat st;
	char *dir = pm_strdup(config), *slash;

	if (stat(config, &st) == 0 && !S_ISDIR(st.st_mode) &&
	    (slash = strrchr(dir, '/')) != NULL) {
		*slash = 0;
	}
	return (dir);
}

/* Load main.cf (-C: a directory or a file in it). */
static void
sm_config(const char *config)
{
	static const pm_cfg_int ints[] = { PM_CFG_LINE_LIMIT,
		PM_CFG_HEADER_LIMIT, { 0 } };
	static const pm_cfg_time times[] = {
		{ VAR_SM_CLEANUP_TMOUT, DEF_SM_CLEANUP_TMOUT,
		    &var_sm_cleanup_tmout, 's', 1, 3600 },
		{ 0 },
	};
	char *dir = NULL, *cfpath = NULL;

	if (config != NULL) {
		dir = sm_config_dir(config);
		setenv("MAIL_CONFIG", dir, 1);
		cfpath = pm_asprintf("%s/main.cf", dir);
	}
	if (pm_cfg_load(cfpath) != 0) {
		sm_fatal(EX_CONFIG, "cannot read the configuration");
	}
	free(cfpath);
	free(dir);
	pm_common_params_bind();
	pm_cfg_bind_int(ints);
	pm_cfg_bind_time(times);
}

static void
sm_usage(void)
{
	sm_fatal(EX_USAGE,
	    "usage: sendmail [-t] [-i] [-f sender] "
	    "[-F fullname] [-N dsn] [-R ret] [-V envid] "
	    "[-C config] [recipient ...]");
}

/* The submission proper; returns the exit status. */
static int
sm_submit(const sm_opts *o, char **rcptv, int nrcptv, const char *sender,
    const char *full_name, unsigned uid)
{
	pm_msgread_opts ro = { o->dot_ends, (size_t) var_line_limit,
		(size_t) var_message_size_limit };
	pm_cleanup_clnt *c;
	pm_submit sub;
	pm_submit_result res;
	pm_submit_rcpt *rv;
	pm_addr_list hdr = { 0 };
	pm_buf content;
	char qid[PM_QID_LEN + 1], date[128];
	size_t head, nrcpt, i;
	int err, utf8 = 0;
	time_t now = time(NULL);

	pm_qid_new(qid);
	pm_mail_date(now, date, sizeof(date));
	pm_buf_init(&content, 0);
	pm_buf_printf(&content,
	    "Received: by %s (%s, from userid %u)\r\n\tid %s; %s\r\n",
	    var_myhostname, var_mail_name, uid, qid, date);
	head = content.len;
	/* what cleanup counts: our header too */
	if (ro.size_limit > 0) {
		ro.size_limit = ro.size_limit > head ? ro.size_limit - head : 1;
	}
	pm_buf t;
	pm_buf_init(&t, 0);
	err = pm_msgread(stdin, &ro, &t);
	if (err == PM_ETOOBIG) {
		sm_fatal(EX_UNAVAILABLE, "%s: message file too big", who);
	} else if (err != 0) {
		sm_fatal(EX_IOERR, "%s: error reading input: %m", who);
	}
	pm_buf_append(&content, t.data, t.len);
	pm_buf_free(&t);
	if (o->extract) {
		sm_extract_check(&hdr, sm_extract(&content, &hdr));
	}
	nrcpt = (size_t) nrcptv + hdr.n;
	if (nrcpt == 0) {
		if (o->extract) {
			sm_fatal(EX_UNAVAILABLE, /* Postfix: a cleanup error */
			    "%s: No recipient addresses found in message header",
			    who);
		}
		sm_fatal(EX_USAGE,
		    "%s: Recipient addresses must be specified on the "
		    "command line or via the -t option",
		    who);
	}
	rv = pm_calloc(nrcpt, sizeof(*rv));
	for (i = 0; i < nrcpt; i++) {
		rv[i].address = i < (size_t) nrcptv ?
		    rcptv[i] :
		    hdr.addr[i - (size_t) nrcptv];
		rv[i].orcpt = "";
		rv[i].notify = o->notify;
		if (pm_envcheck_addr(rv[i].address) != NULL) {
			sm_fatal(EX_DATAERR, "%s: bad recipient address: %s",
			    who, sm_clean(pm_strdup(rv[i].address)));
		}
	}
	/* smtputf8_autodetect_classes = sendmail: 8-bit in the envelope. */
	for (i = 0; i < nrcpt; i++) {
		const char *p;

		for (p = rv[i].address; *p; p++) {
			utf8 |= (unsigned char) *p >= 0x80;
		}
	}
	for (i = 0; sender[i]; i++) {
		utf8 |= (unsigned char) sender[i] >= 0x80;
	}

	memset(&sub, 0, sizeof(sub));
	sub.queue_id = qid;
	sub.sender = sender;
	sub.rcpt = rv;
	sub.nrcpt = nrcpt;
	sub.content = content.data;
	sub.content_len = content.len;
	sub.flags = PM_MSG_LOCAL | (utf8 ? PM_MSG_SMTPUTF8 : 0);
	sub.body_type = o->body_type;
	sub.dsn_ret = o->dsn_ret;
	sub.dsn_envid = o->envid;
	sub.has_uid = 1;
	sub.uid = uid;
	sub.full_name = full_name;
	sub.arrival_us = pm_now_us();

	c = pm_cleanup_clnt_new(var_cleanup_service,
	    (size_t) var_message_size_limit,
	    (int) (var_sm_cleanup_tmout * 1000));
	if (c == NULL) {
		sm_fatal(EX_CONFIG, "cannot use %s = %s", VAR_CLEANUP_SERVICE,
		    var_cleanup_service);
	}
	pm_cleanup_submit(c, &sub, &res);
	pm_cleanup_clnt_free(c);
	free(rv);
	pm_addr_list_free(&hdr);
	pm_buf_free(&content);
	if (res.code >= 200 && res.code < 300) {
		return (EX_OK);
	}
	if (res.code == 552 && strcmp(res.dsn, "5.3.4") == 0) {
		sm_fatal(EX_UNAVAILABLE, "%s: message file too big", who);
	}
	if (res.code >= 500) {
		sm_fatal(EX_UNAVAILABLE, "%s: mail refused: %u %s %s", who,
		    res.code, res.dsn, res.text);
	}
	sm_fatal(EX_TEMPFAIL,
	    "%s: cannot queue the message: cleanup service (%s): %u %s %s; "
	    "the mail was not accepted (Postmesh has no local spool): "
	    "try again later",
	    who, var_cleanup_service, res.code, res.dsn, res.text);
}

int
main(int argc, char **argv)
{
	sm_opts o = { .dot_ends = 1 };
	const char *base =
	    strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	char mode = 'm', *qarg = NULL, *name, *sender;
	char *xargv[6];
	struct passwd *pw;
	unsigned uid = (unsigned) getuid();
	int ch, qflag = 0, verbose = 0, xn = 1, status;

	if (strcmp(base, "mailq") == 0) {
		mode = 'p';
	} else if (strcmp(base, "newaliases") == 0) {
		mode = 'i';
	}
	while ((ch = getopt(argc, argv,
	            "B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:q::r:tvx")) != -1) {
		switch (ch) {
		case 'B':
			if (strcasecmp(optarg, "8BITMIME") == 0) {
				o.body_type = PM_BODYTYPE_8BITMIME;
			} else if (strcasecmp(optarg, "7BIT") == 0) {
				o.body_type = PM_BODYTYPE_7BIT;
			} else {
				sm_fatal(EX_USAGE, "bad -B option value: %s",
				    optarg);
			}
			break;
		case 'C':
			o.config_dir = optarg;
			break;
		case 'F':
			o.full_name = optarg;
			break;
		case 'I':
			mode = 'i';
			break;
		case 'N':
			o.notify = sm_parse_notify(optarg);
			break;
		case 'R':
			if (strcasecmp(optarg, "full") == 0) {
				o.dsn_ret = PM_RET_FULL;
			} else if (strcasecmp(optarg, "hdrs") == 0) {
				o.dsn_ret = PM_RET_HDRS;
			} else {
				sm_fatal(EX_USAGE, "bad -R option value: %s",
				    optarg);
			}
			break;
		case 'V':
			if (pm_envcheck_envid(optarg) != NULL) {
				sm_fatal(EX_USAGE, "bad -V option value");
			}
			o.envid = optarg;
			break;
		case 'b':
			mode = optarg[0];
			if (strchr("mpi", mode) == NULL || optarg[1] != 0) {
				sm_fatal(EX_USAGE, "unsupported: -b%s", optarg);
			}
			break;
		case 'f':
		case 'r':
			o.sender = optarg;
			break;
		case 'i':
			o.dot_ends = 0;
			break;
		case 'o':
			if (optarg[0] == 'i' && optarg[1] == 0) {
				o.dot_ends = 0;
			}
			break;
		case 'q':
			qflag = 1;
			qarg = optarg;
			break;
		case 't':
			o.extract = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'G':
		case 'L':
		case 'O':
		case 'U':
		case 'X':
		case 'c':
		case 'e':
		case 'h':
		case 'm':
		case 'n':
		case 'p':
		case 'x':
			break; /* ignored, as Postfix */
		default:
			sm_usage();
		}
	}
	(void) verbose;
	/* Modes that are other commands. */
	xargv[xn] = NULL;
	if (mode == 'p' || mode == 'i' || qflag) {
		if (o.config_dir != NULL) { /* their -c takes the directory */
			xargv[xn++] = "-c";
			xargv[xn++] = sm_config_dir(o.config_dir);
		}
		if (mode == 'i') {
			xargv[xn] = NULL;
			sm_exec("-bi", "newaliases", xargv);
		}
		if (mode == 'p') {
			xargv[xn++] = "-p";
		} else if (qarg == NULL) {
			xargv[xn++] = "-f";
		} else if (qarg[0] == 'R' && qarg[1]) {
			xargv[xn++] = "-s";
			xargv[xn++] = qarg + 1;
		} else if (qarg[0] == 'I' && qarg[1]) {
			xargv[xn++] = "-i";
			xargv[xn++] = qarg + 1;
		} else {
			if (o.config_dir != NULL) {
				free(xargv[2]); /* the -c directory */
			}
			return (EX_OK); /* -q<interval>: ignored, as Postfix */
		}
		xargv[xn] = NULL;
		sm_exec(mode == 'p' ? "-bp" : "-q", "postqueue", xargv);
	}

	/* pm_log writes to fd 1; keep stdout clean (it is not ours). */
	if (dup2(2, 1) < 0) {
		sm_fatal(EX_OSERR, "cannot set up output");
	}
	pm_log_init("sendmail");
	sm_config(o.config_dir);

	pw = getpwuid((uid_t) uid);
	if (o.sender != NULL) {
		sender = sm_clean(pm_strdup(o.sender));
		if (strcmp(sender, "<>") == 0) {
			sender[0] = 0;
		}
	} else if (pw != NULL && pw->pw_name[0]) {
		sender = pm_strdup(pw->pw_name);
	} else {
		sm_fatal(EX_OSERR, "no login name found for user ID %u", uid);
	}
	if (strlen(sender) >= 2 && sender[0] == '<' &&
	    sender[strlen(sender) - 1] == '>') {
		memmove(sender, sender + 1, strlen(sender) - 2);
		sender[strlen(sender) - 2] = 0;
	}
	if (pm_envcheck_addr(sender) != NULL) {
		sm_fatal(EX_USAGE, "bad sender address");
	}
	who = pm_asprintf("%s(%u)",
	    pw != NULL && pw->pw_name[0] ? pw->pw_name : sender, uid);
	name = sm_clean(sm_full_name(o.full_name, pw));
	status = sm_submit(&o, argv + optind, argc - optind, sender, name, uid);
	free(name);
	free(sender);
	free(who);
	return (status);
}
