/*
 * NAME
 *	virtual - what the files of the virtual agent share
 * SUMMARY
 *	#include "virtual.h"
 * DESCRIPTION
 *	virtual_path.c: the pure parts (mailbox path from the table
 *	result, uid/gid values), unit-tested; virtual_deliver.c: one
 *	recipient's delivery as its uid/gid; virtual.c: main().
 * LIMITS
 *	VIRTUAL_PATH_MAX bytes of mailbox path.
 * SECURITY
 *	Table results are operator data, but a regexp: or pcre: result
 *	may carry parts of the address: ".." components are refused.
 */
#ifndef VIRTUAL_H
#define VIRTUAL_H

#include <stddef.h>
#include <sys/types.h>

#include "pm_agent.h"
#include "pm_table.h"

#define VIRTUAL_PATH_MAX 4000

/*
 * base "/" rel into out; *maildir = rel ends with "/". 0, or
 * PM_EINVAL with *why (static text): empty, "..", too long, NUL.
 */
int virtual_path(const char *base, const char *rel, char *out, size_t size,
    int *maildir, const char **why);

/* A uid/gid table value: decimal, >= min, <= INT32_MAX. 0 or PM_EINVAL. */
int virtual_id_parse(const char *value, long min, long *id);

/* The configuration one delivery needs (tables shared by threads). */
typedef struct virtual_cfg {
	const char *base;
	pm_tables *mailbox_maps;
	pm_tables *uid_maps;
	pm_tables *gid_maps;
	const char *rcpt_delim;
	const char *instance;
	long minimum_uid;
	long long size_limit;
	int locks;
	long lock_wait_ms;
	long stale_lock_s;
} virtual_cfg;

/* Drop this worker thread's supplementary groups (when root). */
void virtual_thread_creds(void);

/*
 * Deliver job's content (data, len) to one recipient; sets r's
 * status, dsn and text.
 */
void virtual_deliver_rcpt(const virtual_cfg *cfg, const pm_job *j,
    pm_job_rcpt *r, const char *data, size_t len);

#endif
