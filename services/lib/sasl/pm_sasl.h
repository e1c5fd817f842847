/*
 * NAME
 *	pm_sasl - SASL password verification for smtpd AUTH
 * SUMMARY
 *	#include "pm_sasl.h"
 * DESCRIPTION
 *	smtpd decodes the client's AUTH PLAIN or LOGIN exchange itself
 *	(pm_sasl_plain_decode, pm_sasl_b64_decode) and asks a backend
 *	whether the user name and password are good:
 *
 *	pm_sasl_open(type, path, opts, &err) opens a backend:
 *	  "dovecot"  Dovecot's authentication protocol (auth client
 *	             protocol 1.2, as Postfix's smtpd_sasl_type = dovecot)
 *	             on path, a UNIX socket path or "inet:host:port"
 *	             (pm_sasl_dovecot.c). Connections are made when needed,
 *	             kept in a pool and made again after an error.
 *	  "crypt"    crypt(3) hashes (SHA-512 "$6$", yescrypt "$y$"),
 *	             verified with crypt_r() (pm_sasl_crypt.c). path is a
 *	             file of "user:hash" lines (Dovecot passwd-file format:
 *	             further ":" fields and a "{SHA512-CRYPT}" style scheme
 *	             prefix are ignored) written "/path" or "file:/path", or
 *	             "redis:key": the Redis hash key on redis_server, field
 *	             user, value hash.
 *	pm_sasl_verify() answers PM_SASL_OK, PM_SASL_FAIL (bad user or
 *	password: SMTP 535) or PM_SASL_TEMP (backend unreachable or broken:
 *	SMTP 454), with a printable reason for the log (never the password).
 *	It BLOCKS (socket, Redis, crypt): call it from a worker thread. It
 *	is thread-safe.
 * LIMITS
 *	User names up to PM_SASL_USER_MAX bytes, passwords up to
 *	PM_SASL_PASS_MAX; a decoded client response up to PM_SASL_RESP_MAX;
 *	Dovecot lines up to opts->line_max bytes, each read, write and
 *	connect within opts->timeout_ms; at most PM_SASL_POOL_MAX idle
 *	Dovecot connections kept.
 * SECURITY
 *	Client input (base64 responses, user names) is untrusted: strictly
 *	decoded and bounded; a user name with control characters or NUL is
 *	refused before any backend sees it. Passwords are never logged,
 *	and are cleared from buffers after use. Hashes are compared in
 *	constant time, and an unknown user costs a crypt() too.
 */
#ifndef PM_SASL_H
#define PM_SASL_H

#include <stddef.h>

#define PM_SASL_OK 0
#define PM_SASL_FAIL 1
#define PM_SASL_TEMP 2

#define PM_SASL_USER_MAX 256
#define PM_SASL_PASS_MAX 1024
#define PM_SASL_RESP_MAX 2048
#define PM_SASL_POOL_MAX 16

typedef struct pm_sasl pm_sasl;

typedef struct pm_sasl_opts {
	int timeout_ms;  /* each connect/read/write (dovecot), > 0 */
	size_t line_max; /* longest Dovecot line, >= 256 */
} pm_sasl_opts;

typedef struct pm_sasl_info {
	const char *client_addr; /* "192.0.2.1", may be NULL */
	const char *service;     /* "smtp" (Dovecot's service=) */
	int secured;             /* TLS (or loopback) */
	/*
	 * Out, may be NULL: on PM_SASL_OK the name the backend
	 * authenticated (Dovecot's user=, which may differ from the name
	 * the client gave: auth_username_format, master users); left as
	 * it was when the backend names nobody else (crypt).
	 */
	char *authname;
	size_t authname_size;
} pm_sasl_info;

/* Open a backend. NULL and *err (new string) on bad configuration. */
pm_sasl *pm_sasl_open(const char *type, const char *path,
    const pm_sasl_opts *opts, char **err);
pm_sasl *pm_sasl_close(pm_sasl *sa);

/* mech is "PLAIN" or "LOGIN" (for the log; both verify a password). */
int pm_sasl_verify(pm_sasl *sa, const char *mech, const char *user,
    const char *pass, const pm_sasl_info *info, char *reason, size_t size);

/*
 * Strict base64 (RFC 4648, padding required, no white space). Decodes
 * len bytes of in into out (at most outmax bytes). 0 and *outlen, or
 * PM_EINVAL (bad character, bad padding) or PM_ETOOBIG.
 */
int pm_sasl_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t outmax, size_t *outlen);
/* Encode; out must hold 4 * ((len + 2) / 3) + 1 bytes. Returns length. */
size_t pm_sasl_b64_encode(const void *in, size_t len, char *out);

/*
 * AUTH PLAIN response (base64 of "authzid NUL authcid NUL passwd"),
 * decoded into buf (PM_SASL_RESP_MAX + 1 bytes); the three pointers
 * point into buf. 0, or PM_EINVAL (not base64, not three fields, empty
 * user, a field with NUL or a control character in a name) or
 * PM_ETOOBIG.
 */
int pm_sasl_plain_decode(const char *b64, char *buf, const char **authzid,
    const char **authcid, const char **passwd);

/* A user name smtpd may pass on: 1..PM_SASL_USER_MAX bytes, no controls. */
int pm_sasl_user_ok(const char *user, size_t len);

#endif
