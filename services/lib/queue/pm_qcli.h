/*
 * NAME
 *	pm_qcli - what the queue commands (postqueue, mailq, postsuper)
 *	share: configuration, log, queue store, queue ids from stdin
 * SUMMARY
 *	#include "pm_qcli.h"
 * DESCRIPTION
 *	pm_qcli_open() reads main.cf (config_dir/main.cf, or
 *	$MAIL_CONFIG, as the services), sends pm_log's lines to stderr
 *	(stdout is the command's output: *out), and opens the queue
 *	store exactly as the services do (pm_server_qstore_open:
 *	redis_server, credentials, Sentinel, queue_shards, body store).
 *	*nshards is queue_shards. Returns NULL (logged) on a bad
 *	configuration.
 *
 *	pm_qcli_read_id() reads the next queue id from stdin ("-" as
 *	Postfix's postsuper): one per line, first word, a trailing "*",
 *	"!" or "#" (mailq's markers) removed. 1: an id in buf; 0: end.
 * LIMITS
 *	Lines of up to 1024 bytes (longer ones are skipped).
 */
#ifndef PM_QCLI_H
#define PM_QCLI_H

#include <stdio.h>

#include "pm_qstore.h"

#define PM_QCLI_EX_TEMPFAIL 75

pm_qstore *pm_qcli_open(const char *progname, const char *config_dir,
    FILE **out, int *nshards);
int pm_qcli_read_id(FILE *in, char *buf, size_t size);

#endif
