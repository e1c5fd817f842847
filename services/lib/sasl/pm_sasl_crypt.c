/*
 * NAME
 *	pm_sasl_crypt - the built-in password table: crypt(3) hashes
 * DESCRIPTION
 *	smtpd_sasl_type = crypt (pm_sasl.h). The table is either a file
 *	("/path" or "file:/path") of "user:hash" lines, read once at open
 *	(Dovecot's passwd-file format: fields after the hash are ignored,
 *	as is a scheme prefix such as "{SHA512-CRYPT}"; '#' starts a
 *	comment line), or "redis:key", a Redis hash on redis_server
 *	(field = user name, value = hash), read at every AUTH so that
 *	"redis-cli HSET key user hash" takes effect at once on every smtpd.
 *	Hashes are SHA-512 ("$6$") or yescrypt ("$y$"), checked with
 *	crypt_r() from libxcrypt; any other scheme is refused with a
 *	warning (no DES, no MD5). User names are compared exactly (case
 *	matters, as in Dovecot's default).
 * LIMITS
 *	The file is read up to 64 MiB and PM_CRYPT_ENTRIES_MAX entries;
 *	a hash is at most PM_CRYPT_HASH_MAX bytes. Each Redis lookup is
 *	bounded by redis_timeout.
 * SECURITY
 *	The file is operator input (bad lines are warned about with
 *	their line number and skipped). The crypt() result is compared in
 *	constant time; an unknown user still costs one crypt() against a
 *	dummy hash with the scheme and cost of the table's most common
 *	entry (made at load with a random salt; yescrypt at Debian's
 *	default cost for a Redis table), so that timing does not tell
 *	which users exist.
 *	Redis errors give PM_SASL_TEMP, never OK.
 */
#include "pm_log.h"
#include "pm_qstore.h"
#include "pm_sasl_priv.h"
#include "pm_server_queue.h"
#include "pm_table_priv.h"
#include "pm_util.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PM_CRYPT_ENTRIES_MAX 100000
#define PM_CRYPT_HASH_MAX 512

/* A SHA-512 hash of a random password, for users that do not exist. */
static const char crypt_dummy[] =
    "$6$GzBbpLrzQ9J8u1Ni$zd2pkVz0cJ2kqA5w0RzUeoGbJX4b6W6s1p6qfGg8n1s"
    "Y5FqYlXy8oZb1K0V0q4m0uHk8vLZ7r6bYvQz2n3xJ0/";

typedef struct crypt_ent {
	char *user;
	char *hash;
} crypt_ent;

typedef struct crypt_be {
	crypt_ent *v; /* file: sorted by user */
	size_t n;
	char *redis_key; /* redis: the hash key */
	pm_qstore *qs;
	pthread_mutex_t mu;
	char *name; /* for logs */
	/* For unknown users: the table's usual scheme and cost. */
	char *dummy;
} crypt_be;

int
pm__crypt_scheme_ok(const char *hash)
{
	return (strncmp(hash, "$6$", 3) == 0 || strncmp(hash, "$y$", 3) == 0);
}

int
pm__crypt_parse_line(char *line, char **user, char **hash)
{
	char *c;
	char *h;
	char *end;

	if ((c = strchr(line, ':')) == NULL || c == line) {
		return (PM_EINVAL);
	}
	*c = 0;
	h = c + 1;
	/* A Dovecot scheme prefix: "{SHA512-CRYPT}$6$..." */
	if (*h == '{' && (end = strchr(h, '}')) != NULL) {
		h = end + 1;
	}
	if ((end = strchr(h, ':')) != NULL) {
		*end = 0;
	}
	if (*h == 0 || strlen(h) > PM_CRYPT_HASH_MAX ||
	    !pm_sasl_user_ok(line, strlen(line))) {
		return (PM_EINVAL);
	}
	*user = line;
	*hash = h;
	return (0);
}

