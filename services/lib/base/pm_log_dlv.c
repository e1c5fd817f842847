/*
 * NAME
 *	pm_log_dlv - the one builder of Postfix's delivery status log line
 * DESCRIPTION
 *	See pm_log_dlv.h.
 * LIMITS
 *	PM_LOG_LINE_MAX bytes per line (pm_log cuts longer ones).
 */
#include "pm_log_dlv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pm_log.h"
#include "pm_util.h"

#define DLV_FIELD_MAX 1024

void
pm_log_delay(char *buf, size_t size, int64_t us)
{
	int64_t s, tenths, cs;

	if (us < 0) {
		us = 0;
	}
	s = us / 1000000;
	tenths = us % 1000000 / 100000;
	if (s > 9 || (s > 0 && tenths == 0)) {
		snprintf(buf, size, "%lld", (long long) s);
	} else if (s > 0) {
		snprintf(buf, size, "%lld.%lld", (long long) s,
		    (long long) tenths);
	} else if ((cs = us / 10000) == 0) {
		snprintf(buf, size, "0");
	} else if (cs % 10 == 0) {
		snprintf(buf, size, "0.%lld", (long long) (cs / 10));
	} else {
		snprintf(buf, size, "0.%02lld", (long long) cs);
	}
}

static char *
dlv_field(const char *s)
{
	if (s == NULL) {
		s = "";
	}
	return (pm_printable_dup(s, strlen(s), DLV_FIELD_MAX));
}

size_t
pm_log_dlv_format(char *buf, size_t size, const pm_log_dlv *d)
{
	char delay[24], dl[4][24], cu[32];
	char *to = dlv_field(d->to), *orig = NULL, *text = dlv_field(d->text);
	char *relay = dlv_field(d->relay ? d->relay : "none");
	int n, i;

	if (d->orig_to != NULL && d->orig_to[0] != 0 && d->to != NULL &&
	    strcmp(d->orig_to, d->to) != 0) {
		orig = dlv_field(d->orig_to);
	}
	pm_log_delay(delay, sizeof(delay), d->delay_us);
	for (i = 0; i < 4; i++) {
		pm_log_delay(dl[i], sizeof(dl[i]), d->delays_us[i]);
	}
	cu[0] = 0;
	if (d->conn_use > 1) {
		snprintf(cu, sizeof(cu), "conn_use=%u, ", d->conn_use);
	}
	n = snprintf(buf, size,
	    "%s: to=<%s>, %s%s%srelay=%s, %sdelay=%s, "
	    "delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)",
	    d->qid && *d->qid ? d->qid : "NOQUEUE", to, orig ? "orig_to=<" : "",
	    orig ? orig : "", orig ? ">, " : "", relay, cu, delay, dl[0], dl[1],
	    dl[2], dl[3], d->dsn ? d->dsn : "", d->status ? d->status : "",
	    text);
	free(to);
	free(orig);
	free(text);
	free(relay);
	if (n < 0) {
		buf[0] = 0;
		return (0);
	}
	return ((size_t) n < size ? (size_t) n : size - 1);
}

void
pm_log_dlv_info(const pm_log_dlv *d)
{
	char line[PM_LOG_LINE_MAX];

	(void) pm_log_dlv_format(line, sizeof(line), d);
	pm_msg_info("%s", line);
}
