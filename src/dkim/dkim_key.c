/*
 * dkim_key.c - DKIM keys: sign a header hash, verify a signature
 * against a key record, generate a key and its record.
 *
 * Public: dkim_key_alg, dkim_key_sign, dkim_key_verify,
 * dkim_key_generate, dkim_key_record.
 *
 * The hash that is signed is always the SHA-256 of the canonical
 * header fields: RSA signs it in a PKCS#1 DigestInfo, Ed25519 signs its
 * 32 bytes as the message (RFC 8463 3: Ed25519-SHA256 is PureEdDSA
 * over the SHA-256 hash). So the ca process never sees the message,
 * only 32 bytes.
 * SECURITY: p= comes from DNS: decoded by OpenSSL from DER (RSA: a
 * SubjectPublicKeyInfo, or a bare RSAPublicKey as some publish) or
 * taken as 32 raw bytes (Ed25519); RSA keys under 1024 bits are refused
 * (RFC 8301 3.2).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "../lib/ossl_error.h"
#include "dkim_head.h"
#include "dkim_key.h"

int
dkim_key_alg(EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		return EVP_PKEY_get_bits(key) >= 1024 ? DKIM_ALG_RSA_SHA256 : -1;
	case EVP_PKEY_ED25519:
		return DKIM_ALG_ED25519_SHA256;
	}
	return -1;
}

int
dkim_key_sign(EVP_PKEY *key, const uint8_t digest[DKIM_HASH_LEN],
    uint8_t *sig, size_t cap, size_t *siglen, char *err, size_t errlen)
{
	EVP_PKEY_CTX *pc = NULL;
	EVP_MD_CTX *md = NULL;
	size_t n = cap;
	int rc = -1;

	switch (dkim_key_alg(key)) {
	case DKIM_ALG_RSA_SHA256:
		if ((size_t)EVP_PKEY_get_size(key) > cap)
			return ossl_error(err, errlen, "RSA key too large");
		if ((pc = EVP_PKEY_CTX_new(key, NULL)) == NULL ||
		    EVP_PKEY_sign_init(pc) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) != 1 ||
		    EVP_PKEY_sign(pc, sig, &n, digest, DKIM_HASH_LEN) != 1) {
			ossl_error(err, errlen, "RSA signature failed");
			break;
		}
		rc = 0;
		break;
	case DKIM_ALG_ED25519_SHA256:
		if ((md = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
		    EVP_DigestSign(md, sig, &n, digest, DKIM_HASH_LEN) != 1) {
			ossl_error(err, errlen, "Ed25519 signature failed");
			break;
		}
		rc = 0;
		break;
	default:
		snprintf(err, errlen, "not an RSA (1024 bits or more) or "
		    "Ed25519 key");
	}
	EVP_PKEY_CTX_free(pc);
	EVP_MD_CTX_free(md);
	if (rc == 0)
		*siglen = n;
	return rc;
}

/* the public key of a key record, NULL when unusable */
static EVP_PKEY *
keyrec_pkey(const struct dkim_keyrec *k)
{
	const unsigned char *p = k->p;
	EVP_PKEY *key = NULL;

	if (k->plen == 0)
		return NULL;		/* revoked */
	if (k->alg == DKIM_ALG_ED25519_SHA256) {
		if (k->plen != 32)
			return NULL;
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->p,
		    32);
	}
	if ((key = d2i_PUBKEY(NULL, &p, (long)k->plen)) == NULL) {
		p = k->p;
		key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)k->plen);
	}
	ERR_clear_error();
	if (key != NULL && (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA ||
	    EVP_PKEY_get_bits(key) < 1024)) {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

int
dkim_key_verify(const struct dkim_keyrec *k, enum dkim_alg alg,
    const uint8_t digest[DKIM_HASH_LEN], const uint8_t *sig, size_t siglen)
{
	EVP_PKEY_CTX *pc = NULL;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *key;
	int ok = 0;

	if (k->alg != alg || !k->sha256_ok || (key = keyrec_pkey(k)) == NULL)
		return -1;
	if (alg == DKIM_ALG_RSA_SHA256) {
		ok = (pc = EVP_PKEY_CTX_new(key, NULL)) != NULL &&
		    EVP_PKEY_verify_init(pc) == 1 &&
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
		    EVP_PKEY_verify(pc, sig, siglen, digest, DKIM_HASH_LEN) == 1;
	} else {
		ok = (md = EVP_MD_CTX_new()) != NULL &&
		    EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
		    EVP_DigestVerify(md, sig, siglen, digest,
		    DKIM_HASH_LEN) == 1;
	}
	ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ok;
}

EVP_PKEY *
dkim_key_generate(const char *type, int bits)
{
	if (strcmp(type, "ed25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (strcmp(type, "rsa") == 0 && bits >= 1024 && bits <= 8192)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	return NULL;
}

long
dkim_key_record(EVP_PKEY *key, char *out, size_t cap)
{
	uint8_t der[DKIM_B64_MAX];
	unsigned char *p = der;
	char b64[DKIM_B64_MAX * 2];
	size_t n = sizeof(der);
	int len, alg = dkim_key_alg(key);

	if (alg == DKIM_ALG_ED25519_SHA256) {
		if (EVP_PKEY_get_raw_public_key(key, der, &n) != 1)
			return -1;
	} else if (alg == DKIM_ALG_RSA_SHA256) {
		if ((len = i2d_PUBKEY(key, NULL)) <= 0 ||
		    (size_t)len > sizeof(der) || i2d_PUBKEY(key, &p) != len)
			return -1;
		n = (size_t)len;
	} else
		return -1;
	if (dkim_b64_encode(der, n, b64, sizeof(b64)) < 0)
		return -1;
	len = snprintf(out, cap, "v=DKIM1; k=%s; p=%s",
	    alg == DKIM_ALG_ED25519_SHA256 ? "ed25519" : "rsa", b64);
	return len < 0 || (size_t)len >= cap ? -1 : len;
}
