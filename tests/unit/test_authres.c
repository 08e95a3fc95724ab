/*
 * test_authres.c - the Authentication-Results field: ours written
 * (RFC 8601 2.2 syntax), others' authserv-id recognised.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "authres/authres.h"

static void
test_format(void **state)
{
	struct authres_result r[2] = {
		{ "dkim", "pass", NULL, "header.d=example.org header.s=s1" },
		{ "dkim", "fail", "body \"hash\" \\ bad", "header.d=x.example" },
	};
	char out[512];

	assert_true(authres_format("mx.example", r, 2, out, sizeof(out)) > 0);
	assert_string_equal(out, "Authentication-Results: mx.example;\r\n"
	    "\tdkim=pass header.d=example.org header.s=s1;\r\n"
	    "\tdkim=fail reason=\"body \\\"hash\\\" \\\\ bad\" "
	    "header.d=x.example\r\n");
	assert_true(authres_format("mx.example", r, 0, out, sizeof(out)) > 0);
	assert_string_equal(out, "Authentication-Results: mx.example; none\r\n");
	assert_int_equal(authres_format("mx.example", r, 2, out, 40), -1);
}

static void
test_claims_id(void **state)
{
	static const struct { const char *v; int want; } t[] = {
		{ " mx.example; dkim=pass", 1 },
		{ " MX.Example;", 1 },
		{ " (forged) mx.example ; spf=pass", 1 },
		{ " (a (nested) comment)\r\n\tmx.example;", 1 },
		{ " \"mx.example\"; none", 1 },
		{ " mx.example.evil; dkim=pass", 0 },
		{ " other.example; dkim=pass", 0 },
		{ " mx.exampl", 0 },
		{ " (unterminated mx.example;", 0 },
		{ "", 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (authres_claims_id(t[i].v, strlen(t[i].v), "mx.example") !=
		    t[i].want)
			fail_msg("\"%s\": want %d", t[i].v, t[i].want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_claims_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
