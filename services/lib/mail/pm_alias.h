/*
 * NAME
 *	pm_alias - the parser of Postfix aliases(5) and :include: files
 * SUMMARY
 *	#include "pm_alias.h"
 * DESCRIPTION
 *	The one parser of alias syntax: the local agent (expanding an alias
 *	value and :include: files), postalias/newaliases (checking a file,
 *	loading it into a redis: table) and the texthash: tables of
 *	alias_maps all call it, so none accepts what another refuses.
 *
 *	An aliases file (aliases(5)):
 *	  # comment                  (a line whose first non-blank is '#')
 *	  name: value, value, ...
 *	      value, ...             (a line starting with white space
 *	                              continues the previous one; blank and
 *	                              comment lines inside are skipped)
 *	  "a name": value            (a quoted name; \" and \\ inside)
 *	The name is stored unquoted (internal form) and folded to lower
 *	case (ASCII), as postalias does without -f. A name must be local
 *	(no unquoted '@'), must not be empty or contain unquoted white space.
 *	The value is kept as text (continuation lines joined with one space,
 *	trimmed) and also split by pm_alias_split() into targets:
 *	  user, user@domain, <user@domain>, "a b"@domain   PM_ALIAS_ADDRESS
 *	  \user          (ADDRESS with noalias = 1: no further alias lookup)
 *	  |command args, "|command args, with commas"     PM_ALIAS_COMMAND
 *	  /file/name, "/file name" (trailing / = maildir)  PM_ALIAS_FILE
 *	  :include:/path, ":include:/path"                 PM_ALIAS_INCLUDE
 *	Targets are separated by commas outside "quotes", <angle brackets>
 *	and [literals]; empty targets ("a,,b") are ignored. A target that is
 *	one quoted string is unquoted before it is classified, so a command
 *	or file name with commas or white space must be quoted; an unquoted
 *	|command may contain white space (no commas). A quoted string that
 *	is not a command, file or include stays an address in quoted form.
 *
 *	A :include: file holds targets only: the same syntax as a value,
 *	one or more per line, comma separated; no continuation rule is
 *	needed (every line adds targets); "name: value" lines are an error.
 *
 *	Errors name the file and line ("/etc/aliases, line 7: ...") through
 *	the pm_alias_err_fn callback (NULL: pm_msg_warn()); the bad entry or
 *	line is skipped and counted in nerrors, the rest is parsed. A
 *	duplicate name is an error too; the first one is kept (as Postfix's
 *	postalias "duplicate entry" warning).
 * LIMITS
 *	PM_ALIAS_FILE_MAX bytes per file, PM_ALIAS_LINE_MAX bytes per
 *	logical line, PM_ALIAS_ENTRIES_MAX names per file,
 *	PM_ALIAS_TARGETS_MAX targets per value or :include: file,
 *	PM_ALIAS_TARGET_MAX bytes per target. Over a limit is an error of
 *	that line (or of the file, for the file size).
 * SECURITY
 *	Alias files are operator input, :include: files may belong to users
 *	(the caller checks ownership and allow_mail_to_commands/files before
 *	delivering). NUL bytes, control characters, unbalanced quotes or
 *	brackets and over-long input are errors, never a crash. A command
 *	target is an argument string for pm_command (execve, no shell).
 */
#ifndef PM_ALIAS_H
#define PM_ALIAS_H

#include <stddef.h>

#define PM_ALIAS_FILE_MAX (64 * 1024 * 1024)
#define PM_ALIAS_LINE_MAX (64 * 1024)
#define PM_ALIAS_ENTRIES_MAX 100000
#define PM_ALIAS_TARGETS_MAX 1000
#define PM_ALIAS_TARGET_MAX 4096

typedef enum pm_alias_kind {
	PM_ALIAS_ADDRESS = 1, /* value: the address as written, <> removed */
	PM_ALIAS_COMMAND,     /* value: the text after '|', trimmed */
	PM_ALIAS_FILE,        /* value: the absolute path */
	PM_ALIAS_INCLUDE,     /* value: the absolute path after :include: */
} pm_alias_kind;

typedef struct pm_alias_target {
	pm_alias_kind kind;
	int noalias; /* ADDRESS written as \user */
	char *value;
} pm_alias_target;

typedef struct pm_alias_list {
	pm_alias_target *v;
	size_t n;
} pm_alias_list;

typedef struct pm_alias_entry {
	char *name;  /* unquoted, lower case */
	char *value; /* the value text, one line, trimmed */
	int lineno;  /* line of "name:" */
	pm_alias_list targets;
} pm_alias_entry;

typedef struct pm_alias_file {
	pm_alias_entry *v; /* in file order */
	size_t n;
	size_t nerrors; /* bad lines reported and skipped */
} pm_alias_file;

/* One error: path and line (0: the whole file), msg is static or built. */
typedef void (*pm_alias_err_fn)(void *arg, const char *path, int lineno,
    const char *msg);

/* Kind name for logs and -q output: "address", "command", ... */
const char *pm_alias_kind_name(pm_alias_kind kind);

/*
 * Split an alias value into targets. Returns 0 with *out filled (it may
 * be empty), or PM_EINVAL / PM_ETOOBIG with *err (static text) and
 * *out untouched.
 */
int pm_alias_split(const char *value, pm_alias_list *out, const char **err);
void pm_alias_list_free(pm_alias_list *l);

/*
 * Parse an aliases file held in data[0..len) (NULs inside are errors of
 * their line). path is for messages only. Returns 0 (bad entries are
 * reported, skipped and counted) with *out filled.
 */
int pm_alias_parse(const char *path, const char *data, size_t len,
    pm_alias_file *out, pm_alias_err_fn fn, void *arg);
/*
 * Read and parse the file. Returns 0, or PM_ENOENT / PM_EIO /
 * PM_ETOOBIG (reported through fn with line 0) and *out untouched.
 */
int pm_alias_load(const char *path, pm_alias_file *out, pm_alias_err_fn fn,
    void *arg);
void pm_alias_file_free(pm_alias_file *f);
/* The entry for name (compared case-insensitively), or NULL. */
const pm_alias_entry *pm_alias_file_find(const pm_alias_file *f,
    const char *name);

/* The same for a :include: file: all its targets in one list. */
int pm_alias_include_parse(const char *path, const char *data, size_t len,
    pm_alias_list *out, size_t *nerrors, pm_alias_err_fn fn, void *arg);
int pm_alias_include_load(const char *path, pm_alias_list *out, size_t *nerrors,
    pm_alias_err_fn fn, void *arg);

#endif
