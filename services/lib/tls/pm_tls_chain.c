/*
 * NAME
 *	pm_tls_chain - load key/certificate chains into an SSL_CTX
 * DESCRIPTION
 *	See pm_tls.h (chain files). Every PEM object of every file is
 *	read in order: a private key starts a chain, the certificates
 *	after it are its leaf and issuers. Each finished chain is
 *	installed with SSL_CTX_use_cert_and_key(), which also checks
 *	that the key matches the leaf. The legacy cert_file/key_file
 *	pair is one chain: key_file, then cert_file; or one cert_file
 *	holding the key and the certificates in either order, as
 *	Postfix accepts (chain files keep Postfix's key-first rule).
 * LIMITS
 *	PM_TLS_CHAIN_MAX chains, PM_TLS_CERTS_MAX certificates each,
 *	PM_TLS_PEM_MAX octets per file.
 * SECURITY
 *	Errors name the file and the object's position, never key
 *	material.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pm_tls.h"
#include "pm_util.h"

typedef struct chain {
	EVP_PKEY *key;
	X509 *leaf;
	STACK_OF(X509) * issuers;
	char file[256]; /* where the key was, for messages */
} chain;

typedef struct loader {
	chain chains[PM_TLS_CHAIN_MAX];
	int n;
	int legacy; /* cert_file/key_file: one chain, either order */
	char *err;
	size_t size;
} loader;

static void
chain_free(chain *c)
{
	EVP_PKEY_free(c->key);
	X509_free(c->leaf);
	sk_X509_pop_free(c->issuers, X509_free);
	memset(c, 0, sizeof(*c));
}

static int
add_key(loader *l, EVP_PKEY *key, const char *file)
{
	if (l->legacy && l->n == 1 && l->chains[0].key == NULL) {
		/* The certificates came first (Postfix allows it here). */
		l->chains[0].key = key;
		snprintf(l->chains[0].file, sizeof(l->chains[0].file), "%s",
		    file);
		return (PM_OK);
	}
	if (l->legacy && l->n == 1) {
		EVP_PKEY_free(key);
		snprintf(l->err, l->size,
		    "%s: more than one private key "
		    "(use smtpd_tls_chain_files for several chains)",
		    file);
		return (PM_EINVAL);
	}
	if (l->n >= PM_TLS_CHAIN_MAX) {
		EVP_PKEY_free(key);
		snprintf(l->err, l->size, "%s: more than %d private keys", file,
		    PM_TLS_CHAIN_MAX);
		return (PM_ETOOBIG);
	}
	l->chains[l->n].key = key;
	l->chains[l->n].issuers = sk_X509_new_null();
	snprintf(l->chains[l->n].file, sizeof(l->chains[l->n].file), "%s",
	    file);
	l->n++;
	return (PM_OK);
}

static int
add_cert(loader *l, X509 *x, const char *file)
{
	chain *c;

	if (l->n == 0 && l->legacy) {
		/* A chain whose key comes later in the file(s). */
		l->chains[0].issuers = sk_X509_new_null();
		snprintf(l->chains[0].file, sizeof(l->chains[0].file), "%s",
		    file);
		l->n = 1;
	}
	if (l->n == 0) {
		X509_free(x);
		snprintf(l->err, l->size,
		    "%s: certificate before any private key (each key must "
		    "come first, then its certificate chain)",
		    file);
		return (PM_EINVAL);
	}
	c = &l->chains[l->n - 1];
	if (c->leaf == NULL) {
		c->leaf = x;
		return (PM_OK);
	}
	if (sk_X509_num(c->issuers) + 1 >= PM_TLS_CERTS_MAX) {
		X509_free(x);
		snprintf(l->err, l->size,
		    "%s: more than %d certificates in a "
		    "chain",
		    file, PM_TLS_CERTS_MAX);
		return (PM_ETOOBIG);
	}
	sk_X509_push(c->issuers, x);
	return (PM_OK);
}

