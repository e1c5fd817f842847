/*
 * NAME
 *	local_expand - per-recipient $name expansion (forward_path,
 *	mailbox_command)
 * SUMMARY
 *	#include "local.h"
 * DESCRIPTION
 *	Postfix local(8) expands forward_path and mailbox_command for each
 *	recipient: $home, $user, $extension, $recipient_delimiter (the
 *	delimiter found in the address), $domain, $local, $recipient,
 *	$sender, $mailbox (= $user), as $name, ${name} or $(name); "$$" is
 *	a '$'. Both parameters are "raw" in pm_cfg (not expanded as
 *	main.cf parameters). Postfix's conditional forms ${name?value},
 *	${name:value} are not done: an unknown name fails the expansion.
 * LIMITS
 *	The caller's pm_buf limit.
 * SECURITY
 *	The values are addresses from qmgr and operator data; the result
 *	is a file name or one argument of an argument vector (never a
 *	shell command line).
 */
#include <string.h>

#include "local.h"

int
local_expand(const char *template, const local_state *s, const local_user *u,
    const local_addr *a, int strict_ext, pm_buf *out)
{
	const char *q = template, *v, *val;
	char delim[2] = { a->delim, 0 }, close;
	size_t n;
	int rc = 0;

	while (*q != 0 && rc == 0) {
		if (*q != '$') {
			n = strcspn(q, "$");
			rc = pm_buf_append(out, q, n);
			q += n;
			continue;
		}
		q++;
		if (*q == '$') {
			rc = pm_buf_append(out, "$", 1);
			q++;
			continue;
		}
		if (*q == '{' || *q == '(') {
			close = *q == '{' ? '}' : ')';
			v = q + 1;
			n = strcspn(v, close == '}' ? "}" : ")");
			if (v[n] != close) {
				return (-1);
			}
			q = v + n + 1;
		} else {
			v = q;
			n = strspn(q, "abcdefghijklmnopqrstuvwxyz_");
			q += n;
		}
#define IS(name) (n == strlen(name) && strncmp(v, name, n) == 0)
		if (IS("home")) {
			val = u->home;
		} else if (IS("user") || IS("mailbox")) {
			val = u->name;
		} else if (IS("extension")) {
			val = a->ext;
		} else if (IS("recipient_delimiter")) {
			val = a->ext[0] ? delim : "";
		} else if (IS("domain")) {
			val = a->domain != NULL ? a->domain : "";
		} else if (IS("local")) {
			val = a->local;
		} else if (IS("recipient")) {
			val = s->rcpt;
		} else if (IS("sender")) {
			val = s->m->job->sender;
		} else {
			return (-1);
		}
		if (strict_ext && *val == 0 &&
		    (IS("extension") || IS("recipient_delimiter"))) {
			return (-1);
		}
#undef IS
		rc = pm_buf_puts(out, val);
	}
	return (rc == 0 ? 0 : -1);
}
