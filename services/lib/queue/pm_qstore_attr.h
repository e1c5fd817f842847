/*
 * NAME
 *	pm_qstore_attr - extra envelope fields of a queued message (qmgr)
 * SUMMARY
 *	#include "pm_qstore_attr.h"
 * DESCRIPTION
 *	qmgr keeps a few flags of its own in the envelope hash pm:{S}:m:Q
 *	(docs/queue.md), which pm_qstore_read() ignores as unknown fields:
 *	  warned   "1" once a delay warning was queued (delay_warning_time)
 *	  notices  letters of the notices already queued for the final
 *	           outcome ("f" failed, "d" delivered, "r" relayed), so
 *	           a retry after a failed bounce call does not send them
 *	           twice
 *	pm_qstore_attr_set() writes a field only if the message still
 *	exists (one atomic EVAL: a finished message is never brought back
 *	as a stray hash). pm_qstore_attr_get() reads one.
 * LIMITS
 *	Field names and values up to PM_QSTORE_ATTR_MAX bytes.
 * SECURITY
 *	The queue id is checked with pm_qid_valid(); values read back are
 *	checked for length.
 */
#ifndef PM_QSTORE_ATTR_H
#define PM_QSTORE_ATTR_H

#include <stddef.h>

#include "pm_qstore.h"

#define PM_QSTORE_ATTR_MAX 256

/* 0; PM_ENOENT if the message is gone; PM_EREDIS; PM_EINVAL. */
int pm_qstore_attr_set(pm_qstore *qs, const char *qid, const char *field,
    const char *value);
/*
 * Copy the field's value to buf ("" when the field is absent). 0;
 * PM_ENOENT if the message is gone; PM_EREDIS; PM_EINVAL.
 */
int pm_qstore_attr_get(pm_qstore *qs, const char *qid, const char *field,
    char *buf, size_t size);

#endif
