/*
 * NAME
 *	pm_tls - SSL_CTX construction, handshake summaries, error text
 * DESCRIPTION
 *	See pm_tls.h. pm_tls_ctx_new() applies, in order: the method
 *	(TLS_server_method or TLS_client_method), the hardening options,
 *	the protocol range, the cipher list, the trust anchors, the
 *	key/certificate chains. Any step that fails frees the context
 *	and says which parameter value was at fault.
 * LIMITS
 *	Error text is cut to the caller's buffer.
 * SECURITY
 *	The hardening is not configurable: compression (CRIME) and
 *	renegotiation are always off.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>

#include "pm_tls.h"
#include "pm_util.h"

const char *
pm_tls_errors(char *buf, size_t size)
{
	unsigned long e;
	size_t len = 0;
	int n;

	if (size == 0) {
		return (buf);
	}
	buf[0] = 0;
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		n = snprintf(buf + len, size - len, "%s%s", len ? "; " : "",
		    one);
		if (n < 0 || (size_t) n >= size - len) {
			ERR_clear_error();
			break;
		}
		len += (size_t) n;
	}
	if (buf[0] == 0) {
		snprintf(buf, size, "no OpenSSL error");
	}
	return (buf);
}

SSL_CTX *
pm_tls_ctx_new(const pm_tls_conf *conf, char *err, size_t size)
{
	SSL_CTX *ctx;
	char list[1024], ebuf[256];
	int min, max;
	const char *cafile, *capath;

	if (pm_tls_protocol_range(conf->protocols ? conf->protocols : "", &min,
	        &max, err, size) != PM_OK) {
		return (NULL);
	}
	if (pm_tls_cipher_list(conf->ciphers, conf->exclude_ciphers, list,
	        sizeof(list), err, size) != PM_OK) {
		return (NULL);
	}
	ERR_clear_error();
	ctx = SSL_CTX_new(conf->server ? TLS_server_method() :
	                                 TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, size, "SSL_CTX_new: %s",
		    pm_tls_errors(ebuf, sizeof(ebuf)));
		return (NULL);
	}
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	        (conf->server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if ((min != 0 && SSL_CTX_set_min_proto_version(ctx, min) != 1) ||
	    (max != 0 && SSL_CTX_set_max_proto_version(ctx, max) != 1)) {
		snprintf(err, size, "TLS protocols \"%.200s\": %s",
		    conf->protocols, pm_tls_errors(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (SSL_CTX_set_cipher_list(ctx, list) != 1) {
		snprintf(err, size, "cipher list \"%.200s\": %s", list,
		    pm_tls_errors(ebuf, sizeof(ebuf)));
		goto fail;
	}
	cafile = conf->ca_file && *conf->ca_file ? conf->ca_file : NULL;
	capath = conf->ca_path && *conf->ca_path ? conf->ca_path : NULL;
	if ((cafile != NULL && SSL_CTX_load_verify_file(ctx, cafile) != 1) ||
	    (capath != NULL && SSL_CTX_load_verify_dir(ctx, capath) != 1)) {
		snprintf(err, size, "CA %s: %s", cafile ? cafile : capath,
		    pm_tls_errors(ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (pm_tls_load_chains(ctx, conf, err, size) != PM_OK) {
		goto fail;
	}
	return (ctx);

fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

void
pm_tls_summary(const SSL *ssl, char *buf, size_t size)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int alg = 0, bits = 0, n;
	int group;
	const char *gname = NULL;

	if (c == NULL) {
		snprintf(buf, size, "no TLS");
		return;
	}
	bits = SSL_CIPHER_get_bits(c, &alg);
	n = snprintf(buf, size, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(ssl), SSL_CIPHER_get_name(c), bits, alg);
	if (n < 0 || (size_t) n >= size) {
		return;
	}
	/* A NID for the groups OpenSSL knows: "X25519", as Postfix logs. */
	group = SSL_get_negotiated_group((SSL *) ssl);
	if (group != 0 && (group & TLSEXT_nid_unknown) == 0) {
		gname = OBJ_nid2sn(group);
	}
	if (group != 0 && gname == NULL) {
		gname = SSL_group_to_name((SSL *) ssl, group);
	}
	if (gname != NULL) {
		snprintf(buf + n, size - (size_t) n, " key-exchange %s", gname);
	}
}
