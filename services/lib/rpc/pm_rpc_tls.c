/*
 * NAME
 *	pm_rpc_tls - mutual TLS for the internal nng traffic (tls+tcp://)
 * SUMMARY
 *	#include "pm_rpc_tls.h"
 * DESCRIPTION
 *	See pm_rpc_tls.h for the contract. Implementation notes:
 *
 *	Two nng_tls_config objects (server and client mode), held here
 *	under tls_mu, are the ones in use. pm_rpc.c makes its listeners and
 *	dialers through pm__rpc_listen() and pm__rpc_dial(), which give a
 *	tls+tcp:// endpoint the current configuration (nng takes its own
 *	reference) and remember the endpoint's id; pm__rpc_tls_forget()
 *	drops it when pm_rpc closes the endpoint. A new configuration is
 *	set on every remembered endpoint (NNG_OPT_TLS_CONFIG may be set on
 *	a started endpoint: nng swaps it under the endpoint's lock, and
 *	each new connection takes a reference to the one current then). An
 *	id whose endpoint was closed meanwhile just fails with NNG_ENOENT.
 *
 *	The files are read here, not by nng_tls_config_ca_file(), so that
 *	a missing file or one without the expected PEM block gets a message
 *	naming the file; a CA file that holds CRLs gives them to mbedTLS as
 *	well (as nng_tls_config_ca_file() does).
 * LIMITS
 *	TLS_FILE_MAX bytes per file. TLS 1.2 at least.
 * SECURITY
 *	Operator files; contents never logged; key bytes wiped after use.
 */
#include "pm_rpc_tls.h"
#include "pm_log.h"
#include "pm_rpc_priv.h"
#include "pm_util.h"

#include <nng/supplemental/tls/tls.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_FILE_MAX (1024 * 1024)
#define TLS_PEM_CERT "-----BEGIN CERTIFICATE-----"
#define TLS_PEM_CRL "-----BEGIN X509 CRL-----"
#define TLS_PEM_KEY "PRIVATE KEY-----" /* RSA, EC, PKCS#8 */

typedef struct tls_ep {
	int listener; /* 1: nng_listener id, 0: nng_dialer id */
	int id;
} tls_ep;

static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static nng_tls_config *tls_srv; /* under tls_mu; NULL: not configured */
static nng_tls_config *tls_cli; /* under tls_mu */
static tls_ep *tls_eps;         /* under tls_mu: endpoints using TLS */
static size_t tls_neps;
static size_t tls_cap;

int
pm_rpc_tls_url(const char *url)
{
	return (url != NULL && strncmp(url, "tls+tcp", 7) == 0);
}

int
pm_rpc_tls_enabled(void)
{
	int on;

	pthread_mutex_lock(&tls_mu);
	on = tls_srv != NULL;
	pthread_mutex_unlock(&tls_mu);
	return (on);
}

static char *
tls_free_data(char *data)
{
	if (data != NULL) {
		explicit_bzero(data, strlen(data));
		free(data);
	}
	return (NULL);
}

/* Read a whole PEM file that must contain marker; NUL-terminated. */
static int
tls_read(const char *param, const char *path, const char *marker, char **datap,
    char **errp)
{
	FILE *fp;
	char *data;
	size_t len;

	if ((fp = fopen(path, "r")) == NULL) {
		*errp = pm_asprintf("%s: cannot open %s: %s", param, path,
		    strerror(errno));
		return (PM_EINVAL);
	}
	data = pm_malloc(TLS_FILE_MAX + 1);
	len = fread(data, 1, TLS_FILE_MAX + 1, fp);
	if (ferror(fp) || len > TLS_FILE_MAX) {
		*errp = pm_asprintf("%s: %s: %s", param, path,
		    ferror(fp) ? "read error" : "larger than 1 MB");
		fclose(fp);
		explicit_bzero(data, len);
		free(data);
		return (PM_EINVAL);
	}
	fclose(fp);
	data[len] = 0;
	if (strlen(data) != len || strstr(data, marker) == NULL) {
		*errp = pm_asprintf("%s: %s: no PEM \"%s\" block", param, path,
		    marker);
		tls_free_data(data);
		return (PM_EINVAL);
	}
	*datap = data;
	return (0);
}

