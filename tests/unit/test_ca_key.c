/*
 * test_ca_key.c - the ca process's signing: what it signs (and the
 * signature verifies with the public key), what it refuses.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* RSA_padding_add_PKCS1_PSS_mgf1 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "ca/ca_key.h"
#include "io/proto.h"

static EVP_PKEY *rsa_key, *ec_key;

enum input {
	IN_DIGEST32, IN_DIGEST20, IN_DIGEST10,
	IN_PSS_SHA256, IN_PSS_SHA384, IN_PSS_SHA512, IN_PSS_NOSALT,
	IN_PSS_SHA1, IN_RANDOM_BLOCK, IN_BLOCK_SHORT
};

struct sign_case {
	const char	*name;
	int		 ec;		/* the EC key, else RSA */
	uint8_t		 op;
	uint32_t	 md_nid;
	enum input	 in;
	int		 ok;
	const char	*err;		/* a part of the message when refused */
};

static const struct sign_case cases[] = {
	{ "pkcs1 sha256", 0, PROTO_CA_RSA_PKCS1, NID_sha256, IN_DIGEST32, 1, NULL },
	{ "pkcs1 sha1", 0, PROTO_CA_RSA_PKCS1, NID_sha1, IN_DIGEST20, 1, NULL },
	{ "pkcs1 md5", 0, PROTO_CA_RSA_PKCS1, NID_md5, IN_DIGEST10, 0, "digest" },
	{ "pkcs1 wrong size", 0, PROTO_CA_RSA_PKCS1, NID_sha256, IN_DIGEST20, 0,
	    "digest" },
	{ "pss sha256", 0, PROTO_CA_RSA_PSS, 0, IN_PSS_SHA256, 1, NULL },
	{ "pss sha384", 0, PROTO_CA_RSA_PSS, 0, IN_PSS_SHA384, 1, NULL },
	{ "pss sha512", 0, PROTO_CA_RSA_PSS, 0, IN_PSS_SHA512, 1, NULL },
	{ "pss salt 0", 0, PROTO_CA_RSA_PSS, 0, IN_PSS_NOSALT, 0, "PSS" },
	{ "pss sha1", 0, PROTO_CA_RSA_PSS, 0, IN_PSS_SHA1, 0, "PSS" },
	{ "raw random block", 0, PROTO_CA_RSA_PSS, 0, IN_RANDOM_BLOCK, 0, "PSS" },
	{ "raw short block", 0, PROTO_CA_RSA_PSS, 0, IN_BLOCK_SHORT, 0, "PSS" },
	{ "ecdsa with rsa", 0, PROTO_CA_ECDSA, 0, IN_DIGEST32, 0, "non-EC" },
	{ "unknown op", 0, 9, 0, IN_DIGEST32, 0, "unknown" },
	{ "ecdsa sha256", 1, PROTO_CA_ECDSA, 0, IN_DIGEST32, 1, NULL },
	{ "ecdsa sha1", 1, PROTO_CA_ECDSA, 0, IN_DIGEST20, 1, NULL },
	{ "ecdsa short", 1, PROTO_CA_ECDSA, 0, IN_DIGEST10, 0, "digest" },
	{ "pkcs1 with ec", 1, PROTO_CA_RSA_PKCS1, NID_sha256, IN_DIGEST32, 0,
	    "non-RSA" },
	{ "pss with ec", 1, PROTO_CA_RSA_PSS, 0, IN_PSS_SHA256, 0, "non-RSA" },
};

static const EVP_MD *
pss_md(enum input in)
{
	switch (in) {
	case IN_PSS_SHA384: return EVP_sha384();
	case IN_PSS_SHA512: return EVP_sha512();
	case IN_PSS_SHA1: return EVP_sha1();
	default: return EVP_sha256();
	}
}

