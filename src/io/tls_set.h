/*
 * tls_set.h - one generation of the server's certificates: a context
 * per name set, chosen by SNI, alive while a session uses it.
 */
#ifndef MOAT_TLS_SET_H
#define MOAT_TLS_SET_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "tls.h"

#define TLS_SET_PAIRS_MAX	16	/* PROTO_TLS_PAIRS_MAX */

/* a certificate chain (PEM), pair index of its generation */
struct tls_set_pem {
	const void	*pem;
	size_t		 len;
};

struct tls_set;

/* tls_set_key_id - the ca's id of pair i of generation gen */
uint32_t tls_set_key_id(uint32_t gen, size_t i);

/*
 * tls_set_new - contexts for the chains of generation gen, made as o
 * says. Chains whose certificates name the same hosts share a context,
 * one RSA and one ECDSA at most (the client's signature algorithms
 * pick); the first chain's context is the default, for a client that
 * sends no SNI name or one no certificate names. NULL with err set
 * ("certificate N: what").
 */
struct tls_set *tls_set_new(const struct tls_opts *o, uint32_t gen,
    const struct tls_set_pem *pems, size_t n, char *err, size_t errlen);

/*
 * tls_set_ssl_new - a connection of the set's default context; the set
 * lives at least as long as it. NULL on failure.
 */
SSL *tls_set_ssl_new(struct tls_set *set);

/*
 * tls_set_retire - the owner lets the set go (a newer one replaces it):
 * it is freed, and the ca told to drop its keys (tls_key_retire), when
 * its last connection is freed. NULL is ignored.
 */
void tls_set_retire(struct tls_set *set);

/* tls_set_gen - the generation of the set */
uint32_t tls_set_gen(const struct tls_set *set);

/*
 * tls_set_match - whether the certificate name pattern (a DNS name or
 * *.domain) covers host, case-insensitively: a wildcard stands for one
 * whole left-most label. Pure.
 */
int tls_set_match(const char *pattern, const char *host);

#endif
