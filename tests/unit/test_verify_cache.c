/*
 * test_verify_cache.c - the lookup process's copy of the verification
 * answers: get, replace, expiry, flush, the cap, growth.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "io/proto.h"
#include "lookup/verify_cache.h"

static void
test_get_put(void **state)
{
	struct verify_cache *c = verify_cache_new(10);
	const char *reply;
	int result;

	(void)state;
	assert_non_null(c);
	assert_int_equal(verify_cache_get(c, "bob@corp.example", 100, &result,
	    &reply), 0);
	assert_int_equal(verify_cache_put(c, "bob@corp.example",
	    PROTO_VERIFY_FOUND, "250 2.1.5 Ok", 200, 100), 0);
	assert_int_equal(verify_cache_get(c, "bob@corp.example", 199, &result,
	    &reply), 1);
	assert_int_equal(result, PROTO_VERIFY_FOUND);
	assert_string_equal(reply, "250 2.1.5 Ok");
	/* the key is the address as written: another case is another key */
	assert_int_equal(verify_cache_get(c, "Bob@corp.example", 150, NULL,
	    NULL), 0);
	/* replaced */
	assert_int_equal(verify_cache_put(c, "bob@corp.example",
	    PROTO_VERIFY_NOTFOUND, "550 5.1.1 gone", 300, 150), 0);
	assert_int_equal(verify_cache_count(c), 1);
	assert_int_equal(verify_cache_get(c, "bob@corp.example", 250, &result,
	    &reply), 1);
	assert_int_equal(result, PROTO_VERIFY_NOTFOUND);
	assert_string_equal(reply, "550 5.1.1 gone");
	/* expired: gone on the way */
	assert_int_equal(verify_cache_get(c, "bob@corp.example", 300, &result,
	    &reply), 0);
	assert_int_equal(verify_cache_count(c), 0);
	/* already expired: not stored */
	assert_int_equal(verify_cache_put(c, "x@corp.example",
	    PROTO_VERIFY_FOUND, "250", 100, 100), -1);
	assert_int_equal(verify_cache_count(c), 0);
	verify_cache_free(c);
}

static void
test_expire_flush(void **state)
{
	struct verify_cache *c = verify_cache_new(100);
	char a[64];

	(void)state;
	for (int i = 0; i < 20; i++) {
		snprintf(a, sizeof(a), "u%d@corp.example", i);
		assert_int_equal(verify_cache_put(c, a, PROTO_VERIFY_FOUND, "250",
		    i < 5 ? 50 : 500, 10), 0);
	}
	if (verify_cache_expire(c, 50) != 5)
		fail_msg("expire: want 5 dropped, %zu left",
		    verify_cache_count(c));
	assert_int_equal(verify_cache_count(c), 15);
	assert_int_equal(verify_cache_flush(c, "u7@corp.example"), 1);
	assert_int_equal(verify_cache_flush(c, "u7@corp.example"), 0);
	assert_int_equal(verify_cache_get(c, "u8@corp.example", 60, NULL, NULL),
	    1);
	assert_int_equal(verify_cache_flush(c, ""), 14);
	assert_int_equal(verify_cache_count(c), 0);
	verify_cache_free(c);
}

/* full: the expired go first, then the oldest */
static void
test_cap(void **state)
{
	struct verify_cache *c = verify_cache_new(3);

	(void)state;
	verify_cache_put(c, "a@x.example", PROTO_VERIFY_FOUND, "250", 1000, 0);
	verify_cache_put(c, "b@x.example", PROTO_VERIFY_FOUND, "250", 20, 0);
	verify_cache_put(c, "c@x.example", PROTO_VERIFY_FOUND, "250", 1000, 0);
	verify_cache_put(c, "d@x.example", PROTO_VERIFY_FOUND, "250", 1000, 30);
	assert_int_equal(verify_cache_count(c), 3);
	assert_int_equal(verify_cache_get(c, "a@x.example", 30, NULL, NULL), 1);
	assert_int_equal(verify_cache_get(c, "b@x.example", 10, NULL, NULL), 0);
	verify_cache_put(c, "e@x.example", PROTO_VERIFY_FOUND, "250", 1000, 30);
	/* nothing expired: a, the oldest, went */
	assert_int_equal(verify_cache_get(c, "a@x.example", 30, NULL, NULL), 0);
	assert_int_equal(verify_cache_get(c, "c@x.example", 30, NULL, NULL), 1);
	assert_int_equal(verify_cache_get(c, "e@x.example", 30, NULL, NULL), 1);
	verify_cache_free(c);
}

/* many entries: the table grows and every one is still found */
static void
test_many(void **state)
{
	struct verify_cache *c = verify_cache_new(100000);
	char a[64];

	(void)state;
	for (int i = 0; i < 50000; i++) {
		snprintf(a, sizeof(a), "user%d@corp.example", i);
		assert_int_equal(verify_cache_put(c, a, i & 1, "r", 10, 0), 0);
	}
	for (int i = 0; i < 50000; i++) {
		int result = -1;

		snprintf(a, sizeof(a), "user%d@corp.example", i);
		if (verify_cache_get(c, a, 5, &result, NULL) != 1 ||
		    result != (i & 1))
			fail_msg("%s: got %d, want %d", a, result, i & 1);
	}
	assert_int_equal(verify_cache_expire(c, 10), 50000);
	verify_cache_free(c);
	verify_cache_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put),
		cmocka_unit_test(test_expire_flush),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
