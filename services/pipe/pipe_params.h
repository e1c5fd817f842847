/*
 * NAME
 *	pipe_params - parameters of the pipe delivery agent
 * DESCRIPTION
 *	Postfix's pipe(8) takes its settings as master.cf arguments of
 *	one transport (flags=, user=, argv=, size=, eol=, null_sender=,
 *	directory=); Postmesh has no master.cf, so a pipe instance serves
 *	ONE transport and takes them as parameters (main.cf or -o):
 *	    pipe_transport    the transport name it serves (transport_maps
 *	                      results "myfilter:nexthop"); required
 *	    pipe_argv         argv=: the command and its arguments, split
 *	                      at white space, ${macros} expanded by pipe
 *	                      (never by main.cf: a raw parameter)
 *	    pipe_flags        flags= (F R D O X q h u . > B)
 *	    pipe_user         user=name or name:group (never root)
 *	    pipe_size_limit   size= (bytes; 0: none)
 *	    pipe_time_limit   <transport>_time_limit (command_time_limit)
 *	    pipe_eol          eol= ("\n"; "\r\n")
 *	    pipe_null_sender  null_sender= (MAILER-DAEMON)
 *	    pipe_directory    directory= ("/")
 *	    pipe_output_limit Postmesh: command output kept (bytes)
 *	    export_environment  Postfix's: variables the command gets
 *	<transport>_destination_recipient_limit is qmgr's, as in Postfix.
 *	Postmesh-only: pipe_metrics_listen, pipe_delivery_slots.
 */
#ifndef PIPE_PARAMS_H
#define PIPE_PARAMS_H

#define VAR_PIPE_METRICS "pipe_metrics_listen" /* http://127.0.0.1:9136 */
#define VAR_PIPE_SLOTS "pipe_delivery_slots"
#define DEF_PIPE_SLOTS 10
#define VAR_PIPE_TRANSPORT "pipe_transport"
#define DEF_PIPE_TRANSPORT "pipe"
#define VAR_PIPE_ARGV "pipe_argv"
#define DEF_PIPE_ARGV ""
#define VAR_PIPE_FLAGS "pipe_flags"
#define DEF_PIPE_FLAGS ""
#define VAR_PIPE_USER "pipe_user"
#define DEF_PIPE_USER ""
#define VAR_PIPE_SIZE_LIMIT "pipe_size_limit"
#define DEF_PIPE_SIZE_LIMIT 0
#define VAR_PIPE_TIME_LIMIT "pipe_time_limit"
#define DEF_PIPE_TIME_LIMIT "1000s"
#define VAR_PIPE_EOL "pipe_eol"
#define DEF_PIPE_EOL "\\n"
#define VAR_PIPE_NULL_SENDER "pipe_null_sender"
#define DEF_PIPE_NULL_SENDER "MAILER-DAEMON"
#define VAR_PIPE_DIRECTORY "pipe_directory"
#define DEF_PIPE_DIRECTORY "/"
#define VAR_PIPE_OUTPUT_LIMIT "pipe_output_limit"
#define DEF_PIPE_OUTPUT_LIMIT 2048
#define VAR_EXPORT_ENVIRON "export_environment"
#define DEF_EXPORT_ENVIRON "TZ MAIL_CONFIG LANG"

extern char *var_pipe_metrics;
extern long var_pipe_slots;
extern char *var_pipe_transport;
extern char *var_pipe_argv;
extern char *var_pipe_flags;
extern char *var_pipe_user;
extern long var_pipe_size_limit;
extern long var_pipe_time_limit;
extern char *var_pipe_eol;
extern char *var_pipe_null_sender;
extern char *var_pipe_directory;
extern long var_pipe_output_limit;
extern char *var_export_environ;

#endif