/* One configuration in the given mode from the PEM texts. */
static int
tls_make(nng_tls_mode mode, const char *ca, const char *cert, const char *key,
    const char *server_name, nng_tls_config **cfgp, char **errp)
{
	nng_tls_config *cfg;
	const char *what;
	int rv;

	if ((rv = nng_tls_config_alloc(&cfg, mode)) != 0) {
		*errp = pm_asprintf("internal TLS: %s", nng_strerror(rv));
		return (PM_EINVAL);
	}
	what = "TLS version";
	if ((rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_3)) != 0) {
		rv = nng_tls_config_version(cfg, NNG_TLS_1_2, NNG_TLS_1_2);
	}
	if (rv == 0) {
		what = "authentication mode";
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
	}
	if (rv == 0) {
		what = "internal_tls_ca_file";
		rv = nng_tls_config_ca_chain(cfg, ca,
		    strstr(ca, TLS_PEM_CRL) != NULL ? ca : NULL);
	}
	if (rv == 0) {
		what = "internal_tls_cert_file or internal_tls_key_file";
		rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
	}
	if (rv == 0 && mode == NNG_TLS_MODE_CLIENT && server_name != NULL &&
	    *server_name != 0) {
		what = "internal_tls_server_name";
		rv = nng_tls_config_server_name(cfg, server_name);
	}
	if (rv != 0) {
		*errp =
		    pm_asprintf("%s: not usable: %s", what, nng_strerror(rv));
		nng_tls_config_free(cfg);
		return (PM_EINVAL);
	}
	*cfgp = cfg;
	return (0);
}

/* Give cfg to one endpoint; 0 or an nng error. */
static int
tls_apply(const tls_ep *e, nng_tls_config *cfg)
{
	if (e->listener) {
		nng_listener l = NNG_LISTENER_INITIALIZER;

		l.id = (uint32_t) e->id;
		return (nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg));
	} else {
		nng_dialer d = NNG_DIALER_INITIALIZER;

		d.id = (uint32_t) e->id;
		return (nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg));
	}
}

int
pm_rpc_tls_configure(const pm_rpc_tls_files *f, char **errp)
{
	char *ca = NULL, *cert = NULL, *key = NULL;
	nng_tls_config *srv = NULL, *cli = NULL, *osrv, *ocli;
	int empty_ca = f->ca_file == NULL || *f->ca_file == 0;
	int empty_cert = f->cert_file == NULL || *f->cert_file == 0;
	int rc = PM_EINVAL;
	size_t i;

	if (empty_ca && empty_cert) {
		if (pm_rpc_tls_enabled()) {
			*errp = pm_strdup("internal TLS cannot be turned off "
			                  "while running: restart instead");
			return (PM_EINVAL);
		}
		return (0);
	}
	if (empty_ca || empty_cert) {
		*errp = pm_asprintf("internal TLS needs both "
		                    "internal_tls_ca_file and "
		                    "internal_tls_cert_file (%s is empty)",
		    empty_ca ? "internal_tls_ca_file" :
		               "internal_tls_cert_file");
		return (PM_EINVAL);
	}
	if (tls_read("internal_tls_ca_file", f->ca_file, TLS_PEM_CERT, &ca,
	        errp) != 0 ||
	    tls_read("internal_tls_cert_file", f->cert_file, TLS_PEM_CERT,
	        &cert, errp) != 0) {
		goto out;
	}
	if (f->key_file != NULL && *f->key_file != 0) {
		if (tls_read("internal_tls_key_file", f->key_file, TLS_PEM_KEY,
		        &key, errp) != 0) {
			goto out;
		}
	} else if (strstr(cert, TLS_PEM_KEY) == NULL) {
		*errp = pm_asprintf("internal_tls_cert_file: %s holds no "
		                    "private key, and internal_tls_key_file "
		                    "is empty",
		    f->cert_file);
		goto out;
	}
	if (tls_make(NNG_TLS_MODE_SERVER, ca, cert, key ? key : cert, NULL,
	        &srv, errp) != 0 ||
	    tls_make(NNG_TLS_MODE_CLIENT, ca, cert, key ? key : cert,
	        f->server_name, &cli, errp) != 0) {
		goto out;
	}
	pthread_mutex_lock(&tls_mu);
	osrv = tls_srv;
	ocli = tls_cli;
	tls_srv = srv;
	tls_cli = cli;
	for (i = 0; i < tls_neps; i++) {
		(void) tls_apply(&tls_eps[i], tls_eps[i].listener ? srv : cli);
	}
	pthread_mutex_unlock(&tls_mu);
	/* Endpoints and connections hold their own references. */
	if (osrv != NULL) {
		nng_tls_config_free(osrv);
		nng_tls_config_free(ocli);
	}
	srv = cli = NULL;
	rc = 0;
out:
	if (srv != NULL) {
		nng_tls_config_free(srv);
	}
	tls_free_data(ca);
	tls_free_data(cert);
	tls_free_data(key);
	return (rc);
}

