/*
 * NAME
 *	smtpd_verify - smtpd's address verification cache and probes
 * SUMMARY
 *	#include "smtpd_verify.h"
 * DESCRIPTION
 *	See smtpd_verify.c.
 */
#ifndef SMTPD_VERIFY_H
#define SMTPD_VERIFY_H

#include "cleanup_clnt.h"
#include "pm_verify.h"

void smtpd_verify_init(void);
pm_verify *smtpd_verify_cache(void);
/* The cleanup client probes go through (smtpd_post_init). */
void smtpd_verify_set_cleanup(pm_cleanup_clnt *c);
/* A pm_access_prober: queue a probe for address. */
int smtpd_verify_probe(void *arg, const char *address);

#endif
