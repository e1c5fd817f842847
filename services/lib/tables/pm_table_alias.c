/*
 * NAME
 *	pm_table_alias - texthash: tables read from aliases(5) files
 * SUMMARY
 *	#include "pm_table_priv.h"
 * DESCRIPTION
 *	Postfix reads /etc/aliases through postalias into hash: files;
 *	Postmesh has no hash: files, so a texthash: table whose file is in
 *	aliases(5) form is read with the alias parser itself (pm_alias):
 *	name -> value, the value as its text (callers split it again with
 *	pm_alias_split()). The form is recognised by the first record: a
 *	quoted name, or a first word ending in ':' (Postfix's texthash
 *	warns "is this an alias file?" on exactly that). Every role reads
 *	such a file the same way, so local_recipient_maps (which holds
 *	$alias_maps) and the local agent agree on the names.
 * LIMITS
 *	Those of pm_alias (PM_ALIAS_*); at most PM_TABLE_ENTRIES_MAX names.
 * SECURITY
 *	Bad lines are warned about with file name and line and skipped,
 *	as in every table file.
 */
#include "pm_alias.h"
#include "pm_log.h"
#include "pm_table_priv.h"

#include <string.h>

int
pm__alias_format(const char *data, size_t len)
{
	const char *p = data, *end = data + len, *eol, *w;

	while (p < end) {
		eol = memchr(p, '\n', (size_t) (end - p));
		if (eol == NULL) {
			eol = end;
		}
		/* The first line that starts a record, in column 1. */
		if (p < eol && *p != '#' && *p != ' ' && *p != '\t' &&
		    *p != '\r') {
			if (*p == '"') {
				return (1);
			}
			for (w = p;
			     w < eol && *w != ' ' && *w != '\t' && *w != '\r';
			     w++) {
				;
			}
			return (w > p && w[-1] == ':');
		}
		p = eol + 1;
	}
	return (0);
}

static void
alias_warn(void *arg, const char *path, int lineno, const char *msg)
{
	(void) arg;
	pm_msg_warn("texthash map %s, line %d: %s", path, lineno, msg);
}

void
pm__alias_hash(const char *path, const char *data, size_t len, pm__hash *h)
{
	pm_alias_file f;
	size_t i;

	(void) pm_alias_parse(path, data, len, &f, alias_warn, NULL);
	for (i = 0; i < f.n; i++) {
		if (h->n >= PM_TABLE_ENTRIES_MAX) {
			pm_msg_warn("texthash map %s, line %d: more than %d "
			            "entries, ignoring the rest",
			    path, f.v[i].lineno, PM_TABLE_ENTRIES_MAX);
			break;
		}
		/* Names are unique (pm_alias_parse keeps the first). */
		(void) pm__hash_put(h, f.v[i].name, f.v[i].value);
		f.v[i].name = NULL;
		f.v[i].value = NULL;
	}
	pm_alias_file_free(&f);
}
