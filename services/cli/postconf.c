/*
 * NAME
 *	postconf - show or change main.cf parameters, as Postfix's postconf
 * SUMMARY
 *	postconf [-dhnx] [-c config_dir] [-o name=value] [name ...]
 *	postconf [-e] [-c config_dir] name=value ...
 *	postconf -X|-# [-c config_dir] name ...
 * DESCRIPTION
 *	Shows "name = value" for every parameter any Postmesh service
 *	knows, or for the names given:
 *	-d	built-in defaults (main.cf, -o and POSTMESH_<name> ignored);
 *	-n	only parameters set in main.cf;
 *	-h	the value alone;
 *	-x	values with $name expanded (otherwise as written);
 *	-o name=value	as if set on a service's command line;
 *	-c dir	<dir>/main.cf (else $MAIL_CONFIG/main.cf, else
 *		/etc/postmesh/main.cf).
 *	The effective value is the one the services use (pm_cfg.h):
 *	POSTMESH_<name> in the environment, else -o, else main.cf, else the
 *	default. The parameters and defaults are those of
 *	docs/configuration.md, which is generated from every service's
 *	`-d` and compiled in (build/gen/pm_param_table.h).
 *
 *	Editing (pm_cfg_edit.h: copy, then rename over main.cf; comments
 *	and other lines kept): -e or any name=value argument sets, -X
 *	removes, -# comments out.
 * LIMITS
 *	See pm_cfg.h and pm_cfg_edit.h.
 * SECURITY
 *	An operator command: it trusts main.cf and the environment.
 * DIAGNOSTICS
 *	As Postfix: an unknown name is a warning ("postconf: warning: foo:
 *	unknown parameter") and the exit status stays 0; main.cf settings
 *	no service knows are warned about as unused. Exit 1 on a usage
 *	error or a failed edit.
 */
#include "pm_cfg.h"
#include "pm_cfg_edit.h"
#include "pm_log.h"
#include "pm_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PC_ENV_PREFIX "POSTMESH_"
#define PC_OPTS "c:dehno:vxX#"

#define PC_SHOW_DEFS 0x01   /* -d */
#define PC_SHOW_NONDEF 0x02 /* -n */
#define PC_HIDE_NAME 0x04   /* -h */
#define PC_SHOW_EVAL 0x08   /* -x */

/* Every parameter some service knows, name order (docs/configuration.md). */
static const pm_param_default pc_params[] = {
#include "pm_param_table.h"
	{ NULL, NULL },
};

static FILE *pc_out;
static const char *pc_path;

static void
pc_usage(void)
{
	fprintf(stderr,
	    "usage: postconf [-dhnx] [-c config_dir] [-o name=value] "
	    "[name ...]\n"
	    "       postconf [-e] [-c config_dir] name=value ...\n"
	    "       postconf -X|-# [-c config_dir] name ...\n");
	exit(1);
}

/* -d: forget POSTMESH_<name> overrides of parameters, so defaults show. */
static void
pc_clear_env(void)
{
	extern char **environ;
	const char *s;
	char *var;
	size_t i = 0, plen = strlen(PC_ENV_PREFIX);

	while (environ != NULL && environ[i] != NULL) {
		s = environ[i];
		var = pm_strndup(s, strcspn(s, "="));
		if (strncmp(var, PC_ENV_PREFIX, plen) == 0 &&
		    pm_cfg_known(var + plen)) {
			unsetenv(var); /* environ shifts: index i again */
		} else {
			i++;
		}
		free(var);
	}
}

static void
pc_print(const char *name, int mode)
{
	char *exp = NULL;
	const char *v;

	if (mode & PC_SHOW_EVAL) {
		v = exp = pm_cfg_get(name);
	} else {
		v = pm_cfg_raw(name);
	}
	if (v == NULL) {
		v = "";
	}
	if (mode & PC_HIDE_NAME) {
		fprintf(pc_out, "%s\n", v);
	} else {
		fprintf(pc_out, "%s =%s%s\n", name, *v ? " " : "", v);
	}
	free(exp);
}

static void
pc_print_set(const char *name, const char *value, int known, void *arg)
{
	(void) value;
	if (known) {
		pc_print(name, *(int *) arg);
	}
}

static void
pc_declare(void)
{
	size_t i;

	for (i = 0; pc_params[i].name != NULL; i++) {
		pm_cfg_declare(pc_params[i].name, pc_params[i].defval);
	}
}

/* -o name=value ...: as a service's command line (beats main.cf). */
static void
pc_set_overrides(int argc, char **argv)
{
	char *eq;
	int ch;

	optind = 1;
	while ((ch = getopt(argc, argv, PC_OPTS)) != -1) {
		if (ch == 'o' && (eq = strchr(optarg, '=')) != NULL) {
			*eq = 0;
			pm_cfg_set(pm_trim(optarg), pm_trim(eq + 1));
		}
	}
}

static void
pc_load(int mode, int argc, char **argv)
{
	struct stat st;

	if (mode & PC_SHOW_DEFS) {
		pc_clear_env();
		return;
	}
	pc_set_overrides(argc, argv);
	if (stat(pc_path, &st) != 0 && errno == ENOENT) {
		pm_msg_warn("%s: not found, showing built-in "
		            "defaults and environment",
		    pc_path);
		return;
	}
	if (pm_cfg_load(pc_path) != 0) {
		pm_msg_fatal("cannot read %s", pc_path);
	}
}

