/*
 * NAME
 *	pm_sasl - backend dispatch and the SASL PLAIN/LOGIN decoding
 * DESCRIPTION
 *	See pm_sasl.h. This file opens the backend named by the type
 *	and holds the pure parts: strict base64 and the PLAIN response
 *	split, which the unit test feeds hostile input.
 * LIMITS
 *	PM_SASL_RESP_MAX decoded bytes per client response.
 * SECURITY
 *	Client responses are untrusted: every byte is checked; decoded
 *	secrets are left in caller buffers the caller clears.
 */
#include "pm_sasl.h"
#include "pm_sasl_priv.h"
#include "pm_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pm_sasl {
	const pm__sasl_ops *ops;
	void *be;
};

pm_sasl *
pm_sasl_open(const char *type, const char *path, const pm_sasl_opts *opts,
    char **err)
{
	const pm__sasl_ops *ops;
	pm_sasl *sa;
	void *be;

	*err = NULL;
	if (strcmp(type, "dovecot") == 0) {
		ops = &pm__sasl_dovecot_ops;
	} else if (strcmp(type, "crypt") == 0) {
		ops = &pm__sasl_crypt_ops;
	} else {
		*err = pm_asprintf("unsupported SASL server implementation "
		                   "\"%s\" (want dovecot or crypt)",
		    type);
		return (NULL);
	}
	if ((be = ops->open(path, opts, err)) == NULL) {
		return (NULL);
	}
	sa = pm_calloc(1, sizeof(*sa));
	sa->ops = ops;
	sa->be = be;
	return (sa);
}

pm_sasl *
pm_sasl_close(pm_sasl *sa)
{
	if (sa != NULL) {
		sa->ops->close(sa->be);
		free(sa);
	}
	return (NULL);
}

int
pm_sasl_verify(pm_sasl *sa, const char *mech, const char *user,
    const char *pass, const pm_sasl_info *info, char *reason, size_t size)
{
	if (size > 0) {
		reason[0] = 0;
	}
	if (!pm_sasl_user_ok(user, strlen(user)) ||
	    strlen(pass) > PM_SASL_PASS_MAX) {
		snprintf(reason, size, "authentication failure");
		return (PM_SASL_FAIL);
	}
	return (sa->ops->verify(sa->be, mech, user, pass, info, reason, size));
}

int
pm_sasl_user_ok(const char *user, size_t len)
{
	size_t i;

	if (len == 0 || len > PM_SASL_USER_MAX) {
		return (0);
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char) user[i];

		if (c < 0x20 || c == 0x7f) {
			return (0);
		}
	}
	return (1);
}

/* Base64. */

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') {
		return (c - 'A');
	}
	if (c >= 'a' && c <= 'z') {
		return (c - 'a' + 26);
	}
	if (c >= '0' && c <= '9') {
		return (c - '0' + 52);
	}
	if (c == '+') {
		return (62);
	}
	if (c == '/') {
		return (63);
	}
	return (-1);
}

int
pm_sasl_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t outmax, size_t *outlen)
{
	size_t i;
	size_t n = 0;
	int v[4];
	int pad;
	int k;

	if (len % 4 != 0) {
		return (PM_EINVAL);
	}
	for (i = 0; i < len; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			unsigned char c = (unsigned char) in[i + k];

			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64_val(c)) < 0) {
				return (PM_EINVAL);
			}
		}
		/* Unused bits must be zero (canonical encoding). */
		if ((pad == 1 && (v[2] & 0x3) != 0) ||
		    (pad == 2 && (v[1] & 0xf) != 0)) {
			return (PM_EINVAL);
		}
		if (n + 3 - (size_t) pad > outmax) {
			return (PM_ETOOBIG);
		}
		out[n++] = (unsigned char) (v[0] << 2 | v[1] >> 4);
		if (pad < 2) {
			out[n++] =
			    (unsigned char) ((v[1] & 0xf) << 4 | v[2] >> 2);
		}
		if (pad < 1) {
			out[n++] = (unsigned char) ((v[2] & 0x3) << 6 | v[3]);
		}
	}
	*outlen = n;
	return (0);
}

size_t
pm_sasl_b64_encode(const void *in, size_t len, char *out)
{
	const unsigned char *p = in;
	size_t i;
	size_t n = 0;
	unsigned v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned) p[i] << 16 | (unsigned) p[i + 1] << 8 | p[i + 2];
		out[n++] = b64_chars[v >> 18];
		out[n++] = b64_chars[(v >> 12) & 63];
		out[n++] = b64_chars[(v >> 6) & 63];
		out[n++] = b64_chars[v & 63];
	}
	if (i < len) {
		v = (unsigned) p[i] << 16;
		if (i + 1 < len) {
			v |= (unsigned) p[i + 1] << 8;
		}
		out[n++] = b64_chars[v >> 18];
		out[n++] = b64_chars[(v >> 12) & 63];
		out[n++] = i + 1 < len ? b64_chars[(v >> 6) & 63] : '=';
		out[n++] = '=';
	}
	out[n] = 0;
	return (n);
}

int
pm_sasl_plain_decode(const char *b64, char *buf, const char **authzid,
    const char **authcid, const char **passwd)
{
	size_t n;
	size_t len = strlen(b64);
	char *z;
	char *c;
	char *p;
	int rc;

	if (len > 4 * ((PM_SASL_RESP_MAX + 2) / 3)) {
		return (PM_ETOOBIG);
	}
	if ((rc = pm_sasl_b64_decode(b64, len, (unsigned char *) buf,
	         PM_SASL_RESP_MAX, &n)) != 0) {
		return (rc);
	}
	buf[n] = 0;
	z = buf;
	if ((c = memchr(z, 0, n)) == NULL || (size_t) (c - buf) + 1 >= n) {
		return (PM_EINVAL);
	}
	c++;
	if ((p = memchr(c, 0, n - (size_t) (c - buf))) == NULL) {
		return (PM_EINVAL);
	}
	p++;
	/* The password runs to the end: a NUL inside it is an error. */
	if (strlen(p) != n - (size_t) (p - buf)) {
		return (PM_EINVAL);
	}
	if (!pm_sasl_user_ok(c, strlen(c)) ||
	    (*z != 0 && !pm_sasl_user_ok(z, strlen(z))) ||
	    strlen(p) > PM_SASL_PASS_MAX) {
		return (PM_EINVAL);
	}
	*authzid = z;
	*authcid = c;
	*passwd = p;
	return (0);
}
