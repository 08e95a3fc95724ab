/*
 * test_dsn.c - xtext and ORCPT: decoding, encoding, the round trip,
 * and the refusal of control bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mail/dsn.h"

static void
test_xtext_decode(void **state __attribute__((unused)))
{
	static const struct {
		const char	*in;
		enum dsn_err	 err;
		const char	*out;
		size_t		 outlen;
	} cases[] = {
		{ "abc", DSN_OK, "abc", 3 },
		{ "a+2Bb", DSN_OK, "a+b", 3 },
		{ "a+3Db", DSN_OK, "a=b", 3 },
		{ "+C3+A9", DSN_OK, "\xc3\xa9", 2 },
		{ "x+00y", DSN_OK, "x\0y", 3 },
		{ "a+2b", DSN_ERR_SYNTAX, "", 0 },	/* lower-case hex */
		{ "a+2", DSN_ERR_SYNTAX, "", 0 },
		{ "a+", DSN_ERR_SYNTAX, "", 0 },
		{ "a=b", DSN_ERR_SYNTAX, "", 0 },
		{ "a b", DSN_ERR_SYNTAX, "", 0 },
		{ "a\rb", DSN_ERR_SYNTAX, "", 0 },
		{ "\xc3\xa9", DSN_ERR_SYNTAX, "", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		size_t n = 999;
		enum dsn_err e = dsn_xtext_decode(cases[i].in, strlen(cases[i].in),
		    out, sizeof(out), &n);

		if (e != cases[i].err)
			fail_msg("%s: got %d, want %d", cases[i].in, e, cases[i].err);
		if (e != DSN_OK)
			continue;
		if (n != cases[i].outlen || memcmp(out, cases[i].out, n) != 0)
			fail_msg("%s: got %zu bytes, want %zu", cases[i].in, n,
			    cases[i].outlen);
	}
	{
		char small[4];

		assert_int_equal(dsn_xtext_decode("abcdef", 6, small,
		    sizeof(small), NULL), DSN_ERR_TOO_LONG);
	}
}

static void
test_xtext_encode(void **state __attribute__((unused)))
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*out;
	} cases[] = {
		{ "abc", 3, "abc" },
		{ "a+b=c", 5, "a+2Bb+3Dc" },
		{ "x\r\nRCPT TO:<v@c.example>", 24,
		  "x+0D+0ARCPT+20TO:<v@c.example>" },
		{ "\0\x7f\xff ", 4, "+00+7F+FF+20" },
		{ "\\~!", 3, "\\~!" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[128];

		assert_int_equal(dsn_xtext_encode(cases[i].in, cases[i].len, out,
		    sizeof(out)), DSN_OK);
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, out,
			    cases[i].out);
	}
	{
		char small[5];

		assert_int_equal(dsn_xtext_encode("a+b", 3, small, sizeof(small)),
		    DSN_ERR_TOO_LONG);
		assert_string_equal(small, "");
	}
}

/* every byte string survives encode then decode; the encoding is clean */
static void
test_xtext_round_trip(void **state __attribute__((unused)))
{
	char in[256], enc[3 * 256 + 1], dec[257];
	size_t n;

	for (int i = 0; i < 256; i++)
		in[i] = (char)i;
	assert_int_equal(dsn_xtext_encode(in, 256, enc, sizeof(enc)), DSN_OK);
	for (const char *p = enc; *p != '\0'; p++)
		if ((unsigned char)*p < 33 || (unsigned char)*p > 126)
			fail_msg("byte %02x in the encoding", (unsigned char)*p);
	assert_int_equal(dsn_xtext_decode(enc, strlen(enc), dec, sizeof(dec),
	    &n), DSN_OK);
	assert_int_equal(n, 256);
	assert_memory_equal(dec, in, 256);
}

static void
test_decode_checked(void **state __attribute__((unused)))
{
	static const struct {
		const char	*in;
		enum dsn_err	 err;
	} cases[] = {
		{ "id+2B1", DSN_OK },
		{ "x+20y", DSN_OK },
		{ "x+0D+0ARCPT+20TO:<v@c.example>", DSN_ERR_CONTROL },
		{ "x+0A", DSN_ERR_CONTROL },
		{ "x+0D", DSN_ERR_CONTROL },
		{ "x+00", DSN_ERR_CONTROL },
		{ "x+09", DSN_ERR_CONTROL },
		{ "x+1B", DSN_ERR_CONTROL },
		{ "x+7F", DSN_ERR_CONTROL },
		{ "x+0", DSN_ERR_SYNTAX },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		enum dsn_err e = dsn_decode_checked(cases[i].in,
		    strlen(cases[i].in), out, sizeof(out));

		if (e != cases[i].err)
			fail_msg("%s: got %d, want %d", cases[i].in, e, cases[i].err);
	}
}

