/*
 * mta_cert.h - the client certificate for outbound TLS
 * (tls_client_cert, tls_client_key).
 */
#ifndef MOAT_MTA_CERT_H
#define MOAT_MTA_CERT_H

#include <stddef.h>

#include <openssl/ssl.h>

struct mta_cert;

/*
 * mta_cert_load - read the certificate chain and its key (PEM), as
 * root before the privilege drop, and check that they belong together.
 * Returns the pair, or NULL with "path: what is wrong" in err.
 */
struct mta_cert *mta_cert_load(const char *cert, const char *key, char *err,
    size_t errlen);

/*
 * mta_cert_use - ctx presents the pair when a server asks for a client
 * certificate. Returns 0, or -1 with the reason in err.
 */
int mta_cert_use(const struct mta_cert *c, SSL_CTX *ctx, char *err,
    size_t errlen);

/* mta_cert_subject - the certificate's subject, one line, for logs */
void mta_cert_subject(const struct mta_cert *c, char *buf, size_t len);

/* mta_cert_free - NULL is accepted */
void mta_cert_free(struct mta_cert *c);

#endif
