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

/* tls_key_link - sign over ca_fd (a blocking socketpair); 0 or -1 */
int tls_key_link(int ca_fd);

/*
 * tls_key_use - as ctx's key for leaf's slot (RSA or EC), a stand-in
 * built from leaf's public key whose signatures the ca process makes
 * with its key key_id. 0, or -1 with err set.
 */
int tls_key_use(SSL_CTX *ctx, X509 *leaf, uint32_t key_id, char *err,
    size_t errlen);

/* tls_key_retire - tell ca that no session uses generation gen's keys */
void tls_key_retire(uint32_t gen);

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
