/*
 * test_dkim.c - DKIM canonicalization against RFC 6376 3.4.5, tag lists,
 * the key record, and signatures made and verified for RSA and Ed25519.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "dkim/dkim_canon.h"
#include "dkim/dkim_head.h"
#include "dkim/dkim_key.h"
#include "dkim/dkim_keygen.h"
#include "dkim/dkim_tag.h"

static void
sha256(const char *s, size_t len, uint8_t out[DKIM_HASH_LEN])
{
	unsigned int n;

	EVP_Digest(s, len, out, &n, EVP_sha256(), NULL);
}

/* the body hash of in fed in pieces of step bytes */
static void
body_hash(enum dkim_canon c, const char *in, size_t step,
    uint8_t out[DKIM_HASH_LEN])
{
	struct dkim_body b;
	size_t len = strlen(in);

	assert_int_equal(dkim_body_init(&b, c, -1), 0);
	for (size_t i = 0; i < len; i += step)
		dkim_body_update(&b, in + i, len - i < step ? len - i : step);
	assert_int_equal(dkim_body_final(&b, out), 0);
	dkim_body_free(&b);
}

static void
check_body(enum dkim_canon c, const char *in, const char *want)
{
	uint8_t got[DKIM_HASH_LEN], exp[DKIM_HASH_LEN];

	sha256(want, strlen(want), exp);
	for (size_t step = 1; step <= strlen(in) + 1; step++) {
		body_hash(c, in, step, got);
		if (memcmp(got, exp, sizeof(got)) != 0)
			fail_msg("body \"%s\" in steps of %zu", in, step);
	}
}

static void
test_body_rfc(void **state)
{
	/* RFC 6376 3.4.5 */
	check_body(DKIM_CANON_RELAXED, " C \r\nD \t E\r\n\r\n\r\n",
	    " C\r\nD E\r\n");
	check_body(DKIM_CANON_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n",
	    " C \r\nD \t E\r\n");
	/* the empty body: relaxed nothing, simple one CRLF */
	check_body(DKIM_CANON_RELAXED, "", "");
	check_body(DKIM_CANON_RELAXED, "\r\n\r\n", "");
	check_body(DKIM_CANON_SIMPLE, "", "\r\n");
	check_body(DKIM_CANON_SIMPLE, "\r\n\r\n", "\r\n");
	/* empty lines inside stay; a line of blanks is empty in relaxed */
	check_body(DKIM_CANON_RELAXED, "a\r\n\r\n \t\r\nb\r\n \r\n",
	    "a\r\n\r\n\r\nb\r\n");
	/* a last line without CRLF gets one */
	check_body(DKIM_CANON_RELAXED, "a  b", "a b\r\n");
	/* a CR alone is content */
	check_body(DKIM_CANON_SIMPLE, "a\rb\r\n", "a\rb\r\n");
}

static void
test_body_limit(void **state)
{
	struct dkim_body b;
	uint8_t got[DKIM_HASH_LEN], exp[DKIM_HASH_LEN];

	assert_int_equal(dkim_body_init(&b, DKIM_CANON_RELAXED, 3), 0);
	dkim_body_update(&b, "abcdef\r\n", 8);
	assert_int_equal(dkim_body_final(&b, got), 0);
	dkim_body_free(&b);
	sha256("abc", 3, exp);
	assert_memory_equal(got, exp, sizeof(got));
}

static void
check_header(enum dkim_canon c, const char *in, const char *want)
{
	char out[256];
	long n = dkim_header_canon(c, in, strlen(in), 1, out, sizeof(out));

	assert_true(n >= 0);
	assert_string_equal(out, want);
}

static void
test_header_rfc(void **state)
{
	/* RFC 6376 3.4.5 */
	check_header(DKIM_CANON_RELAXED, "A: X\r\n", "a:X\r\n");
	check_header(DKIM_CANON_RELAXED, "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n");
	check_header(DKIM_CANON_SIMPLE, "B : Y\t\r\n\tZ  \r\n",
	    "B : Y\t\r\n\tZ  \r\n");
	/* a colon inside the value keeps the space after it */
	check_header(DKIM_CANON_RELAXED, "Subject: re:  a\r\n",
	    "subject:re: a\r\n");
	assert_int_equal(dkim_header_canon(DKIM_CANON_RELAXED, "no colon", 8,
	    1, (char[64]){0}, 64), -1);
}

