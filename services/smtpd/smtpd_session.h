/*
 * NAME
 *	smtpd_session - one SMTP session: state shared by the smtpd files
 * SUMMARY
 *	#include "smtpd_session.h"
 * DESCRIPTION
 *	A session lives on the event loop thread. It is driven by input
 *	(smtpd_session_drive), by its timer (deadlines, reply delays) and
 *	by its wake event (a check or a cleanup submission finished on
 *	another thread). While such work is in flight (phase PH_BUSY) the
 *	session reads nothing more: pipelined input stays buffered,
 *	bounded by the connection's input limit, and the session's
 *	strings stay unchanged (the worker reads them).
 *
 *	Files: smtpd_session.c (life cycle, input loop, replies, limits,
 *	timers, logging), smtpd_cmd.c (commands), smtpd_data.c (DATA and
 *	BDAT), smtpd_queue.c (cleanup hand-off), smtpd_received.c
 *	(Received: header), smtpd_tls*.c (STARTTLS, implicit TLS, the
 *	contexts, ticket keys), smtpd.c (listener, loop, stop).
 * LIMITS
 *	See smtpd_params.h: line_length_limit, smtpd_recipient_limit,
 *	smtpd_timeout, smtpd_min_data_rate, error and junk limits,
 *	message_size_limit.
 * SECURITY
 *	Everything the client sends is untrusted; strings from the client
 *	go through pm_printable() before they are logged.
 */
#ifndef SMTPD_SESSION_H
#define SMTPD_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "cleanup_clnt.h"
#include "pm_addr.h"
#include "pm_budget.h"
#include "pm_metrics.h"
#include "pm_qid.h"
#include "pm_smtp_data.h"
#include "pm_util.h"
#include "smtpd_check.h"
#include "smtpd_conn.h"
#include "smtpd_pool.h"

/* Phases. */
enum {
	PH_CONNECT = 0, /* connect check in flight, no greeting yet */
	PH_CMD,         /* reading command lines */
	PH_DATA,        /* reading DATA content */
	PH_BDAT,        /* reading a BDAT chunk */
	PH_BUSY,        /* check or cleanup in flight */
	PH_DELAY,       /* replies held (smtpd_error_sleep_time) */
	PH_CLOSING,     /* flushing the last replies, then free */
	PH_PROXY,       /* reading the PROXY header (smtpd_proxy.c) */
};

/* Commands, in the order of the "disconnect from" statistics. */
enum {
	CMD_HELO = 0,
	CMD_EHLO,
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_BDAT,
	CMD_RSET,
	CMD_NOOP,
	CMD_VRFY,
	CMD_ETRN,
	CMD_QUIT,
	CMD_HELP,
	CMD_UNKNOWN,
	CMD_COUNT,
};

/* Reasons for postmesh_smtpd_messages_rejected_total. */
enum {
	REJ_RELAY = 0,
	REJ_RECIPIENT,
	REJ_SENDER,
	REJ_CLIENT,
	REJ_HELO,
	REJ_DATA,
	REJ_SIZE,
	REJ_SYNTAX,
	REJ_LIMIT,
	REJ_PROTOCOL,
	REJ_CLEANUP,
	REJ_STORAGE, /* smtpd_content_memory_limit reached */
	REJ_COUNT,
};

typedef struct smtpd_rcpt {
	char *address;
	char *orcpt;     /* "rfc822;addr" (xtext decoded) or NULL */
	unsigned notify; /* Notify bits (common.proto) */
} smtpd_rcpt;

typedef struct smtpd_session smtpd_session;
typedef void (*smtpd_cont)(smtpd_session *s);

struct smtpd_session {
	smtpd_session *prev, *next; /* all sessions (smtpd.c) */
	smtpd_conn *conn;
	struct event *timer;
	struct event *wake;
	int phase;
	int next_phase;  /* after the current command: CMD/DATA/BDAT */
	int dead;        /* connection gone, free when idle */
	int eof;         /* client sent EOF (input may remain) */
	int out_blocked; /* output over its limit: wait for drain */

