/*
 * NAME
 *	pm_qa_site - flush the deferred mail of one destination
 *	(postqueue -s site, Postfix's fast flush)
 * DESCRIPTION
 *	pm_qa_flush_site() walks the deferred queue (pm_qa_walk, a page at
 *	a time), reads the messages PM_QA_READ_BATCH per pipeline
 *	(pm_qa_read) and moves each one that has a recipient not done yet
 *	whose domain is site (case-insensitive; "[192.0.2.1]" for an
 *	address literal) back to the incoming queue with the same script as
 *	postqueue -i (pm_qa_flush_one). Postfix's flush service keeps a
 *	per-site list of queue ids for this; here the queue is the list.
 * LIMITS
 *	PM_QA_PAGE ids and PM_QA_READ_BATCH messages in memory at a time.
 * SECURITY
 *	The site is compared, never used in a key.
 */
#include "pm_qadmin.h"
#include "pm_qstore_priv.h"

#include <string.h>
#include <strings.h>

int
pm_qa_site_valid(const char *site)
{
	size_t n = strlen(site), i;

	if (n == 0 || n > 255) {
		return (0);
	}
	for (i = 0; i < n; i++) {
		if (site[i] <= ' ' || site[i] == '@' || site[i] == 0x7f) {
			return (0);
		}
	}
	return (1);
}

/* Has m a recipient not done yet at site? */
static int
for_site(const pm_qmsg *m, const char *site)
{
	const char *at;
	size_t i;

	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].status != NULL &&
		    strcmp(m->rcpt[i].status, PM_RCPT_TODO) != 0 &&
		    strcmp(m->rcpt[i].status, PM_RCPT_DEFERRED) != 0) {
			continue; /* sent or bounced */
		}
		at = strrchr(m->rcpt[i].address, '@');
		if (at != NULL && strcasecmp(at + 1, site) == 0) {
			return (1);
		}
	}
	return (0);
}

int
pm_qa_flush_site(pm_qstore *qs, int nshards, const char *site, size_t *moved)
{
	pm_qa_walk *w = pm_qa_walk_new(qs, nshards, PM_QA_DEFERRED);
	const pm_qa_item *items;
	pm_qmsg *m[PM_QA_READ_BATCH];
	size_t n, i, k, batch;
	int rc;

	*moved = 0;
	while ((rc = pm_qa_walk_next(w, &items, &n)) == 0 && n > 0) {
		for (i = 0; i < n && rc == 0; i += batch) {
			batch =
			    n - i < PM_QA_READ_BATCH ? n - i : PM_QA_READ_BATCH;
			if ((rc = pm_qa_read(qs, items + i, batch, m)) < 0) {
				break;
			}
			for (k = 0; k < batch; k++) {
				if (m[k] != NULL && rc == 0 &&
				    for_site(m[k], site)) {
					rc = pm_qa_flush_one(qs, &items[i + k]);
					*moved += rc == 0;
					rc = rc == PM_ENOENT ? 0 : rc;
				}
				pm_qmsg_free(m[k]);
			}
		}
		if (rc < 0) {
			break;
		}
	}
	pm_qa_walk_free(w);
	return (rc);
}
