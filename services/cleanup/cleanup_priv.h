/*
 * NAME
 *	cleanup_priv - internals shared by the pm_cleanup_*.c files
 * DESCRIPTION
 *	Not for use outside cleanup_hdr.c, cleanup_body.c and
 *	cleanup_addr.c.
 */
#ifndef PM_CLEANUP_PRIV_H
#define PM_CLEANUP_PRIV_H

#include "cleanup_proc.h"

#define PM__CLEANUP_CTX_HEADER "header"
#define PM__CLEANUP_CTX_BODY "body"

/*
 * Log an action as Postfix's cleanup_act_log():
 * "QID: action: class CONTENT from ORIGIN; from=<s> to=<r> proto=P
 * helo=<h>: text" (content cut at 200 bytes, all of it printable).
 */
void pm__cleanup_act_log(const pm_cleanup_msg *m, const char *action,
    const char *ctx, const char *content, size_t clen, const char *text);

/*
 * Act on a header_checks/body_checks result for content. REJECT,
 * DISCARD, HOLD, WARN and INFO are done here (m updated, logged); the
 * return value says what to do with the content: PM_CHECK_IGNORE,
 * PM_CHECK_PREPEND or PM_CHECK_REPLACE (with *text) or PM_CHECK_DUNNO.
 */
pm_check_act pm__cleanup_act(pm_cleanup_msg *m, const char *ctx,
    const char *map, const char *content, size_t clen, const char *value,
    const char **text);

/* body_checks over body, output into m->out. 0 or PM_ETOOBIG. */
int pm__cleanup_body(const pm_cleanup_cfg *cfg, pm_cleanup_msg *m,
    const char *body, size_t len);

#endif