/* Remember an endpoint (under tls_mu). */
static void
tls_remember(int listener, int id)
{
	if (tls_neps == tls_cap) {
		tls_cap = tls_cap ? tls_cap * 2 : 16;
		tls_eps = pm_realloc(tls_eps, tls_cap * sizeof(*tls_eps));
	}
	tls_eps[tls_neps].listener = listener;
	tls_eps[tls_neps].id = id;
	tls_neps++;
}

void
pm__rpc_tls_forget(int listener, int id)
{
	size_t i;

	pthread_mutex_lock(&tls_mu);
	for (i = 0; i < tls_neps; i++) {
		if (tls_eps[i].listener == listener && tls_eps[i].id == id) {
			tls_eps[i] = tls_eps[--tls_neps];
			break;
		}
	}
	pthread_mutex_unlock(&tls_mu);
}

static const char tls_unset[] = "internal TLS is not configured (set "
                                "internal_tls_ca_file and "
                                "internal_tls_cert_file)";

int
pm__rpc_listen(nng_socket s, const char *url, nng_listener *lp)
{
	nng_listener l;
	int rv;

	if ((rv = nng_listener_create(&l, s, url)) != 0) {
		pm_msg_error("listen %s: %s", url, nng_strerror(rv));
		return (rv);
	}
	if (pm_rpc_tls_url(url)) {
		pthread_mutex_lock(&tls_mu);
		if (tls_srv == NULL) {
			pthread_mutex_unlock(&tls_mu);
			pm_msg_error("listen %s: %s", url, tls_unset);
			nng_listener_close(l);
			return (NNG_EINVAL);
		}
		if ((rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG,
		         tls_srv)) == 0) {
			tls_remember(1, nng_listener_id(l));
		}
		pthread_mutex_unlock(&tls_mu);
		if (rv != 0) {
			pm_msg_error("listen %s: TLS: %s", url,
			    nng_strerror(rv));
			nng_listener_close(l);
			return (rv);
		}
	}
	if ((rv = nng_listener_start(l, 0)) != 0) {
		pm_msg_error("listen %s: %s", url, nng_strerror(rv));
		pm__rpc_tls_forget(1, nng_listener_id(l));
		nng_listener_close(l);
		return (rv);
	}
	*lp = l;
	return (0);
}

int
pm__rpc_dial(nng_socket s, const char *url, nng_dialer *dp)
{
	nng_dialer d;
	int rv;

	if ((rv = nng_dialer_create(&d, s, url)) != 0) {
		pm_msg_error("dial %s: %s", url, nng_strerror(rv));
		return (rv);
	}
	if (pm_rpc_tls_url(url)) {
		pthread_mutex_lock(&tls_mu);
		if (tls_cli == NULL) {
			pthread_mutex_unlock(&tls_mu);
			pm_msg_error("dial %s: %s", url, tls_unset);
			nng_dialer_close(d);
			return (NNG_EINVAL);
		}
		if ((rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tls_cli)) ==
		    0) {
			tls_remember(0, nng_dialer_id(d));
		}
		pthread_mutex_unlock(&tls_mu);
		if (rv != 0) {
			pm_msg_error("dial %s: TLS: %s", url, nng_strerror(rv));
			nng_dialer_close(d);
			return (rv);
		}
	}
	/* Non-blocking: a peer that is down is retried for ever. */
	if ((rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0) {
		pm_msg_error("dial %s: %s", url, nng_strerror(rv));
		pm__rpc_tls_forget(0, nng_dialer_id(d));
		nng_dialer_close(d);
		return (rv);
	}
	*dp = d;
	return (0);
}

/* "host[addr]:port"-like text for the peer of a message, for logs. */
void
pm__rpc_peer(nng_msg *msg, char *buf, size_t len)
{
	nng_sockaddr sa;
	char ip[INET6_ADDRSTRLEN];
	nng_pipe p = nng_msg_get_pipe(msg);

	snprintf(buf, len, "unknown");
	if (nng_pipe_id(p) < 0 ||
	    nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0) {
		return;
	}
	switch (sa.s_family) {
	case NNG_AF_INET:
		if (inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip))) {
			snprintf(buf, len, "[%s]:%u", ip,
			    (unsigned) ntohs(sa.s_in.sa_port));
		}
		break;
	case NNG_AF_INET6:
		if (inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip))) {
			snprintf(buf, len, "[%s]:%u", ip,
			    (unsigned) ntohs(sa.s_in6.sa_port));
		}
		break;
	case NNG_AF_IPC:
		snprintf(buf, len, "local");
		break;
	default:
		break;
	}
}
