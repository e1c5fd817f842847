/*
 * NAME
 *	pm_mail_params - the variables of the parameters several roles read
 * DESCRIPTION
 *	See pm_mail_params.h. Each is set by the binding of the role's
 *	table that lists its PM_CFG_* entry.
 * LIMITS
 *	None; data.
 */
#include "pm_mail_params.h"

#include <stddef.h>

long var_line_limit;
long var_header_limit;
long var_max_queue_time;
long var_delay_warn_time;
char *var_virt_mailbox_maps;
long var_lock_attempts;
long var_lock_delay;
long var_stale_lock_time;
char *var_virt_alias_maps;
char *var_rcpt_delim;
char *var_local_rcpt_maps;
char *var_bounce_service;
