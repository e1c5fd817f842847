/*
 * NAME
 *	local_params - parameters of the local delivery agent
 * DESCRIPTION
 *	Postfix names and defaults (local(8), aliases(5)) unless marked
 *	Postmesh. Parameters another role reads too (recipient_delimiter,
 *	local_recipient_maps) are in pm_mail_params.h; listen URL
 *	defaults are the library's (pm_params.c).
 */
#ifndef LOCAL_PARAMS_H
#define LOCAL_PARAMS_H

/* Postmesh: metrics URL (http://127.0.0.1:9134) and worker threads. */
#define VAR_LOCAL_METRICS "local_metrics_listen"
#define VAR_LOCAL_SLOTS "local_delivery_slots"
#define DEF_LOCAL_SLOTS 4

#define VAR_ALIAS_MAPS "alias_maps" /* Postmesh default "" */
#define VAR_HOME_MAILBOX "home_mailbox"
#define DEF_HOME_MAILBOX ""
#define VAR_MAIL_SPOOL_DIR "mail_spool_directory"
#define DEF_MAIL_SPOOL_DIR "/var/mail"
#define VAR_MAILBOX_LIMIT "mailbox_size_limit"
#define DEF_MAILBOX_LIMIT 51200000
#define VAR_MAILBOX_COMMAND "mailbox_command"
#define DEF_MAILBOX_COMMAND ""
#define VAR_MAILBOX_TRANSP "mailbox_transport"
#define DEF_MAILBOX_TRANSP ""
#define VAR_MBOX_TRANSP_MAPS "mailbox_transport_maps"
#define DEF_MBOX_TRANSP_MAPS ""
#define VAR_FALLBACK_TRANSP "fallback_transport"
#define DEF_FALLBACK_TRANSP ""
#define VAR_FBCK_TRANSP_MAPS "fallback_transport_maps"
#define DEF_FBCK_TRANSP_MAPS ""
/* raw: $user ... expanded per recipient (local_expand.c) */
#define VAR_LUSER_RELAY "luser_relay"
#define DEF_LUSER_RELAY ""
#define VAR_ALLOW_COMMANDS "allow_mail_to_commands"
#define DEF_ALLOW_COMMANDS "alias, forward"
#define VAR_ALLOW_FILES "allow_mail_to_files"
#define DEF_ALLOW_FILES "alias, forward"
/* Postmesh default "" (off: containers have no user homes). */
#define VAR_FORWARD_PATH "forward_path"
#define DEF_FORWARD_PATH ""
#define VAR_PROP_UNMATCH_EXT "propagate_unmatched_extensions"
#define DEF_PROP_UNMATCH_EXT "canonical, virtual"
#define VAR_EXP_OWN_ALIAS "expand_owner_alias"
#define DEF_EXP_OWN_ALIAS 0
#define VAR_OWNREQ_SPECIAL "owner_request_special"
#define DEF_OWNREQ_SPECIAL 1
#define VAR_COMMAND_MAXTIME "command_time_limit"
#define DEF_COMMAND_MAXTIME "1000s"
#define VAR_MAILBOX_LOCK "mailbox_delivery_lock"
#define DEF_MAILBOX_LOCK "fcntl, dotlock"
#define VAR_DEFAULT_PRIVS "default_privs"
#define DEF_DEFAULT_PRIVS "nobody"
/* characters kept in a command's environment values (others: '_') */
#define VAR_CMD_EXP_FILTER "command_expansion_filter"
#define DEF_CMD_EXP_FILTER \
	"1234567890!@%-_=+:,./" \
	"abcdefghijklmnopqrstuvwxyz" \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
/*
 * Postmesh: named forms of Postfix local(8)'s built-in limits: alias
 * nesting depth ("alias database loop" past 100 levels) and the number
 * of targets one recipient may expand to (as virtual_alias_expansion_
 * limit for cleanup).
 */
#define VAR_LOCAL_RECURSION "local_alias_recursion_limit"
#define DEF_LOCAL_RECURSION 100
#define VAR_LOCAL_EXPANSION "local_alias_expansion_limit"
#define DEF_LOCAL_EXPANSION 1000
/* Postmesh: how long one resubmission to cleanup may take. */
#define VAR_LOCAL_CLEANUP_TMOUT "local_cleanup_timeout"
#define DEF_LOCAL_CLEANUP_TMOUT "60s"

extern char *var_local_metrics;
extern long var_local_slots;
extern char *var_alias_maps;
extern char *var_home_mailbox;
extern char *var_mail_spool_dir;
extern long var_mailbox_limit;
extern char *var_mailbox_command;
extern char *var_mailbox_transp;
extern char *var_mbox_transp_maps;
extern char *var_fallback_transp;
extern char *var_fbck_transp_maps;
extern char *var_luser_relay;
extern char *var_allow_commands;
extern char *var_allow_files;
extern char *var_forward_path;
extern char *var_prop_unmatch_ext;
extern int var_exp_own_alias;
extern int var_ownreq_special;
extern long var_command_maxtime;
extern char *var_cmd_exp_filter;
extern char *var_mailbox_lock;
extern char *var_default_privs;
extern long var_local_recursion;
extern long var_local_expansion;
extern long var_local_cleanup_tmout;

#endif
