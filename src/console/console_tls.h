/*
 * console_tls.h - the console's HTTPS: a server context whose key is
 * in the ca process, and the login a client certificate names.
 */
#ifndef MOAT_CONSOLE_TLS_H
#define MOAT_CONSOLE_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct conf;

/*
 * console_tls_ctx - the server context of console_tls_cert, as root
 * before the chroot (the chain and console_client_ca are read now),
 * signing through the ca process on ca_fd. NULL without TLS configured
 * (err "") or on failure (err set).
 */
SSL_CTX *console_tls_ctx(const struct conf *c, int ca_fd, char *err,
    size_t errlen);

/*
 * console_tls_login - the login a verified client certificate of ssl
 * names (its subject's CN, else its emailAddress) into out; 0, or -1
 * when there is none, it failed verification or does not fit.
 */
int console_tls_login(SSL *ssl, char *out, size_t outlen);

#endif
