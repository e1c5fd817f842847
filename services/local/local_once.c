/*
 * NAME
 *	local_once - maildir delivery exactly once across agent crashes
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	pm_agent records a recipient's status in Redis after deliver()
 *	returns. An agent killed between the maildir link(2) and that
 *	write would deliver the message again when qmgr hands it out anew.
 *	To close that window for maildirs:
 *	  - before a recipient is delivered, local_once_begin() counts the
 *	    attempt in Redis (INCR pm:{shard}:ld:<qid>:<index>, expiring
 *	    after maximal_queue_lifetime plus a day): a count above one
 *	    means an earlier attempt began (a crash, or a deferral);
 *	  - every maildir file gets an instance part naming the
 *	    delivery: "<host>-<qid>-<index>" (s->tag), in the name
 *	    "<sec>.M<usec>P<pid>Q<n>.<tag>,S=<size>" of pm_maildir;
 *	  - on a retry, local_once_found() looks for that tag in new/ and
 *	    cur/ (a reader may have moved it) before writing: found means
 *	    delivered, and it is reported as such.
 *	The look-up costs a directory scan, on retries only. mbox files,
 *	/file and |command targets stay at least once in that window (as
 *	Postfix local(8)); forwards are idempotent by their derived queue
 *	id (local_forward.c). A probe (PM_MSG_PROBE) writes nothing and is
 *	not counted.
 * LIMITS
 *	Host part of the tag cut at 20 bytes (pm_maildir keeps 64 of the instance); one Redis round trip per
 *	recipient.
 * SECURITY
 *	The queue id is checked by qmgr_clnt (pm_qid_valid) before use in a
 *	key or a file name.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "local.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_mail_params.h"

void
local_once_begin(local_state *s, pm_qstore *qs)
{
	const pm_job *j = s->m->job;
	char host[256], key[160];
	long long count = 0;
	size_t i;

	if (j->flags & PM_MSG_PROBE) {
		return; /* a probe writes nothing: no marker either */
	}
	if (var_instance_name != NULL && *var_instance_name) {
		snprintf(host, sizeof(host), "%s", var_instance_name);
	} else if (gethostname(host, sizeof(host)) != 0) {
		strcpy(host, "localhost");
	}
	host[20] = 0;
	for (i = 0; host[i]; i++) {
		if (host[i] == '/' || host[i] == ':' || host[i] == ',' ||
		    (unsigned char) host[i] <= 0x20 ||
		    (unsigned char) host[i] >= 0x7f) {
			host[i] = '_';
		}
	}
	snprintf(s->tag, sizeof(s->tag), "%.20s-%.24s-%u", host, j->queue_id,
	    s->r->index);
	snprintf(key, sizeof(key), "pm:{%d}:ld:%s:%u", j->shard, j->queue_id,
	    s->r->index);
	if (qs == NULL ||
	    pm_qstore_incr_expire(qs, key, var_max_queue_time + 86400,
	        &count) != 0) {
		s->retry = 1; /* cannot tell: look before writing */
		return;
	}
	s->retry = count > 1;
}

int
local_once_found(const local_state *s, const char *dir)
{
	static const char *const subs[] = { "new", "cur" };
	char path[LOCAL_PATH_MAX], want[96];
	struct dirent *d;
	DIR *dp;
	size_t i;
	int found = 0;

	snprintf(want, sizeof(want), ".%s,", s->tag);
	for (i = 0; i < 2 && !found; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		if ((dp = opendir(path)) == NULL) {
			continue;
		}
		while (!found && (d = readdir(dp)) != NULL) {
			found = strstr(d->d_name, want) != NULL;
		}
		closedir(dp);
	}
	return (found);
}
