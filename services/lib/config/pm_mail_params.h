/*
 * NAME
 *	pm_mail_params - parameters that more than one role reads
 * SUMMARY
 *	#include "pm_mail_params.h"
 *	static const pm_cfg_int ints[] = { PM_CFG_LINE_LIMIT, ..., { 0 } };
 * DESCRIPTION
 *	As Postfix's mail_params.h: a parameter read by several roles has
 *	its name (VAR_*), its default (DEF_*), its variable and its limits
 *	here, once. A role binds it by putting the PM_CFG_* entry in its
 *	own table, so two roles can never disagree on a default or a
 *	range; pm_params.c takes the same DEF_* for postconf. Parameters
 *	of one role stay in that role's <role>_params.h; those every role
 *	binds are in pm_common_params.h.
 * LIMITS
 *	The min/max of each entry below.
 * SECURITY
 *	Not applicable: names and defaults.
 */
#ifndef PM_MAIL_PARAMS_H
#define PM_MAIL_PARAMS_H

#include "pm_cfg.h"

/* A numeric default as the string pm_params.c needs. */
#define PM_PARAM_STR_(x) #x
#define PM_PARAM_STR(x) PM_PARAM_STR_(x)

/* smtpd, cleanup, smtp: longest line read before it is broken. */
#define VAR_LINE_LIMIT "line_length_limit"
#define DEF_LINE_LIMIT 2048
extern long var_line_limit;
#define PM_CFG_LINE_LIMIT \
	{ \
		VAR_LINE_LIMIT, DEF_LINE_LIMIT, &var_line_limit, 512, \
		    1024L * 1024 \
	}

/* cleanup, smtp: largest header block kept as headers. */
#define VAR_HEADER_LIMIT "header_size_limit"
#define DEF_HEADER_LIMIT 102400
extern long var_header_limit;
#define PM_CFG_HEADER_LIMIT \
	{ \
		VAR_HEADER_LIMIT, DEF_HEADER_LIMIT, &var_header_limit, 1024, \
		    64L * 1024 * 1024 \
	}

/* qmgr, bounce: how long mail may stay queued (0 = one attempt). */
#define VAR_MAX_QUEUE_TIME "maximal_queue_lifetime"
#define DEF_MAX_QUEUE_TIME "5d"
extern long var_max_queue_time;
#define PM_CFG_MAX_QUEUE_TIME \
	{ \
		VAR_MAX_QUEUE_TIME, DEF_MAX_QUEUE_TIME, &var_max_queue_time, \
		    'd', 0, 8640000 \
	}

/* qmgr, bounce: when the sender hears that mail is delayed (0 = never). */
#define VAR_DELAY_WARN_TIME "delay_warning_time"
#define DEF_DELAY_WARN_TIME "0h"
extern long var_delay_warn_time;
#define PM_CFG_DELAY_WARN_TIME \
	{ \
		VAR_DELAY_WARN_TIME, DEF_DELAY_WARN_TIME, \
		    &var_delay_warn_time, 'h', 0, 8640000 \
	}

/* rewrite (virtual mailbox class), virtual (mailbox lookups). */
#define VAR_VIRT_MAILBOX_MAPS "virtual_mailbox_maps"
extern char *var_virt_mailbox_maps;
#define PM_CFG_VIRT_MAILBOX_MAPS \
	{ \
		VAR_VIRT_MAILBOX_MAPS, NULL, &var_virt_mailbox_maps, 0, 0 \
	}

/* local, virtual: mbox locking (Postfix's deliver_lock_*, stale_lock_time). */
#define VAR_LOCK_ATTEMPTS "deliver_lock_attempts"
#define DEF_LOCK_ATTEMPTS 20
extern long var_lock_attempts;
#define PM_CFG_LOCK_ATTEMPTS \
	{ \
		VAR_LOCK_ATTEMPTS, DEF_LOCK_ATTEMPTS, &var_lock_attempts, 1, \
		    1000 \
	}
#define VAR_LOCK_DELAY "deliver_lock_delay"
#define DEF_LOCK_DELAY "1s"
extern long var_lock_delay;
#define PM_CFG_LOCK_DELAY \
	{ \
		VAR_LOCK_DELAY, DEF_LOCK_DELAY, &var_lock_delay, 's', 1, 3600 \
	}
#define VAR_STALE_LOCK_TIME "stale_lock_time"
#define DEF_STALE_LOCK_TIME "500s"
extern long var_stale_lock_time;
#define PM_CFG_STALE_LOCK_TIME \
	{ \
		VAR_STALE_LOCK_TIME, DEF_STALE_LOCK_TIME, \
		    &var_stale_lock_time, 's', 1, 86400 \
	}

/* cleanup (rewriting), rewrite (address classes). */
#define VAR_VIRT_ALIAS_MAPS "virtual_alias_maps"
extern char *var_virt_alias_maps;
#define PM_CFG_VIRT_ALIAS_MAPS \
	{ \
		VAR_VIRT_ALIAS_MAPS, NULL, &var_virt_alias_maps, 0, 0 \
	}

/* rewrite (known recipients), local (user lookup, extensions). */
#define VAR_RCPT_DELIM "recipient_delimiter"
extern char *var_rcpt_delim;
#define PM_CFG_RCPT_DELIM \
	{ \
		VAR_RCPT_DELIM, NULL, &var_rcpt_delim, 0, 16 \
	}
#define VAR_LOCAL_RCPT_MAPS "local_recipient_maps"
extern char *var_local_rcpt_maps;
#define PM_CFG_LOCAL_RCPT_MAPS \
	{ \
		VAR_LOCAL_RCPT_MAPS, NULL, &var_local_rcpt_maps, 0, 0 \
	}

/* qmgr (notices), local (failure notices to an owner- alias). */
#define VAR_BOUNCE_SERVICE "bounce_service"
#define DEF_BOUNCE_SERVICE "tcp://127.0.0.1:10040"
extern char *var_bounce_service;
#define PM_CFG_BOUNCE_SERVICE \
	{ \
		VAR_BOUNCE_SERVICE, DEF_BOUNCE_SERVICE, &var_bounce_service, \
		    1, 4096 \
	}

#endif
