/*
 * console_tls.c - the console's HTTPS context.
 *
 * Public: console_tls_ctx, console_tls_login.
 *
 * The control process serves the console and reads the network, so it
 * holds no private key: its context has a stand-in key (tls_key.c)
 * whose signatures the ca process makes with console_tls_key, which ca
 * read as root at start (CA_CONSOLE_KEY_ID, on the control <-> ca
 * link). The chain and console_client_ca are read here, as root, before
 * the process enters its chroot; both are public.
 * With console_client_ca, a client may present a certificate: one that
 * does not verify fails the handshake; one that does logs in as the
 * console user its subject names (console_http.c), if that user exists.
 * No certificate is fine: the password login remains.
 * SECURITY: the name is taken only from a certificate OpenSSL verified
 * against console_client_ca; it must be a plain login (no control
 * characters, no ':'), checked again against console_users by auth.
 * LIMITS: the context is made once, at start: a reload does not change
 * the console's certificate (restart for that).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "../ca/ca_key.h"
#include "../daemon/config.h"
#include "../io/tls.h"
#include "../io/tls_key.h"
#include "console_tls.h"

/* console_tls_ctx - the HTTPS context, or NULL (err "" when TLS is off) */
SSL_CTX *
console_tls_ctx(const struct conf *c, int ca_fd, char *err, size_t errlen)
{
	struct tls_opts o;
	SSL_CTX *ctx;
	STACK_OF(X509_NAME) *names;

	err[0] = '\0';
	if (c->console_tls_cert[0] == '\0')
		return NULL;
	if (ca_fd == -1 || tls_key_link(ca_fd) == -1) {
		snprintf(err, errlen, "console: cannot set up key methods");
		return NULL;
	}
	conf_tls_opts(c, &o);
	if ((ctx = tls_server_ctx_new(&o, err, errlen)) == NULL)
		return NULL;
	/* no resumption: every connection shows its certificate again */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->console_tls_cert) != 1) {
		snprintf(err, errlen, "console_tls_cert %s: cannot load the "
		    "certificate chain", c->console_tls_cert);
		goto fail;
	}
	if (tls_key_use(ctx, SSL_CTX_get0_certificate(ctx), CA_CONSOLE_KEY_ID,
	    err, errlen) == -1)
		goto fail;
	if (c->console_client_ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, c->console_client_ca,
		    NULL) != 1 || (names = SSL_load_client_CA_file(
		    c->console_client_ca)) == NULL) {
			snprintf(err, errlen, "console_client_ca %s: no CA "
			    "certificate could be loaded", c->console_client_ca);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		/* asked, not required: a password login needs none */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

/* the text of entry nid of name, when it is a plain login */
static int
name_entry(X509_NAME *name, int nid, char *out, size_t outlen)
{
	const unsigned char *d;
	ASN1_STRING *s;
	int i, len;

	if ((i = X509_NAME_get_index_by_NID(name, nid, -1)) < 0 ||
	    (s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i))) ==
	    NULL)
		return -1;
	d = ASN1_STRING_get0_data(s);
	len = ASN1_STRING_length(s);
	if (len <= 0 || (size_t)len >= outlen)
		return -1;
	for (i = 0; i < len; i++)
		if (d[i] <= ' ' || d[i] >= 0x7f || d[i] == ':')
			return -1;
	memcpy(out, d, (size_t)len);
	out[len] = '\0';
	return 0;
}

/* console_tls_login - the console user a verified certificate names */
int
console_tls_login(SSL *ssl, char *out, size_t outlen)
{
	X509 *x;
	int rc = -1;

	if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    (x = SSL_get1_peer_certificate(ssl)) == NULL)
		return -1;
	if (name_entry(X509_get_subject_name(x), NID_commonName, out,
	    outlen) == 0 || name_entry(X509_get_subject_name(x),
	    NID_pkcs9_emailAddress, out, outlen) == 0)
		rc = 0;
	X509_free(x);
	return rc;
}
