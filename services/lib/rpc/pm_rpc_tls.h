/*
 * NAME
 *	pm_rpc_tls - mutual TLS for the internal nng traffic (tls+tcp://)
 * SUMMARY
 *	#include "pm_rpc_tls.h"
 * DESCRIPTION
 *	pm_rpc_tls_configure() reads the internal CA, this instance's
 *	certificate and its key (pm_server does it at start from the
 *	internal_tls_* parameters, and again on SIGHUP). From then on every
 *	pm_rpc listener and dialer whose URL is tls+tcp:// (tls+tcp4://,
 *	tls+tcp6://) uses them with authentication REQUIRED in both
 *	directions: a peer must show a certificate that chains to the CA
 *	file, or the connection is closed during the handshake. A tcp://
 *	or ipc:// URL stays plain. A tls+tcp:// URL while nothing is
 *	configured is refused (the listener or client is not made).
 *
 *	Calling it again (rotation) builds new TLS configurations from the
 *	files and gives them to every tls+tcp:// listener and dialer that
 *	exists: connections made afterwards use the new certificates,
 *	those already open keep theirs (nng 1.5 cannot renegotiate) until
 *	they close. A listener hands the configuration to an accept when it
 *	posts it, so the one accept already waiting still uses the old one.
 *	If anything is wrong with the new files, nothing changes.
 *
 *	server_name: when not empty, a client also checks that the
 *	server's certificate carries that name (subjectAltName DNS or CN).
 *	Empty: any certificate from the CA is accepted (the CA is the
 *	mesh's own, see docs/security.md). Servers never check client
 *	names (nng 1.5 has no hook for it): any certificate from the CA
 *	may call any service.
 * LIMITS
 *	Each file at most TLS_FILE_MAX bytes (pm_rpc_tls.c). The process
 *	has one identity: the same certificate serves as server and client
 *	certificate, so it must allow both uses (no extendedKeyUsage, or
 *	serverAuth and clientAuth).
 * SECURITY
 *	The files are operator input; their contents are never logged.
 *	Key material stays in nng's (mbedTLS's) configuration objects; the
 *	copies read here are wiped before they are freed.
 */
#ifndef PM_RPC_TLS_H
#define PM_RPC_TLS_H

typedef struct pm_rpc_tls_files {
	const char *ca_file;     /* PEM: CA certificates (and CRLs) trusted */
	const char *cert_file;   /* PEM: our certificate chain (and key) */
	const char *key_file;    /* PEM: our key; NULL/"" = in cert_file */
	const char *server_name; /* NULL/"": the name is not checked */
} pm_rpc_tls_files;

/*
 * Configure (or, called again, rotate) internal TLS. ca_file and
 * cert_file both empty: TLS not configured (allowed only before any
 * configuration was made). Returns 0, or PM_EINVAL with *errp (owned by
 * the caller) saying which file and what is wrong; the configuration in
 * use, if any, is kept then.
 */
int pm_rpc_tls_configure(const pm_rpc_tls_files *f, char **errp);

/* 1 if pm_rpc_tls_configure() succeeded with files. */
int pm_rpc_tls_enabled(void);

/* 1 if url's scheme needs internal TLS (tls+tcp://, tls+tcp4/6://). */
int pm_rpc_tls_url(const char *url);

#endif
