/*
 * dkim_key.h - DKIM keys: signing a header hash (ca process), checking
 * a signature against a key record (verification), making a key pair
 * and its DNS record (`moat dkim keygen`).
 */
#ifndef MOAT_DKIM_KEY_H
#define MOAT_DKIM_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "dkim_canon.h"
#include "dkim_tag.h"

#define DKIM_SIG_MAX	1024	/* RSA up to 8192 bits */

/* dkim_key_alg - the algorithm key signs with, -1 for an unusable key */
int dkim_key_alg(EVP_PKEY *key);

/*
 * dkim_key_sign - sign a header hash: RSA PKCS#1 v1.5 over the SHA-256
 * digest, Ed25519 (pure) over the digest's 32 bytes (RFC 8463 3).
 * 0, or -1 with err set.
 */
int dkim_key_sign(EVP_PKEY *key, const uint8_t digest[DKIM_HASH_LEN],
    uint8_t *sig, size_t cap, size_t *siglen, char *err, size_t errlen);

/*
 * dkim_key_verify - does sig sign digest under the key record's p=:
 * 1 yes, 0 no, -1 the key is unusable (revoked, malformed, RSA under
 * 1024 bits, a type other than the signature's).
 */
int dkim_key_verify(const struct dkim_keyrec *k, enum dkim_alg alg,
    const uint8_t digest[DKIM_HASH_LEN], const uint8_t *sig, size_t siglen);

/* dkim_key_generate - a new key: type "rsa" (bits) or "ed25519"; NULL */
EVP_PKEY *dkim_key_generate(const char *type, int bits);

/*
 * dkim_key_record - the key record's text ("v=DKIM1; k=...; p=...")
 * of key into out; the length, or -1.
 */
long dkim_key_record(EVP_PKEY *key, char *out, size_t cap);

#endif