	/* Client. */
	char *name; /* "unknown" (no reverse lookup yet) */
	char *addr;
	char *port;
	char *namaddr;  /* "name[addr]" for logs */
	char *rfc_addr; /* addr, "IPv6:addr" for IPv6 */
	int loopback;
	char *access_denied; /* connect check reject reply, or NULL */

	/* HELO/EHLO. */
	char *helo;
	int esmtp;            /* EHLO given */
	const char *protocol; /* "SMTP" or "ESMTP" */

	/* TLS (smtpd_tls.c). */
	int tls;           /* 1 once the TLS handshake completed */
	char *tls_summary; /* "TLSv1.3 with cipher ..." or NULL */
	char *tls_peer_cn; /* verified client certificate CN, or NULL */

	/* Transaction. */
	char *sender; /* NULL: no MAIL; "" for <> */
	char qid[PM_QID_LEN + 1];
	int64_t arrival_us;
	int body_type; /* BodyType */
	int dsn_ret;   /* DsnRet */
	char *dsn_envid;
	char *sasl_sender; /* MAIL FROM AUTH=, NULL if none or <> */
	int smtputf8;
	unsigned flags; /* SubmitFlag bits */
	int discard;    /* a check said DISCARD */
	smtpd_rcpt *rcpt;
	size_t nrcpt;
	size_t rcpt_cap;
	char *pending_rcpt; /* RCPT being checked */
	char *pending_orcpt;
	unsigned pending_notify;

	/* Content (DATA/BDAT). */
	pm_buf content;
	pm_smtp_data data;
	int content_open;    /* Received: written, data state set up */
	size_t content_held; /* bytes reserved in smtpd_content_budget */
	int content_nomem;   /* budget exhausted: content discarded */
	int bdat_active;     /* BDAT chunks seen in this transaction */
	int bdat_discard;    /* chunk read only to stay in sync */
	int bdat_last;
	size_t bdat_left;
	size_t bdat_size;    /* this chunk's size, for the reply */
	uint64_t data_bytes; /* raw octets in the DATA/BDAT phase */
	int64_t data_start_ms;

	/* Command input. */
	pm_buf line;
	int line_crlf;    /* last command line ended in CRLF */
	int discard_line; /* discarding the rest of a long line */
	int64_t line_start_ms;
	int64_t idle_start_ms;
	int64_t last_read_ms;

	/* Current command. */
	int cmd;           /* CMD_* */
	const char *where; /* for logs: "CONNECT", "RCPT", ... */
	int cmd_last;      /* must end a pipeline group */
	int cmd_failed;    /* a 4xx/5xx reply was given */
	unsigned cmd_ok[CMD_COUNT];
	unsigned cmd_total[CMD_COUNT];

	/* Replies. */
	pm_buf out; /* replies not yet written */
	int delay;  /* hold out for smtpd_error_sleep_time */
	unsigned error_count;
	unsigned junk_count;

	/* Async work. */
	smtpd_job job;
	smtpd_cont cont;  /* continuation on the loop thread */
	int cleanup_busy; /* cleanup callback still to come */
	smtpd_check_state cst;
	smtpd_check_result cres;
	void (*check_fn)(const smtpd_check_state *, smtpd_check_result *);
	pm_submit_result sres;
	int close_after; /* close once this command is done */

	/* SASL AUTH (smtpd_auth.c); TLS state is above. */
	char *sasl_method;       /* NULL until AUTH succeeded */
	char *sasl_username;     /* NULL until AUTH succeeded */
	struct smtpd_auth *auth; /* AUTH dialogue in progress, or NULL */

	/* Client limits (smtpd_anvil.c). */
	struct smtpd_anvil_conn *anvil; /* counted live connection, or NULL */
	int anvil_tls_due;              /* new TLS session to check */
};

