/*
 * NAME
 *	pm_sasl_priv - backends of pm_sasl
 * DESCRIPTION
 *	Not for use outside services/lib/sasl. pm_sasl.c dispatches to a
 *	backend through these functions; pm_sasl_dovecot.c and
 *	pm_sasl_crypt.c implement them. The Dovecot line parser is here
 *	so that the unit test reaches it.
 */
#ifndef PM_SASL_PRIV_H
#define PM_SASL_PRIV_H

#include "pm_sasl.h"

typedef struct pm__sasl_ops {
	void *(*open)(const char *path, const pm_sasl_opts *o, char **err);
	void (*close)(void *be);
	int (*verify)(void *be, const char *mech, const char *user,
	    const char *pass, const pm_sasl_info *info, char *reason,
	    size_t size);
} pm__sasl_ops;

extern const pm__sasl_ops pm__sasl_dovecot_ops;
extern const pm__sasl_ops pm__sasl_crypt_ops;

/* One Dovecot auth line split at TABs (in place). */
#define PM__DOVE_ARGS_MAX 32
typedef struct pm__dove_line {
	const char *cmd;                     /* "OK", "FAIL", "MECH", ... */
	const char *args[PM__DOVE_ARGS_MAX]; /* after cmd */
	int nargs;
} pm__dove_line;

/*
 * Split line (NUL-terminated, no LF) at TABs. PM_EPROTO if empty, if a
 * byte is a control other than TAB, or more than PM__DOVE_ARGS_MAX
 * arguments.
 */
int pm__dove_parse(char *line, pm__dove_line *out);
/* Value of "name=value" among the arguments from index from, or NULL;
 * a bare "name" gives "". */
const char *pm__dove_arg(const pm__dove_line *l, int from, const char *name);
/* Dovecot's tab-escaping (\001 1, \001 t, \001 r, \001 n) undone in
 * place; PM_EPROTO on a bad escape. */
int pm__dove_unescape(char *s);

/* crypt table: "user:hash" line to (user, hash) in place; 0 or PM_EINVAL. */
int pm__crypt_parse_line(char *line, char **user, char **hash);
/* 1 if the hash is of a supported scheme ($6$, $y$). */
int pm__crypt_scheme_ok(const char *hash);
/* PM_SASL_OK or PM_SASL_FAIL: crypt_r(pass, hash) equals hash. */
int pm__crypt_check(const char *pass, const char *hash);
/* Length of "$id$params$" before the salt of hash, or 0. */
size_t pm__crypt_params_len(const char *hash);
/* A hash of a random password, the most common scheme/cost of hashes. */
char *pm__crypt_dummy(const char *const *hashes, size_t n);

#endif