int
pm__crypt_check(const char *pass, const char *hash)
{
	struct crypt_data *cd = pm_calloc(1, sizeof(*cd));
	const char *got;
	size_t n = strlen(hash);
	int ok = 0;

	got = crypt_r(pass, hash, cd);
	/* Failure tokens ("*0") and NULL never equal a hash. */
	if (got != NULL && got[0] != '*' && strlen(got) == n &&
	    CRYPTO_memcmp(got, hash, n) == 0) {
		ok = 1;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return (ok ? PM_SASL_OK : PM_SASL_FAIL);
}

static int
ent_cmp(const void *a, const void *b)
{
	return (strcmp(((const crypt_ent *) a)->user,
	    ((const crypt_ent *) b)->user));
}

static void
crypt_close(void *arg)
{
	crypt_be *be = arg;
	size_t i;

	for (i = 0; i < be->n; i++) {
		free(be->v[i].user);
		explicit_bzero(be->v[i].hash, strlen(be->v[i].hash));
		free(be->v[i].hash);
	}
	free(be->v);
	free(be->redis_key);
	pm_qstore_close(be->qs);
	pthread_mutex_destroy(&be->mu);
	free(be->name);
	free(be->dummy);
	free(be);
}

/* Length of hash's "$id$params$" before its salt, or 0. */
size_t
pm__crypt_params_len(const char *hash)
{
	const char *last = strrchr(hash, '$');
	const char *p;

	if (last == NULL || last == hash) {
		return (0);
	}
	/* The setting ends before the last '$'; the salt before that. */
	for (p = last - 1; p > hash && *p != '$'; p--) {
	}
	return (p > hash ? (size_t) (p - hash) + 1 : 0);
}

/*
 * A hash of a random password with the scheme and cost of the most
 * common entry (random salt of the same length), so that an unknown
 * user costs what a known one does. NULL if none can be made.
 */
char *
pm__crypt_dummy(const char *const *hashes, size_t n)
{
	static const char b64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz";
	enum { CAND = 8 };
	const char *cand[CAND];
	size_t clen[CAND], count[CAND];
	size_t nc = 0, best = 0, i, j, plen;
	struct crypt_data *cd;
	unsigned char rnd[32];
	char gen[CRYPT_GENSALT_OUTPUT_SIZE];
	char id[4];
	const char *salt;
	char setting[PM_CRYPT_HASH_MAX + 1];
	char pw[33];
	const char *got;
	char *out = NULL;

	for (i = 0; i < n; i++) {
		if ((plen = pm__crypt_params_len(hashes[i])) == 0) {
			continue;
		}
		for (j = 0; j < nc; j++) {
			if (clen[j] == plen &&
			    strncmp(cand[j], hashes[i], plen) == 0) {
				count[j]++;
				break;
			}
		}
		if (j == nc && nc < CAND) {
			cand[nc] = hashes[i];
			clen[nc] = plen;
			count[nc++] = 1;
		}
	}
	for (j = 1; j < nc; j++) {
		if (count[j] > count[best]) {
			best = j;
		}
	}
	if (nc == 0) {
		return (NULL);
	}
	plen = clen[best];
	/* A valid random salt of the scheme: libxcrypt's, after ours. */
	memcpy(id, cand[best], 3);
	id[3] = 0;
	if (crypt_gensalt_rn(id, 0, NULL, 0, gen, sizeof(gen)) == NULL ||
	    (salt = strrchr(gen, '$')) == NULL || salt[1] == 0 ||
	    plen + strlen(salt + 1) >= sizeof(setting) ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1) {
		return (NULL);
	}
	memcpy(setting, cand[best], plen);
	memcpy(setting + plen, salt + 1, strlen(salt + 1) + 1);
	for (i = 0; i < sizeof(pw) - 1; i++) {
		pw[i] = b64[rnd[i] % 64];
	}
	pw[sizeof(pw) - 1] = 0;
	cd = pm_calloc(1, sizeof(*cd));
	got = crypt_r(pw, setting, cd);
	if (got != NULL && got[0] == '$' && pm__crypt_scheme_ok(got)) {
		out = pm_strdup(got);
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	explicit_bzero(pw, sizeof(pw));
	return (out);
}

static int
crypt_load(crypt_be *be, const char *path, char **err)
{
	const char *ferr = NULL;
	pm__lines lines;
	char *data;
	size_t len;
	char *line;
	char *user;
	char *hash;
	int lineno;
	size_t cap = 0;
	size_t i;

	if (pm__file_read(path, &data, &len, &ferr) != 0) {
		*err = pm_asprintf("%s: %s", path, ferr ? ferr : "cannot read");
		return (PM_EIO);
	}
	pm__lines_init(&lines, "smtpd_sasl_password_maps", path, data, len);
	while ((line = pm__lines_next(&lines, &lineno)) != NULL) {
		if (pm__crypt_parse_line(line, &user, &hash) != 0) {
			pm_msg_warn("%s, line %d: expected user:hash, skipped",
			    path, lineno);
			continue;
		}
		if (!pm__crypt_scheme_ok(hash)) {
			pm_msg_warn("%s, line %d: unsupported hash scheme "
			            "(want $6$ or $y$), skipped",
			    path, lineno);
			continue;
		}
		if (be->n >= PM_CRYPT_ENTRIES_MAX) {
			pm_msg_warn("%s: more than %d entries, rest skipped",
			    path, PM_CRYPT_ENTRIES_MAX);
			break;
		}
		if (be->n == cap) {
			cap = cap ? 2 * cap : 16;
			be->v = pm_realloc(be->v, cap * sizeof(*be->v));
		}
		be->v[be->n].user = pm_strdup(user);
		be->v[be->n].hash = pm_strdup(hash);
		be->n++;
	}
	pm__lines_free(&lines);
	explicit_bzero(data, len);
	free(data);
	qsort(be->v, be->n, sizeof(*be->v), ent_cmp);
	{
		const char **h = pm_calloc(be->n + 1, sizeof(*h));

		for (i = 0; i < be->n; i++) {
			h[i] = be->v[i].hash;
		}
		be->dummy = pm__crypt_dummy(h, be->n);
		free(h);
	}
	for (i = 1; i < be->n; i++) {
		if (strcmp(be->v[i - 1].user, be->v[i].user) == 0) {
			pm_msg_warn("%s: user %s listed twice: the first "
			            "line in sort order wins",
			    path, be->v[i].user);
		}
	}
	return (0);
}

static void *
crypt_open(const char *path, const pm_sasl_opts *o, char **err)
{
	crypt_be *be = pm_calloc(1, sizeof(*be));

	(void) o;
	pthread_mutex_init(&be->mu, NULL);
	be->name = pm_strdup(path);
	if (strncmp(path, "redis:", 6) == 0) {
		if (path[6] == 0) {
			*err = pm_strdup("smtpd_sasl_password_maps: redis: "
			                 "needs a key name");
			goto fail;
		}
		be->redis_key = pm_strdup(path + 6);
		{
			/* Debian's default scheme and cost ($y$j9T$). */
			static const char *const yes[] = {
				"$y$j9T$"
				"AAAAAAAAAAAAAAAAAAAAAA$x"
			};

			be->dummy = pm__crypt_dummy(yes, 1);
		}
		if ((be->qs = pm_server_qstore_open()) == NULL) {
			*err = pm_strdup("smtpd_sasl_password_maps: cannot "
			                 "use redis_server");
			goto fail;
		}
		return (be);
	}
	if (strncmp(path, "file:", 5) == 0) {
		path += 5;
	}
	if (*path != '/') {
		*err = pm_asprintf("smtpd_sasl_password_maps: \"%s\": want "
		                   "/path, file:/path or redis:key",
		    path);
		goto fail;
	}
	if (crypt_load(be, path, err) != 0) {
		goto fail;
	}
	return (be);
fail:
	crypt_close(be);
	return (NULL);
}

/* The stored hash of user: 0, PM_ENOENT, or PM_EREDIS (Redis). */
static int
crypt_lookup(crypt_be *be, const char *user, char **hash)
{
	crypt_ent key;
	crypt_ent *e;
	int rc;

	if (be->redis_key != NULL) {
		pthread_mutex_lock(&be->mu);
		rc = pm_qstore_hget(be->qs, be->redis_key, user, hash);
		pthread_mutex_unlock(&be->mu);
		return (rc == 0 || rc == PM_ENOENT ? rc : PM_EREDIS);
	}
	key.user = (char *) user;
	e = bsearch(&key, be->v, be->n, sizeof(*be->v), ent_cmp);
	if (e == NULL) {
		return (PM_ENOENT);
	}
	*hash = pm_strdup(e->hash);
	return (0);
}

static int
crypt_verify(void *arg, const char *mech, const char *user, const char *pass,
    const pm_sasl_info *info, char *reason, size_t size)
{
	crypt_be *be = arg;
	char *hash = NULL;
	int rc;

	(void) mech;
	(void) info;
	rc = crypt_lookup(be, user, &hash);
	if (rc == PM_EREDIS) {
		snprintf(reason, size, "%s: Redis lookup failed", be->name);
		return (PM_SASL_TEMP);
	}
	if (rc == 0 && !pm__crypt_scheme_ok(hash)) {
		pm_msg_warn("%s: user %s: unsupported hash scheme (want $6$ "
		            "or $y$)",
		    be->name, user);
		rc = PM_ENOENT;
	}
	if (rc != 0) {
		(void) pm__crypt_check(pass,
		    be->dummy != NULL ? be->dummy : crypt_dummy);
		snprintf(reason, size, "authentication failure");
		free(hash);
		return (PM_SASL_FAIL);
	}
	rc = pm__crypt_check(pass, hash);
	explicit_bzero(hash, strlen(hash));
	free(hash);
	if (rc != PM_SASL_OK) {
		snprintf(reason, size, "authentication failure");
	}
	return (rc);
}

const pm__sasl_ops pm__sasl_crypt_ops = {
	.open = crypt_open,
	.close = crypt_close,
	.verify = crypt_verify,
};
