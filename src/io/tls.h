/*
 * tls.h - OpenSSL server contexts.
 */
#ifndef MOAT_TLS_H
#define MOAT_TLS_H

#include <openssl/ssl.h>

/*
 * tls_server_ctx - a TLS 1.2+ server context with the certificate chain
 * and key from PEM files. NULL with err set on failure.
 */
SSL_CTX *tls_server_ctx(const char *cert, const char *key, char *err, size_t errlen);

/* tls_server_ctx_chain - the same without a key (see tls_key.h) */
SSL_CTX *tls_server_ctx_chain(const char *cert, char *err, size_t errlen);

/*
 * tls_check_pair - whether tls_server_ctx would succeed with a key of a
 * type tls_key_type_ok accepts, found out in a child process, so that
 * the caller's memory never holds the key.
 * 0, or -1 with err set.
 */
int tls_check_pair(const char *cert, const char *key, char *err, size_t errlen);

/* tls_key_type_ok - RSA or EC: the key types the ca process signs with */
int tls_key_type_ok(const EVP_PKEY *key);

/* tls_describe - "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs */
void tls_describe(SSL *ssl, char *buf, size_t len);

#endif
