/*
 * tls_ticket.h - session tickets with keys made in memory and rotated.
 */
#ifndef MOAT_TLS_TICKET_H
#define MOAT_TLS_TICKET_H

#include <openssl/ssl.h>

/*
 * tls_ticket_setup - ctx issues and accepts tickets under this
 * process's keys: a new random key every lifetime seconds, the one
 * before it still decrypting; lifetime 0 turns tickets off. The keys
 * are the process's, not the context's: every context of every
 * generation (reloads) shares them. Call for each new context.
 */
void tls_ticket_setup(SSL_CTX *ctx, int lifetime);

#endif