static void
test_orcpt(void **state __attribute__((unused)))
{
	static const struct {
		const char	*in;
		int		 utf8;
		enum dsn_err	 err;
		const char	*stored;	/* decoded */
		const char	*written;	/* encoded again */
	} cases[] = {
		{ "rfc822;a@b.example", 0, DSN_OK, "rfc822;a@b.example",
		  "rfc822;a@b.example" },
		{ "RFC822;a+2Bx@b.example", 0, DSN_OK, "RFC822;a+x@b.example",
		  "RFC822;a+2Bx@b.example" },
		{ "x-local;a+20b", 0, DSN_OK, "x-local;a b", "x-local;a+20b" },
		{ "utf-8;\\x{E9}t\\x{e9}@b.example", 0, DSN_OK,
		  "utf-8;\xc3\xa9t\xc3\xa9@b.example",
		  "utf-8;\\x{E9}t\\x{E9}@b.example" },
		{ "utf-8;\xc3\xa9@b.example", 1, DSN_OK, "utf-8;\xc3\xa9@b.example",
		  "utf-8;\\x{E9}@b.example" },
		{ "utf-8;a+2Bb@b.example", 0, DSN_OK, "utf-8;a+b@b.example",
		  "utf-8;a\\x{2B}b@b.example" },
		{ "utf-8;\\x{1F600}@b.example", 0, DSN_OK,
		  "utf-8;\xf0\x9f\x98\x80@b.example",
		  "utf-8;\\x{1F600}@b.example" },
		{ "utf-8;\xc3\xa9@b.example", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "utf-8;\xc3@b.example", 1, DSN_ERR_SYNTAX, NULL, NULL },
		{ "utf-8;\\x{D800}", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "utf-8;\\x{110000}", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "utf-8;\\x{}", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "utf-8;\\y", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "utf-8;a\\x{D}b", 0, DSN_ERR_CONTROL, NULL, NULL },
		{ "utf-8;a\\x{000A}b", 0, DSN_ERR_CONTROL, NULL, NULL },
		{ "utf-8;a\\x{7F}b", 0, DSN_ERR_CONTROL, NULL, NULL },
		{ "utf-8;a+0Db", 0, DSN_ERR_CONTROL, NULL, NULL },
		{ "rfc822;x+0D+0ARCPT+20TO:<v@c.example>", 0, DSN_ERR_CONTROL,
		  NULL, NULL },
		{ "rfc822;x+00", 0, DSN_ERR_CONTROL, NULL, NULL },
		{ "rfc+0D822;a@b.example", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "rfc 822;a@b.example", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "rfc<822;a@b.example", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ ";a@b.example", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "rfc822;", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "rfc822", 0, DSN_ERR_SYNTAX, NULL, NULL },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;x", 0, DSN_ERR_SYNTAX, NULL,
		  NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char stored[512], out[1024];
		enum dsn_err e = dsn_orcpt_decode(cases[i].in, strlen(cases[i].in),
		    cases[i].utf8, stored, sizeof(stored));

		if (e != cases[i].err)
			fail_msg("%s: got %d, want %d", cases[i].in, e, cases[i].err);
		if (e != DSN_OK)
			continue;
		if (strcmp(stored, cases[i].stored) != 0)
			fail_msg("%s: stored '%s', want '%s'", cases[i].in, stored,
			    cases[i].stored);
		assert_int_equal(dsn_orcpt_encode(stored, out, sizeof(out)),
		    DSN_OK);
		if (strcmp(out, cases[i].written) != 0)
			fail_msg("%s: written '%s', want '%s'", cases[i].in, out,
			    cases[i].written);
	}
}

/* a stored value with a control byte (an old row) is still written clean */
static void
test_orcpt_encode_never_writes_controls(void **state __attribute__((unused)))
{
	char out[256];

	assert_int_equal(dsn_orcpt_encode("rfc822;a\r\nRCPT TO:<v@c>", out,
	    sizeof(out)), DSN_OK);
	assert_string_equal(out, "rfc822;a+0D+0ARCPT+20TO:<v@c>");
	assert_int_equal(dsn_orcpt_encode("utf-8;a\r\nb", out, sizeof(out)),
	    DSN_OK);
	assert_string_equal(out, "utf-8;a\\x{0D}\\x{0A}b");
	assert_int_equal(dsn_orcpt_encode("utf-8;\xff", out, sizeof(out)),
	    DSN_ERR_SYNTAX);
	assert_int_equal(dsn_orcpt_encode("no-type", out, sizeof(out)),
	    DSN_ERR_SYNTAX);
	assert_int_equal(dsn_orcpt_encode("rfc822;a+b", out, 10),
	    DSN_ERR_TOO_LONG);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xtext_decode),
		cmocka_unit_test(test_xtext_encode),
		cmocka_unit_test(test_xtext_round_trip),
		cmocka_unit_test(test_decode_checked),
		cmocka_unit_test(test_orcpt),
		cmocka_unit_test(test_orcpt_encode_never_writes_controls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
