/*
 * mta_cert.c - the client certificate the mta presents to a TLS server
 * that asks for one (Microsoft 365 inbound connectors identify a
 * sending organisation by it).
 *
 * Public: mta_cert_load, mta_cert_use, mta_cert_subject, mta_cert_free.
 *
 * The key may be readable by root only: mta_proc_prepare loads the pair
 * before the privilege drop, into a context of its own that only holds
 * it; mta_cert_use copies the references into the client context the
 * sessions use. No verification setting changes: the server's
 * certificate is checked as the tls mode says.
 *
 * SECURITY: the files are the administrator's; the key never leaves
 * this process and is never logged.
 * LIMITS: none beyond OpenSSL's.
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "mta/mta_cert.h"

struct mta_cert {
	SSL_CTX	*holder;	/* holds the chain and the key */
};

static void
cert_error(char *err, size_t errlen, const char *path, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s: %s: %s", path, what, e ? buf :
	    "unknown error");
	ERR_clear_error();
}

/* mta_cert_load - the chain and its matching key */
struct mta_cert *
mta_cert_load(const char *cert, const char *key, char *err, size_t errlen)
{
	struct mta_cert *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if ((c->holder = SSL_CTX_new(TLS_client_method())) == NULL) {
		cert_error(err, errlen, "tls", "SSL_CTX_new");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(c->holder, cert) != 1) {
		cert_error(err, errlen, cert, "cannot load certificate");
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c->holder, key, SSL_FILETYPE_PEM) != 1) {
		cert_error(err, errlen, key, "cannot load private key");
		goto fail;
	}
	if (SSL_CTX_check_private_key(c->holder) != 1) {
		cert_error(err, errlen, key, "does not match the certificate");
		goto fail;
	}
	return c;
fail:
	mta_cert_free(c);
	return NULL;
}

/* mta_cert_use - ctx presents c's chain, signed with c's key */
int
mta_cert_use(const struct mta_cert *c, SSL_CTX *ctx, char *err, size_t errlen)
{
	STACK_OF(X509) *chain = NULL;

	if (SSL_CTX_get0_chain_certs(c->holder, &chain) != 1 ||
	    SSL_CTX_use_certificate(ctx, SSL_CTX_get0_certificate(c->holder)) != 1 ||
	    SSL_CTX_set1_chain(ctx, chain) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, SSL_CTX_get0_privatekey(c->holder)) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		cert_error(err, errlen, "tls_client_cert", "cannot be used");
		return -1;
	}
	return 0;
}

/* mta_cert_subject - "CN=...,O=..." (RFC 2253 order), for logs */
void
mta_cert_subject(const struct mta_cert *c, char *buf, size_t len)
{
	X509 *x = SSL_CTX_get0_certificate(c->holder);
	BIO *b;
	char *p;
	long n;

	buf[0] = '\0';
	if (x == NULL || (b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253) >= 0 && (n = BIO_get_mem_data(b, &p)) > 0)
		snprintf(buf, len, "%.*s", (int)n, p);
	BIO_free(b);
}

/* mta_cert_free - release the pair */
void
mta_cert_free(struct mta_cert *c)
{
	if (c == NULL)
		return;
	SSL_CTX_free(c->holder);
	free(c);
}