/* Read one PEM file; objects go to the loader in order. */
static int
load_file(loader *l, const char *file, int keys_ok)
{
	char *name = NULL, *header = NULL, ebuf[256];
	unsigned char *data = NULL;
	const unsigned char *p;
	long len;
	int rc = PM_OK, nobj = 0;
	BIO *bio;
	FILE *fp;
	long fsize;

	if ((fp = fopen(file, "r")) == NULL) {
		snprintf(l->err, l->size, "cannot open %s: %m", file);
		return (PM_EIO);
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (fsize = ftell(fp)) < 0 ||
	    fsize > PM_TLS_PEM_MAX || fseek(fp, 0, SEEK_SET) != 0) {
		fclose(fp);
		snprintf(l->err, l->size,
		    "%s: not a regular file of at most "
		    "%d octets",
		    file, PM_TLS_PEM_MAX);
		return (PM_ETOOBIG);
	}
	bio = BIO_new_fp(fp, BIO_CLOSE);
	ERR_clear_error();
	while (rc == PM_OK &&
	    PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
		nobj++;
		p = data;
		if (strstr(name, "PRIVATE KEY") != NULL) {
			EVP_PKEY *k = NULL;

			if (!keys_ok) {
				snprintf(l->err, l->size,
				    "%s: private key in a certificate-only "
				    "file",
				    file);
				rc = PM_EINVAL;
			} else if (strcmp(name, "PRIVATE KEY") == 0) {
				k = d2i_AutoPrivateKey(NULL, &p, len);
			} else if (strcmp(name, "RSA PRIVATE KEY") == 0) {
				k = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, len);
			} else if (strcmp(name, "EC PRIVATE KEY") == 0) {
				k = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, len);
			} else {
				snprintf(l->err, l->size,
				    "%s: object %d: unsupported key type %.40s "
				    "(encrypted keys are not supported)",
				    file, nobj, name);
				rc = PM_EINVAL;
			}
			if (rc == PM_OK && k == NULL) {
				snprintf(l->err, l->size,
				    "%s: object %d: bad private key: %s", file,
				    nobj, pm_tls_errors(ebuf, sizeof(ebuf)));
				rc = PM_EINVAL;
			} else if (rc == PM_OK) {
				rc = add_key(l, k, file);
			}
		} else if (strcmp(name, "CERTIFICATE") == 0 ||
		    strcmp(name, "TRUSTED CERTIFICATE") == 0) {
			X509 *x = d2i_X509(NULL, &p, len);

			if (x == NULL) {
				snprintf(l->err, l->size,
				    "%s: object %d: bad certificate: %s", file,
				    nobj, pm_tls_errors(ebuf, sizeof(ebuf)));
				rc = PM_EINVAL;
			} else {
				rc = add_cert(l, x, file);
			}
		}
		/* Other objects (parameters, CRLs) are skipped. */
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	BIO_free(bio);
	ERR_clear_error(); /* the PEM_R_NO_START_LINE at the end */
	if (rc == PM_OK && nobj == 0) {
		snprintf(l->err, l->size, "%s: no PEM objects", file);
		rc = PM_EINVAL;
	}
	return (rc);
}

/* Next file name of a comma/space list into buf; 0 at the end. */
static int
next_file(const char **p, char *buf, size_t size)
{
	const char *s = *p;
	size_t n;

	s += strspn(s, ", \t");
	if (*s == 0) {
		return (0);
	}
	n = strcspn(s, ", \t");
	if (n >= size) {
		return (-1);
	}
	memcpy(buf, s, n);
	buf[n] = 0;
	*p = s + n;
	return (1);
}

int
pm_tls_load_chains(SSL_CTX *ctx, const pm_tls_conf *conf, char *err,
    size_t size)
{
	loader l;
	char file[4096], ebuf[256];
	const char *p;
	int i, rc = PM_OK, got;

	memset(&l, 0, sizeof(l));
	l.err = err;
	l.size = size;
	if (conf->chain_files != NULL && *conf->chain_files != 0) {
		p = conf->chain_files;
		while (rc == PM_OK &&
		    (got = next_file(&p, file, sizeof(file))) != 0) {
			if (got < 0) {
				snprintf(err, size, "chain file name too long");
				rc = PM_ETOOBIG;
				break;
			}
			rc = load_file(&l, file, 1);
		}
	} else if (conf->cert_file != NULL && *conf->cert_file != 0) {
		l.legacy = 1;
		if (conf->key_file != NULL && *conf->key_file != 0 &&
		    strcmp(conf->key_file, conf->cert_file) != 0) {
			rc = load_file(&l, conf->key_file, 1);
			if (rc == PM_OK) {
				rc = load_file(&l, conf->cert_file, 0);
			}
		} else {
			rc = load_file(&l, conf->cert_file, 1);
		}
	}
	for (i = 0; rc == PM_OK && i < l.n; i++) {
		chain *c = &l.chains[i];

		if (c->key == NULL) {
			snprintf(err, size,
			    "%s: certificate without a private "
			    "key",
			    c->file);
			rc = PM_EINVAL;
		} else if (c->leaf == NULL) {
			snprintf(err, size,
			    "%s: private key without a "
			    "certificate after it",
			    c->file);
			rc = PM_EINVAL;
		} else if (SSL_CTX_use_cert_and_key(ctx, c->leaf, c->key,
		               c->issuers, 1) != 1) {
			snprintf(err, size,
			    "%s: key and certificate do not "
			    "go together: %s",
			    c->file, pm_tls_errors(ebuf, sizeof(ebuf)));
			rc = PM_EINVAL;
		}
	}
	for (i = 0; i < l.n; i++) {
		chain_free(&l.chains[i]);
	}
	return (rc);
}
