/*
 * NAME
 *	virtual_path - mailbox path and uid/gid values of the virtual agent
 * SUMMARY
 *	#include "virtual.h"
 * DESCRIPTION
 *	virtual_path() joins virtual_mailbox_base and a
 *	virtual_mailbox_maps result as Postfix's virtual(8) does
 *	(base "/" result; a trailing "/" means maildir, else mbox).
 *	virtual_id_parse() checks a virtual_uid_maps/virtual_gid_maps
 *	result.
 * LIMITS
 *	VIRTUAL_PATH_MAX.
 * SECURITY
 *	A result with a ".." component is refused, so a pattern table
 *	that copies part of the address cannot leave the base.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_util.h"
#include "virtual.h"

int
virtual_path(const char *base, const char *rel, char *out, size_t size,
    int *maildir, const char **why)
{
	size_t blen = strlen(base), rlen;
	const char *p;

	while (*rel == ' ' || *rel == '\t') {
		rel++;
	}
	rlen = strlen(rel);
	while (rlen > 0 && (rel[rlen - 1] == ' ' || rel[rlen - 1] == '\t')) {
		rlen--;
	}
	if (rlen == 0 || (rlen == 1 && rel[0] == '/')) {
		*why = "empty mailbox path";
		return (PM_EINVAL);
	}
	for (p = rel; p < rel + rlen;) {
		size_t n = strcspn(p, "/");

		if (n > (size_t) (rel + rlen - p)) {
			n = (size_t) (rel + rlen - p);
		}
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			*why = "\"..\" in mailbox path";
			return (PM_EINVAL);
		}
		p += n + 1;
	}
	for (size_t i = 0; i < rlen; i++) {
		if ((unsigned char) rel[i] < 0x20 || rel[i] == 0x7f) {
			*why = "control character in mailbox path";
			return (PM_EINVAL);
		}
	}
	while (blen > 1 && base[blen - 1] == '/') {
		blen--;
	}
	while (rlen > 1 && rel[0] == '/') {
		rel++;
		rlen--;
	}
	if (blen + 1 + rlen >= size || blen + 1 + rlen > VIRTUAL_PATH_MAX) {
		*why = "mailbox path too long";
		return (PM_EINVAL);
	}
	snprintf(out, size, "%.*s/%.*s", (int) blen, base, (int) rlen, rel);
	*maildir = rel[rlen - 1] == '/';
	return (0);
}

int
virtual_id_parse(const char *value, long min, long *id)
{
	char *end;
	long v;

	while (isspace((unsigned char) *value)) {
		value++;
	}
	if (!isdigit((unsigned char) *value)) {
		return (PM_EINVAL);
	}
	errno = 0;
	v = strtol(value, &end, 10);
	while (isspace((unsigned char) *end)) {
		end++;
	}
	if (errno != 0 || *end != 0 || v < min || v > INT32_MAX) {
		return (PM_EINVAL);
	}
	*id = v;
	return (0);
}
