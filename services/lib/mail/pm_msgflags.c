/*
 * NAME
 *	pm_msgflags - compile-time check that Postmesh's flags match the wire
 * DESCRIPTION
 *	See pm_msgflags.h. Nothing runs here: a renumbered protobuf enum
 *	stops the build.
 * LIMITS
 *	None.
 */
#include "pm_msgflags.h"

#include "cleanup.pb-c.h"
#include "common.pb-c.h"

_Static_assert(PM_MSG_LOCAL == PM__SUBMIT_FLAG__SUBMIT_LOCAL, "flags");
_Static_assert(PM_MSG_SMTPUTF8 == PM__SUBMIT_FLAG__SUBMIT_SMTPUTF8, "flags");
_Static_assert(PM_MSG_HOLD == PM__SUBMIT_FLAG__SUBMIT_HOLD, "flags");
_Static_assert(PM_MSG_BOUNCE == PM__SUBMIT_FLAG__SUBMIT_BOUNCE, "flags");
_Static_assert(PM_MSG_PROBE == PM__SUBMIT_FLAG__SUBMIT_PROBE, "flags");
_Static_assert(PM_NOTIFY_NEVER == PM__NOTIFY__NOTIFY_NEVER, "notify");
_Static_assert(PM_NOTIFY_SUCCESS == PM__NOTIFY__NOTIFY_SUCCESS, "notify");
_Static_assert(PM_NOTIFY_FAILURE == PM__NOTIFY__NOTIFY_FAILURE, "notify");
_Static_assert(PM_NOTIFY_DELAY == PM__NOTIFY__NOTIFY_DELAY, "notify");
_Static_assert(PM_RET_UNSET == PM__DSN_RET__RET_UNSET, "ret");
_Static_assert(PM_RET_FULL == PM__DSN_RET__RET_FULL, "ret");
_Static_assert(PM_RET_HDRS == PM__DSN_RET__RET_HDRS, "ret");
_Static_assert(PM_BODYTYPE_UNSET == PM__BODY_TYPE__BODY_UNSET, "body");
_Static_assert(PM_BODYTYPE_7BIT == PM__BODY_TYPE__BODY_7BIT, "body");
_Static_assert(PM_BODYTYPE_8BITMIME == PM__BODY_TYPE__BODY_8BITMIME, "body");
_Static_assert(PM_BODYTYPE_BINARYMIME == PM__BODY_TYPE__BODY_BINARYMIME,
    "body");

/* ISO C wants at least one declaration in a translation unit. */
extern int pm__msgflags_unused;
