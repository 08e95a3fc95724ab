/*
 * test_json.c - table-driven tests of json_write_str: escapes, UTF-8
 * passed through, malformed UTF-8 replaced; and of utf8_seq_len, which
 * tells the two apart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/json.h"
#include "lib/utf8.h"

static const struct {
	const char	*in;
	const char	*want;
} cases[] = {
	{ "", "\"\"" },
	{ "plain text", "\"plain text\"" },
	{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
	{ "l1\nl2\r\tx", "\"l1\\nl2\\r\\tx\"" },
	{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
	/* valid UTF-8 as it is: U+00E9, U+20AC, U+1F600, U+10FFFF */
	{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
	{ "\xe2\x82\xac", "\"\xe2\x82\xac\"" },
	{ "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"" },
	{ "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"" },
	/* Latin-1, a lone continuation byte, 0xff */
	{ "caf\xe9", "\"caf\\ufffd\"" },
	{ "\x80", "\"\\ufffd\"" },
	{ "\xff\xfe", "\"\\ufffd\\ufffd\"" },
	/* overlong forms, a surrogate, above U+10FFFF: each byte replaced */
	{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
	{ "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },
	{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
	{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
	/* a sequence cut short, by the end or by another character */
	{ "\xe2\x82", "\"\\ufffd\\ufffd\"" },
	{ "\xe2\x82x", "\"\\ufffd\\ufffdx\"" },
	{ "\xc3\"", "\"\\ufffd\\\"\"" },
};

static char *
render(const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	assert_non_null(fp);
	json_write_str(fp, s);
	assert_int_equal(fclose(fp), 0);
	return out;
}

static void
test_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = render(cases[i].in);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got,
			    cases[i].want);
		free(got);
	}
}

static void
test_null(void **state)
{
	char *got = render(NULL);

	assert_string_equal(got, "\"\"");
	free(got);
}

/* utf8_seq_len: never past avail, 0 for ASCII and anything malformed */
static void
test_utf8_seq_len(void **state)
{
	static const struct {
		const char	*p;
		size_t		 avail;
		size_t		 want;
	} t[] = {
		{ "a", 1, 0 },
		{ "\xc3\xa9", 2, 2 },
		{ "\xc3\xa9", 1, 0 },
		{ "\xe2\x82\xac", 3, 3 },
		{ "\xe2\x82\xac", 2, 0 },
		{ "\xf0\x9f\x98\x80", 4, 4 },
		{ "\xf0\x9f\x98\x80", 3, 0 },
		{ "\xc1\xbf", 2, 0 },
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\xed\x9f\xbf", 3, 3 },
		{ "\xed\xa0\x80", 3, 0 },
		{ "", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t got = utf8_seq_len((const unsigned char *)t[i].p,
		    t[i].avail);

		if (got != t[i].want)
			fail_msg("case %zu: got %zu, want %zu", i, got,
			    t[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_utf8_seq_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
