/*
 * test_tls_set.c - the certificate name match SNI uses, the tls_*
 * knob checks, and a set's grouping of RSA and ECDSA chains by name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include "io/tls.h"
#include "io/tls_set.h"

static void
test_match(void **state)
{
	static const struct {
		const char *pattern, *host;
		int want;
	} cases[] = {
		{ "mx.example.org", "mx.example.org", 1 },
		{ "mx.example.org", "MX.Example.ORG", 1 },
		{ "mx.example.org", "mx.example.org.", 1 },
		{ "mx.example.org", "mx.example.or", 0 },
		{ "mx.example.org", "mx.example.org.x", 0 },
		{ "mx.example.org", "", 0 },
		{ "*.example.org", "a.example.org", 1 },
		{ "*.example.org", "A.EXAMPLE.org.", 1 },
		{ "*.example.org", "example.org", 0 },
		{ "*.example.org", "a.b.example.org", 0 },
		{ "*.example.org", ".example.org", 0 },
		{ "*.example.org", "aexample.org", 0 },
		{ "*.example.org", "", 0 },
		{ "*.example.org", ".", 0 },
		{ "*", "anything", 0 },
		{ "", "", 1 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (tls_set_match(cases[i].pattern, cases[i].host) !=
		    cases[i].want)
			fail_msg("%s vs %s: got %d, want %d", cases[i].pattern,
			    cases[i].host, !cases[i].want, cases[i].want);
}

static void
test_knobs(void **state)
{
	const char *why;

	assert_int_equal(tls_protocol_version("TLSv1.2"), TLS1_2_VERSION);
	assert_int_equal(tls_protocol_version("TLSv1.3"), TLS1_3_VERSION);
	assert_int_equal(tls_protocol_version("TLSv1.1"), 0);
	assert_int_equal(tls_protocol_version("tlsv1.2"), 0);
	assert_int_equal(tls_ciphers_check("HIGH:!aNULL", 0, &why), 0);
	assert_int_equal(tls_ciphers_check("ECDHE-ECDSA-AES128-GCM-SHA256", 0,
	    &why), 0);
	/* only RSA key exchange: nothing is left once it is taken away */
	assert_int_equal(tls_ciphers_check("AES128-GCM-SHA256", 0, &why), -1);
	assert_int_equal(tls_ciphers_check("BOGUS", 0, &why), -1);
	assert_int_equal(tls_ciphers_check("TLS_AES_128_GCM_SHA256", 1, &why),
	    0);
	assert_int_equal(tls_ciphers_check("TLS_NOPE", 1, &why), -1);
	assert_int_equal(tls_ciphers_check("", 1, &why), -1);
}

static void
test_key_ids(void **state)
{
	/* generations never share an id; the ca drops by id / MAX */
	assert_int_equal(tls_set_key_id(0, 0), 0);
	assert_int_equal(tls_set_key_id(0, TLS_SET_PAIRS_MAX - 1),
	    TLS_SET_PAIRS_MAX - 1);
	assert_int_equal(tls_set_key_id(1, 0), TLS_SET_PAIRS_MAX);
	assert_int_equal(tls_set_key_id(7, 3) / TLS_SET_PAIRS_MAX, 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_knobs),
		cmocka_unit_test(test_key_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
