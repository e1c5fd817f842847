/*
 * NAME
 *	pm_qcli - shared set-up of the queue commands
 * DESCRIPTION
 *	See pm_qcli.h.
 * SECURITY
 *	Operator commands: they trust main.cf and their arguments; queue
 *	ids are checked by the callee (pm_qid_valid) before use.
 */
#include "pm_qcli.h"
#include "pm_cfg.h"
#include "pm_common_params.h"
#include "pm_log.h"
#include "pm_server_queue.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pm_qstore *
pm_qcli_open(const char *progname, const char *config_dir, FILE **out,
    int *nshards)
{
	char *cfpath = NULL;
	pm_qstore *qs;
	int fd;

	/* Output on stdout; pm_log's lines (to fd 1) on stderr. */
	if ((fd = dup(1)) < 0 || (*out = fdopen(fd, "w")) == NULL ||
	    dup2(2, 1) < 0) {
		fprintf(stderr, "%s: fatal: cannot set up output\n", progname);
		return (NULL);
	}
	pm_log_init(progname);
	if (config_dir != NULL) {
		setenv("MAIL_CONFIG", config_dir, 1);
		cfpath = pm_asprintf("%s/main.cf", config_dir);
	}
	if (pm_cfg_load(cfpath) != 0) {
		pm_msg_error("cannot read the configuration");
		free(cfpath);
		return (NULL);
	}
	free(cfpath);
	pm_common_params_bind();
	*nshards = var_queue_shards > 0 ? (int) var_queue_shards : 1;
	qs = pm_server_qstore_open();
	return (qs);
}

int
pm_qcli_read_id(FILE *in, char *buf, size_t size)
{
	char line[1024], *p, *e;
	size_t len;

	while (fgets(line, sizeof(line), in) != NULL) {
		len = strlen(line);
		if (len > 0 && line[len - 1] != '\n' && !feof(in)) {
			int c; /* too long: skip the rest of the line */

			while ((c = fgetc(in)) != EOF && c != '\n') {
			}
			continue;
		}
		for (p = line; isspace((unsigned char) *p); p++) {
		}
		for (e = p; *e != 0 && !isspace((unsigned char) *e); e++) {
		}
		while (e > p &&
		    (e[-1] == '*' || e[-1] == '!' || e[-1] == '#')) {
			e--;
		}
		if (e == p || (size_t) (e - p) >= size) {
			continue;
		}
		memcpy(buf, p, (size_t) (e - p));
		buf[e - p] = 0;
		return (1);
	}
	return (0);
}