/* smtpd.c: process-wide state. */
extern struct event_base *smtpd_base;
extern smtpd_pool *smtpd_check_pool;
extern pm_cleanup_clnt *smtpd_cleanup;
extern int smtpd_stopping;
extern pm_metric *smtpd_m_sessions;
extern pm_metric *smtpd_m_active;
extern pm_metric *smtpd_m_cmds[CMD_COUNT];
extern pm_metric *smtpd_m_accepted;
extern pm_metric *smtpd_m_rejected[REJ_COUNT];
extern pm_metric *smtpd_m_content;
extern pm_budget smtpd_content_budget;
void smtpd_session_gone(smtpd_session *s);

/* smtpd_session.c */
smtpd_session *smtpd_session_new(evutil_socket_t fd, const struct sockaddr *sa,
    int salen);
/* Log "connect from", implicit TLS, connect check (after a PROXY header). */
void smtpd_session_start(smtpd_session *s);
/* Recompute namaddr and rfc_addr after name or addr changed. */
void smtpd_session_client(smtpd_session *s);
void smtpd_session_drive(smtpd_session *s);
void smtpd_reply(smtpd_session *s, int code, const char *dsn, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
/* A reply from another module (check, cleanup): dsn fixed if wrong. */
void smtpd_reply_ext(smtpd_session *s, int code, const char *dsn,
    const char *text);
void smtpd_cmd_done(smtpd_session *s);
void smtpd_close(smtpd_session *s, const char *reason);
void smtpd_check_async(smtpd_session *s,
    void (*fn)(const smtpd_check_state *, smtpd_check_result *),
    smtpd_cont cont);
/* "QID|NOQUEUE: ACTION: WHAT from name[addr]: [code dsn ]text; from=..." */
void smtpd_log_action(smtpd_session *s, const char *action, const char *what,
    int code, const char *dsn, const char *text);
void smtpd_reject_count(int reason);
void smtpd_mail_reset(smtpd_session *s);
void smtpd_shutdown_idle(smtpd_session *s);
int smtpd_session_idle(const smtpd_session *s);
void smtpd_session_free(smtpd_session *s);
void smtpd_set_deadline(smtpd_session *s);
/* Switch to a reading phase (PH_CMD/DATA/BDAT): input limit, deadline. */
void smtpd_enter_phase(smtpd_session *s, int phase);

/* smtpd_cmd.c */
void smtpd_cmd_line(smtpd_session *s, char *line, size_t len);
void smtpd_connect_done(smtpd_session *s);

/* smtpd_data.c */
void smtpd_data_cmd(smtpd_session *s, const char *arg);
void smtpd_bdat_cmd(smtpd_session *s, const char *arg);
int smtpd_data_step(smtpd_session *s);
int smtpd_bdat_step(smtpd_session *s);
/* Give back the session's content reservation (transaction end). */
void smtpd_content_drop(smtpd_session *s);

/* smtpd_queue.c */
void smtpd_queue_submit(smtpd_session *s);
void smtpd_queue_cb(void *arg, const pm_submit_result *res);

/* smtpd_auth.c */
void smtpd_auth_init(void);
void smtpd_auth_reload(void); /* SIGHUP */
void smtpd_auth_stop(void);   /* the AUTH pool, as smtpd_pool_stop */
/* The EHLO keyword line ("AUTH PLAIN LOGIN\n") or "". */
const char *smtpd_auth_ehlo(const smtpd_session *s);
void smtpd_auth_cmd(smtpd_session *s, const char *arg);
/* 1 if line was an AUTH dialogue response (consumed). */
int smtpd_auth_line(smtpd_session *s, char *line, size_t len);
void smtpd_auth_free(smtpd_session *s);
/* An over-long line ends an AUTH dialogue (not while a check runs). */
void smtpd_auth_abort(smtpd_session *s);

/* smtpd_received.c */
int smtpd_received(pm_buf *b, const smtpd_session *s, int64_t now_us);

/* smtpd_esmtp.c: ESMTP parameters of MAIL and RCPT. */
int smtpd_mail_params(smtpd_session *s, const pm_smtp_path *p);
int smtpd_parse_notify(const char *v, unsigned *out);
char *smtpd_parse_orcpt(const char *v);

#endif