static void
test_tags(void **state)
{
	struct dkim_tags t;
	const char *why;

	assert_int_equal(dkim_tags_parse(&t, " a = 1 ; b=x y\r\n\tz;", 19,
	    &why), 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(dkim_tags_get(&t, "a"), "1");
	assert_string_equal(dkim_tags_get(&t, "b"), "x y\r\n\tz");
	assert_null(dkim_tags_get(&t, "c"));
	dkim_tags_free(&t);
	assert_int_equal(dkim_tags_parse(&t, "a=1; a=2", 8, &why), -1);
	assert_string_equal(why, "duplicate tag");
	assert_int_equal(dkim_tags_parse(&t, "1a=1", 4, &why), -1);
	assert_int_equal(dkim_tags_parse(&t, "a", 1, &why), -1);
	assert_int_equal(dkim_tags_parse(&t, "a=\x01", 3, &why), -1);
	assert_int_equal(dkim_tags_parse(&t, "", 0, &why), 0);
	dkim_tags_free(&t);
}

static const char good_sig[] = " v=1; a=rsa-sha256; c=relaxed/simple; "
    "d=example.com; s=sel; h=From:To; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMp"
    "JWZG3hSuFU=; b=AAAA; i=u@sub.example.com; t=10; x=20";

static void
test_sig_parse(void **state)
{
	struct dkim_sig sig;
	const char *why = NULL;
	char bad[512];

	assert_int_equal(dkim_sig_parse(&sig, good_sig, strlen(good_sig),
	    &why), 0);
	assert_int_equal(sig.alg, DKIM_ALG_RSA_SHA256);
	assert_int_equal(sig.hcanon, DKIM_CANON_RELAXED);
	assert_int_equal(sig.bcanon, DKIM_CANON_SIMPLE);
	assert_string_equal(sig.domain, "example.com");
	assert_string_equal(sig.hdrs[0], "from");
	assert_string_equal(sig.hdrs[1], "to");
	assert_int_equal(sig.n_hdrs, 2);
	assert_int_equal(sig.t, 10);
	assert_int_equal(sig.x, 20);
	assert_int_equal(sig.length, -1);
	/* h= without From, i= elsewhere, no b=, another algorithm */
	static const struct { const char *from, *to; } edits[] = {
		{ "h=From:To", "h=To" },
		{ "i=u@sub.example.com", "i=u@example.org" },
		{ "b=AAAA; ", "" },
		{ "a=rsa-sha256", "a=rsa-sha1" },
		{ "v=1", "v=2" },
		{ "x=20", "x=5" },
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		const char *at = strstr(good_sig, edits[i].from);

		snprintf(bad, sizeof(bad), "%.*s%s%s", (int)(at - good_sig),
		    good_sig, edits[i].to, at + strlen(edits[i].from));
		if (dkim_sig_parse(&sig, bad, strlen(bad), &why) != -1)
			fail_msg("accepted: %s", bad);
	}
}

static void
test_keyrec(void **state)
{
	struct dkim_keyrec k;
	const char *why;
	const char *ed = "v=DKIM1; k=ed25519; "
	    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

	assert_int_equal(dkim_keyrec_parse(&k, ed, strlen(ed), &why), 0);
	assert_int_equal(k.alg, DKIM_ALG_ED25519_SHA256);
	assert_int_equal(k.plen, 32);
	assert_true(k.sha256_ok);
	assert_int_equal(dkim_keyrec_parse(&k, "p=", 2, &why), 0);
	assert_int_equal(k.plen, 0);	/* revoked */
	assert_int_equal(dkim_keyrec_parse(&k, "k=dsa; p=AA", 11, &why), -1);
	assert_int_equal(dkim_keyrec_parse(&k, "h=sha1; p=AAAA", 14, &why), 0);
	assert_false(k.sha256_ok);
	assert_int_equal(dkim_keyrec_parse(&k, "v=DKIM1", 7, &why), -1);
}

static void
test_strip_b(void **state)
{
	const char *f = "DKIM-Signature: a=x; bh=abc;\r\n\tb=SIG\r\n\t MORE; "
	    "c=d";
	char out[256];

	assert_true(dkim_strip_b(f, strlen(f), out, sizeof(out)) > 0);
	assert_string_equal(out, "DKIM-Signature: a=x; bh=abc;\r\n\tb=; c=d");
}

static const char msg_head[] =
    "Received: from x by y\r\n"
    "From: Joe <joe@example.com>\r\n"
    "To: ann@example.org\r\n"
    "Subject: a   test\r\n"
    "  folded\r\n"
    "Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
    "\r\n";

/* sign the head with key, then check it as a verifier would */
static int
sign_and_verify(EVP_PKEY *key, const char *head)
{
	static struct dkim_head h, h2;
	struct dkim_signing ds = { 0 };
	struct dkim_keyrec k;
	struct dkim_sig sig;
	uint8_t bh[DKIM_HASH_LEN], dg[DKIM_HASH_LEN], dg2[DKIM_HASH_LEN];
	uint8_t s[DKIM_SIG_MAX];
	char field[8192], rec[2048], stripped[8192], err[128];
	const char *why, *colon;
	size_t slen;
	long n;

	sha256("", 0, bh);
	ds.alg = (enum dkim_alg)dkim_key_alg(key);
	ds.domain = "example.com";
	ds.selector = "sel";
	ds.now = 1700000000;
	ds.expire = 3600;
	dkim_head_split(&h, msg_head, strlen(msg_head));
	assert_int_equal(h.n, 5);
	n = dkim_sign_begin(&ds, &h, bh, field, sizeof(field), dg);
	assert_true(n > 0);
	assert_int_equal(dkim_key_sign(key, dg, s, sizeof(s), &slen, err,
	    sizeof(err)), 0);
	n = dkim_sign_finish(field, (size_t)n, sizeof(field), s, slen);
	assert_true(n > 0);
	assert_non_null(strstr(field, "h=from:subject:date:to:from;"));
	assert_non_null(strstr(field, "x=1700003600;"));

	colon = strchr(field, ':');
	assert_int_equal(dkim_sig_parse(&sig, colon + 1,
	    (size_t)n - (size_t)(colon + 1 - field), &why), 0);
	assert_memory_equal(sig.bh, bh, sizeof(bh));
	assert_true(dkim_key_record(key, rec, sizeof(rec)) > 0);
	assert_int_equal(dkim_keyrec_parse(&k, rec, strlen(rec), &why), 0);
	n = dkim_strip_b(field, (size_t)n, stripped, sizeof(stripped));
	assert_true(n > 0);
	dkim_head_split(&h2, head, strlen(head));
	assert_int_equal(dkim_head_hash(sig.hcanon, &h2, sig.hdrs, sig.n_hdrs,
	    stripped, (size_t)n, dg2), 0);
	return dkim_key_verify(&k, sig.alg, dg2, sig.b, sig.blen);
}

static void
test_sign_verify(void **state)
{
	EVP_PKEY *keys[2];
	char tampered[sizeof(msg_head) + 32], *p;

	keys[0] = dkim_key_generate("ed25519", 0);
	keys[1] = dkim_key_generate("rsa", 1024);
	for (size_t i = 0; i < 2; i++) {
		assert_non_null(keys[i]);
		assert_int_equal(sign_and_verify(keys[i], msg_head), 1);
		/* whitespace changes do not matter in relaxed */
		snprintf(tampered, sizeof(tampered), "%s", msg_head);
		p = strstr(tampered, "a   test");
		memcpy(p, "a test  ", 8);
		assert_int_equal(sign_and_verify(keys[i], tampered), 1);
		/* a word does */
		memcpy(p, "b test  ", 8);
		assert_int_equal(sign_and_verify(keys[i], tampered), 0);
		/* an added From is caught by oversigning */
		snprintf(tampered, sizeof(tampered), "From: x@y\r\n%s",
		    msg_head);
		assert_int_equal(sign_and_verify(keys[i], tampered), 0);
		EVP_PKEY_free(keys[i]);
	}
	assert_null(dkim_key_generate("rsa", 512));
}

static void
test_txt_format(void **state)
{
	char rec[600], out[1024];

	memset(rec, 'A', sizeof(rec) - 1);
	rec[sizeof(rec) - 1] = '\0';
	assert_true(dkim_txt_format("example.com", "s1", rec, out,
	    sizeof(out)) > 0);
	/* three strings: 255, 255 and 89 bytes */
	assert_non_null(strstr(out, "s1._domainkey.example.com. IN TXT ( \""));
	size_t quotes = 0;
	for (const char *q = out; *q != '\0'; q++)
		quotes += *q == '"';
	assert_int_equal(quotes, 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_rfc),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_header_rfc),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_sig_parse),
		cmocka_unit_test(test_keyrec),
		cmocka_unit_test(test_strip_b),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_txt_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
