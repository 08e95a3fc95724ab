/*
 * test_hash.c - hash_fnv1a against the published FNV-1a test vectors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "lib/hash.h"

static void
test_vectors(void **state)
{
	static const struct {
		const char	*in;
		uint32_t	 want;
	} t[] = {
		{ "", 0x811c9dc5u },
		{ "a", 0xe40c292cu },
		{ "foobar", 0xbf9cf968u },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint32_t got = hash_fnv1a(t[i].in, strlen(t[i].in));

		if (got != t[i].want)
			fail_msg("\"%s\": got %08x, want %08x", t[i].in, got,
			    t[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