static int
pc_show(int mode, char **names, int n)
{
	int i;

	if (n > 0) {
		for (i = 0; i < n; i++) {
			if (!pm_cfg_known(names[i])) {
				pm_msg_warn("%s: unknown "
				            "parameter",
				    names[i]);
			} else {
				pc_print(names[i], mode);
			}
		}
	} else if (mode & PC_SHOW_NONDEF) {
		pm_cfg_walk_file(pc_print_set, &mode);
	} else {
		for (i = 0; pc_params[i].name != NULL; i++) {
			pc_print(pc_params[i].name, mode);
		}
	}
	if (!(mode & PC_SHOW_DEFS)) {
		pm_cfg_warn_unknown(); /* "<path>: unused parameter: a=b" */
	}
	return (0);
}

static int
pc_edit(int edit, char **args, int n)
{
	pm_cfg_edit_op *ops;
	char *arg, *eq, *err = NULL;
	const char *why;
	int i, rc;

	if (n == 0) {
		pc_usage();
	}
	ops = pm_calloc((size_t) n, sizeof(*ops));
	for (i = 0; i < n; i++) {
		arg = pm_trim(args[i]);
		if (*arg == '#') {
			pm_msg_fatal("-e, -X, or -# accepts no comment input");
		}
		eq = strchr(arg, '=');
		if (edit == PM_CFG_EDIT_SET) {
			if (eq == NULL) {
				pm_msg_fatal(
				    "missing '=' after parameter name: "
				    "\"%s\"",
				    arg);
			}
			*eq = 0;
			ops[i].value = pm_trim(eq + 1);
		} else if (eq != NULL) {
			pm_msg_fatal(
			    "-X or -# requires parameter names without "
			    "value");
		}
		ops[i].name = pm_trim(arg);
		if ((why = pm_cfg_edit_check(ops[i].name, ops[i].value)) !=
		    NULL) {
			pm_msg_fatal("%s: \"%s\"", why, args[i]);
		}
		if (edit == PM_CFG_EDIT_SET && !pm_cfg_known(ops[i].name)) {
			pm_msg_warn("%s: unused parameter: %s=%s", pc_path,
			    ops[i].name, ops[i].value);
		}
	}
	rc = pm_cfg_edit(pc_path, ops, (size_t) n, edit, &err);
	free(ops);
	if (rc != 0) {
		pm_msg_fatal("%s", err);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	const char *config_dir = NULL;
	int ch, i, mode = 0, edit = 0;
	char *path;

	/* Results on stdout; warnings "postconf: warning: ..." on stderr. */
	pm_log_command("postconf");
	while ((ch = getopt(argc, argv, PC_OPTS)) != -1) {
		switch (ch) {
		case 'c':
			config_dir = optarg;
			break;
		case 'd':
			mode |= PC_SHOW_DEFS;
			break;
		case 'e':
			if (edit != 0 && edit != PM_CFG_EDIT_SET) {
				pm_msg_fatal("specify one of -e, -X or -#");
			}
			edit = PM_CFG_EDIT_SET;
			break;
		case 'h':
			mode |= PC_HIDE_NAME;
			break;
		case 'n':
			mode |= PC_SHOW_NONDEF;
			break;
		case 'o':
			if (strchr(optarg, '=') == NULL) {
				pm_msg_fatal("-o requires name=value");
			}
			break; /* applied by pc_load(), not with -d */
		case 'v':
			pm_msg_verbose++;
			break;
		case 'x':
			mode |= PC_SHOW_EVAL;
			break;
		case 'X':
		case '#':
			ch = ch == 'X' ? PM_CFG_EDIT_REMOVE :
			                 PM_CFG_EDIT_COMMENT;
			if (edit != 0 && edit != ch) {
				pm_msg_fatal("specify one of -e, -X or -#");
			}
			edit = ch;
			break;
		default:
			pc_usage();
		}
	}
	if ((mode & PC_SHOW_DEFS) && (mode & PC_SHOW_NONDEF)) {
		pm_msg_fatal("specify one of -d and -n");
	}
	for (i = optind; edit == 0 && i < argc; i++) {
		if (strchr(argv[i], '=') != NULL) {
			edit = PM_CFG_EDIT_SET; /* Postfix 2.8: -e optional */
		}
	}
	pc_out = stdout;
	pc_path = path = pm_cfg_main_path(config_dir);
	pc_declare();
	if (edit != 0) {
		if (mode != 0) {
			pm_msg_fatal("-e, -X and -# take no -d, -h, -n or -x");
		}
		return (pc_edit(edit, argv + optind, argc - optind));
	}
	i = optind;
	pc_load(mode, argc, argv);
	pc_show(mode, argv + i, argc - i);
	if (fflush(pc_out) != 0 || ferror(pc_out)) {
		pm_msg_fatal("write standard output: %s", strerror(errno));
	}
	fclose(pc_out);
	free(path);
	return (0);
}
