/*
 * NAME
 *	cleanup_clnt - client stub of the cleanup service
 * SUMMARY
 *	#include "cleanup_clnt.h"
 * DESCRIPTION
 *	Submits one message (envelope + content) to cleanup and returns its
 *	SMTP answer. The caller builds a pm_submit (no protobuf in sight).
 *	pm_cleanup_submit_async() is for event loops (smtpd): the callback
 *	runs once on an nng thread. A transport error (cleanup down, timeout)
 *	is reported as code 451, dsn "4.3.0", so the caller can pass it on.
 * LIMITS
 *	The request is refused locally (552 5.3.4) if it exceeds the size
 *	cleanup accepts (message_size_limit + envelope allowance).
 */
#ifndef CLEANUP_CLNT_H
#define CLEANUP_CLNT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Request size allowance over message_size_limit, shared by the client
 * (local check) and the server (NNG_OPT_RECVMAXSZ): the content, plus
 * PM_CLEANUP_ENV_ALLOWANCE for the envelope, plus
 * PM_CLEANUP_RCPT_ALLOWANCE per recipient (address, ORCPT, NOTIFY).
 */
#define PM_CLEANUP_ENV_ALLOWANCE (64 * 1024)
#define PM_CLEANUP_RCPT_ALLOWANCE 1024

typedef struct pm_submit_rcpt {
	const char *address;
	const char *orcpt;
	unsigned notify;
} pm_submit_rcpt;

typedef struct pm_submit {
	const char *queue_id; /* may be NULL */
	const char *sender;
	const pm_submit_rcpt *rcpt;
	size_t nrcpt;
	const void *content;
	size_t content_len;
	unsigned flags;
	int body_type;
	int dsn_ret;
	const char *dsn_envid;
	const char *client_name;
	const char *client_addr;
	const char *client_port;
	const char *helo_name;
	const char *protocol;
	const char *sasl_username;
	const char *sasl_method;
	const char *sasl_sender; /* MAIL FROM AUTH= (RFC 4954) */
	int64_t arrival_us;
	unsigned keep_id_secs; /* with queue_id: refuse the id again for this
	                        * long after the message is gone (0: no) */
	int has_uid;           /* sendmail(1): uid is the submitting user */
	unsigned uid;
	const char *full_name; /* sendmail(1) -F; may be NULL */
} pm_submit;

typedef struct pm_submit_result {
	unsigned code;  /* 250, 4xx, 5xx */
	char dsn[16];   /* "2.0.0" */
	char text[512]; /* reply text without code and dsn */
	char queue_id[32];
} pm_submit_result;

typedef struct pm_cleanup_clnt pm_cleanup_clnt;

/* max_content: largest content accepted (message_size_limit). */
pm_cleanup_clnt *pm_cleanup_clnt_new(const char *urls, size_t max_content,
    int timeout_ms);
void pm_cleanup_clnt_free(pm_cleanup_clnt *c);

/* Synchronous. Always fills *res (transport errors become 451 4.3.0). */
void pm_cleanup_submit(pm_cleanup_clnt *c, const pm_submit *s,
    pm_submit_result *res);

/*
 * Asynchronous: returns 0 if started, and then cb runs exactly once, on
 * an nng thread, with res valid only during cb (transport errors and
 * timeouts arrive as 451 4.3.0 there). Returns PM_E* if it could not
 * start (e.g. PM_ETOOBIG), and cb is never called.
 */
typedef void (*pm_cleanup_cb)(void *arg, const pm_submit_result *res);
int pm_cleanup_submit_async(pm_cleanup_clnt *c, const pm_submit *s,
    pm_cleanup_cb cb, void *arg);

#endif
