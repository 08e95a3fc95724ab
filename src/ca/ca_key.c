/*
 * ca_key.c - load the TLS private key; sign with it, nothing else.
 *
 * Public: ca_key_load, ca_key_load_pem, ca_key_sign.
 *
 * Runs in the ca process only. The operations are those a TLS server
 * handshake needs from its key: an RSA PKCS#1 v1.5 signature of a
 * digest, an RSA-PSS signature (libssl encodes the PSS block itself and
 * asks for the raw private operation) and an ECDSA signature of a
 * digest. There is no decryption: RSA key exchange is off
 * (src/io/tls.c), every handshake signs.
 *
 * SECURITY: the input comes from the smtp process, which talks to the
 * Internet and may be compromised: such a process can have messages
 * signed, but never learns the key. A raw RSA operation is done only
 * on a block that is a well-formed PSS encoding with a salt as long as
 * its hash (RFC 8446 4.2.3), so the ca cannot be used to decrypt an
 * RSA ciphertext recorded elsewhere. Sizes are checked before OpenSSL
 * sees the input.
 * LIMITS: RSA moduli up to CA_SIG_MAX bytes; digests up to 64 bytes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ca_key.h"
#include "../io/proto.h"
#include "../lib/ossl_error.h"

/* ca_key_load - the private key of a PEM file */
EVP_PKEY *
ca_key_load(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *key;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (key == NULL) {
		char what[512];

		snprintf(what, sizeof(what), "%s: cannot load key", path);
		ossl_error(err, errlen, what);
	}
	return key;
}

