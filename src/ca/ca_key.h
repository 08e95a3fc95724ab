/*
 * ca_key.h - the TLS private key and the only operations done with it.
 */
#ifndef MOAT_CA_KEY_H
#define MOAT_CA_KEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* the longest signature we make: RSA 16384 bits */
#define CA_SIG_MAX	2048

/*
 * The console's key (console_tls_key), signed for on the control link
 * only. SMTP keys are gen * PROTO_TLS_PAIRS_MAX + i, held apart and
 * asked for on smtp's link: the two never meet, and this id, which no
 * generation below 2^28 - 1 reaches, keeps them apart in logs too.
 */
#define CA_CONSOLE_KEY_ID	UINT32_MAX

/* ca_key_load - the private key of a PEM file; NULL with err set */
EVP_PKEY *ca_key_load(const char *path, char *err, size_t errlen);

/* ca_key_load_pem - the private key of PEM text; NULL with err set */
EVP_PKEY *ca_key_load_pem(const void *pem, size_t len, char *err,
    size_t errlen);

/*
 * ca_key_sign - one operation of PROTO_CA_* (proto.h) with key:
 * PKCS1 signs a digest of type md_nid, PSS raises a PSS-encoded block
 * to the private exponent after checking that it is one (so that this
 * is no general RSA decryption oracle), ECDSA signs a digest. Writes at
 * most outcap bytes to out. 0, or -1 with err set (a wrong key type,
 * a wrong input size, a block that is not PSS-shaped, OpenSSL failed).
 */
int ca_key_sign(EVP_PKEY *key, uint8_t op, uint32_t md_nid, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t outcap, size_t *outlen, char *err,
    size_t errlen);

#endif
