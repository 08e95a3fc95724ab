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

/* tls_describe - "TLSv1.3 TLS_AES_256_GCM_SHA384" for logs */
void tls_describe(SSL *ssl, char *buf, size_t len);

#endif