/* ca_key_load_pem - the private key of PEM text */
EVP_PKEY *
ca_key_load_pem(const void *pem, size_t len, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	BIO *b;

	if (len > INT_MAX || (b = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		ossl_error(err, errlen, "cannot read key");
		return NULL;
	}
	if ((key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL)
		ossl_error(err, errlen, "cannot load key");
	BIO_free(b);
	return key;
}

/* db ^= MGF1(seed) (RFC 8017 B.2.1) */
static int
mgf1_xor(uint8_t *db, size_t dblen, const uint8_t *seed, size_t seedlen,
    const EVP_MD *md)
{
	uint8_t block[EVP_MAX_MD_SIZE], ctr[4];
	unsigned int hlen;
	size_t done = 0;
	uint32_t i;

	for (i = 0; done < dblen; i++) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		int ok;

		ctr[0] = (uint8_t)(i >> 24);
		ctr[1] = (uint8_t)(i >> 16);
		ctr[2] = (uint8_t)(i >> 8);
		ctr[3] = (uint8_t)i;
		ok = c != NULL && EVP_DigestInit_ex(c, md, NULL) == 1 &&
		    EVP_DigestUpdate(c, seed, seedlen) == 1 &&
		    EVP_DigestUpdate(c, ctr, 4) == 1 &&
		    EVP_DigestFinal_ex(c, block, &hlen) == 1;
		EVP_MD_CTX_free(c);
		if (!ok)
			return -1;
		for (unsigned int j = 0; j < hlen && done < dblen; j++)
			db[done++] ^= block[j];
	}
	return 0;
}

/*
 * Is em (k bytes, the size of a modulus of modbits bits) a PSS encoding
 * (RFC 8017 9.1.1) with SHA-256, -384 or -512 and a salt the length of
 * the hash? The message hash itself cannot be checked here: the ca never
 * sees the message.
 */
static int
pss_shaped(const uint8_t *em, size_t k, int modbits)
{
	static const char *const mds[] = { "SHA256", "SHA384", "SHA512" };
	size_t embits = (size_t)modbits - 1, emlen = (embits + 7) / 8;
	uint8_t db[CA_SIG_MAX];
	unsigned topmask;

	if (modbits < 1024 || k > CA_SIG_MAX || emlen > k || k - emlen > 1)
		return 0;
	if (k > emlen && em[0] != 0)
		return 0;
	em += k - emlen;
	topmask = 0xffu >> (8 * emlen - embits);
	if (em[emlen - 1] != 0xbc || (em[0] & ~topmask) != 0)
		return 0;
	for (size_t m = 0; m < sizeof(mds) / sizeof(mds[0]); m++) {
		EVP_MD *md = EVP_MD_fetch(NULL, mds[m], NULL);
		size_t hlen, dblen, i;
		int ok;

		if (md == NULL)
			continue;
		hlen = (size_t)EVP_MD_get_size(md);
		if (emlen < 2 * hlen + 2) {
			EVP_MD_free(md);
			continue;
		}
		dblen = emlen - hlen - 1;
		memcpy(db, em, dblen);
		ok = mgf1_xor(db, dblen, em + dblen, hlen, md) == 0;
		EVP_MD_free(md);
		if (!ok)
			return 0;
		db[0] &= topmask;
		/* DB = PS (zeros) || 0x01 || salt of hlen bytes */
		for (i = 0; i < dblen - hlen - 1 && db[i] == 0; i++)
			;
		if (i == dblen - hlen - 1 && db[i] == 0x01)
			return 1;
	}
	return 0;
}

static const EVP_MD *
pkcs1_md(uint32_t nid)
{
	switch (nid) {
	case NID_sha1:
	case NID_sha224:
	case NID_sha256:
	case NID_sha384:
	case NID_sha512:
		return EVP_get_digestbynid((int)nid);
	default:
		return NULL;
	}
}

/* ca_key_sign - one PROTO_CA_* operation with key */
int
ca_key_sign(EVP_PKEY *key, uint8_t op, uint32_t md_nid, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t outcap, size_t *outlen, char *err,
    size_t errlen)
{
	int is_rsa = EVP_PKEY_is_a(key, "RSA"), is_ec = EVP_PKEY_is_a(key, "EC");
	const EVP_MD *md = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t need = 0;
	int pad = 0, rc = -1;

	switch (op) {
	case PROTO_CA_RSA_PKCS1:
		if (!is_rsa)
			return ossl_error(err, errlen, "PKCS1 signature with a non-RSA key");
		if ((md = pkcs1_md(md_nid)) == NULL ||
		    inlen != (size_t)EVP_MD_get_size(md))
			return ossl_error(err, errlen, "PKCS1 signature: bad digest");
		pad = RSA_PKCS1_PADDING;
		break;
	case PROTO_CA_RSA_PSS:
		if (!is_rsa)
			return ossl_error(err, errlen, "PSS signature with a non-RSA key");
		if (inlen != (size_t)EVP_PKEY_get_size(key) ||
		    !pss_shaped(in, inlen, EVP_PKEY_get_bits(key)))
			return ossl_error(err, errlen, "PSS signature: not a PSS block");
		pad = RSA_NO_PADDING;
		break;
	case PROTO_CA_ECDSA:
		if (!is_ec)
			return ossl_error(err, errlen, "ECDSA signature with a non-EC key");
		if (inlen < 20 || inlen > 64)
			return ossl_error(err, errlen, "ECDSA signature: bad digest");
		break;
	default:
		return ossl_error(err, errlen, "unknown operation");
	}
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL ||
	    EVP_PKEY_sign_init(ctx) != 1 ||
	    (is_rsa && EVP_PKEY_CTX_set_rsa_padding(ctx, pad) != 1) ||
	    (md != NULL && EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) ||
	    EVP_PKEY_sign(ctx, NULL, &need, in, inlen) != 1) {
		ossl_error(err, errlen, "cannot sign");
		goto done;
	}
	if (need > outcap) {
		ossl_error(err, errlen, "signature too large");
		goto done;
	}
	*outlen = outcap;
	if (EVP_PKEY_sign(ctx, out, outlen, in, inlen) != 1) {
		ossl_error(err, errlen, "cannot sign");
		goto done;
	}
	rc = 0;
done:
	EVP_PKEY_CTX_free(ctx);
	return rc;
}
