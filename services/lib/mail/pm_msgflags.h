/*
 * NAME
 *	pm_msgflags - envelope flags and DSN parameter values, Postmesh's own
 * SUMMARY
 *	#include "pm_msgflags.h"
 * DESCRIPTION
 *	The values every role uses for a message's flags (local
 *	submission, SMTPUTF8, hold, bounce notice, verify probe), the RFC 3461 NOTIFY
 *	bits and RET, and the BODY type. They travel on the wire as the
 *	protobuf enums of common.proto and cleanup.proto, and pm_msgflags.c
 *	checks at compile time that the numbers agree; code outside the
 *	client stubs and wire checks uses these names, never the generated
 *	PM__* enums, so a role's logic does not depend on protobuf-c.
 * LIMITS
 *	PM_NOTIFY_ALL and PM_MSG_ALL: every bit defined.
 * SECURITY
 *	Values from other roles are checked against the _ALL masks and the
 *	ranges below before use.
 */
#ifndef PM_MSGFLAGS_H
#define PM_MSGFLAGS_H

/* Envelope flags (SubmitFlag of cleanup.proto). */
#define PM_MSG_LOCAL 1u    /* local submission: add missing headers */
#define PM_MSG_SMTPUTF8 2u /* the client asked for SMTPUTF8 */
#define PM_MSG_HOLD 4u     /* put on hold */
#define PM_MSG_BOUNCE 8u   /* a notice from the bounce service */
/* An address verification probe (pm_verify.h): the smtp/lmtp agent
 * stops after RCPT, qmgr records the outcome in the verify cache and
 * sends no notice; never delivered to a mailbox. */
#define PM_MSG_PROBE 16u
#define PM_MSG_ALL 31u

/* RFC 3461 NOTIFY bits (Notify of common.proto); 0 = not given. */
#define PM_NOTIFY_NEVER 1u
#define PM_NOTIFY_SUCCESS 2u
#define PM_NOTIFY_FAILURE 4u
#define PM_NOTIFY_DELAY 8u
#define PM_NOTIFY_ALL 15u

/* RFC 3461 RET (DsnRet of cleanup.proto). */
#define PM_RET_UNSET 0
#define PM_RET_FULL 1
#define PM_RET_HDRS 2

/* MAIL FROM BODY= (BodyType of cleanup.proto). */
#define PM_BODYTYPE_UNSET 0
#define PM_BODYTYPE_7BIT 1
#define PM_BODYTYPE_8BITMIME 2
#define PM_BODYTYPE_BINARYMIME 3

#endif
