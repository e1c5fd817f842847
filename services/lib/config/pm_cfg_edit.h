/*
 * NAME
 *	pm_cfg_edit - change main.cf in place (postconf -e, -X, -#)
 * SUMMARY
 *	#include "pm_cfg_edit.h"
 * DESCRIPTION
 *	pm_cfg_edit() copies main.cf to <path>.tmp while it replaces,
 *	removes or comments out the definitions of the given names, then
 *	renames the copy over main.cf (atomic: a reader sees the old or the
 *	new file, never half of one), as Postfix's postconf does:
 *	- comment lines, blank lines and every other definition are kept
 *	  byte for byte;
 *	- a definition of a named parameter is replaced by "name = value"
 *	  (PM_CFG_EDIT_SET), dropped (PM_CFG_EDIT_REMOVE) or prefixed with
 *	  "#" (PM_CFG_EDIT_COMMENT), together with its continuation lines
 *	  (lines that start with white space); comment and blank lines
 *	  inside a continued definition are kept;
 *	- every occurrence is edited (ops[i].found counts them);
 *	- with PM_CFG_EDIT_SET, names not found are appended at the end,
 *	  in the order given.
 *	The copy keeps main.cf's permission bits, owner and group (the
 *	owner change is skipped when not root: EPERM), is fsync'ed before
 *	the rename and the directory after it. A symbolic link to main.cf
 *	(a Kubernetes ConfigMap's main.cf -> ..data/main.cf) stays a link:
 *	its target is edited, the copy made next to the target. Two editors at once: the second waits for the first
 *	(an exclusive lock on <path>.tmp) and then edits its result, so no
 *	change is lost.
 * LIMITS
 *	Physical lines up to 64 KiB (a longer one: nothing is changed,
 *	PM_ETOOBIG). Names are Postfix parameter names ([A-Za-z0-9_]);
 *	values have no newline.
 * SECURITY
 *	Operator input. The caller checks names and values with
 *	pm_cfg_edit_check() first: a newline in a value would inject a
 *	line.
 * DIAGNOSTICS
 *	0 on success; PM_EINVAL (bad op), PM_EIO (main.cf missing or
 *	unreadable, temp file or rename failed: main.cf is unchanged) or
 *	PM_ETOOBIG, with *errp a message to free.
 */
#ifndef PM_CFG_EDIT_H
#define PM_CFG_EDIT_H

#include <stddef.h>

enum {
	PM_CFG_EDIT_SET = 1,
	PM_CFG_EDIT_REMOVE,
	PM_CFG_EDIT_COMMENT,
};

typedef struct pm_cfg_edit_op {
	const char *name;
	const char *value; /* PM_CFG_EDIT_SET only */
	int found;         /* out: definitions edited */
} pm_cfg_edit_op;

/* NULL if name (and value, if not NULL) may be written, else why not. */
const char *pm_cfg_edit_check(const char *name, const char *value);

int pm_cfg_edit(const char *path, pm_cfg_edit_op *ops, size_t n, int mode,
    char **errp);

#endif
