/*
 * NAME
 *	pm_showq - list the mail queue as Postfix's showq(8) does
 * SUMMARY
 *	#include "pm_showq.h"
 * DESCRIPTION
 *	pm_showq() writes the mailq listing (json 0) or one JSON object
 *	per message (json 1, postqueue -j) to out. Returns 0, PM_EREDIS
 *	(Redis unreachable: part of the listing may have been written)
 *	or PM_EIO (output error). See pm_showq.c.
 */
#ifndef PM_SHOWQ_H
#define PM_SHOWQ_H

#include <stdio.h>

#include "pm_qstore.h"

int pm_showq(pm_qstore *qs, int nshards, FILE *out, int json);

#endif