/* the input bytes; for PSS, mhash gets the hash the block encodes */
static size_t
make_input(enum input in, uint8_t *buf, uint8_t *mhash)
{
	size_t k = (size_t)EVP_PKEY_get_size(rsa_key);
	const EVP_MD *md = pss_md(in);

	switch (in) {
	case IN_DIGEST32:
		RAND_bytes(buf, 32);
		return 32;
	case IN_DIGEST20:
		RAND_bytes(buf, 20);
		return 20;
	case IN_DIGEST10:
		RAND_bytes(buf, 10);
		return 10;
	case IN_RANDOM_BLOCK:
		RAND_bytes(buf, k);
		buf[0] = 0;
		buf[k - 1] = 0xbc;
		return k;
	case IN_BLOCK_SHORT:
		RAND_bytes(buf, k - 1);
		return k - 1;
	default: {
		const RSA *r = EVP_PKEY_get0_RSA(rsa_key);

		RAND_bytes(mhash, EVP_MD_get_size(md));
		assert_int_equal(RSA_padding_add_PKCS1_PSS_mgf1((RSA *)r, buf,
		    mhash, md, md, in == IN_PSS_NOSALT ? 0 : -1), 1);
		return k;
	}
	}
}

static int
verifies(const struct sign_case *t, const uint8_t *in, size_t inlen,
    const uint8_t *mhash, const uint8_t *sig, size_t siglen)
{
	EVP_PKEY *key = t->ec ? ec_key : rsa_key;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	int ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1;

	if (ok && t->op == PROTO_CA_RSA_PKCS1)
		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		    EVP_PKEY_CTX_set_signature_md(ctx,
		    EVP_get_digestbynid((int)t->md_nid)) == 1;
	if (ok && t->op == PROTO_CA_RSA_PSS) {
		const EVP_MD *md = pss_md(t->in);

		ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) ==
		    1 && EVP_PKEY_CTX_set_signature_md(ctx, md) == 1 &&
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST)
		    == 1;
		in = mhash;
		inlen = (size_t)EVP_MD_get_size(md);
	}
	ok = ok && EVP_PKEY_verify(ctx, sig, siglen, in, inlen) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static void
test_sign(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sign_case *t = &cases[i];
		uint8_t in[CA_SIG_MAX], mhash[64], sig[CA_SIG_MAX];
		size_t inlen = make_input(t->in, in, mhash), siglen = 0;
		char err[256] = "";
		int rc = ca_key_sign(t->ec ? ec_key : rsa_key, t->op, t->md_nid,
		    in, inlen, sig, sizeof(sig), &siglen, err, sizeof(err));

		if ((rc == 0) != t->ok)
			fail_msg("%s: got %s (%s), want %s", t->name, rc == 0 ?
			    "signed" : "refused", err, t->ok ? "signed" :
			    "refused");
		if (!t->ok && strstr(err, t->err) == NULL)
			fail_msg("%s: got error \"%s\", want \"%s\" in it",
			    t->name, err, t->err);
		if (t->ok && !verifies(t, in, inlen, mhash, sig, siglen))
			fail_msg("%s: the signature does not verify", t->name);
	}
}

static void
test_signature_too_large_for_buffer(void **state)
{
	uint8_t in[32] = { 1 }, sig[64];
	size_t siglen = 0;
	char err[256] = "";

	assert_int_equal(ca_key_sign(rsa_key, PROTO_CA_RSA_PKCS1, NID_sha256,
	    in, sizeof(in), sig, sizeof(sig), &siglen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too large"));
}

static void
test_load(void **state)
{
	char path[] = "/tmp/moat-test-ca-key-XXXXXX", err[512] = "";
	FILE *fp;
	int fd = mkstemp(path);
	EVP_PKEY *k;

	assert_true(fd >= 0);
	assert_non_null(fp = fdopen(fd, "w"));
	fputs("-----BEGIN PRIVATE KEY-----\nnot a key\n"
	    "-----END PRIVATE KEY-----\n", fp);
	fclose(fp);
	assert_null(ca_key_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot load key"));
	assert_null(ca_key_load("/nonexistent/key.pem", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(PEM_write_PrivateKey(fp, ec_key, NULL, NULL, 0, NULL,
	    NULL), 1);
	fclose(fp);
	assert_non_null(k = ca_key_load(path, err, sizeof(err)));
	assert_int_equal(EVP_PKEY_eq(k, ec_key), 1);
	EVP_PKEY_free(k);
	unlink(path);
}

static int
setup(void **state)
{
	rsa_key = EVP_RSA_gen(2048);
	ec_key = EVP_EC_gen("P-256");
	return rsa_key == NULL || ec_key == NULL;
}

static int
teardown(void **state)
{
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec_key);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_signature_too_large_for_buffer),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
