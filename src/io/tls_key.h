/*
 * tls_key.h - a TLS server key whose private half lives in the ca process.
 */
#ifndef MOAT_TLS_KEY_H
#define MOAT_TLS_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

/* how long a handshake waits for the ca process to sign */
#define TLS_KEY_CA_TIMEOUT_MS	3000

/*
 * tls_key_server_ctx - a server context (as tls_server_ctx) with the
 * certificate chain of cert and, as its key, a stand-in built from the
 * certificate's public key: its signatures are made by the ca process
 * over ca_fd (a blocking socketpair). RSA and EC keys. NULL with err
 * set on failure. Call once per process.
 */
SSL_CTX *tls_key_server_ctx(const char *cert, int ca_fd, char *err,
    size_t errlen);

struct ipc_hdr;
struct ipc_msg;

/*
 * The same link to ca carries DKIM signing without blocking: see
 * tls_key.c. CA_LINK_MSG_MAX bytes a message at most.
 */
#define CA_LINK_MSG_MAX	2048
int tls_key_ca_link(int ca_fd, void (*notify)(void *), void *arg);
int tls_key_ca_send(struct ipc_msg *m);
int tls_key_ca_read(void);
int tls_key_ca_next(struct ipc_hdr *h, uint8_t *buf, size_t cap);

#endif
