/*
 * NAME
 *	cleanup_params - parameters of the cleanup service
 * DESCRIPTION
 *	Postfix names and defaults where Postfix has the parameter; the
 *	Postmesh-only ones are marked. cleanup.c binds them; the other
 *	cleanup files read the var_ variables after start. String
 *	parameters that the library knows (pm_params.c) take its default
 *	(NULL here).
 */
#ifndef CLEANUP_PARAMS_H
#define CLEANUP_PARAMS_H

#include "pm_mail_params.h"

/* Strings. */
#define VAR_CLEANUP_LISTEN "cleanup_listen"          /* Postmesh */
#define VAR_CLEANUP_METRICS "cleanup_metrics_listen" /* Postmesh */
#define VAR_HEADER_CHECKS "header_checks"
#define VAR_BODY_CHECKS "body_checks"
#define VAR_DROP_HEADERS "drop_headers"
#define VAR_CANONICAL_MAPS "canonical_maps"
#define VAR_SEND_CANON_MAPS "sender_canonical_maps"
#define VAR_RCPT_CANON_MAPS "recipient_canonical_maps"
#define VAR_CANON_CLASSES "canonical_classes"

/* Integers. */
#define VAR_CLEANUP_WORKERS "cleanup_workers" /* Postmesh */
#define DEF_CLEANUP_WORKERS 32
#define VAR_CLEANUP_RCPT_LIMIT "cleanup_recipient_limit" /* Postmesh */
#define DEF_CLEANUP_RCPT_LIMIT 10000
#define VAR_CLEANUP_TOTAL_RCPT "cleanup_total_recipient_limit" /* Postmesh */
#define DEF_CLEANUP_TOTAL_RCPT 100000
#define VAR_HOPCOUNT_LIMIT "hopcount_limit"
#define DEF_HOPCOUNT_LIMIT 50
#define VAR_BODY_CHECK_LEN "body_checks_size_limit"
#define DEF_BODY_CHECK_LEN 51200
#define VAR_VIRT_RECUR_LIMIT "virtual_alias_recursion_limit"
#define DEF_VIRT_RECUR_LIMIT 1000
#define VAR_VIRT_EXPAN_LIMIT "virtual_alias_expansion_limit"
#define DEF_VIRT_EXPAN_LIMIT 1000
#define VAR_QUEUE_MIN_REPLICAS "queue_min_replicas" /* Postmesh */
#define DEF_QUEUE_MIN_REPLICAS 1
#define VAR_CLEANUP_CONTENT_MEM "cleanup_content_memory_limit" /* Postmesh */
#define DEF_CLEANUP_CONTENT_MEM (256L * 1024 * 1024) /* bytes, all workers */

/* Times (seconds). */
#define VAR_CLEANUP_RWR_TMOUT "cleanup_rewrite_timeout" /* Postmesh */
#define DEF_CLEANUP_RWR_TMOUT "10s"
#define VAR_QUEUE_DUR_CHECK "queue_durability_check_interval" /* Postmesh */
#define DEF_QUEUE_DUR_CHECK "10s"
/* queue_durability = replica: WAIT's timeout; kept below redis_timeout */
#define VAR_QUEUE_REPLICA_TMOUT "queue_replica_timeout" /* Postmesh */
#define DEF_QUEUE_REPLICA_TMOUT "2s"

/* Booleans. */
#define VAR_ALWAYS_ADD_HDRS "always_add_missing_headers"
#define DEF_ALWAYS_ADD_HDRS 0
#define VAR_ENABLE_ORCP "enable_original_recipient"
#define DEF_ENABLE_ORCP 1

extern char *var_header_checks;
extern char *var_body_checks;
extern char *var_drop_headers;
extern char *var_canonical_maps;
extern char *var_send_canon_maps;
extern char *var_rcpt_canon_maps;
extern char *var_canon_classes;
extern long var_cleanup_workers;
extern long var_cleanup_content_mem;
extern long var_cleanup_rcpt_limit;
extern long var_cleanup_total_rcpt;
extern long var_hopcount_limit;
extern long var_body_check_len;
extern long var_virt_recur_limit;
extern long var_virt_expan_limit;
extern long var_queue_min_replicas;
extern long var_cleanup_rwr_tmout;
extern long var_queue_dur_check;
extern long var_queue_replica_tmout;
extern int var_always_add_hdrs;
extern int var_enable_orcp;

#endif
