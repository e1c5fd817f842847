/*
 * NAME
 *	virtual_params - parameters of the virtual delivery agent
 * DESCRIPTION
 *	Postfix's virtual(8) parameters with Postfix's defaults, plus the
 *	Postmesh-only worker count and metrics listener. Parameters other
 *	roles read too (virtual_mailbox_maps, deliver_lock_attempts,
 *	deliver_lock_delay, stale_lock_time) are in pm_mail_params.h.
 */
#ifndef VIRTUAL_PARAMS_H
#define VIRTUAL_PARAMS_H

#define VAR_VIRTUAL_METRICS "virtual_metrics_listen" /* http://127.0.0.1:9135 */
/* Postmesh: worker threads (Postfix: virtual_destination_concurrency). */
#define VAR_VIRTUAL_SLOTS "virtual_delivery_slots"
#define DEF_VIRTUAL_SLOTS 4

#define VAR_VIRT_MAILBOX_BASE "virtual_mailbox_base"
#define VAR_VIRT_UID_MAPS "virtual_uid_maps"
#define VAR_VIRT_GID_MAPS "virtual_gid_maps"
#define VAR_VIRT_MINIMUM_UID "virtual_minimum_uid"
#define DEF_VIRT_MINIMUM_UID 100
#define VAR_VIRT_MAILBOX_LIMIT "virtual_mailbox_limit"
#define DEF_VIRT_MAILBOX_LIMIT 51200000
#define VAR_VIRT_MAILBOX_LOCK "virtual_mailbox_lock"

extern char *var_virtual_metrics;
extern long var_virtual_slots;
extern char *var_virt_mailbox_base;
extern char *var_virt_uid_maps;
extern char *var_virt_gid_maps;
extern char *var_virt_mailbox_lock;
extern long var_virt_minimum_uid;
extern long var_virt_mailbox_limit;

#endif
